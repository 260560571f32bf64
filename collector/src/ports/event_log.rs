//! The event log port: where the ingest writer's group commits go, deduplicated, and what the
//! admin API and the retention task read and trim.

use std::time::Duration;

use super::types::{EventQuery, InsertOutcome, StoreError, StoredEvent, COMMIT_LINGER};
use crate::event::NewEvent;

/// Synchronous: the ingest writer runs on its own thread and calls [`EventLog::insert_batch`]
/// once per group commit; async callers go through `spawn_blocking`.
///
/// Deduplication is part of the contract: `(pixel_id, event_name, event_id)` is stored at most
/// once within [`DEDUP_WINDOW_MS`](super::DEDUP_WINDOW_MS) of each event's `received_at_ms`, by
/// every replica together.
pub trait EventLog: Send + Sync + 'static {
    /// Store `events` in one transaction (one disk sync), deduplicating within the window of
    /// each event's `received_at_ms`. Only returns after the commit.
    fn insert_batch(&self, events: &[NewEvent]) -> Result<Vec<InsertOutcome>, StoreError>;

    /// How long the group-commit writer waits for more events before a commit, when the
    /// previous commit held several: worth it where a commit waits on something other than
    /// this process's CPU (an fsync, a round trip to a database server), since one such wait
    /// then covers more events. [`COMMIT_LINGER`] unless a store says otherwise.
    fn commit_linger(&self) -> Duration {
        COMMIT_LINGER
    }

    /// Commit a transaction that writes, without changing any data: how the ingest writer
    /// learns that a failing store (disk full, locked) can write again when no beacon arrives.
    fn check_writable(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Newest first.
    fn list(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;

    /// Delete events received before `received_before_ms` (if any) and dedup keys older than the
    /// window. Returns the number of events deleted.
    fn purge(&self, received_before_ms: Option<i64>, now_ms: i64) -> Result<u64, StoreError>;
}
