//! The Redis client behind a connected [`Link`](super::Link): every line that knows redis-rs
//! lives here (compiled with the `cluster` feature only). One connection (redis-rs's
//! `ConnectionManager`, RESP3) and a supervisor task that:
//! - starts without Redis and keeps retrying: subscriptions asked for while Redis is down
//!   are remembered and made as soon as it answers;
//! - notices a lost connection (the client's disconnection notice, and a ping every second)
//!   and then fails every operation at once instead of waiting, so local delivery goes on and
//!   cross-node operations answer an error;
//! - subscribes to every channel again by itself when Redis is back.
//!
//! Every command is bounded by a timeout. Keys and channels arrive here with their final
//! names (the link adds its prefix).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind};
use tokio::sync::{Notify, mpsc};

use super::{ChanItem, ClusterStatus, LinkError, MessageStream, redact_url};

/// How long one Redis command may take. Generous: on a saturated machine an answer can be
/// late without Redis being gone, and a publish that timed out may still be delivered.
pub(super) const OP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the supervisor's ping may take.
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the link checks that Redis answers.
const PING_EVERY: Duration = Duration::from_secs(1);
/// Late pings in a row after which Redis counts as gone (a lost or refused connection counts
/// at once).
const LATE_PINGS_TOLERATED: u32 = 3;

type Handlers = HashMap<String, mpsc::Sender<ChanItem>>;

/// A link's Redis connection and what its supervisor keeps.
pub(super) struct Conn {
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

impl Conn {
    /// The connection to the Redis at `url` (`redis://…`; RESP3 is asked for). It does not
    /// connect here: a supervisor task (spawned on the current tokio runtime) connects,
    /// watches and reconnects.
    pub(super) fn open(url: &str) -> Result<Arc<Self>, LinkError> {
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
        let inner = Arc::new(Conn {
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
        Ok(inner)
    }

    /// The URL without its password.
    pub(super) fn shown(&self) -> &str {
        &self.shown
    }

    #[cfg(test)]
    /// Whether Redis answers and every channel is subscribed.
    pub(super) fn up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// The link's state.
    pub(super) fn status(&self) -> ClusterStatus {
        let connected = self.up.load(Ordering::Acquire);
        ClusterStatus {
            enabled: true,
            connected,
            reason: if connected {
                None
            } else {
                self.reason
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
            },
        }
    }

    /// The error for an operation attempted while Redis is unreachable.
    fn down(&self) -> LinkError {
        let why = self
            .reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "not connected".into());
        LinkError(format!("Redis {} unavailable: {why}", self.shown))
    }

    /// Runs one command on the shared connection, bounded by [`OP_TIMEOUT`]; fails at once
    /// while the link is down.
    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, LinkError> {
        if !self.up.load(Ordering::Acquire) {
            return Err(self.down());
        }
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(OP_TIMEOUT, cmd.query_async::<T>(&mut conn)).await;
        self.judge(answer)
    }

    /// `SET key value`.
    pub(super) async fn set(&self, key: String, value: &str) -> Result<(), LinkError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        self.run::<()>(cmd).await
    }

    /// `GET key`.
    pub(super) async fn get(&self, key: String) -> Result<Option<String>, LinkError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        self.run(cmd).await
    }

    /// `HSET hash field value`.
    pub(super) async fn hset(
        &self,
        hash: String,
        field: &str,
        value: &str,
    ) -> Result<(), LinkError> {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(hash).arg(field).arg(value);
        self.run::<()>(cmd).await
    }

    /// `HDEL hash field…` (at least one field).
    pub(super) async fn hdel(&self, hash: String, fields: &[String]) -> Result<(), LinkError> {
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(hash).arg(fields);
        self.run::<()>(cmd).await
    }

