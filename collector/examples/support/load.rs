//! The load generator's client, shared by `loadgen`, `pgbench`, `pgbuilds` and `holdbench`:
//! realistic beacons (3 of 4 an image `GET` PageView, 1 of 4 a form `POST` Purchase) written as
//! raw HTTP/1.1 over keep-alive connections from one thread, each with a distinct event ID, and
//! the figures of a run. `Template`, `read_response` and `run` serve other requests too (the
//! server events of `loadgen`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use collector::event::{NewEvent, RequestContext};
use pixel_core::wire::Beacon;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const PIXEL: &str = "1234567890";

#[derive(Clone, Copy, PartialEq)]
pub enum Load {
    Bare,
    Beacons,
    /// `GET /fbevents.js` (a 32 KB file from `--dist`), the static-file path.
    Static,
}

pub fn page_view(n: u64) -> Beacon {
    Beacon {
        id: PIXEL.into(),
        ev: "PageView".into(),
        dl: format!(
            "https://shop.example/products/linen-shirt-{}?utm_source=newsletter",
            n % 50
        ),
        rl: "https://shop.example/collections/summer".into(),
        ts: 1_764_000_000_000,
        sw: Some(1920),
        sh: Some(1080),
        v: "2.9.134".into(),
        r: "stable".into(),
        ec: 0,
        fbp: Some(format!(
            "fb.1.1764000000000.{}",
            1_000_000_000 + n % 100_000
        )),
        it: Some(1_764_000_000_000),
        eid: Some(format!("pv-{n}")),
        rqm: Some("GET".into()),
        ..Beacon::default()
    }
}

