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
//! ids and verdicts; this module claims and marks events in the queue, hands request bodies to the
//! Graph transport ([`graph`]: HTTP in the collector) and logs. It is built from what it uses, a
//! [`Context`] (queue, clock, transport, counters, commit signal, settings), so that its tests run
//! on the in-memory store, a scripted Graph API and tokio's paused time (`relay/tests/`).
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
mod context;
mod expiry;
pub mod graph;
pub mod plan;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::ports::{StoreError, StoredEvent};
use crate::state::AppState;
use capi::Verdict;
use context::blocking;
use graph::HttpGraph;
use plan::{Action, Cause, Plan, Round};

pub use context::{Context, Settings};
pub use expiry::EXPIRE_EVERY;
pub use plan::{MAX_EVENT_AGE_SECS, MAX_RETRY_AFTER};

/// A pixel the relay sends for: its id, and how its requests prove who sends them.
#[derive(Clone, Debug)]
pub struct Pixel {
    pub id: String,
    pub auth: capi::Auth,
}

/// Start one relay task per pixel that has an access token, and the expiry task, on the
/// collector's store, clock and metrics, talking HTTP to `--graph-url`.
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
    let graph = HttpGraph::new(config, state.clock.clone())?;
    let pixels: Vec<Pixel> = config
        .pixels
        .iter()
        .filter_map(|p| {
            let token = p.token.as_deref()?;
            tracing::info!(pixel = %p.id, graph = %config.graph_url, version = %config.graph_version, "relaying to the Conversions API");
            Some(Pixel {
                id: p.id.clone(),
                auth: capi::Auth::new(token, config.app_secret.as_deref()),
            })
        })
        .collect();
    let ctx = Context {
        queue: state.queue.clone(),
        clock: state.clock.clone(),
        graph: Arc::new(graph),
        metrics: state.metrics.clone(),
        commits: state.commits.clone(),
        settings: Settings::of(config),
    };
    Ok(start(&ctx, pixels, shutdown))
}

/// Start one relay task per pixel in `pixels` on `ctx`, and (when there is one) the expiry task;
/// they stop when `shutdown` turns true.
pub fn start(
    ctx: &Context,
    pixels: Vec<Pixel>,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let relayed: Vec<String> = pixels.iter().map(|p| p.id.clone()).collect();
    let mut tasks: Vec<JoinHandle<()>> = pixels
        .into_iter()
        .map(|pixel| {
            let worker = PixelRelay {
                ctx: ctx.clone(),
                plan: Plan::new(ctx.settings.retry),
                pixel,
            };
            tokio::spawn(worker.run(shutdown.clone()))
        })
        .collect();
    if !relayed.is_empty() {
        tasks.push(tokio::spawn(expiry::run(ctx.clone(), relayed, shutdown)));
    }
    tasks
}

/// The relay of one pixel: its context, and what its plan remembers across rounds.
struct PixelRelay {
    ctx: Context,
    pixel: Pixel,
    plan: Plan,
}

