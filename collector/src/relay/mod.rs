//! The relay: one task per pixel with an access token sends its pending events to
//! `{graph-url}/{graph-version}/{pixel}/events` in batches of up to 1,000.
//!
//! ```text
//!            ┌──────── idle: wait for a commit or --relay-interval-ms ────────┐
//!            v                                                                │
//!   expire (> 7 days) ─> read ≤ batch pending ─> POST ─┬─ 2xx ─> mark sent ───┘ (next batch at once)
//!                                                      ├─ 400 ─> split in halves, send each; a lone
//!                                                      │         bad event is marked failed
//!                                                      ├─ token / app secret / pixel refused
//!                                                      │  (misconfigured) ─> keep pending, wait
//!                                                      │                     --retry-max-ms
//!                                                      └─ 5xx / 429 / timeout / connection error
//!                                                           ─> keep pending, wait Retry-After or
//!                                                              exponential backoff with jitter
//! ```
//!
//! **Breaker.** Bisection assumes a 400 is about one event. A refusal of the request itself that
//! `capi::classify` does not recognise would otherwise mark every event of the batch failed, one
//! by one. So, until Meta has accepted some request of the round (which proves the token, app
//! secret and pixel work), a single event refused with the very refusal of the whole batch (same
//! code, subcode and message) is only a suspect: it stays pending. A second such suspect opens the
//! breaker: the refusal is taken as request-level, nothing is marked failed, and the round retries
//! after `--retry-max-ms`, with the suspects moved to the end of the next batch so that a few
//! genuinely bad events at the head of the queue cannot hold the rest back. An acceptance later in
//! the round turns the suspects into failures (their refusal was their own). A batch of a single
//! event has nothing to compare with and fails as before.
//!
//! An event is marked sent only after a 2xx for a request carrying it. A crash between Meta's
//! 2xx and the mark, or a timeout after Meta processed the request, can send it twice; Meta
//! deduplicates that copy by `event_name` + `event_id`, which an event with a derived ID is sent
//! without (see `capi::event_json`): such a copy may be counted twice. Pending rows
//! survive restarts, so a new process resumes where the old one stopped. On shutdown a task
//! finishes the request in flight, records its outcome and stops.

pub mod capi;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::store::{Store, StoreError, StoredEvent};
use crate::AppState;
use capi::Verdict;

/// Meta accepts events at most this old.
pub const MAX_EVENT_AGE_SECS: i64 = 7 * 24 * 3600;
/// `Retry-After` is honoured up to this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Single events refused exactly like their whole batch, before any acceptance in the round, that
/// open the breaker (see the module documentation).
const BREAKER_SUSPECTS: usize = 2;

