//! Delivery accounting, the correctness half of the bench: each client's [`SeqTracker`] (a
//! bitset of the `benchSeq`s it saw, duplicates, order per stream) and the run's
//! [`Expectation`] (which events were emitted successfully and which of them each client must
//! have got), from which missing and unexpected deliveries follow.
//!
//! Streams: event `seq` is about entity `seq % M + 1`; the SPEC promises order per entry, so
//! order is checked per stream (an event arriving after a later event of the same entity is
//! out of order). Arrivals after a later event of another entity are counted apart
//! (`reordered_across_streams`, informational: the emitter serializes its requests when
//! `--concurrency` is 1, so a server that keeps emit order shows zero there too).

use serde::{Deserialize, Serialize};

/// A growable set of `u64`s below a bound, one bit each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    /// An empty set; storage grows as high members are added.
    pub fn new() -> Bitset {
        Bitset { words: Vec::new() }
    }

    /// A set of `0..n`.
    pub fn full(n: u64) -> Bitset {
        let mut words = vec![u64::MAX; n.div_ceil(64) as usize];
        if !n.is_multiple_of(64)
            && let Some(last) = words.last_mut()
        {
            *last = (1u64 << (n % 64)) - 1;
        }
        Bitset { words }
    }

    /// Whether `i` is in the set.
    #[inline]
    pub fn contains(&self, i: u64) -> bool {
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Adds `i`; returns whether it was new.
    #[inline]
    pub fn insert(&mut self, i: u64) -> bool {
        let w = (i / 64) as usize;
        if w >= self.words.len() {
            // Grow geometrically, so a stream of increasing seqs reallocates rarely.
            let len = (w + 1).max(self.words.len() * 2).max(4);
            self.words.resize(len, 0);
        }
        let bit = 1 << (i % 64);
        let new = self.words[w] & bit == 0;
        self.words[w] |= bit;
        new
    }

    /// Removes `i`.
    pub fn remove(&mut self, i: u64) {
        if let Some(w) = self.words.get_mut((i / 64) as usize) {
            *w &= !(1 << (i % 64));
        }
    }

    /// Number of members.
    pub fn len(&self) -> u64 {
        self.words.iter().map(|w| w.count_ones() as u64).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    /// Number of members also in `other`.
    pub fn intersection_len(&self, other: &Bitset) -> u64 {
        self.words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| (a & b).count_ones() as u64)
            .sum()
    }
}

/// What one received delivery was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First time this seq arrived.
    New,
    /// This seq had arrived before.
    Duplicate,
    /// A seq the run never emitted (≥ the planned number of events).
    OutOfRange,
}

/// One client's view of the deliveries it received.
#[derive(Debug, Clone)]
pub struct SeqTracker {
    seen: Bitset,
    limit: u64,
    modulus: u64,
    max_seen: Option<u64>,
    /// Deliveries received, duplicates included.
    pub received: u64,
    /// Distinct seqs received.
    pub unique: u64,
    /// Deliveries of a seq received before.
    pub duplicates: u64,
    /// Deliveries that came after a later event of the same stream (entity).
    pub out_of_order: u64,
    /// Deliveries that came after a later event of another stream (informational).
    pub reordered_across_streams: u64,
    /// Deliveries with a seq the run never emitted.
    pub out_of_range: u64,
}

impl SeqTracker {
    /// A tracker for seqs `0..limit`, stream of `seq` being `seq % modulus`.
    pub fn new(limit: u64, modulus: u64) -> SeqTracker {
        SeqTracker {
            seen: Bitset::new(),
            limit,
            modulus: modulus.max(1),
            max_seen: None,
            received: 0,
            unique: 0,
            duplicates: 0,
            out_of_order: 0,
            reordered_across_streams: 0,
            out_of_range: 0,
        }
    }

    /// Records one delivery of `seq`.
    pub fn record(&mut self, seq: u64) -> Recorded {
        self.received += 1;
        if seq >= self.limit {
            self.out_of_range += 1;
            return Recorded::OutOfRange;
        }
        if !self.seen.insert(seq) {
            self.duplicates += 1;
            return Recorded::Duplicate;
        }
        self.unique += 1;
        match self.max_seen {
            Some(max) if max > seq => {
                // Is a later event of the same stream already here? Usually the loop does not
                // run at all (in-order arrival: seq is the new maximum).
                let mut later = seq + self.modulus;
                let mut same_stream = false;
                while later <= max {
                    if self.seen.contains(later) {
                        same_stream = true;
                        break;
                    }
                    later += self.modulus;
                }
                if same_stream {
                    self.out_of_order += 1;
                } else {
                    self.reordered_across_streams += 1;
                }
            }
            _ => self.max_seen = Some(seq),
        }
        Recorded::New
    }

    /// The seqs seen.
    pub fn seen(&self) -> &Bitset {
        &self.seen
    }
}

/// What a client had to receive, known once the emits are over.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EmitSummary {
    /// Events planned (`--events`): seqs `0..planned`.
    pub planned: u64,
    /// Seqs `0..dispatched` were sent (the rest were cut by `--duration`).
    pub dispatched: u64,
    /// Seqs whose request failed (not expected; they may still arrive).
    pub failed: Vec<u64>,
    /// Entities (stream modulus).
    pub entities: u64,
}

/// The set of successfully emitted seqs and what it means for each client.
#[derive(Debug, Clone)]
pub struct Expectation {
    ok: Bitset,
    ok_count: u64,
    modulus: u64,
    ok_per_stream: Vec<u64>,
}

/// Per-client verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Deliveries the client had to receive.
    pub expected: u64,
    /// Of those, how many never came.
    pub missing: u64,
    /// Distinct seqs received that were not for this client (another entity's events).
    pub unexpected: u64,
}

