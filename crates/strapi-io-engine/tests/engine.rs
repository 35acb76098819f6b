//! The engine end to end over real sockets on 127.0.0.1: a test application served by
//! hyper, driven by a raw WebSocket client (tokio-tungstenite) and raw HTTP/1.1 requests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::value::RawValue;
use strapi_io_engine::{
    Conn, ConnectError, DisconnectReason, Engine, EngineConfig, Event, Handler, Id, Joined, Packet,
    Refusal, Restore, SocketRef, Target,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(3);

/// The application under test: `auth` payloads `{"refuse": "why"}` are refused; events
/// drive the engine (`join`, `leave`, `to`, `bye`); anything else is echoed as `echo`.
#[derive(Default)]
struct App {
    engine: Mutex<Option<Engine<App>>>,
    disconnects: Mutex<Vec<(String, DisconnectReason)>>,
}

impl Handler for App {
    type Conn = Option<SocketAddr>;
    type Socket = String;

    fn open(&self, request: &http::request::Parts) -> Result<Self::Conn, Refusal> {
        if request.uri.query().is_some_and(|q| q.contains("forbid=1")) {
            return Err(Refusal {
                status: http::StatusCode::FORBIDDEN,
                code: 4,
                message: "Forbidden".into(),
            });
        }
        Ok(request.extensions.get::<SocketAddr>().copied())
    }

    fn connect(
        &self,
        _conn: &Arc<Conn<Self>>,
        ns: &str,
        auth: Option<&RawValue>,
    ) -> impl Future<Output = Result<Joined<String>, ConnectError>> + Send + 'static {
        let auth: serde_json::Value = auth
            .and_then(|a| serde_json::from_str(a.get()).ok())
            .unwrap_or_default();
        let ns = ns.to_string();
        async move {
            // An asynchronous decision, as a directory lookup would be.
            tokio::time::sleep(Duration::from_millis(5)).await;
            match auth.get("refuse").and_then(|r| r.as_str()) {
                Some(why) => Err(ConnectError {
                    message: why.to_string(),
                    data: Some(serde_json::json!({"ns": ns})),
                }),
                None => {
                    let name = auth
                        .get("name")
                        .and_then(|n| n.as_str())
                        .unwrap_or("")
                        .to_string();
                    // {"restore": {"id", "rooms"}} continues an earlier socket.
                    let restore = auth.get("restore").map(|r| Restore {
                        id: Id::parse(r["id"].as_str().unwrap_or("")).unwrap(),
                        rooms: serde_json::from_value(r["rooms"].clone()).unwrap_or_default(),
                    });
                    let pid = restore.as_ref().map(|_| "private-session".to_string());
                    Ok(Joined {
                        data: name,
                        restore,
                        pid,
                    })
                }
            }
        }
    }

    fn connected(
        &self,
        socket: SocketRef<Self>,
        _auth: Option<Box<RawValue>>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let _ = socket.emit("hello", socket.data());
        std::future::ready(())
    }

    fn event(
        &self,
        socket: SocketRef<Self>,
        event: Event,
    ) -> impl Future<Output = ()> + Send + 'static {
        let args: Vec<serde_json::Value> =
            serde_json::from_str(event.args.get()).unwrap_or_default();
        let first = args.first().cloned().unwrap_or_default();
        let engine = self.engine.lock().unwrap().clone();
        match event.name.as_str() {
            "join" => socket.join(first.as_str().unwrap_or("")),
            "leave" => socket.leave(first.as_str().unwrap_or("")),
            "to" => {
                let rooms: Vec<String> =
                    serde_json::from_value(first["rooms"].clone()).unwrap_or_default();
                let except: Vec<String> =
                    serde_json::from_value(first["except"].clone()).unwrap_or_default();
                let rooms: Vec<&str> = rooms.iter().map(String::as_str).collect();
                let except: Vec<&str> = except.iter().map(String::as_str).collect();
                let packet = Packet::event_json(socket.ns(), "news", &first["data"]).unwrap();
                let sent = engine.unwrap().of(socket.ns()).unwrap().broadcast(
                    &packet,
                    Target {
                        rooms: &rooms,
                        except: &except,
                    },
                );
                if let Some(id) = event.ack {
                    let _ = socket.ack(id, &[&sent.sent.to_string()], Vec::new());
                }
            }
            "bye" => {
                socket.disconnect();
            }
            _ => {
                let args: Vec<&RawValue> =
                    serde_json::from_str(event.args.get()).unwrap_or_default();
                let args: Vec<&str> = args.iter().map(|a| a.get()).collect();
                let packet = Packet::event(socket.ns(), "echo", &args, event.attachments);
                let sent = match event.ack {
                    Some(id) => socket.ack(id, &args, packet.attachments().to_vec()),
                    None => socket.send(&packet),
                };
                if sent == Err(strapi_io_engine::SendError::Full) {
                    let _ =
                        socket.send_urgent(&Packet::event_json(socket.ns(), "full", &()).unwrap());
                    socket.disconnect();
                }
            }
        }
        std::future::ready(())
    }

    fn disconnected(&self, socket: &SocketRef<Self>, reason: DisconnectReason) {
        self.disconnects
            .lock()
            .unwrap()
            .push((socket.id().to_string(), reason));
    }
}

