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
//! - **Watched.** Every [`StrapiDirectoryOptions::refresh`] a background task reads a
//!   fingerprint of the tables (`watch`): unchanged, the cache counts as verified (the TTL
//!   is only a ceiling for when the database cannot be read); changed, the snapshot is
//!   reloaded or the changed users dropped from the cache, and a [`DirectoryChange`] is
//!   announced ([`Directory::changes`]) so the runtime re-checks connected sockets
//!   ([`Directory::recheck`], which reads missing users in batches).
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
mod watch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use strapi_io_core::auth::{AuthError, Credential, hash_api_token, verify_jwt};
use strapi_io_core::{Audience, ContentType};
use tokio::sync::OnceCell;

use crate::directory::{
    BoxFuture, Directory, DirectoryChange, DirectoryError, Identity, Subject, TokenRecord,
    UserInfo, jwt_expiry_millis,
};
use db::{Db, DbError, Param};
use snapshot::{LoadError, Snapshot, UserRow};
use watch::Fingerprint;

/// Above this many cached users, expired entries are swept (and, if still full, all dropped).
const MAX_CACHED_USERS: usize = 100_000;
/// Above this many changed users in one interval, every socket is re-checked.
const MAX_USER_DELTA: usize = 10_000;
/// The first and the longest pause between two background attempts to reach the database.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Tuning for [`StrapiDirectory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrapiDirectoryOptions {
    /// How long users, roles, permissions and tokens read from the database are trusted
    /// before being read again when the change watch cannot vouch for them (the plugin's 5
    /// minutes by default).
    pub cache_ttl: Duration,
    /// How often the tables are checked for changes; zero turns the watch off (changes are
    /// then seen after `cache_ttl` or [`StrapiDirectory::invalidate`]).
    pub refresh: Duration,
}

impl Default for StrapiDirectoryOptions {
    fn default() -> Self {
        StrapiDirectoryOptions {
            cache_ttl: Duration::from_secs(5 * 60),
            refresh: Duration::from_secs(2),
        }
    }
}

