//! `POST /webhooks/strapi`: Strapi's own webhooks as a source of content events, behind the
//! webhook token ([`WebhookToken`]). Entry events are collected per document for a short
//! window — none when a request is complete on its own, else one learnt from the gaps between
//! an action's requests ([`strapi_io::core::settle`]), at most `server.webhookCoalesceMs` —
//! and merged into one `emit` through [`crate::entries::emit_group`], the step the plugin
//! entry's forwarder shares; media events and unknown models are acknowledged (202) and
//! counted, not emitted. This module owns the windows ([`WebhookState`]) and the route's
//! counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use strapi_io::Io;
use strapi_io::core::settle::{SettleWindow, completes, is_complete};
use strapi_io::core::webhook::{self, EntryEvent, EntryWebhook, Webhook};

use crate::entries::EntryCounters;
use crate::http::auth::{WebhookRejection, WebhookToken};
use crate::http::body::read_json;
use crate::http::error::ApiError;
use crate::populate::Populator;

/// Largest webhook body accepted.
const BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Most documents waiting in the window at once; past this, requests are emitted at once.
const MAX_PENDING: usize = 10_000;

/// The time now, on tokio's clock (which tests may pause and advance).
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What the webhook route shares: its windows and its counters.
pub(crate) struct WebhookState {
    /// The server.
    io: Io,
    /// What the route has seen (`webhooks` in `GET /api/io/stats`).
    pub(crate) counters: EntryCounters,
    /// The longest window; zero emits every request as it arrives.
    coalesce: Duration,
    /// The window as learnt so far.
    window: Mutex<SettleWindow>,
    /// Documents in their window, and the order of their emits.
    pending: Arc<Pending>,
    /// Reads the published rows of relations to draft rows ([`crate::published`]).
    populator: Populator,
    /// Refused requests, logged with their reason (rate-limited).
    refusals: RefusalLog,
    /// Set on shutdown: every open window closes at once, and new requests are emitted as
    /// they arrive.
    closing: tokio::sync::watch::Sender<bool>,
    /// Held by every window task; dropped on shutdown, so that the receiver learns when the
    /// last window has gone out.
    windows: Mutex<Option<tokio::sync::mpsc::Sender<()>>>,
    windows_done: tokio::sync::Mutex<tokio::sync::mpsc::Receiver<()>>,
}

impl WebhookState {
    /// The route's state for `io`, with the window's bounds.
    pub(crate) fn new(io: Io, window: SettleWindow, populator: Populator) -> Self {
        let (windows, windows_done) = tokio::sync::mpsc::channel(1);
        WebhookState {
            io,
            counters: EntryCounters::default(),
            coalesce: window.ceiling(),
            window: Mutex::new(window),
            pending: Arc::default(),
            populator,
            refusals: RefusalLog::default(),
            closing: tokio::sync::watch::Sender::new(false),
            windows: Mutex::new(Some(windows)),
            windows_done: tokio::sync::Mutex::new(windows_done),
        }
    }

    /// Shutdown: closes every open window at once (each emits its event) and waits, at most
    /// `within`, until all have gone out; requests arriving from now on are emitted as they
    /// arrive. An accepted request thus always becomes an event before the gateway exits.
    pub(crate) async fn close_windows(&self, within: Duration) {
        // Counted before the windows are told to close: they empty themselves at once.
        let open = self.pending.groups.lock().map(|g| g.len()).unwrap_or(0);
        self.closing.send_replace(true);
        drop(
            self.windows
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let mut done = self.windows_done.lock().await;
        if tokio::time::timeout(within, done.recv()).await.is_err() {
            tracing::warn!(
                open,
                "webhook windows still open at shutdown; their events are lost"
            );
        } else if open > 0 {
            tracing::info!(open, "webhook windows flushed at shutdown");
        }
    }
}

/// A document: its content type and `documentId`.
type DocKey = (String, String);

/// Documents whose requests are being collected, and one lock per document so that its
/// events are emitted in order even when an emit is slow.
#[derive(Default)]
struct Pending {
    groups: Mutex<HashMap<DocKey, Window>>,
    order: Mutex<HashMap<DocKey, Arc<tokio::sync::Mutex<()>>>>,
    /// Windows closed lately (when each opened, and its requests), to learn from a request
    /// that arrives just after its action's window closed.
    closed: Mutex<HashMap<DocKey, (Instant, Vec<EntryEvent>)>>,
}

/// One document's open window.
struct Window {
    opened: Instant,
    requests: Vec<(EntryEvent, Value)>,
    /// Closes the window early, once its action is surely complete.
    complete: Arc<tokio::sync::Notify>,
}

/// Logs refused webhook requests with their reason, at most once per
/// [`RefusalLog::EVERY`], with the number left unlogged meanwhile — so that a Strapi webhook
/// set up with the wrong token shows in the log without flooding it.
#[derive(Debug, Default)]
struct RefusalLog {
    /// When the last line was written (ms since the Unix epoch).
    last: AtomicU64,
    /// Refusals since that line.
    quiet: AtomicU64,
}

impl RefusalLog {
    /// At most one line per this many milliseconds.
    const EVERY: u64 = 10_000;

