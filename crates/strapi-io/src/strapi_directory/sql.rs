//! The SQL a [`super::StrapiDirectory`] runs, once per dialect. Both texts of a query return
//! the same columns with the same Rust types, so one code path reads either database:
//! ids are `BIGINT`, booleans decode as `bool` (SQLite's 0/1 and PostgreSQL's `boolean`),
//! timestamps are epoch milliseconds (SQLite stores INTEGER ms; PostgreSQL
//! `timestamp(6) without time zone`, holding UTC wall-clock time as Strapi writes it under
//! `TZ=UTC`), JSON is text.

/// The queries of one SQL dialect.
pub(super) struct Sql {
    /// The first bind parameter (`?` or `$1`).
    pub param: &'static str,
    /// `id, username, email, confirmed, blocked, role_id` of `up_users` row `param`.
    pub user: &'static str,
    /// `id, name, type` of every `up_roles` row.
    pub roles: &'static str,
    /// `role_id, action` of every role permission, in Strapi's order.
    pub role_permissions: &'static str,
    /// One row when `strapi_api_tokens` has a `kind` column (Strapi ≥ 5.x).
    pub token_kind_column: &'static str,
    /// `id, name, type, access_key, expires_ms` of the tokens; a `WHERE` and an `ORDER BY`
    /// follow.
    pub tokens: &'static str,
    /// `token_id, action` of every custom token permission, in Strapi's order.
    pub token_permissions: &'static str,
    /// `value` of the store row `key = param`.
    pub store_value: &'static str,
    /// The change fingerprint: one row per watched table, `part, n, max_id, max_ms, extra`
    /// (row count, highest id, latest `updated_at` in epoch ms, the advanced settings'
    /// text); the store key is the parameter. See `watch.rs`.
    pub fingerprint: &'static str,
    /// The ids of users updated at or after `param` ms, created after the second
    /// parameter's id, or whose role link is newer than the third parameter's link id.
    pub changed_users: &'static str,
    /// `user` for a list of ids: `users_in(n)` completes it.
    user_list: &'static str,
}

/// Strapi's `better-sqlite3` database.
pub(super) static SQLITE: Sql = Sql {
    param: "?",
    user: "SELECT CAST(u.id AS BIGINT) AS id, u.username, u.email, \
             COALESCE(u.confirmed, 0) AS confirmed, COALESCE(u.blocked, 0) AS blocked, \
             (SELECT CAST(l.role_id AS BIGINT) FROM up_users_role_lnk l \
              WHERE l.user_id = u.id ORDER BY l.id LIMIT 1) AS role_id \
           FROM up_users u WHERE u.id = ?",
    roles: ROLES,
    role_permissions: ROLE_PERMISSIONS,
    token_kind_column: "SELECT 1 FROM pragma_table_info('strapi_api_tokens') WHERE name = 'kind'",
    // INTEGER ms as Strapi writes them; ISO text tolerated (unparseable text: expired).
    tokens: "SELECT CAST(id AS BIGINT) AS id, name, type, access_key, \
               CASE typeof(expires_at) \
                 WHEN 'integer' THEN expires_at \
                 WHEN 'real' THEN CAST(expires_at AS INTEGER) \
                 WHEN 'text' THEN COALESCE(CAST(strftime('%s', expires_at) AS INTEGER) * 1000, 0) \
                 ELSE NULL END AS expires_ms \
             FROM strapi_api_tokens",
    token_permissions: TOKEN_PERMISSIONS,
    store_value: "SELECT value FROM strapi_core_store_settings WHERE key = ? \
                  ORDER BY id DESC LIMIT 1",
    fingerprint: concat!(
        "SELECT 'up_roles' AS part, COUNT(*) AS n, CAST(MAX(id) AS BIGINT) AS max_id, CAST(MAX(updated_at) AS BIGINT) AS max_ms, NULL AS extra FROM up_roles",
        " UNION ALL SELECT 'up_permissions', COUNT(*), CAST(MAX(id) AS BIGINT), CAST(MAX(updated_at) AS BIGINT), NULL FROM up_permissions",
        " UNION ALL SELECT 'up_permissions_role_lnk', COUNT(*), CAST(MAX(id) AS BIGINT), NULL, NULL FROM up_permissions_role_lnk",
        " UNION ALL SELECT 'up_users', COUNT(*), CAST(MAX(id) AS BIGINT), CAST(MAX(updated_at) AS BIGINT), NULL FROM up_users",
        " UNION ALL SELECT 'up_users_role_lnk', COUNT(*), CAST(MAX(id) AS BIGINT), NULL, NULL FROM up_users_role_lnk",
        " UNION ALL SELECT 'strapi_api_tokens', COUNT(*), CAST(MAX(id) AS BIGINT), CAST(MAX(updated_at) AS BIGINT), NULL FROM strapi_api_tokens",
        " UNION ALL SELECT 'strapi_api_token_permissions', COUNT(*), CAST(MAX(id) AS BIGINT), CAST(MAX(updated_at) AS BIGINT), NULL FROM strapi_api_token_permissions",
        " UNION ALL SELECT 'strapi_api_token_permissions_token_lnk', COUNT(*), CAST(MAX(id) AS BIGINT), NULL, NULL FROM strapi_api_token_permissions_token_lnk",
        " UNION ALL SELECT 'advanced', COUNT(*), CAST(MAX(id) AS BIGINT), NULL, MAX(value) FROM strapi_core_store_settings WHERE key = ?",
    ),
    changed_users: "SELECT CAST(id AS BIGINT) AS id FROM up_users WHERE updated_at >= ? OR id > ? \
                    UNION SELECT CAST(user_id AS BIGINT) FROM up_users_role_lnk \
                    WHERE id > ? AND user_id IS NOT NULL",
    user_list: "SELECT CAST(u.id AS BIGINT) AS id, u.username, u.email, \
             COALESCE(u.confirmed, 0) AS confirmed, COALESCE(u.blocked, 0) AS blocked, \
             (SELECT CAST(l.role_id AS BIGINT) FROM up_users_role_lnk l \
              WHERE l.user_id = u.id ORDER BY l.id LIMIT 1) AS role_id \
           FROM up_users u WHERE u.id IN (",
};

