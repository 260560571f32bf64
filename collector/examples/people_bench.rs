//! The per-person reports from the per-person state against the rescan of the events they
//! replace, in one run on one seeded SQLite file:
//! `cargo run --release -p collector --example people_bench -- DB END_DATE DAYS [RUNS]`
//! (seed it first: `cargo run --release -p collector --bin seed -- --db DB --events 1000000
//! --days 90 --end END_DATE`). Prints, per report and range, the first call after opening the
//! store (cold: SQLite's cache empty, the OS's may hold the file) and the median of RUNS more
//! (warm), for the state (`people`) and for the scan (`scan`, what `main` does).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use collector::config::SyncMode;
use collector::ports::{ReportSource, Row, Scan, StoreError};
use collector::reports::{aem, attribution, parse_date, AemParams, DayRange};
use collector::store::sqlite::SqliteStore;

const PIXEL: &str = "1234567890";

struct ScanOnly<'a>(&'a SqliteStore);

impl ReportSource for ScanOnly<'_> {
    fn scan(&self, s: &Scan<'_>, f: &mut dyn FnMut(&Row<'_>)) -> Result<(), StoreError> {
        self.0.scan(s, f)
    }
    fn duplicates(&self, p: &str, from: i64, to: i64) -> Result<u64, StoreError> {
        self.0.duplicates(p, from, to)
    }
    fn rollup(
        &self,
        p: &str,
        from: i64,
        to: i64,
    ) -> Result<collector::ports::rollup::Rollup, StoreError> {
        collector::ports::rollup::from_scan(self, p, from, to)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let db = std::path::PathBuf::from(&args[1]);
    let end = parse_date(&args[2]).expect("END_DATE as YYYY-MM-DD");
    let days: i64 = args[3].parse().expect("DAYS");
    let runs: usize = args.get(4).map_or(5, |r| r.parse().expect("RUNS"));
    let ranges = [
        (
            "30 days",
            DayRange {
                from_day: end - 29,
                to_day: end,
            },
        ),
        (
            "all",
            DayRange {
                from_day: end - days + 1,
                to_day: end,
            },
        ),
    ];
    let priority = AemParams {
        priority: [
            "Purchase",
            "InitiateCheckout",
            "AddToCart",
            "ViewContent",
            "PageView",
        ]
        .map(str::to_owned)
        .to_vec(),
    };
    println!(
        "{:<12} {:<8} {:<7} {:>9} {:>9}",
        "report", "range", "path", "cold ms", "warm ms"
    );
    for path in ["people", "scan"] {
        for (label, range) in ranges {
            for report in ["attribution", "aem"] {
                // A fresh store per measurement: its first call is cold.
                let store = SqliteStore::open(&db, SyncMode::Normal).unwrap();
                let scan = ScanOnly(&store);
                let src: &dyn ReportSource = if path == "people" { &store } else { &scan };
                let call = || {
                    let t = Instant::now();
                    let v = match report {
                        "attribution" => attribution(src, PIXEL, range, 7).unwrap(),
                        _ => aem(src, PIXEL, range, &priority).unwrap(),
                    };
                    std::hint::black_box(v);
                    t.elapsed().as_secs_f64() * 1000.0
                };
                let cold = call();
                let mut warm: Vec<f64> = (0..runs).map(|_| call()).collect();
                warm.sort_by(f64::total_cmp);
                println!(
                    "{report:<12} {label:<8} {path:<7} {cold:>9.1} {:>9.1}",
                    warm[warm.len() / 2]
                );
            }
        }
    }
}