    fn log(&self, reason: &str) {
        let now = u64::try_from(crate::clock::unix_millis()).unwrap_or_default();
        let last = self.last.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= Self::EVERY
            && self
                .last
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            let before = self.quiet.swap(0, Ordering::AcqRel);
            tracing::warn!(
                reason,
                refused_since_last_line = before,
                "webhook request refused (401): check the Authorization header of Strapi's webhook"
            );
        } else {
            self.quiet.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn ignored(state: &WebhookState, reason: &str) -> Response {
    state.counters.ignored.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(reason, "webhook ignored");
    (
        StatusCode::ACCEPTED,
        Json(json!({"data": {"ignored": true, "reason": reason}})),
    )
        .into_response()
}

/// The axum handler. A refused request (token, body) is counted as rejected; one refused
/// for its token is logged with the reason ([`RefusalLog`]).
pub(crate) async fn handler(
    State(state): State<Arc<WebhookState>>,
    token: Result<WebhookToken, WebhookRejection>,
    body: axum::body::Body,
) -> Response {
    let answer = match token {
        Ok(WebhookToken) => handle(&state, body).await,
        Err(refused) => {
            if let Some(reason) = refused.reason() {
                state.refusals.log(reason);
            }
            Err(refused.into())
        }
    };
    match answer {
        Ok(r) => r,
        Err(e) => {
            state.counters.rejected.fetch_add(1, Ordering::Relaxed);
            e.into_response()
        }
    }
}

async fn handle(state: &Arc<WebhookState>, body: axum::body::Body) -> Result<Response, ApiError> {
    let body = read_json(body, BODY_LIMIT, false).await?;
    let request = match webhook::read(&body, state.io.schemas()) {
        Err(problem) => return Err(ApiError::bad_request(problem)),
        Ok(Webhook::Ignored(reason)) => return Ok(ignored(state, reason)),
        Ok(Webhook::Entry(request)) => request,
    };
    state.counters.accepted.fetch_add(1, Ordering::Relaxed);
    let closing = *state.closing.borrow();
    let key = match request.document_key() {
        Some(document) if !state.coalesce.is_zero() && !closing => (request.uid.clone(), document),
        // No window, or nothing to merge by: emitted as it arrives.
        _ => {
            let group = [(request.event, request.entry)];
            let report = emit_group(state, &request.uid, &group).await;
            if report.is_err() {
                state.counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(Json(json!({"data": report?})).into_response());
        }
    };
    let draft_and_publish = state
        .io
        .schemas()
        .content_type(&request.uid)
        .is_some_and(|c| c.draft_and_publish);
    let (joined, wait) = enqueue(state, key.clone(), request, draft_and_publish);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"data": {
            "queued": true,
            "uid": key.0,
            "document": key.1,
            "coalesced": joined,
            "windowMs": wait.as_millis() as u64,
            "coalesceMs": state.coalesce.as_millis() as u64,
        }})),
    )
        .into_response())
}

