//! A read-only [`Directory`] over a Strapi 5 database — a SQLite file or a PostgreSQL server
//! (SPEC §6, `directory = "strapi"`): users-permissions roles, permissions and users,
//! content-API tokens and their permissions, the users-permissions `advanced` store (email
//! confirmation), and entity existence for `subscribe-entity`.
//!
//! This module owns the caching and the fault behaviour; `db` owns the connection (and
//! keeps the URL's password out of every message), `sql` the SQL of each dialect,
//! `snapshot` what is read.
//!
//! - **Read-only.** SQLite is opened `mode=ro` (no journal-mode change, never `immutable`,
//!   since Strapi keeps writing), so the gateway never holds Strapi's lock longer than one
//!   short read. PostgreSQL needs a role with `SELECT` only; every session also runs with
//!   `default_transaction_read_only = on`.
//! - **Cached.** Roles, tokens and the advanced settings are loaded at
//!   [`StrapiDirectory::open`] and kept in memory ([`Directory::audiences`] does no I/O);
//!   they are reloaded by [`StrapiDirectory::invalidate`], and by a handshake once older than
//!   [`StrapiDirectoryOptions::cache_ttl`]. Users are fetched on demand and cached for
//!   `cache_ttl`: at most one query per miss, concurrent misses for the same user share it.
//! - **Faults.** Every database operation is bounded (a few seconds: connect, lock wait,
//!   statement, overall). When the database is down, unreachable or locked, a handshake that
//!   needs it gets [`AuthError::Unavailable`], while cached users and the last roles and
//!   tokens keep answering; [`StrapiDirectory::health`] reports it, and a background task
//!   retries until the database answers again (new handshakes fail fast meanwhile instead of
//!   each waiting for a timeout). A database that is unavailable at [`StrapiDirectory::open`]
//!   does not fail the open: the directory starts empty and fills in when it comes back.
//!   Problems that waiting does not fix (bad URL, missing tables, refused credentials) fail
//!   the open.
//!
//! Table and column names follow `fixtures/strapi5/README.md` (Strapi 5.54).

mod db;
mod snapshot;
mod sql;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use strapi_io_core::auth::{AuthError, Credential, hash_api_token, verify_jwt};
use strapi_io_core::{Audience, ContentType};
use tokio::sync::OnceCell;

use crate::directory::{BoxFuture, Directory, DirectoryError, Identity, TokenRecord, UserInfo};
use db::{Db, DbError, Param};
use snapshot::{LoadError, Snapshot, UserRow};

/// Above this many cached users, expired entries are swept (and, if still full, all dropped).
const MAX_CACHED_USERS: usize = 10_000;
/// The first and the longest pause between two background attempts to reach the database.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(2);

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

