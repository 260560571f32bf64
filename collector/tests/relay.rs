//! The relay, end to end: the real binary, a real SQLite file or PostgreSQL database, and the
//! stand-in Graph API. Every test but the backlog drain runs on both backends.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{
    backend_tests, beacon, send_all, Answer, Backend, Collector, Graph, ADMIN, META_400, PIXEL,
    TOKEN,
};
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
    /// The stand-in, answering `script` first (then 200), and a collector on `backend` relaying `PIXEL` to it
    /// with the [`fast`] settings and `args`. The relay sends nothing before a beacon is stored,
    /// so the stand-in can still be told more (`reject_event_name`) until beacons are sent.
    async fn start(backend: Backend, script: &[Answer], args: &[&str]) -> Relay {
        Relay::start_for(backend, &pixel_arg(), script, args).await
    }

    /// [`Relay::start`] for `pixel`, a `--pixel` value (`PIXEL` alone: no access token).
    async fn start_for(backend: Backend, pixel: &str, script: &[Answer], args: &[&str]) -> Relay {
        let dir = tempfile::tempdir().unwrap();
        let db = backend.db(dir.path());
        let graph = Graph::start().await;
        graph.script(script);
        let mut all = fast(&graph.url, pixel);
        all.extend(args);
        let c = Collector::start_on(&db, dir.path(), &all).await;
        Relay {
            c,
            graph,
            _dir: dir,
        }
    }
}

/// The first answer of tests that want one batch: a 503 with `Retry-After: 1` holds the relay
/// until all the beacons are stored, so they go as one batch.
const HOLD: Answer = Answer::RetryAfter(503, 1);

/// [`HOLD`], then `answer` to the next `times` requests.
fn held_then(answer: Answer, times: usize) -> Vec<Answer> {
    let mut script = vec![HOLD];
    script.extend(std::iter::repeat_n(answer, times));
    script
}

/// `n` beacons of `ev`, with event IDs `<prefix>-0` to `<prefix>-<n-1>`.
fn numbered(ev: &str, prefix: &str, n: usize) -> Vec<Beacon> {
    (0..n)
        .map(|i| beacon(ev, &format!("{prefix}-{i}")))
        .collect()
}

fn count(ids: &[String]) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for id in ids {
        *m.entry(id.as_str()).or_insert(0) += 1;
    }
    m
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

async fn retries_5xx_and_429_honouring_retry_after_and_relays_each_event_once(backend: Backend) {
    let script = [Answer::Status(500, "{}".into()), Answer::RetryAfter(429, 1)];
    let Relay { c, graph, .. } = &Relay::start(backend, &script, &[]).await;
    let beacons = numbered("ViewContent", "v", 5);
    // Every beacon twice: the copies are duplicates and are not relayed again.
    send_all(
        c,
        beacons.iter().chain(beacons.iter()).cloned().collect(),
        2,
    )
    .await;

    let ids = graph.wait_accepted(5, Duration::from_secs(15)).await;
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(count(&ids).values().all(|n| *n == 1), "{ids:?}");
    let got = graph.received();
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..2], &[500, 429], "{statuses:?}");
    let after_429 = got[2].at.duration_since(got[1].at);
    assert!(
        after_429 >= Duration::from_millis(950),
        "Retry-After: 1 not honoured: {after_429:?}"
    );
    // Nothing more is sent once accepted.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(graph.accepted_ids().len(), 5);
    let events = c.wait_settled(5, Duration::from_secs(5)).await;
    assert!(
        events.iter().all(|e| e["relay_status"] == "sent"),
        "{events:?}"
    );
    assert_eq!(
        c.metric("collector_relay_failures_total{kind=\"http_5xx\"}")
            .await,
        1
    );
    assert_eq!(
        c.metric("collector_relay_failures_total{kind=\"rate_limited\"}")
            .await,
        1
    );
    assert_eq!(c.metric("collector_events_duplicate_total").await, 5);
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

