//! Durable beacons/s and latency on SQLite and on PostgreSQL with one and two replicas, in one run:
//!
//! ```sh
//! cargo build --release -p collector
//! nice -n 19 cargo run --release -p collector --example pgbench [-- --seconds 5 --connections 64]
//! ```
//!
//! Every configuration is the real `collector` binary (target/release/collector), started on a
//! free loopback port with relaying off, and driven by the same one-thread client as `loadgen`
//! (3 of 4 beacons an image GET PageView, 1 of 4 a form POST Purchase; a 2xx only after the
//! commit). PostgreSQL is a private server started through `scripts/pg.sh`, `fsync` on, once with
//! `synchronous_commit = on` (its default: each group commit waits for its WAL flush, like
//! SQLite's `--sync full`) and once `off` (the commit returns once the WAL is in the server's
//! buffers, about what SQLite's default `--sync normal` risks). Two replicas are two processes
//! on one database, the client's connections split between them as a round-robin load balancer
//! would. Printed side by side: beacons/s, p50/p99, the ratio to SQLite, and the CPU time per
//! beacon of the collectors and of PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/load.rs"]
mod load;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use load::{drive, stat_numbers, Figures, Load, PIXEL};

const PG_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg.sh");

struct Args {
    seconds: u64,
    connections: usize,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        connections: 64,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let v = pair.get(1).map(String::as_str).unwrap_or("");
        match pair[0].as_str() {
            "--seconds" => a.seconds = v.parse().expect("--seconds N"),
            "--connections" => a.connections = v.parse().expect("--connections N"),
            k => panic!("unknown argument {k}"),
        }
    }
    a
}

