//! Running the application on a socket with its background tasks (relay, retention purge, the
//! cached pending gauge), and stopping it gracefully on SIGTERM or Ctrl-C: stop accepting, finish
//! in-flight requests within `--shutdown-timeout-ms` (each acknowledged beacon is already
//! committed), let the relay finish the request it has in flight.
//!
//! Connections are served by hyper's HTTP/1 connection with a tokio timer, one task each, under
//! limits no client can lift:
//!
//! - **at most `--max-connections` at once**: one beyond is accepted and closed at once (it is not
//!   left in the kernel's backlog, where it would wait with no answer);
//! - **at most `--max-connections-per-client` from one client** (an IPv4 address, an IPv6 /64:
//!   `http::limit::key`), so that one host cannot hold every slot; not applied with
//!   `--trust-proxy`, where every connection comes from the proxy;
//! - **shorter idle keep-alive under pressure**: while more than three quarters of the slots are
//!   in use, an idle connection closes after `--idle-timeout-busy-ms` (until fewer than five
//!   eighths are), which frees the slots idle clients hold for new ones;
//! - **a request head within `--head-timeout-ms`** of the connection opening, or of the first byte
//!   after an idle keep-alive pause;
//! - **an idle keep-alive connection closes after `--idle-timeout-ms`** with no byte read or
//!   written, which also bounds a client that stops reading a response;
//! - and a request with a body has `--body-timeout-ms` from its head to its answer, else `408`
//!   (`http::layers::Track`).
//!
//! hyper's own `header_read_timeout` starts whenever the connection waits for a head, idle or
//! not, so it cannot tell a 60 s keep-alive pause from a 10 s head; a small per-connection watchdog
//! does, from what the socket and the service see ([`Phase`]).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::http::limit;
use crate::http::router;
use crate::metrics::ConnStats;
use crate::relay;
use crate::state::AppState;

/// Connection limits (the `--*-timeout-ms` and `--max-connections` flags).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub head: Duration,
    pub idle: Duration,
    pub max_connections: usize,
    /// Open connections one client may hold; 0: no limit.
    pub per_client: usize,
    /// The idle timeout while more than three quarters of `max_connections` are open.
    pub idle_busy: Duration,
    pub shutdown: Duration,
}

impl Limits {
    pub fn of(config: &crate::config::Config) -> Limits {
        Limits {
            head: Duration::from_millis(config.head_timeout_ms),
            idle: Duration::from_millis(config.idle_timeout_ms),
            max_connections: config.max_connections,
            // Behind a proxy every connection is the proxy's: its own `limit_conn` counts them.
            per_client: if config.trust_proxy {
                0
            } else {
                config.max_connections_per_client
            },
            idle_busy: Duration::from_millis(config.idle_timeout_busy_ms),
            shutdown: Duration::from_millis(config.shutdown_timeout_ms),
        }
    }
}

/// Time between two counts of the pending events behind `collector_relay_queue_depth`.
pub const PENDING_GAUGE_EVERY: Duration = Duration::from_secs(2);

