//! The embedded default store: one SQLite file in WAL mode, schema versions in `schema_migrations`.
//!
//! Two connections: the writer (ingest group commits and relay status updates, serialised by a
//! mutex) and a reader (API, report, relay queue), which WAL lets run beside the writer.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use pixel_core::wire::Dpo;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::{Map, Value};

use super::dedup::{self, DedupIndex};
use super::{
    EventQuery, InsertOutcome, PixelReport, RelayStatus, Store, StoreError, StoredEvent,
    DEDUP_WINDOW_MS,
};
use crate::config::SyncMode;
use crate::event::NewEvent;

/// Ordered schema migrations: `(version, name, SQL)`. Append only.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "events and per-pixel counters",
    "CREATE TABLE events (
        id               INTEGER PRIMARY KEY,
        pixel_id         TEXT    NOT NULL,
        event_name       TEXT    NOT NULL,
        event_id         TEXT    NOT NULL,
        event_id_derived INTEGER NOT NULL,
        event_time       INTEGER NOT NULL,
        received_at_ms   INTEGER NOT NULL,
        source_url       TEXT    NOT NULL,
        referrer_url     TEXT    NOT NULL,
        fbp              TEXT,
        fbc              TEXT,
        client_ip        TEXT,
        user_agent       TEXT,
        user_data        TEXT    NOT NULL,
        custom_data      TEXT    NOT NULL,
        dpo              TEXT,
        relay_status     TEXT    NOT NULL,
        relay_attempts   INTEGER NOT NULL DEFAULT 0,
        relay_error      TEXT,
        relayed_at_ms    INTEGER
    );
    CREATE INDEX events_pending ON events (pixel_id, id) WHERE relay_status = 'pending';
    CREATE INDEX events_pixel ON events (pixel_id, id);
    CREATE TABLE pixel_stats (
        pixel_id   TEXT PRIMARY KEY,
        duplicates INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;",
)];

const EVENT_COLUMNS: &str = "id, pixel_id, event_name, event_id, event_id_derived, event_time, received_at_ms, \
     source_url, referrer_url, fbp, fbc, client_ip, user_agent, user_data, custom_data, dpo, relay_status, \
     relay_attempts, relay_error";

/// Rows deleted per purge transaction, so ingest never waits long on the write lock.
const PURGE_CHUNK: i64 = 5000;

/// SQLite implementation of [`Store`].
pub struct SqliteStore {
    writer: Mutex<Writer>,
    reader: Mutex<Connection>,
    /// Dropping it stops the checkpoint thread.
    _checkpointer: std::sync::mpsc::Sender<()>,
}

/// The write connection and the deduplication index it keeps in step with the events table.
struct Writer {
    conn: Connection,
    dedup: DedupIndex,
}

