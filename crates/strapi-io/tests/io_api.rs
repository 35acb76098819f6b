#![allow(missing_docs)]
//! Drives every `Io` method against real clients connected over WebSocket on 127.0.0.1.

mod support;

use serde_json::{Value, json};
use strapi_io::core::Settings;
use strapi_io::{EmitOptions, IoError, RawOptions};
use support::{Client, TestServer, access_jwt, article, demo_settings, jwt, sign};

const ARTICLE: &str = "api::article.article";

/// Sends a marker through `raw` and waits for it on each client: everything emitted before
/// has then arrived (one socket's packets are ordered).
async fn settle(server: &TestServer, clients: &mut [&mut Client]) {
    server
        .io
        .raw(RawOptions {
            event: "marker".into(),
            rooms: None,
            data: json!(1),
        })
        .await
        .unwrap();
    for c in clients.iter_mut() {
        c.recv("marker").await;
    }
}

#[tokio::test]
async fn emit_reaches_each_audience_once_sanitized_for_it() {
    let server = TestServer::start().await;
    let mut public = Client::public(&server.addr).await;
    let mut reader = Client::jwt(&server.addr, &jwt(2)).await;
    let mut editor = Client::jwt(&server.addr, &access_jwt(1)).await;
    let mut dashboard = Client::api_token(&server.addr, "demo-token-dashboard").await;
    let mut comments = Client::api_token(&server.addr, "demo-token-comments-only").await;

    let report = server
        .io
        .emit(EmitOptions::new("create", ARTICLE, article(1, "article-1")))
        .await
        .unwrap();
    assert_eq!(report.event.as_deref(), Some("article:create"));

    let p = public.recv("article:create").await;
    let d = &p["data"];
    assert_eq!(d["title"], "Hello");
    assert_eq!(d["documentId"], "article-1");
    assert!(
        d.get("internalNotes").is_none(),
        "private field leaked: {p}"
    );
    assert!(
        d.get("author").is_none(),
        "public may not read authors: {p}"
    );
    assert_eq!(d["seo"]["metaTitle"], "T");
    assert!(d["seo"].get("metaSecret").is_none());
    assert!(d.get("createdBy").is_none());
    assert!(d.get("apiKey").is_none());
    assert_eq!(p["meta"], json!({}));

    let r = reader.recv("article:create").await;
    assert_eq!(r["data"]["author"]["name"], "Ada");
    assert!(r["data"]["author"].get("password").is_none());
    assert!(r["data"].get("internalNotes").is_none());

    let e = editor.recv("article:create").await;
    assert_eq!(e["data"]["author"]["email"], "ada@example.com");
    assert!(e["data"]["seo"].get("metaSecret").is_none());

    let t = dashboard.recv("article:create").await;
    assert_eq!(t["data"]["author"]["name"], "Ada");

    settle(
        &server,
        &mut [
            &mut public,
            &mut reader,
            &mut editor,
            &mut dashboard,
            &mut comments,
        ],
    )
    .await;
    for c in [&mut public, &mut reader, &mut editor, &mut dashboard] {
        assert!(c.drain("article:create").is_empty(), "duplicate delivery");
    }
    assert!(
        comments.drain("article:create").is_empty(),
        "comments-only token must not hear about articles"
    );

    // The comments-only token hears comments.
    server
        .io
        .emit(EmitOptions::new(
            "create",
            "api::comment.comment",
            json!({"id": 9, "documentId": "c9", "text": "hi"}),
        ))
        .await
        .unwrap();
    assert_eq!(comments.recv("comment:create").await["data"]["text"], "hi");
}

