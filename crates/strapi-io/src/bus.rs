//! The cluster bus: how the nodes of a cluster talk to each other over the Redis [`Link`].
//!
//! The bus owns the node-to-node protocol: broadcasts to every node, operations on a socket
//! connected to another node, and listings of the sockets of other nodes. What a node does
//! for the others is the runtime's [`Local`]; [`Bus`] publishes, listens and matches answers.
//!
//! Channels (under the link's `strapi-io:` prefix): `bus`, which every node listens to, for
//! broadcasts and requests; `bus#<node>`, which only that node listens to, for the answers
//! to its requests. Every message names its origin and a node ignores its own. A request
//! carries an id drawn by the requester; answers name it, and the requester waits until
//! every other node subscribed to `bus` answered (`PUBSUB NUMSUB`, minus itself) or
//! [`REQUEST_TIMEOUT`] passed.
//!
//! Wire format (version 1; integers big-endian; `str` and `bytes` are a `u32` length then
//! the content, UTF-8 for `str`; `list<T>` is a `u32` count then the items):
//!
//! ```text
//! u8 version = 1, u8 kind, str origin, then by kind:
//!   1 broadcast        str ns, list<str> rooms, list<str> except, bytes text, list<bytes> attachments
//!   2 sockets request  u64 request, str ns, list<str> rooms
//!   3 apply request    u64 request, str ns, str socket, u8 op, then by op:
//!                        1 join list<str> rooms | 2 leave list<str> rooms
//!                        3 send bytes text, list<bytes> attachments | 4 disconnect
//!   4 sockets answer   u64 request, u8 truncated (0|1), list<{str id, list<str> rooms}>
//!   5 apply answer     u64 request, u8 applied (0|1)
//! ```
//!
//! Anyone with access to Redis may publish on these channels: a message that does not decode
//! exactly (unknown version or kind, truncated, trailing bytes, invalid UTF-8, over
//! [`MAX_MESSAGE_BYTES`]) or that comes on the wrong channel is counted
//! ([`Bus::unreadable`]), logged at debug level and dropped.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::cluster::{Link, LinkError, REQUEST_TIMEOUT};

/// The version byte every message starts with.
const VERSION: u8 = 1;
/// The largest message the bus sends or reads, in bytes.
pub(crate) const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// The most sockets one node lists in one answer; past it the answer says it is truncated.
pub(crate) const MAX_SOCKETS_PER_ANSWER: usize = 10_000;
/// Answers being published at once; requests past it are dropped (their requester times out).
const MAX_ANSWERS_IN_FLIGHT: usize = 64;
/// The most answers one request accepts, whatever `PUBSUB NUMSUB` says.
const MAX_ANSWERS_PER_REQUEST: usize = 1024;
/// The channel of broadcasts and requests, which every node listens to.
const BUS_CHANNEL: &str = "bus";
/// How the link names a channel in Redis (`cluster.rs` prefixes every channel so).
const LINK_PREFIX: &str = "strapi-io:";

const KIND_BROADCAST: u8 = 1;
const KIND_SOCKETS_REQUEST: u8 = 2;
const KIND_APPLY_REQUEST: u8 = 3;
const KIND_SOCKETS_ANSWER: u8 = 4;
const KIND_APPLY_ANSWER: u8 = 5;

const OP_JOIN: u8 = 1;
const OP_LEAVE: u8 = 2;
const OP_SEND: u8 = 3;
const OP_DISCONNECT: u8 = 4;

/// What this node does for the others: implemented by the runtime over the engine. Called
/// from the bus's listening task, one message at a time and in the order they were published
/// by each node, so it must not block.
pub(crate) trait Local: Send + Sync + 'static {
    /// Delivers a broadcast from another node to the local sockets of `ns` in `rooms` (all
    /// when empty), except those in any of the `except` rooms.
    fn broadcast(
        &self,
        ns: &str,
        rooms: &[String],
        except: &[String],
        text: Bytes,
        attachments: Vec<Bytes>,
    );
    /// The local sockets of `ns` in any of `rooms` (all when empty), with their rooms. Their
    /// `node` is not sent: the asking node names the node that answered.
    fn sockets(&self, ns: &str, rooms: &[String]) -> Vec<RemoteSocket>;
    /// Applies `op` to the local socket `id` of `ns`; false when no such socket is here.
    fn apply(&self, ns: &str, id: &str, op: &RemoteOp) -> bool;
}

/// A socket of another node, as [`Bus::sockets`] found it (or of this node, as
/// [`Local::sockets`] lists it for another).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteSocket {
    /// The socket's id.
    pub(crate) id: String,
    /// The node it is connected to.
    pub(crate) node: String,
    /// The rooms it was in.
    pub(crate) rooms: Vec<String>,
}

/// An operation on a socket of another node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RemoteOp {
    /// Joins these rooms.
    Join(Vec<String>),
    /// Leaves these rooms.
    Leave(Vec<String>),
    /// Sends one encoded Socket.IO packet: its text and binary attachments.
    Send {
        /// The packet's text frame.
        text: Bytes,
        /// Its binary attachments, in order.
        attachments: Vec<Bytes>,
    },
    /// Disconnects the socket.
    Disconnect,
}

/// Why the bus could not do something.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum BusError {
    /// Redis could not be reached.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The message would be larger than [`MAX_MESSAGE_BYTES`].
    #[error("cluster message of {0} bytes is over the limit of {MAX_MESSAGE_BYTES} bytes")]
    TooLarge(usize),
    /// This node is not (yet, or no longer) subscribed to its answer channel, so answers
    /// could not reach it.
    #[error("this node is not listening to the cluster bus (yet)")]
    NotListening,
    /// Other nodes were subscribed but none answered in time.
    #[error("none of the {expected} other nodes answered within {timeout:?}")]
    NoAnswer {
        /// How many answers were expected.
        expected: usize,
        /// How long the request waited.
        timeout: Duration,
    },
}

/// Answers collected for one request: (answering node, answer).
type Collector = mpsc::Sender<(String, Answer)>;

struct Shared {
    link: Link,
    node: String,
    /// `bus#<node>`, where answers to this node's requests arrive.
    answers_channel: String,
    timeout: Duration,
    /// Requests waiting for answers, by id.
    pending: Mutex<HashMap<u64, Collector>>,
    /// Request ids: a per-process random hash of a counter.
    seed: RandomState,
    counter: AtomicU64,
    /// Messages dropped because they could not be read.
    unreadable: AtomicU64,
}

