//! Engine.IO packets from a client, whichever transport carried them: heartbeat, close,
//! and messages handed to the Socket.IO layer ([`crate::sio`]).

use std::sync::Arc;

use tokio::time::Instant;

use crate::conn::Conn;
use crate::handler::{DisconnectReason, Handler};
use crate::proto::engine::{EioVersion, PacketKind};
use crate::state::Inner;

/// Handles one packet; `Err` closes the session for that reason.
pub(crate) fn on_packet<H: Handler>(
    inner: &Arc<Inner<H>>,
    conn: &Arc<Conn<H>>,
    kind: PacketKind,
    data: &str,
) -> Result<(), DisconnectReason> {
    match kind {
        PacketKind::Message => crate::sio::on_text(inner, conn, data),
        PacketKind::Pong => {
            if conn.version == EioVersion::V4 {
                conn.lock()
                    .heartbeat
                    .pong(Instant::now(), inner.config.ping_interval);
            }
            Ok(())
        }
        PacketKind::Ping => {
            // v3 clients ping and the server answers; v4 clients never ping.
            if conn.version == EioVersion::V3 {
                conn.lock().heartbeat.ping(Instant::now(), &inner.config);
                conn.send_control(b"3");
                Ok(())
            } else {
                Err(DisconnectReason::ParseError)
            }
        }
        PacketKind::Close => Err(DisconnectReason::ForcedClose),
        PacketKind::Noop => Ok(()),
        PacketKind::Open | PacketKind::Upgrade => Err(DisconnectReason::ParseError),
    }
}