/// What the Content Manager hands the plugin entry on an unpublish (issue 13): other locales
/// with their private fields, relations as `{count}`, and keys no schema declares. None of it
/// may reach any audience.
#[tokio::test]
async fn a_content_manager_unpublish_leaks_nothing_to_any_audience() {
    let server = TestServer::start().await;
    let mut clients = [
        Client::public(&server.addr).await,
        Client::jwt(&server.addr, &jwt(2)).await,
        Client::jwt(&server.addr, &access_jwt(1)).await,
        Client::api_token(&server.addr, "demo-token-dashboard").await,
    ];
    let entry = json!({
        "id": 1, "documentId": "article-1", "title": "Hello", "publishedAt": null,
        "internalNotes": "do not leak",
        "comments": {"count": 2},
        "author": {"count": 1},
        "seo": {"id": 4, "metaTitle": "T", "metaSecret": "do not leak"},
        "localizations": [{
            "id": 7, "documentId": "article-1", "locale": "fr", "title": "Bonjour",
            "internalNotes": "do not leak", "seo": {"metaSecret": "do not leak"},
            "status": "draft", "undeclaredLocaleKey": "do not leak"
        }],
        "status": "draft",
        "strapi_stage": {"id": 3, "secretWorkflow": "do not leak"},
        "undeclared": {"nested": {"deep": "do not leak"}}
    });
    server
        .io
        .emit(EmitOptions::new("update", ARTICLE, entry))
        .await
        .unwrap();
    for c in clients.iter_mut() {
        let got = c.recv("article:update").await;
        let text = got.to_string();
        assert!(!text.contains("do not leak"), "{text}");
        let d = &got["data"];
        assert_eq!(d["title"], "Hello");
        assert!(
            d.get("comments").is_none() && d.get("author").is_none(),
            "{text}"
        );
        assert!(
            d.get("status").is_none() && d.get("undeclared").is_none(),
            "{text}"
        );
        assert_eq!(d["localizations"][0]["title"], "Bonjour", "{text}");
    }
    // status, strapi_stage, undeclared (article); status, undeclaredLocaleKey appear once each.
    assert_eq!(server.io.stats().undeclared_keys, 4);
}

#[tokio::test]
async fn entity_subscribers_get_one_copy_and_unrouted_readers_only_theirs() {
    let mut settings = demo_settings();
    // Authenticated is not routed article updates: it hears them only through subscriptions.
    settings
        .role_permissions
        .entry("authenticated".into())
        .or_default()
        .content_types
        .insert(
            ARTICLE.into(),
            [("update".to_string(), false)].into_iter().collect(),
        );
    let server = TestServer::start_with(settings).await;
    let mut subscribed = Client::jwt(&server.addr, &jwt(2)).await;
    let mut other = Client::jwt(&server.addr, &jwt(2)).await;
    let mut public = Client::public(&server.addr).await;

    let ack = subscribed
        .call(
            "subscribe-entity",
            Some(json!({"uid": ARTICLE, "id": "article-1"})),
        )
        .await;
    assert_eq!(
        ack,
        json!({"success": true, "room": "api::article.article:article-1", "uid": ARTICLE, "id": "article-1"})
    );
    let rooms = subscribed.call("get-rooms", None).await;
    assert_eq!(
        rooms,
        json!({"success": true, "rooms": ["api::article.article:article-1", "io-role-authenticated"]}),
        "own id and internal audience-scoped rooms are not listed"
    );
    // The public (routed) also subscribes by numeric id: still one copy.
    let ack = public
        .call("subscribe-entity", Some(json!({"uid": ARTICLE, "id": 1})))
        .await;
    assert_eq!(ack["success"], true);

    server
        .io
        .emit(EmitOptions::new("update", ARTICLE, article(1, "article-1")))
        .await
        .unwrap();
    let got = subscribed.recv("article:update").await;
    assert_eq!(
        got["data"]["author"]["name"], "Ada",
        "sanitized for its own audience"
    );
    assert!(
        public.recv("article:update").await["data"]
            .get("author")
            .is_none()
    );
    settle(&server, &mut [&mut subscribed, &mut other, &mut public]).await;
    assert!(subscribed.drain("article:update").is_empty());
    assert!(public.drain("article:update").is_empty());
    assert!(
        other.drain("article:update").is_empty(),
        "not subscribed, not routed"
    );

    let subs = server
        .io
        .entity_room_sockets(ARTICLE, &json!("article-1"))
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    let public_id = subscribed.call("whoami", None).await["id"].clone();
    // The id shown is the client's own socket id, never its Engine.IO session id.
    assert_eq!(json!(subs[0].id), public_id);
    assert_eq!(json!(subscribed.sid), public_id);
    assert_ne!(
        json!(subscribed.engine_sid),
        public_id,
        "the transport id is never shown"
    );
    assert_eq!(subs[0].user.as_ref().unwrap().username, "reader");
}

