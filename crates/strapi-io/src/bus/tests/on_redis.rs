//! Nodes meshed over a throwaway `redis-server` on 127.0.0.1.

use super::*;
use std::future::Future;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// A throwaway `redis-server` on a free port of 127.0.0.1, nothing saved; killed on drop.
struct Redis {
    child: Child,
    url: String,
    port: u16,
    dir: std::path::PathBuf,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("strapi-io-bus-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        let redis = Redis {
            child,
            url: format!("redis://127.0.0.1:{port}"),
            port,
            dir,
        };
        let started = Instant::now();
        while !redis.pong() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        redis
    }

    fn pong(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 5];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG"
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Polls `check` until it holds, for at most 5 s.
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(5), "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

impl Recorder {
    /// The rooms of one of this node's sockets.
    fn rooms_of(&self, id: &str) -> Option<Vec<String>> {
        let sockets = self.sockets.lock().unwrap();
        sockets.iter().find(|s| s.1 == id).map(|s| s.2.clone())
    }
}

struct Node {
    bus: Arc<Bus>,
    local: Arc<Recorder>,
}

async fn connected(redis: &Redis) -> Link {
    let link = Link::connect(&redis.url).unwrap();
    eventually("the link connects", || {
        let up = link.connected();
        async move { up }
    })
    .await;
    link
}

async fn node(redis: &Redis, name: &str, local: Arc<Recorder>, timeout: Duration) -> Node {
    let weak: Weak<Recorder> = Arc::downgrade(&local);
    let bus = Bus::start_with_timeout(connected(redis).await, name.into(), weak, timeout);
    Node { bus, local }
}

/// Waits until every node counts the others (and its own subscriptions are made).
async fn meshed(nodes: &[&Node]) {
    for n in nodes {
        eventually("every node subscribed", || async {
            n.bus.peers().await.ok() == Some(nodes.len() - 1)
        })
        .await;
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn pending(bus: &Bus) -> usize {
    bus.shared.pending.lock().unwrap().len()
}

/// Sockets sorted by id, for comparisons.
/// A small broadcast to every socket of the main namespace.
fn to_everyone() -> Broadcast {
    Broadcast {
        ns: "/".into(),
        rooms: Vec::new(),
        except: Vec::new(),
        text: Bytes::from_static(b"42[\"e\"]"),
        attachments: Vec::new(),
    }
}

fn sorted(mut list: Vec<RemoteSocket>) -> Vec<RemoteSocket> {
    list.sort_by(|a, b| a.id.cmp(&b.id));
    list
}

#[tokio::test]
async fn a_broadcast_reaches_every_other_node_intact() {
    let redis = Redis::start();
    let t = Duration::from_secs(3);
    let a = node(&redis, "a", Recorder::with(&[]), t).await;
    let b = node(&redis, "b", Recorder::with(&[]), t).await;
    let c = node(&redis, "c", Recorder::with(&[]), t).await;
    meshed(&[&a, &b, &c]).await;

    let text = Bytes::from_static(b"52-[\"ev\",{\"_placeholder\":true,\"num\":0}]");
    let attachments = [
        Bytes::from_static(&[0, 255, 1]),
        Bytes::from(vec![7u8; 70_000]),
    ];
    let rooms = strings(&["r1", "r2"]);
    let except = strings(&["x"]);
    a.bus
        .broadcast("/admin", &rooms, &except, &text, &attachments)
        .await
        .unwrap();
    a.bus
        .broadcast("/", &[], &[], &Bytes::from_static(b"2[\"second\"]"), &[])
        .await
        .unwrap();
    for n in [&b, &c] {
        eventually("both broadcasts arrive", || async {
            n.local.broadcasts().len() == 2
        })
        .await;
        let got = n.local.broadcasts();
        assert_eq!(
            got[0],
            Received {
                ns: "/admin".into(),
                rooms: rooms.clone(),
                except: except.clone(),
                text: text.clone(),
                attachments: attachments.to_vec(),
            }
        );
        assert_eq!(got[1].ns, "/", "in order");
        assert!(got[1].rooms.is_empty() && got[1].attachments.is_empty());
    }
    // B and C have it: A would have had it by now too.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(a.local.broadcasts().is_empty(), "a node ignores its own");
    assert_eq!(a.bus.unreadable() + b.bus.unreadable(), 0);

    // Too large to send: refused here, nothing published.
    let huge = [Bytes::from(vec![0u8; MAX_MESSAGE_BYTES])];
    let err = a
        .bus
        .broadcast("/", &[], &[], &text, &huge)
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::TooLarge(_)), "{err}");
}

