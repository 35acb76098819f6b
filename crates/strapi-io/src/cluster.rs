//! Cluster mode's Redis link: publish, subscribe and the few keys a node reads and writes
//! (its line in the node table, the shared settings). The bus (`bus.rs`) carries broadcasts
//! and socket operations over it.
//!
//! Standalone, the link is off: it publishes nowhere. In cluster mode it keeps one Redis
//! connection (redis-rs's `ConnectionManager`, RESP3) and:
//! - it starts without Redis and keeps retrying: subscriptions asked for while Redis is down
//!   are remembered and made as soon as it answers;
//! - it notices a lost connection (the client's disconnection notice, and a ping every
//!   second) and then fails every operation at once instead of waiting, so local delivery
//!   goes on and cross-node operations answer an error;
//! - every command is bounded by a timeout;
//! - when Redis is back it subscribes to every channel again by itself.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind};
use tokio::sync::{Notify, mpsc};

/// A message from a channel: the channel's name and the payload.
pub(crate) type ChanItem = (String, Vec<u8>);

/// The messages of a subscription, in order (empty for a link that is off).
#[derive(Debug)]
pub(crate) struct MessageStream {
    rx: Option<mpsc::Receiver<ChanItem>>,
}

impl MessageStream {
    fn new(rx: mpsc::Receiver<ChanItem>) -> Self {
        MessageStream { rx: Some(rx) }
    }

    fn new_empty() -> Self {
        MessageStream { rx: None }
    }
}

impl futures_util::Stream for MessageStream {
    type Item = ChanItem;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<ChanItem>> {
        match self.rx.as_mut() {
            Some(rx) => rx.poll_recv(cx),
            None => std::task::Poll::Ready(None),
        }
    }
}

/// How long one Redis command may take. Generous: on a saturated machine an answer can be
/// late without Redis being gone, and a publish that timed out may still be delivered.
const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the supervisor's ping may take.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the link checks that Redis answers.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Late pings in a row after which Redis counts as gone (a lost or refused connection counts
/// at once).
const LATE_PINGS_TOLERATED: u32 = 3;
/// How long a cross-node request (listing sockets, rooms) waits for the other nodes.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Messages of one subscription that may wait to be handled: a burst of broadcasts from
/// other nodes queues here (blocks are allocated as it fills); past it, messages are
/// dropped with a warning.
const SUBSCRIPTION_QUEUE: usize = 8192;
/// The prefix of our own keys and channels.
const CHANNEL_PREFIX: &str = "strapi-io";

/// How often a node writes its line in the cluster's node table.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);
/// A node whose line is older than this is gone.
pub(crate) const NODE_STALE_AFTER: Duration = Duration::from_secs(10);
/// The hash holding one line per node.
pub(crate) const NODES_KEY: &str = "nodes";
/// The key and the channel of the cluster's live settings.
pub(crate) const SETTINGS_KEY: &str = "settings";

/// One node of the cluster, as its last heartbeat described it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    /// The node's id (socketioxide's server id).
    pub id: String,
    /// Sockets connected to it (all namespaces).
    pub connections: usize,
    /// When it wrote this, in Unix milliseconds.
    pub updated_at: i64,
    /// Whether it is the node answering.
    #[serde(default)]
    pub this: bool,
}

/// The cluster as one node sees it: see [`crate::Io::cluster`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterReport {
    /// The link's state.
    pub status: ClusterStatus,
    /// The live nodes, this one included.
    pub nodes: Vec<NodeStats>,
    /// Sockets connected to the whole cluster.
    pub connections: usize,
}

/// A settings document published by a node, with its origin so that it ignores its own.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct SharedSettings {
    pub(crate) origin: String,
    pub(crate) settings: serde_json::Value,
}

/// Why the cluster link could not do something.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct LinkError(String);

/// The state of the cluster link, for `/health` and the stats.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterStatus {
    /// Cluster mode is on (`redis.enabled`).
    pub enabled: bool,
    /// Redis answers and every channel is subscribed.
    pub connected: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

type Handlers = HashMap<String, mpsc::Sender<ChanItem>>;

struct Inner {
    conn: ConnectionManager,
    /// Where the messages of each subscribed channel go.
    handlers: Arc<RwLock<Handlers>>,
    /// Every channel the adapter asked for, made again after a reconnection.
    wanted: Mutex<BTreeSet<String>>,
    /// Redis answered the last check and every wanted channel is subscribed.
    up: AtomicBool,
    /// The connection was lost since the channels were last subscribed.
    resubscribe: Arc<AtomicBool>,
    /// Why the link is down.
    reason: Mutex<Option<String>>,
    /// Wakes the supervisor early (a lost connection, a subscription to make).
    wake: Arc<Notify>,
    /// The URL without its password, for messages.
    shown: String,
}

