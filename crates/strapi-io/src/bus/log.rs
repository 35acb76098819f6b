//! Broadcast broadcasts: connection state recovery across the cluster.
//!
//! With recovery on, a node does not deliver a broadcast itself: it appends it to the Redis
//! stream `log` (entries older than `maxDisconnectionDuration` trimmed) and publishes it on
//! channel `log` behind its new stream id, in one Lua script, so that every node — the
//! origin included — delivers every logged broadcast in the stream's order, with its id as
//! the event's offset. A socket's events are then ordered by offset on any node, and a node
//! can read what a reconnecting client missed from the stream, whichever node it was on.
//! The sessions sockets leave behind are kept in Redis too (`recovery:<pid>`, expiring).
//!
//! Wire format of a `log` message: `u8 n`, the stream id (`n` ASCII bytes), then a broadcast
//! message as `bus` carries it (see the parent module). A stream entry's field `f` holds the
//! broadcast message alone.

use bytes::Bytes;

use super::{Body, Broadcast, Bus, BusError, DecodeError, decode};

/// The channel of logged broadcasts.
pub(crate) const LOG_CHANNEL: &str = "log";
/// The stream that keeps them.
const LOG_STREAM: &str = "log";
/// Entries read from the stream at once.
const READ_BATCH: usize = 512;

/// Reads a `log` message: its stream id and broadcast.
pub(super) fn read(payload: Bytes) -> Result<(String, Broadcast), DecodeError> {
    let n = usize::from(*payload.first().ok_or(DecodeError::Empty)?);
    if payload.len() < 1 + n {
        return Err(DecodeError::Truncated);
    }
    let id = std::str::from_utf8(&payload[1..1 + n])
        .map_err(|_| DecodeError::Utf8)?
        .to_string();
    Ok((id, broadcast(payload.slice(1 + n..))?))
}

/// Reads a broadcast message (and nothing else).
fn broadcast(message: Bytes) -> Result<Broadcast, DecodeError> {
    match decode(message)?.body {
        Body::Broadcast(broadcast) => Ok(broadcast),
        _ => Err(DecodeError::Kind(0)),
    }
}

impl Bus {
    /// Logs a broadcast and publishes it to every node, this one included (see the module
    /// docs). Entries older than `keep_ms` go, and the oldest past about `max_bytes` (counted
    /// as entries of this one's size, at least 128 bytes each). Returns its stream id.
    pub(crate) async fn broadcast_logged(
        &self,
        broadcast: &Broadcast,
        keep_ms: u64,
        max_bytes: u64,
    ) -> Result<String, BusError> {
        let frame = self.broadcast_frame(broadcast)?;
        let now = u64::try_from(crate::directory::unix_millis()).unwrap_or(0);
        let min_id = format!("{}-0", now.saturating_sub(keep_ms));
        let max_entries = (max_bytes / (frame.len() as u64 + 64).max(128)).max(1);
        Ok(self
            .shared
            .link
            .append_and_publish(LOG_STREAM, LOG_CHANNEL, &min_id, max_entries, &frame)
            .await?)
    }

    /// Every logged broadcast after stream id `after`, oldest first, read in batches and
    /// handed to `take` until it breaks; unreadable entries are skipped (counted).
    pub(crate) async fn read_log(
        &self,
        after: &str,
        mut take: impl FnMut(String, Broadcast) -> std::ops::ControlFlow<()>,
    ) -> Result<(), BusError> {
        let mut from = after.to_string();
        loop {
            let batch = self
                .shared
                .link
                .read_after(LOG_STREAM, &from, READ_BATCH)
                .await?;
            let full = batch.len() == READ_BATCH;
            for (id, message) in batch {
                from.clone_from(&id);
                match broadcast(Bytes::from(message)) {
                    Ok(logged) => {
                        if take(id, logged).is_break() {
                            return Ok(());
                        }
                    }
                    Err(e) => self.shared.drop_unreadable(&e),
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// The stream id after which the log holds every entry (`0-0`: it holds them all).
    pub(crate) async fn log_complete_after(&self) -> Result<String, BusError> {
        Ok(self.shared.link.complete_after(LOG_STREAM).await?)
    }

    /// Keeps a session for `ms` under its pid, and marks socket `sid` of `ns` as away for
    /// as long (what a private message to it from another node looks for).
    pub(crate) async fn keep_session(
        &self,
        pid: &str,
        ns: &str,
        sid: &str,
        session: &[u8],
        ms: u64,
    ) -> Result<(), BusError> {
        let link = &self.shared.link;
        link.set_for(&format!("recovery:{pid}"), session, ms)
            .await?;
        Ok(link.set_for(&away_key(ns, sid), pid.as_bytes(), ms).await?)
    }

    /// Takes the session kept under `pid`, if it still is.
    pub(crate) async fn take_session(&self, pid: &str) -> Result<Option<Vec<u8>>, BusError> {
        Ok(self.shared.link.take(&format!("recovery:{pid}")).await?)
    }

    /// Socket `sid` of `ns` is no longer away (its session was taken).
    pub(crate) async fn back(&self, ns: &str, sid: &str) -> Result<(), BusError> {
        self.shared.link.take(&away_key(ns, sid)).await?;
        Ok(())
    }

    /// Whether socket `sid` of `ns` is away on some node, its session kept.
    pub(crate) async fn is_away(&self, ns: &str, sid: &str) -> Result<bool, BusError> {
        Ok(self.shared.link.exists(&away_key(ns, sid)).await?)
    }
}

/// The key marking an away socket: the id last, it has no `:`.
fn away_key(ns: &str, sid: &str) -> String {
    format!("away:{ns}:{sid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_message_reads_back_and_garbage_does_not() {
        use super::super::{KIND_BROADCAST, Writer};
        let logged = Broadcast {
            ns: "/".into(),
            rooms: vec!["a".into()],
            except: vec![],
            text: Bytes::from_static(b"42[\"e\",1]"),
            attachments: vec![Bytes::from_static(&[1, 2])],
        };
        let mut w = Writer::frame(KIND_BROADCAST, "n1");
        w.str(&logged.ns);
        w.strs(&logged.rooms);
        w.strs(&logged.except);
        w.bytes(&logged.text);
        w.blobs(&logged.attachments);
        let mut message = vec![3];
        message.extend_from_slice(b"1-0");
        message.extend_from_slice(&w.0);
        assert_eq!(
            read(Bytes::from(message.clone())).unwrap(),
            ("1-0".to_string(), logged)
        );
        for cut in 0..message.len() {
            assert!(read(Bytes::copy_from_slice(&message[..cut])).is_err());
        }
        let mut request = vec![1, b'x'];
        let mut w = Writer::frame(super::super::KIND_APPLY_ANSWER, "n1");
        w.u64(1);
        w.u8(1);
        request.extend_from_slice(&w.0);
        assert!(read(Bytes::from(request)).is_err(), "not a broadcast");
    }
}