/// Strapi's `pg` database.
pub(super) static POSTGRES: Sql = Sql {
    param: "$1",
    user: "SELECT CAST(u.id AS BIGINT) AS id, u.username, u.email, \
             COALESCE(u.confirmed, false) AS confirmed, COALESCE(u.blocked, false) AS blocked, \
             (SELECT CAST(l.role_id AS BIGINT) FROM up_users_role_lnk l \
              WHERE l.user_id = u.id ORDER BY l.id LIMIT 1) AS role_id \
           FROM up_users u WHERE u.id = $1",
    roles: ROLES,
    role_permissions: ROLE_PERMISSIONS,
    // The table the unqualified name resolves to, as the other queries see it.
    token_kind_column: "SELECT 1 FROM pg_catalog.pg_attribute \
                        WHERE attrelid = to_regclass('strapi_api_tokens') \
                          AND attname = 'kind' AND NOT attisdropped",
    // EXTRACT(EPOCH) of a timestamp without time zone reads it as UTC.
    tokens: "SELECT CAST(id AS BIGINT) AS id, name, type, access_key, \
               CAST(floor(EXTRACT(EPOCH FROM expires_at) * 1000) AS BIGINT) AS expires_ms \
             FROM strapi_api_tokens",
    token_permissions: TOKEN_PERMISSIONS,
    store_value: "SELECT CAST(value AS TEXT) AS value FROM strapi_core_store_settings \
                  WHERE key = $1 ORDER BY id DESC LIMIT 1",
    fingerprint: concat!(
        "SELECT 'up_roles' AS part, COUNT(*) AS n, CAST(MAX(id) AS BIGINT) AS max_id, ",
        "CAST(floor(EXTRACT(EPOCH FROM MAX(updated_at)) * 1000) AS BIGINT) AS max_ms, CAST(NULL AS TEXT) AS extra FROM up_roles",
        " UNION ALL SELECT 'up_permissions', COUNT(*), CAST(MAX(id) AS BIGINT), CAST(floor(EXTRACT(EPOCH FROM MAX(updated_at)) * 1000) AS BIGINT), NULL FROM up_permissions",
        " UNION ALL SELECT 'up_permissions_role_lnk', COUNT(*), CAST(MAX(id) AS BIGINT), NULL, NULL FROM up_permissions_role_lnk",
        " UNION ALL SELECT 'up_users', COUNT(*), CAST(MAX(id) AS BIGINT), CAST(floor(EXTRACT(EPOCH FROM MAX(updated_at)) * 1000) AS BIGINT), NULL FROM up_users",
        " UNION ALL SELECT 'up_users_role_lnk', COUNT(*), CAST(MAX(id) AS BIGINT), NULL, NULL FROM up_users_role_lnk",
        " UNION ALL SELECT 'strapi_api_tokens', COUNT(*), CAST(MAX(id) AS BIGINT), CAST(floor(EXTRACT(EPOCH FROM MAX(updated_at)) * 1000) AS BIGINT), NULL FROM strapi_api_tokens",
        " UNION ALL SELECT 'strapi_api_token_permissions', COUNT(*), CAST(MAX(id) AS BIGINT), CAST(floor(EXTRACT(EPOCH FROM MAX(updated_at)) * 1000) AS BIGINT), NULL FROM strapi_api_token_permissions",
        " UNION ALL SELECT 'strapi_api_token_permissions_token_lnk', COUNT(*), CAST(MAX(id) AS BIGINT), NULL, NULL FROM strapi_api_token_permissions_token_lnk",
        " UNION ALL SELECT 'advanced', COUNT(*), CAST(MAX(id) AS BIGINT), NULL, MAX(CAST(value AS TEXT)) FROM strapi_core_store_settings WHERE key = $1",
    ),
    // The watermark is epoch ms; `updated_at` holds UTC wall-clock time.
    changed_users: "SELECT CAST(id AS BIGINT) AS id FROM up_users \
                    WHERE updated_at >= (to_timestamp(CAST($1 AS double precision) / 1000) AT TIME ZONE 'UTC') \
                       OR id > $2 \
                    UNION SELECT CAST(user_id AS BIGINT) FROM up_users_role_lnk \
                    WHERE id > $3 AND user_id IS NOT NULL",
    user_list: "SELECT CAST(u.id AS BIGINT) AS id, u.username, u.email, \
             COALESCE(u.confirmed, false) AS confirmed, COALESCE(u.blocked, false) AS blocked, \
             (SELECT CAST(l.role_id AS BIGINT) FROM up_users_role_lnk l \
              WHERE l.user_id = u.id ORDER BY l.id LIMIT 1) AS role_id \
           FROM up_users u WHERE u.id IN (",
};