/// Serve until a shutdown signal. `metrics` is the `--metrics-listen` socket, `admin` the
/// `--admin-listen` one, if any.
pub async fn run(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    admin: Option<TcpListener>,
    state: AppState,
) -> io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let relays = relay::spawn(&state, stop_rx.clone()).map_err(io::Error::other)?;
    let purge = tokio::spawn(purge_loop(state.clone(), stop_rx.clone()));
    let summary = tokio::spawn(summary_loop(state.clone()));
    let pending = tokio::spawn(pending_loop(state.clone()));
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested: finishing in-flight requests");
        let _ = stop_tx.send(true);
    });
    let limits = Limits::of(&state.config);
    let internal = metrics.map(|l| {
        let router = crate::http::metrics_router(state.clone());
        // The internal listener is for a scraper or two: a small fixed limit.
        let small = Limits {
            max_connections: 64,
            ..limits
        };
        // Its connections are not counted with the public listener's.
        let stats = Arc::new(ConnStats::default());
        tokio::spawn(serve(l, router, small, stats, stop_rx.clone()))
    });
    // The admin listener serves a person or two at a dashboard: the same small limit, counted
    // apart, so a flood of the public listener never locks the operator out.
    let admin = admin.map(|l| {
        let router = crate::http::admin::router(state.clone());
        let small = Limits {
            max_connections: 64,
            ..limits
        };
        let stats = Arc::new(ConnStats::default());
        tokio::spawn(serve(l, router, small, stats, stop_rx.clone()))
    });
    serve(
        listener,
        router(state.clone()),
        limits,
        state.metrics.connections.clone(),
        stop_rx.clone(),
    )
    .await?;
    for task in [internal, admin].into_iter().flatten() {
        let _ = task.await;
    }
    let drain = Duration::from_millis(state.config.relay_timeout_ms) + Duration::from_secs(2);
    let drained = tokio::time::timeout(drain, async {
        for task in relays {
            let _ = task.await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!("relay did not finish within the timeout; its pending events stay pending");
    }
    purge.abort();
    summary.abort();
    pending.abort();
    tracing::info!("stopped");
    Ok(())
}

/// Accept connections on `listener` and serve `router` on each until `stop` turns true, then
/// close idle connections, let the others finish their request, and return once all are closed
/// or `limits.shutdown` has passed. `stats` counts its connections (`collector_connections_*`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stats: Arc<ConnStats>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        // The watchdog below times heads and idle connections (see the module comment).
        .header_read_timeout(None)
        // No `.max_headers(..)`: hyper's default is the same 100 headers, parsed into an
        // uninitialised array on the stack; any explicit limit makes it build and fill a vector
        // of that size for every request (about 1,000 instructions per beacon).
        .max_buf_size(MAX_HEAD);
    let http = Arc::new(http);
    let clients = Arc::new(Clients::default());
    let busy = Arc::new(Busy::new(limits.max_connections));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            // A dropped sender is no stop signal: keep serving.
            Ok(_) = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors (EMFILE) or a connection reset before accept: do not spin.
                stats.accept_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let Some(slot) = Clients::take(&clients, peer, limits.per_client) else {
            stats.refused_per_client.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        busy.update(&permits);
        let _ = stream.set_nodelay(true);
        let (router, http, stats, stop) =
            (router.clone(), http.clone(), stats.clone(), stop.clone());
        let (busy, permits) = (busy.clone(), permits.clone());
        tokio::spawn(async move {
            stats.open.fetch_add(1, Ordering::Relaxed);
            let watch = busy.tx.subscribe();
            connection(stream, peer, router, &http, limits, &stats, stop, watch).await;
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            drop(slot);
            busy.update(&permits);
        });
    }
    drop(listener);
    let max = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let all_closed = tokio::time::timeout(limits.shutdown, permits.acquire_many(max)).await;
    if all_closed.is_err() {
        tracing::warn!(
            open = stats.open.load(Ordering::Relaxed),
            "connections still open at the shutdown deadline: closing them"
        );
    }
    Ok(())
}

/// Open connections by client ([`limit::key`] of the peer's address): only clients with one open
/// are kept, so the map is never larger than `--max-connections`.
#[derive(Default)]
struct Clients(Mutex<HashMap<limit::Key, usize>>);

impl Clients {
    /// A slot for one more connection of `peer`, or `None` when it holds `max` (0: no limit).
    fn take(clients: &Arc<Clients>, peer: SocketAddr, max: usize) -> Option<Slot> {
        if max == 0 {
            return Some(Slot(None));
        }
        let key = limit::key(peer.ip());
        let mut map = clients.0.lock().ok()?;
        let open = map.entry(key).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(Slot(Some((clients.clone(), key))))
    }
}

