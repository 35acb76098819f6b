//! The process's memory upkeep: giving the allocator's freed pages back to the system.
//!
//! glibc keeps what a thread frees in that thread's arena and returns pages only from the top
//! of a heap, so after a burst (write queues filled, then drained and freed) the gateway stays
//! resident at its peak. Every [`TRIM_EVERY`] the gateway asks glibc to release the free pages
//! of every arena (`malloc_trim(0)`), on a blocking thread. The call walks the free lists only;
//! live allocations are untouched. musl builds use mimalloc, which purges freed pages itself;
//! there, and off Linux, this does nothing.

use std::time::{Duration, Instant};

/// How often the allocator is asked to release its free pages.
pub(crate) const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Releases the allocator's free pages every [`TRIM_EVERY`] until the returned task is aborted
/// (`None` where trimming does nothing); counts
/// each trim and shows the time the last one took (`strapi_io_allocator_trims_total`,
/// `strapi_io_allocator_trim_last_seconds`).
pub(crate) fn spawn_trimmer() -> Option<tokio::task::JoinHandle<()>> {
    if !TRIMS {
        return None;
    }
    Some(tokio::spawn(async {
        let mut every = tokio::time::interval(TRIM_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            let Ok(spent) = tokio::task::spawn_blocking(trim).await else {
                return;
            };
            metrics::counter!("strapi_io_allocator_trims_total").increment(1);
            metrics::gauge!("strapi_io_allocator_trim_last_seconds").set(spent.as_secs_f64());
            tracing::trace!(?spent, "allocator trimmed");
        }
    }))
}

/// Whether this build's allocator is one that [`trim`] helps (glibc).
pub(crate) const TRIMS: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// Asks the allocator to release its free pages; returns the time the call took.
pub(crate) fn trim() -> Duration {
    let started = Instant::now();
    release();
    started.elapsed()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "the one FFI call: glibc's malloc_trim")]
fn release() {
    // SAFETY: `malloc_trim` takes no pointers and changes only glibc's own free lists, under
    // the locks every allocator call takes; it may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release() {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Freed memory in a thread's arena is given back: resident memory falls after a trim.
    #[test]
    fn a_trim_gives_freed_pages_back() {
        if !TRIMS {
            return;
        }
        let rss = || {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
                * 1024
        };
        // Many small blocks (below the mmap threshold, so they live in the arena), one kept
        // at the end so the heap's top cannot simply shrink.
        let before = std::thread::spawn(move || {
            let mut blocks: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 4000]).collect();
            let keep = blocks.pop();
            drop(blocks);
            let before = rss();
            trim();
            let after = rss();
            drop(keep);
            (before, after)
        })
        .join()
        .unwrap();
        let (held, released) = before;
        assert!(
            released + 40 * 1024 * 1024 < held,
            "resident {held} before the trim, {released} after"
        );
    }
}