#[tokio::test]
async fn sockets_gathers_every_other_node_without_waiting_for_the_timeout() {
    let redis = Redis::start();
    let t = Duration::from_secs(5);
    let a = node(
        &redis,
        "a",
        Recorder::with(&[("/", "a1", &["a1", "room"])]),
        t,
    )
    .await;
    let b_sockets: &[(&str, &str, &[&str])] = &[
        ("/", "b1", &["b1", "room"]),
        ("/", "b2", &["b2"]),
        ("/admin", "b3", &["b3", "room"]),
    ];
    let b = node(&redis, "b", Recorder::with(b_sockets), t).await;
    let c = node(
        &redis,
        "c",
        Recorder::with(&[("/", "c1", &["c1", "room"])]),
        t,
    )
    .await;
    meshed(&[&a, &b, &c]).await;

    let started = Instant::now();
    let all = a.bus.sockets("/", &[]).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let remote = |id: &str, node: &str, rooms: &[&str]| RemoteSocket {
        id: id.into(),
        node: node.into(),
        rooms: strings(rooms),
    };
    assert_eq!(
        sorted(all),
        vec![
            remote("b1", "b", &["b1", "room"]),
            remote("b2", "b", &["b2"]),
            remote("c1", "c", &["c1", "room"]),
        ]
    );
    let in_room = a.bus.sockets("/", &strings(&["room"])).await.unwrap();
    assert_eq!(
        sorted(in_room)
            .iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>(),
        ["b1", "c1"]
    );
    let admin = b.bus.sockets("/admin", &[]).await.unwrap();
    assert!(admin.is_empty(), "only other nodes are asked: {admin:?}");
    let started = Instant::now();
    let none = a.bus.sockets("/nowhere", &[]).await.unwrap();
    assert!(none.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "empty answers count"
    );
    assert_eq!(pending(&a.bus), 0);
}

