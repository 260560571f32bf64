//! The embedded default store: one SQLite file in WAL mode, schema versions in `schema_migrations`.
//!
//! A writer connection (ingest group commits and relay status updates, serialised by a mutex)
//! and [`READERS`] reader connections (API, reports, relay queue), which WAL lets run beside the
//! writer and beside each other: [`REPORT_READERS`] of them for the reports, one kept free of
//! them for everything else.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

pub(crate) mod reports;
mod rows;
mod schema;

use rusqlite::{params, Connection, OptionalExtension};

use super::columns::{custom_data_json, derive_event, dpo_json, older_than, user_data_json};
use super::dedup::{self, DedupIndex};
use super::{
    EventQuery, InsertOutcome, RelayStatus, Store, StoreError, StoredEvent, DEDUP_WINDOW_MS,
};
use crate::config::SyncMode;
use crate::event::NewEvent;
use rows::{row_to_event, EVENT_COLUMNS};
use schema::{migrate, start_checkpointer};

/// How long the writer waits for a write lock another connection holds before its commit fails
/// (and the beacons of that group commit get 503): short, so a locked database is a quick
/// `Retry-After`, not a hang.
pub const WRITE_BUSY_TIMEOUT_MS: u32 = 2000;

/// Rows deleted per purge transaction, so ingest never waits long on the write lock.
const PURGE_CHUNK: i64 = 5000;
/// Events marked sent per transaction, for the same reason.
const MARK_CHUNK: usize = 250;

/// Reader connections: a report over a long range keeps one busy on a core for a good part of a
/// second, and the dashboard asks for six at once, so [`REPORT_READERS`] run side by side (the
/// machine's two cores: more would only share them, and each report would arrive later), and one
/// more is left for the relay's and the API's short reads, which never wait behind a report.
pub const READERS: usize = 3;
/// The readers the reports may take (the first ones).
pub const REPORT_READERS: usize = 2;
const _: () = assert!(REPORT_READERS >= 1 && READERS > REPORT_READERS);

/// SQLite implementation of [`Store`].
pub struct SqliteStore {
    writer: Mutex<Writer>,
    readers: Vec<Mutex<Connection>>,
    /// Which reader a caller waits for when all are busy (in turn).
    next_reader: AtomicUsize,
    /// Dropping it stops the checkpoint thread.
    _checkpointer: std::sync::mpsc::Sender<()>,
    /// See [`Store::commit_linger`].
    linger: std::time::Duration,
}

