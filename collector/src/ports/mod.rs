//! The storage ports, by capability, and the types they share. Everything that stores events
//! implements them ([`crate::store`]: SQLite, PostgreSQL, and an in-memory twin for tests); every
//! consumer receives only the port it uses:
//!
//! ```text
//!   ingest (group commit) ──> EventLog      insert_batch (dedup), list, purge, check_writable
//!   relay ──────────────────> RelayQueue    claim, renew, release, mark sent/failed, expire
//!   reports, audiences ─────> ReportSource  scan, duplicates, user_data, rollup
//!   diagnostics report ─────> DiagnosticSource  marks (kept at write time), record
//! ```
//!
//! Beside them, what every store derives from an event when it stores it and the reports read back
//! ([`derivation`]: which match keys it carries, iOS or not, landing or not, its visitor without
//! `fbp`; [`user_data`]: the stored user-data column read without a copy), and what becomes of
//! the other copy of a stored event ([`merge`]: a server copy of a beacon, or the reverse), and
//! the write-time aggregates every store keeps alike ([`rollup`]: an event's facts as the cells
//! it contributes, applied as "minus old, plus new" by every mutation).
//!
//! This module is a leaf of the collector: it imports the event it stores ([`crate::event`]) and
//! nothing from `ingest`, `reports`, `relay`, `http` or `store`.

mod cells;
mod clock;
pub mod derivation;
pub mod diagnostics;
mod event_log;
pub mod merge;
pub mod people;
mod people_source;
mod relay_queue;
mod report_source;
pub mod rollup;
mod types;
pub mod user_data;

pub use clock::{Clock, ManualClock, SystemClock};
pub use diagnostics::DiagnosticSource;
pub use event_log::EventLog;
pub use relay_queue::RelayQueue;
pub use report_source::{Columns, Derived, ReportSource, Row, Scan};
pub use types::{
    older_than, EventQuery, InsertOutcome, RelayStatus, StoreError, StoredEvent, COMMIT_LINGER,
    DEDUP_WINDOW_MS, EXPIRED_MESSAGE,
};
