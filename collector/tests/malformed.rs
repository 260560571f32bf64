//! A malformed corpus over raw TCP against the real binary: at least 10,000 generated and mutated
//! requests (bad percent-encodings, invalid UTF-8, truncated heads and bodies, huge headers, wrong
//! methods and versions, traversal on the static routes, SQL-looking strings, garbage). Each goes
//! on its own connection, which the client half-closes after writing. Wanted: no answer `5xx`,
//! nothing outside the roots served, the process alive and answering, its memory bounded.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{beacon, Collector, PIXEL};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CORPUS: usize = 12_000;

/// Resident memory of `pid` in KiB (`VmRSS` in /proc).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn valid_query(rng: &mut fastrand::Rng, i: usize) -> String {
    let mut b = beacon(
        if rng.bool() { "PageView" } else { "Purchase" },
        &format!("m-{i}"),
    );
    if rng.u8(..4) == 0 {
        b.cd.push(("value".into(), "12.50".into()));
        b.cd.push(("currency".into(), "EUR".into()));
    }
    b.encode()
}

const SQL: [&str; 6] = [
    "'; DROP TABLE events;--",
    "1' OR '1'='1",
    "\" UNION SELECT * FROM sqlite_master --",
    "x'); DELETE FROM events; --",
    "%27%3B%20DROP%20TABLE%20events%3B--",
    "\\'; PRAGMA writable_schema=1;--",
];

const TRAVERSAL: [&str; 16] = [
    "/../../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "/%252e%252e/etc/passwd",
    "//etc/passwd",
    "/%2Fetc%2Fpasswd",
    "/.git/config",
    "/.env",
    "/..\\..\\etc\\passwd",
    "/%5c..%5c..%5cetc%5cpasswd",
    "/fbevents.js%00.txt",
    "/%c0%ae%c0%ae/etc/passwd",
    "/./././fbevents.js",
    "/fbevents.js/..",
    "/collector.db",
    "/../collector.db",
];