/// Adds a request to its document's window, opening the window (and the task that closes
/// it) for the first one: `(true, _)` when it joined a window already open, else `(false,
/// how long the new window waits)`. Past [`MAX_PENDING`] documents, the request is emitted at
/// once. Every later request of an action teaches the window its gap.
fn enqueue(
    state: &Arc<WebhookState>,
    key: DocKey,
    request: EntryWebhook,
    draft_and_publish: bool,
) -> (bool, Duration) {
    let now = now();
    let mut groups = state
        .pending
        .groups
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut window = state.window.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(open) = groups.get_mut(&key) {
        let earlier: Vec<EntryEvent> = open.requests.iter().map(|(e, _)| *e).collect();
        if completes(&earlier, request.event) {
            window.observe(now, now - open.opened);
        }
        open.requests.push((request.event, request.entry));
        state.counters.merged.fetch_add(1, Ordering::Relaxed);
        let events: Vec<EntryEvent> = open.requests.iter().map(|(e, _)| *e).collect();
        if is_complete(&events) {
            open.complete.notify_one();
        }
        return (true, Duration::ZERO);
    }
    // The rest of an action whose window closed too early: the window must grow.
    if let Some((opened, events)) = state
        .pending
        .closed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        && now - *opened <= state.coalesce
        && completes(events, request.event)
    {
        tracing::info!(
            late_ms = (now - *opened).as_millis() as u64,
            "a webhook request arrived after its action's window: the window grows"
        );
        window.observe(now, now - *opened);
    }
    let delay = if groups.len() >= MAX_PENDING {
        tracing::warn!(
            pending = groups.len(),
            "webhook window full: emitting without merging"
        );
        Duration::ZERO
    } else {
        window.wait_for(now, draft_and_publish, request.event)
    };
    drop(window);
    let complete = Arc::new(tokio::sync::Notify::new());
    groups.insert(
        key.clone(),
        Window {
            opened: now,
            requests: vec![(request.event, request.entry)],
            complete: complete.clone(),
        },
    );
    drop(groups);
    let open = state
        .windows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut closing = state.closing.subscribe();
    let state = state.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = complete.notified() => {}
            _ = closing.wait_for(|closing| *closing) => {}
        }
        flush(&state, key).await;
        drop(open);
    });
    (false, delay)
}

/// Closes a document's window: waits for its previous event to go out, then emits the
/// merged group.
async fn flush(state: &WebhookState, key: DocKey) {
    let lock = {
        let mut order = state
            .pending
            .order
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        order.entry(key.clone()).or_default().clone()
    };
    let guard = lock.clone().lock_owned().await;
    let window = state
        .pending
        .groups
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&key);
    let (opened, group) = match window {
        Some(w) => (w.opened, w.requests),
        None => (now(), Vec::new()),
    };
    remember_closed(state, &key, opened, &group);
    if let Err(e) = emit_group(state, &key.0, &group).await {
        state.counters.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(uid = %key.0, document = %key.1, error = ?e, "webhook emit failed");
    }
    drop(guard);
    let mut order = state
        .pending
        .order
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // The map's and this task's handles only: nobody waits for this document.
    if Arc::strong_count(&lock) == 2 {
        order.remove(&key);
    }
}

/// Keeps a closed window's requests for a while, to recognise the rest of its action.
fn remember_closed(
    state: &WebhookState,
    key: &DocKey,
    opened: Instant,
    group: &[(EntryEvent, Value)],
) {
    let mut closed = state
        .pending
        .closed
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if closed.len() >= MAX_PENDING {
        let (ceiling, now) = (state.coalesce, now());
        closed.retain(|_, (at, _)| now.saturating_duration_since(*at) <= ceiling);
        if closed.len() >= MAX_PENDING {
            closed.clear();
        }
    }
    closed.insert(
        key.clone(),
        (opened, group.iter().map(|(e, _)| *e).collect()),
    );
}

/// Emits a group through the step every source of entry events shares.
async fn emit_group(
    state: &WebhookState,
    uid: &str,
    group: &[(EntryEvent, Value)],
) -> Result<Value, ApiError> {
    Ok(
        crate::entries::emit_group(&state.io, &state.populator, &state.counters, uid, group)
            .await?,
    )
}
