//! A read-only [`Directory`] over a Strapi 5 SQLite database (SPEC §6, `directory =
//! "strapi"`): users-permissions roles, permissions and users, content-API tokens and their
//! permissions, the users-permissions `advanced` store (email confirmation), and entity
//! existence for `subscribe-entity`.
//!
//! The database is opened read-only (`mode=ro`, no journal-mode change, never `immutable`,
//! since Strapi keeps writing to it), so the gateway can never lock Strapi out for longer than
//! one short read. Roles, tokens and the advanced settings are loaded at [`StrapiDirectory::open`]
//! and kept in memory ([`Directory::audiences`] does no I/O); they are reloaded by
//! [`StrapiDirectory::invalidate`], and lazily by a handshake once they are older than
//! [`StrapiDirectoryOptions::cache_ttl`]. Users are fetched on demand and cached for
//! `cache_ttl`: at most one query per miss, concurrent misses for the same user share it.
//!
//! Table and column names follow `fixtures/strapi5/README.md` (Strapi 5.54).

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use strapi_io_core::auth::{AuthError, Credential, hash_api_token, verify_jwt};
use strapi_io_core::{Audience, ContentType, TokenType};
use tokio::sync::OnceCell;

use crate::directory::{BoxFuture, Directory, DirectoryError, Identity, TokenRecord, UserInfo};

/// The users-permissions `advanced` store key (`<type>_<name>_<key>`).
const ADVANCED_KEY: &str = "plugin_users-permissions_advanced";
/// How long a query may wait for Strapi's write lock before the lookup fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a lookup may wait for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Above this many cached users, expired entries are swept (and, if still full, all dropped).
const MAX_CACHED_USERS: usize = 10_000;

/// Tuning for [`StrapiDirectory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrapiDirectoryOptions {
    /// How long users, roles, permissions and tokens read from the database are trusted
    /// before being read again (the plugin's 5 minutes by default).
    pub cache_ttl: Duration,
}

impl Default for StrapiDirectoryOptions {
    fn default() -> Self {
        StrapiDirectoryOptions {
            cache_ttl: Duration::from_secs(5 * 60),
        }
    }
}

