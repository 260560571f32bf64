//! The shared store: one PostgreSQL database that several collector replicas write and relay
//! from at once.
//!
//! - **Driver**: `tokio-postgres` connections in a `deadpool-postgres` pool, on a small runtime of
//!   the store's own (one worker thread runs the connections' I/O). The [`Store`] trait is
//!   synchronous: each call is driven to completion on the calling thread (the ingest writer, a
//!   `spawn_blocking` thread) by [`PgStore::run`] (`futures_executor::block_on`), inside the store
//!   runtime's context.
//! - **Never a hang**: connecting times out after [`CONNECT_TIMEOUT`], waiting for a pooled
//!   connection after [`POOL_TIMEOUT`], a statement after [`STATEMENT_TIMEOUT_MS`] (server side),
//!   a whole call after [`CALL_TIMEOUT`] (client side, for a server that stopped answering). So a
//!   group commit against an unreachable server fails in seconds: its beacons get `503`, and
//!   `check_writable` lets `/healthz` come back when the server does.
//! - **Group commit**: one transaction per [`Store::insert_batch`], whatever the batch size
//!   (arrays through `UNNEST`), answered after `COMMIT`: one statement (data-modifying CTEs, one
//!   round trip) when every key in the batch is distinct, a transaction of a few when a key
//!   repeats within the batch.
//! - **Deduplication shared by the replicas**: the `dedup_keys` table holds each
//!   `(pixel_id, event_name, event_id)` with the receipt time it was last stored at; an
//!   `INSERT … ON CONFLICT … DO UPDATE … WHERE` the old time is outside the window either claims
//!   the key (a row comes back) or finds a duplicate (none). A second replica inserting the same
//!   key waits on the row lock until the first commits, then sees its time: stored once.
//! - **The relay's claim**: `SELECT … FOR UPDATE SKIP LOCKED` picks pending events no other
//!   replica holds, and the same statement stamps them with this process's `lease_owner` and a
//!   `lease_until_ms`; marking releases them, and a replica killed mid-request frees its batch
//!   when the lease runs out.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::StreamExt;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;

mod rows;
mod schema;

use super::columns::{custom_data_json, derive_event, dpo_json, older_than, user_data_json};
use super::{
    EventQuery, InsertOutcome, RelayStatus, Store, StoreError, StoredEvent, DEDUP_WINDOW_MS,
};
use crate::config::{Config, DbUrl};
use crate::event::NewEvent;
use crate::reports::{ReportSource, Row, Scan};
use rows::{row_to_event, EVENT_COLUMNS};

/// Connecting to the server (TCP and start-up) gives up after this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Waiting for a free pooled connection gives up after this.
pub const POOL_TIMEOUT: Duration = Duration::from_secs(3);
/// The server cancels a statement running longer (the reports' scans and purges lift it).
pub const STATEMENT_TIMEOUT_MS: u64 = 5000;
/// A whole call (a group commit: several statements) fails after this, answered or not.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Rows deleted per purge statement.
const PURGE_CHUNK: i64 = 5000;

const EXPIRED_MESSAGE: &str = "older than 7 days: the Conversions API no longer accepts it";

/// How a [`PgStore`] runs.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Connections in the pool at most.
    pub pool_size: usize,
    /// How long a relay claim holds its events: about twice the relay's request timeout.
    pub lease_ms: i64,
    /// This process's name in `lease_owner` (unique per start).
    pub owner: String,
    /// PEM certificate authorities for the server's certificate (`--db-ca-file`); `None`:
    /// Mozilla's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

impl PgOptions {
    pub fn from_config(config: &Config) -> PgOptions {
        PgOptions {
            pool_size: config.db_pool_size,
            lease_ms: i64::try_from(config.relay_timeout_ms.saturating_mul(2)).unwrap_or(i64::MAX),
            owner: owner_name(),
            ca_file: config.db_ca_file.clone(),
        }
    }
}

