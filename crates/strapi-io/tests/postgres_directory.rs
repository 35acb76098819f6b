//! `StrapiDirectory` on a real PostgreSQL server loaded with the dump of a real Strapi 5.54 app
//! (`tests/fixtures/strapi5-postgres.sql`), connected as a role that may only `SELECT`: the
//! same checks as the SQLite unit tests, plus the faults (server stopped, unreachable at
//! start, refused credentials) and credential hygiene (the password never shows in errors,
//! `/health` reasons or logs). The cluster is started by the test (see `pg/mod.rs`) and
//! stopped when it ends, also on failure. Without PostgreSQL installed the test fails.
#![allow(missing_docs)]

mod fixture_checks;
mod pg;
mod support;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use fixture_checks::{SALT, SECRET, access, content_type, legacy, role, token};
use pg::PgCluster;
use sqlx::{Connection, PgConnection};
use strapi_io::core::auth::AuthError;
use strapi_io::{
    Directory, DirectoryHealth, StrapiDirectory, StrapiDirectoryError, StrapiDirectoryOptions,
};

const DUMP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/strapi5-postgres.sql"
);
/// The SELECT-only role the directory connects as.
const READER: &str = "strapi_reader";
/// Its password: must never appear in an error, a health reason or a log line.
const PASSWORD: &str = "Rd0nly-pw-7q2Zx";
/// A wrong password, which must not appear either.
const WRONG_PASSWORD: &str = "Wr0ng-pw-K4v9";
/// The hang guard of the whole test.
const TEST_LIMIT: Duration = Duration::from_secs(240);

/// Everything logged during the test (tracing, every level).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The directory with its change watch off: the checks decide when caches are read again.
async fn open(url: &str) -> StrapiDirectory {
    let options = StrapiDirectoryOptions {
        refresh: Duration::ZERO,
        ..StrapiDirectoryOptions::default()
    };
    StrapiDirectory::open(url, SECRET, SALT, options)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"))
}

