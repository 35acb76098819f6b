//! Recovery offsets: the position of a sent event, `ms-seq`, as Socket.IO's connection
//! state recovery carries it (the last argument of an event, the `offset` of a reconnecting
//! handshake). A Redis stream id in cluster mode, `0-n` on a standalone node.

use std::fmt;

/// An event's offset, `ms-seq`; ordered as the events were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Offset {
    /// Milliseconds part (a Redis stream id's time; 0 standalone).
    pub ms: u64,
    /// Sequence within `ms`.
    pub seq: u64,
}

impl Offset {
    /// Before every event.
    pub const ZERO: Offset = Offset { ms: 0, seq: 0 };
    /// After every event.
    pub const MAX: Offset = Offset {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// Reads `ms-seq`: decimal digits only, as Redis writes them; anything else is `None`.
    pub fn parse(text: &str) -> Option<Offset> {
        let (ms, seq) = text.split_once('-')?;
        let number = |s: &str| -> Option<u64> {
            if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        };
        Some(Offset {
            ms: number(ms)?,
            seq: number(seq)?,
        })
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl serde::Serialize for Offset {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Offset {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Offset::parse(&text).ok_or_else(|| serde::de::Error::custom("not an offset"))
    }
}

#[cfg(test)]
mod tests {
    use super::Offset;

    #[test]
    fn read_only_as_redis_writes_them_and_ordered_as_sent() {
        assert_eq!(Offset::parse("1733-7"), Some(Offset { ms: 1733, seq: 7 }));
        assert_eq!(Offset::parse("0-0"), Some(Offset::ZERO));
        for bad in [
            "",
            "7",
            "-7",
            "1-",
            "+1-2",
            "1-+2",
            "1 -2",
            "a-b",
            "1-2-3",
            "99999999999999999999999-0",
        ] {
            assert_eq!(Offset::parse(bad), None, "{bad:?}");
        }
        assert!(Offset { ms: 1, seq: 9 } < Offset { ms: 2, seq: 0 });
        assert_eq!(Offset { ms: 5, seq: 1 }.to_string(), "5-1");
        let at3 = Offset { ms: 0, seq: 3 };
        let json = serde_json::to_string(&at3).unwrap();
        assert_eq!(json, "\"0-3\"");
        assert_eq!(serde_json::from_str::<Offset>(&json).unwrap(), at3);
        assert!(serde_json::from_str::<Offset>("\"x\"").is_err());
    }
}
