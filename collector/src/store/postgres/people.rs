//! The PostgreSQL store's per-person state ([`crate::ports::people`]): the tables of migration
//! 8 (as SQLite's), kept in the transaction of each group commit, merge and purge, and read by
//! the per-person reports.
//!
//! A transaction changes the state of a batch in a few statements, whatever its size: it locks
//! the batch's visitors (transaction advisory locks, in one order: replicas that store events of
//! one visitor at once take turns, and never deadlock), reads their rows (landings, Purchases,
//! the visitor-days concerned) into the twin's form, runs the shared algorithm on them in
//! memory, and writes back what changed (the daily counters as increments, which commute
//! between replicas).

use std::collections::BTreeSet;

use deadpool_postgres::GenericClient;
use sha2::{Digest, Sha256};
use tokio_postgres::Row as PgRow;

use super::error::pg_err;
use crate::ports::people::{campaign_key, facts, forget, remember, Facts, Landing, PurchaseRec};
use crate::ports::{Derived, Row, StoreError};
use crate::store::memory::MemPeople;

/// Migration 8, as SQLite's (`store/sqlite/people.rs`) in PostgreSQL's types.
pub(super) const MIGRATION: &str = "
    CREATE TABLE people_landings (
        pixel_id   TEXT   NOT NULL,
        visitor    TEXT   NOT NULL,
        event_time BIGINT NOT NULL,
        row_id     BIGINT NOT NULL,
        touch      TEXT   NOT NULL,
        PRIMARY KEY (pixel_id, visitor, event_time, row_id)
    );
    CREATE TABLE people_purchases (
        pixel_id     TEXT   NOT NULL,
        event_time   BIGINT NOT NULL,
        row_id       BIGINT NOT NULL,
        visitor      TEXT   NOT NULL,
        currency     TEXT,
        value        DOUBLE PRECISION,
        landing_time BIGINT,
        landing_row  BIGINT,
        touch        TEXT,
        PRIMARY KEY (pixel_id, event_time, row_id)
    );
    CREATE INDEX people_purchases_visitor ON people_purchases (pixel_id, visitor, event_time);
    CREATE TABLE people_days (
        pixel_id   TEXT   NOT NULL,
        visitor    TEXT   NOT NULL,
        day        BIGINT NOT NULL,
        event_name TEXT   NOT NULL,
        n          BIGINT NOT NULL,
        n_ios      BIGINT NOT NULL,
        PRIMARY KEY (pixel_id, visitor, day, event_name)
    );
    CREATE TABLE people_aem_sets (
        pixel_id     TEXT    NOT NULL,
        day          BIGINT  NOT NULL,
        ios          BOOLEAN NOT NULL,
        names        TEXT    NOT NULL,
        visitor_days BIGINT  NOT NULL,
        PRIMARY KEY (pixel_id, day, ios, names)
    );
    CREATE TABLE people_names (
        pixel_id   TEXT   NOT NULL,
        day        BIGINT NOT NULL,
        event_name TEXT   NOT NULL,
        n          BIGINT NOT NULL,
        n_ios      BIGINT NOT NULL,
        PRIMARY KEY (pixel_id, day, event_name)
    );
    CREATE TABLE people_channel_days (
        pixel_id TEXT   NOT NULL,
        campaign TEXT   NOT NULL,
        visitor  TEXT   NOT NULL,
        day      BIGINT NOT NULL,
        n        BIGINT NOT NULL,
        PRIMARY KEY (pixel_id, campaign, visitor, day)
    );
    CREATE TABLE people_firsts (
        pixel_id TEXT   NOT NULL,
        day      BIGINT NOT NULL,
        campaign TEXT   NOT NULL,
        prev_day BIGINT NOT NULL,
        visitors BIGINT NOT NULL,
        PRIMARY KEY (pixel_id, day, campaign, prev_day)
    );
    CREATE TABLE people_meta (
        key   TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO people_meta (key, value) VALUES ('backfilled_to', 0);
    INSERT INTO people_meta (key, value)
        SELECT 'built', CASE WHEN EXISTS (SELECT 1 FROM events) THEN 0 ELSE 1 END;";

/// Events per backfill transaction.
const BACKFILL_CHUNK: i64 = 20_000;

/// The advisory lock a backfill chunk holds ("people" in ASCII).
const BACKFILL_LOCK: i64 = 0x7065_6f70_6c65;

/// The columns [`row_facts`] reads.
pub(super) const FACT_COLUMNS: &str = "id, pixel_id, event_name, event_time, fbp, report_keys,
    report_visitor, source_url, CASE WHEN event_name = 'Purchase' THEN custom_data ELSE '' END,
    CASE WHEN report_keys IS NULL THEN user_data ELSE '' END,
    user_agent, fbc IS NOT NULL, client_ip IS NOT NULL, origin";

/// The facts of a row read with [`FACT_COLUMNS`] (from `at`).
fn row_facts(r: &PgRow, at: usize) -> Result<Facts, StoreError> {
    let g = |e| pg_err(e);
    let name: &str = r.try_get(at + 2).map_err(g)?;
    let keys: Option<i64> = r.try_get(at + 5).map_err(g)?;
    let visitor: Option<&str> = r.try_get(at + 6).map_err(g)?;
    let origin: i64 = r.try_get(at + 13).map_err(g)?;
    let pixel: &str = r.try_get(at + 1).map_err(g)?;
    let row = Row {
        id: r.try_get(at).map_err(g)?,
        event_name: name,
        event_time: r.try_get(at + 3).map_err(g)?,
        fbp: r.try_get(at + 4).map_err(g)?,
        has_fbc: r.try_get(at + 11).map_err(g)?,
        has_client_ip: r.try_get(at + 12).map_err(g)?,
        user_agent: r.try_get(at + 10).map_err(g)?,
        source_url: r.try_get(at + 7).map_err(g)?,
        user_data: r.try_get(at + 9).map_err(g)?,
        purchase_data: r.try_get(at + 8).map_err(g)?,
        derived: keys.map(|keys| Derived { keys, visitor }),
        origin: u8::try_from(origin).unwrap_or(1),
        ..Row::default()
    };
    Ok(facts(pixel, &row))
}

/// The facts of the rows `ids`.
pub(super) async fn facts_by_ids(
    tx: &impl GenericClient,
    ids: &[i64],
) -> Result<Vec<Facts>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {FACT_COLUMNS} FROM events WHERE id = ANY($1) ORDER BY id"
        ))
        .await
        .map_err(pg_err)?;
    let rows = tx.query(&stmt, &[&ids]).await.map_err(pg_err)?;
    rows.iter().map(|r| row_facts(r, 0)).collect()
}

