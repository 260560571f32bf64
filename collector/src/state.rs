//! What the handlers and background tasks share: the configuration, the storage ports (each
//! consumer takes the one it uses), the clock, the ingest queue and the metrics.

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::Config;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::ports::{Clock, DiagnosticSource, EventLog, RelayQueue, ReportSource, SystemClock};
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
    /// What the diagnostics report reads (and a refused server event records).
    pub diagnostics: Arc<dyn DiagnosticSource>,
    /// The time of receipt of beacons, the relay's leases and expiry, retention.
    pub clock: Arc<dyn Clock>,
    pub ingest: Ingest,
    /// Behind an `Arc`: the relay holds them too, without the rest of the state.
    pub metrics: Arc<Metrics>,
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

    /// [`AppState::new`] on another clock (tests move a [`crate::ports::ManualClock`] by hand).
    pub fn with_clock(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<AppState> {
        let (commit_tx, commits) = watch::channel(0u64);
        let (ingest, _writer) = Ingest::start(store.clone(), commit_tx)?;
        Ok(AppState(Arc::new(Shared {
            config,
            log: store.clone(),
            queue: store.clone(),
            diagnostics: store.clone(),
            reports: store,
            clock,
            ingest,
            metrics: Arc::default(),
            commits,
        })))
    }
}