#[tokio::test]
async fn apply_reaches_the_node_that_has_the_socket() {
    let redis = Redis::start();
    let t = Duration::from_secs(5);
    let a = node(&redis, "a", Recorder::with(&[("/", "a1", &["a1"])]), t).await;
    let b = node(&redis, "b", Recorder::with(&[("/", "b1", &["b1"])]), t).await;
    let c = node(&redis, "c", Recorder::with(&[("/admin", "c1", &["c1"])]), t).await;
    meshed(&[&a, &b, &c]).await;

    let join = RemoteOp::Join(strings(&["r1", "r2"]));
    assert!(a.bus.apply("/", "b1", join.clone()).await.unwrap());
    assert_eq!(b.local.rooms_of("b1").unwrap(), ["b1", "r1", "r2"]);
    let leave = RemoteOp::Leave(strings(&["r1"]));
    assert!(a.bus.apply("/", "b1", leave.clone()).await.unwrap());
    assert_eq!(b.local.rooms_of("b1").unwrap(), ["b1", "r2"]);
    let send = RemoteOp::Send {
        text: Bytes::from_static(b"51-[\"e\",{\"_placeholder\":true,\"num\":0}]"),
        attachments: vec![Bytes::from_static(&[1, 2, 3])],
    };
    assert!(a.bus.apply("/", "b1", send.clone()).await.unwrap());
    assert!(
        a.bus
            .apply("/admin", "c1", RemoteOp::Disconnect)
            .await
            .unwrap()
    );
    assert!(c.local.rooms_of("c1").is_none(), "disconnected");
    assert!(
        b.bus
            .apply("/", "b1", RemoteOp::Disconnect)
            .await
            .is_ok_and(|f| !f),
        "a node does not ask itself"
    );
    assert_eq!(
        *b.local.applied.lock().unwrap(),
        vec![
            ("/".to_string(), "b1".to_string(), join),
            ("/".to_string(), "b1".to_string(), leave),
            ("/".to_string(), "b1".to_string(), send),
        ]
    );

    // Nobody has it: every node says so, no waiting for the timeout.
    let started = Instant::now();
    assert!(!a.bus.apply("/", "c1", RemoteOp::Disconnect).await.unwrap());
    assert!(
        !a.bus
            .apply("/", "zz", RemoteOp::Join(strings(&["r"])))
            .await
            .unwrap()
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(a.local.applied.lock().unwrap().is_empty());
    assert_eq!(pending(&a.bus), 0);
}

#[tokio::test]
async fn a_node_that_went_away_is_not_waited_for_beyond_the_timeout() {
    let redis = Redis::start();
    let t = Duration::from_millis(500);
    let a = node(&redis, "a", Recorder::with(&[]), t).await;
    let b = node(&redis, "b", Recorder::with(&[("/", "b1", &["b1"])]), t).await;
    let c = node(&redis, "c", Recorder::with(&[("/", "c1", &["c1"])]), t).await;
    meshed(&[&a, &b, &c]).await;

    // A dropped bus leaves the channels: it is no longer counted nor waited for.
    drop(c.bus);
    eventually("c leaves the bus", || async {
        a.bus.peers().await.ok() == Some(1)
    })
    .await;
    let found = a.bus.sockets("/", &[]).await.unwrap();
    assert_eq!(
        found.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["b1"]
    );

    // A subscriber that never answers (a hung node): what arrived by the timeout.
    let hung = connected(&redis).await;
    let _hung_sub = hung.subscribe_to(BUS_CHANNEL).await;
    eventually("the hung node subscribes", || async {
        a.bus.peers().await.ok() == Some(2)
    })
    .await;
    let started = Instant::now();
    let found = a.bus.sockets("/", &[]).await.unwrap();
    let took = started.elapsed();
    assert_eq!(found.len(), 1);
    assert!(took >= t && took < t + Duration::from_secs(2), "{took:?}");
    assert!(
        !a.bus
            .apply("/", "nope", RemoteOp::Disconnect)
            .await
            .unwrap()
    );

    // Only the hung one left: an error, after the timeout.
    drop(b.bus);
    eventually("b leaves the bus", || async {
        a.bus.peers().await.ok() == Some(1)
    })
    .await;
    let started = Instant::now();
    let err = a.bus.sockets("/", &[]).await.unwrap_err();
    assert!(
        matches!(err, BusError::NoAnswer { expected: 1, .. }),
        "{err}"
    );
    assert!(started.elapsed() < t + Duration::from_secs(2));
    let err = a
        .bus
        .apply("/", "b1", RemoteOp::Disconnect)
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::NoAnswer { .. }), "{err}");
    assert_eq!(pending(&a.bus), 0, "timed-out requests are forgotten");

    // A node whose runtime is gone stops answering and leaves the bus.
    let d_local = Recorder::with(&[]);
    let d = node(&redis, "d", d_local.clone(), t).await;
    eventually("d joins", || async { a.bus.peers().await.ok() == Some(2) }).await;
    drop(d_local);
    drop(d.local);
    // The next message tells d's task that its runtime is gone.
    a.bus
        .broadcast("/", &[], &[], &Bytes::from_static(b"2[]"), &[])
        .await
        .unwrap();
    eventually("d leaves the bus", || async {
        a.bus.peers().await.ok() == Some(1)
    })
    .await;
    // And d itself, no longer listening, knows answers could not reach it.
    eventually("d knows", || async {
        matches!(d.bus.peers().await, Err(BusError::NotListening))
    })
    .await;
    let err = d.bus.sockets("/", &[]).await.unwrap_err();
    assert!(matches!(err, BusError::NotListening), "{err}");
}

