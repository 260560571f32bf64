//! The PostgreSQL store's per-person state as the reports and the `rebuild` command see it: the
//! reads of [`PeopleSource`], the rebuild, and the state read back for the property test (the
//! tables and the write path's hooks are in `people.rs`).

use tokio_postgres::Row as PgRow;

use super::connection::PgStore;
use super::error::pg_err;
use super::people::{backfill, purchase_row};
use crate::ports::people::{PeopleSource, PurchaseView};
use crate::ports::StoreError;
use crate::store::memory::MemPeople;

impl PgStore {
    /// Recompute the per-person state from the raw events (the `rebuild` command's): emptied,
    /// then backfilled. Returns the number of events read.
    pub fn rebuild_people(&self) -> Result<u64, StoreError> {
        self.run(None, async {
            let mut client = self.client().await?;
            client
                .batch_execute(
                    "BEGIN;
                     DELETE FROM people_landings; DELETE FROM people_purchases;
                     DELETE FROM people_days; DELETE FROM people_aem_sets; DELETE FROM people_names;
                     DELETE FROM people_channel_days; DELETE FROM people_firsts;
                     UPDATE people_meta SET value = 0;
                     COMMIT;",
                )
                .await
                .map_err(pg_err)?;
            backfill(&mut client).await
        })
    }

    /// The state as stored, in the twin's form (for the property test).
    pub fn people_state(&self) -> Result<MemPeople, StoreError> {
        self.run(None, async {
            let client = self.client().await?;
            let mut m = MemPeople::default();
            for r in client
                .query(
                    "SELECT pixel_id, visitor, event_time, row_id, touch FROM people_landings",
                    &[],
                )
                .await
                .map_err(pg_err)?
            {
                m.landings.insert(
                    (
                        r.try_get(0).map_err(pg_err)?,
                        r.try_get(1).map_err(pg_err)?,
                        r.try_get(2).map_err(pg_err)?,
                        r.try_get(3).map_err(pg_err)?,
                    ),
                    r.try_get(4).map_err(pg_err)?,
                );
            }
            for r in client
                .query(
                    "SELECT pixel_id, event_time, row_id, visitor, currency, value, landing_time,
                        landing_row, touch FROM people_purchases",
                    &[],
                )
                .await
                .map_err(pg_err)?
            {
                let (k, p) = purchase_row(&r)?;
                m.purchases.insert(k, p);
            }
            for r in client
                .query(
                    "SELECT pixel_id, visitor, day, event_name, n, n_ios FROM people_days",
                    &[],
                )
                .await
                .map_err(pg_err)?
            {
                m.days.insert(
                    (
                        r.try_get(0).map_err(pg_err)?,
                        r.try_get(1).map_err(pg_err)?,
                        r.try_get(2).map_err(pg_err)?,
                        r.try_get(3).map_err(pg_err)?,
                    ),
                    (r.try_get(4).map_err(pg_err)?, r.try_get(5).map_err(pg_err)?),
                );
            }
            for r in client
                .query(
                    "SELECT pixel_id, day, ios, names, visitor_days FROM people_aem_sets",
                    &[],
                )
                .await
                .map_err(pg_err)?
            {
                m.aem_sets.insert(
                    (
                        r.try_get(0).map_err(pg_err)?,
                        r.try_get(1).map_err(pg_err)?,
                        r.try_get(2).map_err(pg_err)?,
                        r.try_get(3).map_err(pg_err)?,
                    ),
                    r.try_get(4).map_err(pg_err)?,
                );
            }
            for r in client
                .query(
                    "SELECT pixel_id, day, event_name, n, n_ios FROM people_names",
                    &[],
                )
                .await
                .map_err(pg_err)?
            {
                m.names.insert(
                    (
                        r.try_get(0).map_err(pg_err)?,
                        r.try_get(1).map_err(pg_err)?,
                        r.try_get(2).map_err(pg_err)?,
                    ),
                    (r.try_get(3).map_err(pg_err)?, r.try_get(4).map_err(pg_err)?),
                );
            }
            for r in client
                .query(
                    "SELECT pixel_id, campaign, visitor, day, n FROM people_channel_days",
                    &[],
                )
                .await
                .map_err(pg_err)?
            {
                m.channel_days.insert(
                    (
                        r.try_get(0).map_err(pg_err)?,
                        r.try_get(1).map_err(pg_err)?,
                        r.try_get(2).map_err(pg_err)?,
                        r.try_get(3).map_err(pg_err)?,
                    ),
                    r.try_get(4).map_err(pg_err)?,
                );
            }
            for r in client
                .query(
                    "SELECT pixel_id, campaign, day, prev_day, visitors FROM people_firsts",
                    &[],
                )
                .await
                .map_err(pg_err)?
            {
                m.firsts.insert(
                    (
                        r.try_get(0).map_err(pg_err)?,
                        r.try_get(1).map_err(pg_err)?,
                        r.try_get(2).map_err(pg_err)?,
                        r.try_get(3).map_err(pg_err)?,
                    ),
                    r.try_get(4).map_err(pg_err)?,
                );
            }
            Ok(m)
        })
    }

