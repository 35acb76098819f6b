//! The gateway's configuration: the file (TOML or JSON, camelCase keys as the plugin's
//! config), environment overrides (SPEC §7), validation with paths ([`Config::validate`],
//! [`Problem`]), the typed view the gateway is built from ([`GatewayConfig`]), secrets that
//! never print ([`Secret`]), and the embedded demo.

mod gateway;
mod problem;
mod secret;

pub(crate) use gateway::{Directory, GatewayConfig};
pub(crate) use problem::{ConfigError, Problem};
pub(crate) use secret::{MASK, Secret};

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strapi_io::core::Settings;
use strapi_io::core::events::ContentTypeEntry;
use strapi_io::core::schema::{Component, ContentType, Schemas};
use strapi_io::directory::{RoleDecl, TokenDecl, UserDecl};
use strapi_io::load_schemas;

/// The whole config file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Config {
    /// Where the gateway listens and its own secrets.
    pub(crate) server: ServerConfig,
    /// Where identities come from.
    pub(crate) directory: DirectoryConfig,
    /// The Strapi project and API.
    pub(crate) strapi: StrapiConfig,
    /// Enabled content types (absent: every `api::` type).
    pub(crate) content_types: Option<Vec<ContentTypeEntry>>,
    /// Extra sensitive field names.
    pub(crate) sensitive_fields: Vec<String>,
    /// Socket.IO server options.
    pub(crate) socket: SocketConfig,
    /// Custom client events forwarded to a backend (the plugin's `events`).
    pub(crate) events: Vec<ForwardedEvent>,
    /// The plugin settings (seed).
    pub(crate) settings: Settings,
}

/// The longest webhook window accepted, in milliseconds.
const MAX_WEBHOOK_COALESCE_MS: u64 = 10_000;

/// `server`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ServerConfig {
    /// Listen address.
    pub(crate) host: String,
    /// Listen port.
    pub(crate) port: u16,
    /// Bearer token for `/api/io/*`.
    pub(crate) admin_token: Option<Secret>,
    /// Bearer token Strapi's webhooks carry.
    pub(crate) webhook_token: Option<Secret>,
    /// The longest a webhook request may wait for the rest of its action (Strapi sends
    /// several per action, in no set order); 0 emits each at once.
    pub(crate) webhook_coalesce_ms: u64,
    /// The shortest such wait, where one is needed (see `strapi_io::core::settle`); the
    /// window grows from here with the gaps the gateway observes (never above
    /// `webhook_coalesce_ms`).
    pub(crate) webhook_settle_ms: u64,
    /// Where the gateway keeps its own data.
    pub(crate) data_dir: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 1337,
            admin_token: None,
            webhook_token: None,
            webhook_coalesce_ms: 300,
            webhook_settle_ms: 15,
            data_dir: None,
        }
    }
}

/// Which directory serves identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DirectoryKind {
    /// Declared in this file.
    #[default]
    Static,
    /// Read from a Strapi database (not built yet).
    Strapi,
}

/// `directory`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct DirectoryConfig {
    /// `static` or `strapi`.
    pub(crate) kind: DirectoryKind,
    /// users-permissions JWT secret.
    pub(crate) jwt_secret: Option<Secret>,
    /// Strapi's `API_TOKEN_SALT`.
    pub(crate) api_token_salt: Option<Secret>,
    /// Strapi's database URL (`strapi` directory; it may hold a password).
    pub(crate) database_url: Option<Secret>,
    /// Roles (`static`).
    pub(crate) roles: Vec<RoleDecl>,
    /// Users (`static`).
    pub(crate) users: Vec<UserDecl>,
    /// API tokens (`static`).
    pub(crate) api_tokens: Vec<TokenDecl>,
    /// Existing entries for `subscribe-entity` verification (`static`).
    pub(crate) entities: std::collections::BTreeMap<String, Vec<Value>>,
    /// users-permissions email confirmation (`static`).
    pub(crate) email_confirmation: bool,
    /// How long the `strapi` directory trusts what it read, in seconds (default 300).
    pub(crate) cache_ttl_seconds: Option<u64>,
    /// How often the `strapi` directory checks its tables for changes, in seconds (default
    /// 2; fractions allowed, at least 0.1; 0 turns the watch off).
    pub(crate) refresh_seconds: Option<f64>,
}

