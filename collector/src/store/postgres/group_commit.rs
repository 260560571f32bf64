//! The PostgreSQL store's group commit: one transaction per batch, whatever its size (arrays
//! through `UNNEST`). One statement (data-modifying CTEs, one round trip) when every key in the
//! batch is distinct; a transaction of a few when a key repeats within the batch. The
//! `dedup_keys` table holds each `(pixel_id, event_name, event_id)` with the receipt time it was
//! last stored at, shared by the replicas.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use deadpool_postgres::GenericClient;

use super::connection::Params;
use super::diagnostics::{self, MarkArrays};
use super::error::pg_err;
use super::people;
use super::rows::row_to_event;
use crate::event::NewEvent;
use crate::ports::diagnostics::Tally as Marks;
use crate::ports::{merge, InsertOutcome, StoreError, DEDUP_WINDOW_MS};
use crate::store::columns::{
    keeps_no_client, merged_row, Encoded, EVENT_COLUMNS, INSERTED, INSERT_COLUMNS, STATUS_AT,
};

/// The `(pixel_id, event_name, event_id)` rows a claim returned.
fn claimed_keys(
    rows: &[tokio_postgres::Row],
) -> Result<std::collections::HashSet<(String, String, String)>, StoreError> {
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get(0).map_err(pg_err)?,
                r.try_get(1).map_err(pg_err)?,
                r.try_get(2).map_err(pg_err)?,
            ))
        })
        .collect()
}

/// One group commit in `tx`: claim the keys, insert what was claimed, count the repeats.
pub(super) async fn insert_events(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[NewEvent],
) -> Result<Vec<InsertOutcome>, StoreError> {
    let mut outcomes = vec![InsertOutcome::Duplicate; events.len()];
    // The n-th copy of a key within the batch goes in round n, so that each upsert names a key
    // once (PostgreSQL refuses to update one row twice in a statement) and the copies are judged
    // in order, as the SQLite index judges them.
    let mut copies: std::collections::HashMap<(&str, &str, &str), usize> =
        std::collections::HashMap::new();
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let n = copies
            .entry((&e.pixel_id, &e.event_name, &e.event_id))
            .or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        if let Some(round) = rounds.get_mut(*n) {
            round.push(i);
        }
        *n += 1;
    }
    let claim = tx
        .prepare_cached(
            "INSERT INTO dedup_keys AS d (pixel_id, event_name, event_id, received_at_ms)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[])
             ON CONFLICT (pixel_id, event_name, event_id) DO UPDATE
                SET received_at_ms = EXCLUDED.received_at_ms
                WHERE EXCLUDED.received_at_ms - d.received_at_ms >= $5
             RETURNING pixel_id, event_name, event_id",
        )
        .await
        .map_err(pg_err)?;
    for mut round in rounds {
        // Keys in one order in every transaction: two replicas' batches never deadlock.
        round.sort_by_key(|&i| {
            events.get(i).map(|e| {
                (
                    e.pixel_id.as_str(),
                    e.event_name.as_str(),
                    e.event_id.as_str(),
                )
            })
        });
        let picked: Vec<&NewEvent> = round.iter().filter_map(|&i| events.get(i)).collect();
        let pixels: Vec<&str> = picked.iter().map(|e| e.pixel_id.as_str()).collect();
        let names: Vec<&str> = picked.iter().map(|e| e.event_name.as_str()).collect();
        let ids: Vec<&str> = picked.iter().map(|e| e.event_id.as_str()).collect();
        let times: Vec<i64> = picked.iter().map(|e| e.received_at_ms).collect();
        let rows = tx
            .query(&claim, &[&pixels, &names, &ids, &times, &DEDUP_WINDOW_MS])
            .await
            .map_err(pg_err)?;
        let claimed = claimed_keys(&rows)?;
        for &i in &round {
            let Some(e) = events.get(i) else { continue };
            let key = (e.pixel_id.clone(), e.event_name.clone(), e.event_id.clone());
            if claimed.contains(&key) {
                if let Some(o) = outcomes.get_mut(i) {
                    *o = InsertOutcome::Stored;
                }
            }
        }
    }
    let stored: Vec<&NewEvent> = events
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == InsertOutcome::Stored)
        .map(|(e, _)| e)
        .collect();
    if !stored.is_empty() {
        insert_rows(tx, &stored).await?;
    }
    let mut diag = Marks::default();
    stored.iter().for_each(|e| diag.stored(e));
    settle_repeats(tx, events, &mut outcomes, &mut diag).await?;
    diagnostics::flush(tx, diag).await?;
    Ok(outcomes)
}

