//! Report benchmark: `nice -n 19 cargo run --release -p collector --example reports_bench
//! [-- --dir /tmp/reports-bench --small 100000 --large 1000000 --runs 5]`.
//!
//! Seeds two databases with the seed generator (30 days of synthetic shop traffic; kept in
//! `--dir` and reused by the next run when their event count matches), then times every report
//! and audience over the whole range on each: *cold* is the first call on a freshly opened store
//! (SQLite's page cache empty; the OS file cache may still hold the file), *warm* the median of
//! `--runs` calls after it. The two sizes side by side show how the cost grows.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use collector::config::SyncMode;
use collector::ports::{ReportSource, Scan};
use collector::reports::{self, Audience, AudienceParams, DayRange};
use collector::store::sqlite::SqliteStore;

const PIXEL: &str = "1234567890";
/// Fixed, so reruns reuse the same databases.
const END: &str = "2026-11-30";
const DAYS: i64 = 30;

struct Args {
    dir: PathBuf,
    small: u64,
    large: u64,
    runs: usize,
    /// `--only a,b`: time only these reports (names as printed).
    only: Option<Vec<String>>,
}

fn args() -> Args {
    let mut a = Args {
        dir: std::env::temp_dir().join("collector-reports-bench"),
        small: 100_000,
        large: 1_000_000,
        runs: 5,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => a.dir = PathBuf::from(v),
            "--small" => a.small = v.parse().unwrap(),
            "--large" => a.large = v.parse().unwrap(),
            "--runs" => a.runs = v.parse().unwrap(),
            "--only" => a.only = Some(v.split(',').map(str::to_owned).collect()),
            _ => panic!("unknown flag {flag}"),
        }
    }
    a
}

/// The events in `range` that carry the derived report columns (a file seeded before migration 3
/// has none, and is seeded again).
fn count(store: &SqliteStore, range: DayRange) -> u64 {
    let mut n = 0u64;
    store
        .scan(
            &Scan {
                pixel_id: PIXEL,
                from_secs: range.from_secs(),
                to_secs: range.to_secs(),
                names: None,
                columns: Default::default(),
            },
            &mut |row| n += u64::from(row.derived.is_some()),
        )
        .unwrap();
    n
}

fn database(dir: &Path, events: u64, range: DayRange) -> PathBuf {
    let path = dir.join(format!("bench-{events}.db"));
    if path.exists() {
        let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
        if count(&store, range) == events {
            println!("reusing {} ({events} events)", path.display());
            return path;
        }
        drop(store);
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
        }
    }
    let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
    let start = Instant::now();
    let opts = collector::seed::Options {
        pixel: PIXEL.into(),
        events,
        days: DAYS,
        end_day: range.to_day,
        seed: 7,
        relay: true,
    };
    let mut last = Instant::now();
    let summary = collector::seed::seed(&store, &opts, &mut |n| {
        if last.elapsed() > Duration::from_secs(5) {
            eprintln!("  seeding {}: {n}/{events}", path.display());
            last = Instant::now();
        }
    })
    .unwrap();
    println!(
        "seeded {} with {} events in {:.1} s",
        path.display(),
        summary.stored,
        start.elapsed().as_secs_f64()
    );
    path
}

type Job = (&'static str, fn(&SqliteStore, DayRange));

fn jobs(only: &Option<Vec<String>>) -> Vec<Job> {
    let all: Vec<Job> = vec![
        ("funnel", |s, r| {
            reports::funnel(s, PIXEL, r).unwrap();
        }),
        ("timeline", |s, r| {
            reports::timeline(s, PIXEL, r).unwrap();
        }),
        ("match-quality", |s, r| {
            reports::match_quality(s, PIXEL, r).unwrap();
        }),
        ("relay", |s, r| {
            reports::relay(s, PIXEL, r).unwrap();
        }),
        ("attribution", |s, r| {
            reports::attribution(s, PIXEL, r, 7).unwrap();
        }),
        ("aem", |s, r| {
            let p = reports::AemParams {
                priority: reports::FUNNEL
                    .iter()
                    .rev()
                    .map(|n| (*n).to_owned())
                    .collect(),
            };
            reports::aem(s, PIXEL, r, &p).unwrap();
        }),
        ("purchasers.csv", |s, r| {
            audience(s, r, Audience::Purchasers);
        }),
        ("cart_abandoners.csv", |s, r| {
            audience(s, r, Audience::CartAbandoners);
        }),
        ("viewers.csv", |s, r| {
            audience(s, r, Audience::Viewers);
        }),
    ];
    all.into_iter()
        .filter(|(name, _)| only.as_ref().is_none_or(|o| o.iter().any(|n| n == name)))
        .collect()
}

fn audience(s: &SqliteStore, r: DayRange, which: Audience) {
    let p = AudienceParams {
        window_days: 7,
        currency: None,
    };
    reports::audience(s, PIXEL, r, which, &p).unwrap();
}

/// Time this thread has spent on a CPU (Linux: /proc/thread-self/schedstat, nanoseconds), so the
/// figures can be read apart from what other jobs on the machine take.
fn cpu_now() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or(Duration::ZERO, Duration::from_nanos)
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// (cold, warm median, warm CPU time median) for each job.
fn measure(path: &Path, range: DayRange, a: &Args) -> Vec<(Duration, Duration, Duration)> {
    let runs = a.runs;
    jobs(&a.only)
        .into_iter()
        .map(|(_, job)| {
            let store = SqliteStore::open(path, SyncMode::Normal).unwrap();
            let t = Instant::now();
            job(&store, range);
            let cold = t.elapsed();
            let mut warm: Vec<(Duration, Duration)> = (0..runs)
                .map(|_| {
                    let (t, c) = (Instant::now(), cpu_now());
                    job(&store, range);
                    (t.elapsed(), cpu_now() - c)
                })
                .collect();
            warm.sort();
            let mut cpu: Vec<Duration> = warm.iter().map(|w| w.1).collect();
            cpu.sort();
            (cold, warm[warm.len() / 2].0, cpu[cpu.len() / 2])
        })
        .collect()
}

fn main() {
    let a = args();
    std::fs::create_dir_all(&a.dir).unwrap();
    let to_day = reports::parse_date(END).unwrap();
    let range = DayRange {
        from_day: to_day - DAYS + 1,
        to_day,
    };
    let small = database(&a.dir, a.small, range);
    let large = database(&a.dir, a.large, range);
    let s = measure(&small, range, &a);
    let l = measure(&large, range, &a);
    println!(
        "\nreports over {DAYS} days ({} to {END}); cold = first call on a fresh store, warm = median of {}",
        reports::format_day(range.from_day),
        a.runs
    );
    println!(
        "{:<20} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>6}",
        "report",
        format!("{}k cold", a.small / 1000),
        format!("{}k warm", a.small / 1000),
        "(cpu)",
        format!("{}k cold", a.large / 1000),
        format!("{}k warm", a.large / 1000),
        "(cpu)",
        "ratio"
    );
    for (((name, _), (sc, sw, scpu)), (lc, lw, lcpu)) in jobs(&a.only).iter().zip(&s).zip(&l) {
        println!(
            "{:<20} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9} {:>5.1}x",
            name,
            ms(*sc),
            ms(*sw),
            ms(*scpu),
            ms(*lc),
            ms(*lw),
            ms(*lcpu),
            lw.as_secs_f64() / sw.as_secs_f64().max(1e-9)
        );
    }
    println!(
        "(cpu): CPU time of the warm median, the figure to read when other jobs share the machine"
    );
}
