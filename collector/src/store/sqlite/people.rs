//! The SQLite store's per-person state ([`crate::ports::people`]): its tables (migration 8),
//! the hooks the write path calls in the transaction that changes the events (insert, merge,
//! purge), the backfill of a database stored before them, and the reads of the per-person
//! reports.
//!
//! The hooks read the row they are about by its id (a page the transaction just touched), so the
//! write path only names the row: `stored(tx, id)` after an insert, `forget_row(tx, id)` before
//! a merge rewrites a row and `stored` after, `purging(tx, ...)` before a purge deletes rows.

use rusqlite::{params, Connection, OptionalExtension};

use super::error::err;
use crate::ports::people::{facts, forget, remember, Facts, Landing, PeopleTx, PurchaseRec};
use crate::ports::{Derived, Row, StoreError};
use crate::store::memory::MemPeople;

/// Migration 8: the per-person tables. `people_meta.backfilled_to`: the last event id whose facts
/// the backfill added (a database that had events before this migration), `built`: 1 once
/// every stored event is in the state.
pub(super) const MIGRATION: &str = "
    CREATE TABLE people_landings (
        pixel_id   TEXT    NOT NULL,
        visitor    TEXT    NOT NULL,
        event_time INTEGER NOT NULL,
        row_id     INTEGER NOT NULL,
        touch      TEXT    NOT NULL,
        PRIMARY KEY (pixel_id, visitor, event_time, row_id)
    ) WITHOUT ROWID;
    CREATE TABLE people_purchases (
        pixel_id      TEXT    NOT NULL,
        event_time    INTEGER NOT NULL,
        row_id        INTEGER NOT NULL,
        visitor       TEXT    NOT NULL,
        currency      TEXT,
        value         REAL,
        landing_time  INTEGER,
        landing_row   INTEGER,
        touch         TEXT,
        PRIMARY KEY (pixel_id, event_time, row_id)
    ) WITHOUT ROWID;
    CREATE INDEX people_purchases_visitor ON people_purchases (pixel_id, visitor, event_time);
    CREATE TABLE people_days (
        pixel_id   TEXT    NOT NULL,
        visitor    TEXT    NOT NULL,
        day        INTEGER NOT NULL,
        event_name TEXT    NOT NULL,
        n          INTEGER NOT NULL,
        n_ios      INTEGER NOT NULL,
        PRIMARY KEY (pixel_id, visitor, day, event_name)
    ) WITHOUT ROWID;
    CREATE TABLE people_aem_sets (
        pixel_id     TEXT    NOT NULL,
        day          INTEGER NOT NULL,
        ios          INTEGER NOT NULL,
        names        TEXT    NOT NULL,
        visitor_days INTEGER NOT NULL,
        PRIMARY KEY (pixel_id, day, ios, names)
    ) WITHOUT ROWID;
    CREATE TABLE people_names (
        pixel_id   TEXT    NOT NULL,
        day        INTEGER NOT NULL,
        event_name TEXT    NOT NULL,
        n          INTEGER NOT NULL,
        n_ios      INTEGER NOT NULL,
        PRIMARY KEY (pixel_id, day, event_name)
    ) WITHOUT ROWID;
    CREATE TABLE people_channel_days (
        pixel_id TEXT    NOT NULL,
        campaign TEXT    NOT NULL,
        visitor  TEXT    NOT NULL,
        day      INTEGER NOT NULL,
        n        INTEGER NOT NULL,
        PRIMARY KEY (pixel_id, campaign, visitor, day)
    ) WITHOUT ROWID;
    CREATE TABLE people_firsts (
        pixel_id TEXT    NOT NULL,
        day      INTEGER NOT NULL,
        campaign TEXT    NOT NULL,
        prev_day INTEGER NOT NULL,
        visitors INTEGER NOT NULL,
        PRIMARY KEY (pixel_id, day, campaign, prev_day)
    ) WITHOUT ROWID;
    CREATE TABLE people_meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO people_meta (key, value) VALUES ('backfilled_to', 0);
    INSERT INTO people_meta (key, value)
        SELECT 'built', NOT EXISTS (SELECT 1 FROM events);";

/// Events per backfill transaction: each commits its progress, so a killed backfill resumes.
const BACKFILL_CHUNK: i64 = 20_000;