/// The longest `directory.refreshSeconds` (an hour).
const MAX_REFRESH_SECONDS: f64 = 3600.0;

/// `strapi`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct StrapiConfig {
    /// The Strapi project whose `src/` holds the schemas (relative to the config file).
    pub(crate) project_dir: Option<PathBuf>,
    /// Strapi's base URL (`http://`), for populate.
    pub(crate) url: Option<String>,
    /// Strapi API token, for populate.
    pub(crate) token: Option<Secret>,
    /// How long one populate refetch may take, the wait for a free slot included (ms).
    pub(crate) populate_timeout_ms: u64,
    /// Populate refetches in flight at once.
    pub(crate) populate_concurrency: usize,
}

impl Default for StrapiConfig {
    fn default() -> Self {
        StrapiConfig {
            project_dir: None,
            url: None,
            token: None,
            populate_timeout_ms: crate::populate::DEFAULT_TIMEOUT_MS,
            populate_concurrency: crate::populate::DEFAULT_CONCURRENCY,
        }
    }
}

/// `socket`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SocketConfig {
    /// Socket.IO server options.
    pub(crate) server_options: ServerOptions,
}

/// One custom client event, forwarded as `POST url {event, socket: {id, user, role}, args}`;
/// the JSON reply becomes the ack.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ForwardedEvent {
    /// The client event name.
    pub(crate) name: String,
    /// The backend URL (http).
    pub(crate) url: String,
    /// How long to wait for the backend.
    #[serde(default = "default_forward_timeout")]
    pub(crate) timeout_ms: u64,
}

fn default_forward_timeout() -> u64 {
    5_000
}

/// `socket.serverOptions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ServerOptions {
    /// The Socket.IO path.
    pub(crate) path: String,
    /// Largest message accepted, and largest payload sent by `raw`.
    pub(crate) max_http_buffer_size: u64,
    /// Accepted transports: `polling`, `websocket`.
    pub(crate) transports: Vec<strapi_io::Transport>,
    /// Packets queued per socket before it counts as a slow consumer.
    pub(crate) max_buffer_size: usize,
    /// A socket.io-client `dist` directory whose bundles are served under the Socket.IO path
    /// (`/socket.io/socket.io.js`, …), as Node's `serveClient`; off when absent. Relative to
    /// the config file.
    pub(crate) serve_client: Option<PathBuf>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            path: "/socket.io".into(),
            max_http_buffer_size: 1_000_000,
            transports: vec![
                strapi_io::Transport::Polling,
                strapi_io::Transport::Websocket,
            ],
            max_buffer_size: 1024,
            serve_client: None,
        }
    }
}

/// The demo project compiled into the binary.
pub(crate) const EMBEDDED_CONFIG: &str = include_str!("../../../../examples/blog/strapi-io.toml");
const EMBEDDED_CONTENT_TYPES: [(&str, &str); 3] = [
    (
        "api::article.article",
        include_str!("../../../../examples/blog/src/api/article/content-types/article/schema.json"),
    ),
    (
        "api::author.author",
        include_str!("../../../../examples/blog/src/api/author/content-types/author/schema.json"),
    ),
    (
        "api::comment.comment",
        include_str!("../../../../examples/blog/src/api/comment/content-types/comment/schema.json"),
    ),
];
const EMBEDDED_COMPONENTS: [(&str, &str); 1] = [(
    "shared.seo",
    include_str!("../../../../examples/blog/src/components/shared/seo.json"),
)];

/// A loaded config with its schemas and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    /// The effective config (file + environment), as `check` prints it.
    pub(crate) config: Config,
    /// The same, validated into typed values: what the gateway is built from.
    pub(crate) gateway: GatewayConfig,
    /// Settings the environment sets (`STRAPI_IO_CORS_ORIGINS`, `STRAPI_IO_ONLY_PUBLISHED`):
    /// applied to the config's seed here, and to stored settings at start.
    pub(crate) settings_env: SettingsEnv,
    /// The project's schemas.
    pub(crate) schemas: Schemas,
    /// Whether this is the embedded demo.
    pub(crate) embedded: bool,
}

