//! How long to wait for the rest of an action's webhook requests before emitting its event.
//!
//! Strapi sends one request per row an action touches, a few milliseconds apart (the
//! fixture's capture: 1–4 ms): a create or update that publishes sends `entry.create` /
//! `entry.update` for the draft row and `entry.publish` for the published row; deleting a
//! published document sends two `entry.delete`. On a type without draft & publish every
//! action is one request, and an unpublish is one request too; those are complete on their
//! own and go out at once. For the others the gateway waits a short window, learnt from the
//! gaps it observes between the requests of one action — the later requests that joined a
//! window, and those that arrived just after their window had closed (which then count as
//! too late) — so that it stays short on a quick Strapi and grows on a loaded one. A window
//! whose action is surely complete ([`is_complete`]) closes at once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::webhook::EntryEvent;

/// Learns the window; see the module docs.
#[derive(Debug, Clone)]
pub struct SettleWindow {
    floor: Duration,
    ceiling: Duration,
    /// The latest gaps observed (when, how long), newest last.
    gaps: VecDeque<(Instant, Duration)>,
}

impl SettleWindow {
    /// Gaps remembered: an unusually slow moment ages out after this many later actions…
    pub const REMEMBERED: usize = 64;
    /// …or after this long.
    pub const MEMORY: Duration = Duration::from_secs(600);
    /// Margin over twice the largest gap remembered.
    pub const MARGIN: Duration = Duration::from_millis(5);

    /// A window of at least `floor` and at most `ceiling`.
    pub fn new(floor: Duration, ceiling: Duration) -> Self {
        SettleWindow {
            floor: floor.min(ceiling),
            ceiling,
            gaps: VecDeque::with_capacity(Self::REMEMBERED),
        }
    }

    /// The longest the window may be.
    pub fn ceiling(&self) -> Duration {
        self.ceiling
    }

    /// Records, at `now`, the time between an action's first request and a later one of the
    /// same action.
    pub fn observe(&mut self, now: Instant, gap: Duration) {
        if self.gaps.len() == Self::REMEMBERED {
            self.gaps.pop_front();
        }
        self.gaps.push_back((now, gap));
    }

    /// The window at `now`: twice the largest gap remembered (within [`Self::MEMORY`]) plus a
    /// margin, within the bounds.
    pub fn current(&self, now: Instant) -> Duration {
        let largest = self
            .gaps
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) <= Self::MEMORY)
            .map(|(_, gap)| *gap)
            .max()
            .unwrap_or_default();
        (largest * 2 + Self::MARGIN).clamp(self.floor, self.ceiling)
    }

    /// How long to hold, at `now`, an action whose first request is `first`, on a type with or
    /// without draft & publish: nothing when the request is complete on its own.
    pub fn wait_for(&self, now: Instant, draft_and_publish: bool, first: EntryEvent) -> Duration {
        if !draft_and_publish || first == EntryEvent::Unpublish {
            Duration::ZERO
        } else {
            self.current(now)
        }
    }
}

/// Whether `later` is plausibly the rest of an action whose requests were `earlier` (one
/// document): a publish after a create or update (or the other way round), a second delete.
/// Two saves or a save after a publish are separate actions.
pub fn completes(earlier: &[EntryEvent], later: EntryEvent) -> bool {
    use EntryEvent::*;
    let has = |e: EntryEvent| earlier.contains(&e);
    match later {
        Publish => (has(Create) || has(Update)) && !has(Publish),
        Create | Update => has(Publish) && !has(Create) && !has(Update),
        Delete => has(Delete) && earlier.iter().filter(|e| **e == Delete).count() == 1,
        Unpublish => false,
    }
}

/// Whether an action whose requests are `requests` is surely complete, so its event can go
/// out before the window closes: a draft row written and the published row written (a create
/// or update that publishes sends exactly these two). Deletes are not: a document with several
/// locales sends one per row.
pub fn is_complete(requests: &[EntryEvent]) -> bool {
    use EntryEvent::*;
    requests.contains(&Publish) && (requests.contains(&Create) || requests.contains(&Update))
}

#[cfg(test)]
mod tests {
    use super::*;
    use EntryEvent::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_window_follows_the_largest_recent_gap_within_bounds() {
        let t = Instant::now();
        let mut w = SettleWindow::new(15 * MS, 300 * MS);
        assert_eq!(w.current(t), 15 * MS, "the floor before anything is seen");
        w.observe(t, 2 * MS);
        assert_eq!(w.current(t), 15 * MS);
        w.observe(t, 40 * MS);
        assert_eq!(w.current(t), 85 * MS);
        w.observe(t, 500 * MS);
        assert_eq!(w.current(t), 300 * MS, "never above the ceiling");
        assert_eq!(
            w.current(t + SettleWindow::MEMORY + MS),
            15 * MS,
            "a slow moment is forgotten after a while"
        );
        for _ in 0..SettleWindow::REMEMBERED {
            w.observe(t, MS);
        }
        assert_eq!(w.current(t), 15 * MS, "or after enough quicker actions");
        assert_eq!(SettleWindow::new(50 * MS, 10 * MS).current(t), 10 * MS);
    }

    #[test]
    fn complete_requests_go_out_at_once() {
        let t = Instant::now();
        let w = SettleWindow::new(15 * MS, 300 * MS);
        for e in [Create, Update, Delete, Publish, Unpublish] {
            assert_eq!(
                w.wait_for(t, false, e),
                Duration::ZERO,
                "{e:?} without draft & publish"
            );
        }
        assert_eq!(w.wait_for(t, true, Unpublish), Duration::ZERO);
        for e in [Create, Update, Delete, Publish] {
            assert_eq!(w.wait_for(t, true, e), 15 * MS, "{e:?}");
        }
    }

    #[test]
    fn a_publish_with_its_draft_row_is_complete() {
        assert!(is_complete(&[Create, Publish]));
        assert!(is_complete(&[Publish, Update]));
        assert!(!is_complete(&[Create]));
        assert!(!is_complete(&[Publish]));
        assert!(!is_complete(&[Delete, Delete]), "more locales may follow");
    }

    #[test]
    fn what_completes_an_action() {
        assert!(completes(&[Create], Publish));
        assert!(completes(&[Update], Publish));
        assert!(completes(&[Publish], Create), "the other order");
        assert!(completes(&[Publish], Update));
        assert!(completes(&[Delete], Delete));
        assert!(!completes(&[Delete, Delete], Delete));
        assert!(!completes(&[Update], Update), "two saves");
        assert!(
            !completes(&[Create, Publish], Update),
            "a save after a publish"
        );
        assert!(!completes(&[Publish], Publish));
        assert!(!completes(&[Update], Unpublish));
        assert!(!completes(&[Create], Delete));
    }
}
