//! [`Conn`]: one Engine.IO session — its transport state, its outgoing queue (allocated on
//! demand, bounded, freed when drained), its heartbeat clock and the namespace sockets it
//! carries. The transports (the polling and WebSocket modules) drive it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use tokio::time::Instant;

use crate::config::EngineConfig;
use crate::handler::{DisconnectReason, Handler};
use crate::id::Id;
use crate::packet::{Out, Packet};
use crate::proto::engine::EioVersion;
use crate::socket::SocketRef;

/// Why a packet was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection's queue holds `maxBufferSize` messages already (a slow consumer).
    #[error("the client's buffer is full")]
    Full,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
}

/// The transport a session is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    Websocket,
}

/// Where a session's transport stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Long-polling.
    Polling,
    /// Long-polling, with a WebSocket connected to take over (not probed yet).
    Upgrading,
    /// Long-polling, the WebSocket probed: a waiting `GET` is answered with a noop so that
    /// the client can pause polling and finish the upgrade.
    Probed,
    /// On WebSocket.
    Websocket,
}

/// The heartbeat clock: when the next thing is due, and what it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heartbeat {
    /// v4: the next ping, or (when `awaiting`) the pong's deadline. v3: the client's next
    /// ping deadline.
    pub(crate) due: Instant,
    /// v4: a ping is out and its pong not back.
    pub(crate) awaiting: bool,
    /// A session without any namespace connected closes then.
    pub(crate) connect_by: Option<Instant>,
}

/// What the heartbeat clock asks for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Nothing before this instant.
    Wait(Instant),
    /// Send a ping (queued already); wake again then.
    Pinged(Instant),
    /// Close the session.
    Close(DisconnectReason),
}

/// A binary Socket.IO packet waiting for its attachments.
#[derive(Debug)]
pub(crate) struct Partial {
    pub(crate) text: String,
    pub(crate) expected: usize,
    pub(crate) attachments: Vec<Bytes>,
}

/// The mutable part of a session, behind one lock.
pub(crate) struct State<H: Handler> {
    pub(crate) phase: Phase,
    pub(crate) outbox: VecDeque<Out>,
    pub(crate) sockets: Vec<SocketRef<H>>,
    /// Namespaces whose connect is being decided.
    pub(crate) joining: Vec<Box<str>>,
    pub(crate) partial: Option<Box<Partial>>,
    pub(crate) closed: Option<DisconnectReason>,
    pub(crate) heartbeat: Heartbeat,
    /// A long-polling `GET` is waiting.
    pub(crate) polling: bool,
    /// A long-polling `POST` is being read.
    pub(crate) posting: bool,
    /// v3 polling clients that asked for base64 binaries (`b64=1`).
    pub(crate) b64: bool,
    /// A packet could not be queued (the queue was full): the client missed it, and the
    /// session is closed at its next heartbeat.
    pub(crate) overflowed: bool,
}

/// One Engine.IO session.
pub struct Conn<H: Handler> {
    pub(crate) sid: Id,
    pub(crate) version: EioVersion,
    data: H::Conn,
    pub(crate) state: Mutex<State<H>>,
    /// Wakes whoever writes for the session now: the WebSocket task or the waiting `GET`.
    pub(crate) waker: AtomicWaker,
}

impl<H: Handler> std::fmt::Debug for Conn<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Conn<H> {
    pub(crate) fn new(
        version: EioVersion,
        phase: Phase,
        b64: bool,
        data: H::Conn,
        config: &EngineConfig,
    ) -> Arc<Self> {
        let now = Instant::now();
        let due = match version {
            EioVersion::V4 => now + config.ping_interval,
            EioVersion::V3 => now + config.ping_interval + config.ping_timeout,
        };
        Arc::new(Conn {
            sid: Id::new(),
            version,
            data,
            state: Mutex::new(State {
                phase,
                outbox: VecDeque::new(),
                sockets: Vec::new(),
                joining: Vec::new(),
                partial: None,
                closed: None,
                heartbeat: Heartbeat {
                    due,
                    awaiting: false,
                    connect_by: Some(now + config.connect_timeout),
                },
                polling: false,
                posting: false,
                b64,
                overflowed: false,
            }),
            waker: AtomicWaker::new(),
        })
    }

    /// What the application kept of the opening request.
    pub fn data(&self) -> &H::Conn {
        &self.data
    }