/// This node's end of the cluster bus: see the module documentation.
pub(crate) struct Bus {
    shared: Arc<Shared>,
    /// Dropping the bus ends its listening task (which then unsubscribes).
    _stop: oneshot::Sender<()>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bus({} on {:?})", self.shared.node, self.shared.link)
    }
}

impl Bus {
    /// Starts the bus of node `node` (a unique id per process): one task (spawned on the
    /// current tokio runtime) subscribes and answers the other nodes through `local`. The bus
    /// holds `local` weakly and stops answering once it is gone; dropping the bus ends the
    /// task. Standalone (`Link::off()`) nothing is spawned: [`Bus::broadcast`] does nothing,
    /// [`Bus::sockets`] finds none and [`Bus::apply`] finds no socket.
    pub(crate) fn start(link: Link, node: String, local: Weak<dyn Local>) -> Arc<Bus> {
        Self::start_with_timeout(link, node, local, REQUEST_TIMEOUT)
    }

    /// [`Bus::start`] with another bound for requests than [`REQUEST_TIMEOUT`].
    pub(crate) fn start_with_timeout(
        link: Link,
        node: String,
        local: Weak<dyn Local>,
        timeout: Duration,
    ) -> Arc<Bus> {
        let (stop, stopped) = oneshot::channel();
        let shared = Arc::new(Shared {
            answers_channel: format!("{BUS_CHANNEL}#{node}"),
            link,
            node,
            timeout,
            pending: Mutex::default(),
            seed: RandomState::new(),
            counter: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
        });
        if shared.link.enabled() {
            tokio::spawn(listen(shared.clone(), local, stopped));
        }
        Arc::new(Bus {
            shared,
            _stop: stop,
        })
    }

