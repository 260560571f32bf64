//! The PostgreSQL store's [`EventLog`]: group commits ([`super::group_commit`]), the admin API's
//! list, and retention.

use deadpool_postgres::GenericClient;

use super::connection::{limit_param, PgStore, CALL_TIMEOUT};
use super::error::pg_err;
use super::group_commit::{insert_distinct, insert_events, merge_repeats};
use super::people;
use crate::event::NewEvent;
use crate::ports::{EventLog, EventQuery, InsertOutcome, StoreError, StoredEvent, DEDUP_WINDOW_MS};
use crate::store::columns::EVENT_COLUMNS;

/// Rows deleted per purge statement.
const PURGE_CHUNK: i64 = 5000;

impl EventLog for PgStore {
    fn insert_batch(&self, events: &[NewEvent]) -> Result<Vec<InsertOutcome>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys = std::collections::HashSet::with_capacity(events.len());
        let distinct = events
            .iter()
            .all(|e| keys.insert((&e.pixel_id, &e.event_name, &e.event_id)));
        self.run(Some(CALL_TIMEOUT), async {
            let mut client = self.client().await?;
            if distinct {
                let mut outcomes = insert_distinct(&mut client, events).await?;
                merge_repeats(&mut client, events, &mut outcomes).await?;
                return Ok(outcomes);
            }
            // A key twice in one batch: its copies are judged one after the other, in rounds.
            let tx = client.transaction().await.map_err(pg_err)?;
            let outcomes = insert_events(&tx, events).await?;
            tx.commit().await.map_err(pg_err)?;
            Ok(outcomes)
        })
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        // A committed write that changes nothing: the server is up and accepts writes.
        self.execute(
            "UPDATE schema_migrations SET applied_at_ms = applied_at_ms
             WHERE version = (SELECT MAX(version) FROM schema_migrations)",
            &[],
        )
        .map(|_| ())
    }

    fn list(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {cols} FROM events
             WHERE ($1::text IS NULL OR pixel_id = $1) AND ($2::text IS NULL OR event_name = $2)
             ORDER BY id DESC LIMIT $3",
            cols = *EVENT_COLUMNS
        );
        self.events(&sql, &[&q.pixel_id, &q.event_name, &limit_param(q.limit)])
    }

    fn purge(&self, received_before_ms: Option<i64>, now_ms: i64) -> Result<u64, StoreError> {
        self.run(None, async {
            let mut client = self.client().await?;
            let mut deleted = 0u64;
            if let Some(before) = received_before_ms {
                // Receipt times grow with the id: delete the old among the lowest ids, a chunk
                // at a time, until a chunk holds fewer old rows than its size.
                let sql = format!(
                    "DELETE FROM events WHERE id IN
                        (SELECT id FROM events ORDER BY id LIMIT $2) AND received_at_ms < $1
                     RETURNING {}",
                    people::FACT_COLUMNS
                );
                loop {
                    let tx = client.transaction().await.map_err(pg_err)?;
                    let stmt = tx.prepare_cached(&sql).await.map_err(pg_err)?;
                    let rows = tx
                        .query(&stmt, &[&before, &PURGE_CHUNK])
                        .await
                        .map_err(pg_err)?;
                    people::purged(&tx, &rows).await?;
                    tx.commit().await.map_err(pg_err)?;
                    let n = rows.len() as u64;
                    deleted += n;
                    if n < u64::try_from(PURGE_CHUNK).unwrap_or(0) {
                        break;
                    }
                }
                super::diagnostics::forget_before(&client, before).await?;
            }
            client
                .execute(
                    "DELETE FROM dedup_keys WHERE received_at_ms <= $1",
                    &[&(now_ms - DEDUP_WINDOW_MS)],
                )
                .await
                .map_err(pg_err)?;
            Ok(deleted)
        })
    }
}
