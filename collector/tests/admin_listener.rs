//! `--admin-listen`: the real binary serves the admin routes (dashboard, `/api/*`, `/metrics`,
//! `/report`, `/events.html`) on that listener only, each with its isolation headers and still
//! behind the admin token, while the public listener answers 404 for every one of them and keeps
//! taking beacons; and the public demo token is refused wherever the admin routes are reachable
//! from another host.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{beacon, Collector, ADMIN, PIXEL};

/// The admin paths, each as a request that would succeed (or redirect) with the token.
const ADMIN_PATHS: [&str; 8] = [
    "/dashboard",
    "/events.html",
    "/api/events",
    "/api/reports/funnel?pixel=1234567890&from=2026-01-01&to=2026-01-02",
    "/api/audiences/purchasers.csv?pixel=1234567890&from=2026-01-01&to=2026-01-02",
    "/metrics",
    "/report",
    "/api/nothing-here",
];

fn site(dir: &std::path::Path) -> String {
    let site = dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(
        site.join("index.html"),
        "<!doctype html><title>shop</title>",
    )
    .unwrap();
    std::fs::write(
        site.join("events.html"),
        "<!doctype html><title>events</title>",
    )
    .unwrap();
    site.to_str().unwrap().to_owned()
}

/// The address the binary logged for `--admin-listen` (it was given port 0).
async fn admin_addr(c: &Collector) -> SocketAddr {
    let start = Instant::now();
    loop {
        let found = c.log_text().lines().find_map(|l| {
            let rest = l.split("admin=").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        });
        if let Some(a) = found {
            return a;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            c.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get(url: &str, token: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn admin_routes_only_on_the_admin_listener() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path());
    let c = Collector::start(
        dir.path(),
        &[
            "--pixel",
            PIXEL,
            "--site",
            &site,
            "--admin-listen",
            "127.0.0.1:0",
        ],
    )
    .await;
    let admin = admin_addr(&c).await;
    assert_ne!(admin, c.addr);
    let on_admin = |p: &str| format!("http://{admin}{p}");

    // The public listener: 404 for each admin path, with the token or without; the store's
    // pages, /healthz and beacons as before.
    for path in ADMIN_PATHS {
        for token in [Some(ADMIN), None] {
            let r = get(&c.url(path), token).await;
            assert_eq!(
                r.status(),
                404,
                "public {path} (token: {})",
                token.is_some()
            );
        }
    }
    assert_eq!(get(&c.url("/index.html"), None).await.status(), 200);
    assert_eq!(get(&c.url("/healthz"), None).await.status(), 200);
    let b = beacon("Purchase", "admin-listener-1");
    let r = get(&c.url(&format!("/tr/?{}", b.encode())), None).await;
    assert_eq!(r.status(), 200);

    // The admin listener: every admin route, each still behind the token, each with the
    // isolation headers; no beacon route.
    for path in ADMIN_PATHS {
        let r = get(&on_admin(path), Some(ADMIN)).await;
        let status = r.status().as_u16();
        let want = match path {
            "/report" => 308,
            "/api/nothing-here" => 404,
            _ => 200,
        };
        assert_eq!(status, want, "admin {path}");
        let h = r.headers();
        for (name, value) in collector::http::admin::HEADERS {
            assert_eq!(
                h.get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name} on admin {path}"
            );
        }
    }
    for path in ["/api/events", "/metrics", "/api/reports/funnel?pixel=1"] {
        assert_eq!(get(&on_admin(path), None).await.status(), 401, "{path}");
        let wrong = get(&on_admin(path), Some("not-the-admin-token-at-all")).await;
        assert_eq!(wrong.status(), 401, "{path}");
    }
    let r = get(&on_admin(&format!("/tr/?{}", b.encode())), None).await;
    assert_eq!(r.status(), 404, "no beacon route on the admin listener");
    let body = get(&on_admin("/api/events"), Some(ADMIN))
        .await
        .bytes()
        .await
        .unwrap();
    let events: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let ids: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_id"].as_str())
        .collect();
    assert_eq!(ids, ["admin-listener-1"], "the beacon taken on --listen");
    let page = get(&on_admin("/events.html"), None).await;
    assert_eq!(
        page.text().await.unwrap(),
        "<!doctype html><title>events</title>"
    );
    c.terminate();
}

#[tokio::test]
async fn without_it_the_admin_routes_stay_on_listen_with_their_headers() {
    let dir = tempfile::tempdir().unwrap();
    let site = site(dir.path());
    let c = Collector::start(dir.path(), &["--pixel", PIXEL, "--site", &site]).await;
    for path in ["/dashboard", "/events.html", "/api/events", "/metrics"] {
        let r = get(&c.url(path), Some(ADMIN)).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(
            r.headers()
                .get("cross-origin-opener-policy")
                .and_then(|v| v.to_str().ok()),
            Some("same-origin"),
            "{path}"
        );
    }
    // The store's own pages are not admin pages: no COOP forced on them.
    let r = get(&c.url("/index.html"), None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("cross-origin-opener-policy").is_none());
    c.terminate();
}

/// The collector's exit code and stderr for `args` (it must not start: no waiting).
fn refused(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let out = Command::new(env!("CARGO_BIN_EXE_collector"))
        .args(["--db", db.to_str().unwrap()])
        .args(args)
        .env_remove("COLLECTOR_ADMIN_TOKEN")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_demo_token_is_refused_off_loopback() {
    let demo = collector::config::DEMO_ADMIN_TOKEN;
    for args in [
        vec!["--listen", "0.0.0.0:0", "--admin-token", demo],
        vec!["--listen", "[::]:0", "--admin-token", demo],
        vec![
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "0.0.0.0:0",
            "--admin-token",
            demo,
        ],
        vec![
            "--listen",
            "127.0.0.1:0",
            "--trust-proxy",
            "--admin-token",
            demo,
        ],
    ] {
        let (code, stderr) = refused(&args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("public demo token"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    let (code, stderr) = refused(&["--listen", "0.0.0.0:0", "--admin-token", "short-token"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("shorter than 16"), "{stderr}");

    // On loopback it is the demo it is meant for; with the admin routes on a loopback
    // --admin-listen, the public listener may be any address.
    for args in [
        vec!["--listen", "127.0.0.1:0"],
        vec!["--listen", "0.0.0.0:0", "--admin-listen", "127.0.0.1:0"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let out = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_collector"))
            .args(["--db", dir.path().join("x.db").to_str().unwrap()])
            .args(["--admin-token", demo])
            .args(&args)
            .env_remove("COLLECTOR_ADMIN_TOKEN")
            .stderr(out.try_clone().unwrap())
            .stdout(out)
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("collector listening")
        {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "{args:?}: exited {status}: {}",
                    std::fs::read_to_string(&log).unwrap()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{args:?} did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
