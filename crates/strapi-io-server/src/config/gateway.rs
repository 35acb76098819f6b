//! The validated, typed view of a [`Config`] the gateway is built from ([`GatewayConfig`]),
//! and [`Config::validate`]: the one place the values types alone cannot rule are checked.

use std::path::PathBuf;
use std::time::Duration;

use strapi_io::core::Settings;
use strapi_io::core::events::ContentTypeEntry;
use strapi_io::{StaticDirectoryConfig, StrapiDirectoryOptions};

use super::{
    Config, ConfigError, DirectoryConfig, DirectoryKind, ForwardedEvent, MAX_REFRESH_SECONDS,
    MAX_WEBHOOK_COALESCE_MS, Problem, Secret, ServerOptions,
};

/// Where the gateway keeps its database when `server.dataDir` is not set.
const DEFAULT_DATA_DIR: &str = ".strapi-io";

/// A config checked by [`Config::validate`], in the types the gateway uses.
#[derive(Debug, Clone)]
pub(crate) struct GatewayConfig {
    /// Listen address.
    pub(crate) host: String,
    /// Listen port.
    pub(crate) port: u16,
    /// Bearer token for `/api/io/*` (absent or empty: the admin routes are off).
    pub(crate) admin_token: Option<Secret>,
    /// Bearer token Strapi's webhooks carry (absent or empty: the webhook route is off).
    pub(crate) webhook_token: Option<Secret>,
    /// The shortest webhook window, where one is needed (`server.webhookSettleMs`).
    pub(crate) webhook_settle: Duration,
    /// The longest webhook window (`server.webhookCoalesceMs`; zero emits at once).
    pub(crate) webhook_coalesce: Duration,
    /// Where the gateway keeps its own data (`server.dataDir`, else [`DEFAULT_DATA_DIR`]).
    pub(crate) data_dir: PathBuf,
    /// Where identities come from, with what that directory needs.
    pub(crate) directory: Directory,
    /// Strapi's REST API, for populate.
    pub(crate) strapi: StrapiApi,
    /// Enabled content types (absent: every `api::` type).
    pub(crate) content_types: Option<Vec<ContentTypeEntry>>,
    /// Extra sensitive field names.
    pub(crate) sensitive_fields: Vec<String>,
    /// Socket.IO server options.
    pub(crate) socket: ServerOptions,
    /// Custom client events forwarded to a backend.
    pub(crate) events: Vec<ForwardedEvent>,
    /// The plugin settings (seed).
    pub(crate) settings: Settings,
}

/// Where identities come from: each kind carries what it needs, so a `strapi` directory
/// without its database URL or secrets cannot be built.
#[derive(Debug, Clone)]
pub(crate) enum Directory {
    /// Declared in the config file.
    Static {
        /// Roles, users, API tokens, entities.
        declared: StaticDirectoryConfig,
        /// users-permissions JWT secret (empty when not set).
        jwt_secret: Secret,
        /// Strapi's `API_TOKEN_SALT` (empty when not set).
        api_token_salt: Secret,
    },
    /// Read from a Strapi database.
    Strapi {
        /// The database URL (it may hold a password).
        database_url: Secret,
        /// users-permissions JWT secret.
        jwt_secret: Secret,
        /// Strapi's `API_TOKEN_SALT`.
        api_token_salt: Secret,
        /// Cache lifetime and change watch.
        options: StrapiDirectoryOptions,
    },
}

/// The `strapi` section as populate uses it.
#[derive(Debug, Clone)]
pub(crate) struct StrapiApi {
    /// Strapi's base URL (`http://`).
    pub(crate) url: Option<String>,
    /// The API token populate sends.
    pub(crate) token: Option<Secret>,
    /// How long one refetch may take (ms).
    pub(crate) populate_timeout_ms: u64,
    /// Refetches in flight at once.
    pub(crate) populate_concurrency: usize,
}

impl StrapiApi {
    /// The section as [`crate::populate`] reads it.
    pub(crate) fn populate_options(&self) -> crate::populate::Options<'_> {
        crate::populate::Options {
            url: self.url.as_deref(),
            token: self.token.as_ref().map(Secret::expose),
            timeout_ms: self.populate_timeout_ms,
            concurrency: self.populate_concurrency,
        }
    }
}