/// target/release/collector, beside this example's directory.
fn collector_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("collector");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --release -p collector` first",
        bin.display()
    );
    bin
}

/// One collector process.
struct Replica {
    child: Child,
    addr: SocketAddr,
}

impl Replica {
    fn start(bin: &Path, db: &str, extra: &[&str], log: &Path) -> Replica {
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
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// User + system CPU of a process, in clock ticks.
fn ticks_of(pid: u32) -> u64 {
    let f = stat_numbers(&pid.to_string());
    f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)
}

/// CPU ticks of the PostgreSQL server: the postmaster and every process it forked (backends,
/// WAL writer, checkpointer), the exited ones' included through the postmaster's children times.
fn pg_ticks(pg_dir: &Path) -> u64 {
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

struct Run {
    name: String,
    figures: Figures,
    /// CPU per beacon, microseconds: the collectors, PostgreSQL.
    collector_us: f64,
    pg_us: Option<f64>,
}

fn measure(
    name: &str,
    replicas: &[Replica],
    pg_dir: Option<&Path>,
    a: &Args,
    rt: &tokio::runtime::Runtime,
) -> Run {
    let addrs: Vec<SocketAddr> = replicas.iter().map(|r| r.addr).collect();
    rt.block_on(drive(&addrs, Load::Beacons, a.connections, 1)); // warm-up
    let before: u64 = replicas.iter().map(|r| ticks_of(r.child.id())).sum();
    let pg_before = pg_dir.map(pg_ticks);
    let figures = rt.block_on(drive(&addrs, Load::Beacons, a.connections, a.seconds));
    let after: u64 = replicas.iter().map(|r| ticks_of(r.child.id())).sum();
    let per_beacon = |ticks: u64| ticks as f64 * 1e4 / figures.requests.max(1) as f64;
    Run {
        name: name.to_owned(),
        collector_us: per_beacon(after - before),
        pg_us: pg_dir.map(|d| per_beacon(pg_ticks(d) - pg_before.unwrap_or(0))),
        figures,
    }
}

/// Stops the private server however `main` ends (a panic included), before its directory goes.
struct Server(PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(PG_SH)
            .arg("stop")
            .arg(&self.0)
            .arg("immediate")
            .status();
    }
}

fn psql(url: &str, sql: &str) {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/psql"))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("psql"));
    let status = Command::new(bin)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .status()
        .unwrap();
    assert!(status.success(), "psql {sql}");
}

/// Start (or restart with other settings) the private server in `dir`: its URL.
fn pg_start(dir: &Path, settings: &[&str]) -> String {
    let out = Command::new("bash")
        .arg(PG_SH)
        .arg("start")
        .arg(dir)
        .args(settings)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/pg.sh start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn main() {
    let a = args();
    let bin = collector_bin();
    let dir = tempfile::tempdir().unwrap();
    let pg_dir = dir.path().join("pg");
    let url = pg_start(&pg_dir, &[]);
    let server = Server(pg_dir.clone());
    let base = url.trim_end_matches("/postgres").to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "pgbench: {} keep-alive connections, {} s per run, loopback, client on 1 thread; \
         collector processes with relaying off; PostgreSQL {} (fsync on)",
        a.connections,
        a.seconds,
        String::from_utf8_lossy(
            &Command::new("bash")
                .args(["-c", "ls /usr/lib/postgresql | sort -V | tail -n 1"])
                .output()
                .unwrap()
                .stdout
        )
        .trim()
    );
    let log = |n: &str| dir.path().join(format!("{n}.log"));
    let mut runs = Vec::new();
    for sync in ["normal", "full"] {
        let db = dir.path().join(format!("bench-{sync}.db"));
        let r = Replica::start(&bin, db.to_str().unwrap(), &["--sync", sync], &log(sync));
        runs.push(measure(
            &format!("SQLite --sync {sync}"),
            &[r],
            None,
            &a,
            &rt,
        ));
    }
    // synchronous_commit on (PostgreSQL's default): COMMIT waits for the WAL's fsync, as SQLite's
    // --sync full; off: it returns once the WAL is in the server's buffers, flushed within
    // 3 × wal_writer_delay (0.6 s), about what SQLite's --sync normal risks.
    for commit in ["on", "off"] {
        let setting = format!("synchronous_commit={commit}");
        let _ = Command::new("bash")
            .arg(PG_SH)
            .arg("stop")
            .arg(&pg_dir)
            .status();
        pg_start(&pg_dir, &["-c", &setting]);
        for n in [1, 2] {
            let name = format!("bench_{commit}_{n}");
            psql(&url, &format!("CREATE DATABASE {name}"));
            let replicas: Vec<Replica> = (0..n)
                .map(|i| {
                    Replica::start(
                        &bin,
                        &format!("{base}/{name}"),
                        &[],
                        &log(&format!("{name}_{i}")),
                    )
                })
                .collect();
            let label = format!(
                "PostgreSQL, {n} replica{}, {setting}",
                if n == 1 { "" } else { "s" }
            );
            runs.push(measure(&label, &replicas, Some(&pg_dir), &a, &rt));
        }
    }
    drop(server);

    let sqlite = runs[0].figures.per_sec;
    println!(
        "{:<48} {:>8} {:>8} {:>7} {:>7} {:>9} {:>12} {:>11}",
        "store", "beacons", "per sec", "p50 ms", "p99 ms", "vs SQLite", "collector", "postgres"
    );
    println!("{:>113}", "(CPU us per beacon)");
    for r in &runs {
        println!(
            "{:<48} {:>8} {:>8.0} {:>7.2} {:>7.2} {:>9.2} {:>12.1} {:>11}",
            r.name,
            r.figures.requests,
            r.figures.per_sec,
            r.figures.p50_ms,
            r.figures.p99_ms,
            r.figures.per_sec / sqlite,
            r.collector_us,
            r.pg_us
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
        );
    }
    let ratio = |i: usize, j: usize| runs[i].figures.per_sec / runs[j].figures.per_sec;
    println!(
        "PostgreSQL, one replica / SQLite --sync normal (the default): {:.2} with \
         synchronous_commit=on, {:.2} with off (target: at least 0.5); \
         like for like: on / --sync full {:.2}, off / --sync normal {:.2}",
        ratio(2, 0),
        ratio(4, 0),
        ratio(2, 1),
        ratio(4, 0)
    );
}
