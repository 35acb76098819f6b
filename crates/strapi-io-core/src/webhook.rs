//! Strapi 5 webhook requests as content events: reading a request body, and merging the
//! requests Strapi sends for one action on one document into the one event clients get.
//!
//! Strapi sends several requests for one action (a REST create that publishes sends
//! `entry.create` for the draft row and `entry.publish` for the new published row; deleting a
//! published document sends one `entry.delete` per row) and in no guaranteed order. The
//! gateway collects the requests for one document (`uid` + `documentId`) that arrive within a
//! short window and [`merge`]s them: the strongest action wins (`delete` > `create` >
//! `update` > `publish`/`unpublish`), the entry is the document's latest published version when
//! one is among them, and every row id seen still addresses entity subscribers.

use serde_json::Value;

use crate::schema::Schemas;

/// The entry events Strapi sends (`entry.<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntryEvent {
    /// `entry.publish`.
    Publish,
    /// `entry.unpublish`.
    Unpublish,
    /// `entry.update`.
    Update,
    /// `entry.create`.
    Create,
    /// `entry.delete`.
    Delete,
}

impl EntryEvent {
    /// Parses `entry.create` … `entry.unpublish`; other events (`entry.draft-discard`,
    /// review-workflow events) are `None`.
    pub fn parse(event: &str) -> Option<Self> {
        Some(match event {
            "entry.create" => EntryEvent::Create,
            "entry.update" => EntryEvent::Update,
            "entry.delete" => EntryEvent::Delete,
            "entry.publish" => EntryEvent::Publish,
            "entry.unpublish" => EntryEvent::Unpublish,
            _ => return None,
        })
    }

    /// Rank in a merge: the higher one decides the action.
    fn rank(self) -> u8 {
        match self {
            EntryEvent::Publish | EntryEvent::Unpublish => 0,
            EntryEvent::Update => 1,
            EntryEvent::Create => 2,
            EntryEvent::Delete => 3,
        }
    }
}

/// One entry webhook, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryWebhook {
    /// What happened.
    pub event: EntryEvent,
    /// The content type's uid (from `uid`, or resolved from `model`).
    pub uid: String,
    /// The row Strapi sent.
    pub entry: Value,
}

impl EntryWebhook {
    /// The document the request is about: its `documentId`, or `id:<id>` for an entry
    /// without one. `None` when the entry carries neither.
    pub fn document_key(&self) -> Option<String> {
        match (self.entry.get("documentId"), self.entry.get("id")) {
            (Some(Value::String(d)), _) if !d.is_empty() => Some(d.clone()),
            (_, Some(Value::Number(n))) => Some(format!("id:{n}")),
            (_, Some(Value::String(s))) if !s.is_empty() => Some(format!("id:{s}")),
            _ => None,
        }
    }
}

/// What a webhook request body is.
#[derive(Debug, Clone, PartialEq)]
pub enum Webhook {
    /// An entry event of a known content type.
    Entry(EntryWebhook),
    /// A request acknowledged and not emitted, with the reason.
    Ignored(&'static str),
}

/// Reads a webhook body (`{event, model, uid, entry, createdAt}`) against the loaded
/// schemas. A malformed body is an `Err` naming the field; media events, other events and
/// unknown models are [`Webhook::Ignored`].
pub fn read(body: &Value, schemas: &Schemas) -> Result<Webhook, String> {
    let Some(event) = body.get("event").and_then(Value::as_str) else {
        return Err("event: missing or not a string".into());
    };
    if event.starts_with("media.") {
        return Ok(Webhook::Ignored("media events are ignored"));
    }
    if !event.starts_with("entry.") {
        return Ok(Webhook::Ignored("not an entry event"));
    }
    let content_type = match (body.get("uid"), body.get("model")) {
        (Some(Value::String(uid)), _) => schemas.content_type(uid),
        (None, Some(model @ Value::String(_))) => schemas.resolve(model),
        _ => return Err("uid: missing or not a string".into()),
    };
    if !body.get("entry").is_some_and(Value::is_object) {
        return Err("entry: missing or not an object".into());
    }
    let Some(content_type) = content_type else {
        return Ok(Webhook::Ignored("unknown model"));
    };
    let Some(kind) = EntryEvent::parse(event) else {
        return Ok(Webhook::Ignored("unsupported entry event"));
    };
    let entry = body["entry"].clone();
    Ok(Webhook::Entry(EntryWebhook {
        event: kind,
        uid: content_type.uid.clone(),
        entry,
    }))
}

/// Whether the content type has `publish`/`unpublish` as actions of their own (otherwise
/// they are sent as `update`, SPEC §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnActions {
    /// `publish` is an enabled action.
    pub publish: bool,
    /// `unpublish` is an enabled action.
    pub unpublish: bool,
}

