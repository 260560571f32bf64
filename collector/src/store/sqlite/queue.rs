//! The SQLite store's [`RelayQueue`]: one process relays from a SQLite file, so a claim is the
//! plain read of the pending events whose hold is over, and marks are short transactions on the
//! writer.

use rusqlite::{params, Connection};

use super::connection::SqliteStore;
use super::diagnostics;
use super::error::err;
use super::rollup::{self, Backfill};
use super::rows::row_to_event;
use crate::ports::rollup::Delta;
use crate::ports::{older_than, RelayQueue, StoreError, StoredEvent, EXPIRED_MESSAGE};
use crate::store::columns::EVENT_COLUMNS;

/// Events marked sent per transaction, so a group commit never waits for a whole batch.
const MARK_CHUNK: usize = 250;

/// The ids of the pending events of pixel `?1` above id `?2` whose hold is over at `?4`, up to
/// `?3` from each index: the events without a hold from `events_pending` in id order, those with
/// one from `events_held` through the end of their hold, so that a claim never steps over a held
/// event (schema migration 6). The caller orders the union by id and keeps `?3`.
const PENDING_IDS: &str = "SELECT id FROM (SELECT id FROM events INDEXED BY events_pending
        WHERE pixel_id = ?1 AND relay_status = 'pending' AND hold_until_ms IS NULL AND id > ?2
        ORDER BY id LIMIT ?3)
    UNION ALL
    SELECT id FROM (SELECT id FROM events INDEXED BY events_held
        WHERE pixel_id = ?1 AND relay_status = 'pending' AND hold_until_ms IS NOT NULL
            AND hold_until_ms <= ?4 AND id > ?2
        ORDER BY id LIMIT ?3)";

impl RelayQueue for SqliteStore {
    /// Every pending event, held or not: a claim at the end of time.
    fn pending(&self, pixel_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.claim_pending(pixel_id, 0, limit, i64::MAX)
    }

    /// Every pending event, held or not: a claim at the end of time.
    fn pending_after(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.claim_pending(pixel_id, after_id, limit, i64::MAX)
    }

    /// One process relays from a SQLite file: the claim is the read of the pending events whose
    /// hold is over.
    fn claim_pending(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.reader()?;
        let sql = format!(
            "SELECT {cols} FROM events WHERE id IN ({PENDING_IDS}) ORDER BY id LIMIT ?3",
            cols = *EVENT_COLUMNS
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![pixel_id, after_id, limit, now_ms], row_to_event)
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn pending_count(&self) -> Result<u64, StoreError> {
        let conn = self.reader()?;
        // Each count covered by its partial index.
        conn.query_row(
            "SELECT (SELECT COUNT(*) FROM events
                     WHERE relay_status = 'pending' AND hold_until_ms IS NULL)
                  + (SELECT COUNT(*) FROM events
                     WHERE relay_status = 'pending' AND hold_until_ms IS NOT NULL)",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(err)
    }

    fn mark_sent(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        // In transactions of MARK_CHUNK, the writer lock released between them, so a group commit
        // of beacons never waits for a whole batch of 1,000 updates. A crash between two leaves
        // the rest pending: sent once more, as after a crash before the mark.
        for ids in ids.chunks(MARK_CHUNK) {
            let mut w = self.writer()?;
            let backfill = w.backfill;
            let tx = w.conn.transaction().map_err(err)?;
            with_rollups(&tx, &backfill, ids, |id| {
                tx.prepare_cached(
                    "UPDATE events SET relay_status = 'sent', relayed_at_ms = ?2, relay_error = NULL,
                        client_ip = CASE WHEN report_keys IS NULL THEN client_ip END,
                        user_agent = CASE WHEN report_keys IS NULL THEN user_agent END,
                        relay_attempts = relay_attempts + 1
                     WHERE id = ?1 AND relay_status = 'pending'",
                )
                .and_then(|mut s| s.execute(params![id, now_ms]))
                .map_err(err)
            })?;
            tx.commit().map_err(err)?;
        }
        Ok(())
    }

    fn mark_failed(&self, id: i64, message: &str, now_ms: i64) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        let backfill = w.backfill;
        let tx = w.conn.transaction().map_err(err)?;
        diagnostics::refused(&tx, id, message)?;
        with_rollups(&tx, &backfill, &[id], |id| {
            tx.execute(
                "UPDATE events SET relay_status = 'failed', relay_error = ?2, relayed_at_ms = ?3,
                    client_ip = CASE WHEN report_keys IS NULL THEN client_ip END,
                    user_agent = CASE WHEN report_keys IS NULL THEN user_agent END,
                    relay_attempts = relay_attempts + 1
                 WHERE id = ?1 AND relay_status = 'pending'",
                params![id, message, now_ms],
            )
            .map_err(err)
        })?;
        tx.commit().map_err(err)
    }

    /// Changes no rollup: a pending event's message is not counted (only a failed one's is).
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

    fn pending_older_than(
        &self,
        pixel_id: &str,
        cutoff_secs: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<(Vec<i64>, Option<i64>), StoreError> {
        let conn = self.reader()?;
        let sql = format!(
            "SELECT id, event_time FROM events WHERE id IN ({PENDING_IDS}) ORDER BY id LIMIT ?3"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt
            .query(params![pixel_id, after_id, limit, i64::MAX])
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
        let backfill = w.backfill;
        let tx = w.conn.transaction().map_err(err)?;
        let n = with_rollups(&tx, &backfill, ids, |id| {
            tx.prepare_cached(
                "UPDATE events SET relay_status = 'expired', relay_error = ?2,
                    client_ip = CASE WHEN report_keys IS NULL THEN client_ip END,
                    user_agent = CASE WHEN report_keys IS NULL THEN user_agent END
                 WHERE id = ?1 AND relay_status = 'pending'",
            )
            .and_then(|mut s| s.execute(params![id, EXPIRED_MESSAGE]))
            .map_err(err)
        })?;
        tx.commit().map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Run `update` on each of `ids` in `tx` with the rollups' minus old, plus new around it (the
/// events' facts read before and after); how many rows it changed.
fn with_rollups(
    tx: &Connection,
    backfill: &Backfill,
    ids: &[i64],
    mut update: impl FnMut(i64) -> Result<usize, StoreError>,
) -> Result<usize, StoreError> {
    let before = rollup::facts(tx, backfill, ids)?;
    let mut n = 0;
    for id in ids {
        n += update(*id)?;
    }
    if n > 0 {
        let after = rollup::facts(tx, backfill, ids)?;
        let mut delta = Delta::default();
        for id in ids {
            delta.change(before.get(id), after.get(id));
        }
        rollup::change(tx, &delta)?;
    }
    Ok(n)
}
