//! Server events over real HTTP against the real binary, on SQLite and PostgreSQL: the answer
//! comes after the events are stored, every encoding and place of the token Meta's SDKs use is
//! read, every refusal is Meta's error object and stores nothing, the store's unavailability is a
//! 503 with `Retry-After`, no credential reaches the log, and a 10,000-request malformed corpus
//! gets no 5xx and stores nothing of what it refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{assert_no_secret, backend_tests, beacon, Backend, Collector, Graph, PIXEL, TOKEN};
use reqwest::header::{HeaderMap, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};

/// A pixel without access token, whose server has a `--server-key`.
const KEYED: &str = "5550001";
const KEY: &str = "server-key-of-the-store-0001";
/// A pixel with neither: it takes beacons only.
const BARE: &str = "777";

fn now() -> i64 {
    collector::ports::Clock::now_ms(&collector::ports::SystemClock) / 1000
}

/// A website event as a store's server sends it, with plain and hashed user data.
fn event(name: &str, id: Option<&str>) -> Value {
    let mut e = json!({
        "event_name": name,
        "event_time": now() - 5,
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout/thank-you",
        "user_data": {
            "em": ["Jane.Doe@Example.com"],
            "ph": "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4",
            "client_ip_address": "203.0.113.9",
            "client_user_agent": "Mozilla/5.0 (store server test)",
            "fbp": "fb.1.1700000000000.987654321"
        },
        "custom_data": {"value": 42.5, "currency": "EUR", "order_id": "ord-1"}
    });
    if let Some(id) = id {
        e["event_id"] = json!(id);
    }
    e
}

async fn start(backend: Backend, dir: &std::path::Path, extra: &[&str]) -> (Collector, Graph) {
    std::fs::create_dir_all(dir.join("dist")).unwrap();
    let graph = Graph::start().await;
    let pixel = format!("{PIXEL}={TOKEN}");
    let key = format!("{KEYED}={KEY}");
    let mut args = vec![
        "--pixel",
        &pixel,
        "--pixel",
        KEYED,
        "--pixel",
        BARE,
        "--server-key",
        &key,
        "--graph-url",
        &graph.url,
        "--graph-allow-http",
    ];
    args.extend_from_slice(extra);
    let c = Collector::start_on(&backend.db(dir), dir, &args).await;
    (c, graph)
}