impl PixelRelay {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut commits = self.ctx.commits.clone();
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Seen before reading: a commit during the round wakes the next wait at once.
            commits.borrow_and_update();
            let (delay, wake_on_commit) = match self.round(&shutdown).await {
                Ok(Some(d)) if d.is_zero() => continue,
                Ok(Some(d)) => {
                    tracing::debug!(pixel = %self.pixel.id, delay_ms = d.as_millis() as u64, "relay retry scheduled");
                    (d, false)
                }
                Ok(None) => (self.ctx.settings.interval, true),
                Err(e) => {
                    tracing::error!(pixel = %self.pixel.id, error = %e, "relay could not read or update the store");
                    (self.plan.store_failed(fastrand::f64()), false)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
                Ok(()) = commits.changed(), if wake_on_commit => {}
            }
        }
        tracing::info!(pixel = %self.pixel.id, "relay stopped");
    }

    /// One batch: `None` when nothing is pending, else the wait before the next round.
    async fn round(
        &mut self,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<Option<Duration>, StoreError> {
        let now = self.ctx.clock.now_ms();
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
            let n = blocking(&self.ctx.queue, move |s| s.expire_ids(&ids)).await?;
            expiry::expired(&self.ctx.metrics, &self.pixel.id, n);
        }
        // One request carries one `test_event_code`: a round sends the events that share the
        // first one's (a server request's own, or none), the others wait for the next round.
        let code = batch
            .first()
            .and_then(capi::test_event_code)
            .map(str::to_owned);
        let (mut batch, other): (Vec<StoredEvent>, Vec<StoredEvent>) = batch
            .into_iter()
            .partition(|e| capi::test_event_code(e) == code.as_deref());
        if !other.is_empty() {
            let ids: Vec<i64> = other.iter().map(|e| e.id).collect();
            blocking(&self.ctx.queue, move |s| s.release(&ids)).await?;
        }
        if self.plan.held_count() > 0 {
            batch.sort_by_key(|e| self.plan.rank(e.id));
        }
        let mut round = Round::new(batch.iter().map(|e| e.id).collect());
        let mut delay = Duration::ZERO;
        let mut claimed_at = now;
        let timeout = i64::try_from(self.ctx.settings.timeout.as_millis()).unwrap_or(i64::MAX);
        while let Some(range) = round.next_request() {
            if self.ctx.clock.now_ms() - claimed_at >= timeout {
                // A long round (a bisection of refused events): half the lease is gone, so the
                // claim on what is still pending is renewed before the next request.
                let (ids, at) = (
                    batch.iter().map(|e| e.id).collect::<Vec<_>>(),
                    self.ctx.clock.now_ms(),
                );
                blocking(&self.ctx.queue, move |s| s.renew(&ids, at)).await?;
                claimed_at = at;
            }
            let chunk = batch.get(range).unwrap_or(&[]);
            let verdict = self.send(chunk).await;
            if matches!(verdict, Verdict::Rejected { .. }) {
                self.ctx.metrics.relay_failure("bad_request");
            }
            let actions = round.answer(
                &mut self.plan,
                verdict,
                self.ctx.clock.now_ms(),
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
                blocking(&self.ctx.queue, move |s| s.release(&ids)).await?;
                return Ok(Some(Duration::ZERO));
            }
        }
        Ok(Some(delay))
    }

    /// Up to `--relay-batch` pending events, oldest first, leaving out those the breaker holds;
    /// when nothing but held events is pending, those. Each is claimed for this process
    /// ([`RelayQueue::claim_pending`]): on a shared store, another replica does not send it meanwhile.
    async fn read(&mut self, now: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let store = &self.ctx.queue;
        let limit = self.ctx.settings.batch;
        let pixel = self.pixel.id.clone();
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
        let store = &self.ctx.queue;
        let metrics = &self.ctx.metrics;
        match action {
            Action::MarkSent(ids) => {
                let (n, now) = (ids.len() as u64, self.ctx.clock.now_ms());
                blocking(store, move |s| s.mark_sent(&ids, now)).await?;
                Metrics::add(&metrics.relayed, n);
            }
            Action::MarkFailed { id, message } => {
                if let Some(one) = batch.iter().find(|e| e.id == id) {
                    tracing::warn!(pixel = %self.pixel.id, event_id = %one.event.event_id, event = %one.event.event_name, %message, "the Conversions API refused an event; marked failed");
                }
                let now = self.ctx.clock.now_ms();
                blocking(store, move |s| s.mark_failed(id, &message, now)).await?;
                Metrics::inc(&metrics.relay_failed_events);
            }
            Action::KeepPending { ids, error, cause } => {
                let events = ids.len();
                match cause {
                    Cause::Transient { kind } => {
                        metrics.relay_failure(kind);
                        tracing::warn!(pixel = %self.pixel.id, kind, detail = %error, events, "relay request failed; will retry");
                    }
                    Cause::Misconfigured => {
                        metrics.relay_failure("misconfigured");
                        tracing::error!(pixel = %self.pixel.id, detail = %error, events, "the Conversions API refused the request itself: check the access token, --app-secret and that the token can reach this pixel; events stay pending, will retry");
                    }
                    Cause::Redirected => {
                        metrics.relay_failure("redirect");
                        tracing::error!(pixel = %self.pixel.id, detail = %error, events, "the Graph URL answered with a redirect, which the relay never follows: fix --graph-url; events stay pending, will retry");
                    }
                    Cause::Breaker { held } => {
                        metrics.relay_failure("request_rejected");
                        tracing::error!(pixel = %self.pixel.id, detail = %error, held, "the Conversions API refused single events exactly as it refused their whole batch, and accepted no request: taken as a refusal of the request (configuration?), not of the events; nothing marked failed, these events are held back while the others go, will retry");
                    }
                }
                blocking(store, move |s| s.record_attempt(&ids, &error)).await?;
            }
            Action::Done(delay) => return Ok(Some(delay)),
        }
        Ok(None)
    }

    async fn send(&self, events: &[StoredEvent]) -> Verdict {
        // A round's events share one test code (see `read`).
        let code = events
            .first()
            .and_then(|e| capi::test_event_code(e))
            .or(self.ctx.settings.test_event_code.as_deref());
        let body = capi::request_body(events, code, &self.pixel.auth);
        self.ctx.graph.send(&self.pixel.id, body).await
    }
}
