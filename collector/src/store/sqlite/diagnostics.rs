//! The SQLite store's diagnostics table (migration 9): the marks of each transaction added in it
//! ([`flush`], [`refused`]), and the report's read ([`DiagnosticSource`]).

use rusqlite::{params, Connection};

use super::connection::SqliteStore;
use super::error::err;
use crate::ports::diagnostics::{counted, refusal_detail, Code, DiagnosticSource, MarkRow, Tally};
use crate::ports::StoreError;

const UPSERT: &str = "INSERT INTO diagnostics (pixel_id, day, code, event_name, detail, events,
        first_seen_ms, last_seen_ms, example_event_id)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
    ON CONFLICT (pixel_id, day, code, event_name, detail) DO UPDATE SET
        events = events + excluded.events,
        first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
        last_seen_ms = max(last_seen_ms, excluded.last_seen_ms),
        example_event_id = CASE WHEN example_event_id = '' THEN excluded.example_event_id
            ELSE example_event_id END";

/// Add `rows` in the caller's transaction.
fn upsert(tx: &Connection, rows: Vec<MarkRow>) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(UPSERT).map_err(err)?;
    for r in rows {
        stmt.execute(params![
            r.pixel_id,
            r.day,
            r.code,
            r.event_name,
            r.detail,
            r.events,
            r.first_seen_ms,
            r.last_seen_ms,
            r.example_event_id
        ])
        .map_err(err)?;
    }
    Ok(())
}

/// A group commit's marks, in its transaction.
pub(super) fn flush(tx: &Connection, tally: Tally) -> Result<(), StoreError> {
    upsert(tx, tally.rows())
}

/// Meta refused the pending event `id` with `message`: its mark, in the caller's transaction,
/// before the update that takes it out of the queue.
pub(super) fn refused(tx: &Connection, id: i64, message: &str) -> Result<(), StoreError> {
    let n = tx
        .prepare_cached(
            "INSERT INTO diagnostics (pixel_id, day, code, event_name, detail, events,
                first_seen_ms, last_seen_ms, example_event_id)
             SELECT pixel_id, received_at_ms / 86400000, ?2, event_name, ?3, 1, received_at_ms,
                received_at_ms, event_id
             FROM events WHERE id = ?1 AND relay_status = 'pending'
             ON CONFLICT (pixel_id, day, code, event_name, detail) DO UPDATE SET
                events = events + 1,
                first_seen_ms = min(first_seen_ms, excluded.first_seen_ms),
                last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
        )
        .and_then(|mut s| {
            s.execute(params![
                id,
                Code::MetaRefused.as_str(),
                refusal_detail(message)
            ])
        })
        .map_err(err)?;
    counted(Code::MetaRefused, n);
    Ok(())
}

/// Retention: the rows of days wholly received before `before_ms`, as their events go.
pub(super) fn forget_before(conn: &Connection, before_ms: i64) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM diagnostics WHERE day < ?1",
        [before_ms.div_euclid(86_400_000)],
    )
    .map_err(err)?;
    Ok(())
}

impl DiagnosticSource for SqliteStore {
    fn marks(
        &self,
        pixel_id: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<MarkRow>, StoreError> {
        let conn = self.report_reader()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT pixel_id, day, code, event_name, detail, events, first_seen_ms,
                    last_seen_ms, example_event_id
                 FROM diagnostics
                 WHERE pixel_id = ?1 AND day >= ?2 AND day <= ?3
                 UNION ALL
                 SELECT pixel_id, day, code, event_name, detail, events, first_seen_ms,
                    last_seen_ms, example_event_id
                 FROM diagnostics
                 WHERE pixel_id = ?1 AND day < ?2 AND day >= ?2 - 2 AND code = ?4",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(
                params![pixel_id, from_day, to_day, Code::TestEventCode.as_str()],
                |r| {
                    Ok(MarkRow {
                        pixel_id: r.get(0)?,
                        day: r.get(1)?,
                        code: r.get(2)?,
                        event_name: r.get(3)?,
                        detail: r.get(4)?,
                        events: r.get(5)?,
                        first_seen_ms: r.get(6)?,
                        last_seen_ms: r.get(7)?,
                        example_event_id: r.get(8)?,
                    })
                },
            )
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn record(&self, rows: Vec<MarkRow>) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction().map_err(err)?;
        upsert(&tx, rows)?;
        tx.commit().map_err(err)
    }
}