    /// Messages dropped so far because they could not be read (see the module docs).
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "for the stats, once they show it")
    )]
    pub(crate) fn unreadable(&self) -> u64 {
        self.shared.unreadable.load(Ordering::Relaxed)
    }

    /// How many other nodes listen to the bus (`PUBSUB NUMSUB`, this node excepted): the
    /// answers a request waits for. 0 standalone; [`BusError::NotListening`] while this
    /// node's own subscriptions are not made yet.
    pub(crate) async fn peers(&self) -> Result<usize, BusError> {
        let link = &self.shared.link;
        if !link.enabled() {
            return Ok(0);
        }
        let (all, mine) = tokio::try_join!(
            subscribers(link, BUS_CHANNEL),
            subscribers(link, &self.shared.answers_channel)
        )?;
        if mine == 0 {
            return Err(BusError::NotListening);
        }
        Ok(all.saturating_sub(1))
    }

    /// Publishes a broadcast to the other nodes' sockets of `ns` in `rooms` (all when empty)
    /// except those in `except` rooms; the caller delivers to this node's sockets itself.
    /// Fire and forget: `Ok` once Redis took it. A no-op standalone.
    pub(crate) async fn broadcast(
        &self,
        ns: &str,
        rooms: &[String],
        except: &[String],
        text: &Bytes,
        attachments: &[Bytes],
    ) -> Result<(), BusError> {
        if !self.shared.link.enabled() {
            return Ok(());
        }
        let mut w = Writer::frame(KIND_BROADCAST, &self.shared.node);
        w.str(ns);
        w.strs(rooms);
        w.strs(except);
        w.bytes(text);
        w.blobs(attachments);
        self.shared.publish(BUS_CHANNEL, w.finish()?).await
    }

    /// The sockets of `ns` in any of `rooms` (all when empty) on every OTHER node. Waits
    /// until every other node answered or the request timeout passed; then returns what
    /// arrived, or [`BusError::NoAnswer`] when other nodes were expected and none answered
    /// (a node that answered late is left out with a debug log). Empty standalone.
    pub(crate) async fn sockets(
        &self,
        ns: &str,
        rooms: &[String],
    ) -> Result<Vec<RemoteSocket>, BusError> {
        let mut found = Vec::new();
        self.ask(
            KIND_SOCKETS_REQUEST,
            |w| {
                w.str(ns);
                w.strs(rooms);
            },
            |node, answer| {
                if let Answer::Sockets { sockets, truncated } = answer {
                    if truncated {
                        tracing::warn!(%node, "a node listed only part of its sockets (too many)");
                    }
                    found.extend(sockets);
                }
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(found)
    }

    /// Applies `op` to socket `id` of `ns` on whichever other node has it: `Ok(true)` as soon
    /// as one node says it did, `Ok(false)` when every node that answered by the timeout
    /// (at least one) said it has no such socket, [`BusError::NoAnswer`] when none answered.
    /// `Ok(false)` standalone.
    pub(crate) async fn apply(&self, ns: &str, id: &str, op: RemoteOp) -> Result<bool, BusError> {
        let mut applied = false;
        self.ask(
            KIND_APPLY_REQUEST,
            |w| {
                w.str(ns);
                w.str(id);
                w.op(&op);
            },
            |_, answer| {
                applied = matches!(answer, Answer::Applied(true));
                if applied {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .await?;
        Ok(applied)
    }

    /// Sends a request of `kind` to every other node and hands each answer to `take` until it
    /// breaks, every node answered or the timeout passed. `request` writes what follows the
    /// request id.
    async fn ask(
        &self,
        kind: u8,
        request: impl FnOnce(&mut Writer),
        mut take: impl FnMut(String, Answer) -> ControlFlow<()>,
    ) -> Result<(), BusError> {
        let shared = &self.shared;
        if !shared.link.enabled() {
            return Ok(());
        }
        let expected = self.peers().await?;
        if expected == 0 {
            return Ok(());
        }
        let (tx, mut rx) = mpsc::channel(expected.min(MAX_ANSWERS_PER_REQUEST));
        let pending = Pending::new(shared, tx);
        let mut w = Writer::frame(kind, &shared.node);
        w.u64(pending.id);
        request(&mut w);
        shared.publish(BUS_CHANNEL, w.finish()?).await?;

        let deadline = tokio::time::Instant::now() + shared.timeout;
        let mut answered = HashSet::new();
        while answered.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((node, answer))) => {
                    if !answered.insert(node.clone()) {
                        continue;
                    }
                    if take(node, answer).is_break() {
                        return Ok(());
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        drop(pending);
        if answered.is_empty() {
            return Err(BusError::NoAnswer {
                expected,
                timeout: shared.timeout,
            });
        }
        if answered.len() < expected {
            tracing::debug!(
                answered = answered.len(),
                expected,
                "cluster request: not every node answered in time"
            );
        }
        Ok(())
    }
}

/// A request's entry in the pending map, removed when dropped (answered, timed out or
/// cancelled).
struct Pending<'a> {
    shared: &'a Shared,
    id: u64,
}

impl<'a> Pending<'a> {
    fn new(shared: &'a Shared, tx: Collector) -> Self {
        let mut pending = shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        let id = loop {
            let n = shared.counter.fetch_add(1, Ordering::Relaxed);
            let id = shared.seed.hash_one(n);
            if !pending.contains_key(&id) {
                break id;
            }
        };
        pending.insert(id, tx);
        Pending { shared, id }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl Shared {
    async fn publish(&self, channel: &str, frame: Vec<u8>) -> Result<(), BusError> {
        Ok(self.link.publish_on(channel, frame).await?)
    }

    fn drop_unreadable(&self, why: &dyn std::fmt::Display) {
        self.unreadable.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(node = %self.node, "unreadable cluster message dropped: {why}");
    }

    /// Hands an answer to the request waiting for it, if any still is.
    fn deliver(&self, request: u64, node: String, answer: Answer) {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match pending.get(&request) {
            Some(tx) => {
                if tx.try_send((node, answer)).is_err() {
                    tracing::debug!("cluster answer over the expected count dropped");
                }
            }
            None => tracing::debug!(%node, "late cluster answer dropped"),
        }
    }
}

/// The number of subscribers of our channel `name`.
async fn subscribers(link: &Link, name: &str) -> Result<usize, LinkError> {
    Ok(link.num_serv(&format!("{LINK_PREFIX}{name}")).await?.into())
}

/// Which of this node's channels a message came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inbox {
    /// `bus`: broadcasts and requests.
    All,
    /// `bus#<node>`: answers to this node's requests.
    Mine,
}

/// The listening task: subscribes, then handles every message until the bus or `local` is
/// dropped, then unsubscribes.
async fn listen(shared: Arc<Shared>, local: Weak<dyn Local>, mut stop: oneshot::Receiver<()>) {
    let link = shared.link.clone();
    let mut all = link.subscribe_to(BUS_CHANNEL).await;
    let mut mine = link.subscribe_to(&shared.answers_channel).await;
    let answering = Arc::new(Semaphore::new(MAX_ANSWERS_IN_FLIGHT));
    loop {
        let (inbox, payload) = tokio::select! {
            _ = &mut stop => break,
            m = all.next() => match m { Some((_, p)) => (Inbox::All, p), None => break },
            m = mine.next() => match m { Some((_, p)) => (Inbox::Mine, p), None => break },
        };
        let Some(local) = local.upgrade() else { break };
        handle(&shared, &*local, &answering, inbox, payload);
    }
    for name in [BUS_CHANNEL, shared.answers_channel.as_str()] {
        if let Err(e) = link.unsubscribe(format!("{LINK_PREFIX}{name}")).await {
            tracing::debug!(error = %e, "leaving the cluster bus");
        }
    }
}

/// Handles one message: a broadcast or request from another node, or an answer to one of
/// this node's requests.
fn handle(
    shared: &Arc<Shared>,
    local: &dyn Local,
    answering: &Arc<Semaphore>,
    inbox: Inbox,
    payload: Vec<u8>,
) {
    let frame = match decode(Bytes::from(payload)) {
        Ok(f) => f,
        Err(e) => return shared.drop_unreadable(&e),
    };
    if frame.origin == shared.node {
        return;
    }
    match (inbox, frame.body) {
        (
            Inbox::All,
            Body::Broadcast {
                ns,
                rooms,
                except,
                text,
                attachments,
            },
        ) => local.broadcast(&ns, &rooms, &except, text, attachments),
        (Inbox::All, Body::Request { id, ns, ask }) => {
            let answer = match ask {
                Ask::Sockets { rooms } => encode_sockets_answer(
                    &shared.node,
                    id,
                    &local.sockets(&ns, &rooms),
                    MAX_MESSAGE_BYTES,
                ),
                Ask::Apply { socket, op } => {
                    let applied = local.apply(&ns, &socket, &op);
                    let mut w = Writer::frame(KIND_APPLY_ANSWER, &shared.node);
                    w.u64(id);
                    w.u8(applied.into());
                    w.0
                }
            };
            let Ok(permit) = answering.clone().try_acquire_owned() else {
                tracing::warn!("cluster request dropped: too many answers being sent");
                return;
            };
            let link = shared.link.clone();
            let to = format!("{BUS_CHANNEL}#{}", frame.origin);
            tokio::spawn(async move {
                if let Err(e) = link.publish_on(&to, answer).await {
                    tracing::debug!(error = %e, "answering another node");
                }
                drop(permit);
            });
        }
        (Inbox::Mine, Body::Answer { id, answer }) => shared.deliver(id, frame.origin, answer),
        (inbox, _) => shared.drop_unreadable(&format_args!("wrong channel ({inbox:?})")),
    }
}

/// A decoded message.
#[derive(Debug, PartialEq, Eq)]
struct Frame {
    origin: String,
    body: Body,
}

#[derive(Debug, PartialEq, Eq)]
enum Body {
    Broadcast {
        ns: String,
        rooms: Vec<String>,
        except: Vec<String>,
        text: Bytes,
        attachments: Vec<Bytes>,
    },
    Request {
        id: u64,
        ns: String,
        ask: Ask,
    },
    Answer {
        id: u64,
        answer: Answer,
    },
}

#[derive(Debug, PartialEq, Eq)]
enum Ask {
    Sockets { rooms: Vec<String> },
    Apply { socket: String, op: RemoteOp },
}

#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Sockets {
        /// Named after the node that answered.
        sockets: Vec<RemoteSocket>,
        truncated: bool,
    },
    Applied(bool),
}

/// Encodes a sockets answer, listing at most [`MAX_SOCKETS_PER_ANSWER`] sockets and no more
/// than fit in `max_bytes`.
fn encode_sockets_answer(
    node: &str,
    id: u64,
    sockets: &[RemoteSocket],
    max_bytes: usize,
) -> Vec<u8> {
    let mut w = Writer::frame(KIND_SOCKETS_ANSWER, node);
    w.u64(id);
    let mut size = w.0.len() + 1 + 4;
    let mut fit = 0;
    for s in sockets.iter().take(MAX_SOCKETS_PER_ANSWER) {
        let n = 8 + s.id.len() + s.rooms.iter().map(|r| 4 + r.len()).sum::<usize>();
        if size + n > max_bytes {
            break;
        }
        size += n;
        fit += 1;
    }
    w.u8((fit < sockets.len()).into());
    w.len(fit);
    for s in &sockets[..fit] {
        w.str(&s.id);
        w.strs(&s.rooms);
    }
    w.0
}

/// Builds one message.
struct Writer(Vec<u8>);

impl Writer {
    fn frame(kind: u8, origin: &str) -> Self {
        let mut w = Writer(Vec::with_capacity(64));
        w.u8(VERSION);
        w.u8(kind);
        w.str(origin);
        w
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    /// A length or count. One over `u32::MAX` is written as `u32::MAX`: such a message is
    /// over [`MAX_MESSAGE_BYTES`] anyway and [`Writer::finish`] refuses it.
    fn len(&mut self, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&n.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn strs(&mut self, list: &[String]) {
        self.len(list.len());
        for s in list {
            self.str(s);
        }
    }
    fn blobs(&mut self, list: &[Bytes]) {
        self.len(list.len());
        for b in list {
            self.bytes(b);
        }
    }
    fn op(&mut self, op: &RemoteOp) {
        match op {
            RemoteOp::Join(rooms) => {
                self.u8(OP_JOIN);
                self.strs(rooms);
            }
            RemoteOp::Leave(rooms) => {
                self.u8(OP_LEAVE);
                self.strs(rooms);
            }
            RemoteOp::Send { text, attachments } => {
                self.u8(OP_SEND);
                self.bytes(text);
                self.blobs(attachments);
            }
            RemoteOp::Disconnect => self.u8(OP_DISCONNECT),
        }
    }
    fn finish(self) -> Result<Vec<u8>, BusError> {
        if self.0.len() > MAX_MESSAGE_BYTES {
            return Err(BusError::TooLarge(self.0.len()));
        }
        Ok(self.0)
    }
}

/// Why a message could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum DecodeError {
    #[error("{0} bytes, over the limit")]
    TooLarge(usize),
    #[error("empty")]
    Empty,
    #[error("unknown version {0}")]
    Version(u8),
    #[error("unknown kind {0}")]
    Kind(u8),
    #[error("unknown operation {0}")]
    Op(u8),
    #[error("invalid flag {0}")]
    Flag(u8),
    #[error("truncated")]
    Truncated,
    #[error("a count larger than the message allows")]
    Count,
    #[error("invalid UTF-8")]
    Utf8,
    #[error("trailing bytes")]
    Trailing,
}

/// Reads one message; never panics, whatever the input.
fn decode(buf: Bytes) -> Result<Frame, DecodeError> {
    if buf.len() > MAX_MESSAGE_BYTES {
        return Err(DecodeError::TooLarge(buf.len()));
    }
    let mut r = Reader { buf, pos: 0 };
    let version = r.u8().map_err(|_| DecodeError::Empty)?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let kind = r.u8()?;
    let origin = r.str()?;
    let body = match kind {
        KIND_BROADCAST => Body::Broadcast {
            ns: r.str()?,
            rooms: r.strs()?,
            except: r.strs()?,
            text: r.bytes()?,
            attachments: r.list(usize::MAX, Reader::bytes)?,
        },
        KIND_SOCKETS_REQUEST => Body::Request {
            id: r.u64()?,
            ns: r.str()?,
            ask: Ask::Sockets { rooms: r.strs()? },
        },
        KIND_APPLY_REQUEST => Body::Request {
            id: r.u64()?,
            ns: r.str()?,
            ask: Ask::Apply {
                socket: r.str()?,
                op: r.op()?,
            },
        },
        KIND_SOCKETS_ANSWER => Body::Answer {
            id: r.u64()?,
            answer: Answer::Sockets {
                truncated: r.flag()?,
                sockets: r.list(MAX_SOCKETS_PER_ANSWER, |r| {
                    Ok(RemoteSocket {
                        id: r.str()?,
                        node: origin.clone(),
                        rooms: r.strs()?,
                    })
                })?,
            },
        },
        KIND_APPLY_ANSWER => Body::Answer {
            id: r.u64()?,
            answer: Answer::Applied(r.flag()?),
        },
        other => return Err(DecodeError::Kind(other)),
    };
    if r.pos != r.buf.len() {
        return Err(DecodeError::Trailing);
    }
    Ok(Frame { origin, body })
}

/// Reads a message, every read checked against what is left.
struct Reader {
    buf: Bytes,
    pos: usize,
}

impl Reader {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn take(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        if n > self.left() {
            return Err(DecodeError::Truncated);
        }
        let out = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&b);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn len(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| DecodeError::Count)
    }
    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(DecodeError::Flag(other)),
        }
    }
    fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        let n = self.len()?;
        self.take(n)
    }
    fn str(&mut self) -> Result<String, DecodeError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::Utf8)
    }
    fn strs(&mut self) -> Result<Vec<String>, DecodeError> {
        self.list(usize::MAX, Reader::str)
    }
    /// A counted list of at most `max` items. Every item takes at least 4 bytes, so a count
    /// the rest of the message cannot hold is refused before anything is allocated.
    fn list<T>(
        &mut self,
        max: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.len()?;
        if n > max || n > self.left() / 4 {
            return Err(DecodeError::Count);
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(out)
    }
    fn op(&mut self) -> Result<RemoteOp, DecodeError> {
        match self.u8()? {
            OP_JOIN => Ok(RemoteOp::Join(self.strs()?)),
            OP_LEAVE => Ok(RemoteOp::Leave(self.strs()?)),
            OP_SEND => Ok(RemoteOp::Send {
                text: self.bytes()?,
                attachments: self.list(usize::MAX, Reader::bytes)?,
            }),
            OP_DISCONNECT => Ok(RemoteOp::Disconnect),
            other => Err(DecodeError::Op(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::io::{Read, Write};
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    // ---- the wire format, without Redis ----

    fn frames() -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut w = Writer::frame(KIND_BROADCAST, "n1");
        w.str("/");
        w.strs(&["a".into(), "b".into()]);
        w.strs(&["x".into()]);
        w.bytes(b"2[\"ev\",{}]");
        w.blobs(&[Bytes::from_static(&[0, 1, 2]), Bytes::new()]);
        out.push(w.0);
        for op in [
            RemoteOp::Join(vec!["r".into()]),
            RemoteOp::Leave(vec![]),
            RemoteOp::Send {
                text: Bytes::from_static(b"51-[\"e\",{\"_placeholder\":true,\"num\":0}]"),
                attachments: vec![Bytes::from_static(&[9; 5])],
            },
            RemoteOp::Disconnect,
        ] {
            let mut w = Writer::frame(KIND_APPLY_REQUEST, "n1");
            w.u64(7);
            w.str("/");
            w.str("sock");
            w.op(&op);
            out.push(w.0);
        }
        let mut w = Writer::frame(KIND_SOCKETS_REQUEST, "n1");
        w.u64(u64::MAX);
        w.str("/admin");
        w.strs(&[]);
        out.push(w.0);
        let sockets = [RemoteSocket {
            id: "s".into(),
            node: "ignored".into(),
            rooms: vec!["s".into(), "r".into()],
        }];
        out.push(encode_sockets_answer("n2", 3, &sockets, MAX_MESSAGE_BYTES));
        let mut w = Writer::frame(KIND_APPLY_ANSWER, "n2");
        w.u64(3);
        w.u8(1);
        out.push(w.0);
        out
    }

    #[test]
    fn every_kind_of_message_reads_back_as_written() {
        let decoded: Vec<Frame> = frames()
            .into_iter()
            .map(|f| decode(Bytes::from(f)).expect("a frame we wrote"))
            .collect();
        assert_eq!(
            decoded[0],
            Frame {
                origin: "n1".into(),
                body: Body::Broadcast {
                    ns: "/".into(),
                    rooms: vec!["a".into(), "b".into()],
                    except: vec!["x".into()],
                    text: Bytes::from_static(b"2[\"ev\",{}]"),
                    attachments: vec![Bytes::from_static(&[0, 1, 2]), Bytes::new()],
                },
            }
        );
        assert_eq!(
            decoded[3].body,
            Body::Request {
                id: 7,
                ns: "/".into(),
                ask: Ask::Apply {
                    socket: "sock".into(),
                    op: RemoteOp::Send {
                        text: Bytes::from_static(b"51-[\"e\",{\"_placeholder\":true,\"num\":0}]"),
                        attachments: vec![Bytes::from_static(&[9; 5])],
                    },
                },
            }
        );
        assert!(matches!(
            &decoded[4].body,
            Body::Request {
                ask: Ask::Apply {
                    op: RemoteOp::Disconnect,
                    ..
                },
                ..
            }
        ));
        assert_eq!(
            decoded[5].body,
            Body::Request {
                id: u64::MAX,
                ns: "/admin".into(),
                ask: Ask::Sockets { rooms: vec![] },
            }
        );
        assert_eq!(
            decoded[6].body,
            Body::Answer {
                id: 3,
                answer: Answer::Sockets {
                    sockets: vec![RemoteSocket {
                        id: "s".into(),
                        node: "n2".into(),
                        rooms: vec!["s".into(), "r".into()],
                    }],
                    truncated: false,
                },
            }
        );
        assert_eq!(
            decoded[7].body,
            Body::Answer {
                id: 3,
                answer: Answer::Applied(true),
            }
        );
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        assert_eq!(decode(Bytes::new()), Err(DecodeError::Empty));
        assert_eq!(
            decode(Bytes::from_static(&[2, 1, 0, 0, 0, 0])),
            Err(DecodeError::Version(2))
        );
        assert_eq!(
            decode(Bytes::from_static(&[VERSION, 99, 0, 0, 0, 0])),
            Err(DecodeError::Kind(99))
        );
        assert_eq!(
            decode(Bytes::from_static(&[VERSION, 5, 0, 0, 0, 2, 0xff, 0xfe])),
            Err(DecodeError::Utf8)
        );
        // A count the message cannot hold is refused before anything is allocated.
        let mut w = Writer::frame(KIND_SOCKETS_REQUEST, "n");
        w.u64(1);
        w.str("/");
        w.u8(0xff);
        w.u8(0xff);
        w.u8(0xff);
        w.u8(0xff);
        assert_eq!(decode(Bytes::from(w.0)), Err(DecodeError::Count));
        let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert_eq!(
            decode(Bytes::from(big)),
            Err(DecodeError::TooLarge(MAX_MESSAGE_BYTES + 1))
        );
        for frame in frames() {
            // Every truncation, one extra byte, and every single-byte change.
            for cut in 0..frame.len() {
                assert!(decode(Bytes::copy_from_slice(&frame[..cut])).is_err());
            }
            let mut longer = frame.clone();
            longer.push(0);
            assert_eq!(decode(Bytes::from(longer)), Err(DecodeError::Trailing));
            for i in 0..frame.len() {
                for v in [0u8, 1, 4, 0x7f, 0xff] {
                    let mut changed = frame.clone();
                    changed[i] = v;
                    let _ = decode(Bytes::from(changed));
                }
            }
        }
        // Random bytes behind a valid version and kind.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 64) as usize;
            let mut buf = vec![VERSION, (next() % 7) as u8];
            buf.extend((0..len).map(|_| {
                let b = next() as u8;
                // Mostly small lengths, so that reads get past the first field.
                if b < 0xc0 { b % 4 } else { b }
            }));
            let _ = decode(Bytes::from(buf));
        }
    }

    #[test]
    fn socket_lists_are_bounded() {
        let many: Vec<RemoteSocket> = (0..MAX_SOCKETS_PER_ANSWER + 5)
            .map(|i| RemoteSocket {
                id: format!("s{i}"),
                node: String::new(),
                rooms: vec![],
            })
            .collect();
        let frame = decode(Bytes::from(encode_sockets_answer(
            "n",
            1,
            &many,
            MAX_MESSAGE_BYTES,
        )))
        .unwrap();
        let Body::Answer {
            answer: Answer::Sockets { sockets, truncated },
            ..
        } = frame.body
        else {
            panic!("a sockets answer");
        };
        assert!(truncated);
        assert_eq!(sockets.len(), MAX_SOCKETS_PER_ANSWER);
        // And by size: only what fits in the limit.
        let encoded = encode_sockets_answer("n", 1, &many, 1000);
        assert!(encoded.len() <= 1000, "{}", encoded.len());
        let Body::Answer {
            answer: Answer::Sockets { sockets, truncated },
            ..
        } = decode(Bytes::from(encoded)).unwrap().body
        else {
            panic!("a sockets answer");
        };
        assert!(truncated);
        assert!(!sockets.is_empty() && sockets.len() < 200);
        assert_eq!(sockets[0].id, "s0");
        // A decoder refuses an answer listing more than the limit.
        let mut w = Writer::frame(KIND_SOCKETS_ANSWER, "n");
        w.u64(1);
        w.u8(0);
        w.len(MAX_SOCKETS_PER_ANSWER + 1);
        for _ in 0..=MAX_SOCKETS_PER_ANSWER {
            w.str("");
            w.strs(&[]);
        }
        assert_eq!(decode(Bytes::from(w.0)), Err(DecodeError::Count));
    }

    // ---- nodes on a real redis-server ----

    /// A throwaway `redis-server` on a free port of 127.0.0.1, nothing saved; killed on drop.
    struct Redis {
        child: Child,
        url: String,
        port: u16,
        dir: std::path::PathBuf,
    }

    impl Redis {
        fn start() -> Redis {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let dir =
                std::env::temp_dir().join(format!("strapi-io-bus-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a temporary directory");
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (apt-get install redis-server)");
            let redis = Redis {
                child,
                url: format!("redis://127.0.0.1:{port}"),
                port,
                dir,
            };
            let started = Instant::now();
            while !redis.pong() {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "redis-server did not start"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            redis
        }

        fn pong(&self) -> bool {
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 5];
            s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG"
        }
    }

    impl Drop for Redis {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Polls `check` until it holds, for at most 5 s.
    async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
        let started = Instant::now();
        while !check().await {
            assert!(started.elapsed() < Duration::from_secs(5), "{what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A broadcast as a node received it.
    #[derive(Debug, Clone, PartialEq)]
    struct Received {
        ns: String,
        rooms: Vec<String>,
        except: Vec<String>,
        text: Bytes,
        attachments: Vec<Bytes>,
    }

    /// A node's sockets in memory, with everything the bus asked of it.
    #[derive(Default)]
    struct Recorder {
        broadcasts: Mutex<Vec<Received>>,
        /// (namespace, socket, rooms).
        sockets: Mutex<Vec<(String, String, Vec<String>)>>,
        /// (namespace, socket, op) for the sockets found.
        applied: Mutex<Vec<(String, String, RemoteOp)>>,
    }

    impl Recorder {
        fn with(sockets: &[(&str, &str, &[&str])]) -> Arc<Self> {
            let r = Recorder::default();
            *r.sockets.lock().unwrap() = sockets
                .iter()
                .map(|(ns, id, rooms)| {
                    let rooms = rooms.iter().map(|r| r.to_string()).collect();
                    (ns.to_string(), id.to_string(), rooms)
                })
                .collect();
            Arc::new(r)
        }
        fn broadcasts(&self) -> Vec<Received> {
            self.broadcasts.lock().unwrap().clone()
        }
        fn rooms_of(&self, id: &str) -> Option<Vec<String>> {
            let sockets = self.sockets.lock().unwrap();
            sockets.iter().find(|s| s.1 == id).map(|s| s.2.clone())
        }
    }

    impl Local for Recorder {
        fn broadcast(
            &self,
            ns: &str,
            rooms: &[String],
            except: &[String],
            text: Bytes,
            attachments: Vec<Bytes>,
        ) {
            self.broadcasts.lock().unwrap().push(Received {
                ns: ns.into(),
                rooms: rooms.to_vec(),
                except: except.to_vec(),
                text,
                attachments,
            });
        }

        fn sockets(&self, ns: &str, rooms: &[String]) -> Vec<RemoteSocket> {
            let sockets = self.sockets.lock().unwrap();
            sockets
                .iter()
                .filter(|s| {
                    s.0 == ns && (rooms.is_empty() || rooms.iter().any(|r| s.2.contains(r)))
                })
                .map(|s| RemoteSocket {
                    id: s.1.clone(),
                    node: "whatever the runtime says".into(),
                    rooms: s.2.clone(),
                })
                .collect()
        }

        fn apply(&self, ns: &str, id: &str, op: &RemoteOp) -> bool {
            let mut sockets = self.sockets.lock().unwrap();
            let Some(at) = sockets.iter().position(|s| s.0 == ns && s.1 == id) else {
                return false;
            };
            match op {
                RemoteOp::Join(rooms) => sockets[at].2.extend(rooms.iter().cloned()),
                RemoteOp::Leave(rooms) => sockets[at].2.retain(|r| !rooms.contains(r)),
                RemoteOp::Send { .. } => {}
                RemoteOp::Disconnect => {
                    sockets.remove(at);
                }
            }
            let entry = (ns.to_string(), id.to_string(), op.clone());
            self.applied.lock().unwrap().push(entry);
            true
        }
    }

    struct Node {
        bus: Arc<Bus>,
        local: Arc<Recorder>,
    }

    async fn connected(redis: &Redis) -> Link {
        let link = Link::connect(&redis.url).unwrap();
        eventually("the link connects", || {
            let up = link.connected();
            async move { up }
        })
        .await;
        link
    }

    async fn node(redis: &Redis, name: &str, local: Arc<Recorder>, timeout: Duration) -> Node {
        let weak: Weak<Recorder> = Arc::downgrade(&local);
        let bus = Bus::start_with_timeout(connected(redis).await, name.into(), weak, timeout);
        Node { bus, local }
    }

    /// Waits until every node counts the others (and its own subscriptions are made).
    async fn meshed(nodes: &[&Node]) {
        for n in nodes {
            eventually("every node subscribed", || async {
                n.bus.peers().await.ok() == Some(nodes.len() - 1)
            })
            .await;
        }
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn pending(bus: &Bus) -> usize {
        bus.shared.pending.lock().unwrap().len()
    }

    /// Sockets sorted by id, for comparisons.
    fn sorted(mut list: Vec<RemoteSocket>) -> Vec<RemoteSocket> {
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    #[tokio::test]
    #[cfg_attr(not(feature = "cluster"), ignore = "needs the `cluster` feature")]
    async fn a_broadcast_reaches_every_other_node_intact() {
        let redis = Redis::start();
        let t = Duration::from_secs(3);
        let a = node(&redis, "a", Recorder::with(&[]), t).await;
        let b = node(&redis, "b", Recorder::with(&[]), t).await;
        let c = node(&redis, "c", Recorder::with(&[]), t).await;
        meshed(&[&a, &b, &c]).await;

        let text = Bytes::from_static(b"52-[\"ev\",{\"_placeholder\":true,\"num\":0}]");
        let attachments = [
            Bytes::from_static(&[0, 255, 1]),
            Bytes::from(vec![7u8; 70_000]),
        ];
        let rooms = strings(&["r1", "r2"]);
        let except = strings(&["x"]);
        a.bus
            .broadcast("/admin", &rooms, &except, &text, &attachments)
            .await
            .unwrap();
        a.bus
            .broadcast("/", &[], &[], &Bytes::from_static(b"2[\"second\"]"), &[])
            .await
            .unwrap();
        for n in [&b, &c] {
            eventually("both broadcasts arrive", || async {
                n.local.broadcasts().len() == 2
            })
            .await;
            let got = n.local.broadcasts();
            assert_eq!(
                got[0],
                Received {
                    ns: "/admin".into(),
                    rooms: rooms.clone(),
                    except: except.clone(),
                    text: text.clone(),
                    attachments: attachments.to_vec(),
                }
            );
            assert_eq!(got[1].ns, "/", "in order");
            assert!(got[1].rooms.is_empty() && got[1].attachments.is_empty());
        }
        // B and C have it: A would have had it by now too.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(a.local.broadcasts().is_empty(), "a node ignores its own");
        assert_eq!(a.bus.unreadable() + b.bus.unreadable(), 0);

        // Too large to send: refused here, nothing published.
        let huge = [Bytes::from(vec![0u8; MAX_MESSAGE_BYTES])];
        let err = a
            .bus
            .broadcast("/", &[], &[], &text, &huge)
            .await
            .unwrap_err();
        assert!(matches!(err, BusError::TooLarge(_)), "{err}");
    }

    #[tokio::test]
    #[cfg_attr(not(feature = "cluster"), ignore = "needs the `cluster` feature")]
    async fn sockets_gathers_every_other_node_without_waiting_for_the_timeout() {
        let redis = Redis::start();
        let t = Duration::from_secs(5);
        let a = node(
            &redis,
            "a",
            Recorder::with(&[("/", "a1", &["a1", "room"])]),
            t,
        )
        .await;
        let b_sockets: &[(&str, &str, &[&str])] = &[
            ("/", "b1", &["b1", "room"]),
            ("/", "b2", &["b2"]),
            ("/admin", "b3", &["b3", "room"]),
        ];
        let b = node(&redis, "b", Recorder::with(b_sockets), t).await;
        let c = node(
            &redis,
            "c",
            Recorder::with(&[("/", "c1", &["c1", "room"])]),
            t,
        )
        .await;
        meshed(&[&a, &b, &c]).await;

        let started = Instant::now();
        let all = a.bus.sockets("/", &[]).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let remote = |id: &str, node: &str, rooms: &[&str]| RemoteSocket {
            id: id.into(),
            node: node.into(),
            rooms: strings(rooms),
        };
        assert_eq!(
            sorted(all),
            vec![
                remote("b1", "b", &["b1", "room"]),
                remote("b2", "b", &["b2"]),
                remote("c1", "c", &["c1", "room"]),
            ]
        );
        let in_room = a.bus.sockets("/", &strings(&["room"])).await.unwrap();
        assert_eq!(
            sorted(in_room)
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>(),
            ["b1", "c1"]
        );
        let admin = b.bus.sockets("/admin", &[]).await.unwrap();
        assert!(admin.is_empty(), "only other nodes are asked: {admin:?}");
        let started = Instant::now();
        let none = a.bus.sockets("/nowhere", &[]).await.unwrap();
        assert!(none.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "empty answers count"
        );
        assert_eq!(pending(&a.bus), 0);
    }

    #[tokio::test]
    #[cfg_attr(not(feature = "cluster"), ignore = "needs the `cluster` feature")]
    async fn apply_reaches_the_node_that_has_the_socket() {
        let redis = Redis::start();
        let t = Duration::from_secs(5);
        let a = node(&redis, "a", Recorder::with(&[("/", "a1", &["a1"])]), t).await;
        let b = node(&redis, "b", Recorder::with(&[("/", "b1", &["b1"])]), t).await;
        let c = node(&redis, "c", Recorder::with(&[("/admin", "c1", &["c1"])]), t).await;
        meshed(&[&a, &b, &c]).await;

        let join = RemoteOp::Join(strings(&["r1", "r2"]));
        assert!(a.bus.apply("/", "b1", join.clone()).await.unwrap());
        assert_eq!(b.local.rooms_of("b1").unwrap(), ["b1", "r1", "r2"]);
        let leave = RemoteOp::Leave(strings(&["r1"]));
        assert!(a.bus.apply("/", "b1", leave.clone()).await.unwrap());
        assert_eq!(b.local.rooms_of("b1").unwrap(), ["b1", "r2"]);
        let send = RemoteOp::Send {
            text: Bytes::from_static(b"51-[\"e\",{\"_placeholder\":true,\"num\":0}]"),
            attachments: vec![Bytes::from_static(&[1, 2, 3])],
        };
        assert!(a.bus.apply("/", "b1", send.clone()).await.unwrap());
        assert!(
            a.bus
                .apply("/admin", "c1", RemoteOp::Disconnect)
                .await
                .unwrap()
        );
        assert!(c.local.rooms_of("c1").is_none(), "disconnected");
        assert!(
            b.bus
                .apply("/", "b1", RemoteOp::Disconnect)
                .await
                .is_ok_and(|f| !f),
            "a node does not ask itself"
        );
        assert_eq!(
            *b.local.applied.lock().unwrap(),
            vec![
                ("/".to_string(), "b1".to_string(), join),
                ("/".to_string(), "b1".to_string(), leave),
                ("/".to_string(), "b1".to_string(), send),
            ]
        );

        // Nobody has it: every node says so, no waiting for the timeout.
        let started = Instant::now();
        assert!(!a.bus.apply("/", "c1", RemoteOp::Disconnect).await.unwrap());
        assert!(
            !a.bus
                .apply("/", "zz", RemoteOp::Join(strings(&["r"])))
                .await
                .unwrap()
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert!(a.local.applied.lock().unwrap().is_empty());
        assert_eq!(pending(&a.bus), 0);
    }

    #[tokio::test]
    #[cfg_attr(not(feature = "cluster"), ignore = "needs the `cluster` feature")]
    async fn a_node_that_went_away_is_not_waited_for_beyond_the_timeout() {
        let redis = Redis::start();
        let t = Duration::from_millis(500);
        let a = node(&redis, "a", Recorder::with(&[]), t).await;
        let b = node(&redis, "b", Recorder::with(&[("/", "b1", &["b1"])]), t).await;
        let c = node(&redis, "c", Recorder::with(&[("/", "c1", &["c1"])]), t).await;
        meshed(&[&a, &b, &c]).await;

        // A dropped bus leaves the channels: it is no longer counted nor waited for.
        drop(c.bus);
        eventually("c leaves the bus", || async {
            a.bus.peers().await.ok() == Some(1)
        })
        .await;
        let found = a.bus.sockets("/", &[]).await.unwrap();
        assert_eq!(
            found.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["b1"]
        );

        // A subscriber that never answers (a hung node): what arrived by the timeout.
        let hung = connected(&redis).await;
        let _hung_sub = hung.subscribe_to(BUS_CHANNEL).await;
        eventually("the hung node subscribes", || async {
            a.bus.peers().await.ok() == Some(2)
        })
        .await;
        let started = Instant::now();
        let found = a.bus.sockets("/", &[]).await.unwrap();
        let took = started.elapsed();
        assert_eq!(found.len(), 1);
        assert!(took >= t && took < t + Duration::from_secs(2), "{took:?}");
        assert!(
            !a.bus
                .apply("/", "nope", RemoteOp::Disconnect)
                .await
                .unwrap()
        );

        // Only the hung one left: an error, after the timeout.
        drop(b.bus);
        eventually("b leaves the bus", || async {
            a.bus.peers().await.ok() == Some(1)
        })
        .await;
        let started = Instant::now();
        let err = a.bus.sockets("/", &[]).await.unwrap_err();
        assert!(
            matches!(err, BusError::NoAnswer { expected: 1, .. }),
            "{err}"
        );
        assert!(started.elapsed() < t + Duration::from_secs(2));
        let err = a
            .bus
            .apply("/", "b1", RemoteOp::Disconnect)
            .await
            .unwrap_err();
        assert!(matches!(err, BusError::NoAnswer { .. }), "{err}");
        assert_eq!(pending(&a.bus), 0, "timed-out requests are forgotten");

        // A node whose runtime is gone stops answering and leaves the bus.
        let d_local = Recorder::with(&[]);
        let d = node(&redis, "d", d_local.clone(), t).await;
        eventually("d joins", || async { a.bus.peers().await.ok() == Some(2) }).await;
        drop(d_local);
        drop(d.local);
        // The next message tells d's task that its runtime is gone.
        a.bus
            .broadcast("/", &[], &[], &Bytes::from_static(b"2[]"), &[])
            .await
            .unwrap();
        eventually("d leaves the bus", || async {
            a.bus.peers().await.ok() == Some(1)
        })
        .await;
        // And d itself, no longer listening, knows answers could not reach it.
        eventually("d knows", || async {
            matches!(d.bus.peers().await, Err(BusError::NotListening))
        })
        .await;
        let err = d.bus.sockets("/", &[]).await.unwrap_err();
        assert!(matches!(err, BusError::NotListening), "{err}");
    }

    #[tokio::test]
    #[cfg_attr(not(feature = "cluster"), ignore = "needs the `cluster` feature")]
    async fn garbage_on_the_channels_is_dropped_and_the_bus_keeps_working() {
        let redis = Redis::start();
        let t = Duration::from_secs(3);
        let a = node(&redis, "a", Recorder::with(&[]), t).await;
        let b = node(&redis, "b", Recorder::with(&[("/", "b1", &["b1"])]), t).await;
        meshed(&[&a, &b]).await;

        let stranger = connected(&redis).await;
        let valid = frames();
        let mut truncated = valid[0].clone();
        truncated.pop();
        let mut trailing = valid[0].clone();
        trailing.push(1);
        let mut answer = Writer::frame(KIND_APPLY_ANSWER, "x");
        answer.u64(1);
        answer.u8(1);
        let mut request = Writer::frame(KIND_SOCKETS_REQUEST, "x");
        request.u64(1);
        request.str("/");
        request.strs(&[]);
        let garbage: Vec<(String, Vec<u8>)> = vec![
            ("bus".into(), vec![]),
            ("bus".into(), b"hello".to_vec()),
            ("bus".into(), vec![VERSION + 1, KIND_BROADCAST, 0, 0, 0, 0]),
            ("bus".into(), vec![VERSION, 200, 0, 0, 0, 0]),
            (
                "bus".into(),
                vec![VERSION, KIND_BROADCAST, 0xff, 0xff, 0xff, 0xff],
            ),
            ("bus".into(), truncated),
            ("bus".into(), trailing),
            (
                "bus".into(),
                vec![VERSION, KIND_APPLY_ANSWER, 0, 0, 0, 2, 0xc3, 0x28],
            ),
            // An answer on the channel of requests, a request on a node's own channel.
            ("bus".into(), answer.0.clone()),
            ("bus#b".into(), request.0.clone()),
            ("bus#b".into(), b"{\"type\":\"json\"}".to_vec()),
        ];
        let count = garbage.len() as u64;
        for (chan, payload) in garbage {
            stranger.publish_on(&chan, payload).await.unwrap();
        }
        // A well-formed answer nobody asked for: dropped quietly.
        stranger.publish_on("bus#b", answer.0).await.unwrap();
        eventually("b read them all", || async { b.bus.unreadable() == count }).await;
        assert!(b.local.broadcasts().is_empty());
        assert!(b.local.applied.lock().unwrap().is_empty());

        // And goes on.
        a.bus
            .broadcast("/", &[], &[], &Bytes::from_static(b"2[\"after\"]"), &[])
            .await
            .unwrap();
        eventually("the broadcast after", || async {
            b.local.broadcasts().len() == 1
        })
        .await;
        let found = a.bus.sockets("/", &[]).await.unwrap();
        assert_eq!(
            found.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["b1"]
        );
        assert!(a.bus.apply("/", "b1", RemoteOp::Disconnect).await.unwrap());
        assert_eq!(b.bus.unreadable(), count);
    }

    #[tokio::test]
    async fn standalone_the_bus_does_nothing() {
        let local = Recorder::with(&[("/", "s1", &["s1"])]);
        let weak: Weak<Recorder> = Arc::downgrade(&local);
        let bus = Bus::start(Link::off(), "solo".into(), weak);
        assert_eq!(bus.peers().await.unwrap(), 0);
        bus.broadcast("/", &[], &[], &Bytes::from_static(b"2[]"), &[])
            .await
            .unwrap();
        assert!(bus.sockets("/", &[]).await.unwrap().is_empty());
        assert!(!bus.apply("/", "s1", RemoteOp::Disconnect).await.unwrap());
        assert!(local.broadcasts().is_empty());
        assert!(
            local.applied.lock().unwrap().is_empty(),
            "its own sockets are not its business"
        );
    }
}
