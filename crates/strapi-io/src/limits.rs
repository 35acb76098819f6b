//! The per-socket rate limit of client events (`security.rateLimiting`): a token bucket of
//! `maxEventsPerSecond` (burst of the same size), and a second bucket of strikes that decides
//! when a socket that keeps flooding is disconnected.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// How many seconds' worth of refused events a socket may accumulate before it is
/// disconnected; strikes refill at the event rate.
pub const FLOOD_TOLERANCE_SECONDS: u32 = 5;

/// What to do with one client event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Handle it.
    Allowed,
    /// Answer `Rate limit exceeded` (or drop it when it has no ack).
    Refused,
    /// The socket keeps flooding: disconnect it.
    Flooding,
}

/// Two token buckets: events, and strikes for refused events.
pub(crate) struct EventLimiter {
    events: DefaultDirectRateLimiter,
    strikes: DefaultDirectRateLimiter,
}

impl EventLimiter {
    /// `per_second` events per second with a burst of as many. A socket is disconnected once
    /// its refused events exceed `FLOOD_TOLERANCE_SECONDS × per_second` beyond the refill of
    /// `per_second` strikes per second — that is, when it sends at more than twice the limit
    /// for about `FLOOD_TOLERANCE_SECONDS` seconds.
    pub(crate) fn new(per_second: u32) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = rate
            .saturating_mul(NonZeroU32::new(FLOOD_TOLERANCE_SECONDS).unwrap_or(NonZeroU32::MIN));
        EventLimiter {
            events: RateLimiter::direct(Quota::per_second(rate)),
            strikes: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Takes a token for one event.
    pub(crate) fn admit(&self) -> Admission {
        if self.events.check().is_ok() {
            Admission::Allowed
        } else if self.strikes.check().is_ok() {
            Admission::Refused
        } else {
            Admission::Flooding
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusals_then_flooding() {
        // One event per second: a refill takes a whole second, far longer than this loop.
        let l = EventLimiter::new(1);
        assert_eq!(l.admit(), Admission::Allowed);
        let refused = (0..5).filter(|_| l.admit() == Admission::Refused).count();
        assert_eq!(refused, 5);
        assert_eq!(l.admit(), Admission::Flooding);
    }
}
