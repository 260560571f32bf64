//! The in-memory twin of the store: the three ports over a few maps behind a mutex, with the
//! same deduplication index as SQLite and the same relay leases as PostgreSQL, so it passes the
//! same contract tests (`store/contract.rs`) as both. The logic of ingest, the relay and the
//! reports is tested on it without a file, a socket or a sleep; it can also be told to fail
//! (a full disk, a writer that hangs or panics) and hand out handles that act as replicas.
//!
//! Not for production: nothing survives the process.

mod diagnostics;
mod log;
mod people;
mod people_tables;
mod queue;
mod source;
mod state;
#[cfg(test)]
mod tests;

pub use people_tables::MemPeople;
pub use state::{Faults, MemoryStore};