    /// One read of the per-person tables, streamed to `f`.
    fn people_query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        f: &mut dyn FnMut(&PgRow) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.run(None, async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
            let rows = client
                .query_raw(&stmt, params.iter().copied())
                .await
                .map_err(pg_err)?;
            let mut rows = std::pin::pin!(rows);
            while let Some(r) = futures_util::StreamExt::next(&mut rows).await {
                f(&r.map_err(pg_err)?)?;
            }
            Ok(())
        })
    }
}

impl PeopleSource for PgStore {
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
        self.people_query(
            "SELECT visitor, event_time, currency, value, landing_time, touch FROM people_purchases
             WHERE pixel_id = $1 AND event_time >= $2 AND event_time < $3",
            &[&pixel, &from, &to],
            &mut |r| {
                let time: i64 = r.try_get(1).map_err(pg_err)?;
                let cur: Option<&str> = r.try_get(2).map_err(pg_err)?;
                let value: Option<f64> = r.try_get(3).map_err(pg_err)?;
                let lt: Option<i64> = r.try_get(4).map_err(pg_err)?;
                let touch: Option<&str> = r.try_get(5).map_err(pg_err)?;
                f(&PurchaseView {
                    visitor: r.try_get(0).map_err(pg_err)?,
                    time,
                    amount: cur.zip(value),
                    landing: lt.zip(touch).map(|(lt, t)| (time - lt, t)),
                });
                Ok(())
            },
        )
    }
    fn channel_visitors(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(&str, i64),
    ) -> Result<(), StoreError> {
        self.people_query(
            "SELECT campaign, SUM(visitors)::int8 FROM people_firsts
             WHERE pixel_id = $1 AND day >= $2 AND day <= $3 AND prev_day < $2
             GROUP BY campaign",
            &[&pixel, &from_day, &to_day],
            &mut |r| {
                f(r.try_get(0).map_err(pg_err)?, r.try_get(1).map_err(pg_err)?);
                Ok(())
            },
        )
    }
    fn aem_sets(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(bool, &str, i64),
    ) -> Result<(), StoreError> {
        self.people_query(
            "SELECT ios, names, SUM(visitor_days)::int8 FROM people_aem_sets
             WHERE pixel_id = $1 AND day >= $2 AND day <= $3 GROUP BY ios, names",
            &[&pixel, &from_day, &to_day],
            &mut |r| {
                f(
                    r.try_get(0).map_err(pg_err)?,
                    r.try_get(1).map_err(pg_err)?,
                    r.try_get(2).map_err(pg_err)?,
                );
                Ok(())
            },
        )
    }
    fn names(
        &self,
        pixel: &str,
        from_day: i64,
        to_day: i64,
        f: &mut dyn FnMut(&str, i64, i64),
    ) -> Result<(), StoreError> {
        self.people_query(
            "SELECT event_name, SUM(n)::int8, SUM(n_ios)::int8 FROM people_names
             WHERE pixel_id = $1 AND day >= $2 AND day <= $3 GROUP BY event_name",
            &[&pixel, &from_day, &to_day],
            &mut |r| {
                f(
                    r.try_get(0).map_err(pg_err)?,
                    r.try_get(1).map_err(pg_err)?,
                    r.try_get(2).map_err(pg_err)?,
                );
                Ok(())
            },
        )
    }
}