/// What a request got: status, headers, body as JSON (`Null` if none).
struct Got {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn post(
    c: &Collector,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    bearer: Option<&str>,
) -> Got {
    let mut req = reqwest::Client::new()
        .post(c.url(path))
        .header(CONTENT_TYPE, content_type)
        .body(body);
    if let Some(t) = bearer {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Got {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

async fn post_json(c: &Collector, pixel: &str, body: &Value, bearer: Option<&str>) -> Got {
    post(
        c,
        &format!("/v24.0/{pixel}/events"),
        "application/json",
        body.to_string(),
        bearer,
    )
    .await
}

fn count(c: &Collector) -> u64 {
    c.db.count("SELECT count(*) FROM events")
}

/// `(event_id, origin, hold_until_ms, server_fields)` of every stored event.
fn stored(c: &Collector) -> Vec<(String, i64, Option<i64>, Value)> {
    c.db.rows("SELECT event_id, origin, hold_until_ms, server_fields, received_at_ms FROM events ORDER BY event_id")
        .into_iter()
        .map(|r| {
            (
                r[0].clone(),
                r[1].parse().unwrap(),
                r[2].parse().ok(),
                serde_json::from_str(&r[3]).unwrap_or(Value::Null),
            )
        })
        .collect()
}

async fn a_request_is_answered_once_its_events_are_stored(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (c, _graph) = start(backend, dir.path(), &[]).await;
    let body = json!({
        "data": [event("Purchase", Some("o-1")), event("AddToCart", Some("a-1")), event("Lead", None)],
        "test_event_code": "TEST123",
        "partner_agent": null
    });
    let got = post_json(&c, PIXEL, &body, Some(TOKEN)).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["events_received"], 3);
    assert_eq!(got.body["messages"], json!([]));
    assert!(got.body["fbtrace_id"]
        .as_str()
        .is_some_and(|t| t.len() > 10));
    assert!(got.headers[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    // Durable before the answer: the rows are there the moment it came.
    assert_eq!(count(&c), 3);
    let rows = stored(&c);
    for (id, origin, hold, server) in &rows {
        assert_eq!(*origin, 2, "{id}: a server copy");
        assert_eq!(server["action_source"], "website", "{id}: {server}");
        assert!(server.to_string().contains("TEST123"), "{server}");
        assert_eq!(hold.is_some(), id == "o-1", "{id}: only Purchase is held");
    }
    let derived = rows.iter().find(|r| r.0.starts_with("s-")).unwrap();
    assert_eq!(derived.0.len(), 34);
    // Plain user data never reaches the database.
    let dump = c.db.dump();
    assert!(!dump.contains("Jane.Doe") && !dump.contains("jane.doe"));
    let api = c.events("?limit=10").await;
    let purchase = api.iter().find(|e| e["event_id"] == "o-1").unwrap();
    assert_eq!(purchase["user_data"]["em"].as_str().unwrap().len(), 64);
    assert_eq!(
        (purchase["origin"].as_str(), purchase["verified"].as_bool()),
        (Some("server"), Some(true))
    );
    assert!(purchase["hold_until_ms"].is_i64());
    assert_eq!(c.metric("collector_server_requests_total").await, 1);
    assert_eq!(c.metric("collector_events_stored_total").await, 3);
}

async fn every_encoding_and_every_place_of_the_token_is_read(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (c, _graph) = start(backend, dir.path(), &["--log", "trace"]).await;
    let data = |id: &str| json!([event("ViewContent", Some(id))]);
    let form = |id: &str, token: &str| {
        format!(
            "data={}&access_token={token}&partner_agent=sdk",
            urlencode(&data(id).to_string())
        )
    };
    // Bearer, body token, query token (the Node.js SDK), the server key.
    let cases: Vec<Got> = vec![
        post_json(&c, PIXEL, &json!({"data": data("j-bearer")}), Some(TOKEN)).await,
        post_json(&c, PIXEL, &json!({"data": data("j-body"), "access_token": TOKEN}), None).await,
        post(
            &c,
            &format!("/v24.0/{PIXEL}/events?access_token={TOKEN}"),
            "application/json",
            json!({"data": data("j-query"), "test_event_code": null}).to_string(),
            None,
        )
        .await,
        post_json(&c, KEYED, &json!({"data": data("k-bearer")}), Some(KEY)).await,
        // The Python SDK: a form body, the token (and appsecret_proof) in the query string.
        post(
            &c,
            &format!("/v21.0/{PIXEL}/events?access_token={TOKEN}"),
            "application/x-www-form-urlencoded",
            format!("data={}", urlencode(&data("f-query").to_string())),
            None,
        )
        .await,
        post(
            &c,
            &format!("/v21.0/{KEYED}/events"),
            "application/x-www-form-urlencoded",
            form("f-body", KEY),
            None,
        )
        .await,
        // curl -F, as in Meta's documentation.
        post(
            &c,
            &format!("/v24.0/{PIXEL}/events"),
            "multipart/form-data; boundary=XyZ",
            format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\n{TOKEN}\r\n--XyZ--\r\n",
                data("m-body")
            ),
            None,
        )
        .await,
    ];
    for (i, got) in cases.iter().enumerate() {
        assert_eq!(got.status, 200, "case {i}: {}", got.body);
        assert_eq!(got.body["events_received"], 1, "case {i}");
    }
    assert_eq!(count(&c), cases.len() as u64);
    // The key works for its pixel only, the token for its own.
    let wrong = post_json(&c, PIXEL, &json!({"data": data("x")}), Some(KEY)).await;
    assert_eq!(wrong.status, 401);
    let log = c.log_text();
    assert_no_secret(&log, &[KEY.to_owned(), TOKEN.to_owned()]);
    assert!(
        !log.contains("access_token"),
        "a query string reached the log"
    );
}

/// `s`, percent-encoded for a form.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn refusals_are_meta_s_error_objects_and_store_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (c, _graph) = start(backend, dir.path(), &[]).await;
    let good = json!({"data": [event("Purchase", Some("r-1"))]});
    let mut bad_event = good.clone();
    bad_event["data"] = json!([event("A", Some("r-2")), event("B", Some("r-3")), event("C", Some("r-4")), {"event_name": "D", "event_time": now(), "action_source": "website", "user_data": {}}]);
    let too_old = json!({"data": [{"event_name": "E", "event_time": now() - 8 * 86400, "action_source": "email", "user_data": {}}]});
    let path = |pixel: &str| format!("/v24.0/{pixel}/events");
    // (what, got, status, code, subcode, message starts with)
    type Case<'a> = (&'a str, Got, u16, u64, Option<u64>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "bad version",
            post(
                &c,
                &format!("/24.0/{PIXEL}/events"),
                "application/json",
                good.to_string(),
                Some(TOKEN),
            )
            .await,
            404,
            2500,
            None,
            "Unknown path components",
        ),
        (
            "undecodable path",
            post(
                &c,
                &format!("/v24.0/%ff{PIXEL}/events"),
                "application/json",
                good.to_string(),
                Some(TOKEN),
            )
            .await,
            404,
            2500,
            None,
            "Unknown path components",
        ),
        (
            "unknown pixel",
            post_json(&c, "999", &good, Some(TOKEN)).await,
            400,
            100,
            Some(33),
            "Unsupported post request. Object with ID '999'",
        ),
        (
            "pixel without credentials",
            post_json(&c, BARE, &good, Some(TOKEN)).await,
            403,
            200,
            None,
            "this pixel cannot receive server events",
        ),
        (
            "no token",
            post_json(&c, PIXEL, &good, None).await,
            401,
            104,
            None,
            "An access token is required",
        ),
        (
            "wrong token",
            post_json(&c, PIXEL, &good, Some("capi-token-wrong")).await,
            401,
            190,
            None,
            "Invalid OAuth access token",
        ),
        (
            "wrong token in the body",
            post_json(
                &c,
                PIXEL,
                &json!({"data": good["data"], "access_token": "nope"}),
                None,
            )
            .await,
            401,
            190,
            None,
            "Invalid OAuth access token",
        ),
        (
            "xml",
            post(&c, &path(PIXEL), "application/xml", "<data/>", Some(TOKEN)).await,
            415,
            100,
            None,
            "unsupported content type",
        ),
        (
            "broken json",
            post(
                &c,
                &path(PIXEL),
                "application/json",
                "{\"data\": [",
                Some(TOKEN),
            )
            .await,
            400,
            100,
            None,
            "the JSON body is invalid",
        ),
        (
            "one bad event",
            post_json(&c, PIXEL, &bad_event, Some(TOKEN)).await,
            400,
            100,
            Some(2_804_019),
            "data[3].event_source_url: is required",
        ),
        (
            "too old",
            post_json(&c, PIXEL, &too_old, Some(TOKEN)).await,
            400,
            100,
            Some(2_804_008),
            "data[0].event_time: more than 7 days in the past",
        ),
    ];
    for (what, got, status, code, subcode, message) in &cases {
        assert_eq!(got.status, *status, "{what}: {}", got.body);
        let err = &got.body["error"];
        assert_eq!(err["code"], *code, "{what}: {}", got.body);
        assert_eq!(
            err["error_subcode"].as_u64(),
            *subcode,
            "{what}: {}",
            got.body
        );
        assert!(
            err["message"].as_str().unwrap().starts_with(message),
            "{what}: {}",
            got.body
        );
        assert!(
            err["type"].is_string() && err["fbtrace_id"].is_string(),
            "{what}"
        );
        assert_eq!(err["is_transient"], false, "{what}");
        if *status == 401 {
            assert_eq!(got.headers["www-authenticate"], "Bearer", "{what}");
        }
    }
    assert_eq!(count(&c), 0, "nothing of a refused request is stored");
    // The same request, put right, is stored whole.
    bad_event["data"][3] = event("D", Some("r-5"));
    let got = post_json(&c, PIXEL, &bad_event, Some(TOKEN)).await;
    assert_eq!(
        (got.status, got.body["events_received"].as_u64()),
        (200, Some(4))
    );
    assert_eq!(count(&c), 4);
}

async fn a_retry_is_received_again_and_stored_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (c, _graph) = start(backend, dir.path(), &[]).await;
    // One with an ID, one without: an SDK's retry sends the same bytes.
    let body = json!({"data": [event("Lead", Some("l-1")), event("Contact", None)]});
    for _ in 0..3 {
        let got = post_json(&c, KEYED, &body, Some(KEY)).await;
        assert_eq!(
            (got.status, got.body["events_received"].as_u64()),
            (200, Some(2))
        );
    }
    assert_eq!(count(&c), 2);
    assert_eq!(c.metric("collector_events_duplicate_total").await, 4);
    // A beacon of the same event: one event (merged into the server copy, or deduplicated).
    let mut b = beacon("Lead", "l-1");
    b.id = KEYED.into();
    let r = reqwest::get(c.url(&format!("/tr/?{}", b.encode())))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(count(&c), 2);
    let lead = c
        .events("?limit=10")
        .await
        .into_iter()
        .find(|e| e["event_id"] == "l-1");
    assert_eq!(lead.map(|e| e["origin"].clone()), Some(json!("both")));
}

