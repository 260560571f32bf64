//! Durable beacons/s of several collector builds on one PostgreSQL replica, interleaved:
//!
//! ```sh
//! nice -n 19 cargo run --release -p collector --example pgbuilds -- \
//!     --build before=/work/wt-before/target/release/collector \
//!     --build main=target/release/collector \
//!     --build main-no-key=target/release/collector --drop main-no-key=events_key \
//!     [--rounds 3] [--seconds 5] [--connections 64] [-- -c NAME=VALUE …]
//! ```
//!
//! What a change to the store's schema or statements costs at ingest, measured the way `pgbench`
//! measures one PostgreSQL replica (the real binary, relaying off, `loadgen`'s client: 3 image
//! GET PageViews to 1 form POST Purchase, each answered after its commit), for each `--build
//! NAME=PATH` in turn on a fresh database, the builds interleaved round by round (A B A B …) so
//! the machine's drift falls on all of them alike. `--drop NAME=INDEX` drops that index once the
//! build has migrated its database (before the warm-up): what the index alone costs, the rest of
//! the build unchanged. The server is a private one started through `scripts/pg.sh`, `fsync` on
//! and `synchronous_commit` on (PostgreSQL's defaults; settings after `--` are added), with a
//! `CHECKPOINT` before each run. Printed: one row per run (beacons/s, p50/p99, CPU per beacon of
//! the collector and of PostgreSQL, the rate against the same round's first build), then the
//! medians.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/load.rs"]
mod load;
#[path = "support/replica.rs"]
mod replica;

use std::path::PathBuf;

use load::{drive, Figures, Load};
use replica::{pg_start, pg_ticks, pg_version, psql, Replica, Server};

struct Build {
    name: String,
    bin: PathBuf,
    /// An index dropped after the build's migrations.
    drop: Option<String>,
}

struct Args {
    builds: Vec<Build>,
    rounds: usize,
    seconds: u64,
    connections: usize,
    settings: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        builds: Vec::new(),
        rounds: 3,
        seconds: 5,
        connections: 64,
        settings: Vec::new(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(k) = argv.next() {
        if k == "--" {
            a.settings = argv.by_ref().collect();
            break;
        }
        let v = argv.next().unwrap_or_default();
        match k.as_str() {
            "--build" => {
                let (name, path) = v.split_once('=').expect("--build NAME=PATH");
                let bin = PathBuf::from(path);
                assert!(bin.exists(), "{} not found", bin.display());
                a.builds.push(Build {
                    name: name.to_owned(),
                    bin,
                    drop: None,
                });
            }
            "--drop" => {
                let (name, index) = v.split_once('=').expect("--drop NAME=INDEX");
                let b = a
                    .builds
                    .iter_mut()
                    .find(|b| b.name == name)
                    .expect("--drop names a --build given before it");
                b.drop = Some(index.to_owned());
            }
            "--rounds" => a.rounds = v.parse().expect("--rounds N"),
            "--seconds" => a.seconds = v.parse().expect("--seconds N"),
            "--connections" => a.connections = v.parse().expect("--connections N"),
            _ => panic!("unknown argument {k}"),
        }
    }
    assert!(!a.builds.is_empty(), "at least one --build NAME=PATH");
    a
}

struct Run {
    build: usize,
    round: usize,
    figures: Figures,
    collector_us: f64,
    pg_us: f64,
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let pg_dir = dir.path().join("pg");
    let settings: Vec<&str> = a.settings.iter().map(String::as_str).collect();
    let url = pg_start(&pg_dir, &settings);
    let server = Server(pg_dir.clone());
    let base = url.trim_end_matches("/postgres").to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "pgbuilds: one replica, {} keep-alive connections, {} s per run, {} interleaved rounds, \
         PostgreSQL {} (fsync on, synchronous_commit on{}{}), a fresh database per run",
        a.connections,
        a.seconds,
        a.rounds,
        pg_version(),
        if settings.is_empty() { "" } else { "; " },
        settings.join(" ")
    );
    for b in &a.builds {
        println!(
            "  {}: {}{}",
            b.name,
            b.bin.display(),
            b.drop
                .as_deref()
                .map_or_else(String::new, |i| format!(", index {i} dropped"))
        );
    }
    let mut runs = Vec::new();
    for round in 1..=a.rounds {
        for (i, b) in a.builds.iter().enumerate() {
            let db = format!("pgbuilds_{round}_{i}");
            psql(&url, &format!("CREATE DATABASE {db}"));
            let log = dir.path().join(format!("{db}.log"));
            let r = Replica::start(&b.bin, &format!("{base}/{db}"), &[], &log);
            if let Some(index) = &b.drop {
                psql(&format!("{base}/{db}"), &format!("DROP INDEX {index}"));
            }
            psql(&url, "CHECKPOINT");
            let addrs = [r.addr];
            rt.block_on(drive(&addrs, Load::Beacons, a.connections, 1)); // warm-up
            let (before, pg_before) = (r.ticks(), pg_ticks(&pg_dir));
            let figures = rt.block_on(drive(&addrs, Load::Beacons, a.connections, a.seconds));
            let (after, pg_after) = (r.ticks(), pg_ticks(&pg_dir));
            drop(r);
            psql(&url, &format!("DROP DATABASE {db}"));
            let per_beacon = |ticks: u64| ticks as f64 * 1e4 / figures.requests.max(1) as f64;
            eprintln!(
                "  round {round} {}: {:.0} beacons/s",
                b.name, figures.per_sec
            );
            runs.push(Run {
                build: i,
                round,
                collector_us: per_beacon(after - before),
                pg_us: per_beacon(pg_after - pg_before),
                figures,
            });
        }
    }
    drop(server);

    let first = |round: usize| {
        runs.iter()
            .find(|r| r.round == round && r.build == 0)
            .map_or(f64::NAN, |r| r.figures.per_sec)
    };
    println!(
        "{:<14} {:>5} {:>8} {:>9} {:>7} {:>7} {:>10} {:>10} {:>9}",
        "build",
        "round",
        "beacons",
        "per sec",
        "p50 ms",
        "p99 ms",
        "CPU coll.",
        "CPU pg",
        "vs first"
    );
    println!("{:>83}", "(us per beacon)");
    for r in &runs {
        println!(
            "{:<14} {:>5} {:>8} {:>9.0} {:>7.2} {:>7.2} {:>10.1} {:>10.1} {:>9.3}",
            a.builds[r.build].name,
            r.round,
            r.figures.requests,
            r.figures.per_sec,
            r.figures.p50_ms,
            r.figures.p99_ms,
            r.collector_us,
            r.pg_us,
            r.figures.per_sec / first(r.round)
        );
    }
    println!("medians over the rounds:");
    for (i, b) in a.builds.iter().enumerate() {
        let pick = |f: &dyn Fn(&Run) -> f64| {
            let mut v: Vec<f64> = runs.iter().filter(|r| r.build == i).map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "{:<14} {:>5} {:>8.0} {:>9.0} {:>7.2} {:>7.2} {:>10.1} {:>10.1} {:>9.3}",
            b.name,
            "med",
            pick(&|r| r.figures.requests as f64),
            pick(&|r| r.figures.per_sec),
            pick(&|r| r.figures.p50_ms),
            pick(&|r| r.figures.p99_ms),
            pick(&|r| r.collector_us),
            pick(&|r| r.pg_us),
            pick(&|r| r.figures.per_sec / first(r.round))
        );
    }
}