/// The one event a group of requests about one document becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// `create`, `update`, `delete`, or `publish`/`unpublish` when enabled as actions.
    pub action: &'static str,
    /// The entry to emit.
    pub entry: Value,
    /// Row ids of the document seen in the group other than the entry's own, so that
    /// subscribers of the draft row hear of its published row's event and the reverse.
    pub other_ids: Vec<String>,
    /// How many requests were merged.
    pub requests: usize,
    /// `publish` or `unpublish` when the event is `update` standing for one of them (not a
    /// save): clients get it as `meta.action`.
    pub via: Option<&'static str>,
}

fn is_published(entry: &Value) -> bool {
    entry.get("publishedAt").is_some_and(|p| !p.is_null())
}

fn updated_at(entry: &Value) -> &str {
    entry.get("updatedAt").and_then(Value::as_str).unwrap_or("")
}

/// The latest of `requests` by the entry's `updatedAt`, then by arrival.
fn latest<'a>(
    requests: impl Iterator<Item = &'a (EntryEvent, Value)>,
) -> Option<(EntryEvent, Value)> {
    requests
        .enumerate()
        .max_by(|(ia, (_, a)), (ib, (_, b))| updated_at(a).cmp(updated_at(b)).then(ia.cmp(ib)))
        .map(|(_, r)| r.clone())
}