#[tokio::test]
async fn deletes_are_routed_and_carry_ids_only() {
    let server = TestServer::start().await;
    let mut public = Client::public(&server.addr).await;
    let mut comments = Client::api_token(&server.addr, "demo-token-comments-only").await;
    server
        .io
        .emit(EmitOptions::new("delete", ARTICLE, article(2, "article-2")))
        .await
        .unwrap();
    assert_eq!(
        public.recv("article:delete").await,
        json!({"data": {"id": 2, "documentId": "article-2"}, "meta": {}})
    );
    settle(&server, &mut [&mut comments]).await;
    assert!(comments.drain("article:delete").is_empty());
}

#[tokio::test]
async fn v4_format_only_published_and_disabled_types() {
    let mut settings = demo_settings();
    settings.events.format = strapi_io::core::settings::Format::V4;
    settings.events.only_published = true;
    let server = TestServer::start_with(settings).await;
    let mut editor = Client::jwt(&server.addr, &jwt(1)).await;
    let mut draft = article(3, "article-3");
    draft["publishedAt"] = Value::Null;
    let r = server
        .io
        .emit(EmitOptions::new("create", ARTICLE, draft))
        .await
        .unwrap();
    assert!(r.skipped.is_some());
    let r = server
        .io
        .emit(EmitOptions::new(
            "archive",
            ARTICLE,
            article(3, "article-3"),
        ))
        .await
        .unwrap();
    assert!(
        r.skipped.is_some(),
        "custom actions need contentTypes config"
    );
    server
        .io
        .emit(EmitOptions::new("create", ARTICLE, article(3, "article-3")))
        .await
        .unwrap();
    let got = editor.recv("article:create").await;
    assert_eq!(got["data"]["id"], 3);
    assert_eq!(got["data"]["attributes"]["title"], "Hello");
    assert_eq!(
        got["data"]["attributes"]["author"]["data"]["attributes"]["name"],
        "Ada"
    );
    let before = editor.drain("article:create").len();
    assert_eq!(before, 0, "the draft was not sent");
}