/// The write connection and the deduplication index it keeps in step with the events table.
struct Writer {
    conn: Connection,
    dedup: DedupIndex,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl SqliteStore {
    /// Open (creating when missing) the database at `path`, switch to WAL and run migrations.
    pub fn open(path: &Path, sync: SyncMode) -> Result<SqliteStore, StoreError> {
        let writer = Connection::open(path).map_err(err)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError(format!(
                "could not switch to WAL mode (got {mode})"
            )));
        }
        let sync_sql = match sync {
            SyncMode::Full => "PRAGMA synchronous = FULL",
            SyncMode::Normal => "PRAGMA synchronous = NORMAL",
        };
        writer
            .execute_batch(&format!(
                "{sync_sql}; PRAGMA busy_timeout = {WRITE_BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON;
                 PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;
                 PRAGMA cache_size = -32768;"
            ))
            .map_err(err)?;
        migrate(&writer)?;
        let checkpointer = start_checkpointer(path, sync_sql)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open(path).map_err(err)?;
                // The reports scan whole ranges: reading the file through a memory map (up to
                // 1 GiB, shared by the readers) spares a copy and a system call per page.
                reader
                    .execute_batch(
                        "PRAGMA busy_timeout = 10000; PRAGMA query_only = ON;
                         PRAGMA cache_size = -32768; PRAGMA mmap_size = 1073741824;",
                    )
                    .map_err(err)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let store = SqliteStore {
            writer: Mutex::new(Writer {
                conn: writer,
                dedup: DedupIndex::default(),
            }),
            readers,
            next_reader: AtomicUsize::new(0),
            _checkpointer: checkpointer,
            // With `normal`, a commit is a write into the WAL, CPU on this machine: waiting
            // for more events leaves a core idle that handlers could use (in `loadgen`, 1.55
            // of 2 CPUs busy with the wait, against 1.7 without). With `full` it waits for an
            // fsync, and one fsync should cover as many events as it can.
            linger: match sync {
                SyncMode::Normal => std::time::Duration::ZERO,
                SyncMode::Full => crate::ingest::LINGER,
            },
        };
        store.load_dedup(crate::now_ms())?;
        Ok(store)
    }

    /// Rebuild the deduplication index from the events received within the window.
    fn load_dedup(&self, now_ms: i64) -> Result<(), StoreError> {
        let since = now_ms - DEDUP_WINDOW_MS;
        let after_id = self.last_id_received_before(since)?.unwrap_or(0);
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(
                "SELECT pixel_id, event_name, event_id, received_at_ms FROM events
                 WHERE id > ?1 AND received_at_ms >= ?2",
            )
            .map_err(err)?;
        let mut rows = stmt.query(params![after_id, since]).map_err(err)?;
        let mut w = self.writer()?;
        while let Some(r) = rows.next().map_err(err)? {
            let (p, n, e): (String, String, String) = (
                r.get(0).map_err(err)?,
                r.get(1).map_err(err)?,
                r.get(2).map_err(err)?,
            );
            w.dedup.load(dedup::key(&p, &n, &e), r.get(3).map_err(err)?);
        }
        tracing::info!(
            keys = w.dedup.len(),
            "deduplication index loaded (events of the last 48 h)"
        );
        Ok(())
    }

    fn writer(&self) -> Result<MutexGuard<'_, Writer>, StoreError> {
        self.writer
            .lock()
            .map_err(|_| StoreError("writer connection poisoned".into()))
    }

    /// A reader connection for a short read: a free one, the one reports never take first; when
    /// all are busy, that one once it is free.
    fn reader(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let n = self.readers.len();
        self.free_reader((0..n).rev(), n.saturating_sub(1))
    }

    /// A reader connection for a report: a free one of the first [`REPORT_READERS`], else the
    /// next of them in turn once it is free.
    fn report_reader(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let n = REPORT_READERS.min(self.readers.len()).max(1);
        let turn = self.next_reader.fetch_add(1, Ordering::Relaxed) % n;
        self.free_reader(0..n, turn)
    }

    fn free_reader(
        &self,
        candidates: impl Iterator<Item = usize>,
        wait_for: usize,
    ) -> Result<MutexGuard<'_, Connection>, StoreError> {
        let poisoned = || StoreError("reader connection poisoned".into());
        for r in candidates.filter_map(|i| self.readers.get(i)) {
            match r.try_lock() {
                Ok(conn) => return Ok(conn),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Poisoned(_)) => return Err(poisoned()),
            }
        }
        self.readers
            .get(wait_for)
            .ok_or_else(|| StoreError("no reader connection".into()))?
            .lock()
            .map_err(|_| poisoned())
    }

    /// The largest id whose row was received before `before_ms`, by binary search over the id
    /// (receipt times grow with the id, give or take the milliseconds a group commit spans).
    fn last_id_received_before(&self, before_ms: i64) -> Result<Option<i64>, StoreError> {
        let conn = self.reader()?;
        let (lo, hi): (Option<i64>, Option<i64>) = conn
            .query_row("SELECT MIN(id), MAX(id) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err)?;
        let (Some(mut lo), Some(mut hi)) = (lo, hi) else {
            return Ok(None);
        };
        let mut probe = conn
            .prepare_cached(
                "SELECT id, received_at_ms FROM events WHERE id >= ?1 ORDER BY id LIMIT 1",
            )
            .map_err(err)?;
        let mut at = |id: i64| -> Result<Option<(i64, i64)>, StoreError> {
            probe
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(err)
        };
        match at(lo)? {
            Some((_, t)) if t < before_ms => {}
            _ => return Ok(None),
        }
        // Invariant: the row at or after `lo` is old; everything after `hi` is new or absent.
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            match at(mid)? {
                Some((id, t)) if t < before_ms => lo = id.max(mid),
                _ => hi = mid - 1,
            }
        }
        Ok(Some(lo))
    }

    /// Mark pending events of `pixel_id` with `event_time` before `cutoff_secs` expired, in one
    /// statement under the writer's lock: what expiry was before the chunked walk of the relay
    /// (`pending_older_than` + `expire_ids`), kept for the benchmark that compares them.
    pub fn expire(&self, pixel_id: &str, cutoff_secs: i64) -> Result<u64, StoreError> {
        let w = self.writer()?;
        let n = w
            .conn
            .execute(
                "UPDATE events INDEXED BY events_pending SET relay_status = 'expired',
                    relay_error = 'older than 7 days: the Conversions API no longer accepts it'
                 WHERE pixel_id = ?1 AND relay_status = 'pending' AND event_time < ?2",
                params![pixel_id, cutoff_secs],
            )
            .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The schema version applied to the file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let conn = self.reader()?;
        conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(err)
    }
}

