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

/// What `collector rebuild` recomputed: the events its rollups counted (`None` on PostgreSQL,
/// which keeps none: its reports compute them from the events,
/// [`ReportSource::rollup`](crate::ports::ReportSource::rollup)'s default), and the events the
/// per-person state ([`crate::ports::people`]) was rebuilt from.
#[derive(Clone, Copy, Debug)]
pub struct Rebuilt {
    pub rollups: Option<i64>,
    pub people: u64,
}

/// `collector rebuild`: every write-time aggregate of the store `config.db` names recomputed from
/// its events: the rollups (SQLite; `progress(id, last id)` as it goes), then the per-person
/// state (both stores).
pub fn rebuild(config: &Config, progress: &mut dyn FnMut(i64, i64)) -> Result<Rebuilt, StoreError> {
    if let Some(url) = &config.postgres {
        let store = PgStore::open(url, PgOptions::from_config(config))?;
        let people = store.rebuild_people()?;
        return Ok(Rebuilt {
            rollups: None,
            people,
        });
    }
    let store = SqliteStore::open(&config.db, config.sync)?;
    let rollups = store.rebuild_rollups(progress)?;
    let people = store.rebuild_people()?;
    Ok(Rebuilt {
        rollups: Some(rollups),
        people,
    })
}