/// The Redis connection of a cluster node; off when standalone.
#[derive(Clone, Default)]
pub(crate) struct Link {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("Link(off)"),
            Some(i) => write!(f, "Link({})", i.shown),
        }
    }
}

/// `redis://user:secret@host` → `redis://user:***@host`.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            if creds.contains(':') {
                format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
            } else {
                format!("{}***{}", &url[..scheme + 3], &url[at..])
            }
        }
        _ => url.to_string(),
    }
}

fn route(msg: PushInfo, handlers: &RwLock<Handlers>, resubscribe: &AtomicBool, wake: &Notify) {
    match msg.kind {
        PushKind::Message | PushKind::SMessage => {
            let mut data = msg.data.into_iter();
            let (Some(chan), Some(payload)) = (data.next(), data.next()) else {
                return;
            };
            let (Ok(chan), Ok(payload)) = (
                redis::from_redis_value::<String>(chan),
                redis::from_redis_value::<Vec<u8>>(payload),
            ) else {
                tracing::warn!("unreadable message from Redis");
                return;
            };
            let handlers = handlers.read().unwrap_or_else(|e| e.into_inner());
            if let Some(tx) = handlers.get(&chan)
                && tx.try_send((chan, payload)).is_err()
            {
                metrics::counter!("strapi_io_cluster_messages_dropped_total").increment(1);
                tracing::warn!("cluster message dropped: this node is not keeping up");
            }
        }
        PushKind::Disconnection => {
            resubscribe.store(true, Ordering::Release);
            wake.notify_one();
        }
        _ => {}
    }
}

impl Link {
    /// The link of a standalone node: publishes nowhere.
    pub(crate) fn off() -> Self {
        Link { inner: None }
    }

    /// A link to the Redis at `url` (`redis://…`; RESP3 is asked for). It does not connect
    /// here: a supervisor task (spawned on the current tokio runtime) connects, watches and
    /// reconnects.
    pub(crate) fn connect(url: &str) -> Result<Self, LinkError> {
        let shown = redact_url(url);
        let info = url
            .into_connection_info()
            .map_err(|e| LinkError(format!("invalid Redis URL {shown}: {e}")))?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(settings);
        let client = redis::Client::open(info)
            .map_err(|e| LinkError(format!("invalid Redis URL {shown}: {e}")))?;
        let handlers: Arc<RwLock<Handlers>> = Arc::default();
        let resubscribe = Arc::new(AtomicBool::new(true));
        let wake = Arc::new(Notify::new());
        let (h, r, w) = (handlers.clone(), resubscribe.clone(), wake.clone());
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(PING_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500))
            .set_push_sender(move |msg: PushInfo| {
                route(msg, &h, &r, &w);
                Ok::<(), std::convert::Infallible>(())
            });
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| LinkError(format!("Redis {shown}: {e}")))?;
        let inner = Arc::new(Inner {
            conn,
            handlers,
            wanted: Mutex::default(),
            up: AtomicBool::new(false),
            resubscribe,
            reason: Mutex::new(Some("connecting".into())),
            wake,
            shown,
        });
        tokio::spawn(supervise(Arc::downgrade(&inner)));
        Ok(Link { inner: Some(inner) })
    }

    /// Whether this node is part of a cluster.
    pub(crate) fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    #[cfg(test)]
    /// Whether Redis answers and every channel is subscribed.
    pub(crate) fn connected(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.up.load(Ordering::Acquire))
    }

    /// The link's state.
    pub(crate) fn status(&self) -> ClusterStatus {
        match &self.inner {
            None => ClusterStatus {
                enabled: false,
                connected: false,
                reason: None,
            },
            Some(i) => {
                let connected = i.up.load(Ordering::Acquire);
                ClusterStatus {
                    enabled: true,
                    connected,
                    reason: if connected {
                        None
                    } else {
                        i.reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
                    },
                }
            }
        }
    }

    /// The error for an operation attempted while Redis is unreachable.
    fn down(inner: &Inner) -> LinkError {
        let why = inner
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "not connected".into());
        LinkError(format!("Redis {} unavailable: {why}", inner.shown))
    }

    /// Runs one command on the shared connection, bounded by [`OP_TIMEOUT`]; fails at once
    /// while the link is down.
    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, LinkError> {
        let Some(inner) = &self.inner else {
            return Err(LinkError("cluster mode is off".into()));
        };
        if !inner.up.load(Ordering::Acquire) {
            return Err(Self::down(inner));
        }
        let mut conn = inner.conn.clone();
        let answer = tokio::time::timeout(OP_TIMEOUT, cmd.query_async::<T>(&mut conn)).await;
        inner.judge(answer)
    }

    /// `SET key value` (cluster-wide state such as the live settings).
    pub(crate) async fn set(&self, key: &str, value: &str) -> Result<(), LinkError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(prefixed(key)).arg(value);
        self.run::<()>(cmd).await
    }

    /// `GET key`.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<String>, LinkError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(prefixed(key));
        self.run(cmd).await
    }

    /// `HSET hash field value`.
    pub(crate) async fn hset(&self, hash: &str, field: &str, value: &str) -> Result<(), LinkError> {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(prefixed(hash)).arg(field).arg(value);
        self.run::<()>(cmd).await
    }

    /// `HDEL hash field…`.
    pub(crate) async fn hdel(&self, hash: &str, fields: &[String]) -> Result<(), LinkError> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(prefixed(hash)).arg(fields);
        self.run::<()>(cmd).await
    }

    /// `HGETALL hash`.
    pub(crate) async fn hgetall(&self, hash: &str) -> Result<HashMap<String, String>, LinkError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(prefixed(hash));
        self.run(cmd).await
    }

    /// Publishes `payload` on our own channel `name` (not the adapter's).
    pub(crate) async fn publish_on(&self, name: &str, payload: Vec<u8>) -> Result<(), LinkError> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(prefixed(name)).arg(payload);
        self.run::<()>(cmd).await
    }

    /// Subscribes to our own channel `name`; messages arrive on the returned stream, also
    /// after reconnections.
    pub(crate) async fn subscribe_to(&self, name: &str) -> MessageStream {
        match self.subscribe(prefixed(name), SUBSCRIPTION_QUEUE).await {
            Ok(s) => s,
            Err(_) => MessageStream::new_empty(),
        }
    }
}

