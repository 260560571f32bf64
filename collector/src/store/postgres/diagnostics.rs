//! The PostgreSQL store's diagnostics table (migration 9): marks added as arrays through
//! `UNNEST`, in the transaction (or the one statement) that stores, merges or refuses the
//! events they are about, and the report's read ([`DiagnosticSource`]).

use deadpool_postgres::GenericClient;

use super::connection::{PgStore, CALL_TIMEOUT};
use super::error::pg_err;
use crate::ports::diagnostics::{
    count_rows, counted, refusal_detail, Code, DiagnosticSource, MarkRow, Tally,
};
use crate::ports::StoreError;

/// What an upsert of summed marks does on a key that is there: add, widen, keep the example.
pub(super) const ON_CONFLICT: &str = "ON CONFLICT (pixel_id, day, code, event_name, detail)
    DO UPDATE SET events = d.events + EXCLUDED.events,
        first_seen_ms = LEAST(d.first_seen_ms, EXCLUDED.first_seen_ms),
        last_seen_ms = GREATEST(d.last_seen_ms, EXCLUDED.last_seen_ms),
        example_event_id = CASE WHEN d.example_event_id = '' THEN EXCLUDED.example_event_id
            ELSE d.example_event_id END";

/// Mark rows as the nine arrays of an `UNNEST`, the first of them `ord` (the event's place in
/// its batch, from 1; 0 for rows of no batch).
#[derive(Default)]
pub(super) struct MarkArrays {
    ord: Vec<i64>,
    pixel: Vec<String>,
    day: Vec<i64>,
    code: Vec<String>,
    name: Vec<String>,
    detail: Vec<String>,
    events: Vec<i64>,
    first: Vec<i64>,
    last: Vec<i64>,
    example: Vec<String>,
}

impl MarkArrays {
    pub(super) fn push(&mut self, ord: i64, r: MarkRow) {
        self.ord.push(ord);
        self.pixel.push(r.pixel_id);
        self.day.push(r.day);
        self.code.push(r.code);
        self.name.push(r.event_name);
        self.detail.push(r.detail);
        self.events.push(r.events);
        self.first.push(r.first_seen_ms);
        self.last.push(r.last_seen_ms);
        self.example.push(r.example_event_id);
    }

    /// The marks of each event of a group commit, uncounted: which are stored is known only
    /// once the statement has claimed their keys ([`count_stored`]).
    pub(super) fn of_batch(events: &[crate::event::NewEvent]) -> (MarkArrays, Vec<Vec<MarkRow>>) {
        let mut arrays = MarkArrays::default();
        let mut per_event = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let mut t = Tally::default();
            t.stored(e);
            let rows = t.into_rows();
            for r in &rows {
                arrays.push(i64::try_from(i).unwrap_or(0) + 1, r.clone());
            }
            per_event.push(rows);
        }
        (arrays, per_event)
    }

    /// `$first` … `$first + 8`: day, code, name, detail, events, first, last, example, ord.
    pub(super) fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 9] {
        [
            &self.day,
            &self.code,
            &self.name,
            &self.detail,
            &self.events,
            &self.first,
            &self.last,
            &self.example,
            &self.ord,
        ]
    }
}

/// Count for `/metrics` the findings of the events that were stored.
pub(super) fn count_stored(per_event: Vec<Vec<MarkRow>>, stored: impl Fn(usize) -> bool) {
    for (i, rows) in per_event.into_iter().enumerate() {
        if stored(i) {
            count_rows(&rows);
        }
    }
}

/// The CTE that adds a batch's marks (`$first`…: [`MarkArrays::params`]) for the events whose
/// key the statement claimed: `u` is the batch's `UNNEST` (`ord` from 1) and `claimed` the keys.
pub(super) fn batch_cte(first: usize) -> String {
    let p = |k: usize| format!("${}", first + k);
    format!(
        "marks AS (
            SELECT u.p AS pixel_id, m.day, m.code, m.name AS event_name, m.detail,
                SUM(m.events)::int8 AS events, MIN(m.f)::int8 AS f, MAX(m.l)::int8 AS l,
                MAX(m.x) AS x
            FROM UNNEST({}::int8[], {}::text[], {}::text[], {}::text[], {}::int8[], {}::int8[],
                {}::int8[], {}::text[], {}::int8[]) AS m(day, code, name, detail, events, f, l, x, ord)
            JOIN u ON u.ord = m.ord
            JOIN claimed c ON c.pixel_id = u.p AND c.event_name = u.n AND c.event_id = u.e
            GROUP BY u.p, m.day, m.code, m.name, m.detail
         ),
         diag AS (
            INSERT INTO diagnostics AS d (pixel_id, day, code, event_name, detail, events,
                first_seen_ms, last_seen_ms, example_event_id)
            SELECT * FROM marks WHERE events <> 0
            ORDER BY pixel_id COLLATE \"C\", day, code COLLATE \"C\", event_name COLLATE \"C\",
                detail COLLATE \"C\"
            {ON_CONFLICT}
            RETURNING 1
         )",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8)
    )
}

