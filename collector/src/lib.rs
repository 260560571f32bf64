//! # collector: the first-party collection endpoint of the drop-in Meta Pixel
//!
//! In scope: receiving `/tr` beacons (GET query, POST form/multipart/text bodies) with core's wire
//! decoder, hashing any plain identifier with core's normaliser, storing events durably with
//! deduplication (in SQLite, or in PostgreSQL shared by several replicas), relaying them to
//! Meta's Conversions API, serving the built pixel and an optional static site, first-party
//! `_fbp`/`_fbc` cookies, metrics and a small admin API.
//!
//! Out of scope: decoding or normalising anything itself (that is `pixel-core`), TLS for HTTP (run
//! behind a reverse proxy), storage engines beyond the two behind [`store::Store`].
//!
//! ```text
//!   browser ──/tr──> http::beacon ──> ingest (group commit) ──> store (SQLite WAL | PostgreSQL)
//!                                                                   │
//!   Meta Graph API <── relay (batches of ≤1000, retry, bisect) <────┘
//! ```
//!
//! `main` only parses flags and binds; [`app`] builds the router so tests can call it with
//! `tower::ServiceExt::oneshot`, and [`server::run`] adds the background tasks.

pub mod config;
pub mod error;
pub mod event;
pub mod http;
pub mod ingest;
pub mod metrics;
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
use crate::store::Store;

/// Everything the handlers and background tasks share.
pub struct Shared {
    pub config: Config,
    pub store: Arc<dyn Store>,
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
    /// Build the state and start the ingest writer thread.
    pub fn new(config: Config, store: Arc<dyn Store>) -> std::io::Result<AppState> {
        let (commit_tx, commits) = watch::channel(0u64);
        let (ingest, _writer) = Ingest::start(store.clone(), commit_tx)?;
        let statics = http::static_files::StaticFiles::new(&config);
        Ok(AppState(Arc::new(Shared {
            config,
            store,
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

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
