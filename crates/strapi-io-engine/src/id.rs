//! Random ids as Node's Socket.IO makes them: 15 random bytes in URL-safe base64, 20
//! characters. Engine.IO session ids and Socket.IO socket ids are drawn separately; the
//! session id never leaves its transport.

use std::fmt;

use base64::Engine as _;
use rand::RngCore;

/// A 20-character random id, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id([u8; 20]);

impl Id {
    /// A fresh id from the thread's CSPRNG.
    pub fn new() -> Self {
        let mut raw = [0u8; 15];
        rand::rng().fill_bytes(&mut raw);
        let mut out = [0u8; 20];
        // 15 bytes are exactly 20 base64 characters, without padding.
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(raw, &mut out)
            .unwrap_or(0);
        debug_assert_eq!(n, 20);
        Id(out)
    }

    /// Reads an id from text: exactly 20 characters of the URL-safe base64 alphabet.
    pub fn parse(s: &str) -> Option<Self> {
        let bytes: [u8; 20] = s.as_bytes().try_into().ok()?;
        bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
            .then_some(Id(bytes))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored (see `new` and `parse`).
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl Default for Id {
    fn default() -> Self {
        Id::new()
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_20_url_safe_characters_and_differ() {
        let a = Id::new();
        let b = Id::new();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert_eq!(Id::parse(a.as_str()), Some(a));
    }

    #[test]
    fn parse_refuses_other_lengths_and_alphabets() {
        assert_eq!(Id::parse("short"), None);
        assert_eq!(Id::parse("aaaaaaaaaaaaaaaaaaa+"), None);
        assert_eq!(Id::parse("aaaaaaaaaaaaaaaaaaaaa"), None);
        assert!(Id::parse("aaaaaaaaaaaaaaaaaa-_").is_some());
    }
}