/// The hook after rows `ids` were inserted.
pub(super) async fn stored(tx: &impl GenericClient, ids: &[i64]) -> Result<(), StoreError> {
    let new = facts_by_ids(tx, ids).await?;
    apply(tx, new.into_iter().map(|f| (true, f)).collect()).await
}

/// The merges of one transaction: each merged row's facts before its first merge
/// ([`Merges::before`], called before the update), then, once all are done, all of them taken
/// off and the rows' facts after added, in one [`apply`] ([`Merges::apply`]).
#[derive(Default)]
pub(super) struct Merges {
    old: std::collections::BTreeMap<i64, Vec<Facts>>,
}

impl Merges {
    pub(super) async fn before(
        &mut self,
        tx: &impl GenericClient,
        id: i64,
    ) -> Result<(), StoreError> {
        if let std::collections::btree_map::Entry::Vacant(slot) = self.old.entry(id) {
            slot.insert(facts_by_ids(tx, &[id]).await?);
        }
        Ok(())
    }

    pub(super) async fn apply(self, tx: &impl GenericClient) -> Result<(), StoreError> {
        let ids: Vec<i64> = self.old.keys().copied().collect();
        let new = facts_by_ids(tx, &ids).await?;
        let ops = self
            .old
            .into_values()
            .flatten()
            .map(|f| (false, f))
            .chain(new.into_iter().map(|f| (true, f)))
            .collect();
        apply(tx, ops).await
    }
}

/// The hook after a purge deleted rows, with their facts (its `RETURNING` [`FACT_COLUMNS`]).
pub(super) async fn purged(tx: &impl GenericClient, rows: &[PgRow]) -> Result<(), StoreError> {
    let gone = rows
        .iter()
        .map(|r| row_facts(r, 0))
        .collect::<Result<Vec<_>, _>>()?;
    apply(tx, gone.into_iter().map(|f| (false, f)).collect()).await
}