async fn a_400_is_bisected_the_bad_event_fails_with_metas_message_the_rest_go_through(
    backend: Backend,
) {
    let Relay { c, graph, .. } = &Relay::start(backend, &[HOLD], &[]).await;
    graph.reject_event_name("BadEvent");
    let mut beacons = numbered("AddToCart", "a", 10);
    beacons[6] = beacon("BadEvent", "bad-6");
    send_all(c, beacons, 1).await;

    let events = c.wait_settled(10, Duration::from_secs(15)).await;
    let status: HashMap<&str, &str> = events
        .iter()
        .map(|e| {
            (
                e["event_id"].as_str().unwrap(),
                e["relay_status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(status.len(), 10);
    assert_eq!(status["bad-6"], "failed");
    assert!(
        status
            .iter()
            .filter(|(id, _)| **id != "bad-6")
            .all(|(_, s)| *s == "sent"),
        "{status:?}"
    );
    let bad = events.iter().find(|e| e["event_id"] == "bad-6").unwrap();
    assert_eq!(
        bad["relay_error"],
        "Invalid parameter: The event BadEvent has an invalid parameter."
    );
    assert!(META_400.contains("BadEvent has an invalid parameter"));

    let accepted = graph.accepted_ids();
    assert_eq!(accepted.len(), 9, "{accepted:?}");
    assert!(count(&accepted).values().all(|n| *n == 1));
    let sizes: Vec<(usize, u16)> = graph
        .received()
        .iter()
        .map(|r| (r.events().len(), r.status))
        .collect();
    assert!(sizes.contains(&(10, 400)), "{sizes:?}");
    assert!(sizes.contains(&(1, 400)), "{sizes:?}");
    assert!(
        sizes.len() <= 1 + 2 * 4 + 1,
        "bisection takes at most 2·log2(n) requests: {sizes:?}"
    );
    assert_eq!(c.metric("collector_events_relay_failed_total").await, 1);
}

async fn events_older_than_seven_days_expire_instead_of_being_sent(backend: Backend) {
    let Relay { c, graph, .. } = &Relay::start(backend, &[], &[]).await;
    let mut old = beacon("Purchase", "old-1");
    old.ts -= 8 * 24 * 3600 * 1000;
    send_all(c, vec![old, beacon("Purchase", "new-1")], 1).await;
    let events = c.wait_settled(2, Duration::from_secs(10)).await;
    let old = events.iter().find(|e| e["event_id"] == "old-1").unwrap();
    assert_eq!(old["relay_status"], "expired");
    assert_eq!(
        events.iter().find(|e| e["event_id"] == "new-1").unwrap()["relay_status"],
        "sent"
    );
    assert_eq!(graph.accepted_ids(), ["new-1"]);
    assert_eq!(c.metric("collector_events_expired_total").await, 1);
}

async fn a_restart_resumes_pending_work_in_batches_of_at_most_1000(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.db(dir.path());
    // First run: the Graph API is down (connection refused), so everything stays pending.
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let pixel = pixel_arg();
    let c = Collector::start_on(&db, dir.path(), &fast(&dead, &pixel)).await;
    send_all(&c, numbered("PageView", "p", 1500), 8).await;
    let pending = c
        .wait_metric("collector_relay_queue_depth", 1500, Duration::from_secs(10))
        .await;
    assert_eq!(pending, 1500);
    assert!(
        c.metric("collector_relay_failures_total{kind=\"connect\"}")
            .await
            >= 1
    );
    let log = c.log_text();
    assert!(
        log.contains("Connection refused") || log.contains("connect"),
        "{log}"
    );
    assert!(
        !log.contains(TOKEN),
        "the access token leaked into the log: {log}"
    );
    assert_eq!(c.terminate(), 0, "graceful exit");

    // Second run on the same database: the Graph API is back.
    let graph = Graph::start().await;
    let c = Collector::start_on(&db, dir.path(), &fast(&graph.url, &pixel)).await;
    let ids = graph.wait_accepted(1500, Duration::from_secs(20)).await;
    assert_eq!(ids.len(), 1500);
    assert_eq!(count(&ids).len(), 1500, "each event exactly once");
    let sizes: Vec<usize> = graph.received().iter().map(|r| r.events().len()).collect();
    assert_eq!(sizes, [1000, 500]);
    c.wait_settled(1500, Duration::from_secs(5)).await;
    assert_eq!(
        c.wait_metric("collector_relay_queue_depth", 0, Duration::from_secs(10))
            .await,
        0
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

async fn without_an_access_token_events_are_stored_not_relayed_and_the_log_says_so_once(
    backend: Backend,
) {
    let Relay { c, graph, .. } = &Relay::start_for(backend, PIXEL, &[], &[]).await;
    send_all(c, numbered("PageView", "n", 3), 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(graph.received().is_empty());
    let events = c.events("").await;
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e["relay_status"] == "not_relayed"));
    assert_eq!(
        c.log_text()
            .matches("stored and shown but not relayed")
            .count(),
        1,
        "{}",
        c.log_text()
    );
    let _ = ADMIN;
}

/// Meta's answer when the token cannot reach the pixel (wrong pixel id, or a token of another
/// business): the request as a whole is refused, whatever events it carries.
const META_SUBCODE_33: &str = r#"{"error":{"message":"Unsupported post request. Object with ID '1234567890' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"A33"}}"#;

/// Meta's answer to a wrong `--app-secret`.
const META_APPSECRET: &str = r#"{"error":{"message":"Invalid appsecret_proof provided in the API argument","type":"GraphMethodException","code":100,"fbtrace_id":"Aproof"}}"#;

/// A request-level refusal the classifier does not know: only the bisection's breaker can tell.
const META_UNKNOWN_REQUEST_LEVEL: &str = r#"{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":9999001,"is_transient":false,"error_user_msg":"Server events are not enabled for this dataset.","fbtrace_id":"Aunk"}}"#;

fn statuses(events: &[serde_json::Value]) -> HashMap<String, String> {
    events
        .iter()
        .map(|e| {
            (
                e["event_id"].as_str().unwrap().to_owned(),
                e["relay_status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn subcode_33_keeps_events_pending_and_they_go_once_when_it_is_fixed(backend: Backend) {
    // Hold the relay until all ten are stored, then refuse six times as a misconfigured pixel.
    let script = held_then(Answer::Status(400, META_SUBCODE_33.into()), 6);
    let Relay { c, graph, .. } = &Relay::start(backend, &script, &[]).await;
    send_all(c, numbered("AddToCart", "s", 10), 1).await;

    let ids = graph.wait_accepted(10, Duration::from_secs(15)).await;
    assert_eq!(ids.len(), 10, "{ids:?}");
    assert!(count(&ids).values().all(|n| *n == 1), "{ids:?}");
    let events = c.wait_settled(10, Duration::from_secs(5)).await;
    let status = statuses(&events);
    assert!(status.values().all(|s| s == "sent"), "{status:?}");
    // Not bisected: each refused request carried the whole batch.
    let refused: Vec<usize> = graph
        .received()
        .iter()
        .filter(|r| r.status == 400)
        .map(|r| r.events().len())
        .collect();
    assert_eq!(refused, [10; 6]);
    assert_eq!(c.metric("collector_events_relay_failed_total").await, 0);
    assert_eq!(
        c.metric("collector_relay_failures_total{kind=\"misconfigured\"}")
            .await,
        6
    );
    assert!(
        c.log_text().contains("does not exist, cannot be loaded"),
        "{}",
        c.log_text()
    );
}

async fn a_wrong_app_secret_keeps_events_pending_instead_of_failing_them(backend: Backend) {
    let script = held_then(Answer::Status(400, META_APPSECRET.into()), 100);
    let Relay { c, graph, .. } =
        &Relay::start(backend, &script, &["--app-secret", "not-the-secret"]).await;
    send_all(c, numbered("Lead", "l", 5), 1).await;

    // The hold, then three refusals (one every --retry-max-ms).
    graph.wait_arrived(4, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let events = c.events("?limit=1000").await;
    let status = statuses(&events);
    assert_eq!(status.len(), 5);
    assert!(status.values().all(|s| s == "pending"), "{status:?}");
    assert!(
        events.iter().all(|e| e["relay_error"]
            .as_str()
            .is_some_and(|m| m.contains("appsecret_proof"))),
        "{events:?}"
    );
    assert!(graph
        .received()
        .iter()
        .filter(|r| r.status == 400)
        .all(|r| r.events().len() == 5));
    assert_eq!(c.metric("collector_events_relay_failed_total").await, 0);
    assert!(
        c.metric("collector_relay_failures_total{kind=\"misconfigured\"}")
            .await
            >= 2
    );
    assert_eq!(
        c.metric("collector_relay_failures_total{kind=\"bad_request\"}")
            .await,
        0
    );
}

async fn an_unknown_refusal_of_every_request_opens_the_breaker_instead_of_failing_events(
    backend: Backend,
) {
    let script = held_then(Answer::Status(400, META_UNKNOWN_REQUEST_LEVEL.into()), 12);
    let Relay { c, graph, .. } = &Relay::start(backend, &script, &[]).await;
    send_all(c, numbered("AddToCart", "u", 10), 1).await;

    let ids = graph.wait_accepted(10, Duration::from_secs(20)).await;
    assert_eq!(ids.len(), 10, "{ids:?}");
    assert!(count(&ids).values().all(|n| *n == 1), "{ids:?}");
    let events = c.wait_settled(10, Duration::from_secs(5)).await;
    let status = statuses(&events);
    assert!(status.values().all(|s| s == "sent"), "{status:?}");
    assert_eq!(c.metric("collector_events_relay_failed_total").await, 0);
    assert!(
        c.metric("collector_relay_failures_total{kind=\"request_rejected\"}")
            .await
            >= 1
    );
}

async fn bad_events_at_the_head_of_the_batch_still_fail_alone_and_the_rest_go_through(
    backend: Backend,
) {
    let Relay { c, graph, .. } = &Relay::start(backend, &[HOLD], &[]).await;
    graph.reject_event_name("BadEvent");
    // `send_all` sends from the end: the last two are stored first, so the bisection meets two
    // identically bad events before any good one.
    let mut beacons = numbered("AddToCart", "h", 10);
    beacons[9] = beacon("BadEvent", "bad-9");
    beacons[8] = beacon("BadEvent", "bad-8");
    send_all(c, beacons, 1).await;

    let events = c.wait_settled(10, Duration::from_secs(15)).await;
    let status = statuses(&events);
    assert_eq!(status.len(), 10);
    assert_eq!(status["bad-8"], "failed", "{status:?}");
    assert_eq!(status["bad-9"], "failed", "{status:?}");
    assert!(
        status
            .iter()
            .filter(|(id, _)| !id.starts_with("bad"))
            .all(|(_, s)| s == "sent"),
        "{status:?}"
    );
    let accepted = graph.accepted_ids();
    assert_eq!(accepted.len(), 8, "{accepted:?}");
    assert!(count(&accepted).values().all(|n| *n == 1));
    assert_eq!(c.metric("collector_events_relay_failed_total").await, 2);
    // The breaker opened once (two suspects, nothing accepted yet); the next round sent them last.
    assert_eq!(
        c.metric("collector_relay_failures_total{kind=\"request_rejected\"}")
            .await,
        1
    );
}

async fn a_derived_event_id_is_left_out_of_every_copy_including_a_retry(backend: Backend) {
    // Documented in the README (*Event IDs*): had Meta processed the first request (a 5xx after
    // processing, a timeout), the retry has no event_id to be recognised by either; Meta can only
    // match it on fbp/external_id and may count it twice.
    let Relay { c, graph, .. } =
        &Relay::start(backend, &[Answer::Status(500, "{}".into())], &[]).await;
    let mut b = beacon("Lead", "unused");
    b.eid = None;
    b.fbp = Some("fb.1.1596403881668.1116446470".into());
    send_all(c, vec![b], 1).await;

    let events = c.wait_settled(1, Duration::from_secs(10)).await;
    assert_eq!(events[0]["relay_status"], "sent");
    assert_eq!(events[0]["event_id_derived"], true);
    let got = graph.received();
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 200]);
    for copy in got.iter().flat_map(|r| r.events()) {
        assert!(copy.get("event_id").is_none(), "{copy}");
        assert_eq!(copy["event_name"], "Lead");
        assert_eq!(copy["user_data"]["fbp"], "fb.1.1596403881668.1116446470");
    }
}

/// Issue #9: with `--relay-batch 20`, 60 events Meta refuses identically at the head of the queue,
/// then 40 good ones. The breaker used to re-queue its suspects at the end of the next batch of
/// the same 20 and retry every `--retry-max-ms`: none of the 40 went through within 45 s.
async fn a_run_of_identically_refused_events_longer_than_a_batch_holds_back_nothing(
    backend: Backend,
) {
    let Relay { c, graph, .. } = &Relay::start(backend, &[HOLD], &["--relay-batch", "20"]).await;
    graph.reject_event_name("BadEvent");
    // `send_all` sends from the end: the 60 bad ones are stored first.
    let mut beacons = numbered("AddToCart", "good", 40);
    beacons.extend(numbered("BadEvent", "bad", 60));
    send_all(c, beacons, 1).await;

    let start = std::time::Instant::now();
    let ids = graph.wait_accepted(40, Duration::from_secs(10)).await;
    println!(
        "40 good events behind 60 refused ones relayed in {:?} (--relay-batch 20, --retry-base-ms 100)",
        start.elapsed()
    );
    assert_eq!(ids.len(), 40, "good events relayed within 10 s: {ids:?}");
    assert!(ids.iter().all(|i| i.starts_with("good-")), "{ids:?}");
    assert!(count(&ids).values().all(|n| *n == 1), "{ids:?}");
    // The refused ones are then tried again alone, after Meta accepted other events, and fail for
    // good with Meta's message.
    let events = c.wait_settled(100, Duration::from_secs(20)).await;
    let status = statuses(&events);
    assert_eq!(status.len(), 100);
    for (id, s) in &status {
        let want = if id.starts_with("good-") {
            "sent"
        } else {
            "failed"
        };
        assert_eq!(s, want, "{id}: {status:?}");
    }
    println!("and the 60 refused ones failed after {:?}", start.elapsed());
    assert_eq!(c.metric("collector_events_relay_failed_total").await, 60);
    assert_eq!(graph.accepted_ids().len(), 40);
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

async fn retry_after_zero_waits_the_growing_backoff_instead_of_hammering(backend: Backend) {
    let script = vec![Answer::RetryAfter(503, 0); 3];
    let Relay { c, graph, .. } = &Relay::start(backend, &script, &[]).await;
    send_all(c, vec![beacon("Lead", "ra0")], 1).await;
    assert_eq!(
        graph.wait_accepted(1, Duration::from_secs(10)).await,
        ["ra0"]
    );
    let got = graph.received();
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 503, 200]);
    let gaps: Vec<Duration> = got
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect();
    println!("gaps after Retry-After: 0 with --retry-base-ms 100: {gaps:?}");
    // backoff(n) = 100 ms · 2^(n-1) · [0.5, 1.5): at least 50, 100, 200 ms.
    for (gap, least) in gaps.iter().zip([50, 100, 200]) {
        assert!(
            *gap >= Duration::from_millis(least - 5),
            "{gaps:?}: Retry-After: 0 made the relay retry at once"
        );
    }
    c.wait_settled(1, Duration::from_secs(5)).await;
    assert_eq!(
        c.metric("collector_relay_failures_total{kind=\"http_5xx\"}")
            .await,
        3
    );
}

async fn an_outage_then_recovery_relays_every_event_exactly_once(backend: Backend) {
    // Eight answers of 503 (about 2 s of backoff), then Meta is back.
    let script = vec![Answer::Status(503, r#"{"error":{"message":"down"}}"#.into()); 8];
    let Relay { c, graph, .. } =
        &Relay::start(backend, &script, &["--app-secret", APP_SECRET]).await;
    send_all(c, numbered("PageView", "before", 20), 2).await;
    graph.wait_arrived(4, Duration::from_secs(10)).await;
    // More beacons during the outage.
    send_all(c, numbered("PageView", "during", 20), 2).await;

    let ids = graph.wait_accepted(40, Duration::from_secs(20)).await;
    assert_eq!(ids.len(), 40, "{ids:?}");
    assert!(count(&ids).values().all(|n| *n == 1), "{ids:?}");
    let events = c.wait_settled(40, Duration::from_secs(5)).await;
    assert!(
        events.iter().all(|e| e["relay_status"] == "sent"),
        "{events:?}"
    );
    let got = graph.received();
    let down = got.iter().filter(|r| r.status == 503).count();
    assert_eq!(down, 8);
    let outage = got[8].at.duration_since(got[0].at);
    println!(
        "outage of 8 refused requests lasted {outage:?} (--retry-base-ms 100, --retry-max-ms 400)"
    );
    assert!(
        outage >= Duration::from_millis(50 + 100 + 200 + 5 * 200),
        "{outage:?}"
    );
    assert_eq!(
        c.metric("collector_relay_failures_total{kind=\"http_5xx\"}")
            .await,
        8
    );
    assert_no_secret(&c.log_text());
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
    retries_5xx_and_429_honouring_retry_after_and_relays_each_event_once,
    a_hanging_graph_api_times_out_and_is_retried,
    a_400_is_bisected_the_bad_event_fails_with_metas_message_the_rest_go_through,
    events_older_than_seven_days_expire_instead_of_being_sent,
    a_restart_resumes_pending_work_in_batches_of_at_most_1000,
    sigterm_lets_the_request_in_flight_finish_and_records_it,
    without_an_access_token_events_are_stored_not_relayed_and_the_log_says_so_once,
    subcode_33_keeps_events_pending_and_they_go_once_when_it_is_fixed,
    a_wrong_app_secret_keeps_events_pending_instead_of_failing_them,
    an_unknown_refusal_of_every_request_opens_the_breaker_instead_of_failing_events,
    bad_events_at_the_head_of_the_batch_still_fail_alone_and_the_rest_go_through,
    a_derived_event_id_is_left_out_of_every_copy_including_a_retry,
    a_run_of_identically_refused_events_longer_than_a_batch_holds_back_nothing,
    a_redirect_is_never_followed_events_stay_pending_and_the_log_says_where_it_pointed,
    retry_after_zero_waits_the_growing_backoff_instead_of_hammering,
    an_outage_then_recovery_relays_every_event_exactly_once,
}
