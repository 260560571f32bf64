//! Shared by the integration tests: the real `collector` binary on a temporary SQLite file or a
//! PostgreSQL database ([`backend`]), and a stand-in for Meta's Graph API that records every
//! request and answers as scripted (200, 500, 429 with `Retry-After`, 400 with a Meta-style error,
//! or hang).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use pixel_core::wire::Beacon;
use serde_json::Value;

pub mod backend;
#[allow(unused_imports)]
pub(crate) use backend::backend_tests;
#[allow(unused_imports)]
pub use backend::{Backend, Db};

pub const PIXEL: &str = "1234567890";
pub const TOKEN: &str = "capi-token";
/// At least `collector::config::MIN_ADMIN_TOKEN` characters.
pub const ADMIN: &str = "admin-token-for-the-tests";

/// How the stand-in answers one request.
#[derive(Clone, Debug)]
pub enum Answer {
    Ok,
    Status(u16, String),
    RetryAfter(u16, u64),
    /// Sleep this long, then answer 200.
    Hang(Duration),
}

/// One request the stand-in received.
#[derive(Clone, Debug)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    pub query: String,
    pub body: Value,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn events(&self) -> &Vec<Value> {
        self.body["data"].as_array().unwrap()
    }
    pub fn event_ids(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap_or("").to_owned())
            .collect()
    }
}

#[derive(Default)]
struct GraphState {
    /// Requests that have arrived (answered or not).
    arrived: usize,
    /// The event IDs of each request, as it arrived (answered or not: Meta may have processed a
    /// request whose sender was killed before the answer).
    arrivals: Vec<Vec<String>>,
    received: Vec<Received>,
    script: VecDeque<Answer>,
    /// Answer 400 (Meta's invalid-parameter error) to any request holding an event of this name,
    /// once the scripted answers are used up (a scripted answer comes first).
    reject_event_name: Option<String>,
}

/// The stand-in Graph API.
#[derive(Clone)]
pub struct Graph {
    pub url: String,
    state: Arc<Mutex<GraphState>>,
}

pub const META_400: &str = r#"{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804003,"is_transient":false,"error_user_title":"Invalid event","error_user_msg":"The event BadEvent has an invalid parameter.","fbtrace_id":"AbCdEf"}}"#;