/// Waits (at most `limit`) until the directory reports ready.
async fn wait_ready(d: &StrapiDirectory, limit: Duration) -> DirectoryHealth {
    let start = Instant::now();
    loop {
        let health = d.health();
        if health.ready || start.elapsed() > limit {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that `text` shows neither password.
fn no_password(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD) && !text.contains(WRONG_PASSWORD),
        "{what} shows a password: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strapi_directory_on_postgresql() {
    let logs = logs();
    let mut cluster = PgCluster::start();
    // The Strapi database, a SELECT-only role, and one copy per step that writes to it.
    cluster.psql("postgres", "CREATE DATABASE strapi");
    cluster.load_dump("strapi", Path::new(DUMP));
    cluster.psql(
        "postgres",
        &format!("CREATE ROLE {READER} LOGIN PASSWORD '{PASSWORD}'"),
    );
    cluster.psql(
        "strapi",
        &format!(
            "GRANT CONNECT ON DATABASE strapi TO {READER}; \
             GRANT USAGE ON SCHEMA public TO {READER}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER};"
        ),
    );
    for copy in [
        "strapi_confirm",
        "strapi_cache",
        "strapi_faults",
        "strapi_watch",
        "strapi_follow",
    ] {
        cluster.psql(
            "postgres",
            &format!("CREATE DATABASE {copy} TEMPLATE strapi; GRANT CONNECT ON DATABASE {copy} TO {READER}"),
        );
    }
    let [main, confirm, cache, faulty, watch, follow] = [
        "strapi",
        "strapi_confirm",
        "strapi_cache",
        "strapi_faults",
        "strapi_watch",
        "strapi_follow",
    ]
    .map(|db| cluster.url(READER, PASSWORD, db));

    let checks = async {
        the_role_may_only_select(&main).await;
        roles_and_tokens_are_loaded_with_their_actions(&main).await;
        jwt_users_in_both_forms(&main).await;
        api_tokens(&main).await;
        entity_existence(&cluster, &main).await;
        email_confirmation_from_the_advanced_store(&cluster, &confirm).await;
        cache_and_invalidate(&cluster, &cache).await;
        changes_are_watched(&cluster, &watch).await;
        sockets_follow_strapi(&cluster, &follow).await;
        open_errors(&cluster).await;
        faults(&mut cluster, &faulty).await;
    };
    tokio::time::timeout(TEST_LIMIT, checks)
        .await
        .expect("the PostgreSQL checks hung");

    // Credentials in the logs: there were failures to log, none shows a password.
    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(
        text.contains("strapi directory: cannot read the database"),
        "the faults were logged"
    );
    no_password("the log", &text);
}

/// The test role is what the README asks for: reading works, writing does not.
async fn the_role_may_only_select(url: &str) {
    let mut c = PgConnection::connect(url)
        .await
        .expect("connect as the reader");
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM up_users")
        .fetch_one(&mut c)
        .await
        .expect("select");
    assert_eq!(n, 4);
    let err = sqlx::query("UPDATE up_users SET username = 'x' WHERE id = 2")
        .execute(&mut c)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    c.close().await.expect("close");
}

async fn roles_and_tokens_are_loaded_with_their_actions(url: &str) {
    let d = open(url).await;
    assert_eq!(
        d.health(),
        DirectoryHealth {
            ready: true,
            reason: None
        }
    );
    let database = d.database();
    assert!(
        database.starts_with(&format!("postgres://{READER}@127.0.0.1:"))
            && database.ends_with("/strapi"),
        "{database}"
    );
    no_password("Debug", &format!("{d:?}"));
    let mut rooms: Vec<String> = d.audiences().iter().map(|a| a.room.clone()).collect();
    // The dump lists tokens in another physical order; the directory orders by id.
    assert_eq!(
        rooms.drain(..3).collect::<Vec<_>>(),
        ["io-role-authenticated", "io-role-public", "io-role-editor"]
    );
    assert_eq!(
        rooms,
        [
            "io-token-read-only",
            "io-token-full-access",
            "io-token-dashboard",
            "io-token-comments-only",
            "io-token-ops",
            "io-token-old",
        ]
    );
    fixture_checks::roles_and_permissions(&d).await;
    d.close().await;
}

async fn jwt_users_in_both_forms(url: &str) {
    let d = open(url).await;
    fixture_checks::jwt_users(&d).await;
    d.close().await;
}

async fn api_tokens(url: &str) {
    let d = open(url).await;
    fixture_checks::api_tokens(&d).await;
    d.close().await;
}

async fn entity_existence(cluster: &PgCluster, url: &str) {
    // Document ids differ from the SQLite fixture: read them from the loaded dump.
    let doc = |sql: &str| cluster.psql("strapi", sql).trim().to_string();
    let published =
        doc("SELECT document_id FROM articles WHERE published_at IS NOT NULL ORDER BY id LIMIT 1");
    let draft_only = doc("SELECT document_id FROM articles GROUP BY document_id \
         HAVING count(published_at) = 0 ORDER BY document_id LIMIT 1");
    let draft_row = doc("SELECT min(id) FROM articles WHERE published_at IS NULL \
         AND document_id IN (SELECT document_id FROM articles WHERE published_at IS NOT NULL)");
    let draft_only_row = doc(&format!(
        "SELECT id FROM articles WHERE document_id = '{draft_only}'"
    ));
    assert_eq!(published.len(), 24, "{published}");
    assert_eq!(draft_only.len(), 24, "{draft_only}");
    assert_eq!((draft_row.as_str(), draft_only_row.as_str()), ("1", "5"));

    let d = open(url).await;
    let article = content_type("article", Some("articles"), true);
    let comment = content_type("comment", Some("comments"), false);
    for (ct, id, expected) in [
        (&article, published.as_str(), true),
        (&article, draft_only.as_str(), false),
        (&article, "2", true),
        (&article, "1", false),
        (&article, "5", false),
        (&article, "99", false),
        (&article, "99999999999999999999", false),
        (&article, "nosuchdocumentid", false),
        (&article, "1 OR 1=1", false),
        (&article, "x' OR '1'='1", false),
        (&comment, "1", true),
        (&comment, "99", false),
    ] {
        assert_eq!(
            d.entity_exists(ct, id, false).await.expect("exists"),
            expected,
            "{} {id}",
            ct.uid
        );
    }
    // An audience that may see drafts also finds draft rows and draft-only documents.
    for (ct, id, expected) in [
        (&article, draft_only.as_str(), true),
        (&article, "1", true),
        (&article, "5", true),
        (&article, "99", false),
        (&comment, "1", true),
    ] {
        assert_eq!(
            d.entity_exists(ct, id, true).await.expect("exists"),
            expected,
            "drafts: {} {id}",
            ct.uid
        );
    }
    let missing = content_type("ghost", Some("ghosts"), false);
    let err = d.entity_exists(&missing, "1", false).await.unwrap_err();
    assert!(
        err.0.contains("ghosts") && err.0.contains("does not exist"),
        "{err}"
    );
    no_password("an entity error", &err.0);
    // A missing table is a problem with the schema, not an outage.
    assert!(d.health().ready);
    d.close().await;
}

async fn email_confirmation_from_the_advanced_store(cluster: &PgCluster, url: &str) {
    let d = open(url).await;
    assert!(d.authenticate(Some(&legacy(4))).await.is_ok());
    cluster.psql(
        "strapi_confirm",
        "UPDATE strapi_core_store_settings \
         SET value = jsonb_set(value::jsonb, '{email_confirmation}', 'true')::text \
         WHERE key = 'plugin_users-permissions_advanced'",
    );
    d.invalidate().await.expect("invalidate");
    assert_eq!(
        d.authenticate(Some(&legacy(4)))
            .await
            .map(|i| i.audience.room.clone()),
        Err(AuthError::InvalidCredentials)
    );
    assert!(d.authenticate(Some(&access("2"))).await.is_ok());
    d.close().await;
}

async fn cache_and_invalidate(cluster: &PgCluster, url: &str) {
    let d = Arc::new(open(url).await);
    // Users: one query per miss, shared by concurrent misses, cached until invalidated.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move {
                let cred = if i % 2 == 0 { legacy(2) } else { access("2") };
                d.authenticate(Some(&cred))
                    .await
                    .map(|id| id.audience.room.clone())
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(
            t.await.expect("task"),
            Ok("io-role-authenticated".to_string())
        );
    }
    assert_eq!(d.user_queries(), 1);
    // Strapi deletes the user and removes `find` on comments from Public.
    cluster.psql(
        "strapi_cache",
        "DELETE FROM up_users WHERE id = 2; \
         DELETE FROM up_permissions WHERE action = 'api::comment.comment.find' AND id IN \
           (SELECT l.permission_id FROM up_permissions_role_lnk l \
            JOIN up_roles r ON r.id = l.role_id WHERE r.type = 'public')",
    );
    let cached = d
        .authenticate(Some(&legacy(2)))
        .await
        .expect("cached reader");
    assert_eq!(cached.user.map(|u| u.username), Some("reader".to_string()));
    assert_eq!(d.user_queries(), 1);
    assert!(role(&d, "public").has("api::comment.comment.find"));
    d.invalidate().await.expect("invalidate");
    assert_eq!(
        d.authenticate(Some(&legacy(2)))
            .await
            .map(|i| i.audience.room.clone()),
        Err(AuthError::InvalidCredentials)
    );
    assert_eq!(d.user_queries(), 2);
    let public = d.authenticate(None).await.expect("anonymous").audience;
    assert!(!public.has("api::comment.comment.find"));
    assert!(public.has("api::comment.comment.findOne"));

    // Token expiry is read as UTC wall-clock time.
    for (shift, expected) in [
        ("+ interval '2 minutes'", Ok("io-token-old".to_string())),
        ("- interval '2 minutes'", Err(AuthError::TokenExpired)),
    ] {
        cluster.psql(
            "strapi_cache",
            &format!(
                "UPDATE strapi_api_tokens SET expires_at = (now() AT TIME ZONE 'UTC') {shift} \
                 WHERE name = 'old'"
            ),
        );
        d.invalidate().await.expect("invalidate");
        assert_eq!(
            d.authenticate(Some(&token("fixture-token-old")))
                .await
                .map(|i| i.audience.room.clone()),
            expected,
            "expires_at now {shift}"
        );
    }
    d.close().await;
}

/// [`fixture_checks::Writer`] through `psql` as the superuser.
struct PsqlWriter<'c> {
    cluster: &'c PgCluster,
    database: &'static str,
}