pub fn purchase(n: u64) -> Beacon {
    Beacon {
        ev: "Purchase".into(),
        dl: "https://shop.example/checkout/thank-you".into(),
        rl: "https://shop.example/checkout".into(),
        cd: vec![
            ("value".into(), "129.9".into()),
            ("currency".into(), "EUR".into()),
            ("content_ids".into(), r#"["sku-1041","sku-2203"]"#.into()),
            ("contents".into(), r#"[{"id":"sku-1041","quantity":1,"item_price":79.9},{"id":"sku-2203","quantity":2,"item_price":25}]"#.into()),
            ("content_type".into(), "product".into()),
            ("num_items".into(), "3".into()),
            ("order_id".into(), format!("ord-{n}")),
        ],
        ud: vec![
            ("em".into(), "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f".into()),
            ("ph".into(), "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4".into()),
            ("ct".into(), "a6bbac2b2be1ca2e8e4a0ff4b7bd1bc67c3ab4d3aee6d2b3a7f5b7a7f3b1c2d0".into()),
        ],
        fbc: Some("fb.1.1764000000000.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB".into()),
        eid: Some(format!("pu-{n}")),
        rqm: Some("SB".into()),
        ..page_view(n)
    }
}

/// Beacon `b` as the collector stores it when a browser sends it at `now_ms` (its `ts` then too),
/// to be relayed or not.
pub fn stored_event(b: Beacon, now_ms: i64, relay: bool) -> NewEvent {
    let b = Beacon {
        ts: u64::try_from(now_ms).unwrap(),
        ..b
    };
    let ctx = RequestContext {
        client_ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (bench)".into()),
        received_at_ms: now_ms,
    };
    NewEvent::from_beacon(b, ctx, relay).unwrap().0
}

/// Width of the event counter in a request template.
const DIGITS: usize = 12;

/// The placeholder for the event counter in a template's text: `DIGITS` nines, found and
/// overwritten per request.
pub const MARKER: u64 = 999_999_999_999;

/// A request with fixed-width placeholders for its event counter, so the client spends its time
/// on the wire and not on formatting (every request still carries distinct event IDs).
pub struct Template {
    bytes: Vec<u8>,
    /// Where the counter digits start (the eid, and the order id of a Purchase).
    slots: Vec<usize>,
}

impl Template {
    /// The request `text`, its counter slots wherever `MARKER` stands in it.
    pub fn new(text: String) -> Template {
        let needle = MARKER.to_string();
        let slots = text.match_indices(&needle).map(|(i, _)| i).collect();
        Template {
            bytes: text.into_bytes(),
            slots,
        }
    }

    /// The request with `v` (zero-padded to `DIGITS`) in every slot.
    pub fn stamp(&mut self, mut v: u64) -> &[u8] {
        let mut digits = [b'0'; DIGITS];
        for d in digits.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        for &at in &self.slots {
            self.bytes[at..at + DIGITS].copy_from_slice(&digits);
        }
        &self.bytes
    }
}

/// The request of `load`: a Purchase beacon if `purchase_kind`, else a PageView.
fn request(load: Load, purchase_kind: bool) -> Template {
    const UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15";
    Template::new(match (load, purchase_kind) {
        (Load::Bare, _) => "GET /_bench/204 HTTP/1.1\r\nHost: shop.example\r\n\r\n".to_owned(),
        (Load::Static, _) => "GET /fbevents.js HTTP/1.1\r\nHost: shop.example\r\n\r\n".to_owned(),
        (Load::Beacons, true) => {
            let body = purchase(MARKER).encode();
            format!(
                "POST /tr/ HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: {UA}\r\nOrigin: https://shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        }
        (Load::Beacons, false) => format!(
            "GET /tr/?{} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: {UA}\r\nAccept: image/avif,image/webp,*/*\r\nReferer: https://shop.example/\r\n\r\n",
            page_view(MARKER).encode()
        ),
    })
}

/// Pages generate random event IDs: the counter scattered over 10^12 with a bijection
/// (multiplier coprime to 10^12), so IDs are distinct but arrive in random key order.
fn scatter(n: u64) -> u64 {
    ((u128::from(n) * 777_777_777_773 + 12_345) % 1_000_000_000_000) as u64
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Read one response (its head, then `Content-Length` bytes of body); returns its status.
pub async fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).unwrap_or("");
    let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let len: usize = head
        .split("\r\n")
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..head_end + len);
    Ok(status)
}

async fn connection(addr: SocketAddr, load: Load, until: Instant, seq: Arc<AtomicU64>) -> Vec<u32> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut lat = Vec::with_capacity(200_000);
    let (mut view, mut buy) = (request(load, false), request(load, true));
    while Instant::now() < until {
        let n = seq.fetch_add(1, Ordering::Relaxed);
        // 3 of 4 beacons an image GET PageView, 1 of 4 a form POST Purchase.
        let req = if n % 4 == 3 {
            buy.stamp(scatter(n))
        } else {
            view.stamp(scatter(n))
        };
        let t = Instant::now();
        s.write_all(req).await.unwrap();
        let status = read_response(&mut s, &mut buf).await.unwrap();
        assert!(status == 200 || status == 204, "status {status}");
        lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    lat
}

pub struct Figures {
    pub requests: usize,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// CPU time of this whole process (server, writer and client) per request, microseconds:
    /// unlike requests/s, barely moved by other work on the machine.
    pub cpu_us: f64,
}

/// User + system CPU time of this process so far, in clock ticks (`/proc/self/stat`).
pub fn cpu_ticks() -> u64 {
    let f = stat_numbers("self");
    f.get(10).copied().unwrap_or(0) + f.get(11).copied().unwrap_or(0)
}

/// The numeric fields of `/proc/<pid>/stat` after the command name and the state letter (field
/// 3), by position: the parent pid is `[0]` (field 4 of stat(5)), then user and system CPU ticks
/// `[10]`, `[11]` (fields 14, 15) and those of waited-for children `[12]`, `[13]`. A negative
/// field (the terminal's process group, -1 without a terminal) reads as 0 and keeps its place.
/// Empty when the process is gone.
pub fn stat_numbers(pid: &str) -> Vec<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    after
        .split_whitespace()
        .skip(1)
        .map(|x| {
            x.parse::<i64>()
                .map_or(0, |v| u64::try_from(v).unwrap_or(0))
        })
        .collect()
}

/// `connections` keep-alive connections for `secs` seconds, spread over `addrs` in turn (a
/// round-robin load balancer in front of replicas).
pub async fn drive(addrs: &[SocketAddr], load: Load, connections: usize, secs: u64) -> Figures {
    let seq = Arc::new(AtomicU64::new(0));
    run(connections, secs, |i, until| {
        connection(addrs[i % addrs.len()], load, until, seq.clone())
    })
    .await
}

/// Run `connection(i, until)` for each of `connections` connections, each sending requests until
/// `secs` seconds from now and returning its latencies in microseconds; the run's figures.
pub async fn run<C, F>(connections: usize, secs: u64, mut connection: C) -> Figures
where
    C: FnMut(usize, Instant) -> F,
    F: Future<Output = Vec<u32>> + Send + 'static,
{
    let ticks = cpu_ticks();
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..connections)
        .map(|i| tokio::spawn(connection(i, until)))
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_secs = (cpu_ticks() - ticks) as f64 / 100.0;
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    Figures {
        requests: all.len(),
        per_sec: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        cpu_us: cpu_secs * 1e6 / all.len().max(1) as f64,
    }
}