/// After [`insert_distinct`]: of the events it counted as repeats, those that are the other copy
/// of a stored event are merged into it, and taken off the duplicate counts, in a transaction of
/// their own. One read-only statement looks for them all; the transaction (a second WAL flush)
/// is opened only when one is found, so plain repeats (a retried beacon) cost one round trip.
/// A crash before the merge commits answers no handler: the retried copy comes back as a repeat
/// of its key and is merged then.
pub(super) async fn merge_repeats(
    client: &mut deadpool_postgres::Object,
    events: &[NewEvent],
    outcomes: &mut [InsertOutcome],
) -> Result<(), StoreError> {
    let repeats = repeats(outcomes);
    if repeats.is_empty() {
        return Ok(());
    }
    let picked: Vec<&NewEvent> = repeats.iter().filter_map(|&i| events.get(i)).collect();
    let pixels: Vec<&str> = picked.iter().map(|e| e.pixel_id.as_str()).collect();
    let ids: Vec<&str> = picked.iter().map(|e| e.event_id.as_str()).collect();
    let names: Vec<&str> = picked.iter().map(|e| e.event_name.as_str()).collect();
    let since: Vec<i64> = picked
        .iter()
        .map(|e| e.received_at_ms - DEDUP_WINDOW_MS)
        .collect();
    let peek = client.prepare_cached(&PEEK).await.map_err(pg_err)?;
    let rows = client
        .query(&peek, &[&pixels, &ids, &names, &since])
        .await
        .map_err(pg_err)?;
    let mut candidates = Vec::new();
    let mut diag = Marks::default();
    for row in &rows {
        let stored = row_to_event(row)?;
        // The key's position comes after `EVENT_COLUMNS`.
        let ord: i64 = row.try_get(row.len() - 1).map_err(pg_err)?;
        let at = usize::try_from(ord - 1)
            .ok()
            .and_then(|k| repeats.get(k).copied());
        let Some(i) = at else { continue };
        let Some(e) = events.get(i) else { continue };
        if merge::meet(&stored.event, stored.relay_status, e).is_some() {
            candidates.push(i);
        } else {
            diag.repeat(&stored.event, e);
        }
    }
    if candidates.is_empty() {
        return diagnostics::flush(client, diag).await;
    }
    let tx = client.transaction().await.map_err(pg_err)?;
    let merged = merge_locked(&tx, events, &candidates, outcomes, &mut diag).await?;
    diagnostics::flush(&tx, diag).await?;
    tx.commit().await.map_err(pg_err)?;
    uncount(client, &merged).await
}

/// The latest stored row of each `(pixel, event ID, event name)` received after `since`, with
/// the key's position (from 1) in the arrays, last.
static PEEK: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT DISTINCT ON (u.ord) {cols}, u.ord
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[])
            WITH ORDINALITY AS u(kp, ke, kn, since, ord)
         JOIN events ON pixel_id = u.kp AND event_id = u.ke AND event_name = u.kn
            AND received_at_ms > u.since
         ORDER BY u.ord, id DESC",
        cols = *EVENT_COLUMNS
    )
});