/// How often the background thread moves WAL pages into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl SqliteStore {
    /// Open (creating when missing) the database at `path`, switch to WAL and run migrations.
    pub fn open(path: &Path, sync: SyncMode) -> Result<SqliteStore, StoreError> {
        let writer = Connection::open(path).map_err(err)?;
        let mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError(format!(
                "could not switch to WAL mode (got {mode})"
            )));
        }
        let sync_sql = match sync {
            SyncMode::Full => "PRAGMA synchronous = FULL",
            SyncMode::Normal => "PRAGMA synchronous = NORMAL",
        };
        writer
            .execute_batch(&format!(
                "{sync_sql}; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;
                 PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;
                 PRAGMA cache_size = -32768;"
            ))
            .map_err(err)?;
        migrate(&writer)?;
        let checkpointer = start_checkpointer(path, sync_sql)?;
        let reader = Connection::open(path).map_err(err)?;
        reader
            .execute_batch(
                "PRAGMA busy_timeout = 10000; PRAGMA query_only = ON; PRAGMA cache_size = -32768;",
            )
            .map_err(err)?;
        let store = SqliteStore {
            writer: Mutex::new(Writer {
                conn: writer,
                dedup: DedupIndex::default(),
            }),
            reader: Mutex::new(reader),
            _checkpointer: checkpointer,
        };
        store.load_dedup(crate::now_ms())?;
        Ok(store)
    }

    /// Rebuild the deduplication index from the events received within the window.
    fn load_dedup(&self, now_ms: i64) -> Result<(), StoreError> {
        let since = now_ms - DEDUP_WINDOW_MS;
        let after_id = self.last_id_received_before(since)?.unwrap_or(0);
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(
                "SELECT pixel_id, event_name, event_id, received_at_ms FROM events
                 WHERE id > ?1 AND received_at_ms >= ?2",
            )
            .map_err(err)?;
        let mut rows = stmt.query(params![after_id, since]).map_err(err)?;
        let mut w = self.writer()?;
        while let Some(r) = rows.next().map_err(err)? {
            let (p, n, e): (String, String, String) = (
                r.get(0).map_err(err)?,
                r.get(1).map_err(err)?,
                r.get(2).map_err(err)?,
            );
            w.dedup.load(dedup::key(&p, &n, &e), r.get(3).map_err(err)?);
        }
        tracing::info!(
            keys = w.dedup.len(),
            "deduplication index loaded (events of the last 48 h)"
        );
        Ok(())
    }

    fn writer(&self) -> Result<MutexGuard<'_, Writer>, StoreError> {
        self.writer
            .lock()
            .map_err(|_| StoreError("writer connection poisoned".into()))
    }

    fn reader(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.reader
            .lock()
            .map_err(|_| StoreError("reader connection poisoned".into()))
    }

    /// The largest id whose row was received before `before_ms`, by binary search over the id
    /// (receipt times grow with the id, give or take the milliseconds a group commit spans).
    fn last_id_received_before(&self, before_ms: i64) -> Result<Option<i64>, StoreError> {
        let conn = self.reader()?;
        let (lo, hi): (Option<i64>, Option<i64>) = conn
            .query_row("SELECT MIN(id), MAX(id) FROM events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(err)?;
        let (Some(mut lo), Some(mut hi)) = (lo, hi) else {
            return Ok(None);
        };
        let mut probe = conn
            .prepare_cached(
                "SELECT id, received_at_ms FROM events WHERE id >= ?1 ORDER BY id LIMIT 1",
            )
            .map_err(err)?;
        let mut at = |id: i64| -> Result<Option<(i64, i64)>, StoreError> {
            probe
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(err)
        };
        match at(lo)? {
            Some((_, t)) if t < before_ms => {}
            _ => return Ok(None),
        }
        // Invariant: the row at or after `lo` is old; everything after `hi` is new or absent.
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2;
            match at(mid)? {
                Some((id, t)) if t < before_ms => lo = id.max(mid),
                _ => hi = mid - 1,
            }
        }
        Ok(Some(lo))
    }

    /// The schema version applied to the file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let conn = self.reader()?;
        conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(err)
    }
}

