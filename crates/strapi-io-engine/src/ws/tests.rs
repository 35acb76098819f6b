//! Decoder and encoder tests, grouped like the Autobahn test suite's sections, then
//! chunking-equivalence and fuzz properties.

use std::ops::ControlFlow;

use proptest::prelude::*;

use super::frame::{
    CloseFrame, Decoder, Message, OpCode, WsError, close_frame, fragment_header, frame, header,
    is_valid_close_code, write_header,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const FIN: u8 = 0x80;
const CONT: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

const MASK: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];
/// A limit larger than any test message.
const BIG: usize = 64 << 20;

/// An owned copy of a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

impl From<Message<'_>> for Owned {
    fn from(message: Message<'_>) -> Self {
        match message {
            Message::Text(s) => Self::Text(s.to_owned()),
            Message::Binary(b) => Self::Binary(b.to_vec()),
            Message::Ping(b) => Self::Ping(b.to_vec()),
            Message::Pong(b) => Self::Pong(b.to_vec()),
            Message::Close(c) => Self::Close(c.map(|c| (c.code, c.reason.to_owned()))),
        }
    }
}

fn text(s: &str) -> Owned {
    Owned::Text(s.to_owned())
}

/// How a test frame encodes its payload length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LenEnc {
    /// The shortest encoding.
    Minimal,
    /// The 16-bit extended length (when the length fits).
    Ext16,
    /// The 64-bit extended length.
    Ext64,
}

