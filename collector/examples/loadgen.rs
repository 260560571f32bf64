//! Load generator: `cargo run --release -p collector --example loadgen [-- --seconds 5
//! --connections 64 --relay-events 100000 --sync normal --serve collector]`.
//!
//! `--serve collector` (the default) serves through `collector::server::serve`, the binary's own
//! accept loop (connection limit, head and idle timeouts); `--serve axum` through `axum::serve`
//! (no limits), to price them in the same conditions.
//!
//! Runs the collector's router on loopback (in this process, on its own 2-thread runtime, with a
//! real SQLite file in a temporary directory) and drives it from a 1-thread client over several
//! keep-alive connections with raw HTTP/1.1. Prints, from the same run:
//!
//! 1. the bare `GET /_bench/204` route: requests/s and p50/p99 latency (the ceiling of the stack);
//! 2. realistic beacons (3 of 4 an image `GET` PageView, 1 of 4 a form `POST` Purchase with
//!    custom data and hashed user data), each answered only after its group commit: beacons/s
//!    acknowledged and p50/p99, and their ratio to the bare route;
//! 3. the relay: that many stored events sent to a stand-in Graph API on loopback, events/s.
//!
//! `--only beacons` runs the beacons alone (warm-up, then the timed run) and stops: for a profiler
//! (`perf record … loadgen --only beacons`), so that the other phases do not blur its figures.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use collector::config::Config;
use collector::event::{NewEvent, RequestContext};
use collector::ports::{EventLog, RelayQueue};
use collector::store::sqlite::SqliteStore;
use collector::{app, AppState};
use pixel_core::wire::Beacon;

#[path = "support/load.rs"]
mod load;

use load::{drive, page_view, purchase, Load, PIXEL};