/// Why a Strapi database could not be opened or read. Messages name the database without
/// its password (`postgres://user@host:port/db` or the SQLite file's path).
#[derive(Debug, Clone, thiserror::Error)]
pub enum StrapiDirectoryError {
    /// The URL is not a usable `sqlite://` or `postgres://` URL.
    #[error("invalid Strapi database URL: {0}")]
    InvalidUrl(String),
    /// A query failed (missing table, refused credentials, database unavailable, …).
    #[error("cannot read {what} from the Strapi database {database}: {reason}")]
    Query {
        /// The database, without credentials.
        database: String,
        /// What was being read.
        what: &'static str,
        /// The driver's message, without credentials.
        reason: String,
    },
    /// A stored value has an unexpected shape.
    #[error("unexpected {what} in the Strapi database {database}: {detail}")]
    Data {
        /// The database, without credentials.
        database: String,
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

/// Whether a [`StrapiDirectory`] can answer handshakes that need its database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirectoryHealth {
    /// Roles and tokens are loaded and the database answered the last time it was asked.
    pub ready: bool,
    /// Why not, when not ready (no address, no credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The database could not answer a user lookup (already logged and recorded).
#[derive(Debug, Clone, Copy)]
struct LookupFailed;

type UserCell = Arc<OnceCell<Result<Option<UserRow>, LookupFailed>>>;

struct CacheSlot {
    created: Instant,
    cell: UserCell,
}

/// The last failure, until the database answers again.
struct Failure {
    reason: String,
    /// Down, unreachable or locked: lookups fail fast until the background task succeeds.
    outage: bool,
}

#[derive(Default)]
struct HealthState {
    failure: Option<Failure>,
    /// A background task is retrying (it clears `failure` when it succeeds).
    retrying: bool,
}

struct Inner {
    db: Db,
    jwt_secret: Vec<u8>,
    api_token_salt: String,
    options: StrapiDirectoryOptions,
    /// `None` until the first successful load.
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Serializes snapshot loads so concurrent stale handshakes load once.
    reloading: tokio::sync::Mutex<()>,
    /// Snapshot loads finished (either way), to share one load's outcome with its waiters.
    loads: AtomicU64,
    health: Mutex<HealthState>,
    users: Mutex<HashMap<i64, CacheSlot>>,
    /// User queries issued (cache misses that reached the database).
    user_queries: AtomicU64,
}

/// A read-only directory over a Strapi 5 database (SQLite or PostgreSQL).
pub struct StrapiDirectory {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StrapiDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrapiDirectory")
            .field("database", &self.inner.db.label())
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl StrapiDirectory {
    /// Opens `database_url` read-only — `sqlite://path/to/data.db` or
    /// `postgres://user:password@host:port/database` (plain connection, no TLS) — and loads
    /// roles, API tokens and the users-permissions advanced settings. The secrets are the
    /// users-permissions JWT secret and Strapi's `API_TOKEN_SALT`.
    ///
    /// A database that is down, unreachable or locked does not fail the open: the directory
    /// answers `Unavailable` (see [`StrapiDirectory::health`]) until a background retry
    /// reaches it. A bad URL, a database without Strapi's tables or refused credentials do.
    pub async fn open(
        database_url: &str,
        jwt_secret: &str,
        api_token_salt: &str,
        options: StrapiDirectoryOptions,
    ) -> Result<Self, StrapiDirectoryError> {
        let db = Db::open(database_url)?;
        let inner = Arc::new(Inner {
            db,
            jwt_secret: jwt_secret.as_bytes().to_vec(),
            api_token_salt: api_token_salt.to_string(),
            options,
            snapshot: RwLock::new(None),
            reloading: tokio::sync::Mutex::new(()),
            loads: AtomicU64::new(0),
            health: Mutex::new(HealthState::default()),
            users: Mutex::new(HashMap::new()),
            user_queries: AtomicU64::new(0),
        });
        let result = {
            let _guard = inner.reloading.lock().await;
            let loaded = snapshot::load(&inner.db).await;
            inner.finish_load(loaded)
        };
        match result {
            Ok(_) => Ok(StrapiDirectory { inner }),
            Err(e) if e.outage() => {
                tracing::warn!(
                    database = %inner.db.label(),
                    "strapi directory: starting without the database; handshakes that need it answer `Service unavailable` until it answers"
                );
                Ok(StrapiDirectory { inner })
            }
            Err(e) => {
                inner.db.close().await;
                Err(e.into_public(inner.db.label()))
            }
        }
    }

    /// Drops the cached users and reloads roles, permissions, API tokens and the advanced
    /// settings. On error the previous roles and tokens stay in use.
    pub async fn invalidate(&self) -> Result<(), StrapiDirectoryError> {
        let inner = &self.inner;
        inner.lock_users().clear();
        let _guard = inner.reloading.lock().await;
        let loaded = snapshot::load(&inner.db).await;
        inner
            .finish_load(loaded)
            .map(drop)
            .map_err(|e| e.into_public(inner.db.label()))
    }

    /// Whether handshakes that need the database can be answered, and why not.
    pub fn health(&self) -> DirectoryHealth {
        let loaded = self.inner.current().is_some();
        let health = self.inner.lock_health();
        match (&health.failure, loaded) {
            (Some(f), _) => DirectoryHealth {
                ready: false,
                reason: Some(f.reason.clone()),
            },
            (None, false) => DirectoryHealth {
                ready: false,
                reason: Some("roles and API tokens are not loaded yet".to_string()),
            },
            (None, true) => DirectoryHealth {
                ready: true,
                reason: None,
            },
        }
    }

    /// The database this directory reads, without credentials: the SQLite file's path or
    /// `postgres://user@host:port/database`.
    pub fn database(&self) -> &str {
        self.inner.db.label()
    }

    /// How many user lookups reached the database (cache misses) since opening.
    pub fn user_queries(&self) -> u64 {
        self.inner.user_queries.load(Ordering::Relaxed)
    }

    /// Closes the connection pool; later lookups answer `Unavailable`.
    pub async fn close(&self) {
        self.inner.db.close().await;
    }

    async fn resolve(&self, credential: Option<&Credential>) -> Result<Identity, AuthError> {
        let inner = &self.inner;
        match credential {
            None => Ok(Identity {
                audience: inner.fresh_snapshot(false).await?.public.clone(),
                user: None,
            }),
            Some(Credential::Jwt(token)) => {
                let id = verify_jwt(token, &inner.jwt_secret)?;
                let id: i64 = id.parse().map_err(|_| AuthError::InvalidCredentials)?;
                let user = inner.user(id).await?.ok_or(AuthError::InvalidCredentials)?;
                let mut snap = inner.fresh_snapshot(false).await?;
                if user.blocked || (snap.email_confirmation && !user.confirmed) {
                    return Err(AuthError::InvalidCredentials);
                }
                let role_id = user.role_id.ok_or(AuthError::InvalidCredentials)?;
                if !snap.roles.contains_key(&role_id) {
                    // A role created after the last load: read the roles again once.
                    snap = inner.fresh_snapshot(true).await?;
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
                        username: user.username.unwrap_or_default(),
                        email: user.email.unwrap_or_default(),
                        role: role_type,
                    }),
                })
            }
            Some(Credential::ApiToken(plain)) => {
                let key = hash_api_token(plain, &inner.api_token_salt);
                let snap = inner.fresh_snapshot(false).await?;
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
        let inner = &self.inner;
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
        if let Some(reason) = inner.outage() {
            return Err(DirectoryError(format!(
                "the Strapi database is unavailable: {reason}"
            )));
        }
        let published_only = content_type.draft_and_publish && !include_drafts;
        let numeric = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
        let (column, param) = if numeric {
            let Ok(n) = id.parse::<i64>() else {
                return Ok(false);
            };
            ("id", Param::Int(n))
        } else {
            ("document_id", Param::Text(id))
        };
        let query = sql::entity_exists(inner.db.sql(), &table, column, published_only);
        inner.db.any_row(&query, &[param]).await.map_err(|e| {
            if e.outage {
                inner.record_failure(format!("cannot read {table}: {}", e.message), true);
            }
            DirectoryError(format!(
                "cannot read {table} from the Strapi database {}: {}",
                inner.db.label(),
                e.message
            ))
        })
    }
}

impl Inner {
    fn current(&self) -> Option<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn lock_users(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CacheSlot>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_health(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The reason of an ongoing outage, if any: lookups fail fast while it lasts.
    fn outage(&self) -> Option<String> {
        self.lock_health()
            .failure
            .as_ref()
            .filter(|f| f.outage)
            .map(|f| f.reason.clone())
    }

    /// Installs a load's result (call with `reloading` held) and records the database's
    /// health: a success clears a failure, a failure starts the background retry.
    fn finish_load(
        self: &Arc<Self>,
        loaded: Result<Snapshot, LoadError>,
    ) -> Result<Arc<Snapshot>, LoadError> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        match loaded {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some(fresh.clone());
                self.record_success();
                Ok(fresh)
            }
            Err(e) => {
                self.record_failure(e.reason(), e.outage());
                Err(e)
            }
        }
    }

    fn record_success(&self) {
        let mut health = self.lock_health();
        if let Some(previous) = health.failure.take() {
            tracing::info!(database = %self.db.label(), was = %previous.reason, "strapi directory: the database answers again");
        }
    }

    /// Records a failure and makes sure a background task retries until the database
    /// answers.
    fn record_failure(self: &Arc<Self>, reason: String, outage: bool) {
        let start_retrying = {
            let mut health = self.lock_health();
            if health.failure.as_ref().map(|f| &f.reason) != Some(&reason) {
                tracing::warn!(database = %self.db.label(), %reason, "strapi directory: cannot read the database");
            }
            health.failure = Some(Failure { reason, outage });
            let start = !health.retrying && !self.db.is_closed();
            if start {
                health.retrying = true;
            }
            start
        };
        if start_retrying {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(retry(Arc::downgrade(self)));
                }
                Err(_) => self.lock_health().retrying = false,
            }
        }
    }