/// A required `strapi` directory secret: present and not empty.
fn required(value: Option<&Secret>, key: &str, problems: &mut Vec<Problem>) -> Secret {
    match value {
        Some(s) if !s.is_empty() => s.clone(),
        _ => {
            problems.push(Problem::new(key, "required with the `strapi` directory"));
            Secret::default()
        }
    }
}

impl DirectoryConfig {
    /// `refreshSeconds` as a duration (zero: off); `Err` names the problem.
    pub(crate) fn refresh(&self) -> Result<Option<Duration>, Problem> {
        match self.refresh_seconds {
            None => Ok(None),
            Some(0.0) => Ok(Some(Duration::ZERO)),
            Some(s) if s.is_finite() && (0.1..=MAX_REFRESH_SECONDS).contains(&s) => {
                Ok(Some(Duration::from_secs_f64(s)))
            }
            Some(s) => Err(Problem::new(
                "directory.refreshSeconds",
                format!("{s} is not 0 (off) or between 0.1 and {MAX_REFRESH_SECONDS}"),
            )),
        }
    }

    /// The static directory's part.
    pub(crate) fn static_part(&self) -> StaticDirectoryConfig {
        StaticDirectoryConfig {
            roles: self.roles.clone(),
            users: self.users.clone(),
            api_tokens: self.api_tokens.clone(),
            entities: self.entities.clone(),
            email_confirmation: self.email_confirmation,
        }
    }

    /// The typed directory, every problem pushed on `problems`.
    fn typed(&self, project_dir_set: bool, problems: &mut Vec<Problem>) -> Directory {
        let refresh = self.refresh().unwrap_or_else(|p| {
            problems.push(p);
            None
        });
        match self.kind {
            DirectoryKind::Static => Directory::Static {
                declared: self.static_part(),
                jwt_secret: self.jwt_secret.clone().unwrap_or_default(),
                api_token_salt: self.api_token_salt.clone().unwrap_or_default(),
            },
            DirectoryKind::Strapi => {
                let database_url = required(
                    self.database_url.as_ref(),
                    "directory.databaseUrl (STRAPI_IO_DATABASE_URL)",
                    problems,
                );
                let jwt_secret = required(
                    self.jwt_secret.as_ref(),
                    "directory.jwtSecret (STRAPI_IO_JWT_SECRET)",
                    problems,
                );
                let api_token_salt = required(
                    self.api_token_salt.as_ref(),
                    "directory.apiTokenSalt (STRAPI_IO_API_TOKEN_SALT)",
                    problems,
                );
                if !project_dir_set {
                    problems.push(Problem::new(
                        "strapi.projectDir (STRAPI_IO_STRAPI_PROJECT_DIR)",
                        "required with the `strapi` directory",
                    ));
                }
                let defaults = StrapiDirectoryOptions::default();
                Directory::Strapi {
                    database_url,
                    jwt_secret,
                    api_token_salt,
                    options: StrapiDirectoryOptions {
                        cache_ttl: self
                            .cache_ttl_seconds
                            .map(Duration::from_secs)
                            .unwrap_or(defaults.cache_ttl),
                        refresh: refresh.unwrap_or(defaults.refresh),
                    },
                }
            }
        }
    }
}

/// `server.<key>` as a webhook window bound.
fn window(ms: u64, key: &str, problems: &mut Vec<Problem>) -> Duration {
    if ms > MAX_WEBHOOK_COALESCE_MS {
        problems.push(Problem::new(
            key,
            format!(
                "{ms} is above the {MAX_WEBHOOK_COALESCE_MS} ms the window may hold events back"
            ),
        ));
    }
    Duration::from_millis(ms)
}

impl Config {
    /// Every problem of the config that needs no schemas (the settings, the webhook window,
    /// the directory), each with its path.
    pub(crate) fn validate(&self) -> Vec<Problem> {
        self.checked().err().unwrap_or_default()
    }

    /// The typed view, or every problem [`Config::validate`] finds.
    pub(crate) fn gateway(&self) -> Result<GatewayConfig, ConfigError> {
        self.checked().map_err(|problems| ConfigError { problems })
    }