#[tokio::test]
async fn every_io_method_returns_and_acts() {
    let server = TestServer::start().await;
    let io = &server.io;
    let mut a = Client::jwt(&server.addr, &jwt(2)).await;
    let mut b = Client::public(&server.addr).await;

    // join_room / sockets_in_room / leave_room
    assert!(io.join_room(&a.sid, "premium").await.unwrap());
    assert!(!io.join_room("nope", "premium").await.unwrap());
    let inside = io.sockets_in_room("premium").await.unwrap();
    assert_eq!(inside.len(), 1);
    let whoami = a.call("whoami", None).await;
    assert_eq!(whoami["role"], "authenticated");
    assert_eq!(whoami["user"]["username"], "reader");
    assert_eq!(json!(inside[0].id), whoami["id"]);
    // Both ids address the socket.
    assert!(
        io.join_room(whoami["id"].as_str().unwrap(), "vip")
            .await
            .unwrap()
    );
    assert!(
        io.leave_room(whoami["id"].as_str().unwrap(), "vip")
            .await
            .unwrap()
    );
    assert_eq!(inside[0].role, "authenticated");
    assert_eq!(inside[0].user.as_ref().unwrap().email, "reader@example.com");
    assert!(inside[0].rooms.contains(&"premium".to_string()));
    assert!(
        inside[0]
            .rooms
            .contains(&"io-role-authenticated".to_string())
    );
    assert!(!inside[0].rooms.contains(&a.sid));
    io.raw(RawOptions {
        event: "offer".into(),
        rooms: Some(vec!["premium".into()]),
        data: json!({"discount": 50, "secret": "x"}),
    })
    .await
    .unwrap();
    assert_eq!(a.recv("offer").await, json!({"discount": 50}));
    assert!(io.leave_room(&a.sid, "premium").await.unwrap());
    assert!(!io.leave_room("nope", "premium").await.unwrap());
    assert!(io.sockets_in_room("premium").await.unwrap().is_empty());

    // send_private_message reaches only the target
    io.send_private_message(&b.sid, "note", &json!({"n": 1}))
        .await
        .unwrap();
    assert_eq!(b.recv("note").await, json!({"n": 1}));
    // broadcast reaches everyone but the sender
    io.broadcast(&b.sid, "typing", &json!({"who": "b"}))
        .await
        .unwrap();
    assert_eq!(a.recv("typing").await, json!({"who": "b"}));
    settle(&server, &mut [&mut a, &mut b]).await;
    assert!(a.drain("note").is_empty());
    assert!(b.drain("typing").is_empty());

    // namespaces
    assert_eq!(io.namespaces(), ["/", "/admin", "/chat"]);
    let mut chat = Client::connect_ns(&server.addr, "/chat", Value::Null)
        .await
        .unwrap();
    io.emit_to_namespace("chat", "announcement", &json!("hi"))
        .await
        .unwrap();
    assert_eq!(chat.recv("announcement").await, json!("hi"));
    assert_eq!(
        io.emit_to_namespace("nowhere", "x", &json!(1)).await,
        Err(IoError::UnknownNamespace("nowhere".into()))
    );

    // entity subscriptions
    let r = io.subscribe_to_entity(&a.sid, ARTICLE, &json!(1)).await;
    assert!(r.success, "{r:?}");
    assert_eq!(r.room.as_deref(), Some("api::article.article:1"));
    let missing = io.subscribe_to_entity(&a.sid, ARTICLE, &json!(99)).await;
    assert_eq!(missing.error.as_deref(), Some("Entity not found"));
    let denied = io
        .subscribe_to_entity(&b.sid, "api::author.author", &json!(1))
        .await;
    assert_eq!(
        denied.error.as_deref(),
        Some("Permission denied: no access to this content type")
    );
    let no_socket = io.subscribe_to_entity("nope", ARTICLE, &json!(1)).await;
    assert_eq!(no_socket.error.as_deref(), Some("Socket not found"));
    let subs = io.entity_subscriptions(&a.sid).await;
    assert!(subs.success);
    assert_eq!(subs.subscriptions.unwrap().len(), 1);
    assert!(!io.entity_subscriptions("nope").await.success);
    io.emit_to_entity(ARTICLE, &json!(1), "article:commented", &json!({"c": 1}))
        .await
        .unwrap();
    assert_eq!(a.recv("article:commented").await, json!({"c": 1}));
    assert_eq!(
        io.entity_room_sockets(ARTICLE, &json!(1))
            .await
            .unwrap()
            .len(),
        1
    );
    let r = io.unsubscribe_from_entity(&a.sid, ARTICLE, &json!(1)).await;
    assert!(r.success);
    assert!(
        io.entity_room_sockets(ARTICLE, &json!(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        io.entity_subscriptions(&a.sid)
            .await
            .subscriptions
            .unwrap()
            .len(),
        0
    );

    // a, b and the socket of /chat
    assert_eq!(io.connections(10).total, 3);

    // disconnect_socket tells why, then closes
    assert!(
        io.disconnect_socket(&b.sid, Some("Account deleted"))
            .await
            .unwrap()
    );
    assert_eq!(
        b.recv(strapi_io::DISCONNECT_REASON_EVENT).await,
        json!({"reason": "Account deleted"})
    );
    b.closed().await;
    assert!(!io.disconnect_socket("nope", None).await.unwrap());
}

#[tokio::test]
async fn handshakes_are_refused_with_the_spec_messages() {
    let server = TestServer::start().await;
    let addr = &server.addr;
    let refused = |auth: Value| {
        let addr = addr.clone();
        async move { Client::connect(&addr, auth).await.err().map(|r| r.0) }
    };
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let other_secret = sign(json!({"id": 2, "exp": t + 60}), "another-secret");
    let expired = sign(
        json!({"id": 2, "iat": t - 100, "exp": t - 10}),
        support::JWT_SECRET,
    );
    let refresh = sign(
        json!({"userId": "2", "type": "refresh", "exp": t + 60}),
        support::JWT_SECRET,
    );
    for (auth, message) in [
        (json!({"token": other_secret}), "Invalid credentials"),
        (json!({"token": expired}), "Token expired"),
        (json!({"token": refresh}), "Invalid credentials"),
        (json!({"token": jwt(3)}), "Invalid credentials"),
        (json!({"token": jwt(42)}), "Invalid credentials"),
        (
            json!({"strategy": "api-token", "token": "unknown"}),
            "Invalid credentials",
        ),
        (
            json!({"strategy": "oauth", "token": "x"}),
            "Unknown auth strategy",
        ),
    ] {
        assert_eq!(
            refused(auth.clone()).await.as_deref(),
            Some(message),
            "{auth}"
        );
    }
    // A namespace with requireAuth refuses anonymous sockets, accepts users.
    let err = Client::connect_ns(addr, "/admin", Value::Null)
        .await
        .err()
        .unwrap();
    assert_eq!(err.0, "Authentication required for namespace /admin");
    Client::connect_ns(addr, "/admin", json!({"token": jwt(1)}))
        .await
        .unwrap();
    // The server still serves others.
    let mut ok = Client::public(addr).await;
    server
        .io
        .emit(EmitOptions::new("create", ARTICLE, article(1, "article-1")))
        .await
        .unwrap();
    ok.recv("article:create").await;
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_harms_no_one() {
    let server = TestServer::start().await;
    let mut c = Client::public(&server.addr).await;
    assert_eq!(
        server
            .io
            .emit(EmitOptions::new(
                "create",
                "api::nope.nope",
                json!({"id": 1})
            ))
            .await,
        Err(IoError::UnknownContentType("api::nope.nope".into()))
    );
    let big = "x".repeat(2 * 1024 * 1024);
    let err = server
        .io
        .raw(RawOptions {
            event: "big".into(),
            rooms: None,
            data: json!({ "blob": big }),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, IoError::PayloadTooLarge { .. }), "{err}");
    assert!(matches!(
        server
            .io
            .raw(RawOptions {
                event: "disconnect".into(),
                rooms: None,
                data: json!(1)
            })
            .await,
        Err(IoError::InvalidEvent(_))
    ));
    // Malformed client events are answered, not fatal.
    assert_eq!(
        c.call("subscribe-entity", Some(json!("nonsense"))).await["error"],
        "Invalid parameters: uid and id are required"
    );
    assert_eq!(
        c.call("subscribe-entity", Some(json!({"uid": "Article", "id": 1})))
            .await["error"],
        "Invalid content type uid format"
    );
    assert_eq!(
        c.call(
            "subscribe-entity",
            Some(json!({"uid": ARTICLE, "id": {"x": 1}}))
        )
        .await["error"],
        "Invalid entity id"
    );
    assert_eq!(
        c.call("join-room", Some(json!(42))).await["error"],
        "Invalid room name"
    );
    assert_eq!(
        c.call("join-room", Some(json!("io-role-editor"))).await["error"],
        "Room name is reserved"
    );
    assert_eq!(
        c.call(
            "private-message",
            Some(json!({"to": "nobody", "message": "hi"}))
        )
        .await["error"],
        "Target socket not found"
    );
    assert_eq!(
        c.call(
            "private-message",
            Some(json!({"to": c.sid.clone(), "message": "x".repeat(10_001)}))
        )
        .await["error"],
        "Invalid message length"
    );
    c.emit("join-room", json!(null)); // no ack: dropped quietly
    server
        .io
        .emit(EmitOptions::new("create", ARTICLE, article(1, "article-1")))
        .await
        .unwrap();
    assert_eq!(c.recv("article:create").await["data"]["id"], 1);
    let _ = Settings::default();
}

#[tokio::test]
async fn closing_tells_every_socket_why() {
    let server = TestServer::start().await;
    let mut a = Client::public(&server.addr).await;
    let mut chat = Client::connect_ns(&server.addr, "/chat", Value::Null)
        .await
        .unwrap();
    server.io.close_with_reason("Server shutting down").await;
    for c in [&mut a, &mut chat] {
        assert_eq!(
            c.recv(strapi_io::DISCONNECT_REASON_EVENT).await,
            json!({"reason": "Server shutting down"})
        );
    }
    a.closed().await;
}

#[tokio::test]
async fn custom_events_and_connect_hooks_reach_library_handlers() {
    use strapi_io::{Args, Payload};
    let schemas = strapi_io::load_schemas(&support::blog_src()).unwrap();
    let directory = strapi_io::StaticDirectory::new(
        &support::demo_directory(),
        support::JWT_SECRET,
        support::SALT,
    )
    .unwrap();
    let (layer, _io) = strapi_io::IoBuilder::new(schemas)
        .directory(std::sync::Arc::new(directory))
        .on_connect(|c| async move {
            let who = c
                .socket
                .user()
                .map(|u| u.username.clone())
                .unwrap_or_default();
            let _ = c
                .socket
                .emit("welcome", &Args(vec![Payload::from(json!(who))]));
        })
        .on_event("echo", |e| async move {
            let role = e.socket.role().to_string();
            let mut args = e.args.0;
            args.push(Payload::from(json!(role)));
            Some(Args(args))
        })
        .build()
        .unwrap();
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut c = Client::jwt(&addr, &jwt(1)).await;
    assert_eq!(c.recv("welcome").await, json!("editor"));
    assert_eq!(
        c.call_args("echo", Some(json!({"x": 1}))).await,
        json!([{"x": 1}, "editor"])
    );
    // A reserved name cannot be taken by a custom handler.
    let schemas = strapi_io::load_schemas(&support::blog_src()).unwrap();
    let err = strapi_io::IoBuilder::new(schemas)
        .on_event("join-room", |_e| async move { None })
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("built-in"), "{err}");
}

#[test]
fn building_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    let schemas = strapi_io::load_schemas(&support::blog_src()).unwrap();
    let err = strapi_io::IoBuilder::new(schemas).build().unwrap_err();
    assert!(matches!(err, strapi_io::BuildError::NoRuntime), "{err}");
}

/// The error of building with Redis on at `url` (the password `hunter2` in it).
fn redis_build_error(url: &str) -> String {
    let schemas = strapi_io::load_schemas(&support::blog_src()).unwrap();
    let mut settings = Settings::default();
    settings.redis.enabled = true;
    settings.redis.url = url.into();
    let err = strapi_io::IoBuilder::new(schemas)
        .settings(settings)
        .build()
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, strapi_io::BuildError::Cluster(_)), "{text}");
    assert!(!text.contains("hunter2"), "the password shown: {text}");
    let source = std::error::Error::source(&err).expect("the cause kept as the source");
    assert!(text.ends_with(&source.to_string()), "{text} / {source}");
    text
}

#[cfg(feature = "cluster")]
#[tokio::test]
async fn an_unusable_redis_url_stops_the_build_without_its_password() {
    let text = redis_build_error("redis://:hunter2@[bad host");
    assert!(text.contains("invalid Redis URL"), "{text}");
}

#[cfg(not(feature = "cluster"))]
#[tokio::test]
async fn without_the_cluster_feature_enabling_redis_stops_the_build() {
    let text = redis_build_error("redis://:hunter2@127.0.0.1:6379");
    assert!(text.contains("`cluster` feature"), "{text}");
}