/// Start one relay task per pixel that has an access token.
pub fn spawn(
    state: &AppState,
    shutdown: watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, String> {
    let config = &state.config;
    let silent: Vec<&str> = config
        .pixels
        .iter()
        .filter(|p| p.token.is_none())
        .map(|p| p.id.as_str())
        .collect();
    if !silent.is_empty() {
        tracing::warn!(
            pixels = %silent.join(","),
            "no access token configured for these pixels: their events are stored and shown but not relayed"
        );
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(config.relay_timeout_ms))
        .connect_timeout(Duration::from_millis(config.relay_timeout_ms.min(10_000)))
        .user_agent(concat!("collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut tasks = Vec::new();
    for pixel in &config.pixels {
        let Some(token) = &pixel.token else { continue };
        let mut url = format!(
            "{}/{}/{}/events?access_token=",
            config.graph_url, config.graph_version, pixel.id
        );
        pixel_core::wire::encode_uri_component(token, &mut url);
        if let Some(secret) = &config.app_secret {
            url.push_str("&appsecret_proof=");
            url.push_str(&capi::appsecret_proof(secret, token));
        }
        tracing::info!(pixel = %pixel.id, graph = %config.graph_url, version = %config.graph_version, "relaying to the Conversions API");
        let worker = PixelRelay {
            state: state.clone(),
            client: client.clone(),
            pixel_id: pixel.id.clone(),
            url,
            held: HashSet::new(),
        };
        tasks.push(tokio::spawn(worker.run(shutdown.clone())));
    }
    Ok(tasks)
}

/// What one round did.
enum Round {
    /// Nothing pending.
    Idle,
    /// A batch went through (sent or failed for good): look again at once.
    Progress,
    /// Wait, then try again.
    Retry(Option<Duration>),
}

struct PixelRelay {
    state: AppState,
    client: reqwest::Client,
    pixel_id: String,
    /// Full URL with the access token: never logged.
    url: String,
    /// Events the breaker left pending: the next rounds send them after the rest of their batch.
    held: HashSet<i64>,
}

async fn blocking<T, F>(store: &Arc<dyn Store>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| StoreError(format!("store task: {e}")))?
}

/// Exponential backoff with jitter: `base · 2^(failures-1)`, times a factor in [0.5, 1.5), capped.
pub fn backoff(failures: u32, base_ms: u64, max_ms: u64) -> Duration {
    let exp = base_ms.saturating_mul(1u64 << failures.saturating_sub(1).min(30));
    let jittered = (exp.min(max_ms) as f64 * (0.5 + fastrand::f64())) as u64;
    Duration::from_millis(jittered.clamp(1, max_ms))
}

impl PixelRelay {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let state = self.state.clone();
        let config = &state.config;
        let mut commits = self.state.commits.clone();
        let mut failures: u32 = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Seen before reading: a commit during the round wakes the next wait at once.
            commits.borrow_and_update();
            let (delay, wake_on_commit) = match self.round(&shutdown).await {
                Ok(Round::Progress) => {
                    failures = 0;
                    continue;
                }
                Ok(Round::Idle) => {
                    failures = 0;
                    (Duration::from_millis(config.relay_interval_ms), true)
                }
                Ok(Round::Retry(after)) => {
                    failures = failures.saturating_add(1);
                    let d = after.map(|a| a.min(MAX_RETRY_AFTER)).unwrap_or_else(|| {
                        backoff(failures, config.retry_base_ms, config.retry_max_ms)
                    });
                    tracing::debug!(pixel = %self.pixel_id, delay_ms = d.as_millis() as u64, failures, "relay retry scheduled");
                    (d, false)
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::error!(pixel = %self.pixel_id, error = %e, "relay could not read or update the store");
                    (
                        backoff(failures, config.retry_base_ms, config.retry_max_ms),
                        false,
                    )
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
                Ok(()) = commits.changed(), if wake_on_commit => {}
            }
        }
        tracing::info!(pixel = %self.pixel_id, "relay stopped");
    }

    async fn round(&mut self, shutdown: &watch::Receiver<bool>) -> Result<Round, StoreError> {
        let store = &self.state.store;
        let metrics = &self.state.metrics;
        let cutoff = crate::now_ms() / 1000 - MAX_EVENT_AGE_SECS;
        let pixel = self.pixel_id.clone();
        let expired = blocking(store, move |s| s.expire(&pixel, cutoff)).await?;
        if expired > 0 {
            Metrics::add(&metrics.expired, expired);
            tracing::warn!(pixel = %self.pixel_id, expired, "events older than 7 days marked expired, not sent");
        }
        let pixel = self.pixel_id.clone();
        let limit = usize::try_from(self.state.config.relay_batch).unwrap_or(1000);
        let mut batch = blocking(store, move |s| s.pending(&pixel, limit)).await?;
        if batch.is_empty() {
            return Ok(Round::Idle);
        }
        // An old event stored between the expiry and the read is left for the next round's expiry.
        let read = batch.len();
        batch.retain(|e| e.event.event_time >= cutoff);
        if batch.is_empty() {
            return Ok(if read > 0 {
                Round::Progress
            } else {
                Round::Idle
            });
        }
        if !self.held.is_empty() {
            let in_batch: HashSet<i64> = batch.iter().map(|e| e.id).collect();
            self.held.retain(|id| in_batch.contains(id));
            let held = &self.held;
            batch.sort_by_key(|e| held.contains(&e.id));
        }
        // Depth-first bisection: a 400 splits a chunk in halves until the bad event stands alone.
        let mut stack: Vec<&[StoredEvent]> = vec![&batch];
        let mut first = true;
        // The whole batch's refusal: (code, subcode, message).
        let mut batch_refusal: Option<(i64, i64, String)> = None;
        // Meta accepted a request this round: the configuration works.
        let mut accepted_any = false;
        // Single events refused like the whole batch before any acceptance, with the message.
        let mut suspects: Vec<(&StoredEvent, String)> = Vec::new();
        while let Some(chunk) = stack.pop() {
            let whole = std::mem::replace(&mut first, false);
            let verdict = self.send(chunk).await;
            match verdict {
                Verdict::Accepted => {
                    let ids: Vec<i64> = chunk.iter().map(|e| e.id).collect();
                    let now = crate::now_ms();
                    blocking(store, move |s| s.mark_sent(&ids, now)).await?;
                    Metrics::add(&metrics.relayed, chunk.len() as u64);
                    accepted_any = true;
                    // The suspects were refused for themselves after all.
                    for (one, message) in suspects.drain(..) {
                        self.fail(one, message).await?;
                    }
                }
                Verdict::Rejected {
                    message,
                    code,
                    subcode,
                } => {
                    metrics.relay_failure("bad_request");
                    let refusal = (code, subcode, message);
                    if whole {
                        batch_refusal = Some(refusal.clone());
                    }
                    match chunk {
                        [one]
                            if !whole
                                && !accepted_any
                                && batch_refusal.as_ref() == Some(&refusal) =>
                        {
                            suspects.push((one, refusal.2));
                            if suspects.len() >= BREAKER_SUSPECTS {
                                return self
                                    .open_breaker(&suspects, &stack, &refusal_of(&batch_refusal))
                                    .await;
                            }
                        }
                        [one] => self.fail(one, refusal.2).await?,
                        _ => {
                            let (a, b) = chunk.split_at(chunk.len() / 2);
                            stack.push(b);
                            stack.push(a);
                        }
                    }
                }
                Verdict::Retry {
                    kind,
                    after,
                    detail,
                } => {
                    metrics.relay_failure(kind);
                    tracing::warn!(pixel = %self.pixel_id, kind, %detail, events = chunk.len(), "relay request failed; will retry");
                    self.note_attempt(unresolved(chunk, &stack, &suspects), detail)
                        .await?;
                    return Ok(Round::Retry(after));
                }
                Verdict::Misconfigured { detail } => {
                    metrics.relay_failure("misconfigured");
                    tracing::error!(pixel = %self.pixel_id, %detail, events = chunk.len(), "the Conversions API refused the request itself: check the access token, --app-secret and that the token can reach this pixel; events stay pending, will retry");
                    self.note_attempt(unresolved(chunk, &stack, &suspects), detail)
                        .await?;
                    return Ok(Round::Retry(Some(Duration::from_millis(
                        self.state.config.retry_max_ms,
                    ))));
                }
            }
            if *shutdown.borrow() && !stack.is_empty() {
                return Ok(Round::Retry(None));
            }
        }
        if !suspects.is_empty() {
            // Every request of the round was refused: no evidence that the refusal is the
            // suspects' own.
            return self
                .open_breaker(&suspects, &stack, &refusal_of(&batch_refusal))
                .await;
        }
        Ok(Round::Progress)
    }

    /// Meta refused this event for itself: `failed` for good.
    async fn fail(&self, one: &StoredEvent, message: String) -> Result<(), StoreError> {
        tracing::warn!(pixel = %self.pixel_id, event_id = %one.event.event_id, event = %one.event.event_name, %message, "the Conversions API refused an event; marked failed");
        let (id, now) = (one.id, crate::now_ms());
        blocking(&self.state.store, move |s| s.mark_failed(id, &message, now)).await?;
        Metrics::inc(&self.state.metrics.relay_failed_events);
        Ok(())
    }

    /// Single events were refused exactly like their whole batch and Meta accepted nothing: take
    /// the refusal as one of the request, keep every unresolved event pending, retry later.
    async fn open_breaker(
        &mut self,
        suspects: &[(&StoredEvent, String)],
        rest: &[&[StoredEvent]],
        refusal: &str,
    ) -> Result<Round, StoreError> {
        self.state.metrics.relay_failure("request_rejected");
        tracing::error!(pixel = %self.pixel_id, refusal, suspects = suspects.len(), "the Conversions API refused single events exactly as it refused their whole batch, and accepted no request: taken as a refusal of the request (configuration?), not of the events; nothing marked failed, will retry");
        self.held.extend(suspects.iter().map(|(e, _)| e.id));
        let detail = format!("refused like the whole request, kept pending: {refusal}");
        self.note_attempt(unresolved(&[], rest, suspects), detail)
            .await?;
        Ok(Round::Retry(Some(Duration::from_millis(
            self.state.config.retry_max_ms,
        ))))
    }

    async fn note_attempt(&self, ids: Vec<i64>, detail: String) -> Result<(), StoreError> {
        blocking(&self.state.store, move |s| s.record_attempt(&ids, &detail)).await
    }

    async fn send(&self, events: &[StoredEvent]) -> Verdict {
        let body = capi::request_body(events, self.state.config.test_event_code.as_deref());
        let sent = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => return network_verdict(e),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| capi::parse_retry_after(v, SystemTime::now()));
        match resp.bytes().await {
            Ok(body) => capi::classify(status, retry_after, &body),
            Err(e) => network_verdict(e),
        }
    }
}