/// A client frame with first byte `b0` (FIN, RSV and opcode bits as given), masked with
/// `mask` if given.
fn raw(b0: u8, payload: &[u8], mask: Option<[u8; 4]>, enc: LenEnc) -> Vec<u8> {
    let mut out = vec![b0];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    match enc {
        LenEnc::Minimal if len <= 125 => out.push(mask_bit | len as u8),
        LenEnc::Minimal | LenEnc::Ext16 if len <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    match mask {
        Some(mask) => {
            out.extend_from_slice(&mask);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked client frame with first byte `b0`.
fn cf(b0: u8, payload: &[u8]) -> Vec<u8> {
    raw(b0, payload, Some(MASK), LenEnc::Minimal)
}

/// A close frame payload.
fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// The outcome of decoding a stream: the messages delivered and the first error.
type Outcome = (Vec<Owned>, Result<(), WsError>);

/// Feeds `bytes` to a fresh decoder limited to `max`, in chunks ending at `cuts` (offsets,
/// increasing), stopping at the first error. `after` sees the decoder and offset after each
/// successful feed.
fn decode_cuts(
    bytes: &[u8],
    max: usize,
    cuts: impl IntoIterator<Item = usize>,
    mut after: impl FnMut(&Decoder, usize),
) -> Outcome {
    let mut input = bytes.to_vec();
    let mut decoder = Decoder::new(max);
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([input.len()]) {
        let end = end.min(input.len());
        if end < start {
            continue;
        }
        let result = decoder.feed(&mut input[start..end], &mut |m| {
            out.push(Owned::from(m));
            ControlFlow::Continue(())
        });
        if let Err(err) = result {
            return (out, Err(err));
        }
        after(&decoder, end);
        start = end;
        if end == input.len() {
            break;
        }
    }
    (out, Ok(()))
}

/// Decodes `bytes` in one chunk.
fn decode_whole(bytes: &[u8], max: usize) -> Outcome {
    decode_cuts(bytes, max, [], |_, _| {})
}

/// Decodes `bytes` in chunks of `size` bytes.
fn decode_sized(bytes: &[u8], max: usize, size: usize) -> Outcome {
    decode_cuts(bytes, max, (size..bytes.len()).step_by(size), |_, _| {})
}

/// Decodes `bytes` whole, one byte at a time and in chunks of a few sizes, checks that all
/// agree, and returns the outcome.
fn decode(bytes: &[u8], max: usize) -> Outcome {
    let whole = decode_whole(bytes, max);
    let sizes: &[usize] = if bytes.len() > 100_000 {
        &[4096, 65_537]
    } else {
        &[1, 2, 3, 7, 64]
    };
    for &size in sizes {
        assert_eq!(
            decode_sized(bytes, max, size),
            whole,
            "chunks of {size} bytes"
        );
    }
    whole
}

/// Decodes the concatenation of `frames`.
fn decode_frames(frames: &[Vec<u8>], max: usize) -> Outcome {
    decode(&frames.concat(), max)
}

/// Feeds each of `frames` as its own chunk: the messages and, on error, which feed failed.
fn feed_each(frames: &[Vec<u8>], max: usize) -> (Vec<Owned>, Option<(usize, u16)>) {
    let mut decoder = Decoder::new(max);
    let mut out = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let mut chunk = frame.clone();
        let result = decoder.feed(&mut chunk, &mut |m| {
            out.push(Owned::from(m));
            ControlFlow::Continue(())
        });
        if let Err(err) = result {
            return (out, Some((i, err.code)));
        }
    }
    (out, None)
}

fn fails(outcome: Outcome, code: u16) -> Vec<Owned> {
    match outcome.1 {
        Err(err) => assert_eq!(err.code, code, "{err}"),
        Ok(()) => panic!("expected close code {code}, decoded {:?}", outcome.0),
    }
    outcome.0
}

fn succeeds(outcome: Outcome) -> Vec<Owned> {
    if let Err(err) = outcome.1 {
        panic!("unexpected error {err}, after {:?}", outcome.0);
    }
    outcome.0
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn ascii(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1.x: text and binary messages of various sizes
// ---------------------------------------------------------------------------------------------

const SIZES: [usize; 9] = [0, 1, 125, 126, 127, 128, 65_535, 65_536, 1 << 20];

#[test]
fn autobahn_1_1_text_sizes() {
    for len in SIZES {
        let s = ascii(len);
        let bytes = cf(FIN | TEXT, s.as_bytes());
        let header_len = match len {
            0..=125 => 6,
            126..=65_535 => 8,
            _ => 14,
        };
        assert_eq!(bytes.len(), header_len + len);
        assert_eq!(
            succeeds(decode(&bytes, BIG)),
            [Owned::Text(s)],
            "length {len}"
        );
    }
}

#[test]
fn autobahn_1_2_binary_sizes() {
    for len in SIZES {
        let b = pattern(len);
        let bytes = cf(FIN | BINARY, &b);
        assert_eq!(
            succeeds(decode(&bytes, BIG)),
            [Owned::Binary(b)],
            "length {len}"
        );
    }
}

#[test]
fn autobahn_1_several_messages_in_one_chunk() {
    let frames = [
        cf(FIN | TEXT, b"one"),
        cf(FIN | BINARY, &[1, 2, 3]),
        cf(FIN | TEXT, b""),
    ];
    assert_eq!(
        succeeds(decode_frames(&frames, BIG)),
        [text("one"), Owned::Binary(vec![1, 2, 3]), text("")]
    );
}

// ---------------------------------------------------------------------------------------------
// 2.x: pings and pongs
// ---------------------------------------------------------------------------------------------

#[test]
fn autobahn_2_pings() {
    // 2.1 empty, 2.2 text payload, 2.3 binary payload, 2.4 125 bytes.
    assert_eq!(
        succeeds(decode(&cf(FIN | PING, b""), BIG)),
        [Owned::Ping(vec![])]
    );
    assert_eq!(
        succeeds(decode(&cf(FIN | PING, b"Hello"), BIG)),
        [Owned::Ping(b"Hello".to_vec())]
    );
    let bin = vec![0x00, 0xFF, 0xFE, 0xFD, 0xFC, 0xFB, 0x00, 0xFF];
    assert_eq!(
        succeeds(decode(&cf(FIN | PING, &bin), BIG)),
        [Owned::Ping(bin)]
    );
    let p125 = pattern(125);
    assert_eq!(
        succeeds(decode(&cf(FIN | PING, &p125), BIG)),
        [Owned::Ping(p125)]
    );
    // 2.10/2.11: many pings in a row.
    let frames: Vec<_> = (0..10u8).map(|i| cf(FIN | PING, &[i])).collect();
    let expected: Vec<_> = (0..10u8).map(|i| Owned::Ping(vec![i])).collect();
    assert_eq!(succeeds(decode_frames(&frames, BIG)), expected);
}

#[test]
fn autobahn_2_5_ping_over_125_bytes_fails() {
    assert!(fails(decode(&cf(FIN | PING, &pattern(126)), BIG), 1002).is_empty());
    assert!(fails(decode(&cf(FIN | PONG, &pattern(200)), BIG), 1002).is_empty());
    assert!(fails(decode(&cf(FIN | CLOSE, &pattern(126)), BIG), 1002).is_empty());
    // Detected from the header, before the payload arrives.
    let bytes = cf(FIN | PING, &pattern(126));
    assert!(fails(decode_whole(&bytes[..8], BIG), 1002).is_empty());
}

#[test]
fn autobahn_2_fragmented_ping_fails() {
    let frames = [cf(PING, b"ping"), cf(FIN | CONT, b"ping")];
    assert!(fails(decode_frames(&frames, BIG), 1002).is_empty());
}

#[test]
fn autobahn_2_unsolicited_pong() {
    assert_eq!(
        succeeds(decode(&cf(FIN | PONG, b""), BIG)),
        [Owned::Pong(vec![])]
    );
    let frames = [cf(FIN | PONG, b"unsolicited"), cf(FIN | PING, b"solicited")];
    assert_eq!(
        succeeds(decode_frames(&frames, BIG)),
        [
            Owned::Pong(b"unsolicited".to_vec()),
            Owned::Ping(b"solicited".to_vec())
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// 3.x: reserved bits
// ---------------------------------------------------------------------------------------------

#[test]
fn autobahn_3_reserved_bits() {
    for rsv in 1..8u8 {
        for opcode in [TEXT, BINARY, PING, PONG, CLOSE] {
            let bad = cf(FIN | rsv << 4 | opcode, b"Hello");
            // After a valid message, which is delivered; a ping after the bad frame is not.
            let frames = [cf(FIN | TEXT, b"ok"), bad, cf(FIN | PING, b"")];
            assert_eq!(
                fails(decode_frames(&frames, BIG), 1002),
                [text("ok")],
                "rsv {rsv}"
            );
        }
    }
    // On a continuation frame.
    let frames = [cf(TEXT, b"a"), cf(FIN | 0x40 | CONT, b"b")];
    assert!(fails(decode_frames(&frames, BIG), 1002).is_empty());
}

// ---------------------------------------------------------------------------------------------
// 4.x: reserved opcodes
// ---------------------------------------------------------------------------------------------

#[test]
fn autobahn_4_reserved_opcodes() {
    for opcode in (3..=7).chain(11..=15) {
        for payload in [&b""[..], b"reserved"] {
            let frames = [
                cf(FIN | TEXT, b"ok"),
                cf(FIN | opcode, payload),
                cf(FIN | PING, b""),
            ];
            assert_eq!(
                fails(decode_frames(&frames, BIG), 1002),
                [text("ok")],
                "opcode {opcode}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5.x: fragmentation
// ---------------------------------------------------------------------------------------------

#[test]
fn autobahn_5_1_to_5_2_fragmented_control_fails() {
    for opcode in [PING, PONG, CLOSE] {
        let frames = [cf(opcode, b"frag"), cf(FIN | CONT, b"ment")];
        assert!(fails(decode_frames(&frames, BIG), 1002).is_empty());
    }
}

#[test]
fn autobahn_5_3_to_5_5_two_fragments() {
    let frames = [cf(TEXT, b"fragment1"), cf(FIN | CONT, b"fragment2")];
    assert_eq!(
        succeeds(decode_frames(&frames, BIG)),
        [text("fragment1fragment2")]
    );
    let frames = [cf(BINARY, &[1, 2]), cf(FIN | CONT, &[3])];
    assert_eq!(
        succeeds(decode_frames(&frames, BIG)),
        [Owned::Binary(vec![1, 2, 3])]
    );
    // Empty fragments.
    let frames = [cf(TEXT, b""), cf(CONT, b""), cf(FIN | CONT, b"")];
    assert_eq!(succeeds(decode_frames(&frames, BIG)), [text("")]);
}

#[test]
fn autobahn_5_6_to_5_8_ping_between_fragments() {
    let frames = [
        cf(TEXT, b"fragment1"),
        cf(FIN | PING, b"ping"),
        cf(FIN | CONT, b"fragment2"),
    ];
    assert_eq!(
        succeeds(decode_frames(&frames, BIG)),
        [Owned::Ping(b"ping".to_vec()), text("fragment1fragment2")]
    );
    // Each frame in its own chunk, and the ping split byte by byte (5.8): the buffered ping is
    // delivered and the message keeps going.
    let (out, err) = feed_each(&frames, BIG);
    assert_eq!(err, None);
    assert_eq!(
        out,
        [Owned::Ping(b"ping".to_vec()), text("fragment1fragment2")]
    );
}

#[test]
fn autobahn_5_9_to_5_14_continuation_without_message_fails() {
    for frames in [
        vec![cf(FIN | CONT, b"fragment2"), cf(FIN | TEXT, b"fragment1")],
        vec![cf(CONT, b"fragment2"), cf(FIN | TEXT, b"fragment1")],
        vec![
            cf(CONT, b"fragment1"),
            cf(FIN | TEXT, b"fragment2"),
            cf(FIN | CONT, b"fragment3"),
        ],
    ] {
        assert!(fails(decode_frames(&frames, BIG), 1002).is_empty());
    }
    // After a complete message, a continuation has nothing to continue.
    let frames = [cf(TEXT, b"a"), cf(FIN | CONT, b"b"), cf(FIN | CONT, b"c")];
    assert_eq!(fails(decode_frames(&frames, BIG), 1002), [text("ab")]);
}

#[test]
fn autobahn_5_15_to_5_18_new_message_during_fragmentation_fails() {
    for opcode in [TEXT, BINARY] {
        for fin in [0, FIN] {
            let frames = [cf(TEXT, b"fragment1"), cf(fin | opcode, b"fragment2")];
            assert!(fails(decode_frames(&frames, BIG), 1002).is_empty());
        }
    }
}

#[test]
fn autobahn_5_19_to_5_20_many_fragments_with_pings() {
    let mut frames = Vec::new();
    let mut expected = Vec::new();
    for i in 0..5u8 {
        let opcode = if i == 0 { TEXT } else { CONT };
        frames.push(cf(
            if i == 4 { FIN | opcode } else { opcode },
            format!("fragment{i}").as_bytes(),
        ));
        if i < 4 {
            frames.push(cf(FIN | PING, &[i]));
            expected.push(Owned::Ping(vec![i]));
        }
    }
    expected.push(text("fragment0fragment1fragment2fragment3fragment4"));
    assert_eq!(succeeds(decode_frames(&frames, BIG)), expected);
    let (out, err) = feed_each(&frames, BIG);
    assert_eq!((out, err), (expected, None));
}

#[test]
fn autobahn_5_many_fragments_of_one_byte() {
    let payload = pattern(1000);
    let mut frames = vec![cf(BINARY, &payload[..1])];
    frames.extend(payload[1..999].iter().map(|b| cf(CONT, &[*b])));
    frames.push(cf(FIN | CONT, &payload[999..]));
    assert_eq!(
        succeeds(decode_frames(&frames, BIG)),
        [Owned::Binary(payload)]
    );
}

// ---------------------------------------------------------------------------------------------
// 6.x: UTF-8
// ---------------------------------------------------------------------------------------------

const VALID_UTF8: [&str; 5] = [
    "Hello-µ@ßöäüàá-UTF-8!!",
    "κόσμε",
    "\u{0}\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}",
    "\u{D7FF}\u{E000}\u{FFFD}",
    "🎉 emoji 𝄞",
];

const INVALID_UTF8: [&[u8]; 14] = [
    // Overlong encodings of '/'.
    b"\xC0\xAF",
    b"\xE0\x80\xAF",
    b"\xF0\x80\x80\xAF",
    // Overlong NUL.
    b"\xC0\x80",
    // Surrogates.
    b"\xED\xA0\x80",
    b"\xED\xBF\xBF",
    // Above U+10FFFF.
    b"\xF4\x90\x80\x80",
    b"\xF7\xBF\xBF\xBF",
    // Bytes that never appear.
    b"\xFE",
    b"\xFF",
    // A lone continuation byte.
    b"\x80",
    // A lead byte followed by a non-continuation.
    b"\xC3\x28",
    // κόσμε with U+10FFFF+1 in the middle (Autobahn 6.4.1's sample).
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64",
    // A truncated sequence at the end.
    b"abc\xE2\x82",
];

#[test]
fn autobahn_6_valid_utf8() {
    for s in VALID_UTF8 {
        assert_eq!(
            succeeds(decode(&cf(FIN | TEXT, s.as_bytes()), BIG)),
            [text(s)]
        );
        // One byte per fragment: sequences split across fragments.
        let bytes = s.as_bytes();
        let mut frames = vec![cf(TEXT, &bytes[..1])];
        frames.extend(bytes[1..].iter().map(|b| cf(CONT, &[*b])));
        frames.push(cf(FIN | CONT, b""));
        assert_eq!(succeeds(decode_frames(&frames, BIG)), [text(s)], "{s:?}");
    }
}

#[test]
fn autobahn_6_valid_sequence_split_across_fragments() {
    // € is E2 82 AC.
    let frames = [
        cf(TEXT, b"price: \xE2"),
        cf(CONT, b"\x82"),
        cf(FIN | CONT, b"\xAC!"),
    ];
    let (out, err) = feed_each(&frames, BIG);
    assert_eq!(err, None);
    assert_eq!(out, [text("price: €!")]);
}

#[test]
fn autobahn_6_invalid_utf8() {
    for bad in INVALID_UTF8 {
        let frames = [
            cf(FIN | TEXT, b"ok"),
            cf(FIN | TEXT, bad),
            cf(FIN | PING, b""),
        ];
        assert_eq!(
            fails(decode_frames(&frames, BIG), 1007),
            [text("ok")],
            "{bad:x?}"
        );
        // As a fragmented message.
        let frames = [cf(TEXT, b"ab"), cf(FIN | CONT, bad)];
        assert!(
            fails(decode_frames(&frames, BIG), 1007).is_empty(),
            "{bad:x?}"
        );
        // Binary messages are not checked.
        assert_eq!(
            succeeds(decode(&cf(FIN | BINARY, bad), BIG)),
            [Owned::Binary(bad.to_vec())]
        );
    }
}

/// The index of the first fragment after which the message so far holds an invalid (not
/// merely incomplete) sequence, or the last fragment.
fn first_bad_fragment(fragments: &[&[u8]]) -> usize {
    let mut so_far = Vec::new();
    for (i, f) in fragments.iter().enumerate() {
        so_far.extend_from_slice(f);
        if let Err(err) = std::str::from_utf8(&so_far)
            && err.error_len().is_some()
        {
            return i;
        }
    }
    fragments.len() - 1
}

#[test]
fn autobahn_6_invalid_sequence_fails_at_the_right_fragment() {
    // Autobahn 6.4.1: the fragment completing the invalid code point fails at once, the third
    // fragment is never needed.
    let frames = [
        cf(TEXT, "κόσμε".as_bytes()),
        cf(CONT, b"\xF4\x90\x80\x80"),
        cf(FIN | CONT, b"edited"),
    ];
    let (out, err) = feed_each(&frames, BIG);
    assert_eq!((out, err), (vec![], Some((1, 1007))));
    // 6.4.2: the invalid byte is the first of the second fragment (F4 90 cannot start a
    // valid sequence).
    let frames = [
        cf(TEXT, b"\xce\xba\xF4"),
        cf(CONT, b"\x90\x80\x80"),
        cf(FIN | CONT, b"x"),
    ];
    assert_eq!(feed_each(&frames, BIG).1, Some((1, 1007)));
    // Every split of every invalid sample into three fragments.
    for bad in INVALID_UTF8 {
        let mut message = b"ab".to_vec();
        message.extend_from_slice(bad);
        message.extend_from_slice(b"cd");
        for i in 0..=message.len() {
            for j in i..=message.len() {
                let parts: [&[u8]; 3] = [&message[..i], &message[i..j], &message[j..]];
                let frames = [
                    cf(TEXT, parts[0]),
                    cf(CONT, parts[1]),
                    cf(FIN | CONT, parts[2]),
                ];
                let expected = first_bad_fragment(&parts);
                assert_eq!(
                    feed_each(&frames, BIG),
                    (vec![], Some((expected, 1007))),
                    "{bad:x?} split at {i}, {j}"
                );
            }
        }
    }
}

#[test]
fn autobahn_6_invalid_utf8_fails_fast_within_a_frame() {
    // 6.4.3/6.4.4: one frame sent in chops; the chop with the invalid sequence fails at once,
    // before the frame is complete.
    let mut payload = "κόσμε".as_bytes().to_vec();
    payload.extend_from_slice(b"\xF4\x90\x80\x80");
    payload.extend_from_slice(b"edited");
    let bytes = cf(FIN | TEXT, &payload);
    let cut1 = 6 + "κόσμε".len();
    let cut2 = cut1 + 4;
    let chops = [
        bytes[..cut1].to_vec(),
        bytes[cut1..cut2].to_vec(),
        bytes[cut2..].to_vec(),
    ];
    let (out, err) = feed_each(&chops, BIG);
    assert_eq!((out, err), (vec![], Some((1, 1007))));
}

#[test]
fn autobahn_6_truncated_sequence_at_message_end_fails_on_the_last_fragment() {
    let frames = [cf(TEXT, b"abc\xE2"), cf(CONT, b"\x82"), cf(FIN | CONT, b"")];
    assert_eq!(feed_each(&frames, BIG), (vec![], Some((2, 1007))));
}

// ---------------------------------------------------------------------------------------------
// 7.x: close
// ---------------------------------------------------------------------------------------------

#[test]
fn autobahn_7_close() {
    // 7.3.1 empty payload.
    assert_eq!(
        succeeds(decode(&cf(FIN | CLOSE, b""), BIG)),
        [Owned::Close(None)]
    );
    // 7.3.3 code only.
    assert_eq!(
        succeeds(decode(&cf(FIN | CLOSE, &close_payload(1000, b"")), BIG)),
        [Owned::Close(Some((1000, String::new())))]
    );
    // 7.3.4 code and reason; 7.3.5 a 123-byte reason.
    assert_eq!(
        succeeds(decode(
            &cf(FIN | CLOSE, &close_payload(1001, "bye κ".as_bytes())),
            BIG
        )),
        [Owned::Close(Some((1001, "bye κ".to_owned())))]
    );
    let reason = ascii(123);
    assert_eq!(
        succeeds(decode(
            &cf(FIN | CLOSE, &close_payload(4999, reason.as_bytes())),
            BIG
        )),
        [Owned::Close(Some((4999, reason)))]
    );
    // 7.3.6 a 124-byte reason makes a 126-byte control payload.
    assert!(
        fails(
            decode(&cf(FIN | CLOSE, &close_payload(1000, &pattern(124))), BIG),
            1002
        )
        .is_empty()
    );
}

#[test]
fn autobahn_7_1_input_after_close_is_ignored() {
    let frames = [
        cf(FIN | TEXT, b"before"),
        cf(FIN | CLOSE, &close_payload(1000, b"")),
        cf(FIN | TEXT, b"after"),
        // Even garbage.
        vec![0xFF; 20],
    ];
    assert_eq!(
        succeeds(decode_frames(&frames, BIG)),
        [text("before"), Owned::Close(Some((1000, String::new())))]
    );
    // Also when the close arrives split and the rest in later chunks.
    let (out, err) = feed_each(&frames, BIG);
    assert_eq!(err, None);
    assert_eq!(out.len(), 2);
}

#[test]
fn autobahn_7_1_byte_payload_fails() {
    assert!(fails(decode(&cf(FIN | CLOSE, &[0x03]), BIG), 1002).is_empty());
}

#[test]
fn autobahn_7_7_valid_close_codes() {
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000,
        4999,
    ] {
        assert!(is_valid_close_code(code));
        assert_eq!(
            succeeds(decode(&cf(FIN | CLOSE, &close_payload(code, b"r")), BIG)),
            [Owned::Close(Some((code, "r".to_owned())))],
            "code {code}"
        );
    }
}

#[test]
fn autobahn_7_9_invalid_close_codes() {
    for code in [
        0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65_535,
    ] {
        assert!(!is_valid_close_code(code));
        assert!(
            fails(
                decode(&cf(FIN | CLOSE, &close_payload(code, b"")), BIG),
                1002
            )
            .is_empty(),
            "code {code}"
        );
    }
}

#[test]
fn autobahn_7_5_invalid_utf8_reason() {
    for bad in INVALID_UTF8 {
        let payload = close_payload(1000, bad);
        assert!(
            fails(decode(&cf(FIN | CLOSE, &payload), BIG), 1007).is_empty(),
            "{bad:x?}"
        );
    }
}

#[test]
fn close_inside_a_fragmented_message() {
    let frames = [
        cf(TEXT, b"half"),
        cf(FIN | CLOSE, &close_payload(1000, b"")),
        cf(FIN | CONT, b"rest"),
    ];
    assert_eq!(
        succeeds(decode_frames(&frames, BIG)),
        [Owned::Close(Some((1000, String::new())))]
    );
}

// ---------------------------------------------------------------------------------------------
// 9.x: limits
// ---------------------------------------------------------------------------------------------

#[test]
fn autobahn_9_message_of_exactly_max_is_accepted() {
    for max in [0, 1, 125, 1000, 70_000] {
        let s = ascii(max);
        assert_eq!(
            succeeds(decode(&cf(FIN | TEXT, s.as_bytes()), max)),
            [Owned::Text(s.clone())]
        );
        // Fragmented.
        let half = max / 2;
        let frames = [
            cf(BINARY, &s.as_bytes()[..half]),
            cf(FIN | CONT, &s.as_bytes()[half..]),
        ];
        assert_eq!(
            succeeds(decode_frames(&frames, max)),
            [Owned::Binary(s.into_bytes())]
        );
    }
}

#[test]
fn autobahn_9_message_over_max_fails_from_the_header() {
    for max in [0, 1, 125, 1000, 70_000] {
        let bytes = cf(FIN | BINARY, &pattern(max + 1));
        assert!(fails(decode(&bytes, max), 1009).is_empty());
        // The header alone is enough, nothing is buffered.
        let header_len = bytes.len() - (max + 1);
        assert!(fails(decode_whole(&bytes[..header_len], max), 1009).is_empty());
        // Fragmented: the fragment taking the total over fails at its header.
        let frames = [
            cf(TEXT, ascii(max / 2).as_bytes()),
            cf(CONT, ascii(max - max / 2).as_bytes()),
            cf(FIN | CONT, b"x"),
        ];
        assert!(fails(decode_frames(&frames, max), 1009).is_empty());
        let mut decoder = Decoder::new(max);
        let mut out = Vec::new();
        let mut sink = |m: Message<'_>| {
            out.push(Owned::from(m));
            ControlFlow::Continue(())
        };
        decoder.feed(&mut frames[0].clone(), &mut sink).unwrap();
        decoder.feed(&mut frames[1].clone(), &mut sink).unwrap();
        let err = decoder
            .feed(&mut frames[2][..2].to_vec(), &mut sink)
            .unwrap_err();
        assert_eq!(err.code, 1009);
    }
}

#[test]
fn huge_declared_lengths() {
    // The top bit of a 64-bit length must be clear.
    let mut bytes = vec![FIN | BINARY, 0x80 | 127];
    bytes.extend_from_slice(&(1u64 << 63).to_be_bytes());
    assert!(fails(decode(&bytes, BIG), 1002).is_empty());
    bytes[2] = 0xFF;
    assert!(fails(decode(&bytes, usize::MAX), 1002).is_empty());
    // A huge but legal length is too big, detected before the mask arrives.
    let mut bytes = vec![FIN | BINARY, 0x80 | 127];
    bytes.extend_from_slice(&(1u64 << 62).to_be_bytes());
    bytes.extend_from_slice(&MASK);
    assert!(fails(decode(&bytes, BIG), 1009).is_empty());
    // Without a limit it is awaited (on 64-bit targets), with nothing allocated for it.
    if usize::BITS < 64 {
        return;
    }
    let mut decoder = Decoder::new(usize::MAX);
    decoder
        .feed(&mut bytes.clone(), &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!((decoder.buffered(), decoder.allocated()), (0, 0));
    let mut more = [0u8; 100];
    decoder
        .feed(&mut more, &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(decoder.buffered(), 100);
    assert!(decoder.allocated() < 1000);
}

#[test]
fn unlimited_max_does_not_overflow() {
    let frames = [cf(BINARY, b"ab"), cf(FIN | CONT, b"cd")];
    assert_eq!(
        succeeds(decode_frames(&frames, usize::MAX)),
        [Owned::Binary(b"abcd".to_vec())]
    );
    let frames = [
        cf(BINARY, b"ab"),
        cf(FIN | PING, b"p"),
        cf(FIN | CONT, b"cd"),
    ];
    assert_eq!(
        succeeds(decode_frames(&frames, usize::MAX)),
        [Owned::Ping(b"p".to_vec()), Owned::Binary(b"abcd".to_vec())]
    );
}

// ---------------------------------------------------------------------------------------------
// Masking and length encodings
// ---------------------------------------------------------------------------------------------

#[test]
fn unmasked_frames_fail() {
    for b0 in [
        FIN | TEXT,
        FIN | BINARY,
        FIN | PING,
        FIN | PONG,
        FIN | CLOSE,
        TEXT,
    ] {
        let bytes = raw(b0, b"Hello", None, LenEnc::Minimal);
        assert!(fails(decode(&bytes, BIG), 1002).is_empty());
        // Detected from the first two bytes.
        assert!(fails(decode_whole(&bytes[..2], BIG), 1002).is_empty());
    }
}

#[test]
fn masking_with_various_keys() {
    let keys = [[0; 4], [0xFF; 4], [1, 2, 3, 4], [0x80, 0, 0x7F, 0xAA], MASK];
    for key in keys {
        for len in [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 200] {
            let payload = pattern(len);
            let bytes = raw(FIN | BINARY, &payload, Some(key), LenEnc::Minimal);
            assert_eq!(
                succeeds(decode(&bytes, BIG)),
                [Owned::Binary(payload.clone())]
            );
            // The payload split at every offset (so the mask restarts out of phase).
            for cut in 0..=bytes.len() {
                assert_eq!(
                    decode_cuts(&bytes, BIG, [cut], |_, _| {}),
                    (vec![Owned::Binary(payload.clone())], Ok(())),
                    "key {key:?}, len {len}, cut {cut}"
                );
            }
        }
    }
}

#[test]
fn non_minimal_lengths_are_accepted() {
    for enc in [LenEnc::Ext16, LenEnc::Ext64] {
        let bytes = raw(FIN | TEXT, b"abc", Some(MASK), enc);
        assert_eq!(succeeds(decode(&bytes, BIG)), [text("abc")]);
        let bytes = raw(FIN | PING, b"p", Some(MASK), enc);
        assert_eq!(succeeds(decode(&bytes, BIG)), [Owned::Ping(b"p".to_vec())]);
        let bytes = raw(FIN | BINARY, &pattern(300), Some(MASK), enc);
        assert_eq!(succeeds(decode(&bytes, BIG)), [Owned::Binary(pattern(300))]);
    }
}

// ---------------------------------------------------------------------------------------------
// Decoder state: zero copy, memory, errors, early stop
// ---------------------------------------------------------------------------------------------

#[test]
fn complete_frames_are_borrowed_from_the_input() {
    let frames = [
        cf(FIN | TEXT, b"text"),
        cf(FIN | BINARY, &pattern(300)),
        cf(FIN | PING, b"ping"),
        cf(FIN | PONG, b"pong"),
        cf(FIN | CLOSE, &close_payload(1000, b"bye")),
    ];
    let mut input = frames.concat();
    let range = input.as_ptr_range();
    let (start, end) = (range.start as usize, range.end as usize);
    let inside = |p: *const u8, len: usize| (p as usize) >= start && (p as usize) + len <= end;
    let mut decoder = Decoder::new(BIG);
    let mut seen = 0;
    decoder
        .feed(&mut input, &mut |m| {
            let borrowed = match m {
                Message::Text(s) => inside(s.as_ptr(), s.len()),
                Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => {
                    inside(b.as_ptr(), b.len())
                }
                Message::Close(c) => {
                    let c = c.expect("a close payload");
                    inside(c.reason.as_ptr(), c.reason.len())
                }
            };
            assert!(borrowed, "{m:?} was copied");
            seen += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(seen, 5);
    // Unmasked in place.
    assert_eq!(&input[6..10], b"text");
    assert_eq!(decoder.buffered(), 0);
    assert_eq!(decoder.allocated(), 0);
}

#[test]
fn memory_is_released_after_each_message() {
    let mut decoder = Decoder::new(BIG);
    let mut count = 0;
    let mut sink = |_: Message<'_>| {
        count += 1;
        ControlFlow::Continue(())
    };
    // A header split in two: held inline, nothing allocated.
    let bytes = cf(FIN | BINARY, &pattern(1000));
    decoder.feed(&mut bytes[..3].to_vec(), &mut sink).unwrap();
    assert_eq!(decoder.buffered(), 3);
    assert_eq!(decoder.allocated(), 0);
    // Part of the payload: buffered.
    decoder
        .feed(&mut bytes[3..500].to_vec(), &mut sink)
        .unwrap();
    assert_eq!(decoder.buffered(), 500 - 8);
    assert!(decoder.allocated() >= 492 && decoder.allocated() <= 1000);
    decoder.feed(&mut bytes[500..].to_vec(), &mut sink).unwrap();
    assert_eq!((decoder.buffered(), decoder.allocated()), (0, 0));
    // A fragmented message with a split ping in the middle.
    let frames = [
        cf(TEXT, b"abc"),
        cf(FIN | PING, b"ping"),
        cf(FIN | CONT, b"def"),
    ];
    decoder.feed(&mut frames[0].clone(), &mut sink).unwrap();
    assert_eq!(decoder.buffered(), 3);
    decoder
        .feed(&mut frames[1][..8].to_vec(), &mut sink)
        .unwrap();
    assert_eq!(decoder.buffered(), 5);
    decoder
        .feed(&mut frames[1][8..].to_vec(), &mut sink)
        .unwrap();
    assert_eq!(decoder.buffered(), 3);
    decoder.feed(&mut frames[2].clone(), &mut sink).unwrap();
    assert_eq!((decoder.buffered(), decoder.allocated()), (0, 0));
    assert_eq!(count, 3);
}

#[test]
fn allocation_follows_received_bytes_not_declared_length() {
    let mut decoder = Decoder::new(BIG);
    let bytes = cf(FIN | BINARY, &pattern(1 << 20));
    decoder
        .feed(&mut bytes[..100].to_vec(), &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(decoder.allocated() < 1000, "{}", decoder.allocated());
}

#[test]
fn allocation_never_exceeds_max_message() {
    let max = 10_000;
    let payload = pattern(max);
    let mut frames = vec![cf(BINARY, &payload[..1])];
    frames.extend(payload[1..max - 1].iter().map(|b| cf(CONT, &[*b])));
    frames.push(cf(FIN | CONT, &payload[max - 1..]));
    let mut decoder = Decoder::new(max);
    let mut peak = 0;
    let mut out = Vec::new();
    for frame in &frames {
        decoder
            .feed(&mut frame.clone(), &mut |m| {
                out.push(Owned::from(m));
                ControlFlow::Continue(())
            })
            .unwrap();
        peak = peak.max(decoder.allocated());
    }
    assert_eq!(out, [Owned::Binary(payload)]);
    assert!(peak <= max, "peak {peak}");
}

#[test]
fn decoder_is_small() {
    assert!(size_of::<Decoder>() <= 96, "{}", size_of::<Decoder>());
}

#[test]
fn decoder_fails_again_after_an_error() {
    let mut decoder = Decoder::new(BIG);
    let mut sink = |_: Message<'_>| ControlFlow::Continue(());
    let err = decoder
        .feed(&mut cf(FIN | 0x3, b""), &mut sink)
        .unwrap_err();
    assert_eq!(err.code, 1002);
    assert!(!err.to_string().is_empty());
    let again = decoder
        .feed(&mut cf(FIN | TEXT, b"ok"), &mut sink)
        .unwrap_err();
    assert_eq!(again.code, 1002);
    // A 1009 stays a 1009.
    let mut decoder = Decoder::new(1);
    assert_eq!(
        decoder
            .feed(&mut cf(FIN | TEXT, b"ab"), &mut sink)
            .unwrap_err()
            .code,
        1009
    );
    assert_eq!(
        decoder
            .feed(&mut cf(FIN | TEXT, b"a"), &mut sink)
            .unwrap_err()
            .code,
        1009
    );
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn break_stops_decoding() {
    let frames = [
        cf(FIN | TEXT, b"one"),
        cf(FIN | TEXT, b"two"),
        cf(FIN | TEXT, b"three"),
    ];
    let mut input = frames.concat();
    let mut decoder = Decoder::new(BIG);
    let mut out = Vec::new();
    decoder
        .feed(&mut input, &mut |m| {
            out.push(Owned::from(m));
            ControlFlow::Break(())
        })
        .unwrap();
    assert_eq!(out, [text("one")]);
    // Further input is ignored.
    decoder
        .feed(&mut cf(FIN | TEXT, b"four"), &mut |m| {
            out.push(Owned::from(m));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(out, [text("one")]);
    assert_eq!(decoder.buffered(), 0);
    // Also when breaking on a buffered message.
    let mut decoder = Decoder::new(BIG);
    let bytes = [cf(FIN | BINARY, &pattern(10)), cf(FIN | TEXT, b"next")].concat();
    let mut count = 0;
    let mut sink = |_: Message<'_>| {
        count += 1;
        ControlFlow::Break(())
    };
    decoder.feed(&mut bytes[..9].to_vec(), &mut sink).unwrap();
    decoder.feed(&mut bytes[9..].to_vec(), &mut sink).unwrap();
    assert_eq!(count, 1);
    assert_eq!((decoder.buffered(), decoder.allocated()), (0, 0));
}

#[test]
fn errors_display_their_code() {
    let (_, err) = decode(&cf(FIN | TEXT, b"\xFF"), BIG);
    let err = err.unwrap_err();
    assert_eq!(err.code, 1007);
    assert!(err.to_string().contains("1007"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

/// Decodes one unmasked server frame: (FIN, opcode, payload), checking the length encoding is
/// minimal.
fn parse_server_frame(bytes: &[u8]) -> (bool, u8, &[u8]) {
    assert_eq!(bytes[0] & 0x70, 0, "reserved bits");
    assert_eq!(bytes[1] & 0x80, 0, "server frames are not masked");
    let (len, at) = match bytes[1] & 0x7F {
        126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
        127 => (
            u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
            10,
        ),
        len => (usize::from(len), 2),
    };
    let minimal_at = match len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    assert_eq!(at, minimal_at, "minimal length encoding");
    assert_eq!(bytes.len(), at + len);
    (bytes[0] & 0x80 != 0, bytes[0] & 0x0F, &bytes[at..])
}

/// The client version of a server frame (masked), for feeding the decoder.
fn to_client(server: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let (fin, opcode, payload) = parse_server_frame(server);
    raw(
        if fin { FIN } else { 0 } | opcode,
        payload,
        Some(mask),
        LenEnc::Minimal,
    )
}

#[test]
fn header_layout_follows_the_rfc() {
    let cases: [(usize, &[u8]); 6] = [
        (0, &[0x82, 0]),
        (125, &[0x82, 125]),
        (126, &[0x82, 126, 0, 126]),
        (65_535, &[0x82, 126, 0xFF, 0xFF]),
        (65_536, &[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]),
        (1 << 32, &[0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0]),
    ];
    for (len, expected) in cases {
        let (bytes, used) = header(OpCode::Binary, len);
        assert_eq!(&bytes[..used], expected, "length {len}");
        let mut out = vec![0xEE];
        write_header(&mut out, OpCode::Binary, len);
        assert_eq!(&out[1..], expected);
    }
    for (opcode, bits) in [
        (OpCode::Continuation, 0x0),
        (OpCode::Text, 0x1),
        (OpCode::Binary, 0x2),
        (OpCode::Close, 0x8),
        (OpCode::Ping, 0x9),
        (OpCode::Pong, 0xA),
    ] {
        assert_eq!(header(opcode, 3).0[0], 0x80 | bits);
        assert_eq!(fragment_header(opcode, false, 3).0[0], bits);
    }
}

#[test]
fn frames_round_trip_through_the_decoder() {
    for len in [0, 125, 126, 65_535, 65_536] {
        let payload = pattern(len);
        let bin = frame(OpCode::Binary, &payload);
        assert_eq!(parse_server_frame(&bin), (true, 0x2, &payload[..]));
        assert_eq!(
            succeeds(decode(&to_client(&bin, MASK), BIG)),
            [Owned::Binary(payload.clone())]
        );
        let s = ascii(len);
        let txt = frame(OpCode::Text, s.as_bytes());
        assert_eq!(
            succeeds(decode(&to_client(&txt, [9, 8, 7, 6]), BIG)),
            [Owned::Text(s)]
        );
        // A header written before a separate payload makes the same frame.
        let (h, used) = header(OpCode::Binary, len);
        assert_eq!([&h[..used], &payload[..]].concat(), bin);
    }
    let ping = frame(OpCode::Ping, b"p");
    assert_eq!(
        succeeds(decode(&to_client(&ping, MASK), BIG)),
        [Owned::Ping(b"p".to_vec())]
    );
    let pong = frame(OpCode::Pong, b"");
    assert_eq!(
        succeeds(decode(&to_client(&pong, MASK), BIG)),
        [Owned::Pong(vec![])]
    );
    // Fragments.
    let (h1, n1) = fragment_header(OpCode::Text, false, 2);
    let (h2, n2) = fragment_header(OpCode::Continuation, true, 1);
    let f1 = [&h1[..n1], b"ab"].concat();
    let f2 = [&h2[..n2], b"c"].concat();
    let client = [to_client(&f1, MASK), to_client(&f2, MASK)].concat();
    assert_eq!(succeeds(decode(&client, BIG)), [text("abc")]);
}

#[test]
fn close_frames() {
    let f = close_frame(1000, "");
    assert_eq!(f, [0x88, 2, 0x03, 0xE8]);
    let f = close_frame(1001, "going away");
    assert_eq!(
        parse_server_frame(&f),
        (true, 0x8, &close_payload(1001, b"going away")[..])
    );
    assert_eq!(
        succeeds(decode(&to_client(&f, MASK), BIG)),
        [Owned::Close(Some((1001, "going away".to_owned())))]
    );
    // A long reason is cut to 123 bytes.
    let long = ascii(200);
    let f = close_frame(1000, &long);
    assert_eq!(f.len(), 2 + 125);
    assert_eq!(&f[4..], &long.as_bytes()[..123]);
    // At a char boundary: 'é' is 2 bytes, 61 of them fit.
    let accents = "é".repeat(100);
    let f = close_frame(4000, &accents);
    assert_eq!(f[1], 2 + 122);
    assert_eq!(
        succeeds(decode(&to_client(&f, MASK), BIG)),
        [Owned::Close(Some((4000, "é".repeat(61))))]
    );
    // 4-byte chars: 30 fit in 123 bytes.
    let f = close_frame(1000, &"🎉".repeat(40));
    assert_eq!(f[1], 2 + 120);
}

#[test]
fn close_frame_struct_fields() {
    let payload = close_payload(3000, b"why");
    let mut input = cf(FIN | CLOSE, &payload);
    let mut got = None;
    Decoder::new(BIG)
        .feed(&mut input, &mut |m| {
            if let Message::Close(c) = m {
                got = c.map(|c: CloseFrame<'_>| (c.code, c.reason.to_owned()));
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(got, Some((3000, "why".to_owned())));
}

// ---------------------------------------------------------------------------------------------
// Properties: chunking equivalence and fuzzing
// ---------------------------------------------------------------------------------------------

/// One message of a generated stream.
#[derive(Debug, Clone)]
enum Item {
    /// A text or binary message, cut at `cuts` (offsets, possibly repeated: empty fragments),
    /// with control messages after some fragments (index of the fragment they follow).
    Data {
        message: Owned,
        cuts: Vec<usize>,
        controls: Vec<(usize, Owned)>,
    },
    /// A control message on its own.
    Control(Owned),
}

fn control_strategy() -> impl Strategy<Value = Owned> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..=125).prop_map(Owned::Ping),
        prop::collection::vec(any::<u8>(), 0..=125).prop_map(Owned::Pong),
    ]
}

fn item_strategy() -> impl Strategy<Value = Item> {
    let data = prop_oneof![
        any::<String>().prop_map(Owned::Text),
        "[a-zé€🎉]{0,200}".prop_map(Owned::Text),
        prop::collection::vec(any::<u8>(), 0..400).prop_map(Owned::Binary),
    ];
    let data_item = (
        data,
        prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        prop::collection::vec((any::<prop::sample::Index>(), control_strategy()), 0..3),
    )
        .prop_map(|(message, cuts, controls)| {
            let len = match &message {
                Owned::Text(s) => s.len(),
                Owned::Binary(b) => b.len(),
                _ => 0,
            };
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
            cuts.sort_unstable();
            let fragments = cuts.len() + 1;
            let mut controls: Vec<(usize, Owned)> = if fragments > 1 {
                controls
                    .into_iter()
                    .map(|(i, c)| (i.index(fragments - 1), c))
                    .collect()
            } else {
                Vec::new()
            };
            controls.sort_by_key(|(i, _)| *i);
            Item::Data {
                message,
                cuts,
                controls,
            }
        });
    prop_oneof![3 => data_item, 1 => control_strategy().prop_map(Item::Control)]
}

/// A small deterministic generator for masks and length encodings.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn mask(&mut self) -> [u8; 4] {
        (self.next() as u32).to_ne_bytes()
    }
    fn enc(&mut self) -> LenEnc {
        match self.next() % 8 {
            0 => LenEnc::Ext16,
            1 => LenEnc::Ext64,
            _ => LenEnc::Minimal,
        }
    }
}

fn control_frame(message: &Owned, rng: &mut Rng) -> Vec<u8> {
    let (opcode, payload) = match message {
        Owned::Ping(p) => (PING, p.clone()),
        Owned::Pong(p) => (PONG, p.clone()),
        Owned::Close(Some((code, reason))) => (CLOSE, close_payload(*code, reason.as_bytes())),
        Owned::Close(None) => (CLOSE, Vec::new()),
        _ => unreachable!("not a control message"),
    };
    raw(FIN | opcode, &payload, Some(rng.mask()), rng.enc())
}

/// Encodes `items` (then `close`) as client frames: the bytes, the messages the decoder must
/// deliver, and the offsets where it is idle (no message in progress).
fn encode_stream(
    items: &[Item],
    close: Option<&Owned>,
    seed: u64,
) -> (Vec<u8>, Vec<Owned>, Vec<usize>) {
    let mut rng = Rng(seed | 1);
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    let mut idle = vec![0];
    for item in items {
        match item {
            Item::Control(message) => {
                bytes.extend(control_frame(message, &mut rng));
                expected.push(message.clone());
            }
            Item::Data {
                message,
                cuts,
                controls,
            } => {
                let (opcode, payload) = match message {
                    Owned::Text(s) => (TEXT, s.as_bytes()),
                    Owned::Binary(b) => (BINARY, &b[..]),
                    _ => unreachable!("not a data message"),
                };
                let bounds: Vec<usize> = [0]
                    .into_iter()
                    .chain(cuts.iter().copied())
                    .chain([payload.len()])
                    .collect();
                let fragments = bounds.len() - 1;
                for i in 0..fragments {
                    let op = if i == 0 { opcode } else { CONT };
                    let fin = if i + 1 == fragments { FIN } else { 0 };
                    let part = &payload[bounds[i]..bounds[i + 1]];
                    bytes.extend(raw(fin | op, part, Some(rng.mask()), rng.enc()));
                    for (_, control) in controls.iter().filter(|(after, _)| *after == i) {
                        bytes.extend(control_frame(control, &mut rng));
                        expected.push(control.clone());
                    }
                }
                expected.push(message.clone());
            }
        }
        idle.push(bytes.len());
    }
    if let Some(close) = close {
        bytes.extend(control_frame(close, &mut rng));
        expected.push(close.clone());
        idle.push(bytes.len());
        // Ignored after the close.
        bytes.extend(raw(
            FIN | TEXT,
            b"ignored",
            Some(rng.mask()),
            LenEnc::Minimal,
        ));
    }
    (bytes, expected, idle)
}

fn close_strategy() -> impl Strategy<Value = Option<Owned>> {
    prop::option::of(prop_oneof![
        Just(Owned::Close(None)),
        (
            prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999],
            "[a-z é]{0,40}"
        )
            .prop_map(|(code, reason)| Owned::Close(Some((code, reason)))),
    ])
}

/// Offsets cutting `len` bytes into chunks of the given sizes, cycled.
fn cuts_from_sizes(sizes: &[usize], len: usize) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        at += size;
        if at >= len {
            break;
        }
        cuts.push(at);
    }
    cuts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chunking_does_not_change_the_messages(
        items in prop::collection::vec(item_strategy(), 0..8),
        close in close_strategy(),
        seed in any::<u64>(),
        sizes in prop::collection::vec(1usize..80, 1..8),
    ) {
        let (bytes, expected, idle) = encode_stream(&items, close.as_ref(), seed);
        let whole = decode_whole(&bytes, BIG);
        prop_assert_eq!(&whole, &(expected.clone(), Ok(())));
        // Random chunk sizes.
        let chunked = decode_cuts(&bytes, BIG, cuts_from_sizes(&sizes, bytes.len()), |_, _| {});
        prop_assert_eq!(&chunked, &whole);
        // One byte at a time: after every complete message the decoder holds nothing.
        let mut idle_checked = 0;
        let mut held = Vec::new();
        let one_by_one = decode_cuts(&bytes, BIG, 1..bytes.len(), |decoder, end| {
            if idle.contains(&end) {
                idle_checked += 1;
                held.push((end, decoder.buffered(), decoder.allocated()));
            }
        });
        prop_assert_eq!(&one_by_one, &whole);
        prop_assert!(held.iter().all(|&(_, buffered, allocated)| buffered == 0 && allocated == 0), "{:?}", held);
        prop_assert!(idle_checked + 1 >= idle.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        sizes in prop::collection::vec(1usize..40, 1..6),
        max in 0usize..300,
    ) {
        let whole = decode_whole(&bytes, max);
        let mut peak = 0;
        let chunked = decode_cuts(&bytes, max, cuts_from_sizes(&sizes, bytes.len()), |decoder, _| {
            peak = peak.max(decoder.allocated()).max(decoder.buffered());
        });
        prop_assert_eq!(chunked, whole);
        prop_assert!(peak <= max + 125 + 14, "peak {}", peak);
    }

    #[test]
    fn random_frames_never_panic(
        frames in prop::collection::vec(
            (any::<u8>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..140), 0u8..3, any::<[u8; 4]>()),
            0..12,
        ),
        sizes in prop::collection::vec(1usize..40, 1..6),
        max in 0usize..300,
    ) {
        // Frames with random FIN/RSV/opcode bits, sometimes unmasked, random payloads
        // (often invalid UTF-8), random length encodings.
        let mut bytes = Vec::new();
        for (b0, masked, payload, enc, mask) in &frames {
            // Bias towards valid opcodes so decoding goes deeper.
            let b0 = if b0 % 4 == 0 { *b0 } else { (b0 & 0x80) | [CONT, TEXT, BINARY, CLOSE, PING, PONG][usize::from(*b0 >> 1) % 6] };
            let enc = [LenEnc::Minimal, LenEnc::Ext16, LenEnc::Ext64][usize::from(*enc)];
            let mask = (*masked || b0 % 3 != 0).then_some(*mask);
            bytes.extend(raw(b0, payload, mask, enc));
        }
        let whole = decode_whole(&bytes, max);
        let chunked = decode_cuts(&bytes, max, cuts_from_sizes(&sizes, bytes.len()), |_, _| {});
        prop_assert_eq!(&chunked, &whole);
        let one_by_one = decode_cuts(&bytes, max, 1..bytes.len(), |_, _| {});
        prop_assert_eq!(&one_by_one, &whole);
    }
}
