//! The PostgreSQL store's connections: the driver's settings and TLS, the pool on the store's own
//! runtime, and [`PgStore::run`], which drives a call to completion on the calling thread (the
//! ports are synchronous) with a timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::{pg_err, pool_err};
use super::rows::row_to_event;
use super::schema;
use crate::config::{Config, DbUrl};
use crate::ports::{StoreError, StoredEvent};

/// Connecting to the server (TCP and start-up) gives up after this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Waiting for a free pooled connection gives up after this.
pub const POOL_TIMEOUT: Duration = Duration::from_secs(3);
/// The server cancels a statement running longer (the reports' scans and purges lift it).
pub const STATEMENT_TIMEOUT_MS: u64 = 5000;
/// A whole call (a group commit: several statements) fails after this, answered or not.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The PostgreSQL store: its runtime, its pool and how it runs.
pub struct PgStore {
    /// `Some` until drop (shut down in the background: a drop may happen inside another runtime).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    pub(super) options: PgOptions,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// The driver's settings from the URL, with our timeouts where the URL sets none.
pub(super) fn driver_config(url: &DbUrl) -> Result<tokio_postgres::Config, StoreError> {
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
    if let Some(mode) = default_ssl_mode(&url.config, config.get_hosts()) {
        config.ssl_mode(mode);
    }
    Ok(config)
}

/// The `sslmode` of a URL that names none: `disable` when every host is loopback (or a Unix
/// socket), as there is nothing to protect and a local server's certificate is rarely one a
/// client can check; `require` for any other host. The driver's own default, `prefer`, would
/// fall back to plain text when the server (or whoever sits between) offers no TLS, and so
/// hand the password and the events to a downgrade. `None`: the URL chose, keep its mode.
pub(super) fn default_ssl_mode(url: &str, hosts: &[Host]) -> Option<SslMode> {
    // Both forms name it this way: `?sslmode=` in a URL, `sslmode=` in `key=value` text.
    if url.to_ascii_lowercase().contains("sslmode=") {
        return None;
    }
    let loopback = hosts.iter().all(|h| match h {
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Host::Unix(_) => true,
    });
    Some(if loopback {
        SslMode::Disable
    } else {
        SslMode::Require
    })
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
/// A `LIMIT` parameter.
pub(super) fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub(super) type Params<'a> = Vec<&'a (dyn ToSql + Sync)>;

impl PgStore {
    /// Connect to `url`, run the migrations (under the advisory lock) and build the pool.
    pub fn open(url: &DbUrl, options: PgOptions) -> Result<PgStore, StoreError> {
        PgStore::open_config(driver_config(url)?, url.redacted(), options)
    }

    /// [`PgStore::open`] with the driver's settings; `shown` names the database in the log.
    pub(super) fn open_config(
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
        store.run(None, async {
            super::people::backfill(&mut store.client().await?).await
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
    pub(super) fn run<T>(
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

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_err)
    }

    /// One statement with these parameters, on a pooled connection; rows changed.
    pub(super) fn execute(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        self.run(Some(CALL_TIMEOUT), async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(sql).await.map_err(pg_err)?;
            client.execute(&stmt, params).await.map_err(pg_err)
        })
    }

    /// Events from a query whose columns are `columns::EVENT_COLUMNS`.
    pub(super) fn events(
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

#[cfg(test)]
mod tests {
    use tokio_postgres::config::SslMode;

    use super::driver_config;
    use crate::config::DbUrl;

    fn mode(url: &str) -> SslMode {
        match DbUrl::parse(url, None).map(|u| driver_config(&u)) {
            Ok(Ok(c)) => c.get_ssl_mode(),
            other => unreachable!("{url}: {other:?}"),
        }
    }

    #[test]
    fn tls_is_required_off_loopback_unless_the_url_says_otherwise() {
        for (url, want) in [
            // Another host, no sslmode: TLS or no connection (never `prefer`'s plain fallback).
            ("postgres://c@db.internal/shop", SslMode::Require),
            ("postgres://c@10.0.0.5:5432/shop", SslMode::Require),
            (
                "postgresql://c@db.example.com/shop?connect_timeout=2",
                SslMode::Require,
            ),
            // One loopback host among others is not enough.
            ("postgres://c@127.0.0.1,db.internal/shop", SslMode::Require),
            // Loopback keeps today's default: no TLS.
            ("postgres://c@127.0.0.1/shop", SslMode::Disable),
            ("postgres://c@localhost:5433/shop", SslMode::Disable),
            ("postgres://c@[::1]/shop", SslMode::Disable),
            ("postgres://c@%2Frun%2Fpostgresql/shop", SslMode::Disable),
            // The URL's own choice wins, in either direction.
            (
                "postgres://c@db.internal/shop?sslmode=prefer",
                SslMode::Prefer,
            ),
            (
                "postgres://c@db.internal/shop?sslmode=disable",
                SslMode::Disable,
            ),
            (
                "postgres://c@127.0.0.1/shop?sslmode=require",
                SslMode::Require,
            ),
        ] {
            assert_eq!(mode(url), want, "{url}");
        }
    }
}
