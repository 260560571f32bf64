//! Group commit: handlers hand events to one writer thread over a channel; the writer takes
//! everything queued (up to [`MAX_BATCH`]; after a commit of several, it may wait the store's
//! [`EventLog::commit_linger`] for more first), stores it in one transaction — one disk sync — and
//! only then answers each handler. A handler acknowledges its beacon after that answer, so an
//! acknowledged event is on disk.
//!
//! ```text
//!  handler ─┐                          ┌─ reply ─> handler: 204 / GIF
//!  handler ─┼─> [ channel ] ─> writer ─┼─ reply ─> handler
//!  handler ─┘     (bounded)   BEGIN…COMMIT
//! ```
//!
//! Backpressure, never a hang: the queue is bounded in events ([`QUEUE_CAPACITY`]) and in bytes
//! ([`QUEUE_BYTES`]); a handler waits at most [`SUBMIT_DEADLINE`] for room and for its commit.
//! When the store cannot commit (disk full, database locked past the writer's busy deadline,
//! writer gone), the handler gets [`IngestError::Unavailable`] and answers 503 with
//! `Retry-After`; nothing it answered that way was acknowledged. The writer keeps the failure in
//! [`Health`] (what `/healthz` reports), logs it once per [`LOG_EVERY`] with counts, and while it
//! fails and no beacon arrives it tries a probe commit every [`PROBE_EVERY`], so health turns
//! back on its own once the store can write again.
//!
//! This is also the one path every event takes into the store, beacons and server events alike
//! ([`Ingest::submit_all`]), so it is where page URLs are scrubbed (issue #24): each event's page
//! URL and referrer lose the parameters that identify a visitor or grant access (core's
//! [`pixel_core::scrub`], the rules the pixel applies too) before anything is stored, and so
//! before anything is relayed to Meta or shown in the dashboard. An older pixel's beacon, or an
//! outbox entry written before the pixel scrubbed, is cleaned here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use crate::event::NewEvent;
use crate::ports::{EventLog, InsertOutcome, StoreError};
use pixel_core::scrub::scrub;

/// Largest group commit.
pub const MAX_BATCH: usize = 2048;
/// Beacons that may wait for the writer before handlers wait for room (back-pressure).
pub const QUEUE_CAPACITY: usize = 16 * 1024;
/// Bytes of events (as [`NewEvent::approx_bytes`] counts them) that may wait for the writer;
/// past that a beacon is refused at once with 503.
pub const QUEUE_BYTES: usize = 64 << 20;
/// The longest a handler waits for room in the queue plus its commit.
pub const SUBMIT_DEADLINE: Duration = Duration::from_secs(5);
/// While commits fail and no beacon arrives, how often the writer tries a probe commit.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// At most one log line per this interval about a failure that goes on.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// One request's events: a beacon's one, or a server request's whole batch, stored in one
/// transaction (all or none).
struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Reply>,
    /// This event's share of [`QUEUE_BYTES`], given back once its commit is over.
    _bytes: OwnedSemaphorePermit,
}

/// The writer's answer, with the event handed back: the handler frees it on its own thread.
/// Freed on the writer, every string of every event went back to the allocator arena of the
/// worker that made it, under that arena's lock, while the workers were allocating in it.
type Reply = (Result<Vec<InsertOutcome>, Unavailable>, Vec<NewEvent>);

/// Why the store cannot take an event right now. Each is a 503 with `Retry-After`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// SQLite says the database or disk is full.
    DiskFull,
    /// Another connection held the database's write lock past the writer's busy deadline.
    Locked,
    /// Any other failed commit (I/O error, read-only file, ...).
    StoreFailed,
    /// The queue to the writer is full (events or bytes), or had no room within the deadline.
    QueueFull,
    /// The commit did not finish within [`SUBMIT_DEADLINE`].
    Slow,
}

