//! The cluster bus: how the nodes of a cluster talk to each other over the Redis [`Link`].
//!
//! The bus owns the node-to-node protocol: broadcasts to every node, operations on a socket
//! connected to another node, and listings of the sockets of other nodes. What a node does
//! for the others is the runtime's [`Local`]; [`Bus`] publishes, listens and matches answers.
//!
//! Channels (under the link's `strapi-io:` prefix): `bus`, which every node listens to, for
//! broadcasts and requests; `bus#<node>`, which only that node listens to, for the answers
//! to its requests; `log`, for broadcasts kept for connection state recovery (`bus/log.rs`:
//! each is a broadcast message behind its stream id, and every node delivers it, its origin
//! included). Every message names its origin and a node ignores its own on `bus`. A request
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
//!   6 details request  u64 request, str ns
//!   7 details answer   u64 request, u8 truncated (0|1), list<bytes> (one JSON object per socket)
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

pub(crate) mod log;

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
const KIND_DETAILS_REQUEST: u8 = 6;
const KIND_DETAILS_ANSWER: u8 = 7;

const OP_JOIN: u8 = 1;
const OP_LEAVE: u8 = 2;
const OP_SEND: u8 = 3;
const OP_DISCONNECT: u8 = 4;

/// What this node does for the others: implemented by the runtime over the engine. Called
/// from the bus's listening task, one message at a time and in the order they were published
/// by each node, so it must not block.
pub(crate) trait Local: Send + Sync + 'static {
    /// Delivers a broadcast from another node to the local sockets it selects.
    fn broadcast(&self, broadcast: Broadcast);
    /// The local sockets of `ns` in any of `rooms` (all when empty), with their rooms. Their
    /// `node` is not sent: the asking node names the node that answered.
    fn sockets(&self, ns: &str, rooms: &[String]) -> Vec<RemoteSocket>;
    /// Applies `op` to the local socket `id` of `ns`; false when no such socket is here.
    fn apply(&self, ns: &str, id: &str, op: &RemoteOp) -> bool;
    /// Delivers a logged broadcast (any node's, this one's included), its offset `offset`,
    /// as [`Local::broadcast`] does; logged broadcasts come in the log's order.
    fn logged(&self, offset: &str, broadcast: Broadcast);
    /// The local sockets of `ns` described for a listing, one JSON object each (the bus
    /// carries them as they are; the asking node reads them).
    fn details(&self, ns: &str) -> Vec<Bytes>;
}

