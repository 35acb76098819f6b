//! The bus: its wire format, and nodes talking over a real `redis-server` (with the
//! `cluster` feature).

use super::*;

// ---- the wire format, without Redis ----

fn frames() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = Writer::frame(KIND_BROADCAST, "n1");
    w.str("/");
    w.strs(&["a".into(), "b".into()]);
    w.strs(&["x".into()]);
    w.bytes(b"2[\"ev\",{}]");
    w.blobs(&[Bytes::from_static(&[0, 1, 2]), Bytes::new()]);
    out.push(w.0);
    for op in [
        RemoteOp::Join(vec!["r".into()]),
        RemoteOp::Leave(vec![]),
        RemoteOp::Send {
            text: Bytes::from_static(b"51-[\"e\",{\"_placeholder\":true,\"num\":0}]"),
            attachments: vec![Bytes::from_static(&[9; 5])],
        },
        RemoteOp::Disconnect,
    ] {
        let mut w = Writer::frame(KIND_APPLY_REQUEST, "n1");
        w.u64(7);
        w.str("/");
        w.str("sock");
        w.op(&op);
        out.push(w.0);
    }
    let mut w = Writer::frame(KIND_SOCKETS_REQUEST, "n1");
    w.u64(u64::MAX);
    w.str("/admin");
    w.strs(&[]);
    out.push(w.0);
    let sockets = [RemoteSocket {
        id: "s".into(),
        node: "ignored".into(),
        rooms: vec!["s".into(), "r".into()],
    }];
    out.push(encode_sockets_answer("n2", 3, &sockets, MAX_MESSAGE_BYTES));
    let mut w = Writer::frame(KIND_APPLY_ANSWER, "n2");
    w.u64(3);
    w.u8(1);
    out.push(w.0);
    let mut w = Writer::frame(KIND_DETAILS_REQUEST, "n1");
    w.u64(9);
    w.str("/");
    out.push(w.0);
    let details = [Bytes::from_static(b"{\"id\":\"s\"}"), Bytes::new()];
    out.push(encode_details_answer("n2", 9, &details, MAX_MESSAGE_BYTES));
    out
}

#[test]
fn every_kind_of_message_reads_back_as_written() {
    let decoded: Vec<Frame> = frames()
        .into_iter()
        .map(|f| decode(Bytes::from(f)).expect("a frame we wrote"))
        .collect();
    assert_eq!(
        decoded[0],
        Frame {
            origin: "n1".into(),
            body: Body::Broadcast(Broadcast {
                ns: "/".into(),
                rooms: vec!["a".into(), "b".into()],
                except: vec!["x".into()],
                text: Bytes::from_static(b"2[\"ev\",{}]"),
                attachments: vec![Bytes::from_static(&[0, 1, 2]), Bytes::new()],
            }),
        }
    );
    assert_eq!(
        decoded[3].body,
        Body::Request {
            id: 7,
            ns: "/".into(),
            ask: Ask::Apply {
                socket: "sock".into(),
                op: RemoteOp::Send {
                    text: Bytes::from_static(b"51-[\"e\",{\"_placeholder\":true,\"num\":0}]"),
                    attachments: vec![Bytes::from_static(&[9; 5])],
                },
            },
        }
    );
    assert!(matches!(
        &decoded[4].body,
        Body::Request {
            ask: Ask::Apply {
                op: RemoteOp::Disconnect,
                ..
            },
            ..
        }
    ));
    assert_eq!(
        decoded[5].body,
        Body::Request {
            id: u64::MAX,
            ns: "/admin".into(),
            ask: Ask::Sockets { rooms: vec![] },
        }
    );
    assert_eq!(
        decoded[6].body,
        Body::Answer {
            id: 3,
            answer: Answer::Sockets {
                sockets: vec![RemoteSocket {
                    id: "s".into(),
                    node: "n2".into(),
                    rooms: vec!["s".into(), "r".into()],
                }],
                truncated: false,
            },
        }
    );
    assert_eq!(
        decoded[7].body,
        Body::Answer {
            id: 3,
            answer: Answer::Applied(true),
        }
    );
    assert_eq!(
        decoded[8].body,
        Body::Request {
            id: 9,
            ns: "/".into(),
            ask: Ask::Details,
        }
    );
    assert_eq!(
        decoded[9].body,
        Body::Answer {
            id: 9,
            answer: Answer::Details {
                sockets: vec![Bytes::from_static(b"{\"id\":\"s\"}"), Bytes::new()],
                truncated: false,
            },
        }
    );
}

