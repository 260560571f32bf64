//! The SQLite store's [`EventLog`]: group commits deduplicated by the in-memory index, the admin
//! API's list, and retention.

use std::sync::LazyLock;

use rusqlite::{params, Connection, OptionalExtension, ToSql};

use super::connection::{SqliteStore, Writer};
use super::diagnostics;
use super::error::err;
use super::people;
use super::rollup::{self, Backfill};
use super::rows::row_to_event;
use crate::event::NewEvent;
use crate::ports::diagnostics::Tally;
use crate::ports::rollup::Delta;
use crate::ports::{merge, EventLog, EventQuery, InsertOutcome, StoreError, StoredEvent};
use crate::store::columns::{
    inserted_fact, keeps_no_client, merge_update, merged_row, stored_form, Encoded, EVENT_COLUMNS,
    INSERTED, INSERT_COLUMNS, STATUS_AT,
};
use crate::store::dedup::{self, DedupIndex};

/// Rows deleted per purge transaction, so ingest never waits long on the write lock.
const PURGE_CHUNK: i64 = 5000;

/// The group commit's insert: [`INSERTED`]'s columns, one numbered parameter each.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let marks: Vec<String> = (1..=INSERTED.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO events ({}) VALUES ({})",
        *INSERT_COLUMNS,
        marks.join(", ")
    )
});

/// An event's values in the order of [`INSERTED`].
fn values<'a>(e: &'a NewEvent, c: &'a Encoded) -> [&'a dyn ToSql; INSERTED.len()] {
    [
        &e.pixel_id,
        &e.event_name,
        &e.event_id,
        &e.event_id_derived,
        &e.event_time,
        &e.received_at_ms,
        &e.source_url,
        &e.referrer_url,
        &e.fbp,
        &e.fbc,
        &e.client_ip,
        &e.user_agent,
        &c.user_data,
        &c.custom_data,
        &c.dpo,
        &c.status,
        &c.report_keys,
        &c.report_visitor,
        &c.origin,
        &e.hold_until_ms,
        &c.server_fields,
    ]
}

/// A merge's update ([`merge_update`]).
static UPDATE: LazyLock<String> = LazyLock::new(|| merge_update(|i| format!("?{i}")));

/// The other copy of the event stored in row `id`: merged into it (`true`), or a repeat.
fn merge_into(
    tx: &Connection,
    id: i64,
    incoming: &NewEvent,
    backfill: &Backfill,
    delta: &mut Delta,
    diag: &mut Tally,
) -> Result<bool, StoreError> {
    let sql = format!("SELECT {} FROM events WHERE id = ?1", *EVENT_COLUMNS);
    let stored = tx
        .prepare_cached(&sql)
        .and_then(|mut s| s.query_row([id], row_to_event))
        .optional()
        .map_err(err)?;
    let Some(stored) = stored else {
        return Ok(false);
    };
    let Some(merged) = merge::meet(&stored.event, stored.relay_status, incoming) else {
        diag.repeat(&stored.event, incoming);
        return Ok(false);
    };
    diag.merged(&stored.event, incoming, &merged);
    let old_keys: Option<i64> = if keeps_no_client(&merged) {
        tx.prepare_cached("SELECT report_keys FROM events WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)))
            .map_err(err)?
    } else {
        None
    };
    let (merged, c) = merged_row(merged, old_keys);
    let all = values(&merged, &c);
    let mut params: Vec<&dyn ToSql> = all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != STATUS_AT)
        .map(|(_, v)| v)
        .collect();
    params.push(&id);
    let before = rollup::facts(tx, backfill, &[id])?;
    people::forget_row(tx, id)?;
    tx.prepare_cached(&UPDATE)
        .and_then(|mut s| s.execute(params.as_slice()))
        .map_err(err)?;
    people::stored(tx, id)?;
    let after = rollup::facts(tx, backfill, &[id])?;
    delta.change(before.get(&id), after.get(&id));
    Ok(true)
}

