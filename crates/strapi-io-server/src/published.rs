//! A published entry's relations to draft rows, swapped for their published rows.
//!
//! Strapi keeps a draft and a published row per document, and a relation links both: its
//! webhooks send a comment's `article` as the article's **draft** row, while its REST API
//! (`status=published`, the default) shows the published row. So that clients see what REST
//! shows, an entry event whose own entry is published has each relation value that is a draft
//! row (`publishedAt: null`) of a draft-and-publish type read again from Strapi's REST API
//! (`GET /api/{pluralName}/{documentId}?status=published`, through the populate client and its
//! bounds) and replaced by the published row. A document with no published version keeps its
//! draft row. Without `strapi.url`, or when Strapi fails, the draft row stays (counted).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use serde_json::{Map, Value};
use strapi_io::core::schema::{Attribute, ContentType, Schemas};

use crate::populate::{Failure, Populator};

/// A relation value that is a draft row: an object with a `documentId` and `publishedAt: null`.
fn draft_document(value: &Value) -> Option<(&str, Option<&str>)> {
    let row = value.as_object()?;
    if !row.get("publishedAt").is_some_and(Value::is_null) {
        return None;
    }
    let document = row.get("documentId")?.as_str().filter(|d| !d.is_empty())?;
    let locale = row
        .get("locale")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty());
    Some((document, locale))
}

/// Most related documents read for one event; past it, the rest keep their draft rows
/// (counted as failed, logged), so that one event cannot hold its document's later events
/// behind thousands of reads.
pub(crate) const MAX_READS_PER_EVENT: usize = 32;

/// Calls `f` with the target uid and the value of every relation row in `map` that is a
/// draft row of a draft-and-publish collection type.
fn for_each_draft_row(
    ct: &ContentType,
    schemas: &Schemas,
    map: &mut Map<String, Value>,
    mut f: impl FnMut(&str, &mut Value),
) {
    for (name, attribute) in &ct.attributes {
        let Attribute::Relation {
            target: Some(target),
            ..
        } = attribute
        else {
            continue;
        };
        if !schemas
            .content_type(target)
            .is_some_and(|t| t.draft_and_publish && t.kind != "singleType")
        {
            continue;
        }
        let rows: Vec<&mut Value> = match map.get_mut(name) {
            Some(Value::Array(items)) => items.iter_mut().collect(),
            Some(one @ Value::Object(_)) => vec![one],
            _ => continue,
        };
        for row in rows.into_iter().filter(|r| draft_document(r).is_some()) {
            f(target, row);
        }
    }
}

/// Swaps, in `entry` (an event of `uid`), every relation value that is a draft row of a
/// draft-and-publish type for that document's published row; see the module docs. Each
/// document is read once, at most [`MAX_READS_PER_EVENT`] of them, at once (the populate
/// client's slots bound how many are in flight). Does nothing for a draft entry, a `delete`,
/// or without `strapi.url`.
pub(crate) async fn swap_draft_relations(
    populator: &Populator,
    schemas: &Schemas,
    uid: &str,
    action: &str,
    entry: &mut Value,
) {
    if action == "delete" || !populator.can_read() {
        return;
    }
    let Some(ct) = schemas.content_type(uid) else {
        return;
    };
    let Some(map) = entry.as_object_mut() else {
        return;
    };
    if map.get("publishedAt").is_none_or(Value::is_null) {
        return;
    }
    // The documents to read, each once.
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut wanted: Vec<(String, String, Option<String>)> = Vec::new();
    for_each_draft_row(ct, schemas, map, |target, row| {
        if let Some((document, locale)) = draft_document(row)
            && seen.insert((target.into(), document.into()))
        {
            wanted.push((target.into(), document.into(), locale.map(str::to_string)));
        }
    });
    if wanted.is_empty() {
        return;
    }
    if wanted.len() > MAX_READS_PER_EVENT {
        let over = wanted.len() - MAX_READS_PER_EVENT;
        let counters = populator.counters();
        counters
            .published_failed
            .fetch_add(over as u64, Ordering::Relaxed);
        tracing::warn!(%uid, related = wanted.len(), max = MAX_READS_PER_EVENT, "too many related documents to read for one event: the rest keep their draft rows");
        wanted.truncate(MAX_READS_PER_EVENT);
    }
    let mut reads = tokio::task::JoinSet::new();
    for (target, document, locale) in wanted {
        let Some(target_ct) = schemas.content_type(&target).cloned() else {
            continue;
        };
        let populator = populator.clone();
        reads.spawn(async move {
            let row = read(&populator, &target_ct, &document, locale.as_deref()).await;
            ((target, document), row)
        });
    }
    let mut found: HashMap<(String, String), Map<String, Value>> = HashMap::new();
    while let Some(done) = reads.join_next().await {
        if let Ok((key, Some(row))) = done {
            found.insert(key, row);
        }
    }
    for_each_draft_row(ct, schemas, map, |target, row| {
        let key = draft_document(row).map(|(d, _)| (target.to_string(), d.to_string()));
        if let Some(published) = key.and_then(|k| found.get(&k)) {
            *row = Value::Object(published.clone());
        }
    });
}

/// The published row of `document`, `None` when it has none or Strapi could not be read
/// (counted, and logged for a failure).
async fn read(
    populator: &Populator,
    ct: &ContentType,
    document: &str,
    locale: Option<&str>,
) -> Option<Map<String, Value>> {
    let counters = populator.counters();
    match populator.published_row(ct, document, locale).await {
        Ok(row) => {
            counters.published_swapped.fetch_add(1, Ordering::Relaxed);
            Some(row)
        }
        Err(Failure::Status(404)) => {
            counters.published_kept.fetch_add(1, Ordering::Relaxed);
            None
        }
        Err(reason) => {
            counters.published_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(uid = %ct.uid, document, %reason, "could not read the published row of a related document: its draft row is sent");
            None
        }
    }
}
