//! When credentials run out: one schedule of every connected socket's credential expiry (a
//! JWT's `exp`, an API token's `expiresAt`) and the one task that disconnects each socket
//! at its time with `server-disconnect {reason: "Token expired"}` — unless `refresh-token`
//! moved it, or `security.tokenExpiry` is `"ignore"` (JWTs only).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Weak};

use strapi_io_core::auth::AuthError;
use tokio::sync::Notify;

use crate::delivery::disconnect_with_reason;
use crate::directory::unix_millis;
use crate::session::Session;
use crate::shared::Shared;
use crate::shared::SocketRef;

/// The longest the task sleeps before looking again.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A scheduled socket: its namespace and id.
struct Entry {
    ns: String,
    id: String,
}

/// A place in the schedule: `(expiry ms, sequence)`; the sequence keeps equal times apart.
type Key = (i64, u64);

/// Every connected socket with a credential that expires, by time.
#[derive(Default)]
pub(crate) struct Deadlines {
    schedule: Mutex<BTreeMap<Key, Entry>>,
    next_seq: AtomicU64,
    /// Wakes the task when an earlier deadline is scheduled.
    wake: Notify,
}

impl Deadlines {
    /// Schedules (or re-schedules, or drops) `socket` at its session's expiry.
    pub(crate) fn schedule(&self, session: &Session, socket: &SocketRef) {
        let mut slot = session.deadline.lock().unwrap_or_else(|e| e.into_inner());
        let mut schedule = self.lock();
        if let Some(key) = slot.take() {
            schedule.remove(&key);
        }
        let Some(at) = session.expires_at() else {
            return;
        };
        let key = (at, self.next_seq.fetch_add(1, Ordering::Relaxed));
        let earliest = schedule
            .first_key_value()
            .is_none_or(|(first, _)| key < *first);
        schedule.insert(
            key,
            Entry {
                ns: socket.ns().to_string(),
                id: socket.id().to_string(),
            },
        );
        *slot = Some(key);
        drop(schedule);
        if earliest {
            self.wake.notify_one();
        }
    }

    /// Drops a socket from the schedule (it disconnected).
    pub(crate) fn cancel(&self, session: &Session) {
        let key = session
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(key) = key {
            self.lock().remove(&key);
        }
    }

    /// How many sockets are scheduled.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Entry>> {
        self.schedule.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entries due at `now`, taken out of the schedule; or how long until the next.
    fn due(&self, now: i64) -> Result<Vec<(Key, Entry)>, Option<i64>> {
        let mut schedule = self.lock();
        match schedule.first_key_value() {
            None => Err(None),
            Some((&(at, _), _)) if at > now => Err(Some(at - now)),
            Some(_) => {
                let later = schedule.split_off(&(now + 1, 0));
                let due = std::mem::replace(&mut *schedule, later);
                Ok(due.into_iter().collect())
            }
        }
    }
}

/// Disconnects sockets at their credential's expiry while the server lives.
pub(crate) async fn run(shared: Weak<Shared>) {
    loop {
        let Some(deadlines) = shared.upgrade().map(|s| s.deadlines.clone()) else {
            return;
        };
        match deadlines.due(unix_millis()) {
            Err(wait) => {
                // Bounded, so that the task notices when the server is gone.
                let wait = wait.map_or(MAX_WAIT, |ms| {
                    std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(MAX_WAIT)
                });
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = deadlines.wake.notified() => {}
                }
            }
            Ok(due) => {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                expire(&shared, due);
            }
        }
    }
}

/// Disconnects the due sockets whose credential has expired.
fn expire(shared: &Shared, due: Vec<(Key, Entry)>) {
    let policy = shared.settings().security.token_expiry;
    let now = unix_millis();
    for (key, entry) in due {
        let Some(socket) = shared
            .engine
            .of(entry.ns.as_str())
            .and_then(|ns| ns.get(&entry.id))
        else {
            continue;
        };
        let session = socket.data();
        {
            let mut slot = session.deadline.lock().unwrap_or_else(|e| e.into_inner());
            if *slot != Some(key) {
                // Re-scheduled meanwhile (a refresh): the new entry decides.
                continue;
            }
            *slot = None;
        }
        if session.expired(now, policy)
            && disconnect_with_reason(&socket, &AuthError::TokenExpired.to_string())
        {
            shared
                .counters
                .expired_disconnects
                .fetch_add(1, Ordering::Relaxed);
            metrics::counter!("strapi_io_token_expiry_disconnects_total").increment(1);
            tracing::info!(socket = %socket.id(), "disconnected: its token expired");
        }
    }
}
