//! Packet codecs, I/O-free: they read and write bytes and never panic, whatever the input.
//!
//! - [`engine`]: Engine.IO packets (`<type char><data>`, e.g. `4hello`, `2probe`) and the
//!   open packet's JSON.
//! - [`payload`]: HTTP long-polling bodies, which carry several Engine.IO packets: v4
//!   (record-separated, binary as `b<base64>`) and v3 (`<length>:<packet>` strings, or the
//!   binary form XHR2 clients use).
//! - [`socket`]: Socket.IO packets (protocol v5 for socket.io 3+ clients, v4 for 2.x
//!   clients), validated as Node's `socket.io-parser` does.
//! - [`binary`]: binary attachments' placeholders and the splitting of event arrays into
//!   their JSON arguments without re-serializing them.
//!
//! Every decoding failure is a [`ProtoError`]; the engine answers it by closing the
//! connection, as the Node server does.

pub mod binary;
pub mod engine;
pub mod payload;
pub mod socket;

#[cfg(test)]
mod tests;

pub use engine::{EioVersion, PacketKind};
pub use payload::{Encoded, InItem, OutItem};
pub use socket::{SioKind, SioPacket, SioVersion};

/// Why a packet or payload was refused (which rule of the protocol it breaks).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// A packet with no bytes at all (not even its type).
    #[error("empty packet")]
    EmptyPacket,
    /// An Engine.IO packet whose first byte is not a type `0`-`6`.
    #[error("unknown Engine.IO packet type (byte {0:#04x})")]
    UnknownEngineType(u8),
    /// A binary item of a payload whose packet type is not `message`.
    #[error("binary packet of a type other than message")]
    BinaryNotMessage,
    /// A `b`-prefixed item whose base64 does not decode.
    #[error("invalid base64 in a binary packet")]
    InvalidBase64,
    /// Packet text that is not UTF-8.
    #[error("packet text is not valid UTF-8")]
    InvalidUtf8,
    /// A v3 payload's length header that is not a decimal number followed by its
    /// terminator (`:` in the string form, `0xFF` in the binary form), or a binary form's
    /// marker byte other than 0 or 1.
    #[error("malformed length header in a v3 payload")]
    InvalidLength,
    /// A v3 payload's packet length that runs past the end of the body, or splits a
    /// character.
    #[error("v3 payload length does not match its data")]
    LengthMismatch,
    /// A payload with more packets than allowed.
    #[error("more than {max} packets in one payload")]
    TooManyPackets {
        /// The limit.
        max: usize,
    },
    /// A Socket.IO packet whose first byte is not a type `0`-`6`.
    #[error("unknown Socket.IO packet type (byte {0:#04x})")]
    UnknownSocketType(u8),
    /// A binary Socket.IO packet's attachment count that is not `<digits>-` with at least
    /// one attachment.
    #[error("illegal attachments count")]
    IllegalAttachments,
    /// A binary Socket.IO packet announcing more attachments than allowed.
    #[error("too many attachments (at most {max})")]
    TooManyAttachments {
        /// The limit.
        max: usize,
    },
    /// An ack id too large for a `u64`.
    #[error("ack id out of range")]
    AckIdOverflow,
    /// An `ACK`/`BINARY_ACK` packet without an ack id.
    #[error("ack packet without an id")]
    MissingAckId,
    /// A Socket.IO payload that is not JSON.
    #[error("payload is not valid JSON")]
    InvalidJson,
    /// A Socket.IO payload of the wrong shape for its packet type.
    #[error("invalid payload for a {kind:?} packet: {reason}")]
    InvalidPayload {
        /// The packet type.
        kind: SioKind,
        /// The rule broken.
        reason: &'static str,
    },
    /// An event named after one the Socket.IO API reserves (`connect`, `disconnect`, …).
    #[error("reserved event name")]
    ReservedEventName,
    /// A binary placeholder whose `num` is not an index below the attachment count.
    #[error("placeholder referring to no attachment")]
    InvalidPlaceholder,
}
