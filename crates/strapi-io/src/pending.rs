//! Connections still pending — a TCP connection that has not sent its first request head, a
//! session whose client has not completed the Socket.IO handshake — counted in all and per
//! address, so that `connection.maxPendingConnections` (and per IP) can refuse more.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::live::Live;

/// Connections that have not sent a complete request head yet, in all and per address.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    by_address: Mutex<HashMap<IpAddr, u64>>,
    total: AtomicU64,
}

/// The key a peer's pending connections are counted under: IPv4 addresses as they are,
/// IPv6 ones by their /64 (one host usually holds a whole /64).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl Pending {
    /// Connections pending now.
    pub(crate) fn count(&self) -> u64 {
        self.total.load(Ordering::Acquire)
    }

    /// Takes a place for a connection (or a new session) from `ip`, or `None` when a limit
    /// is reached.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, live: &Live) -> Option<PendingPlace> {
        let limits = &live.connection;
        let key = (!live.access.is_trusted_proxy(ip)).then(|| address_key(ip));
        let mut by_address = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        if self.total.load(Ordering::Acquire) >= limits.max_pending_connections {
            return None;
        }
        if let Some(key) = key {
            let n = by_address.entry(key).or_default();
            if *n >= limits.max_pending_connections_per_ip {
                if *n == 0 {
                    by_address.remove(&key);
                }
                return None;
            }
            *n += 1;
        }
        self.total.fetch_add(1, Ordering::AcqRel);
        Some(PendingPlace {
            pending: self.clone(),
            key,
            settled: AtomicBool::new(false),
        })
    }
}

/// A pending connection's place, given back when its first request head arrives or when
/// the connection ends, whichever comes first; or a new session's, given back when its
/// client completes the Socket.IO handshake or when the session ends.
pub(crate) struct PendingPlace {
    pending: Arc<Pending>,
    key: Option<IpAddr>,
    settled: AtomicBool,
}

impl PendingPlace {
    /// Gives the place back (once). `true` the first time.
    pub(crate) fn settle(&self) -> bool {
        if self.settled.swap(true, Ordering::AcqRel) {
            return false;
        }
        let mut by_address = self
            .pending
            .by_address
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(key) = self.key
            && let Some(n) = by_address.get_mut(&key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by_address.remove(&key);
            }
        }
        self.pending.total.fetch_sub(1, Ordering::AcqRel);
        true
    }

    pub(crate) fn is_settled(&self) -> bool {
        self.settled.load(Ordering::Acquire)
    }
}

/// The place of an Engine.IO session whose client has not completed the Socket.IO handshake
/// yet, carried in its opening request's extensions: the transport keeps those for the
/// session's life, so the place is given back when the socket is admitted
/// ([`PendingPlace::settle`]) or when the session ends (dropped).
#[derive(Clone)]
pub(crate) struct SessionPlace(pub(crate) Arc<PendingPlace>);

impl Drop for PendingPlace {
    fn drop(&mut self) {
        self.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strapi_io_core::settings::Settings;

    fn live(total: u64, per_ip: u64, trusted: &[&str]) -> Live {
        let mut s = Settings::default();
        s.connection.max_pending_connections = total;
        s.connection.max_pending_connections_per_ip = per_ip;
        s.security.trusted_proxies = trusted.iter().map(|t| t.to_string()).collect();
        Live::new(s)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_address_and_total_limits() {
        let pending = Arc::new(Pending::default());
        let l = live(5, 2, &["10.0.0.1"]);
        let a1 = pending.admit(ip("127.0.0.2"), &l).unwrap();
        let _a2 = pending.admit(ip("127.0.0.2"), &l).unwrap();
        assert!(pending.admit(ip("127.0.0.2"), &l).is_none(), "per address");
        assert!(
            pending.admit(ip("::ffff:127.0.0.2"), &l).is_none(),
            "v4-mapped is the same address"
        );
        let _b = pending.admit(ip("127.0.0.1"), &l).unwrap();
        // a trusted proxy counts only towards the total
        let _p1 = pending.admit(ip("10.0.0.1"), &l).unwrap();
        let _p2 = pending.admit(ip("10.0.0.1"), &l).unwrap();
        assert_eq!(pending.count(), 5);
        assert!(pending.admit(ip("127.0.0.3"), &l).is_none(), "total");
        // a settled place is free again, once
        assert!(a1.settle());
        assert!(!a1.settle());
        assert_eq!(pending.count(), 4);
        let again = pending.admit(ip("127.0.0.2"), &l).unwrap();
        drop(a1);
        assert_eq!(
            pending.count(),
            5,
            "dropping a settled place frees nothing more"
        );
        drop(again);
        assert_eq!(pending.count(), 4);
    }

    #[test]
    fn an_ipv6_host_is_its_slash_64() {
        let pending = Arc::new(Pending::default());
        let l = live(100, 2, &[]);
        let _a = pending.admit(ip("2001:db8:1:2::1"), &l).unwrap();
        let _b = pending.admit(ip("2001:db8:1:2:ffff::9"), &l).unwrap();
        assert!(pending.admit(ip("2001:db8:1:2::abcd"), &l).is_none());
        assert!(pending.admit(ip("2001:db8:1:3::1"), &l).is_some());
        assert_eq!(address_key(ip("::ffff:1.2.3.4")), ip("1.2.3.4"));
    }

    #[test]
    fn the_table_forgets_addresses_with_nothing_pending() {
        let pending = Arc::new(Pending::default());
        let l = live(100, 3, &[]);
        let places: Vec<_> = (0..3)
            .map(|i| pending.admit(ip(&format!("192.0.2.{i}")), &l).unwrap())
            .collect();
        assert_eq!(pending.by_address.lock().unwrap().len(), 3);
        drop(places);
        assert!(pending.by_address.lock().unwrap().is_empty());
        assert_eq!(pending.count(), 0);
    }
}
