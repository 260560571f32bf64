//! What the binary exposes: secrets never in its output, `/metrics` only with the admin token on
//! the public listener and without one on `--metrics-listen`, the pending gauge counted in the
//! background, the admin token's minimum length.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{assert_no_secret, backend_tests, beacon, send_all, Backend, Collector, ADMIN, PIXEL};

const ACCESS_TOKEN: &str = "EAAGsecretaccesstoken0123456789abcdef";
const APP_SECRET: &str = "appsecret-0123456789abcdef";

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_collector"))
        .args(["--db", dir.path().join("x.db").to_str().unwrap()])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn usage_errors_never_echo_a_secret() {
    let secrets = [ACCESS_TOKEN.to_owned(), APP_SECRET.to_owned()];
    let with_token = format!("notanid={ACCESS_TOKEN}");
    let spaced = format!("123={ACCESS_TOKEN} x");
    // (arguments, environment, what the error says)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--pixel", &with_token],
            vec![],
            "malformed --pixel 'notanid'",
        ),
        (
            vec!["--pixel", ACCESS_TOKEN],
            vec![],
            "malformed --pixel (37 characters)",
        ),
        (vec!["--pixel", &spaced], vec![], "white space"),
        (
            vec![],
            vec![("COLLECTOR_PIXEL", with_token.as_str())],
            "malformed --pixel",
        ),
        (
            vec!["--admin-token", "short-token"],
            vec![],
            "shorter than 16",
        ),
        (
            vec!["--app-secret", APP_SECRET, "--admin-token", "x"],
            vec![],
            "shorter than 16",
        ),
        (
            vec!["--app-secret", APP_SECRET, "--relay-batch", "0"],
            vec![],
            "invalid value",
        ),
    ];
    for (args, env, needle) in cases {
        let (code, text) = run(&args, &env);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains(needle), "{args:?}: {text:?} lacks {needle:?}");
        assert!(!text.contains("short-token"), "{text}");
        assert_no_secret(&text, &secrets);
    }
}

#[test]
fn config_debug_has_no_secret() {
    let pixel = format!("{PIXEL}={ACCESS_TOKEN}");
    let config = collector::config::Config::parse_from([
        "collector",
        "--pixel",
        &pixel,
        "--admin-token",
        ADMIN,
        "--app-secret",
        APP_SECRET,
    ])
    .unwrap_or_else(|e| panic!("{e:?}"));
    let text = format!("{config:?} {:?} {config:#?}", config.pixels);
    assert!(
        text.contains(PIXEL) && text.contains("<redacted>"),
        "{text}"
    );
    assert_no_secret(
        &text,
        &[ACCESS_TOKEN.into(), APP_SECRET.into(), ADMIN.into()],
    );
}

async fn metrics_need_the_token_on_the_public_listener_and_none_on_metrics_listen(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    // A dead Graph URL: the relay fails (and logs) with the token and secret configured.
    let pixel = format!("{PIXEL}={ACCESS_TOKEN}");
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let c = Collector::start_on(
        &backend.db(dir.path()),
        dir.path(),
        &[
            "--pixel",
            &pixel,
            "--app-secret",
            APP_SECRET,
            "--graph-url",
            &dead,
            "--graph-allow-http",
            "--log",
            "debug",
            "--metrics-listen",
            "127.0.0.1:0",
            "--retry-base-ms",
            "100",
        ],
    )
    .await;
    let log = c.log_text();
    let internal = log
        .lines()
        .find_map(|l| l.split("metrics=").nth(1)?.split_whitespace().next())
        .expect("the --metrics-listen address in the log")
        .to_owned();

    let public = reqwest::get(c.url("/metrics")).await.unwrap();
    assert_eq!(public.status(), 401);
    let wrong = reqwest::Client::new()
        .get(c.url("/metrics"))
        .bearer_auth("not-the-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    send_all(
        &c,
        (0..7)
            .map(|i| beacon("PageView", &format!("g-{i}")))
            .collect(),
        2,
    )
    .await;
    // The gauge follows within its refresh period, on both listeners.
    let start = Instant::now();
    let pending = c
        .wait_metric("collector_relay_queue_depth", 7, Duration::from_secs(10))
        .await;
    println!(
        "pending gauge read 7 after {:?} (refreshed every {:?})",
        start.elapsed(),
        collector::server::PENDING_GAUGE_EVERY
    );
    assert_eq!(pending, 7);
    let text = reqwest::get(format!("http://{internal}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("collector_relay_queue_depth 7\n"), "{text}");
    // The internal listener serves nothing else.
    let other = reqwest::get(format!("http://{internal}/api/events"))
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    // The relay has failed against the dead URL, and said so, without the token or the secret.
    let start = Instant::now();
    while !c.log_text().contains("relay request failed") {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            c.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_no_secret(
        &c.log_text(),
        &[ACCESS_TOKEN.into(), APP_SECRET.into(), ADMIN.into()],
    );
}

backend_tests! {
    metrics_need_the_token_on_the_public_listener_and_none_on_metrics_listen,
}
