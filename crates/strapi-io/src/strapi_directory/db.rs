//! The connection under a [`super::StrapiDirectory`]: one pool over a Strapi SQLite file or a
//! PostgreSQL server, opened read-only with bounded waits, typed queries over either, and
//! what a failure means. It owns credential hygiene: the URL's password never leaves this
//! module — messages name the database by a redacted label and every driver message is
//! scrubbed of the password before it is returned.

use std::str::FromStr;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use sqlx::FromRow;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgSslMode};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};

use super::StrapiDirectoryError;
use super::sql::{self, Sql};

/// How long a SQLite query may wait for Strapi's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an operation may wait for a pooled connection, connecting included.
pub(super) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// The bound on a whole operation (acquire and query), whatever the network does.
pub(super) const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections kept per directory.
const MAX_CONNECTIONS: u32 = 4;

/// Runs on every new PostgreSQL connection: every transaction is read-only (on top of the
/// role's own grants), a statement runs at most 3 s and waits at most 2 s for a table lock
/// (e.g. behind a Strapi migration).
const PG_SESSION_SETUP: &str = "SET default_transaction_read_only = on; \
     SET statement_timeout = 3000; SET lock_timeout = 2000";

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A bind parameter.
#[derive(Debug, Clone, Copy)]
pub(super) enum Param<'a> {
    /// An integer (ids).
    Int(i64),
    /// Text (document ids, store keys).
    Text(&'a str),
}

/// A failed database operation, its message already scrubbed of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DbError {
    /// What went wrong, without the database's address.
    pub message: String,
    /// The database is down, unreachable, locked or overloaded (it may come back by
    /// itself), as opposed to a problem with the database's contents or the credentials.
    pub outage: bool,
}

/// A read-only pool over a Strapi database, either dialect.
pub(super) struct Db {
    pool: Pool,
    label: String,
    /// The URL's password as written and decoded, never to appear in a message.
    secrets: Vec<String>,
}

impl Db {
    /// Parses `url` (`sqlite://…` or `postgres://…`/`postgresql://…`) and makes a lazy pool:
    /// nothing is connected yet, so an unreachable server is not an error here.
    pub(super) fn open(url: &str) -> Result<Db, StrapiDirectoryError> {
        let secrets = url_secrets(url);
        let scrub = |text: String| scrub(&secrets, text);
        if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|e| StrapiDirectoryError::InvalidUrl(scrub(e.to_string())))?
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
                .max_connections(MAX_CONNECTIONS)
                .min_connections(0)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .idle_timeout(Some(Duration::from_secs(60)))
                .connect_lazy_with(connect);
            Ok(Db {
                pool: Pool::Sqlite(pool),
                label: path.display().to_string(),
                secrets,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut connect = PgConnectOptions::from_str(url)
                .map_err(|e| StrapiDirectoryError::InvalidUrl(scrub(e.to_string())))?;
            if matches!(
                connect.get_ssl_mode(),
                PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull
            ) {
                return Err(StrapiDirectoryError::InvalidUrl(
                    "this build has no TLS: use sslmode=disable or prefer (plain connection), \
                     or reach PostgreSQL through a local TLS tunnel"
                        .to_string(),
                ));
            }
            if connect.get_application_name().is_none() {
                connect = connect.application_name("strapi-io");
            }
            let label = pg_label(&connect);
            let pool = PgPoolOptions::new()
                .max_connections(MAX_CONNECTIONS)
                .min_connections(0)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .idle_timeout(Some(Duration::from_secs(60)))
                .test_before_acquire(true)
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        // A plain string runs as a simple query: several statements at once.
                        sqlx::Executor::execute(&mut *conn, PG_SESSION_SETUP).await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(connect);
            Ok(Db {
                pool: Pool::Postgres(pool),
                label,
                secrets,
            })
        } else {
            Err(StrapiDirectoryError::InvalidUrl(
                "expected sqlite://path/to/data.db or postgres://user:password@host:port/database"
                    .to_string(),
            ))
        }
    }