fn prefixed(key: &str) -> String {
    format!("{CHANNEL_PREFIX}:{key}")
}

impl Inner {
    /// The result of one command: a lost or refused connection takes the link down at once
    /// (the supervisor brings it back); a late answer or a command error fails this command
    /// only, since a busy machine or a bad command says nothing about Redis being gone.
    fn judge<T>(
        &self,
        answer: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, LinkError> {
        match answer {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e))
                if e.is_connection_dropped() || e.is_io_error() || e.is_connection_refusal() =>
            {
                self.mark_down(e.to_string());
                Err(Link::down(self))
            }
            Ok(Err(e)) => Err(LinkError(format!("Redis {}: {e}", self.shown))),
            Err(_) => {
                tracing::warn!(redis = %self.shown, "a Redis command got no answer within {OP_TIMEOUT:?}");
                Err(LinkError(format!(
                    "Redis {}: no answer within {OP_TIMEOUT:?}",
                    self.shown
                )))
            }
        }
    }

    fn mark_down(&self, reason: String) {
        let was_up = self.up.swap(false, Ordering::AcqRel);
        self.resubscribe.store(true, Ordering::Release);
        if was_up {
            tracing::warn!(redis = %self.shown, %reason, "cluster link lost: this node serves its own clients only until Redis is back");
        }
        *self.reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        self.wake.notify_one();
    }
}

/// Why a supervisor check failed.
enum CheckFailed {
    /// The ping got no answer in time: Redis may be gone, or this machine busy.
    Late,
    /// Redis answered with an error, or the connection is gone.
    Down(String),
}

/// Pings Redis and, after a (re)connection, subscribes to every wanted channel.
async fn check(inner: &Inner) -> Result<(), CheckFailed> {
    let mut conn = inner.conn.clone();
    match tokio::time::timeout(
        PING_TIMEOUT,
        redis::cmd("PING").query_async::<String>(&mut conn),
    )
    .await
    {
        Err(_) => return Err(CheckFailed::Late),
        Ok(Err(e)) => return Err(CheckFailed::Down(e.to_string())),
        Ok(Ok(_)) => {}
    }
    if !inner.resubscribe.swap(false, Ordering::AcqRel) {
        return Ok(());
    }
    let channels: Vec<String> = inner
        .wanted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    if channels.is_empty() {
        return Ok(());
    }
    match tokio::time::timeout(OP_TIMEOUT, conn.subscribe(&channels)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CheckFailed::Down(format!("subscribing: {e}"))),
        Err(_) => Err(CheckFailed::Down(format!(
            "subscribing: no answer within {OP_TIMEOUT:?}"
        ))),
    }
}