    /// Builds the typed view, collecting every problem on the way.
    fn checked(&self) -> Result<GatewayConfig, Vec<Problem>> {
        let mut problems: Vec<Problem> = self
            .settings
            .problems("settings")
            .into_iter()
            .map(Problem::from)
            .collect();
        let s = &self.server;
        let webhook_coalesce = window(
            s.webhook_coalesce_ms,
            "server.webhookCoalesceMs",
            &mut problems,
        );
        let webhook_settle = window(s.webhook_settle_ms, "server.webhookSettleMs", &mut problems);
        let directory = self
            .directory
            .typed(self.strapi.project_dir.is_some(), &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(GatewayConfig {
            host: s.host.clone(),
            port: s.port,
            admin_token: s.admin_token.clone(),
            webhook_token: s.webhook_token.clone(),
            webhook_settle,
            webhook_coalesce,
            data_dir: s
                .data_dir
                .clone()
                .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            directory,
            strapi: StrapiApi {
                url: self.strapi.url.clone(),
                token: self.strapi.token.clone(),
                populate_timeout_ms: self.strapi.populate_timeout_ms,
                populate_concurrency: self.strapi.populate_concurrency,
            },
            content_types: self.content_types.clone(),
            sensitive_fields: self.sensitive_fields.clone(),
            socket: self.socket.server_options.clone(),
            events: self.events.clone(),
            settings: self.settings.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Loaded, apply_env, load, parse_config};
    use serde_json::json;

    fn lines(config: &Config) -> Vec<String> {
        config.validate().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_path() {
        let config = parse_config(json!({
            "server": {"webhookCoalesceMs": 10_001, "webhookSettleMs": 20_000},
            "directory": {"kind": "strapi", "refreshSeconds": 0.01, "jwtSecret": ""},
        }))
        .unwrap();
        assert_eq!(
            lines(&config),
            [
                "server.webhookCoalesceMs: 10001 is above the 10000 ms the window may hold events back",
                "server.webhookSettleMs: 20000 is above the 10000 ms the window may hold events back",
                "directory.refreshSeconds: 0.01 is not 0 (off) or between 0.1 and 3600",
                "directory.databaseUrl (STRAPI_IO_DATABASE_URL): required with the `strapi` directory",
                "directory.jwtSecret (STRAPI_IO_JWT_SECRET): required with the `strapi` directory",
                "directory.apiTokenSalt (STRAPI_IO_API_TOKEN_SALT): required with the `strapi` directory",
                "strapi.projectDir (STRAPI_IO_STRAPI_PROJECT_DIR): required with the `strapi` directory",
            ]
        );
        let err = config.gateway().unwrap_err();
        assert_eq!(err.problems.len(), 7);
        assert_eq!(err.problems[0].path, "server.webhookCoalesceMs");
    }

    #[test]
    fn settings_problems_come_through_validate() {
        let mut config = Config::default();
        config.settings.connection.ping_timeout = 0;
        let problems = config.validate();
        assert!(!problems.is_empty());
        assert!(
            problems
                .iter()
                .all(|p| p.path.starts_with("settings.") && !p.message.is_empty()),
            "{problems:?}"
        );
        let settings: Vec<Problem> = config
            .settings
            .check()
            .unwrap_err()
            .into_iter()
            .map(Problem::from)
            .collect();
        assert_eq!(problems, settings);
    }

    #[test]
    fn the_static_directory_is_typed_with_empty_secrets_when_unset() {
        let c = Config::default().gateway().unwrap();
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.webhook_coalesce, Duration::from_millis(300));
        assert_eq!(c.webhook_settle, Duration::from_millis(15));
        match c.directory {
            Directory::Static {
                jwt_secret,
                api_token_salt,
                ..
            } => {
                assert!(jwt_secret.is_empty() && api_token_salt.is_empty());
            }
            Directory::Strapi { .. } => panic!("static by default"),
        }
    }

    #[test]
    fn the_strapi_directory_carries_what_it_needs() {
        let mut config = parse_config(json!({
            "directory": {"kind": "strapi", "cacheTtlSeconds": 60, "refreshSeconds": 0.5},
            "strapi": {"projectDir": "/x", "token": "populate-token"},
            "server": {"adminToken": "admin"},
        }))
        .unwrap();
        let env = |k: &str| match k {
            "STRAPI_IO_DATABASE_URL" => Some("sqlite://x.db".to_string()),
            "STRAPI_IO_JWT_SECRET" => Some("jwt".to_string()),
            "STRAPI_IO_API_TOKEN_SALT" => Some("salt".to_string()),
            _ => None,
        };
        apply_env(&mut config, &env).unwrap();
        let c = config.gateway().unwrap();
        let Directory::Strapi {
            database_url,
            jwt_secret,
            api_token_salt,
            options,
        } = c.directory
        else {
            panic!("strapi directory");
        };
        assert_eq!(
            (
                database_url.expose(),
                jwt_secret.expose(),
                api_token_salt.expose()
            ),
            ("sqlite://x.db", "jwt", "salt")
        );
        assert_eq!(
            options,
            StrapiDirectoryOptions {
                cache_ttl: Duration::from_secs(60),
                refresh: Duration::from_millis(500),
            }
        );
        assert_eq!(c.admin_token.as_ref().map(Secret::expose), Some("admin"));
        let populate = c.strapi.populate_options();
        assert_eq!(populate.token, Some("populate-token"));
        // Secrets never show in the typed view's Debug.
        let debug = format!("{config:?}");
        for secret in ["sqlite://x.db", "\"jwt\"", "\"salt\"", "populate-token"] {
            assert!(!debug.contains(secret), "{secret}: {debug}");
        }
    }

    #[test]
    fn environment_problems_are_named_after_their_variable() {
        let one = |key: &'static str, value: &'static str| {
            let env = move |k: &str| (k == key).then(|| value.to_string());
            let mut c = Config::default();
            apply_env(&mut c, &env).unwrap_err().to_string()
        };
        assert_eq!(
            one("STRAPI_IO_PORT", "x"),
            "STRAPI_IO_PORT: `x` is not a port number"
        );
        assert_eq!(
            one("STRAPI_IO_DIRECTORY", "ldap"),
            "STRAPI_IO_DIRECTORY: `ldap` is not `static` or `strapi`"
        );
        let env = |k: &str| (k == "STRAPI_IO_ONLY_PUBLISHED").then(|| "yes".to_string());
        let err = load(None, &env).map(drop).unwrap_err();
        assert_eq!(
            err.problems,
            ["STRAPI_IO_ONLY_PUBLISHED: `yes` is not true, false, 1 or 0"]
        );
        assert_eq!(err.problems[0].path, "STRAPI_IO_ONLY_PUBLISHED");
    }

    #[test]
    fn file_problems_name_the_file_or_the_key() {
        use crate::config::parse_text;
        let err = parse_text("{", true, "x.json").unwrap_err();
        assert_eq!(err.problems[0].path, "x.json");
        assert!(err.to_string().starts_with("x.json: "), "{err}");
        let err = parse_text("[directory]\nrefreshSeconds = nan\n", false, "x.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "directory.refreshSeconds: not a finite number (nan and inf are not accepted)"
        );
        let err = parse_config(json!({"server": {"port": "x"}})).unwrap_err();
        assert_eq!(err.problems[0].path, "server.port");
        let missing = std::path::Path::new("/nonexistent/strapi-io.toml");
        let err = load(Some(missing), &|_| None).map(drop).unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent/strapi-io.toml: "),
            "{err}"
        );
        let dir = std::env::temp_dir().join(format!("strapi-io-noproject-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[server]\nport = 1\n").unwrap();
        let err = load(Some(&file), &|_| None).map(drop).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            err.to_string(),
            "strapi.projectDir: missing (the Strapi project whose src/ holds the schemas)"
        );
    }

    #[test]
    fn populate_problems_keep_their_lines() {
        let blog = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/blog");
        let env = |k: &str| match k {
            "STRAPI_IO_STRAPI_PROJECT_DIR" => Some(blog.display().to_string()),
            "STRAPI_IO_STRAPI_URL" => Some("ftp://x".to_string()),
            _ => None,
        };
        let err = load(None, &env).map(|_: Loaded| ()).unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(err.problems[0].path, "strapi.url");
        assert!(
            err.to_string()
                .starts_with("strapi.url: `ftp://x`: only http:// URLs are supported"),
            "{err}"
        );
    }
}
