//! The gateway: builds the [`Io`] and the routes' [`AppState`] from a loaded config, lists
//! every route ([`router`]) with Socket.IO, the client bundle and CORS around them, and serves
//! it until shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method};
use axum::routing::{get, post};
use strapi_io::{Io, IoBuilder, IoLayer, StaticDirectory, StrapiDirectory};
use tokio::net::TcpListener;
use tower_http::cors::{AllowCredentials, AllowOrigin, CorsLayer};

use crate::config::{Directory, Loaded};
use crate::http::auth::{AdminKey, WebhookKey};
use crate::populate::Populator;
use crate::state::AppState;
use crate::store::SettingsStore;
use crate::webhook::WebhookState;
use crate::{monitoring, rpc, webhook};

/// Extra room for the JSON around a payload in an RPC body.
const BODY_OVERHEAD: usize = 64 * 1024;

/// A built gateway: its routes, its `Io`, and the webhook route's state (open windows are
/// flushed at shutdown).
pub(crate) struct Gateway {
    /// Every route, with Socket.IO and CORS.
    router: Router,
    /// The server.
    io: Io,
    /// The webhook route's state.
    webhooks: Arc<WebhookState>,
    /// The trends the dashboard draws, sampled while serving.
    trends: Arc<crate::trends::Trends>,
}

/// How long a shutdown waits for open webhook windows to go out.
const WINDOWS_AT_SHUTDOWN: Duration = Duration::from_secs(5);

/// Every route of the gateway on `state` (Socket.IO, the client bundle and CORS are layered
/// around it by [`app`]).
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(monitoring::health))
        .route("/metrics", get(monitoring::metrics))
        .route("/dashboard", get(crate::dashboard::page))
        .route("/api/io/stats", get(monitoring::stats))
        .route("/api/io/event-log", get(monitoring::event_log))
        .route("/api/io/test-event", post(monitoring::test_event))
        .route("/api/io/reset-stats", post(monitoring::reset_stats))
        .route("/api/io/roles", get(monitoring::roles))
        .route("/api/io/content-types", get(monitoring::content_types))
        .route("/api/io/trends", get(crate::trends::trends))
        .route("/api/io/sockets", get(crate::sockets::list))
        .route("/api/io/rooms", get(crate::sockets::list_rooms))
        .route(
            "/api/io/monitoring/stats",
            get(monitoring::monitoring_stats),
        )
        .route(
            "/api/io/settings",
            get(rpc::get_settings).put(rpc::put_settings),
        )
        .route(
            "/api/io/directory/invalidate",
            post(rpc::invalidate_directory),
        )
        .route("/api/io/{method}", post(rpc::handler))
        .route("/webhooks/strapi", post(webhook::handler))
        .with_state(state)
}

