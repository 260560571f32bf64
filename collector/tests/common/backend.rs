//! The store a test runs on: a SQLite file in the test's directory, or a fresh PostgreSQL
//! database.
//!
//! PostgreSQL comes from `COLLECTOR_TEST_PG_URL` when it is set (test.sh starts one server for the
//! whole run), else from a private server this test binary starts once through `scripts/pg.sh`
//! in a temporary directory, with a watcher process that stops and removes it when the binary
//! exits (however it exits). Each test gets its own database `t_<pid>_<n>`, so tests running in
//! parallel share no rows. When no server can be had the PostgreSQL variants fail, naming the
//! cause; `COLLECTOR_TEST_SKIP_PG=1` (for a developer without PostgreSQL) skips them with a line.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Which store a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database.
#[derive(Clone, Debug)]
pub enum Db {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A database of its own on a PostgreSQL server: `postgres://…/t_<pid>_<n>`.
    Postgres(String),
}

impl Backend {
    /// True (and a line on stderr) when this backend's tests are to be skipped: only PostgreSQL,
    /// only with `COLLECTOR_TEST_SKIP_PG=1`.
    pub fn skipped(self) -> bool {
        let skip = self == Backend::Postgres
            && std::env::var("COLLECTOR_TEST_SKIP_PG").is_ok_and(|v| v == "1");
        if skip {
            eprintln!("skipped: COLLECTOR_TEST_SKIP_PG=1 (the PostgreSQL variant did not run)");
        }
        skip
    }

    /// A new, empty database for one test: `dir/collector.db`, or a fresh PostgreSQL database.
    pub fn db(self, dir: &Path) -> Db {
        match self {
            Backend::Sqlite => Db::Sqlite(dir.join("collector.db")),
            Backend::Postgres => Db::Postgres(fresh_database()),
        }
    }
}

impl Db {
    /// The `--db` value.
    pub fn arg(&self) -> String {
        match self {
            Db::Sqlite(path) => path.to_str().unwrap().to_owned(),
            Db::Postgres(url) => url.clone(),
        }
    }

    /// The SQLite file; panics on PostgreSQL (for tests that only make sense on a file).
    pub fn path(&self) -> &Path {
        match self {
            Db::Sqlite(path) => path,
            Db::Postgres(url) => panic!("{url} is not a SQLite file"),
        }
    }

    /// Rows of a query, every column as text (NULL as an empty string). Plain SQL that both
    /// engines read the same way.
    pub fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match self {
            Db::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).unwrap();
                let mut stmt = conn.prepare(sql).unwrap();
                let n = stmt.column_count();
                stmt.query_map([], |r| {
                    Ok((0..n)
                        .map(|i| match r.get_ref(i).unwrap() {
                            rusqlite::types::ValueRef::Null => String::new(),
                            rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                            rusqlite::types::ValueRef::Real(v) => v.to_string(),
                            rusqlite::types::ValueRef::Text(t)
                            | rusqlite::types::ValueRef::Blob(t) => {
                                String::from_utf8_lossy(t).into_owned()
                            }
                        })
                        .collect())
                })
                .unwrap()
                .map(Result::unwrap)
                .collect()
            }
            Db::Postgres(url) => psql(url, sql)
                .lines()
                .map(|l| l.split('\u{1f}').map(str::to_owned).collect())
                .collect(),
        }
    }

    /// One integer (`SELECT count(*) …`).
    pub fn count(&self, sql: &str) -> u64 {
        let rows = self.rows(sql);
        rows[0][0].parse().unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Everything the database holds, as text: for SQLite the bytes of the file and its WAL, for
    /// PostgreSQL every row of every table of the schema (to look for what must not be stored).
    pub fn dump(&self) -> String {
        match self {
            Db::Sqlite(path) => {
                let mut raw = Vec::new();
                for suffix in ["", "-wal"] {
                    let mut name = path.clone().into_os_string();
                    name.push(suffix);
                    raw.extend(std::fs::read(name).unwrap_or_default());
                }
                String::from_utf8_lossy(&raw).into_owned()
            }
            Db::Postgres(url) => {
                let tables = psql(
                    url,
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
                );
                tables
                    .lines()
                    .map(|t| psql(url, &format!("SELECT t::text FROM \"{t}\" t")))
                    .collect()
            }
        }
    }

    /// The event IDs in `events`.
    pub fn stored_ids(&self) -> HashSet<String> {
        self.rows("SELECT event_id FROM events")
            .into_iter()
            .map(|mut r| r.swap_remove(0))
            .collect()
    }
}