impl fixture_checks::Writer for PsqlWriter<'_> {
    fn exec<'a>(&'a self, sql: &'a str) -> futures_util::future::BoxFuture<'a, ()> {
        self.cluster.psql(self.database, sql);
        Box::pin(async {})
    }

    fn at(&self, ms: i64) -> String {
        // `timestamp without time zone` holding UTC wall-clock time, as Strapi writes it.
        format!("(to_timestamp({ms} / 1000.0) AT TIME ZONE 'UTC')")
    }
}

async fn changes_are_watched(cluster: &PgCluster, url: &str) {
    let d = open(url).await;
    let w = PsqlWriter {
        cluster,
        database: "strapi_watch",
    };
    fixture_checks::watched_changes(&d, &w).await;
    d.close().await;
}

/// End to end: a server on the directory with its default watch (every 2 s), sockets of the
/// Rust client, changes written as Strapi writes them — each reaches the connected sockets
/// within 3 s, without `invalidate`.
async fn sockets_follow_strapi(cluster: &PgCluster, url: &str) {
    use serde_json::json;
    use strapi_io::{EmitOptions, IoBuilder, load_schemas};
    use support::Client;

    const LIMIT: Duration = Duration::from_secs(3);
    let directory = Arc::new(
        StrapiDirectory::open(url, SECRET, SALT, StrapiDirectoryOptions::default())
            .await
            .expect("open"),
    );
    let schemas = load_schemas(&support::blog_src()).expect("schemas");
    let (layer, io) = IoBuilder::new(schemas)
        .directory(directory.clone())
        .build()
        .expect("build");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let serving = io.clone();
    let server = tokio::spawn(async move {
        serving
            .serve(
                listener,
                axum::Router::new().layer(layer),
                std::future::pending(),
            )
            .await
    });
    let sql = |text: &str| cluster.psql("strapi_follow", text);
    let jwt = |c: &strapi_io::core::auth::Credential| match c {
        strapi_io::core::auth::Credential::Jwt(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    let mut public = Client::public(&addr).await;
    let mut reader = Client::jwt(&addr, &jwt(&legacy(2))).await;
    let mut editor = Client::jwt(&addr, &jwt(&access("1"))).await;
    let mut dashboard = Client::api_token(&addr, "fixture-token-dashboard").await;
    let article = |n: u64| {
        EmitOptions::new(
            "create",
            "api::article.article",
            json!({"id": n, "documentId": format!("doc{n}"), "title": "t", "publishedAt": "2026-12-01T00:00:00.000Z"}),
        )
    };
    io.emit(article(1)).await.expect("emit");
    assert_eq!(public.recv("article:create").await["data"]["id"], 1);

    // Public loses read access to articles (`find` and `findOne`): the next events do not
    // reach it.
    sql("DELETE FROM up_permissions \
         WHERE action IN ('api::article.article.find', 'api::article.article.findOne') \
           AND id IN (SELECT l.permission_id FROM up_permissions_role_lnk l \
                      JOIN up_roles r ON r.id = l.role_id WHERE r.type = 'public')");
    let start = Instant::now();
    let mut n = 1;
    loop {
        n += 1;
        io.emit(article(n)).await.expect("emit");
        tokio::time::sleep(Duration::from_millis(150)).await;
        if public.drain("article:create").is_empty() {
            break;
        }
        assert!(
            start.elapsed() < LIMIT,
            "public still receives after {LIMIT:?}: {:?} {:?}",
            directory.watch_stats(),
            io.audiences().iter().find(|a| a.room == "io-role-public")
        );
    }
    // The reader (authenticated) still does.
    assert!(!reader.drain("article:create").is_empty());

    // The reader is blocked: told why, then disconnected.
    sql("UPDATE up_users SET blocked = true, updated_at = now() AT TIME ZONE 'UTC' WHERE id = 2");
    let start = Instant::now();
    let told = reader.recv("server-disconnect").await;
    assert!(start.elapsed() < LIMIT, "{:?}", start.elapsed());
    assert_eq!(told, json!({"reason": "Invalid credentials"}));
    reader.closed().await;

    // The dashboard token is deleted.
    sql("DELETE FROM strapi_api_tokens WHERE name = 'dashboard'");
    let start = Instant::now();
    let told = dashboard.recv("server-disconnect").await;
    assert!(start.elapsed() < LIMIT, "{:?}", start.elapsed());
    assert_eq!(told, json!({"reason": "Invalid credentials"}));
    dashboard.closed().await;

    // The editor becomes an authenticated user: moved to that audience, still connected.
    let before = editor.call("whoami", None).await;
    assert_eq!(before["role"], "editor");
    sql("UPDATE up_users_role_lnk \
         SET role_id = (SELECT id FROM up_roles WHERE type = 'authenticated') WHERE user_id = 1; \
         UPDATE up_users SET updated_at = now() AT TIME ZONE 'UTC' WHERE id = 1");
    let start = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if editor.call("whoami", None).await["role"] == "authenticated" {
            break;
        }
        assert!(start.elapsed() < LIMIT, "not moved after {LIMIT:?}");
    }
    let members = io
        .sockets_in_room("io-role-authenticated")
        .await
        .expect("sockets");
    assert!(
        members
            .iter()
            .any(|s| s.user.as_ref().is_some_and(|u| u.username == "editor")),
        "{members:?}"
    );
    let stats = io.stats();
    assert_eq!(
        (stats.access_revoked, stats.audience_moves),
        (2, 1),
        "{stats:?}"
    );
    assert!(stats.access_rechecks >= 3, "{stats:?}");
    drop(public);
    server.abort();
    directory.close().await;
}

async fn open_errors(cluster: &PgCluster) {
    let open_err = |url: String| async move {
        let err = StrapiDirectory::open(&url, SECRET, SALT, Default::default())
            .await
            .map(|_| ())
            .unwrap_err();
        no_password("an open error", &err.to_string());
        no_password("an open error (Debug)", &format!("{err:?}"));
        err
    };
    // Refused credentials stop the start: waiting does not fix them.
    let err = open_err(cluster.url(READER, WRONG_PASSWORD, "strapi")).await;
    let msg = err.to_string();
    assert!(msg.contains("password authentication failed"), "{msg}");
    assert!(
        msg.contains(&format!("postgres://{READER}@127.0.0.1:")),
        "{msg}"
    );
    // So do a database without Strapi's tables and a database that does not exist.
    let msg = open_err(cluster.url(READER, PASSWORD, "postgres"))
        .await
        .to_string();
    assert!(
        msg.contains("up_roles") && msg.contains("does not exist"),
        "{msg}"
    );
    let msg = open_err(cluster.url(READER, PASSWORD, "nope"))
        .await
        .to_string();
    assert!(msg.contains("\"nope\" does not exist"), "{msg}");
    // URLs this build cannot serve.
    for url in [
        format!(
            "{}?sslmode=require",
            cluster.url(READER, PASSWORD, "strapi")
        ),
        format!("postgres://{READER}:{PASSWORD}@127.0.0.1:notaport/strapi"),
        format!("mysql://{READER}:{PASSWORD}@127.0.0.1/strapi"),
    ] {
        let err = open_err(url.clone()).await;
        assert!(
            matches!(err, StrapiDirectoryError::InvalidUrl(_)),
            "{url}: {err:?}"
        );
    }
    // The password also goes as a URL parameter, percent-encoded or not.
    let url = format!(
        "postgres://{READER}@127.0.0.1:{}/strapi?password={PASSWORD}",
        cluster.port()
    );
    let d = open(&url).await;
    assert!(d.health().ready);
    d.close().await;
    let err = open_err(format!(
        "postgres://{READER}@127.0.0.1:{}/postgres?password={WRONG_PASSWORD}",
        cluster.port()
    ))
    .await;
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
}

async fn faults(cluster: &mut PgCluster, url: &str) {
    let d = open(url).await;
    let article = content_type("article", Some("articles"), true);
    assert!(d.authenticate(Some(&legacy(1))).await.is_ok());
    assert!(d.entity_exists(&article, "2", false).await.expect("exists"));

    cluster.stop();
    // A handshake that needs the database is Unavailable, within a bounded time (a hang
    // guard, not a performance claim).
    let start = Instant::now();
    assert_eq!(
        d.authenticate(Some(&legacy(2)))
            .await
            .map(|i| i.audience.room.clone()),
        Err(AuthError::Unavailable)
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(AuthError::Unavailable.to_string(), "Service unavailable");
    let health = d.health();
    assert!(!health.ready);
    let reason = health.reason.unwrap_or_default();
    assert!(reason.contains("up_users"), "{reason}");
    assert!(
        !reason.contains("127.0.0.1") && !reason.contains(READER),
        "{reason}"
    );
    no_password("the health reason", &reason);
    // Cached users, API tokens and the Public role keep answering; other misses fail fast.
    assert_eq!(
        d.authenticate(Some(&access("1")))
            .await
            .map(|i| i.audience.room.clone()),
        Ok("io-role-editor".to_string())
    );
    assert!(
        d.authenticate(Some(&token("fixture-token-ops")))
            .await
            .is_ok()
    );
    assert!(d.authenticate(None).await.is_ok());
    let start = Instant::now();
    assert_eq!(
        d.authenticate(Some(&legacy(4)))
            .await
            .map(|i| i.audience.room.clone()),
        Err(AuthError::Unavailable)
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let err = d.entity_exists(&article, "2", false).await.unwrap_err();
    no_password("an entity error", &err.0);
    let err = d.invalidate().await.unwrap_err();
    no_password("an invalidate error", &err.to_string());

    // A gateway starting while the server is down starts anyway, empty and not ready.
    let late = open(url).await;
    assert!(!late.health().ready);
    assert!(late.audiences().is_empty());
    for cred in [None, Some(token("fixture-token-ops")), Some(legacy(1))] {
        assert_eq!(
            late.authenticate(cred.as_ref())
                .await
                .map(|i| i.audience.room.clone()),
            Err(AuthError::Unavailable),
            "{cred:?}"
        );
    }
    // So does one whose host does not resolve (its reason says why, without the host).
    let nowhere = open(&format!(
        "postgres://{READER}:{PASSWORD}@strapi-db.invalid:5432/strapi"
    ))
    .await;
    let health = nowhere.health();
    assert!(!health.ready);
    let reason = health.reason.unwrap_or_default();
    assert!(!reason.contains("strapi-db.invalid"), "{reason}");
    no_password("the health reason", &reason);
    nowhere.close().await;

    // The server comes back: both recover by themselves, nothing is restarted.
    cluster.start_again();
    let limit = Duration::from_secs(30);
    assert_eq!(
        wait_ready(&d, limit).await,
        DirectoryHealth {
            ready: true,
            reason: None
        }
    );
    assert_eq!(
        wait_ready(&late, limit).await,
        DirectoryHealth {
            ready: true,
            reason: None
        }
    );
    assert_eq!(
        d.authenticate(Some(&legacy(2)))
            .await
            .map(|i| i.audience.room.clone()),
        Ok("io-role-authenticated".to_string())
    );
    assert!(d.entity_exists(&article, "2", false).await.expect("exists"));
    d.invalidate().await.expect("invalidate after recovery");
    assert_eq!(late.audiences().len(), 9);
    assert_eq!(
        late.authenticate(Some(&legacy(1)))
            .await
            .map(|i| i.audience.room.clone()),
        Ok("io-role-editor".to_string())
    );
    d.close().await;
    late.close().await;
}
