//! Connections on the real binary and a real socket: slow heads, idle keep-alive, the connection
//! limit, the request deadline and the shutdown deadline. Timeouts are shortened by their flags;
//! each test prints what it measured.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{beacon, Collector, PIXEL};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Wait until the peer closes `s` (read returns 0 or an error); the time it took, or `None`
/// when it was still open after `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(start + within),
            s.read(&mut buf),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {} // a response (e.g. 408): keep reading until the close
        }
    }
}

/// One request on `s`, its response read up to the end of its head and `Content-Length` body.
async fn exchange(s: &mut TcpStream, request: &str) -> String {
    s.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("no answer")
            .unwrap();
        assert!(
            n > 0,
            "closed before the answer: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_stalled_heads_are_closed_while_beacons_are_answered() {
    let _ = collector::server::raise_descriptor_limit();
    let dir = tempfile::tempdir().unwrap();
    let head_ms = 2000;
    let c = Collector::start(
        dir.path(),
        &["--pixel", PIXEL, "--head-timeout-ms", &head_ms.to_string()],
    )
    .await;
    // Baseline: the same beacons before any stalled connection.
    let client = reqwest::Client::new();
    let send_beacons = |tag: &'static str| {
        let (client, c) = (client.clone(), &c);
        async move {
            let mut latencies = Vec::new();
            let start = Instant::now();
            for i in 0..300 {
                let b = beacon("PageView", &format!("{tag}-{i}"));
                let t = Instant::now();
                let r = client
                    .get(c.url(&format!("/tr/?{}", b.encode())))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                latencies.push(t.elapsed());
            }
            latencies.sort();
            (start.elapsed().as_secs_f64(), latencies)
        }
    };
    let (alone_secs, alone) = send_beacons("alone").await;
    const STALLED: usize = 2000;
    let opened = Instant::now();
    let mut stalled = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        // From before the connect: the server's clock starts at its accept, later.
        let at = Instant::now();
        let mut s = TcpStream::connect(c.addr).await.unwrap();
        // The head never ends: no blank line.
        s.write_all(b"GET /tr/?id=1 HTTP/1.1\r\nHost: shop.example\r\n")
            .await
            .unwrap();
        stalled.push((s, at));
    }
    let open_secs = opened.elapsed().as_secs_f64();
    let watchers: Vec<_> = stalled
        .into_iter()
        .map(|(mut s, at)| {
            tokio::spawn(async move {
                let watch = Instant::now();
                let closed = closed_within(&mut s, Duration::from_millis(head_ms + 25_000)).await;
                // From the moment this connection was opened.
                closed.map(|d| watch + d - at)
            })
        })
        .collect();

    // Beside them, the same beacons again.
    let (beside_secs, beside) = send_beacons("beside").await;

    let mut closes = Vec::new();
    for w in watchers {
        if let Some(d) = w.await.unwrap() {
            closes.push(d);
        }
    }
    closes.sort();
    let after_open = |d: &Duration| d.as_secs_f64() * 1000.0;
    println!("{STALLED} stalled heads opened in {open_secs:.2} s");
    for (name, secs, l) in [
        ("300 beacons alone", alone_secs, &alone),
        ("300 beacons beside the stalled heads", beside_secs, &beside),
    ] {
        println!(
            "{name:<40} {secs:.2} s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            percentile(l, 0.5),
            percentile(l, 0.99),
            percentile(l, 1.0),
        );
    }
    println!(
        "stalled connections closed by the server: {} of {STALLED}; after their connect: first {:.0} ms, median {:.0} ms, last {:.0} ms (--head-timeout-ms {head_ms})",
        closes.len(),
        closes.first().map_or(0.0, after_open),
        percentile(&closes, 0.5),
        closes.last().map_or(0.0, after_open),
    );
    assert_eq!(
        closes.len(),
        STALLED,
        "every stalled head is closed within 25 s of the timeout"
    );
    assert!(
        *closes.first().unwrap() >= Duration::from_millis(head_ms),
        "closed before the timeout: {:?}",
        closes.first()
    );
    // The accept loop may lag behind the kernel's backlog on a loaded machine: generous.
    assert!(
        *closes.last().unwrap() < Duration::from_millis(head_ms) + Duration::from_secs(20),
        "closed long after the timeout: {:?}",
        closes.last()
    );
    let timed_out = c.metric("collector_connections_head_timeout_total").await;
    assert!(timed_out >= STALLED as u64, "{timed_out}");
    assert_eq!(c.events("?limit=1000").await.len(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_has_its_own_timeout_and_a_silent_connection_the_head_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(
        dir.path(),
        &["--head-timeout-ms", "600", "--idle-timeout-ms", "2500"],
    )
    .await;
    let req = "GET /healthz HTTP/1.1\r\nHost: shop.example\r\n\r\n";
    let mut s = TcpStream::connect(c.addr).await.unwrap();
    assert!(exchange(&mut s, req).await.starts_with("HTTP/1.1 200"));
    // Idle for longer than the head timeout: still open, and serves the next request.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(exchange(&mut s, req).await.starts_with("HTTP/1.1 200"));
    let idle = closed_within(&mut s, Duration::from_secs(8)).await;
    println!("idle keep-alive closed after {idle:?} (--idle-timeout-ms 2500)");
    let idle = idle.expect("the idle connection was never closed");
    assert!(idle >= Duration::from_millis(2300), "{idle:?}");

    // A connection that sends nothing gets the head timeout.
    let mut silent = TcpStream::connect(c.addr).await.unwrap();
    let closed = closed_within(&mut silent, Duration::from_secs(5)).await;
    println!("silent connection closed after {closed:?} (--head-timeout-ms 600)");
    let closed = closed.expect("never closed");
    assert!(closed < Duration::from_millis(2000), "{closed:?}");
    assert!(c.metric("collector_connections_idle_timeout_total").await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_a_connection_is_accepted_and_closed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), &["--max-connections", "40"]).await;
    // `Collector::start` polled /healthz: let that connection close on its own first.
    let mut held = Vec::new();
    for _ in 0..40 {
        held.push(TcpStream::connect(c.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The start-up /healthz connection may or may not still count: it can close at any moment,
    // freeing one slot. So open extra connections until one is refused (at most 3): it must be
    // closed at once, never left waiting.
    let mut closed = None;
    for _ in 0..3 {
        let mut extra = TcpStream::connect(c.addr).await.unwrap();
        if let Some(t) = closed_within(&mut extra, Duration::from_secs(1)).await {
            closed = Some(t);
            break;
        }
        held.push(extra); // it got the slot the start-up connection left
    }
    println!(
        "a connection beyond --max-connections 40 ({} open of ours) closed after {closed:?}",
        held.len()
    );
    assert!(closed.expect("left waiting") < Duration::from_secs(1));
    // A held connection is still served.
    let req = "GET /healthz HTTP/1.1\r\nHost: shop.example\r\n\r\n";
    assert!(exchange(&mut held[0], req)
        .await
        .starts_with("HTTP/1.1 200"));
    // Close some: new connections are served again.
    held.truncate(30);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = TcpStream::connect(c.addr).await.unwrap();
    assert!(exchange(&mut again, req).await.starts_with("HTTP/1.1 200"));
    drop(again);
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(c.metric("collector_connections_refused_total").await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_is_answered_408() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(dir.path(), &["--pixel", PIXEL, "--body-timeout-ms", "800"]).await;
    let mut s = TcpStream::connect(c.addr).await.unwrap();
    let start = Instant::now();
    s.write_all(
        b"POST /tr/ HTTP/1.1\r\nHost: shop.example\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\nid=1234",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("no answer")
        .unwrap();
    let took = start.elapsed();
    let text = String::from_utf8_lossy(&buf[..n]);
    println!(
        "a body 493 bytes short answered after {took:?}: {}",
        text.lines().next().unwrap_or("")
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("--body-timeout-ms"), "{text}");
    assert!(took >= Duration::from_millis(700), "{took:?}");
    assert!(c.events("").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_past_its_deadline_for_a_stuck_request() {
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start(
        dir.path(),
        &["--pixel", PIXEL, "--shutdown-timeout-ms", "1000"],
    )
    .await;
    // A request whose body will never come (the body deadline is the default 30 s).
    let mut s = TcpStream::connect(c.addr).await.unwrap();
    s.write_all(b"POST /tr/ HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nid=")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    let code = c.terminate();
    let took = start.elapsed();
    println!("SIGTERM with a stuck request in flight: exit {code} after {took:?} (--shutdown-timeout-ms 1000)");
    assert_eq!(code, 0);
    assert!(took < Duration::from_secs(5), "{took:?}");
}
