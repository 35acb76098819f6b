//! The servers' peak resident memory while the bench drives them: a background thread reads
//! `VmRSS` of every `--server-pid` each [`PEAK_INTERVAL`] and keeps, per server, the highest
//! value seen, and the highest sum over the servers read at the same instant ([`PeakTracker`]).
//! A thread rather than a task, so a runtime busy with thousands of clients does not delay the
//! readings.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::sys;

/// How often the sampler reads the servers' memory.
pub const PEAK_INTERVAL: Duration = Duration::from_millis(50);

/// The highest readings seen so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeakTracker {
    /// Per server (`--server-pid` order): the highest `VmRSS` read, KiB (`None`: never read).
    pub per_server: Vec<Option<u64>>,
    /// The highest sum of all servers' `VmRSS` read at one instant, KiB (`None`: no instant
    /// at which every server was read).
    pub sum: Option<u64>,
    /// Readings folded in.
    pub samples: u64,
}

impl PeakTracker {
    /// A tracker for `servers` servers, nothing seen yet.
    pub fn new(servers: usize) -> PeakTracker {
        PeakTracker {
            per_server: vec![None; servers],
            sum: None,
            samples: 0,
        }
    }

    /// Folds in one reading of every server (`None` where a server could not be read).
    pub fn observe(&mut self, rss: &[Option<u64>]) {
        if self.per_server.len() < rss.len() {
            self.per_server.resize(rss.len(), None);
        }
        for (peak, v) in self.per_server.iter_mut().zip(rss) {
            if let Some(v) = *v {
                *peak = Some(peak.map_or(v, |p| p.max(v)));
            }
        }
        if !rss.is_empty()
            && let Some(total) = rss.iter().copied().sum::<Option<u64>>()
        {
            self.sum = Some(self.sum.map_or(total, |s| s.max(total)));
        }
        self.samples += 1;
    }

    /// The peak of server `i`, KiB.
    pub fn server(&self, i: usize) -> Option<u64> {
        self.per_server.get(i).copied().flatten()
    }
}

/// A running sampler; [`PeakSampler::stop`] ends it and returns what it saw.
pub struct PeakSampler {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<PeakTracker>,
}

impl PeakSampler {
    /// Starts reading the memory of `pids` now and then every `interval`.
    pub fn start(pids: Vec<u32>, interval: Duration) -> PeakSampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("rss-peak".to_string())
            .spawn(move || {
                let mut tracker = PeakTracker::new(pids.len());
                loop {
                    let rss: Vec<Option<u64>> = pids.iter().map(|&p| sys::rss_kib(p)).collect();
                    tracker.observe(&rss);
                    // Until `stop` is sent (or dropped).
                    if stopped.recv_timeout(interval) != Err(mpsc::RecvTimeoutError::Timeout) {
                        return tracker;
                    }
                }
            })
            .expect("spawning the memory sampler thread");
        PeakSampler { stop, thread }
    }

    /// Stops the sampler, folds in `last` (the phase's closing reading) and returns the peaks.
    pub fn stop(self, last: &[Option<u64>]) -> PeakTracker {
        let _ = self.stop.send(());
        let mut tracker = self.thread.join().unwrap_or_default();
        tracker.observe(last);
        tracker
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_highest_reading_per_server_and_of_the_sum() {
        let mut t = PeakTracker::new(2);
        assert_eq!(t.sum, None);
        t.observe(&[Some(100), Some(50)]);
        t.observe(&[Some(90), Some(80)]); // sum 170 beats 150
        t.observe(&[Some(120), Some(10)]); // server 1 peaks here; sum 130 does not
        t.observe(&[Some(500), None]); // a server unread: no sum at this instant
        assert_eq!(t.per_server, vec![Some(500), Some(80)]);
        assert_eq!(t.server(0), Some(500));
        assert_eq!(t.server(1), Some(80));
        assert_eq!(t.server(2), None);
        // The peak of the sum is the highest simultaneous total, not the sum of the peaks.
        assert_eq!(t.sum, Some(170));
        assert_eq!(t.samples, 4);
    }

    #[test]
    fn nothing_read_means_no_peak() {
        let mut t = PeakTracker::new(1);
        t.observe(&[None]);
        assert_eq!((t.server(0), t.sum), (None, None));
        let mut empty = PeakTracker::new(0);
        empty.observe(&[]);
        assert_eq!(empty.sum, None);
    }

    #[test]
    fn the_sampler_reads_a_live_process() {
        let me = std::process::id();
        let s = PeakSampler::start(vec![me], Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(40));
        let t = s.stop(&[Some(1)]);
        // The reading at the start, a few more, and the closing one.
        assert!(t.samples >= 3, "{t:?}");
        // This process's real RSS is far above the 1 KiB of the closing reading.
        assert!(t.server(0).unwrap() > 100, "{t:?}");
        assert_eq!(t.sum, t.server(0));
        // Stopped at once, it still has the reading taken when it started.
        let t = PeakSampler::start(vec![me], Duration::from_secs(60)).stop(&[None]);
        assert!(t.server(0).is_some(), "{t:?}");
    }
}
