//! The storage ports, by capability, and the types they share. Everything that stores events
//! implements them ([`crate::store`]: SQLite, PostgreSQL, and an in-memory twin for tests); every
//! consumer receives only the port it uses:
//!
//! ```text
//!   ingest (group commit) ──> EventLog      insert_batch (dedup), list, purge, check_writable
//!   relay ──────────────────> RelayQueue    claim, renew, release, mark sent/failed, expire
//!   reports, audiences ─────> ReportSource  scan, duplicates, user_data
//! ```
//!
//! This module is a leaf of the collector: it imports the event it stores ([`crate::event`]) and
//! nothing from `ingest`, `reports`, `relay`, `http` or `store`.

mod clock;
mod event_log;
mod relay_queue;
mod report_source;
mod types;

pub use clock::{Clock, ManualClock, SystemClock};
pub use event_log::EventLog;
pub use relay_queue::RelayQueue;
pub use report_source::{Columns, Derived, ReportSource, Row, Scan};
pub use types::{
    older_than, EventQuery, InsertOutcome, RelayStatus, StoreError, StoredEvent, COMMIT_LINGER,
    DEDUP_WINDOW_MS, EXPIRED_MESSAGE,
};
