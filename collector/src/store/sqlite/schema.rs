//! The schema (append-only migrations, recorded in `schema_migrations`) and the checkpoint thread.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::error::err;
use crate::ports::{Clock, StoreError};

/// Ordered schema migrations: `(version, name, SQL)`. Append only.
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
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
    ),
    (
        2,
        "reports: events by pixel and time, duplicates per day",
        // The reports scan one pixel's events in a time range. Duplicates are counted per UTC day
        // of receipt so the relay report can say how many a range dropped.
        "CREATE INDEX events_pixel_time ON events (pixel_id, event_time);
    CREATE TABLE duplicates_per_day (
        pixel_id   TEXT    NOT NULL,
        day        INTEGER NOT NULL,
        duplicates INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (pixel_id, day)
    ) WITHOUT ROWID;",
    ),
    (
        3,
        "reports: derived keys and visitor, an index that covers the scans",
        // What `ports::derivation::derive` makes of an event at insert (bits of the keys it carries, iOS,
        // landing; its visitor when it has no fbp), and an index holding every column a report
        // reads on every row, so that a report walks the index instead of the table. It starts
        // with the columns of `events_pixel_time`, which it replaces. Rows stored before this
        // migration keep NULL here, and the reports derive the same from their columns.
        "ALTER TABLE events ADD COLUMN report_keys INTEGER;
    ALTER TABLE events ADD COLUMN report_visitor TEXT;
    DROP INDEX events_pixel_time;
    CREATE INDEX events_report ON events (pixel_id, event_time, event_name, fbp, report_keys,
        report_visitor, event_id_derived, relay_status);",
    ),
    (
        4,
        "ingest: one index fewer, report keys unique after the time",
        // Every insert updates every index, and the writer is one thread. `events_pixel`
        // (pixel, id) served no query any more: lookups by pixel go through `events_report`,
        // which starts with it, and the admin list scans by id. And `events_report` had the
        // columns after the time as its tie-breaks, so an insert among events of the same second
        // (a burst) compared name, fbp and the rest against its neighbours; with `id` right
        // after the time, a key is unique there. The same columns, so it still covers the
        // reports' scans. In `loadgen` under callgrind the writer's instructions per beacon
        // went from 39,800 to 32,400.
        "DROP INDEX events_pixel;
    DROP INDEX events_report;
    CREATE INDEX events_report ON events (pixel_id, event_time, id, event_name, fbp, report_keys,
        report_visitor, event_id_derived, relay_status);",
    ),
    (
        5,
        "server events: origin, hold, server fields",
        // Which copies an event is made of (1 browser, 2 server, 4 a copy came after the relay),
        // the time before which the relay leaves it (an event of the held set waiting for its
        // other copy), and what only a server copy carries, as JSON. Rows stored before are
        // browser copies, not held.
        "ALTER TABLE events ADD COLUMN origin INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE events ADD COLUMN hold_until_ms INTEGER;
    ALTER TABLE events ADD COLUMN server_fields TEXT;",
    ),
    (
        6,
        "relay: held events out of the pending index",
        // The relay's claim walked `events_pending` in id order and read every row's hold, so
        // each round stepped over every held event stored before the ones it sent, and an idle
        // poll over all of them. `examples/holdbench.rs`, 100,000 PageViews past H held
        // Purchases spread among them, medians of 5 interleaved rounds: relayed at 0.82 (H =
        // 1,000) and 0.59 (H = 10,000) of the rate without them, an idle claim 0.6 and 8.6 ms
        // against 0.03. Held rows now sit in an index of their own, by the end of their hold:
        // the claim reads the others by id and a held one only once its hold is over (1.04 and
        // 0.91, the idle claim 0.06 ms whatever H; the hold as a third column of
        // `events_pending`, checked on the index entry, gave 0.97 and 0.80 and still walked:
        // 0.57 ms). A pair released early gets a NULL hold and moves over. Each pending event
        // is in one of the two, as it was in one: an insert updates as many indexes as before.
        "DROP INDEX events_pending;
    CREATE INDEX events_pending ON events (pixel_id, id)
        WHERE relay_status = 'pending' AND hold_until_ms IS NULL;
    CREATE INDEX events_held ON events (pixel_id, hold_until_ms)
        WHERE relay_status = 'pending' AND hold_until_ms IS NOT NULL;",
    ),
    (
        7,
        "rollups: write-time aggregates, visitors interned, backfill progress",
        // `ports::rollup`: the cells the count-like reports read instead of the events, changed
        // in the transaction of every mutation of an event. Events stored before are counted by
        // the backfill (`rollup.rs`), ids `next_id..=end_id`, resumable.
        "CREATE TABLE rollup_hours (
        pixel_id   TEXT    NOT NULL,
        hour       INTEGER NOT NULL,
        event_name TEXT    NOT NULL,
        currency   TEXT    NOT NULL,
        events     INTEGER NOT NULL,
        micros     INTEGER NOT NULL,
        PRIMARY KEY (pixel_id, hour, event_name, currency)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_days (
        pixel_id   TEXT    NOT NULL,
        day        INTEGER NOT NULL,
        event_name TEXT    NOT NULL,
        keys       INTEGER NOT NULL,
        status     TEXT    NOT NULL,
        id_derived INTEGER NOT NULL,
        error      TEXT    NOT NULL,
        events     INTEGER NOT NULL,
        PRIMARY KEY (pixel_id, day, event_name, keys, status, id_derived, error)
    ) WITHOUT ROWID;
    CREATE TABLE visitors (
        id       INTEGER PRIMARY KEY,
        pixel_id TEXT NOT NULL,
        key      TEXT NOT NULL,
        UNIQUE (pixel_id, key)
    );
    CREATE TABLE visitor_days (
        visitor INTEGER NOT NULL,
        step    INTEGER NOT NULL,
        day     INTEGER NOT NULL,
        events  INTEGER NOT NULL,
        PRIMARY KEY (visitor, step, day)
    ) WITHOUT ROWID;
    CREATE TABLE visitor_gaps (
        pixel_id TEXT    NOT NULL,
        day      INTEGER NOT NULL,
        step     INTEGER NOT NULL,
        prev     INTEGER NOT NULL,
        visitors INTEGER NOT NULL,
        PRIMARY KEY (pixel_id, day, step, prev)
    ) WITHOUT ROWID;
    CREATE TABLE rollup_backfill (
        one     INTEGER PRIMARY KEY CHECK (one = 1),
        next_id INTEGER NOT NULL,
        end_id  INTEGER NOT NULL
    );
    INSERT INTO rollup_backfill (one, next_id, end_id)
        SELECT 1, 1, COALESCE(MAX(id), 0) FROM events;",
    ),
    (
        8,
        "per-person state: landings, purchases, visitor-days, AEM sets",
        // What attribution and AEM read instead of rescanning the events (`people.rs`,
        // `ports::people`); a database with events before this is backfilled at open.
        super::people::MIGRATION,
    ),
    (
        9,
        "diagnostics: marks per pixel, day, code, event name and detail",
        // What `ports::diagnostics` marks each event with when it is stored, merged or refused
        // by Meta, summed in the same transaction: the diagnostics report reads only its days'
        // rows (a few dozen a day, one more per Purchase for the order fingerprints).
        "CREATE TABLE diagnostics (
        pixel_id         TEXT    NOT NULL,
        day              INTEGER NOT NULL,
        code             TEXT    NOT NULL,
        event_name       TEXT    NOT NULL,
        detail           TEXT    NOT NULL,
        events           INTEGER NOT NULL,
        first_seen_ms    INTEGER NOT NULL,
        last_seen_ms     INTEGER NOT NULL,
        example_event_id TEXT    NOT NULL,
        PRIMARY KEY (pixel_id, day, code, event_name, detail)
    ) WITHOUT ROWID;",
    ),
];