/// Checks Redis every second (or when woken), subscribes to every wanted channel after a
/// (re)connection, and keeps `up` and `reason` current. Ends with the link.
async fn supervise(link: Weak<Inner>) {
    let mut logged_down = false;
    let mut late = 0u32;
    loop {
        let Some(inner) = link.upgrade() else { return };
        let outcome = check(&inner).await;
        match outcome {
            // A late ping alone may be this machine being busy: only a run of them counts,
            // and only while nothing else is wrong.
            Err(CheckFailed::Late)
                if late + 1 < LATE_PINGS_TOLERATED && inner.up.load(Ordering::Acquire) =>
            {
                late += 1;
            }
            Ok(()) => {
                late = 0;
                if !inner.up.swap(true, Ordering::AcqRel) {
                    tracing::info!(redis = %inner.shown, "cluster link up");
                }
                *inner.reason.lock().unwrap_or_else(|e| e.into_inner()) = None;
                logged_down = false;
            }
            Err(failed) => {
                late = 0;
                let reason = match failed {
                    CheckFailed::Late => {
                        format!("pings got no answer within {PING_TIMEOUT:?}")
                    }
                    CheckFailed::Down(reason) => reason,
                };
                inner.up.store(false, Ordering::Release);
                inner.resubscribe.store(true, Ordering::Release);
                if !logged_down {
                    tracing::warn!(redis = %inner.shown, %reason, "cluster link down; retrying every second");
                    logged_down = true;
                }
                *inner.reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
            }
        }
        let wake = inner.wake.clone();
        drop(inner);
        tokio::select! {
            _ = tokio::time::sleep(PING_EVERY) => {}
            _ = wake.notified() => {}
        }
    }
}

impl Link {
    #[cfg(test)]
    /// Publishes `val` on channel `chan` (as named: no prefix added).
    pub(crate) async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), LinkError> {
        if self.inner.is_none() {
            return Ok(());
        }
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(chan).arg(val);
        self.run::<()>(cmd).await
    }

    /// Subscribes to channel `chan` (now, or as soon as Redis answers), with room for `size`
    /// unread messages.
    pub(crate) async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream, LinkError> {
        let Some(inner) = &self.inner else {
            return Ok(MessageStream::new_empty());
        };
        let (tx, rx) = mpsc::channel(size);
        inner
            .handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chan.clone(), tx);
        inner
            .wanted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chan);
        // The supervisor subscribes (now, or once Redis answers).
        inner.resubscribe.store(true, Ordering::Release);
        inner.wake.notify_one();
        Ok(MessageStream::new(rx))
    }

    /// Unsubscribes from channel `chan`.
    pub(crate) async fn unsubscribe(&self, chan: String) -> Result<(), LinkError> {
        let Some(inner) = &self.inner else {
            return Ok(());
        };
        inner
            .handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&chan);
        inner
            .wanted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&chan);
        let mut cmd = redis::cmd("UNSUBSCRIBE");
        cmd.arg(chan);
        self.run::<()>(cmd).await
    }

    /// How many subscribers channel `chan` has (1 for a link that is off: this node).
    pub(crate) async fn num_serv(&self, chan: &str) -> Result<u16, LinkError> {
        if self.inner.is_none() {
            return Ok(1);
        }
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg("NUMSUB").arg(chan);
        let (_, count): (String, u16) = self.run(cmd).await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_passwords() {
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            redact_url("redis://app:s3cret@redis.internal:6379/0"),
            "redis://app:***@redis.internal:6379/0"
        );
        assert_eq!(redact_url("redis://:s3cret@h/0"), "redis://:***@h/0");
        assert_eq!(redact_url("redis://token@h"), "redis://***@h");
    }

    #[tokio::test]
    async fn a_link_that_is_off_publishes_nowhere_and_counts_one_node() {
        let link = Link::off();
        assert!(!link.enabled());
        assert!(link.publish("c".into(), vec![1]).await.is_ok());
        assert_eq!(link.num_serv("c").await.unwrap(), 1);
        assert!(link.get("k").await.is_err());
        assert!(!link.status().enabled);
    }

    #[tokio::test]
    async fn an_unreachable_redis_fails_fast_and_says_why() {
        // Nothing listens on port 9 of 127.0.0.1 (discard); the link starts anyway.
        let link = Link::connect("redis://:pw@127.0.0.1:9").unwrap();
        assert!(link.enabled());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let err = link.publish("c".into(), vec![1]).await.unwrap_err();
        assert!(started.elapsed() < OP_TIMEOUT, "fails at once while down");
        assert!(err.to_string().contains("unavailable"), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
        let status = link.status();
        assert!(status.enabled && !status.connected);
        assert!(status.reason.is_some());
        // A subscription asked for while down is kept, not failed.
        assert!(link.subscribe("c".into(), 4).await.is_ok());
        assert!(Link::connect("not a url").is_err());
    }
}
