//! The SQLite store's write-time aggregates ([`crate::ports::rollup`]): the cells in the tables
//! of migration 7, changed in the transaction of each mutation by [`change`] (the one function
//! every write path calls), read back for the reports, and backfilled from the events of a
//! database made before them (or rebuilt: `collector rebuild`), in chunks that each commit their
//! progress, so a killed backfill resumes where it stopped and ingest runs between chunks.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, Connection, OptionalExtension};

use super::error::err;
use crate::ports::rollup::{
    apply, fact, hour_range, Cells, DayKey, Delta, Fact, HourKey, Rollup, NONE_DAY,
};
use crate::ports::{Derived, RelayStatus, Row, StoreError};

/// Events counted per backfill transaction: the writer lock is released between two, so ingest
/// waits at most one chunk.
pub const BACKFILL_CHUNK: i64 = 2_000;

/// What [`fact`] reads of an event, by id (`?1`); the columns `report_keys` is derived from are
/// read too, for a row stored before migration 3.
const FACT_SQL: &str = "SELECT pixel_id, event_name, event_time, report_keys, report_visitor, fbp,
        fbc IS NOT NULL, client_ip IS NOT NULL, user_agent, source_url, user_data,
        CASE WHEN event_name = 'Purchase' THEN custom_data ELSE '' END, event_id_derived,
        relay_status, relay_error, origin, id
    FROM events";

fn read_fact(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Fact)> {
    let pixel: String = r.get(0)?;
    let name: String = r.get(1)?;
    let keys: Option<i64> = r.get(3)?;
    let visitor: Option<String> = r.get(4)?;
    let fbp: Option<String> = r.get(5)?;
    let ua: Option<String> = r.get(8)?;
    let url: String = r.get(9)?;
    let ud: String = r.get(10)?;
    let pd: String = r.get(11)?;
    let status: String = r.get(13)?;
    let error: Option<String> = r.get(14)?;
    let row = Row {
        event_name: &name,
        event_time: r.get(2)?,
        fbp: fbp.as_deref(),
        has_fbc: r.get(6)?,
        has_client_ip: r.get(7)?,
        user_agent: ua.as_deref(),
        source_url: &url,
        user_data: &ud,
        purchase_data: &pd,
        event_id_derived: r.get(12)?,
        relay_status: RelayStatus::parse(&status),
        relay_error: error.as_deref(),
        derived: keys.map(|keys| Derived {
            keys,
            visitor: visitor.as_deref(),
        }),
        origin: r.get(15)?,
        ..Row::default()
    };
    Ok((r.get(16)?, fact(&pixel, &row)))
}

/// The facts of the events `ids` that are counted in the rollups (not waiting for the backfill).
pub(super) fn facts(
    conn: &Connection,
    w: &Backfill,
    ids: &[i64],
) -> Result<HashMap<i64, Fact>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{FACT_SQL} WHERE id = ?1"))
        .map_err(err)?;
    let mut out = HashMap::with_capacity(ids.len());
    for id in ids.iter().filter(|id| w.counted(**id)) {
        if let Some((id, f)) = stmt.query_row([id], read_fact).optional().map_err(err)? {
            out.insert(id, f);
        }
    }
    Ok(out)
}

/// The one function every write path calls, in its transaction: each event's facts before and
/// after (`None`: not there), applied as minus old, plus new.
pub(super) fn change(conn: &Connection, delta: &Delta) -> Result<(), StoreError> {
    apply(delta, &mut SqlCells::new(conn))
}

/// The events a backfill has still to count: ids `next..=end` (none once `next > end`). Every
/// write path leaves them to it, and counts every other.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Backfill {
    pub(crate) next: i64,
    pub(crate) end: i64,
}

impl Backfill {
    pub(crate) fn counted(&self, id: i64) -> bool {
        !(self.next..=self.end).contains(&id)
    }

    pub(super) fn load(conn: &Connection) -> Result<Backfill, StoreError> {
        conn.query_row(
            "SELECT next_id, end_id FROM rollup_backfill WHERE one = 1",
            [],
            |r| {
                Ok(Backfill {
                    next: r.get(0)?,
                    end: r.get(1)?,
                })
            },
        )
        .optional()
        .map(Option::unwrap_or_default)
        .map_err(err)
    }
}

/// The cells in SQL, with the visitors' ids interned once per transaction.
struct SqlCells<'c> {
    conn: &'c Connection,
    ids: HashMap<(String, String), i64>,
    /// The present days of the visitors created in this transaction, which have no others: their
    /// presence and neighbours are answered here, without a read (most events of a new visitor's
    /// first visit, and every event of `loadgen`'s).
    fresh: HashMap<i64, BTreeMap<(u8, i64), i64>>,
}

impl<'c> SqlCells<'c> {
    fn new(conn: &'c Connection) -> Self {
        SqlCells {
            conn,
            ids: HashMap::new(),
            fresh: HashMap::new(),
        }
    }

