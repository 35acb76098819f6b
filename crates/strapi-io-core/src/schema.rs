//! Strapi content-type and component schemas (`schema.json`), parsed into the few facts
//! the emit pipeline needs: which attributes are private, which are relations, media,
//! components or dynamic zones, and where they point.
//!
//! Parsing works on text handed in by the caller; reading the project's `src/` tree is the
//! runtime's job.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// The uid of Strapi's media content type, the target of every `media` attribute.
pub const MEDIA_UID: &str = "plugin::upload.file";

/// Why a schema file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The text is not JSON, or not shaped like a Strapi schema.
    #[error("{origin}: {message}")]
    Malformed {
        /// File name or other description of where the text came from.
        origin: String,
        /// What is wrong, with its JSON path where known.
        message: String,
    },
    /// Two schemas claim the same uid.
    #[error("{origin}: duplicate uid {uid}")]
    Duplicate {
        /// Where the second definition came from.
        origin: String,
        /// The uid defined twice.
        uid: String,
    },
    /// An attribute points at a component that no schema defines.
    #[error("{uid}.{attribute}: unknown component {component}")]
    UnknownComponent {
        /// The content type or component holding the attribute.
        uid: String,
        /// The attribute's name.
        attribute: String,
        /// The component uid that is missing.
        component: String,
    },
}

/// One attribute of a content type or component, reduced to what sanitizing needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Attribute {
    /// A plain value (string, number, richtext, json, enumeration, …).
    Scalar {
        /// Strapi's attribute type name.
        kind: String,
        /// `private: true`: never sent to content-API readers.
        private: bool,
    },
    /// A `password` attribute: never sent.
    Password,
    /// A relation to another content type.
    Relation {
        /// The target uid; `None` for polymorphic (morph) relations.
        target: Option<String>,
        /// `private: true` on the relation itself.
        private: bool,
    },
    /// A media attribute (single or multiple files).
    Media {
        /// `private: true` on the attribute.
        private: bool,
    },
    /// A component, single or repeatable.
    Component {
        /// The component uid (`shared.seo`).
        component: String,
        /// Whether the value is an array.
        repeatable: bool,
        /// `private: true` on the attribute.
        private: bool,
    },
    /// A dynamic zone: an array of components tagged with `__component`.
    DynamicZone {
        /// The component uids allowed in the zone.
        components: Vec<String>,
        /// `private: true` on the attribute.
        private: bool,
    },
}

impl Attribute {
    /// Whether the attribute is never sent to any audience.
    pub fn is_hidden(&self) -> bool {
        match self {
            Attribute::Password => true,
            Attribute::Scalar { private, .. }
            | Attribute::Relation { private, .. }
            | Attribute::Media { private }
            | Attribute::Component { private, .. }
            | Attribute::DynamicZone { private, .. } => *private,
        }
    }
}

/// A content type (`api::article.article`) with its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentType {
    /// The uid, e.g. `api::article.article`.
    pub uid: String,
    /// `collectionType` or `singleType`.
    pub kind: String,
    /// `info.singularName`, used in event names.
    pub singular_name: String,
    /// `info.pluralName`.
    pub plural_name: String,
    /// `collectionName`, the database table.
    pub collection_name: Option<String>,
    /// `options.draftAndPublish`.
    pub draft_and_publish: bool,
    /// Attributes by name.
    pub attributes: BTreeMap<String, Attribute>,
}

/// A component (`shared.seo`) with its attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// The uid, `<category>.<name>`.
    pub uid: String,
    /// Attributes by name.
    pub attributes: BTreeMap<String, Attribute>,
}

/// Every content type and component of a project, checked for dangling component references.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    content_types: BTreeMap<String, ContentType>,
    components: BTreeMap<String, Component>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSchema {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    collection_name: Option<String>,
    #[serde(default)]
    info: RawInfo,
    #[serde(default)]
    options: RawOptions,
    attributes: BTreeMap<String, RawAttribute>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawInfo {
    singular_name: Option<String>,
    plural_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawOptions {
    #[serde(default)]
    draft_and_publish: bool,
}

#[derive(Deserialize)]
struct RawAttribute {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    private: bool,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    repeatable: bool,
    #[serde(default)]
    components: Vec<String>,
}

fn parse_raw(origin: &str, text: &str) -> Result<RawSchema, SchemaError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        SchemaError::Malformed {
            origin: origin.to_string(),
            message,
        }
    })
}

