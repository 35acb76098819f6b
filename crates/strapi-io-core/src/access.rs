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

/// `bytes` without the spaces and tabs around it.
fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

/// One `X-Forwarded-For` hop: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]`,
/// `[2001:db8::1]:443`. Anything else (`unknown`, names, obfuscated ids) is `None`.
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(hop).ok()?;
    let port_ok = |p: &str| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
    let ip = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(port_ok)) {
            return None;
        }
        IpAddr::V6(inside.parse().ok()?)
    } else if let Ok(ip) = text.parse::<IpAddr>() {
        ip
    } else {
        let (host, port) = text.split_once(':')?;
        if !port_ok(port) {
            return None;
        }
        IpAddr::V4(host.parse().ok()?)
    };
    Some(canonical(ip))
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
    /// right-most `X-Forwarded-For` hop that is not itself a trusted proxy.
    ///
    /// `forwarded_for` holds every `X-Forwarded-For` header line in the order received; they
    /// are read as one comma-separated list (RFC 9110 §5.3), empty elements skipped. A hop
    /// may carry a port (`6.6.6.6:1234`, `[2001:db8::1]:443`) or brackets. `None` when the
    /// hop that decides is not an address (`unknown`, garbage, non-ASCII): the address is
    /// then unknown, never silently the peer's. Entries left of the deciding hop are not
    /// read, so what a client prepends cannot matter.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a [u8]>,
    ) -> Option<IpAddr> {
        let peer = canonical(peer);
        let trusted = |ip: IpAddr| self.is_trusted_proxy(ip);
        if !trusted(peer) {
            return Some(peer);
        }
        let lines: Vec<&[u8]> = forwarded_for.into_iter().collect();
        let hops = lines
            .iter()
            .rev()
            .flat_map(|line| line.rsplit(|b| *b == b','))
            .map(trim)
            .filter(|hop| !hop.is_empty());
        let mut client = peer;
        for hop in hops {
            client = parse_hop(hop)?;
            if !trusted(client) {
                break;
            }
        }
        Some(client)
    }

    /// Whether `ip` is one of `security.trustedProxies`.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|r| r.contains(ip))
    }

    /// Whether an IP list is in force (a non-empty whitelist or blacklist).
    pub fn has_ip_lists(&self) -> bool {
        !self.whitelist.is_empty() || !self.blacklist.is_empty()
    }

    /// Applies the blacklist, then the whitelist (when non-empty). `None`: the address is
    /// unknown — refused whenever an IP list is in force (as not whitelisted when there is
    /// a whitelist, else as blacklisted), since it might be on it.
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
            None if !self.blacklist.is_empty() => Err(AuthError::IpBlacklisted),
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

    /// `client_ip` over header lines given as strings.
    fn client(r: &AccessRules, peer: &str, lines: &[&str]) -> Option<IpAddr> {
        r.client_ip(ip(peer), lines.iter().map(|l| l.as_bytes()))
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let r = rules(&[], &[], &["10.0.0.0/8"]);
        // untrusted peer: the header is ignored, whatever it holds
        assert_eq!(client(&r, "1.2.3.4", &["9.9.9.9"]), Some(ip("1.2.3.4")));
        assert_eq!(client(&r, "1.2.3.4", &["garbage"]), Some(ip("1.2.3.4")));
        // trusted peer: right-most untrusted hop
        assert_eq!(
            client(&r, "10.0.0.1", &["5.5.5.5, 9.9.9.9, 10.0.0.2"]),
            Some(ip("9.9.9.9"))
        );
        assert_eq!(client(&r, "10.0.0.1", &[]), Some(ip("10.0.0.1")));
        // every hop trusted: the left-most
        assert_eq!(
            client(&r, "10.0.0.1", &["10.0.0.3, 10.0.0.2"]),
            Some(ip("10.0.0.3"))
        );
    }

    #[test]
    fn every_header_line_counts_in_order() {
        let r = rules(&[], &[], &["127.0.0.1"]);
        // HAProxy `option forwardfor` appends a line of its own after the client's.
        assert_eq!(
            client(&r, "127.0.0.1", &["8.8.8.8", "6.6.6.6"]),
            Some(ip("6.6.6.6"))
        );
        assert_eq!(
            client(&r, "127.0.0.1", &["8.8.8.8, 1.1.1.1", "6.6.6.6,127.0.0.1"]),
            Some(ip("6.6.6.6"))
        );
        // empty elements and lines are skipped (RFC 9110 list syntax)
        assert_eq!(
            client(&r, "127.0.0.1", &["8.8.8.8", "", " , 6.6.6.6 ,"]),
            Some(ip("6.6.6.6"))
        );
    }

    #[test]
    fn hops_with_ports_and_brackets_are_read() {
        let r = rules(&[], &[], &["127.0.0.1"]);
        for (hop, want) in [
            ("6.6.6.6:1234", "6.6.6.6"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("2001:db8::1", "2001:db8::1"),
            (" \t6.6.6.6\t ", "6.6.6.6"),
            ("::ffff:6.6.6.6", "6.6.6.6"),
        ] {
            assert_eq!(client(&r, "127.0.0.1", &[hop]), Some(ip(want)), "{hop}");
        }
    }

    #[test]
    fn an_unreadable_deciding_hop_makes_the_address_unknown() {
        let r = rules(&[], &[], &["127.0.0.1", "10.0.0.0/8"]);
        for hop in [
            "garbage",
            "unknown",
            "6.6.6.6:",
            "6.6.6.6:123456",
            "6.6.6.6:port",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[6.6.6.6]",
            "_hidden",
            "6.6.6.6 7.7.7.7",
        ] {
            assert_eq!(client(&r, "127.0.0.1", &[hop]), None, "{hop}");
        }
        assert_eq!(
            r.client_ip(ip("127.0.0.1"), [b"\xff\xfe".as_slice()]),
            None,
            "not UTF-8"
        );
        // garbage behind a trusted hop decides too
        assert_eq!(client(&r, "127.0.0.1", &["garbage, 10.0.0.2"]), None);
        // garbage left of the deciding hop is never read
        assert_eq!(
            client(&r, "127.0.0.1", &["garbage, 9.9.9.9"]),
            Some(ip("9.9.9.9"))
        );
    }

    #[test]
    fn an_unknown_address_is_refused_under_any_ip_list() {
        assert_eq!(
            rules(&[], &["6.6.6.6"], &[]).check(None),
            Err(AuthError::IpBlacklisted)
        );
        assert_eq!(
            rules(&["10.0.0.0/8"], &["6.6.6.6"], &[]).check(None),
            Err(AuthError::IpNotWhitelisted)
        );
        assert_eq!(rules(&[], &[], &["127.0.0.1"]).check(None), Ok(()));
        assert!(rules(&[], &["6.6.6.6"], &[]).has_ip_lists());
        assert!(!rules(&[], &[], &["127.0.0.1"]).has_ip_lists());
    }
}
