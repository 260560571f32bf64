//! The diagnostics report over real HTTP against the real binary, on SQLite and PostgreSQL: each
//! class of mistake is seeded through the endpoints a store uses (`/tr` beacons, the server-events
//! endpoint, a Meta that refuses an event) and is reported by the next request of
//! `/api/reports/diagnostics`, with its count, event names and an example; a clean store
//! reports nothing. Pixels are kept apart where a finding is a share of all Purchases (server
//! coverage, browser capture, match quality, orders twice), so each count is exact.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{backend_tests, beacon, Backend, Collector, Graph, ADMIN, TOKEN};
use pixel_core::wire::Beacon;
use serde_json::{json, Value};

/// The pixel most classes are seeded in, and those of the share-based findings.
const MAIN: &str = "1001";
const COVERAGE: &str = "2002";
const CAPTURE: &str = "3003";
const MATCHING: &str = "4004";
const TWICE: &str = "5005";
const CLEAN: &str = "6006";

fn now_ms() -> i64 {
    collector::ports::Clock::now_ms(&collector::ports::SystemClock)
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A beacon of `pixel` from the browser `fbp`, with strong match keys.
fn b(pixel: &str, ev: &str, eid: Option<&str>, fbp: &str, cd: &[(&str, &str)]) -> Beacon {
    let mut b = beacon(ev, eid.unwrap_or(""));
    b.id = pixel.into();
    b.eid = eid.map(str::to_owned);
    b.fbp = Some(fbp.into());
    b.cd = pairs(cd);
    b.ud = pairs(&[
        ("em", "jane@example.com"),
        ("ph", "+1 650 555 1212"),
        ("external_id", "cust-1"),
    ]);
    b
}

/// A server event as a store's server sends it.
fn server(name: &str, id: &str, fbp: Option<&str>, custom: Value) -> Value {
    let mut ud = json!({
        "em": ["jane@example.com"],
        "ph": ["16505551212"],
        "client_ip_address": "203.0.113.9",
        "client_user_agent": "Mozilla/5.0 (store server)",
    });
    if let Some(fbp) = fbp {
        ud["fbp"] = json!(fbp);
    }
    json!({
        "event_name": name,
        "event_id": id,
        "event_time": now_ms() / 1000 - 5,
        "action_source": "website",
        "event_source_url": "https://shop.example/thank-you",
        "user_data": ud,
        "custom_data": custom,
    })
}

async fn start(backend: Backend, dir: &std::path::Path) -> (Collector, Graph) {
    std::fs::create_dir_all(dir.join("dist")).unwrap();
    let graph = Graph::start().await;
    graph.reject_event_name("BadEvent");
    let pixels: Vec<String> = [MAIN, COVERAGE, CAPTURE, MATCHING, TWICE, CLEAN]
        .iter()
        .map(|p| format!("{p}={TOKEN}"))
        .collect();
    let mut args: Vec<&str> = Vec::new();
    for p in &pixels {
        args.extend(["--pixel", p]);
    }
    args.extend(["--graph-url", &graph.url, "--graph-allow-http"]);
    let c = Collector::start_on(&backend.db(dir), dir, &args).await;
    (c, graph)
}

async fn send(c: &Collector, beacons: Vec<Beacon>) {
    let client = reqwest::Client::new();
    for b in beacons {
        let r = client
            .get(c.url(&format!("/tr/?{}", b.encode())))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }
}

/// POST server events of `pixel` (with the pixel's token); the status.
async fn post(c: &Collector, pixel: &str, data: Vec<Value>, test_code: Option<&str>) -> u16 {
    let mut body = json!({ "data": data, "access_token": TOKEN });
    if let Some(code) = test_code {
        body["test_event_code"] = json!(code);
    }
    reqwest::Client::new()
        .post(c.url(&format!("/v24.0/{pixel}/events")))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The report of the last 10 days, by code.
async fn report(c: &Collector, pixel: &str) -> Vec<Value> {
    let today = now_ms().div_euclid(86_400_000);
    let (from, to) = (
        collector::reports::format_day(today - 10),
        collector::reports::format_day(today),
    );
    let r = reqwest::Client::new()
        .get(c.url(&format!(
            "/api/reports/diagnostics?pixel={pixel}&from={from}&to={to}"
        )))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let findings = body["findings"].as_array().unwrap().clone();
    // The shape, exactly, and the order: most events first.
    for f in &findings {
        let keys: BTreeSet<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "code",
                "title",
                "events",
                "event_names",
                "first_seen",
                "last_seen",
                "example_event_id",
                "fix"
            ]),
            "{f}"
        );
        assert!(!f["fix"].as_str().unwrap().is_empty());
        let first = f["first_seen"].as_str().unwrap();
        assert!(first.len() == 20 && first.ends_with('Z'), "{first}");
    }
    let counts: Vec<i64> = findings
        .iter()
        .map(|f| f["events"].as_i64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] >= w[1]), "{counts:?}");
    findings
}