/// One group commit: claim each key in the dedup index, insert the new events, merge the other
/// copies of stored events into them, count repeats.
fn insert_events(
    conn: &mut Connection,
    dedup: &mut DedupIndex,
    backfill: &Backfill,
    events: &[NewEvent],
    claims: &mut Vec<dedup::Claim>,
) -> Result<Vec<InsertOutcome>, StoreError> {
    let tx = GroupCommit::begin(conn)?;
    let mut outcomes = Vec::with_capacity(events.len());
    let mut delta = Delta::default();
    let mut diag = Tally::default();
    {
        let mut insert = tx.prepare_cached(&INSERT).map_err(err)?;
        for e in events {
            let key = dedup::key(&e.pixel_id, &e.event_name, &e.event_id);
            let Some(claim) = dedup.claim(key, e.received_at_ms) else {
                let merged = match dedup.row(key) {
                    Some(row) => merge_into(&tx, row, e, backfill, &mut delta, &mut diag)?,
                    None => false,
                };
                if merged {
                    outcomes.push(InsertOutcome::Merged);
                } else {
                    count_duplicate(&tx, e)?;
                    outcomes.push(InsertOutcome::Duplicate);
                }
                continue;
            };
            claims.push(claim);
            let c = Encoded::of(e);
            let stored = stored_form(e);
            insert
                .execute(values(&stored, &c).as_slice())
                .map_err(err)?;
            dedup.set_row(key, tx.last_insert_rowid());
            delta.add(&inserted_fact(&stored, &c), 1);
            diag.stored(e);
            people::stored(&tx, tx.last_insert_rowid())?;
            outcomes.push(InsertOutcome::Stored);
        }
    }
    rollup::change(&tx, &delta)?;
    diagnostics::flush(&tx, diag)?;
    tx.commit()?;
    Ok(outcomes)
}

/// A repeat, counted per pixel and per pixel and UTC day of receipt.
fn count_duplicate(tx: &Connection, e: &NewEvent) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO pixel_stats (pixel_id, duplicates) VALUES (?1, 1)
         ON CONFLICT (pixel_id) DO UPDATE SET duplicates = duplicates + 1",
    )
    .and_then(|mut s| s.execute([&e.pixel_id]))
    .map_err(err)?;
    tx.prepare_cached(
        "INSERT INTO duplicates_per_day (pixel_id, day, duplicates) VALUES (?1, ?2, 1)
         ON CONFLICT (pixel_id, day) DO UPDATE SET duplicates = duplicates + 1",
    )
    .and_then(|mut s| s.execute(params![e.pixel_id, e.received_at_ms.div_euclid(86_400_000)]))
    .map_err(err)?;
    Ok(())
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

impl EventLog for SqliteStore {
    fn commit_linger(&self) -> std::time::Duration {
        self.linger
    }

    fn insert_batch(&self, events: &[NewEvent]) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut guard = self.writer()?;
        let Writer {
            conn,
            dedup,
            backfill,
        } = &mut *guard;
        let mut claims = Vec::with_capacity(events.len());
        let result = insert_events(conn, dedup, backfill, events, &mut claims);
        if result.is_err() {
            // Nothing was stored: the keys claimed for this batch are free again.
            dedup.undo(claims);
        }
        result
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

    fn list(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.reader()?;
        let sql = format!(
            "SELECT {cols} FROM events
             WHERE (?1 IS NULL OR pixel_id = ?1) AND (?2 IS NULL OR event_name = ?2)
             ORDER BY id DESC LIMIT ?3",
            cols = *EVENT_COLUMNS
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![q.pixel_id, q.event_name, limit], row_to_event)
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn purge(&self, received_before_ms: Option<i64>, now_ms: i64) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        if let Some(before) = received_before_ms {
            // No index on the receipt time (one less B-tree per insert): ids grow with receipt,
            // so a binary search over the id finds where the old rows end.
            if let Some(last) = self.last_id_received_before(before)? {
                loop {
                    let mut w = self.writer()?;
                    let backfill = w.backfill;
                    let tx = w.conn.transaction().map_err(err)?;
                    people::purging(&tx, last, before, PURGE_CHUNK)?;
                    let ids: Vec<i64> = tx
                        .prepare_cached(
                            "SELECT id FROM events WHERE id <= ?1 AND received_at_ms < ?2 ORDER BY id
                             LIMIT ?3",
                        )
                        .and_then(|mut s| {
                            s.query_map(params![last, before, PURGE_CHUNK], |r| r.get(0))?
                                .collect()
                        })
                        .map_err(err)?;
                    let gone = rollup::facts(&tx, &backfill, &ids)?;
                    let mut delta = Delta::default();
                    for f in gone.values() {
                        delta.add(f, -1);
                    }
                    let mut n = 0;
                    {
                        let mut del = tx
                            .prepare_cached("DELETE FROM events WHERE id = ?1")
                            .map_err(err)?;
                        for id in &ids {
                            n += del.execute([id]).map_err(err)?;
                        }
                    }
                    rollup::change(&tx, &delta)?;
                    tx.commit().map_err(err)?;
                    drop(w);
                    deleted += u64::try_from(n).unwrap_or(0);
                    if i64::try_from(n).unwrap_or(0) < PURGE_CHUNK {
                        break;
                    }
                }
            }
            diagnostics::forget_before(&self.writer()?.conn, before)?;
        }
        self.writer()?.dedup.forget_before(now_ms);
        Ok(deleted)
    }
}