    /// The database for messages: a file path, or `postgres://user@host:port/database`.
    pub(super) fn label(&self) -> &str {
        &self.label
    }

    /// The queries of this database's dialect.
    pub(super) fn sql(&self) -> &'static Sql {
        match self.pool {
            Pool::Sqlite(_) => &sql::SQLITE,
            Pool::Postgres(_) => &sql::POSTGRES,
        }
    }

    /// Every row of `query`.
    pub(super) async fn fetch_all<T>(
        &self,
        query: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<T>, DbError>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        // The same binding for both dialects; the types differ, so a macro writes it twice.
        macro_rules! rows {
            ($pool:expr) => {{
                let mut q = sqlx::query_as::<_, T>(query);
                for p in params {
                    q = match *p {
                        Param::Int(n) => q.bind(n),
                        Param::Text(s) => q.bind(s),
                    };
                }
                q.fetch_all($pool).await
            }};
        }
        let work = async {
            match &self.pool {
                Pool::Sqlite(pool) => rows!(pool),
                Pool::Postgres(pool) => rows!(pool),
            }
        };
        self.bounded(work).await
    }

    /// The first row of `query`, if any.
    pub(super) async fn fetch_optional<T>(
        &self,
        query: &str,
        params: &[Param<'_>],
    ) -> Result<Option<T>, DbError>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        // Every query this is used with has `LIMIT 1` or a unique key.
        Ok(self.fetch_all(query, params).await?.into_iter().next())
    }

    /// Whether `query` returns a row (its columns are not read).
    pub(super) async fn any_row(&self, query: &str, params: &[Param<'_>]) -> Result<bool, DbError> {
        let work = async {
            match &self.pool {
                Pool::Sqlite(pool) => {
                    let mut q = sqlx::query(query);
                    for p in params {
                        q = match *p {
                            Param::Int(n) => q.bind(n),
                            Param::Text(s) => q.bind(s),
                        };
                    }
                    q.fetch_optional(pool).await.map(|r| r.is_some())
                }
                Pool::Postgres(pool) => {
                    let mut q = sqlx::query(query);
                    for p in params {
                        q = match *p {
                            Param::Int(n) => q.bind(n),
                            Param::Text(s) => q.bind(s),
                        };
                    }
                    q.fetch_optional(pool).await.map(|r| r.is_some())
                }
            }
        };
        self.bounded(work).await
    }

    /// Closes the pool; later operations fail as an outage.
    pub(super) async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// Whether [`Db::close`] was called.
    pub(super) fn is_closed(&self) -> bool {
        match &self.pool {
            Pool::Sqlite(p) => p.is_closed(),
            Pool::Postgres(p) => p.is_closed(),
        }
    }

    /// `text` with the URL's password replaced by `***`.
    pub(super) fn scrub(&self, text: String) -> String {
        scrub(&self.secrets, text)
    }

    /// Runs `work` within [`OPERATION_TIMEOUT`] and turns its error into a [`DbError`].
    async fn bounded<R>(
        &self,
        work: impl Future<Output = Result<R, sqlx::Error>>,
    ) -> Result<R, DbError> {
        match tokio::time::timeout(OPERATION_TIMEOUT, work).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(self.classify(&e)),
            Err(_) => Err(DbError {
                message: format!(
                    "no answer within {} s (database unreachable or overloaded)",
                    OPERATION_TIMEOUT.as_secs()
                ),
                outage: true,
            }),
        }
    }

    fn classify(&self, e: &sqlx::Error) -> DbError {
        let outage = match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                match self.pool {
                    Pool::Sqlite(_) => sqlite_outage(&code),
                    Pool::Postgres(_) => postgres_outage(&code),
                }
            }
            _ => false,
        };
        let message = match e {
            sqlx::Error::PoolTimedOut => format!(
                "no database connection within {} s (database down, unreachable or overloaded)",
                ACQUIRE_TIMEOUT.as_secs()
            ),
            sqlx::Error::PoolClosed => "the directory was closed".to_string(),
            other => self.scrub(other.to_string()),
        };
        DbError { message, outage }
    }
}