/// Builds the `Io` and the routes' state from a loaded config: opens the settings database
/// (stored settings win over the config's seed), the directory, the populate client
/// (installed as the `Io`'s populate hook when some type sets `populate`), and joins the
/// cluster. The layer serves Socket.IO.
pub(crate) async fn state(loaded: &Loaded) -> anyhow::Result<(AppState, IoLayer)> {
    let c = &loaded.gateway;
    let store = SettingsStore::open(&c.data_dir).await?;
    let settings = match store.load().await? {
        Some(mut stored) => {
            tracing::info!(db = %store.path().display(), "using the stored settings (they win over the config file)");
            if loaded.settings_env != crate::config::SettingsEnv::default() {
                tracing::info!("STRAPI_IO_CORS_ORIGINS / STRAPI_IO_ONLY_PUBLISHED win over them");
                loaded.settings_env.apply(&mut stored);
            }
            stored
        }
        None => c.settings.clone(),
    };
    let (directory, strapi_directory): (Arc<dyn strapi_io::Directory>, _) = match &c.directory {
        Directory::Static {
            declared,
            jwt_secret,
            api_token_salt,
        } => (
            Arc::new(StaticDirectory::new(
                declared,
                jwt_secret.expose(),
                api_token_salt.expose(),
            )?),
            None,
        ),
        Directory::Strapi {
            database_url,
            jwt_secret,
            api_token_salt,
            options,
        } => {
            let d = Arc::new(
                StrapiDirectory::open(
                    database_url.expose(),
                    jwt_secret.expose(),
                    api_token_salt.expose(),
                    options.clone(),
                )
                .await?,
            );
            (d.clone() as Arc<dyn strapi_io::Directory>, Some(d))
        }
    };
    // Before the populate client, which shows its counters at zero.
    crate::monitoring::install_metrics();
    // One populate client (HTTP client, slots, counters) for every source of `emit`.
    let strapi = c.strapi.populate_options();
    let populator = Populator::new(&strapi, c.content_types.as_deref(), &loaded.schemas)?;
    let mut builder = IoBuilder::new(loaded.schemas.clone())
        .settings(settings)
        .sensitive_fields(c.sensitive_fields.clone())
        .directory(directory)
        .path(c.socket.path.clone())
        .max_http_buffer_size(c.socket.max_http_buffer_size)
        .max_buffer_size(c.socket.max_buffer_size)
        .transports(&c.socket.transports);
    builder = crate::forward::install(builder, &c.events);
    if let Some(ct) = &c.content_types {
        builder = builder.content_types(ct.clone());
    }
    if populator.has_targets() {
        builder = builder.populate(Arc::new(populator.clone()));
    }
    let (layer, io) = builder.build()?;
    let webhooks = Arc::new(WebhookState::new(
        io.clone(),
        strapi_io::core::settle::SettleWindow::new(c.webhook_settle, c.webhook_coalesce),
        populator.clone(),
    ));
    crate::cluster::join(&io, store.clone()).await;
    let state = AppState {
        io,
        store,
        strapi_directory,
        webhooks,
        entry_events: Default::default(),
        populator,
        idempotency: Default::default(),
        admin_key: AdminKey::new(c.admin_token.as_ref().map(|t| t.expose().to_owned())),
        webhook_key: WebhookKey::new(c.webhook_token.as_ref().map(|t| t.expose().to_owned())),
        body_limit: usize::try_from(c.socket.max_http_buffer_size)
            .unwrap_or(usize::MAX)
            .saturating_add(BODY_OVERHEAD),
        trends: Default::default(),
    };
    Ok((state, layer))
}

/// Builds the whole gateway from a loaded config ([`state`], [`router`]), with Socket.IO, the
/// client bundle when configured, and CORS.
pub(crate) async fn app(loaded: &Loaded) -> anyhow::Result<Gateway> {
    let c = &loaded.gateway;
    let (state, layer) = state(loaded).await?;
    let (io, webhooks, trends) = (
        state.io.clone(),
        state.webhooks.clone(),
        state.trends.clone(),
    );
    let router = router(state).layer(layer);
    // In front of the Socket.IO layer, which would take its path's files for transport requests.
    let router = match &c.socket.serve_client {
        Some(dir) => {
            let bundle = crate::client_bundle::ClientBundle::load(dir, &c.socket.path)
                .map_err(anyhow::Error::msg)?;
            tracing::info!(files = bundle.len(), dir = %dir.display(), "serving the socket.io-client bundle");
            router.layer(axum::middleware::from_fn_with_state(
                bundle,
                crate::client_bundle::serve,
            ))
        }
        None => router,
    };
    let router = router.layer(cors(&io));
    Ok(Gateway {
        router,
        io,
        webhooks,
        trends,
    })
}

/// CORS that follows the live `cors` settings: an origin is allowed when listed, or when
/// the list holds `*` (the request's origin is mirrored). Credentials
/// (`Access-Control-Allow-Credentials: true`) are allowed only with `cors.credentials` and
/// an origin listed by name: a wildcard never allows them, as browsers rule for `*`.
fn cors(io: &Io) -> CorsLayer {
    let origins = io.clone();
    let credentials = io.clone();
    CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::OPTIONS])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
        ])
        .allow_credentials(AllowCredentials::predicate(move |origin, _| {
            let origin = origin.as_bytes();
            credentials.with_settings(|s| {
                s.cors.credentials && s.cors.origins.iter().any(|o| o.as_bytes() == origin)
            })
        }))
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            let origin = origin.as_bytes();
            origins.with_settings(|s| {
                s.cors
                    .origins
                    .iter()
                    .any(|o| o == "*" || o.as_bytes() == origin)
            })
        }))
}

