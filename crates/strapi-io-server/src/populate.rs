//! Populate through Strapi's REST API (SPEC §3 "Populate").
//!
//! This module owns the `populate` option of the `contentTypes` config once parsed: checking
//! it against the schemas, deciding whether an entry handed to `emit` lacks what it asks for,
//! encoding it in Strapi's `qs` query style, and refetching the entry with
//! `GET {strapi.url}/api/{pluralName}/{documentId}?populate=…&status=…` (single types:
//! `/api/{singularName}`), each refetch bounded in time (`strapi.populateTimeoutMs`, the wait
//! for a free slot included) and in number (`strapi.populateConcurrency` at once).
//!
//! A refetch that cannot be done or fails never drops the event: it goes out unpopulated,
//! logged and counted — `populate {refetched, skipped, failed}` in `GET /api/io/stats` and
//! `strapi_io_populate_total{outcome}` in Prometheus.
//!
//! When an entry "lacks" its populate:
//! - a list (`["author", "comments"]`, or `"author,comments"`): when a listed key is absent
//!   or holds a bare reference — an id, a documentId, an object with nothing but `id` and
//!   `documentId`, a write instruction (`connect`, `disconnect`, `set`), a Content Manager
//!   `{count: N}`, or an array with any
//!   of these. `null` and `[]` are populated (an empty relation). A dotted name
//!   (`author.avatar`) always refetches: its depth is not checked;
//! - `"*"`: the same test on every relation, media, component and dynamic zone of the schema
//!   that is not private;
//! - a populate object (`{author: {fields: ["name"]}}`): always, since depth, fields and
//!   filters cannot be checked on the entry.
//!
//! `delete` events, events that will not go out (content type or action not enabled,
//! `enabled` off, drafts under `onlyPublished`) and types without `populate` are left alone
//! and not counted.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{ACCEPT, HeaderValue};
use serde_json::{Map, Value, json};
use strapi_io::core::events::ContentTypeEntry;
use strapi_io::core::schema::{Attribute, ContentType, Schemas};
use strapi_io::{EmitOptions, Io};
use tokio::sync::Semaphore;

use crate::config::{Config, StrapiConfig};

/// Default of `strapi.populateTimeoutMs`.
pub const DEFAULT_TIMEOUT_MS: u64 = 3_000;
/// Largest `strapi.populateTimeoutMs` accepted.
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// Default of `strapi.populateConcurrency`.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Largest `strapi.populateConcurrency` accepted.
pub const MAX_CONCURRENCY: usize = 1_024;
/// Largest Strapi answer read; a larger one is a failure.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// What a content type asks to populate.
#[derive(Debug, Clone, PartialEq)]
pub enum PopulateSpec {
    /// `"*"`: every relation, media, component and dynamic zone, one level deep.
    All,
    /// Attribute names (`["author", "comments"]` or `"author,comments"`); a dotted name
    /// (`author.avatar`) reaches deeper.
    List(Vec<String>),
    /// Strapi's populate object (`{author: {fields: ["name"]}}`), sent as it is.
    Object(Map<String, Value>),
}

