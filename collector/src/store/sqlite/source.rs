//! The SQLite store's [`ReportSource`]: the dialect-neutral scan of [`crate::store::scan_sql`]
//! on a report reader, and the audiences' hashes read by id.
//!
//! Speed: the `events_report` index of migration 3 holds every column a report reads on every row
//! (`pixel_id, event_time, event_name, fbp, report_keys, report_visitor, event_id_derived,
//! relay_status`), so the scan walks that index alone, about a seventh of the table's bytes. The
//! other columns are read through `CASE WHEN … THEN column END`, only for the rows that need them
//! (Purchases, landings, rows with customer keys, failed relays, rows stored before migration 3),
//! and SQLite fetches the table row only when such a column is read.

use rusqlite::types::ValueRef;

use super::connection::SqliteStore;
use super::error::err;
use crate::ports::{Derived, RelayStatus, ReportSource, Row, Scan, StoreError};
use crate::store::scan_sql::{scan_sql, Col};

fn text(v: ValueRef<'_>) -> Option<&str> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t).ok(),
        _ => None,
    }
}

fn int(v: ValueRef<'_>) -> i64 {
    match v {
        ValueRef::Integer(i) => i,
        _ => 0,
    }
}

impl ReportSource for SqliteStore {
    fn people(&self) -> Option<&dyn crate::ports::people::PeopleSource> {
        Some(self)
    }

