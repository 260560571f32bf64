//! The relay against a real Graph API stand-in over HTTP: the real binary, a real SQLite file or
//! PostgreSQL database, real sockets and real time. Only what must prove one of those is here;
//! the relay's logic (batching, bisection, the breaker, retries and backoff, `Retry-After`,
//! expiry, misconfigurations, leases between replicas, a shutdown mid-round, a restart, a pixel
//! without a token) is tested on the in-memory store, a scripted Graph API and paused time, in
//! `src/relay/tests/`, in milliseconds.
//!
//! What stays, and why:
//! - the exact JSON on the wire, from a beacon to the Graph API, with the token in the body and
//!   not the URL: the one end-to-end happy path (`maps_a_purchase_...`);
//! - a Graph API that hangs: reqwest's timeout, in real time;
//! - a redirect: reqwest's redirect policy against a real 302 (never followed);
//! - SIGTERM with a request in flight: the binary's signal, drain and exit code;
//! - a backlog drained while beacons keep arriving: ingest latency, in real time.
//!
//! The response body's cap and a refused connection are tested on reqwest in `src/relay/graph.rs`.
//! Every test but the backlog drain runs on both backends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{backend_tests, beacon, send_all, Answer, Backend, Collector, Graph, PIXEL, TOKEN};
use pixel_core::wire::Beacon;
use serde_json::json;
use tempfile::TempDir;

/// Fast relay settings for tests.
fn fast<'a>(graph: &'a str, pixel: &'a str) -> Vec<&'a str> {
    vec![
        "--graph-url",
        graph,
        "--graph-allow-http",
        "--pixel",
        pixel,
        // These tests are about the relay, not the hold (`tests/server_events.rs`).
        "--hold",
        "",
        "--relay-interval-ms",
        "50",
        "--retry-base-ms",
        "100",
        "--retry-max-ms",
        "400",
        "--log",
        "debug",
    ]
}

fn pixel_arg() -> String {
    format!("{PIXEL}={TOKEN}")
}

/// The setup of most tests: a stand-in Graph API and the real collector relaying to it.
struct Relay {
    // Fields drop in order: the collector stops before its directory is removed.
    c: Collector,
    graph: Graph,
    _dir: TempDir,
}

impl Relay {
    /// The stand-in, answering `script` first (then 200), and a collector on `backend` relaying
    /// `PIXEL` to it with the [`fast`] settings and `args`.
    async fn start(backend: Backend, script: &[Answer], args: &[&str]) -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let db = backend.db(dir.path());
        let graph = Graph::start().await;
        graph.script(script);
        let pixel = pixel_arg();
        let mut all = fast(&graph.url, &pixel);
        all.extend(args);
        let c = Collector::start_on(&db, dir.path(), &all).await;
        Relay {
            c,
            graph,
            _dir: dir,
        }
    }
}

/// `n` beacons of `ev`, with event IDs `<prefix>-0` to `<prefix>-<n-1>`.
fn numbered(ev: &str, prefix: &str, n: usize) -> Vec<Beacon> {
    (0..n)
        .map(|i| beacon(ev, &format!("{prefix}-{i}")))
        .collect()
}