#[tokio::test]
async fn garbage_on_the_channels_is_dropped_and_the_bus_keeps_working() {
    let redis = Redis::start();
    let t = Duration::from_secs(3);
    let a = node(&redis, "a", Recorder::with(&[]), t).await;
    let b = node(&redis, "b", Recorder::with(&[("/", "b1", &["b1"])]), t).await;
    meshed(&[&a, &b]).await;

    let stranger = connected(&redis).await;
    let valid = frames();
    let mut truncated = valid[0].clone();
    truncated.pop();
    let mut trailing = valid[0].clone();
    trailing.push(1);
    let mut answer = Writer::frame(KIND_APPLY_ANSWER, "x");
    answer.u64(1);
    answer.u8(1);
    let mut request = Writer::frame(KIND_SOCKETS_REQUEST, "x");
    request.u64(1);
    request.str("/");
    request.strs(&[]);
    let garbage: Vec<(String, Vec<u8>)> = vec![
        ("bus".into(), vec![]),
        ("bus".into(), b"hello".to_vec()),
        ("bus".into(), vec![VERSION + 1, KIND_BROADCAST, 0, 0, 0, 0]),
        ("bus".into(), vec![VERSION, 200, 0, 0, 0, 0]),
        (
            "bus".into(),
            vec![VERSION, KIND_BROADCAST, 0xff, 0xff, 0xff, 0xff],
        ),
        ("bus".into(), truncated),
        ("bus".into(), trailing),
        (
            "bus".into(),
            vec![VERSION, KIND_APPLY_ANSWER, 0, 0, 0, 2, 0xc3, 0x28],
        ),
        // An answer on the channel of requests, a request on a node's own channel.
        ("bus".into(), answer.0.clone()),
        ("bus#b".into(), request.0.clone()),
        ("bus#b".into(), b"{\"type\":\"json\"}".to_vec()),
    ];
    let count = garbage.len() as u64;
    for (chan, payload) in garbage {
        stranger.publish_on(&chan, payload).await.unwrap();
    }
    // A well-formed answer nobody asked for: dropped quietly.
    stranger.publish_on("bus#b", answer.0).await.unwrap();
    eventually("b read them all", || async { b.bus.unreadable() == count }).await;
    assert!(b.local.broadcasts().is_empty());
    assert!(b.local.applied.lock().unwrap().is_empty());

    // And goes on.
    a.bus
        .broadcast("/", &[], &[], &Bytes::from_static(b"2[\"after\"]"), &[])
        .await
        .unwrap();
    eventually("the broadcast after", || async {
        b.local.broadcasts().len() == 1
    })
    .await;
    let found = a.bus.sockets("/", &[]).await.unwrap();
    assert_eq!(
        found.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["b1"]
    );
    assert!(a.bus.apply("/", "b1", RemoteOp::Disconnect).await.unwrap());
    assert_eq!(b.bus.unreadable(), count);
}