    fn visitor(&mut self, pixel: &str, key: &str) -> Result<i64, StoreError> {
        let k = (pixel.to_owned(), key.to_owned());
        if let Some(id) = self.ids.get(&k) {
            return Ok(*id);
        }
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM visitors WHERE pixel_id = ?1 AND key = ?2")
            .and_then(|mut s| s.query_row(params![pixel, key], |r| r.get(0)).optional())
            .map_err(err)?;
        let id = match found {
            Some(id) => id,
            None => {
                self.conn
                    .prepare_cached("INSERT INTO visitors (pixel_id, key) VALUES (?1, ?2)")
                    .and_then(|mut s| s.execute(params![pixel, key]))
                    .map_err(err)?;
                let id = self.conn.last_insert_rowid();
                self.fresh.insert(id, BTreeMap::new());
                id
            }
        };
        self.ids.insert(k, id);
        Ok(id)
    }
}

impl Cells for SqlCells<'_> {
    fn hour(
        &mut self,
        pixel: &str,
        key: &HourKey,
        events: i64,
        micros: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO rollup_hours (pixel_id, hour, event_name, currency, events, micros)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT DO UPDATE SET events = events + excluded.events,
                    micros = micros + excluded.micros",
            )
            .and_then(|mut s| {
                s.execute(params![
                    pixel,
                    key.hour,
                    key.name,
                    key.currency,
                    events,
                    micros
                ])
            })
            .map_err(err)
            .map(drop)
    }

    fn day(&mut self, pixel: &str, key: &DayKey, events: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO rollup_days
                    (pixel_id, day, event_name, keys, status, id_derived, error, events)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT DO UPDATE SET events = events + excluded.events",
            )
            .and_then(|mut s| {
                s.execute(params![
                    pixel,
                    key.day,
                    key.name,
                    key.keys,
                    key.status,
                    key.id_derived,
                    key.error.as_deref().unwrap_or(""),
                    events
                ])
            })
            .map_err(err)?;
        if events < 0 {
            // A status change leaves its old cell empty: gone, so the table keeps only cells
            // that count.
            self.conn
                .prepare_cached(
                    "DELETE FROM rollup_days WHERE pixel_id = ?1 AND day = ?2 AND event_name = ?3
                        AND keys = ?4 AND status = ?5 AND id_derived = ?6 AND error = ?7
                        AND events = 0",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        pixel,
                        key.day,
                        key.name,
                        key.keys,
                        key.status,
                        key.id_derived,
                        key.error.as_deref().unwrap_or("")
                    ])
                })
                .map_err(err)?;
        }
        Ok(())
    }

    fn gap(
        &mut self,
        pixel: &str,
        step: u8,
        day: i64,
        prev: i64,
        n: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO visitor_gaps (pixel_id, step, day, prev, visitors)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO UPDATE SET visitors = visitors + excluded.visitors",
            )
            .and_then(|mut s| s.execute(params![pixel, step, day, prev, n]))
            .map_err(err)?;
        if n < 0 {
            self.conn
                .prepare_cached(
                    "DELETE FROM visitor_gaps WHERE pixel_id = ?1 AND day = ?2 AND step = ?3
                        AND prev = ?4 AND visitors = 0",
                )
                .and_then(|mut s| s.execute(params![pixel, day, step, prev]))
                .map_err(err)?;
        }
        Ok(())
    }

    fn presence(
        &mut self,
        pixel: &str,
        visitor: &str,
        step: u8,
        day: i64,
        delta: i64,
    ) -> Result<i64, StoreError> {
        let id = self.visitor(pixel, visitor)?;
        let old: i64 = match self.fresh.get_mut(&id) {
            Some(days) => {
                let old = days.get(&(step, day)).copied().unwrap_or(0);
                if old + delta == 0 {
                    days.remove(&(step, day));
                } else {
                    days.insert((step, day), old + delta);
                }
                old
            }
            None => self
                .conn
                .prepare_cached(
                    "SELECT events FROM visitor_days WHERE visitor = ?1 AND step = ?2 AND day = ?3",
                )
                .and_then(|mut s| s.query_row(params![id, step, day], |r| r.get(0)).optional())
                .map_err(err)?
                .unwrap_or(0),
        };
        let sql = if old + delta == 0 {
            "DELETE FROM visitor_days WHERE visitor = ?1 AND step = ?2 AND day = ?3 AND ?4 = ?4"
        } else {
            "INSERT INTO visitor_days (visitor, step, day, events) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO UPDATE SET events = excluded.events"
        };
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(params![id, step, day, old + delta]))
            .map_err(err)?;
        Ok(old)
    }

    fn neighbours(
        &mut self,
        pixel: &str,
        visitor: &str,
        step: u8,
        day: i64,
    ) -> Result<(Option<i64>, Option<i64>), StoreError> {
        let id = self.visitor(pixel, visitor)?;
        if let Some(days) = self.fresh.get(&id) {
            let prev = days.range((step, i64::MIN)..(step, day)).next_back();
            let next = days
                .range((step, day.saturating_add(1))..=(step, i64::MAX))
                .next();
            return Ok((prev.map(|(k, _)| k.1), next.map(|(k, _)| k.1)));
        }
        let one = |sql: &str| -> Result<Option<i64>, StoreError> {
            self.conn
                .prepare_cached(sql)
                .and_then(|mut s| s.query_row(params![id, step, day], |r| r.get(0)))
                .map_err(err)
        };
        Ok((
            one("SELECT MAX(day) FROM visitor_days WHERE visitor = ?1 AND step = ?2 AND day < ?3")?,
            one("SELECT MIN(day) FROM visitor_days WHERE visitor = ?1 AND step = ?2 AND day > ?3")?,
        ))
    }
}

