//! Frame codec: the incremental client-frame [`Decoder`] and the server-frame encoder
//! ([`header`], [`write_header`], [`frame`], [`close_frame`]).
//!
//! The decoder is built for many idle connections sharing one read buffer per thread: between
//! messages it holds no heap memory; a frame or message that ends past the chunk just read is
//! copied into a buffer sized by what has arrived (never beyond `max_message`), released as soon
//! as the message completes. A complete unfragmented frame inside the chunk is unmasked in
//! place and delivered borrowed from it, with no copy.

use std::fmt;
use std::ops::ControlFlow;

/// Close codes the decoder fails with, and the common ones a server sends.
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The endpoint is going away (server shutdown).
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text message (or close reason) was not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A policy was violated.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A message was larger than the configured maximum.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server hit an unexpected condition.
    pub const INTERNAL_ERROR: u16 = 1011;
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Largest payload of a control frame (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: usize = 125;
/// Largest client frame header: 2 bytes, an 8-byte extended length and a 4-byte mask.
const MAX_HEADER: usize = 14;

/// A message delivered by the [`Decoder`], borrowed from the input chunk or from the decoder's
/// reassembly buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    /// A complete text message (valid UTF-8).
    Text(&'a str),
    /// A complete binary message.
    Binary(&'a [u8]),
    /// A ping; the caller answers it with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong (solicited or not).
    Pong(&'a [u8]),
    /// A close frame, with its code and reason when it has a payload. The decoder ignores any
    /// input after it.
    Close(Option<CloseFrame<'a>>),
}

/// The code and reason of a close frame (code already checked to be one a peer may send).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The close code.
    pub code: u16,
    /// The reason, possibly empty.
    pub reason: &'a str,
}

/// Why the connection must be closed, with the close code to send: 1002 (protocol error),
/// 1007 (invalid UTF-8) or 1009 (message too big); see [`close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsError {
    /// The close code to send.
    pub code: u16,
    /// What was wrong (short; fits a close frame's reason).
    pub reason: &'static str,
}

impl WsError {
    const fn protocol(reason: &'static str) -> Self {
        Self {
            code: close_code::PROTOCOL_ERROR,
            reason,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (close code {})", self.reason, self.code)
    }
}

impl std::error::Error for WsError {}

const INVALID_UTF8: WsError = WsError {
    code: close_code::INVALID_PAYLOAD,
    reason: "invalid UTF-8 in text message",
};
const TOO_BIG: WsError = WsError {
    code: close_code::MESSAGE_TOO_BIG,
    reason: "message too big",
};

/// Whether a peer may send `code` in a close frame (RFC 6455 §7.4: 1000-1003, 1007-1014 and
/// the registered/private range 3000-4999).
pub fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The data message being reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataKind {
    Text,
    Binary,
}

/// A frame whose header has been read and whose payload is still arriving.
#[derive(Debug, Clone, Copy)]
struct Partial {
    opcode: u8,
    fin: bool,
    mask: [u8; 4],
    /// Payload length.
    len: usize,
    /// Payload bytes not yet received.
    remaining: usize,
}

/// Where the decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Decoding.
    Open,
    /// A close frame was delivered or the caller stopped decoding: input is ignored.
    Closed,
    /// A protocol error occurred (its close code): input is refused.
    Failed(u16),
}

/// A parsed, checked frame header.
#[derive(Debug, Clone, Copy)]
struct Header {
    opcode: u8,
    fin: bool,
    mask: [u8; 4],
    len: usize,
}

/// Incremental decoder of client frames (server side of RFC 6455, no extensions).
///
/// Feed it each chunk read from the socket with [`Decoder::feed`]. Between messages it holds
/// no heap memory; see the module docs for what it buffers.
///
/// Receivers may be lenient about non-minimal payload length encodings (RFC 6455 §5.2 requires
/// senders to use the minimal one), and this one is: a 5-byte payload announced with a 16- or
/// 64-bit length is accepted, control frames included.
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    /// The message being reassembled (`[0..n]`), then the payload so far of a control frame
    /// that arrived split in the middle of it. Empty with no capacity when idle.
    buf: Vec<u8>,
    /// Length of the prefix of `buf` known to be complete valid UTF-8 (text messages).
    checked: usize,
    /// The frame whose payload is arriving.
    frame: Option<Partial>,
    /// The data message in progress (fragmented, or one frame that arrived split).
    message: Option<DataKind>,
    /// The start of a frame header that arrived split.
    head: [u8; MAX_HEADER],
    head_len: u8,
    phase: Phase,
}

impl Decoder {
    /// A decoder refusing messages (frames, or fragmented messages in total) of more than
    /// `max_message` payload bytes with close code 1009.
    pub fn new(max_message: usize) -> Self {
        Self {
            max_message,
            buf: Vec::new(),
            checked: 0,
            frame: None,
            message: None,
            head: [0; MAX_HEADER],
            head_len: 0,
            phase: Phase::Open,
        }
    }

    /// Decodes `input` (a chunk just read; unmasked in place), calling `on_message` for each
    /// complete message in order, and keeps only the unfinished tail.
    ///
    /// After an error the decoder is unusable: the caller closes the connection with
    /// `err.code`, and further calls fail again. `on_message` returning
    /// `ControlFlow::Break(())` stops decoding early: the rest of the chunk is dropped and
    /// further input ignored (the caller is closing), as after a [`Message::Close`].
    pub fn feed(
        &mut self,
        input: &mut [u8],
        on_message: &mut dyn FnMut(Message<'_>) -> ControlFlow<()>,
    ) -> Result<(), WsError> {
        match self.phase {
            Phase::Open => {}
            Phase::Closed => return Ok(()),
            Phase::Failed(code) => {
                return Err(WsError {
                    code,
                    reason: "the connection already failed",
                });
            }
        }
        match self.run(input, on_message) {
            Ok(ControlFlow::Continue(())) => Ok(()),
            Ok(ControlFlow::Break(())) => {
                self.stop(Phase::Closed);
                Ok(())
            }
            Err(err) => {
                self.stop(Phase::Failed(err.code));
                Err(err)
            }
        }
    }

    /// Bytes held for an unfinished frame or message (0 when idle).
    pub fn buffered(&self) -> usize {
        self.buf.len() + usize::from(self.head_len)
    }

    /// Heap bytes the decoder holds (the reassembly buffer's capacity; 0 when idle).
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Drops all partial state and enters `phase`.
    fn stop(&mut self, phase: Phase) {
        self.buf = Vec::new();
        self.checked = 0;
        self.frame = None;
        self.message = None;
        self.head_len = 0;
        self.phase = phase;
    }

    fn run(
        &mut self,
        input: &mut [u8],
        on_message: &mut dyn FnMut(Message<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, WsError> {
        let mut pos = 0;
        loop {
            // A frame whose payload is arriving: take what this chunk has of it.
            if let Some(mut partial) = self.frame {
                let n = partial.remaining.min(input.len() - pos);
                let data = &mut input[pos..pos + n];
                unmask(data, partial.mask, partial.len - partial.remaining);
                pos += n;
                self.append(data, &partial)?;
                partial.remaining -= n;
                if partial.remaining > 0 {
                    self.frame = Some(partial);
                    return Ok(ControlFlow::Continue(()));
                }
                self.frame = None;
                if self.finish(&partial, on_message)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
                continue;
            }
            if pos == input.len() {
                return Ok(ControlFlow::Continue(()));
            }

            // The next frame header, possibly completing one that arrived split.
            let header = if self.head_len == 0 {
                match self.parse_header(&input[pos..])? {
                    Some((header, used)) => {
                        pos += used;
                        header
                    }
                    None => {
                        // Shorter than a header: keep it (fewer than MAX_HEADER bytes).
                        let rest = &input[pos..];
                        self.head[..rest.len()].copy_from_slice(rest);
                        self.head_len = rest.len() as u8;
                        return Ok(ControlFlow::Continue(()));
                    }
                }
            } else {
                let have = usize::from(self.head_len);
                let take = (MAX_HEADER - have).min(input.len() - pos);
                let mut joined = self.head;
                joined[have..have + take].copy_from_slice(&input[pos..pos + take]);
                match self.parse_header(&joined[..have + take])? {
                    Some((header, used)) => {
                        pos += used - have;
                        self.head_len = 0;
                        header
                    }
                    None => {
                        self.head = joined;
                        self.head_len = (have + take) as u8;
                        return Ok(ControlFlow::Continue(()));
                    }
                }
            };

            let control = header.opcode >= OP_CLOSE;
            if header.len <= input.len() - pos
                && (control || (header.fin && self.message.is_none()))
            {
                // Complete and unfragmented: unmask in place and lend it out.
                let payload = &mut input[pos..pos + header.len];
                unmask(payload, header.mask, 0);
                pos += header.len;
                let message = match header.opcode {
                    OP_TEXT => {
                        Message::Text(std::str::from_utf8(payload).map_err(|_| INVALID_UTF8)?)
                    }
                    OP_BINARY => Message::Binary(payload),
                    opcode => control_message(opcode, payload)?,
                };
                let close = matches!(message, Message::Close(_));
                if on_message(message).is_break() || close {
                    return Ok(ControlFlow::Break(()));
                }
                continue;
            }

            // It ends past this chunk, or belongs to a fragmented message: buffer it.
            if !control && self.message.is_none() {
                self.message = Some(if header.opcode == OP_TEXT {
                    DataKind::Text
                } else {
                    DataKind::Binary
                });
                self.checked = 0;
            }
            self.frame = Some(Partial {
                opcode: header.opcode,
                fin: header.fin,
                mask: header.mask,
                len: header.len,
                remaining: header.len,
            });
        }
    }

    /// Parses and checks the frame header at the start of `bytes`: `Ok(None)` if `bytes` is
    /// too short to hold it (after checking what it has), else the header and its length.
    fn parse_header(&self, bytes: &[u8]) -> Result<Option<(Header, usize)>, WsError> {
        let (b0, b1) = match bytes {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(None),
        };
        let fin = b0 & 0x80 != 0;
        if b0 & 0x70 != 0 {
            return Err(WsError::protocol("reserved bits set"));
        }
        let opcode = b0 & 0x0F;
        match opcode {
            OP_CONTINUATION if self.message.is_none() => {
                return Err(WsError::protocol("continuation frame without a message"));
            }
            OP_TEXT | OP_BINARY if self.message.is_some() => {
                return Err(WsError::protocol("new message inside a fragmented message"));
            }
            OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
            OP_CLOSE | OP_PING | OP_PONG if !fin => {
                return Err(WsError::protocol("fragmented control frame"));
            }
            OP_CLOSE | OP_PING | OP_PONG => {}
            _ => return Err(WsError::protocol("reserved opcode")),
        }
        if b1 & 0x80 == 0 {
            return Err(WsError::protocol("unmasked client frame"));
        }
        let (len, mask_at) = match b1 & 0x7F {
            126 => match bytes.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match bytes.get(2..10) {
                Some(ext) => {
                    let mut be = [0; 8];
                    be.copy_from_slice(ext);
                    (u64::from_be_bytes(be), 10)
                }
                None => return Ok(None),
            },
            len7 => (u64::from(len7), 2),
        };
        if len >> 63 != 0 {
            return Err(WsError::protocol("64-bit length with the high bit set"));
        }
        // Checked as soon as the length is known, before the mask arrives.
        let len = if opcode >= OP_CLOSE {
            if len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(WsError::protocol("control frame payload over 125 bytes"));
            }
            len as usize
        } else {
            // The message so far is all of `buf` here (no control frame is half-read).
            let len = usize::try_from(len).map_err(|_| TOO_BIG)?;
            match self.buf.len().checked_add(len) {
                Some(total) if total <= self.max_message => len,
                _ => return Err(TOO_BIG),
            }
        };
        let Some(&[m0, m1, m2, m3]) = bytes.get(mask_at..mask_at + 4) else {
            return Ok(None);
        };
        Ok(Some((
            Header {
                opcode,
                fin,
                mask: [m0, m1, m2, m3],
                len,
            },
            mask_at + 4,
        )))
    }

    /// Appends unmasked payload bytes of `partial` (whose `remaining` does not count them yet)
    /// to the buffer, checking text as it comes.
    fn append(&mut self, data: &[u8], partial: &Partial) -> Result<(), WsError> {
        let needed = self.buf.len() + data.len();
        if needed > self.buf.capacity() {
            // Grow with what arrives (a declared length is not trusted to allocate), doubling
            // to stay linear, and never past the largest message.
            let cap = needed
                .max(self.buf.capacity().saturating_mul(2))
                .min(self.max_message);
            self.buf.reserve_exact(cap.max(needed) - self.buf.len());
        }
        self.buf.extend_from_slice(data);
        if partial.opcode < OP_CLOSE && self.message == Some(DataKind::Text) {
            match std::str::from_utf8(&self.buf[self.checked..]) {
                Ok(_) => self.checked = self.buf.len(),
                // Fail fast on an invalid sequence; an incomplete one may end in the next bytes.
                Err(err) if err.error_len().is_some() => return Err(INVALID_UTF8),
                Err(err) => self.checked += err.valid_up_to(),
            }
        }
        Ok(())
    }

    /// Handles a buffered frame whose payload is complete.
    fn finish(
        &mut self,
        partial: &Partial,
        on_message: &mut dyn FnMut(Message<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, WsError> {
        if partial.opcode >= OP_CLOSE {
            let start = self.buf.len() - partial.len;
            let message = control_message(partial.opcode, &self.buf[start..])?;
            let close = matches!(message, Message::Close(_));
            let flow = on_message(message);
            if close || flow.is_break() {
                return Ok(ControlFlow::Break(()));
            }
            if self.message.is_none() {
                self.buf = Vec::new();
            } else {
                self.buf.truncate(start);
            }
            return Ok(flow);
        }
        if !partial.fin {
            return Ok(ControlFlow::Continue(()));
        }
        let message = match self.message {
            Some(DataKind::Text) => {
                if self.checked != self.buf.len() {
                    return Err(INVALID_UTF8);
                }
                Message::Text(std::str::from_utf8(&self.buf).map_err(|_| INVALID_UTF8)?)
            }
            _ => Message::Binary(&self.buf),
        };
        let flow = on_message(message);
        self.buf = Vec::new();
        self.checked = 0;
        self.message = None;
        Ok(flow)
    }
}

/// The message of a complete control frame's payload (at most 125 bytes).
fn control_message(opcode: u8, payload: &[u8]) -> Result<Message<'_>, WsError> {
    match opcode {
        OP_PING => Ok(Message::Ping(payload)),
        OP_PONG => Ok(Message::Pong(payload)),
        _ => match payload {
            [] => Ok(Message::Close(None)),
            [_] => Err(WsError::protocol("close payload of 1 byte")),
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !is_valid_close_code(code) {
                    return Err(WsError::protocol("invalid close code"));
                }
                let reason = std::str::from_utf8(reason).map_err(|_| WsError {
                    code: close_code::INVALID_PAYLOAD,
                    reason: "invalid UTF-8 in close reason",
                })?;
                Ok(Message::Close(Some(CloseFrame { code, reason })))
            }
        },
    }
}

/// XORs `data` with `mask`, `data` starting at byte `offset` of the payload.
fn unmask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut m = mask;
    m.rotate_left(offset % 4);
    let wide = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let (words, rest) = data.as_chunks_mut::<8>();
    for word in words {
        *word = (u64::from_ne_bytes(*word) ^ wide).to_ne_bytes();
    }
    // `rest` starts a multiple of 8 bytes in, so the mask is in phase.
    for (i, byte) in rest.iter_mut().enumerate() {
        *byte ^= m[i % 4];
    }
}

/// The opcode of a server frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// A continuation of a fragmented message (see [`fragment_header`]).
    Continuation,
    /// A text message.
    Text,
    /// A binary message.
    Binary,
    /// A close frame.
    Close,
    /// A ping.
    Ping,
    /// A pong.
    Pong,
}

impl OpCode {
    fn bits(self) -> u8 {
        match self {
            Self::Continuation => OP_CONTINUATION,
            Self::Text => OP_TEXT,
            Self::Binary => OP_BINARY,
            Self::Close => OP_CLOSE,
            Self::Ping => OP_PING,
            Self::Pong => OP_PONG,
        }
    }
}

/// The header of an unmasked server frame with `fin` as given, on the stack: the bytes and how
/// many of them are used (2, 4 or 10).
pub fn fragment_header(opcode: OpCode, fin: bool, len: usize) -> ([u8; 10], usize) {
    let mut out = [0; 10];
    out[0] = if fin { 0x80 } else { 0 } | opcode.bits();
    let used = if len <= MAX_CONTROL_PAYLOAD {
        out[1] = len as u8;
        2
    } else if let Ok(len) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&len.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (out, used)
}

/// The header of a server frame (FIN set, never masked) of `len` payload bytes, on the stack:
/// the bytes and how many of them are used (2, 4 or 10) — for writing a header before a
/// shared payload.
pub fn header(opcode: OpCode, len: usize) -> ([u8; 10], usize) {
    fragment_header(opcode, true, len)
}

/// Appends the header of a server frame (FIN set, never masked) of `len` payload bytes to
/// `out` (2, 4 or 10 bytes).
pub fn write_header(out: &mut Vec<u8>, opcode: OpCode, len: usize) {
    let (bytes, used) = header(opcode, len);
    out.extend_from_slice(&bytes[..used]);
}

/// A whole server frame (FIN set, never masked).
pub fn frame(opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let (bytes, used) = header(opcode, payload.len());
    let mut out = Vec::with_capacity(used + payload.len());
    out.extend_from_slice(&bytes[..used]);
    out.extend_from_slice(payload);
    out
}

/// A close frame with `code` and `reason`, the reason cut at a char boundary to fit the
/// 125-byte control payload (123 bytes after the code).
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let reason = &reason[..reason.floor_char_boundary(MAX_CONTROL_PAYLOAD - 2)];
    let mut payload = [0; MAX_CONTROL_PAYLOAD];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    frame(OpCode::Close, &payload[..2 + reason.len()])
}