#[tokio::test]
async fn logged_broadcasts_reach_every_node_in_the_stream_order_and_read_back() {
    let redis = Redis::start();
    let t = Duration::from_secs(3);
    let a = node(&redis, "a", Recorder::with(&[]), t).await;
    let b = node(&redis, "b", Recorder::with(&[]), t).await;
    meshed(&[&a, &b]).await;
    let logged = |n: u8| Broadcast {
        ns: "/".into(),
        rooms: strings(&["r"]),
        except: Vec::new(),
        text: Bytes::from(format!("42[\"e\",{n}]")),
        attachments: vec![Bytes::from(vec![n, 0, 255])],
    };
    let mut ids = Vec::new();
    for n in 0..6 {
        let from = if n % 2 == 0 { &a } else { &b };
        ids.push(
            from.bus
                .broadcast_logged(&logged(n), 60_000, 1 << 20)
                .await
                .unwrap(),
        );
    }
    // Every node, the sender included, gets each once, in the stream's order.
    for node in [&a, &b] {
        eventually("every logged broadcast arrives", || async {
            node.local.logged.lock().unwrap().len() == 6
        })
        .await;
        let got = node.local.logged.lock().unwrap().clone();
        let want: Vec<(String, Broadcast)> = ids.iter().cloned().zip((0..6).map(logged)).collect();
        assert_eq!(got, want);
    }
    assert!(a.local.broadcasts().is_empty(), "not as plain broadcasts");
    // The stream reads back from any id on, and stops where asked.
    let mut read = Vec::new();
    a.bus
        .read_log(&ids[1], |id, l| {
            read.push((id, l));
            if read.len() == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .await
        .unwrap();
    assert_eq!(
        read.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        ids[2..5].iter().collect::<Vec<_>>()
    );
    assert_eq!(read[0].1, logged(2));
    assert_eq!(a.bus.log_complete_after().await.unwrap(), "0-0");
    // Sessions: kept, taken once; the socket is marked away (seen from every node, in its
    // namespace only) until it is back.
    assert!(!b.bus.is_away("/", "sid1").await.unwrap());
    a.bus
        .keep_session("p1", "/", "sid1", b"{\"x\":1}", 60_000)
        .await
        .unwrap();
    assert!(b.bus.is_away("/", "sid1").await.unwrap());
    assert!(!b.bus.is_away("/chat", "sid1").await.unwrap());
    assert_eq!(
        b.bus.take_session("p1").await.unwrap().as_deref(),
        Some(&b"{\"x\":1}"[..])
    );
    assert_eq!(a.bus.take_session("p1").await.unwrap(), None);
    b.bus.back("/", "sid1").await.unwrap();
    assert!(!a.bus.is_away("/", "sid1").await.unwrap());
    // Both expire with the session.
    a.bus
        .keep_session("p2", "/", "sid2", b"{}", 50)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(120)).await;
    assert!(!a.bus.is_away("/", "sid2").await.unwrap());
    assert_eq!(a.bus.take_session("p2").await.unwrap(), None);
    // Garbage on the log channel is dropped, the bus goes on.
    let before = b.bus.unreadable();
    a.bus
        .shared
        .link
        .publish("strapi-io:log".into(), vec![5, b'x'])
        .await
        .unwrap();
    a.bus
        .broadcast_logged(&logged(9), 60_000, 1 << 20)
        .await
        .unwrap();
    eventually("the next logged broadcast arrives", || async {
        b.local.logged.lock().unwrap().len() == 7
    })
    .await;
    assert_eq!(b.bus.unreadable(), before + 1);
}

#[tokio::test]
async fn a_trimmed_log_says_from_where_it_is_complete() {
    let redis = Redis::start();
    let a = node(&redis, "a", Recorder::with(&[]), Duration::from_secs(3)).await;
    meshed(&[&a]).await;
    let l = to_everyone();
    let first = a.bus.broadcast_logged(&l, 60_000, 1 << 20).await.unwrap();
    // An approximate trim drops whole stream nodes (100 entries by default): fill one.
    for _ in 0..150 {
        a.bus.broadcast_logged(&l, 60_000, 1 << 20).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(a.bus.log_complete_after().await.unwrap(), "0-0");
    // Kept for 1 ms only: the next append trims the first node.
    a.bus.broadcast_logged(&l, 1, 1 << 20).await.unwrap();
    let complete = a.bus.log_complete_after().await.unwrap();
    let offset = |id: &str| strapi_io_core::offset::Offset::parse(id).unwrap();
    assert!(offset(&complete) > offset(&first), "{complete} vs {first}");
}

#[tokio::test]
async fn the_log_is_trimmed_to_about_its_byte_budget() {
    let redis = Redis::start();
    let a = node(&redis, "a", Recorder::with(&[]), Duration::from_secs(3)).await;
    meshed(&[&a]).await;
    let l = to_everyone();
    // Entries of this size count as 128 bytes: a budget of 10 of them.
    for _ in 0..500 {
        a.bus.broadcast_logged(&l, 60_000, 1280).await.unwrap();
    }
    let mut kept = 0;
    a.bus
        .read_log("0-0", |_, _| {
            kept += 1;
            ControlFlow::Continue(())
        })
        .await
        .unwrap();
    // An approximate trim keeps whole stream nodes of 100 entries.
    assert!((10..=200).contains(&kept), "{kept} kept");
    assert_ne!(a.bus.log_complete_after().await.unwrap(), "0-0");
}