/// The cells of `pixel` over UTC days `from_day..=to_day` (a report reader).
pub(super) fn read(
    conn: &Connection,
    pixel: &str,
    from_day: i64,
    to_day: i64,
) -> Result<Rollup, StoreError> {
    let mut r = Rollup::default();
    let (h0, h1) = hour_range(from_day, to_day);
    let mut stmt = conn
        .prepare_cached(
            "SELECT hour, event_name, currency, events, micros FROM rollup_hours
             WHERE pixel_id = ?1 AND hour >= ?2 AND hour < ?3 AND (events != 0 OR micros != 0)",
        )
        .map_err(err)?;
    let mut rows = stmt.query(params![pixel, h0, h1]).map_err(err)?;
    while let Some(row) = rows.next().map_err(err)? {
        let key = HourKey {
            hour: row.get(0).map_err(err)?,
            name: row.get(1).map_err(err)?,
            currency: row.get(2).map_err(err)?,
        };
        r.hours
            .insert(key, (row.get(3).map_err(err)?, row.get(4).map_err(err)?));
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT day, event_name, keys, status, id_derived, error, events FROM rollup_days
             WHERE pixel_id = ?1 AND day >= ?2 AND day <= ?3 AND events != 0",
        )
        .map_err(err)?;
    let mut rows = stmt.query(params![pixel, from_day, to_day]).map_err(err)?;
    while let Some(row) = rows.next().map_err(err)? {
        let status: String = row.get(3).map_err(err)?;
        let status = RelayStatus::parse(&status)
            .unwrap_or(RelayStatus::Pending)
            .as_str();
        let error: String = row.get(5).map_err(err)?;
        let key = DayKey {
            day: row.get(0).map_err(err)?,
            name: row.get(1).map_err(err)?,
            keys: row.get(2).map_err(err)?,
            status,
            id_derived: row.get(4).map_err(err)?,
            error: (status == RelayStatus::Failed.as_str()).then_some(error),
        };
        r.days.insert(key, row.get(6).map_err(err)?);
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT step, prev = ?4, SUM(visitors) FROM visitor_gaps
             WHERE pixel_id = ?1 AND day >= ?2 AND day <= ?3 AND prev < ?2
             GROUP BY 1, 2",
        )
        .map_err(err)?;
    let mut rows = stmt
        .query(params![pixel, from_day, to_day, NONE_DAY])
        .map_err(err)?;
    while let Some(row) = rows.next().map_err(err)? {
        let step: u8 = row.get(0).map_err(err)?;
        let first: bool = row.get(1).map_err(err)?;
        let n: i64 = row.get(2).map_err(err)?;
        r.add_gap(step, if first { NONE_DAY } else { from_day - 1 }, n);
    }
    Ok(r)
}

/// Forget every cell and mark every event to be counted again (`collector rebuild`).
pub(super) fn reset(conn: &mut Connection) -> Result<Backfill, StoreError> {
    let tx = conn.transaction().map_err(err)?;
    tx.execute_batch(
        "DELETE FROM rollup_hours; DELETE FROM rollup_days; DELETE FROM visitor_gaps;
         DELETE FROM visitor_days; DELETE FROM visitors;
         UPDATE rollup_backfill SET next_id = 1,
            end_id = (SELECT COALESCE(MAX(id), 0) FROM events);",
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    Backfill::load(conn)
}

/// Count the next [`BACKFILL_CHUNK`] events of `state` in one transaction that also records how
/// far it got: `(last id looked at, events counted)`, `None` when there is nothing left.
pub(super) fn backfill_chunk(
    conn: &mut Connection,
    state: &mut Backfill,
) -> Result<Option<(i64, i64)>, StoreError> {
    let Backfill { next, end } = *state;
    if next > end {
        return Ok(None);
    }
    let upto = (next + BACKFILL_CHUNK - 1).min(end);
    let tx = conn.transaction().map_err(err)?;
    let mut delta = Delta::default();
    let mut counted = 0;
    {
        let mut stmt = tx
            .prepare_cached(&format!("{FACT_SQL} WHERE id >= ?1 AND id <= ?2"))
            .map_err(err)?;
        let rows = stmt.query_map([next, upto], read_fact).map_err(err)?;
        for f in rows {
            delta.add(&f.map_err(err)?.1, 1);
            counted += 1;
        }
    }
    change(&tx, &delta)?;
    tx.execute(
        "UPDATE rollup_backfill SET next_id = ?1 WHERE one = 1",
        [upto + 1],
    )
    .map_err(err)?;
    tx.commit().map_err(err)?;
    state.next = upto + 1;
    Ok(Some((upto, counted)))
}