impl Unavailable {
    /// The one-line reason sent to the client.
    pub fn message(self) -> &'static str {
        match self {
            Unavailable::DiskFull => {
                "cannot store the event: the collector's disk is full; retry later"
            }
            Unavailable::Locked => "cannot store the event: the database is locked; retry later",
            Unavailable::StoreFailed => {
                "cannot store the event: the database cannot commit; retry later"
            }
            Unavailable::QueueFull => {
                "cannot store the event: too many events are waiting to be stored; retry later"
            }
            Unavailable::Slow => {
                "cannot store the event: the database did not commit in time; retry later"
            }
        }
    }

    /// Label of the `rejected` metric.
    pub fn label(self) -> &'static str {
        match self {
            Unavailable::DiskFull => "disk_full",
            Unavailable::Locked => "database_locked",
            Unavailable::StoreFailed => "store_failed",
            Unavailable::QueueFull => "queue_full",
            Unavailable::Slow => "store_slow",
        }
    }

    /// Seconds for the `Retry-After` header.
    pub fn retry_after_secs(self) -> u32 {
        match self {
            Unavailable::DiskFull | Unavailable::StoreFailed => 30,
            Unavailable::Locked | Unavailable::Slow => 5,
            Unavailable::QueueFull => 2,
        }
    }

    /// What a failed commit means for the client, from SQLite's own (stable) messages.
    pub fn of(e: &StoreError) -> Unavailable {
        let text = e.0.to_ascii_lowercase();
        if text.contains("disk is full") || text.contains("disk full") {
            Unavailable::DiskFull
        } else if text.contains("locked") || text.contains("busy") {
            Unavailable::Locked
        } else {
            Unavailable::StoreFailed
        }
    }
}

/// Why an event was not stored.
#[derive(Debug, PartialEq, Eq)]
pub enum IngestError {
    /// The writer has stopped (shutdown, or it died).
    Closed,
    /// The store cannot take it now; nothing was acknowledged.
    Unavailable(Unavailable),
}

/// Whether the writer can commit, kept by the writer, read by `/healthz`.
#[derive(Default)]
pub struct Health {
    /// Mirrors `failure.is_some()`, so the commit path reads no mutex when all is well.
    failing: AtomicBool,
    failure: Mutex<Option<Failure>>,
    /// Mirrors `log.open`: an episode of failures whose end is not logged yet.
    episode: AtomicBool,
    log: Mutex<FailureLog>,
}

/// The failure going on now, for `/healthz`.
struct Failure {
    kind: Unavailable,
    detail: String,
    since: Instant,
    failed_commits: u64,
    refused_events: u64,
}

/// The log of an episode of failures. On a nearly full disk commits can fail and succeed in
/// turn; one episode lasts until [`LOG_EVERY`] has passed without a failure, so a flapping store
/// logs one line when it starts, one per interval with counts, and one when it is over.
struct FailureLog {
    open: bool,
    started: Instant,
    logged_at: Instant,
    last_failure: Instant,
    commits: u64,
    events: u64,
    commits_since_log: u64,
    events_since_log: u64,
}

impl Default for FailureLog {
    fn default() -> Self {
        let now = Instant::now();
        FailureLog {
            open: false,
            started: now,
            logged_at: now,
            last_failure: now,
            commits: 0,
            events: 0,
            commits_since_log: 0,
            events_since_log: 0,
        }
    }
}

impl Health {
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// `None` while commits work, else a one-line reason.
    /// The kind of the failure going on now (its stable label is what `/healthz` shows).
    pub fn kind(&self) -> Option<Unavailable> {
        if !self.is_failing() {
            return None;
        }
        let guard = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_ref().map(|f| f.kind)
    }

    pub fn problem(&self) -> Option<String> {
        if !self.is_failing() {
            return None;
        }
        let guard = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        let f = guard.as_ref()?;
        Some(format!(
            "the writer cannot commit ({}: {}) for {} s; {} commits failed, {} beacons refused with 503",
            f.kind.label(),
            f.detail,
            f.since.elapsed().as_secs(),
            f.failed_commits,
            f.refused_events
        ))
    }

    /// A commit (or probe) of `events` events failed with `e`.
    fn failed(&self, e: &StoreError, events: u64) {
        let kind = Unavailable::of(e);
        let now = Instant::now();
        {
            let mut guard = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            let f = guard.get_or_insert_with(|| Failure {
                kind,
                detail: String::new(),
                since: now,
                failed_commits: 0,
                refused_events: 0,
            });
            f.kind = kind;
            if f.detail != e.0 {
                f.detail.clone_from(&e.0);
            }
            f.failed_commits += 1;
            f.refused_events += events;
        }
        self.failing.store(true, Ordering::Release);
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.last_failure = now;
        log.commits += 1;
        log.events += events;
        if !log.open {
            tracing::error!(
                reason = kind.label(),
                error = %e,
                events,
                "group commit failed: beacons are answered 503 until a commit succeeds"
            );
            *log = FailureLog {
                open: true,
                started: now,
                logged_at: now,
                last_failure: now,
                commits: 1,
                events,
                commits_since_log: 0,
                events_since_log: 0,
            };
            self.episode.store(true, Ordering::Release);
            return;
        }
        log.commits_since_log += 1;
        log.events_since_log += events;
        if now.duration_since(log.logged_at) >= LOG_EVERY {
            tracing::error!(
                reason = kind.label(),
                error = %e,
                failed_commits = log.commits_since_log,
                refused = log.events_since_log,
                failing_for_s = log.started.elapsed().as_secs(),
                "group commits still failing"
            );
            log.logged_at = now;
            log.commits_since_log = 0;
            log.events_since_log = 0;
        }
    }