/// How often the background thread moves WAL pages into the database file.
pub(super) const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// At most one log line per this interval while checkpoints keep failing.
const CHECKPOINT_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Checkpoints run on their own thread and connection, so the group commit never waits for one
/// (SQLite's automatic checkpoint would run inside a commit, writing and syncing the database file
/// while every beacon of the batch waits). `PASSIVE` never blocks the writer.
pub(super) fn start_checkpointer(
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
            // A failing checkpoint (disk full, locked) is logged once per 10 s with a count,
            // not four times a second.
            let mut failed = 0u64;
            let mut logged: Option<std::time::Instant> = None;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(CHECKPOINT_EVERY)
            {
                match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    Ok(()) if logged.is_some() => {
                        tracing::info!(failed, "WAL checkpoints work again");
                        (failed, logged) = (0, None);
                    }
                    Ok(()) => {}
                    Err(e) => {
                        failed += 1;
                        if logged.is_none_or(|at| at.elapsed() >= CHECKPOINT_LOG_EVERY) {
                            tracing::warn!(error = %e, failed, "WAL checkpoint failed");
                            logged = Some(std::time::Instant::now());
                        }
                    }
                }
            }
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        })
        .map_err(err)?;
    Ok(tx)
}

pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
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
            params![version, name, crate::ports::SystemClock.now_ms()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
    }
    Ok(())
}
