//! Router tests: every endpoint and every rejection, through `tower::ServiceExt::oneshot` (no
//! socket), against a real SQLite file in a temporary directory and a real PostgreSQL database
//! (each test runs on both: `sqlite::…`, `postgres::…`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use collector::config::Config;
use collector::{app, AppState};
use common::{backend_tests, Backend, Db};
use http_body_util::BodyExt;
use pixel_core::wire::Beacon;
use serde_json::Value;
use tower::ServiceExt;

const PIXEL: &str = "1234567890";
const TOKEN: &str = "admin-secret-for-the-router";

struct Harness {
    app: Router,
    db: Db,
    dir: tempfile::TempDir,
}

fn harness(backend: Backend, extra: &[&str]) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    let site = dir.path().join("site");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::create_dir_all(site.join("shop")).unwrap();
    std::fs::write(dist.join("fbevents.js"), "/* pixel */\n".repeat(200)).unwrap();
    std::fs::write(dist.join("fbevents.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(site.join("index.html"), "<h1>store</h1>").unwrap();
    std::fs::write(site.join("shop").join("index.html"), "<h1>shop</h1>").unwrap();
    std::fs::write(dir.path().join("secret.txt"), "do not serve").unwrap();
    let db = backend.db(dir.path());
    let db_arg = db.arg();
    let mut args: Vec<String> = vec!["collector".into()];
    for a in [
        "--db",
        &db_arg,
        "--dist",
        dist.to_str().unwrap(),
        "--site",
        site.to_str().unwrap(),
        "--pixel",
        "1234567890=capi-token",
        "--pixel",
        "555",
        "--admin-token",
        TOKEN,
    ] {
        args.push(a.into());
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let config = Config::parse_from(args).unwrap_or_else(|e| panic!("{e:?}"));
    let store = collector::store::open(&config).unwrap();
    let state = AppState::new(config, store).unwrap();
    Harness {
        app: app(state),
        db,
        dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Harness {
    async fn call(&self, mut req: Request<Body>) -> Answer {
        if req.extensions().get::<ConnectInfo<SocketAddr>>().is_none() {
            req.extensions_mut()
                .insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 9], 40000))));
        }
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Answer {
        self.call(
            Request::get(uri)
                .header(header::HOST, "shop.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post(&self, uri: &str, content_type: &str, body: impl Into<Body>) -> Answer {
        let req = Request::post(uri)
            .header(header::HOST, "shop.example")
            .header(header::CONTENT_TYPE, content_type)
            .body(body.into())
            .unwrap();
        self.call(req).await
    }

    async fn events(&self, query: &str) -> Vec<Value> {
        let req = Request::get(format!("/api/events{query}"))
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let a = self.call(req).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        a.json().as_array().unwrap().clone()
    }

    /// A GET with the admin token.
    async fn admin_get(&self, uri: &str) -> Answer {
        let req = Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        self.call(req).await
    }

    async fn metrics(&self) -> String {
        let a = self.admin_get("/metrics").await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        a.text()
    }
}

fn beacon(ev: &str, eid: &str) -> Beacon {
    Beacon {
        id: PIXEL.into(),
        ev: ev.into(),
        dl: "http://shop.example/product?id=1".into(),
        rl: "http://shop.example/".into(),
        ts: u64::try_from(collector::ports::Clock::now_ms(
            &collector::ports::SystemClock,
        ))
        .unwrap(),
        v: "2.9.134".into(),
        r: "stable".into(),
        eid: Some(eid.into()),
        ..Beacon::default()
    }
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line_start)
                .and_then(|r| r.trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn get_tr_answers_a_gif_and_stores_the_event(backend: Backend) {
    let h = harness(backend, &[]);
    let mut b = beacon("Purchase", "order-1");
    b.cd = vec![
        ("value".into(), "12.5".into()),
        ("currency".into(), "EUR".into()),
        ("content_ids".into(), r#"["sku1","sku2"]"#.into()),
    ];
    b.fbp = Some("fb.1.1596403881668.1116446470".into());
    for path in ["/tr", "/tr/"] {
        let a = h.get(&format!("{path}?{}", b.encode())).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        assert_eq!(a.header(header::CONTENT_TYPE), Some("image/gif"));
        assert_eq!(a.body.len(), 43);
        assert!(a.body.starts_with(b"GIF89a"));
    }
    let events = h.events("").await;
    assert_eq!(
        events.len(),
        1,
        "the second copy is a duplicate: {events:?}"
    );
    let e = &events[0];
    assert_eq!(e["pixel_id"], PIXEL);
    assert_eq!(e["event_name"], "Purchase");
    assert_eq!(e["event_id"], "order-1");
    assert_eq!(e["source_url"], "http://shop.example/product?id=1");
    assert_eq!(e["fbp"], "fb.1.1596403881668.1116446470");
    assert_eq!(
        e["custom_data"],
        serde_json::json!({"value": 12.5, "currency": "EUR", "content_ids": ["sku1", "sku2"]})
    );
    assert_eq!(e["relay_status"], "pending");
    assert_eq!(
        e["event_time"].as_i64().unwrap(),
        i64::try_from(b.ts / 1000).unwrap()
    );
}

async fn head_tr_answers_like_get_but_stores_nothing(backend: Backend) {
    let h = harness(backend, &[]);
    let b = beacon("Lead", "head-1");
    let req = Request::head(format!("/tr/?{}", b.encode()))
        .header(header::HOST, "shop.example")
        .body(Body::empty())
        .unwrap();
    let a = h.call(req).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header(header::CONTENT_TYPE), Some("image/gif"));
    assert!(h.events("").await.is_empty(), "a HEAD is not a beacon");
    let a = h.get(&format!("/tr/?{}", b.encode())).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        h.events("").await.len(),
        1,
        "the GET of the same beacon is stored"
    );
}

async fn post_bodies_of_every_simple_type_are_accepted(backend: Backend) {
    let h = harness(backend, &[]);
    let form = beacon("PageView", "form-1").encode();
    assert_eq!(
        h.post("/tr", "application/x-www-form-urlencoded", form)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let text = beacon("PageView", "text-1").encode();
    assert_eq!(
        h.post("/tr/", "text/plain;charset=UTF-8", text)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let lines = format!("id={PIXEL}\r\nev=Lead\r\neid=lines-1\r\ndl=http://shop.example/a b\r\n");
    assert_eq!(
        h.post("/tr", "text/plain", lines).await.status,
        StatusCode::NO_CONTENT
    );
    let boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    let mut multipart = String::new();
    for (k, v) in [
        ("id", PIXEL),
        ("ev", "AddToCart"),
        ("eid", "multi-1"),
        ("cd[contents]", r#"[{"id":"a","quantity":2}]"#),
    ] {
        multipart.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    multipart.push_str(&format!("--{boundary}--\r\n"));
    let a = h
        .post(
            "/tr",
            &format!("multipart/form-data; boundary={boundary}"),
            multipart,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.text());
    let events = h.events("").await;
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["multi-1", "lines-1", "text-1", "form-1"],
        "newest first"
    );
    assert_eq!(
        events[0]["custom_data"]["contents"],
        serde_json::json!([{"id": "a", "quantity": 2}])
    );
    assert_eq!(events[1]["source_url"], "http://shop.example/a b");
}

async fn every_rejection_is_a_4xx_with_a_one_line_reason(backend: Backend) {
    let h = harness(backend, &["--allowed-origin", "https://shop.example"]);
    let long_ev = "E".repeat(101);
    let cases: Vec<(Answer, StatusCode, &str)> = vec![
        (
            h.get("/tr?id=999&ev=PageView").await,
            StatusCode::FORBIDDEN,
            "unknown pixel id",
        ),
        (
            h.get(&format!("/tr?id={PIXEL}")).await,
            StatusCode::BAD_REQUEST,
            "missing event name",
        ),
        (
            h.get("/tr?ev=PageView").await,
            StatusCode::BAD_REQUEST,
            "missing pixel id",
        ),
        (
            h.get(&format!("/tr?id={PIXEL}&ev=PageView&ts=soon")).await,
            StatusCode::BAD_REQUEST,
            "not a number",
        ),
        (
            h.get(&format!("/tr?id={PIXEL}&ev=Page%ZZView")).await,
            StatusCode::BAD_REQUEST,
            "percent-encoding",
        ),
        (
            h.get(&format!("/tr?id={PIXEL}&ev={long_ev}")).await,
            StatusCode::BAD_REQUEST,
            "longer than 100",
        ),
        (
            h.get(&format!(
                "/tr?id={PIXEL}&ev=PageView&eid={}",
                "x".repeat(201)
            ))
            .await,
            StatusCode::BAD_REQUEST,
            "longer than 200",
        ),
        (
            h.get(&format!(
                "/tr?id={PIXEL}&ev=PageView&cd[x]={}",
                "a".repeat(33 * 1024)
            ))
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "32 KB",
        ),
        (
            h.post(
                "/tr",
                "application/x-www-form-urlencoded",
                format!("id={PIXEL}&ev=PageView&cd[x]={}", "a".repeat(65 * 1024)),
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "64 KB",
        ),
        (
            h.post("/tr", "application/json", "{}").await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content type",
        ),
        (
            h.post("/tr", "multipart/form-data", "x").await,
            StatusCode::BAD_REQUEST,
            "without a boundary",
        ),
        (
            h.post("/tr", "multipart/form-data; boundary=zz", "garbage")
                .await,
            StatusCode::BAD_REQUEST,
            "malformed multipart",
        ),
        (
            h.post("/tr", "text/plain", vec![0xffu8, 0xfe]).await,
            StatusCode::BAD_REQUEST,
            "not UTF-8",
        ),
        (
            h.call(
                Request::get(format!("/tr?id={PIXEL}&ev=PageView"))
                    .header(header::ORIGIN, "https://evil.example")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await,
            StatusCode::FORBIDDEN,
            "origin not allowed",
        ),
        (
            h.call(Request::put("/tr").body(Body::empty()).unwrap())
                .await,
            StatusCode::METHOD_NOT_ALLOWED,
            "",
        ),
    ];
    for (i, (a, status, reason)) in cases.iter().enumerate() {
        assert_eq!(a.status, *status, "case {i}: {}", a.text());
        assert!(
            a.text().contains(reason),
            "case {i}: {:?} lacks {reason:?}",
            a.text()
        );
        assert!(
            a.text().trim_end().lines().count() <= 1,
            "case {i}: {:?}",
            a.text()
        );
    }
    // A chunked body (no Content-Length) over the limit is refused too.
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        (0..70).map(|_| Ok(Bytes::from(vec![b'a'; 1024]))).collect();
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    let a = h.post("/tr", "text/plain", body).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "collector_beacons_rejected_total{reason=\"unknown_pixel\"}"
        ),
        1
    );
    assert_eq!(
        metric(
            &m,
            "collector_beacons_rejected_total{reason=\"body_too_large\"}"
        ),
        2
    );
    assert_eq!(metric(&m, "collector_events_stored_total"), 0);
}

async fn plain_identifiers_are_hashed_and_never_stored(backend: Backend) {
    let h = harness(backend, &[]);
    let mut b = beacon("Lead", "lead-1");
    let prehashed = "ABCDEF0123456789".repeat(4);
    b.ud = vec![
        ("em".into(), "  John.Doe@Example.com ".into()),
        ("ph".into(), prehashed.clone()),
        ("shoe_size".into(), "44".into()),
        ("fn".into(), "   ".into()),
    ];
    let a = h.get(&format!("/tr?{}", b.encode())).await;
    assert_eq!(a.status, StatusCode::OK);
    let e = &h.events("").await[0];
    let ud = e["user_data"].as_object().unwrap();
    assert_eq!(ud.len(), 2, "{ud:?}");
    assert_eq!(ud["ph"], prehashed.to_lowercase());
    let em = ud["em"].as_str().unwrap();
    assert_eq!(em.len(), 64);
    assert!(em
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(
        em,
        // "  John.Doe@Example.com " normalised (SPEC §6).
        pixel_core::matching::sha256_hex("john.doe@example.com")
    );
    // The plain value is nowhere in the database (the SQLite file and its WAL, every PostgreSQL
    // table).
    drop(h.events("").await);
    let raw = h.db.dump();
    assert!(raw.contains(em), "the dump holds the stored event");
    assert!(!raw.to_lowercase().contains("john.doe"));
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "collector_user_data_dropped_total{field=\"unknown\",reason=\"unknown_key\"}"
        ),
        1
    );
    assert_eq!(
        metric(
            &m,
            "collector_user_data_dropped_total{field=\"fn\",reason=\"empty\"}"
        ),
        1
    );
}

async fn duplicates_are_acknowledged_counted_and_not_stored(backend: Backend) {
    let h = harness(backend, &[]);
    let b = beacon("Purchase", "same-id");
    for _ in 0..3 {
        assert_eq!(
            h.get(&format!("/tr?{}", b.encode())).await.status,
            StatusCode::OK
        );
    }
    // Same event id, other event name: a different event.
    assert_eq!(
        h.get(&format!("/tr?{}", beacon("AddToCart", "same-id").encode()))
            .await
            .status,
        StatusCode::OK
    );
    // Same id and name for another pixel: also different.
    let mut other = beacon("Purchase", "same-id");
    other.id = "555".into();
    assert_eq!(
        h.get(&format!("/tr?{}", other.encode())).await.status,
        StatusCode::OK
    );
    assert_eq!(h.events("").await.len(), 3);
    let m = h.metrics().await;
    assert_eq!(metric(&m, "collector_events_stored_total"), 3);
    assert_eq!(metric(&m, "collector_events_duplicate_total"), 2);
    assert_eq!(metric(&m, "collector_beacons_received_total"), 5);
    // Pixel 555 has no token: stored, not relayed.
    assert_eq!(
        h.events("?pixel=555").await[0]["relay_status"],
        "not_relayed"
    );
}

async fn a_beacon_without_eid_gets_a_stable_derived_id(backend: Backend) {
    let h = harness(backend, &[]);
    let mut b = beacon("PageView", "x");
    b.eid = None;
    b.fbp = Some("fb.1.1.2".into());
    let q = b.encode();
    h.get(&format!("/tr?{q}")).await;
    h.get(&format!("/tr?{q}")).await;
    let events = h.events("").await;
    assert_eq!(events.len(), 1, "a retried copy deduplicates");
    assert!(events[0]["event_id"].as_str().unwrap().starts_with("d-"));
    assert_eq!(events[0]["event_id_derived"], true);
}

async fn first_party_cookies_only_for_beacons_that_carry_them_on_the_same_site(backend: Backend) {
    let h = harness(backend, &[]);
    let mut b = beacon("PageView", "c-1");
    b.dl = "https://shop.example/".into();
    b.fbp = Some("fb.1.1596403881668.1116446470".into());
    b.fbc = Some("fb.1.1596403881668.IwAR2F4-dbP0".into());
    let a = h.get(&format!("/tr?{}", b.encode())).await;
    let cookies: Vec<&str> = a
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        cookies,
        [
            "_fbp=fb.1.1596403881668.1116446470; Max-Age=7776000; Path=/; Domain=shop.example; SameSite=Lax; Secure",
            "_fbc=fb.1.1596403881668.IwAR2F4-dbP0; Max-Age=7776000; Path=/; Domain=shop.example; SameSite=Lax; Secure"
        ]
    );
    // No fbp/fbc on the beacon (no consent): no cookie.
    let a = h
        .get(&format!("/tr?{}", beacon("PageView", "c-2").encode()))
        .await;
    assert!(a.headers.get(header::SET_COOKIE).is_none());
    // Page on another site than the collector: no cookie.
    let mut far = b.clone();
    far.eid = Some("c-3".into());
    far.dl = "https://other.example/".into();
    let a = h.get(&format!("/tr?{}", far.encode())).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.headers.get(header::SET_COOKIE).is_none());
    // A POST beacon gets them too (plain http page: no Secure).
    let mut post = b.clone();
    post.eid = Some("c-4".into());
    post.dl = "http://shop.example/".into();
    post.fbc = None;
    let a = h
        .post("/tr", "application/x-www-form-urlencoded", post.encode())
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(
        a.header(header::SET_COOKIE),
        Some("_fbp=fb.1.1596403881668.1116446470; Max-Age=7776000; Path=/; Domain=shop.example; SameSite=Lax")
    );
}

async fn cors_echoes_allowed_origins_and_answers_preflight(backend: Backend) {
    let open = harness(backend, &[]);
    let req = |origin: &str| {
        Request::post("/tr")
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from(beacon("PageView", origin).encode()))
            .unwrap()
    };
    // No allow-list: any page may send, but an arbitrary origin is never reflected with
    // credentials.
    let a = open.call(req("https://anyone.example")).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(a.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert!(a
        .headers
        .get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
        .is_none());

    let closed = harness(backend, &["--allowed-origin", "https://shop.example/"]);
    let a = closed.call(req("https://shop.example")).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(
        a.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://shop.example")
    );
    assert_eq!(
        a.header(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
        Some("true")
    );
    assert!(a.headers.get_all(header::VARY).iter().any(|v| v
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("origin")));
    let a = closed.call(req("https://evil.example")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.text().contains("origin"), "{}", a.text());
    assert!(a.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    // An image GET has no Origin: accepted.
    assert_eq!(
        closed
            .get(&format!("/tr?{}", beacon("PageView", "img").encode()))
            .await
            .status,
        StatusCode::OK
    );

    let pre = |origin: &str| {
        Request::options("/tr/")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap()
    };
    let a = closed.call(pre("https://shop.example")).await;
    assert!(a.status.is_success(), "{}", a.status);
    assert_eq!(
        a.header(header::ACCESS_CONTROL_ALLOW_METHODS),
        Some("GET,POST,OPTIONS")
    );
    assert_eq!(
        a.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
        Some("https://shop.example")
    );
    assert_eq!(a.header(header::ACCESS_CONTROL_MAX_AGE), Some("86400"));
    assert_eq!(
        closed.call(pre("https://evil.example")).await.status,
        StatusCode::FORBIDDEN
    );
}

async fn client_ip_comes_from_the_socket_unless_behind_a_trusted_proxy(backend: Backend) {
    async fn stored_ip(h: &Harness) -> Option<String> {
        let req = Request::get(format!("/tr?{}", beacon("PageView", "ip").encode()))
            .header("x-forwarded-for", "10.9.9.9, 203.0.113.5")
            .header(header::USER_AGENT, "TestAgent/1.0")
            .body(Body::empty())
            .unwrap();
        assert_eq!(h.call(req).await.status, StatusCode::OK);
        // The API does not show the IP; read the database.
        let rows = h.db.rows("SELECT client_ip, user_agent FROM events");
        assert_eq!(rows[0][1], "TestAgent/1.0");
        Some(rows[0][0].clone()).filter(|ip| !ip.is_empty())
    }
    assert_eq!(
        stored_ip(&harness(backend, &[])).await.as_deref(),
        Some("198.51.100.9")
    );
    assert_eq!(
        stored_ip(&harness(backend, &["--trust-proxy"]))
            .await
            .as_deref(),
        Some("203.0.113.5")
    );
}

async fn healthz_and_metrics(backend: Backend) {
    let h = harness(backend, &[]);
    let a = h.get("/healthz").await;
    assert_eq!(
        (a.status, a.text().as_str()),
        (StatusCode::OK, r#"{"status":"ok"}"#)
    );
    h.get(&format!("/tr?{}", beacon("PageView", "m-1").encode()))
        .await;
    h.get(&format!("/tr/?{}", beacon("PageView", "m-2").encode()))
        .await;
    h.get("/fbevents.js").await;
    h.get("/nothing-here").await;
    // On the public listener /metrics is an admin route.
    let anonymous = h.get("/metrics").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(!anonymous.text().contains("collector_"));
    let a = h.admin_get("/metrics").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a
        .header(header::CONTENT_TYPE)
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let m = a.text();
    for name in [
        "collector_beacons_received_total",
        "collector_events_stored_total",
        "collector_events_duplicate_total",
        "collector_beacons_rejected_total",
        "collector_events_relayed_total",
        "collector_relay_failures_total",
        "collector_relay_queue_depth",
        "collector_ingest_queue_depth",
        "collector_connections_open",
        "collector_connections_refused_total",
        "collector_connections_head_timeout_total",
        "collector_request_duration_seconds_bucket{route=\"/tr\",le=\"+Inf\"}",
    ] {
        assert!(m.contains(name), "{name} missing from\n{m}");
    }
    // Labels are route patterns (MatchedPath), one per route, and `static` for the fallback.
    for (route, n) in [("/tr", 1), ("/tr/", 1), ("static", 2), ("/healthz", 1)] {
        assert_eq!(
            metric(
                &m,
                &format!("collector_request_duration_seconds_count{{route=\"{route}\"}}")
            ),
            n,
            "{route}\n{m}"
        );
    }
    assert!(!m.contains("nothing-here"), "a URL became a label:\n{m}");
    assert_eq!(h.get("/_bench/204").await.status, StatusCode::NO_CONTENT);
}

async fn api_events_needs_the_admin_token_and_filters(backend: Backend) {
    let h = harness(backend, &[]);
    for (ev, eid) in [("PageView", "a"), ("Purchase", "b"), ("PageView", "c")] {
        h.get(&format!("/tr?{}", beacon(ev, eid).encode())).await;
    }
    let plain = h.get("/api/events").await;
    assert_eq!(plain.status, StatusCode::UNAUTHORIZED);
    assert_eq!(plain.header(header::WWW_AUTHENTICATE), Some("Bearer"));
    let wrong = h
        .call(
            Request::get("/api/events")
                .header(header::AUTHORIZATION, "Bearer nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        h.get(&format!("/api/events?token={TOKEN}&limit=1"))
            .await
            .status,
        StatusCode::UNAUTHORIZED,
        "the API never takes the token from the URL"
    );
    let all = h.events("").await;
    let ids: Vec<&str> = all
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["c", "b", "a"]);
    assert_eq!(h.events("?event=PageView").await.len(), 2);
    assert_eq!(
        h.events(&format!("?pixel={PIXEL}&event=Purchase&limit=5"))
            .await
            .len(),
        1
    );
    assert_eq!(h.events("?limit=1").await[0]["event_id"], "c");
    assert!(h.events("?pixel=555").await.is_empty());
    for bad in [
        "?limit=0",
        "?limit=1001",
        "?limit=x",
        "?pixel=abc",
        "?event=",
    ] {
        let req = Request::get(format!("/api/events{bad}"))
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let a = h.call(req).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {}", a.text());
    }
    let e = &all[1];
    for key in [
        "pixel_id",
        "event_name",
        "event_id",
        "event_time",
        "source_url",
        "fbp",
        "fbc",
        "user_data",
        "custom_data",
        "relay_status",
    ] {
        assert!(e.get(key).is_some(), "{key} missing in {e}");
    }
}

async fn api_and_report_refuse_when_no_admin_token_is_configured(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let db = backend.db(dir.path());
    let config = Config::parse_from(["collector", "--db", &db.arg(), "--pixel", PIXEL]).unwrap();
    let store = collector::store::open(&config).unwrap();
    let h = Harness {
        app: app(AppState::new(config, store).unwrap()),
        db,
        dir,
    };
    let req = Request::get("/api/events")
        .header(header::AUTHORIZATION, "Bearer ")
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.call(req).await.status, StatusCode::UNAUTHORIZED);
    let req = Request::get(format!(
        "/api/reports/funnel?pixel={PIXEL}&from=2026-01-01&to=2026-01-01"
    ))
    .header(header::AUTHORIZATION, "Bearer ")
    .body(Body::empty())
    .unwrap();
    assert_eq!(h.call(req).await.status, StatusCode::UNAUTHORIZED);
}

// The reports and the dashboard (which replaced /report) are tested in tests/reports.rs.

async fn static_files_from_dist_then_site(backend: Backend) {
    let h = harness(backend, &[]);
    let dist = h.dir.path().join("dist");
    let site = h.dir.path().join("site");
    let js_text = "/* pixel */\n".repeat(200);
    // Precompressed siblings, as the build writes them.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, js_text.as_bytes()).unwrap();
    std::fs::write(dist.join("fbevents.js.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(dist.join("fbevents.wasm.br"), b"brotli bytes").unwrap();

    let js = h.get("/fbevents.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js
        .header(header::CONTENT_TYPE)
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(
        js.header(header::CACHE_CONTROL),
        Some("public, max-age=300")
    );
    assert_eq!(js.header(header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
    assert!(js.header(header::CONTENT_ENCODING).is_none());
    assert_eq!(js.body, js_text.as_bytes());
    let modified = js.header(header::LAST_MODIFIED).unwrap().to_owned();

    let with = |path: &str, name: header::HeaderName, value: &str| {
        Request::get(path)
            .header(name, value)
            .body(Body::empty())
            .unwrap()
    };
    let gz = h
        .call(with("/fbevents.js", header::ACCEPT_ENCODING, "gzip"))
        .await;
    assert_eq!(gz.header(header::CONTENT_ENCODING), Some("gzip"));
    assert_eq!(gz.header(header::VARY), Some("Accept-Encoding"));
    assert!(gz.body.len() < js.body.len());
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut plain)
        .unwrap();
    assert_eq!(plain, js_text);

    let cached = h
        .call(with("/fbevents.js", header::IF_MODIFIED_SINCE, &modified))
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());

    // The wasm keeps its type whether it is served plain or from its .br sibling.
    let wasm = h.get("/fbevents.wasm").await;
    assert_eq!(wasm.header(header::CONTENT_TYPE), Some("application/wasm"));
    // Public files any origin may fetch (a sandboxed iframe's wasm load is a CORS request).
    assert_eq!(wasm.header(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("*"));
    assert_eq!(&wasm.body[..], b"\0asm\x01\0\0\0");
    let br = h
        .call(with("/fbevents.wasm", header::ACCEPT_ENCODING, "gzip, br"))
        .await;
    assert_eq!(br.header(header::CONTENT_TYPE), Some("application/wasm"));
    assert_eq!(br.header(header::CONTENT_ENCODING), Some("br"));
    assert_eq!(&br.body[..], b"brotli bytes");
    let refused = h
        .call(with("/fbevents.wasm", header::ACCEPT_ENCODING, "br;q=0"))
        .await;
    assert!(refused.header(header::CONTENT_ENCODING).is_none());

    let head = h
        .call(Request::head("/fbevents.js").body(Body::empty()).unwrap())
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());

    let home = h.get("/").await;
    assert_eq!(
        (home.status, home.text().as_str()),
        (StatusCode::OK, "<h1>store</h1>")
    );
    assert!(home
        .header(header::CONTENT_TYPE)
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(home.header(header::CACHE_CONTROL), Some("no-cache"));
    assert!(home.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let dir = h.get("/shop").await;
    assert!(dir.status.is_redirection(), "{}", dir.status);
    assert_eq!(dir.header(header::LOCATION), Some("/shop/"));
    assert_eq!(h.get("/shop/").await.text(), "<h1>shop</h1>");

    // `.well-known` stays possible; other hidden paths never are.
    std::fs::create_dir_all(site.join(".well-known")).unwrap();
    std::fs::write(site.join(".well-known/security.txt"), "Contact: x").unwrap();
    std::fs::create_dir_all(site.join(".git")).unwrap();
    std::fs::write(site.join(".git/config"), "[core]").unwrap();
    std::fs::write(site.join(".env"), "SECRET=1").unwrap();
    assert_eq!(
        h.get("/.well-known/security.txt").await.text(),
        "Contact: x"
    );

    // Symlinks: followed inside the root, refused out of it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(dist.join("fbevents.js"), dist.join("alias.js")).unwrap();
        symlink(h.dir.path().join("secret.txt"), site.join("leak.txt")).unwrap();
        symlink(h.dir.path(), site.join("up")).unwrap();
        symlink("/etc", site.join("etc")).unwrap();
        assert_eq!(h.get("/alias.js").await.body, js_text.as_bytes());
        for bad in [
            "/leak.txt",
            "/up/secret.txt",
            "/up/c.db",
            "/etc/passwd",
            "/etc/",
        ] {
            let a = h.get(bad).await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{bad}: {}", a.text());
        }
    }

    // `//x` is `/x` under the root, never the filesystem root.
    assert_eq!(h.get("//fbevents.js").await.body, js_text.as_bytes());
    assert_eq!(h.get("/shop//index.html").await.text(), "<h1>shop</h1>");

    for bad in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/shop/%2e%2e/%2e%2e/secret.txt",
        "/%2Fetc%2Fpasswd",
        "//etc/passwd",
        "/nope.js",
        "/.hidden",
        "/.git/config",
        "/.env",
        "/shop/.%2e/.env",
        "/a%5c..%5csecret.txt",
        "/%00",
        "/%ff%fe",
    ] {
        let a = h.get(bad).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{bad}");
        assert!(!a.text().contains("SECRET") && !a.text().contains("do not serve"));
    }
    let post = h.post("/fbevents.js", "text/plain", "x").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

backend_tests! {
    get_tr_answers_a_gif_and_stores_the_event,
    head_tr_answers_like_get_but_stores_nothing,
    post_bodies_of_every_simple_type_are_accepted,
    every_rejection_is_a_4xx_with_a_one_line_reason,
    plain_identifiers_are_hashed_and_never_stored,
    duplicates_are_acknowledged_counted_and_not_stored,
    a_beacon_without_eid_gets_a_stable_derived_id,
    first_party_cookies_only_for_beacons_that_carry_them_on_the_same_site,
    cors_echoes_allowed_origins_and_answers_preflight,
    client_ip_comes_from_the_socket_unless_behind_a_trusted_proxy,
    healthz_and_metrics,
    api_events_needs_the_admin_token_and_filters,
    api_and_report_refuse_when_no_admin_token_is_configured,
    static_files_from_dist_then_site,
}