impl Expectation {
    /// From the emitter's summary.
    pub fn new(s: &EmitSummary) -> Expectation {
        let mut ok = Bitset::full(s.dispatched.min(s.planned));
        for f in &s.failed {
            ok.remove(*f);
        }
        let modulus = s.entities.max(1);
        let mut ok_per_stream = vec![0u64; modulus as usize];
        let mut seq = 0;
        while seq < s.dispatched.min(s.planned) {
            if ok.contains(seq) {
                ok_per_stream[(seq % modulus) as usize] += 1;
            }
            seq += 1;
        }
        let ok_count = ok.len();
        Expectation {
            ok,
            ok_count,
            modulus,
            ok_per_stream,
        }
    }

    /// How many deliveries a client gets: every event when its audience is routed, else
    /// those of its entities (ids, 1-based).
    pub fn expected_count(&self, routed: bool, entities: &[u32]) -> u64 {
        if routed {
            self.ok_count
        } else {
            entities
                .iter()
                .map(|&id| self.ok_per_stream[((id as u64 - 1) % self.modulus) as usize])
                .sum()
        }
    }

    /// The verdict on one client.
    pub fn judge(&self, t: &SeqTracker, routed: bool, entities: &[u32]) -> Verdict {
        let expected = self.expected_count(routed, entities);
        if routed {
            let got = t.seen().intersection_len(&self.ok);
            return Verdict {
                expected,
                missing: expected - got,
                unexpected: 0,
            };
        }
        let (mut got, mut in_streams) = (0, 0);
        for &id in entities {
            let mut seq = (id as u64 - 1) % self.modulus;
            while seq < t.limit {
                if t.seen().contains(seq) {
                    in_streams += 1;
                    if self.ok.contains(seq) {
                        got += 1;
                    }
                }
                seq += self.modulus;
            }
        }
        Verdict {
            expected,
            missing: expected - got,
            unexpected: t.unique - in_streams,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitset_basics() {
        let mut b = Bitset::new();
        assert!(b.insert(3));
        assert!(!b.insert(3));
        assert!(b.insert(1000));
        assert!(b.contains(1000) && !b.contains(999) && !b.contains(100_000));
        assert_eq!(b.len(), 2);
        b.remove(3);
        assert_eq!(b.len(), 1);
        assert_eq!(Bitset::full(0).len(), 0);
        assert_eq!(Bitset::full(64).len(), 64);
        assert_eq!(Bitset::full(65).len(), 65);
        assert!(Bitset::full(65).contains(64) && !Bitset::full(65).contains(65));
        assert_eq!(Bitset::full(130).intersection_len(&b), 0);
        assert_eq!(Bitset::full(1001).intersection_len(&b), 1);
    }

    #[test]
    fn in_order_stream_is_clean() {
        let mut t = SeqTracker::new(100, 10);
        for s in 0..100 {
            assert_eq!(t.record(s), Recorded::New);
        }
        assert_eq!(
            (t.received, t.unique, t.duplicates, t.out_of_order),
            (100, 100, 0, 0)
        );
        assert_eq!(t.reordered_across_streams, 0);
    }

    #[test]
    fn duplicates_and_out_of_range() {
        let mut t = SeqTracker::new(10, 10);
        t.record(1);
        assert_eq!(t.record(1), Recorded::Duplicate);
        assert_eq!(t.record(10), Recorded::OutOfRange);
        assert_eq!(
            (t.received, t.unique, t.duplicates, t.out_of_range),
            (3, 1, 1, 1)
        );
        assert_eq!(t.out_of_order, 0);
    }

    #[test]
    fn order_is_per_stream() {
        // modulus 10: seqs 3 and 13 share a stream, 5 is another.
        let mut t = SeqTracker::new(100, 10);
        t.record(13);
        t.record(5); // after 13 but another stream
        assert_eq!((t.out_of_order, t.reordered_across_streams), (0, 1));
        t.record(3); // after 13, same stream
        assert_eq!((t.out_of_order, t.reordered_across_streams), (1, 1));
        // Far inversion: 40 then 20 (stream 0, 30 not seen yet) is out of order too.
        t.record(40);
        t.record(20);
        assert_eq!(t.out_of_order, 2);
    }

    #[test]
    fn missing_for_routed_and_subscribers() {
        let summary = EmitSummary {
            planned: 30,
            dispatched: 30,
            failed: vec![7],
            entities: 10,
        };
        let e = Expectation::new(&summary);
        // Routed client that saw everything but 4 (and 7, whose emit failed, arrived anyway).
        let mut t = SeqTracker::new(30, 10);
        for s in (0..30).filter(|s| *s != 4) {
            t.record(s);
        }
        let v = e.judge(&t, true, &[]);
        assert_eq!(
            v,
            Verdict {
                expected: 29,
                missing: 1,
                unexpected: 0
            }
        );
        // Subscriber of entities 1 and 8 (streams 0 and 7): seqs 0,10,20 and (7),17,27.
        assert_eq!(e.expected_count(false, &[1, 8]), 5);
        let mut t = SeqTracker::new(30, 10);
        for s in [0, 10, 17, 27, 5] {
            t.record(s);
        }
        let v = e.judge(&t, false, &[1, 8]);
        assert_eq!(
            v,
            Verdict {
                expected: 5,
                missing: 1,
                unexpected: 1
            }
        );
    }

    #[test]
    fn cut_short_runs_expect_only_what_was_sent() {
        let e = Expectation::new(&EmitSummary {
            planned: 100,
            dispatched: 40,
            failed: vec![],
            entities: 1000,
        });
        assert_eq!(e.expected_count(true, &[]), 40);
        assert_eq!(e.expected_count(false, &[1, 41]), 1);
    }
}