#[test]
fn details_answers_are_bounded_by_bytes() {
    let many: Vec<Bytes> = (0..10).map(|_| Bytes::from(vec![b'x'; 100])).collect();
    // Room for the header and three of them.
    let frame = encode_details_answer("n", 1, &many, 40 + 3 * 104);
    match decode(Bytes::from(frame)).unwrap().body {
        Body::Answer {
            answer: Answer::Details { sockets, truncated },
            ..
        } => {
            assert!(truncated);
            assert!((2..=3).contains(&sockets.len()), "{}", sockets.len());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn garbage_is_refused_without_panicking() {
    assert_eq!(decode(Bytes::new()), Err(DecodeError::Empty));
    assert_eq!(
        decode(Bytes::from_static(&[2, 1, 0, 0, 0, 0])),
        Err(DecodeError::Version(2))
    );
    assert_eq!(
        decode(Bytes::from_static(&[VERSION, 99, 0, 0, 0, 0])),
        Err(DecodeError::Kind(99))
    );
    assert_eq!(
        decode(Bytes::from_static(&[VERSION, 5, 0, 0, 0, 2, 0xff, 0xfe])),
        Err(DecodeError::Utf8)
    );
    // A count the message cannot hold is refused before anything is allocated.
    let mut w = Writer::frame(KIND_SOCKETS_REQUEST, "n");
    w.u64(1);
    w.str("/");
    w.u8(0xff);
    w.u8(0xff);
    w.u8(0xff);
    w.u8(0xff);
    assert_eq!(decode(Bytes::from(w.0)), Err(DecodeError::Count));
    let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
    assert_eq!(
        decode(Bytes::from(big)),
        Err(DecodeError::TooLarge(MAX_MESSAGE_BYTES + 1))
    );
    for frame in frames() {
        // Every truncation, one extra byte, and every single-byte change.
        for cut in 0..frame.len() {
            assert!(decode(Bytes::copy_from_slice(&frame[..cut])).is_err());
        }
        let mut longer = frame.clone();
        longer.push(0);
        assert_eq!(decode(Bytes::from(longer)), Err(DecodeError::Trailing));
        for i in 0..frame.len() {
            for v in [0u8, 1, 4, 0x7f, 0xff] {
                let mut changed = frame.clone();
                changed[i] = v;
                let _ = decode(Bytes::from(changed));
            }
        }
    }
    // Random bytes behind a valid version and kind.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let len = (next() % 64) as usize;
        let mut buf = vec![VERSION, (next() % 9) as u8];
        buf.extend((0..len).map(|_| {
            let b = next() as u8;
            // Mostly small lengths, so that reads get past the first field.
            if b < 0xc0 { b % 4 } else { b }
        }));
        let _ = decode(Bytes::from(buf));
    }
}

#[test]
fn socket_lists_are_bounded() {
    let many: Vec<RemoteSocket> = (0..MAX_SOCKETS_PER_ANSWER + 5)
        .map(|i| RemoteSocket {
            id: format!("s{i}"),
            node: String::new(),
            rooms: vec![],
        })
        .collect();
    let frame = decode(Bytes::from(encode_sockets_answer(
        "n",
        1,
        &many,
        MAX_MESSAGE_BYTES,
    )))
    .unwrap();
    let Body::Answer {
        answer: Answer::Sockets { sockets, truncated },
        ..
    } = frame.body
    else {
        panic!("a sockets answer");
    };
    assert!(truncated);
    assert_eq!(sockets.len(), MAX_SOCKETS_PER_ANSWER);
    // And by size: only what fits in the limit.
    let encoded = encode_sockets_answer("n", 1, &many, 1000);
    assert!(encoded.len() <= 1000, "{}", encoded.len());
    let Body::Answer {
        answer: Answer::Sockets { sockets, truncated },
        ..
    } = decode(Bytes::from(encoded)).unwrap().body
    else {
        panic!("a sockets answer");
    };
    assert!(truncated);
    assert!(!sockets.is_empty() && sockets.len() < 200);
    assert_eq!(sockets[0].id, "s0");
    // A decoder refuses an answer listing more than the limit.
    let mut w = Writer::frame(KIND_SOCKETS_ANSWER, "n");
    w.u64(1);
    w.u8(0);
    w.len(MAX_SOCKETS_PER_ANSWER + 1);
    for _ in 0..=MAX_SOCKETS_PER_ANSWER {
        w.str("");
        w.strs(&[]);
    }
    assert_eq!(decode(Bytes::from(w.0)), Err(DecodeError::Count));
}

// ---- a node's sockets, in memory ----

/// A broadcast as a node received it.
type Received = Broadcast;

/// A node's sockets in memory, with everything the bus asked of it.
#[derive(Default)]
struct Recorder {
    broadcasts: Mutex<Vec<Received>>,
    /// (namespace, socket, rooms).
    sockets: Mutex<Vec<(String, String, Vec<String>)>>,
    /// (namespace, socket, op) for the sockets found.
    applied: Mutex<Vec<(String, String, RemoteOp)>>,
    /// Broadcast broadcasts, with their offsets.
    logged: Mutex<Vec<(String, Broadcast)>>,
}

impl Recorder {
    fn with(sockets: &[(&str, &str, &[&str])]) -> Arc<Self> {
        let r = Recorder::default();
        *r.sockets.lock().unwrap() = sockets
            .iter()
            .map(|(ns, id, rooms)| {
                let rooms = rooms.iter().map(|r| r.to_string()).collect();
                (ns.to_string(), id.to_string(), rooms)
            })
            .collect();
        Arc::new(r)
    }
    fn broadcasts(&self) -> Vec<Received> {
        self.broadcasts.lock().unwrap().clone()
    }
}

impl Local for Recorder {
    fn logged(&self, offset: &str, broadcast: Broadcast) {
        self.logged
            .lock()
            .unwrap()
            .push((offset.to_string(), broadcast));
    }

    fn broadcast(&self, broadcast: Broadcast) {
        self.broadcasts.lock().unwrap().push(broadcast);
    }

    fn sockets(&self, ns: &str, rooms: &[String]) -> Vec<RemoteSocket> {
        let sockets = self.sockets.lock().unwrap();
        sockets
            .iter()
            .filter(|s| s.0 == ns && (rooms.is_empty() || rooms.iter().any(|r| s.2.contains(r))))
            .map(|s| RemoteSocket {
                id: s.1.clone(),
                node: "whatever the runtime says".into(),
                rooms: s.2.clone(),
            })
            .collect()
    }

    fn details(&self, ns: &str) -> Vec<Bytes> {
        let sockets = self.sockets.lock().unwrap();
        sockets
            .iter()
            .filter(|s| s.0 == ns)
            .map(|s| Bytes::from(format!("{{\"id\":\"{}\"}}", s.1)))
            .collect()
    }

    fn apply(&self, ns: &str, id: &str, op: &RemoteOp) -> bool {
        let mut sockets = self.sockets.lock().unwrap();
        let Some(at) = sockets.iter().position(|s| s.0 == ns && s.1 == id) else {
            return false;
        };
        match op {
            RemoteOp::Join(rooms) => sockets[at].2.extend(rooms.iter().cloned()),
            RemoteOp::Leave(rooms) => sockets[at].2.retain(|r| !rooms.contains(r)),
            RemoteOp::Send { .. } => {}
            RemoteOp::Disconnect => {
                sockets.remove(at);
            }
        }
        let entry = (ns.to_string(), id.to_string(), op.clone());
        self.applied.lock().unwrap().push(entry);
        true
    }
}

#[tokio::test]
async fn standalone_the_bus_does_nothing() {
    let local = Recorder::with(&[("/", "s1", &["s1"])]);
    let weak: Weak<Recorder> = Arc::downgrade(&local);
    let bus = Bus::start(Link::off(), "solo".into(), weak);
    assert_eq!(bus.peers().await.unwrap(), 0);
    bus.broadcast("/", &[], &[], &Bytes::from_static(b"2[]"), &[])
        .await
        .unwrap();
    assert!(bus.sockets("/", &[]).await.unwrap().is_empty());
    assert!(!bus.apply("/", "s1", RemoteOp::Disconnect).await.unwrap());
    assert!(local.broadcasts().is_empty());
    assert!(
        local.applied.lock().unwrap().is_empty(),
        "its own sockets are not its business"
    );
}

#[cfg(feature = "cluster")]
mod on_redis;
