//! Populate through Strapi's REST API (SPEC §3 "Populate"): the gateway's side of the
//! runtime's [`strapi_io::Populate`] hook.
//!
//! What a content type's `populate` asks for, when an entry lacks it, and the query of the
//! refetch are pure rules ([`strapi_io::core::populate`]). This module owns the `strapi`
//! config section as populate reads it ([`Options`], checked by [`check`]) and the HTTP
//! client ([`Populator`]) that refetches an entry with
//! `GET {strapi.url}/api/{pluralName}/{documentId}?populate=…&status=…` (single types:
//! `/api/{singularName}`), each refetch bounded in time (`strapi.populateTimeoutMs`, the wait
//! for a free slot included) and in number (`strapi.populateConcurrency` at once).
//!
//! The runtime calls the hook only for events that go out (content type and action enabled,
//! `enabled` on, no draft under `onlyPublished`) and never for a `delete`; types without
//! `populate` are left alone and not counted. A refetch that cannot be done or fails never
//! drops the event: it goes out unpopulated, logged and counted — `populate {refetched,
//! skipped, failed}` in `GET /api/io/stats` and `strapi_io_populate_total{outcome}` in
//! Prometheus.

mod client;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use client::{Failure, Populator};

use reqwest::Url;
use reqwest::header::HeaderValue;
use strapi_io::core::events::ContentTypeEntry;
use strapi_io::core::populate::targets;
use strapi_io::core::schema::Schemas;
use strapi_io::core::settings::SettingsProblem;

/// Default of `strapi.populateTimeoutMs`.
pub(crate) const DEFAULT_TIMEOUT_MS: u64 = 3_000;
/// Largest `strapi.populateTimeoutMs` accepted.
pub(crate) const MAX_TIMEOUT_MS: u64 = 600_000;
/// Default of `strapi.populateConcurrency`.
pub(crate) const DEFAULT_CONCURRENCY: usize = 16;
/// Largest `strapi.populateConcurrency` accepted.
pub(crate) const MAX_CONCURRENCY: usize = 1_024;
/// Largest Strapi answer read; a larger one is a failure.
pub(crate) const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// The `strapi` config section as populate reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options<'a> {
    /// `strapi.url`: Strapi's base URL (`http://`); blank counts as unset.
    pub(crate) url: Option<&'a str>,
    /// `strapi.token`: the API token the refetches send; blank counts as unset.
    pub(crate) token: Option<&'a str>,
    /// `strapi.populateTimeoutMs`.
    pub(crate) timeout_ms: u64,
    /// `strapi.populateConcurrency`.
    pub(crate) concurrency: usize,
}

impl Options<'_> {
    /// The URL, when set and not blank.
    fn url(&self) -> Option<&str> {
        self.url.filter(|v| !v.trim().is_empty())
    }

    /// The token, when set and not blank.
    fn token(&self) -> Option<&str> {
        self.token.filter(|v| !v.trim().is_empty())
    }
}

/// `strapi.url` as a base URL: `http://` only (the client is built without TLS).
fn parse_base(url: &str) -> Result<Url, SettingsProblem> {
    let problem = |message: String| SettingsProblem {
        path: "strapi.url".into(),
        message,
    };
    let parsed = Url::parse(url).map_err(|e| problem(format!("`{url}` is not a URL: {e}")))?;
    if parsed.scheme() != "http" || parsed.cannot_be_a_base() {
        return Err(problem(format!(
            "`{url}`: only http:// URLs are supported (the HTTP client is built without TLS)"
        )));
    }
    Ok(parsed)
}

/// Checks the `strapi` section and the `populate` of every `contentTypes` entry, reporting
/// each problem with its key path.
pub(crate) fn check(
    options: &Options<'_>,
    content_types: Option<&[ContentTypeEntry]>,
    schemas: &Schemas,
) -> Result<(), Vec<SettingsProblem>> {
    let mut problems = Vec::new();
    let mut problem = |path: &str, message: String| {
        problems.push(SettingsProblem {
            path: path.into(),
            message,
        })
    };
    if let Some(url) = options.url()
        && let Err(e) = parse_base(url)
    {
        problem(&e.path, e.message);
    }
    if let Some(token) = options.token()
        && HeaderValue::from_str(&format!("Bearer {token}")).is_err()
    {
        problem(
            "strapi.token",
            "holds characters an HTTP header cannot carry (STRAPI_IO_STRAPI_TOKEN)".into(),
        );
    }
    if !(1..=MAX_TIMEOUT_MS).contains(&options.timeout_ms) {
        problem(
            "strapi.populateTimeoutMs",
            format!(
                "{} is not between 1 and {MAX_TIMEOUT_MS}",
                options.timeout_ms
            ),
        );
    }
    if !(1..=MAX_CONCURRENCY).contains(&options.concurrency) {
        problem(
            "strapi.populateConcurrency",
            format!(
                "{} is not between 1 and {MAX_CONCURRENCY}",
                options.concurrency
            ),
        );
    }
    if let Err(more) = targets(content_types, schemas) {
        problems.extend(more);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
