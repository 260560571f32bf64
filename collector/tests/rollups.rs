//! The rollups of a SQLite file made before them, or rebuilt: `collector rebuild` killed
//! (`kill -9`) part way resumes where it stopped, the backfill thread finishes it while events
//! are stored beside it, and the cells then equal those rebuilt from the raw events.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use collector::config::SyncMode;
use collector::event::NewEvent;
use collector::ports::rollup::from_scan;
use collector::ports::{EventLog, ReportSource};
use collector::reports::parse_date;
use collector::store::sqlite::SqliteStore;

const PIXEL: &str = "1234567890";

fn state(path: &std::path::Path) -> (i64, i64) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("SELECT next_id, end_id FROM rollup_backfill", [], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
    .unwrap()
}

#[test]
fn a_killed_rebuild_resumes_in_the_background_while_events_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let end_day = parse_date("2026-11-30").unwrap();
    {
        let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
        let opts = collector::seed::Options {
            pixel: PIXEL.into(),
            events: 40_000,
            days: 30,
            end_day,
            seed: 3,
            relay: true,
        };
        collector::seed::seed(&store, &opts, &mut |_| {}).unwrap();
    }
    // `rebuild` forgets every cell and counts again; killed after its first chunk.
    let mut child = Command::new(env!("CARGO_BIN_EXE_collector"))
        .args(["--db", path.to_str().unwrap(), "rebuild"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("rebuild: events up to id"), "{first}");
    child.kill().unwrap();
    child.wait().unwrap();
    let (next, end) = state(&path);
    assert!(next > 1 && next <= end, "stopped part way: {next} of {end}");

    // Reopened, the store resumes the backfill on a thread; events stored meanwhile count too.
    let store = SqliteStore::open(&path, SyncMode::Normal).unwrap();
    let t = (end_day * 86_400 - 3_600) * 1000;
    for i in 0..50 {
        let e = NewEvent {
            pixel_id: PIXEL.into(),
            event_name: if i % 5 == 0 { "Purchase" } else { "PageView" }.into(),
            event_id: format!("during-{i}"),
            event_time: t / 1000,
            received_at_ms: t,
            fbp: Some(format!("fb.1.1.during{}", i % 7)),
            custom_data: serde_json::from_value(serde_json::json!({"value": 3, "currency": "EUR"}))
                .unwrap(),
            relay: true,
            ..NewEvent::default()
        };
        store.insert_batch(&[e]).unwrap();
    }
    let started = Instant::now();
    while state(&path).0 <= end {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "backfill never ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    for (from, to) in [
        (end_day - 29, end_day),
        (end_day - 6, end_day),
        (end_day - 40, end_day - 20),
    ] {
        assert_eq!(
            store.rollup(PIXEL, from, to).unwrap(),
            from_scan(&store, PIXEL, from, to).unwrap(),
            "days {from}..={to}"
        );
    }
}
