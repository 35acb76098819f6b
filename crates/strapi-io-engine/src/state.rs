//! The engine's shared state: its settings, the application's handler, the served
//! namespaces and the open sessions, with what opens, closes and forgets a session. Every
//! transport module works on it; [`crate::Engine`] is its public front.

use std::collections::HashMap;
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