/// The PostgreSQL client binary: the server's own (Debian's /usr/bin/psql is a wrapper script).
fn psql_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/psql"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| PathBuf::from("psql"))
}

/// Run `sql` with psql against `url`: unaligned rows, fields separated by U+001F; panics with
/// psql's message on an error.
pub fn psql(url: &str, sql: &str) -> String {
    try_psql(url, sql).unwrap_or_else(|e| panic!("psql {sql}: {e}"))
}

/// [`psql`], the error message as `Err`.
pub fn try_psql(url: &str, sql: &str) -> Result<String, String> {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let out = Command::new(BIN.get_or_init(psql_bin))
        .args([
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-F",
            "\u{1f}",
        ])
        .args(["-d", url, "-c", sql])
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

pub const PG_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh");

/// Server settings of every private test server: the data is thrown away, so no fsync; room for
/// the tests' pools.
pub const TEST_SETTINGS: &[&str] = &["-c", "fsync=off", "-c", "max_connections=300"];

/// A private server in `dir` (created on first use, same port after a stop): its URL.
pub fn pg_start(dir: &Path) -> Result<String, String> {
    let out = Command::new("bash")
        .arg(PG_SH)
        .arg("start")
        .arg(dir)
        .args(TEST_SETTINGS)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {PG_SH}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{PG_SH} start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Stop the server in `dir` (`fast`: it finishes and flushes; `immediate`: it just stops).
pub fn pg_stop(dir: &Path, mode: &str) {
    let status = Command::new("bash")
        .arg(PG_SH)
        .arg("stop")
        .arg(dir)
        .arg(mode)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "{PG_SH} stop {mode} failed");
}

/// Stop and remove the server in `dir` once this process has exited: a detached shell (started
/// in the background by one we wait for) that polls our pid, so a panic, an abort or a SIGKILL of
/// the test binary cleans up as well.
pub fn remove_at_exit(dir: &Path) {
    let script = r#"(
trap '' INT TERM HUP
while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
bash "$2" stop "$3" immediate
rm -rf "$3"
) </dev/null >/dev/null 2>&1 &"#;
    let status = Command::new("sh")
        .args(["-c", script, "pg-cleanup"])
        .arg(std::process::id().to_string())
        .arg(PG_SH)
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// The URL of this binary's server (its `postgres` database), started on first use.
pub fn server_url() -> &'static str {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("COLLECTOR_TEST_PG_URL") {
            drop_stale_databases(&url);
            return Ok(url);
        }
        let dir = std::env::temp_dir().join(format!("collector-pg-{}", std::process::id()));
        remove_at_exit(&dir);
        pg_start(&dir)
    });
    match server {
        Ok(url) => url,
        Err(why) => panic!(
            "no PostgreSQL server for the PostgreSQL variant of this test: {why}\n\
             (scripts/setup.sh installs it; COLLECTOR_TEST_SKIP_PG=1 skips these tests)"
        ),
    }
}

/// Databases of test binaries that have exited, on a shared server.
fn drop_stale_databases(url: &str) {
    let names = psql(
        url,
        "SELECT datname FROM pg_database WHERE datname LIKE 't\\_%\\_%'",
    );
    for name in names.lines() {
        let pid = name.split('_').nth(1).unwrap_or("");
        if !pid.is_empty() && !Path::new(&format!("/proc/{pid}")).exists() {
            psql(url, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// A new database on this binary's server: its URL.
pub fn fresh_database() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let url = server_url();
    let name = format!(
        "t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    psql(url, &format!("CREATE DATABASE {name}"));
    with_database(url, &name)
}

/// For each `async fn name(backend: Backend)` listed, a test `sqlite::name` and a test
/// `postgres::name` running the same body (on a 2-thread runtime). Attributes before a name
/// (`#[ignore = "…"]`) go on both.
#[allow(unused_macros)]
macro_rules! backend_tests {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                $(#[$attr])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                $(#[$attr])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if crate::common::Backend::Postgres.skipped() {
                        return;
                    }
                    super::$name(crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use backend_tests;
