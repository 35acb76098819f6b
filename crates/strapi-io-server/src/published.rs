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

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use serde_json::{Map, Value};
use strapi_io::core::schema::{Attribute, Schemas};

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

/// Swaps, in `entry` (an event of `uid`), every relation value that is a draft row of a
/// draft-and-publish type for that document's published row; see the module docs. Does
/// nothing for a draft entry, a `delete`, or without `strapi.url`.
pub async fn swap_draft_relations(
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
    // Each target document read once per event.
    let mut found: HashMap<(String, String), Option<Map<String, Value>>> = HashMap::new();
    for (name, attribute) in &ct.attributes {
        let Attribute::Relation {
            target: Some(target),
            ..
        } = attribute
        else {
            continue;
        };
        let Some(target_ct) = schemas
            .content_type(target)
            .filter(|t| t.draft_and_publish && t.kind != "singleType")
        else {
            continue;
        };
        let Some(value) = map.get_mut(name) else {
            continue;
        };
        let rows: Vec<&mut Value> = match value {
            Value::Array(items) => items.iter_mut().collect(),
            one @ Value::Object(_) => vec![one],
            _ => continue,
        };
        for row in rows {
            let Some((document, locale)) = draft_document(row) else {
                continue;
            };
            let key = (target.clone(), document.to_string());
            if !found.contains_key(&key) {
                let published = read(populator, target_ct, document, locale).await;
                found.insert(key.clone(), published);
            }
            if let Some(Some(published)) = found.get(&key) {
                *row = Value::Object(published.clone());
            }
        }
    }
}

/// The published row of `document`, `None` when it has none or Strapi could not be read
/// (counted, and logged for a failure).
async fn read(
    populator: &Populator,
    ct: &strapi_io::core::schema::ContentType,
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
