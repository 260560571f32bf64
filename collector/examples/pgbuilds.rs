//! Durable beacons/s of several collector builds on one PostgreSQL replica, interleaved:
//!
//! ```sh
//! nice -n 19 cargo run --release -p collector --example pgbuilds -- \
//!     --build before=/work/wt-before/target/release/collector \
//!     --build main=target/release/collector \
//!     --build main-no-key=target/release/collector --drop main-no-key=events_key \
//!     [--rounds 3] [--seconds 5] [--connections 64] [--keep-warm-up] [-- -c NAME=VALUE …]
//! ```
//!
//! What a change to the store's schema or statements costs at ingest, measured the way `pgbench`
//! measures one PostgreSQL replica (the real binary, relaying off, `loadgen`'s client: 3 image
//! GET PageViews to 1 form POST Purchase, each answered after its commit), for each `--build
//! NAME=PATH` in turn on a fresh database, the builds interleaved round by round (A B A B …) so
//! the machine's drift falls on all of them alike. `--drop NAME=INDEX` drops that index once the
//! build has migrated its database (before the warm-up): what the index alone costs, the rest of
//! the build unchanged. Every timed beacon is a new event: `drive` numbers a run's event IDs from
//! 0, so after the 1 s warm-up the tables are emptied (`TRUNCATE`), where `pgbench` keeps them
//! and its timed run starts with about a second of repeats (`--keep-warm-up` does that here). The server is a private one started through `scripts/pg.sh`, `fsync` on
//! and `synchronous_commit` on (PostgreSQL's defaults; settings after `--` are added), with a
//! `CHECKPOINT` before each run. Printed: one row per run (beacons/s, p50/p99, CPU per beacon of
//! the collector and of PostgreSQL, WAL written and index size per beacon — these two do not move
//! with the machine's load —, the rate against the same round's first build), then the medians.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;

use support::flags;
use support::load::{drive, Figures, Load};
use support::replica::{pg_start, pg_ticks, pg_version, psql, psql_value, Replica, Server};

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
    /// Keep the warm-up's events: the timed run then repeats their event IDs at first.
    keep_warm_up: bool,
}

fn args() -> Args {
    let mut a = Args {
        builds: Vec::new(),
        rounds: 3,
        seconds: 5,
        connections: 64,
        settings: Vec::new(),
        keep_warm_up: false,
    };
    let (pairs, settings) = flags::pairs_then_rest(&["--keep-warm-up"]);
    a.settings = settings.unwrap_or_default();
    for (k, v) in pairs {
        match k.as_str() {
            "--keep-warm-up" => a.keep_warm_up = true,
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
            "--rounds" => a.rounds = flags::number(&k, &v),
            "--seconds" => a.seconds = flags::number(&k, &v),
            "--connections" => a.connections = flags::number(&k, &v),
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
    /// WAL written during the timed run, bytes per beacon (full-page images after the
    /// `CHECKPOINT` included).
    wal_bytes: f64,
    /// Size of the indexes on `events` and `dedup_keys` after the run, bytes per timed beacon.
    index_bytes: f64,
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
         PostgreSQL {} (fsync on, synchronous_commit on{}{}), a fresh database per run, {}",
        a.connections,
        a.seconds,
        a.rounds,
        pg_version(),
        if settings.is_empty() { "" } else { "; " },
        settings.join(" "),
        if a.keep_warm_up {
            "the warm-up's events kept (the timed run repeats them at first)"
        } else {
            "emptied after the warm-up (every timed beacon a new event)"
        }
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
            let addrs = [r.addr];
            rt.block_on(drive(&addrs, Load::Beacons, a.connections, 1)); // warm-up
            if !a.keep_warm_up {
                // `drive` numbers its events from 0 again: emptied, the timed run's are new.
                psql(
                    &format!("{base}/{db}"),
                    "TRUNCATE events, dedup_keys, duplicates_per_day, pixel_stats",
                );
            }
            psql(&url, "CHECKPOINT");
            let lsn = psql_value(&url, "SELECT pg_current_wal_lsn()");
            let (before, pg_before) = (r.ticks(), pg_ticks(&pg_dir));
            let figures = rt.block_on(drive(&addrs, Load::Beacons, a.connections, a.seconds));
            let (after, pg_after) = (r.ticks(), pg_ticks(&pg_dir));
            drop(r);
            let wal: f64 = psql_value(
                &url,
                &format!("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn}')"),
            )
            .parse()
            .unwrap();
            let indexes: f64 = psql_value(
                &format!("{base}/{db}"),
                "SELECT pg_indexes_size('events') + pg_indexes_size('dedup_keys')",
            )
            .parse()
            .unwrap();
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
                wal_bytes: wal / figures.requests.max(1) as f64,
                index_bytes: indexes / figures.requests.max(1) as f64,
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
        "{:<14} {:>5} {:>8} {:>9} {:>7} {:>7} {:>10} {:>10} {:>9} {:>9} {:>9}",
        "build",
        "round",
        "beacons",
        "per sec",
        "p50 ms",
        "p99 ms",
        "CPU coll.",
        "CPU pg",
        "WAL",
        "indexes",
        "vs first"
    );
    println!("{:>83} {:>19}", "(us per beacon)", "(bytes per beacon)");
    for r in &runs {
        println!(
            "{:<14} {:>5} {:>8} {:>9.0} {:>7.2} {:>7.2} {:>10.1} {:>10.1} {:>9.0} {:>9.0} {:>9.3}",
            a.builds[r.build].name,
            r.round,
            r.figures.requests,
            r.figures.per_sec,
            r.figures.p50_ms,
            r.figures.p99_ms,
            r.collector_us,
            r.pg_us,
            r.wal_bytes,
            r.index_bytes,
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
            "{:<14} {:>5} {:>8.0} {:>9.0} {:>7.2} {:>7.2} {:>10.1} {:>10.1} {:>9.0} {:>9.0} {:>9.3}",
            b.name,
            "med",
            pick(&|r| r.figures.requests as f64),
            pick(&|r| r.figures.per_sec),
            pick(&|r| r.figures.p50_ms),
            pick(&|r| r.figures.p99_ms),
            pick(&|r| r.collector_us),
            pick(&|r| r.pg_us),
            pick(&|r| r.wal_bytes),
            pick(&|r| r.index_bytes),
            pick(&|r| r.figures.per_sec / first(r.round))
        );
    }
}