fn find<'a>(findings: &'a [Value], code: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code} in {findings:#?}"))
}

/// Check a finding's count, names and example.
fn check(findings: &[Value], code: &str, events: i64, names: &[&str], examples: &[&str]) {
    let f = find(findings, code);
    assert_eq!(f["events"], events, "{code}: {f:#}");
    let got: Vec<&str> = f["event_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(got, names, "{code}: {f:#}");
    match f["example_event_id"].as_str() {
        Some(ex) => assert!(
            examples.contains(&ex)
                || examples
                    .iter()
                    .any(|p| p.ends_with('*') && ex.starts_with(p.trim_end_matches('*'))),
            "{code}: example {ex} not in {examples:?}"
        ),
        None => assert!(examples.is_empty(), "{code}: no example: {f:#}"),
    }
}

fn codes(findings: &[Value]) -> BTreeSet<String> {
    findings
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

async fn each_class_is_reported_within_one_refresh(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (c, _graph) = start(backend, dir.path()).await;
    let ids = [("content_ids", r#"["sku-1"]"#)];
    let paid = |v: &'static str| {
        vec![
            ("value", v),
            ("currency", "EUR"),
            ("content_ids", r#"["sku-1"]"#),
        ]
    };

    // 1. A Purchase without a page-provided event ID.
    let no_id = b(MAIN, "Purchase", None, "fb.1.1.100", &paid("11"));
    // 2. One event ID, three browsers: two repeats are an ID reused.
    let reused: Vec<Beacon> = ["fb.1.1.201", "fb.1.1.202", "fb.1.1.203"]
        .into_iter()
        .map(|fbp| b(MAIN, "ViewContent", Some("same-id"), fbp, &ids))
        .collect();
    // 5. Purchases with a string value, an unknown currency, neither.
    let bad_value = vec![
        b(
            MAIN,
            "Purchase",
            Some("pv-1"),
            "fb.1.1.301",
            &[
                ("value", "12,50"),
                ("currency", "EUR"),
                ("content_ids", r#"["sku-1"]"#),
            ],
        ),
        b(
            MAIN,
            "Purchase",
            Some("pv-2"),
            "fb.1.1.302",
            &[
                ("value", "10"),
                ("currency", "EURO"),
                ("content_ids", r#"["sku-1"]"#),
            ],
        ),
        b(MAIN, "Purchase", Some("pv-3"), "fb.1.1.303", &ids),
    ];
    // 6. A beacon whose ts is in seconds.
    let mut seconds = b(MAIN, "PageView", Some("pv-secs"), "fb.1.1.400", &[]);
    seconds.ts /= 1000;
    // 11. Catalog events without content_ids.
    let no_ids = vec![
        b(MAIN, "ViewContent", Some("vc-1"), "fb.1.1.501", &[]),
        b(MAIN, "ViewContent", Some("vc-2"), "fb.1.1.502", &[]),
        b(MAIN, "AddToCart", Some("atc-1"), "fb.1.1.503", &[]),
    ];
    // 12. Events Meta refuses.
    let refused = vec![
        b(MAIN, "BadEvent", Some("bad-1"), "fb.1.1.601", &[]),
        b(MAIN, "BadEvent", Some("bad-2"), "fb.1.1.602", &[]),
    ];
    // 3. Browser copies, then server copies from another browser or without fbp.
    let leads = vec![
        b(MAIN, "Lead", Some("lead-1"), "fb.1.1.701", &[]),
        b(MAIN, "Lead", Some("lead-2"), "fb.1.1.702", &[]),
    ];
    let mut all = vec![no_id, seconds];
    all.extend(reused);
    all.extend(bad_value);
    all.extend(no_ids);
    all.extend(refused);
    all.extend(leads);
    send(&c, all).await;
    let lead = |id, fbp| server("Lead", id, fbp, json!({}));
    assert_eq!(
        post(
            &c,
            MAIN,
            vec![lead("lead-1", Some("fb.1.1.999")), lead("lead-2", None)],
            None
        )
        .await,
        200
    );
    // 6. Server events: one near the 7-day limit; refused ones in milliseconds, in the future.
    let mut late = lead("late-1", Some("fb.1.1.800"));
    late["event_time"] = json!(now_ms() / 1000 - 6 * 86_400 - 12 * 3600);
    assert_eq!(post(&c, MAIN, vec![late], None).await, 200);
    let mut millis = lead("ms-1", Some("fb.1.1.801"));
    millis["event_time"] = json!(now_ms());
    assert_eq!(post(&c, MAIN, vec![millis], None).await, 400);
    let mut future = lead("future-1", Some("fb.1.1.802"));
    future["event_time"] = json!(now_ms() / 1000 + 3600);
    assert_eq!(post(&c, MAIN, vec![future], None).await, 400);
    // 4. client_ip_address with a port, and not an address at all (Meta's own 400 here too).
    for ip in ["203.0.113.9:443", "localhost"] {
        let mut e = lead("ip", Some("fb.1.1.900"));
        e["user_data"]["client_ip_address"] = json!(ip);
        assert_eq!(post(&c, MAIN, vec![e], None).await, 400);
    }
    // 8. A test_event_code on events two days apart.
    let mut old = lead("test-1", Some("fb.1.1.1000"));
    old["event_time"] = json!(now_ms() / 1000 - 2 * 86_400);
    assert_eq!(post(&c, MAIN, vec![old], Some("TEST4242")).await, 200);
    assert_eq!(
        post(
            &c,
            MAIN,
            vec![lead("test-2", Some("fb.1.1.1001"))],
            Some("TEST4242")
        )
        .await,
        200
    );

    // 7. Coverage: six browser Purchases, the server sent one of them.
    let orders: Vec<Beacon> = (1..=6)
        .map(|i| {
            let (id, fbp) = (format!("cov-{i}"), format!("fb.1.2.{i}"));
            let mut p = b(COVERAGE, "Purchase", Some(&id), &fbp, &paid("20"));
            p.cd = pairs(&[
                ("value", &format!("2{i}")),
                ("currency", "EUR"),
                ("content_ids", r#"["sku-1"]"#),
            ]);
            p
        })
        .collect();
    send(&c, orders).await;
    let custom = json!({"value": 21, "currency": "EUR", "content_ids": ["sku-1"]});
    assert_eq!(
        post(
            &c,
            COVERAGE,
            vec![server("Purchase", "cov-1", Some("fb.1.2.1"), custom)],
            None
        )
        .await,
        200
    );
    // 7. Capture: six server Purchases, the browser saw one.
    let sent: Vec<Value> = (1..=6)
        .map(|i| {
            let custom = json!({"value": 30 + i, "currency": "EUR", "content_ids": ["sku-1"]});
            server(
                "Purchase",
                &format!("cap-{i}"),
                Some(&format!("fb.1.3.{i}")),
                custom,
            )
        })
        .collect();
    assert_eq!(post(&c, CAPTURE, sent, None).await, 200);
    send(
        &c,
        vec![b(
            CAPTURE,
            "Purchase",
            Some("cap-1"),
            "fb.1.3.1",
            &paid("31"),
        )],
    )
    .await;
    // 10. Purchases with fbp alone.
    let weak: Vec<Beacon> = (1..=5)
        .map(|i| {
            let mut p = b(
                MATCHING,
                "Purchase",
                Some(&format!("mq-{i}")),
                &format!("fb.1.4.{i}"),
                &paid("40"),
            );
            p.ud.clear();
            p.cd = pairs(&[
                ("value", &format!("4{i}")),
                ("currency", "EUR"),
                ("content_ids", r#"["sku-1"]"#),
            ]);
            p
        })
        .collect();
    send(&c, weak).await;
    // 9. One order, two event IDs, seconds apart.
    send(
        &c,
        vec![
            b(
                TWICE,
                "Purchase",
                Some("order-77"),
                "fb.1.5.1",
                &paid("59.9"),
            ),
            b(
                TWICE,
                "Purchase",
                Some("order-77-reload"),
                "fb.1.5.1",
                &paid("59.9"),
            ),
            b(
                TWICE,
                "Purchase",
                Some("order-78"),
                "fb.1.5.2",
                &paid("59.9"),
            ),
        ],
    )
    .await;

    // Meta's refusals take the relay's round trip: wait for it, then one refresh.
    let failed = c
        .wait_metric(
            "collector_events_relay_failed_total",
            2,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(failed, 2);

    let main = report(&c, MAIN).await;
    check(
        &main,
        "purchase_without_event_id",
        1,
        &["Purchase"],
        &["d-*"],
    );
    check(&main, "event_id_reused", 2, &["ViewContent"], &["same-id"]);
    check(&main, "fbp_mismatch", 2, &["Lead"], &["lead-1", "lead-2"]);
    check(&main, "client_ip_invalid", 2, &[], &[]);
    check(
        &main,
        "purchase_value_invalid",
        3,
        &["Purchase"],
        &["pv-1", "pv-2", "pv-3"],
    );
    check(
        &main,
        "event_time_suspect",
        4,
        &["Lead", "PageView"],
        &["pv-secs", "late-1"],
    );
    check(
        &main,
        "test_event_code_in_use",
        2,
        &["Lead"],
        &["test-1", "test-2"],
    );
    check(
        &main,
        "content_ids_missing",
        3,
        &["AddToCart", "ViewContent"],
        &["vc-1", "vc-2", "atc-1"],
    );
    check(&main, "meta_refused", 2, &["BadEvent"], &["bad-1", "bad-2"]);
    let fbp = find(&main, "fbp_mismatch")["title"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        fbp.contains("fbp differs: 1") && fbp.contains("server without fbp: 1"),
        "{fbp}"
    );
    assert!(find(&main, "test_event_code_in_use")["title"]
        .as_str()
        .unwrap()
        .contains("TEST4242"));
    let time = find(&main, "event_time_suspect")["title"]
        .as_str()
        .unwrap()
        .to_owned();
    for d in [
        "unit: 1",
        "late: 1",
        "refused milliseconds: 1",
        "refused future: 1",
    ] {
        assert!(time.contains(d), "{d} in {time}");
    }
    assert_eq!(
        codes(&main),
        BTreeSet::from(
            [
                "purchase_without_event_id",
                "event_id_reused",
                "fbp_mismatch",
                "client_ip_invalid",
                "purchase_value_invalid",
                "event_time_suspect",
                "test_event_code_in_use",
                "content_ids_missing",
                "meta_refused"
            ]
            .map(String::from)
        )
    );
    let refused = find(&main, "meta_refused")["title"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        refused.contains("BadEvent") && refused.contains('%'),
        "{refused}"
    );

    let coverage = report(&c, COVERAGE).await;
    check(
        &coverage,
        "server_coverage_low",
        5,
        &["Purchase"],
        &["cov-*"],
    );
    assert_eq!(
        codes(&coverage),
        BTreeSet::from(["server_coverage_low".to_owned()])
    );
    let capture = report(&c, CAPTURE).await;
    check(
        &capture,
        "browser_capture_low",
        5,
        &["Purchase"],
        &["cap-*"],
    );
    assert_eq!(
        codes(&capture),
        BTreeSet::from(["browser_capture_low".to_owned()])
    );
    let matching = report(&c, MATCHING).await;
    check(&matching, "match_quality_low", 5, &["Purchase"], &["mq-*"]);
    let title = find(&matching, "match_quality_low")["title"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        title.contains("0.8 of 10") && title.contains("adding em"),
        "{title}"
    );
    assert_eq!(
        codes(&matching),
        BTreeSet::from(["match_quality_low".to_owned()])
    );
    let twice = report(&c, TWICE).await;
    check(
        &twice,
        "order_reported_twice",
        1,
        &["Purchase"],
        &["order-77", "order-77-reload"],
    );
    assert_eq!(
        codes(&twice),
        BTreeSet::from(["order_reported_twice".to_owned()])
    );

    // The counters, per code.
    assert_eq!(
        c.metric("collector_diagnostics_total{code=\"meta_refused\"}")
            .await,
        2
    );
    assert_eq!(
        c.metric("collector_diagnostics_total{code=\"client_ip_invalid\"}")
            .await,
        2
    );
    assert_eq!(
        c.metric("collector_diagnostics_total{code=\"purchase_value_invalid\"}")
            .await,
        3
    );
}

async fn a_clean_store_reports_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (c, graph) = start(backend, dir.path()).await;
    let mut beacons = Vec::new();
    let mut sent = Vec::new();
    for i in 1..=6 {
        let fbp = format!("fb.1.6.{i}");
        let ids = [("content_ids", r#"["sku-1"]"#)];
        beacons.push(b(CLEAN, "PageView", Some(&format!("pv-{i}")), &fbp, &[]));
        beacons.push(b(
            CLEAN,
            "ViewContent",
            Some(&format!("vc-{i}")),
            &fbp,
            &ids,
        ));
        beacons.push(b(CLEAN, "AddToCart", Some(&format!("atc-{i}")), &fbp, &ids));
        let value = format!("{}.5", 10 + i);
        beacons.push(b(
            CLEAN,
            "Purchase",
            Some(&format!("order-{i}")),
            &fbp,
            &[
                ("value", &value),
                ("currency", "EUR"),
                ("content_ids", r#"["sku-1"]"#),
            ],
        ));
        let custom =
            json!({"value": 10.5 + f64::from(i), "currency": "EUR", "content_ids": ["sku-1"]});
        sent.push(server(
            "Purchase",
            &format!("order-{i}"),
            Some(&fbp),
            custom,
        ));
    }
    send(&c, beacons).await;
    assert_eq!(post(&c, CLEAN, sent, None).await, 200);
    // The relay sends the pairs (released at once) and the rest: nothing is refused.
    graph.wait_accepted(24, Duration::from_secs(30)).await;
    let findings = report(&c, CLEAN).await;
    assert!(findings.is_empty(), "{findings:#?}");
    for code in ["meta_refused", "fbp_mismatch", "event_id_reused"] {
        assert_eq!(
            c.metric(&format!("collector_diagnostics_total{{code=\"{code}\"}}"))
                .await,
            0
        );
    }
}

backend_tests!(
    each_class_is_reported_within_one_refresh,
    a_clean_store_reports_nothing
);
