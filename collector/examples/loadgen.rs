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
//! 3. server events (`POST /v24.0/{pixel}/events`, JSON, a `--server-key` as Bearer), one
//!    transaction per request, each answered after its commit: with 1 and with 100 events per
//!    request, events/s and p50/p99 per request, beside the beacons;
//! 4. the relay: that many stored events sent to a stand-in Graph API on loopback, events/s.
//!
//! `--only beacons` runs the beacons alone (warm-up, then the timed run) and stops: for a profiler
//! (`perf record … loadgen --only beacons`), so that the other phases do not blur its figures;
//! `--only server` does the same for server events of `--server-batch N` events (default 100).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use collector::config::Config;
use collector::ports::{EventLog, RelayQueue};
use collector::store::sqlite::SqliteStore;
use collector::{app, AppState};

#[path = "support/mod.rs"]
mod support;

use support::load::{drive, page_view, purchase, stored_event, Figures, Load, PIXEL};
use support::{flags, graph_stub, relay};

/// The `--server-key` the server-event requests carry.
const SERVER_KEY: &str = "loadgen-server-key-0001";

/// Server-event requests over raw HTTP/1.1 keep-alive connections, with `load::drive`'s
/// request template, response reader and figures.
mod server {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;

    use crate::support::load::{read_response, run, Figures, Template, MARKER, PIXEL};
    use crate::SERVER_KEY;

