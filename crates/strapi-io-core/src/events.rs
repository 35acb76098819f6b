//! Which content events exist: the plugin's `contentTypes` config (enabled actions, event
//! prefixes, populate), event names (`article:create`), and the checks of the emit
//! pipeline that decide whether an event goes out at all (SPEC §3 steps 1–2).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::schema::ContentType;

/// The actions a content type is enabled for when the config does not say.
pub const DEFAULT_ACTIONS: [&str; 3] = ["create", "update", "delete"];

/// One item of the `contentTypes` config: a uid, or a uid with options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ContentTypeEntry {
    /// `"api::article.article"`: create, update and delete.
    Uid(String),
    /// `{ uid, actions, populate, eventPrefix }`.
    Detailed(ContentTypeOptions),
}

/// Options of one enabled content type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContentTypeOptions {
    /// The content type uid.
    pub uid: String,
    /// Enabled actions; default create, update, delete.
    #[serde(default)]
    pub actions: Option<Vec<String>>,
    /// Relations to refetch before emitting (`"*"`, a list, or Strapi populate syntax).
    #[serde(default)]
    pub populate: Option<Value>,
    /// Replaces the singular name in event names.
    #[serde(default)]
    pub event_prefix: Option<String>,
}

/// The enabled content types and their options.
#[derive(Debug, Clone, Default)]
pub struct ContentTypeRules {
    /// `None`: no `contentTypes` config, every `api::` type enabled for the default actions.
    listed: Option<BTreeMap<String, ContentTypeOptions>>,
}

/// Why an event is not sent; none of these is an error for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// No entry (an unsaved single type).
    NoData,
    /// The content type is not enabled for the action.
    NotEnabled,
    /// `onlyPublished` and the entry is a draft.
    Draft,
    /// The `enabled` setting is off.
    Disabled,
}

impl ContentTypeRules {
    /// Builds the rules from the `contentTypes` config (absent = every `api::` type).
    pub fn new(entries: Option<Vec<ContentTypeEntry>>) -> Self {
        let listed = entries.map(|list| {
            list.into_iter()
                .map(|e| {
                    let o = match e {
                        ContentTypeEntry::Uid(uid) => ContentTypeOptions {
                            uid,
                            actions: None,
                            populate: None,
                            event_prefix: None,
                        },
                        ContentTypeEntry::Detailed(o) => o,
                    };
                    (o.uid.clone(), o)
                })
                .collect()
        });
        ContentTypeRules { listed }
    }