/// The columns [`facts`] reads, by id.
const FACT_COLUMNS: &str = "id, pixel_id, event_name, event_time, fbp, report_keys, report_visitor,
    source_url, CASE WHEN event_name = 'Purchase' THEN custom_data ELSE '' END,
    CASE WHEN report_keys IS NULL THEN user_data ELSE '' END,
    user_agent, fbc IS NOT NULL, client_ip IS NOT NULL, origin";

/// The facts of the row `r` read with [`FACT_COLUMNS`].
fn row_facts(r: &rusqlite::Row<'_>) -> rusqlite::Result<Facts> {
    let pixel: String = r.get(1)?;
    let name: String = r.get(2)?;
    let fbp: Option<String> = r.get(4)?;
    let keys: Option<i64> = r.get(5)?;
    let visitor: Option<String> = r.get(6)?;
    let url: String = r.get(7)?;
    let custom: String = r.get(8)?;
    let ud: String = r.get(9)?;
    let ua: Option<String> = r.get(10)?;
    let origin: i64 = r.get(13)?;
    let row = Row {
        id: r.get(0)?,
        event_name: &name,
        event_time: r.get(3)?,
        fbp: fbp.as_deref(),
        has_fbc: r.get(11)?,
        has_client_ip: r.get(12)?,
        user_agent: ua.as_deref(),
        source_url: &url,
        user_data: &ud,
        purchase_data: &custom,
        derived: keys.map(|keys| Derived {
            keys,
            visitor: visitor.as_deref(),
        }),
        origin: u8::try_from(origin).unwrap_or(1),
        ..Row::default()
    };
    Ok(facts(&pixel, &row))
}

fn facts_of(tx: &Connection, id: i64) -> Result<Option<Facts>, StoreError> {
    tx.prepare_cached(&format!("SELECT {FACT_COLUMNS} FROM events WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], row_facts).optional())
        .map_err(err)
}

/// The hook after the insert (or merge) of row `id`.
pub(super) fn stored(tx: &Connection, id: i64) -> Result<(), StoreError> {
    match facts_of(tx, id)? {
        Some(f) => remember(&mut Sql(tx), &f),
        None => Ok(()),
    }
}

/// The hook before a merge rewrites row `id` (then [`stored`] after).
pub(super) fn forget_row(tx: &Connection, id: i64) -> Result<(), StoreError> {
    match facts_of(tx, id)? {
        Some(f) => forget(&mut Sql(tx), &f),
        None => Ok(()),
    }
}

/// The hook before a purge deletes the rows `id <= last AND received_at_ms < before`, the first
/// `limit` by id.
pub(super) fn purging(
    tx: &Connection,
    last: i64,
    before: i64,
    limit: i64,
) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT {FACT_COLUMNS} FROM events WHERE id <= ?1 AND received_at_ms < ?2
         ORDER BY id LIMIT ?3"
    );
    let gone: Vec<Facts> = tx
        .prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_map(params![last, before, limit], row_facts)?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(err)?;
    for f in &gone {
        forget(&mut Sql(tx), f)?;
    }
    Ok(())
}

/// Fill the state from the events of a database stored before it (or after [`clear`]), in
/// transactions of [`BACKFILL_CHUNK`] events that record how far they got: killed, the next
/// start resumes there. Returns the number of events added.
pub(super) fn backfill(conn: &Connection) -> Result<u64, StoreError> {
    backfill_chunks(conn, BACKFILL_CHUNK, usize::MAX)
}

/// [`backfill`] in chunks of `chunk` events, stopping after `at_most` of them (a kill, for the
/// test) without marking the state built.
fn backfill_chunks(conn: &Connection, chunk: i64, at_most: usize) -> Result<u64, StoreError> {
    let meta = |key: &str| -> Result<i64, StoreError> {
        conn.query_row("SELECT value FROM people_meta WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .map_err(err)
    };
    if meta("built")? == 1 {
        return Ok(0);
    }
    let last: i64 = conn
        .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))
        .map_err(err)?;
    let mut done = 0u64;
    let started = std::time::Instant::now();
    for _ in 0..at_most {
        let from = meta("backfilled_to")?;
        if from >= last {
            break;
        }
        let tx = conn.unchecked_transaction().map_err(err)?;
        let sql = format!("SELECT {FACT_COLUMNS} FROM events WHERE id > ?1 ORDER BY id LIMIT ?2");
        let rows: Vec<(i64, Facts)> = tx
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(params![from, chunk], |r| Ok((r.get(0)?, row_facts(r)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .map_err(err)?;
        let Some(to) = rows.last().map(|(id, _)| *id) else {
            break;
        };
        for (_, f) in &rows {
            remember(&mut Sql(&tx), f)?;
        }
        tx.execute(
            "UPDATE people_meta SET value = ?1 WHERE key = 'backfilled_to'",
            [to],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        done += rows.len() as u64;
        tracing::info!(
            events = done,
            last_id = to,
            of = last,
            secs = started.elapsed().as_secs(),
            "per-person state: backfill"
        );
    }
    let left: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM events WHERE id > ?1 AND id <= ?2)",
            params![meta("backfilled_to")?, last],
            |r| r.get(0),
        )
        .map_err(err)?;
    if left {
        return Ok(done);
    }
    conn.execute("UPDATE people_meta SET value = 1 WHERE key = 'built'", [])
        .map_err(err)?;
    Ok(done)
}

/// Empty the state, for a rebuild from the events.
pub(super) fn clear(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "BEGIN;
         DELETE FROM people_landings; DELETE FROM people_purchases; DELETE FROM people_days;
         DELETE FROM people_aem_sets; DELETE FROM people_names;
         DELETE FROM people_channel_days; DELETE FROM people_firsts;
         UPDATE people_meta SET value = 0;
         COMMIT;",
    )
    .map_err(err)
}

