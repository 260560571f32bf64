//! The PostgreSQL store's [`RelayQueue`], shared by the replicas: `SELECT … FOR UPDATE SKIP
//! LOCKED` picks pending events no other replica holds, and the same statement stamps them with
//! this process's `lease_owner` and a `lease_until_ms`; marking releases them, and a replica
//! killed mid-request frees its batch when the lease runs out.

use super::connection::{limit_param, PgStore, CALL_TIMEOUT};
use super::error::pg_err;
use crate::ports::{older_than, RelayQueue, StoreError, StoredEvent, EXPIRED_MESSAGE};
use crate::store::columns::EVENT_COLUMNS;

impl RelayQueue for PgStore {
    fn pending(&self, pixel_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.pending_after(pixel_id, 0, limit)
    }

    fn mark_sent(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE events SET relay_status = 'sent', relayed_at_ms = $2, relay_error = NULL,
                client_ip = CASE WHEN report_keys IS NULL THEN client_ip END,
                user_agent = CASE WHEN report_keys IS NULL THEN user_agent END,
                relay_attempts = relay_attempts + 1, lease_owner = NULL, lease_until_ms = 0
             WHERE id = ANY($1) AND relay_status = 'pending'",
            &[&ids, &now_ms],
        )
        .map(|_| ())
    }

    fn mark_failed(&self, id: i64, message: &str, now_ms: i64) -> Result<(), StoreError> {
        // The update and the diagnostics' mark in one statement (`diagnostics::MARK_FAILED`).
        self.refused(id, message, now_ms)
    }

    fn record_attempt(&self, ids: &[i64], error: &str) -> Result<(), StoreError> {
        self.execute(
            "UPDATE events SET relay_attempts = relay_attempts + 1, relay_error = $2,
                lease_owner = NULL, lease_until_ms = 0
             WHERE id = ANY($1) AND relay_status = 'pending'",
            &[&ids, &error],
        )
        .map(|_| ())
    }

    fn pending_after(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {cols} FROM events
             WHERE pixel_id = $1 AND relay_status = 'pending' AND id > $2 ORDER BY id LIMIT $3",
            cols = *EVENT_COLUMNS
        );
        self.events(&sql, &[&pixel_id, &after_id, &limit_param(limit)])
    }

    fn claim_pending(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
        now_ms: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let columns = EVENT_COLUMNS
            .split(", ")
            .map(|c| format!("e.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "WITH c AS (
                SELECT id FROM events
                WHERE pixel_id = $1 AND relay_status = 'pending' AND id > $2
                    AND (lease_until_ms < $4 OR lease_owner = $5)
                    AND (hold_until_ms IS NULL OR hold_until_ms <= $4)
                ORDER BY id LIMIT $3
                FOR UPDATE SKIP LOCKED
             )
             UPDATE events e SET lease_owner = $5, lease_until_ms = $4 + $6
             FROM c WHERE e.id = c.id
             RETURNING {columns}"
        );
        let mut events = self.events(
            &sql,
            &[
                &pixel_id,
                &after_id,
                &limit_param(limit),
                &now_ms,
                &self.options.owner,
                &self.options.lease_ms,
            ],
        )?;
        events.sort_by_key(|e| e.id);
        Ok(events)
    }

    fn renew(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.execute(
            "UPDATE events SET lease_until_ms = $2
             WHERE id = ANY($1) AND lease_owner = $3 AND relay_status = 'pending'",
            &[&ids, &(now_ms + self.options.lease_ms), &self.options.owner],
        )
        .map(|_| ())
    }

    fn release(&self, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.execute(
            "UPDATE events SET lease_owner = NULL, lease_until_ms = 0
             WHERE id = ANY($1) AND lease_owner = $2",
            &[&ids, &self.options.owner],
        )
        .map(|_| ())
    }

    fn pending_older_than(
        &self,
        pixel_id: &str,
        cutoff_secs: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<(Vec<i64>, Option<i64>), StoreError> {
        self.run(Some(CALL_TIMEOUT), async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(
                    "SELECT id, event_time FROM events
                     WHERE pixel_id = $1 AND relay_status = 'pending' AND id > $2
                     ORDER BY id LIMIT $3",
                )
                .await
                .map_err(pg_err)?;
            let rows = client
                .query(&stmt, &[&pixel_id, &after_id, &limit_param(limit)])
                .await
                .map_err(pg_err)?;
            let pairs = rows
                .iter()
                .map(|r| Ok((r.try_get(0).map_err(pg_err)?, r.try_get(1).map_err(pg_err)?)))
                .collect::<Result<Vec<(i64, i64)>, StoreError>>()?;
            Ok(older_than(pairs, cutoff_secs))
        })
    }

    fn expire_ids(&self, ids: &[i64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.execute(
            "UPDATE events SET relay_status = 'expired', relay_error = $2,
                client_ip = CASE WHEN report_keys IS NULL THEN client_ip END,
                user_agent = CASE WHEN report_keys IS NULL THEN user_agent END,
                lease_owner = NULL, lease_until_ms = 0
             WHERE id = ANY($1) AND relay_status = 'pending'",
            &[&ids, &EXPIRED_MESSAGE],
        )
    }

    fn pending_count(&self) -> Result<u64, StoreError> {
        self.run(Some(CALL_TIMEOUT), async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT COUNT(*) FROM events WHERE relay_status = 'pending'",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            let n: i64 = row.try_get(0).map_err(pg_err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}