/// One group commit: claim each key in the dedup index, insert the new events, count repeats.
fn insert_events(
    conn: &mut Connection,
    dedup: &mut DedupIndex,
    events: &[NewEvent],
    claims: &mut Vec<dedup::Claim>,
) -> Result<Vec<InsertOutcome>, StoreError> {
    let tx = GroupCommit::begin(conn)?;
    let mut outcomes = Vec::with_capacity(events.len());
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO events (pixel_id, event_name, event_id, event_id_derived, event_time,
                    received_at_ms, source_url, referrer_url, fbp, fbc, client_ip, user_agent,
                    user_data, custom_data, dpo, relay_status, report_keys, report_visitor)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18)",
            )
            .map_err(err)?;
        let mut duplicate = tx
            .prepare_cached(
                "INSERT INTO pixel_stats (pixel_id, duplicates) VALUES (?1, 1)
                 ON CONFLICT (pixel_id) DO UPDATE SET duplicates = duplicates + 1",
            )
            .map_err(err)?;
        let mut duplicate_day = tx
            .prepare_cached(
                "INSERT INTO duplicates_per_day (pixel_id, day, duplicates) VALUES (?1, ?2, 1)
                 ON CONFLICT (pixel_id, day) DO UPDATE SET duplicates = duplicates + 1",
            )
            .map_err(err)?;
        for e in events {
            let key = dedup::key(&e.pixel_id, &e.event_name, &e.event_id);
            let Some(claim) = dedup.claim(key, e.received_at_ms) else {
                duplicate.execute([&e.pixel_id]).map_err(err)?;
                duplicate_day
                    .execute(params![e.pixel_id, e.received_at_ms.div_euclid(86_400_000)])
                    .map_err(err)?;
                outcomes.push(InsertOutcome::Duplicate);
                continue;
            };
            claims.push(claim);
            let status = if e.relay {
                RelayStatus::Pending
            } else {
                RelayStatus::NotRelayed
            };
            let user_data = user_data_json(&e.user_data);
            let (report_keys, report_visitor) = derive_event(e, &user_data);
            insert
                .execute(params![
                    e.pixel_id,
                    e.event_name,
                    e.event_id,
                    e.event_id_derived,
                    e.event_time,
                    e.received_at_ms,
                    e.source_url,
                    e.referrer_url,
                    e.fbp,
                    e.fbc,
                    e.client_ip,
                    e.user_agent,
                    user_data,
                    custom_data_json(&e.custom_data),
                    dpo_json(&e.dpo),
                    status.as_str(),
                    report_keys,
                    report_visitor,
                ])
                .map_err(err)?;
            outcomes.push(InsertOutcome::Stored);
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// A group commit's transaction, with `BEGIN` and `COMMIT` as cached statements: rusqlite's
/// `Transaction` parses both again each time (a tenth of the writer's instructions per beacon
/// with small batches). Dropped without [`GroupCommit::commit`], or after a `COMMIT` that
/// failed, it rolls back, as `Transaction` does.
struct GroupCommit<'c>(&'c Connection);

impl<'c> GroupCommit<'c> {
    fn begin(conn: &'c Connection) -> Result<Self, StoreError> {
        conn.prepare_cached("BEGIN")
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        Ok(GroupCommit(conn))
    }

    fn commit(self) -> Result<(), StoreError> {
        self.0
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map_err(err)?;
        Ok(())
    }
}

impl std::ops::Deref for GroupCommit<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.0
    }
}

impl Drop for GroupCommit<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() {
            let _ = self.0.execute_batch("ROLLBACK");
        }
    }
}

impl Store for SqliteStore {
    fn commit_linger(&self) -> std::time::Duration {
        self.linger
    }