struct Server {
    addr: SocketAddr,
    engine: Engine<App>,
}

async fn serve(config: EngineConfig) -> Server {
    let engine = Engine::new(config, App::default(), &["/custom"]);
    *engine.handler().engine.lock().unwrap() = Some(engine.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = engine.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            let engine = served.clone();
            tokio::spawn(async move {
                let service = service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                    let engine = engine.clone();
                    req.extensions_mut().insert(peer);
                    async move { Ok::<_, Infallible>(engine.handle(req).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Server { addr, engine }
}

fn fast() -> EngineConfig {
    EngineConfig {
        ping_interval: Duration::from_millis(300),
        ping_timeout: Duration::from_millis(200),
        connect_timeout: Duration::from_millis(1000),
        ..EngineConfig::default()
    }
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Client {
    ws: WsStream,
}

impl Client {
    async fn open(addr: SocketAddr, query: &str) -> Client {
        let url = format!("ws://{addr}/socket.io/?{query}");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("upgrade");
        Client { ws }
    }

    /// Opens an EIO 4 WebSocket session and returns it with its open packet.
    async fn eio4(addr: SocketAddr) -> (Client, serde_json::Value) {
        let mut c = Client::open(addr, "EIO=4&transport=websocket").await;
        let open = c.text().await;
        assert!(open.starts_with('0'), "{open}");
        (c, serde_json::from_str(&open[1..]).unwrap())
    }

    async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    async fn next(&mut self) -> Option<Message> {
        match tokio::time::timeout(WAIT, self.ws.next()).await {
            Ok(Some(Ok(m))) => Some(m),
            Ok(_) => None,
            Err(_) => panic!("nothing arrived in time"),
        }
    }

    /// The next text message that is not a ping (pings are answered).
    async fn text(&mut self) -> String {
        loop {
            match self.next().await {
                Some(Message::Text(t)) if t.as_str() == "2" => self.send("3").await,
                Some(Message::Text(t)) => return t.to_string(),
                Some(Message::Ping(_) | Message::Pong(_)) => {}
                other => panic!("expected text, got {other:?}"),
            }
        }
    }

    /// Connects `ns` with `auth`; returns the socket id.
    async fn join(&mut self, ns: &str, auth: &str) -> String {
        let prefix = if ns == "/" {
            String::new()
        } else {
            format!("{ns},")
        };
        self.send(&format!("40{prefix}{auth}")).await;
        let reply = self.text().await;
        let body = reply
            .strip_prefix(&format!("40{prefix}"))
            .unwrap_or_else(|| panic!("{reply}"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let hello = self.text().await;
        assert!(hello.contains("\"hello\""), "{hello}");
        v["sid"].as_str().unwrap().to_string()
    }

    /// Waits until the server closes the connection; the close code, if any.
    async fn closed(&mut self) -> Option<u16> {
        loop {
            match self.next().await {
                None => return None,
                Some(Message::Close(f)) => return f.map(|f| u16::from(f.code)),
                Some(_) => {}
            }
        }
    }
}

/// A raw HTTP/1.1 request; the status and the body.
async fn http(addr: SocketAddr, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(body).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head[9..12].parse().unwrap();
    (status, raw[split + 4..].to_vec())
}

/// Opens an EIO 4 polling session: its id and the query path naming it.
async fn open_polling(addr: SocketAddr) -> (String, String) {
    let (status, body) = http(addr, "GET", "/socket.io/?EIO=4&transport=polling", b"").await;
    assert_eq!(status, 200);
    let open: serde_json::Value = serde_json::from_slice(&body[1..]).unwrap();
    let sid = open["sid"].as_str().unwrap().to_string();
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    (sid, q)
}

#[tokio::test]
async fn websocket_open_packet_and_first_ping_after_the_interval() {
    let s = serve(fast()).await;
    let (mut c, open) = Client::eio4(s.addr).await;
    assert_eq!(open["upgrades"], serde_json::json!([]));
    assert_eq!(open["pingInterval"], 300);
    assert_eq!(open["pingTimeout"], 200);
    assert_eq!(open["maxPayload"], 1_000_000);
    c.send("40").await;
    let started = std::time::Instant::now();
    // The connect reply and hello come at once; the first ping only after pingInterval.
    assert!(c.text().await.starts_with("40{"));
    assert!(c.text().await.starts_with("42[\"hello\""));
    match c.next().await {
        Some(Message::Text(t)) => assert_eq!(t.as_str(), "2"),
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_never_pongs_is_closed_after_interval_plus_timeout() {
    let s = serve(fast()).await;
    let (mut c, _) = Client::eio4(s.addr).await;
    c.send("40").await;
    let started = std::time::Instant::now();
    loop {
        match c.next().await {
            None | Some(Message::Close(_)) => break,
            Some(_) => {}
        }
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
        "{took:?}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(s.engine.session_count(), 0);
}

#[tokio::test]
async fn socket_ids_are_per_namespace_and_not_the_session_id() {
    let s = serve(fast()).await;
    let (mut c, open) = Client::eio4(s.addr).await;
    let root = c.join("/", "").await;
    let custom = c.join("/custom", "").await;
    let sid = open["sid"].as_str().unwrap();
    assert_eq!(root.len(), 20);
    assert_ne!(root, sid);
    assert_ne!(custom, sid);
    assert_ne!(root, custom);
    assert!(s.engine.of("/").unwrap().get(&root).is_some());
    assert!(s.engine.of("/").unwrap().get(sid).is_none());
}

#[tokio::test]
async fn unknown_namespaces_and_refusals_answer_connect_error() {
    let s = serve(fast()).await;
    let (mut c, _) = Client::eio4(s.addr).await;
    c.send("40/nope,").await;
    assert_eq!(c.text().await, r#"44/nope,{"message":"Invalid namespace"}"#);
    c.send(r#"40/custom,{"refuse":"Go away"}"#).await;
    assert_eq!(
        c.text().await,
        r#"44/custom,{"data":{"ns":"/custom"},"message":"Go away"}"#
    );
    // The connection stays usable.
    c.join("/", "").await;
}

#[tokio::test]
async fn events_acks_and_binary_attachments_round_trip() {
    let s = serve(fast()).await;
    let (mut c, _) = Client::eio4(s.addr).await;
    c.join("/", "").await;
    c.send(r#"42["ping",1,"two",{"3":[true]}]"#).await;
    assert_eq!(c.text().await, r#"42["echo",1,"two",{"3":[true]}]"#);
    c.send(r#"4217["ping",{"a":null}]"#).await;
    assert_eq!(c.text().await, r#"4317[{"a":null}]"#);
    c.send(r#"451-["bin",{"_placeholder":true,"num":0}]"#).await;
    c.ws.send(Message::binary(vec![9u8, 8, 7])).await.unwrap();
    assert_eq!(
        c.text().await,
        r#"451-["echo",{"_placeholder":true,"num":0}]"#
    );
    match c.next().await {
        Some(Message::Binary(b)) => assert_eq!(&b[..], &[9, 8, 7]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn protocol_violations_close_the_connection() {
    let s = serve(fast()).await;
    for bad in ["4abc", "42{}", r#"42abc["x"]"#, r#"42["connect"]"#] {
        let (mut c, _) = Client::eio4(s.addr).await;
        c.join("/", "").await;
        c.send(bad).await;
        c.closed().await;
    }
    // An event for a namespace the client never joined.
    let (mut c, _) = Client::eio4(s.addr).await;
    c.send(r#"42/custom,["x"]"#).await;
    c.closed().await;
}

#[tokio::test]
async fn broadcasts_reach_rooms_once_and_skip_excepted_sockets() {
    let s = serve(fast()).await;
    let (mut a, _) = Client::eio4(s.addr).await;
    let (mut b, _) = Client::eio4(s.addr).await;
    let (mut c, _) = Client::eio4(s.addr).await;
    let a_id = a.join("/", "").await;
    let b_id = b.join("/", "").await;
    c.join("/", "").await;
    a.send(r#"42["join","red"]"#).await;
    b.send(r#"42["join","red"]"#).await;
    b.send(r#"42["join","blue"]"#).await;
    c.send(r#"42["join","blue"]"#).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(s.engine.of("/").unwrap().room_len("red"), 2);
    // red ∪ blue, each once; except red: c only; to a socket's own id: that socket.
    a.send(r#"421["to",{"rooms":["red","blue"],"data":1}]"#)
        .await;
    let mut got = Vec::new();
    for client in [&mut a, &mut b, &mut c] {
        got.push(client.text().await);
    }
    assert!(got.iter().all(|t| t == r#"42["news",1]"#), "{got:?}");
    assert_eq!(a.text().await, r#"431[3]"#);
    a.send(r#"422["to",{"rooms":["blue"],"except":["red"],"data":2}]"#)
        .await;
    assert_eq!(c.text().await, r#"42["news",2]"#);
    assert_eq!(a.text().await, r#"432[1]"#);
    a.send(&format!(r#"423["to",{{"rooms":["{b_id}"],"data":3}}]"#))
        .await;
    assert_eq!(b.text().await, r#"42["news",3]"#);
    assert_eq!(a.text().await, r#"433[1]"#);
    a.send(&format!(r#"424["to",{{"except":["{a_id}"],"data":4}}]"#))
        .await;
    assert_eq!(a.text().await, r#"434[2]"#);
    // Leaving, and disconnecting, take sockets out of their rooms.
    b.send(r#"42["leave","red"]"#).await;
    drop(c);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.engine.of("/").unwrap().room_len("red"), 1);
    assert_eq!(s.engine.of("/").unwrap().room_len("blue"), 1);
}

#[tokio::test]
async fn a_server_disconnect_sends_disconnect_and_keeps_the_connection() {
    let s = serve(fast()).await;
    let (mut c, _) = Client::eio4(s.addr).await;
    let id = c.join("/custom", "").await;
    c.join("/", "").await;
    c.send(r#"42/custom,["bye"]"#).await;
    assert_eq!(c.text().await, "41/custom,");
    c.send(r#"42["still"]"#).await;
    assert_eq!(c.text().await, r#"42["echo"]"#);
    let gone = s.engine.handler().disconnects.lock().unwrap().clone();
    assert_eq!(
        gone,
        vec![(id, DisconnectReason::ServerNamespaceDisconnect)]
    );
}

#[tokio::test]
async fn a_message_over_max_payload_closes_with_1009() {
    let s = serve(EngineConfig {
        max_payload: 1000,
        ..fast()
    })
    .await;
    let (mut c, _) = Client::eio4(s.addr).await;
    c.join("/", "").await;
    c.send(&format!(r#"42["x","{}"]"#, "a".repeat(1000))).await;
    assert_eq!(c.closed().await, Some(1009));
}

#[tokio::test]
async fn polling_handshake_exchange_and_upgrade() {
    let s = serve(fast()).await;
    let (status, body) = http(s.addr, "GET", "/socket.io/?EIO=4&transport=polling", b"").await;
    assert_eq!(status, 200);
    let open: serde_json::Value = serde_json::from_slice(&body[1..]).unwrap();
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    let sid = open["sid"].as_str().unwrap().to_string();
    let q = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    assert_eq!(http(s.addr, "POST", &q, b"40").await, (200, b"ok".to_vec()));
    let (_, body) = http(s.addr, "GET", &q, b"").await;
    let text = String::from_utf8(body).unwrap();
    let packets: Vec<&str> = text.split('\x1e').collect();
    assert!(packets[0].starts_with("40{\"sid\":"), "{text}");
    assert!(packets[1].starts_with("42[\"hello\""), "{text}");
    // Two packets in one POST.
    assert_eq!(
        http(s.addr, "POST", &q, b"42[\"a\"]\x1e42[\"b\"]").await.0,
        200
    );
    let (_, body) = http(s.addr, "GET", &q, b"").await;
    assert_eq!(body, b"42[\"echo\"]\x1e42[\"echo\"]".to_vec());
    // Upgrade: probe, noop to the poll, then the session is the WebSocket's.
    let mut ws = Client::open(s.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    let poll = tokio::spawn({
        let q = q.clone();
        let addr = s.addr;
        async move { http(addr, "GET", &q, b"").await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    ws.send("2probe").await;
    assert_eq!(ws.text().await, "3probe");
    assert_eq!(poll.await.unwrap(), (200, b"6".to_vec()));
    ws.send("5").await;
    ws.send(r#"42["again","after"]"#).await;
    assert_eq!(ws.text().await, r#"42["echo","after"]"#);
    assert_eq!(http(s.addr, "GET", &q, b"").await.0, 400);
    // A second WebSocket for the same session is refused.
    let again = tokio_tungstenite::connect_async(format!(
        "ws://{}/socket.io/?EIO=4&transport=websocket&sid={sid}",
        s.addr
    ))
    .await;
    assert!(again.is_err());
}

#[tokio::test]
async fn polling_errors_use_engine_io_codes() {
    let s = serve(fast()).await;
    let cases = [
        ("GET", "/socket.io/?transport=polling", 400, 5),
        ("GET", "/socket.io/?EIO=abc&transport=polling", 400, 5),
        ("GET", "/socket.io/?EIO=4", 400, 0),
        ("GET", "/socket.io/?EIO=4&transport=abc", 400, 0),
        ("POST", "/socket.io/?EIO=4&transport=polling", 400, 2),
        (
            "GET",
            "/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA",
            400,
            1,
        ),
        (
            "GET",
            "/socket.io/?EIO=4&transport=polling&forbid=1",
            403,
            4,
        ),
    ];
    for (method, target, status, code) in cases {
        let (got, body) = http(s.addr, method, target, b"").await;
        assert_eq!(got, status, "{method} {target}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], code, "{method} {target}");
    }
}

#[tokio::test]
async fn polling_session_times_out_without_pong_and_is_gone() {
    let s = serve(fast()).await;
    let (_, q) = open_polling(s.addr).await;
    tokio::time::sleep(Duration::from_millis(520)).await;
    assert_eq!(http(s.addr, "GET", &q, b"").await.0, 400);
}

#[tokio::test]
async fn a_client_close_packet_ends_the_poll_with_a_noop() {
    let s = serve(fast()).await;
    let (_, q) = open_polling(s.addr).await;
    let poll = tokio::spawn({
        let q = q.clone();
        let addr = s.addr;
        async move { http(addr, "GET", &q, b"").await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(http(s.addr, "POST", &q, b"1").await.0, 200);
    assert_eq!(poll.await.unwrap(), (200, b"6".to_vec()));
    assert_eq!(http(s.addr, "GET", &q, b"").await.0, 400);
}

#[tokio::test]
async fn engine_io_v3_sessions_join_the_main_namespace_and_answer_client_pings() {
    let s = serve(fast()).await;
    let mut c = Client::open(s.addr, "EIO=3&transport=websocket").await;
    let open = c.text().await;
    assert!(open.starts_with("0{"), "{open}");
    assert_eq!(c.text().await, "40");
    assert!(c.text().await.starts_with("42[\"hello\""));
    c.send("2").await;
    assert_eq!(c.text().await, "3");
    // No ping from the client within interval + timeout: closed.
    c.closed().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_as_a_slow_consumer() {
    let s = serve(EngineConfig {
        max_buffer_size: 100_000,
        ..fast()
    })
    .await;
    // A raw TCP client that completes the upgrade and then never reads.
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let req = format!(
        "GET /socket.io/?EIO=3&transport=websocket HTTP/1.1\r\nhost: {}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        s.addr
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ns = s.engine.of("/").unwrap().clone();
    assert_eq!(ns.len(), 1);
    // Keep pinging (v3: client pings keep the heartbeat happy) while the server floods.
    let ping = [0x81u8, 0x81, 1, 2, 3, 4, b'2' ^ 1];
    let big = Packet::event_json("/", "flood", &"x".repeat(64 * 1024)).unwrap();
    let started = std::time::Instant::now();
    while ns.len() == 1 && started.elapsed() < Duration::from_secs(5) {
        ns.broadcast(&big, Target::default());
        let _ = tcp.write_all(&ping).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(ns.len(), 0, "the stalled client was not cut");
    let reasons = s.engine.handler().disconnects.lock().unwrap().clone();
    assert_eq!(
        reasons.last().map(|r| r.1),
        Some(DisconnectReason::SlowConsumer)
    );
}

#[tokio::test]
async fn what_was_queued_before_a_protocol_close_is_still_written() {
    let s = serve(EngineConfig {
        max_buffer_size: 4,
        ..fast()
    })
    .await;
    let (mut c, _) = Client::eio4(s.addr).await;
    c.join("/", "").await;
    // A burst: the 5th answer does not fit, the socket is disconnected, and the events that
    // follow are for a namespace the client is no longer in (a protocol error: closed).
    for i in 0..50 {
        c.ws.feed(Message::text(format!(r#"42{i}["ping"]"#)))
            .await
            .unwrap();
    }
    c.ws.flush().await.unwrap();
    let mut got = Vec::new();
    loop {
        match c.next().await {
            Some(Message::Text(t)) if t.as_str() != "2" => got.push(t.to_string()),
            Some(Message::Close(_)) | None => break,
            Some(_) => {}
        }
    }
    assert_eq!(
        got,
        [
            "430[]",
            "431[]",
            "432[]",
            "433[]",
            r#"42["full",null]"#,
            "41"
        ],
        "{got:?}"
    );
}

#[tokio::test]
async fn a_socket_can_be_restored_with_its_id_and_rooms_and_offsets_travel_encoded_once() {
    let s = serve(fast()).await;
    let (mut a, _) = Client::eio4(s.addr).await;
    let id = a.join("/", "").await;
    a.send(r#"42["join","red"]"#).await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        s.engine.of("/").unwrap().get(&id).is_none(),
        "the old socket is gone"
    );
    // A new connection continues it: same id, same rooms, the pid in the reply.
    let (mut b, _) = Client::eio4(s.addr).await;
    b.send(&format!(
        r#"40{{"restore":{{"id":"{id}","rooms":["red"]}}}}"#
    ))
    .await;
    let reply = b.text().await;
    let v: serde_json::Value = serde_json::from_str(&reply[2..]).unwrap();
    assert_eq!(v["sid"], id.as_str());
    assert_eq!(v["pid"], "private-session");
    assert!(b.text().await.contains("hello"));
    let ns = s.engine.of("/").unwrap();
    assert_eq!(ns.room_len("red"), 1);
    assert!(ns.get(&id).unwrap().in_room("red"));
    // An offset is the last argument, the same bytes for every recipient.
    let packet = Packet::event_with_offset("/", "news", &["1"], Vec::new(), "1733-7");
    assert_eq!(packet.text(), br#"42["news",1,"1733-7"]"#);
    assert_eq!(
        ns.broadcast(
            &packet,
            Target {
                rooms: &["red"],
                except: &[]
            }
        )
        .sent,
        1
    );
    assert_eq!(b.text().await, r#"42["news",1,"1733-7"]"#);
    // An id still in use is not taken over: a fresh one is drawn.
    let (mut c, _) = Client::eio4(s.addr).await;
    c.send(&format!(r#"40{{"restore":{{"id":"{id}","rooms":[]}}}}"#))
        .await;
    let reply = c.text().await;
    let v: serde_json::Value = serde_json::from_str(&reply[2..]).unwrap();
    assert_ne!(v["sid"], id.as_str());
}

#[tokio::test]
async fn a_session_closed_while_upgrading_still_delivers_what_was_queued() {
    let s = serve(fast()).await;
    let (sid, q) = open_polling(s.addr).await;
    assert_eq!(http(s.addr, "POST", &q, b"40").await.0, 200);
    let (_, first) = http(s.addr, "GET", &q, b"").await;
    assert!(first.starts_with(b"40"));
    let mut ws = Client::open(s.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    ws.send("2probe").await;
    assert_eq!(ws.text().await, "3probe");
    // The client has paused polling; the server sends, then shuts down.
    let ns = s.engine.of("/").unwrap();
    let packet = Packet::event_json("/", "last", &1).unwrap();
    assert_eq!(ns.broadcast(&packet, Target::default()).sent, 1);
    s.engine.close_all(DisconnectReason::ServerShuttingDown);
    ws.send("5").await;
    assert_eq!(ws.text().await, r#"42["last",1]"#);
    assert!(ws.closed().await.is_some());
}

#[tokio::test]
async fn at_shutdown_a_polling_client_between_polls_still_gets_its_last_packets() {
    let s = serve(fast()).await;
    let (_, q) = open_polling(s.addr).await;
    assert_eq!(http(s.addr, "POST", &q, b"40").await.0, 200);
    let (_, first) = http(s.addr, "GET", &q, b"").await;
    assert!(first.starts_with(b"40"));
    // No poll is waiting: the server sends, then shuts down.
    let packet = Packet::event_json("/", "bye", &1).unwrap();
    assert_eq!(
        s.engine
            .of("/")
            .unwrap()
            .broadcast(&packet, Target::default())
            .sent,
        1
    );
    s.engine.close_all(DisconnectReason::ServerShuttingDown);
    let (status, last) = http(s.addr, "GET", &q, b"").await;
    assert_eq!(status, 200);
    assert_eq!(last, b"42[\"bye\",1]\x1e1".to_vec());
    // Then the session is gone.
    assert_eq!(http(s.addr, "GET", &q, b"").await.0, 400);
}

#[tokio::test]
async fn polling_error_paths_close_or_refuse_as_engine_io_does() {
    let s = serve(EngineConfig {
        max_payload: 100,
        ..fast()
    })
    .await;
    // A second poll while one waits: the protocol allows one; the session is closed.
    let (_, q) = open_polling(s.addr).await;
    let waiting = tokio::spawn({
        let (addr, q) = (s.addr, q.clone());
        async move { http(addr, "GET", &q, b"").await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(http(s.addr, "GET", &q, b"").await.0, 400);
    assert_eq!(
        waiting.await.unwrap().0,
        200,
        "the first poll is answered (the close)"
    );
    assert_eq!(http(s.addr, "GET", &q, b"").await.0, 400, "closed");
    // A body over maxHttpBufferSize: 413, closed.
    let (_, q) = open_polling(s.addr).await;
    assert_eq!(http(s.addr, "POST", &q, &[b'4'; 101]).await.0, 413);
    assert_eq!(http(s.addr, "GET", &q, b"").await.0, 400);
    // A payload that does not decode: 400, closed.
    let (_, q) = open_polling(s.addr).await;
    assert_eq!(http(s.addr, "POST", &q, b"9\x1e").await.0, 400);
    assert_eq!(http(s.addr, "GET", &q, b"").await.0, 400);
    // Another method, or the other protocol revision, for a live session: 400, session kept.
    let (_, q) = open_polling(s.addr).await;
    assert_eq!(http(s.addr, "PUT", &q, b"").await.0, 400);
    let v3 = q.replace("EIO=4", "EIO=3");
    assert_eq!(http(s.addr, "GET", &v3, b"").await.0, 400);
    assert_eq!(http(s.addr, "POST", &q, b"40").await.0, 200, "still open");
    // A binary message when no attachment is due closes the session.
    let (_, q) = open_polling(s.addr).await;
    assert_eq!(http(s.addr, "POST", &q, b"40").await.0, 200);
    assert_eq!(http(s.addr, "POST", &q, b"bAQID").await.0, 200);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(http(s.addr, "POST", &q, b"3").await.0, 400);
}

#[tokio::test]
async fn a_websocket_request_without_a_valid_upgrade_is_refused() {
    let s = serve(fast()).await;
    let (status, body) = http(s.addr, "GET", "/socket.io/?EIO=4&transport=websocket", b"").await;
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["code"], 3);
    assert_eq!(s.engine.session_count(), 0, "no session was opened");
}

#[tokio::test]
async fn engine_io_v3_polling_uses_length_prefixed_payloads() {
    let s = serve(fast()).await;
    let (status, body) = http(
        s.addr,
        "GET",
        "/socket.io/?EIO=3&transport=polling&b64=1",
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let (len, rest) = text.split_once(':').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), rest.chars().count());
    let open: serde_json::Value = serde_json::from_str(&rest[1..]).unwrap();
    assert!(
        open.get("maxPayload").is_none(),
        "v3 open packets have no maxPayload"
    );
    let q = format!(
        "/socket.io/?EIO=3&transport=polling&b64=1&sid={}",
        open["sid"].as_str().unwrap()
    );
    // v3 joins `/` at once: the connect and hello are waiting.
    let (_, body) = http(s.addr, "GET", &q, b"").await;
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with("2:40"), "{text}");
    assert!(text.contains(r#"42["hello",""]"#), "{text}");
    // The client pings, the server answers.
    assert_eq!(http(s.addr, "POST", &q, b"1:2").await.0, 200);
    assert_eq!(http(s.addr, "GET", &q, b"").await.1, b"1:3".to_vec());
}

#[tokio::test]
async fn a_connection_dropped_by_the_application_ends_as_a_lost_transport() {
    let s = serve(fast()).await;
    let (mut a, _) = Client::eio4(s.addr).await;
    let id = a.join("/", "").await;
    let ns = s.engine.of("/").unwrap().clone();
    let socket = ns.get(&id).expect("connected");
    s.engine.drop_connection(&socket);
    assert!(ns.get(&id).is_none(), "out of its namespace at once");
    let reasons = s.engine.handler().disconnects.lock().unwrap().clone();
    assert_eq!(
        reasons.last(),
        Some(&(id.clone(), DisconnectReason::TransportClose))
    );
    // Dropping it again does nothing.
    s.engine.drop_connection(&socket);
    assert_eq!(
        s.engine.handler().disconnects.lock().unwrap().len(),
        reasons.len()
    );
    drop(a);
}
