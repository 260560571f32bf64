//! The relay's logic, tested on the in-memory store ([`MemoryStore`]), a scripted Graph API
//! ([`stand_in`]) and tokio's paused time (`#[tokio::test(start_paused = true)]`): every wait of
//! the relay (backoff, `Retry-After`, the idle interval, a slow answer) passes at once when
//! nothing else can run, and the relay's clock ([`TokioClock`]) follows it, so a test of several
//! seconds of retries takes milliseconds and says exactly what it means. Nothing here opens a
//! socket or a file.
//!
//! What must prove real HTTP or real time stays in `collector/tests/relay.rs`: the body on the
//! wire, redirects, timeouts, a shutdown by signal, and the drain under load.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod amplification;
mod lifecycle;
mod refusals;
mod replicas;
mod retries;
mod server_events;
mod stand_in;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pixel_core::wire::Beacon;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{capi, plan, start, Context, Pixel, Settings};
use crate::event::{NewEvent, RequestContext};
use crate::metrics::{Gauges, Metrics};
use crate::ports::{
    Clock, EventLog, EventQuery, InsertOutcome, RelayQueue, RelayStatus, StoredEvent,
};
use crate::store::memory::MemoryStore;
use stand_in::{Answer, StandIn};

pub const PIXEL: &str = "1234567890";
pub const TOKEN: &str = "capi-token";
/// An app secret no log line may contain (nor its proof).
pub const APP_SECRET: &str = "app-s3cret-never-logged";

/// 2024-01-01T00:00:00Z: where the relay's clock starts.
const EPOCH_MS: i64 = 1_704_067_200_000;

/// A clock that follows tokio's time from [`EPOCH_MS`]: under a paused runtime it moves only
/// when the runtime advances it (every task waiting on a timer), by exactly the time waited.
pub struct TokioClock(tokio::time::Instant);

