//! Real collector processes and a private PostgreSQL server for the benchmarks that drive the
//! binary (`pgbench`, `pgbuilds`): start a `collector` on a free loopback port and wait for its
//! address, start and stop a server through `scripts/pg.sh`, run SQL with `psql`, and read the
//! CPU time of both.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::load::{stat_numbers, PIXEL};

pub const PG_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh");

/// One collector process, killed when dropped.
pub struct Replica {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Replica {
    /// `bin --listen 127.0.0.1:0 --db DB --pixel PIXEL` (no token: relaying off) plus `extra`,
    /// its log in `log`; returns once it listens.
    pub fn start(bin: &Path, db: &str, extra: &[&str], log: &Path) -> Replica {
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(bin)
            .args(["--listen", "127.0.0.1:0", "--db", db, "--pixel", PIXEL])
            .args(["--log", "info", "--dist", "/nonexistent"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        let mut r = Replica {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if let Some(addr) = text.lines().find_map(|l| {
                let rest = l.split("collector listening listen=").nth(1)?;
                rest.split_whitespace().next()?.parse().ok()
            }) {
                r.addr = addr;
                return r;
            }
            if let Some(status) = r.child.try_wait().unwrap() {
                panic!("collector exited with {status}: {text}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no start: {text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// User + system CPU of the process, in clock ticks.
    pub fn ticks(&self) -> u64 {
        let f = stat_numbers(&self.child.id().to_string());
        f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU ticks of the PostgreSQL server in `pg_dir`: the postmaster and every process it forked
/// (backends, WAL writer, checkpointer), the exited ones' included through the postmaster's
/// children times.
pub fn pg_ticks(pg_dir: &Path) -> u64 {
    let pid_file = std::fs::read_to_string(pg_dir.join("data/postmaster.pid")).unwrap_or_default();
    let Some(postmaster) = pid_file
        .lines()
        .next()
        .and_then(|l| l.trim().parse::<u64>().ok())
    else {
        return 0;
    };
    let f = stat_numbers(&postmaster.to_string());
    let mut total = f.iter().skip(10).take(4).sum::<u64>();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let f = stat_numbers(pid);
        if f.first() == Some(&postmaster) {
            total += f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0);
        }
    }
    total
}

/// Stops the private server however `main` ends (a panic included), before its directory goes.
pub struct Server(pub PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = pg_sh("stop", &self.0).arg("immediate").status();
    }
}

/// `bash scripts/pg.sh ACTION DIR`, to add arguments to and run.
fn pg_sh(action: &str, dir: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg(PG_SH).arg(action).arg(dir);
    c
}

/// Run `cmd`: its standard output, trimmed; panics with `what` and its standard error when it
/// fails.
fn output(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn psql_bin() -> PathBuf {
    std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/psql"))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("psql"))
}

/// `psql -c SQL` on `url`; panics when it fails.
pub fn psql(url: &str, sql: &str) {
    let status = Command::new(psql_bin())
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .status()
        .unwrap();
    assert!(status.success(), "psql {sql}");
}

/// The one value `sql` selects on `url`, as text.
pub fn psql_value(url: &str, sql: &str) -> String {
    output(
        Command::new(psql_bin())
            .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
            .args(["-d", url, "-c", sql]),
        &format!("psql {sql}"),
    )
}

/// Start (or restart with other settings) the private server in `dir`: its URL.
pub fn pg_start(dir: &Path, settings: &[&str]) -> String {
    output(pg_sh("start", dir).args(settings), "scripts/pg.sh start")
}

/// Stop the private server in `dir` the default way (`fast`: it flushes and exits).
pub fn pg_stop(dir: &Path) {
    let _ = pg_sh("stop", dir).status();
}

/// The newest PostgreSQL installed, as `ls /usr/lib/postgresql` names it.
pub fn pg_version() -> String {
    let mut v: Vec<String> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    v.sort_by_key(|n| n.parse::<u32>().unwrap_or(0));
    v.pop().unwrap_or_default()
}
