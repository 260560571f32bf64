//! The relay: one task per pixel with an access token sends its pending events to
//! `{graph-url}/{graph-version}/{pixel}/events` in batches of up to 1,000, and one task expires
//! pending events older than 7 days, once a minute.
//!
//! ```text
//!            ┌──────── idle: wait for a commit or --relay-interval-ms ─────────┐
//!            v                                                                 │
//!   read ≤ batch pending, not held ─> POST ─┬─ 2xx ─> mark sent ───────────────┘ (next batch at once)
//!   (too old: expired on the spot)          ├─ 400 ─> split in halves, send each; a lone bad
//!                                           │         event is marked failed (breaker: plan.rs)
//!                                           ├─ 3xx ─> never followed: keep pending, wait
//!                                           │         --retry-max-ms, log where it pointed
//!                                           ├─ token / app secret / pixel refused
//!                                           │  (misconfigured) ─> keep pending, wait --retry-max-ms
//!                                           └─ 5xx / 429 / timeout / connection error
//!                                                ─> keep pending, wait the backoff (or a longer
//!                                                   Retry-After)
//! ```
//!
//! Every decision (bisection, breaker, holds, delays) is made by [`plan`], which sees only event
//! ids and verdicts; this module reads and writes the store, speaks HTTP and logs.
//!
//! An event is marked sent only after a 2xx for a request carrying it. A crash between Meta's
//! 2xx and the mark, or a timeout after Meta processed the request, can send it twice; Meta
//! deduplicates that copy by `event_name` + `event_id`, which an event with a derived ID is sent
//! without (see `capi::event_json`): such a copy may be counted twice. Pending rows
//! survive restarts, so a new process resumes where the old one stopped (the breaker's holds are
//! in memory and start afresh). On shutdown a task finishes the request in flight, records its
//! outcome and stops.
//!
//! Several replicas on one PostgreSQL store relay together: each round's read is a claim
//! ([`RelayQueue::claim_pending`]) that hands an event to one replica for a lease of twice
//! `--relay-timeout-ms`, renewed when a round outlasts half of it; marking an event (sent, failed,
//! an attempt recorded) releases it, and so does a shutdown mid-round. A replica killed
//! mid-request leaves its batch claimed until the lease ends; another then sends it, so that batch
//! may reach Meta twice (deduplicated by event ID, as after a crash above). On SQLite (one
//! process) the claim is the plain read of the queue. The plan's decisions are the same on both.
//!
//! The access token and the app secret's proof travel in the request body; the URL, which HTTP
//! client errors print, holds neither.

pub mod capi;
pub mod plan;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::ports::{Clock, RelayQueue, StoreError, StoredEvent};
use crate::state::AppState;
use capi::Verdict;
use plan::{Action, Cause, Plan, Round, Settings};

pub use plan::{MAX_EVENT_AGE_SECS, MAX_RETRY_AFTER};

/// How often pending events are checked for expiry.
pub const EXPIRE_EVERY: Duration = Duration::from_secs(60);
/// Pending events looked at per expiry step (one short read, then a write of the few found).
const EXPIRE_CHUNK: usize = 5000;

/// Start one relay task per pixel that has an access token, and the expiry task.
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
        // A redirect is a misconfiguration: following a 302 turns the POST into a GET, and the
        // 200 at its end would mark events sent that were never posted.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let settings = Settings {
        retry_base_ms: config.retry_base_ms,
        retry_max_ms: config.retry_max_ms,
    };
    let mut tasks = Vec::new();
    let mut relayed = Vec::new();
    for pixel in &config.pixels {
        let Some(token) = &pixel.token else { continue };
        let url = format!(
            "{}/{}/{}/events",
            config.graph_url, config.graph_version, pixel.id
        );
        tracing::info!(pixel = %pixel.id, graph = %config.graph_url, version = %config.graph_version, "relaying to the Conversions API");
        let worker = PixelRelay {
            state: state.clone(),
            queue: state.queue.clone(),
            clock: state.clock.clone(),
            client: client.clone(),
            pixel_id: pixel.id.clone(),
            url,
            auth: capi::Auth::new(token, config.app_secret.as_deref()),
            plan: Plan::new(settings),
        };
        tasks.push(tokio::spawn(worker.run(shutdown.clone())));
        relayed.push(pixel.id.clone());
    }
    if !relayed.is_empty() {
        tasks.push(tokio::spawn(expiry_loop(
            Expiry {
                queue: state.queue.clone(),
                clock: state.clock.clone(),
                state: state.clone(),
            },
            relayed,
            shutdown,
        )));
    }
    Ok(tasks)
}