/// The HTTP methods `socket.serverOptions.cors.methods` may name (what Socket.IO serves).
const CORS_METHODS: [&str; 3] = ["GET", "POST", "OPTIONS"];

/// The Node plugin keeps CORS in `socket.serverOptions.cors` (Socket.IO's own option:
/// `{origin, methods, credentials}`); strapi-io keeps it in `settings.cors {origins,
/// credentials}`. A carried-over config is moved there: `origin` a string, a list of strings,
/// `true` (any origin: `*`) or `false` (none); `methods` only Socket.IO's own (checked, then
/// dropped); any other key, a value of another shape, or CORS given in both places, is refused.
fn carry_over_cors(value: &mut Value) -> Result<(), ConfigError> {
    const PATH: &str = "socket.serverOptions.cors";
    let Some(cors) = value
        .get_mut("socket")
        .and_then(|s| s.get_mut("serverOptions"))
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove("cors"))
    else {
        return Ok(());
    };
    let Value::Object(cors) = cors else {
        return Err(ConfigError::one(Problem::new(
            PATH,
            "expected an object {origin, methods?, credentials?}",
        )));
    };
    let mut problems = Vec::new();
    let mut origins = None;
    let mut credentials = None;
    for (key, v) in &cors {
        match (key.as_str(), v) {
            ("origin", Value::String(o)) => origins = Some(vec![o.clone()]),
            ("origin", Value::Bool(true)) => origins = Some(vec!["*".to_string()]),
            ("origin", Value::Bool(false)) => origins = Some(Vec::new()),
            ("origin", Value::Array(list)) => {
                let strings: Option<Vec<String>> = list
                    .iter()
                    .map(|o| o.as_str().map(str::to_string))
                    .collect();
                match strings {
                    Some(list) => origins = Some(list),
                    None => {
                        problems.push(Problem::new(format!("{PATH}.origin"), "expected strings"))
                    }
                }
            }
            ("origin", _) => problems.push(Problem::new(
                format!("{PATH}.origin"),
                "expected a string, a list of strings, true or false",
            )),
            ("credentials", Value::Bool(b)) => credentials = Some(*b),
            ("credentials", _) => problems.push(Problem::new(
                format!("{PATH}.credentials"),
                "expected a boolean",
            )),
            ("methods", methods) => {
                let ok = match methods {
                    Value::String(m) => m.split(',').all(|m| CORS_METHODS.contains(&m.trim())),
                    Value::Array(list) => list
                        .iter()
                        .all(|m| m.as_str().is_some_and(|m| CORS_METHODS.contains(&m))),
                    _ => false,
                };
                if !ok {
                    problems.push(Problem::new(
                        format!("{PATH}.methods"),
                        format!("Socket.IO is served with {} only", CORS_METHODS.join(", ")),
                    ));
                }
            }
            (other, _) => problems.push(Problem::new(
                format!("{PATH}.{other}"),
                "not supported (origin, methods and credentials are)",
            )),
        }
    }
    if value.get("settings").and_then(|s| s.get("cors")).is_some() {
        problems.push(Problem::new(
            PATH,
            format!(
                "CORS is given twice; keep it in {PATH} (as in the Node plugin) or in settings.cors"
            ),
        ));
    }
    ConfigError::check(problems)?;
    if origins.is_some() || credentials.is_some() {
        let mut moved = serde_json::Map::new();
        if let Some(origins) = origins {
            moved.insert("origins".into(), json!(origins));
        }
        if let Some(credentials) = credentials {
            moved.insert("credentials".into(), json!(credentials));
        }
        if let Some(root) = value.as_object_mut() {
            let settings = root.entry("settings").or_insert_with(|| json!({}));
            if let Some(settings) = settings.as_object_mut() {
                settings.insert("cors".into(), Value::Object(moved));
            }
        }
    }
    Ok(())
}

/// Turns serde's type names into words a user reads.
fn plain_message(msg: &str) -> String {
    let mut m = msg.to_string();
    for (from, to) in [
        ("expected u64", "expected a number"),
        ("expected u32", "expected a number"),
        ("expected u16", "expected a number"),
        ("expected u8", "expected a number"),
        ("expected a string", "expected a string"),
        ("expected a boolean", "expected a boolean"),
    ] {
        m = m.replace(from, to);
    }
    m
}

