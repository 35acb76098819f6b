//! [`Secret`]: a config value that must never be printed.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// What a secret prints as, in `Debug` and when serialized (`strapi-io check`).
pub(crate) const MASK: &str = "***";

/// A secret string from the config (a token, a salt, a database URL with its password):
/// read as a plain string, shown as [`MASK`] by `Debug` and `Serialize`; [`Secret::expose`]
/// is the only way to its value.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    /// The value itself, for the one place that uses it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (counts as unset where a secret is required).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_reads_as_a_string_and_never_shows() {
        let s: Secret = serde_json::from_value(serde_json::json!("hunter2")).unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(format!("{s:?}"), MASK);
        assert_eq!(serde_json::to_value(&s).unwrap(), MASK);
        assert_eq!(serde_json::to_value(Some(&s)).unwrap(), MASK);
        assert_eq!(
            serde_json::to_value(None::<Secret>).unwrap(),
            serde_json::Value::Null
        );
        assert!(Secret::default().is_empty());
    }
}
