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

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use support::flags;
use support::load::{drive, Figures, Load};
use support::replica::{pg_start, pg_stop, pg_ticks, pg_version, psql, Replica, Server};

struct Args {
    seconds: u64,
    connections: usize,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        connections: 64,
    };
    for (k, v) in flags::pairs(&[]) {
        match k.as_str() {
            "--seconds" => a.seconds = flags::number(&k, &v),
            "--connections" => a.connections = flags::number(&k, &v),
            _ => panic!("unknown argument {k}"),
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
    let before: u64 = replicas.iter().map(Replica::ticks).sum();
    let pg_before = pg_dir.map(pg_ticks);
    let figures = rt.block_on(drive(&addrs, Load::Beacons, a.connections, a.seconds));
    let after: u64 = replicas.iter().map(Replica::ticks).sum();
    let per_beacon = |ticks: u64| ticks as f64 * 1e4 / figures.requests.max(1) as f64;
    Run {
        name: name.to_owned(),
        collector_us: per_beacon(after - before),
        pg_us: pg_dir.map(|d| per_beacon(pg_ticks(d) - pg_before.unwrap_or(0))),
        figures,
    }
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
        pg_version()
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
        pg_stop(&pg_dir);
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