impl Graph {
    pub async fn start() -> Graph {
        let state = Arc::new(Mutex::new(GraphState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(handle).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Graph { url, state }
    }

    /// Answers for the next requests, in order; after them every request gets 200 (or the
    /// `reject_event_name` 400).
    pub fn script(&self, answers: &[Answer]) {
        self.state
            .lock()
            .unwrap()
            .script
            .extend(answers.iter().cloned());
    }

    pub fn reject_event_name(&self, name: &str) {
        self.state.lock().unwrap().reject_event_name = Some(name.to_owned());
    }

    /// Wait until `n` requests have arrived (they may still be unanswered).
    pub async fn wait_arrived(&self, n: usize, within: Duration) {
        let start = Instant::now();
        while self.state.lock().unwrap().arrived < n {
            assert!(start.elapsed() < within, "no request arrived");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The event IDs of every request that arrived, in arrival order, answered or not.
    pub fn arrivals(&self) -> Vec<Vec<String>> {
        self.state.lock().unwrap().arrivals.clone()
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Event IDs in requests answered 2xx, in order.
    pub fn accepted_ids(&self) -> Vec<String> {
        self.received()
            .iter()
            .filter(|r| r.status < 300)
            .flat_map(|r| r.event_ids())
            .collect()
    }

    pub async fn wait_accepted(&self, n: usize, within: Duration) -> Vec<String> {
        let start = Instant::now();
        loop {
            let ids = self.accepted_ids();
            if ids.len() >= n || start.elapsed() > within {
                return ids;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn handle(State(state): State<Arc<Mutex<GraphState>>>, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body: Bytes = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (answer, reject) = {
        let mut s = state.lock().unwrap();
        s.arrived += 1;
        let ids = body["data"].as_array().map_or_else(Vec::new, |d| {
            d.iter()
                .map(|e| e["event_id"].as_str().unwrap_or("").to_owned())
                .collect()
        });
        s.arrivals.push(ids);
        let answer = s.script.pop_front().unwrap_or(Answer::Ok);
        (answer, s.reject_event_name.clone())
    };
    let n = body["data"].as_array().map_or(0, Vec::len);
    let has_bad = reject.is_some_and(|bad| {
        body["data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|e| e["event_name"] == bad.as_str()))
    });
    let ok = || {
        let b = format!(r#"{{"events_received":{n},"messages":[],"fbtrace_id":"stub"}}"#);
        (StatusCode::OK, [("content-type", "application/json")], b).into_response()
    };
    let (status, resp) = if has_bad && matches!(answer, Answer::Ok) {
        (
            400,
            (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/json")],
                META_400,
            )
                .into_response(),
        )
    } else {
        match answer {
            Answer::Ok => (200, ok()),
            Answer::Status(code, text) => {
                let sc = StatusCode::from_u16(code).unwrap();
                (
                    code,
                    (sc, [("content-type", "application/json")], text).into_response(),
                )
            }
            Answer::RetryAfter(code, secs) => {
                let sc = StatusCode::from_u16(code).unwrap();
                (
                    code,
                    (sc, [("retry-after", secs.to_string())], "slow down").into_response(),
                )
            }
            Answer::Hang(d) => {
                tokio::time::sleep(d).await;
                (200, ok())
            }
        }
    };
    state.lock().unwrap().received.push(Received {
        at: Instant::now(),
        path,
        query,
        body,
        status,
    });
    resp
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The per-client limits turned off (`http::limit`, `server`), as environment variables.
pub const NO_CLIENT_LIMITS: [(&str, &str); 6] = [
    ("COLLECTOR_BEACON_RATE", "0"),
    ("COLLECTOR_BEACON_BYTES_RATE", "0"),
    ("COLLECTOR_SERVER_EVENTS_RATE", "0"),
    ("COLLECTOR_SERVER_EVENTS_BYTES_RATE", "0"),
    ("COLLECTOR_MAX_CONNECTIONS_PER_CLIENT", "0"),
    ("COLLECTOR_IDLE_TIMEOUT_BUSY_MS", "3600000"),
];

/// The real binary, running.
pub struct Collector {
    pub child: Child,
    pub addr: SocketAddr,
    pub db: Db,
    pub log: PathBuf,
    /// The admin token, access tokens and app secret it was given: never in its log or stderr
    /// (checked when it is dropped).
    pub secrets: Vec<String>,
}

impl Collector {
    /// Start `collector` on a free port with `--db <dir>/collector.db` and `args`; wait for
    /// `/healthz`.
    pub async fn start(dir: &Path, args: &[&str]) -> Collector {
        Collector::start_on(&Db::Sqlite(dir.join("collector.db")), dir, args).await
    }

    /// [`Collector::start`] on `db`; its log and `--dist` are in `dir`.
    pub async fn start_on(db: &Db, dir: &Path, args: &[&str]) -> Collector {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let db = db.clone();
        let log = dir.join(format!("collector-{run}.log"));
        let out = std::fs::File::create(&log).unwrap();
        // Port 0: the binary binds a free port itself and logs it (no race with other tests).
        let mut child = Command::new(env!("CARGO_BIN_EXE_collector"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--db",
                &db.arg(),
                "--admin-token",
                ADMIN,
            ])
            .args(["--dist", dir.join("dist").to_str().unwrap()])
            .args(args)
            // The tests send thousands of beacons a second and hold thousands of connections
            // from 127.0.0.1: no per-client limits here. tests/limits.rs sets them as flags,
            // which win over these.
            .envs(NO_CLIENT_LIMITS)
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        let start = Instant::now();
        let addr: SocketAddr = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let found = text.lines().find_map(|l| {
                let rest = l.split("collector listening listen=").nth(1)?;
                rest.split_whitespace().next()?.parse().ok()
            });
            if let Some(addr) = found {
                break addr;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("collector exited with {status}: {text}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "collector did not start: {text}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let c = Collector {
            child,
            addr,
            db,
            log,
            secrets: secrets_in(args),
        };
        let client = reqwest::Client::new();
        loop {
            if let Ok(r) = client.get(c.url("/healthz")).send().await {
                if r.status() == 200 {
                    break;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "collector did not answer: {}",
                c.log_text()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        c
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait for the exit code.
    pub fn terminate(mut self) -> i32 {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(code) = self.child.try_wait().unwrap() {
                return code.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub async fn events(&self, query: &str) -> Vec<Value> {
        let r = reqwest::Client::new()
            .get(self.url(&format!("/api/events{query}")))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body = r.bytes().await.unwrap();
        serde_json::from_slice::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    /// Poll a metric until it reads `want` (gauges such as the pending count are refreshed in the
    /// background every few seconds); returns the last value read.
    pub async fn wait_metric(&self, line_start: &str, want: u64, within: Duration) -> u64 {
        let start = Instant::now();
        loop {
            let v = self.metric(line_start).await;
            if v == want || start.elapsed() > within {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn metric(&self, line_start: &str) -> u64 {
        let text = reqwest::Client::new()
            .get(self.url("/metrics"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(line_start)
                    .and_then(|r| r.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Poll `/api/events` until every listed event has left `pending`.
    pub async fn wait_settled(&self, n: usize, within: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let events = self.events("?limit=1000").await;
            let settled = events
                .iter()
                .filter(|e| e["relay_status"] != "pending")
                .count();
            if (events.len() >= n && settled == events.len()) || start.elapsed() > within {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            assert_no_secret(&self.log_text(), &self.secrets);
        }
    }
}

/// The secret values in a collector's arguments, and the admin token every run gets.
pub fn secrets_in(args: &[&str]) -> Vec<String> {
    let mut found = vec![ADMIN.to_owned()];
    for pair in args.windows(2) {
        match pair {
            ["--pixel", v] => found.extend(v.split_once('=').map(|(_, t)| t.to_owned())),
            ["--app-secret" | "--admin-token", v] => found.push((*v).to_owned()),
            _ => {}
        }
    }
    found
}

/// Panic when any of `secrets` appears in `text` (a log, a stderr).
pub fn assert_no_secret(text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret ({} characters) leaked into the output:\n{text}",
            s.len()
        );
    }
}

/// A realistic beacon of `ev` with event ID `eid`, sent now.
pub fn beacon(ev: &str, eid: &str) -> Beacon {
    Beacon {
        id: PIXEL.into(),
        ev: ev.into(),
        dl: "http://shop.example/product/1".into(),
        rl: "http://shop.example/".into(),
        ts: u64::try_from(collector::ports::Clock::now_ms(
            &collector::ports::SystemClock,
        ))
        .unwrap(),
        sw: Some(1920),
        sh: Some(1080),
        v: "2.9.134".into(),
        r: "stable".into(),
        eid: Some(eid.into()),
        rqm: Some("GET".into()),
        ..Beacon::default()
    }
}

/// Send beacons as image GETs over `concurrency` connections; panics on any non-2xx.
pub async fn send_all(c: &Collector, beacons: Vec<Beacon>, concurrency: usize) {
    let client = reqwest::Client::new();
    let queue = Arc::new(Mutex::new(beacons));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, queue, base) = (client.clone(), queue.clone(), c.url("/tr/"));
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(b) = queue.lock().unwrap().pop() else {
                    return;
                };
                let r = client
                    .get(format!("{base}?{}", b.encode()))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success(), "{}", r.status());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