/// Why a Strapi database could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum StrapiDirectoryError {
    /// The URL is not a usable `sqlite://` URL.
    #[error("invalid Strapi database URL: {0}")]
    InvalidUrl(String),
    /// The file could not be opened read-only.
    #[error("cannot open the Strapi database {} read-only: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A query failed (missing table, locked database, …).
    #[error("cannot read {what} from the Strapi database {}: {source}", path.display())]
    Query {
        /// The database file.
        path: PathBuf,
        /// What was being read.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A stored value has an unexpected shape.
    #[error("unexpected {what} in the Strapi database {}: {detail}", path.display())]
    Data {
        /// The database file.
        path: PathBuf,
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

/// Roles, tokens and settings, as loaded at one moment.
struct Snapshot {
    loaded_at: Instant,
    public: Arc<Audience>,
    /// `up_roles.id` → (role type, audience).
    roles: HashMap<i64, (String, Arc<Audience>)>,
    /// `access_key` → token.
    tokens: HashMap<String, TokenRecord>,
    audiences: Arc<Vec<Arc<Audience>>>,
    email_confirmation: bool,
}

/// A `up_users` row with its role link.
#[derive(Debug, Clone)]
struct UserRow {
    id: i64,
    username: String,
    email: String,
    confirmed: bool,
    blocked: bool,
    role_id: Option<i64>,
}

/// The database could not answer a user lookup (already logged).
#[derive(Debug, Clone, Copy)]
struct LookupFailed;

type UserCell = Arc<OnceCell<Result<Option<UserRow>, LookupFailed>>>;

struct CacheSlot {
    created: Instant,
    cell: UserCell,
}

/// A read-only directory over a Strapi 5 SQLite database.
pub struct StrapiDirectory {
    pool: SqlitePool,
    path: PathBuf,
    jwt_secret: Vec<u8>,
    api_token_salt: String,
    options: StrapiDirectoryOptions,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Serializes snapshot reloads so concurrent stale handshakes reload once.
    reloading: tokio::sync::Mutex<()>,
    users: Mutex<HashMap<i64, CacheSlot>>,
    /// User queries issued (cache misses that reached the database).
    user_queries: AtomicU64,
}

impl std::fmt::Debug for StrapiDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrapiDirectory")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl StrapiDirectory {
    /// Opens `database_url` (`sqlite://path/to/data.db`) read-only and loads roles, API
    /// tokens and the users-permissions advanced settings. The secrets are the
    /// users-permissions JWT secret and Strapi's `API_TOKEN_SALT`.
    pub async fn open(
        database_url: &str,
        jwt_secret: &str,
        api_token_salt: &str,
        options: StrapiDirectoryOptions,
    ) -> Result<Self, StrapiDirectoryError> {
        if !database_url.starts_with("sqlite:") {
            return Err(StrapiDirectoryError::InvalidUrl(
                "only sqlite:// URLs are supported".to_string(),
            ));
        }
        let connect = SqliteConnectOptions::from_str(database_url)
            .map_err(|e| StrapiDirectoryError::InvalidUrl(e.to_string()))?
            .read_only(true)
            .immutable(false)
            .create_if_missing(false)
            .busy_timeout(BUSY_TIMEOUT);
        let path = connect.get_filename().to_path_buf();
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            return Err(StrapiDirectoryError::InvalidUrl(
                "the URL names no database file".to_string(),
            ));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Some(Duration::from_secs(60)))
            .connect_with(connect)
            .await
            .map_err(|source| StrapiDirectoryError::Open {
                path: path.clone(),
                source,
            })?;
        let snapshot = load_snapshot(&pool, &path).await?;
        Ok(StrapiDirectory {
            pool,
            path,
            jwt_secret: jwt_secret.as_bytes().to_vec(),
            api_token_salt: api_token_salt.to_string(),
            options,
            snapshot: RwLock::new(Arc::new(snapshot)),
            reloading: tokio::sync::Mutex::new(()),
            users: Mutex::new(HashMap::new()),
            user_queries: AtomicU64::new(0),
        })
    }

    /// Drops the cached users and reloads roles, permissions, API tokens and the advanced
    /// settings. On error the previous roles and tokens stay in use.
    pub async fn invalidate(&self) -> Result<(), StrapiDirectoryError> {
        self.lock_users().clear();
        let _guard = self.reloading.lock().await;
        let fresh = load_snapshot(&self.pool, &self.path).await?;
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// The database file this directory reads.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// How many user lookups reached the database (cache misses) since opening.
    pub fn user_queries(&self) -> u64 {
        self.user_queries.load(Ordering::Relaxed)
    }

    /// Closes the connection pool; later lookups answer `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn lock_users(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CacheSlot>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The snapshot, reloaded first when older than the TTL (or when `force`). A reload
    /// failure keeps the previous snapshot.
    async fn fresh_snapshot(&self, force: bool) -> Arc<Snapshot> {
        let snap = self.current();
        if !force && snap.loaded_at.elapsed() < self.options.cache_ttl {
            return snap;
        }
        let _guard = self.reloading.lock().await;
        let snap = self.current();
        let stale = snap.loaded_at.elapsed() >= self.options.cache_ttl;
        if !stale && !force {
            return snap;
        }
        match load_snapshot(&self.pool, &self.path).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = fresh.clone();
                fresh
            }
            Err(e) => {
                tracing::warn!(error = %e, "strapi directory: reload failed; keeping the previous roles and tokens");
                snap
            }
        }
    }

    /// The user row for `id`, from the cache or (once per miss) from the database.
    async fn user(&self, id: i64) -> Result<Option<UserRow>, AuthError> {
        let ttl = self.options.cache_ttl;
        let cell = {
            let mut users = self.lock_users();
            match users.get(&id) {
                Some(slot) if slot.created.elapsed() < ttl => slot.cell.clone(),
                _ => {
                    if users.len() >= MAX_CACHED_USERS {
                        users.retain(|_, s| s.created.elapsed() < ttl);
                        if users.len() >= MAX_CACHED_USERS {
                            users.clear();
                        }
                    }
                    let cell: UserCell = Arc::new(OnceCell::new());
                    users.insert(
                        id,
                        CacheSlot {
                            created: Instant::now(),
                            cell: cell.clone(),
                        },
                    );
                    cell
                }
            }
        };
        let result = cell
            .get_or_init(|| async {
                self.user_queries.fetch_add(1, Ordering::Relaxed);
                fetch_user(&self.pool, id).await.map_err(|e| {
                    tracing::warn!(path = %self.path.display(), error = %e, "strapi directory: user lookup failed");
                    LookupFailed
                })
            })
            .await
            .clone();
        match result {
            Ok(row) => Ok(row),
            Err(LookupFailed) => {
                // Waiters of this lookup share the failure; the next handshake retries.
                let mut users = self.lock_users();
                if users.get(&id).is_some_and(|s| Arc::ptr_eq(&s.cell, &cell)) {
                    users.remove(&id);
                }
                Err(AuthError::Unavailable)
            }
        }
    }

    async fn resolve(&self, credential: Option<&Credential>) -> Result<Identity, AuthError> {
        match credential {
            None => Ok(Identity {
                audience: self.fresh_snapshot(false).await.public.clone(),
                user: None,
            }),
            Some(Credential::Jwt(token)) => {
                let id = verify_jwt(token, &self.jwt_secret)?;
                let id: i64 = id.parse().map_err(|_| AuthError::InvalidCredentials)?;
                let user = self.user(id).await?.ok_or(AuthError::InvalidCredentials)?;
                let mut snap = self.fresh_snapshot(false).await;
                if user.blocked || (snap.email_confirmation && !user.confirmed) {
                    return Err(AuthError::InvalidCredentials);
                }
                let role_id = user.role_id.ok_or(AuthError::InvalidCredentials)?;
                if !snap.roles.contains_key(&role_id) {
                    // A role created after the last load: read the roles again once.
                    snap = self.fresh_snapshot(true).await;
                }
                let (role_type, audience) = snap
                    .roles
                    .get(&role_id)
                    .cloned()
                    .ok_or(AuthError::InvalidCredentials)?;
                Ok(Identity {
                    audience,
                    user: Some(UserInfo {
                        id: Value::from(user.id),
                        username: user.username,
                        email: user.email,
                        role: role_type,
                    }),
                })
            }
            Some(Credential::ApiToken(plain)) => {
                let key = hash_api_token(plain, &self.api_token_salt);
                let snap = self.fresh_snapshot(false).await;
                TokenRecord::identity(snap.tokens.get(&key))
            }
        }
    }

    async fn exists(
        &self,
        content_type: &ContentType,
        id: &str,
        include_drafts: bool,
    ) -> Result<bool, DirectoryError> {
        let table = match &content_type.collection_name {
            Some(name) => name.clone(),
            None => content_type.plural_name.replace('-', "_"),
        };
        if table.is_empty()
            || !table
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(DirectoryError(format!(
                "content type {}: table name `{table}` is not [a-z0-9_]",
                content_type.uid
            )));
        }
        let published = if content_type.draft_and_publish && !include_drafts {
            " AND published_at IS NOT NULL"
        } else {
            ""
        };
        let numeric = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
        let row = if numeric {
            let Ok(n) = id.parse::<i64>() else {
                return Ok(false);
            };
            let sql = format!("SELECT 1 FROM \"{table}\" WHERE id = ?{published} LIMIT 1");
            sqlx::query(&sql).bind(n).fetch_optional(&self.pool).await
        } else {
            let sql = format!("SELECT 1 FROM \"{table}\" WHERE document_id = ?{published} LIMIT 1");
            sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await
        };
        row.map(|r| r.is_some()).map_err(|e| {
            DirectoryError(format!(
                "cannot read {table} from the Strapi database {}: {e}",
                self.path.display()
            ))
        })
    }
}