/// Lock the stored copy of each of `candidates` (in key order: two replicas' merges never
/// deadlock) and merge the event into it when it still brings a new copy; those become
/// `Merged`. Returns the pixel and receipt time of each event merged.
async fn merge_locked(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[NewEvent],
    candidates: &[usize],
    outcomes: &mut [InsertOutcome],
    diag: &mut Marks,
) -> Result<Vec<(String, i64)>, StoreError> {
    let lock = tx
        .prepare_cached(&format!(
            "SELECT {cols} FROM events
             WHERE pixel_id = $1 AND event_id = $2 AND event_name = $3 AND received_at_ms > $4
             ORDER BY id DESC LIMIT 1 FOR UPDATE",
            cols = *EVENT_COLUMNS
        ))
        .await
        .map_err(pg_err)?;
    let update = tx.prepare_cached(&MERGE_UPDATE).await.map_err(pg_err)?;
    let mut order = candidates.to_vec();
    order.sort_by_key(|&i| {
        events
            .get(i)
            .map(|e| (&e.pixel_id, &e.event_name, &e.event_id))
    });
    let mut merges = people::Merges::default();
    let mut merged = Vec::new();
    for i in order {
        let (Some(e), Some(outcome)) = (events.get(i), outcomes.get_mut(i)) else {
            continue;
        };
        let since = e.received_at_ms - DEDUP_WINDOW_MS;
        let row = tx
            .query_opt(&lock, &[&e.pixel_id, &e.event_id, &e.event_name, &since])
            .await
            .map_err(pg_err)?;
        let Some(stored) = row.as_ref().map(row_to_event).transpose()? else {
            continue;
        };
        let Some(new) = merge::meet(&stored.event, stored.relay_status, e) else {
            diag.repeat(&stored.event, e);
            continue;
        };
        diag.merged(&stored.event, e, &new);
        let old_keys: Option<i64> = if keeps_no_client(&new) {
            tx.query_one(
                "SELECT report_keys FROM events WHERE id = $1",
                &[&stored.id],
            )
            .await
            .map_err(pg_err)?
            .try_get(0)
            .map_err(pg_err)?
        } else {
            None
        };
        let (new, c) = merged_row(new, old_keys);
        let mut arrays = EventArrays::new(&[&new]);
        // The late copy's keys, derived before its IP and user agent were left out.
        arrays.report_keys = vec![c.report_keys];
        let mut params = arrays.params();
        params.push(&stored.id);
        merges.before(tx, stored.id).await?;
        tx.execute(&update, &params).await.map_err(pg_err)?;
        *outcome = InsertOutcome::Merged;
        merged.push((e.pixel_id.clone(), e.received_at_ms));
    }
    merges.apply(tx).await?;
    Ok(merged)
}

/// Take merged copies off the duplicate counts [`insert_distinct`] added them to: after the
/// merge's commit, one single-row update at a time, each its own transaction, so that it never
/// holds a counter while waiting for another (a replica's group commit updates both counters in
/// one statement, in an order of its own). A crash between the merge and this leaves a
/// duplicate counted too many, never an event lost.
async fn uncount(
    client: &deadpool_postgres::Object,
    merged: &[(String, i64)],
) -> Result<(), StoreError> {
    let (per_day, per_pixel) = tally(merged.iter().map(|(p, at)| (p.as_str(), *at)));
    for ((pixel, day), n) in per_day {
        client
            .execute(
                "UPDATE duplicates_per_day SET duplicates = duplicates - $3
                 WHERE pixel_id = $1 AND day = $2",
                &[&pixel, &day, &n],
            )
            .await
            .map_err(pg_err)?;
    }
    for (pixel, n) in per_pixel {
        client
            .execute(
                "UPDATE pixel_stats SET duplicates = duplicates - $2 WHERE pixel_id = $1",
                &[&pixel, &n],
            )
            .await
            .map_err(pg_err)?;
    }
    Ok(())
}

/// Counts per pixel and UTC day of receipt, and per pixel, in key order (the order every
/// transaction updates the counters in).
type Tally<'a> = (BTreeMap<(&'a str, i64), i64>, BTreeMap<&'a str, i64>);

/// The [`Tally`] of `(pixel, received_at_ms)` pairs.
fn tally<'a>(events: impl Iterator<Item = (&'a str, i64)>) -> Tally<'a> {
    let (mut per_day, mut per_pixel): Tally<'a> = Default::default();
    for (pixel, received_at_ms) in events {
        *per_day
            .entry((pixel, received_at_ms.div_euclid(86_400_000)))
            .or_insert(0) += 1;
        *per_pixel.entry(pixel).or_insert(0) += 1;
    }
    (per_day, per_pixel)
}

/// The ids in column `at` of `rows`.
fn ids(rows: &[tokio_postgres::Row], at: usize) -> Result<Vec<i64>, StoreError> {
    rows.iter().map(|r| r.try_get(at).map_err(pg_err)).collect()
}