async fn held_events_wait_for_their_other_copy_beacons_too(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (c, _graph) = start(
        backend,
        dir.path(),
        &["--hold", "Purchase,Lead", "--hold-secs", "120"],
    )
    .await;
    for (name, id) in [("Purchase", "b-p"), ("Lead", "b-l"), ("PageView", "b-v")] {
        let r = reqwest::get(c.url(&format!("/tr/?{}", beacon(name, id).encode())))
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let body = json!({"data": [event("Purchase", Some("s-p")), event("ViewContent", Some("s-v"))]});
    assert_eq!(post_json(&c, PIXEL, &body, Some(TOKEN)).await.status, 200);
    // A pixel that is not relayed holds nothing.
    assert_eq!(
        post_json(
            &c,
            KEYED,
            &json!({"data": [event("Purchase", Some("k-p"))]}),
            Some(KEY)
        )
        .await
        .status,
        200
    );
    let rows =
        c.db.rows("SELECT event_id, hold_until_ms - received_at_ms FROM events ORDER BY event_id");
    let holds: Vec<(String, String)> = rows
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(
        holds,
        vec![
            ("b-l".into(), "120000".into()),
            ("b-p".into(), "120000".into()),
            ("b-v".into(), String::new()),
            ("k-p".into(), String::new()),
            ("s-p".into(), "120000".into()),
            ("s-v".into(), String::new()),
        ]
    );
}

backend_tests! {
    a_request_is_answered_once_its_events_are_stored,
    every_encoding_and_every_place_of_the_token_is_read,
    refusals_are_meta_s_error_objects_and_store_nothing,
    a_retry_is_received_again_and_stored_once,
    held_events_wait_for_their_other_copy_beacons_too,
}

/// The database locked by another connection: the request is answered 503 with `Retry-After`
/// in Meta's shape (`is_transient`), nothing of it is stored, and once the lock is gone the same
/// request is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_commit_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _graph) = start(Backend::Sqlite, dir.path(), &[]).await;
    let body = json!({"data": [event("Lead", Some("locked-1")), event("Lead", Some("locked-2"))]});
    let other = rusqlite::Connection::open(c.db.path()).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let got = post_json(&c, KEYED, &body, Some(KEY)).await;
    assert_eq!(got.status, 503, "{}", got.body);
    assert!(got.headers.contains_key("retry-after"));
    assert_eq!(got.body["error"]["is_transient"], true);
    assert_eq!(got.body["error"]["code"], 2);
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);
    assert_eq!(count(&c), 0);
    let mut status = 0;
    for _ in 0..100 {
        status = post_json(&c, KEYED, &body, Some(KEY)).await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(count(&c), 2);
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP: a declared length over the limit, and the malformed corpus.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Send one raw request, half-close, read the answer to the end: its status and JSON body.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> (Option<u16>, Value) {
    let mut s = TcpStream::connect(addr)
        .await
        .expect("the collector is gone?");
    let _ = s.write_all(bytes).await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok());
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

fn http(path: &str, content_type: &str, auth: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "POST {path} HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\nContent-Type: {content_type}\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_length_over_4_mb_is_refused_before_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let (c, _graph) = start(Backend::Sqlite, dir.path(), &[]).await;
    let head = format!(
        "POST /v24.0/{KEYED}/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
    );
    let (status, body) = raw(c.addr, head.as_bytes()).await;
    assert_eq!(status, Some(413), "{body}");
    assert_eq!(body["error"]["code"], 100);
    assert!(body["error"]["message"].as_str().unwrap().contains("4 MB"));
}

const CORPUS: usize = 10_000;

/// A valid request's body (1 to 3 events with IDs `c<i>-<j>`) in JSON or as a form.
fn valid_body(rng: &mut fastrand::Rng, i: usize) -> Value {
    let events: Vec<Value> = (0..rng.usize(1..4))
        .map(|j| {
            let mut e = event(
                ["Purchase", "Lead", "ViewContent"][rng.usize(..3)],
                Some(&format!("c{i}-{j}")),
            );
            e["custom_data"]["order_id"] = json!(format!("ord-{i}-{j}"));
            if rng.bool() {
                e["action_source"] = json!("system_generated");
            }
            e
        })
        .collect();
    json!({ "data": events })
}

/// Values of the wrong type, or of the right type and wrong content.
const ODD: [&str; 16] = [
    "null",
    "1",
    "-1",
    "1e308",
    "99999999999999999999999999",
    "-0.5",
    "\"\"",
    "\"x\"",
    "[]",
    "{}",
    "true",
    "[null, 1, {}]",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "NaN",
    "\"300.1.1.1\"",
];

const FIELDS: [&str; 14] = [
    "event_name",
    "event_time",
    "event_id",
    "action_source",
    "event_source_url",
    "user_data",
    "custom_data",
    "data_processing_options",
    "data_processing_options_country",
    "opt_out",
    "referrer_url",
    "app_data",
    "original_event_data",
    "messaging_channel",
];

const USER_FIELDS: [&str; 10] = [
    "em",
    "ph",
    "fbp",
    "fbc",
    "client_ip_address",
    "client_user_agent",
    "external_id",
    "lead_id",
    "f5first",
    "email",
];

/// One request of the corpus: a valid one (1 in 8), or a mutation of one.
fn corpus_request(rng: &mut fastrand::Rng, i: usize) -> Vec<u8> {
    let path = format!("/v24.0/{KEYED}/events");
    let bearer = format!("Authorization: Bearer {KEY}\r\n");
    let mut body = valid_body(rng, i);
    let json_text = |b: &Value| b.to_string().into_bytes();
    match rng.u8(..16) {
        0 | 1 => http(&path, "application/json", &bearer, &json_text(&body)),
        // Truncated.
        2 => {
            let full = json_text(&body);
            let cut = rng.usize(..full.len());
            http(&path, "application/json", &bearer, &full[..cut])
        }
        // Bytes flipped, inserted, deleted.
        3 => {
            let mut v = json_text(&body);
            for _ in 0..rng.usize(1..6) {
                let at = rng.usize(..v.len());
                match rng.u8(..3) {
                    0 => v[at] = rng.u8(..),
                    1 => v.insert(at, rng.u8(..)),
                    _ => {
                        v.remove(at);
                    }
                }
            }
            http(&path, "application/json", &bearer, &v)
        }
        // A field of an event, or of its user_data, replaced by an odd value (raw JSON text).
        4 | 5 => {
            let odd = ODD[rng.usize(..ODD.len())];
            let marker = "\"@@odd@@\"";
            let n = body["data"].as_array().unwrap().len();
            let e = &mut body["data"][rng.usize(..n)];
            if rng.bool() {
                e[FIELDS[rng.usize(..FIELDS.len())]] = json!("@@odd@@");
            } else {
                e["user_data"][USER_FIELDS[rng.usize(..USER_FIELDS.len())]] = json!("@@odd@@");
            }
            let text = body.to_string().replace(marker, odd);
            http(&path, "application/json", &bearer, text.as_bytes())
        }
        // Invalid UTF-8 inside a string.
        6 => {
            let text = body.to_string();
            let at = text
                .find("Purchase")
                .or_else(|| text.find("Lead"))
                .unwrap_or(10);
            let mut v = text.into_bytes();
            v.splice(
                at..at,
                [0xff, 0xfe, 0xc3, 0x28].into_iter().take(rng.usize(1..5)),
            );
            http(&path, "application/json", &bearer, &v)
        }
        // Deep nesting.
        7 => {
            let depth = rng.usize(100..20_000);
            let text = body.to_string().replacen(
                "\"custom_data\":{",
                &format!(
                    "\"custom_data\":{{\"deep\":{}{},",
                    "[".repeat(depth),
                    "]".repeat(depth)
                ),
                1,
            );
            http(&path, "application/json", &bearer, text.as_bytes())
        }
        // Wrong content types.
        8 => {
            let ct = [
                "text/xml",
                "application/json; charset=utf-16",
                "multipart/form-data",
                "multipart/form-data; boundary=zz",
                "application/x-www-form-urlencoded",
                "",
                "image/gif",
            ][rng.usize(..7)];
            http(&path, ct, &bearer, &json_text(&body))
        }
        // Bad credentials.
        9 => {
            let auth = [
                "Authorization: Bearer wrong-key\r\n".to_owned(),
                "Authorization: Bearer \r\n".to_owned(),
                "Authorization: Basic Zm9vOmJhcg==\r\n".to_owned(),
                format!("Authorization: Bearer {TOKEN}\r\n"),
                format!("Authorization: Bearer {}\r\n", "k".repeat(5000)),
                String::new(),
            ][rng.usize(..6)]
            .clone();
            let query = [
                "",
                "?access_token=",
                "?access_token=%ZZ",
                "?access_token=wrong",
            ][rng.usize(..4)];
            http(
                &format!("{path}{query}"),
                "application/json",
                &auth,
                &json_text(&body),
            )
        }
        // Wrong paths.
        10 => {
            let p = [
                format!("/24.0/{KEYED}/events"),
                format!("/v24.0/{BARE}/events"),
                "/v24.0/0123/events".to_owned(),
                format!("/v24.0/{KEYED}/events/x"),
                "/v24.0/abc/events".to_owned(),
                format!("/v24.0/{KEYED}%2Fx/events"),
            ][rng.usize(..6)]
            .clone();
            http(&p, "application/json", &bearer, &json_text(&body))
        }
        // Times and numbers Meta refuses or we must not misread.
        11 => {
            let t = [
                json!(now() * 1000),
                json!(now() + 3600),
                json!(now() - 8 * 86400),
                json!(1.5),
                json!("1700000000.5"),
                json!(-1),
                json!(i64::MAX),
                json!(u64::MAX),
            ][rng.usize(..8)]
            .clone();
            body["data"][0]["event_time"] = t;
            http(&path, "application/json", &bearer, &json_text(&body))
        }
        // Forms: good, and with broken encodings or data that is no JSON.
        12 => {
            let data = urlencode(&body["data"].to_string());
            let form = [
                format!("data={data}&access_token={KEY}"),
                format!("data={data}%&access_token={KEY}"),
                format!("data=%5B%7B&access_token={KEY}"),
                format!("data={}&access_token={KEY}", "%ff%fe"),
                format!("access_token={KEY}"),
                format!("data={data}&{}", "x=1&".repeat(100)),
            ][rng.usize(..6)]
            .clone();
            http(
                &path,
                "application/x-www-form-urlencoded",
                "",
                form.as_bytes(),
            )
        }
        // Many events: over the limit now and then.
        13 => {
            let n = if rng.u8(..4) == 0 {
                1001
            } else {
                rng.usize(1..200)
            };
            let events: Vec<Value> = (0..n)
                .map(|j| event("PageView", Some(&format!("c{i}-{j}"))))
                .collect();
            http(
                &path,
                "application/json",
                &bearer,
                &json_text(&json!({ "data": events })),
            )
        }
        // Duplicate keys (the last wins, as in Meta's JSON reader), a declared length shorter
        // than the body (the rest is garbage after the request).
        14 => {
            if rng.bool() {
                let text = format!("{{\"data\":5,{}", &body.to_string()[1..]);
                http(&path, "application/json", &bearer, text.as_bytes())
            } else {
                let mut v = http(&path, "application/json", &bearer, &json_text(&body));
                let text = String::from_utf8(v.clone()).unwrap();
                let len = json_text(&body).len();
                v = text
                    .replacen(
                        &format!("Content-Length: {len}"),
                        &format!("Content-Length: {}", rng.usize(..len)),
                        1,
                    )
                    .into_bytes();
                v
            }
        }
        // Garbage.
        _ => {
            let junk: Vec<u8> = (0..rng.usize(1..3000)).map(|_| rng.u8(..)).collect();
            http(&path, "application/json", &bearer, &junk)
        }
    }
}

/// 10,000 requests, most of them broken: no 5xx, and the events stored are exactly those of
/// the requests answered 200 (every event of a refused request is absent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_corpus_gets_no_5xx_and_stores_only_what_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut c, _graph) = start(Backend::Sqlite, dir.path(), &[]).await;
    let before = count(&c);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = std::time::Instant::now();
    // 16 clients take the next request in turn; each returns (index, status, body, request head).
    let workers: Vec<_> = (0..16u64)
        .map(|w| {
            let (next, addr) = (next.clone(), c.addr);
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(0xca91 + w);
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= CORPUS {
                        return out;
                    }
                    let req = corpus_request(&mut rng, i);
                    let (status, body) = raw(addr, &req).await;
                    let head = String::from_utf8_lossy(&req[..req.len().min(600)]).into_owned();
                    out.push((i, status, body, head));
                }
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(CORPUS);
    for w in workers {
        answers.extend(w.await.unwrap());
    }
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for (_, status, _, _) in &answers {
        let key = status.map_or_else(|| "closed".to_owned(), |s| s.to_string());
        *statuses.entry(key).or_default() += 1;
    }
    println!(
        "{CORPUS} server-event requests in {:.1} s; answers by status: {statuses:?}",
        start.elapsed().as_secs_f64()
    );
    let fives: Vec<_> = answers
        .iter()
        .filter(|a| a.1.is_some_and(|s| s >= 500))
        .collect();
    assert!(
        fives.is_empty(),
        "{} 5xx, first: {:#?}",
        fives.len(),
        fives.first()
    );
    assert!(
        statuses.get("200").copied().unwrap_or(0) > CORPUS / 20,
        "{statuses:?}"
    );
    assert!(
        statuses.keys().filter(|k| k.starts_with('4')).count() >= 5,
        "{statuses:?}"
    );
    // What was stored is what was acknowledged: counted (repeats are acknowledged, not stored) and
    // by ID (no event of a refused request).
    let accepted: std::collections::HashMap<usize, u64> = answers
        .iter()
        .filter(|a| a.1 == Some(200))
        .map(|a| {
            (
                a.0,
                a.2["events_received"]
                    .as_u64()
                    .expect("a 200 says how many"),
            )
        })
        .collect();
    let received: u64 = accepted.values().sum();
    let duplicates = c.metric("collector_events_duplicate_total").await;
    let merged = c.metric("collector_events_merged_total").await;
    assert_eq!(count(&c) - before, received - duplicates - merged);
    for id in c.db.stored_ids() {
        let request = id
            .strip_prefix('c')
            .and_then(|r| r.split_once('-'))
            .and_then(|(i, _)| i.parse::<usize>().ok());
        if let Some(i) = request.filter(|i| !accepted.contains_key(i)) {
            let answer = answers.iter().find(|a| a.0 == i);
            panic!("{id} stored, but request {i} was refused: {answer:?}");
        }
    }
    assert!(
        c.child.try_wait().unwrap().is_none(),
        "the collector exited"
    );
    let r = reqwest::get(c.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_no_secret(&c.log_text(), &[KEY.to_owned()]);
}
