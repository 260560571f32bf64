//! What a relay task runs on ([`Context`]) and its settings, and how it calls the synchronous
//! queue from async code ([`blocking`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::graph::Graph;
use super::plan;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::ports::{Clock, RelayQueue, StoreError};

/// What the relay runs on, and nothing else: the queue it claims and marks, the clock, the
/// Conversions API, the counters, the signal of new commits, and its settings. [`super::spawn`] builds
/// the collector's from `AppState`; the relay's tests build one on the in-memory store with a
/// scripted Graph API and a clock that follows tokio's paused time.
#[derive(Clone)]
pub struct Context {
    pub queue: Arc<dyn RelayQueue>,
    pub clock: Arc<dyn Clock>,
    pub graph: Arc<dyn Graph>,
    pub metrics: Arc<Metrics>,
    /// Bumped after each group commit that stored an event: ends the idle wait.
    pub commits: watch::Receiver<u64>,
    pub settings: Settings,
}

/// The relay's flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--relay-batch`: events per request (at most 1000).
    pub batch: usize,
    /// `--relay-interval-ms`: the idle wait when nothing is pending (a commit ends it early).
    pub interval: Duration,
    /// `--relay-timeout-ms`: a round that has held its claim this long (half the lease) renews it.
    pub timeout: Duration,
    /// `--retry-base-ms` and `--retry-max-ms`.
    pub retry: plan::Settings,
    /// `--test-event-code`.
    pub test_event_code: Option<String>,
}

impl Settings {
    pub fn of(config: &Config) -> Settings {
        Settings {
            batch: usize::try_from(config.relay_batch).unwrap_or(1000),
            interval: Duration::from_millis(config.relay_interval_ms),
            timeout: Duration::from_millis(config.relay_timeout_ms),
            retry: plan::Settings {
                retry_base_ms: config.retry_base_ms,
                retry_max_ms: config.retry_max_ms,
            },
            test_event_code: config.test_event_code.clone(),
        }
    }
}

/// Run a queue call on the blocking pool.
pub(super) async fn blocking<T, F>(queue: &Arc<dyn RelayQueue>, f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn RelayQueue) -> Result<T, StoreError> + Send + 'static,
{
    let queue = queue.clone();
    tokio::task::spawn_blocking(move || f(queue.as_ref()))
        .await
        .map_err(|e| StoreError(format!("store task: {e}")))?
}