/// Counters of the change watch ([`StrapiDirectory::watch_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchStats {
    /// Fingerprints read.
    pub polls: u64,
    /// Polls that found a change (reloads and user deltas).
    pub changes: u64,
    /// Polls that failed (the database could not be read).
    pub failures: u64,
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
    /// The last fingerprint the cache agrees with (`None`: not read yet).
    fingerprint: tokio::sync::Mutex<Option<Fingerprint>>,
    /// When the last fingerprint that matched the cache was read: everything cached before
    /// it is as good as read then.
    verified: Mutex<Option<Instant>>,
    /// Announces changes to the runtime.
    changes: tokio::sync::broadcast::Sender<DirectoryChange>,
    polls: AtomicU64,
    changes_seen: AtomicU64,
    poll_failures: AtomicU64,
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
            fingerprint: tokio::sync::Mutex::new(None),
            verified: Mutex::new(None),
            changes: tokio::sync::broadcast::channel(64).0,
            polls: AtomicU64::new(0),
            changes_seen: AtomicU64::new(0),
            poll_failures: AtomicU64::new(0),
        });
        // The fingerprint first: a change made during the load is seen by the next poll.
        if inner.options.refresh > Duration::ZERO
            && let Ok(print) = Fingerprint::read(&inner.db).await
        {
            *inner.fingerprint.lock().await = Some(print);
        }
        let result = {
            let _guard = inner.reloading.lock().await;
            let loaded = snapshot::load(&inner.db).await;
            inner.finish_load(loaded)
        };
        if inner.options.refresh > Duration::ZERO && !matches!(&result, Err(e) if !e.outage()) {
            tokio::spawn(watch_loop(Arc::downgrade(&inner)));
        }
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
    /// settings; connected sockets are then re-checked ([`Directory::changes`]). On error
    /// the previous roles and tokens stay in use.
    pub async fn invalidate(&self) -> Result<(), StrapiDirectoryError> {
        let inner = &self.inner;
        inner.lock_users().clear();
        let _guard = inner.reloading.lock().await;
        let loaded = snapshot::load(&inner.db).await;
        let result = inner
            .finish_load(loaded)
            .map(drop)
            .map_err(|e| e.into_public(inner.db.label()));
        if result.is_ok() {
            let _ = inner.changes.send(DirectoryChange::All);
        }
        result
    }

    /// Reads the tables' fingerprint now and applies what changed, as the background watch
    /// does every `refresh`: returns whether something changed.
    pub async fn poll(&self) -> Result<bool, StrapiDirectoryError> {
        self.inner
            .poll()
            .await
            .map_err(|e| e.into_public(self.inner.db.label()))
    }

    /// Counters of the change watch.
    pub fn watch_stats(&self) -> WatchStats {
        let inner = &self.inner;
        WatchStats {
            polls: inner.polls.load(Ordering::Relaxed),
            changes: inner.changes_seen.load(Ordering::Relaxed),
            failures: inner.poll_failures.load(Ordering::Relaxed),
        }
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
            None => Ok(Identity::public(
                inner.fresh_snapshot(false).await?.public.clone(),
            )),
            Some(Credential::Jwt(token)) => {
                let jwt = verify_jwt(token, &inner.jwt_secret)?;
                let id: i64 = jwt
                    .user_id
                    .parse()
                    .map_err(|_| AuthError::InvalidCredentials)?;
                let user = inner.user(id).await?.ok_or(AuthError::InvalidCredentials)?;
                let mut identity = inner.user_identity(&user).await?;
                identity.expires_at = Some(jwt_expiry_millis(jwt.expires_at));
                Ok(identity)
            }
            Some(Credential::ApiToken(plain)) => {
                let key = hash_api_token(plain, &inner.api_token_salt);
                let snap = inner.fresh_snapshot(false).await?;
                TokenRecord::identity(snap.tokens.get(&key))
            }
        }
    }

    /// [`Directory::recheck`]: users missing from the cache are read in batches.
    async fn recheck_all(&self, subjects: &[Subject]) -> Vec<Result<Identity, AuthError>> {
        let inner = &self.inner;
        let snap = match inner.fresh_snapshot(false).await {
            Ok(snap) => snap,
            Err(e) => return subjects.iter().map(|_| Err(e.clone())).collect(),
        };
        let users = inner.users_for(subjects).await;
        let mut answers = Vec::with_capacity(subjects.len());
        for subject in subjects {
            answers.push(match subject {
                Subject::Public => Ok(Identity::public(snap.public.clone())),
                Subject::ApiToken(key) => TokenRecord::identity(snap.tokens.get(key)),
                Subject::User(id) => match id.parse::<i64>().ok().and_then(|id| users.get(&id)) {
                    None => Err(AuthError::InvalidCredentials),
                    Some(Err(e)) => Err(e.clone()),
                    Some(Ok(None)) => Err(AuthError::InvalidCredentials),
                    Some(Ok(Some(row))) => inner.user_identity(row).await,
                },
            });
        }
        answers
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
    /// The identity of an existing user row under the current roles (no JWT expiry).
    async fn user_identity(self: &Arc<Self>, user: &UserRow) -> Result<Identity, AuthError> {
        let mut snap = self.fresh_snapshot(false).await?;
        if user.blocked || (snap.email_confirmation && !user.confirmed) {
            return Err(AuthError::InvalidCredentials);
        }
        let role_id = user.role_id.ok_or(AuthError::InvalidCredentials)?;
        if !snap.roles.contains_key(&role_id) {
            // A role created after the last load: read the roles again once.
            snap = self.fresh_snapshot(true).await?;
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
                username: user.username.clone().unwrap_or_default(),
                email: user.email.clone().unwrap_or_default(),
                role: role_type,
            }),
            subject: Subject::User(user.id.to_string()),
            expires_at: None,
        })
    }

    /// The rows of the users among `subjects`: from the cache when fresh, the others read
    /// in batches (and cached). A failed read answers `Unavailable` for its users.
    async fn users_for(
        self: &Arc<Self>,
        subjects: &[Subject],
    ) -> HashMap<i64, Result<Option<UserRow>, AuthError>> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let users = self.lock_users();
            for subject in subjects {
                let Subject::User(id) = subject else { continue };
                let Ok(id) = id.parse::<i64>() else { continue };
                if found.contains_key(&id) {
                    continue;
                }
                match users.get(&id) {
                    Some(slot) if self.is_fresh(slot.created) => match slot.cell.get() {
                        Some(Ok(row)) => {
                            found.insert(id, Ok(row.clone()));
                        }
                        _ => missing.push(id),
                    },
                    _ => missing.push(id),
                }
            }
        }
        missing.sort_unstable();
        missing.dedup();
        missing.retain(|id| !found.contains_key(id));
        if missing.is_empty() {
            return found;
        }
        if self.outage().is_some() {
            for id in missing {
                found.insert(id, Err(AuthError::Unavailable));
            }
            return found;
        }
        self.user_queries.fetch_add(1, Ordering::Relaxed);
        match snapshot::fetch_users(&self.db, &missing).await {
            Ok(rows) => {
                let mut rows: HashMap<i64, UserRow> = rows.into_iter().map(|r| (r.id, r)).collect();
                let mut users = self.lock_users();
                if users.len() + missing.len() > MAX_CACHED_USERS {
                    users.retain(|_, s| self.is_fresh(s.created));
                }
                for id in missing {
                    let row = rows.remove(&id);
                    if users.len() < MAX_CACHED_USERS {
                        users.insert(
                            id,
                            CacheSlot {
                                created: Instant::now(),
                                cell: Arc::new(OnceCell::new_with(Some(Ok(row.clone())))),
                            },
                        );
                    }
                    found.insert(id, Ok(row));
                }
            }
            Err(e) => {
                let _ = self.user_lookup_failed(e);
                for id in missing {
                    found.insert(id, Err(AuthError::Unavailable));
                }
            }
        }
        found
    }

    /// Whether something read at `read_at` may still be trusted: within the TTL of when it
    /// was read, or of the last poll that found the tables unchanged since.
    fn is_fresh(&self, read_at: Instant) -> bool {
        let ttl = self.options.cache_ttl;
        read_at.elapsed() < ttl
            || self
                .verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some_and(|v| v >= read_at && v.elapsed() < ttl)
    }

    /// One round of the change watch (see `watch.rs`): returns whether something changed.
    async fn poll(self: &Arc<Self>) -> Result<bool, LoadError> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_directory_polls_total").increment(1);
        let mut last = self.fingerprint.lock().await;
        let read_at = Instant::now();
        let newer = match Fingerprint::read(&self.db).await {
            Ok(print) => print,
            Err(error) => {
                self.poll_failures.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("strapi_io_directory_poll_failures_total").increment(1);
                let error = LoadError::Db {
                    what: "the change fingerprint",
                    error,
                };
                if error.outage() {
                    self.record_failure(error.reason(), true);
                } else {
                    tracing::warn!(database = %self.db.label(), reason = %error.reason(), "strapi directory: cannot check for changes");
                }
                return Err(error);
            }
        };
        let Some(older) = last.clone() else {
            // The first fingerprint (the database was unavailable at open): reload once so
            // that the snapshot is not older than it.
            let _guard = self.reloading.lock().await;
            let loaded = snapshot::load(&self.db).await;
            self.finish_load(loaded)?;
            *last = Some(newer);
            self.mark_verified(read_at);
            return Ok(false);
        };
        if older == newer {
            self.mark_verified(read_at);
            return Ok(false);
        }
        let diff = older.diff(&newer);
        let mut change = None;
        if diff.snapshot {
            let _guard = self.reloading.lock().await;
            let loaded = snapshot::load(&self.db).await;
            self.finish_load(loaded)?;
            change = Some(DirectoryChange::All);
        }
        if diff.users {
            if older.users_deleted(&newer) {
                self.lock_users().clear();
                change = Some(DirectoryChange::All);
            } else {
                let ids = watch::changed_users(&self.db, older.user_marks())
                    .await
                    .map_err(|error| {
                        self.poll_failures.fetch_add(1, Ordering::Relaxed);
                        LoadError::Db {
                            what: "changed users (up_users)",
                            error,
                        }
                    })?;
                {
                    let mut users = self.lock_users();
                    for id in &ids {
                        users.remove(id);
                    }
                }
                if change.is_none() {
                    change = Some(if ids.len() > MAX_USER_DELTA {
                        DirectoryChange::All
                    } else {
                        DirectoryChange::Users(ids.iter().map(ToString::to_string).collect())
                    });
                }
            }
        }
        *last = Some(newer);
        self.mark_verified(read_at);
        self.changes_seen.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_directory_changes_total").increment(1);
        if let Some(change) = change {
            tracing::debug!(?change, "strapi directory: change seen");
            let _ = self.changes.send(change);
        }
        Ok(true)
    }

    fn mark_verified(&self, at: Instant) {
        *self.verified.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
    }

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
            && self.is_fresh(snap.loaded_at)
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
        let cell = {
            let mut users = self.lock_users();
            match users.get(&id) {
                Some(slot) if self.is_fresh(slot.created) => slot.cell.clone(),
                _ => {
                    if self.outage().is_some() {
                        return Err(AuthError::Unavailable);
                    }
                    if users.len() >= MAX_CACHED_USERS {
                        users.retain(|_, s| self.is_fresh(s.created));
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

/// Polls every `refresh` while the directory lives and its pool is open.
async fn watch_loop(weak: Weak<Inner>) {
    let Some(every) = weak.upgrade().map(|i| i.options.refresh) else {
        return;
    };
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.db.is_closed() {
            return;
        }
        // Failures are recorded (health, counters); the next tick tries again.
        let _ = inner.poll().await;
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

    fn recheck<'a>(
        &'a self,
        subjects: &'a [Subject],
    ) -> BoxFuture<'a, Vec<Result<Identity, AuthError>>> {
        Box::pin(self.recheck_all(subjects))
    }

    fn changes(&self) -> Option<tokio::sync::broadcast::Receiver<DirectoryChange>> {
        Some(self.inner.changes.subscribe())
    }
}
