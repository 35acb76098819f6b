//! Latency histograms: construction with the bench's bounds (1 µs … 1 h, 3 significant
//! digits), sharded recording shared by many client tasks, percentiles in milliseconds, and
//! the base64 V2 serialization workers use to hand theirs to the parent for merging.

use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

/// Highest value recorded, µs (larger values are clamped to it).
pub const MAX_US: u64 = 3_600_000_000;

/// A fresh histogram in µs.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// Records `us`, clamped to the histogram's range.
#[inline]
pub fn record(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.clamp(1, MAX_US));
}

/// Histograms shared by many tasks: each task records into the shard of its index, a batch at
/// a time, so recording is one uncontended lock per batch.
#[derive(Debug)]
pub struct Sharded {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Sharded {
    /// `n` shards.
    pub fn new(n: usize) -> Sharded {
        Sharded {
            shards: (0..n.max(1)).map(|_| Mutex::new(new_histogram())).collect(),
        }
    }

    /// Records a batch of values into shard `key % n`.
    pub fn record_batch(&self, key: usize, values: &[u64]) {
        if values.is_empty() {
            return;
        }
        let mut h = self.shards[key % self.shards.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for &v in values {
            record(&mut h, v);
        }
    }

    /// All shards merged.
    pub fn merged(&self) -> Histogram<u64> {
        let mut out = new_histogram();
        for s in &self.shards {
            let h = s.lock().unwrap_or_else(|e| e.into_inner());
            out.add(&*h).expect("same bounds");
        }
        out
    }
}

/// Percentiles of a histogram, in milliseconds (µs resolution).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// From a histogram in µs.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean().round() / 1000.0,
        }
    }
}

/// Serializes a histogram (V2, uncompressed) as base64.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut buf)
        .expect("serializing into memory cannot fail");
    STANDARD.encode(buf)
}

/// The inverse of [`encode`].
pub fn decode(text: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = STANDARD.decode(text)?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("bad histogram: {e:?}"))?;
    Ok(h)
}

/// Adds `other` into `into`, values clamped to the bench's range.
pub fn merge(into: &mut Histogram<u64>, other: &Histogram<u64>) {
    if into.add(other).is_err() {
        for v in other.iter_recorded() {
            into.saturating_record_n(v.value_iterated_to().clamp(1, MAX_US), v.count_at_value());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_merge_across_workers() {
        // Two workers: one saw 1..=900 ms, the other 901..=1000 ms.
        let mut a = new_histogram();
        let mut b = new_histogram();
        for ms in 1..=1000u64 {
            record(if ms <= 900 { &mut a } else { &mut b }, ms * 1000);
        }
        let (a, b) = (decode(&encode(&a)).unwrap(), decode(&encode(&b)).unwrap());
        let mut m = new_histogram();
        merge(&mut m, &a);
        merge(&mut m, &b);
        let p = Percentiles::of(&m);
        assert_eq!(p.count, 1000);
        assert!((p.p50 - 500.0).abs() < 1.0, "{p:?}");
        assert!((p.p99 - 990.0).abs() < 1.0, "{p:?}");
        assert!((p.max - 1000.0).abs() < 1.0, "{p:?}");
    }

    #[test]
    fn sharded_recording() {
        let s = Sharded::new(4);
        s.record_batch(0, &[10, 20]);
        s.record_batch(5, &[30]);
        s.record_batch(7, &[]);
        let m = s.merged();
        assert_eq!(m.len(), 3);
        assert_eq!(Percentiles::default().count, 0);
        assert_eq!(Percentiles::of(&new_histogram()).count, 0);
        let mut h = new_histogram();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
    }
}