/// One open connection of a client, given back when dropped.
struct Slot(Option<(Arc<Clients>, limit::Key)>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((clients, key)) = self.0.take() {
            if let Ok(mut map) = clients.0.lock() {
                if let Some(open) = map.get_mut(&key) {
                    *open -= 1;
                    if *open == 0 {
                        map.remove(&key);
                    }
                }
            }
        }
    }
}

/// Whether the listener is under pressure: on above three quarters of its slots in use, off
/// below five eighths (the gap keeps connections opening and closing near one threshold from
/// waking every idle connection each time). Each connection watches it.
struct Busy {
    max: usize,
    tx: watch::Sender<bool>,
}

impl Busy {
    fn new(max: usize) -> Busy {
        Busy {
            max,
            tx: watch::channel(false).0,
        }
    }

    fn update(&self, permits: &Semaphore) {
        let open = self.max.saturating_sub(permits.available_permits());
        let (on, off) = (self.max - self.max / 4, self.max - self.max * 3 / 8);
        self.tx.send_if_modified(|busy| {
            let now = if *busy { open >= off } else { open >= on };
            std::mem::replace(busy, now) != now
        });
    }
}

/// Largest request head (request line and headers) in bytes; a larger one gets `431`.
pub const MAX_HEAD: usize = 64 * 1024;

#[allow(clippy::too_many_arguments)]
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    http: &hyper::server::conn::http1::Builder,
    limits: Limits,
    stats: &ConnStats,
    mut stop: watch::Receiver<bool>,
    mut busy: watch::Receiver<bool>,
) {
    let phase = Arc::new(Phase::new());
    let io = Watched {
        io: stream,
        phase: phase.clone(),
    };
    let svc_phase = phase.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        svc_phase.set(IN_REQUEST);
        req.extensions_mut().insert(ConnectInfo(peer));
        let (router, phase) = (router.clone(), svc_phase.clone());
        async move {
            let resp = router.oneshot(req).await;
            phase.set(IDLE);
            resp
        }
    });
    let conn = http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let (current, since) = phase.get();
        let pressed = *busy.borrow_and_update();
        let idle = if pressed {
            limits.idle_busy.min(limits.idle)
        } else {
            limits.idle
        };
        let deadline = match current {
            AWAITING_HEAD => Some(since + limits.head),
            IDLE => Some(since + idle),
            // The request's own deadline (408) is in the router.
            _ => None,
        };
        let sleep =
            tokio::time::sleep_until(deadline.unwrap_or_else(|| Instant::now() + limits.idle));
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = sleep => {
                // The phase may have moved on while we slept: only its own deadline closes.
                let (now_phase, now_since) = phase.get();
                if (now_phase, now_since) == (current, since) && deadline.is_some() {
                    let counter = match current {
                        IDLE if pressed && idle < limits.idle => &stats.busy_idle_closes,
                        IDLE => &stats.idle_timeouts,
                        _ => &stats.head_timeouts,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    return; // dropping the connection closes the socket
                }
            }
            Ok(()) = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            // Pressure came or went: the idle deadline above changes.
            Ok(()) = busy.changed() => {}
        }
    }
}

const AWAITING_HEAD: u8 = 0;
const IN_REQUEST: u8 = 1;
const IDLE: u8 = 2;

/// Where a connection is, and since when: waiting for a head (from the accept or the first byte
/// after idle), in a request (head parsed, answer not yet ready), or idle (answered; refreshed by
/// every byte written, so a response being sent is not idle).
struct Phase {
    base: Instant,
    phase: AtomicU8,
    since_ms: AtomicU64,
}

impl Phase {
    fn new() -> Phase {
        Phase {
            base: Instant::now(),
            phase: AtomicU8::new(AWAITING_HEAD),
            since_ms: AtomicU64::new(0),
        }
    }