/// Where the events whose key was stored already are in the batch.
fn repeats(outcomes: &[InsertOutcome]) -> Vec<usize> {
    outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| **o == InsertOutcome::Duplicate)
        .map(|(i, _)| i)
        .collect()
}

/// The events of a batch whose key was stored already: each is the other copy of a stored event
/// (merged into it: `ports::merge`) or a repeat, counted. In the transaction that claimed and
/// inserted the batch's keys, after its inserts, so a copy meets its other copy from the same
/// batch too.
pub(super) async fn settle_repeats(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[NewEvent],
    outcomes: &mut [InsertOutcome],
    diag: &mut Marks,
) -> Result<(), StoreError> {
    let repeats = repeats(outcomes);
    merge_locked(tx, events, &repeats, outcomes, diag).await?;
    count_duplicates(tx, events, outcomes).await
}

/// The columns of a batch of events as arrays, the parameters of an `INSERT … SELECT FROM UNNEST`.
struct EventArrays<'a> {
    pixels: Vec<&'a str>,
    names: Vec<&'a str>,
    ids: Vec<&'a str>,
    derived: Vec<bool>,
    times: Vec<i64>,
    received: Vec<i64>,
    urls: Vec<&'a str>,
    referrers: Vec<&'a str>,
    fbp: Vec<Option<&'a str>>,
    fbc: Vec<Option<&'a str>>,
    ips: Vec<Option<&'a str>>,
    agents: Vec<Option<&'a str>>,
    user_data: Vec<String>,
    custom: Vec<String>,
    dpo: Vec<Option<String>>,
    status: Vec<&'static str>,
    report_keys: Vec<i64>,
    report_visitor: Vec<Option<String>>,
    origin: Vec<i64>,
    hold: Vec<Option<i64>>,
    server: Vec<Option<String>>,
}

/// The `UNNEST` of [`EventArrays::params`] as `u(p, n, e, d, t, r, su, ru, fp, fc, ip, ua, ud,
/// cd, dp, st, rk, rv, og, hu, sf, ord)`, `ord` the position in the batch.
const UNNEST_EVENTS: &str = "UNNEST($1::text[], $2::text[], $3::text[], $4::bool[], $5::int8[],
    $6::int8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
    $13::text[], $14::text[], $15::text[], $16::text[], $17::int8[], $18::text[], $19::int8[],
    $20::int8[], $21::text[])
    WITH ORDINALITY AS u(p, n, e, d, t, r, su, ru, fp, fc, ip, ua, ud, cd, dp, st, rk, rv, og, hu,
        sf, ord)";

/// [`UNNEST_EVENTS`]'s names for the columns of [`INSERT_COLUMNS`], in its order.
const UNNEST_VALUES: &str =
    "p, n, e, d, t, r, su, ru, fp, fc, ip, ua, ud, cd, dp, st, rk, rv, og, hu, sf";