fn convert_attributes(
    origin: &str,
    raw: BTreeMap<String, RawAttribute>,
) -> Result<BTreeMap<String, Attribute>, SchemaError> {
    let malformed = |message: String| SchemaError::Malformed {
        origin: origin.to_string(),
        message,
    };
    raw.into_iter()
        .map(|(name, a)| {
            let attr = match a.kind.as_str() {
                "password" => Attribute::Password,
                "relation" => Attribute::Relation {
                    target: a.target,
                    private: a.private,
                },
                "media" => Attribute::Media { private: a.private },
                "component" => Attribute::Component {
                    component: a.component.ok_or_else(|| {
                        malformed(format!("attributes.{name}: component without `component`"))
                    })?,
                    repeatable: a.repeatable,
                    private: a.private,
                },
                "dynamiczone" => Attribute::DynamicZone {
                    components: a.components,
                    private: a.private,
                },
                _ => Attribute::Scalar {
                    kind: a.kind,
                    private: a.private,
                },
            };
            Ok((name, attr))
        })
        .collect()
}

impl ContentType {
    /// Parses a content type's `schema.json`. `api` and `name` come from the file's place
    /// in `src/api/<api>/content-types/<name>/schema.json`; the uid is `api::<api>.<name>`.
    pub fn parse(uid: &str, origin: &str, text: &str) -> Result<Self, SchemaError> {
        let raw = parse_raw(origin, text)?;
        let fallback = uid.rsplit('.').next().unwrap_or(uid).to_string();
        let singular_name = raw.info.singular_name.unwrap_or(fallback);
        let plural_name = raw
            .info
            .plural_name
            .unwrap_or_else(|| format!("{singular_name}s"));
        Ok(ContentType {
            uid: uid.to_string(),
            kind: raw.kind.unwrap_or_else(|| "collectionType".into()),
            singular_name,
            plural_name,
            collection_name: raw.collection_name,
            draft_and_publish: raw.options.draft_and_publish,
            attributes: convert_attributes(origin, raw.attributes)?,
        })
    }
}

impl Component {
    /// Parses a component definition (`src/components/<category>/<name>.json`).
    pub fn parse(uid: &str, origin: &str, text: &str) -> Result<Self, SchemaError> {
        let raw = parse_raw(origin, text)?;
        Ok(Component {
            uid: uid.to_string(),
            attributes: convert_attributes(origin, raw.attributes)?,
        })
    }
}

impl Schemas {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a content type; its uid must be new.
    pub fn add_content_type(&mut self, origin: &str, ct: ContentType) -> Result<(), SchemaError> {
        if self.content_types.contains_key(&ct.uid) {
            return Err(SchemaError::Duplicate {
                origin: origin.into(),
                uid: ct.uid,
            });
        }
        self.content_types.insert(ct.uid.clone(), ct);
        Ok(())
    }

    /// Adds a component; its uid must be new.
    pub fn add_component(&mut self, origin: &str, c: Component) -> Result<(), SchemaError> {
        if self.components.contains_key(&c.uid) {
            return Err(SchemaError::Duplicate {
                origin: origin.into(),
                uid: c.uid,
            });
        }
        self.components.insert(c.uid.clone(), c);
        Ok(())
    }

