//! The SQLite store's per-person state as the reports and the `rebuild` command see it: the
//! reads of [`PeopleSource`], the rebuild, and the state read back for the property test (the
//! tables and the write path's hooks are in `people.rs`).

use rusqlite::params;

use super::connection::SqliteStore;
use super::error::err;
use super::people::{backfill, clear, read_state};
use crate::ports::people::{PeopleSource, PurchaseView};
use crate::ports::StoreError;
use crate::store::memory::MemPeople;

impl SqliteStore {
    /// Recompute the per-person state from the raw events (what the `rebuild` command runs):
    /// emptied, then backfilled as an upgraded database is. Holds the writer while it runs.
    /// Returns the number of events read.
    pub fn rebuild_people(&self) -> Result<u64, StoreError> {
        let w = self.writer()?;
        clear(&w.conn)?;
        backfill(&w.conn)
    }

    /// The state as stored, read back into the twin's form (for the property test).
    pub fn people_state(&self) -> Result<MemPeople, StoreError> {
        let conn = self.reader()?;
        read_state(&conn)
    }
}

impl PeopleSource for SqliteStore {
    fn rebuild(&self) -> Result<u64, StoreError> {
        self.rebuild_people()
    }
    fn purchases(
        &self,
        pixel: &str,
        from: i64,
        to: i64,
        f: &mut dyn FnMut(&PurchaseView<'_>),
    ) -> Result<(), StoreError> {
        let conn = self.report_reader()?;
        let mut s = conn
            .prepare_cached(
                "SELECT visitor, event_time, currency, value, landing_time, touch
                 FROM people_purchases WHERE pixel_id = ?1 AND event_time >= ?2 AND event_time < ?3",
            )
            .map_err(err)?;
        let mut rows = s.query(params![pixel, from, to]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let visitor: &str = r.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(err)?;
            let time: i64 = r.get(1).map_err(err)?;
            let cur: Option<&str> = r
                .get_ref(2)
                .and_then(|v| Ok(v.as_str_or_null()?))
                .map_err(err)?;
            let value: Option<f64> = r.get(3).map_err(err)?;
            let lt: Option<i64> = r.get(4).map_err(err)?;
            let touch: Option<&str> = r
                .get_ref(5)
                .and_then(|v| Ok(v.as_str_or_null()?))
                .map_err(err)?;
            f(&PurchaseView {
                visitor,
                time,
                amount: cur.zip(value),
                landing: lt.zip(touch).map(|(lt, t)| (time - lt, t)),
            });
        }
        Ok(())
    }
    fn channel_visitors(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(&str, i64),
    ) -> Result<(), StoreError> {
        let conn = self.report_reader()?;
        let mut s = conn
            .prepare_cached(
                "SELECT campaign, SUM(visitors) FROM people_firsts
                 WHERE pixel_id = ?1 AND day >= ?2 AND day <= ?3 AND prev_day < ?2
                 GROUP BY campaign",
            )
            .map_err(err)?;
        let mut rows = s.query(params![pixel, from_day, to_day]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let c = r.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(err)?;
            f(c, r.get(1).map_err(err)?);
        }
        Ok(())
    }
    fn aem_sets(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(bool, &str, i64),
    ) -> Result<(), StoreError> {
        let conn = self.report_reader()?;
        let mut s = conn
            .prepare_cached(
                "SELECT ios, names, SUM(visitor_days) FROM people_aem_sets
                 WHERE pixel_id = ?1 AND day >= ?2 AND day <= ?3 GROUP BY ios, names",
            )
            .map_err(err)?;
        let mut rows = s.query(params![pixel, from_day, to_day]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let ios: bool = r.get(0).map_err(err)?;
            let set = r.get_ref(1).and_then(|v| Ok(v.as_str()?)).map_err(err)?;
            f(ios, set, r.get(2).map_err(err)?);
        }
        Ok(())
    }
    fn names(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(&str, i64, i64),
    ) -> Result<(), StoreError> {
        let conn = self.report_reader()?;
        let mut s = conn
            .prepare_cached(
                "SELECT event_name, SUM(n), SUM(n_ios) FROM people_names
                 WHERE pixel_id = ?1 AND day >= ?2 AND day <= ?3 GROUP BY event_name",
            )
            .map_err(err)?;
        let mut rows = s.query(params![pixel, from_day, to_day]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let name = r.get_ref(0).and_then(|v| Ok(v.as_str()?)).map_err(err)?;
            f(name, r.get(1).map_err(err)?, r.get(2).map_err(err)?);
        }
        Ok(())
    }
}