/// SQLite's busy and locked result codes (extended codes included): Strapi holds the lock.
fn sqlite_outage(code: &str) -> bool {
    code.parse::<i32>()
        .is_ok_and(|c| matches!(c & 0xff, 5 /* BUSY */ | 6 /* LOCKED */))
}

/// PostgreSQL SQLSTATEs that pass by themselves: connection exceptions (08), insufficient
/// resources (53, e.g. too many connections), operator intervention (57P01 admin shutdown,
/// 57P02 crash shutdown, 57P03 starting up, 57014 statement timeout), 55P03 lock timeout.
fn postgres_outage(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || code == "57014"
        || code == "55P03"
}

/// `postgres://user@host:port/database` (or `…@[/socket/dir]:port/…`): no password.
fn pg_label(connect: &PgConnectOptions) -> String {
    let host = match connect.get_socket() {
        Some(dir) => format!("[{}]", dir.display()),
        None => connect.get_host().to_string(),
    };
    format!(
        "postgres://{}@{}:{}/{}",
        connect.get_username(),
        host,
        connect.get_port(),
        connect.get_database().unwrap_or_default()
    )
}

/// The passwords a database URL carries (userinfo and `password=` parameters), as written
/// and percent-decoded.
fn url_secrets(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let mut add = |raw: &str| {
        if raw.is_empty() {
            return;
        }
        secrets.push(raw.to_string());
        if let Ok(decoded) = percent_decode_str(raw).decode_utf8() {
            secrets.push(decoded.into_owned());
        }
        let plus = raw.replace('+', " ");
        if let Ok(decoded) = percent_decode_str(&plus).decode_utf8() {
            secrets.push(decoded.into_owned());
        }
    };
    // userinfo: between "://" and the last "@" of the authority.
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            add(password);
        }
    }
    if let Some((_, query)) = url.split_once('?') {
        let query = query.split('#').next().unwrap_or_default();
        for pair in query.split('&') {
            if let Some(("password", value)) = pair.split_once('=') {
                add(value);
            }
        }
    }
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

fn scrub(secrets: &[String], mut text: String) -> String {
    for secret in secrets {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_in_userinfo_and_parameters() {
        let s = url_secrets("postgres://reader:p%40ss+w@db.example:5433/strapi?sslmode=disable");
        assert!(s.contains(&"p%40ss+w".to_string()), "{s:?}");
        assert!(s.contains(&"p@ss+w".to_string()), "{s:?}");
        let s = url_secrets("postgres://reader@db/strapi?password=hunter2&application_name=x");
        assert_eq!(s, ["hunter2"]);
        assert!(url_secrets("sqlite:///tmp/a:b@c/data.db").is_empty());
        assert!(url_secrets("postgres://reader@db/strapi").is_empty());
        assert_eq!(
            scrub(
                &url_secrets("postgres://u:hunter2@h/d"),
                "x hunter2 y".into()
            ),
            "x *** y"
        );
    }

    #[tokio::test]
    async fn labels_carry_no_password() {
        let db = Db::open("postgres://reader:hunter2@db.example:5433/strapi").unwrap_or_else(|e| {
            panic!("{e}");
        });
        assert_eq!(db.label(), "postgres://reader@db.example:5433/strapi");
        assert_eq!(db.sql().param, "$1");
    }

    #[test]
    fn outage_codes() {
        assert!(sqlite_outage("5") && sqlite_outage("6") && sqlite_outage("517"));
        assert!(!sqlite_outage("14") && !sqlite_outage("1") && !sqlite_outage(""));
        for code in [
            "08006", "08001", "53300", "57P01", "57P03", "57014", "55P03",
        ] {
            assert!(postgres_outage(code), "{code}");
        }
        for code in ["28P01", "3D000", "42P01", "42501", ""] {
            assert!(!postgres_outage(code), "{code}");
        }
    }
}
