//! [`Populate`]: the emit pipeline's hook that completes a content event's entry (its
//! relations, media, components) before it is sanitized and sent — how the gateway refetches
//! entries from Strapi's REST API (SPEC §3 "Populate"). Set with
//! [`IoBuilder::populate`](crate::IoBuilder::populate).

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};
use strapi_io_core::ContentType;

/// What [`Populate::populate`] returns: the entry to send.
pub type PopulateFuture<'a> = Pin<Box<dyn Future<Output = Map<String, Value>> + Send + 'a>>;

/// Completes the entry of a content event before it is sanitized and sent.
///
/// [`Io::emit`](crate::Io::emit) calls it once per event, after the content type is resolved
/// and the emit checks passed (an event that is not sent is never populated), and never for
/// a `delete` (the entry no longer exists) or an entry that is not a JSON object. Whatever it
/// returns is sanitized for each audience like any entry; under `events.onlyPublished`, an
/// entry it returns as a draft (`publishedAt` null or absent) is not sent.
///
/// It cannot fail the emit: when it cannot complete the entry, it returns the entry as given
/// (reporting why is the implementation's business). Time spent in it is not counted in the
/// emit's own duration (`strapi_io_emit_seconds`).
pub trait Populate: Send + Sync {
    /// The entry of an `action` event of `ct`, completed, or `entry` unchanged.
    fn populate<'a>(
        &'a self,
        ct: &'a ContentType,
        action: &'a str,
        entry: Map<String, Value>,
    ) -> PopulateFuture<'a>;
}
