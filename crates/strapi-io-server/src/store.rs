//! The gateway's own database: an embedded SQLite file under the data directory, created
//! with migrations on first start, holding the live settings so that `PUT /api/io/settings`
//! survives a restart.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use strapi_io::core::Settings;

/// The database file's name inside the data directory.
pub(crate) const DB_FILE: &str = "strapi-io.db";

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The data directory cannot be created.
    #[error("data directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database cannot be opened, migrated, read or written.
    #[error("settings database {path}: {source}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// What SQLite or the migrator said.
        source: sqlx::Error,
    },
    /// Migrations failed (a corrupt or foreign file).
    #[error("settings database {path}: {source}")]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// What the migrator said.
        source: sqlx::migrate::MigrateError,
    },
    /// The stored document is not valid settings.
    #[error(
        "settings database {path}: stored settings are invalid: {problems} (delete the file to start again from the config file's settings)"
    )]
    Invalid {
        /// The database file.
        path: PathBuf,
        /// Every problem.
        problems: String,
    },
}

/// The settings store.
#[derive(Debug, Clone)]
pub(crate) struct SettingsStore {
    pool: SqlitePool,
    path: PathBuf,
}

impl SettingsStore {
    /// Opens (creating when missing) `<data_dir>/strapi-io.db` and runs the migrations.
    pub(crate) async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Dir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let db = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(db)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .map_err(db)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.clone(),
                source,
            })?;
        Ok(SettingsStore { pool, path })
    }

    /// The stored settings, if any were saved.
    pub(crate) async fn load(&self) -> Result<Option<Settings>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT document FROM settings WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(|source| StoreError::Db {
                path: self.path.clone(),
                source,
            })?;
        let Some((text,)) = row else {
            return Ok(None);
        };
        let invalid = |problems: String| StoreError::Invalid {
            path: self.path.clone(),
            problems,
        };
        let doc: Value = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        Settings::from_document(&doc).map(Some).map_err(|p| {
            invalid(
                p.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })
    }

    /// Saves the settings (the whole document).
    pub(crate) async fn save(&self, settings: &Settings) -> Result<(), StoreError> {
        let text = serde_json::to_string(settings).unwrap_or_default();
        let now = crate::clock::unix_millis();
        sqlx::query(
            "INSERT INTO settings (id, document, updated_at) VALUES (1, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET document = excluded.document, updated_at = excluded.updated_at",
        )
        .bind(text)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|source| StoreError::Db {
            path: self.path.clone(),
            source,
        })?;
        Ok(())
    }

    /// Where the database lives.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("strapi-io-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn saves_and_loads_settings() {
        let dir = temp_dir("roundtrip");
        let store = SettingsStore::open(&dir).await.unwrap();
        assert!(store.load().await.unwrap().is_none());
        let mut s = Settings::default();
        s.security.ip_blacklist = vec!["10.0.0.0/8".into()];
        store.save(&s).await.unwrap();
        drop(store);
        let again = SettingsStore::open(&dir).await.unwrap();
        assert_eq!(again.load().await.unwrap(), Some(s));
    }

    #[tokio::test]
    async fn stored_durations_out_of_range_stop_the_start_with_their_path() {
        // What an earlier version accepted: a ping interval no client timer can hold.
        let dir = temp_dir("out-of-range");
        let store = SettingsStore::open(&dir).await.unwrap();
        let mut s = Settings::default();
        s.connection.ping_interval = 1 << 31;
        store.save(&s).await.unwrap();
        let err = store.load().await.unwrap_err().to_string();
        assert!(err.contains("strapi-io.db"), "{err}");
        assert!(
            err.contains("settings.connection.pingInterval: must be between 100 and 3600000 ms"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_corrupt_file_is_a_clear_error() {
        let dir = temp_dir("corrupt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(DB_FILE), vec![0x42u8; 4096]).unwrap();
        let err = SettingsStore::open(&dir).await.unwrap_err().to_string();
        assert!(err.contains("strapi-io.db"), "{err}");
    }

    #[tokio::test]
    async fn an_unusable_directory_is_a_clear_error() {
        let dir = temp_dir("file-in-the-way");
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        std::fs::write(&dir, b"not a directory").unwrap();
        let err = SettingsStore::open(&dir).await.unwrap_err().to_string();
        assert!(err.starts_with("data directory"), "{err}");
        let _ = std::fs::remove_file(&dir);
    }
}