/// The advisory-lock key of a visitor.
fn lock_key(pixel: &str, visitor: &str) -> i64 {
    let mut h = Sha256::new();
    h.update(b"people\0");
    h.update(pixel.as_bytes());
    h.update([0u8]);
    h.update(visitor.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
    i64::from_le_bytes(b)
}

/// Apply `ops` (`true`: remember, `false`: forget), in order, in the caller's transaction.
pub(super) async fn apply(
    tx: &impl GenericClient,
    ops: Vec<(bool, Facts)>,
) -> Result<(), StoreError> {
    if ops.is_empty() {
        return Ok(());
    }
    let visitors: BTreeSet<(&str, &str)> = ops
        .iter()
        .map(|(_, f)| (f.pixel.as_str(), f.visitor.as_str()))
        .collect();
    // Anonymous visitors (`#row`) are one row's: nobody else writes them.
    let mut keys: Vec<i64> = visitors
        .iter()
        .filter(|(_, v)| !v.starts_with('#'))
        .map(|(p, v)| lock_key(p, v))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    if !keys.is_empty() {
        let lock = tx
            .prepare_cached(
                "SELECT count(pg_advisory_xact_lock(k))
                 FROM (SELECT k FROM UNNEST($1::int8[]) AS u(k) ORDER BY k) s",
            )
            .await
            .map_err(pg_err)?;
        tx.query(&lock, &[&keys]).await.map_err(pg_err)?;
    }
    let base = load(tx, &visitors, &ops).await?;
    let mut work = base.clone();
    for (add, f) in &ops {
        if *add {
            remember(&mut work, f)?;
        } else {
            forget(&mut work, f)?;
        }
    }
    write(tx, &base, &work).await
}

/// The rows of `visitors` (landings, Purchases) and of the visitor-days of `ops`, with the
/// daily counters left empty (they are written as increments).
async fn load(
    tx: &impl GenericClient,
    visitors: &BTreeSet<(&str, &str)>,
    ops: &[(bool, Facts)],
) -> Result<MemPeople, StoreError> {
    let mut m = MemPeople::default();
    let pixels: Vec<&str> = visitors.iter().map(|(p, _)| *p).collect();
    let names: Vec<&str> = visitors.iter().map(|(_, v)| *v).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT l.pixel_id, l.visitor, l.event_time, l.row_id, l.touch
             FROM UNNEST($1::text[], $2::text[]) AS u(p, v)
             JOIN people_landings l ON l.pixel_id = u.p AND l.visitor = u.v",
        )
        .await
        .map_err(pg_err)?;
    for r in tx.query(&stmt, &[&pixels, &names]).await.map_err(pg_err)? {
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
    let stmt = tx
        .prepare_cached(
            "SELECT x.pixel_id, x.event_time, x.row_id, x.visitor, x.currency, x.value,
                x.landing_time, x.landing_row, x.touch
             FROM UNNEST($1::text[], $2::text[]) AS u(p, v)
             JOIN people_purchases x ON x.pixel_id = u.p AND x.visitor = u.v",
        )
        .await
        .map_err(pg_err)?;
    for r in tx.query(&stmt, &[&pixels, &names]).await.map_err(pg_err)? {
        let (k, p) = purchase_row(&r)?;
        m.purchases.insert(k, p);
    }
    let days: BTreeSet<(&str, &str, i64)> = ops
        .iter()
        .map(|(_, f)| {
            (
                f.pixel.as_str(),
                f.visitor.as_str(),
                f.time.div_euclid(86_400),
            )
        })
        .collect();
    let dp: Vec<&str> = days.iter().map(|d| d.0).collect();
    let dv: Vec<&str> = days.iter().map(|d| d.1).collect();
    let dd: Vec<i64> = days.iter().map(|d| d.2).collect();
    let stmt = tx
        .prepare_cached(
            "SELECT d.pixel_id, d.visitor, d.day, d.event_name, d.n, d.n_ios
             FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS u(p, v, d)
             JOIN people_days d ON d.pixel_id = u.p AND d.visitor = u.v AND d.day = u.d",
        )
        .await
        .map_err(pg_err)?;
    let channels: BTreeSet<(&str, String, &str)> = ops
        .iter()
        .filter_map(|(_, f)| {
            f.touch
                .as_deref()
                .map(|t| (f.pixel.as_str(), campaign_key(t), f.visitor.as_str()))
        })
        .collect();
    if !channels.is_empty() {
        let cp: Vec<&str> = channels.iter().map(|c| c.0).collect();
        let cc: Vec<&str> = channels.iter().map(|c| c.1.as_str()).collect();
        let cv: Vec<&str> = channels.iter().map(|c| c.2).collect();
        let stmt = tx
            .prepare_cached(
                "SELECT d.pixel_id, d.campaign, d.visitor, d.day, d.n
                 FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(p, c, v)
                 JOIN people_channel_days d ON d.pixel_id = u.p AND d.campaign = u.c
                    AND d.visitor = u.v",
            )
            .await
            .map_err(pg_err)?;
        for r in tx.query(&stmt, &[&cp, &cc, &cv]).await.map_err(pg_err)? {
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
    }
    for r in tx.query(&stmt, &[&dp, &dv, &dd]).await.map_err(pg_err)? {
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
    Ok(m)
}

type PurchaseKey = (String, i64, i64);

pub(super) fn purchase_row(r: &PgRow) -> Result<(PurchaseKey, PurchaseRec), StoreError> {
    let currency: Option<String> = r.try_get(4).map_err(pg_err)?;
    let value: Option<f64> = r.try_get(5).map_err(pg_err)?;
    let lt: Option<i64> = r.try_get(6).map_err(pg_err)?;
    let lr: Option<i64> = r.try_get(7).map_err(pg_err)?;
    let touch: Option<String> = r.try_get(8).map_err(pg_err)?;
    Ok((
        (
            r.try_get(0).map_err(pg_err)?,
            r.try_get(1).map_err(pg_err)?,
            r.try_get(2).map_err(pg_err)?,
        ),
        PurchaseRec {
            visitor: r.try_get(3).map_err(pg_err)?,
            amount: currency.zip(value),
            landing: match (lt, lr, touch) {
                (Some(time), Some(row), Some(touch)) => Some(Landing { time, row, touch }),
                _ => None,
            },
        },
    ))
}

/// Write what changed from `base` to `work`: deleted and new or changed rows; the daily
/// counters of `work` are increments.
async fn write(
    tx: &impl GenericClient,
    base: &MemPeople,
    work: &MemPeople,
) -> Result<(), StoreError> {
    // Landings.
    let gone: Vec<_> = base
        .landings
        .keys()
        .filter(|k| !work.landings.contains_key(*k))
        .collect();
    if !gone.is_empty() {
        let (p, v, t, r) = unzip4(gone.iter().map(|k| (k.0.as_str(), k.1.as_str(), k.2, k.3)));
        exec(
            tx,
            "DELETE FROM people_landings l USING UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[])
                AS u(p, v, t, r)
             WHERE l.pixel_id = u.p AND l.visitor = u.v AND l.event_time = u.t AND l.row_id = u.r",
            &[&p, &v, &t, &r],
        )
        .await?;
    }
    let new: Vec<_> = work
        .landings
        .iter()
        .filter(|(k, t)| base.landings.get(*k) != Some(*t))
        .collect();
    if !new.is_empty() {
        let (p, v, t, r) = unzip4(
            new.iter()
                .map(|(k, _)| (k.0.as_str(), k.1.as_str(), k.2, k.3)),
        );
        let touch: Vec<&str> = new.iter().map(|(_, t)| t.as_str()).collect();
        exec(
            tx,
            "INSERT INTO people_landings (pixel_id, visitor, event_time, row_id, touch)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[])
             ON CONFLICT (pixel_id, visitor, event_time, row_id) DO UPDATE SET touch = EXCLUDED.touch",
            &[&p, &v, &t, &r, &touch],
        )
        .await?;
    }
    // Purchases.
    let gone: Vec<_> = base
        .purchases
        .keys()
        .filter(|k| !work.purchases.contains_key(*k))
        .collect();
    if !gone.is_empty() {
        let p: Vec<&str> = gone.iter().map(|k| k.0.as_str()).collect();
        let t: Vec<i64> = gone.iter().map(|k| k.1).collect();
        let r: Vec<i64> = gone.iter().map(|k| k.2).collect();
        exec(
            tx,
            "DELETE FROM people_purchases x USING UNNEST($1::text[], $2::int8[], $3::int8[]) AS u(p, t, r)
             WHERE x.pixel_id = u.p AND x.event_time = u.t AND x.row_id = u.r",
            &[&p, &t, &r],
        )
        .await?;
    }
    let new: Vec<_> = work
        .purchases
        .iter()
        .filter(|(k, v)| base.purchases.get(*k) != Some(*v))
        .collect();
    if !new.is_empty() {
        let p: Vec<&str> = new.iter().map(|(k, _)| k.0.as_str()).collect();
        let t: Vec<i64> = new.iter().map(|(k, _)| k.1).collect();
        let r: Vec<i64> = new.iter().map(|(k, _)| k.2).collect();
        let v: Vec<&str> = new.iter().map(|(_, x)| x.visitor.as_str()).collect();
        let cur: Vec<Option<&str>> = new
            .iter()
            .map(|(_, x)| x.amount.as_ref().map(|a| a.0.as_str()))
            .collect();
        let val: Vec<Option<f64>> = new
            .iter()
            .map(|(_, x)| x.amount.as_ref().map(|a| a.1))
            .collect();
        let lt: Vec<Option<i64>> = new
            .iter()
            .map(|(_, x)| x.landing.as_ref().map(|l| l.time))
            .collect();
        let lr: Vec<Option<i64>> = new
            .iter()
            .map(|(_, x)| x.landing.as_ref().map(|l| l.row))
            .collect();
        let lk: Vec<Option<&str>> = new
            .iter()
            .map(|(_, x)| x.landing.as_ref().map(|l| l.touch.as_str()))
            .collect();
        exec(
            tx,
            "INSERT INTO people_purchases (pixel_id, event_time, row_id, visitor, currency, value,
                landing_time, landing_row, touch)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[],
                $6::float8[], $7::int8[], $8::int8[], $9::text[])
             ON CONFLICT (pixel_id, event_time, row_id) DO UPDATE SET visitor = EXCLUDED.visitor,
                currency = EXCLUDED.currency, value = EXCLUDED.value,
                landing_time = EXCLUDED.landing_time, landing_row = EXCLUDED.landing_row,
                touch = EXCLUDED.touch",
            &[&p, &t, &r, &v, &cur, &val, &lt, &lr, &lk],
        )
        .await?;
    }
    // Visitor-days.
    let gone: Vec<_> = base
        .days
        .keys()
        .filter(|k| !work.days.contains_key(*k))
        .collect();
    if !gone.is_empty() {
        let (p, v, d, n) = unzip4(
            gone.iter()
                .map(|k| (k.0.as_str(), k.1.as_str(), k.2, k.3.as_str())),
        );
        exec(
            tx,
            "DELETE FROM people_days x USING UNNEST($1::text[], $2::text[], $3::int8[], $4::text[])
                AS u(p, v, d, n)
             WHERE x.pixel_id = u.p AND x.visitor = u.v AND x.day = u.d AND x.event_name = u.n",
            &[&p, &v, &d, &n],
        )
        .await?;
    }
    let new: Vec<_> = work
        .days
        .iter()
        .filter(|(k, c)| base.days.get(*k) != Some(*c))
        .collect();
    if !new.is_empty() {
        let (p, v, d, n) = unzip4(
            new.iter()
                .map(|(k, _)| (k.0.as_str(), k.1.as_str(), k.2, k.3.as_str())),
        );
        let c: Vec<i64> = new.iter().map(|(_, c)| c.0).collect();
        let i: Vec<i64> = new.iter().map(|(_, c)| c.1).collect();
        exec(
            tx,
            "INSERT INTO people_days (pixel_id, visitor, day, event_name, n, n_ios)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[], $6::int8[])
             ON CONFLICT (pixel_id, visitor, day, event_name)
                DO UPDATE SET n = EXCLUDED.n, n_ios = EXCLUDED.n_ios",
            &[&p, &v, &d, &n, &c, &i],
        )
        .await?;
    }
    // Channel-visitor-days.
    let gone: Vec<_> = base
        .channel_days
        .keys()
        .filter(|k| !work.channel_days.contains_key(*k))
        .collect();
    if !gone.is_empty() {
        let (p, c, v, d) = unzip4(
            gone.iter()
                .map(|k| (k.0.as_str(), k.1.as_str(), k.2.as_str(), k.3)),
        );
        exec(
            tx,
            "DELETE FROM people_channel_days x
             USING UNNEST($1::text[], $2::text[], $3::text[], $4::int8[]) AS u(p, c, v, d)
             WHERE x.pixel_id = u.p AND x.campaign = u.c AND x.visitor = u.v AND x.day = u.d",
            &[&p, &c, &v, &d],
        )
        .await?;
    }
    let new: Vec<_> = work
        .channel_days
        .iter()
        .filter(|(k, n)| base.channel_days.get(*k) != Some(*n))
        .collect();
    if !new.is_empty() {
        let (p, c, v, d) = unzip4(
            new.iter()
                .map(|(k, _)| (k.0.as_str(), k.1.as_str(), k.2.as_str(), k.3)),
        );
        let n: Vec<i64> = new.iter().map(|(_, n)| **n).collect();
        exec(
            tx,
            "INSERT INTO people_channel_days (pixel_id, campaign, visitor, day, n)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])
             ON CONFLICT (pixel_id, campaign, visitor, day) DO UPDATE SET n = EXCLUDED.n",
            &[&p, &c, &v, &d, &n],
        )
        .await?;
    }
    if !work.firsts.is_empty() {
        let (p, d, c, q) = unzip4(
            work.firsts
                .keys()
                .map(|k| (k.0.as_str(), k.2, k.1.as_str(), k.3)),
        );
        let n: Vec<i64> = work.firsts.values().copied().collect();
        exec(
            tx,
            "INSERT INTO people_firsts AS a (pixel_id, day, campaign, prev_day, visitors)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[], $5::int8[])
             ON CONFLICT (pixel_id, day, campaign, prev_day)
                DO UPDATE SET visitors = a.visitors + EXCLUDED.visitors",
            &[&p, &d, &c, &q, &n],
        )
        .await?;
        exec(
            tx,
            "DELETE FROM people_firsts a
             USING UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[]) AS u(p, d, c, q)
             WHERE a.pixel_id = u.p AND a.day = u.d AND a.campaign = u.c AND a.prev_day = u.q
                AND a.visitors = 0",
            &[&p, &d, &c, &q],
        )
        .await?;
    }
    // The daily counters, as increments, in key order (replicas update them in one order).
    if !work.aem_sets.is_empty() {
        let p: Vec<&str> = work.aem_sets.keys().map(|k| k.0.as_str()).collect();
        let d: Vec<i64> = work.aem_sets.keys().map(|k| k.1).collect();
        let i: Vec<bool> = work.aem_sets.keys().map(|k| k.2).collect();
        let s: Vec<&str> = work.aem_sets.keys().map(|k| k.3.as_str()).collect();
        let n: Vec<i64> = work.aem_sets.values().copied().collect();
        exec(
            tx,
            "INSERT INTO people_aem_sets AS a (pixel_id, day, ios, names, visitor_days)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::bool[], $4::text[], $5::int8[])
             ON CONFLICT (pixel_id, day, ios, names)
                DO UPDATE SET visitor_days = a.visitor_days + EXCLUDED.visitor_days",
            &[&p, &d, &i, &s, &n],
        )
        .await?;
        exec(
            tx,
            "DELETE FROM people_aem_sets a USING UNNEST($1::text[], $2::int8[], $3::bool[], $4::text[])
                AS u(p, d, i, s)
             WHERE a.pixel_id = u.p AND a.day = u.d AND a.ios = u.i AND a.names = u.s
                AND a.visitor_days = 0",
            &[&p, &d, &i, &s],
        )
        .await?;
    }
    if !work.names.is_empty() {
        let p: Vec<&str> = work.names.keys().map(|k| k.0.as_str()).collect();
        let d: Vec<i64> = work.names.keys().map(|k| k.1).collect();
        let e: Vec<&str> = work.names.keys().map(|k| k.2.as_str()).collect();
        let n: Vec<i64> = work.names.values().map(|c| c.0).collect();
        let i: Vec<i64> = work.names.values().map(|c| c.1).collect();
        exec(
            tx,
            "INSERT INTO people_names AS a (pixel_id, day, event_name, n, n_ios)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::int8[], $5::int8[])
             ON CONFLICT (pixel_id, day, event_name)
                DO UPDATE SET n = a.n + EXCLUDED.n, n_ios = a.n_ios + EXCLUDED.n_ios",
            &[&p, &d, &e, &n, &i],
        )
        .await?;
        if n.iter().any(|x| *x < 0) {
            exec(
                tx,
                "DELETE FROM people_names a USING UNNEST($1::text[], $2::int8[], $3::text[]) AS u(p, d, e)
                 WHERE a.pixel_id = u.p AND a.day = u.d AND a.event_name = u.e
                    AND a.n = 0 AND a.n_ios = 0",
                &[&p, &d, &e],
            )
            .await?;
        }
    }
    Ok(())
}