/// One request of the corpus, as raw bytes.
fn request(rng: &mut fastrand::Rng, i: usize) -> Vec<u8> {
    let host = "Host: shop.example\r\n";
    let q = valid_query(rng, i);
    let body = q.clone();
    let kind = rng.u8(..20);
    let mut r: Vec<u8> = match kind {
        // A valid GET beacon with random bytes flipped, inserted or deleted.
        0..=2 => {
            let mut v = format!("GET /tr/?{q} HTTP/1.1\r\n{host}\r\n").into_bytes();
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
            v
        }
        // Broken percent-encodings and invalid UTF-8 in the query.
        3 => {
            let bad = [
                "%",
                "%z1",
                "%ff%fe",
                "%c3%28",
                "%ed%a0%80",
                "%00",
                "%F0%9F%98",
                "+%",
            ];
            format!(
                "GET /tr/?{q}&cd[x]={}&ud[em]={} HTTP/1.1\r\n{host}\r\n",
                bad[rng.usize(..bad.len())],
                bad[rng.usize(..bad.len())]
            )
            .into_bytes()
        }
        4 => {
            let mut v = format!("GET /tr/?{q}&cd[name]=").into_bytes();
            v.extend((0..rng.usize(1..40)).map(|_| rng.u8(0x80..)));
            v.extend_from_slice(format!(" HTTP/1.1\r\n{host}\r\n").as_bytes());
            v
        }
        // SQL-looking strings in every kind of field.
        5 => {
            let s = SQL[rng.usize(..SQL.len())];
            let enc = s
                .replace('%', "%25")
                .replace(' ', "%20")
                .replace('\'', "%27")
                .replace('"', "%22")
                .replace(';', "%3B")
                .replace('\\', "%5C")
                .replace('#', "%23")
                .replace('&', "%26");
            let field = [
                "ev",
                "eid",
                "dl",
                "cd[order_id]",
                "ud[em]",
                "id",
                "cd[content_ids]",
            ][rng.usize(..7)];
            format!("GET /tr/?{q}&{field}={enc} HTTP/1.1\r\n{host}\r\n").into_bytes()
        }
        // Truncated heads.
        6 | 7 => {
            let full = format!("GET /tr/?{q} HTTP/1.1\r\n{host}User-Agent: corpus\r\n\r\n");
            let cut = rng.usize(1..full.len() - 1);
            full.as_bytes()[..cut].to_vec()
        }
        // POST bodies: truncated, longer than declared, wrong types, broken multipart, chunked.
        8 | 9 => {
            let declared = body.len() + rng.usize(0..200);
            let sent = rng.usize(0..=body.len());
            let ct = [
                "application/x-www-form-urlencoded",
                "text/plain",
                "multipart/form-data; boundary=b",
                "application/json",
                "multipart/form-data",
                "text/plain; charset=utf-16",
            ][rng.usize(..6)];
            let mut v = format!("POST /tr/ HTTP/1.1\r\n{host}Content-Type: {ct}\r\nContent-Length: {declared}\r\n\r\n").into_bytes();
            v.extend_from_slice(&body.as_bytes()[..sent]);
            v
        }
        10 => {
            let parts = rng.usize(1..300);
            let mut m = String::new();
            for p in 0..parts {
                match rng.u8(..4) {
                    0 => m.push_str("--b\r\n\r\n\r\n"),
                    1 => m.push_str(&format!(
                        "--b\r\nContent-Disposition: form-data; name=\"cd[k{p}]\"\r\n\r\nv\r\n"
                    )),
                    2 => m.push_str("--b\n\n\n"),
                    _ => m.push_str(&format!(
                        "--b\r\nContent-Disposition: form-data; name=\"{}\r\n\r\n",
                        SQL[p % SQL.len()]
                    )),
                }
            }
            if rng.bool() {
                m.push_str("--b--\r\n");
            }
            format!("POST /tr HTTP/1.1\r\n{host}Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n{m}", m.len()).into_bytes()
        }
        11 => {
            // Chunked with bad sizes, or both Content-Length and Transfer-Encoding.
            match rng.u8(..3) {
                0 => format!("POST /tr/ HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\nzz\r\n{body}\r\n0\r\n\r\n").into_bytes(),
                1 => format!("POST /tr/ HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n4\r\nid=1\r\n0\r\n\r\n").into_bytes(),
                _ => format!("POST /tr/ HTTP/1.1\r\n{host}Content-Length: 4\r\nContent-Length: 9\r\n\r\nid=1").into_bytes(),
            }
        }
        // Huge headers: one very long, or very many.
        12 => {
            let mut v = format!("GET /tr/?{q} HTTP/1.1\r\n{host}").into_bytes();
            if rng.bool() {
                v.extend_from_slice(b"Cookie: ");
                v.extend(std::iter::repeat_n(b'a', rng.usize(10_000..100_000)));
                v.extend_from_slice(b"\r\n");
            } else {
                for h in 0..rng.usize(50..400) {
                    v.extend_from_slice(format!("X-H{h}: {h}\r\n").as_bytes());
                }
            }
            v.extend_from_slice(b"\r\n");
            v
        }
        // Wrong methods, versions and request lines.
        13 => {
            let m = [
                "PUT", "DELETE", "PATCH", "TRACE", "CONNECT", "FOO", "get", "G ET", "PROPFIND", "",
            ][rng.usize(..10)];
            let path = [
                "/tr/",
                "/fbevents.js",
                "/api/events",
                "/metrics",
                "/report",
                "/",
            ][rng.usize(..6)];
            format!("{m} {path}?{q} HTTP/1.1\r\n{host}\r\n").into_bytes()
        }
        14 => {
            let v = [
                "HTTP/2.0",
                "HTTP/1.1x",
                "HTTP/0.9",
                "",
                "HTTP/1.1 extra",
                "http/1.1",
                "HTTP/9.9",
            ][rng.usize(..7)];
            format!("GET /tr/?{q} {v}\r\n{host}\r\n").into_bytes()
        }
        // Traversal and hidden files on the static routes.
        15 | 16 => {
            let t = TRAVERSAL[rng.usize(..TRAVERSAL.len())];
            format!("GET {t} HTTP/1.1\r\n{host}\r\n").into_bytes()
        }
        // Admin routes with wrong tokens, tokens in the query, bad parameters.
        17 => {
            let a = [
                "Authorization: Bearer wrong\r\n",
                "Authorization: Basic Zm9vOmJhcg==\r\n",
                "Authorization: Bearer \r\n",
                "Authorization: \u{0}\r\n",
                "",
            ][rng.usize(..5)];
            let p = [
                "/api/events?limit=-1",
                "/api/events?limit=99999999999999999999",
                "/api/events?pixel=abc",
                "/api/events?token=admin-token-for-the-tests",
                "/report?pixel=1' OR 1=1",
                "/report?token=x",
                "/metrics",
            ][rng.usize(..7)];
            format!("GET {p} HTTP/1.1\r\n{host}{a}\r\n").into_bytes()
        }
        // Bad Host and header bytes.
        18 => {
            let h = [
                "Host: \r\n",
                "Host: a\r\nHost: b\r\n",
                "Host: [::1\r\n",
                "Ho st: x\r\n",
                "Host: x\u{7f}\r\n",
                ": novalue\r\n",
                "Origin: \u{ff}\r\n",
            ][rng.usize(..7)];
            format!("GET /tr/?{q} HTTP/1.1\r\n{h}\r\n").into_bytes()
        }
        // Garbage.
        _ => (0..rng.usize(1..2000)).map(|_| rng.u8(..)).collect(),
    };
    if rng.u8(..50) == 0 {
        // Now and then a bare LF head instead of CRLF.
        r = String::from_utf8_lossy(&r)
            .replace("\r\n", "\n")
            .into_bytes();
    }
    r
}