async fn maps_a_purchase_to_the_exact_conversions_api_json(backend: Backend) {
    let Relay { c, graph, .. } = &Relay::start(
        backend,
        &[],
        &[
            "--test-event-code",
            "TEST123",
            "--app-secret",
            "s3cret",
            "--graph-version",
            "v26.0",
        ],
    )
    .await;

    let mut b = beacon("Purchase", "order-42");
    b.cd = vec![
        ("value".into(), "42.5".into()),
        ("currency".into(), "EUR".into()),
        ("content_ids".into(), r#"["sku1","sku2"]"#.into()),
        (
            "contents".into(),
            r#"[{"id":"sku1","quantity":2,"item_price":5}]"#.into(),
        ),
        ("num_items".into(), "3".into()),
        ("order_id".into(), "1001".into()),
    ];
    let em_hash = "ab".repeat(32);
    b.ud = vec![
        ("em".into(), em_hash.to_uppercase()),
        ("external_id".into(), "Cust 77".into()),
    ];
    b.fbp = Some("fb.1.1596403881668.1116446470".into());
    b.fbc = Some("fb.1.1596403881668.IwAR2F4".into());
    b.dpo = Some(pixel_core::wire::Dpo {
        options: vec!["LDU".into()],
        country: 1,
        state: 1000,
    });
    let r = reqwest::Client::new()
        .post(c.url("/tr"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "Mozilla/5.0 (Test)")
        .body(b.encode())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    let ids = graph.wait_accepted(1, Duration::from_secs(10)).await;
    assert_eq!(ids, ["order-42"]);
    let req = &graph.received()[0];
    assert_eq!(req.path, format!("/v26.0/{PIXEL}/events"));
    let proof = collector::relay::capi::appsecret_proof("s3cret", TOKEN);
    // The token and its proof travel in the body, never in the URL.
    assert_eq!(req.query, "");
    assert!(!req.path.contains(TOKEN));
    // "Cust 77" normalised (SPEC §6).
    let external_id = pixel_core::matching::sha256_hex("cust77");
    assert_eq!(
        req.body,
        json!({
            "data": [{
                "event_name": "Purchase",
                "event_time": b.ts / 1000,
                "event_id": "order-42",
                "event_source_url": "http://shop.example/product/1",
                "action_source": "website",
                "user_data": {
                    "em": [em_hash],
                    "external_id": [external_id],
                    "client_ip_address": "127.0.0.1",
                    "client_user_agent": "Mozilla/5.0 (Test)",
                    "fbp": "fb.1.1596403881668.1116446470",
                    "fbc": "fb.1.1596403881668.IwAR2F4"
                },
                "custom_data": {
                    "value": 42.5,
                    "currency": "EUR",
                    "content_ids": ["sku1", "sku2"],
                    "contents": [{"id": "sku1", "quantity": 2, "item_price": 5}],
                    "num_items": 3,
                    "order_id": "1001"
                },
                "data_processing_options": ["LDU"],
                "data_processing_options_country": 1,
                "data_processing_options_state": 1000
            }],
            "test_event_code": "TEST123",
            "access_token": TOKEN,
            "appsecret_proof": proof
        })
    );
    let events = c.wait_settled(1, Duration::from_secs(5)).await;
    assert_eq!(events[0]["relay_status"], "sent");
    assert_eq!(c.metric("collector_events_relayed_total").await, 1);
    assert!(
        !c.log_text().contains(TOKEN),
        "the access token leaked into the log"
    );
}

async fn a_hanging_graph_api_times_out_and_is_retried(backend: Backend) {
    let Relay { c, graph, .. } = &Relay::start(
        backend,
        &[Answer::Hang(Duration::from_secs(3))],
        &["--relay-timeout-ms", "300"],
    )
    .await;
    send_all(c, vec![beacon("Lead", "lead-1")], 1).await;
    let ids = graph.wait_accepted(1, Duration::from_secs(10)).await;
    // The hung request is answered 200 after 3 s, but the relay gave up on it after 300 ms and
    // sent again; Meta would deduplicate the second copy by event_id.
    assert!(ids.iter().any(|i| i == "lead-1"));
    let events = c.wait_settled(1, Duration::from_secs(5)).await;
    assert_eq!(events[0]["relay_status"], "sent");
    assert!(
        c.metric("collector_relay_failures_total{kind=\"timeout\"}")
            .await
            >= 1
    );
}

async fn sigterm_lets_the_request_in_flight_finish_and_records_it(backend: Backend) {
    // By value, to hand the collector to `terminate`; `_dir` stays bound until the end.
    let Relay { c, graph, _dir } =
        Relay::start(backend, &[Answer::Hang(Duration::from_millis(1500))], &[]).await;
    send_all(&c, vec![beacon("Purchase", "inflight-1")], 1).await;
    graph.wait_arrived(1, Duration::from_secs(10)).await; // the relay now waits on the stand-in
    let db = c.db.clone();
    let code = tokio::task::spawn_blocking(move || c.terminate())
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert_eq!(graph.accepted_ids(), ["inflight-1"]);
    let status = &db.rows("SELECT relay_status FROM events WHERE event_id = 'inflight-1'")[0][0];
    assert_eq!(
        status, "sent",
        "the 2xx that arrived during shutdown was recorded"
    );
}

/// An app secret no log line may contain (nor its proof).
const APP_SECRET: &str = "app-s3cret-never-logged";

/// No secret in the log: the access token, the app secret, the proof.
fn assert_no_secret(log: &str) {
    let proof = collector::relay::capi::appsecret_proof(APP_SECRET, TOKEN);
    for secret in [TOKEN, APP_SECRET, proof.as_str()] {
        assert!(!log.contains(secret), "a secret leaked into the log: {log}");
    }
}

/// A Graph URL that redirects every request to `/followed` on itself, recording what it gets.
async fn redirecting_graph() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
) {
    use axum::extract::{Request, State};
    use axum::response::IntoResponse;
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;
    let seen: Seen = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let target = format!("{base}/followed");
    let app = axum::Router::new()
        .fallback(
            |State((seen, target)): State<(Seen, String)>, req: Request| async move {
                let path = req.uri().path().to_owned();
                seen.lock()
                    .unwrap()
                    .push((req.method().to_string(), path.clone()));
                if path == "/followed" {
                    (axum::http::StatusCode::OK, r#"{"events_received":1}"#).into_response()
                } else {
                    (axum::http::StatusCode::FOUND, [("location", target)], "").into_response()
                }
            },
        )
        .with_state((seen.clone(), target));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

async fn a_redirect_is_never_followed_events_stay_pending_and_the_log_says_where_it_pointed(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.db(dir.path());
    let (url, seen) = redirecting_graph().await;
    let pixel = pixel_arg();
    let mut args = fast(&url, &pixel);
    args.extend(["--app-secret", APP_SECRET]);
    let c = Collector::start_on(&db, dir.path(), &args).await;
    send_all(&c, numbered("Purchase", "r", 3), 1).await;

    let start = std::time::Instant::now();
    while seen.lock().unwrap().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(10), "no retries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requests = seen.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .all(|(m, p)| m == "POST" && p != "/followed"),
        "the redirect was followed: {requests:?}"
    );
    let events = c.events("?limit=10").await;
    assert_eq!(events.len(), 3);
    let target = format!("{url}/followed");
    for e in &events {
        assert_eq!(e["relay_status"], "pending", "{e}");
        let error = e["relay_error"].as_str().unwrap_or("");
        assert!(error.contains("302") && error.contains(&target), "{error}");
    }
    assert!(
        c.metric("collector_relay_failures_total{kind=\"redirect\"}")
            .await
            >= 2
    );
    assert_eq!(c.metric("collector_events_relayed_total").await, 0);
    let log = c.log_text();
    assert!(log.contains(&format!("redirect to {target}")), "{log}");
    assert_no_secret(&log);
}

/// A stand-in Graph API for large volumes: accepts everything, keeps only each event ID (to check
/// each went exactly once).
async fn counting_graph() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::extract::State;
    type Ids = std::sync::Arc<std::sync::Mutex<Vec<String>>>;
    let ids: Ids = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(
            |State(ids): State<Ids>, body: axum::body::Bytes| async move {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let data = v["data"].as_array().cloned().unwrap_or_default();
                let n = data.len();
                ids.lock().unwrap().extend(
                    data.iter()
                        .map(|e| e["event_id"].as_str().unwrap_or("").to_owned()),
                );
                format!(r#"{{"events_received":{n}}}"#)
            },
        )
        .with_state(ids.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, ids)
}

/// Beacons one after another, one every `pace`, until `stop` says so (checked after each);
/// returns each one's latency.
async fn paced_beacons(
    c: &Collector,
    prefix: &str,
    pace: Duration,
    stop: impl Fn(usize) -> bool,
) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let mut latencies = Vec::new();
    let mut tick = tokio::time::interval(pace);
    for i in 0.. {
        tick.tick().await;
        let b = beacon("PageView", &format!("{prefix}-{i}"));
        let start = std::time::Instant::now();
        let r = client
            .get(format!("{}?{}", c.url("/tr/"), b.encode()))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        latencies.push(start.elapsed());
        if stop(i + 1) {
            break;
        }
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// `pending` stored events written straight into a new database, then ingest latency measured
/// with the relay off (idle) and while it drains them to the stand-in (drain). Prints both.
async fn drain_while_ingesting(pending: usize) {
    use collector::ports::{EventLog, RelayQueue};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("collector.db");
    {
        let store =
            collector::store::sqlite::SqliteStore::open(&db, collector::config::SyncMode::Normal)
                .unwrap();
        let now = collector::ports::Clock::now_ms(&collector::ports::SystemClock);
        let template = beacon("PageView", "x");
        let mut batch = Vec::with_capacity(2048);
        for i in 0..pending {
            batch.push(collector::event::NewEvent {
                pixel_id: PIXEL.into(),
                event_name: "PageView".into(),
                event_id: format!("backlog-{i}"),
                event_id_derived: false,
                event_time: now / 1000,
                received_at_ms: now,
                source_url: template.dl.clone(),
                referrer_url: template.rl.clone(),
                fbp: Some("fb.1.1596403881668.1116446470".into()),
                fbc: None,
                client_ip: Some("203.0.113.7".into()),
                user_agent: Some("Mozilla/5.0 (Backlog)".into()),
                user_data: vec![("em".into(), "ab".repeat(32))],
                custom_data: serde_json::Map::new(),
                dpo: None,
                relay: true,
                ..Default::default()
            });
            if batch.len() == 2048 || i + 1 == pending {
                store.insert_batch(&batch).unwrap();
                batch.clear();
            }
        }
        assert_eq!(store.pending_count().unwrap(), pending as u64);
        // Expiry as it was (one UPDATE scanning the backlog, the writer locked throughout) next
        // to the chunked walk on the read connection (nothing to write: every event is fresh).
        let cutoff = now / 1000 - collector::relay::MAX_EVENT_AGE_SECS;
        let t = std::time::Instant::now();
        assert_eq!(store.expire(PIXEL, cutoff).unwrap(), 0);
        let whole = t.elapsed();
        let t = std::time::Instant::now();
        let (mut after, mut chunks, mut longest) = (0, 0, Duration::ZERO);
        loop {
            let step = std::time::Instant::now();
            let (old, last) = store
                .pending_older_than(PIXEL, cutoff, after, 5000)
                .unwrap();
            assert!(old.is_empty());
            longest = longest.max(step.elapsed());
            chunks += 1;
            match last {
                Some(l) => after = l,
                None => break,
            }
        }
        println!(
            "expiry check of {pending} pending: one UPDATE under the writer lock {:.1} ms; \
             chunked walk on the reader {:.1} ms in {chunks} chunks (longest {:.1} ms), writer lock 0 ms",
            whole.as_secs_f64() * 1000.0,
            t.elapsed().as_secs_f64() * 1000.0,
            longest.as_secs_f64() * 1000.0
        );
    }
    let pace = Duration::from_millis(5);

    // Idle: the same database, the pixel without a token, so no relay.
    let c = Collector::start(dir.path(), &["--pixel", PIXEL]).await;
    let mut idle = paced_beacons(&c, "idle", pace, |n| n >= 400).await;
    assert_eq!(c.terminate(), 0);

    // Drain: the relay sends the backlog while beacons keep arriving.
    let (url, ids) = counting_graph().await;
    let pixel = pixel_arg();
    let c = Collector::start(dir.path(), &fast(&url, &pixel)).await;
    let start = std::time::Instant::now();
    let seen = ids.clone();
    let mut drain =
        paced_beacons(&c, "drain", pace, |_| seen.lock().unwrap().len() >= pending).await;
    let drained = start.elapsed();
    let during = drain.len();
    // The beacons sent during the drain follow it out.
    let want = pending + during;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ids.lock().unwrap().len() < want && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = ids.lock().unwrap().clone();
    assert_eq!(got.len(), want, "every event relayed");
    let unique: std::collections::HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), want, "each event exactly once");
    // The pending gauge is counted in the background (every 2 s), never per scrape.
    assert_eq!(
        c.wait_metric("collector_relay_queue_depth", 0, Duration::from_secs(10))
            .await,
        0
    );

    idle.sort();
    drain.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "drain of {pending} pending events: {:.1} s ({:.0} events/s), {during} beacons meanwhile",
        drained.as_secs_f64(),
        pending as f64 / drained.as_secs_f64()
    );
    println!(
        "ingest latency, one beacon every {} ms   p50        p99        max",
        pace.as_millis()
    );
    for (name, l) in [("idle (no relay)", &idle), ("during the drain", &drain)] {
        println!(
            "  {name:<34} {:>7.2} ms {:>7.2} ms {:>7.2} ms  (n={})",
            ms(percentile(l, 0.5)),
            ms(percentile(l, 0.99)),
            ms(*l.last().unwrap()),
            l.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_drains_while_beacons_keep_arriving() {
    drain_while_ingesting(10_000).await;
}

/// The issue's size: `cargo test --release -p collector --test relay -- --ignored --nocapture
/// a_backlog_of_300k`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark (about 20 s in release): run it with --ignored --nocapture"]
async fn a_backlog_of_300k_drains_while_beacons_keep_arriving() {
    drain_while_ingesting(300_000).await;
}

backend_tests! {
    maps_a_purchase_to_the_exact_conversions_api_json,
    a_hanging_graph_api_times_out_and_is_retried,
    sigterm_lets_the_request_in_flight_finish_and_records_it,
    a_redirect_is_never_followed_events_stay_pending_and_the_log_says_where_it_pointed,
}