    /// The snapshot, loaded first when older than the TTL (or when `force`). While the
    /// database is failing, the last snapshot answers (the background task retries);
    /// without one, or when `force`, the handshake is `Unavailable`.
    async fn fresh_snapshot(self: &Arc<Self>, force: bool) -> Result<Arc<Snapshot>, AuthError> {
        let current = self.current();
        if let Some(snap) = &current
            && !force
            && snap.loaded_at.elapsed() < self.options.cache_ttl
        {
            return Ok(snap.clone());
        }
        if self.lock_health().failure.is_some() {
            return if force {
                Err(AuthError::Unavailable)
            } else {
                current.ok_or(AuthError::Unavailable)
            };
        }
        let seen = self.loads.load(Ordering::Relaxed);
        let _guard = self.reloading.lock().await;
        if self.loads.load(Ordering::Relaxed) != seen {
            // Another handshake loaded while this one waited: share its outcome.
            return self.current().ok_or(AuthError::Unavailable);
        }
        let loaded = snapshot::load(&self.db).await;
        match self.finish_load(loaded) {
            Ok(fresh) => Ok(fresh),
            Err(_) => current.ok_or(AuthError::Unavailable),
        }
    }

    /// The user row for `id`, from the cache or (once per miss) from the database.
    async fn user(self: &Arc<Self>, id: i64) -> Result<Option<UserRow>, AuthError> {
        let ttl = self.options.cache_ttl;
        let cell = {
            let mut users = self.lock_users();
            match users.get(&id) {
                Some(slot) if slot.created.elapsed() < ttl => slot.cell.clone(),
                _ => {
                    if self.outage().is_some() {
                        return Err(AuthError::Unavailable);
                    }
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
                snapshot::fetch_user(&self.db, id)
                    .await
                    .map_err(|e| self.user_lookup_failed(e))
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

    fn user_lookup_failed(self: &Arc<Self>, e: DbError) -> LookupFailed {
        if e.outage {
            self.record_failure(format!("cannot read users (up_users): {}", e.message), true);
        } else {
            tracing::warn!(database = %self.db.label(), error = %e.message, "strapi directory: user lookup failed");
        }
        LookupFailed
    }
}

/// Retries loading until the database answers (or the directory is closed or dropped),
/// pausing [`RETRY_FIRST`] doubling up to [`RETRY_MAX`] between attempts.
async fn retry(weak: Weak<Inner>) {
    let mut pause = RETRY_FIRST;
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
        let Some(inner) = weak.upgrade() else { return };
        {
            let mut health = inner.lock_health();
            if health.failure.is_none() || inner.db.is_closed() {
                health.retrying = false;
                return;
            }
        }
        let _guard = inner.reloading.lock().await;
        let loaded = snapshot::load(&inner.db).await;
        inner.loads.fetch_add(1, Ordering::Relaxed);
        match loaded {
            Ok(fresh) => {
                *inner.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(fresh));
                // Under one lock: a failure recorded after this starts a new task.
                let mut health = inner.lock_health();
                if let Some(previous) = health.failure.take() {
                    tracing::info!(database = %inner.db.label(), was = %previous.reason, "strapi directory: the database answers again");
                }
                health.retrying = false;
                return;
            }
            Err(e) => {
                let reason = e.reason();
                let mut health = inner.lock_health();
                if health.failure.as_ref().map(|f| &f.reason) != Some(&reason) {
                    tracing::warn!(database = %inner.db.label(), %reason, "strapi directory: cannot read the database");
                }
                health.failure = Some(Failure {
                    reason,
                    outage: e.outage(),
                });
            }
        }
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
        self.inner
            .current()
            .map(|s| s.audiences.clone())
            .unwrap_or_default()
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