/// Send one request, half-close, read everything until the server closes. Returns the status of
/// the first answer, if any, and the whole answer.
async fn send(addr: std::net::SocketAddr, bytes: Vec<u8>) -> (Option<u16>, Vec<u8>) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        panic!("cannot connect: the collector is gone?");
    };
    // The server may close before everything is written (a 431, a refused head): not an error.
    let _ = s.write_all(&bytes).await;
    let _ = s.shutdown().await;
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
    let status = std::str::from_utf8(got.get(..12).unwrap_or(&[]))
        .ok()
        .and_then(|l| l.strip_prefix("HTTP/1.1 "))
        .and_then(|c| c.get(..3))
        .and_then(|c| c.parse().ok());
    (status, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_corpus_gets_no_5xx_and_the_process_stays_well() {
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(dist.join("fbevents.js"), "/* pixel */").unwrap();
    let mut c =
        Collector::start(dir.path(), &["--pixel", PIXEL, "--head-timeout-ms", "2000"]).await;
    let pid = c.child.id();
    // Warm up (allocator arenas, caches) before the baseline.
    for i in 0..200 {
        send(
            c.addr,
            format!(
                "GET /tr/?{} HTTP/1.1\r\nHost: x\r\n\r\n",
                valid_query(&mut fastrand::Rng::with_seed(i), i as usize)
            )
            .into_bytes(),
        )
        .await;
    }
    let rss_before = rss_kib(pid);
    let statuses = Arc::new(Mutex::new(BTreeMap::<String, usize>::new()));
    let fives = Arc::new(Mutex::new(Vec::<String>::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(rss_before));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..24u64 {
        let (statuses, fives, next, peak, addr) = (
            statuses.clone(),
            fives.clone(),
            next.clone(),
            peak.clone(),
            c.addr,
        );
        tasks.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(0x5eed + w);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= CORPUS {
                    return;
                }
                let req = request(&mut rng, i);
                let (status, got) = send(addr, req.clone()).await;
                let key = status.map_or_else(|| "closed".to_owned(), |s| s.to_string());
                *statuses.lock().unwrap().entry(key).or_default() += 1;
                let text = String::from_utf8_lossy(&got);
                if status.is_some_and(|s| s >= 500)
                    || text.contains("root:x:0:0")
                    || text.contains("SQLite format")
                {
                    fives.lock().unwrap().push(format!(
                        "{:?} -> {}",
                        String::from_utf8_lossy(&req[..req.len().min(300)]),
                        text.lines().next().unwrap_or("")
                    ));
                }
                if i % 500 == 0 {
                    peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let rss_after = rss_kib(pid);
    let peak = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .max(rss_after);
    let statuses = statuses.lock().unwrap().clone();
    println!("{CORPUS} malformed requests in {secs:.1} s over 24 connections at a time; answers by status: {statuses:?}");
    println!("collector RSS: {rss_before} KiB before, peak {peak} KiB, {rss_after} KiB after");
    let fives = fives.lock().unwrap().clone();
    assert!(
        fives.is_empty(),
        "{} bad answers, first: {:#?}",
        fives.len(),
        &fives[..fives.len().min(5)]
    );
    assert!(
        statuses.keys().any(|k| k.starts_with('4')),
        "no 4xx at all: {statuses:?}"
    );
    assert!(
        statuses.contains_key("200"),
        "no beacon accepted at all: {statuses:?}"
    );

    // Alive, answering, its database intact, memory bounded.
    let mut child_status = None;
    let mut child = c.child.try_wait();
    if let Ok(Some(s)) = child.as_mut() {
        child_status = Some(*s);
    }
    assert!(
        child_status.is_none(),
        "the collector exited: {child_status:?}"
    );
    let r = reqwest::get(c.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    let b = beacon("Purchase", "after-the-corpus");
    let r = reqwest::get(c.url(&format!("/tr/?{}", b.encode())))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(c
        .events("?limit=1000")
        .await
        .iter()
        .any(|e| e["event_id"] == "after-the-corpus"));
    assert!(
        peak < rss_before + 64 * 1024,
        "memory grew from {rss_before} KiB to a peak of {peak} KiB"
    );
}