    /// The Engine.IO protocol revision (3 or 4).
    pub fn protocol(&self) -> u8 {
        match self.version {
            EioVersion::V3 => 3,
            EioVersion::V4 => 4,
        }
    }

    /// The transport the session is on now.
    pub fn transport(&self) -> Transport {
        match self.lock().phase {
            Phase::Websocket => Transport::Websocket,
            _ => Transport::Polling,
        }
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State<H>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a Socket.IO packet (its attachments right after it).
    pub(crate) fn send(&self, packet: &Packet, max: usize) -> Result<(), SendError> {
        {
            let mut st = self.lock();
            if st.closed.is_some() {
                return Err(SendError::Closed);
            }
            if st.outbox.len() + packet.messages() > max {
                return Err(SendError::Full);
            }
            st.outbox.push_back(Out::Text(packet.text.clone()));
            for a in &packet.attachments {
                st.outbox.push_back(Out::Binary(a.clone()));
            }
        }
        self.waker.wake();
        Ok(())
    }

    /// Queues an Engine.IO control packet (ping, pong, noop), past the buffer bound: these
    /// are tiny, and a full queue is the heartbeat's to judge.
    pub(crate) fn send_control(&self, text: &'static [u8]) {
        {
            let mut st = self.lock();
            if st.closed.is_some() {
                return;
            }
            st.outbox.push_back(Out::Text(Bytes::from_static(text)));
        }
        self.waker.wake();
    }

    /// Marks the session as having missed a packet (see [`State::overflowed`]).
    pub(crate) fn overflowed(&self) {
        self.lock().overflowed = true;
        self.waker.wake();
    }

    /// Forgets a socket that left its namespace. A session left without any namespace
    /// gets `connect_timeout` to join one again (a client that ignores being disconnected
    /// does not keep its connection).
    pub(crate) fn forget(&self, socket: &crate::socket::Socket<H>, connect_timeout: Duration) {
        let mut st = self.lock();
        st.sockets.retain(|s| !std::ptr::eq(&**s, socket));
        if st.sockets.is_empty() {
            st.sockets.shrink_to_fit();
            if st.joining.is_empty() && st.closed.is_none() {
                st.heartbeat.connect_by = Some(Instant::now() + connect_timeout);
            }
        }
    }

    /// The socket connected to namespace `ns`, if any.
    pub(crate) fn socket(&self, ns: &str) -> Option<SocketRef<H>> {
        self.lock().sockets.iter().find(|s| s.ns() == ns).cloned()
    }

    /// Takes queued messages, at most `max_bytes` of them (at least one).
    pub(crate) fn take(st: &mut State<H>, max_bytes: usize) -> VecDeque<Out> {
        let total: usize = st.outbox.iter().map(Out::len).sum();
        if total <= max_bytes {
            // Moving the queue out leaves an empty one with no allocation behind.
            return std::mem::take(&mut st.outbox);
        }
        let mut taken = VecDeque::new();
        let mut size = 0;
        while let Some(front) = st.outbox.front() {
            if !taken.is_empty() && size + front.len() > max_bytes {
                break;
            }
            size += front.len();
            taken.extend(st.outbox.pop_front());
        }
        st.outbox.shrink_to_fit();
        taken
    }
}

impl Heartbeat {
    /// Advances the clock to `now` for a session of `version`; a ping to send is queued by
    /// the caller when the answer is `Pinged`.
    pub(crate) fn beat(
        &mut self,
        now: Instant,
        version: EioVersion,
        connected: bool,
        config: &EngineConfig,
    ) -> Beat {
        if let Some(by) = self.connect_by {
            if connected {
                self.connect_by = None;
            } else if now >= by {
                return Beat::Close(DisconnectReason::TransportClose);
            }
        }
        let next = |due: Instant| match self.connect_by {
            Some(by) if by < due => by,
            _ => due,
        };
        if now < self.due {
            return Beat::Wait(next(self.due));
        }
        match version {
            EioVersion::V3 => Beat::Close(DisconnectReason::PingTimeout),
            EioVersion::V4 if self.awaiting => Beat::Close(DisconnectReason::PingTimeout),
            EioVersion::V4 => {
                // The deadline runs from when the ping was due, not from when the timer
                // fired: a late timer never extends a client's time.
                self.awaiting = true;
                self.due += config.ping_timeout;
                Beat::Pinged(next(self.due))
            }
        }
    }

