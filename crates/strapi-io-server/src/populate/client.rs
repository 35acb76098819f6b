//! [`Populator`]: the HTTP client that refetches entries from Strapi's REST API — its slots,
//! its timeout, its counters — and the runtime's [`Populate`] hook on top of it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::ACCEPT;
use serde_json::{Map, Value, json};
use strapi_io::core::events::ContentTypeEntry;
use strapi_io::core::populate::{
    PopulateSpec, document_id, document_of, merge, published_query, query_string, refetch_query,
    targets,
};
use strapi_io::core::schema::{ContentType, Schemas};
use strapi_io::core::settings::SettingsProblem;
use strapi_io::{Populate, PopulateFuture};
use tokio::sync::Semaphore;

use super::{MAX_CONCURRENCY, MAX_RESPONSE_BYTES, MAX_TIMEOUT_MS, Options, parse_base};

/// Why a refetch did not happen or did not work.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("no strapi.url is configured")]
    NoUrl,
    #[error("the entry has no documentId to refetch it by")]
    NoDocumentId,
    #[error("Strapi did not answer within {0} ms")]
    Timeout(u128),
    #[error("Strapi is unreachable: {0}")]
    Unreachable(String),
    #[error("Strapi answered HTTP {0}")]
    Status(u16),
    #[error("Strapi's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("Strapi's answer is {0}")]
    Shape(&'static str),
    #[error("Strapi answered with document `{0}`, not the entry's")]
    OtherDocument(String),
}

/// How one populate ended, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Refetched,
    Skipped,
    Failed,
}

impl Outcome {
    const ALL: [Outcome; 3] = [Outcome::Refetched, Outcome::Skipped, Outcome::Failed];

    fn label(self) -> &'static str {
        match self {
            Outcome::Refetched => "refetched",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// How often populate refetched an entry, found it complete, or had to send it unpopulated.
#[derive(Debug, Default)]
pub(crate) struct PopulateCounters {
    /// Entries refetched from Strapi and sent populated.
    pub(crate) refetched: AtomicU64,
    /// Entries that already had what `populate` asks for.
    pub(crate) skipped: AtomicU64,
    /// Entries sent unpopulated: no `strapi.url`, no documentId, or Strapi failed.
    pub(crate) failed: AtomicU64,
    /// Relations to draft rows swapped for their published rows ([`crate::published`]).
    pub(crate) published_swapped: AtomicU64,
    /// Relations to draft rows kept: their document has no published version.
    pub(crate) published_kept: AtomicU64,
    /// Relations to draft rows kept because Strapi could not be read.
    pub(crate) published_failed: AtomicU64,
}

impl PopulateCounters {
    /// `{refetched, skipped, failed, publishedRelations: {swapped, kept, failed}}`.
    pub(crate) fn snapshot(&self) -> Value {
        json!({
            "refetched": self.refetched.load(Ordering::Relaxed),
            "skipped": self.skipped.load(Ordering::Relaxed),
            "failed": self.failed.load(Ordering::Relaxed),
            "publishedRelations": {
                "swapped": self.published_swapped.load(Ordering::Relaxed),
                "kept": self.published_kept.load(Ordering::Relaxed),
                "failed": self.published_failed.load(Ordering::Relaxed),
            },
        })
    }
}

/// Populates the entries of content events from Strapi's REST API before they are emitted
/// (installed as the runtime's [`Populate`] hook), and reads published rows for
/// [`crate::published`]. Cheap to clone (one shared HTTP client, slot pool and set of
/// counters).
#[derive(Clone)]
pub(crate) struct Populator {
    pub(super) inner: Arc<Inner>,
}

/// What every clone of a [`Populator`] shares.
pub(super) struct Inner {
    base: Option<Url>,
    token: Option<String>,
    client: reqwest::Client,
    slots: Semaphore,
    timeout: Duration,
    pub(super) targets: HashMap<String, PopulateSpec>,
    counters: PopulateCounters,
    pub(super) max_body: usize,
}

impl fmt::Debug for Populator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Populator")
            .field("base", &self.inner.base.as_ref().map(Url::as_str))
            .field("token", &self.inner.token.as_ref().map(|_| "***"))
            .field("timeout", &self.inner.timeout)
            .field("targets", &self.inner.targets)
            .finish_non_exhaustive()
    }
}

