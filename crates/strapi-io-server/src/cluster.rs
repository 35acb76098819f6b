//! The gateway's part of cluster mode: live settings shared by every node. A node that
//! changes its settings (`PUT /api/io/settings`) publishes them through Redis; every other
//! node stores them in its own settings database and applies them. A starting node adopts
//! the cluster's settings when Redis has some.

use std::time::Duration;

use strapi_io::Io;

use crate::store::SettingsStore;

/// How long a starting node waits for Redis before going on without the cluster's settings.
const JOIN_WAIT: Duration = Duration::from_secs(3);

/// Adopts the cluster's current settings (when Redis answers within 3 s and has
/// some), then applies and stores whatever other nodes share from now on. Standalone, does
/// nothing.
pub(crate) async fn join(io: &Io, store: SettingsStore) {
    if !io.cluster_status().enabled {
        return;
    }
    let deadline = tokio::time::Instant::now() + JOIN_WAIT;
    while !io.cluster_status().connected && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(settings) = io.cluster_settings().await
        && settings != io.settings()
    {
        adopt(io, &store, settings, "the cluster's settings (from Redis)").await;
    }
    let mut updates = io.shared_settings().await;
    let io = io.clone();
    tokio::spawn(async move {
        while let Some(settings) = updates.recv().await {
            adopt(&io, &store, settings, "settings shared by another node").await;
        }
    });
}

async fn adopt(io: &Io, store: &SettingsStore, settings: strapi_io::core::Settings, what: &str) {
    if let Err(e) = store.save(&settings).await {
        tracing::error!(error = %e, "{what}: could not be stored; applied anyway");
    }
    match io.apply_settings(settings) {
        Ok(dropped) => tracing::info!(dropped, "{what} applied"),
        Err(problems) => tracing::warn!(?problems, "{what} refused"),
    }
}