/// `collector-<pid>-<random>`: unique per process start (a restarted replica does not inherit
/// its predecessor's claims, which end with their lease).
pub fn owner_name() -> String {
    format!("collector-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

/// PostgreSQL implementation of [`Store`].
pub struct PgStore {
    /// `Some` until drop (shut down in the background: a drop may happen inside another runtime).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    options: PgOptions,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A driver error with its causes (tokio-postgres' own `Display` is often just "db error"). Its
/// messages hold no part of the connection settings.
pub(super) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        return StoreError(format!("PostgreSQL: {}", db.message()));
    }
    StoreError(chain(&e))
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError(format!("PostgreSQL connection: {}", chain(&e)))
}

/// The driver's settings from the URL, with our timeouts where the URL sets none.
fn driver_config(url: &DbUrl) -> Result<tokio_postgres::Config, StoreError> {
    let mut config: tokio_postgres::Config = url
        .config
        .parse()
        .map_err(|_| StoreError(format!("{} is not a valid PostgreSQL URL", url.redacted())))?;
    if let Some(p) = &url.password {
        config.password(p);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("collector");
    }
    let timeout = format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}");
    let options = match config.get_options() {
        Some(o) if !o.is_empty() => format!("{timeout} {o}"),
        _ => timeout,
    };
    config.options(&options);
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    // No `sslmode` and only loopback hosts (or sockets): no TLS, as there is nothing to protect
    // and a local server's certificate is rarely one a client can check. Elsewhere the driver's
    // default, `prefer`, holds: TLS when the server offers it, its certificate always checked.
    let loopback = config.get_hosts().iter().all(|h| match h {
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Host::Unix(_) => true,
    });
    if loopback && !url.config.to_ascii_lowercase().contains("sslmode=") {
        config.ssl_mode(SslMode::Disable);
    }
    Ok(config)
}

/// TLS with rustls: the server's certificate and name checked against `ca_file`'s authorities,
/// or Mozilla's roots. Used whenever the `sslmode` asks for TLS (`require`, or `prefer` and
/// the server offers it); never with `disable`.
fn tls(ca_file: Option<&std::path::Path>) -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| StoreError(format!("--db-ca-file {}: {e}", path.display())))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(StoreError(format!(
                    "--db-ca-file {}: no certificate in it",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError(format!("TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `$1, $2, …` with a cast: the parameter list of an `UNNEST`.
type Params<'a> = Vec<&'a (dyn ToSql + Sync)>;

impl PgStore {
    /// Connect to `url`, run the migrations (under the advisory lock) and build the pool.
    pub fn open(url: &DbUrl, options: PgOptions) -> Result<PgStore, StoreError> {
        PgStore::open_config(driver_config(url)?, url.redacted(), options)
    }

    /// [`PgStore::open`] with the driver's settings; `shown` names the database in the log.
    fn open_config(
        config: tokio_postgres::Config,
        shown: &str,
        options: PgOptions,
    ) -> Result<PgStore, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("collector-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError(format!("PostgreSQL runtime: {e}")))?;
        let tls = tls(options.ca_file.as_deref())?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                // A closed connection is dropped, an open one reused as it is: a call cut off by
                // its timeout leaves no transaction open (the driver rolls back a dropped one),
                // and a query before every reuse would cost a round trip per group commit.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError(format!("PostgreSQL pool: {e}")))?;
        let store = PgStore {
            runtime: Some(runtime),
            pool,
            options,
        };
        store.run(Some(Duration::from_secs(120)), async {
            // The migrations on a connection of their own: closing it releases the lock.
            // The driver's connect timeout covers the TCP connection, not a server that
            // accepts and then never answers the start-up: this one covers both.
            let (mut client, connection) =
                tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tls))
                    .await
                    .map_err(|_| {
                        StoreError(format!(
                            "no answer from the PostgreSQL server within {} s",
                            CONNECT_TIMEOUT.as_secs()
                        ))
                    })?
                    .map_err(pg_err)?;
            let task = tokio::spawn(connection);
            let migrated = schema::migrate(&mut client).await;
            drop(client);
            let _ = task.await;
            migrated
        })?;
        tracing::info!(
            db = %shown,
            pool = store.options.pool_size,
            lease_ms = store.options.lease_ms,
            owner = %store.options.owner,
            "PostgreSQL store ready"
        );
        Ok(store)
    }

    /// Run `f` to completion in the store runtime's context, failing after `timeout`.
    fn run<T>(
        &self,
        timeout: Option<Duration>,
        f: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| StoreError("PostgreSQL store is shut down".into()))?;
        // Polled on this thread; the I/O and timers it waits on are driven by the store
        // runtime's worker, whose context this enters: works from any thread, inside another
        // runtime or not.
        let _context = rt.enter();
        match timeout {
            Some(limit) => futures_executor::block_on(async {
                match tokio::time::timeout(limit, f).await {
                    Ok(r) => r,
                    Err(_) => Err(StoreError(format!(
                        "PostgreSQL did not answer within {} s",
                        limit.as_secs()
                    ))),
                }
            }),
            None => futures_executor::block_on(f),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    /// One statement with these parameters, on a pooled connection; rows changed.
    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        self.run(Some(CALL_TIMEOUT), async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
            client.execute(&stmt, params).await.map_err(pg_err)
        })
    }

    /// Events from a query whose columns are [`EVENT_COLUMNS`].
    fn events(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.run(Some(CALL_TIMEOUT), async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
            let rows = client.query(&stmt, params).await.map_err(pg_err)?;
            rows.iter().map(row_to_event).collect()
        })
    }

    /// The schema version applied to the database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.run(Some(CALL_TIMEOUT), async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            row.try_get(0).map_err(pg_err)
        })
    }

    /// This process's claim name and lease length.
    pub fn options(&self) -> &PgOptions {
        &self.options
    }
}

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
async fn insert_events(
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
    count_duplicates(tx, events, &outcomes).await?;
    Ok(outcomes)
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
}

