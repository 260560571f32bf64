//! What the three storage ports share: the stored event, where it is in its journey to the
//! Conversions API, the storage error, and the rules every store keeps alike (the deduplication
//! window, the group-commit linger).

use std::time::Duration;

use crate::event::NewEvent;

/// A repeat of `(pixel_id, event_name, event_id)` within this window is a duplicate (48 hours,
/// the window Meta deduplicates browser and server events in).
pub const DEDUP_WINDOW_MS: i64 = 48 * 3600 * 1000;

/// How long the writer waits for more events before a commit, when the previous commit held more
/// than one (PostgreSQL's `commit_delay` and `commit_siblings`, for the same reason), for stores
/// whose commit waits on an fsync or a round trip ([`EventLog::commit_linger`]; SQLite with
/// `--sync normal` does not wait). Under `loadgen`'s 64 connections a commit held 6 beacons on
/// average without it and 22 with it; a lone beacon on a quiet collector never waits.
///
/// [`EventLog::commit_linger`]: super::EventLog::commit_linger
pub const COMMIT_LINGER: Duration = Duration::from_micros(100);

/// The message of an event that could not be sent within 7 days.
pub const EXPIRED_MESSAGE: &str = "older than 7 days: the Conversions API no longer accepts it";

/// What became of one event handed to [`EventLog::insert_batch`](super::EventLog::insert_batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    Stored,
    /// A repeat of a copy the store holds: dropped.
    Duplicate,
    /// The other copy of a stored event (a server copy of a beacon, or the reverse): merged into
    /// it ([`crate::ports::merge`]).
    Merged,
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

    /// The status an event starts in: pending when it is to be relayed.
    pub fn initial(relay: bool) -> RelayStatus {
        if relay {
            RelayStatus::Pending
        } else {
            RelayStatus::NotRelayed
        }
    }
}

/// An event as read back from the store: the event as it was stored, and where it is in its
/// journey to the Conversions API.
///
/// `event.relay` is read back from the status: an event stored with `relay` starts
/// [`RelayStatus::Pending`] and never becomes [`RelayStatus::NotRelayed`], one stored without it
/// stays `NotRelayed`. So `event` equals the [`NewEvent`] handed to `insert_batch`.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    /// Store-assigned, increasing with arrival.
    pub id: i64,
    pub event: NewEvent,
    pub relay_status: RelayStatus,
    pub relay_attempts: i64,
    pub relay_error: Option<String>,
}

/// Filter for [`EventLog::list`](super::EventLog::list).
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

/// The expiry walk's answer from `(id, event_time)` rows in id order: the ids older than
/// `cutoff_secs`, and the last id looked at. What every [`RelayQueue::pending_older_than`]
/// returns.
///
/// [`RelayQueue::pending_older_than`]: super::RelayQueue::pending_older_than
pub fn older_than(
    rows: impl IntoIterator<Item = (i64, i64)>,
    cutoff_secs: i64,
) -> (Vec<i64>, Option<i64>) {
    let (mut old, mut last) = (Vec::new(), None);
    for (id, event_time) in rows {
        if event_time < cutoff_secs {
            old.push(id);
        }
        last = Some(id);
    }
    (old, last)
}