/// Checkpoints run on their own thread and connection, so the group commit never waits for one
/// (SQLite's automatic checkpoint would run inside a commit, writing and syncing the database file
/// while every beacon of the batch waits). `PASSIVE` never blocks the writer.
fn start_checkpointer(
    path: &Path,
    sync_sql: &str,
) -> Result<std::sync::mpsc::Sender<()>, StoreError> {
    let conn = Connection::open(path).map_err(err)?;
    conn.execute_batch(&format!("{sync_sql}; PRAGMA busy_timeout = 10000;"))
        .map_err(err)?;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("collector-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(CHECKPOINT_EVERY)
            {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        })
        .map_err(err)?;
    Ok(tx)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version       INTEGER PRIMARY KEY,
            name          TEXT    NOT NULL,
            applied_at_ms INTEGER NOT NULL
        )",
    )
    .map_err(err)?;
    for &(version, name, sql) in MIGRATIONS {
        let done: Option<i64> = conn
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if done.is_some() {
            continue;
        }
        let tx = conn.unchecked_transaction().map_err(err)?;
        tx.execute_batch(sql)
            .map_err(|e| StoreError(format!("migration {version} ({name}): {e}")))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
            params![version, name, crate::now_ms()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}

fn user_data_json(ud: &[(String, String)]) -> String {
    let map: std::collections::BTreeMap<&str, &str> =
        ud.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

fn dpo_json(dpo: &Option<Dpo>) -> Option<String> {
    dpo.as_ref().map(|d| {
        serde_json::json!({"options": d.options, "country": d.country, "state": d.state})
            .to_string()
    })
}

fn parse_dpo(text: Option<String>) -> Option<Dpo> {
    let v: Value = serde_json::from_str(&text?).ok()?;
    let options = v
        .get("options")?
        .as_array()?
        .iter()
        .filter_map(|o| o.as_str().map(str::to_owned))
        .collect();
    Some(Dpo {
        options,
        country: v.get("country").and_then(Value::as_i64).unwrap_or(0),
        state: v.get("state").and_then(Value::as_i64).unwrap_or(0),
    })
}

fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn row_to_event(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let user_data = parse_object(&r.get::<_, String>(13)?)
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect();
    let status: String = r.get(16)?;
    Ok(StoredEvent {
        id: r.get(0)?,
        pixel_id: r.get(1)?,
        event_name: r.get(2)?,
        event_id: r.get(3)?,
        event_id_derived: r.get::<_, i64>(4)? != 0,
        event_time: r.get(5)?,
        received_at_ms: r.get(6)?,
        source_url: r.get(7)?,
        referrer_url: r.get(8)?,
        fbp: r.get(9)?,
        fbc: r.get(10)?,
        client_ip: r.get(11)?,
        user_agent: r.get(12)?,
        user_data,
        custom_data: parse_object(&r.get::<_, String>(14)?),
        dpo: parse_dpo(r.get(15)?),
        relay_status: RelayStatus::parse(&status).unwrap_or(RelayStatus::Pending),
        relay_attempts: r.get(17)?,
        relay_error: r.get(18)?,
    })
}

fn count(conn: &Connection, sql: &str, pixel_id: &str) -> Result<u64, StoreError> {
    conn.query_row(sql, [pixel_id], |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(err)
}

/// One group commit: claim each key in the dedup index, insert the new events, count repeats.
fn insert_events(
    conn: &mut Connection,
    dedup: &mut DedupIndex,
    events: &[NewEvent],
    claims: &mut Vec<dedup::Claim>,
) -> Result<Vec<InsertOutcome>, StoreError> {
    let tx = conn.transaction().map_err(err)?;
    let mut outcomes = Vec::with_capacity(events.len());
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO events (pixel_id, event_name, event_id, event_id_derived, event_time,
                    received_at_ms, source_url, referrer_url, fbp, fbc, client_ip, user_agent,
                    user_data, custom_data, dpo, relay_status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )
            .map_err(err)?;
        let mut duplicate = tx
            .prepare_cached(
                "INSERT INTO pixel_stats (pixel_id, duplicates) VALUES (?1, 1)
                 ON CONFLICT (pixel_id) DO UPDATE SET duplicates = duplicates + 1",
            )
            .map_err(err)?;
        for e in events {
            let key = dedup::key(&e.pixel_id, &e.event_name, &e.event_id);
            let Some(claim) = dedup.claim(key, e.received_at_ms) else {
                duplicate.execute([&e.pixel_id]).map_err(err)?;
                outcomes.push(InsertOutcome::Duplicate);
                continue;
            };
            claims.push(claim);
            let status = if e.relay {
                RelayStatus::Pending
            } else {
                RelayStatus::NotRelayed
            };
            insert
                .execute(params![
                    e.pixel_id,
                    e.event_name,
                    e.event_id,
                    e.event_id_derived,
                    e.event_time,
                    e.received_at_ms,
                    e.source_url,
                    e.referrer_url,
                    e.fbp,
                    e.fbc,
                    e.client_ip,
                    e.user_agent,
                    user_data_json(&e.user_data),
                    serde_json::to_string(&e.custom_data).unwrap_or_else(|_| "{}".to_owned()),
                    dpo_json(&e.dpo),
                    status.as_str(),
                ])
                .map_err(err)?;
            outcomes.push(InsertOutcome::Stored);
        }
    }
    tx.commit().map_err(err)?;
    Ok(outcomes)
}

impl Store for SqliteStore {
    fn insert_batch(&self, events: &[NewEvent]) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut guard = self.writer()?;
        let Writer { conn, dedup } = &mut *guard;
        let mut claims = Vec::with_capacity(events.len());
        let result = insert_events(conn, dedup, events, &mut claims);
        if result.is_err() {
            // Nothing was stored: the keys claimed for this batch are free again.
            dedup.undo(claims);
        }
        result
    }

    fn list(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.reader()?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE (?1 IS NULL OR pixel_id = ?1) AND (?2 IS NULL OR event_name = ?2)
             ORDER BY id DESC LIMIT ?3"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![q.pixel_id, q.event_name, limit], row_to_event)
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn pending(&self, pixel_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.reader()?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events INDEXED BY events_pending
             WHERE pixel_id = ?1 AND relay_status = 'pending' ORDER BY id LIMIT ?2"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(err)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![pixel_id, limit], row_to_event)
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }

    fn mark_sent(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE events SET relay_status = 'sent', relayed_at_ms = ?2, relay_error = NULL,
                        relay_attempts = relay_attempts + 1
                     WHERE id = ?1 AND relay_status = 'pending'",
                )
                .map_err(err)?;
            for id in ids {
                stmt.execute(params![id, now_ms]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn mark_failed(&self, id: i64, message: &str, now_ms: i64) -> Result<(), StoreError> {
        let w = self.writer()?;
        w.conn
            .execute(
                "UPDATE events SET relay_status = 'failed', relay_error = ?2, relayed_at_ms = ?3,
                relay_attempts = relay_attempts + 1
             WHERE id = ?1 AND relay_status = 'pending'",
                params![id, message, now_ms],
            )
            .map_err(err)?;
        Ok(())
    }

    fn record_attempt(&self, ids: &[i64], error: &str) -> Result<(), StoreError> {
        let mut w = self.writer()?;
        let tx = w.conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE events SET relay_attempts = relay_attempts + 1, relay_error = ?2
                     WHERE id = ?1 AND relay_status = 'pending'",
                )
                .map_err(err)?;
            for id in ids {
                stmt.execute(params![id, error]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn expire(&self, pixel_id: &str, cutoff_secs: i64) -> Result<u64, StoreError> {
        let w = self.writer()?;
        let n = w
            .conn
            .execute(
                "UPDATE events INDEXED BY events_pending SET relay_status = 'expired',
                    relay_error = 'older than 7 days: the Conversions API no longer accepts it'
                 WHERE pixel_id = ?1 AND relay_status = 'pending' AND event_time < ?2",
                params![pixel_id, cutoff_secs],
            )
            .map_err(err)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn purge(&self, received_before_ms: Option<i64>, now_ms: i64) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        if let Some(before) = received_before_ms {
            // No index on the receipt time (one less B-tree per insert): ids grow with receipt,
            // so a binary search over the id finds where the old rows end.
            if let Some(last) = self.last_id_received_before(before)? {
                loop {
                    let w = self.writer()?;
                    let n = w
                        .conn
                        .execute(
                            "DELETE FROM events WHERE id IN
                                (SELECT id FROM events WHERE id <= ?1 AND received_at_ms < ?2 LIMIT ?3)",
                            params![last, before, PURGE_CHUNK],
                        )
                        .map_err(err)?;
                    drop(w);
                    deleted += u64::try_from(n).unwrap_or(0);
                    if i64::try_from(n).unwrap_or(0) < PURGE_CHUNK {
                        break;
                    }
                }
            }
        }
        self.writer()?.dedup.forget_before(now_ms);
        Ok(deleted)
    }

    fn pending_count(&self) -> Result<u64, StoreError> {
        let conn = self.reader()?;
        conn.query_row(
            "SELECT COUNT(*) FROM events WHERE relay_status = 'pending'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(err)
    }

    fn report(&self, pixel_id: &str) -> Result<PixelReport, StoreError> {
        let conn = self.reader()?;
        let mut report = PixelReport::default();
        {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT event_name, COUNT(*) FROM events WHERE pixel_id = ?1 GROUP BY event_name ORDER BY 2 DESC",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map([pixel_id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(err)?;
            for row in rows {
                let (name, n) = row.map_err(err)?;
                report.by_event.push((name, u64::try_from(n).unwrap_or(0)));
            }
        }
        report.total = report.by_event.iter().map(|(_, n)| n).sum();
        report.duplicates = count(
            &conn,
            "SELECT COALESCE((SELECT duplicates FROM pixel_stats WHERE pixel_id = ?1), 0)",
            pixel_id,
        )?;
        let (derived, em, ph, fbp, fbc) = conn
            .query_row(
                "SELECT COALESCE(SUM(event_id_derived), 0),
                        COALESCE(SUM(json_extract(user_data, '$.em') IS NOT NULL), 0),
                        COALESCE(SUM(json_extract(user_data, '$.ph') IS NOT NULL), 0),
                        COALESCE(SUM(fbp IS NOT NULL), 0),
                        COALESCE(SUM(fbc IS NOT NULL), 0)
                 FROM events WHERE pixel_id = ?1",
                [pixel_id],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                },
            )
            .map_err(err)?;
        let u = |n: i64| u64::try_from(n).unwrap_or(0);
        (
            report.derived_ids,
            report.with_em,
            report.with_ph,
            report.with_fbp,
            report.with_fbc,
        ) = (u(derived), u(em), u(ph), u(fbp), u(fbc));
        {
            let mut stmt = conn
                .prepare_cached("SELECT relay_status, COUNT(*) FROM events WHERE pixel_id = ?1 GROUP BY relay_status")
                .map_err(err)?;
            let rows = stmt
                .query_map([pixel_id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(err)?;
            for row in rows {
                let (status, n) = row.map_err(err)?;
                if let Some(st) = RelayStatus::parse(&status) {
                    report.by_relay_status.push((st, u(n)));
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HOUR: i64 = 3600 * 1000;

    fn event(eid: &str, received_at_ms: i64) -> NewEvent {
        NewEvent {
            pixel_id: "1".into(),
            event_name: "Purchase".into(),
            event_id: eid.into(),
            event_id_derived: false,
            event_time: received_at_ms / 1000,
            received_at_ms,
            source_url: "https://shop.example/".into(),
            referrer_url: String::new(),
            fbp: Some("fb.1.2.3".into()),
            fbc: None,
            client_ip: Some("203.0.113.1".into()),
            user_agent: Some("UA".into()),
            user_data: vec![("em".into(), "a".repeat(64))],
            custom_data: serde_json::from_value(json!({"value": 1.5, "ids": ["a"]}))
                .unwrap_or_default(),
            dpo: Some(Dpo {
                options: vec!["LDU".into()],
                country: 1,
                state: 1000,
            }),
            relay: true,
        }
    }

    fn open(dir: &tempfile::TempDir) -> SqliteStore {
        match SqliteStore::open(&dir.path().join("t.db"), SyncMode::Normal) {
            Ok(s) => s,
            Err(e) => unreachable!("{e}"),
        }
    }

    #[test]
    fn round_trip_migrations_once_and_reopen() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(err)?;
        let t = 1_700_000_000_000;
        {
            let s = open(&dir);
            assert_eq!(s.insert_batch(&[event("a", t)])?, [InsertOutcome::Stored]);
        }
        let s = open(&dir);
        assert_eq!(s.schema_version()?, 1);
        let got = s.list(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })?;
        assert_eq!(got.len(), 1);
        let e = got.first().ok_or_else(|| StoreError("empty".into()))?;
        assert_eq!(e.user_data, vec![("em".to_owned(), "a".repeat(64))]);
        assert_eq!(
            Value::Object(e.custom_data.clone()),
            json!({"value": 1.5, "ids": ["a"]})
        );
        assert_eq!(
            e.dpo,
            Some(Dpo {
                options: vec!["LDU".into()],
                country: 1,
                state: 1000
            })
        );
        assert_eq!(e.relay_status, RelayStatus::Pending);
        Ok(())
    }

    #[test]
    fn dedup_holds_for_48_hours_then_lets_the_key_in_again() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(err)?;
        let s = open(&dir);
        let t = 1_700_000_000_000;
        let outcomes = s.insert_batch(&[event("a", t), event("a", t), event("b", t)])?;
        assert_eq!(
            outcomes,
            [
                InsertOutcome::Stored,
                InsertOutcome::Duplicate,
                InsertOutcome::Stored
            ]
        );
        assert_eq!(
            s.insert_batch(&[event("a", t + 47 * HOUR)])?,
            [InsertOutcome::Duplicate]
        );
        assert_eq!(
            s.insert_batch(&[event("a", t + 49 * HOUR)])?,
            [InsertOutcome::Stored]
        );
        assert_eq!(s.report("1")?.duplicates, 2);
        Ok(())
    }

    #[test]
    fn dedup_survives_a_restart() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(err)?;
        let now = crate::now_ms();
        {
            let s = open(&dir);
            s.insert_batch(&[event("kept", now - HOUR), event("stale", now - 49 * HOUR)])?;
        }
        let s = open(&dir);
        assert_eq!(
            s.writer()?.dedup.len(),
            1,
            "only keys of the last 48 h are loaded"
        );
        let again = s.insert_batch(&[event("kept", now), event("stale", now)])?;
        assert_eq!(again, [InsertOutcome::Duplicate, InsertOutcome::Stored]);
        Ok(())
    }

    #[test]
    fn a_failed_batch_frees_its_keys() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(err)?;
        let s = open(&dir);
        let now = crate::now_ms();
        s.writer()?.conn.execute_batch("CREATE TRIGGER no_b BEFORE INSERT ON events WHEN NEW.event_id = 'b' BEGIN SELECT RAISE(ABORT, 'disk full'); END;").map_err(err)?;
        assert!(s.insert_batch(&[event("a", now), event("b", now)]).is_err());
        s.writer()?
            .conn
            .execute_batch("DROP TRIGGER no_b;")
            .map_err(err)?;
        assert_eq!(
            s.insert_batch(&[event("a", now), event("b", now)])?,
            [InsertOutcome::Stored, InsertOutcome::Stored]
        );
        Ok(())
    }

    #[test]
    fn purge_deletes_old_events_and_old_dedup_keys() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(err)?;
        let s = open(&dir);
        let t = 1_700_000_000_000;
        for i in 0..7 {
            s.insert_batch(&[event(&format!("old-{i}"), t + i * HOUR)])?;
        }
        s.insert_batch(&[event("new", t + 40 * 24 * HOUR)])?;
        let now = t + 40 * 24 * HOUR;
        assert_eq!(s.purge(Some(now - 30 * 24 * HOUR), now)?, 7);
        let left = s.list(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })?;
        assert_eq!(
            left.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
            ["new"]
        );
        assert_eq!(s.purge(None, now)?, 0);
        let keys = s.writer()?.dedup.len();
        assert_eq!(keys, 1, "the old key is gone, the fresh one stays");
        Ok(())
    }

    #[test]
    fn relay_status_transitions() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(err)?;
        let s = open(&dir);
        let t = 1_700_000_000_000;
        s.insert_batch(&[event("a", t), event("b", t), event("c", t - 8 * 24 * HOUR)])?;
        assert_eq!(s.pending_count()?, 3);
        assert_eq!(s.expire("1", t / 1000 - 7 * 24 * 3600)?, 1);
        let pending = s.pending("1", 10)?;
        let ids: Vec<i64> = pending.iter().map(|e| e.id).collect();
        assert_eq!(
            pending
                .iter()
                .map(|e| e.event_id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        s.record_attempt(&ids, "HTTP 500")?;
        let (a, b) = (
            ids.first().copied().unwrap_or(0),
            ids.get(1).copied().unwrap_or(0),
        );
        s.mark_sent(&[a], t)?;
        s.mark_failed(b, "Invalid parameter", t)?;
        s.mark_sent(&[b], t)?; // a failed event stays failed
        assert_eq!(s.pending_count()?, 0);
        let all = s.list(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })?;
        let by_id: std::collections::HashMap<&str, &StoredEvent> =
            all.iter().map(|e| (e.event_id.as_str(), e)).collect();
        let get = |k: &str| by_id.get(k).copied().ok_or_else(|| StoreError(k.into()));
        assert_eq!(
            (
                get("a")?.relay_status,
                get("a")?.relay_attempts,
                get("a")?.relay_error.clone()
            ),
            (RelayStatus::Sent, 2, None)
        );
        assert_eq!(get("b")?.relay_status, RelayStatus::Failed);
        assert_eq!(get("b")?.relay_error.as_deref(), Some("Invalid parameter"));
        assert_eq!(get("c")?.relay_status, RelayStatus::Expired);
        let report = s.report("1")?;
        assert_eq!(
            (
                report.total,
                report.with_em,
                report.with_fbp,
                report.with_fbc
            ),
            (3, 3, 3, 0)
        );
        Ok(())
    }
}
