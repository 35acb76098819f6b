//! The machine around the bench: raising the open-files limit, reading a process's resident
//! memory from `/proc/<pid>/status`, the ephemeral port range that bounds connections per
//! source address, and wall-clock microseconds (the clock `benchSentAt` is stamped with).

use std::time::{SystemTime, UNIX_EPOCH};

/// Raises the soft open-files limit to the hard limit; returns the soft limit in force.
pub fn raise_nofile_limit() -> Option<u64> {
    let (soft, hard) = rlimit::Resource::NOFILE.get().ok()?;
    if soft < hard && rlimit::Resource::NOFILE.set(hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}

/// `VmRSS` of process `pid`, KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

/// The `VmRSS:` line of a `/proc/<pid>/status` text, KiB.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) process `pid` has used, seconds (`self` for this process).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_seconds(&stat)
}

/// User + system time of a `/proc/<pid>/stat` text, seconds (clock ticks of 1/100 s).
pub fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may contain spaces; the fields after its `)` are plain.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// The local port range (`net.ipv4.ip_local_port_range`): first port and how many.
pub fn port_range() -> (u16, u32) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut it = t.split_whitespace().map(|n| n.parse::<u32>().ok());
            let (lo, hi) = (it.next()??, it.next()??);
            (hi >= lo && hi <= 65_535).then_some((lo as u16, hi - lo + 1))
        })
        .unwrap_or((32_768, 28_232))
}

/// How many local ports one source address offers.
pub fn ephemeral_ports() -> u64 {
    port_range().1 as u64
}

/// Microseconds since the Unix epoch.
#[inline]
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss() {
        let text = "Name:\tx\nVmPeak:\t  1000 kB\nVmRSS:\t   12345 kB\nThreads: 2\n";
        assert_eq!(parse_vm_rss(text), Some(12345));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(rss_kib(std::process::id()).unwrap() > 0);
        assert!(raise_nofile_limit().unwrap() > 0);
        assert!(ephemeral_ports() > 1000);
        assert!(now_us() > 1_600_000_000_000_000);
        let stat = "123 (a b) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
        assert!(cpu_seconds("self").is_some());
    }
}
