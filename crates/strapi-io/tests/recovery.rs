//! Connection state recovery against who the client is now: a socket whose user was blocked
//! while it was away is not recovered, a session id presented by another user's credential
//! is not taken over (with `skipMiddlewares: false`), and a recovered socket keeps its id.
//! The official client's side (offsets, `socket.recovered`, replay order) is tested end to
//! end in `tests/js/recovery.test.mjs`.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use strapi_io::core::ContentType;
use strapi_io::core::auth::{AuthError, Credential};
use strapi_io::directory::BoxFuture;
use strapi_io::{Directory, DirectoryChange, Identity, IoBuilder, StaticDirectory, Subject};
use support::Client;
use support::{JWT_SECRET, SALT, TestServer, demo_directory, demo_settings, jwt};

/// The demo directory, with users that can be blocked while the test runs.
struct Blockable {
    inner: StaticDirectory,
    blocked: Mutex<HashSet<String>>,
}

impl Blockable {
    fn check(&self, answer: Result<Identity, AuthError>) -> Result<Identity, AuthError> {
        let identity = answer?;
        match &identity.subject {
            Subject::User(id) if self.blocked.lock().unwrap().contains(id) => {
                Err(AuthError::InvalidCredentials)
            }
            _ => Ok(identity),
        }
    }
}

impl Directory for Blockable {
    fn authenticate<'a>(
        &'a self,
        credential: Option<&'a Credential>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async move { self.check(self.inner.authenticate(credential).await) })
    }

    fn audiences(&self) -> Arc<Vec<Arc<strapi_io::core::Audience>>> {
        self.inner.audiences()
    }

    fn entity_exists<'a>(
        &'a self,
        content_type: &'a ContentType,
        id: &'a str,
        include_drafts: bool,
    ) -> BoxFuture<'a, Result<bool, strapi_io::directory::DirectoryError>> {
        self.inner.entity_exists(content_type, id, include_drafts)
    }

    fn recheck<'a>(
        &'a self,
        subjects: &'a [Subject],
    ) -> BoxFuture<'a, Vec<Result<Identity, AuthError>>> {
        Box::pin(async move {
            let answers = self.inner.recheck(subjects).await;
            answers.into_iter().map(|a| self.check(a)).collect()
        })
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<DirectoryChange>> {
        None
    }
}

async fn start(skip_middlewares: bool) -> (TestServer, Arc<Blockable>) {
    let directory = Arc::new(Blockable {
        inner: StaticDirectory::new(&demo_directory(), JWT_SECRET, SALT).unwrap(),
        blocked: Mutex::new(HashSet::new()),
    });
    let mut settings = demo_settings();
    settings.connection.recovery.skip_middlewares = skip_middlewares;
    let dir = directory.clone();
    let server = TestServer::start_built(settings, move |b: IoBuilder| b.directory(dir)).await;
    (server, directory)
}