/// Serves a built gateway until `shutdown` resolves; then emits what the open webhook windows
/// hold, closes every socket (telling them why) and returns within a few seconds (see
/// [`Io::serve`]).
pub(crate) async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let Gateway {
        router,
        io,
        webhooks,
        trends,
    } = gateway;
    let shutdown = async move {
        shutdown.await;
        webhooks.close_windows(WINDOWS_AT_SHUTDOWN).await;
    };
    let trimmer = crate::memory::spawn_trimmer();
    let sampler = crate::trends::spawn_sampler(io.clone(), trends);
    let served = io.serve(listener, router, shutdown).await;
    if let Some(trimmer) = trimmer {
        trimmer.abort();
    }
    sampler.abort();
    served?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::Value;

    use super::*;
    use crate::config;

    /// The password of the unreachable database: it must not show anywhere.
    const PASSWORD: &str = "Gw-health-pw-5tQ";

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "strapi-io-app-{name}-{}-{}",
            std::process::id(),
            crate::clock::unix_millis()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The config of a gateway next to Strapi, from the environment only.
    fn next_to_strapi(database_url: &str, data_dir: &Path) -> Loaded {
        let blog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/blog");
        let env = |key: &str| match key {
            "STRAPI_IO_DIRECTORY" => Some("strapi".to_string()),
            "STRAPI_IO_DATABASE_URL" => Some(database_url.to_string()),
            "STRAPI_IO_STRAPI_PROJECT_DIR" => Some(blog.display().to_string()),
            "STRAPI_IO_JWT_SECRET" => Some("fixture-jwt-secret".to_string()),
            "STRAPI_IO_API_TOKEN_SALT" => Some("fixture-api-token-salt".to_string()),
            "STRAPI_IO_DATA_DIR" => Some(data_dir.display().to_string()),
            _ => None,
        };
        config::load(None, &env).unwrap()
    }

    /// Builds and serves the gateway, and answers `GET /health` (status, body).
    async fn health_of(loaded: &Loaded) -> (u16, Value) {
        let gateway = app(loaded).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(gateway, listener, async move {
            let _ = stopped.await;
        }));
        let response = reqwest::get(format!("http://{addr}/health")).await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        assert!(!text.contains(PASSWORD), "{text}");
        (status, serde_json::from_str(&text).unwrap())
    }

    #[tokio::test]
    async fn the_gateway_starts_without_its_database_and_says_so() {
        // A closed port: PostgreSQL is down.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("postgres://strapi:{PASSWORD}@127.0.0.1:{port}/strapi");
        let dir = temp_dir("pg-down");
        let (status, body) = health_of(&next_to_strapi(&url, &dir)).await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["ready"], false);
        assert_eq!(body["connections"], 0);
        assert!(body["uptimeSeconds"].is_u64(), "{body}");
        assert_eq!(body["directory"]["ready"], false);
        let reason = body["directory"]["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("up_roles"), "{reason}");
        assert!(!reason.contains("127.0.0.1"), "{reason}");
    }

    #[tokio::test]
    async fn a_reachable_strapi_database_is_ready() {
        let dir = temp_dir("sqlite");
        let db = dir.join("data.db");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../strapi-io/tests/fixtures/strapi5.db"),
            &db,
        )
        .unwrap();
        let (status, body) =
            health_of(&next_to_strapi(&format!("sqlite://{}", db.display()), &dir)).await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ok");
        assert_eq!(body["ready"], true);
        assert_eq!(body["directory"], serde_json::json!({"ready": true}));
    }

    #[tokio::test]
    async fn the_static_directory_has_no_directory_health() {
        let dir = temp_dir("static");
        let env = |key: &str| (key == "STRAPI_IO_DATA_DIR").then(|| dir.display().to_string());
        let (status, body) = health_of(&config::load(None, &env).unwrap()).await;
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "ok");
        assert!(body.get("directory").is_none(), "{body}");
    }

    #[tokio::test]
    async fn an_unusable_database_url_stops_the_start_without_its_password() {
        let dir = temp_dir("tls");
        let url = format!("postgres://strapi:{PASSWORD}@127.0.0.1:5432/strapi?sslmode=require");
        let err = app(&next_to_strapi(&url, &dir))
            .await
            .map(drop)
            .unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        let msg = format!("{err:#}");
        assert!(msg.contains("TLS") && !msg.contains(PASSWORD), "{msg}");
    }
}