impl Directory for StrapiDirectory {
    fn authenticate<'a>(
        &'a self,
        credential: Option<&'a Credential>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(self.resolve(credential))
    }

    fn audiences(&self) -> Arc<Vec<Arc<Audience>>> {
        self.current().audiences.clone()
    }

    fn entity_exists<'a>(
        &'a self,
        content_type: &'a ContentType,
        id: &'a str,
        include_drafts: bool,
    ) -> BoxFuture<'a, Result<bool, DirectoryError>> {
        Box::pin(self.exists(content_type, id, include_drafts))
    }
}

async fn fetch_user(pool: &SqlitePool, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT u.id, u.username, u.email, \
           COALESCE(u.confirmed, 0) AS confirmed, COALESCE(u.blocked, 0) AS blocked, \
           (SELECT l.role_id FROM up_users_role_lnk l WHERE l.user_id = u.id ORDER BY l.id LIMIT 1) AS role_id \
         FROM up_users u WHERE u.id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(UserRow {
        id: row.try_get("id")?,
        username: row
            .try_get::<Option<String>, _>("username")?
            .unwrap_or_default(),
        email: row
            .try_get::<Option<String>, _>("email")?
            .unwrap_or_default(),
        confirmed: row.try_get::<i64, _>("confirmed")? != 0,
        blocked: row.try_get::<i64, _>("blocked")? != 0,
        role_id: row.try_get("role_id")?,
    }))
}

