//! Report benchmark through HTTP, the way the dashboard asks: `cargo run --release -p collector
//! --example reports_http_bench -- --collector target/release/collector --db FILE_OR_URL
//! [--end 2026-11-30 --days 90 --runs 5 --label after]`.
//!
//! Starts the given `collector` binary on the database (so the same harness times the binary of
//! another commit: the "before" and "after" of a change), asks each count-like report with the
//! admin token over the last 30 days and over the whole range (`--days` ending on `--end`):
//! *cold* is the first request after the collector (re)started, *warm* the median of `--runs`
//! requests after it. One restart per report and range. Prints one line per report and range.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "reports-bench-admin-token-0123456789";
const PIXEL: &str = "1234567890";

struct Args {
    collector: String,
    db: String,
    end: String,
    days: i64,
    runs: usize,
    label: String,
    reports: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        collector: "target/release/collector".into(),
        db: String::new(),
        end: "2026-11-30".into(),
        days: 90,
        runs: 5,
        label: "run".into(),
        reports: ["funnel", "timeline", "match-quality", "relay", "summary"]
            .map(str::to_owned)
            .to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--collector" => a.collector = v,
            "--db" => a.db = v,
            "--end" => a.end = v,
            "--days" => a.days = v.parse().unwrap(),
            "--runs" => a.runs = v.parse().unwrap(),
            "--label" => a.label = v,
            "--reports" => a.reports = v.split(',').map(str::to_owned).collect(),
            _ => panic!("unknown flag {flag}"),
        }
    }
    assert!(!a.db.is_empty(), "--db is required");
    a
}

/// `GET path` with the admin token: the status and the time to the last byte.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, Duration)> {
    let t = Instant::now();
    let mut s = TcpStream::connect(addr)?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    let status = std::str::from_utf8(body.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, t.elapsed()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(a: &Args) -> (Child, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new(&a.collector)
        .args([
            "--db",
            &a.db,
            "--listen",
            &addr.to_string(),
            "--pixel",
            PIXEL,
            "--admin-token",
            TOKEN,
            "--log",
            "warn",
            // The seed's events are in the past: the default retention would delete them.
            "--retention-days",
            "0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while get(addr, "/healthz").map(|r| r.0).ok() != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "never healthy"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, addr)
}

fn day(date: &str) -> i64 {
    collector::reports::parse_date(date).unwrap()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn main() {
    let a = args();
    let end = day(&a.end);
    let ranges = [("30 days", end - 29), ("all", end - a.days + 1)];
    println!(
        "{:<10} {:<14} {:<8} {:>9} {:>9}",
        a.label, "report", "range", "cold ms", "warm ms"
    );
    for report in &a.reports {
        for (range, from) in ranges {
            let path = format!(
                "/api/reports/{report}?pixel={PIXEL}&from={}&to={}",
                collector::reports::format_day(from),
                a.end
            );
            let (mut child, addr) = start(&a);
            let (status, cold) = get(addr, &path).unwrap();
            assert_eq!(status, 200, "{path}");
            let mut warm: Vec<Duration> =
                (0..a.runs).map(|_| get(addr, &path).unwrap().1).collect();
            warm.sort();
            let _ = child.kill();
            let _ = child.wait();
            println!(
                "{:<10} {:<14} {:<8} {:>9} {:>9}",
                a.label,
                report,
                range,
                ms(cold),
                ms(warm[warm.len() / 2])
            );
        }
    }
}
