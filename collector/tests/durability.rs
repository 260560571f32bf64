//! `kill -9` during a burst loses no acknowledged event: every beacon answered 2xx is in the
//! database afterwards: SQLite with either `--sync` mode, and PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{backend_tests, beacon, Backend, Collector, PIXEL};

/// `sync` is SQLite's `--sync` (PostgreSQL commits are durable the server's way).
async fn burst_then_kill(backend: Backend, sync: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.db(dir.path());
    let mut args = vec!["--pixel", PIXEL];
    if backend == Backend::Sqlite {
        args.extend(["--sync", sync]);
    }
    let mut c = Collector::start_on(&db, dir.path(), &args).await;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::new();
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (acked, stop, next, client) =
            (acked.clone(), stop.clone(), next.clone(), client.clone());
        let base = c.url("/tr/");
        senders.push(tokio::spawn(async move {
            let start = Instant::now();
            while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(30) {
                let eid = format!("k-{}", next.fetch_add(1, Ordering::Relaxed));
                let mut b = beacon("Purchase", &eid);
                b.cd = vec![
                    ("value".into(), "9.99".into()),
                    ("currency".into(), "USD".into()),
                ];
                match client.get(format!("{base}?{}", b.encode())).send().await {
                    Ok(r) if r.status().is_success() => acked.lock().unwrap().push(eid),
                    Ok(r) => panic!("refused: {}", r.status()),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    // Let the burst run, then kill -9 in the middle of it. 1,500 acknowledgements take about a
    // second here; the generous deadline is for a machine busy with other work (an fsync per
    // commit with `--sync full` can then take tens of milliseconds), where 8 s once fell short.
    let start = Instant::now();
    while acked.lock().unwrap().len() < 1500 && start.elapsed() < Duration::from_secs(25) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    c.child.kill().unwrap(); // SIGKILL
    c.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 1000, "burst too small: {}", acked.len());

    let stored: HashSet<String> = c.db.stored_ids();
    let lost: Vec<&String> = acked.iter().filter(|e| !stored.contains(*e)).collect();
    println!(
        "{backend:?} sync={sync}: {} acknowledged, {} stored, {} sent (in flight at the kill: stored-acked = {})",
        acked.len(),
        stored.len(),
        next.load(Ordering::Relaxed),
        stored.len() - (acked.len() - lost.len())
    );
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_loses_no_acknowledged_event_sync_full() {
    burst_then_kill(Backend::Sqlite, "full").await;
}

/// SQLite with `--sync normal`, and PostgreSQL.
async fn kill_9_during_a_burst_loses_no_acknowledged_event(backend: Backend) {
    burst_then_kill(backend, "normal").await;
}

backend_tests! {
    kill_9_during_a_burst_loses_no_acknowledged_event,
}