const ROLES: &str = "SELECT CAST(id AS BIGINT) AS id, name, type FROM up_roles ORDER BY id";

const ROLE_PERMISSIONS: &str = "SELECT CAST(l.role_id AS BIGINT) AS role_id, p.action \
     FROM up_permissions p JOIN up_permissions_role_lnk l ON l.permission_id = p.id \
     WHERE p.action IS NOT NULL ORDER BY l.role_id, l.permission_ord, p.id";

const TOKEN_PERMISSIONS: &str = "SELECT CAST(l.api_token_id AS BIGINT) AS token_id, p.action \
     FROM strapi_api_token_permissions p \
     JOIN strapi_api_token_permissions_token_lnk l ON l.api_token_permission_id = p.id \
     WHERE p.action IS NOT NULL ORDER BY l.api_token_id, l.api_token_permission_ord, p.id";

impl Sql {
    /// The `user` query for `n` ids (`n` ≥ 1): `… WHERE u.id IN (?, ?, …)`.
    pub(super) fn users_in(&self, n: usize) -> String {
        let mut q = String::with_capacity(self.user_list.len() + n * 5);
        q.push_str(self.user_list);
        for i in 0..n {
            if i > 0 {
                q.push_str(", ");
            }
            if self.param == "?" {
                q.push('?');
            } else {
                q.push_str(&format!("${}", i + 1));
            }
        }
        q.push(')');
        q
    }
}

/// `SELECT 1` from `table` (already checked to be `[a-z0-9_]+`) where `column` (`id` or
/// `document_id`) is the first parameter, published rows only unless `include_drafts`.
pub(super) fn entity_exists(sql: &Sql, table: &str, column: &str, published_only: bool) -> String {
    let published = if published_only {
        " AND published_at IS NOT NULL"
    } else {
        ""
    };
    format!(
        "SELECT 1 FROM \"{table}\" WHERE {column} = {}{published} LIMIT 1",
        sql.param
    )
}