async fn load_snapshot(
    pool: &SqlitePool,
    path: &std::path::Path,
) -> Result<Snapshot, StrapiDirectoryError> {
    let query_err = |what: &'static str| {
        let path = path.to_path_buf();
        move |source| StrapiDirectoryError::Query { path, what, source }
    };

    // Roles and their users-permissions actions.
    let role_rows = sqlx::query("SELECT id, name, type FROM up_roles ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(query_err("roles (up_roles)"))?;
    let perm_rows = sqlx::query(
        "SELECT l.role_id AS role_id, p.action AS action \
         FROM up_permissions p JOIN up_permissions_role_lnk l ON l.permission_id = p.id \
         WHERE p.action IS NOT NULL ORDER BY l.role_id, l.permission_ord, p.id",
    )
    .fetch_all(pool)
    .await
    .map_err(query_err("role permissions (up_permissions)"))?;
    let mut actions: HashMap<i64, Vec<String>> = HashMap::new();
    for row in &perm_rows {
        let role_id: Option<i64> = row
            .try_get("role_id")
            .map_err(query_err("role permissions"))?;
        let action: String = row
            .try_get("action")
            .map_err(query_err("role permissions"))?;
        if let Some(role_id) = role_id {
            actions.entry(role_id).or_default().push(action);
        }
    }
    let mut audiences = Vec::new();
    let mut roles = HashMap::new();
    let mut public = None;
    for row in &role_rows {
        let id: i64 = row.try_get("id").map_err(query_err("roles"))?;
        let name: Option<String> = row.try_get("name").map_err(query_err("roles"))?;
        let role_type: Option<String> = row.try_get("type").map_err(query_err("roles"))?;
        let name = name.unwrap_or_else(|| format!("role-{id}"));
        let role_type = role_type.unwrap_or_else(|| name.to_lowercase());
        let audience = Arc::new(Audience::role(
            &name,
            &role_type,
            actions.remove(&id).unwrap_or_default(),
        ));
        if role_type == "public" && public.is_none() {
            public = Some(audience.clone());
        }
        audiences.push(audience.clone());
        roles.insert(id, (role_type, audience));
    }
    let public = match public {
        Some(p) => p,
        None => {
            let p = Arc::new(Audience::role("Public", "public", Vec::new()));
            audiences.push(p.clone());
            p
        }
    };

    // Content-API tokens (`kind` exists since Strapi 5.x; NULL means content-api).
    let has_kind: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM pragma_table_info('strapi_api_tokens') WHERE name = 'kind'",
    )
    .fetch_optional(pool)
    .await
    .map_err(query_err("API tokens (strapi_api_tokens)"))?;
    let kind_filter = if has_kind.is_some() {
        " WHERE kind = 'content-api' OR kind IS NULL"
    } else {
        ""
    };
    // `expires_at` is INTEGER ms in SQLite; tolerate ISO text (unparseable text: expired).
    let token_sql = format!(
        "SELECT id, name, type, access_key, \
           CASE typeof(expires_at) \
             WHEN 'integer' THEN expires_at \
             WHEN 'real' THEN CAST(expires_at AS INTEGER) \
             WHEN 'text' THEN COALESCE(CAST(strftime('%s', expires_at) AS INTEGER) * 1000, 0) \
             ELSE NULL END AS expires_ms \
         FROM strapi_api_tokens{kind_filter} ORDER BY id"
    );
    let token_rows = sqlx::query(&token_sql)
        .fetch_all(pool)
        .await
        .map_err(query_err("API tokens (strapi_api_tokens)"))?;
    let token_perm_rows = sqlx::query(
        "SELECT l.api_token_id AS token_id, p.action AS action \
         FROM strapi_api_token_permissions p \
         JOIN strapi_api_token_permissions_token_lnk l ON l.api_token_permission_id = p.id \
         WHERE p.action IS NOT NULL ORDER BY l.api_token_id, l.api_token_permission_ord, p.id",
    )
    .fetch_all(pool)
    .await
    .map_err(query_err(
        "API token permissions (strapi_api_token_permissions)",
    ))?;
    let mut token_actions: HashMap<i64, Vec<String>> = HashMap::new();
    for row in &token_perm_rows {
        let token_id: Option<i64> = row
            .try_get("token_id")
            .map_err(query_err("API token permissions"))?;
        let action: String = row
            .try_get("action")
            .map_err(query_err("API token permissions"))?;
        if let Some(token_id) = token_id {
            token_actions.entry(token_id).or_default().push(action);
        }
    }
    let mut tokens = HashMap::new();
    for row in &token_rows {
        let id: i64 = row.try_get("id").map_err(query_err("API tokens"))?;
        let name: Option<String> = row.try_get("name").map_err(query_err("API tokens"))?;
        let kind: Option<String> = row.try_get("type").map_err(query_err("API tokens"))?;
        let access_key: Option<String> =
            row.try_get("access_key").map_err(query_err("API tokens"))?;
        let expires_at: Option<i64> = row.try_get("expires_ms").map_err(query_err("API tokens"))?;
        let Some(access_key) = access_key.filter(|k| !k.is_empty()) else {
            continue;
        };
        let token_type = match kind.as_deref() {
            Some("read-only") => TokenType::ReadOnly,
            Some("full-access") => TokenType::FullAccess,
            Some("custom") => TokenType::Custom,
            other => {
                tracing::warn!(token_id = id, token_type = ?other, "strapi directory: API token of unknown type ignored");
                continue;
            }
        };
        let name = name.unwrap_or_else(|| format!("token-{id}"));
        let audience = Arc::new(Audience::api_token(
            &name,
            token_type,
            token_actions.remove(&id).unwrap_or_default(),
        ));
        audiences.push(audience.clone());
        tokens.insert(
            access_key.to_ascii_lowercase(),
            TokenRecord {
                audience,
                expires_at,
            },
        );
    }

    // users-permissions advanced settings.
    let advanced: Option<Option<String>> = sqlx::query_scalar(
        "SELECT value FROM strapi_core_store_settings WHERE key = ? ORDER BY id DESC LIMIT 1",
    )
    .bind(ADVANCED_KEY)
    .fetch_optional(pool)
    .await
    .map_err(query_err(
        "users-permissions settings (strapi_core_store_settings)",
    ))?;
    let email_confirmation = match advanced.flatten() {
        None => false,
        Some(text) => {
            let value: Value =
                serde_json::from_str(&text).map_err(|e| StrapiDirectoryError::Data {
                    path: path.to_path_buf(),
                    what: "users-permissions advanced settings",
                    detail: e.to_string(),
                })?;
            value
                .get("email_confirmation")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        }
    };

    Ok(Snapshot {
        loaded_at: Instant::now(),
        public,
        roles,
        tokens,
        audiences: Arc::new(audiences),
        email_confirmation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    use serde_json::json;
    use sqlx::{Connection, SqliteConnection};
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::atomic::AtomicUsize;
    use strapi_io_core::AudienceKind;

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
            StrapiDirectory::open("postgres://x/y", SECRET, SALT, Default::default()).await,
            Err(StrapiDirectoryError::InvalidUrl(_))
        ));
        assert_eq!(
            StrapiDirectoryOptions::default().cache_ttl,
            Duration::from_secs(300)
        );
    }
}
