//! `Idempotency-Key` on the RPC (`POST /api/io/<method>`): a request whose key this node has
//! already answered within [`TTL`] is answered the same way again, with `meta.duplicate:
//! true`, without running again — so a forwarder can retry an `emit` it is not sure was
//! received (the plugin entry's outbox does) and clients still hear it once. A failed call
//! forgets its key (a retry runs); a retry while the first is still running answers 409.
//! Bounded in keys ([`MAX_KEYS`]) and in the bytes of the answers kept ([`MAX_BYTES`]: an
//! `entryEvents` answer lists every document it emitted); past either, the oldest keys go
//! first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a key is remembered.
pub(crate) const TTL: Duration = Duration::from_secs(600);
/// Most keys remembered; the oldest go first.
pub(crate) const MAX_KEYS: usize = 100_000;
/// Most bytes of answers remembered (their JSON length); the oldest go first.
pub(crate) const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Longest key accepted.
pub(crate) const MAX_KEY_LEN: usize = 200;

/// What to do with a request carrying a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Begin {
    /// Not seen: run it (then [`Idempotency::finish`]).
    New,
    /// Answered before: answer this again.
    Replay(Value),
    /// The first request with this key is still running.
    InFlight,
}

/// The keys seen lately and their answers.
#[derive(Debug)]
pub(crate) struct Idempotency {
    state: Mutex<Keys>,
}

impl Default for Idempotency {
    fn default() -> Self {
        Self::with_budget(MAX_BYTES)
    }
}

#[derive(Debug)]
struct Keys {
    /// Each key's arrival, answer (`None` while running) and the answer's JSON length.
    answers: HashMap<String, (Instant, Option<Value>, usize)>,
    /// Keys in arrival order, for expiry and the size bounds.
    order: VecDeque<(Instant, String)>,
    /// The JSON length of every answer kept.
    bytes: usize,
    /// Most `bytes` kept.
    budget: usize,
}

/// Whether `key` is a usable key: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
pub(crate) fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic())
}

impl Idempotency {
    /// A store that keeps at most `budget` bytes of answers.
    pub(crate) fn with_budget(budget: usize) -> Self {
        Idempotency {
            state: Mutex::new(Keys {
                answers: HashMap::new(),
                order: VecDeque::new(),
                bytes: 0,
                budget,
            }),
        }
    }

    /// Looks `key` up at `now`, reserving it when new.
    pub(crate) fn begin(&self, key: &str, now: Instant) -> Begin {
        let mut keys = self.state.lock().unwrap_or_else(|e| e.into_inner());
        keys.expire(now);
        match keys.answers.get(key) {
            Some((_, Some(answer), _)) => Begin::Replay(answer.clone()),
            Some((_, None, _)) => Begin::InFlight,
            None => {
                keys.answers.insert(key.to_string(), (now, None, 0));
                keys.order.push_back((now, key.to_string()));
                Begin::New
            }
        }
    }

    /// Records the answer of a request begun with `key` (`None`: it failed, forget the key).
    pub(crate) fn finish(&self, key: &str, answer: Option<&Value>) {
        let mut keys = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match answer {
            Some(a) => {
                let size = serde_json::to_vec(a).map_or(0, |v| v.len());
                if let Some((_, slot, kept)) = keys.answers.get_mut(key) {
                    *slot = Some(a.clone());
                    let before = std::mem::replace(kept, size);
                    keys.bytes = keys.bytes - before + size;
                }
                keys.pop_oldest_while(|k, _| k.bytes > k.budget);
            }
            None => keys.forget(key),
        }
    }
}

impl Keys {
    /// Drops the keys past [`TTL`] at `now`, and the oldest while over [`MAX_KEYS`].
    fn expire(&mut self, now: Instant) {
        self.pop_oldest_while(|k, at| {
            now.saturating_duration_since(at) > TTL || k.answers.len() >= MAX_KEYS
        });
    }

    /// Drops the oldest keys while `over(self, its arrival)` holds.
    fn pop_oldest_while(&mut self, over: impl Fn(&Self, Instant) -> bool) {
        while let Some((at, key)) = self.order.front() {
            if !over(self, *at) {
                break;
            }
            let (at, key) = (*at, key.clone());
            self.order.pop_front();
            // A key forgotten after a failure may have been begun again since: only its
            // latest arrival owns the answer.
            if self
                .answers
                .get(&key)
                .is_some_and(|(since, _, _)| *since == at)
            {
                self.forget(&key);
            }
        }
    }

    fn forget(&mut self, key: &str) {
        if let Some((_, _, size)) = self.answers.remove(key) {
            self.bytes -= size;
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
    fn answers_are_kept_within_their_byte_budget_oldest_out_first() {
        let answer = json!({"data": "x".repeat(90)}); // 101 bytes of JSON
        let ids = Idempotency::with_budget(250);
        let t = Instant::now();
        for key in ["a", "b", "c"] {
            assert_eq!(ids.begin(key, t), Begin::New);
            ids.finish(key, Some(&answer));
        }
        assert_eq!(
            ids.begin("a", t),
            Begin::New,
            "the oldest went to make room"
        );
        assert_eq!(ids.begin("b", t), Begin::Replay(answer.clone()));
        assert_eq!(ids.begin("c", t), Begin::Replay(answer.clone()));
        // A failed call keeps nothing.
        ids.finish("a", None);
        assert_eq!(ids.state.lock().unwrap().bytes, 202);
    }

    #[test]
    fn keys_are_checked() {
        assert!(valid_key("create:api::article.article:abc:1"));
        for bad in ["", " a", "a b", "é", &"x".repeat(MAX_KEY_LEN + 1)] {
            assert!(!valid_key(bad), "{bad:?}");
        }
    }
}
