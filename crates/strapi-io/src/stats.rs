//! What went wrong for clients, counted: the [`Counters`] every part of the runtime
//! increments, and [`IoStats`], their snapshot with the connection figures.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of what went wrong for clients, for stats and logs.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Packets not queued because a client's buffer was full.
    pub(crate) buffer_full: AtomicU64,
    /// Client events refused by the rate limit.
    pub(crate) rate_limited: AtomicU64,
    /// Sockets disconnected for flooding.
    pub(crate) flood_disconnects: AtomicU64,
    /// Sockets closed by the heartbeat (not answering, or not reading).
    pub(crate) heartbeat_disconnects: AtomicU64,
    /// Handshakes refused.
    pub(crate) refused_handshakes: AtomicU64,
    /// Connections closed because a write to them stalled (the client stopped reading).
    pub(crate) stalled_writes: AtomicU64,
    /// Operations that could not reach the other nodes (Redis unreachable).
    pub(crate) cluster_errors: AtomicU64,
    /// Socket.IO requests refused because their query reads two ways.
    pub(crate) ambiguous_requests: AtomicU64,
    /// Connections refused over a pending-connection limit.
    pub(crate) refused_connections: AtomicU64,
    /// Requests whose head (on a pending connection) or body did not arrive in time.
    pub(crate) timed_out_requests: AtomicU64,
    /// Keys of emitted entries that no schema declares, dropped.
    pub(crate) undeclared_keys: AtomicU64,
    /// Re-checks of connected sockets after a directory change.
    pub(crate) rechecks: AtomicU64,
    /// Sockets disconnected because their access ended (blocked, deleted, revoked, role).
    pub(crate) revoked: AtomicU64,
    /// Sockets moved to another audience.
    pub(crate) moves: AtomicU64,
    /// Entity subscriptions dropped because the new audience may not read them.
    pub(crate) dropped_subscriptions: AtomicU64,
    /// Sockets disconnected at their credential's expiry.
    pub(crate) expired_disconnects: AtomicU64,
    /// Accepted `refresh-token` events.
    pub(crate) refreshes: AtomicU64,
    /// Refused `refresh-token` events.
    pub(crate) refused_refreshes: AtomicU64,
    /// Packets queued for sockets of this node (one per socket reached).
    pub(crate) deliveries: AtomicU64,
    /// Refused handshakes by reason (the refusal's message: a fixed set).
    pub(crate) refusals: Mutex<BTreeMap<String, u64>>,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IoStats {
    /// Connected sockets.
    pub connections: usize,
    /// Packets not queued because a client's buffer was full (that client is then closed).
    pub buffer_full: u64,
    /// Client events refused by the rate limit.
    pub rate_limited: u64,
    /// Sockets disconnected for flooding.
    pub flood_disconnects: u64,
    /// Sockets closed by the heartbeat: not answering pings, or not reading.
    pub heartbeat_disconnects: u64,
    /// Handshakes refused.
    pub refused_handshakes: u64,
    /// Handshakes refused, by reason (`Authentication required`, `Token expired`, …).
    pub refused_handshakes_by_reason: BTreeMap<String, u64>,
    /// Packets queued for this node's sockets since start (one per socket reached).
    pub deliveries: u64,
    /// Connections closed because the client stopped reading (a write stalled).
    pub slow_consumer_disconnects: u64,
    /// Operations that could not reach the other nodes of the cluster.
    pub cluster_errors: u64,
    /// Socket.IO requests refused (400) because their query could be read two ways.
    pub ambiguous_requests: u64,
    /// TCP connections that have not sent a complete request head yet (now).
    pub pending_connections: u64,
    /// Connections refused (503) over `maxPendingConnections` or
    /// `maxPendingConnectionsPerIp`.
    pub refused_connections: u64,
    /// Connections closed because a request head (before the first request) or a request
    /// body did not arrive within `headerTimeout`.
    pub timed_out_requests: u64,
    /// Keys of emitted entries dropped because no schema declares them (once per key and
    /// event).
    pub undeclared_keys: u64,
    /// Passes re-checking connected sockets after a directory change.
    pub access_rechecks: u64,
    /// Sockets disconnected because their access ended in Strapi (blocked or deleted user,
    /// revoked or expired API token, role no longer allowed).
    pub access_revoked: u64,
    /// Sockets moved to another audience (a user's role changed).
    pub audience_moves: u64,
    /// Entity subscriptions dropped because the socket's new audience may not read them.
    pub dropped_subscriptions: u64,
    /// Sockets disconnected at their credential's expiry (`Token expired`).
    pub token_expired_disconnects: u64,
    /// `refresh-token` events accepted.
    pub token_refreshes: u64,
    /// `refresh-token` events refused.
    pub refused_token_refreshes: u64,
    /// Connected sockets whose credential expires (scheduled now).
    pub expiring_sockets: usize,
    /// Connection state recovery.
    pub recovery: crate::recovery::RecoveryStats,
}

impl Counters {
    /// Every counter, for zeroing them all.
    pub(crate) fn all(&self) -> [&AtomicU64; 19] {
        [
            &self.buffer_full,
            &self.rate_limited,
            &self.flood_disconnects,
            &self.heartbeat_disconnects,
            &self.refused_handshakes,
            &self.stalled_writes,
            &self.cluster_errors,
            &self.ambiguous_requests,
            &self.refused_connections,
            &self.timed_out_requests,
            &self.undeclared_keys,
            &self.rechecks,
            &self.revoked,
            &self.moves,
            &self.dropped_subscriptions,
            &self.expired_disconnects,
            &self.refreshes,
            &self.refused_refreshes,
            &self.deliveries,
        ]
    }

    /// Counts a refused handshake and its reason.
    pub(crate) fn refused(&self, reason: &str) {
        self.refused_handshakes.fetch_add(1, Ordering::Relaxed);
        let mut by = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        match by.get_mut(reason) {
            Some(n) => *n += 1,
            None => {
                by.insert(reason.to_string(), 1);
            }
        }
    }

    /// The refusals by reason.
    pub(crate) fn refusals(&self) -> BTreeMap<String, u64> {
        self.refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