/// Add `rows` (summed, in key order) on `client`: one statement.
pub(super) async fn upsert(
    client: &impl GenericClient,
    rows: Vec<MarkRow>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut a = MarkArrays::default();
    let mut pixel = Vec::with_capacity(rows.len());
    for r in rows {
        pixel.push(r.pixel_id.clone());
        a.push(0, r);
    }
    let stmt = client
        .prepare_cached(&format!(
            "INSERT INTO diagnostics AS d (pixel_id, day, code, event_name, detail, events,
                first_seen_ms, last_seen_ms, example_event_id)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[],
                $6::int8[], $7::int8[], $8::int8[], $9::text[])
             {ON_CONFLICT}"
        ))
        .await
        .map_err(pg_err)?;
    client
        .execute(
            &stmt,
            &[
                &pixel, &a.day, &a.code, &a.name, &a.detail, &a.events, &a.first, &a.last,
                &a.example,
            ],
        )
        .await
        .map_err(pg_err)?;
    Ok(())
}

/// A tally's rows, added (and counted) on `client`.
pub(super) async fn flush(client: &impl GenericClient, tally: Tally) -> Result<(), StoreError> {
    upsert(client, tally.rows()).await
}

/// `mark_failed` with its mark: the update and the upsert in one statement.
pub(super) const MARK_FAILED: &str = "WITH f AS (
        UPDATE events SET relay_status = 'failed', relay_error = $2, relayed_at_ms = $3,
            client_ip = CASE WHEN report_keys IS NULL THEN client_ip END,
            user_agent = CASE WHEN report_keys IS NULL THEN user_agent END,
            relay_attempts = relay_attempts + 1, lease_owner = NULL, lease_until_ms = 0
        WHERE id = $1 AND relay_status = 'pending'
        RETURNING pixel_id, event_name, event_id, received_at_ms
     ),
     diag AS (
        INSERT INTO diagnostics AS d (pixel_id, day, code, event_name, detail, events,
            first_seen_ms, last_seen_ms, example_event_id)
        SELECT pixel_id, received_at_ms / 86400000, $4, event_name, $5, 1, received_at_ms,
            received_at_ms, event_id FROM f
        ON CONFLICT (pixel_id, day, code, event_name, detail)
        DO UPDATE SET events = d.events + 1,
            first_seen_ms = LEAST(d.first_seen_ms, EXCLUDED.first_seen_ms),
            last_seen_ms = GREATEST(d.last_seen_ms, EXCLUDED.last_seen_ms)
        RETURNING 1
     )
     SELECT COUNT(*) FROM f";

/// Retention: the rows of days wholly received before `before_ms`, as their events go.
pub(super) async fn forget_before(
    client: &impl GenericClient,
    before_ms: i64,
) -> Result<(), StoreError> {
    client
        .execute(
            "DELETE FROM diagnostics WHERE day < $1",
            &[&before_ms.div_euclid(86_400_000)],
        )
        .await
        .map_err(pg_err)?;
    Ok(())
}

impl PgStore {
    /// Meta refused the pending event `id` with `message`.
    pub(super) fn refused(&self, id: i64, message: &str, now_ms: i64) -> Result<(), StoreError> {
        let detail = refusal_detail(message);
        let code = Code::MetaRefused.as_str();
        let n: i64 = self.run(Some(CALL_TIMEOUT), async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(MARK_FAILED).await.map_err(pg_err)?;
            let row = client
                .query_one(&stmt, &[&id, &message, &now_ms, &code, &detail])
                .await
                .map_err(pg_err)?;
            row.try_get(0).map_err(pg_err)
        })?;
        counted(Code::MetaRefused, usize::try_from(n).unwrap_or(0));
        Ok(())
    }
}

impl DiagnosticSource for PgStore {
    fn marks(
        &self,
        pixel_id: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<MarkRow>, StoreError> {
        self.run(Some(CALL_TIMEOUT), async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT pixel_id, day, code, event_name, detail, events, first_seen_ms,
                        last_seen_ms, example_event_id
                     FROM diagnostics
                     WHERE pixel_id = $1 AND day <= $3
                        AND (day >= $2 OR (day >= $2 - 2 AND code = $4))",
                )
                .await
                .map_err(pg_err)?;
            let code = Code::TestEventCode.as_str();
            let rows = client
                .query(&stmt, &[&pixel_id, &from_day, &to_day, &code])
                .await
                .map_err(pg_err)?;
            rows.iter()
                .map(|r| {
                    Ok(MarkRow {
                        pixel_id: r.try_get(0).map_err(pg_err)?,
                        day: r.try_get(1).map_err(pg_err)?,
                        code: r.try_get(2).map_err(pg_err)?,
                        event_name: r.try_get(3).map_err(pg_err)?,
                        detail: r.try_get(4).map_err(pg_err)?,
                        events: r.try_get(5).map_err(pg_err)?,
                        first_seen_ms: r.try_get(6).map_err(pg_err)?,
                        last_seen_ms: r.try_get(7).map_err(pg_err)?,
                        example_event_id: r.try_get(8).map_err(pg_err)?,
                    })
                })
                .collect()
        })
    }

    fn record(&self, rows: Vec<MarkRow>) -> Result<(), StoreError> {
        self.run(Some(CALL_TIMEOUT), async {
            let client = self.client().await?;
            upsert(&client, rows).await
        })
    }
}