#[allow(clippy::type_complexity)]
fn unzip4<A, B, C, D>(it: impl Iterator<Item = (A, B, C, D)>) -> (Vec<A>, Vec<B>, Vec<C>, Vec<D>) {
    let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (w, x, y, z) in it {
        a.push(w);
        b.push(x);
        c.push(y);
        d.push(z);
    }
    (a, b, c, d)
}

async fn exec(
    tx: &impl GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<(), StoreError> {
    let stmt = tx.prepare_cached(sql).await.map_err(pg_err)?;
    tx.execute(&stmt, params).await.map_err(pg_err)?;
    Ok(())
}

/// Fill the state from the events of a database stored before it (or after a clear), in
/// transactions of [`BACKFILL_CHUNK`] events recording their progress: a killed backfill
/// resumes. Each chunk takes a transaction advisory lock first: replicas starting together take
/// turns, and each reads the progress the other left.
pub(super) async fn backfill(client: &mut deadpool_postgres::Object) -> Result<u64, StoreError> {
    let built: i64 = client
        .query_one("SELECT value FROM people_meta WHERE key = 'built'", &[])
        .await
        .map_err(pg_err)?
        .try_get(0)
        .map_err(pg_err)?;
    if built == 1 {
        return Ok(0);
    }
    let last: i64 = client
        .query_one("SELECT COALESCE(MAX(id), 0)::int8 FROM events", &[])
        .await
        .map_err(pg_err)?
        .try_get(0)
        .map_err(pg_err)?;
    let mut done = 0u64;
    loop {
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BACKFILL_LOCK])
            .await
            .map_err(pg_err)?;
        let from: i64 = tx
            .query_one(
                "SELECT value FROM people_meta WHERE key = 'backfilled_to'",
                &[],
            )
            .await
            .map_err(pg_err)?
            .try_get(0)
            .map_err(pg_err)?;
        if from >= last {
            tx.commit().await.map_err(pg_err)?;
            break;
        }
        let rows = tx
            .query(
                &format!(
                    "SELECT {FACT_COLUMNS} FROM events WHERE id > $1 AND id <= $3
                     ORDER BY id LIMIT $2"
                ),
                &[&from, &BACKFILL_CHUNK, &last],
            )
            .await
            .map_err(pg_err)?;
        let Some(to) = rows
            .last()
            .map(|r| r.try_get::<_, i64>(0))
            .transpose()
            .map_err(pg_err)?
        else {
            tx.commit().await.map_err(pg_err)?;
            break;
        };
        let ops = rows
            .iter()
            .map(|r| row_facts(r, 0).map(|f| (true, f)))
            .collect::<Result<Vec<_>, _>>()?;
        apply(&tx, ops).await?;
        tx.execute(
            "UPDATE people_meta SET value = $1 WHERE key = 'backfilled_to'",
            &[&to],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        done += rows.len() as u64;
        tracing::info!(
            events = done,
            last_id = to,
            of = last,
            "per-person state: backfill"
        );
    }
    client
        .execute("UPDATE people_meta SET value = 1 WHERE key = 'built'", &[])
        .await
        .map_err(pg_err)?;
    Ok(done)
}
