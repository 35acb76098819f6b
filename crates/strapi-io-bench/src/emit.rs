//! The event source: `POST <emit target>/api/io/emit` with the admin token (one node of a
//! cluster: the others get the events through Redis), at a fixed rate or as
//! fast as `--concurrency` requests in flight allow, each event stamped with its `benchSeq`
//! and `benchSentAt` (µs since epoch, just before the request is sent). Owns the request
//! bodies, the pacing, the duplicate-send testing aid, and the rule that keeps emit order
//! well defined: an event is not sent while the previous event of the same entity is still
//! in flight (with `--concurrency 1`, requests are fully serialized).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use tokio::sync::{Notify, Semaphore};

use crate::config::RunConfig;
use crate::fleet::{ErrorCount, note_error};
use crate::hist;
use crate::scenario::Scenario;
use crate::sys::now_us;
use crate::tracker::EmitSummary;

/// How long one emit request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What the emitter did.
#[derive(Debug)]
pub struct EmitResult {
    /// Which seqs were emitted successfully.
    pub summary: EmitSummary,
    /// HTTP requests sent (duplicates included).
    pub requests: u64,
    /// Events sent a second time (`--duplicate-every`).
    pub duplicate_sends: u64,
    /// Failed requests by message.
    pub errors: Vec<ErrorCount>,
    /// First request, µs since epoch.
    pub start_us: u64,
    /// Last response, µs since epoch.
    pub end_us: u64,
    /// Time from the first request to the last response.
    pub elapsed: Duration,
    /// Request round trips, µs.
    pub rpc: Histogram<u64>,
}

/// The text of an event's body: `n` bytes of words, JSON-safe.
pub fn payload_text(n: usize) -> String {
    const WORDS: &str =
        "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ";
    WORDS.chars().cycle().take(n).collect()
}

/// The JSON body of event `seq` for the scenario. `benchSeq` and `benchSentAt` come first so
/// receivers find them without scanning the text (servers that sort keys put them first too).
pub fn body(scenario: Scenario, seq: u64, sent_at_us: u64, entities: u32, text: &str) -> String {
    let id = seq % entities as u64 + 1;
    match scenario {
        Scenario::Entity => format!(
            r#"{{"event":"update","schema":"api::comment.comment","data":{{"benchSeq":{seq},"benchSentAt":{sent_at_us},"id":{id},"documentId":"bench-{id}","text":"{text}"}}}}"#
        ),
        _ => format!(
            r#"{{"event":"update","schema":"api::article.article","data":{{"benchSeq":{seq},"benchSentAt":{sent_at_us},"id":{id},"documentId":"bench-{id}","title":"Bench article {id}","body":"{text}"}}}}"#
        ),
    }
}

/// Whether event `seq` is sent twice.
pub fn is_duplicated(seq: u64, every: u64) -> bool {
    every > 0 && (seq + 1).is_multiple_of(every)
}

struct State {
    done: Vec<AtomicU64>,
    notify: Notify,
    failed: Mutex<Vec<u64>>,
    errors: Mutex<Vec<ErrorCount>>,
    rpc: Mutex<Histogram<u64>>,
    requests: AtomicU64,
    end_us: AtomicU64,
}

impl State {
    fn is_done(&self, seq: u64) -> bool {
        self.done[(seq / 64) as usize].load(Ordering::Acquire) & (1 << (seq % 64)) != 0
    }

    fn mark_done(&self, seq: u64) {
        self.done[(seq / 64) as usize].fetch_or(1 << (seq % 64), Ordering::Release);
        self.notify.notify_waiters();
    }
}