impl Populate for Populator {
    fn populate<'a>(
        &'a self,
        ct: &'a ContentType,
        action: &'a str,
        entry: Map<String, Value>,
    ) -> PopulateFuture<'a> {
        Box::pin(self.populate_entry(ct, action, entry))
    }
}

impl Populator {
    /// Builds the populator from the `strapi` section and the `contentTypes` entries; warns
    /// once when some type sets `populate` but `strapi.url` (or `strapi.token`) is missing.
    pub(crate) fn new(
        options: &Options<'_>,
        content_types: Option<&[ContentTypeEntry]>,
        schemas: &Schemas,
    ) -> anyhow::Result<Self> {
        let lines = |problems: Vec<SettingsProblem>| {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            anyhow::anyhow!(lines.join("\n"))
        };
        let targets = targets(content_types, schemas).map_err(lines)?;
        let base = options
            .url()
            .map(parse_base)
            .transpose()
            .map_err(|e| lines(vec![e]))?;
        let token = options.token().map(str::to_string);
        let concurrency = options.concurrency.clamp(1, MAX_CONCURRENCY);
        let timeout = Duration::from_millis(options.timeout_ms.clamp(1, MAX_TIMEOUT_MS));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(concurrency)
            .user_agent(concat!("strapi-io/", env!("CARGO_PKG_VERSION")))
            .build()?;
        if !targets.is_empty() {
            let mut uids: Vec<&str> = targets.keys().map(String::as_str).collect();
            uids.sort_unstable();
            let uids = uids.join(", ");
            match &base {
                None => tracing::warn!(
                    content_types = %uids,
                    "`populate` is set but strapi.url (STRAPI_IO_STRAPI_URL) is not: these events go out unpopulated"
                ),
                Some(_) if token.is_none() => tracing::warn!(
                    content_types = %uids,
                    "strapi.token (STRAPI_IO_STRAPI_TOKEN) is not set: populate refetches get only what Strapi's Public role may find"
                ),
                Some(url) => {
                    let mut shown = url.clone();
                    let _ = shown.set_password(None);
                    tracing::info!(content_types = %uids, strapi = %shown, "populate through Strapi's REST API");
                }
            }
        }
        for outcome in Outcome::ALL {
            metrics::counter!("strapi_io_populate_total", "outcome" => outcome.label())
                .increment(0);
        }
        Ok(Populator {
            inner: Arc::new(Inner {
                base,
                token,
                client,
                slots: Semaphore::new(concurrency),
                timeout,
                targets,
                counters: PopulateCounters::default(),
                max_body: MAX_RESPONSE_BYTES,
            }),
        })
    }

    /// The counters, for the stats route.
    pub(crate) fn counters(&self) -> &PopulateCounters {
        &self.inner.counters
    }

    /// Whether some content type sets `populate` (otherwise the hook has nothing to do).
    pub(crate) fn has_targets(&self) -> bool {
        !self.inner.targets.is_empty()
    }

    /// The entry of an `action` event, refetched when its content type sets `populate` and
    /// the entry lacks it; counted (types without `populate` are not). Never fails: when the
    /// refetch fails (logged and counted) the entry is returned as given. Waits at most
    /// `strapi.populateTimeoutMs`.
    pub(super) async fn populate_entry(
        &self,
        ct: &ContentType,
        action: &str,
        entry: Map<String, Value>,
    ) -> Map<String, Value> {
        let Some(spec) = self.inner.targets.get(&ct.uid) else {
            return entry;
        };
        if !spec.lacks(ct, &entry) {
            self.count(Outcome::Skipped);
            return entry;
        }
        match self.refetch(ct, action, spec, &entry).await {
            Ok(fetched) => {
                self.count(Outcome::Refetched);
                merge(entry, fetched)
            }
            Err(reason) => {
                let document_id = document_id(&entry).unwrap_or_default();
                if matches!(reason, Failure::NoUrl) {
                    // Warned once at start.
                    tracing::debug!(uid = %ct.uid, document_id, %reason, "populate skipped: the event goes out unpopulated");
                } else {
                    tracing::warn!(uid = %ct.uid, document_id, %reason, "populate failed: the event goes out unpopulated");
                }
                self.count(Outcome::Failed);
                entry
            }
        }
    }