/// Parses a config document (already turned into JSON), reporting problems with paths.
pub(crate) fn parse_config(mut value: Value) -> Result<Config, ConfigError> {
    carry_over_cors(&mut value)?;
    let config: Config = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ConfigError::one(Problem::new(
            path,
            plain_message(&e.into_inner().to_string()),
        ))
    })?;
    ConfigError::check(
        config
            .settings
            .problems("settings")
            .into_iter()
            .map(Problem::from)
            .collect(),
    )?;
    Ok(config)
}

/// Reads a TOML or JSON config text into JSON (by extension; `.json` is JSON, else TOML).
pub(crate) fn parse_text(text: &str, json: bool, origin: &str) -> Result<Value, ConfigError> {
    if json {
        serde_json::from_str(text)
            .map_err(|e| ConfigError::one(Problem::new(origin, e.to_string())))
    } else {
        let v: toml::Value = toml::from_str(text)
            .map_err(|e| ConfigError::one(Problem::new(origin, e.to_string())))?;
        // JSON has no NaN or infinity: converted, they would read as an absent key.
        if let Some(path) = non_finite(&v, "") {
            return Err(ConfigError::one(Problem::new(
                path,
                "not a finite number (nan and inf are not accepted)",
            )));
        }
        serde_json::to_value(v).map_err(|e| ConfigError::one(Problem::new(origin, e.to_string())))
    }
}

/// The path of the first NaN or infinite float in `v`, if any.
fn non_finite(v: &toml::Value, path: &str) -> Option<String> {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match v {
        toml::Value::Float(f) if !f.is_finite() => Some(path.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| non_finite(item, &format!("{path}[{i}]"))),
        toml::Value::Table(table) => table.iter().find_map(|(k, item)| non_finite(item, &at(k))),
        _ => None,
    }
}

/// Settings given by environment variables, which win over the config file and over stored
/// settings at start (a later `PUT /api/io/settings` still changes them live).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SettingsEnv {
    /// `STRAPI_IO_CORS_ORIGINS`: `cors.origins`, comma-separated.
    pub(crate) cors_origins: Option<Vec<String>>,
    /// `STRAPI_IO_ONLY_PUBLISHED`: `events.onlyPublished` (`true`/`false`/`1`/`0`).
    pub(crate) only_published: Option<bool>,
}

impl SettingsEnv {
    /// Reads the variables; a malformed one is an error naming it.
    pub(crate) fn read(env: Env<'_>) -> Result<Self, ConfigError> {
        let cors_origins = env("STRAPI_IO_CORS_ORIGINS").map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(String::from)
                .collect()
        });
        let only_published = match env("STRAPI_IO_ONLY_PUBLISHED").as_deref() {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(v) => {
                return Err(ConfigError::one(Problem::new(
                    "STRAPI_IO_ONLY_PUBLISHED",
                    format!("`{v}` is not true, false, 1 or 0"),
                )));
            }
        };
        Ok(SettingsEnv {
            cors_origins,
            only_published,
        })
    }

    /// Sets what the environment gives on `settings`.
    pub(crate) fn apply(&self, settings: &mut strapi_io::core::Settings) {
        if let Some(origins) = &self.cors_origins {
            settings.cors.origins = origins.clone();
        }
        if let Some(only) = self.only_published {
            settings.events.only_published = only;
        }
    }
}

