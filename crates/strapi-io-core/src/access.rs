//! Who may open a connection, by address: the client address behind trusted proxies
//! (`X-Forwarded-For`), and the `ipWhitelist`/`ipBlacklist` settings with single addresses
//! and CIDR ranges, IPv4 and IPv6.

use std::net::IpAddr;

use crate::auth::AuthError;
use crate::settings::{Security, parse_ip_range};

/// A parsed address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

impl IpRange {
    /// Parses `10.0.0.0/8`, `::1`, `2001:db8::/32`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, prefix) = parse_ip_range(s)?;
        Ok(IpRange {
            addr: canonical(addr),
            prefix: match (addr, canonical(addr)) {
                (IpAddr::V6(_), IpAddr::V4(_)) => prefix.saturating_sub(96),
                _ => prefix,
            },
        })
    }

    /// Whether `ip` is inside the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The address rules of the `security` settings, parsed once.
#[derive(Debug, Clone, Default)]
pub struct AccessRules {
    whitelist: Vec<IpRange>,
    blacklist: Vec<IpRange>,
    trusted_proxies: Vec<IpRange>,
}

fn parse_all(list: &[String]) -> Vec<IpRange> {
    // Settings are validated before use; an entry that still fails is skipped.
    list.iter().filter_map(|s| IpRange::parse(s).ok()).collect()
}

impl AccessRules {
    /// Parses the lists of validated settings.
    pub fn new(security: &Security) -> Self {
        AccessRules {
            whitelist: parse_all(&security.ip_whitelist),
            blacklist: parse_all(&security.ip_blacklist),
            trusted_proxies: parse_all(&security.trusted_proxies),
        }
    }

    /// The client's address: the peer, or — when the peer is a trusted proxy — the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let trusted = |ip: IpAddr| self.trusted_proxies.iter().any(|r| r.contains(ip));
        if !trusted(peer) {
            return peer;
        }
        let Some(header) = forwarded_for else {
            return peer;
        };
        let mut client = peer;
        for hop in header.rsplit(',') {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !trusted(ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }

    /// Applies the blacklist, then the whitelist (when non-empty). `None`: the address is
    /// unknown (refused only when a whitelist is set).
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), AuthError> {
        match ip {
            Some(ip) => {
                if self.blacklist.iter().any(|r| r.contains(ip)) {
                    return Err(AuthError::IpBlacklisted);
                }
                if !self.whitelist.is_empty() && !self.whitelist.iter().any(|r| r.contains(ip)) {
                    return Err(AuthError::IpNotWhitelisted);
                }
                Ok(())
            }
            None if !self.whitelist.is_empty() => Err(AuthError::IpNotWhitelisted),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rules(white: &[&str], black: &[&str], trusted: &[&str]) -> AccessRules {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        AccessRules::new(&Security {
            ip_whitelist: v(white),
            ip_blacklist: v(black),
            trusted_proxies: v(trusted),
            ..Security::default()
        })
    }

    #[test]
    fn ranges() {
        let r = IpRange::parse("10.1.0.0/16").unwrap();
        assert!(r.contains(ip("10.1.200.3")));
        assert!(!r.contains(ip("10.2.0.1")));
        assert!(
            r.contains(ip("::ffff:10.1.0.9")),
            "v4-mapped v6 compares as v4"
        );
        let all = IpRange::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        let v6 = IpRange::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        let single = IpRange::parse("::1").unwrap();
        assert!(single.contains(ip("::1")));
        assert!(!single.contains(ip("::2")));
        let mapped = IpRange::parse("::ffff:192.168.0.0/112").unwrap();
        assert!(mapped.contains(ip("192.168.5.5")));
    }

    #[test]
    fn lists() {
        let r = rules(&["127.0.0.0/8", "::1"], &["127.0.0.9"], &[]);
        assert_eq!(r.check(Some(ip("127.0.0.1"))), Ok(()));
        assert_eq!(r.check(Some(ip("::1"))), Ok(()));
        assert_eq!(
            r.check(Some(ip("127.0.0.9"))),
            Err(AuthError::IpBlacklisted)
        );
        assert_eq!(
            r.check(Some(ip("10.0.0.1"))),
            Err(AuthError::IpNotWhitelisted)
        );
        assert_eq!(r.check(None), Err(AuthError::IpNotWhitelisted));
        assert_eq!(rules(&[], &[], &[]).check(None), Ok(()));
        assert_eq!(AuthError::IpBlacklisted.to_string(), "IP blacklisted");
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let r = rules(&[], &[], &["10.0.0.0/8"]);
        // untrusted peer: the header is ignored
        assert_eq!(r.client_ip(ip("1.2.3.4"), Some("9.9.9.9")), ip("1.2.3.4"));
        // trusted peer: right-most untrusted hop
        assert_eq!(
            r.client_ip(ip("10.0.0.1"), Some("5.5.5.5, 9.9.9.9, 10.0.0.2")),
            ip("9.9.9.9")
        );
        assert_eq!(r.client_ip(ip("10.0.0.1"), None), ip("10.0.0.1"));
        assert_eq!(r.client_ip(ip("10.0.0.1"), Some("garbage")), ip("10.0.0.1"));
    }
}