/// Drives the run's events; returns when all were answered or `--duration` cut the rest.
pub async fn emit(cfg: &RunConfig) -> anyhow::Result<EmitResult> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(cfg.concurrency)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("HTTP client")?;
    let url = format!("{}/api/io/emit", cfg.emit_target().base_url());
    let auth = format!("Bearer {}", cfg.admin_token);
    let text: Arc<str> = Arc::from(payload_text(cfg.payload_bytes));
    let state = Arc::new(State {
        done: (0..cfg.events.div_ceil(64))
            .map(|_| AtomicU64::new(0))
            .collect(),
        notify: Notify::new(),
        failed: Mutex::new(Vec::new()),
        errors: Mutex::new(Vec::new()),
        rpc: Mutex::new(hist::new_histogram()),
        requests: AtomicU64::new(0),
        end_us: AtomicU64::new(0),
    });
    let slots = Arc::new(Semaphore::new(cfg.concurrency));
    let modulus = cfg.entities as u64;
    let start = Instant::now();
    let start_us = now_us();
    let cap = tokio::time::Instant::from_std(start + cfg.duration);
    let mut dispatched = 0;
    let mut duplicate_sends = 0;
    'events: for seq in 0..cfg.events {
        if cfg.rate > 0.0 {
            let at = start + Duration::from_secs_f64(seq as f64 / cfg.rate);
            let at = tokio::time::Instant::from_std(at);
            if at >= cap {
                break;
            }
            tokio::time::sleep_until(at).await;
        }
        if tokio::time::Instant::now() >= cap {
            break;
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore open"),
            _ = tokio::time::sleep_until(cap) => break,
        };
        // Keep per-entity order: the previous event of this entity must be answered.
        if seq >= modulus {
            loop {
                let notified = state.notify.notified();
                if state.is_done(seq - modulus) {
                    break;
                }
                tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep_until(cap) => break 'events,
                }
            }
        }
        dispatched = seq + 1;
        let twice = is_duplicated(seq, cfg.duplicate_every);
        duplicate_sends += twice as u64;
        let (client, url, auth, text, state) = (
            client.clone(),
            url.clone(),
            auth.clone(),
            text.clone(),
            state.clone(),
        );
        let (scenario, entities) = (cfg.scenario, cfg.entities);
        tokio::spawn(async move {
            let b = body(scenario, seq, now_us(), entities, &text);
            let mut ok = true;
            for _ in 0..(1 + twice as u8) {
                if let Err(e) = post(&client, &url, &auth, b.clone(), &state).await {
                    ok = false;
                    note_error(
                        &mut state.errors.lock().unwrap_or_else(|p| p.into_inner()),
                        &e,
                        1,
                    );
                }
            }
            if !ok {
                state
                    .failed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(seq);
            }
            state.end_us.fetch_max(now_us(), Ordering::Relaxed);
            state.mark_done(seq);
            drop(permit);
        });
    }
    // Wait for the requests in flight (each bounded by REQUEST_TIMEOUT).
    let _all = slots
        .acquire_many(cfg.concurrency as u32)
        .await
        .expect("semaphore open");
    let elapsed = start.elapsed();
    let mut failed = std::mem::take(&mut *state.failed.lock().unwrap_or_else(|p| p.into_inner()));
    failed.sort_unstable();
    let errors = std::mem::take(&mut *state.errors.lock().unwrap_or_else(|p| p.into_inner()));
    let rpc = state.rpc.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(EmitResult {
        summary: EmitSummary {
            planned: cfg.events,
            dispatched,
            failed,
            entities: modulus,
        },
        requests: state.requests.load(Ordering::Relaxed),
        duplicate_sends,
        errors,
        start_us,
        end_us: state.end_us.load(Ordering::Relaxed).max(start_us),
        elapsed,
        rpc,
    })
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    auth: &str,
    body: String,
    state: &State,
) -> Result<(), String> {
    let t = Instant::now();
    state.requests.fetch_add(1, Ordering::Relaxed);
    let res = client
        .post(url)
        .header("Authorization", auth)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await;
    let result = match res {
        Ok(r) if r.status().is_success() => {
            // Read the (small) answer so the connection goes back to the pool.
            let _ = r.bytes().await;
            Ok(())
        }
        Ok(r) => {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            let text: String = text.chars().take(200).collect();
            Err(format!("emit: HTTP {status}: {text}"))
        }
        Err(e) if e.is_timeout() => Err("emit: request timed out".to_string()),
        Err(e) => Err(format!("emit: {e}")),
    };
    hist::record(
        &mut state.rpc.lock().unwrap_or_else(|p| p.into_inner()),
        t.elapsed().as_micros() as u64,
    );
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_with_the_bench_fields_first() {
        let text = payload_text(50);
        assert_eq!(text.len(), 50);
        let b = body(Scenario::Fanout, 1234, 99, 1000, &text);
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["schema"], "api::article.article");
        assert_eq!(v["data"]["id"], 235);
        assert_eq!(v["data"]["documentId"], "bench-235");
        assert_eq!(v["data"]["benchSeq"], 1234);
        assert_eq!(v["data"]["benchSentAt"], 99);
        assert_eq!(v["data"]["body"], text.as_str());
        assert!(b.find("benchSeq").unwrap() < b.find("body").unwrap());
        let b = body(Scenario::Entity, 31, 5, 30, "x");
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["schema"], "api::comment.comment");
        assert_eq!(v["data"]["id"], 2);
        assert_eq!(v["data"]["text"], "x");
    }

    #[test]
    fn duplicates_every_dth_event() {
        let n = (0..50).filter(|s| is_duplicated(*s, 10)).count();
        assert_eq!(n, 5);
        assert!(!is_duplicated(3, 0));
    }
}