    fn count(&self, outcome: Outcome) {
        let c = &self.inner.counters;
        let slot = match outcome {
            Outcome::Refetched => &c.refetched,
            Outcome::Skipped => &c.skipped,
            Outcome::Failed => &c.failed,
        };
        slot.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("strapi_io_populate_total", "outcome" => outcome.label()).increment(1);
    }

    /// `GET {base}/api/{plural}/{documentId}?populate…&status=…&locale=…`
    /// ([`refetch_query`]) → the answer's `data`, checked to be the same document.
    pub(super) async fn refetch(
        &self,
        ct: &ContentType,
        action: &str,
        spec: &PopulateSpec,
        entry: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Failure> {
        let pairs = refetch_query(ct, action, spec, entry);
        self.fetch_document(ct, document_id(entry), &pairs).await
    }

    /// `GET {base}/api/{plural}/{documentId}?{pairs}` (single types:
    /// `/api/{singularName}?{pairs}`) within `strapi.populateTimeoutMs` → the answer's `data`,
    /// refused when it names another document.
    async fn fetch_document(
        &self,
        ct: &ContentType,
        document_id: Option<&str>,
        pairs: &[(String, String)],
    ) -> Result<Map<String, Value>, Failure> {
        let Some(base) = &self.inner.base else {
            return Err(Failure::NoUrl);
        };
        let mut url = base.clone();
        {
            // An http URL always has path segments (checked in `parse_base`).
            let Ok(mut segments) = url.path_segments_mut() else {
                return Err(Failure::NoUrl);
            };
            segments.pop_if_empty().push("api");
            if ct.kind == "singleType" {
                segments.push(&ct.singular_name);
            } else {
                let Some(id) = document_id else {
                    return Err(Failure::NoDocumentId);
                };
                segments.push(&ct.plural_name).push(id);
            }
        }
        url.set_query(Some(&query_string(pairs)));
        let fetched = tokio::time::timeout(self.inner.timeout, self.get(url))
            .await
            .map_err(|_| Failure::Timeout(self.inner.timeout.as_millis()))??;
        if let (Some(Value::String(theirs)), Some(ours)) = (fetched.get("documentId"), document_id)
            && theirs != ours
        {
            return Err(Failure::OtherDocument(theirs.clone()));
        }
        Ok(fetched)
    }

    /// Whether Strapi's REST API can be read (`strapi.url` is set).
    pub(crate) fn can_read(&self) -> bool {
        self.inner.base.is_some()
    }

    /// `GET {base}/api/{plural}/{documentId}?status=published[&locale=…]` (no populate):
    /// the document's published row as REST shows it ([`Populator::fetch_document`]).
    pub(crate) async fn published_row(
        &self,
        ct: &ContentType,
        document_id: &str,
        locale: Option<&str>,
    ) -> Result<Map<String, Value>, Failure> {
        self.fetch_document(ct, Some(document_id), &published_query(locale))
            .await
    }

    /// One GET within a concurrency slot; the answer's `data` object.
    async fn get(&self, url: Url) -> Result<Map<String, Value>, Failure> {
        // The semaphore is never closed.
        let _slot = self
            .inner
            .slots
            .acquire()
            .await
            .map_err(|_| Failure::Unreachable("populate is shutting down".into()))?;
        let mut request = self
            .inner
            .client
            .get(url)
            .header(ACCEPT, "application/json");
        if let Some(token) = &self.inner.token {
            request = request.bearer_auth(token);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| Failure::Unreachable(describe(e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Failure::Status(status.as_u16()));
        }
        let max = self.inner.max_body;
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::Unreachable(describe(e)))?
        {
            if body.len() + chunk.len() > max {
                return Err(Failure::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        document_of(&body).map_err(Failure::Shape)
    }
}

/// A reqwest error with its causes, without its URL (which may carry credentials).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