impl<'a> EventArrays<'a> {
    fn new(events: &[&'a NewEvent]) -> EventArrays<'a> {
        let col = |f: fn(&'a NewEvent) -> &'a str| events.iter().map(|e| f(e)).collect();
        let opt = |f: fn(&'a NewEvent) -> Option<&'a str>| events.iter().map(|e| f(e)).collect();
        let n = events.len();
        let (mut user_data, mut custom, mut dpo, mut status, mut report_keys, mut report_visitor) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut origin, mut server) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for e in events {
            let c = Encoded::of(e);
            user_data.push(c.user_data);
            custom.push(c.custom_data);
            dpo.push(c.dpo);
            status.push(c.status);
            report_keys.push(c.report_keys);
            report_visitor.push(c.report_visitor);
            origin.push(c.origin);
            server.push(c.server_fields);
        }
        EventArrays {
            pixels: col(|e| &e.pixel_id),
            names: col(|e| &e.event_name),
            ids: col(|e| &e.event_id),
            derived: events.iter().map(|e| e.event_id_derived).collect(),
            times: events.iter().map(|e| e.event_time).collect(),
            received: events.iter().map(|e| e.received_at_ms).collect(),
            urls: col(|e| &e.source_url),
            referrers: col(|e| &e.referrer_url),
            fbp: opt(|e| e.fbp.as_deref()),
            fbc: opt(|e| e.fbc.as_deref()),
            // Not kept for an event never relayed (see `columns::stored_form`).
            ips: opt(|e| e.client_ip.as_deref().filter(|_| e.relay)),
            agents: opt(|e| e.user_agent.as_deref().filter(|_| e.relay)),
            user_data,
            custom,
            dpo,
            status,
            report_keys,
            report_visitor,
            origin,
            hold: events.iter().map(|e| e.hold_until_ms).collect(),
            server,
        }
    }

    /// `$1` … `$21` of [`UNNEST_EVENTS`].
    fn params(&self) -> Params<'_> {
        vec![
            &self.pixels,
            &self.names,
            &self.ids,
            &self.derived,
            &self.times,
            &self.received,
            &self.urls,
            &self.referrers,
            &self.fbp,
            &self.fbc,
            &self.ips,
            &self.agents,
            &self.user_data,
            &self.custom,
            &self.dpo,
            &self.status,
            &self.report_keys,
            &self.report_visitor,
            &self.origin,
            &self.hold,
            &self.server,
        ]
    }
}

/// A merge's update (`ports::merge`): every inserted column but the relay status, from the
/// one-row [`UNNEST_EVENTS`] of the merged event; `$22` is the row's id.
static MERGE_UPDATE: LazyLock<String> = LazyLock::new(|| {
    let keep = |list: Vec<&'static str>| -> Vec<&'static str> {
        list.into_iter()
            .enumerate()
            .filter(|(i, _)| *i != STATUS_AT)
            .map(|(_, c)| c)
            .collect()
    };
    let columns = keep(INSERTED.to_vec()).join(", ");
    let values = keep(UNNEST_VALUES.split(", ").collect()).join(", ");
    format!("UPDATE events SET ({columns}) = (SELECT {values} FROM {UNNEST_EVENTS}) WHERE id = $22")
});

/// The stored events, in one statement, ids in batch order.
async fn insert_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    stored: &[&NewEvent],
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO events ({columns})
         SELECT {UNNEST_VALUES} FROM {UNNEST_EVENTS} ORDER BY ord RETURNING id",
        columns = *INSERT_COLUMNS
    );
    let stmt = tx.prepare_cached(&sql).await.map_err(pg_err)?;
    let arrays = EventArrays::new(stored);
    let rows = tx.query(&stmt, &arrays.params()).await.map_err(pg_err)?;
    people::stored(tx, &ids(&rows, 0)?).await
}