struct PixelRelay {
    /// Config, metrics and the commit signal (the storage it reads through `queue` only).
    state: AppState,
    queue: Arc<dyn RelayQueue>,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    pixel_id: String,
    /// `{graph-url}/{version}/{pixel}/events`: no secret in it.
    url: String,
    auth: capi::Auth,
    plan: Plan,
}

async fn blocking<T, F>(queue: &Arc<dyn RelayQueue>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn RelayQueue) -> Result<T, StoreError> + Send + 'static,
{
    let queue = queue.clone();
    tokio::task::spawn_blocking(move || f(queue.as_ref()))
        .await
        .map_err(|e| StoreError(format!("store task: {e}")))?
}

impl PixelRelay {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let state = self.state.clone();
        let mut commits = state.commits.clone();
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Seen before reading: a commit during the round wakes the next wait at once.
            commits.borrow_and_update();
            let (delay, wake_on_commit) = match self.round(&shutdown).await {
                Ok(Some(d)) if d.is_zero() => continue,
                Ok(Some(d)) => {
                    tracing::debug!(pixel = %self.pixel_id, delay_ms = d.as_millis() as u64, "relay retry scheduled");
                    (d, false)
                }
                Ok(None) => (Duration::from_millis(state.config.relay_interval_ms), true),
                Err(e) => {
                    tracing::error!(pixel = %self.pixel_id, error = %e, "relay could not read or update the store");
                    (self.plan.store_failed(fastrand::f64()), false)
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

    /// One batch: `None` when nothing is pending, else the wait before the next round.
    async fn round(
        &mut self,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Option<Duration>, StoreError> {
        let now = self.clock.now_ms();
        let batch = self.read(now).await?;
        if batch.is_empty() {
            return Ok(None);
        }
        // Too old for Meta: expired here rather than sent (the expiry task would within a minute).
        let (old, batch): (Vec<StoredEvent>, Vec<StoredEvent>) = batch
            .into_iter()
            .partition(|e| plan::too_old(e.event.event_time, now));
        if !old.is_empty() {
            let ids: Vec<i64> = old.iter().map(|e| e.id).collect();
            let n = blocking(&self.queue, move |s| s.expire_ids(&ids)).await?;
            self.expired(n);
        }
        let mut batch = batch;
        if self.plan.held_count() > 0 {
            batch.sort_by_key(|e| self.plan.rank(e.id));
        }
        let mut round = Round::new(batch.iter().map(|e| e.id).collect());
        let mut delay = Duration::ZERO;
        let mut claimed_at = now;
        let timeout = i64::try_from(self.state.config.relay_timeout_ms).unwrap_or(i64::MAX);
        while let Some(range) = round.next_request() {
            if self.clock.now_ms() - claimed_at >= timeout {
                // A long round (a bisection of refused events): half the lease is gone, so the
                // claim on what is still pending is renewed before the next request.
                let (ids, at) = (
                    batch.iter().map(|e| e.id).collect::<Vec<_>>(),
                    self.clock.now_ms(),
                );
                blocking(&self.queue, move |s| s.renew(&ids, at)).await?;
                claimed_at = at;
            }
            let chunk = batch.get(range).unwrap_or(&[]);
            let verdict = self.send(chunk).await;
            if matches!(verdict, Verdict::Rejected { .. }) {
                self.state.metrics.relay_failure("bad_request");
            }
            let actions = round.answer(
                &mut self.plan,
                verdict,
                self.clock.now_ms(),
                fastrand::f64(),
            );
            for action in actions {
                if let Some(d) = self.carry_out(action, &batch).await? {
                    delay = d;
                }
            }
            if *shutdown.borrow() && !round.is_done() {
                // The rest stays pending, untouched, and free for another replica at once; the
                // loop sees the shutdown and stops.
                let ids: Vec<i64> = batch.iter().map(|e| e.id).collect();
                blocking(&self.queue, move |s| s.release(&ids)).await?;
                return Ok(Some(Duration::ZERO));
            }
        }
        Ok(Some(delay))
    }

    /// Up to `--relay-batch` pending events, oldest first, leaving out those the breaker holds;
    /// when nothing but held events is pending, those. Each is claimed for this process
    /// ([`RelayQueue::claim_pending`]): on a shared store, another replica does not send it meanwhile.
    async fn read(&mut self, now: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let store = &self.queue;
        let limit = usize::try_from(self.state.config.relay_batch).unwrap_or(1000);
        let pixel = self.pixel_id.clone();
        if self.plan.held_count() == 0 {
            return blocking(store, move |s| s.claim_pending(&pixel, 0, limit, now)).await;
        }
        let mut batch = Vec::new();
        let mut remembered = HashSet::new();
        let mut passed_over = Vec::new();
        let mut after = 0;
        loop {
            let p = pixel.clone();
            let page = blocking(store, move |s| s.claim_pending(&p, after, limit, now)).await?;
            let full = page.len() == limit;
            after = page.last().map_or(after, |e| e.id);
            for e in page {
                if self.plan.remembers(e.id) {
                    remembered.insert(e.id);
                }
                if batch.len() < limit && !self.plan.is_held(e.id, now) {
                    batch.push(e);
                } else {
                    passed_over.push(e.id);
                }
            }
            if batch.len() >= limit || !full {
                break;
            }
        }
        // Claimed but not sent this round: free for the other replicas.
        blocking(store, move |s| s.release(&passed_over)).await?;
        if batch.len() >= limit {
            return Ok(batch);
        }
        // The whole queue was read: forget the events that left it (sent, failed, expired).
        self.plan.forget_unless(|id| remembered.contains(&id));
        if batch.is_empty() && self.plan.held_count() > 0 {
            // Nothing else waits behind the held events: no reason to hold them.
            self.plan.release_all(now);
            return blocking(store, move |s| s.claim_pending(&pixel, 0, limit, now)).await;
        }
        Ok(batch)
    }

    /// Carry out one of the plan's actions; `Some(delay)` when it ends the round.
    async fn carry_out(
        &self,
        action: Action,
        batch: &[StoredEvent],
    ) -> Result<Option<Duration>, StoreError> {
        let store = &self.queue;
        let metrics = &self.state.metrics;
        match action {
            Action::MarkSent(ids) => {
                let (n, now) = (ids.len() as u64, self.clock.now_ms());
                blocking(store, move |s| s.mark_sent(&ids, now)).await?;
                Metrics::add(&metrics.relayed, n);
            }
            Action::MarkFailed { id, message } => {
                if let Some(one) = batch.iter().find(|e| e.id == id) {
                    tracing::warn!(pixel = %self.pixel_id, event_id = %one.event.event_id, event = %one.event.event_name, %message, "the Conversions API refused an event; marked failed");
                }
                let now = self.clock.now_ms();
                blocking(store, move |s| s.mark_failed(id, &message, now)).await?;
                Metrics::inc(&metrics.relay_failed_events);
            }
            Action::KeepPending { ids, error, cause } => {
                let events = ids.len();
                match cause {
                    Cause::Transient { kind } => {
                        metrics.relay_failure(kind);
                        tracing::warn!(pixel = %self.pixel_id, kind, detail = %error, events, "relay request failed; will retry");
                    }
                    Cause::Misconfigured => {
                        metrics.relay_failure("misconfigured");
                        tracing::error!(pixel = %self.pixel_id, detail = %error, events, "the Conversions API refused the request itself: check the access token, --app-secret and that the token can reach this pixel; events stay pending, will retry");
                    }
                    Cause::Redirected => {
                        metrics.relay_failure("redirect");
                        tracing::error!(pixel = %self.pixel_id, detail = %error, events, "the Graph URL answered with a redirect, which the relay never follows: fix --graph-url; events stay pending, will retry");
                    }
                    Cause::Breaker { held } => {
                        metrics.relay_failure("request_rejected");
                        tracing::error!(pixel = %self.pixel_id, detail = %error, held, "the Conversions API refused single events exactly as it refused their whole batch, and accepted no request: taken as a refusal of the request (configuration?), not of the events; nothing marked failed, these events are held back while the others go, will retry");
                    }
                }
                blocking(store, move |s| s.record_attempt(&ids, &error)).await?;
            }
            Action::Done(delay) => return Ok(Some(delay)),
        }
        Ok(None)
    }

    fn expired(&self, n: u64) {
        if n > 0 {
            Metrics::add(&self.state.metrics.expired, n);
            tracing::warn!(pixel = %self.pixel_id, expired = n, "events older than 7 days marked expired, not sent");
        }
    }

    async fn send(&self, events: &[StoredEvent]) -> Verdict {
        let body = capi::request_body(
            events,
            self.state.config.test_event_code.as_deref(),
            &self.auth,
        );
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
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        if (300..400).contains(&status) {
            return capi::redirected(status, header(reqwest::header::LOCATION).as_deref());
        }
        let retry_after = header(reqwest::header::RETRY_AFTER)
            .and_then(|v| capi::parse_retry_after(&v, SystemTime::now()));
        match read_capped(resp, capi::MAX_RESPONSE_BYTES).await {
            Ok(body) => capi::classify(status, retry_after, &body),
            Err(e) => network_verdict(e),
        }
    }
}

/// At most `cap` bytes of the body; the rest is not read (the connection is dropped).
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if body.len() >= cap {
            break;
        }
    }
    Ok(body)
}

fn network_verdict(e: reqwest::Error) -> Verdict {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "network"
    };
    // The URL holds no secret, but the messages are for a log: keep them short.
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

/// Mark pending events older than 7 days `expired`, every [`EXPIRE_EVERY`] (the first at start).
/// Each step reads [`EXPIRE_CHUNK`] pending ids on the read connection and writes only the few
/// found, so the ingest writer never waits for a scan of the backlog.
async fn expiry_loop(state: Expiry, pixels: Vec<String>, mut shutdown: watch::Receiver<bool>) {
    loop {
        for pixel in &pixels {
            match expire_pixel(&state, pixel, &shutdown).await {
                Ok(0) => {}
                Ok(n) => {
                    Metrics::add(&state.state.metrics.expired, n);
                    tracing::warn!(pixel = %pixel, expired = n, "events older than 7 days marked expired, not sent");
                }
                Err(e) => {
                    tracing::error!(pixel = %pixel, error = %e, "expiry failed; will try again")
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(EXPIRE_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// What the expiry task needs: the queue, the clock, and the metrics (in `state`).
struct Expiry {
    queue: Arc<dyn RelayQueue>,
    clock: Arc<dyn Clock>,
    state: AppState,
}

async fn expire_pixel(
    state: &Expiry,
    pixel: &str,
    shutdown: &watch::Receiver<bool>,
) -> Result<u64, StoreError> {
    let cutoff = state.clock.now_ms() / 1000 - MAX_EVENT_AGE_SECS;
    let (mut after, mut expired) = (0, 0);
    while !*shutdown.borrow() {
        let p = pixel.to_owned();
        let (old, last) = blocking(&state.queue, move |s| {
            s.pending_older_than(&p, cutoff, after, EXPIRE_CHUNK)
        })
        .await?;
        if !old.is_empty() {
            expired += blocking(&state.queue, move |s| s.expire_ids(&old)).await?;
        }
        match last {
            Some(last) => after = last,
            None => break,
        }
    }
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_response_body_is_read_up_to_the_cap() {
        for (size, want) in [
            (10, 10),
            (capi::MAX_RESPONSE_BYTES, capi::MAX_RESPONSE_BYTES),
            (8 << 20, capi::MAX_RESPONSE_BYTES),
        ] {
            let resp = reqwest::Response::from(axum::http::Response::new(vec![b'x'; size]));
            let body = read_capped(resp, capi::MAX_RESPONSE_BYTES).await;
            assert_eq!(body.map(|b| b.len()).ok(), Some(want));
        }
    }
}
