//! The PostgreSQL store's [`ReportSource`]: the dialect-neutral scan of [`crate::store::scan_sql`]
//! in a transaction without the statement timeout of writes, and the audiences' hashes by id.

use futures_util::StreamExt;

use super::connection::{Params, PgStore, CALL_TIMEOUT};
use super::error::pg_err;
use super::rows;
use crate::ports::{ReportSource, Row, Scan, StoreError};
use crate::store::scan_sql::scan_sql;

impl ReportSource for PgStore {
    fn people(&self) -> Option<&dyn crate::ports::people::PeopleSource> {
        Some(self)
    }

    /// No rollups kept here yet: computed from the events.
    fn rollup(
        &self,
        pixel_id: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<crate::ports::rollup::Rollup, StoreError> {
        crate::ports::rollup::from_scan(self, pixel_id, from_day, to_day)
    }

    fn scan(&self, scan: &Scan<'_>, f: &mut dyn FnMut(&Row<'_>)) -> Result<(), StoreError> {
        // The shared statement, whose only `?` are its parameters: `?N` is `$N` here.
        let (sql, at) = scan_sql(scan);
        let sql = sql.replace('?', "$");
        self.run(None, async {
            let mut client = self.client().await?;
            // A report over a long range may take longer than the statement timeout of writes.
            let tx = client.transaction().await.map_err(pg_err)?;
            tx.batch_execute("SET LOCAL statement_timeout = 0")
                .await
                .map_err(pg_err)?;
            let stmt = tx.prepare_cached(&sql).await.map_err(pg_err)?;
            let names: Vec<&String> = scan.names.unwrap_or(&[]).iter().collect();
            let mut params: Params<'_> = vec![&scan.pixel_id, &scan.from_secs, &scan.to_secs];
            for n in &names {
                params.push(*n);
            }
            let rows = tx
                .query_raw(&stmt, params.iter().copied())
                .await
                .map_err(pg_err)?;
            let mut rows = std::pin::pin!(rows);
            while let Some(r) = rows.next().await {
                let r = r.map_err(pg_err)?;
                rows::scan_row(&r, &at, f);
            }
            tx.commit().await.map_err(pg_err)
        })
    }

    fn user_data(
        &self,
        scan: &Scan<'_>,
        ids: &[i64],
        f: &mut dyn FnMut(i64, &str),
    ) -> Result<(), StoreError> {
        self.run(None, async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT id, user_data FROM events
                     WHERE id = ANY($1) AND pixel_id = $2 AND event_time >= $3 AND event_time < $4",
                )
                .await
                .map_err(pg_err)?;
            let rows = client
                .query(
                    &stmt,
                    &[&ids, &scan.pixel_id, &scan.from_secs, &scan.to_secs],
                )
                .await
                .map_err(pg_err)?;
            for r in &rows {
                let id: i64 = r.try_get(0).map_err(pg_err)?;
                let ud: &str = r.try_get(1).map_err(pg_err)?;
                f(id, ud);
            }
            Ok(())
        })
    }

    fn duplicates(&self, pixel_id: &str, from_day: i64, to_day: i64) -> Result<u64, StoreError> {
        self.run(Some(CALL_TIMEOUT), async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT COALESCE(SUM(duplicates), 0)::int8 FROM duplicates_per_day
                     WHERE pixel_id = $1 AND day >= $2 AND day <= $3",
                    &[&pixel_id, &from_day, &to_day],
                )
                .await
                .map_err(pg_err)?;
            let n: i64 = row.try_get(0).map_err(pg_err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}