    /// `HGETALL hash`.
    pub(super) async fn hgetall(&self, hash: String) -> Result<HashMap<String, String>, LinkError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(hash);
        self.run(cmd).await
    }

    /// `PUBLISH chan payload`.
    pub(super) async fn publish(&self, chan: String, payload: Vec<u8>) -> Result<(), LinkError> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(chan).arg(payload);
        self.run::<()>(cmd).await
    }

    /// Subscribes to `chan` (now, or as soon as Redis answers), with room for `size` unread
    /// messages.
    pub(super) fn subscribe(&self, chan: String, size: usize) -> MessageStream {
        let (tx, rx) = mpsc::channel(size);
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chan.clone(), tx);
        self.wanted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(chan);
        // The supervisor subscribes (now, or once Redis answers).
        self.resubscribe.store(true, Ordering::Release);
        self.wake.notify_one();
        MessageStream { rx: Some(rx) }
    }

    /// `UNSUBSCRIBE chan`, and forgets it.
    pub(super) async fn unsubscribe(&self, chan: String) -> Result<(), LinkError> {
        self.handlers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&chan);
        self.wanted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&chan);
        let mut cmd = redis::cmd("UNSUBSCRIBE");
        cmd.arg(chan);
        self.run::<()>(cmd).await
    }

    /// Appends `payload` to stream `stream` (trimming entries older than `min_id`, and the
    /// oldest past about `max_entries`: both trims are approximate, whole stream nodes) and
    /// publishes it on `chan` prefixed with its new id (one byte of length, the id), in one
    /// step: subscribers get the stream's entries in the stream's order. Returns the id.
    pub(super) async fn append_and_publish(
        &self,
        stream: String,
        chan: String,
        min_id: &str,
        max_entries: u64,
        payload: &[u8],
    ) -> Result<String, LinkError> {
        const SCRIPT: &str = "local id = redis.call('XADD', KEYS[1], 'MINID', '~', ARGV[1], '*', 'f', ARGV[2]) \
             redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[3]) \
             redis.call('PUBLISH', KEYS[2], string.char(#id) .. id .. ARGV[2]) \
             return id";
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SCRIPT)
            .arg(2)
            .arg(stream)
            .arg(chan)
            .arg(min_id)
            .arg(payload)
            .arg(max_entries);
        self.run(cmd).await
    }

    /// Up to `count` entries of stream `stream` after id `after`, oldest first: (id, field
    /// `f`).
    pub(super) async fn read_after(
        &self,
        stream: String,
        after: &str,
        count: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, LinkError> {
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(stream)
            .arg(format!("({after}"))
            .arg("+")
            .arg("COUNT")
            .arg(count);
        let entries: Vec<(String, HashMap<String, Vec<u8>>)> = self.run(cmd).await?;
        Ok(entries
            .into_iter()
            .map(|(id, mut fields)| (id, fields.remove("f").unwrap_or_default()))
            .collect())
    }

    /// The id from which stream `stream` holds every entry after it: `0-0` when none was
    /// ever trimmed, else its first entry's id (its last generated one when it is empty). An
    /// entry trimmed just before the first is not told apart: a reader from there is sent
    /// elsewhere, never handed a gap.
    pub(super) async fn complete_after(&self, stream: String) -> Result<String, LinkError> {
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("STREAM").arg(stream);
        let info: Result<HashMap<String, redis::Value>, LinkError> = self.run(cmd).await;
        let info = match info {
            Ok(info) => info,
            // No such key: nothing was ever added, nor trimmed.
            Err(e) if e.0.contains("no such key") => return Ok("0-0".into()),
            Err(e) => return Err(e),
        };
        let bad =
            |what: &str| LinkError(format!("Redis {}: XINFO STREAM without {what}", self.shown));
        let number = |key: &str| -> Result<u64, LinkError> {
            let v = info.get(key).cloned().ok_or_else(|| bad(key))?;
            redis::from_redis_value::<u64>(v).map_err(|_| bad(key))
        };
        if number("entries-added")? == number("length")? {
            return Ok("0-0".into());
        }
        let first = info
            .get("first-entry")
            .cloned()
            .and_then(|v| redis::from_redis_value::<Option<(String, redis::Value)>>(v).ok())
            .flatten();
        match first {
            Some((id, _)) => Ok(id),
            None => {
                let last = info
                    .get("last-generated-id")
                    .cloned()
                    .ok_or_else(|| bad("last-generated-id"))?;
                redis::from_redis_value::<String>(last).map_err(|_| bad("last-generated-id"))
            }
        }
    }

    /// `SET key value PX ms`.
    pub(super) async fn set_for(
        &self,
        key: String,
        value: &[u8],
        ms: u64,
    ) -> Result<(), LinkError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("PX").arg(ms.max(1));
        self.run::<()>(cmd).await
    }

    /// `EXISTS key`.
    pub(super) async fn exists(&self, key: String) -> Result<bool, LinkError> {
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(key);
        self.run(cmd).await
    }

    /// `GETDEL key`: the value, taken.
    pub(super) async fn take(&self, key: String) -> Result<Option<Vec<u8>>, LinkError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(key);
        self.run(cmd).await
    }

    /// `PUBSUB NUMSUB chan`: how many subscribers `chan` has.
    pub(super) async fn numsub(&self, chan: &str) -> Result<u16, LinkError> {
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg("NUMSUB").arg(chan);
        let (_, count): (String, u16) = self.run(cmd).await?;
        Ok(count)
    }

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
                Err(self.down())
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
async fn check(inner: &Conn) -> Result<(), CheckFailed> {
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
async fn supervise(link: Weak<Conn>) {
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
