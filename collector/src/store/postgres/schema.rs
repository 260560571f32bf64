//! The PostgreSQL schema: SQLite's versioned list (same versions, same names, up to 5: SQLite's 6
//! moves held events to an index of their own, which PostgreSQL does not have yet), in
//! PostgreSQL's types, applied at start under an advisory lock so that replicas starting together
//! do not both migrate.

use tokio_postgres::Client;

use super::error::pg_err;
use crate::ports::{Clock, StoreError};

/// The key of the session advisory lock taken while migrating (any constant will do; this one is
/// "pixelcol" in ASCII).
const MIGRATION_LOCK: i64 = 0x7069_7865_6c63_6f6c;

/// Ordered schema migrations: `(version, name, SQL)`. Append only; version and name agree with
/// the SQLite list (`store/sqlite/schema.rs`).
pub(super) const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "events and per-pixel counters",
        // Beside SQLite's columns: the relay's claim (`lease_owner`, `lease_until_ms`: which
        // replica is sending the event, until when), and the deduplication keys of the last 48 h
        // shared by every replica (SQLite keeps them in the writer's memory).
        "CREATE TABLE events (
        id               BIGSERIAL PRIMARY KEY,
        pixel_id         TEXT    NOT NULL,
        event_name       TEXT    NOT NULL,
        event_id         TEXT    NOT NULL,
        event_id_derived BOOLEAN NOT NULL,
        event_time       BIGINT  NOT NULL,
        received_at_ms   BIGINT  NOT NULL,
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
        relay_attempts   BIGINT  NOT NULL DEFAULT 0,
        relay_error      TEXT,
        relayed_at_ms    BIGINT,
        lease_owner      TEXT,
        lease_until_ms   BIGINT  NOT NULL DEFAULT 0
    );
    CREATE INDEX events_pending ON events (pixel_id, id) WHERE relay_status = 'pending';
    CREATE INDEX events_pixel ON events (pixel_id, id);
    CREATE TABLE pixel_stats (
        pixel_id   TEXT PRIMARY KEY,
        duplicates BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE dedup_keys (
        pixel_id       TEXT   NOT NULL,
        event_name     TEXT   NOT NULL,
        event_id       TEXT   NOT NULL,
        received_at_ms BIGINT NOT NULL,
        PRIMARY KEY (pixel_id, event_name, event_id)
    );",
    ),
    (
        2,
        "reports: events by pixel and time, duplicates per day",
        "CREATE INDEX events_pixel_time ON events (pixel_id, event_time);
    CREATE TABLE duplicates_per_day (
        pixel_id   TEXT   NOT NULL,
        day        BIGINT NOT NULL,
        duplicates BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (pixel_id, day)
    );",
    ),
    (
        3,
        "reports: derived keys and visitor, an index that covers the scans",
        // As on SQLite: what `ports::derivation::derive` makes of an event at insert, and an index that
        // holds every column a report reads on every row (PostgreSQL: the range columns as keys,
        // the others `INCLUDE`d), replacing `events_pixel_time`. Rows stored before keep NULL.
        "ALTER TABLE events ADD COLUMN report_keys BIGINT;
    ALTER TABLE events ADD COLUMN report_visitor TEXT;
    DROP INDEX events_pixel_time;
    CREATE INDEX events_report ON events (pixel_id, event_time)
        INCLUDE (event_name, fbp, report_keys, report_visitor, event_id_derived, relay_status);",
    ),
    (
        4,
        "ingest: one index fewer, report keys unique after the time",
        // As on SQLite, `events_pixel` served no query: lookups by pixel go through
        // `events_report`. Its key columns here were only the pixel and time already (the rest
        // is `INCLUDE`d), so it stays.
        "DROP INDEX events_pixel;",
    ),
    (
        5,
        "server events: origin, hold, server fields",
        // As on SQLite, plus an index to find the stored copy of an event by its key when its
        // other copy arrives (SQLite finds it through the deduplication index in memory; here the
        // copies may arrive at different replicas).
        "ALTER TABLE events ADD COLUMN origin BIGINT NOT NULL DEFAULT 1;
    ALTER TABLE events ADD COLUMN hold_until_ms BIGINT;
    ALTER TABLE events ADD COLUMN server_fields TEXT;
    CREATE INDEX events_key ON events (pixel_id, event_id);",
    ),
    (
        8,
        "per-person state: landings, purchases, visitor-days, AEM sets",
        // As on SQLite: what attribution and AEM read instead of rescanning the events
        // (`people.rs`); a database with events before this is backfilled under the lock.
        super::people::MIGRATION,
    ),
    (
        9,
        "diagnostics: marks per pixel, day, code, event name and detail",
        // As SQLite's 9 (`ports::diagnostics`).
        "CREATE TABLE diagnostics (
        pixel_id         TEXT   NOT NULL,
        day              BIGINT NOT NULL,
        code             TEXT   NOT NULL,
        event_name       TEXT   NOT NULL,
        detail           TEXT   NOT NULL,
        events           BIGINT NOT NULL,
        first_seen_ms    BIGINT NOT NULL,
        last_seen_ms     BIGINT NOT NULL,
        example_event_id TEXT   NOT NULL,
        PRIMARY KEY (pixel_id, day, code, event_name, detail)
    );",
    ),
];

/// Apply the missing migrations, each in its own transaction, holding the advisory lock (waiting
/// for it while another replica migrates). `client` is a connection of its own: closing it
/// releases the lock whatever happens here.
pub(super) async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_err)?;
    let result = apply(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_err);
    result.and(unlocked.map(|_| ()))
}

async fn apply(client: &mut Client) -> Result<(), StoreError> {
    // Created only when missing: a role with row privileges only (no CREATE on the schema) can
    // start once the database's owner has migrated it.
    let exists = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(pg_err)?;
    if !exists.try_get::<_, bool>(0).map_err(pg_err)? {
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (
                version       BIGINT PRIMARY KEY,
                name          TEXT   NOT NULL,
                applied_at_ms BIGINT NOT NULL
            )",
            )
            .await
            .map_err(pg_err)?;
    }
    for &(version, name, sql) in MIGRATIONS {
        let done = client
            .query_opt(
                "SELECT version FROM schema_migrations WHERE version = $1",
                &[&version],
            )
            .await
            .map_err(pg_err)?;
        if done.is_some() {
            continue;
        }
        let tx = client.transaction().await.map_err(pg_err)?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| StoreError(format!("migration {version} ({name}): {}", pg_err(e))))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES ($1, $2, $3)",
            &[&version, &name, &crate::ports::SystemClock.now_ms()],
        )
        .await
        .map_err(pg_err)?;
        tx.commit().await.map_err(pg_err)?;
        tracing::info!(version, name, "PostgreSQL schema migrated");
    }
    Ok(())
}