    /// A commit (or probe) succeeded.
    fn succeeded(&self) {
        if self.is_failing() {
            *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
            self.failing.store(false, Ordering::Release);
        }
        if !self.episode.load(Ordering::Acquire) {
            return;
        }
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.open && log.last_failure.elapsed() >= LOG_EVERY {
            tracing::info!(
                after_ms = u64::try_from(log.last_failure.duration_since(log.started).as_millis())
                    .unwrap_or(u64::MAX),
                failed_commits = log.commits,
                refused = log.events,
                "group commits work again"
            );
            log.open = false;
            self.episode.store(false, Ordering::Release);
        }
    }
}

/// The handlers' side of the group commit.
#[derive(Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Job>,
    bytes: Arc<Semaphore>,
    health: Arc<Health>,
}

impl Ingest {
    /// Start the writer thread. `commits` is bumped after each commit that stored something,
    /// to wake the relay.
    pub fn start(
        log: Arc<dyn EventLog>,
        commits: watch::Sender<u64>,
    ) -> std::io::Result<(Ingest, JoinHandle<()>)> {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let health = Arc::new(Health::default());
        let writer_health = health.clone();
        let handle = std::thread::Builder::new()
            .name("collector-writer".into())
            .spawn(move || writer(log, rx, commits, &writer_health))?;
        let bytes = Arc::new(Semaphore::new(QUEUE_BYTES));
        Ok((Ingest { tx, bytes, health }, handle))
    }

    /// Store `event`; resolves after the transaction that holds it has committed, or with an
    /// error within [`SUBMIT_DEADLINE`].
    pub async fn submit(&self, event: NewEvent) -> Result<InsertOutcome, IngestError> {
        let outcomes = self.submit_all(vec![event]).await?;
        outcomes.into_iter().next().ok_or(IngestError::Closed)
    }

    /// Store `events` in one transaction, all or none (a server request's batch); resolves after
    /// the commit with one outcome per event, in order, or with an error within
    /// [`SUBMIT_DEADLINE`] (and then none was acknowledged). At most [`MAX_BATCH`] events.
    pub async fn submit_all(
        &self,
        mut events: Vec<NewEvent>,
    ) -> Result<Vec<InsertOutcome>, IngestError> {
        events.iter_mut().for_each(scrub_urls);
        let bytes: usize = events.iter().map(NewEvent::approx_bytes).sum();
        let cost = u32::try_from(bytes.clamp(1, QUEUE_BYTES)).unwrap_or(u32::MAX);
        let bytes = self
            .bytes
            .clone()
            .try_acquire_many_owned(cost)
            .map_err(|_| IngestError::Unavailable(Unavailable::QueueFull))?;
        let deadline = tokio::time::Instant::now() + SUBMIT_DEADLINE;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            events,
            reply,
            _bytes: bytes,
        };
        match tokio::time::timeout_at(deadline, self.tx.send(job)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(IngestError::Closed),
            Err(_) => return Err(IngestError::Unavailable(Unavailable::QueueFull)),
        }
        // On a timeout the event may still be committed later: it was not acknowledged, and a
        // retry of it deduplicates.
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok((Ok(outcomes), _events))) => Ok(outcomes),
            Ok(Ok((Err(why), _events))) => Err(IngestError::Unavailable(why)),
            Ok(Err(_)) => Err(IngestError::Closed),
            Err(_) => Err(IngestError::Unavailable(Unavailable::Slow)),
        }
    }

    /// Beacons queued for the writer right now.
    pub fn queue_depth(&self) -> u64 {
        let queued = self.tx.max_capacity().saturating_sub(self.tx.capacity());
        u64::try_from(queued).unwrap_or(u64::MAX)
    }

    /// [`Ingest::health`] as a stable code: `writer_stopped` or an [`Unavailable::label`]
    /// (`/healthz` shows it; the detail, which can name hosts and files, goes to the log).
    pub fn health_code(&self) -> Result<(), &'static str> {
        if self.tx.is_closed() {
            return Err("writer_stopped");
        }
        match self.health.kind() {
            None => Ok(()),
            Some(kind) => Err(kind.label()),
        }
    }

    /// `Ok` while the writer runs and its last commit (or probe) succeeded; else a one-line
    /// reason.
    pub fn health(&self) -> Result<(), String> {
        if self.tx.is_closed() {
            return Err("the writer has stopped: no event can be stored".into());
        }
        match self.health.problem() {
            None => Ok(()),
            Some(reason) => Err(reason),
        }
    }
}

