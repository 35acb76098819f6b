//! The SQLite half of the directory's tests, on a copy of a real Strapi 5.54 database
//! (`tests/fixtures/strapi5.db`); `tests/postgres_directory.rs` runs the same checks on a
//! PostgreSQL server.

use super::snapshot::ADVANCED_KEY;
use super::*;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/strapi5.db");
#[path = "../../tests/fixture_checks/mod.rs"]
mod fixture_checks;
use fixture_checks::{SALT, SECRET, access, content_type, legacy, role, token};

/// A private copy of the fixture database in its own temp directory.
struct TempDb {
    dir: PathBuf,
    path: PathBuf,
}

impl TempDb {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "strapi-io-dirtest-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            crate::directory::unix_millis()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.db");
        std::fs::copy(FIXTURE, &path).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&path, perms).unwrap();
        TempDb { dir, path }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    async fn open(&self, ttl: Duration) -> StrapiDirectory {
        StrapiDirectory::open(
            &self.url(),
            SECRET,
            SALT,
            StrapiDirectoryOptions {
                cache_ttl: ttl,
                refresh: Duration::ZERO,
            },
        )
        .await
        .unwrap()
    }

    /// A separate read-write connection, standing in for Strapi.
    async fn writer(&self) -> SqliteConnection {
        SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&self.path))
            .await
            .unwrap()
    }

    fn sidecars(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "data.db")
            .collect()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn roles_and_tokens_are_loaded_with_their_actions() {
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    let rooms: Vec<String> = d.audiences().iter().map(|a| a.room.clone()).collect();
    assert_eq!(
        rooms,
        [
            "io-role-authenticated",
            "io-role-public",
            "io-role-editor",
            "io-token-read-only",
            "io-token-full-access",
            "io-token-dashboard",
            "io-token-comments-only",
            "io-token-ops",
            "io-token-old",
        ]
    );
    fixture_checks::roles_and_permissions(&d).await;
}

/// [`fixture_checks::Writer`] over a read-write SQLite connection.
struct SqliteWriter(sqlx::SqlitePool);

impl fixture_checks::Writer for SqliteWriter {
    fn exec<'a>(&'a self, sql: &'a str) -> futures_util::future::BoxFuture<'a, ()> {
        Box::pin(async move {
            sqlx::raw_sql(sql)
                .execute(&self.0)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        })
    }

    fn at(&self, ms: i64) -> String {
        ms.to_string()
    }
}

#[tokio::test]
async fn changes_are_watched() {
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    let w = SqliteWriter(
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().filename(&db.path))
            .await
            .unwrap(),
    );
    fixture_checks::watched_changes(&d, &w).await;
}