struct Args {
    seconds: u64,
    connections: usize,
    relay_events: usize,
    sync: String,
    serve: String,
    only_beacons: bool,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        connections: 64,
        relay_events: 100_000,
        sync: "normal".into(),
        serve: "collector".into(),
        only_beacons: false,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let (k, v) = (
            pair[0].as_str(),
            pair.get(1).map(String::as_str).unwrap_or(""),
        );
        match k {
            "--seconds" => a.seconds = v.parse().expect("--seconds N"),
            "--connections" => a.connections = v.parse().expect("--connections N"),
            "--relay-events" => a.relay_events = v.parse().expect("--relay-events N"),
            "--sync" => a.sync = v.to_owned(),
            "--serve" if v == "axum" || v == "collector" => a.serve = v.to_owned(),
            "--only" if v == "beacons" => a.only_beacons = true,
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

/// A stand-in Graph API that parses each request and counts its events.
async fn graph_stub(
    State(count): State<Arc<AtomicU64>>,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let n = v["data"].as_array().map_or(0, Vec::len);
    count.fetch_add(n as u64, Ordering::Relaxed);
    (
        StatusCode::OK,
        format!(r#"{{"events_received":{n},"fbtrace_id":"bench"}}"#),
    )
}

fn config(db: &std::path::Path, sync: &str, extra: &[&str]) -> Config {
    let mut argv = vec![
        "collector",
        "--db",
        db.to_str().unwrap(),
        "--sync",
        sync,
        "--log",
        "warn",
    ];
    argv.extend(extra);
    Config::parse_from(argv).unwrap_or_else(|e| panic!("{e:?}"))
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();

    // The server: its own runtime with 2 worker threads (plus the writer thread).
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = dir.path().join("bench.db");
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("fbevents.js"), "/* the pixel */\n".repeat(2048)).unwrap();
    let cfg = config(
        &db,
        &a.sync,
        &["--pixel", PIXEL, "--dist", dist.to_str().unwrap()],
    );
    let store = Arc::new(SqliteStore::open(&db, cfg.sync).unwrap());
    let state = AppState::new(cfg, store.clone()).unwrap();
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop_serving, serving) = tokio::sync::watch::channel(false);
    if a.serve == "axum" {
        let service = app(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
        server_rt.spawn(async move { axum::serve(listener, service).await.unwrap() });
    } else {
        let st = state.clone();
        let limits = collector::server::Limits::of(&st.config);
        server_rt.spawn(async move {
            let stats = st.metrics.connections.clone();
            collector::server::serve(listener, app(st.clone()), limits, stats, serving)
                .await
                .unwrap()
        });
    }

    // The client: one thread.
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "collector loadgen: {} keep-alive connections, {} s per run, loopback, server on 2 threads + writer, client on 1 thread, --sync {}, --serve {}",
        a.connections, a.seconds, a.sync, a.serve
    );
    if a.only_beacons {
        client_rt.block_on(drive(&[addr], Load::Beacons, a.connections, 1)); // warm-up
        let b = client_rt.block_on(drive(&[addr], Load::Beacons, a.connections, a.seconds));
        println!(
            "/tr beacons, durable: {} requests, {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {:.1} CPU us/req",
            b.requests, b.per_sec, b.p50_ms, b.p99_ms, b.cpu_us
        );
        return;
    }
    client_rt.block_on(drive(&[addr], Load::Bare, a.connections, 1)); // warm-up
    let bare = client_rt.block_on(drive(&[addr], Load::Bare, a.connections, a.seconds));
    client_rt.block_on(drive(&[addr], Load::Beacons, a.connections, 1)); // warm-up
    let beacons = client_rt.block_on(drive(&[addr], Load::Beacons, a.connections, a.seconds));
    let stored = state.metrics.stored.load(Ordering::Relaxed);
    println!(
        "{:<48} {:>9} {:>10} {:>8} {:>8} {:>10}",
        "route", "requests", "per sec", "p50 ms", "p99 ms", "CPU us/req"
    );
    for (name, f) in [
        ("GET /_bench/204 (bare route)", &bare),
        (
            "/tr beacons, durable (3 GET PageView : 1 POST Purchase)",
            &beacons,
        ),
    ] {
        println!(
            "{:<48} {:>9} {:>10.0} {:>8.2} {:>8.2} {:>10.1}",
            name, f.requests, f.per_sec, f.p50_ms, f.p99_ms, f.cpu_us
        );
    }
    println!(
        "beacons/bare ratio: {:.2}; events stored: {stored}",
        beacons.per_sec / bare.per_sec
    );
    client_rt.block_on(drive(&[addr], Load::Static, a.connections, 1)); // warm-up
    let files = client_rt.block_on(drive(&[addr], Load::Static, a.connections, a.seconds));
    println!(
        "{:<48} {:>9} {:>10.0} {:>8.2} {:>8.2} {:>10.1}",
        "GET /fbevents.js (32 KB static file)",
        files.requests,
        files.per_sec,
        files.p50_ms,
        files.p99_ms,
        files.cpu_us
    );

    // The relay: preload events into a fresh database, then time sending them all.
    let relay_db = dir.path().join("relay.db");
    let count = Arc::new(AtomicU64::new(0));
    let stub = axum::Router::new()
        .fallback(graph_stub)
        .with_state(count.clone());
    let stub_listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let graph_url = format!("http://{}", stub_listener.local_addr().unwrap());
    server_rt.spawn(async move { axum::serve(stub_listener, stub).await.unwrap() });
    let pixel = format!("{PIXEL}=bench-token");
    let cfg = config(
        &relay_db,
        &a.sync,
        &[
            "--pixel",
            &pixel,
            "--graph-url",
            &graph_url,
            "--graph-allow-http",
            "--relay-interval-ms",
            "20",
        ],
    );
    let relay_store = Arc::new(SqliteStore::open(&relay_db, cfg.sync).unwrap());
    let now = collector::ports::Clock::now_ms(&collector::ports::SystemClock);
    let preload = Instant::now();
    let mut batch = Vec::with_capacity(2048);
    for n in 0..a.relay_events as u64 {
        let b = if n % 4 == 3 {
            purchase(n)
        } else {
            page_view(n)
        };
        let b = Beacon {
            ts: u64::try_from(now).unwrap(),
            ..b
        };
        let ctx = RequestContext {
            client_ip: Some("203.0.113.7".into()),
            user_agent: Some("Mozilla/5.0 (bench)".into()),
            received_at_ms: now,
        };
        batch.push(NewEvent::from_beacon(b, ctx, true).unwrap().0);
        if batch.len() == 2048 {
            relay_store.insert_batch(&batch).unwrap();
            batch.clear();
        }
    }
    relay_store.insert_batch(&batch).unwrap();
    let preload_secs = preload.elapsed().as_secs_f64();
    println!(
        "store alone: {} events built and inserted in transactions of 2048: {:.2} s, {:.0} events/s",
        a.relay_events,
        preload_secs,
        a.relay_events as f64 / preload_secs
    );
    let relay_state = AppState::new(cfg, relay_store.clone()).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let tasks = server_rt
        .block_on(async { collector::relay::spawn(&relay_state, stop_rx) })
        .unwrap();
    while relay_store.pending_count().unwrap() > 0 {
        std::thread::sleep(Duration::from_millis(5));
        assert!(start.elapsed() < Duration::from_secs(600), "relay too slow");
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    server_rt.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    println!(
        "relay: {} stored events -> stand-in Graph API ({} received, batches of 1000): {:.2} s, {:.0} events/s",
        a.relay_events,
        count.load(Ordering::Relaxed),
        secs,
        a.relay_events as f64 / secs
    );
    drop(store);
}
