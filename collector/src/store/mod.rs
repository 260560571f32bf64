//! The stores: every backend implements the three ports of [`crate::ports`] (event log, relay
//! queue, report source), each in a folder with a file per port.
//!
//! - [`sqlite`]: one SQLite file, the default (one process);
//! - [`postgres`]: one PostgreSQL database shared by several collector replicas;
//! - [`memory`]: the in-memory twin, with an injected clock, that the logic tests run on.
//!
//! All three pass the same contract tests (`contract.rs`). What the two SQL backends share is
//! written once: the events table's column list and JSON columns ([`columns`]) and the
//! dialect-neutral report scan ([`scan_sql`]).

pub mod columns;
#[cfg(test)]
mod contract;
mod dedup;
pub mod memory;
pub mod postgres;
#[cfg(test)]
mod rollup_contract;
pub mod scan_sql;
pub mod sqlite;

use std::sync::Arc;

use crate::config::Config;
use crate::ports::{DiagnosticSource, EventLog, RelayQueue, ReportSource, StoreError};
use postgres::{PgOptions, PgStore};
use sqlite::SqliteStore;

/// A whole store: the ports on one backend. What `open` returns, and what tools that
/// write and relay (the seed) take; the collector hands each consumer only its port.
pub trait Store: EventLog + RelayQueue + ReportSource + DiagnosticSource {}

impl<T: EventLog + RelayQueue + ReportSource + DiagnosticSource> Store for T {}

/// Open the store `config.db` names: a PostgreSQL database for a `postgres://` URL, else the
/// SQLite file at that path.
pub fn open(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    match &config.postgres {
        Some(url) => Ok(Arc::new(PgStore::open(
            url,
            PgOptions::from_config(config),
        )?)),
        None => Ok(Arc::new(SqliteStore::open(&config.db, config.sync)?)),
    }
}

/// `collector rebuild`: every rollup of the SQLite file `config.db` recomputed from its events
/// (`progress(id, last id)` as it goes); how many events it counted. `None` for PostgreSQL, which
/// keeps none (its reports compute them from the events:
/// [`ReportSource::rollup`](crate::ports::ReportSource::rollup)'s default).
pub fn rebuild_rollups(
    config: &Config,
    progress: &mut dyn FnMut(i64, i64),
) -> Result<Option<i64>, StoreError> {
    if config.postgres.is_some() {
        return Ok(None);
    }
    let store = SqliteStore::open(&config.db, config.sync)?;
    store.rebuild_rollups(progress).map(Some)
}
