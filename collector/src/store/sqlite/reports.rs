//! The read side of the reports ([`ReportSource`]): one plain `SELECT` over a pixel and a time
//! range (served by the `events_pixel_time` index of migration 2, the statement shared with the
//! PostgreSQL store: [`scan_sql`]), and the duplicates per day.

use rusqlite::types::ValueRef;

use super::{err, SqliteStore};
use crate::reports::{ReportSource, Row, Scan};
use crate::store::columns::scan_sql;
use crate::store::{RelayStatus, StoreError};

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
    fn scan(&self, scan: &Scan<'_>, f: &mut dyn FnMut(&Row<'_>)) -> Result<(), StoreError> {
        let conn = self.reader()?;
        let sql = scan_sql(scan, &|i| format!("?{i}"), "NULL");
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
            let row = Row {
                id: int(v(0)),
                event_name: text(v(1)).unwrap_or(""),
                event_time: int(v(2)),
                fbp: text(v(3)),
                has_fbc: int(v(4)) != 0,
                has_client_ip: int(v(5)) != 0,
                user_agent: text(v(6)),
                source_url: text(v(7)).unwrap_or(""),
                user_data: text(v(8)).unwrap_or(""),
                purchase_data: text(v(9)).unwrap_or(""),
                event_id_derived: int(v(10)) != 0,
                relay_status: text(v(11)).and_then(RelayStatus::parse),
                relay_error: text(v(12)),
            };
            f(&row);
        }
        Ok(())
    }

    fn duplicates(&self, pixel_id: &str, from_day: i64, to_day: i64) -> Result<u64, StoreError> {
        let conn = self.reader()?;
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
