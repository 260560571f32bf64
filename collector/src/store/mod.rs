//! Storage behind a small trait, with two backends: one SQLite file (the default, one process)
//! and PostgreSQL (shared by several collector replicas).
//!
//! The trait is synchronous: the ingest writer runs on its own thread and calls
//! [`Store::insert_batch`] once per group commit; async callers go through `spawn_blocking`.
//! Deduplication is part of the contract: `(pixel_id, event_name, event_id)` is stored at most once
//! within [`DEDUP_WINDOW_MS`], by every replica together. So is the relay's claim
//! ([`Store::claim_pending`]): an event is handed to one replica at a time.

pub mod columns;
#[cfg(test)]
mod contract;
mod dedup;
pub mod postgres;
pub(crate) mod sqlite;

pub use postgres::{PgOptions, PgStore};
pub use sqlite::SqliteStore;

use std::sync::Arc;

use crate::config::Config;

use crate::event::NewEvent;

/// A repeat of `(pixel_id, event_name, event_id)` within this window is a duplicate (48 hours,
/// the window Meta deduplicates browser and server events in).
pub const DEDUP_WINDOW_MS: i64 = 48 * 3600 * 1000;

/// What became of one event handed to [`Store::insert_batch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    Stored,
    Duplicate,
}

/// Where an event is in its journey to the Conversions API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelayStatus {
    /// Waiting to be sent (or retried).
    Pending,
    /// Meta answered 2xx for a request that carried it.
    Sent,
    /// Meta refused this very event (its message is in `relay_error`); never retried.
    Failed,
    /// Older than 7 days before it could be sent; never sent.
    Expired,
    /// The pixel has no access token: stored and shown only.
    NotRelayed,
}

impl RelayStatus {
    pub const ALL: [RelayStatus; 5] = [
        RelayStatus::Pending,
        RelayStatus::Sent,
        RelayStatus::Failed,
        RelayStatus::Expired,
        RelayStatus::NotRelayed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RelayStatus::Pending => "pending",
            RelayStatus::Sent => "sent",
            RelayStatus::Failed => "failed",
            RelayStatus::Expired => "expired",
            RelayStatus::NotRelayed => "not_relayed",
        }
    }

    pub fn parse(s: &str) -> Option<RelayStatus> {
        RelayStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// An event as read back from the store: the event as it was stored, and where it is in its
/// journey to the Conversions API.
///
/// `event.relay` is read back from the status: an event stored with `relay` starts
/// [`RelayStatus::Pending`] and never becomes [`RelayStatus::NotRelayed`], one stored without it
/// stays `NotRelayed`. So `event` equals the [`NewEvent`] handed to [`Store::insert_batch`].
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Store-assigned, increasing with arrival.
    pub id: i64,
    pub event: NewEvent,
    pub relay_status: RelayStatus,
    pub relay_attempts: i64,
    pub relay_error: Option<String>,
}

/// Filter for [`Store::list`].
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub pixel_id: Option<String>,
    pub event_name: Option<String>,
    pub limit: usize,
}

/// A storage failure: always an internal fault, never the client's.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// The storage port. The reports read through [`ReportSource`](crate::reports::ReportSource).
pub trait Store: crate::reports::ReportSource + Send + Sync + 'static {
    /// Store `events` in one transaction (one disk sync), deduplicating within
    /// [`DEDUP_WINDOW_MS`] of each event's `received_at_ms`. Only returns after the commit.
    fn insert_batch(&self, events: &[NewEvent]) -> Result<Vec<InsertOutcome>, StoreError>;

    /// How long the group-commit writer waits for more events before a commit, when the
    /// previous commit held several: worth it where a commit waits on something other than
    /// this process's CPU (an fsync, a round trip to a database server), since one such wait
    /// then covers more events. [`crate::ingest::LINGER`] unless a store says otherwise.
    fn commit_linger(&self) -> std::time::Duration {
        crate::ingest::LINGER
    }

    /// Newest first.
    fn list(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;

    /// Pending events of `pixel_id`, oldest first.
    fn pending(&self, pixel_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError>;

    /// Mark events sent (after a 2xx from the Conversions API).
    fn mark_sent(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError>;

    /// Mark one event failed for good, with Meta's message.
    fn mark_failed(&self, id: i64, message: &str, now_ms: i64) -> Result<(), StoreError>;

    /// Count a failed attempt on events that stay pending, with the last error.
    fn record_attempt(&self, ids: &[i64], error: &str) -> Result<(), StoreError>;

    /// Delete events received before `received_before_ms` (if any) and dedup keys older than the
    /// window. Returns the number of events deleted.
    fn purge(&self, received_before_ms: Option<i64>, now_ms: i64) -> Result<u64, StoreError>;

    /// Pending events of `pixel_id` with an id above `after_id`, oldest first: the relay pages
    /// through the queue with it, leaving out the events its breaker holds.
    fn pending_after(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Expiry in chunks, off the writer's lock: look at up to `limit` pending events of `pixel_id`
    /// with an id above `after_id` (on a read connection) and return the ids of those with
    /// `event_time` before `cutoff_secs`, and the last id looked at (`None`: no pending event is
    /// left above `after_id`).
    fn pending_older_than(
        &self,
        pixel_id: &str,
        cutoff_secs: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<(Vec<i64>, Option<i64>), StoreError>;

    /// Mark these events expired if they are still pending; returns how many were.
    fn expire_ids(&self, ids: &[i64]) -> Result<u64, StoreError>;

    /// Mark every pending event of `pixel_id` with `event_time` before `cutoff_secs` expired:
    /// the relay's chunked walk ([`Store::pending_older_than`] + [`Store::expire_ids`]) in one
    /// call, for tools and tests. Returns how many were.
    fn expire(&self, pixel_id: &str, cutoff_secs: i64) -> Result<u64, StoreError> {
        let (mut after, mut expired) = (0, 0);
        while let (old, Some(last)) = self.pending_older_than(pixel_id, cutoff_secs, after, 5000)? {
            expired += self.expire_ids(&old)?;
            after = last;
        }
        Ok(expired)
    }

    /// Events waiting for the relay, all pixels.
    fn pending_count(&self) -> Result<u64, StoreError>;

    /// The relay's read: claim up to `limit` pending events of `pixel_id` with an id above
    /// `after_id`, oldest first, for this process. A claimed event is not handed to another
    /// replica until its claim is released ([`Store::mark_sent`], [`Store::mark_failed`],
    /// [`Store::record_attempt`], [`Store::release`]) or its lease runs out (the replica died
    /// mid-request); this process may claim its own events again. On a store only one process
    /// uses (SQLite), this is [`Store::pending_after`].
    fn claim_pending(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let _ = now_ms;
        self.pending_after(pixel_id, after_id, limit)
    }

    /// Extend this process's claim on these events (those still pending and still its own) by a
    /// whole lease from `now_ms`: a round that outlasts half its lease renews it.
    fn renew(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let _ = (ids, now_ms);
        Ok(())
    }

    /// Give up the claim on these events (still pending, untouched: shutdown) so that another
    /// replica may send them at once.
    fn release(&self, ids: &[i64]) -> Result<(), StoreError> {
        let _ = ids;
        Ok(())
    }

    /// Commit a transaction that writes, without changing any data: how the ingest writer
    /// learns that a failing store (disk full, locked) can write again when no beacon arrives.
    fn check_writable(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

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
