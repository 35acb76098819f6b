//! [`AppState`]: what the HTTP routes share — the `Io`, the settings store, the Strapi
//! directory, the webhook windows, the populate client, the counters — and the parts a
//! handler or extractor takes on its own ([`FromRef`]).

use std::sync::Arc;

use axum::extract::FromRef;
use strapi_io::{Io, StrapiDirectory};

use crate::entries::EntryCounters;
use crate::http::auth::{AdminKey, WebhookKey};
use crate::idempotency::Idempotency;
use crate::populate::Populator;
use crate::store::SettingsStore;
use crate::webhook::WebhookState;

/// Everything the routes share; cheap to clone (handles and `Arc`s).
#[derive(Clone)]
pub(crate) struct AppState {
    /// The server.
    pub(crate) io: Io,
    /// Where the live settings are persisted.
    pub(crate) store: SettingsStore,
    /// The Strapi database directory, when it is the one in use (for invalidation, health).
    pub(crate) strapi_directory: Option<Arc<StrapiDirectory>>,
    /// The webhook route's windows and counters.
    pub(crate) webhooks: Arc<WebhookState>,
    /// What the plugin entry's forwarder has sent (`entryEvents`).
    pub(crate) entry_events: Arc<EntryCounters>,
    /// Strapi's REST API: populate (installed as the `Io`'s hook) and published rows.
    pub(crate) populator: Populator,
    /// `Idempotency-Key`s answered lately.
    pub(crate) idempotency: Arc<Idempotency>,
    /// The admin token of `/api/io/*`.
    pub(crate) admin_key: AdminKey,
    /// The webhook route's token.
    pub(crate) webhook_key: WebhookKey,
    /// Largest request body accepted by the admin routes.
    pub(crate) body_limit: usize,
    /// The dashboard's trends (sampled while the gateway serves).
    pub(crate) trends: Arc<crate::trends::Trends>,
}

impl FromRef<AppState> for Io {
    fn from_ref(state: &AppState) -> Self {
        state.io.clone()
    }
}

impl FromRef<AppState> for Arc<WebhookState> {
    fn from_ref(state: &AppState) -> Self {
        state.webhooks.clone()
    }
}

impl FromRef<AppState> for AdminKey {
    fn from_ref(state: &AppState) -> Self {
        state.admin_key.clone()
    }
}

impl FromRef<AppState> for WebhookKey {
    fn from_ref(state: &AppState) -> Self {
        state.webhook_key.clone()
    }
}
