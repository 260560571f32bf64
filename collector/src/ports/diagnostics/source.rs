//! The diagnostics port: what the report reads, and the write of a refusal at the door.

use super::super::types::StoreError;
use super::tally::MarkRow;

/// The read side, and the write of what never reaches the events table (a server event refused
/// at the door).
pub trait DiagnosticSource: Send + Sync {
    /// The rows of `pixel_id` for UTC days `from_day..=to_day`, and every
    /// `test_event_code_in_use` row up to `to_day` (how long a test code has been in use).
    fn marks(&self, pixel_id: &str, from_day: i64, to_day: i64)
        -> Result<Vec<MarkRow>, StoreError>;

    /// Add rows in a transaction of their own.
    fn record(&self, rows: Vec<MarkRow>) -> Result<(), StoreError>;
}