impl TokioClock {
    /// Create it inside the runtime (it reads the runtime's clock).
    pub fn start() -> Arc<TokioClock> {
        Arc::new(TokioClock(tokio::time::Instant::now()))
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        EPOCH_MS + i64::try_from(self.0.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

/// The relay settings of the tests, as the end-to-end tests pass them (`--relay-interval-ms 50
/// --retry-base-ms 100 --retry-max-ms 400`), the rest at their defaults.
pub fn fast() -> Settings {
    Settings {
        batch: 1000,
        interval: Duration::from_millis(50),
        timeout: Duration::from_secs(30),
        retry: plan::Settings {
            retry_base_ms: 100,
            retry_max_ms: 400,
        },
        test_event_code: None,
    }
}

/// What the relay logs, at debug level and up, while the guard lives (this thread only: a
/// paused runtime runs every task on it).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Panic when the access token, an app secret ([`APP_SECRET`] or `also`) or its proof is
    /// in the log.
    pub fn assert_no_secret(&self, also: Option<&str>) {
        let log = self.text();
        for secret in [Some(APP_SECRET), also].into_iter().flatten() {
            let proof = capi::appsecret_proof(secret, TOKEN);
            for secret in [TOKEN, secret, proof.as_str()] {
                assert!(!log.contains(secret), "a secret leaked into the log: {log}");
            }
        }
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An event of `name` with event ID `eid` (a derived one when `None`), received `at_ms`, as a
/// beacon from a shop page becomes it.
pub fn event_at(name: &str, eid: Option<&str>, at_ms: i64) -> NewEvent {
    let beacon = Beacon {
        id: PIXEL.into(),
        ev: name.into(),
        dl: "http://shop.example/product/1".into(),
        rl: "http://shop.example/".into(),
        ts: u64::try_from(at_ms).unwrap(),
        eid: eid.map(str::to_owned),
        fbp: Some("fb.1.1596403881668.1116446470".into()),
        ..Beacon::default()
    };
    let ctx = RequestContext {
        client_ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (Test)".into()),
        received_at_ms: at_ms,
    };
    NewEvent::from_beacon(beacon, ctx, true).unwrap().0
}

/// `n` events of `name`, with event IDs `<prefix>-0` to `<prefix>-<n-1>`, received `at_ms`.
pub fn numbered(name: &str, prefix: &str, n: usize, at_ms: i64) -> Vec<NewEvent> {
    (0..n)
        .map(|i| event_at(name, Some(&format!("{prefix}-{i}")), at_ms))
        .collect()
}

/// [`numbered`] `AddToCart` events but the one at `bad`, a `BadEvent` with ID `bad-<bad>` (which
/// the stand-in refuses once told to).
pub fn one_bad(prefix: &str, n: usize, bad: usize, at_ms: i64) -> Vec<NewEvent> {
    let mut events = numbered("AddToCart", prefix, n, at_ms);
    events[bad] = event_at("BadEvent", Some(&format!("bad-{bad}")), at_ms);
    events
}

pub fn count(ids: &[String]) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for id in ids {
        *m.entry(id.as_str()).or_insert(0) += 1;
    }
    m
}

/// A counter (or labelled counter) as `/metrics` renders it, by the start of its line.
pub fn metric(metrics: &Metrics, line_start: &str) -> u64 {
    let text = metrics.render(&Gauges {
        ingest_queue: 0,
        relay_pending: 0,
        diagnostics: Vec::new(),
    });
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line_start)
                .and_then(|r| r.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// How often [`until`] looks, in the relay's time.
pub const POLL: Duration = Duration::from_millis(10);

/// Run the relay (in paused time) until `done` holds, looking every [`POLL`]; panics after
/// `within` of its time.
pub async fn until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// One collector's relay on the in-memory store, relaying [`PIXEL`] to a stand-in.
pub struct Twin {
    pub store: Arc<MemoryStore>,
    pub graph: Arc<StandIn>,
    pub clock: Arc<TokioClock>,
    pub metrics: Arc<Metrics>,
    pub logs: Logs,
    pub settings: Settings,
    pub app_secret: Option<&'static str>,
    commits: watch::Sender<u64>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The first twin of a test captures the log; its replicas write into the same.
    _logging: Option<tracing::subscriber::DefaultGuard>,
}

impl Twin {
    /// A store, a stand-in answering `script` first (then 200), the [`fast`] settings; the relay
    /// starts with [`Twin::start`], so events can be stored first and go as one batch.
    pub fn new(script: Vec<Answer>) -> Twin {
        Twin::on(Arc::new(MemoryStore::new()), script)
    }

    /// [`Twin::new`] on `store`.
    pub fn on(store: Arc<MemoryStore>, script: Vec<Answer>) -> Twin {
        let clock = TokioClock::start();
        let graph = StandIn::new(clock.clone());
        graph.script(script);
        let (logs, logging) = Logs::capture();
        Twin {
            store,
            graph,
            clock,
            metrics: Arc::default(),
            logs,
            settings: fast(),
            app_secret: None,
            commits: watch::channel(0).0,
            stop: watch::channel(false).0,
            tasks: Vec::new(),
            _logging: Some(logging),
        }
    }

    /// A second collector on the same events ([`MemoryStore::replica`]: claims of its own), with
    /// its own stand-in answering `script` first, on the same clock and settings, sharing the log.
    pub fn replica(&self, script: Vec<Answer>) -> Twin {
        let graph = StandIn::new(self.clock.clone());
        graph.script(script);
        Twin {
            store: Arc::new(self.store.replica()),
            graph,
            clock: self.clock.clone(),
            metrics: Arc::default(),
            logs: self.logs.clone(),
            settings: self.settings.clone(),
            app_secret: self.app_secret,
            commits: self.commits.clone(),
            stop: watch::channel(false).0,
            tasks: Vec::new(),
            _logging: None,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The context the relay runs on.
    pub fn context(&self) -> Context {
        Context {
            queue: self.store.clone(),
            clock: self.clock.clone(),
            graph: self.graph.clone(),
            metrics: self.metrics.clone(),
            commits: self.commits.subscribe(),
            settings: self.settings.clone(),
        }
    }

    /// Start the relay of [`PIXEL`] (with [`TOKEN`] and `app_secret`) and the expiry task.
    pub fn start(&mut self) {
        let pixel = Pixel {
            id: PIXEL.into(),
            auth: capi::Auth::new(TOKEN, self.app_secret),
        };
        let (stop, shutdown) = watch::channel(false);
        self.stop = stop;
        self.tasks = start(&self.context(), vec![pixel], shutdown);
    }

    /// Tell the relay to stop, and wait until every task has.
    pub async fn stop(&mut self) {
        self.stop.send_replace(true);
        for task in self.tasks.drain(..) {
            task.await.unwrap();
        }
    }

    /// Kill the relay where it stands (a replica killed mid-request): nothing is released.
    pub fn kill(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }

    /// Store `events` as the ingest writer does (one group commit), and signal the commit.
    pub fn store(&self, events: &[NewEvent]) -> Vec<InsertOutcome> {
        let outcomes = self.store.insert_batch(events).unwrap();
        self.commits.send_modify(|n| *n += 1);
        outcomes
    }

    pub fn events(&self) -> Vec<StoredEvent> {
        self.store
            .list(&EventQuery {
                limit: 100_000,
                ..EventQuery::default()
            })
            .unwrap()
    }

    /// Each event's status, by event ID.
    pub fn statuses(&self) -> HashMap<String, RelayStatus> {
        self.events()
            .into_iter()
            .map(|e| (e.event.event_id, e.relay_status))
            .collect()
    }

    pub fn pending(&self) -> u64 {
        self.store.pending_count().unwrap()
    }

    /// Run until `n` events are stored and none is pending; panics after `within`.
    pub async fn settled(&self, n: usize, within: Duration) -> Vec<StoredEvent> {
        let what = format!("{n} events settled");
        until(within, &what, || {
            let events = self.events();
            events.len() >= n
                && events
                    .iter()
                    .all(|e| e.relay_status != RelayStatus::Pending)
        })
        .await;
        self.events()
    }

    /// Run until the stand-in has accepted `n` events; panics after `within`.
    pub async fn accepted(&self, n: usize, within: Duration) -> Vec<String> {
        let what = format!("{n} events accepted");
        until(within, &what, || self.graph.accepted_ids().len() >= n).await;
        self.graph.accepted_ids()
    }

    /// Run until the stand-in has accepted `n` events, each once, and all are marked sent;
    /// panics after `within`. Returns the IDs accepted, in order.
    pub async fn sent_each_once(&self, n: usize, within: Duration) -> Vec<String> {
        let ids = self.accepted(n, within).await;
        assert_eq!(ids.len(), n, "{ids:?}");
        assert!(count(&ids).values().all(|k| *k == 1), "{ids:?}");
        let events = self.settled(n, within).await;
        assert!(
            events.iter().all(|e| e.relay_status == RelayStatus::Sent),
            "{events:?}"
        );
        ids
    }

    /// Run until `n` requests have arrived at the stand-in; panics after `within`.
    pub async fn arrived(&self, n: usize, within: Duration) {
        let what = format!("{n} requests arrived");
        until(within, &what, || self.graph.arrived() >= n).await;
    }

    pub fn metric(&self, line_start: &str) -> u64 {
        metric(&self.metrics, line_start)
    }
}

impl Drop for Twin {
    /// As the end-to-end tests' collector: no secret in what it logged.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.logs.assert_no_secret(self.app_secret);
        }
    }
}