/// Drops a client's connection and waits until the server has let its socket go.
async fn drop_client(server: &TestServer, client: Client) {
    let before = server.io.connection_count();
    client.cut();
    for _ in 0..250 {
        if server.io.connection_count() < before {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the server did not notice the client leave");
}

fn resume(token: &str, client: &Client) -> Value {
    json!({"token": token, "pid": client.pid.as_deref().expect("a pid")})
}

#[tokio::test]
async fn a_socket_comes_back_with_its_id_when_its_user_may_still_connect() {
    let (server, _) = start(true).await;
    let token = jwt(2);
    let client = Client::jwt(&server.addr, &token).await;
    let (sid, auth) = (client.sid.clone(), resume(&token, &client));
    drop_client(&server, client).await;
    let back = Client::connect(&server.addr, auth).await.unwrap();
    assert_eq!(back.sid, sid, "the same socket");
    assert_eq!(server.io.stats().recovery.recovered, 1);
}

#[tokio::test]
async fn a_user_blocked_while_away_is_not_recovered_nor_let_in() {
    let (server, directory) = start(true).await;
    let token = jwt(2);
    let client = Client::jwt(&server.addr, &token).await;
    let auth = resume(&token, &client);
    drop_client(&server, client).await;
    directory.blocked.lock().unwrap().insert("2".into());
    let refused = Client::connect(&server.addr, auth)
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, "Invalid credentials");
    let stats = server.io.stats().recovery;
    assert_eq!((stats.recovered, stats.refused), (0, 1), "{stats:?}");
}

#[tokio::test]
async fn without_skip_middlewares_another_users_credential_cannot_take_a_session_over() {
    let (server, _) = start(false).await;
    let client = Client::jwt(&server.addr, &jwt(2)).await;
    let (sid, pid) = (client.sid.clone(), client.pid.clone().unwrap());
    drop_client(&server, client).await;
    // The editor (user 1) presents the reader's session id: a new session as the editor.
    let other = Client::connect(&server.addr, json!({"token": jwt(1), "pid": pid}))
        .await
        .unwrap();
    assert_ne!(other.sid, sid);
    assert_ne!(other.pid.as_deref(), Some(pid.as_str()), "a new pid");
    let stats = server.io.stats().recovery;
    assert_eq!((stats.recovered, stats.refused), (0, 1), "{stats:?}");
    // Taken: the reader cannot recover it any more either.
    let late = Client::connect(&server.addr, json!({"token": jwt(2), "pid": pid}))
        .await
        .unwrap();
    assert_ne!(late.sid, sid);
    assert_eq!(server.io.stats().recovery.expired, 1);
}

#[tokio::test]
async fn a_client_that_leaves_on_purpose_leaves_no_session() {
    let (server, _) = start(true).await;
    let client = Client::jwt(&server.addr, &jwt(2)).await;
    let pid = client.pid.clone().unwrap();
    client.emit_raw("41");
    for _ in 0..250 {
        if server.io.connection_count() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(server.io.stats().recovery.sessions, 0);
    let again = Client::connect(&server.addr, json!({"token": jwt(2), "pid": pid}))
        .await
        .unwrap();
    assert_eq!(server.io.stats().recovery.recovered, 0);
    assert!(again.pid.is_some());
}

#[tokio::test]
async fn garbage_in_pid_and_offset_is_a_new_session() {
    let (server, _) = start(true).await;
    let client = Client::jwt(&server.addr, &jwt(2)).await;
    let pid = client.pid.clone().unwrap();
    drop_client(&server, client).await;
    for auth in [
        json!({"pid": 7}),
        json!({"pid": "x".repeat(10_000)}),
        json!({"pid": pid, "offset": "not a number"}),
    ] {
        let c = Client::connect(&server.addr, auth.clone()).await.unwrap();
        assert!(c.pid.is_some(), "{auth}");
    }
    let stats = server.io.stats().recovery;
    assert_eq!(stats.recovered, 0, "{stats:?}");
    // A pid that cannot be one was never given; the session taken with a bad offset is
    // refused, and gone.
    assert_eq!((stats.expired, stats.refused), (1, 1), "{stats:?}");
    assert_eq!(stats.sessions, 0, "{stats:?}");
}

#[tokio::test]
async fn a_client_back_before_its_old_transport_was_found_dead_takes_its_socket_over() {
    let (server, _) = start(true).await;
    let token = jwt(2);
    let old = Client::jwt(&server.addr, &token).await;
    let (sid, auth) = (old.sid.clone(), resume(&token, &old));
    // The old connection is still open (no ping timeout yet) when the client comes back.
    let back = Client::connect(&server.addr, auth).await.unwrap();
    assert_eq!(back.sid, sid, "the same socket");
    assert_eq!(server.io.connection_count(), 1, "the old one is gone");
    old.closed().await;
    assert_eq!(server.io.stats().recovery.recovered, 1);
}
