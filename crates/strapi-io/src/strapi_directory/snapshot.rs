//! What a [`super::StrapiDirectory`] keeps in memory — roles with their permissions, content-API
//! tokens with theirs, the users-permissions `advanced` settings — and reading it in one go
//! from either dialect. Also the user row a handshake looks up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use strapi_io_core::{Audience, TokenType};

use super::StrapiDirectoryError;
use super::db::{Db, DbError, Param};
use crate::directory::TokenRecord;

/// The users-permissions `advanced` store key (`<type>_<name>_<key>`).
pub(super) const ADVANCED_KEY: &str = "plugin_users-permissions_advanced";

/// Roles, tokens and settings, as loaded at one moment.
pub(super) struct Snapshot {
    pub loaded_at: Instant,
    pub public: Arc<Audience>,
    /// `up_roles.id` → (role type, audience).
    pub roles: HashMap<i64, (String, Arc<Audience>)>,
    /// `access_key` → token.
    pub tokens: HashMap<String, TokenRecord>,
    pub audiences: Arc<Vec<Arc<Audience>>>,
    pub email_confirmation: bool,
}

/// A `up_users` row with its role link.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(super) struct UserRow {
    pub id: i64,
    pub username: Option<String>,
    pub email: Option<String>,
    pub confirmed: bool,
    pub blocked: bool,
    pub role_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: i64,
    name: Option<String>,
    #[sqlx(rename = "type")]
    role_type: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RolePermissionRow {
    role_id: Option<i64>,
    action: String,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    name: Option<String>,
    #[sqlx(rename = "type")]
    token_type: Option<String>,
    access_key: Option<String>,
    expires_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TokenPermissionRow {
    token_id: Option<i64>,
    action: String,
}

#[derive(sqlx::FromRow)]
struct StoreRow {
    value: Option<String>,
}

/// Why a snapshot could not be read.
#[derive(Debug, Clone)]
pub(super) enum LoadError {
    /// A query failed.
    Db {
        /// What was being read.
        what: &'static str,
        /// The failure.
        error: DbError,
    },
    /// A stored value has an unexpected shape.
    Data {
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

impl LoadError {
    /// The database may come back by itself (down, unreachable, locked).
    pub(super) fn outage(&self) -> bool {
        matches!(self, LoadError::Db { error, .. } if error.outage)
    }

    /// What went wrong, without the database's address (for `/health`).
    pub(super) fn reason(&self) -> String {
        match self {
            LoadError::Db { what, error } => format!("cannot read {what}: {}", error.message),
            LoadError::Data { what, detail } => format!("unexpected {what}: {detail}"),
        }
    }

    /// The public error, naming the database by its label.
    pub(super) fn into_public(self, database: &str) -> StrapiDirectoryError {
        let database = database.to_string();
        match self {
            LoadError::Db { what, error } => StrapiDirectoryError::Query {
                database,
                what,
                reason: error.message,
            },
            LoadError::Data { what, detail } => StrapiDirectoryError::Data {
                database,
                what,
                detail,
            },
        }
    }
}

/// The user `id`, if it exists.
pub(super) async fn fetch_user(db: &Db, id: i64) -> Result<Option<UserRow>, DbError> {
    db.fetch_optional(db.sql().user, &[Param::Int(id)]).await
}

/// Most ids in one `IN (…)` list (SQLite's oldest limit is 999 parameters).
const IDS_PER_QUERY: usize = 500;

/// The users of `ids` that exist (any order), in queries of at most [`IDS_PER_QUERY`].
pub(super) async fn fetch_users(db: &Db, ids: &[i64]) -> Result<Vec<UserRow>, DbError> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let params: Vec<Param<'_>> = chunk.iter().map(|id| Param::Int(*id)).collect();
        let query = db.sql().users_in(chunk.len());
        rows.extend(db.fetch_all::<UserRow>(&query, &params).await?);
    }
    Ok(rows)
}

/// Reads roles, permissions, content-API tokens and the advanced settings.
pub(super) async fn load(db: &Db) -> Result<Snapshot, LoadError> {
    let sql = db.sql();
    let err = |what: &'static str| move |error: DbError| LoadError::Db { what, error };

    // Roles and their users-permissions actions.
    let role_rows: Vec<RoleRow> = db
        .fetch_all(sql.roles, &[])
        .await
        .map_err(err("roles (up_roles)"))?;
    let perm_rows: Vec<RolePermissionRow> = db
        .fetch_all(sql.role_permissions, &[])
        .await
        .map_err(err("role permissions (up_permissions)"))?;
    let mut actions: HashMap<i64, Vec<String>> = HashMap::new();
    for row in perm_rows {
        if let Some(role_id) = row.role_id {
            actions.entry(role_id).or_default().push(row.action);
        }
    }
    let mut audiences = Vec::new();
    let mut roles = HashMap::new();
    let mut public = None;
    for row in role_rows {
        let name = row.name.unwrap_or_else(|| format!("role-{}", row.id));
        let role_type = row.role_type.unwrap_or_else(|| name.to_lowercase());
        let audience = Arc::new(Audience::role(
            &name,
            &role_type,
            actions.remove(&row.id).unwrap_or_default(),
        ));
        if role_type == "public" && public.is_none() {
            public = Some(audience.clone());
        }
        audiences.push(audience.clone());
        roles.insert(row.id, (role_type, audience));
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
    let has_kind = db
        .any_row(sql.token_kind_column, &[])
        .await
        .map_err(err("API tokens (strapi_api_tokens)"))?;
    let token_sql = format!(
        "{}{} ORDER BY id",
        sql.tokens,
        if has_kind {
            " WHERE kind = 'content-api' OR kind IS NULL"
        } else {
            ""
        }
    );
    let token_rows: Vec<TokenRow> = db
        .fetch_all(&token_sql, &[])
        .await
        .map_err(err("API tokens (strapi_api_tokens)"))?;
    let token_perm_rows: Vec<TokenPermissionRow> =
        db.fetch_all(sql.token_permissions, &[])
            .await
            .map_err(err("API token permissions (strapi_api_token_permissions)"))?;
    let mut token_actions: HashMap<i64, Vec<String>> = HashMap::new();
    for row in token_perm_rows {
        if let Some(token_id) = row.token_id {
            token_actions.entry(token_id).or_default().push(row.action);
        }
    }
    let mut tokens = HashMap::new();
    for row in token_rows {
        let Some(access_key) = row.access_key.filter(|k| !k.is_empty()) else {
            continue;
        };
        let token_type = match row.token_type.as_deref() {
            Some("read-only") => TokenType::ReadOnly,
            Some("full-access") => TokenType::FullAccess,
            Some("custom") => TokenType::Custom,
            other => {
                tracing::warn!(token_id = row.id, token_type = ?other, "strapi directory: API token of unknown type ignored");
                continue;
            }
        };
        let name = row.name.unwrap_or_else(|| format!("token-{}", row.id));
        let audience = Arc::new(Audience::api_token(
            &name,
            token_type,
            token_actions.remove(&row.id).unwrap_or_default(),
        ));
        audiences.push(audience.clone());
        let key = access_key.to_ascii_lowercase();
        tokens.insert(
            key.clone(),
            TokenRecord {
                key,
                audience,
                expires_at: row.expires_ms,
            },
        );
    }

    // users-permissions advanced settings.
    let advanced: Option<StoreRow> = db
        .fetch_optional(sql.store_value, &[Param::Text(ADVANCED_KEY)])
        .await
        .map_err(err(
            "users-permissions settings (strapi_core_store_settings)",
        ))?;
    let email_confirmation = match advanced.and_then(|r| r.value) {
        None => false,
        Some(text) => {
            let value: Value = serde_json::from_str(&text).map_err(|e| LoadError::Data {
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