/// An environment lookup, so tests can pass their own.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Applies the `STRAPI_IO_*` overrides.
pub(crate) fn apply_env(config: &mut Config, env: Env<'_>) -> Result<(), ConfigError> {
    if let Some(v) = env("STRAPI_IO_HOST") {
        config.server.host = v;
    }
    if let Some(v) = env("STRAPI_IO_PORT") {
        config.server.port = v.parse().map_err(|_| {
            ConfigError::one(Problem::new(
                "STRAPI_IO_PORT",
                format!("`{v}` is not a port number"),
            ))
        })?;
    }
    fn set<T: From<String>>(slot: &mut Option<T>, env: Env<'_>, name: &str) {
        if let Some(v) = env(name) {
            *slot = Some(v.into());
        }
    }
    set(&mut config.server.admin_token, env, "STRAPI_IO_ADMIN_TOKEN");
    set(
        &mut config.server.webhook_token,
        env,
        "STRAPI_IO_WEBHOOK_TOKEN",
    );
    set(
        &mut config.directory.jwt_secret,
        env,
        "STRAPI_IO_JWT_SECRET",
    );
    set(
        &mut config.directory.api_token_salt,
        env,
        "STRAPI_IO_API_TOKEN_SALT",
    );
    set(
        &mut config.directory.database_url,
        env,
        "STRAPI_IO_DATABASE_URL",
    );
    set(&mut config.strapi.url, env, "STRAPI_IO_STRAPI_URL");
    set(&mut config.strapi.token, env, "STRAPI_IO_STRAPI_TOKEN");
    if let Some(v) = env("STRAPI_IO_DATA_DIR") {
        config.server.data_dir = Some(PathBuf::from(v));
    }
    if let Some(v) = env("STRAPI_IO_STRAPI_PROJECT_DIR") {
        config.strapi.project_dir = Some(PathBuf::from(v));
    }
    if let Some(v) = env("STRAPI_IO_REDIS_URL") {
        config.settings.redis.url = v;
        config.settings.redis.enabled = true;
    }
    if let Some(v) = env("STRAPI_IO_DIRECTORY") {
        config.directory.kind = match v.as_str() {
            "static" => DirectoryKind::Static,
            "strapi" => DirectoryKind::Strapi,
            _ => {
                return Err(ConfigError::one(Problem::new(
                    "STRAPI_IO_DIRECTORY",
                    format!("`{v}` is not `static` or `strapi`"),
                )));
            }
        };
    }
    Ok(())
}

fn embedded_schemas() -> Result<Schemas, ConfigError> {
    let mut schemas = Schemas::new();
    let bad = |e: strapi_io::core::schema::SchemaError| {
        ConfigError::one(Problem::from_line(e.to_string()))
    };
    for (uid, text) in EMBEDDED_CONTENT_TYPES {
        let ct = ContentType::parse(uid, uid, text).map_err(bad)?;
        schemas.add_content_type(uid, ct).map_err(bad)?;
    }
    for (uid, text) in EMBEDDED_COMPONENTS {
        let c = Component::parse(uid, uid, text).map_err(bad)?;
        schemas.add_component(uid, c).map_err(bad)?;
    }
    schemas.validate().map_err(bad)?;
    Ok(schemas)
}

/// Loads the config file (or the embedded demo when `path` is `None`), applies the
/// environment, and loads the schemas.
pub(crate) fn load(path: Option<&Path>, env: Env<'_>) -> Result<Loaded, ConfigError> {
    let (value, base) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                ConfigError::one(Problem::new(p.display().to_string(), e.to_string()))
            })?;
            let json = p.extension().and_then(|e| e.to_str()) == Some("json");
            let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
            (
                parse_text(&text, json, &p.display().to_string())?,
                Some(base),
            )
        }
        // Next to a real Strapi (STRAPI_IO_DIRECTORY=strapi) without a file: the defaults, not
        // the demo and its public secrets.
        None if env("STRAPI_IO_DIRECTORY").as_deref() == Some("strapi") => {
            (serde_json::json!({}), None)
        }
        None => (
            parse_text(EMBEDDED_CONFIG, false, "embedded demo config")?,
            None,
        ),
    };
    let embedded = path.is_none() && env("STRAPI_IO_DIRECTORY").as_deref() != Some("strapi");
    let mut config = parse_config(value)?;
    if embedded {
        // The demo's schemas are compiled in; its `projectDir` only means something on disk.
        config.strapi.project_dir = None;
    }
    apply_env(&mut config, env)?;
    let settings_env = SettingsEnv::read(env)?;
    settings_env.apply(&mut config.settings);
    ConfigError::check(config.validate())?;
    if let (Some(b), Some(d)) = (&base, &config.server.data_dir)
        && d.is_relative()
        && env("STRAPI_IO_DATA_DIR").is_none()
    {
        config.server.data_dir = Some(b.join(d));
    }
    if let (Some(b), Some(d)) = (&base, &config.socket.server_options.serve_client)
        && d.is_relative()
    {
        config.socket.server_options.serve_client = Some(b.join(d));
    }
    let project_dir = config.strapi.project_dir.clone();
    let schemas = match (project_dir, &base) {
        (Some(dir), _) => {
            let dir = match &base {
                Some(b) if dir.is_relative() => b.join(dir),
                _ => dir,
            };
            load_schemas(&dir.join("src"))
                .map_err(|e| ConfigError::one(Problem::from_line(e.to_string())))?
        }
        (None, None) if embedded => embedded_schemas()?,
        (None, _) => {
            return Err(ConfigError::one(Problem::new(
                "strapi.projectDir",
                "missing (the Strapi project whose src/ holds the schemas)",
            )));
        }
    };
    let gateway = config.gateway()?;
    crate::populate::check(
        &gateway.strapi.populate_options(),
        config.content_types.as_deref(),
        &schemas,
    )
    .map_err(|problems| ConfigError {
        problems: problems.into_iter().map(Problem::from).collect(),
    })?;
    Ok(Loaded {
        config,
        gateway,
        settings_env,
        schemas,
        embedded,
    })
}