    /// The uids named in the config (to check them against the loaded schemas).
    pub fn listed_uids(&self) -> Vec<&str> {
        self.listed
            .as_ref()
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The options of a listed content type.
    pub fn options(&self, uid: &str) -> Option<&ContentTypeOptions> {
        self.listed.as_ref().and_then(|m| m.get(uid))
    }

    /// Whether events of `action` on this content type are sent.
    pub fn enabled(&self, ct: &ContentType, action: &str) -> bool {
        match &self.listed {
            None => ct.uid.starts_with("api::") && DEFAULT_ACTIONS.contains(&action),
            Some(m) => match m.get(&ct.uid) {
                None => false,
                Some(o) => match &o.actions {
                    None => DEFAULT_ACTIONS.contains(&action),
                    Some(a) => a.iter().any(|x| x == action),
                },
            },
        }
    }

    /// `<prefix or singular name>:<action>`.
    pub fn event_name(&self, ct: &ContentType, action: &str) -> String {
        let prefix = self
            .options(&ct.uid)
            .and_then(|o| o.event_prefix.as_deref())
            .unwrap_or(&ct.singular_name);
        format!("{prefix}:{action}")
    }

    /// The emit pipeline's gate: `Ok` when the event goes out.
    pub fn check(
        &self,
        ct: &ContentType,
        action: &str,
        data: &Value,
        only_published: bool,
    ) -> Result<(), Skip> {
        if data.is_null() {
            return Err(Skip::NoData);
        }
        if !self.enabled(ct, action) {
            return Err(Skip::NotEnabled);
        }
        if only_published
            && ct.draft_and_publish
            && action != "delete"
            && data.get("publishedAt").is_none_or(Value::is_null)
        {
            return Err(Skip::Draft);
        }
        Ok(())
    }
}

/// The ids an entry is addressed by: its numeric `id` and its `documentId`, as strings.
pub fn entry_ids(data: &Value) -> Vec<String> {
    let mut ids = Vec::with_capacity(2);
    for key in ["id", "documentId"] {
        match data.get(key) {
            Some(Value::Number(n)) => ids.push(n.to_string()),
            Some(Value::String(s)) if !s.is_empty() => ids.push(s.clone()),
            _ => {}
        }
    }
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ct(uid: &str, dnp: bool) -> ContentType {
        ContentType {
            uid: uid.into(),
            kind: "collectionType".into(),
            singular_name: uid.rsplit('.').next().unwrap().into(),
            plural_name: "x".into(),
            collection_name: None,
            draft_and_publish: dnp,
            attributes: Default::default(),
        }
    }

    #[test]
    fn default_rules_enable_api_types_for_crud() {
        let r = ContentTypeRules::new(None);
        let a = ct("api::article.article", true);
        assert!(r.enabled(&a, "create"));
        assert!(r.enabled(&a, "delete"));
        assert!(!r.enabled(&a, "publish"));
        assert!(!r.enabled(&ct("plugin::users-permissions.user", false), "create"));
        assert_eq!(r.event_name(&a, "create"), "article:create");
    }

    #[test]
    fn listed_rules() {
        let entries: Vec<ContentTypeEntry> = serde_json::from_value(json!([
            "api::comment.comment",
            {"uid": "api::article.article", "actions": ["create", "publish"], "eventPrefix": "post"}
        ]))
        .unwrap();
        let r = ContentTypeRules::new(Some(entries));
        let a = ct("api::article.article", true);
        assert!(r.enabled(&a, "publish"));
        assert!(!r.enabled(&a, "update"));
        assert_eq!(r.event_name(&a, "publish"), "post:publish");
        assert!(r.enabled(&ct("api::comment.comment", false), "update"));
        assert!(!r.enabled(&ct("api::author.author", false), "create"));
        assert_eq!(r.listed_uids().len(), 2);
    }

    #[test]
    fn gate() {
        let r = ContentTypeRules::new(None);
        let a = ct("api::article.article", true);
        assert_eq!(
            r.check(&a, "create", &Value::Null, false),
            Err(Skip::NoData)
        );
        assert_eq!(
            r.check(&a, "create", &json!({"id": 1}), true),
            Err(Skip::Draft)
        );
        assert_eq!(
            r.check(&a, "create", &json!({"id": 1, "publishedAt": null}), true),
            Err(Skip::Draft)
        );
        assert_eq!(
            r.check(
                &a,
                "create",
                &json!({"id": 1, "publishedAt": "2026-01-01"}),
                true
            ),
            Ok(())
        );
        assert_eq!(r.check(&a, "delete", &json!({"id": 1}), true), Ok(()));
        assert_eq!(r.check(&a, "create", &json!({"id": 1}), false), Ok(()));
        let c = ct("api::comment.comment", false);
        assert_eq!(r.check(&c, "create", &json!({"id": 1}), true), Ok(()));
        assert_eq!(
            r.check(&a, "archive", &json!({"id": 1}), false),
            Err(Skip::NotEnabled)
        );
    }

    #[test]
    fn ids() {
        assert_eq!(
            entry_ids(&json!({"id": 3, "documentId": "abc"})),
            vec!["3", "abc"]
        );
        assert_eq!(entry_ids(&json!({"documentId": "abc"})), vec!["abc"]);
        assert!(entry_ids(&json!({"id": null})).is_empty());
    }
}