fn row_id(entry: &Value) -> Option<String> {
    match entry.get("id") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The requests about one document, each with its row, in arrival order.
pub type Group = Vec<(EntryEvent, Value)>;

/// Splits `requests` (in arrival order) into one group per document — `uid` and
/// [`EntryWebhook::document_key`] — in the order each document first appears; a request
/// without a key is a group of its own. Each group is what [`merge`] takes.
pub fn group(requests: Vec<EntryWebhook>) -> Vec<(String, Group)> {
    let mut groups: Vec<(String, Option<String>, Group)> = Vec::new();
    for request in requests {
        let key = request.document_key();
        let found = key.as_ref().and_then(|k| {
            groups
                .iter_mut()
                .find(|(uid, doc, _)| *uid == request.uid && doc.as_ref() == Some(k))
        });
        match found {
            Some((_, _, list)) => list.push((request.event, request.entry)),
            None => groups.push((request.uid, key, vec![(request.event, request.entry)])),
        }
    }
    groups
        .into_iter()
        .map(|(uid, _, list)| (uid, list))
        .collect()
}

/// Merges the requests received for one document, in arrival order, into one event.
/// `None` for an empty group.
///
/// - The action is the strongest event's: any `delete` makes a `delete`; else any
///   `create` a `create`; else any `update` an `update`; else the last of `publish` /
///   `unpublish`, as its own action when enabled, otherwise as `update`.
/// - For `create`/`update`, the entry is the latest (`updatedAt`, then arrival) published
///   version among the requests (Strapi's draft row and its new published row share the
///   document), otherwise the latest saved row (`create` or `update`); for the rest, the
///   latest request of the deciding kind. An `update` that came with a `publish` is marked
///   `via: publish`. An `unpublish`
///   sent as `update` carries `publishedAt: null`: the document is a draft again.
pub fn merge(requests: &[(EntryEvent, Value)], own: OwnActions) -> Option<Merged> {
    let strongest = requests.iter().map(|(e, _)| e.rank()).max()?;
    let deciding: Vec<&(EntryEvent, Value)> = requests
        .iter()
        .filter(|(e, _)| e.rank() == strongest)
        .collect();
    let (event, mut entry) = match strongest {
        3 => {
            // The published row's id is the one REST clients knew.
            let published = deciding.iter().copied().filter(|(_, e)| is_published(e));
            latest(published).or_else(|| deciding.last().map(|r| (*r).clone()))?
        }
        1 | 2 => {
            // The action is the strongest's; the entry the latest saved row (a create then an
            // update of it within one group: the updated row).
            let event = deciding.last()?.0;
            let saved = requests
                .iter()
                .filter(|(e, _)| matches!(e, EntryEvent::Create | EntryEvent::Update));
            let (_, own_entry) = latest(saved)?;
            let published = requests
                .iter()
                .filter(|(e, v)| *e != EntryEvent::Unpublish && is_published(v));
            match latest(published) {
                Some((_, p)) if !is_published(&own_entry) => (event, p),
                _ => (event, own_entry),
            }
        }
        _ => deciding.last().map(|r| (*r).clone())?,
    };
    let published_too = requests.iter().any(|(e, _)| *e == EntryEvent::Publish);
    let (action, via) = match event {
        EntryEvent::Create => ("create", None),
        // A save that also published (a REST update with the default status, a Content
        // Manager "publish" with changes): the published row, marked as a publish.
        EntryEvent::Update if published_too && is_published(&entry) => ("update", Some("publish")),
        EntryEvent::Update => ("update", None),
        EntryEvent::Delete => ("delete", None),
        EntryEvent::Publish if own.publish => ("publish", None),
        EntryEvent::Unpublish if own.unpublish => ("unpublish", None),
        EntryEvent::Publish => ("update", Some("publish")),
        EntryEvent::Unpublish => {
            if let Some(map) = entry.as_object_mut() {
                map.insert("publishedAt".into(), Value::Null);
            }
            ("update", Some("unpublish"))
        }
    };
    let own_id = row_id(&entry);
    let mut other_ids: Vec<String> = Vec::new();
    for id in requests.iter().filter_map(|(_, e)| row_id(e)) {
        if Some(&id) != own_id.as_ref() && !other_ids.contains(&id) {
            other_ids.push(id);
        }
    }
    Some(Merged {
        action,
        entry,
        other_ids,
        requests: requests.len(),
        via,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContentType;
    use serde_json::json;

    fn schemas() -> Schemas {
        let uid = "api::article.article";
        let text = json!({
            "kind": "collectionType",
            "collectionName": "articles",
            "info": {"singularName": "article", "pluralName": "articles"},
            "options": {"draftAndPublish": true},
            "attributes": {"title": {"type": "string"}}
        })
        .to_string();
        let mut s = Schemas::new();
        s.add_content_type(uid, ContentType::parse(uid, uid, &text).unwrap())
            .unwrap();
        s
    }

    fn row(id: u64, published: bool, updated: &str) -> Value {
        json!({
            "id": id, "documentId": "doc", "title": format!("row {id}"),
            "updatedAt": updated,
            "publishedAt": if published { json!("2026-11-25T23:36:20.447Z") } else { Value::Null },
        })
    }

    use EntryEvent::*;

    #[test]
    fn reading_bodies() {
        let s = schemas();
        let entry = json!({"id": 1, "documentId": "d"});
        let body = json!({"event": "entry.create", "uid": "api::article.article", "entry": entry});
        let Webhook::Entry(w) = read(&body, &s).unwrap() else {
            panic!("not an entry")
        };
        assert_eq!((w.event, w.uid.as_str()), (Create, "api::article.article"));
        assert_eq!(w.document_key().as_deref(), Some("d"));
        let by_model = json!({"event": "entry.publish", "model": "article", "entry": entry});
        assert!(matches!(read(&by_model, &s).unwrap(), Webhook::Entry(w) if w.event == Publish));
        for (body, reason) in [
            (
                json!({"event": "media.create", "media": {}}),
                "media events are ignored",
            ),
            (
                json!({"event": "review.x", "uid": "api::article.article", "entry": entry}),
                "not an entry event",
            ),
            (
                json!({"event": "entry.create", "uid": "api::nope.nope", "entry": entry}),
                "unknown model",
            ),
            (
                json!({"event": "entry.draft-discard", "uid": "api::article.article", "entry": entry}),
                "unsupported entry event",
            ),
        ] {
            assert_eq!(read(&body, &s).unwrap(), Webhook::Ignored(reason), "{body}");
        }
        for (body, field) in [
            (
                json!({"uid": "api::article.article", "entry": entry}),
                "event:",
            ),
            (json!({"event": 3, "entry": entry}), "event:"),
            (json!({"event": "entry.create", "entry": entry}), "uid:"),
            (
                json!({"event": "entry.create", "uid": 7, "entry": entry}),
                "uid:",
            ),
            (
                json!({"event": "entry.create", "uid": "api::article.article"}),
                "entry:",
            ),
            (
                json!({"event": "entry.create", "uid": "api::article.article", "entry": "6"}),
                "entry:",
            ),
        ] {
            assert!(read(&body, &s).unwrap_err().starts_with(field), "{body}");
        }
    }

    #[test]
    fn document_keys() {
        let w = |entry: Value| EntryWebhook {
            event: Create,
            uid: "u".into(),
            entry,
        };
        assert_eq!(w(json!({"id": 4})).document_key().as_deref(), Some("id:4"));
        assert_eq!(
            w(json!({"id": "4", "documentId": ""}))
                .document_key()
                .as_deref(),
            Some("id:4")
        );
        assert_eq!(w(json!({"title": "x"})).document_key(), None);
    }

    #[test]
    fn a_rest_create_that_publishes_is_one_create_with_the_published_row() {
        let draft = row(9, false, "2026-11-25T23:36:25.522Z");
        let published = row(10, true, "2026-11-25T23:36:25.522Z");
        for group in [
            vec![(Create, draft.clone()), (Publish, published.clone())],
            vec![(Publish, published.clone()), (Create, draft.clone())],
        ] {
            let m = merge(&group, OwnActions::default()).unwrap();
            assert_eq!(m.action, "create");
            assert_eq!(m.entry, published);
            assert_eq!(m.other_ids, vec!["9".to_string()]);
            assert_eq!(m.requests, 2);
        }
    }

    #[test]
    fn deleting_a_published_document_is_one_delete() {
        let draft = row(6, false, "a");
        let published = row(8, true, "a");
        for group in [
            vec![(Delete, draft.clone()), (Delete, published.clone())],
            vec![(Delete, published.clone()), (Delete, draft.clone())],
        ] {
            let m = merge(&group, OwnActions::default()).unwrap();
            assert_eq!((m.action, &m.entry), ("delete", &published));
            assert_eq!(m.other_ids, vec!["6".to_string()]);
        }
        // A draft-only document: its one row.
        let m = merge(&[(Delete, draft.clone())], OwnActions::default()).unwrap();
        assert_eq!((m.action, &m.entry), ("delete", &draft));
        assert!(m.other_ids.is_empty());
        // Created and deleted within the window: the delete.
        let m = merge(
            &[(Create, draft.clone()), (Delete, draft.clone())],
            OwnActions::default(),
        )
        .unwrap();
        assert_eq!(m.action, "delete");
    }

    #[test]
    fn updates_keep_the_latest_version() {
        let draft = row(6, false, "2026-11-25T23:36:20.444Z");
        let published = row(8, true, "2026-11-25T23:36:20.444Z");
        let m = merge(
            &[(Update, draft.clone()), (Publish, published.clone())],
            OwnActions::default(),
        )
        .unwrap();
        assert_eq!((m.action, &m.entry), ("update", &published));
        // Two saves of a draft: the later one, by updatedAt whatever the arrival order.
        let early = row(6, false, "2026-11-25T23:36:12.000Z");
        let late = row(6, false, "2026-11-25T23:36:13.000Z");
        let m = merge(
            &[(Update, late.clone()), (Update, early.clone())],
            OwnActions::default(),
        )
        .unwrap();
        assert_eq!(m.entry, late);
        assert!(m.other_ids.is_empty());
        // Same updatedAt: the later arrival.
        let again = json!({"id": 6, "documentId": "doc", "title": "again", "updatedAt": "2026-11-25T23:36:13.000Z", "publishedAt": null});
        let m = merge(
            &[(Update, late.clone()), (Update, again.clone())],
            OwnActions::default(),
        )
        .unwrap();
        assert_eq!(m.entry, again);
    }

    #[test]
    fn grouping_by_document_keeps_first_appearance_order() {
        let w = |event, uid: &str, entry: Value| EntryWebhook {
            event,
            uid: uid.into(),
            entry,
        };
        let a = "api::article.article";
        let c = "api::comment.comment";
        let groups = group(vec![
            w(Update, a, json!({"id": 1, "documentId": "x"})),
            w(Create, c, json!({"id": 1, "documentId": "x"})),
            w(Update, a, json!({"id": 3, "documentId": "y"})),
            w(Publish, a, json!({"id": 2, "documentId": "x"})),
            w(Update, a, json!({"title": "no key"})),
            w(Update, a, json!({"title": "no key either"})),
        ]);
        let shape: Vec<(&str, Vec<EntryEvent>)> = groups
            .iter()
            .map(|(uid, l)| (uid.as_str(), l.iter().map(|(e, _)| *e).collect()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (a, vec![Update, Publish]),
                (c, vec![Create]),
                (a, vec![Update]),
                (a, vec![Update]),
                (a, vec![Update]),
            ]
        );
        assert!(group(Vec::new()).is_empty());
    }

    #[test]
    fn a_create_then_an_update_is_a_create_with_the_updated_row() {
        let created = row(6, false, "2026-11-25T23:36:12.000Z");
        let updated = row(6, false, "2026-11-25T23:36:13.000Z");
        for group in [
            vec![(Create, created.clone()), (Update, updated.clone())],
            vec![(Update, updated.clone()), (Create, created.clone())],
        ] {
            let m = merge(&group, OwnActions::default()).unwrap();
            assert_eq!((m.action, &m.entry), ("create", &updated));
        }
    }

    #[test]
    fn a_save_that_publishes_is_marked_as_a_publish() {
        let draft = row(6, false, "2026-11-25T23:36:20.444Z");
        let published = row(8, true, "2026-11-25T23:36:20.444Z");
        let m = merge(
            &[(Update, draft.clone()), (Publish, published.clone())],
            OwnActions::default(),
        )
        .unwrap();
        assert_eq!((m.action, m.via), ("update", Some("publish")));
        // A draft save alone is not.
        let m = merge(&[(Update, draft)], OwnActions::default()).unwrap();
        assert_eq!((m.action, m.via), ("update", None));
    }

    #[test]
    fn publish_and_unpublish_alone() {
        let published = row(7, true, "a");
        let m = merge(&[(Publish, published.clone())], OwnActions::default()).unwrap();
        assert_eq!((m.action, &m.entry), ("update", &published));
        let own = OwnActions {
            publish: true,
            unpublish: true,
        };
        assert_eq!(
            merge(&[(Publish, published.clone())], own).unwrap().action,
            "publish"
        );
        let m = merge(&[(Unpublish, published.clone())], own).unwrap();
        assert_eq!((m.action, &m.entry), ("unpublish", &published));
        // Sent as an update, an unpublished document is a draft again.
        let m = merge(&[(Unpublish, published.clone())], OwnActions::default()).unwrap();
        assert_eq!(m.action, "update");
        assert_eq!(m.entry["publishedAt"], Value::Null);
        assert_eq!(m.entry["id"], json!(7));
        // An update with an unpublish: the unpublished row is not the document's version.
        let draft = row(6, false, "b");
        let m = merge(
            &[(Update, draft.clone()), (Unpublish, published)],
            OwnActions::default(),
        )
        .unwrap();
        assert_eq!((m.action, &m.entry), ("update", &draft));
        assert_eq!(merge(&[], own), None);
    }
}