/// The config as `check` prints it: secrets replaced by `***`. The config's own secrets are
/// [`Secret`]s (or serialized as one), masked by their type; what other crates' types hold is
/// masked here: a static API token's stored hash, a Redis URL with credentials.
pub(crate) fn masked(config: &Config) -> Value {
    let mut c = config.clone();
    for t in &mut c.directory.api_tokens {
        if t.access_key.is_some() {
            t.access_key = Some(MASK.into());
        }
    }
    if c.settings.redis.url.contains('@') {
        c.settings.redis.url = MASK.into();
    }
    serde_json::to_value(c).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn embedded_demo_loads() {
        let l = load(None, &no_env).unwrap();
        assert!(l.embedded);
        assert_eq!(l.config.server.port, 1337);
        assert_eq!(l.config.directory.roles.len(), 3);
        assert!(l.schemas.content_type("api::article.article").is_some());
        assert!(l.schemas.component("shared.seo").is_some());
    }

    #[test]
    fn wrong_type_is_reported_with_its_path() {
        let err = parse_config(json!({"settings": {"connection": {"pingTimeout": "soon"}}}))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("settings.connection.pingTimeout: ")
                && err.contains("expected a number"),
            "{err}"
        );
        let err = parse_config(json!({"server": {"prot": 1}}))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("server.prot: unknown field `prot`"),
            "{err}"
        );
        let err = parse_config(json!({"settings": {"security": {"ipBlacklist": ["x"]}}}))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("settings.security.ipBlacklist[0]: "),
            "{err}"
        );
    }

    #[test]
    fn env_overrides() {
        let mut c = Config::default();
        let env = |k: &str| match k {
            "STRAPI_IO_PORT" => Some("4000".to_string()),
            "STRAPI_IO_JWT_SECRET" => Some("s".to_string()),
            "STRAPI_IO_REDIS_URL" => Some("redis://127.0.0.1:7000".to_string()),
            _ => None,
        };
        apply_env(&mut c, &env).unwrap();
        assert_eq!(c.server.port, 4000);
        assert_eq!(
            c.directory.jwt_secret.as_ref().map(Secret::expose),
            Some("s")
        );
        assert!(c.settings.redis.enabled);
        let bad = |k: &str| (k == "STRAPI_IO_PORT").then(|| "x".to_string());
        assert!(apply_env(&mut c, &bad).is_err());
    }

    #[test]
    fn settings_from_the_environment() {
        let env = |k: &str| match k {
            "STRAPI_IO_CORS_ORIGINS" => Some(" https://a.example, https://b.example ,".to_string()),
            "STRAPI_IO_ONLY_PUBLISHED" => Some("1".to_string()),
            _ => None,
        };
        let loaded = load(None, &env).unwrap();
        assert_eq!(
            loaded.config.settings.cors.origins,
            ["https://a.example", "https://b.example"]
        );
        assert!(loaded.config.settings.events.only_published);
        // the same on stored settings
        let mut stored = strapi_io::core::Settings::default();
        loaded.settings_env.apply(&mut stored);
        assert_eq!(stored.cors.origins, loaded.config.settings.cors.origins);
        assert!(stored.events.only_published);
        let none = |_: &str| None;
        assert_eq!(SettingsEnv::read(&none).unwrap(), SettingsEnv::default());
        // the webhook window's floor is bounded like its ceiling
        let dir = std::env::temp_dir().join(format!("strapi-io-settle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[server]\nwebhookSettleMs = 10001\n").unwrap();
        let err = load(Some(&file), &none).map(drop).unwrap_err().to_string();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            err.contains("server.webhookSettleMs: 10001 is above"),
            "{err}"
        );
        let bad = |k: &str| (k == "STRAPI_IO_ONLY_PUBLISHED").then(|| "yes".to_string());
        let err = load(None, &bad).map(drop).unwrap_err().to_string();
        assert!(err.contains("STRAPI_IO_ONLY_PUBLISHED: `yes`"), "{err}");
    }

    #[test]
    fn the_strapi_directory_needs_its_database_secrets_and_project() {
        let env = |k: &str| (k == "STRAPI_IO_DIRECTORY").then(|| "strapi".to_string());
        let err = load(None, &env).unwrap_err();
        assert_eq!(err.problems.len(), 4, "{err}");
        let text = err.to_string();
        for key in [
            "STRAPI_IO_DATABASE_URL",
            "STRAPI_IO_JWT_SECRET",
            "STRAPI_IO_API_TOKEN_SALT",
            "STRAPI_IO_STRAPI_PROJECT_DIR",
        ] {
            assert!(text.contains(key), "{text}");
        }
        assert!(
            !text.contains("demo"),
            "no demo config behind a real Strapi"
        );
    }

    #[test]
    fn a_webhook_window_above_ten_seconds_is_refused() {
        let dir = std::env::temp_dir().join(format!("strapi-io-window-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("strapi-io.toml");
        std::fs::write(&file, "[server]\nwebhookCoalesceMs = 60000\n").unwrap();
        let err = load(Some(&file), &no_env).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.starts_with("server.webhookCoalesceMs: 60000"), "{err}");
    }

    #[test]
    fn the_directory_watch_interval_is_checked() {
        let with = |v: f64| DirectoryConfig {
            refresh_seconds: Some(v),
            ..DirectoryConfig::default()
        };
        assert_eq!(DirectoryConfig::default().refresh(), Ok(None), "default");
        assert_eq!(with(0.0).refresh(), Ok(Some(Duration::ZERO)), "off");
        assert_eq!(with(0.5).refresh(), Ok(Some(Duration::from_millis(500))));
        assert_eq!(with(3600.0).refresh(), Ok(Some(Duration::from_secs(3600))));
        // A value out of range stops the start, naming the key.
        let dir = std::env::temp_dir().join(format!("strapi-io-refresh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("strapi-io.toml");
        for value in ["0.05", "-1", "3601", "nan", "inf"] {
            std::fs::write(&file, format!("[directory]\nrefreshSeconds = {value}\n")).unwrap();
            let err = load(Some(&file), &no_env)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("directory.refreshSeconds: "),
                "{value}: {err}"
            );
            if value == "nan" || value == "inf" {
                assert!(err.contains("not a finite number"), "{err}");
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_node_plugins_cors_is_carried_over() {
        let parse = |v: Value| parse_config(v).map(|c| c.settings.cors);
        let cors = parse(json!({"socket": {"serverOptions": {
            "cors": {"origin": "https://app.example", "methods": ["GET", "POST"], "credentials": true}
        }}}))
        .unwrap();
        assert_eq!(cors.origins, ["https://app.example"]);
        assert!(cors.credentials);
        let list = parse(json!({"socket": {"serverOptions": {"cors": {"origin": ["https://a.example", "https://b.example"]}}}}))
            .unwrap();
        assert_eq!(list.origins, ["https://a.example", "https://b.example"]);
        assert_eq!(
            parse(json!({"socket": {"serverOptions": {"cors": {"origin": true}}}}))
                .unwrap()
                .origins,
            ["*"]
        );
        assert!(
            parse(json!({"socket": {"serverOptions": {"cors": {"origin": false}}}}))
                .unwrap()
                .origins
                .is_empty()
        );
        let problems = |v: Value| parse_config(v).map(drop).unwrap_err().problems;
        assert_eq!(
            problems(
                json!({"socket": {"serverOptions": {"cors": {"origin": 5, "maxAge": 10, "methods": ["PUT"], "credentials": "yes"}}}})
            ),
            [
                "socket.serverOptions.cors.credentials: expected a boolean",
                "socket.serverOptions.cors.maxAge: not supported (origin, methods and credentials are)",
                "socket.serverOptions.cors.methods: Socket.IO is served with GET, POST, OPTIONS only",
                "socket.serverOptions.cors.origin: expected a string, a list of strings, true or false",
            ]
        );
        assert_eq!(
            problems(json!({"socket": {"serverOptions": {"cors": "*"}}})),
            ["socket.serverOptions.cors: expected an object {origin, methods?, credentials?}"]
        );
        assert!(
            problems(json!({
                "socket": {"serverOptions": {"cors": {"origin": "https://a.example"}}},
                "settings": {"cors": {"origins": ["https://b.example"]}}
            }))[0]
                .message
                .contains("CORS is given twice")
        );
    }

    #[test]
    fn secrets_are_masked() {
        let l = load(None, &no_env).unwrap();
        let m = masked(&l.config).to_string();
        assert!(!m.contains("demo-jwt-secret"));
        assert!(!m.contains("demo-admin-token"));
        assert!(!m.contains("e7b20f152e5ba3f2"));
        assert!(m.contains("***"));
    }

    #[test]
    fn every_secret_is_masked() {
        let config = parse_config(json!({
            "server": {"adminToken": "secret-admin-1", "webhookToken": "secret-webhook-2"},
            "directory": {
                "kind": "strapi",
                "jwtSecret": "secret-jwt-3",
                "apiTokenSalt": "secret-salt-4",
                "databaseUrl": "postgres://u:secret-db-5@h/db",
                "apiTokens": [{"name": "t", "type": "read-only", "accessKey": "secret-hash-6"}],
            },
            "strapi": {"token": "secret-populate-7", "url": "http://strapi.internal"},
            "settings": {"redis": {"url": "redis://:secret-redis-8@h:6379"}},
        }))
        .unwrap();
        let m = masked(&config);
        let text = m.to_string();
        for n in 1..=8 {
            assert!(!text.contains(&format!("-{n}")), "secret {n} shows: {m}");
        }
        assert!(!text.contains("secret"), "{m}");
        for (section, key) in [
            ("server", "adminToken"),
            ("server", "webhookToken"),
            ("directory", "jwtSecret"),
            ("directory", "apiTokenSalt"),
            ("directory", "databaseUrl"),
            ("strapi", "token"),
        ] {
            assert_eq!(m[section][key], MASK, "{section}.{key}");
        }
        assert_eq!(m["directory"]["apiTokens"][0]["accessKey"], MASK);
        assert_eq!(m["settings"]["redis"]["url"], MASK);
        // What is not a secret still shows; an unset secret stays null.
        assert_eq!(m["strapi"]["url"], "http://strapi.internal");
        let unset = masked(&Config::default());
        assert_eq!(unset["server"]["adminToken"], Value::Null);
        assert_eq!(unset["directory"]["jwtSecret"], Value::Null);
        // Debug never shows the config's own secrets either.
        let debug = format!("{:?}", config.directory);
        for n in [3, 4, 5] {
            assert!(!debug.contains(&format!("-{n}")), "{debug}");
        }
    }

    #[test]
    fn a_postgres_password_is_masked() {
        let blog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/blog");
        let env = |key: &str| match key {
            "STRAPI_IO_DIRECTORY" => Some("strapi".to_string()),
            "STRAPI_IO_DATABASE_URL" => {
                Some("postgres://strapi:Pg-check-pw-3x@db.internal:5432/strapi".to_string())
            }
            "STRAPI_IO_STRAPI_PROJECT_DIR" => Some(blog.display().to_string()),
            "STRAPI_IO_JWT_SECRET" | "STRAPI_IO_API_TOKEN_SALT" => Some("s".to_string()),
            _ => None,
        };
        let l = load(None, &env).unwrap();
        let m = masked(&l.config);
        assert_eq!(m["directory"]["databaseUrl"], "***", "{m}");
        assert!(!m.to_string().contains("Pg-check-pw-3x"), "{m}");
    }
}
