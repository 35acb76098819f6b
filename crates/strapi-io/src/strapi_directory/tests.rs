//! The SQLite half of the directory's tests, on a copy of a real Strapi 5.54 database
//! (`tests/fixtures/strapi5.db`); `tests/postgres_directory.rs` runs the same checks on a
//! PostgreSQL server.

use super::snapshot::ADVANCED_KEY;
use super::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicUsize;
use strapi_io_core::{AudienceKind, TokenType};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/strapi5.db");
const SECRET: &str = "fixture-jwt-secret";
const SALT: &str = "fixture-api-token-salt";

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
            StrapiDirectoryOptions { cache_ttl: ttl },
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

fn now_s() -> u64 {
    (crate::directory::unix_millis() / 1000) as u64
}

fn sign(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn legacy(id: u64) -> Credential {
    Credential::Jwt(sign(
        json!({"id": id, "iat": now_s(), "exp": now_s() + 600}),
    ))
}

fn access(id: &str) -> Credential {
    Credential::Jwt(sign(json!({
        "userId": id, "sessionId": "b99471ea4d8f7376157f2ebc74ceb425",
        "type": "access", "iat": now_s(), "exp": now_s() + 600
    })))
}

fn token(t: &str) -> Credential {
    Credential::ApiToken(t.to_string())
}

fn content_type(name: &str, table: Option<&str>, dp: bool) -> ContentType {
    ContentType {
        uid: format!("api::{name}.{name}"),
        kind: "collectionType".into(),
        singular_name: name.into(),
        plural_name: format!("{name}s"),
        collection_name: table.map(str::to_string),
        draft_and_publish: dp,
        attributes: BTreeMap::new(),
    }
}

fn role(d: &StrapiDirectory, role_type: &str) -> Arc<Audience> {
    d.audiences()
        .iter()
        .find(|a| matches!(&a.kind, AudienceKind::Role { role_type: t } if t == role_type))
        .cloned()
        .unwrap_or_else(|| panic!("role {role_type}"))
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
    let public = role(&d, "public");
    assert_eq!(public.name, "Public");
    assert!(public.can_read("api::article.article"));
    assert!(public.can_read("api::comment.comment"));
    assert!(!public.can_read("api::author.author"));
    assert!(public.has("plugin::users-permissions.auth.register"));
    let authenticated = role(&d, "authenticated");
    assert!(authenticated.can_read("api::author.author"));
    assert!(!authenticated.has("api::article.article.create"));
    let editor = role(&d, "editor");
    for ct in ["article.article", "author.author", "comment.comment"] {
        for action in ["find", "findOne", "create", "update", "delete"] {
            assert!(editor.has(&format!("api::{ct}.{action}")), "{ct}.{action}");
        }
    }
    assert!(!editor.has("plugin::users-permissions.user.me"));
    // Anonymous sockets get the Public role.
    let anon = d.authenticate(None).await.unwrap();
    assert!(Arc::ptr_eq(&anon.audience, &public));
    assert!(anon.user.is_none());
}

#[tokio::test]
async fn jwt_users_in_both_forms() {
    let db = TempDb::new();
    let d = db.open(Duration::from_secs(300)).await;
    for cred in [legacy(2), access("2")] {
        let id = d.authenticate(Some(&cred)).await.unwrap();
        assert_eq!(id.audience.room, "io-role-authenticated");
        assert_eq!(
            id.user.unwrap(),
            UserInfo {
                id: json!(2),
                username: "reader".into(),
                email: "reader@example.com".into(),
                role: "authenticated".into(),
            }
        );
    }
    for cred in [legacy(1), access("1")] {
        let id = d.authenticate(Some(&cred)).await.unwrap();
        assert_eq!(id.audience.room, "io-role-editor");
        let user = id.user.unwrap();
        assert_eq!(
            (user.id, user.username.as_str(), user.role.as_str()),
            (json!(1), "editor", "editor")
        );
        assert_eq!(user.email, "editor@example.com");
    }
    // Blocked, unknown, refresh tokens and bad signatures are refused.
    for cred in [
        legacy(3),
        access("3"),
        legacy(99),
        access("99"),
        Credential::Jwt(sign(
            json!({"userId": "2", "type": "refresh", "exp": now_s() + 600}),
        )),
        Credential::Jwt("not.a.jwt".into()),
    ] {
        assert_eq!(
            d.authenticate(Some(&cred)).await.unwrap_err(),
            AuthError::InvalidCredentials,
            "{cred:?}"
        );
    }
    // Unconfirmed `pending` is accepted: email_confirmation is false in the fixture.
    let pending = d.authenticate(Some(&legacy(4))).await.unwrap();
    assert_eq!(pending.user.unwrap().username, "pending");
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
    let dashboard = d
        .authenticate(Some(&token("fixture-token-dashboard")))
        .await
        .unwrap();
    assert_eq!(dashboard.audience.room, "io-token-dashboard");
    assert_eq!(
        dashboard.audience.kind,
        AudienceKind::ApiToken {
            token_type: TokenType::ReadOnly
        }
    );
    assert!(dashboard.audience.can_read("api::author.author"));
    assert!(!dashboard.audience.has("api::author.author.create"));
    assert!(dashboard.user.is_none());

    let comments = d
        .authenticate(Some(&token("fixture-token-comments")))
        .await
        .unwrap();
    assert_eq!(comments.audience.name, "comments-only");
    assert_eq!(
        comments.audience.kind,
        AudienceKind::ApiToken {
            token_type: TokenType::Custom
        }
    );
    assert!(comments.audience.has("api::comment.comment.find"));
    assert!(comments.audience.has("api::comment.comment.findOne"));
    assert!(!comments.audience.can_read("api::article.article"));

    let ops = d
        .authenticate(Some(&token("fixture-token-ops")))
        .await
        .unwrap();
    assert_eq!(
        ops.audience.kind,
        AudienceKind::ApiToken {
            token_type: TokenType::FullAccess
        }
    );
    assert!(ops.audience.has("api::author.author.delete"));

    assert_eq!(
        d.authenticate(Some(&token("fixture-token-old")))
            .await
            .unwrap_err(),
        AuthError::TokenExpired
    );
    assert_eq!(
        d.authenticate(Some(&token("no-such-token")))
            .await
            .unwrap_err(),
        AuthError::InvalidCredentials
    );
    // A JWT is not an API token and vice versa.
    assert_eq!(
        d.authenticate(Some(&Credential::Jwt("fixture-token-ops".into())))
            .await
            .unwrap_err(),
        AuthError::InvalidCredentials
    );
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