/// The next job; while commits fail, a probe commit every [`PROBE_EVERY`] until one arrives.
/// The event's page URL (`dl`, `event_source_url`) and referrer (`rl`, `referrer_url`) without
/// e-mail addresses, phone numbers and secret-bearing parameters (see the module doc).
fn scrub_urls(e: &mut NewEvent) {
    e.source_url = scrub(&e.source_url, false);
    e.referrer_url = scrub(&e.referrer_url, false);
}

/// `None` once every handle is dropped.
fn next_job(log: &dyn EventLog, rx: &mut mpsc::Receiver<Job>, health: &Health) -> Option<Job> {
    let mut last_probe = Instant::now();
    loop {
        if !health.is_failing() {
            return rx.blocking_recv();
        }
        match rx.try_recv() {
            Ok(job) => return Some(job),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        if last_probe.elapsed() >= PROBE_EVERY {
            match log.check_writable() {
                Ok(()) => health.succeeded(),
                Err(e) => health.failed(&e, 0),
            }
            last_probe = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn writer(
    log: Arc<dyn EventLog>,
    mut rx: mpsc::Receiver<Job>,
    commits: watch::Sender<u64>,
    health: &Health,
) {
    let mut events = Vec::with_capacity(MAX_BATCH);
    // Each job's reply, with how many of `events` are its own.
    let mut replies: Vec<(oneshot::Sender<Reply>, usize)> = Vec::with_capacity(MAX_BATCH);
    let mut permits = Vec::with_capacity(MAX_BATCH);
    let mut last_batch = 0usize;
    let linger = log.commit_linger();
    while let Some(first) = next_job(&*log, &mut rx, health) {
        let mut next = Some(first);
        let mut lingered = false;
        loop {
            while let Some(job) = next {
                replies.push((job.reply, job.events.len()));
                events.extend(job.events);
                permits.push(job._bytes);
                next = if events.len() < MAX_BATCH {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            // The previous commit carried several beacons: others are on their way, and a
            // commit costs about as much for one event as for twenty.
            if lingered || linger.is_zero() || last_batch < 2 || events.len() >= MAX_BATCH {
                break;
            }
            lingered = true;
            std::thread::sleep(linger);
            next = rx.try_recv().ok();
        }
        last_batch = events.len();
        match log.insert_batch(&events) {
            Ok(outcomes) if outcomes.len() == events.len() => {
                health.succeeded();
                let stored = outcomes.iter().any(|o| *o != InsertOutcome::Duplicate);
                let (mut outcomes, mut evs) = (outcomes.into_iter(), events.drain(..));
                for (reply, n) in replies.drain(..) {
                    let mine: Vec<InsertOutcome> = outcomes.by_ref().take(n).collect();
                    let _ = reply.send((Ok(mine), evs.by_ref().take(n).collect()));
                }
                drop(evs);
                if stored {
                    commits.send_modify(|n| *n = n.wrapping_add(1));
                }
            }
            // A store that answered for fewer events than it was given: no handler is told its
            // events are stored (each sees Closed).
            Ok(_) => {}
            Err(e) => {
                health.failed(&e, u64::try_from(events.len()).unwrap_or(u64::MAX));
                let why = Unavailable::of(&e);
                let mut evs = events.drain(..);
                for (reply, n) in replies.drain(..) {
                    let _ = reply.send((Err(why), evs.by_ref().take(n).collect()));
                }
            }
        }
        // Any reply left is dropped: its handler sees Closed.
        replies.clear();
        events.clear();
        permits.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::event::RequestContext;
    use crate::ports::EventQuery;
    use crate::store::memory::MemoryStore;
    use pixel_core::wire::Beacon;

    fn event(eid: &str, pad: usize) -> NewEvent {
        let beacon = Beacon {
            id: "1".into(),
            ev: "Purchase".into(),
            eid: Some(eid.into()),
            cd: vec![("note".into(), "x".repeat(pad))],
            ..Beacon::default()
        };
        NewEvent::from_beacon(beacon, RequestContext::default(), false)
            .unwrap()
            .0
    }

    fn start(store: &Arc<MemoryStore>) -> Ingest {
        let (commits, _) = watch::channel(0);
        Ingest::start(store.clone(), commits).unwrap().0
    }

    #[tokio::test]
    async fn the_queue_is_bounded_in_bytes_and_refuses_at_once_when_full() {
        let store = Arc::new(MemoryStore::new());
        store.faults().hold(true);
        let ingest = start(&store);
        // 1 MB events while the writer is stuck: 64 fit in the byte budget, the next is refused
        // at once (not after the deadline), long before the event-count bound.
        let mut waiting = Vec::new();
        let mut refused_after = None;
        for i in 0..100 {
            let (ingest, e) = (ingest.clone(), event(&format!("big-{i}"), 1 << 20));
            let start = Instant::now();
            let task = tokio::spawn(async move { ingest.submit(e).await });
            tokio::time::sleep(Duration::from_millis(2)).await;
            if task.is_finished() {
                let r = task.await.unwrap();
                assert_eq!(r, Err(IngestError::Unavailable(Unavailable::QueueFull)));
                assert!(start.elapsed() < Duration::from_secs(1));
                refused_after = Some(i);
                break;
            }
            waiting.push(task);
        }
        let n = refused_after.expect("never refused");
        assert!((60..=64).contains(&n), "refused after {n} events of 1 MB");
        // Once the writer moves, the waiting events are stored and there is room again.
        store.faults().hold(false);
        for t in waiting {
            assert_eq!(t.await.unwrap(), Ok(InsertOutcome::Stored));
        }
        assert_eq!(
            ingest.submit(event("small", 10)).await,
            Ok(InsertOutcome::Stored)
        );
        let stored = store.list(&EventQuery {
            limit: 1000,
            ..EventQuery::default()
        });
        assert_eq!(stored.unwrap().len(), n + 1);
    }

    #[tokio::test]
    async fn page_urls_are_scrubbed_before_they_are_stored() {
        let store = Arc::new(MemoryStore::new());
        let ingest = start(&store);
        let mut beacon = event("scrubbed", 0);
        beacon.source_url =
            "https://shop.test/checkout/order-received/12/?key=wc_order_abc&utm_source=x".into();
        beacon.referrer_url = "https://mail.test/open?email=a%40b.com&id=7#token=t".into();
        let mut server = event("server", 0);
        server.source_url = "https://shop.test/thanks?phone=%2B33612345678&fbclid=IwAR".into();
        ingest.submit(beacon).await.unwrap();
        ingest.submit_all(vec![server]).await.unwrap();
        let mut stored = store
            .list(&EventQuery {
                limit: 10,
                ..EventQuery::default()
            })
            .unwrap();
        stored.sort_by(|a, b| a.event.event_id.cmp(&b.event.event_id));
        let urls: Vec<_> = stored
            .iter()
            .map(|s| (s.event.source_url.as_str(), s.event.referrer_url.as_str()))
            .collect();
        assert_eq!(
            urls,
            [
                (
                    "https://shop.test/checkout/order-received/12/?utm_source=x",
                    "https://mail.test/open?id=7"
                ),
                ("https://shop.test/thanks?fbclid=IwAR", ""),
            ]
        );
    }

    #[tokio::test]
    async fn health_follows_the_commits_and_a_probe_brings_it_back() {
        let store = Arc::new(MemoryStore::new());
        let ingest = start(&store);
        assert_eq!(ingest.health(), Ok(()));
        store.faults().fail(true);
        assert_eq!(
            ingest.submit(event("a", 1)).await,
            Err(IngestError::Unavailable(Unavailable::DiskFull))
        );
        let reason = ingest.health().unwrap_err();
        assert!(
            reason.contains("disk_full") && reason.contains("1 beacons"),
            "{reason}"
        );
        // No beacon arrives; the writer's probe sees the store write again.
        store.faults().fail(false);
        let start = Instant::now();
        while ingest.health().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "health never came back"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            ingest.submit(event("b", 1)).await,
            Ok(InsertOutcome::Stored)
        );
    }

    #[tokio::test]
    async fn a_dead_writer_is_unhealthy_and_refuses_without_waiting() {
        let store = Arc::new(MemoryStore::new());
        store.faults().panic(true);
        let ingest = start(&store);
        assert_eq!(ingest.submit(event("a", 1)).await, Err(IngestError::Closed));
        let start = Instant::now();
        while ingest.health().is_ok() {
            assert!(start.elapsed() < Duration::from_secs(5));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(ingest.health().unwrap_err().contains("stopped"));
        assert_eq!(ingest.submit(event("b", 1)).await, Err(IngestError::Closed));
    }
}