    fn set(&self, phase: u8) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.since_ms.store(ms, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    fn get(&self) -> (u8, Instant) {
        let phase = self.phase.load(Ordering::Relaxed);
        let since = self.base + Duration::from_millis(self.since_ms.load(Ordering::Relaxed));
        (phase, since)
    }
}

/// The socket, telling [`Phase`] when bytes move.
struct Watched {
    io: TcpStream,
    phase: Arc<Phase>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before && self.phase.phase.load(Ordering::Relaxed) == IDLE {
            self.phase.set(AWAITING_HEAD);
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0)
            && self.phase.phase.load(Ordering::Relaxed) == IDLE
        {
            self.phase.set(IDLE);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0)
            && self.phase.phase.load(Ordering::Relaxed) == IDLE
        {
            self.phase.set(IDLE);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// Raise the soft limit on open descriptors to the hard limit (a service manager's default soft
/// limit, often 1,024, would stop accepts long before `--max-connections`). Returns the limit now
/// in force, when known.
pub fn raise_descriptor_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    match (limit.current, limit.maximum) {
        (Some(soft), Some(hard)) if soft < hard => {
            let raised = rustix::process::Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => Some(hard),
                Err(_) => Some(soft),
            }
        }
        (Some(_), None) => None,
        (soft, _) => soft,
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Count the pending events every [`PENDING_GAUGE_EVERY`] for `collector_relay_queue_depth`, so
/// a scrape (or many) never runs a `COUNT(*)` over the backlog itself.
async fn pending_loop(state: AppState) {
    loop {
        let queue = state.queue.clone();
        if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || queue.pending_count()).await {
            state.metrics.relay_pending.store(n, Ordering::Relaxed);
        }
        tokio::time::sleep(PENDING_GAUGE_EVERY).await;
    }
}

/// Delete events past `--retention-days` and dedup keys past 48 hours, every
/// `--purge-interval-secs` (the first run at start).
async fn purge_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.config.purge_interval_secs);
    loop {
        let now = state.clock.now_ms();
        let days = i64::from(state.config.retention_days);
        let before = (days > 0).then(|| now - days * 86_400_000);
        let log = state.log.clone();
        match tokio::task::spawn_blocking(move || log.purge(before, now)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(deleted = n, days, "retention purge"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "retention purge failed"),
            Err(e) => tracing::error!(error = %e, "retention purge task failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Every 10 seconds with activity, one log line of what happened (each event is logged at debug).
async fn summary_loop(state: AppState) {
    use std::sync::atomic::Ordering::Relaxed;
    let m = &state.metrics;
    let c = &m.connections;
    let read = || {
        [
            m.received.load(Relaxed),
            m.stored.load(Relaxed),
            m.duplicates.load(Relaxed),
            m.relayed.load(Relaxed),
            m.relay_failed_events.load(Relaxed),
            m.expired.load(Relaxed),
            c.refused.load(Relaxed),
            c.head_timeouts.load(Relaxed),
            c.idle_timeouts.load(Relaxed),
            c.accept_errors.load(Relaxed),
            c.refused_per_client.load(Relaxed),
            c.busy_idle_closes.load(Relaxed),
            m.rate_limited_total(),
        ]
    };
    let mut last = read();
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let now = read();
        if now != last {
            let d = |i: usize| now.get(i).copied().unwrap_or(0) - last.get(i).copied().unwrap_or(0);
            tracing::info!(
                beacons = d(0),
                stored = d(1),
                duplicates = d(2),
                relayed = d(3),
                relay_failed = d(4),
                expired = d(5),
                "last 10 s"
            );
            if d(6) + d(7) + d(9) + d(10) + d(11) > 0 {
                tracing::warn!(
                    refused_over_limit = d(6),
                    head_timeouts = d(7),
                    idle_timeouts = d(8),
                    accept_errors = d(9),
                    refused_per_client = d(10),
                    idle_closed_busy = d(11),
                    "connections in the last 10 s: refused beyond --max-connections or --max-connections-per-client, closed for a slow head or idle under pressure, accept failures (out of descriptors?)"
                );
            }
            if d(12) > 0 {
                tracing::warn!(
                    refused = d(12),
                    "requests refused by a per-client limit in the last 10 s (429; collector_rate_limited_total)"
                );
            }
            last = now;
        }
    }
}
