//! The embedded default store: one SQLite file in WAL mode, schema versions in `schema_migrations`.
//!
//! A writer connection (ingest group commits and relay status updates, serialised by a mutex)
//! and [`READERS`] reader connections (API, reports, relay queue), which WAL lets run beside the
//! writer and beside each other: [`REPORT_READERS`] of them for the reports, one kept free of
//! them for everything else.

mod connection;
mod diagnostics;
mod error;
mod log;
mod people;
mod people_source;
mod queue;
mod rollup;
mod rows;
mod schema;
mod source;
#[cfg(test)]
mod tests;

pub use connection::{SqliteStore, READERS, REPORT_READERS, WRITE_BUSY_TIMEOUT_MS};
pub use rollup::BACKFILL_CHUNK;