/// A broadcast: one encoded Socket.IO packet (its text and binary attachments) for the
/// sockets of `ns` in `rooms` (all when empty), except those in any of the `except` rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broadcast {
    pub(crate) ns: String,
    pub(crate) rooms: Vec<String>,
    pub(crate) except: Vec<String>,
    pub(crate) text: Bytes,
    pub(crate) attachments: Vec<Bytes>,
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
        not(all(test, feature = "cluster")),
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

    /// A broadcast message of this node.
    fn broadcast_frame(&self, b: &Broadcast) -> Result<Vec<u8>, BusError> {
        let mut w = Writer::frame(KIND_BROADCAST, &self.shared.node);
        w.str(&b.ns);
        w.strs(&b.rooms);
        w.strs(&b.except);
        w.bytes(&b.text);
        w.blobs(&b.attachments);
        w.finish()
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

    /// Every other node's sockets of `ns`, described (see [`Local::details`]): the
    /// descriptions, and whether a node listed only part of its sockets. Empty standalone.
    pub(crate) async fn details(&self, ns: &str) -> Result<(Vec<Bytes>, bool), BusError> {
        let (mut found, mut cut) = (Vec::new(), false);
        self.ask(
            KIND_DETAILS_REQUEST,
            |w| w.str(ns),
            |_, answer| {
                if let Answer::Details { sockets, truncated } = answer {
                    cut |= truncated;
                    found.extend(sockets);
                }
                ControlFlow::Continue(())
            },
        )
        .await?;
        Ok((found, cut))
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
    /// `log`: logged broadcasts, each behind its stream id.
    Log,
}

/// The listening task: subscribes, then handles every message until the bus or `local` is
/// dropped, then unsubscribes.
async fn listen(shared: Arc<Shared>, local: Weak<dyn Local>, mut stop: oneshot::Receiver<()>) {
    let link = shared.link.clone();
    let mut all = link.subscribe_to(BUS_CHANNEL).await;
    let mut mine = link.subscribe_to(&shared.answers_channel).await;
    let mut logged = link.subscribe_to(log::LOG_CHANNEL).await;
    let answering = Arc::new(Semaphore::new(MAX_ANSWERS_IN_FLIGHT));
    loop {
        let (inbox, payload) = tokio::select! {
            _ = &mut stop => break,
            m = all.next() => match m { Some((_, p)) => (Inbox::All, p), None => break },
            m = mine.next() => match m { Some((_, p)) => (Inbox::Mine, p), None => break },
            m = logged.next() => match m { Some((_, p)) => (Inbox::Log, p), None => break },
        };
        let Some(local) = local.upgrade() else { break };
        handle(&shared, &*local, &answering, inbox, payload);
    }
    for name in [
        BUS_CHANNEL,
        shared.answers_channel.as_str(),
        log::LOG_CHANNEL,
    ] {
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
    if inbox == Inbox::Log {
        return match log::read(Bytes::from(payload)) {
            Ok((offset, broadcast)) => local.logged(&offset, broadcast),
            Err(e) => shared.drop_unreadable(&e),
        };
    }
    let frame = match decode(Bytes::from(payload)) {
        Ok(f) => f,
        Err(e) => return shared.drop_unreadable(&e),
    };
    if frame.origin == shared.node {
        return;
    }
    match (inbox, frame.body) {
        (Inbox::All, Body::Broadcast(broadcast)) => local.broadcast(broadcast),
        (Inbox::All, Body::Request { id, ns, ask }) => {
            let answer = match ask {
                Ask::Sockets { rooms } => encode_sockets_answer(
                    &shared.node,
                    id,
                    &local.sockets(&ns, &rooms),
                    MAX_MESSAGE_BYTES,
                ),
                Ask::Details => {
                    encode_details_answer(&shared.node, id, &local.details(&ns), MAX_MESSAGE_BYTES)
                }
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
    Broadcast(Broadcast),
    Request { id: u64, ns: String, ask: Ask },
    Answer { id: u64, answer: Answer },
}

#[derive(Debug, PartialEq, Eq)]
enum Ask {
    Sockets { rooms: Vec<String> },
    Details,
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
    Details {
        /// One JSON object per socket, as the node wrote it.
        sockets: Vec<Bytes>,
        truncated: bool,
    },
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

/// Encodes a details answer, listing at most [`MAX_SOCKETS_PER_ANSWER`] sockets and no more
/// than fit in `max_bytes`.
fn encode_details_answer(node: &str, id: u64, sockets: &[Bytes], max_bytes: usize) -> Vec<u8> {
    let mut w = Writer::frame(KIND_DETAILS_ANSWER, node);
    w.u64(id);
    let mut size = w.0.len() + 1 + 4;
    let mut fit = 0;
    for s in sockets.iter().take(MAX_SOCKETS_PER_ANSWER) {
        if size + 4 + s.len() > max_bytes {
            break;
        }
        size += 4 + s.len();
        fit += 1;
    }
    w.u8((fit < sockets.len()).into());
    w.blobs(&sockets[..fit]);
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
        KIND_BROADCAST => Body::Broadcast(Broadcast {
            ns: r.str()?,
            rooms: r.strs()?,
            except: r.strs()?,
            text: r.bytes()?,
            attachments: r.list(usize::MAX, Reader::bytes)?,
        }),
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
        KIND_DETAILS_REQUEST => Body::Request {
            id: r.u64()?,
            ns: r.str()?,
            ask: Ask::Details,
        },
        KIND_DETAILS_ANSWER => Body::Answer {
            id: r.u64()?,
            answer: Answer::Details {
                truncated: r.flag()?,
                sockets: r.list(MAX_SOCKETS_PER_ANSWER, Reader::bytes)?,
            },
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
mod tests;
