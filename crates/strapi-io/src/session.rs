//! A connected socket's session, the runtime's data on each engine socket: who it is (audience and user,
//! which follow Strapi while it is connected), what it is re-checked as, when its
//! credential expires, and its place in `maxConnections`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use strapi_io_core::Audience;
use strapi_io_core::settings::TokenExpiry;

use crate::directory::{Identity, Subject, UserInfo};
use crate::limits::EventLimiter;
use crate::recovery::Resumable;

/// "No expiry" in [`Session::expires_at`]'s atomic.
const NEVER: i64 = i64::MAX;

/// Per-socket state.
pub(crate) struct Session {
    /// The audience and user, replaced when the directory says they changed.
    current: RwLock<Current>,
    /// What the socket is re-checked as.
    pub(crate) subject: Subject,
    /// When the credential expires, ms since the epoch ([`NEVER`]: never).
    expires_at: AtomicI64,
    /// The socket's entry in the expiry schedule (see `expiry.rs`), if any.
    pub(crate) deadline: Mutex<Option<(i64, u64)>>,
    /// The per-socket rate limit and the rate it was built for, when enabled; rebuilt when
    /// the settings change.
    pub(crate) limiter: Mutex<Option<(u32, EventLimiter)>>,
    /// The client's address, when known (for re-checking the IP lists).
    pub(crate) ip: Option<std::net::IpAddr>,
    /// Whether the socket connected without credentials.
    pub(crate) anonymous: bool,
    /// Set once the server has decided to disconnect the socket: its further events are
    /// dropped and it is disconnected once.
    pub(crate) closing: AtomicBool,
    /// Its part in connection state recovery (its client's pid, what to replay).
    pub(crate) resumable: Resumable,
    /// When it was admitted, ms since the epoch.
    pub(crate) connected_at: i64,
    /// Holds the socket's place in `maxConnections`; released when the socket is dropped.
    _slot: ConnectionSlot,
}

struct Current {
    audience: Arc<Audience>,
    user: Option<UserInfo>,
}

impl Session {
    /// The session of a socket admitted as `identity`.
    pub(crate) fn new(
        identity: Identity,
        ip: Option<std::net::IpAddr>,
        anonymous: bool,
        slot: ConnectionSlot,
        resumable: Resumable,
    ) -> Self {
        Session {
            current: RwLock::new(Current {
                audience: identity.audience,
                user: identity.user,
            }),
            subject: identity.subject,
            expires_at: AtomicI64::new(identity.expires_at.unwrap_or(NEVER)),
            deadline: Mutex::new(None),
            limiter: Mutex::new(None),
            ip,
            anonymous,
            closing: AtomicBool::new(false),
            resumable,
            connected_at: crate::directory::unix_millis(),
            _slot: slot,
        }
    }

    /// The audience the socket belongs to now.
    pub(crate) fn audience(&self) -> Arc<Audience> {
        self.read().audience.clone()
    }

    /// The user, for JWT sockets.
    pub(crate) fn user(&self) -> Option<UserInfo> {
        self.read().user.clone()
    }

    /// Replaces audience and user; returns the previous audience.
    pub(crate) fn replace(&self, audience: Arc<Audience>, user: Option<UserInfo>) -> Arc<Audience> {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        current.user = user;
        std::mem::replace(&mut current.audience, audience)
    }

    /// When the credential expires (ms since the epoch).
    pub(crate) fn expires_at(&self) -> Option<i64> {
        match self.expires_at.load(Ordering::Acquire) {
            NEVER => None,
            ms => Some(ms),
        }
    }

    /// Sets when the credential expires.
    pub(crate) fn set_expires_at(&self, at: Option<i64>) {
        self.expires_at
            .store(at.unwrap_or(NEVER), Ordering::Release);
    }

    /// Whether the socket's credential has expired at `now` (ms): an API token always
    /// counts, a JWT only under [`TokenExpiry::Disconnect`].
    pub(crate) fn expired(&self, now: i64, policy: TokenExpiry) -> bool {
        let passed = self.expires_at().is_some_and(|at| at <= now);
        match self.subject {
            Subject::Public => false,
            Subject::ApiToken(_) => passed,
            Subject::User(_) => passed && policy == TokenExpiry::Disconnect,
        }
    }

    /// The room that carries the info of socket `id` across a cluster (`#who:<json>`).
    pub(crate) fn who_room(&self, id: &str) -> String {
        let current = self.read();
        let who = serde_json::to_string(&RemoteWho {
            id: id.to_string(),
            user: current.user.clone(),
            role: current.audience.role_label().to_string(),
        })
        .unwrap_or_default();
        strapi_io_core::rooms::who_room(&who)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Current> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// One counted connection; dropping it frees the place.
pub(crate) struct ConnectionSlot(Arc<AtomicUsize>);

impl ConnectionSlot {
    /// Takes a place if fewer than `max` are taken; exact under concurrent handshakes.
    pub(crate) fn acquire(counter: &Arc<AtomicUsize>, max: u64) -> Option<Self> {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| ConnectionSlot(counter.clone()))
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What a socket's info room carries across the cluster.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct RemoteWho {
    pub(crate) id: String,
    pub(crate) user: Option<UserInfo>,
    pub(crate) role: String,
}