/// Every table of the state into a [`MemPeople`].
pub(super) fn read_state(conn: &Connection) -> Result<MemPeople, StoreError> {
    let mut m = MemPeople::default();
    let q = |sql: &str, f: &mut dyn FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>| {
        let mut s = conn.prepare(sql)?;
        let mut rows = s.query([])?;
        while let Some(r) = rows.next()? {
            f(r)?;
        }
        Ok::<(), rusqlite::Error>(())
    };
    q(
        "SELECT pixel_id, visitor, event_time, row_id, touch FROM people_landings",
        &mut |r| {
            m.landings
                .insert((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?);
            Ok(())
        },
    )
    .map_err(err)?;
    q(
        "SELECT pixel_id, event_time, row_id, visitor, currency, value, landing_time, landing_row,
            touch FROM people_purchases",
        &mut |r| {
            let currency: Option<String> = r.get(4)?;
            let value: Option<f64> = r.get(5)?;
            let lt: Option<i64> = r.get(6)?;
            let lr: Option<i64> = r.get(7)?;
            let touch: Option<String> = r.get(8)?;
            m.purchases.insert(
                (r.get(0)?, r.get(1)?, r.get(2)?),
                PurchaseRec {
                    visitor: r.get(3)?,
                    amount: currency.zip(value),
                    landing: match (lt, lr, touch) {
                        (Some(time), Some(row), Some(touch)) => Some(Landing { time, row, touch }),
                        _ => None,
                    },
                },
            );
            Ok(())
        },
    )
    .map_err(err)?;
    q(
        "SELECT pixel_id, visitor, day, event_name, n, n_ios FROM people_days",
        &mut |r| {
            m.days.insert(
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?),
                (r.get(4)?, r.get(5)?),
            );
            Ok(())
        },
    )
    .map_err(err)?;
    q(
        "SELECT pixel_id, day, ios, names, visitor_days FROM people_aem_sets",
        &mut |r| {
            m.aem_sets
                .insert((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?);
            Ok(())
        },
    )
    .map_err(err)?;
    q(
        "SELECT pixel_id, day, event_name, n, n_ios FROM people_names",
        &mut |r| {
            m.names
                .insert((r.get(0)?, r.get(1)?, r.get(2)?), (r.get(3)?, r.get(4)?));
            Ok(())
        },
    )
    .map_err(err)?;
    q(
        "SELECT pixel_id, campaign, visitor, day, n FROM people_channel_days",
        &mut |r| {
            m.channel_days
                .insert((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?);
            Ok(())
        },
    )
    .map_err(err)?;
    q(
        "SELECT pixel_id, campaign, day, prev_day, visitors FROM people_firsts",
        &mut |r| {
            m.firsts
                .insert((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?);
            Ok(())
        },
    )
    .map_err(err)?;
    Ok(m)
}

/// The tables through one connection, inside the caller's transaction.
struct Sql<'c>(&'c Connection);

impl Sql<'_> {
    fn exec(&self, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<(), StoreError> {
        self.0
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(p))
            .map(|_| ())
            .map_err(err)
    }
}

impl PeopleTx for Sql<'_> {
    fn landing_insert(&mut self, f: &Facts, touch: &str) -> Result<(), StoreError> {
        self.exec(
            "INSERT OR REPLACE INTO people_landings (pixel_id, visitor, event_time, row_id, touch)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![f.pixel, f.visitor, f.time, f.row, touch],
        )
    }
    fn landing_delete(&mut self, f: &Facts) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM people_landings
             WHERE pixel_id = ?1 AND visitor = ?2 AND event_time = ?3 AND row_id = ?4",
            params![f.pixel, f.visitor, f.time, f.row],
        )
    }
    fn latest_landing(
        &mut self,
        pixel: &str,
        visitor: &str,
        at: (i64, i64),
    ) -> Result<Option<Landing>, StoreError> {
        self.0
            .prepare_cached(
                "SELECT event_time, row_id, touch FROM people_landings
                 WHERE pixel_id = ?1 AND visitor = ?2 AND (event_time, row_id) < (?3, ?4)
                 ORDER BY event_time DESC, row_id DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![pixel, visitor, at.0, at.1], |r| {
                    Ok(Landing {
                        time: r.get(0)?,
                        row: r.get(1)?,
                        touch: r.get(2)?,
                    })
                })
                .optional()
            })
            .map_err(err)
    }
    fn purchase_insert(&mut self, f: &Facts, p: &PurchaseRec) -> Result<(), StoreError> {
        let (cur, value) = match &p.amount {
            Some((c, v)) => (Some(c.as_str()), Some(*v)),
            None => (None, None),
        };
        let l = p.landing.as_ref();
        self.exec(
            "INSERT OR REPLACE INTO people_purchases (pixel_id, event_time, row_id, visitor,
                currency, value, landing_time, landing_row, touch)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                f.pixel,
                f.time,
                f.row,
                p.visitor,
                cur,
                value,
                l.map(|l| l.time),
                l.map(|l| l.row),
                l.map(|l| l.touch.as_str())
            ],
        )
    }
    fn purchase_delete(&mut self, f: &Facts) -> Result<(), StoreError> {
        self.exec(
            "DELETE FROM people_purchases WHERE pixel_id = ?1 AND event_time = ?2 AND row_id = ?3",
            params![f.pixel, f.time, f.row],
        )
    }
    fn purchases_of(
        &mut self,
        pixel: &str,
        visitor: &str,
        after: (i64, i64),
    ) -> Result<Vec<(i64, i64, Option<(i64, i64)>)>, StoreError> {
        self.0
            .prepare_cached(
                "SELECT event_time, row_id, landing_time, landing_row FROM people_purchases
                 WHERE pixel_id = ?1 AND visitor = ?2 AND (event_time, row_id) > (?3, ?4)",
            )
            .and_then(|mut s| {
                s.query_map(params![pixel, visitor, after.0, after.1], |r| {
                    let lt: Option<i64> = r.get(2)?;
                    let lr: Option<i64> = r.get(3)?;
                    Ok((r.get(0)?, r.get(1)?, lt.zip(lr)))
                })?
                .collect()
            })
            .map_err(err)
    }
    fn purchase_set_landing(
        &mut self,
        pixel: &str,
        time: i64,
        row: i64,
        landing: Option<&Landing>,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE people_purchases SET landing_time = ?4, landing_row = ?5, touch = ?6
             WHERE pixel_id = ?1 AND event_time = ?2 AND row_id = ?3",
            params![
                pixel,
                time,
                row,
                landing.map(|l| l.time),
                landing.map(|l| l.row),
                landing.map(|l| l.touch.as_str())
            ],
        )
    }
    fn day_names(
        &mut self,
        pixel: &str,
        visitor: &str,
        day: i64,
    ) -> Result<Vec<(String, i64, i64)>, StoreError> {
        self.0
            .prepare_cached(
                "SELECT event_name, n, n_ios FROM people_days
                 WHERE pixel_id = ?1 AND visitor = ?2 AND day = ?3",
            )
            .and_then(|mut s| {
                s.query_map(params![pixel, visitor, day], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect()
            })
            .map_err(err)
    }
    fn day_name_set(&mut self, f: &Facts, n: i64, n_ios: i64) -> Result<(), StoreError> {
        let day = f.time.div_euclid(86_400);
        if n == 0 && n_ios == 0 {
            self.exec(
                "DELETE FROM people_days
                 WHERE pixel_id = ?1 AND visitor = ?2 AND day = ?3 AND event_name = ?4",
                params![f.pixel, f.visitor, day, f.name],
            )
        } else {
            self.exec(
                "INSERT OR REPLACE INTO people_days (pixel_id, visitor, day, event_name, n, n_ios)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![f.pixel, f.visitor, day, f.name, n, n_ios],
            )
        }
    }
    fn bump_set(
        &mut self,
        pixel: &str,
        day: i64,
        ios: bool,
        set: &str,
        delta: i64,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO people_aem_sets (pixel_id, day, ios, names, visitor_days)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (pixel_id, day, ios, names)
                DO UPDATE SET visitor_days = visitor_days + excluded.visitor_days",
            params![pixel, day, ios, set, delta],
        )?;
        self.exec(
            "DELETE FROM people_aem_sets
             WHERE pixel_id = ?1 AND day = ?2 AND ios = ?3 AND names = ?4 AND visitor_days = 0",
            params![pixel, day, ios, set],
        )
    }
    fn bump_name(&mut self, f: &Facts, dn: i64, dios: i64) -> Result<(), StoreError> {
        let day = f.time.div_euclid(86_400);
        self.exec(
            "INSERT INTO people_names (pixel_id, day, event_name, n, n_ios)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (pixel_id, day, event_name)
                DO UPDATE SET n = n + excluded.n, n_ios = n_ios + excluded.n_ios",
            params![f.pixel, day, f.name, dn, dios],
        )?;
        if dn < 0 {
            self.exec(
                "DELETE FROM people_names
                 WHERE pixel_id = ?1 AND day = ?2 AND event_name = ?3 AND n = 0 AND n_ios = 0",
                params![f.pixel, day, f.name],
            )?;
        }
        Ok(())
    }
    fn channel_days(
        &mut self,
        pixel: &str,
        campaign: &str,
        visitor: &str,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        self.0
            .prepare_cached(
                "SELECT day, n FROM people_channel_days
                 WHERE pixel_id = ?1 AND campaign = ?2 AND visitor = ?3",
            )
            .and_then(|mut s| {
                s.query_map(params![pixel, campaign, visitor], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect()
            })
            .map_err(err)
    }
    fn channel_day_set(&mut self, f: &Facts, campaign: &str, n: i64) -> Result<(), StoreError> {
        let day = f.time.div_euclid(86_400);
        if n == 0 {
            self.exec(
                "DELETE FROM people_channel_days
                 WHERE pixel_id = ?1 AND campaign = ?2 AND visitor = ?3 AND day = ?4",
                params![f.pixel, campaign, f.visitor, day],
            )
        } else {
            self.exec(
                "INSERT OR REPLACE INTO people_channel_days (pixel_id, campaign, visitor, day, n)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![f.pixel, campaign, f.visitor, day, n],
            )
        }
    }
    fn bump_first(
        &mut self,
        pixel: &str,
        campaign: &str,
        day: i64,
        prev: i64,
        delta: i64,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO people_firsts (pixel_id, day, campaign, prev_day, visitors)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (pixel_id, day, campaign, prev_day)
                DO UPDATE SET visitors = visitors + excluded.visitors",
            params![pixel, day, campaign, prev, delta],
        )?;
        if delta < 0 {
            self.exec(
                "DELETE FROM people_firsts WHERE pixel_id = ?1 AND day = ?2 AND campaign = ?3
                    AND prev_day = ?4 AND visitors = 0",
                params![pixel, day, campaign, prev],
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A backfill killed after some chunks resumes where it stopped and ends with the state the
    /// write path keeps.
    #[test]
    fn a_killed_backfill_resumes() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(err)?;
        let store = SqliteStore::open(&dir.path().join("b.db"), crate::config::SyncMode::Normal)?;
        let end_day = 20_000;
        let opts = crate::seed::Options {
            pixel: "1234567890".into(),
            events: 3000,
            days: 5,
            end_day,
            seed: 3,
            relay: false,
        };
        crate::seed::seed(&store, &opts, &mut |_| {}).map_err(StoreError)?;
        let kept = store.people_state()?;
        assert!(!kept.purchases.is_empty() && !kept.firsts.is_empty());
        let w = store.writer()?;
        clear(&w.conn)?;
        let first = backfill_chunks(&w.conn, 100, 7)?;
        assert_eq!(first, 700);
        let built: i64 = w
            .conn
            .query_row(
                "SELECT value FROM people_meta WHERE key = 'built'",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        assert_eq!(built, 0, "not built after a kill");
        let rest = backfill_chunks(&w.conn, 100, usize::MAX)?;
        assert_eq!(first + rest, 3000);
        drop(w);
        assert_eq!(store.people_state()?, kept);
        Ok(())
    }
}