/// The `UNNEST` of [`EventArrays::params`] as `u(p, n, e, d, t, r, su, ru, fp, fc, ip, ua, ud,
/// cd, dp, st, rk, rv, ord)`, `ord` the position in the batch.
const UNNEST_EVENTS: &str = "UNNEST($1::text[], $2::text[], $3::text[], $4::bool[], $5::int8[],
    $6::int8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
    $13::text[], $14::text[], $15::text[], $16::text[], $17::int8[], $18::text[])
    WITH ORDINALITY AS u(p, n, e, d, t, r, su, ru, fp, fc, ip, ua, ud, cd, dp, st, rk, rv, ord)";

/// The columns [`UNNEST_EVENTS`] fills, and its names for them.
const EVENT_INSERT_COLUMNS: &str = "pixel_id, event_name, event_id, event_id_derived, event_time,
    received_at_ms, source_url, referrer_url, fbp, fbc, client_ip, user_agent, user_data,
    custom_data, dpo, relay_status, report_keys, report_visitor";
const UNNEST_VALUES: &str = "p, n, e, d, t, r, su, ru, fp, fc, ip, ua, ud, cd, dp, st, rk, rv";

impl<'a> EventArrays<'a> {
    fn new(events: &[&'a NewEvent]) -> EventArrays<'a> {
        let col = |f: fn(&'a NewEvent) -> &'a str| events.iter().map(|e| f(e)).collect();
        let opt = |f: fn(&'a NewEvent) -> Option<&'a str>| events.iter().map(|e| f(e)).collect();
        let user_data: Vec<String> = events
            .iter()
            .map(|e| user_data_json(&e.user_data))
            .collect();
        let (report_keys, report_visitor) = events
            .iter()
            .zip(&user_data)
            .map(|(e, ud)| derive_event(e, ud))
            .unzip();
        EventArrays {
            report_keys,
            report_visitor,
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
            ips: opt(|e| e.client_ip.as_deref()),
            agents: opt(|e| e.user_agent.as_deref()),
            user_data: events
                .iter()
                .map(|e| user_data_json(&e.user_data))
                .collect(),
            custom: events
                .iter()
                .map(|e| custom_data_json(&e.custom_data))
                .collect(),
            dpo: events.iter().map(|e| dpo_json(&e.dpo)).collect(),
            status: events
                .iter()
                .map(|e| {
                    if e.relay {
                        RelayStatus::Pending.as_str()
                    } else {
                        RelayStatus::NotRelayed.as_str()
                    }
                })
                .collect(),
        }
    }

    /// `$1` … `$18` of [`UNNEST_EVENTS`].
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
        ]
    }
}

/// The stored events, in one statement, ids in batch order.
async fn insert_rows(
    tx: &deadpool_postgres::Transaction<'_>,
    stored: &[&NewEvent],
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO events ({EVENT_INSERT_COLUMNS})
         SELECT {UNNEST_VALUES} FROM {UNNEST_EVENTS} ORDER BY ord"
    );
    let stmt = tx.prepare_cached(&sql).await.map_err(pg_err)?;
    let arrays = EventArrays::new(stored);
    tx.execute(&stmt, &arrays.params()).await.map_err(pg_err)?;
    Ok(())
}

/// A group commit whose keys are all distinct (the usual case) in one statement, committed on
/// its own: claim the keys, insert the events of the claimed ones (ids in batch order), count
/// the others as duplicates per day and per pixel. One round trip to the server.
async fn insert_distinct(
    client: &deadpool_postgres::Object,
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
                WHERE EXCLUDED.received_at_ms - k.received_at_ms >= $19
            RETURNING pixel_id, event_name, event_id
         ),
         stored AS (
            INSERT INTO events ({EVENT_INSERT_COLUMNS})
            SELECT {UNNEST_VALUES} FROM u
            JOIN claimed c ON c.pixel_id = u.p AND c.event_name = u.n AND c.event_id = u.e
            ORDER BY ord
            RETURNING 1
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
         )
         SELECT pixel_id, event_name, event_id FROM claimed"
    );
    let stmt = client.prepare_cached(&sql).await.map_err(pg_err)?;
    let all: Vec<&NewEvent> = events.iter().collect();
    let arrays = EventArrays::new(&all);
    let mut params = arrays.params();
    params.push(&DEDUP_WINDOW_MS);
    let rows = client.query(&stmt, &params).await.map_err(pg_err)?;
    let claimed = claimed_keys(&rows)?;
    Ok(events
        .iter()
        .map(|e| {
            let key = (e.pixel_id.clone(), e.event_name.clone(), e.event_id.clone());
            if claimed.contains(&key) {
                InsertOutcome::Stored
            } else {
                InsertOutcome::Duplicate
            }
        })
        .collect())
}