    fn scan(&self, scan: &Scan<'_>, f: &mut dyn FnMut(&Row<'_>)) -> Result<(), StoreError> {
        let conn = self.report_reader()?;
        let (sql, at) = scan_sql(scan);
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let mut params: Vec<rusqlite::types::Value> = vec![
            scan.pixel_id.to_owned().into(),
            scan.from_secs.into(),
            scan.to_secs.into(),
        ];
        for name in scan.names.unwrap_or(&[]) {
            params.push(name.clone().into());
        }
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            let v = |i: usize| r.get_ref(i).unwrap_or(ValueRef::Null);
            let opt = |col: Col| {
                at.get(col as usize)
                    .copied()
                    .flatten()
                    .map_or(ValueRef::Null, v)
            };
            let derived = match v(4) {
                ValueRef::Integer(keys) => Some(Derived {
                    keys,
                    visitor: text(v(5)),
                }),
                _ => None,
            };
            let row = Row {
                id: int(v(0)),
                event_name: text(v(1)).unwrap_or(""),
                event_time: int(v(2)),
                fbp: text(v(3)),
                has_fbc: int(opt(Col::Fbc)) != 0,
                has_client_ip: int(opt(Col::ClientIp)) != 0,
                user_agent: text(opt(Col::UserAgent)),
                source_url: text(opt(Col::SourceUrl)).unwrap_or(""),
                user_data: text(opt(Col::UserData)).unwrap_or(""),
                purchase_data: text(opt(Col::PurchaseData)).unwrap_or(""),
                event_id_derived: int(opt(Col::EventIdDerived)) != 0,
                relay_status: text(opt(Col::RelayStatus)).and_then(RelayStatus::parse),
                relay_error: text(opt(Col::RelayError)),
                derived,
                origin: u8::try_from(int(opt(Col::Origin))).unwrap_or(0),
            };
            f(&row);
        }
        Ok(())
    }

    fn user_data(
        &self,
        scan: &Scan<'_>,
        ids: &[i64],
        f: &mut dyn FnMut(i64, &str),
    ) -> Result<(), StoreError> {
        let conn = self.report_reader()?;
        // One read transaction for them all (a statement on its own takes the file's read lock
        // and lets it go again), then one row by its id at a time, in id order.
        let tx = conn.unchecked_transaction().map_err(err)?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT user_data FROM events
                 WHERE id = ?1 AND pixel_id = ?2 AND event_time >= ?3 AND event_time < ?4",
            )
            .map_err(err)?;
        for id in ids {
            let mut rows = stmt
                .query(rusqlite::params![
                    id,
                    scan.pixel_id,
                    scan.from_secs,
                    scan.to_secs
                ])
                .map_err(err)?;
            if let Some(r) = rows.next().map_err(err)? {
                if let Some(ud) = text(r.get_ref(0).map_err(err)?) {
                    f(*id, ud);
                }
            }
        }
        drop(stmt);
        tx.commit().map_err(err)
    }

    fn keeps_rollups(&self) -> bool {
        true
    }

    /// The cells of migration 7 ([`super::rollup`]).
    fn rollup(
        &self,
        pixel_id: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<crate::ports::rollup::Rollup, StoreError> {
        let conn = self.report_reader()?;
        super::rollup::read(&conn, pixel_id, from_day, to_day)
    }

    fn duplicates(&self, pixel_id: &str, from_day: i64, to_day: i64) -> Result<u64, StoreError> {
        let conn = self.report_reader()?;
        conn.query_row(
            "SELECT COALESCE(SUM(duplicates), 0) FROM duplicates_per_day
             WHERE pixel_id = ?1 AND day >= ?2 AND day <= ?3",
            rusqlite::params![pixel_id, from_day, to_day],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyncMode;
    use crate::ports::RelayQueue;
    use crate::reports::{self, DayRange};

    const PIXEL: &str = "1234567890";

    /// Every report and audience over `range`, as text (shared with the PostgreSQL tests).
    fn everything(s: &SqliteStore, range: DayRange) -> Result<Vec<String>, StoreError> {
        crate::store::contract::every_report(s, PIXEL, range)
    }

    fn derived_rows(s: &SqliteStore, range: DayRange) -> Result<(u64, u64), StoreError> {
        let (mut all, mut derived) = (0, 0);
        let scan = Scan {
            pixel_id: PIXEL,
            from_secs: range.from_secs(),
            to_secs: range.to_secs(),
            names: None,
            columns: Default::default(),
        };
        s.scan(&scan, &mut |row| {
            all += 1;
            derived += u64::from(row.derived.is_some());
        })?;
        Ok((all, derived))
    }

    /// Reports run side by side, and never hold up the short reads: with a report reader held,
    /// a report still answers; with every report reader held, a short read still answers (with
    /// the one mutexed reader of old, each would wait for ever).
    #[test]
    fn reports_run_beside_each_other_and_beside_short_reads() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(err)?;
        let store = std::sync::Arc::new(SqliteStore::open(
            &dir.path().join("r.db"),
            SyncMode::Normal,
        )?);
        let answers = |held: usize| -> Result<serde_json::Value, StoreError> {
            let guards = (0..held)
                .map(|_| store.report_reader())
                .collect::<Result<Vec<_>, _>>()?;
            let (tx, rx) = std::sync::mpsc::channel();
            let s = store.clone();
            std::thread::spawn(move || {
                let range = DayRange {
                    from_day: 20_000,
                    to_day: 20_001,
                };
                let answer = if held < super::super::connection::REPORT_READERS {
                    reports::funnel(&*s, PIXEL, range).map(|v| v["events"].clone())
                } else {
                    s.pending_count().map(serde_json::Value::from)
                };
                let _ = tx.send(answer);
            });
            let answer = rx
                .recv_timeout(std::time::Duration::from_secs(20))
                .map_err(|e| StoreError(format!("no answer beside {held} busy readers: {e}")));
            drop(guards);
            answer?
        };
        assert_eq!(answers(super::super::connection::REPORT_READERS - 1)?, 0);
        assert_eq!(answers(super::super::connection::REPORT_READERS)?, 0);
        Ok(())
    }

    /// The derived columns are a shortcut, never a different answer: every report over seeded
    /// traffic is the same with them and with the rows' own columns (a row stored before
    /// migration 3).
    #[test]
    fn derived_columns_change_no_answer() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(err)?;
        let store = SqliteStore::open(&dir.path().join("r.db"), SyncMode::Normal)?;
        let end_day = reports::parse_date("2026-11-30").ok_or(StoreError("date".into()))?;
        let opts = crate::seed::Options {
            pixel: PIXEL.into(),
            events: 6000,
            days: 4,
            end_day,
            seed: 11,
            relay: true,
        };
        // Rows as an old collector left them: their IP and user agent kept after the relay (a
        // row without derived columns keeps them: `queue.rs`), so that the reports can derive
        // from the columns what `report_keys` says.
        store
            .writer()?
            .conn
            .execute_batch(
                "CREATE TRIGGER keep_client AFTER UPDATE OF relay_status ON events BEGIN
                    UPDATE events SET client_ip = OLD.client_ip, user_agent = OLD.user_agent
                    WHERE id = NEW.id;
                 END;",
            )
            .map_err(err)?;
        crate::seed::seed(&store, &opts, &mut |_| {}).map_err(StoreError)?;
        store
            .writer()?
            .conn
            .execute_batch("DROP TRIGGER keep_client;")
            .map_err(err)?;
        let ranges = [
            DayRange {
                from_day: end_day - 3,
                to_day: end_day,
            },
            // One day: the timeline per hour, landings and carts either side of the range.
            DayRange {
                from_day: end_day - 1,
                to_day: end_day - 1,
            },
        ];
        let (all, derived) = derived_rows(&store, ranges[0])?;
        assert_eq!((all, derived), (6000, 6000));
        let with: Vec<_> = ranges
            .iter()
            .map(|r| everything(&store, *r))
            .collect::<Result<_, _>>()?;
        // A store that reads rows only by scanning (the trait's own `user_data`) agrees.
        struct ScanOnly<'a>(&'a SqliteStore);
        impl ReportSource for ScanOnly<'_> {
            fn rollup(
                &self,
                p: &str,
                from: i64,
                to: i64,
            ) -> Result<crate::ports::rollup::Rollup, StoreError> {
                crate::ports::rollup::from_scan(self, p, from, to)
            }
            fn scan(&self, s: &Scan<'_>, f: &mut dyn FnMut(&Row<'_>)) -> Result<(), StoreError> {
                self.0.scan(s, f)
            }
            fn duplicates(&self, p: &str, from: i64, to: i64) -> Result<u64, StoreError> {
                self.0.duplicates(p, from, to)
            }
        }
        for (range, answers) in ranges.iter().zip(&with) {
            let by_scan = crate::store::contract::every_report(&ScanOnly(&store), PIXEL, *range)?;
            assert_eq!(&by_scan, answers);
        }
        // Events gone between the scan and the read by id: no line without an identifier.
        struct Purged<'a>(&'a SqliteStore);
        impl ReportSource for Purged<'_> {
            fn rollup(
                &self,
                p: &str,
                from: i64,
                to: i64,
            ) -> Result<crate::ports::rollup::Rollup, StoreError> {
                crate::ports::rollup::from_scan(self, p, from, to)
            }
            fn scan(&self, s: &Scan<'_>, f: &mut dyn FnMut(&Row<'_>)) -> Result<(), StoreError> {
                self.0.scan(s, f)
            }
            fn duplicates(&self, p: &str, from: i64, to: i64) -> Result<u64, StoreError> {
                self.0.duplicates(p, from, to)
            }
            fn user_data(
                &self,
                _: &Scan<'_>,
                _: &[i64],
                _: &mut dyn FnMut(i64, &str),
            ) -> Result<(), StoreError> {
                Ok(())
            }
        }
        let purged = crate::store::contract::every_report(&Purged(&store), PIXEL, ranges[0])?;
        assert_eq!(purged[..6], with[0][..6]);
        for (csv, full) in purged[6..].iter().zip(&with[0][6..]) {
            assert_eq!(csv.lines().count(), 1, "{csv}");
            assert_eq!(csv.lines().next(), full.lines().next());
        }
        let updated = store
            .writer()?
            .conn
            .execute(
                "UPDATE events SET report_keys = NULL, report_visitor = NULL",
                [],
            )
            .map_err(err)?;
        assert_eq!(updated, 6000);
        assert_eq!(derived_rows(&store, ranges[0])?, (6000, 0));
        let without: Vec<_> = ranges
            .iter()
            .map(|r| everything(&store, *r))
            .collect::<Result<_, _>>()?;
        assert_eq!(with, without);
        // And the fixture exercises what the derived columns stand for.
        let funnel = &with[0][0];
        assert!(funnel.contains("\"event\":\"Purchase\""), "{funnel}");
        assert!(
            with[0][6].lines().count() > 10,
            "purchasers: {}",
            with[0][6]
        );
        Ok(())
    }
}
