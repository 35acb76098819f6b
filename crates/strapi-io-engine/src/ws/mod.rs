//! RFC 6455 WebSocket, server side and I/O-free: this module owns the framing and the
//! opening-handshake checks, and nothing of sockets, HTTP serving or Engine.IO.
//!
//! - [`frame`](mod@frame): the incremental client-frame [`Decoder`] (zero-copy for complete
//!   frames in the chunk just read; buffers only a partial frame or message, freed once
//!   complete; validates masking, reserved bits and opcodes, control-frame rules,
//!   fragmentation, UTF-8 and close codes, and the message size limit) and the server-frame
//!   encoder.
//! - [`handshake`]: the upgrade request checks and the `Sec-WebSocket-Accept` key.
//!
//! No extension (e.g. permessage-deflate) or subprotocol is negotiated.

pub mod frame;
pub mod handshake;

pub use frame::{
    CloseFrame, Decoder, Message, OpCode, WsError, close_code, close_frame, fragment_header, frame,
    header, is_valid_close_code, write_header,
};
pub use handshake::{HandshakeError, accept_key, check_upgrade, check_upgrade_request};

#[cfg(test)]
mod tests;
