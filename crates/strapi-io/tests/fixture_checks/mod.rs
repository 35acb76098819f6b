//! What the Strapi 5.54 fixture database holds, checked through the public `Directory` API:
//! shared by the SQLite unit tests (`src/strapi_directory/tests.rs`) and the PostgreSQL
//! integration test (`tests/postgres_directory.rs`), so both databases answer the same.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use strapi_io::core::auth::{AuthError, Credential};
use strapi_io::core::{Audience, AudienceKind, ContentType, TokenType};
use strapi_io::{Directory, StrapiDirectory, UserInfo};

/// The fixture's users-permissions JWT secret.
pub(crate) const SECRET: &str = "fixture-jwt-secret";
/// The fixture's `API_TOKEN_SALT`.
pub(crate) const SALT: &str = "fixture-api-token-salt";

/// Now, in Unix seconds.
pub(crate) fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `claims` signed HS256 with the fixture secret.
pub(crate) fn sign(claims: Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

/// `jwtManagement: 'legacy-support'`: `{id}`.
pub(crate) fn legacy(id: u64) -> Credential {
    Credential::Jwt(sign(
        json!({"id": id, "iat": now_s(), "exp": now_s() + 600}),
    ))
}

/// `jwtManagement: 'refresh'` access token: `{userId: "<id>", sessionId, type: "access"}`.
pub(crate) fn access(id: &str) -> Credential {
    Credential::Jwt(sign(json!({
        "userId": id, "sessionId": "b99471ea4d8f7376157f2ebc74ceb425",
        "type": "access", "iat": now_s(), "exp": now_s() + 600
    })))
}

/// An API-token credential.
pub(crate) fn token(t: &str) -> Credential {
    Credential::ApiToken(t.to_string())
}

/// A collection type `api::<name>.<name>` stored in `table`.
pub(crate) fn content_type(
    name: &str,
    table: Option<&str>,
    draft_and_publish: bool,
) -> ContentType {
    ContentType {
        uid: format!("api::{name}.{name}"),
        kind: "collectionType".into(),
        singular_name: name.into(),
        plural_name: format!("{name}s"),
        collection_name: table.map(str::to_string),
        draft_and_publish,
        attributes: Default::default(),
    }
}

/// The audience of the role of type `role_type`.
pub(crate) fn role(d: &StrapiDirectory, role_type: &str) -> Arc<Audience> {
    d.audiences()
        .iter()
        .find(|a| matches!(&a.kind, AudienceKind::Role { role_type: t } if t == role_type))
        .cloned()
        .unwrap_or_else(|| panic!("role {role_type}"))
}

/// The fixture's three roles with their permissions; anonymous sockets get Public.
pub(crate) async fn roles_and_permissions(d: &StrapiDirectory) {
    let public = role(d, "public");
    assert_eq!(public.name, "Public");
    assert!(public.can_read("api::article.article"));
    assert!(public.can_read("api::comment.comment"));
    assert!(!public.can_read("api::author.author"));
    assert!(public.has("plugin::users-permissions.auth.register"));
    let authenticated = role(d, "authenticated");
    assert!(authenticated.can_read("api::author.author"));
    assert!(!authenticated.has("api::article.article.create"));
    let editor = role(d, "editor");
    for ct in ["article.article", "author.author", "comment.comment"] {
        for action in ["find", "findOne", "create", "update", "delete"] {
            assert!(editor.has(&format!("api::{ct}.{action}")), "{ct}.{action}");
        }
    }
    assert!(!editor.has("plugin::users-permissions.user.me"));
    let anonymous = d.authenticate(None).await.expect("anonymous");
    assert!(Arc::ptr_eq(&anonymous.audience, &public));
    assert!(anonymous.user.is_none());
}

/// Users by both JWT forms; blocked, unknown, refresh, exp-less and malformed tokens refused;
/// the unconfirmed user accepted (email confirmation is off in the fixture).
pub(crate) async fn jwt_users(d: &StrapiDirectory) {
    for cred in [legacy(2), access("2")] {
        let id = d.authenticate(Some(&cred)).await.expect("reader");
        assert_eq!(id.audience.room, "io-role-authenticated");
        assert_eq!(
            id.user,
            Some(UserInfo {
                id: json!(2),
                username: "reader".into(),
                email: "reader@example.com".into(),
                role: "authenticated".into(),
            })
        );
    }
    for cred in [legacy(1), access("1")] {
        let id = d.authenticate(Some(&cred)).await.expect("editor");
        assert_eq!(id.audience.room, "io-role-editor");
        let user = id.user.expect("a user");
        assert_eq!(
            (user.id, user.username.as_str(), user.role.as_str()),
            (json!(1), "editor", "editor")
        );
        assert_eq!(user.email, "editor@example.com");
    }
    for cred in [
        legacy(3),
        access("3"),
        legacy(99),
        access("99"),
        Credential::Jwt(sign(
            json!({"userId": "2", "sessionId": "s", "type": "refresh", "exp": now_s() + 600}),
        )),
        Credential::Jwt(sign(json!({"id": 2}))),
        Credential::Jwt("not.a.jwt".into()),
    ] {
        assert_eq!(
            d.authenticate(Some(&cred))
                .await
                .map(|i| i.audience.room.clone()),
            Err(AuthError::InvalidCredentials),
            "{cred:?}"
        );
    }
    let pending = d.authenticate(Some(&legacy(4))).await.expect("pending");
    assert_eq!(
        pending.user.map(|u| u.username),
        Some("pending".to_string())
    );
}

/// The fixture's API tokens: read-only, custom (comments only), full access, expired,
/// unknown; a JWT is not an API token.
pub(crate) async fn api_tokens(d: &StrapiDirectory) {
    let dashboard = d
        .authenticate(Some(&token("fixture-token-dashboard")))
        .await
        .expect("dashboard");
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
        .expect("comments-only");
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
        .expect("ops");
    assert_eq!(
        ops.audience.kind,
        AudienceKind::ApiToken {
            token_type: TokenType::FullAccess
        }
    );
    assert!(ops.audience.has("api::author.author.delete"));
    // `old` expired on 2025-01-01.
    assert_eq!(
        d.authenticate(Some(&token("fixture-token-old")))
            .await
            .map(|i| i.audience.room.clone()),
        Err(AuthError::TokenExpired)
    );
    for cred in [
        token("no-such-token"),
        Credential::Jwt("fixture-token-ops".into()),
    ] {
        assert_eq!(
            d.authenticate(Some(&cred))
                .await
                .map(|i| i.audience.room.clone()),
            Err(AuthError::InvalidCredentials),
            "{cred:?}"
        );
    }
}

/// Writes to a copy of the fixture database as Strapi would (a separate read-write
/// connection), in either dialect.
pub(crate) trait Writer: Sync {
    /// Runs `sql` (several statements allowed).
    fn exec<'a>(&'a self, sql: &'a str) -> futures_util::future::BoxFuture<'a, ()>;
    /// A timestamp literal for `ms` since the epoch, as Strapi stores it.
    fn at(&self, ms: i64) -> String;
}

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The next change the directory announces (after a poll), within a second.
async fn announced(
    rx: &mut tokio::sync::broadcast::Receiver<strapi_io::DirectoryChange>,
) -> strapi_io::DirectoryChange {
    tokio::time::timeout(std::time::Duration::from_secs(1), rx.recv())
        .await
        .expect("a change was announced")
        .expect("the channel is open")
}

/// The change watch (`poll`, as the background task runs it every `refresh`): what each
/// Strapi write is seen as, and what a re-check of each kind of subject answers after it.
/// `d` must be opened with the watch's task off (`refresh: 0`), on a private copy.
pub(crate) async fn watched_changes(d: &StrapiDirectory, w: &dyn Writer) {
    use strapi_io::core::auth::hash_api_token;
    use strapi_io::{DirectoryChange, Subject};
    let mut rx = d.changes().expect("the strapi directory announces changes");
    let key = |plain: &str| Subject::ApiToken(hash_api_token(plain, SALT));
    let room = |r: &Result<strapi_io::Identity, AuthError>| {
        r.as_ref()
            .map(|i| i.audience.room.clone())
            .map_err(Clone::clone)
    };
    assert!(!d.poll().await.expect("first poll"), "nothing changed yet");
    let subjects = [
        Subject::User("1".into()),
        Subject::User("2".into()),
        key("fixture-token-dashboard"),
        key("fixture-token-ops"),
        Subject::Public,
    ];
    let before = d.recheck(&subjects).await;
    assert_eq!(
        before.iter().map(room).collect::<Vec<_>>(),
        [
            Ok("io-role-editor".to_string()),
            Ok("io-role-authenticated".to_string()),
            Ok("io-token-dashboard".to_string()),
            Ok("io-token-ops".to_string()),
            Ok("io-role-public".to_string()),
        ]
    );

    // A user blocked in the admin: the user row is updated.
    w.exec(&format!(
        "UPDATE up_users SET blocked = true, updated_at = {} WHERE id = 2",
        w.at(now_ms())
    ))
    .await;
    assert!(d.poll().await.expect("poll"));
    // (The user updated last before, in the same millisecond as the watermark, comes too.)
    assert!(
        matches!(announced(&mut rx).await, DirectoryChange::Users(ids) if ids.contains(&"2".into()) && !ids.contains(&"1".into()))
    );
    assert_eq!(
        room(&d.recheck(&subjects[1..2]).await[0]),
        Err(AuthError::InvalidCredentials)
    );
    assert_eq!(
        d.authenticate(Some(&legacy(2))).await.unwrap_err(),
        AuthError::InvalidCredentials,
        "and new handshakes are refused"
    );

    // A role changed by replacing the user's role link only (no `updated_at`).
    w.exec(
        "DELETE FROM up_users_role_lnk WHERE user_id = 1; \
         INSERT INTO up_users_role_lnk (user_id, role_id, user_ord) \
           SELECT 1, id, 1 FROM up_roles WHERE type = 'authenticated'",
    )
    .await;
    assert!(d.poll().await.expect("poll"));
    assert!(
        matches!(announced(&mut rx).await, DirectoryChange::Users(ids) if ids.contains(&"1".into()) && ids.len() <= 2)
    );
    let moved = d.recheck(&subjects[..1]).await;
    assert_eq!(room(&moved[0]), Ok("io-role-authenticated".to_string()));
    assert_eq!(
        moved[0]
            .as_ref()
            .ok()
            .and_then(|i| i.user.clone())
            .map(|u| u.role),
        Some("authenticated".to_string())
    );

    // A permission removed from Public: Strapi deletes the permission row.
    assert!(role(d, "public").has("api::article.article.find"));
    w.exec(
        "DELETE FROM up_permissions WHERE action = 'api::article.article.find' AND id IN \
           (SELECT l.permission_id FROM up_permissions_role_lnk l \
            JOIN up_roles r ON r.id = l.role_id WHERE r.type = 'public')",
    )
    .await;
    assert!(d.poll().await.expect("poll"));
    assert_eq!(announced(&mut rx).await, DirectoryChange::All);
    assert!(!role(d, "public").has("api::article.article.find"));
    let public = d.recheck(&subjects[4..]).await;
    assert!(
        public[0]
            .as_ref()
            .is_ok_and(|i| !i.audience.has("api::article.article.find")
                && i.audience.has("api::article.article.findOne"))
    );

    // An API token revoked (deleted), another one's expiry moved into the past.
    w.exec("DELETE FROM strapi_api_tokens WHERE name = 'dashboard'")
        .await;
    assert!(d.poll().await.expect("poll"));
    assert_eq!(announced(&mut rx).await, DirectoryChange::All);
    w.exec(&format!(
        "UPDATE strapi_api_tokens SET expires_at = {}, updated_at = {} WHERE name = 'ops'",
        w.at(now_ms() - 60_000),
        w.at(now_ms())
    ))
    .await;
    assert!(d.poll().await.expect("poll"));
    assert_eq!(announced(&mut rx).await, DirectoryChange::All);
    let tokens = d.recheck(&subjects[2..4]).await;
    assert_eq!(
        tokens.iter().map(room).collect::<Vec<_>>(),
        [
            Err(AuthError::InvalidCredentials),
            Err(AuthError::TokenExpired)
        ]
    );

    // A user registered (a new row): only that user is announced.
    w.exec(&format!(
        "INSERT INTO up_users (username, email, confirmed, blocked, created_at, updated_at) \
         VALUES ('newcomer', 'new@example.com', true, false, {0}, {0})",
        w.at(now_ms())
    ))
    .await;
    assert!(d.poll().await.expect("poll"));
    assert!(
        matches!(announced(&mut rx).await, DirectoryChange::Users(ids) if !ids.contains(&"1".into()) && ids.iter().any(|id| id.parse::<u32>().is_ok_and(|n| n > 4)))
    );

    // A user deleted: every socket is re-checked.
    w.exec("DELETE FROM up_users_role_lnk WHERE user_id = 4; DELETE FROM up_users WHERE id = 4")
        .await;
    assert!(d.poll().await.expect("poll"));
    assert_eq!(announced(&mut rx).await, DirectoryChange::All);
    assert_eq!(
        room(&d.recheck(&[Subject::User("4".into())]).await[0]),
        Err(AuthError::InvalidCredentials)
    );

    // Quiet again.
    assert!(!d.poll().await.expect("poll"));
    assert!(rx.try_recv().is_err(), "nothing more announced");
    let stats = d.watch_stats();
    assert_eq!((stats.changes, stats.failures), (7, 0), "{stats:?}");
}
