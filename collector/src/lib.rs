//! # collector: the first-party collection endpoint of the drop-in Meta Pixel
//!
//! In scope: receiving `/tr` beacons (GET query, POST form/multipart/text bodies) with core's wire
//! decoder, hashing any plain identifier with core's normaliser, storing events durably with
//! deduplication (in SQLite, or in PostgreSQL shared by several replicas), relaying them to
//! Meta's Conversions API, serving the built pixel and an optional static site, first-party
//! `_fbp`/`_fbc` cookies, metrics and a small admin API.
//!
//! Out of scope: decoding or normalising anything itself (that is `pixel-core`), TLS for HTTP (run
//! behind a reverse proxy), storage engines beyond the two behind [`ports`].
//!
//! ```text
//!   browser ──/tr──> http::beacon ──> ingest (group commit) ──EventLog──> store (SQLite | PostgreSQL)
//!                                                                          │
//!   Meta Graph API <── relay (batches of ≤1000, retry, bisect) <─RelayQueue─┤
//!   dashboard <── http::reports <── reports (one pass per report) <─ReportSource┘
//! ```
//!
//! The storage ports ([`ports`]) are a leaf: each consumer gets only the one it uses from
//! [`Shared`], and the stores ([`store`]) implement all three. The collector's README draws the
//! whole module map ("Architecture").
//!
//! `main` only parses flags and binds; [`app`] builds the router so tests can call it with
//! `tower::ServiceExt::oneshot`, and [`server::run`] adds the background tasks.

pub mod config;
pub mod error;
pub mod event;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod ports;
pub mod relay;
pub mod reports;
pub mod seed;
pub mod server;
pub mod store;

use std::sync::Arc;

use axum::Router;
use tokio::sync::watch;

use crate::config::Config;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::ports::{Clock, EventLog, RelayQueue, ReportSource, SystemClock};
use crate::store::Store;

/// Everything the handlers and background tasks share: each takes the one port it uses.
pub struct Shared {
    pub config: Config,
    /// Written by the ingest writer; listed by the admin API, trimmed by retention.
    pub log: Arc<dyn EventLog>,
    /// The relay's pending events.
    pub queue: Arc<dyn RelayQueue>,
    /// What the reports and audiences read.
    pub reports: Arc<dyn ReportSource>,
    /// The time of receipt of beacons, the relay's leases and expiry, retention.
    pub clock: Arc<dyn Clock>,
    pub ingest: Ingest,
    pub metrics: Metrics,
    pub statics: http::static_files::StaticFiles,
    /// Bumped after each group commit that stored an event (wakes the relay).
    pub commits: watch::Receiver<u64>,
}

/// Cheap to clone handle on [`Shared`].
#[derive(Clone)]
pub struct AppState(pub Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Build the state on the machine's clock and start the ingest writer thread.
    pub fn new(config: Config, store: Arc<dyn Store>) -> std::io::Result<AppState> {
        AppState::with_clock(config, store, Arc::new(SystemClock))
    }

    /// [`AppState::new`] on another clock (tests move a [`ports::ManualClock`] by hand).
    pub fn with_clock(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<AppState> {
        let (commit_tx, commits) = watch::channel(0u64);
        let (ingest, _writer) = Ingest::start(store.clone(), commit_tx)?;
        let statics = http::static_files::StaticFiles::new(&config);
        Ok(AppState(Arc::new(Shared {
            config,
            log: store.clone(),
            queue: store.clone(),
            reports: store,
            clock,
            ingest,
            metrics: Metrics::default(),
            statics,
            commits,
        })))
    }
}

/// The HTTP application.
pub fn app(state: AppState) -> Router {
    http::router(state)
}