/// The events still undecided: the chunk in hand, the chunks left and the suspects.
fn unresolved(
    chunk: &[StoredEvent],
    rest: &[&[StoredEvent]],
    suspects: &[(&StoredEvent, String)],
) -> Vec<i64> {
    chunk
        .iter()
        .chain(rest.iter().flat_map(|c| c.iter()))
        .chain(suspects.iter().map(|(e, _)| *e))
        .map(|e| e.id)
        .collect()
}

/// `code 100, subcode 33: message` of a refusal, for logs and `relay_error`.
fn refusal_of(refusal: &Option<(i64, i64, String)>) -> String {
    match refusal {
        Some((code, subcode, message)) => format!("code {code}, subcode {subcode}: {message}"),
        None => String::new(),
    }
}

fn network_verdict(e: reqwest::Error) -> Verdict {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "network"
    };
    // The URL carries the access token: never let it into a message.
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Verdict::Retry {
        kind,
        after: None,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use std::time::Duration;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for _ in 0..100 {
            let first = backoff(1, 100, 10_000);
            assert!(
                first >= Duration::from_millis(50) && first < Duration::from_millis(150),
                "{first:?}"
            );
            let fourth = backoff(4, 100, 10_000);
            assert!(
                fourth >= Duration::from_millis(400) && fourth < Duration::from_millis(1200),
                "{fourth:?}"
            );
            assert!(backoff(40, 100, 10_000) <= Duration::from_millis(10_000));
        }
    }
}