    /// A request of `n` website Purchases/ViewContents (hashed user data, a browser's fields,
    /// custom data), each event ID `sv-<counter>-<j>`: the counter digits are stamped per request.
    fn request(n: usize) -> Template {
        let now = collector::ports::Clock::now_ms(&collector::ports::SystemClock) / 1000;
        let events: Vec<serde_json::Value> = (0..n)
            .map(|j| {
                let name = if j % 4 == 3 { "Purchase" } else { "ViewContent" };
                serde_json::json!({
                    "event_name": name,
                    "event_time": now,
                    "event_id": format!("sv-{MARKER}-{j}"),
                    "action_source": "website",
                    "event_source_url": "https://shop.example/products/linen-shirt",
                    "user_data": {
                        "em": ["836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f"],
                        "ph": ["254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4"],
                        "client_ip_address": "203.0.113.7",
                        "client_user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                        "fbp": "fb.1.1764000000000.1000012345",
                        "fbc": "fb.1.1764000000000.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB"
                    },
                    "custom_data": {
                        "value": 129.9, "currency": "EUR", "content_type": "product",
                        "content_ids": ["sku-1041", "sku-2203"],
                        "contents": [{"id": "sku-1041", "quantity": 1, "item_price": 79.9}]
                    }
                })
            })
            .collect();
        let body = serde_json::json!({ "data": events }).to_string();
        Template::new(format!(
            "POST /v24.0/{PIXEL}/events HTTP/1.1\r\nHost: collector.internal\r\nAuthorization: Bearer {SERVER_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    }

    async fn connection(
        addr: SocketAddr,
        n: usize,
        until: Instant,
        seq: Arc<AtomicU64>,
    ) -> Vec<u32> {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        let (mut t, mut buf, mut lat) = (request(n), Vec::new(), Vec::new());
        while Instant::now() < until {
            let req = t.stamp(seq.fetch_add(1, Ordering::Relaxed));
            let start = Instant::now();
            s.write_all(req).await.unwrap();
            let status = read_response(&mut s, &mut buf)
                .await
                .expect("the collector closed the connection");
            assert_eq!(status, 200, "server events refused");
            lat.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
        lat
    }

    /// `connections` connections sending requests of `n` events for `secs` seconds. The
    /// figures are per request (`per_sec` is requests/s).
    pub async fn drive(addr: SocketAddr, n: usize, connections: usize, secs: u64) -> Figures {
        // Distinct IDs across runs: the counter starts past every earlier run's.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let seq = Arc::new(AtomicU64::new(NEXT.fetch_add(1 << 32, Ordering::Relaxed)));
        run(connections, secs, |_, until| {
            connection(addr, n, until, seq.clone())
        })
        .await
    }
}

struct Args {
    seconds: u64,
    connections: usize,
    relay_events: usize,
    sync: String,
    serve: String,
    only_beacons: bool,
    only_server: bool,
    server_batch: usize,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        connections: 64,
        relay_events: 100_000,
        sync: "normal".into(),
        serve: "collector".into(),
        only_beacons: false,
        only_server: false,
        server_batch: 100,
    };
    for (k, v) in flags::pairs(&[]) {
        match k.as_str() {
            "--seconds" => a.seconds = flags::number(&k, &v),
            "--connections" => a.connections = flags::number(&k, &v),
            "--relay-events" => a.relay_events = flags::number(&k, &v),
            "--sync" => a.sync = v,
            "--serve" if v == "axum" || v == "collector" => a.serve = v,
            "--only" if v == "beacons" => a.only_beacons = true,
            "--only" if v == "server" => a.only_server = true,
            "--server-batch" => a.server_batch = flags::number(&k, &v),
            _ => panic!("unknown argument {k}"),
        }
    }
    a
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
        // One client sends everything here: the per-client limits are on (their cost is in the
        // figures) at rates no run reaches.
        "--beacon-rate",
        "1000000000",
        "--beacon-bytes-rate",
        "1000000000000",
        "--server-events-rate",
        "1000000000",
        "--server-events-bytes-rate",
        "1000000000000",
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
    let server_key = format!("{PIXEL}={SERVER_KEY}");
    let cfg = config(
        &db,
        &a.sync,
        &[
            "--pixel",
            PIXEL,
            "--server-key",
            &server_key,
            "--dist",
            dist.to_str().unwrap(),
        ],
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
    if a.only_server {
        let n = a.server_batch;
        client_rt.block_on(server::drive(addr, n, a.connections, 1)); // warm-up
        let f = client_rt.block_on(server::drive(addr, n, a.connections, a.seconds));
        println!(
            "server events, {n} per request, durable: {} requests, {:.0} events/s, p50 {:.2} ms, p99 {:.2} ms, {:.1} CPU us/event",
            f.requests,
            f.per_sec * n as f64,
            f.p50_ms,
            f.p99_ms,
            f.cpu_us / n as f64
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

    // Server events, in the same run: the same connections, each request a transaction.
    println!(
        "{:<48} {:>9} {:>10} {:>8} {:>8} {:>10}",
        "ingest (per event)", "requests", "events/s", "p50 ms", "p99 ms", "CPU us/ev"
    );
    let row = |name: &str, f: &Figures, n: usize| {
        println!(
            "{:<48} {:>9} {:>10.0} {:>8.2} {:>8.2} {:>10.1}",
            name,
            f.requests,
            f.per_sec * n as f64,
            f.p50_ms,
            f.p99_ms,
            f.cpu_us / n as f64
        );
    };
    row("/tr beacons (1 event per request)", &beacons, 1);
    for n in [1, 100] {
        client_rt.block_on(server::drive(addr, n, a.connections, 1)); // warm-up
        let f = client_rt.block_on(server::drive(addr, n, a.connections, a.seconds));
        row(&format!("server events, {n} per request (JSON)"), &f, n);
    }
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
    let (graph_url, received) = graph_stub::start(&server_rt);
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
        batch.push(stored_event(b, now, true));
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
    let secs = relay::time(&server_rt, &relay_state, Duration::from_millis(5), || {
        relay_store.pending_count().unwrap() == 0
    });
    println!(
        "relay: {} stored events -> stand-in Graph API ({} received, batches of 1000): {:.2} s, {:.0} events/s",
        a.relay_events,
        received.events(),
        secs,
        a.relay_events as f64 / secs
    );
    drop(store);
}
