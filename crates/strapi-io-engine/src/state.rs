//! The engine's shared state: its settings, the application's handler, the served
//! namespaces and the open sessions, with what opens, closes and forgets a session. Every
//! transport module works on it; [`crate::Engine`] is its public front.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::config::EngineConfig;
use crate::conn::{Conn, Phase};
use crate::handler::{DisconnectReason, Handler};
use crate::id::Id;
use crate::namespace::Namespace;

/// How long a closed polling session with packets left waits for its client's last poll.
const LAST_POLL_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// What every request and connection task of one engine shares.
pub(crate) struct Inner<H: Handler> {
    pub(crate) config: EngineConfig,
    pub(crate) handler: Arc<H>,
    pub(crate) namespaces: HashMap<Box<str>, Arc<Namespace<H>>>,
    pub(crate) sessions: RwLock<HashMap<Id, Arc<Conn<H>>>>,
    /// WebSocket connection tasks still running.
    pub(crate) running: Arc<Running>,
}

/// Counts the WebSocket connection tasks still running, so that a shutdown can wait until
/// each has written its last packets and close frame (a session is forgotten as soon as it
/// closes; its task ends after its grace).
#[derive(Debug, Default)]
pub(crate) struct Running {
    count: AtomicUsize,
    idle: tokio::sync::Notify,
}

/// One running task; dropping it counts it out.
pub(crate) struct RunningTask(Arc<Running>);

impl Running {
    /// Counts a task in until the guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> RunningTask {
        self.count.fetch_add(1, Ordering::AcqRel);
        RunningTask(self.clone())
    }

    /// Resolves once no task runs.
    pub(crate) async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for RunningTask {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl<H: Handler> Inner<H> {
    pub(crate) fn session(&self, sid: &Id) -> Option<Arc<Conn<H>>> {
        self.sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(sid)
            .cloned()
    }

    pub(crate) fn register(&self, conn: &Arc<Conn<H>>) {
        self.sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(conn.sid, conn.clone());
    }

    /// Ends a session: its sockets leave their namespaces (the application is told why),
    /// its transport is woken to finish, and it is forgotten.
    pub(crate) fn close(self: &Arc<Self>, conn: &Arc<Conn<H>>, reason: DisconnectReason) {
        let (sockets, last_poll) = {
            let mut st = conn.lock();
            if st.closed.is_some() {
                return;
            }
            st.closed = Some(reason);
            st.partial = None;
            // A polling client between two polls when the server shuts down still has
            // packets to fetch (why, say): its next poll gets them, then the close. (A client
            // closed for not answering is not waited for.)
            let last_poll = reason == DisconnectReason::ServerShuttingDown
                && st.phase != Phase::Websocket
                && !st.polling
                && !st.outbox.is_empty();
            (std::mem::take(&mut st.sockets), last_poll)
        };
        conn.waker.wake();
        for socket in sockets {
            socket.leave_namespace(reason);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) if last_poll => {
                let sessions = Arc::downgrade(self);
                let sid = conn.sid;
                runtime.spawn(async move {
                    tokio::time::sleep(LAST_POLL_GRACE).await;
                    if let Some(inner) = sessions.upgrade() {
                        inner.forget(&sid);
                    }
                });
            }
            _ => self.forget(&conn.sid),
        }
        self.handler.closed(conn);
    }

    /// Drops a closed session from the table.
    pub(crate) fn forget(&self, sid: &Id) {
        self.sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(sid);
    }
}

#[cfg(test)]
mod tests {
    use super::Running;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn idle_waits_for_every_running_task() {
        let running = Arc::new(Running::default());
        running.idle().await;
        let a = running.enter();
        let b = running.enter();
        let waiter = tokio::spawn({
            let running = running.clone();
            async move { running.idle().await }
        });
        drop(a);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "one task still runs");
        drop(b);
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("idle once the last task ended")
            .unwrap();
    }
}
