#![allow(missing_docs)]
//! `Io::serve` as a library user runs it: connections that send nothing, or too many at
//! once, are closed and counted, while a real client still connects.

mod support;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use support::{Client, TestServer, demo_settings, jwt};

/// Reads until the server closes the connection; what it sent, and when it closed.
async fn until_closed(mut tcp: TcpStream) -> (String, Instant) {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut out)).await;
    (String::from_utf8_lossy(&out).into_owned(), Instant::now())
}

#[tokio::test]
async fn silent_and_surplus_connections_are_closed_and_counted() {
    let mut settings = demo_settings();
    settings.connection.header_timeout = 600;
    settings.connection.max_pending_connections_per_ip = 2;
    let server = TestServer::start_with(settings).await;
    let opened = Instant::now();
    let silent = TcpStream::connect(&server.addr).await.unwrap();
    let mut half = TcpStream::connect(&server.addr).await.unwrap();
    half.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // Let both be accepted before the third arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.io.stats().pending_connections, 2);
    let surplus = TcpStream::connect(&server.addr).await.unwrap();
    let (answer, _) = until_closed(surplus).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");

    let (silent_answer, silent_at) = until_closed(silent).await;
    let (half_answer, half_at) = until_closed(half).await;
    assert_eq!(
        silent_answer, "",
        "a silent connection is closed without an answer"
    );
    assert_eq!(half_answer, "");
    for at in [silent_at, half_at] {
        let after = at - opened;
        assert!(
            after >= Duration::from_millis(500),
            "closed after {after:?}"
        );
    }
    let stats = server.io.stats();
    assert_eq!(stats.refused_connections, 1);
    assert_eq!(stats.timed_out_requests, 2);
    assert_eq!(stats.pending_connections, 0);

    // Nothing is left pending: a real client connects and is answered.
    let mut c = Client::jwt(&server.addr, &jwt(2)).await;
    assert_eq!(c.call("get-rooms", None).await["success"], true);
    assert_eq!(server.io.stats().pending_connections, 0);
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_cut_off() {
    let mut settings = demo_settings();
    settings.connection.header_timeout = 600;
    let server = TestServer::start_with(settings).await;
    // A polling session, then a POST into it whose body stops half-way.
    let mut open = TcpStream::connect(&server.addr).await.unwrap();
    open.write_all(
        b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let (handshake, _) = until_closed(open).await;
    let sid = handshake
        .split("\"sid\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no sid in {handshake:?}"))
        .to_string();
    let mut tcp = TcpStream::connect(&server.addr).await.unwrap();
    let head = format!(
        "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\n4"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (_, at) = until_closed(tcp).await;
    let took = at - started;
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(server.io.stats().timed_out_requests, 1);
}