/// Repeats per pixel (since the database was created) and per pixel and UTC day of receipt.
async fn count_duplicates(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[NewEvent],
    outcomes: &[InsertOutcome],
) -> Result<(), StoreError> {
    let mut per_day: std::collections::BTreeMap<(&str, i64), i64> = Default::default();
    let mut per_pixel: std::collections::BTreeMap<&str, i64> = Default::default();
    for (e, o) in events.iter().zip(outcomes) {
        if *o == InsertOutcome::Duplicate {
            *per_day
                .entry((&e.pixel_id, e.received_at_ms.div_euclid(86_400_000)))
                .or_insert(0) += 1;
            *per_pixel.entry(&e.pixel_id).or_insert(0) += 1;
        }
    }
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

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl Store for PgStore {
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
                return insert_distinct(&client, events).await;
            }
            // A key twice in one batch: its copies are judged one after the other, in rounds.
            let tx = client.transaction().await.map_err(pg_err)?;
            let outcomes = insert_events(&tx, events).await?;
            tx.commit().await.map_err(pg_err)?;
            Ok(outcomes)
        })
    }

    fn list(&self, q: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE ($1::text IS NULL OR pixel_id = $1) AND ($2::text IS NULL OR event_name = $2)
             ORDER BY id DESC LIMIT $3"
        );
        self.events(&sql, &[&q.pixel_id, &q.event_name, &limit_param(q.limit)])
    }

    fn pending(&self, pixel_id: &str, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.pending_after(pixel_id, 0, limit)
    }

    fn mark_sent(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE events SET relay_status = 'sent', relayed_at_ms = $2, relay_error = NULL,
                relay_attempts = relay_attempts + 1, lease_owner = NULL, lease_until_ms = 0
             WHERE id = ANY($1) AND relay_status = 'pending'",
            &[&ids, &now_ms],
        )
        .map(|_| ())
    }

    fn mark_failed(&self, id: i64, message: &str, now_ms: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE events SET relay_status = 'failed', relay_error = $2, relayed_at_ms = $3,
                relay_attempts = relay_attempts + 1, lease_owner = NULL, lease_until_ms = 0
             WHERE id = $1 AND relay_status = 'pending'",
            &[&id, &message, &now_ms],
        )
        .map(|_| ())
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

    fn purge(&self, received_before_ms: Option<i64>, now_ms: i64) -> Result<u64, StoreError> {
        self.run(None, async {
            let client = self.client().await?;
            let mut deleted = 0u64;
            if let Some(before) = received_before_ms {
                // Receipt times grow with the id: delete the old among the lowest ids, a chunk
                // at a time, until a chunk holds fewer old rows than its size.
                let stmt = client
                    .prepare_cached(
                        "DELETE FROM events WHERE id IN
                            (SELECT id FROM events ORDER BY id LIMIT $2) AND received_at_ms < $1",
                    )
                    .await
                    .map_err(pg_err)?;
                loop {
                    let n = client
                        .execute(&stmt, &[&before, &PURGE_CHUNK])
                        .await
                        .map_err(pg_err)?;
                    deleted += n;
                    if n < u64::try_from(PURGE_CHUNK).unwrap_or(0) {
                        break;
                    }
                }
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

    fn pending_after(
        &self,
        pixel_id: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE pixel_id = $1 AND relay_status = 'pending' AND id > $2 ORDER BY id LIMIT $3"
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

    fn check_writable(&self) -> Result<(), StoreError> {
        // A committed write that changes nothing: the server is up and accepts writes.
        self.execute(
            "UPDATE schema_migrations SET applied_at_ms = applied_at_ms
             WHERE version = (SELECT MAX(version) FROM schema_migrations)",
            &[],
        )
        .map(|_| ())
    }
}

impl ReportSource for PgStore {
    fn scan(&self, scan: &Scan<'_>, f: &mut dyn FnMut(&Row<'_>)) -> Result<(), StoreError> {
        // The SQLite store's statement, whose only `?` are its parameters: `?N` is `$N` here.
        let (sql, at) = crate::store::sqlite::reports::scan_sql(scan);
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

#[cfg(test)]
mod tests;