    fn insert_batch(&self, events: &[NewEvent]) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut guard = self.writer()?;
        let Writer { conn, dedup } = &mut *guard;
        let mut claims = Vec::with_capacity(events.len());
        let result = insert_events(conn, dedup, events, &mut claims);
        if result.is_err() {
            // Nothing was stored: the keys claimed for this batch are free again.
            dedup.undo(claims);
        }
        result
    }

    fn list(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.reader()?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE (?1 IS NULL OR pixel_id = ?1) AND (?2 IS NULL OR event_name = ?2)
             ORDER BY id DESC LIMIT ?3"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![q.pixel_id, q.event_name, limit], row_to_event)
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn pending(&self, pixel_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.reader()?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events INDEXED BY events_pending
             WHERE pixel_id = ?1 AND relay_status = 'pending' ORDER BY id LIMIT ?2"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![pixel_id, limit], row_to_event)
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn mark_sent(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        // In transactions of MARK_CHUNK, the writer lock released between them, so a group commit
        // of beacons never waits for a whole batch of 1,000 updates. A crash between two leaves
        // the rest pending: sent once more, as after a crash before the mark.
        for ids in ids.chunks(MARK_CHUNK) {
            let mut w = self.writer()?;
            let tx = w.conn.transaction().map_err(err)?;
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE events SET relay_status = 'sent', relayed_at_ms = ?2, relay_error = NULL,
                            relay_attempts = relay_attempts + 1
                         WHERE id = ?1 AND relay_status = 'pending'",
                    )
                    .map_err(err)?;
                for id in ids {
                    stmt.execute(params![id, now_ms]).map_err(err)?;
                }
            }
            tx.commit().map_err(err)?;
        }
        Ok(())
    }

    fn mark_failed(&self, id: i64, message: &str, now_ms: i64) -> Result<(), StoreError> {
        let w = self.writer()?;
        w.conn
            .execute(
                "UPDATE events SET relay_status = 'failed', relay_error = ?2, relayed_at_ms = ?3,
                relay_attempts = relay_attempts + 1
             WHERE id = ?1 AND relay_status = 'pending'",
                params![id, message, now_ms],
            )
            .map_err(err)?;
        Ok(())
    }

    fn record_attempt(&self, ids: &[i64], error: &str) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE events SET relay_attempts = relay_attempts + 1, relay_error = ?2
                     WHERE id = ?1 AND relay_status = 'pending'",
                )
                .map_err(err)?;
            for id in ids {
                stmt.execute(params![id, error]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn purge(&self, received_before_ms: Option<i64>, now_ms: i64) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        if let Some(before) = received_before_ms {
            // No index on the receipt time (one less B-tree per insert): ids grow with receipt,
            // so a binary search over the id finds where the old rows end.
            if let Some(last) = self.last_id_received_before(before)? {
                loop {
                    let w = self.writer()?;
                    let n = w
                        .conn
                        .execute(
                            "DELETE FROM events WHERE id IN
                                (SELECT id FROM events WHERE id <= ?1 AND received_at_ms < ?2 LIMIT ?3)",
                            params![last, before, PURGE_CHUNK],
                        )
                        .map_err(err)?;
                    drop(w);
                    deleted += u64::try_from(n).unwrap_or(0);
                    if i64::try_from(n).unwrap_or(0) < PURGE_CHUNK {
                        break;
                    }
                }
            }
        }
        self.writer()?.dedup.forget_before(now_ms);
        Ok(deleted)
    }

    fn pending_after(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.reader()?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events INDEXED BY events_pending
             WHERE pixel_id = ?1 AND relay_status = 'pending' AND id > ?2 ORDER BY id LIMIT ?3"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![pixel_id, after_id, limit], row_to_event)
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn pending_older_than(
        &self,
        pixel_id: &str,
        cutoff_secs: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<(Vec<i64>, Option<i64>), StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, event_time FROM events INDEXED BY events_pending
                 WHERE pixel_id = ?1 AND relay_status = 'pending' AND id > ?2 ORDER BY id LIMIT ?3",
            )
            .map_err(err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt
            .query(params![pixel_id, after_id, limit])
            .map_err(err)?;
        let mut pairs = Vec::new();
        while let Some(r) = rows.next().map_err(err)? {
            pairs.push((r.get(0).map_err(err)?, r.get(1).map_err(err)?));
        }
        Ok(older_than(pairs, cutoff_secs))
    }

    fn expire_ids(&self, ids: &[i64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut w = self.writer()?;
        let tx = w.conn.transaction().map_err(err)?;
        let mut n = 0;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE events SET relay_status = 'expired',
                        relay_error = 'older than 7 days: the Conversions API no longer accepts it'
                     WHERE id = ?1 AND relay_status = 'pending'",
                )
                .map_err(err)?;
            for id in ids {
                n += stmt.execute([id]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn pending_count(&self) -> Result<u64, StoreError> {
        let conn = self.reader()?;
        conn.query_row(
            "SELECT COUNT(*) FROM events WHERE relay_status = 'pending'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(err)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        let tx = w
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        // Rewrites one row with its own values: a page in the WAL and a sync, no change.
        tx.execute(
            "UPDATE schema_migrations SET applied_at_ms = applied_at_ms
             WHERE version = (SELECT MAX(version) FROM schema_migrations)",
            [],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }
}

#[cfg(test)]
mod tests;
