//! Opening a session: the application's `open`, the session registered, and its open
//! packet (`0{sid, upgrades, pingInterval, pingTimeout, maxPayload}`).

use std::sync::Arc;

use crate::conn::{Conn, Phase};
use crate::handler::{Handler, Refusal};
use crate::proto::engine::EioVersion;
use crate::state::Inner;

/// The open packet (`0{…}`) of a session.
pub(crate) fn open_packet<H: Handler>(
    inner: &Inner<H>,
    conn: &Conn<H>,
    upgrades: &[&str],
) -> String {
    let c = &inner.config;
    crate::proto::engine::open_packet(
        conn.version,
        conn.sid.as_str(),
        upgrades,
        u64::try_from(c.ping_interval.as_millis()).unwrap_or(u64::MAX),
        u64::try_from(c.ping_timeout.as_millis()).unwrap_or(u64::MAX),
        c.max_payload,
    )
}

/// Creates and registers a session; v3 sessions join `/` at once (Socket.IO v4 clients
/// never send a `CONNECT` for it).
pub(crate) fn open<H: Handler>(
    inner: &Arc<Inner<H>>,
    version: EioVersion,
    phase: Phase,
    b64: bool,
    parts: &http::request::Parts,
) -> Result<Arc<Conn<H>>, Refusal> {
    let data = inner.handler.open(parts)?;
    let conn = Conn::new(version, phase, b64, data, &inner.config);
    inner.register(&conn);
    if version == EioVersion::V3 {
        crate::sio::connect(inner, &conn, "/", None);
    }
    Ok(conn)
}