    /// Whether the session is past its deadline at `now` (checked when a request arrives, so
    /// that a late timer never keeps a dead session answering).
    pub(crate) fn expired(&self, now: Instant, version: EioVersion) -> bool {
        now >= self.due && (version == EioVersion::V3 || self.awaiting)
    }

    /// A pong arrived (v4).
    pub(crate) fn pong(&mut self, now: Instant, interval: Duration) {
        if self.awaiting {
            self.awaiting = false;
            self.due = now + interval;
        }
    }

    /// A ping arrived (v3).
    pub(crate) fn ping(&mut self, now: Instant, config: &EngineConfig) {
        self.due = now + config.ping_interval + config.ping_timeout;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EngineConfig {
        EngineConfig {
            ping_interval: Duration::from_millis(300),
            ping_timeout: Duration::from_millis(200),
            connect_timeout: Duration::from_millis(1000),
            ..EngineConfig::default()
        }
    }

    #[test]
    fn v4_pings_after_the_interval_and_closes_without_a_pong() {
        let c = config();
        let t0 = Instant::now();
        let mut hb = Heartbeat {
            due: t0 + c.ping_interval,
            awaiting: false,
            connect_by: None,
        };
        assert_eq!(
            hb.beat(t0, EioVersion::V4, true, &c),
            Beat::Wait(t0 + c.ping_interval)
        );
        let at = t0 + Duration::from_millis(305);
        assert_eq!(
            hb.beat(at, EioVersion::V4, true, &c),
            Beat::Pinged(t0 + Duration::from_millis(500))
        );
        assert!(!hb.expired(t0 + Duration::from_millis(499), EioVersion::V4));
        assert!(hb.expired(t0 + Duration::from_millis(500), EioVersion::V4));
        assert_eq!(
            hb.beat(t0 + Duration::from_millis(500), EioVersion::V4, true, &c),
            Beat::Close(DisconnectReason::PingTimeout)
        );
    }

    #[test]
    fn v4_a_pong_restarts_the_interval() {
        let c = config();
        let t0 = Instant::now();
        let mut hb = Heartbeat {
            due: t0,
            awaiting: false,
            connect_by: None,
        };
        assert!(matches!(
            hb.beat(t0, EioVersion::V4, true, &c),
            Beat::Pinged(_)
        ));
        let later = t0 + Duration::from_millis(100);
        hb.pong(later, c.ping_interval);
        assert_eq!(
            hb.beat(later, EioVersion::V4, true, &c),
            Beat::Wait(later + c.ping_interval)
        );
    }

    #[test]
    fn v3_closes_when_the_client_stops_pinging() {
        let c = config();
        let t0 = Instant::now();
        let mut hb = Heartbeat {
            due: t0 + Duration::from_millis(500),
            awaiting: false,
            connect_by: None,
        };
        hb.ping(t0 + Duration::from_millis(400), &c);
        assert!(matches!(
            hb.beat(t0 + Duration::from_millis(600), EioVersion::V3, true, &c),
            Beat::Wait(_)
        ));
        assert_eq!(
            hb.beat(t0 + Duration::from_millis(900), EioVersion::V3, true, &c),
            Beat::Close(DisconnectReason::PingTimeout)
        );
    }

    #[test]
    fn the_connect_timeout_closes_a_session_without_namespace() {
        let c = config();
        let t0 = Instant::now();
        let mut hb = Heartbeat {
            due: t0 + Duration::from_secs(60),
            awaiting: false,
            connect_by: Some(t0 + c.connect_timeout),
        };
        assert_eq!(
            hb.beat(t0, EioVersion::V4, false, &c),
            Beat::Wait(t0 + c.connect_timeout)
        );
        assert_eq!(
            hb.beat(t0 + c.connect_timeout, EioVersion::V4, false, &c),
            Beat::Close(DisconnectReason::TransportClose)
        );
        let mut hb2 = Heartbeat {
            due: t0 + Duration::from_secs(60),
            awaiting: false,
            connect_by: Some(t0 + c.connect_timeout),
        };
        assert_eq!(
            hb2.beat(t0 + c.connect_timeout, EioVersion::V4, true, &c),
            Beat::Wait(t0 + Duration::from_secs(60))
        );
    }
}
