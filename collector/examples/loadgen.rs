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
use collector::store::{SqliteStore, Store};
use collector::{app, AppState};
use pixel_core::wire::Beacon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PIXEL: &str = "1234567890";

struct Args {
    seconds: u64,
    connections: usize,
    relay_events: usize,
    sync: String,
    serve: String,
}

fn args() -> Args {
    let mut a = Args {
        seconds: 5,
        connections: 64,
        relay_events: 100_000,
        sync: "normal".into(),
        serve: "collector".into(),
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
            _ => panic!("unknown argument {k}"),
        }
    }
    a
}

#[derive(Clone, Copy, PartialEq)]
enum Load {
    Bare,
    Beacons,
    /// `GET /fbevents.js` (a 32 KB file from `--dist`), the static-file path.
    Static,
}

fn page_view(n: u64) -> Beacon {
    Beacon {
        id: PIXEL.into(),
        ev: "PageView".into(),
        dl: format!(
            "https://shop.example/products/linen-shirt-{}?utm_source=newsletter",
            n % 50
        ),
        rl: "https://shop.example/collections/summer".into(),
        ts: 1_764_000_000_000,
        sw: Some(1920),
        sh: Some(1080),
        v: "2.9.134".into(),
        r: "stable".into(),
        ec: 0,
        fbp: Some(format!(
            "fb.1.1764000000000.{}",
            1_000_000_000 + n % 100_000
        )),
        it: Some(1_764_000_000_000),
        eid: Some(format!("pv-{n}")),
        rqm: Some("GET".into()),
        ..Beacon::default()
    }
}

fn purchase(n: u64) -> Beacon {
    Beacon {
        ev: "Purchase".into(),
        dl: "https://shop.example/checkout/thank-you".into(),
        rl: "https://shop.example/checkout".into(),
        cd: vec![
            ("value".into(), "129.9".into()),
            ("currency".into(), "EUR".into()),
            ("content_ids".into(), r#"["sku-1041","sku-2203"]"#.into()),
            ("contents".into(), r#"[{"id":"sku-1041","quantity":1,"item_price":79.9},{"id":"sku-2203","quantity":2,"item_price":25}]"#.into()),
            ("content_type".into(), "product".into()),
            ("num_items".into(), "3".into()),
            ("order_id".into(), format!("ord-{n}")),
        ],
        ud: vec![
            ("em".into(), "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f".into()),
            ("ph".into(), "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4".into()),
            ("ct".into(), "a6bbac2b2be1ca2e8e4a0ff4b7bd1bc67c3ab4d3aee6d2b3a7f5b7a7f3b1c2d0".into()),
        ],
        fbc: Some("fb.1.1764000000000.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB".into()),
        eid: Some(format!("pu-{n}")),
        rqm: Some("SB".into()),
        ..page_view(n)
    }
}

/// Width of the event counter in a request template.
const DIGITS: usize = 12;

/// A request with a fixed-width placeholder for its event counter, so the client spends its time
/// on the wire and not on formatting (every beacon still carries a distinct event ID).
struct Template {
    bytes: Vec<u8>,
    /// Where the counter digits start (the eid, and the order id of a Purchase).
    slots: Vec<usize>,
}

impl Template {
    fn new(load: Load, purchase_kind: bool) -> Template {
        const UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
        let marker = 999_999_999_999u64; // DIGITS nines: found and overwritten per request
        let text = match (load, purchase_kind) {
            (Load::Bare, _) => "GET /_bench/204 HTTP/1.1\r\nHost: shop.example\r\n\r\n".to_owned(),
            (Load::Static, _) => "GET /fbevents.js HTTP/1.1\r\nHost: shop.example\r\n\r\n".to_owned(),
            (Load::Beacons, true) => {
                let body = purchase(marker).encode();
                format!(
                    "POST /tr/ HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: {UA}\r\nOrigin: https://shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
            (Load::Beacons, false) => format!(
                "GET /tr/?{} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: {UA}\r\nAccept: image/avif,image/webp,*/*\r\nReferer: https://shop.example/\r\n\r\n",
                page_view(marker).encode()
            ),
        };
        let needle = marker.to_string();
        let slots = text.match_indices(&needle).map(|(i, _)| i).collect();
        Template {
            bytes: text.into_bytes(),
            slots,
        }
    }

    fn stamp(&mut self, n: u64) -> &[u8] {
        // Pages generate random event IDs: scatter the counter over 10^12 with a bijection
        // (multiplier coprime to 10^12), so IDs are distinct but arrive in random key order.
        let mut v = ((u128::from(n) * 777_777_777_773 + 12_345) % 1_000_000_000_000) as u64;
        let mut digits = [b'0'; DIGITS];
        for d in digits.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        for &at in &self.slots {
            self.bytes[at..at + DIGITS].copy_from_slice(&digits);
        }
        &self.bytes
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Read one response; returns its status.
async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).unwrap_or("");
    let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let len: usize = head
        .split("\r\n")
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..head_end + len);
    Ok(status)
}

async fn connection(addr: SocketAddr, load: Load, until: Instant, seq: Arc<AtomicU64>) -> Vec<u32> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut lat = Vec::with_capacity(200_000);
    let (mut view, mut buy) = (Template::new(load, false), Template::new(load, true));
    while Instant::now() < until {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        // 3 of 4 beacons an image GET PageView, 1 of 4 a form POST Purchase.
        let req = if n % 4 == 3 {
            buy.stamp(n)
        } else {
            view.stamp(n)
        };
        let t = Instant::now();
        s.write_all(req).await.unwrap();
        let status = read_response(&mut s, &mut buf).await.unwrap();
        assert!(status == 200 || status == 204, "status {status}");
        lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    lat
}

struct Figures {
    requests: usize,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time of this whole process (server, writer and client) per request, microseconds:
    /// unlike requests/s, barely moved by other work on the machine.
    cpu_us: f64,
}

/// User + system CPU time of this process so far, in clock ticks (`/proc/self/stat`).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // Fields 14 and 15 of stat(5); after the ")" they are the 12th and 13th, and the first
    // field after ")" (the state letter) does not parse as a number.
    f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)
}

async fn drive(addr: SocketAddr, load: Load, connections: usize, secs: u64) -> Figures {
    let seq = Arc::new(AtomicU64::new(0));
    let ticks = cpu_ticks();
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection(addr, load, until, seq.clone())))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_secs = (cpu_ticks() - ticks) as f64 / 100.0;
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Figures {
        requests: all.len(),
        per_sec: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        cpu_us: cpu_secs * 1e6 / all.len().max(1) as f64,
    }
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
    client_rt.block_on(drive(addr, Load::Bare, a.connections, 1)); // warm-up
    let bare = client_rt.block_on(drive(addr, Load::Bare, a.connections, a.seconds));
    client_rt.block_on(drive(addr, Load::Beacons, a.connections, 1)); // warm-up
    let beacons = client_rt.block_on(drive(addr, Load::Beacons, a.connections, a.seconds));
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
    client_rt.block_on(drive(addr, Load::Static, a.connections, 1)); // warm-up
    let files = client_rt.block_on(drive(addr, Load::Static, a.connections, a.seconds));
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
    let now = collector::now_ms();
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