#[tokio::test]
async fn the_watch_vouches_for_the_cache_past_its_ttl() {
    let db = TempDb::new();
    let d = StrapiDirectory::open(
        &db.url(),
        SECRET,
        SALT,
        StrapiDirectoryOptions {
            cache_ttl: Duration::from_millis(300),
            refresh: Duration::from_millis(100),
        },
    )
    .await
    .unwrap();
    d.authenticate(Some(&legacy(2))).await.unwrap();
    assert_eq!(d.user_queries(), 1);
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Past the TTL, but the tables did not change since: no new read.
    d.authenticate(Some(&legacy(2))).await.unwrap();
    assert_eq!(d.user_queries(), 1);
    assert!(d.watch_stats().polls >= 3, "{:?}", d.watch_stats());
    // A change is applied by the task, without a poll or an invalidate from here.
    let mut w = db.writer().await;
    sqlx::query("UPDATE up_users SET blocked = 1, updated_at = ? WHERE id = 2")
        .bind(crate::directory::unix_millis())
        .execute(&mut w)
        .await
        .unwrap();
    let mut waited = Duration::ZERO;
    while d.authenticate(Some(&legacy(2))).await.is_ok() {
        assert!(waited < Duration::from_secs(3), "the block was not seen");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    // With the watch failing (the file gone), the TTL is the ceiling again.
    drop(w);
    d.close().await;
    assert_eq!(d.user_queries(), 2);
}

#[tokio::test]
async fn jwt_users_in_both_forms() {
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    fixture_checks::jwt_users(&d).await;
}

#[tokio::test]
async fn email_confirmation_from_the_advanced_store() {
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    assert!(d.authenticate(Some(&legacy(4))).await.is_ok());
    let mut w = db.writer().await;
    sqlx::query(
        "UPDATE strapi_core_store_settings SET value = json_set(value, '$.email_confirmation', json('true')) WHERE key = ?",
    )
    .bind(ADVANCED_KEY)
    .execute(&mut w)
    .await
    .unwrap();
    w.close().await.unwrap();
    d.invalidate().await.unwrap();
    assert_eq!(
        d.authenticate(Some(&legacy(4))).await.unwrap_err(),
        AuthError::InvalidCredentials
    );
    assert!(d.authenticate(Some(&access("2"))).await.is_ok());
}

#[tokio::test]
async fn api_tokens() {
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    fixture_checks::api_tokens(&d).await;
}

#[tokio::test]
async fn entity_existence() {
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    let article = content_type("article", Some("articles"), true);
    let comment = content_type("comment", Some("comments"), false);
    for (ct, id, expected) in [
        (&article, "dvn4m1p03xohql4vaa8qqto9", true),
        (&article, "tvhxgiyjg8yplswps8gd01l0", false),
        (&article, "2", true),
        (&article, "1", false),
        (&article, "5", false),
        (&article, "99", false),
        (&article, "nosuchdocumentid", false),
        (&article, "1 OR 1=1", false),
        (&comment, "1", true),
        (&comment, "99", false),
    ] {
        assert_eq!(
            d.entity_exists(ct, id, false).await.unwrap(),
            expected,
            "{} {id}",
            ct.uid
        );
    }
    // An audience that may see drafts also finds draft rows and draft-only documents.
    for (ct, id, expected) in [
        (&article, "tvhxgiyjg8yplswps8gd01l0", true),
        (&article, "1", true),
        (&article, "5", true),
        (&article, "99", false),
        (&comment, "1", true),
    ] {
        assert_eq!(
            d.entity_exists(ct, id, true).await.unwrap(),
            expected,
            "drafts: {} {id}",
            ct.uid
        );
    }
    let injected = content_type("evil", Some("articles\" --"), false);
    let err = d.entity_exists(&injected, "1", false).await.unwrap_err();
    assert!(err.0.contains("not [a-z0-9_]"), "{err}");
    let missing = content_type("ghost", Some("ghosts"), false);
    let err = d.entity_exists(&missing, "1", false).await.unwrap_err();
    assert!(err.0.contains("ghosts"), "{err}");
}

#[tokio::test]
async fn users_are_cached_until_invalidated() {
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    let reader = legacy(2);
    assert!(d.authenticate(Some(&reader)).await.is_ok());
    assert_eq!(d.user_queries(), 1);
    let mut w = db.writer().await;
    sqlx::query("DELETE FROM up_users WHERE id = 2")
        .execute(&mut w)
        .await
        .unwrap();
    w.close().await.unwrap();
    // The cached row still answers, without a query.
    let id = d.authenticate(Some(&access("2"))).await.unwrap();
    assert_eq!(id.user.unwrap().username, "reader");
    assert_eq!(d.user_queries(), 1);
    d.invalidate().await.unwrap();
    assert_eq!(
        d.authenticate(Some(&reader)).await.unwrap_err(),
        AuthError::InvalidCredentials
    );
    assert_eq!(d.user_queries(), 2);
}

#[tokio::test]
async fn cache_entries_expire_after_the_ttl() {
    let db = TempDb::new();
    let d = db.open(Duration::from_millis(200)).await;
    assert!(d.authenticate(Some(&legacy(2))).await.is_ok());
    let mut w = db.writer().await;
    sqlx::query("UPDATE up_users SET blocked = 1 WHERE id = 2")
        .execute(&mut w)
        .await
        .unwrap();
    // A permission removed from Public, seen after expiry.
    sqlx::query(
        "DELETE FROM up_permissions WHERE action = 'api::comment.comment.find' AND id IN \
         (SELECT permission_id FROM up_permissions_role_lnk WHERE role_id = 2)",
    )
    .execute(&mut w)
    .await
    .unwrap();
    w.close().await.unwrap();
    assert!(d.authenticate(Some(&legacy(2))).await.is_ok());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        d.authenticate(Some(&legacy(2))).await.unwrap_err(),
        AuthError::InvalidCredentials
    );
    let public = d.authenticate(None).await.unwrap().audience;
    assert!(!public.has("api::comment.comment.find"));
    assert!(public.has("api::comment.comment.findOne"));
    assert!(!role(&d, "public").has("api::comment.comment.find"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_share_one_query() {
    let db = TempDb::new();
    let d = Arc::new(db.open(Duration::from_secs(300)).await);
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let d = d.clone();
            tokio::spawn(async move {
                let cred = if i % 2 == 0 { legacy(1) } else { access("1") };
                d.authenticate(Some(&cred))
                    .await
                    .map(|id| id.audience.room.clone())
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), "io-role-editor");
    }
    assert_eq!(d.user_queries(), 1);
}

#[tokio::test]
async fn a_closed_database_is_unavailable_not_invalid() {
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    assert!(d.authenticate(Some(&legacy(1))).await.is_ok());
    d.close().await;
    // Cached users and tokens still answer; a miss is Unavailable.
    assert!(d.authenticate(Some(&legacy(1))).await.is_ok());
    assert!(
        d.authenticate(Some(&token("fixture-token-ops")))
            .await
            .is_ok()
    );
    assert_eq!(
        d.authenticate(Some(&legacy(2))).await.unwrap_err(),
        AuthError::Unavailable
    );
    let article = content_type("article", Some("articles"), true);
    assert!(d.entity_exists(&article, "2", false).await.is_err());
    let health = d.health();
    assert!(!health.ready);
    assert!(
        health
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("closed"),
        "{health:?}"
    );
}

/// Waits (at most `limit`) until the directory's health is `ready`.
async fn wait_ready(d: &StrapiDirectory, limit: Duration) -> DirectoryHealth {
    let start = Instant::now();
    loop {
        let health = d.health();
        if health.ready || start.elapsed() > limit {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_write_lock_held_by_strapi_is_unavailable_then_recovers() {
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    assert_eq!(
        d.health(),
        DirectoryHealth {
            ready: true,
            reason: None
        }
    );
    assert!(d.authenticate(Some(&legacy(1))).await.is_ok());
    let article = content_type("article", Some("articles"), true);

    // Strapi holds the write lock: readers of a rollback-journal database wait, then give up.
    let mut w = db.writer().await;
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut w)
        .await
        .unwrap();
    let start = Instant::now();
    assert_eq!(
        d.authenticate(Some(&legacy(2))).await.unwrap_err(),
        AuthError::Unavailable
    );
    // A hang guard, not a performance claim: the lookup is bounded by the busy timeout.
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let health = d.health();
    assert!(!health.ready);
    let reason = health.reason.unwrap_or_default();
    assert!(
        reason.contains("locked") && reason.contains("up_users"),
        "{reason}"
    );
    // Cached users, tokens and the Public role keep answering; a new miss fails fast.
    assert_eq!(
        d.authenticate(Some(&access("1")))
            .await
            .unwrap()
            .audience
            .room,
        "io-role-editor"
    );
    assert!(
        d.authenticate(Some(&token("fixture-token-ops")))
            .await
            .is_ok()
    );
    assert!(d.authenticate(None).await.is_ok());
    let start = Instant::now();
    assert_eq!(
        d.authenticate(Some(&legacy(4))).await.unwrap_err(),
        AuthError::Unavailable
    );
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "{:?}",
        start.elapsed()
    );
    let err = d.entity_exists(&article, "2", false).await.unwrap_err();
    assert!(err.0.contains("unavailable"), "{err}");

    // Strapi commits: the background retry notices, nothing needs restarting.
    sqlx::query("COMMIT").execute(&mut w).await.unwrap();
    w.close().await.unwrap();
    let health = wait_ready(&d, Duration::from_secs(10)).await;
    assert_eq!(
        health,
        DirectoryHealth {
            ready: true,
            reason: None
        }
    );
    assert_eq!(
        d.authenticate(Some(&legacy(2)))
            .await
            .unwrap()
            .audience
            .room,
        "io-role-authenticated"
    );
    assert!(d.entity_exists(&article, "2", false).await.unwrap());
}

#[tokio::test]
async fn opening_a_locked_database_starts_empty_and_fills_in() {
    let db = TempDb::new();
    let mut w = db.writer().await;
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut w)
        .await
        .unwrap();
    let d = db.open(Duration::from_secs(300)).await;
    let health = d.health();
    assert!(!health.ready);
    assert!(
        health
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("up_roles"),
        "{health:?}"
    );
    assert!(d.audiences().is_empty());
    for cred in [None, Some(token("fixture-token-ops")), Some(legacy(1))] {
        assert_eq!(
            d.authenticate(cred.as_ref()).await.unwrap_err(),
            AuthError::Unavailable,
            "{cred:?}"
        );
    }
    sqlx::query("ROLLBACK").execute(&mut w).await.unwrap();
    w.close().await.unwrap();
    assert!(wait_ready(&d, Duration::from_secs(10)).await.ready);
    assert_eq!(d.audiences().len(), 9);
    assert!(d.authenticate(Some(&legacy(1))).await.is_ok());
}

#[tokio::test]
async fn a_malformed_advanced_store_fails_the_open() {
    let db = TempDb::new();
    let mut w = db.writer().await;
    sqlx::query("UPDATE strapi_core_store_settings SET value = '{not json' WHERE key = ?")
        .bind(ADVANCED_KEY)
        .execute(&mut w)
        .await
        .unwrap();
    w.close().await.unwrap();
    let err = StrapiDirectory::open(&db.url(), SECRET, SALT, Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StrapiDirectoryError::Data { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("users-permissions advanced settings") && msg.contains("data.db"),
        "{msg}"
    );
}

#[tokio::test]
async fn opening_is_read_only() {
    let db = TempDb::new();
    let before = std::fs::read(&db.path).unwrap();
    let d = db.open(Duration::from_secs(300)).await;
    assert!(d.authenticate(Some(&legacy(2))).await.is_ok());
    assert!(
        d.authenticate(Some(&token("fixture-token-dashboard")))
            .await
            .is_ok()
    );
    let article = content_type("article", Some("articles"), true);
    assert!(d.entity_exists(&article, "2", false).await.unwrap());
    d.invalidate().await.unwrap();
    assert_eq!(db.sidecars(), Vec::<String>::new(), "no -wal/-shm/-journal");
    // Strapi can still write while the directory is open.
    let mut w = db.writer().await;
    sqlx::query("UPDATE up_users SET username = 'reader' WHERE id = 2")
        .execute(&mut w)
        .await
        .unwrap();
    w.close().await.unwrap();
    d.close().await;
    drop(d);
    assert_eq!(db.sidecars(), Vec::<String>::new());

    // A pristine copy, only read: byte-identical afterwards.
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    assert!(d.authenticate(Some(&access("1"))).await.is_ok());
    assert!(d.entity_exists(&article, "1", false).await.is_ok());
    d.close().await;
    drop(d);
    assert!(std::fs::read(&db.path).unwrap() == before);
    assert_eq!(db.sidecars(), Vec::<String>::new());
}

#[tokio::test]
async fn open_errors_name_the_file() {
    let db = TempDb::new();
    let missing = db.dir.join("nope.db");
    let err = StrapiDirectory::open(
        &format!("sqlite://{}", missing.display()),
        SECRET,
        SALT,
        StrapiDirectoryOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("nope.db"), "{err}");
    assert!(!Path::new(&missing).exists(), "never created");
    // A SQLite file that is not a Strapi database.
    let empty = db.dir.join("empty.db");
    let mut c = SqliteConnection::connect_with(
        &SqliteConnectOptions::new()
            .filename(&empty)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::query("CREATE TABLE t (x)")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    let err = StrapiDirectory::open(
        &format!("sqlite://{}", empty.display()),
        SECRET,
        SALT,
        StrapiDirectoryOptions::default(),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("empty.db") && msg.contains("up_roles"),
        "{msg}"
    );
    assert!(matches!(
        StrapiDirectory::open("mysql://x/y", SECRET, SALT, Default::default()).await,
        Err(StrapiDirectoryError::InvalidUrl(_))
    ));
    assert_eq!(
        StrapiDirectoryOptions::default().cache_ttl,
        Duration::from_secs(300)
    );
}