/// A group commit whose keys are all distinct (the usual case) in one statement, committed on
/// its own: claim the keys, insert the events of the claimed ones (ids in batch order), count
/// the others as duplicates per day and per pixel. One round trip to the server. Among the
/// others, the other copies of stored events are then found and merged by [`merge_repeats`].
pub(super) async fn insert_distinct(
    client: &mut deadpool_postgres::Object,
    events: &[NewEvent],
) -> Result<Vec<InsertOutcome>, StoreError> {
    // Keys claimed in byte order ("C"), as the batch-by-rounds path sorts them in Rust: two
    // replicas' commits lock shared keys in one order and never deadlock.
    let sql = format!(
        "WITH u AS (SELECT * FROM {UNNEST_EVENTS}),
         claimed AS (
            INSERT INTO dedup_keys AS k (pixel_id, event_name, event_id, received_at_ms)
            SELECT p, n, e, r FROM u ORDER BY p COLLATE \"C\", n COLLATE \"C\", e COLLATE \"C\"
            ON CONFLICT (pixel_id, event_name, event_id) DO UPDATE
                SET received_at_ms = EXCLUDED.received_at_ms
                WHERE EXCLUDED.received_at_ms - k.received_at_ms >= $22
            RETURNING pixel_id, event_name, event_id
         ),
         stored AS (
            INSERT INTO events ({columns})
            SELECT {UNNEST_VALUES} FROM u
            JOIN claimed c ON c.pixel_id = u.p AND c.event_name = u.n AND c.event_id = u.e
            ORDER BY ord
            RETURNING id, pixel_id, event_name, event_id
         ),
         dups AS (
            -- Receipt times are positive: / is the floor division of div_euclid.
            SELECT p, r / 86400000 AS day, COUNT(*) AS n FROM u
            WHERE NOT EXISTS (SELECT 1 FROM claimed c
                WHERE c.pixel_id = u.p AND c.event_name = u.n AND c.event_id = u.e)
            GROUP BY p, r / 86400000
         ),
         per_day AS (
            INSERT INTO duplicates_per_day (pixel_id, day, duplicates)
            SELECT p, day, n FROM dups ORDER BY p COLLATE \"C\", day
            ON CONFLICT (pixel_id, day)
                DO UPDATE SET duplicates = duplicates_per_day.duplicates + EXCLUDED.duplicates
            RETURNING 1
         ),
         per_pixel AS (
            INSERT INTO pixel_stats (pixel_id, duplicates)
            SELECT p, SUM(n)::int8 FROM dups GROUP BY p ORDER BY p COLLATE \"C\"
            ON CONFLICT (pixel_id)
                DO UPDATE SET duplicates = pixel_stats.duplicates + EXCLUDED.duplicates
            RETURNING 1
         ),
         {marks}
         SELECT pixel_id, event_name, event_id, id FROM stored",
        columns = *INSERT_COLUMNS,
        marks = diagnostics::batch_cte(23),
    );
    let tx = client.transaction().await.map_err(pg_err)?;
    let stmt = tx.prepare_cached(&sql).await.map_err(pg_err)?;
    let all: Vec<&NewEvent> = events.iter().collect();
    let arrays = EventArrays::new(&all);
    let mut params = arrays.params();
    params.push(&DEDUP_WINDOW_MS);
    let (marks, per_event) = MarkArrays::of_batch(events);
    params.extend(marks.params());
    let rows = tx.query(&stmt, &params).await.map_err(pg_err)?;
    let claimed = claimed_keys(&rows)?;
    people::stored(&tx, &ids(&rows, 3)?).await?;
    tx.commit().await.map_err(pg_err)?;
    let outcomes: Vec<InsertOutcome> = events
        .iter()
        .map(|e| {
            let key = (e.pixel_id.clone(), e.event_name.clone(), e.event_id.clone());
            if claimed.contains(&key) {
                InsertOutcome::Stored
            } else {
                InsertOutcome::Duplicate
            }
        })
        .collect();
    diagnostics::count_stored(per_event, |i| {
        outcomes.get(i) == Some(&InsertOutcome::Stored)
    });
    Ok(outcomes)
}

/// Repeats per pixel (since the database was created) and per pixel and UTC day of receipt.
async fn count_duplicates(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[NewEvent],
    outcomes: &[InsertOutcome],
) -> Result<(), StoreError> {
    let (per_day, per_pixel) = tally(
        events
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| **o == InsertOutcome::Duplicate)
            .map(|(e, _)| (e.pixel_id.as_str(), e.received_at_ms)),
    );
    if per_day.is_empty() {
        return Ok(());
    }
    let pixels: Vec<&str> = per_day.keys().map(|(p, _)| *p).collect();
    let days: Vec<i64> = per_day.keys().map(|(_, d)| *d).collect();
    let counts: Vec<i64> = per_day.values().copied().collect();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO duplicates_per_day (pixel_id, day, duplicates)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[])
             ON CONFLICT (pixel_id, day)
                DO UPDATE SET duplicates = duplicates_per_day.duplicates + EXCLUDED.duplicates",
        )
        .await
        .map_err(pg_err)?;
    tx.execute(&stmt, &[&pixels, &days, &counts])
        .await
        .map_err(pg_err)?;
    let pixels: Vec<&str> = per_pixel.keys().copied().collect();
    let counts: Vec<i64> = per_pixel.values().copied().collect();
    let stmt = tx
        .prepare_cached(
            "INSERT INTO pixel_stats (pixel_id, duplicates)
             SELECT * FROM UNNEST($1::text[], $2::int8[])
             ON CONFLICT (pixel_id)
                DO UPDATE SET duplicates = pixel_stats.duplicates + EXCLUDED.duplicates",
        )
        .await
        .map_err(pg_err)?;
    tx.execute(&stmt, &[&pixels, &counts])
        .await
        .map_err(pg_err)?;
    Ok(())
}