impl PopulateSpec {
    /// Reads a `populate` value: `"*"`, a list of names (array or comma-separated string),
    /// or a non-empty object. Anything else is refused with the reason.
    pub fn parse(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(s) if s.trim() == "*" => Ok(PopulateSpec::All),
            Value::String(s) => names(s.split(',').map(str::trim)),
            Value::Array(items) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => list.push(s.trim()),
                        other => {
                            return Err(format!(
                                "expected attribute names, found {}",
                                kind_of(other)
                            ));
                        }
                    }
                }
                names(list.into_iter())
            }
            Value::Object(m) if m.is_empty() => {
                Err("an empty object populates nothing: remove it".into())
            }
            Value::Object(m) => Ok(PopulateSpec::Object(m.clone())),
            other => Err(format!(
                "expected \"*\", a list of attribute names or a Strapi populate object, found {}",
                kind_of(other)
            )),
        }
    }

    /// Checks the names it populates against the content type: each must be a relation,
    /// media, component or dynamic zone that is not private (Strapi's REST API never returns
    /// those). Only the first segment of a dotted name and the top-level keys of an object
    /// are checked.
    pub fn check(&self, ct: &ContentType) -> Result<(), String> {
        let names: Vec<&str> = match self {
            PopulateSpec::All => return Ok(()),
            PopulateSpec::List(list) => list.iter().map(|n| head(n)).collect(),
            PopulateSpec::Object(m) => m.keys().map(String::as_str).collect(),
        };
        for name in names {
            match ct.attributes.get(name) {
                None => return Err(format!("`{name}` is not an attribute of {}", ct.uid)),
                Some(a) if !populatable(a) => {
                    return Err(format!(
                        "`{name}` of {} is not a relation, media, component or dynamic zone",
                        ct.uid
                    ));
                }
                Some(a) if a.is_hidden() => {
                    return Err(format!(
                        "`{name}` of {} is private: Strapi's REST API never returns it",
                        ct.uid
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Whether `entry` lacks what this asks for, so that it must be refetched (see the
    /// module docs for the exact rule).
    pub fn lacks(&self, ct: &ContentType, entry: &Map<String, Value>) -> bool {
        match self {
            PopulateSpec::Object(_) => true,
            PopulateSpec::List(list) => list
                .iter()
                .any(|n| n.contains('.') || unpopulated(entry.get(n.as_str()))),
            PopulateSpec::All => ct
                .attributes
                .iter()
                .filter(|(_, a)| populatable(a) && !a.is_hidden())
                .any(|(n, _)| unpopulated(entry.get(n.as_str()))),
        }
    }

    /// The `populate` query pairs: `populate=*`, `populate[0]=author&…`, or the object
    /// flattened by [`encode_qs`].
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        match self {
            PopulateSpec::All => out.push(("populate".into(), "*".into())),
            PopulateSpec::List(list) => {
                for (i, name) in list.iter().enumerate() {
                    out.push((format!("populate[{i}]"), name.clone()));
                }
            }
            PopulateSpec::Object(m) => encode_qs("populate", &Value::Object(m.clone()), &mut out),
        }
        out
    }
}

fn names<'a>(items: impl Iterator<Item = &'a str>) -> Result<PopulateSpec, String> {
    let mut list: Vec<String> = Vec::new();
    for name in items {
        if name == "*" {
            return Err("\"*\" must stand alone: populate = \"*\"".into());
        }
        if name.is_empty() || name.split('.').any(str::is_empty) {
            return Err(format!("`{name}` is not an attribute name"));
        }
        if !list.iter().any(|n| n == name) {
            list.push(name.to_string());
        }
    }
    if list.is_empty() {
        return Err("an empty list populates nothing: remove it".into());
    }
    Ok(PopulateSpec::List(list))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn head(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

fn populatable(a: &Attribute) -> bool {
    matches!(
        a,
        Attribute::Relation { .. }
            | Attribute::Media { .. }
            | Attribute::Component { .. }
            | Attribute::DynamicZone { .. }
    )
}

/// Absent, or a bare reference instead of the related data.
fn unpopulated(value: Option<&Value>) -> bool {
    value.is_none_or(is_reference)
}

fn is_reference(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
        Value::Array(items) => items.iter().any(is_reference),
        Value::Object(m) => {
            m.is_empty()
                || m.keys().all(|k| k == "id" || k == "documentId")
                // the Content Manager's `{count: N}` of an unpopulated relation
                || (m.len() == 1 && m.contains_key("count"))
                || ["connect", "disconnect", "set"]
                    .iter()
                    .any(|k| m.contains_key(*k))
        }
    }
}

/// Flattens `value` into `qs`-style pairs under `key`, as Strapi's query parser reads them:
/// object members as `key[name]`, array items as `key[0]`, `key[1]`, …, scalars as their
/// text. `null`, `[]` and `{}` add nothing (as `qs.stringify` with `skipNulls`).
pub fn encode_qs(key: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push((key.to_string(), b.to_string())),
        Value::Number(n) => out.push((key.to_string(), n.to_string())),
        Value::String(s) => out.push((key.to_string(), s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                encode_qs(&format!("{key}[{i}]"), item, out);
            }
        }
        Value::Object(m) => {
            for (k, v) in m {
                encode_qs(&format!("{key}[{k}]"), v, out);
            }
        }
    }
}

/// `k=v&…`, form-encoded: brackets become `%5B`/`%5D` (which `qs` decodes), spaces `+`.
pub fn query_string(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A non-empty, non-blank setting.
fn set(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

fn parse_base(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("strapi.url: `{url}` is not a URL: {e}"))?;
    if parsed.scheme() != "http" || parsed.cannot_be_a_base() {
        return Err(format!(
            "strapi.url: `{url}`: only http:// URLs are supported (the HTTP client is built without TLS)"
        ));
    }
    Ok(parsed)
}

/// The populate of every listed content type, checked against the schemas (a uid the
/// schemas do not know is left to the builder to report).
fn targets(
    entries: Option<&[ContentTypeEntry]>,
    schemas: &Schemas,
) -> Result<HashMap<String, PopulateSpec>, Vec<String>> {
    let mut out = HashMap::new();
    let mut problems = Vec::new();
    for (i, entry) in entries.unwrap_or_default().iter().enumerate() {
        let ContentTypeEntry::Detailed(o) = entry else {
            continue;
        };
        let Some(value) = &o.populate else { continue };
        let checked = PopulateSpec::parse(value).and_then(|spec| {
            match schemas.content_type(&o.uid) {
                Some(ct) => spec.check(ct)?,
                None => return Ok(None),
            }
            Ok(Some(spec))
        });
        match checked {
            Ok(Some(spec)) => {
                out.insert(o.uid.clone(), spec);
            }
            Ok(None) => {}
            Err(e) => problems.push(format!("contentTypes[{i}].populate: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Checks the `strapi` section and every `populate` of a loaded config, reporting each
/// problem with its key path.
pub fn check(config: &Config, schemas: &Schemas) -> Result<(), Vec<String>> {
    let s = &config.strapi;
    let mut problems = Vec::new();
    if let Some(url) = set(&s.url)
        && let Err(e) = parse_base(url)
    {
        problems.push(e);
    }
    if let Some(token) = set(&s.token)
        && HeaderValue::from_str(&format!("Bearer {token}")).is_err()
    {
        problems.push(
            "strapi.token: holds characters an HTTP header cannot carry (STRAPI_IO_STRAPI_TOKEN)"
                .into(),
        );
    }
    if !(1..=MAX_TIMEOUT_MS).contains(&s.populate_timeout_ms) {
        problems.push(format!(
            "strapi.populateTimeoutMs: {} is not between 1 and {MAX_TIMEOUT_MS}",
            s.populate_timeout_ms
        ));
    }
    if !(1..=MAX_CONCURRENCY).contains(&s.populate_concurrency) {
        problems.push(format!(
            "strapi.populateConcurrency: {} is not between 1 and {MAX_CONCURRENCY}",
            s.populate_concurrency
        ));
    }
    if let Err(more) = targets(config.content_types.as_deref(), schemas) {
        problems.extend(more);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

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
pub struct PopulateCounters {
    /// Entries refetched from Strapi and sent populated.
    pub refetched: AtomicU64,
    /// Entries that already had what `populate` asks for.
    pub skipped: AtomicU64,
    /// Entries sent unpopulated: no `strapi.url`, no documentId, or Strapi failed.
    pub failed: AtomicU64,
    /// Relations to draft rows swapped for their published rows ([`crate::published`]).
    pub published_swapped: AtomicU64,
    /// Relations to draft rows kept: their document has no published version.
    pub published_kept: AtomicU64,
    /// Relations to draft rows kept because Strapi could not be read.
    pub published_failed: AtomicU64,
}

impl PopulateCounters {
    /// `{refetched, skipped, failed, publishedRelations: {swapped, kept, failed}}`.
    pub fn snapshot(&self) -> Value {
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

/// Populates the entries of content events from Strapi's REST API before they are emitted.
/// Cheap to clone (one shared HTTP client, slot pool and set of counters).
#[derive(Clone)]
pub struct Populator {
    inner: Arc<Inner>,
}

struct Inner {
    base: Option<Url>,
    token: Option<String>,
    client: reqwest::Client,
    slots: Semaphore,
    timeout: Duration,
    targets: HashMap<String, PopulateSpec>,
    counters: PopulateCounters,
    max_body: usize,
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

impl Populator {
    /// Builds the populator from the `strapi` section and the `contentTypes` entries; warns
    /// once when some type sets `populate` but `strapi.url` (or `strapi.token`) is missing.
    pub fn new(
        strapi: &StrapiConfig,
        content_types: Option<&[ContentTypeEntry]>,
        schemas: &Schemas,
    ) -> anyhow::Result<Self> {
        let targets = targets(content_types, schemas).map_err(|p| anyhow::anyhow!(p.join("\n")))?;
        let base = set(&strapi.url)
            .map(parse_base)
            .transpose()
            .map_err(|e| anyhow::anyhow!(e))?;
        let token = set(&strapi.token).map(str::to_string);
        let concurrency = strapi.populate_concurrency.clamp(1, MAX_CONCURRENCY);
        let timeout = Duration::from_millis(strapi.populate_timeout_ms.clamp(1, MAX_TIMEOUT_MS));
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
    pub fn counters(&self) -> &PopulateCounters {
        &self.inner.counters
    }

    /// Returns `options` with its entry populated when its content type sets `populate`,
    /// the event will go out, and the entry lacks what `populate` asks for; otherwise, or
    /// when the refetch fails (logged and counted), `options` unchanged. Never fails and
    /// waits at most `strapi.populateTimeoutMs`.
    pub async fn populate(&self, io: &Io, mut options: EmitOptions) -> EmitOptions {
        if self.inner.targets.is_empty() || options.event == "delete" || !options.data.is_object() {
            return options;
        }
        let Some(ct) = io.schemas().resolve(&options.schema) else {
            return options;
        };
        if !self.inner.targets.contains_key(&ct.uid) {
            return options;
        }
        let (on, only_published) = io.with_settings(|s| (s.enabled, s.events.only_published));
        if !on
            || !io.is_enabled(&ct.uid, &options.event)
            || (only_published
                && ct.draft_and_publish
                && options.data.as_object().is_some_and(is_draft))
        {
            return options;
        }
        let data = std::mem::take(&mut options.data);
        options.data = self.populate_entry(ct, &options.event, data).await;
        options
    }

    /// The entry of an `action` event, refetched when it lacks its populate; counted.
    async fn populate_entry(&self, ct: &ContentType, action: &str, data: Value) -> Value {
        let Some(spec) = self.inner.targets.get(&ct.uid) else {
            return data;
        };
        let Value::Object(entry) = data else {
            return data;
        };
        if !spec.lacks(ct, &entry) {
            self.count(Outcome::Skipped);
            return Value::Object(entry);
        }
        match self.refetch(ct, action, spec, &entry).await {
            Ok(fetched) => {
                self.count(Outcome::Refetched);
                Value::Object(merge(entry, fetched))
            }
            Err(reason) => {
                let document_id = entry
                    .get("documentId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if matches!(reason, Failure::NoUrl) {
                    // Warned once at start.
                    tracing::debug!(uid = %ct.uid, document_id, %reason, "populate skipped: the event goes out unpopulated");
                } else {
                    tracing::warn!(uid = %ct.uid, document_id, %reason, "populate failed: the event goes out unpopulated");
                }
                self.count(Outcome::Failed);
                Value::Object(entry)
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

    /// `GET {base}/api/{plural}/{documentId}?populate…&status=…&locale=…` → the answer's
    /// `data`, checked to be the same document. The status is the entry's (`publishedAt`
    /// null or absent: `draft`), except for `unpublish`, whose entry is the published row
    /// just removed: the draft is what is left.
    async fn refetch(
        &self,
        ct: &ContentType,
        action: &str,
        spec: &PopulateSpec,
        entry: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Failure> {
        let document_id = entry
            .get("documentId")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty());
        let mut pairs = spec.query_pairs();
        if ct.draft_and_publish {
            let status = if action == "unpublish" || is_draft(entry) {
                "draft"
            } else {
                "published"
            };
            pairs.push(("status".into(), status.into()));
        }
        if let Some(locale) = entry
            .get("locale")
            .and_then(Value::as_str)
            .filter(|l| !l.is_empty())
        {
            pairs.push(("locale".into(), locale.into()));
        }
        self.fetch_document(ct, document_id, &pairs).await
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
        let mut pairs = vec![("status".to_string(), "published".to_string())];
        if let Some(locale) = locale {
            pairs.push(("locale".into(), locale.into()));
        }
        self.fetch_document(ct, Some(document_id), &pairs).await
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
        data_of(&body)
    }
}

/// The `data` object of a Strapi 5 `findOne` answer.
fn data_of(body: &[u8]) -> Result<Map<String, Value>, Failure> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Err(Failure::Shape("not JSON"));
    };
    let Value::Object(mut top) = value else {
        return Err(Failure::Shape("not a JSON object"));
    };
    match top.remove("data") {
        Some(Value::Object(data)) => {
            if data.get("attributes").is_some_and(Value::is_object)
                && !data.contains_key("documentId")
            {
                return Err(Failure::Shape(
                    "in Strapi 4's {id, attributes} format, not Strapi 5's",
                ));
            }
            Ok(data)
        }
        _ => Err(Failure::Shape("without a `data` object")),
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

/// A draft, as the emit gate sees it: `publishedAt` absent or `null`.
fn is_draft(entry: &Map<String, Value>) -> bool {
    entry.get("publishedAt").is_none_or(Value::is_null)
}

/// The refetched entry, with the entry's own `id` and `documentId` (they address the event)
/// and every key of the entry that Strapi's answer does not have.
fn merge(entry: Map<String, Value>, mut fetched: Map<String, Value>) -> Map<String, Value> {
    for (key, value) in entry {
        if (key == "id" || key == "documentId") && !value.is_null() {
            fetched.insert(key, value);
        } else {
            fetched.entry(key).or_insert(value);
        }
    }
    fetched
}

#[cfg(test)]
mod tests {
    /// The snapshot of populate counters with no published-relation reads.
    fn populate_counts(refetched: usize, skipped: usize, failed: usize) -> Value {
        json!({
            "refetched": refetched, "skipped": skipped, "failed": failed,
            "publishedRelations": {"swapped": 0, "kept": 0, "failed": 0},
        })
    }

    use std::path::PathBuf;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use axum::http::{HeaderMap, StatusCode, Uri, header};
    use axum::response::{IntoResponse, Response};
    use serde_json::json;
    use strapi_io::IoBuilder;
    use strapi_io::core::Settings;

    use super::*;

    fn schemas() -> Schemas {
        crate::config::load(None, &|_| None).unwrap().schemas
    }

    fn article() -> ContentType {
        schemas()
            .content_type("api::article.article")
            .unwrap()
            .clone()
    }

    fn author() -> ContentType {
        schemas()
            .content_type("api::author.author")
            .unwrap()
            .clone()
    }

    fn entry(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn pairs(spec: &PopulateSpec) -> Vec<(String, String)> {
        spec.query_pairs()
    }

    fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // ---------------------------------------------------------------- qs encoding

    #[test]
    fn star_and_lists_encode_as_strapi_reads_them() {
        assert_eq!(pairs(&PopulateSpec::All), owned(&[("populate", "*")]));
        let list = PopulateSpec::parse(&json!(["author", "comments"])).unwrap();
        assert_eq!(
            pairs(&list),
            owned(&[("populate[0]", "author"), ("populate[1]", "comments")])
        );
        assert_eq!(
            query_string(&pairs(&list)),
            "populate%5B0%5D=author&populate%5B1%5D=comments"
        );
        assert_eq!(query_string(&pairs(&PopulateSpec::All)), "populate=*");
    }

    #[test]
    fn objects_encode_nested_with_brackets() {
        let spec = PopulateSpec::parse(&json!({
            "author": {"fields": ["name", "email"], "populate": {"avatar": true}},
            "comments": {"filters": {"text": {"$contains": "a b&c"}}, "limit": 5, "sort": null},
            "seo": {"fields": []},
        }))
        .unwrap();
        assert_eq!(
            pairs(&spec),
            owned(&[
                ("populate[author][fields][0]", "name"),
                ("populate[author][fields][1]", "email"),
                ("populate[author][populate][avatar]", "true"),
                ("populate[comments][filters][text][$contains]", "a b&c"),
                ("populate[comments][limit]", "5"),
            ])
        );
        let q = query_string(&pairs(&spec));
        assert!(
            q.contains("populate%5Bcomments%5D%5Bfilters%5D%5Btext%5D%5B%24contains%5D=a+b%26c"),
            "{q}"
        );
        assert!(
            q.starts_with("populate%5Bauthor%5D%5Bfields%5D%5B0%5D=name&"),
            "{q}"
        );
    }

    #[test]
    fn encoder_skips_nulls_and_empty_containers() {
        let mut out = Vec::new();
        encode_qs("p", &json!(null), &mut out);
        encode_qs("p", &json!([]), &mut out);
        encode_qs("p", &json!({}), &mut out);
        assert!(out.is_empty());
        encode_qs("p", &json!([[1, 2.5], {"x": false}]), &mut out);
        assert_eq!(
            out,
            owned(&[("p[0][0]", "1"), ("p[0][1]", "2.5"), ("p[1][x]", "false")])
        );
    }

    // ---------------------------------------------------------------- parsing, checking

    #[test]
    fn parse_accepts_the_three_forms() {
        assert_eq!(PopulateSpec::parse(&json!("*")).unwrap(), PopulateSpec::All);
        assert_eq!(
            PopulateSpec::parse(&json!(" author , comments,author")).unwrap(),
            PopulateSpec::List(vec!["author".into(), "comments".into()])
        );
        assert_eq!(
            PopulateSpec::parse(&json!(["author.avatar"])).unwrap(),
            PopulateSpec::List(vec!["author.avatar".into()])
        );
        assert!(matches!(
            PopulateSpec::parse(&json!({"author": true})).unwrap(),
            PopulateSpec::Object(_)
        ));
    }

    #[test]
    fn parse_refuses_what_populates_nothing_or_is_not_populate() {
        for (value, needle) in [
            (json!([]), "empty list"),
            (json!(""), "not an attribute name"),
            (json!("author,,comments"), "not an attribute name"),
            (json!(["author."]), "not an attribute name"),
            (json!(["*", "author"]), "must stand alone"),
            (json!([1]), "found a number"),
            (json!({}), "empty object"),
            (json!(true), "found a boolean"),
            (json!(3), "found a number"),
            (json!(null), "found null"),
        ] {
            let err = PopulateSpec::parse(&value).unwrap_err();
            assert!(err.contains(needle), "{value}: {err}");
        }
    }

    #[test]
    fn check_wants_public_relations_media_components_and_zones() {
        let a = article();
        for ok in [
            json!("*"),
            json!(["author", "comments", "seo"]),
            json!(["author.articles"]),
            json!({"author": {"fields": ["name"]}}),
        ] {
            PopulateSpec::parse(&ok).unwrap().check(&a).unwrap();
        }
        let err = PopulateSpec::parse(&json!(["autor"]))
            .unwrap()
            .check(&a)
            .unwrap_err();
        assert_eq!(err, "`autor` is not an attribute of api::article.article");
        let err = PopulateSpec::parse(&json!({"title": true}))
            .unwrap()
            .check(&a)
            .unwrap_err();
        assert!(err.contains("not a relation, media"), "{err}");
        let mut private = a.clone();
        private.attributes.insert(
            "owner".into(),
            Attribute::Relation {
                target: Some("api::author.author".into()),
                private: true,
            },
        );
        let err = PopulateSpec::parse(&json!(["owner"]))
            .unwrap()
            .check(&private)
            .unwrap_err();
        assert!(err.contains("is private"), "{err}");
    }

    fn base_config() -> Config {
        Config {
            content_types: Some(
                serde_json::from_value(json!([
                    {"uid": "api::article.article", "populate": ["author"]},
                    "api::comment.comment",
                ]))
                .unwrap(),
            ),
            ..Config::default()
        }
    }

    #[test]
    fn config_check_reports_every_problem_with_its_path() {
        let s = schemas();
        check(&base_config(), &s).unwrap();
        let mut c = base_config();
        c.strapi.url = Some("http://127.0.0.1:1337/".into());
        c.strapi.token = Some("t".into());
        check(&c, &s).unwrap();
        c.strapi.url = Some("https://strapi.example".into());
        c.strapi.token = Some("bad\ntoken".into());
        c.strapi.populate_timeout_ms = 0;
        c.strapi.populate_concurrency = MAX_CONCURRENCY + 1;
        c.content_types = Some(
            serde_json::from_value(json!([
                "api::comment.comment",
                {"uid": "api::article.article", "populate": ["title"]},
                {"uid": "api::author.author", "populate": 7},
                {"uid": "api::unknown.unknown", "populate": ["x"]},
            ]))
            .unwrap(),
        );
        let problems = check(&c, &s).unwrap_err();
        assert_eq!(problems.len(), 6, "{problems:#?}");
        for (i, start) in [
            "strapi.url: `https://strapi.example`: only http://",
            "strapi.token: ",
            "strapi.populateTimeoutMs: 0 ",
            "strapi.populateConcurrency: 1025 ",
            "contentTypes[1].populate: `title` of api::article.article is not a relation",
            "contentTypes[2].populate: expected",
        ]
        .iter()
        .enumerate()
        {
            assert!(problems[i].starts_with(start), "{}", problems[i]);
        }
        assert!(!problems.join(" ").contains("bad\ntoken"));
        c = base_config();
        c.strapi.url = Some("not a url".into());
        c.strapi.populate_timeout_ms = MAX_TIMEOUT_MS + 1;
        c.strapi.populate_concurrency = 0;
        let problems = check(&c, &s).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("strapi.url: `not a url` is not a URL"));
    }

    #[test]
    fn loading_a_config_file_checks_populate() {
        let dir = std::env::temp_dir().join(format!("strapi-io-populate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let project = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/blog");
        let file = dir.join("strapi-io.toml");
        let text = format!(
            "contentTypes = [{{ uid = \"api::article.article\", populate = [\"nope\"] }}]\n\
             [strapi]\nprojectDir = {:?}\nurl = \"ftp://x\"\n",
            project.display().to_string()
        );
        std::fs::write(&file, text).unwrap();
        let err = crate::config::load(Some(&file), &|_| None).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(err.problems.len(), 2, "{err}");
        assert!(
            err.problems[0].starts_with("strapi.url: `ftp://x`"),
            "{err}"
        );
        assert!(
            err.problems[1].starts_with("contentTypes[0].populate: `nope` is not an attribute"),
            "{err}"
        );
        let defaults = crate::config::load(None, &|_| None).unwrap().config.strapi;
        assert_eq!(defaults.populate_timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(defaults.populate_concurrency, DEFAULT_CONCURRENCY);
    }

    // ---------------------------------------------------------------- lacks

    #[test]
    fn a_list_lacks_absent_keys_and_bare_references() {
        let a = article();
        let spec = PopulateSpec::parse(&json!(["author", "comments"])).unwrap();
        let author = json!({"id": 1, "documentId": "a1", "name": "Ada"});
        let complete = |author: Value, comments: Value| {
            !spec.lacks(
                &a,
                &entry(json!({"id": 1, "author": author, "comments": comments})),
            )
        };
        assert!(complete(author.clone(), json!([])));
        assert!(complete(Value::Null, json!([{"id": 3, "text": "hi"}])));
        assert!(!complete(json!(1), json!([])), "a bare id");
        assert!(!complete(json!("a1"), json!([])), "a bare documentId");
        assert!(!complete(json!({"id": 1}), json!([])), "an {{id}} object");
        assert!(!complete(json!({"id": 1, "documentId": "a1"}), json!([])));
        assert!(!complete(json!({}), json!([])));
        assert!(
            !complete(json!({"connect": [1]}), json!([])),
            "a write shape"
        );
        assert!(!complete(json!({"set": []}), json!([])));
        assert!(
            !complete(json!({"count": 1}), json!([])),
            "the Content Manager's count"
        );
        assert!(!complete(author.clone(), json!([1, 2])), "ids in a list");
        assert!(!complete(
            author.clone(),
            json!([{"id": 3, "text": "x"}, 4])
        ));
        assert!(
            spec.lacks(&a, &entry(json!({"id": 1, "comments": []}))),
            "absent"
        );
        let dotted = PopulateSpec::parse(&json!(["author.articles"])).unwrap();
        assert!(
            dotted.lacks(&a, &entry(json!({"author": author}))),
            "depth unknown"
        );
    }

    #[test]
    fn star_lacks_any_public_relation_media_component_or_zone() {
        let a = article();
        let full = json!({"id": 1, "title": "t", "author": null, "comments": [], "seo": null});
        assert!(!PopulateSpec::All.lacks(&a, &entry(full.clone())));
        for key in ["author", "comments", "seo"] {
            let mut e = entry(full.clone());
            e.remove(key);
            assert!(PopulateSpec::All.lacks(&a, &e), "{key} absent");
        }
        let mut e = entry(full);
        e.insert("seo".into(), json!(4));
        assert!(PopulateSpec::All.lacks(&a, &e), "bare component id");
        // Scalars, private ones included, are not populate's business.
        let mut private = a.clone();
        private.attributes.insert(
            "owner".into(),
            Attribute::Relation {
                target: None,
                private: true,
            },
        );
        assert!(!PopulateSpec::All.lacks(
            &private,
            &entry(json!({"author": null, "comments": [], "seo": null}))
        ));
    }

    #[test]
    fn an_object_always_lacks() {
        let spec = PopulateSpec::parse(&json!({"author": {"fields": ["name"]}})).unwrap();
        assert!(spec.lacks(
            &article(),
            &entry(json!({"author": {"id": 1, "name": "Ada"}}))
        ));
    }

    // ---------------------------------------------------------------- against a fake Strapi

    /// What the fake Strapi saw.
    #[derive(Default)]
    struct Seen {
        requests: Mutex<Vec<(String, String, Option<String>)>>,
        in_flight: AtomicUsize,
        max_in_flight: AtomicUsize,
    }

    impl Seen {
        fn requests(&self) -> Vec<(String, String, Option<String>)> {
            self.requests.lock().unwrap().clone()
        }
    }

    fn found(document_id: &str, published: bool) -> Value {
        json!({"data": {
            "id": 2,
            "documentId": document_id,
            "title": "Hello Strapi",
            "publishedAt": if published { json!("2026-11-25T23:35:45.689Z") } else { Value::Null },
            "author": {"id": 1, "documentId": "xg9myu30sc547noh5y1v0prc", "name": "Ada Lovelace"},
            "comments": [],
            "seo": {"id": 2, "metaTitle": "Hello SEO"},
        }, "meta": {}})
    }

    async fn answer(seen: Arc<Seen>, uri: Uri, headers: HeaderMap) -> Response {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        seen.requests.lock().unwrap().push((
            uri.path().to_string(),
            uri.query().unwrap_or_default().to_string(),
            auth,
        ));
        let doc = uri
            .path()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let published = uri.query().is_some_and(|q| q.contains("status=published"));
        let json = |v: Value| (StatusCode::OK, axum::Json(v)).into_response();
        match doc.as_str() {
            "slow" => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                json(found(&doc, published))
            }
            d if d.starts_with("burst") => {
                let now = seen.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                seen.max_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                seen.in_flight.fetch_sub(1, Ordering::SeqCst);
                json(found(&doc, published))
            }
            "e500" => (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"data": null, "error": {"status": 500}})),
            )
                .into_response(),
            "redirect" => {
                (StatusCode::FOUND, [(header::LOCATION, "/api/articles/ok")]).into_response()
            }
            "notjson" => (StatusCode::OK, "<html>").into_response(),
            "list" => json(json!({"data": [], "meta": {}})),
            "nodata" => json(json!({"meta": {}})),
            "scalar" => json(json!([1, 2])),
            "v4" => json(json!({"data": {"id": 2, "attributes": {"title": "t"}}})),
            "other" => json(found("someone-else", published)),
            "big" => json(json!({"data": {"documentId": "big", "body": "x".repeat(4096)}})),
            _ => json(found(&doc, published)),
        }
    }

    async fn fake_strapi() -> (String, Arc<Seen>) {
        let seen = Arc::new(Seen::default());
        let s = seen.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let s = s.clone();
            async move { answer(s, uri, headers).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), seen)
    }

    fn populator(url: Option<&str>, timeout_ms: u64, concurrency: usize) -> Populator {
        let strapi = StrapiConfig {
            url: url.map(str::to_string),
            token: Some("strapi-secret".into()),
            populate_timeout_ms: timeout_ms,
            populate_concurrency: concurrency,
            ..StrapiConfig::default()
        };
        let entries: Vec<ContentTypeEntry> = serde_json::from_value(json!([
            {"uid": "api::article.article", "populate": ["author", "comments", "seo"]},
            {"uid": "api::author.author", "populate": "*"},
            "api::comment.comment",
        ]))
        .unwrap();
        Populator::new(&strapi, Some(&entries), &schemas()).unwrap()
    }

    fn counts(p: &Populator) -> Value {
        p.counters().snapshot()
    }

    #[tokio::test]
    async fn a_lacking_entry_is_refetched_with_populate_status_and_token() {
        let (url, seen) = fake_strapi().await;
        let p = populator(Some(&format!("{url}/")), 3_000, 4);
        let out = p
            .populate_entry(
                &article(),
                "create",
                json!({"id": 7, "documentId": "doc-1", "title": "Mine", "publishedAt": null,
                       "internalNotes": "kept for the sanitizer", "author": 1}),
            )
            .await;
        assert_eq!(out["id"], 7, "the entry's own id");
        assert_eq!(out["documentId"], "doc-1");
        assert_eq!(out["title"], "Hello Strapi", "Strapi's answer wins");
        assert_eq!(out["author"]["name"], "Ada Lovelace");
        assert_eq!(out["seo"]["metaTitle"], "Hello SEO");
        assert_eq!(out["internalNotes"], "kept for the sanitizer");
        assert_eq!(
            seen.requests(),
            vec![(
                "/api/articles/doc-1".to_string(),
                "populate%5B0%5D=author&populate%5B1%5D=comments&populate%5B2%5D=seo&status=draft"
                    .to_string(),
                Some("Bearer strapi-secret".to_string()),
            )]
        );
        p.populate_entry(&article(), "create",
            json!({"id": 8, "documentId": "doc-2", "publishedAt": "2026-01-01T00:00:00Z", "locale": "fr"}),
        )
        .await;
        let (_, query, _) = seen.requests().pop().unwrap();
        assert!(query.ends_with("&status=published&locale=fr"), "{query}");
        // An unpublish carries the published row just removed: the draft is what is left.
        p.populate_entry(
            &article(),
            "unpublish",
            json!({"id": 9, "documentId": "doc-3", "publishedAt": "2026-01-01T00:00:00Z"}),
        )
        .await;
        let (_, query, _) = seen.requests().pop().unwrap();
        assert!(query.ends_with("&status=draft"), "{query}");
        // Not draft-and-publish: no status.
        let out = p
            .populate_entry(
                &author(),
                "create",
                json!({"id": 1, "documentId": "au-1", "name": "Ada"}),
            )
            .await;
        assert_eq!(out["title"], "Hello Strapi");
        let (path, query, _) = seen.requests().pop().unwrap();
        assert_eq!(
            (path.as_str(), query.as_str()),
            ("/api/authors/au-1", "populate=*")
        );
        assert_eq!(counts(&p), populate_counts(4, 0, 0));
    }

    #[tokio::test]
    async fn a_complete_entry_is_not_refetched() {
        let (url, seen) = fake_strapi().await;
        let p = populator(Some(&url), 3_000, 4);
        let e = json!({"id": 7, "documentId": "doc-1", "author": {"id": 1, "name": "Ada"},
                       "comments": [], "seo": null});
        assert_eq!(p.populate_entry(&article(), "create", e.clone()).await, e);
        assert!(seen.requests().is_empty());
        // Even without a Strapi to ask.
        let offline = populator(None, 3_000, 4);
        assert_eq!(
            offline
                .populate_entry(&article(), "create", e.clone())
                .await,
            e
        );
        assert_eq!(counts(&p), populate_counts(0, 1, 0));
        assert_eq!(counts(&offline), populate_counts(0, 1, 0));
    }

    #[tokio::test]
    async fn every_failure_sends_the_entry_unpopulated_and_counts_it() {
        let (url, _seen) = fake_strapi().await;
        let mut p = populator(Some(&url), 300, 4);
        Arc::get_mut(&mut p.inner).unwrap().max_body = 1_000;
        let a = article();
        let spec = PopulateSpec::parse(&json!(["author"])).unwrap();
        type Expected = fn(&Failure) -> bool;
        let cases: Vec<(&str, Expected)> = vec![
            ("slow", |f| matches!(f, Failure::Timeout(300))),
            ("e500", |f| matches!(f, Failure::Status(500))),
            ("redirect", |f| matches!(f, Failure::Status(302))),
            ("notjson", |f| matches!(f, Failure::Shape("not JSON"))),
            ("scalar", |f| {
                matches!(f, Failure::Shape("not a JSON object"))
            }),
            ("list", |f| {
                matches!(f, Failure::Shape("without a `data` object"))
            }),
            ("nodata", |f| {
                matches!(f, Failure::Shape("without a `data` object"))
            }),
            (
                "v4",
                |f| matches!(f, Failure::Shape(s) if s.contains("Strapi 4")),
            ),
            (
                "other",
                |f| matches!(f, Failure::OtherDocument(d) if d == "someone-else"),
            ),
            ("big", |f| matches!(f, Failure::TooLarge(1_000))),
        ];
        for (doc, expected) in &cases {
            let e = json!({"id": 1, "documentId": doc, "title": "Mine"});
            let failure = p
                .refetch(&a, "create", &spec, &entry(e.clone()))
                .await
                .unwrap_err();
            assert!(expected(&failure), "{doc}: {failure}");
            assert_eq!(p.populate_entry(&a, "create", e.clone()).await, e, "{doc}");
        }
        let no_id = json!({"id": 1, "title": "Mine"});
        assert!(matches!(
            p.refetch(&a, "create", &spec, &entry(no_id.clone())).await,
            Err(Failure::NoDocumentId)
        ));
        assert_eq!(p.populate_entry(&a, "create", no_id.clone()).await, no_id);
        let offline = populator(None, 300, 4);
        assert!(matches!(
            offline
                .refetch(&a, "create", &spec, &entry(json!({"documentId": "d"})))
                .await,
            Err(Failure::NoUrl)
        ));
        assert_eq!(
            offline
                .populate_entry(&a, "create", json!({"documentId": "d"}))
                .await,
            json!({"documentId": "d"})
        );
        assert_eq!(counts(&p), populate_counts(0, 0, cases.len() + 1));
        assert_eq!(counts(&offline)["failed"], 1);
    }

    #[tokio::test]
    async fn a_strapi_that_is_down_is_a_failure_naming_the_cause() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let p = populator(Some(&format!("http://user:pw@127.0.0.1:{port}")), 2_000, 4);
        let spec = PopulateSpec::parse(&json!(["author"])).unwrap();
        let failure = p
            .refetch(
                &article(),
                "create",
                &spec,
                &entry(json!({"documentId": "d"})),
            )
            .await
            .unwrap_err();
        let text = failure.to_string();
        assert!(matches!(failure, Failure::Unreachable(_)), "{text}");
        assert!(!text.contains("pw"), "no credentials in the reason: {text}");
        let e = json!({"documentId": "d", "title": "x"});
        assert_eq!(p.populate_entry(&article(), "create", e.clone()).await, e);
        assert_eq!(counts(&p)["failed"], 1);
    }

    #[tokio::test]
    async fn single_types_and_path_prefixes() {
        let (url, seen) = fake_strapi().await;
        let mut p = populator(Some(&format!("{url}/cms")), 3_000, 4);
        let home = ContentType::parse(
            "api::homepage.homepage",
            "test",
            r#"{"kind": "singleType", "info": {"singularName": "homepage", "pluralName": "homepages"},
                "attributes": {"hero": {"type": "media"}}}"#,
        )
        .unwrap();
        Arc::get_mut(&mut p.inner)
            .unwrap()
            .targets
            .insert(home.uid.clone(), PopulateSpec::All);
        let out = p.populate_entry(&home, "create", json!({"id": 1})).await;
        assert_eq!(out["id"], 1);
        let (path, query, _) = seen.requests().pop().unwrap();
        assert_eq!(
            (path.as_str(), query.as_str()),
            ("/cms/api/homepage", "populate=*")
        );
        // A documentId with URL syntax stays one path segment.
        p.populate_entry(&article(), "create", json!({"documentId": "a/b?c"}))
            .await;
        let (path, _, _) = seen.requests().pop().unwrap();
        assert_eq!(path, "/cms/api/articles/a%2Fb%3Fc");
    }

    #[tokio::test]
    async fn no_more_than_the_concurrency_bound_in_flight() {
        let (url, seen) = fake_strapi().await;
        let p = populator(Some(&url), 5_000, 2);
        let a = article();
        let runs = (0..6).map(|i| {
            p.populate_entry(
                &a,
                "create",
                json!({"id": i, "documentId": format!("burst-{i}")}),
            )
        });
        let outs = futures_join(runs).await;
        assert!(outs.iter().all(|o| o["author"]["name"] == "Ada Lovelace"));
        assert_eq!(seen.max_in_flight.load(Ordering::SeqCst), 2);
        assert_eq!(counts(&p)["refetched"], 6);
    }

    /// Runs futures concurrently on this task (no extra dependency).
    async fn futures_join<F: std::future::Future<Output = Value>>(
        futures: impl Iterator<Item = F>,
    ) -> Vec<Value> {
        let mut set = Vec::new();
        for f in futures {
            set.push(Box::pin(f));
        }
        let mut out = vec![Value::Null; set.len()];
        let mut done = vec![false; set.len()];
        std::future::poll_fn(|cx| {
            for (i, f) in set.iter_mut().enumerate() {
                if !done[i]
                    && let std::task::Poll::Ready(v) = f.as_mut().poll(cx)
                {
                    out[i] = v;
                    done[i] = true;
                }
            }
            if done.iter().all(|d| *d) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        out
    }

    #[tokio::test]
    async fn populate_leaves_alone_the_events_that_will_not_go_out() {
        let (url, seen) = fake_strapi().await;
        let p = populator(Some(&url), 3_000, 4);
        let build = |settings: Settings| {
            let entries: Vec<ContentTypeEntry> = serde_json::from_value(json!([
                {"uid": "api::article.article", "populate": ["author"]},
                "api::comment.comment",
            ]))
            .unwrap();
            IoBuilder::new(schemas())
                .settings(settings)
                .content_types(entries)
                .build()
                .unwrap()
                .1
        };
        let io = build(Settings::default());
        let lacking = json!({"id": 1, "documentId": "doc-1", "publishedAt": null});
        for (event, schema, data) in [
            ("delete", json!("api::article.article"), lacking.clone()),
            ("publish", json!("api::article.article"), lacking.clone()),
            ("create", json!("api::nope.nope"), lacking.clone()),
            ("create", json!("api::comment.comment"), lacking.clone()),
            ("create", json!("api::article.article"), json!(null)),
            ("create", json!("api::article.article"), json!([1])),
        ] {
            let o = EmitOptions {
                meta: Default::default(),
                event: event.into(),
                schema: schema.clone(),
                data: data.clone(),
            };
            let out = p.populate(&io, o).await;
            assert_eq!(
                (out.event.as_str(), &out.schema, &out.data),
                (event, &schema, &data)
            );
        }
        let off = Settings {
            enabled: false,
            ..Settings::default()
        };
        let mut only_published = Settings::default();
        only_published.events.only_published = true;
        for io in [build(off), build(only_published)] {
            let o = EmitOptions::new("create", "api::article.article", lacking.clone());
            assert_eq!(p.populate(&io, o).await.data, lacking);
        }
        assert!(seen.requests().is_empty());
        assert_eq!(counts(&p), populate_counts(0, 0, 0));
        // The same entry on a live event, by uid or by schema object.
        let o = EmitOptions {
            meta: Default::default(),
            event: "update".into(),
            schema: json!({"singularName": "article"}),
            data: lacking.clone(),
        };
        let out = p.populate(&io, o).await;
        assert_eq!(out.data["author"]["name"], "Ada Lovelace");
        assert_eq!(seen.requests().len(), 1);
        assert_eq!(counts(&p)["refetched"], 1);
    }

    #[test]
    fn debug_hides_the_token() {
        let p = populator(Some("http://127.0.0.1:1"), 3_000, 4);
        let text = format!("{p:?}");
        assert!(
            !text.contains("strapi-secret") && text.contains("***"),
            "{text}"
        );
    }
}
