//! Cluster mode's Redis link: publish, subscribe and the few keys a node reads and writes
//! (its line in the node table, the shared settings). The bus (`bus.rs`) carries broadcasts
//! and socket operations over it.
//!
//! Standalone, the link is off: it publishes nowhere. In cluster mode it delegates to one
//! Redis connection (`cluster/redis.rs`, the only code that knows the Redis client; see there
//! how it reconnects and fails fast). Without the `cluster` feature that module is not built:
//! [`Link::connect`] fails, saying so, and every link is off.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

#[cfg(feature = "cluster")]
mod redis;
#[cfg(feature = "cluster")]
use self::redis::Conn;

/// Without the `cluster` feature there is no Redis connection: a link is always off.
#[cfg(not(feature = "cluster"))]
enum Conn {}

/// A message from a channel: the channel's name and the payload.
pub(crate) type ChanItem = (String, Vec<u8>);

/// The messages of a subscription, in order (empty for a link that is off).
#[derive(Debug)]
pub(crate) struct MessageStream {
    rx: Option<mpsc::Receiver<ChanItem>>,
}

impl MessageStream {
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

/// The Redis connection of a cluster node; off when standalone.
#[derive(Clone, Default)]
pub(crate) struct Link {
    inner: Option<Arc<Conn>>,
}

/// `link_answer!(link, off, |conn| on)`: `off` for a link that is off, else `on` with the
/// link's Redis connection. Without the `cluster` feature a link is always off and `on` is
/// not compiled (nor are the Redis calls in it).
macro_rules! link_answer {
    ($link:expr, $off:expr, |$conn:ident| $on:expr) => {
        match &$link.inner {
            None => $off,
            #[cfg(feature = "cluster")]
            Some($conn) => $on,
            #[cfg(not(feature = "cluster"))]
            Some($conn) => match **$conn {},
        }
    };
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        link_answer!(self, f.write_str("Link(off)"), |conn| write!(
            f,
            "Link({})",
            conn.shown()
        ))
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

/// The error of an operation that needs Redis on a link that is off.
fn off() -> LinkError {
    LinkError("cluster mode is off".into())
}

// Without the `cluster` feature the arguments only the Redis calls use are unused.
#[cfg_attr(not(feature = "cluster"), allow(unused_variables))]
impl Link {
    /// The link of a standalone node: publishes nowhere.
    pub(crate) fn off() -> Self {
        Link { inner: None }
    }

    /// A link to the Redis at `url` (`redis://…`; RESP3 is asked for). It does not connect
    /// here: a supervisor task (spawned on the current tokio runtime) connects, watches and
    /// reconnects. Fails when the URL is unusable, or when the library was built without
    /// its `cluster` feature.
    pub(crate) fn connect(url: &str) -> Result<Self, LinkError> {
        #[cfg(feature = "cluster")]
        {
            Conn::open(url).map(|conn| Link { inner: Some(conn) })
        }
        #[cfg(not(feature = "cluster"))]
        {
            Err(LinkError(format!(
                "cannot use Redis {}: strapi-io was built without its `cluster` feature \
                 (cluster mode needs it)",
                redact_url(url)
            )))
        }
    }

    /// Whether this node is part of a cluster.
    pub(crate) fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    #[cfg(all(test, feature = "cluster"))]
    /// Whether Redis answers and every channel is subscribed.
    pub(crate) fn connected(&self) -> bool {
        link_answer!(self, false, |conn| conn.up())
    }

    /// The link's state.
    pub(crate) fn status(&self) -> ClusterStatus {
        let off = ClusterStatus {
            enabled: false,
            connected: false,
            reason: None,
        };
        link_answer!(self, off, |conn| conn.status())
    }

    /// `SET key value` (cluster-wide state such as the live settings).
    pub(crate) async fn set(&self, key: &str, value: &str) -> Result<(), LinkError> {
        link_answer!(self, Err(off()), |conn| conn
            .set(prefixed(key), value)
            .await)
    }

    /// `GET key`.
    pub(crate) async fn get(&self, key: &str) -> Result<Option<String>, LinkError> {
        link_answer!(self, Err(off()), |conn| conn.get(prefixed(key)).await)
    }

    /// `HSET hash field value`.
    pub(crate) async fn hset(&self, hash: &str, field: &str, value: &str) -> Result<(), LinkError> {
        link_answer!(self, Err(off()), |conn| conn
            .hset(prefixed(hash), field, value)
            .await)
    }

    /// `HDEL hash field…`.
    pub(crate) async fn hdel(&self, hash: &str, fields: &[String]) -> Result<(), LinkError> {
        if fields.is_empty() {
            return Ok(());
        }
        link_answer!(self, Err(off()), |conn| conn
            .hdel(prefixed(hash), fields)
            .await)
    }

    /// `HGETALL hash`.
    pub(crate) async fn hgetall(&self, hash: &str) -> Result<HashMap<String, String>, LinkError> {
        link_answer!(self, Err(off()), |conn| conn.hgetall(prefixed(hash)).await)
    }

    /// Publishes `payload` on our own channel `name` (not the adapter's).
    pub(crate) async fn publish_on(&self, name: &str, payload: Vec<u8>) -> Result<(), LinkError> {
        link_answer!(self, Err(off()), |conn| conn
            .publish(prefixed(name), payload)
            .await)
    }

    /// Subscribes to our own channel `name`; messages arrive on the returned stream, also
    /// after reconnections.
    pub(crate) async fn subscribe_to(&self, name: &str) -> MessageStream {
        match self.subscribe(prefixed(name), SUBSCRIPTION_QUEUE).await {
            Ok(s) => s,
            Err(_) => MessageStream::new_empty(),
        }
    }

    /// Appends `payload` to our stream `stream` (entries before `min_id` trimmed, and the
    /// oldest past about `max_entries`) and
    /// publishes it on our channel `chan` behind its id, in one step (see
    /// `cluster/redis.rs`). Returns the id.
    pub(crate) async fn append_and_publish(
        &self,
        stream: &str,
        chan: &str,
        min_id: &str,
        max_entries: u64,
        payload: &[u8],
    ) -> Result<String, LinkError> {
        link_answer!(self, Err(off()), |conn| conn
            .append_and_publish(
                prefixed(stream),
                prefixed(chan),
                min_id,
                max_entries,
                payload
            )
            .await)
    }

    /// Up to `count` entries of our stream `stream` after id `after`: (id, payload).
    pub(crate) async fn read_after(
        &self,
        stream: &str,
        after: &str,
        count: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, LinkError> {
        link_answer!(self, Err(off()), |conn| conn
            .read_after(prefixed(stream), after, count)
            .await)
    }

    /// The id after which our stream `stream` holds every entry (see `cluster/redis.rs`).
    pub(crate) async fn complete_after(&self, stream: &str) -> Result<String, LinkError> {
        link_answer!(self, Err(off()), |conn| conn
            .complete_after(prefixed(stream))
            .await)
    }

    /// `SET key value PX ms`.
    pub(crate) async fn set_for(&self, key: &str, value: &[u8], ms: u64) -> Result<(), LinkError> {
        link_answer!(self, Err(off()), |conn| conn
            .set_for(prefixed(key), value, ms)
            .await)
    }

    /// `EXISTS key`.
    pub(crate) async fn exists(&self, key: &str) -> Result<bool, LinkError> {
        link_answer!(self, Err(off()), |conn| conn.exists(prefixed(key)).await)
    }

    /// `GETDEL key`.
    pub(crate) async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, LinkError> {
        link_answer!(self, Err(off()), |conn| conn.take(prefixed(key)).await)
    }

    #[cfg(test)]
    /// Publishes `val` on channel `chan` (as named: no prefix added).
    pub(crate) async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), LinkError> {
        link_answer!(self, Ok(()), |conn| conn.publish(chan, val).await)
    }

    /// Subscribes to channel `chan` (now, or as soon as Redis answers), with room for `size`
    /// unread messages.
    pub(crate) async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream, LinkError> {
        link_answer!(self, Ok(MessageStream::new_empty()), |conn| Ok(
            conn.subscribe(chan, size)
        ))
    }

    /// Unsubscribes from channel `chan`.
    pub(crate) async fn unsubscribe(&self, chan: String) -> Result<(), LinkError> {
        link_answer!(self, Ok(()), |conn| conn.unsubscribe(chan).await)
    }

    /// How many subscribers channel `chan` has (1 for a link that is off: this node).
    pub(crate) async fn num_serv(&self, chan: &str) -> Result<u16, LinkError> {
        link_answer!(self, Ok(1), |conn| conn.numsub(chan).await)
    }
}

fn prefixed(key: &str) -> String {
    format!("{CHANNEL_PREFIX}:{key}")
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

    #[cfg(not(feature = "cluster"))]
    #[test]
    fn without_the_cluster_feature_connecting_says_so() {
        let err = Link::connect("redis://:pw@127.0.0.1:6379").unwrap_err();
        assert!(err.to_string().contains("`cluster` feature"), "{err}");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    #[cfg(feature = "cluster")]
    #[tokio::test]
    async fn an_unreachable_redis_fails_fast_and_says_why() {
        // Nothing listens on port 9 of 127.0.0.1 (discard); the link starts anyway.
        let link = Link::connect("redis://:pw@127.0.0.1:9").unwrap();
        assert!(link.enabled());
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let err = link.publish("c".into(), vec![1]).await.unwrap_err();
        assert!(
            started.elapsed() < redis::OP_TIMEOUT,
            "fails at once while down"
        );
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
