//! Strapi entry events (`entry.create` … `entry.unpublish`, the bodies Strapi's webhooks send)
//! into content events: the one step both sources of them go through. The webhook route
//! collects one action's requests in a window ([`crate::webhook`]); the plugin entry's
//! forwarder sends one committed transaction's events at once (`POST /api/io/entryEvents`,
//! [`emit_batch`]). Either way each document's group is merged by
//! [`strapi_io::core::webhook::merge`], its relations to draft rows swapped for published
//! rows ([`crate::published`]), and emitted once ([`emit_group`]; the `Io`'s populate hook
//! completes the entry).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use serde_json::{Value, json};
use strapi_io::core::webhook::{self, EntryEvent, OwnActions, Webhook};
use strapi_io::{EmitOptions, Io, IoError, StrapiAction};

use crate::populate::Populator;

/// Most entry events in one `entryEvents` call.
pub(crate) const MAX_BATCH: usize = 10_000;

/// What one source of entry events has seen.
#[derive(Debug, Default)]
pub(crate) struct EntryCounters {
    /// Entry events accepted.
    pub(crate) accepted: AtomicU64,
    /// Events emitted for them, after merging.
    pub(crate) emitted: AtomicU64,
    /// Requests acknowledged and ignored (media events, unknown models, other events).
    pub(crate) ignored: AtomicU64,
    /// Requests refused (bad token, malformed body).
    pub(crate) rejected: AtomicU64,
    /// Entry events merged into another one's event.
    pub(crate) merged: AtomicU64,
    /// Events whose emit failed (logged).
    pub(crate) failed: AtomicU64,
}

impl EntryCounters {
    /// `{accepted, emitted, merged, failed, ignored, rejected}`; once every window has
    /// closed, `accepted = emitted + merged + failed`.
    pub(crate) fn snapshot(&self) -> Value {
        json!({
            "accepted": self.accepted.load(Ordering::Relaxed),
            "emitted": self.emitted.load(Ordering::Relaxed),
            "ignored": self.ignored.load(Ordering::Relaxed),
            "rejected": self.rejected.load(Ordering::Relaxed),
            "merged": self.merged.load(Ordering::Relaxed),
            "failed": self.failed.load(Ordering::Relaxed),
        })
    }
}

/// Whether `uid` has `publish`/`unpublish` enabled as actions of their own.
fn own_actions(io: &Io, uid: &str) -> OwnActions {
    OwnActions {
        publish: io.is_enabled(uid, "publish"),
        unpublish: io.is_enabled(uid, "unpublish"),
    }
}

/// Emits the one event a group of entry events about one document becomes: its emit report
/// as JSON (`null` for an empty group). Counts it as emitted. `populator` reads the published
/// rows of its relations to draft rows ([`crate::published`]).
pub(crate) async fn emit_group(
    io: &Io,
    populator: &Populator,
    counters: &EntryCounters,
    uid: &str,
    group: &[(EntryEvent, Value)],
) -> Result<Value, IoError> {
    let Some(merged) = webhook::merge(group, own_actions(io, uid)) else {
        return Ok(Value::Null);
    };
    let action = match merged.via {
        Some("publish") => Some(StrapiAction::Publish),
        Some("unpublish") => Some(StrapiAction::Unpublish),
        _ => None,
    };
    let mut entry = merged.entry;
    crate::published::swap_draft_relations(populator, io.schemas(), uid, merged.action, &mut entry)
        .await;
    let options = EmitOptions::new(merged.action, uid, entry).with_action(action);
    let report = io.emit_with_ids(options, &merged.other_ids).await?;
    counters.emitted.fetch_add(1, Ordering::Relaxed);
    Ok(serde_json::to_value(report).unwrap_or(Value::Null))
}

/// The body of `POST /api/io/entryEvents`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    events: Vec<Value>,
}

/// `entryEvents`: the entry events of one committed transaction (each a webhook body
/// `{event, uid | model, entry}`), checked all before any is emitted (a malformed one refuses
/// the whole call, naming it), then merged per document and emitted in the order each
/// document first appears. An emit that fails is reported in its place and counted; the
/// others still go out. A refused call's error is the reason (answered 400).
pub(crate) async fn emit_batch(
    io: &Io,
    populator: &Populator,
    counters: &EntryCounters,
    body: Value,
) -> Result<Value, String> {
    let batch: Batch = serde_json::from_value(body).map_err(|e| {
        counters.rejected.fetch_add(1, Ordering::Relaxed);
        format!("entryEvents takes {{events: [...]}}: {e}")
    })?;
    if batch.events.len() > MAX_BATCH {
        counters.rejected.fetch_add(1, Ordering::Relaxed);
        return Err(format!(
            "events: at most {MAX_BATCH} per call, got {}",
            batch.events.len()
        ));
    }
    let mut entries = Vec::with_capacity(batch.events.len());
    let mut ignored = 0u64;
    for (i, body) in batch.events.iter().enumerate() {
        match webhook::read(body, io.schemas()) {
            Ok(Webhook::Entry(e)) => entries.push(e),
            Ok(Webhook::Ignored(_)) => ignored += 1,
            Err(problem) => {
                counters.rejected.fetch_add(1, Ordering::Relaxed);
                return Err(format!("events[{i}].{problem}"));
            }
        }
    }
    counters.ignored.fetch_add(ignored, Ordering::Relaxed);
    counters
        .accepted
        .fetch_add(entries.len() as u64, Ordering::Relaxed);
    let accepted = entries.len();
    let mut reports = Vec::new();
    let mut failed = 0usize;
    for (uid, group) in webhook::group(entries) {
        counters
            .merged
            .fetch_add(group.len().saturating_sub(1) as u64, Ordering::Relaxed);
        let document = group
            .first()
            .and_then(|(_, e)| e.get("documentId").cloned())
            .unwrap_or(Value::Null);
        let mut line = json!({"uid": uid, "documentId": document, "requests": group.len()});
        match emit_group(io, populator, counters, &uid, &group).await {
            Ok(report) => line["report"] = report,
            Err(e) => {
                failed += 1;
                counters.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%uid, document = %line["documentId"], error = %e, "forwarded entry event: emit failed");
                line["error"] = Value::String(e.to_string());
            }
        }
        reports.push(line);
    }
    Ok(json!({
        "accepted": accepted,
        "ignored": ignored,
        "emitted": reports.len() - failed,
        "failed": failed,
        "events": reports,
    }))
}
