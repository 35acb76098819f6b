//! `Idempotency-Key` on the RPC (`POST /api/io/<method>`): a request whose key this node has
//! already answered within [`TTL`] is answered the same way again, with `meta.duplicate:
//! true`, without running again — so a forwarder can retry an `emit` it is not sure was
//! received (the plugin entry's outbox does) and clients still hear it once. A failed call
//! forgets its key (a retry runs); a retry while the first is still running answers 409.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a key is remembered.
pub const TTL: Duration = Duration::from_secs(600);
/// Most keys remembered; the oldest go first.
pub const MAX_KEYS: usize = 100_000;
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 200;

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// Not seen: run it (then [`Idempotency::finish`]).
    New,
    /// Answered before: answer this again.
    Replay(Value),
    /// The first request with this key is still running.
    InFlight,
}

/// The keys seen lately and their answers.
#[derive(Debug, Default)]
pub struct Idempotency {
    state: Mutex<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    /// Each key's arrival and answer (`None` while running).
    answers: HashMap<String, (Instant, Option<Value>)>,
    /// Keys in arrival order, for expiry and the size bound.
    order: VecDeque<(Instant, String)>,
}

/// Whether `key` is a usable key: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

impl Idempotency {
    /// Looks `key` up at `now`, reserving it when new.
    pub fn begin(&self, key: &str, now: Instant) -> Begin {
        let mut keys = self.state.lock().unwrap_or_else(|e| e.into_inner());
        keys.expire(now);
        match keys.answers.get(key) {
            Some((_, Some(answer))) => Begin::Replay(answer.clone()),
            Some((_, None)) => Begin::InFlight,
            None => {
                keys.answers.insert(key.to_string(), (now, None));
                keys.order.push_back((now, key.to_string()));
                Begin::New
            }
        }
    }

    /// Records the answer of a request begun with `key` (`None`: it failed, forget the key).
    pub fn finish(&self, key: &str, answer: Option<&Value>) {
        let mut keys = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match answer {
            Some(a) => {
                if let Some((_, slot)) = keys.answers.get_mut(key) {
                    *slot = Some(a.clone());
                }
            }
            None => {
                keys.answers.remove(key);
            }
        }
    }
}

impl Keys {
    fn expire(&mut self, now: Instant) {
        while let Some((at, key)) = self.order.front() {
            if now.saturating_duration_since(*at) <= TTL && self.answers.len() < MAX_KEYS {
                break;
            }
            let (at, key) = (*at, key.clone());
            self.order.pop_front();
            // A key forgotten after a failure may have been begun again since: only its
            // latest arrival owns the answer.
            if self
                .answers
                .get(&key)
                .is_some_and(|(since, _)| *since == at)
            {
                self.answers.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_key_is_answered_once_then_replayed() {
        let ids = Idempotency::default();
        let t = Instant::now();
        assert_eq!(ids.begin("a", t), Begin::New);
        assert_eq!(ids.begin("a", t), Begin::InFlight);
        ids.finish("a", Some(&json!({"data": null})));
        assert_eq!(ids.begin("a", t), Begin::Replay(json!({"data": null})));
        assert_eq!(ids.begin("b", t), Begin::New, "keys are independent");
    }

    #[test]
    fn a_failed_call_forgets_its_key() {
        let ids = Idempotency::default();
        let t = Instant::now();
        assert_eq!(ids.begin("a", t), Begin::New);
        ids.finish("a", None);
        assert_eq!(ids.begin("a", t), Begin::New, "the retry runs");
    }

    #[test]
    fn keys_expire() {
        let ids = Idempotency::default();
        let t = Instant::now();
        assert_eq!(ids.begin("a", t), Begin::New);
        ids.finish("a", Some(&json!(1)));
        assert_eq!(ids.begin("a", t + TTL + Duration::from_secs(1)), Begin::New);
    }

    #[test]
    fn keys_are_checked() {
        assert!(valid_key("create:api::article.article:abc:1"));
        for bad in ["", " a", "a b", "é", &"x".repeat(MAX_KEY_LEN + 1)] {
            assert!(!valid_key(bad), "{bad:?}");
        }
    }
}