    /// Checks that every component reference resolves. Call once after adding everything.
    pub fn validate(&self) -> Result<(), SchemaError> {
        let holders = self
            .content_types
            .values()
            .map(|c| (&c.uid, &c.attributes))
            .chain(self.components.values().map(|c| (&c.uid, &c.attributes)));
        for (uid, attrs) in holders {
            for (name, attr) in attrs {
                let refs: Vec<&String> = match attr {
                    Attribute::Component { component, .. } => vec![component],
                    Attribute::DynamicZone { components, .. } => components.iter().collect(),
                    _ => continue,
                };
                for c in refs {
                    if !self.components.contains_key(c) {
                        return Err(SchemaError::UnknownComponent {
                            uid: uid.clone(),
                            attribute: name.clone(),
                            component: c.clone(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// The content type with this uid.
    pub fn content_type(&self, uid: &str) -> Option<&ContentType> {
        self.content_types.get(uid)
    }

    /// The component with this uid.
    pub fn component(&self, uid: &str) -> Option<&Component> {
        self.components.get(uid)
    }

    /// Every content type, by uid.
    pub fn content_types(&self) -> impl Iterator<Item = &ContentType> {
        self.content_types.values()
    }

    /// Resolves what `emit` may be handed as `schema`: a uid string, or a schema object
    /// carrying `uid`, `singularName` or `info.singularName`.
    pub fn resolve(&self, schema: &Value) -> Option<&ContentType> {
        match schema {
            Value::String(s) => self
                .content_types
                .get(s)
                .or_else(|| self.by_singular_name(s)),
            Value::Object(map) => {
                if let Some(uid) = map.get("uid").and_then(Value::as_str) {
                    return self.content_types.get(uid);
                }
                let singular = map
                    .get("singularName")
                    .or_else(|| map.get("info").and_then(|i| i.get("singularName")))
                    .and_then(Value::as_str)?;
                self.by_singular_name(singular)
            }
            _ => None,
        }
    }

    fn by_singular_name(&self, name: &str) -> Option<&ContentType> {
        self.content_types
            .values()
            .find(|c| c.singular_name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ARTICLE: &str = r#"{"kind":"collectionType","collectionName":"articles",
      "info":{"singularName":"article","pluralName":"articles"},
      "options":{"draftAndPublish":true},
      "attributes":{"title":{"type":"string"},"secret":{"type":"string","private":true},
        "pw":{"type":"password"},"author":{"type":"relation","relation":"manyToOne","target":"api::author.author"},
        "cover":{"type":"media"},"seo":{"type":"component","component":"shared.seo"},
        "blocks":{"type":"dynamiczone","components":["shared.seo"]}}}"#;

    fn set() -> Schemas {
        let mut s = Schemas::new();
        let ct = ContentType::parse("api::article.article", "article", ARTICLE).unwrap();
        s.add_content_type("article", ct).unwrap();
        let c = Component::parse(
            "shared.seo",
            "seo",
            r#"{"attributes":{"metaTitle":{"type":"string"}}}"#,
        )
        .unwrap();
        s.add_component("seo", c).unwrap();
        s
    }

    #[test]
    fn parses_attribute_kinds() {
        let s = set();
        s.validate().unwrap();
        let ct = s.content_type("api::article.article").unwrap();
        assert_eq!(ct.singular_name, "article");
        assert!(ct.draft_and_publish);
        assert_eq!(ct.collection_name.as_deref(), Some("articles"));
        assert!(ct.attributes["secret"].is_hidden());
        assert!(ct.attributes["pw"].is_hidden());
        assert!(!ct.attributes["title"].is_hidden());
        assert!(
            matches!(ct.attributes["author"], Attribute::Relation { ref target, .. } if target.as_deref() == Some("api::author.author"))
        );
        assert!(matches!(ct.attributes["cover"], Attribute::Media { .. }));
        assert!(matches!(
            ct.attributes["blocks"],
            Attribute::DynamicZone { .. }
        ));
    }

    #[test]
    fn malformed_names_origin_and_path() {
        let err = ContentType::parse(
            "api::x.x",
            "src/api/x/content-types/x/schema.json",
            r#"{"attributes":{"a":{"type":5}}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("src/api/x/content-types/x/schema.json: "),
            "{err}"
        );
        assert!(err.contains("attributes.a.type"), "{err}");
        let err = ContentType::parse("api::x.x", "f.json", "{not json").unwrap_err();
        assert!(err.to_string().starts_with("f.json: "));
    }

    #[test]
    fn unknown_component_is_reported() {
        let mut s = Schemas::new();
        let ct = ContentType::parse("api::article.article", "article", ARTICLE).unwrap();
        s.add_content_type("article", ct).unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("unknown component shared.seo"), "{err}");
    }

    #[test]
    fn duplicate_uid_is_reported() {
        let mut s = set();
        let ct = ContentType::parse("api::article.article", "again", ARTICLE).unwrap();
        assert!(matches!(
            s.add_content_type("again", ct),
            Err(SchemaError::Duplicate { .. })
        ));
    }

    #[test]
    fn resolves_uid_and_schema_objects() {
        let s = set();
        for v in [
            json!("api::article.article"),
            json!("article"),
            json!({"uid": "api::article.article"}),
            json!({"singularName": "article"}),
            json!({"info": {"singularName": "article"}}),
        ] {
            assert_eq!(
                s.resolve(&v).map(|c| c.uid.as_str()),
                Some("api::article.article"),
                "{v}"
            );
        }
        assert!(s.resolve(&json!("api::nope.nope")).is_none());
        assert!(s.resolve(&json!(42)).is_none());
    }
}
