//! Per-client limits on the routes that store events: a token bucket of requests and one of
//! bytes per client, and the middleware that answers `429` with `Retry-After` before a body is
//! read.
//!
//! A client is its address ([`key`]): an IPv4 address whole, an IPv6 address by its /64 (a
//! household or a phone is given a whole /64, so one host can use 2^64 addresses), and with
//! `--trust-proxy` the forwarded address, by the rule the stored `client_ip` uses
//! ([`client_addr`]).
//!
//! Each bucket is kept as GCRA keeps it: one "theoretical arrival time" (`tat`) per client and
//! bucket, in nanoseconds since the limiter started. A request of cost `n` fits when
//! `max(tat, now) + n·T - now ≤ burst·T` (`T` = 1/rate); it then moves `tat` on by `n·T`. A
//! client whose `tat` is in the past has a full bucket, exactly like a client never seen, so it
//! can be forgotten at no cost: that is how the table stays bounded under a flood of distinct
//! addresses (`bucket.rs`, [`Limiter::admit`]).
//!
//! Bytes are a request's query string and its body: the declared `Content-Length`, checked
//! before the body is read; a chunked body (no length) is counted as it is read, and what it
//! spends is the client's debt for its next requests ([`Counted`]).
//!
//! Why not `governor`: its keyed limiter never forgets a key on its own (a flood of distinct
//! addresses grows it until someone calls `retain_recent`), cannot charge bytes after the fact
//! (a chunked body), and two of them (requests and bytes) would be two tables and two lookups.
//! This is one map, one lock and a few integer operations per request.

use std::convert::Infallible;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use tower::Service;

mod bucket;

pub use bucket::{Bucket, Exceeded, Key, Limiter, Refused, Rule};

use super::layers::{Answer, Around};
use crate::metrics::Metrics;

/// The client's address: the socket peer, or with `--trust-proxy` the last `X-Forwarded-For`
/// entry (the one our own proxy appended; earlier entries are the client's to invent). The
/// stored client IP is the same address (`beacon::client_ip`).
pub fn client_addr(
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
    trust_proxy: bool,
) -> Option<IpAddr> {
    if trust_proxy {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|s| !s.is_empty())
            .and_then(|s| s.parse::<IpAddr>().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(addr)| addr.ip())
}

/// The key of `ip`: an IPv4 address as its IPv4-mapped IPv6 form (never an IPv6 /64), an IPv6
/// address cut to its /64. IPv4-mapped IPv6 addresses are IPv4.
pub fn key(ip: IpAddr) -> Key {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6) & !u128::from(u64::MAX),
    }
}

/// Largest body a refused request is read for (and dropped): a beacon's largest (64 KB).
const DRAIN_MAX: u64 = 64 * 1024;

/// Which route a [`Limit`] guards: fixes the refusal's body and the metric's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/tr`: a text answer.
    Beacon,
    /// `POST /{version}/{pixel}/events`: Meta's error object.
    ServerEvents,
}

impl Route {
    pub fn label(self) -> &'static str {
        match self {
            Route::Beacon => "beacon",
            Route::ServerEvents => "server_events",
        }
    }
}

/// The middleware: a request that stores events (a beacon `GET` or `POST`, a server-event
/// `POST`) is admitted by its client's buckets or answered `429` with `Retry-After`, its body
/// never parsed nor stored: a body up to 64 KB is read and dropped (so the answer reaches the
/// client), a larger one is left unread and the connection closes after the answer.
#[derive(Clone)]
pub struct Limit {
    pub limiter: Arc<Limiter>,
    pub route: Route,
    pub trust_proxy: bool,
    pub metrics: Arc<Metrics>,
}

impl Limit {
    fn counts(&self, method: &Method) -> bool {
        match self.route {
            Route::Beacon => method == Method::GET || method == Method::POST,
            Route::ServerEvents => method == Method::POST,
        }
    }

    fn refusal(&self, refused: Refused) -> Response {
        let rule = self.limiter.rule();
        let (what, per_sec, flag) = match (self.route, refused.exceeded) {
            (Route::Beacon, Exceeded::Requests) => {
                ("beacons", rule.requests.per_sec, "--beacon-rate")
            }
            (Route::Beacon, Exceeded::Bytes) => (
                "bytes of beacons",
                rule.bytes.per_sec,
                "--beacon-bytes-rate",
            ),
            (Route::ServerEvents, Exceeded::Requests) => (
                "server-event requests",
                rule.requests.per_sec,
                "--server-events-rate",
            ),
            (Route::ServerEvents, Exceeded::Bytes) => (
                "bytes of server events",
                rule.bytes.per_sec,
                "--server-events-bytes-rate",
            ),
        };
        let message = format!(
            "too many {what} from your address: more than {per_sec} a second ({flag}); retry in {} s",
            refused.retry_after_secs
        );
        let mut resp = match self.route {
            Route::Beacon => {
                let mut resp =
                    (StatusCode::TOO_MANY_REQUESTS, format!("{message}\n")).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                resp
            }
            Route::ServerEvents => crate::server_events::ApiError::new(
                crate::server_events::Kind::RateLimited,
                message,
            )
            .into_response(&crate::server_events::fbtrace_id()),
        };
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(refused.retry_after_secs),
        );
        resp
    }
}

impl Around for Limit {
    fn around<S>(&self, req: Request, inner: &mut S) -> Answer
    where
        S: Service<Request, Response = Response, Error = Infallible>,
        S::Future: Send + 'static,
    {
        if !self.limiter.on() || !self.counts(req.method()) {
            return Box::pin(inner.call(req));
        }
        let Some(ip) = client_addr(req.headers(), req.extensions(), self.trust_proxy) else {
            return Box::pin(inner.call(req));
        };
        let client = key(ip);
        let query = req.uri().query().map_or(0, str::len) as u64;
        let body = req.body();
        let unread = !HttpBody::is_end_stream(body);
        let declared = HttpBody::size_hint(body).exact();
        let bytes = query.saturating_add(declared.unwrap_or(0));
        if let Err(refused) = self.limiter.admit(client, bytes) {
            self.metrics
                .rate_limited(self.route.label(), refused.exceeded.label());
            self.metrics.rejected(match refused.exceeded {
                Exceeded::Requests => "rate_limited",
                Exceeded::Bytes => "byte_limited",
            });
            let mut resp = self.refusal(refused);
            if !unread {
                return Box::pin(async move { Ok(resp) });
            }
            if declared.is_none_or(|n| n <= DRAIN_MAX) {
                // A small body is read and dropped (never parsed nor stored), so that the client
                // reads the answer and its `Retry-After`: a connection closed with bytes unread
                // is reset, and the reset can beat the answer.
                let body = req.into_body();
                return Box::pin(async move {
                    if http_body_util::BodyExt::collect(http_body_util::Limited::new(
                        body,
                        DRAIN_MAX as usize,
                    ))
                    .await
                    .is_err()
                    {
                        crate::error::closes_connection(&mut resp);
                    }
                    Ok(resp)
                });
            }
            crate::error::closes_connection(&mut resp);
            return Box::pin(async move { Ok(resp) });
        }
        if unread && declared.is_none() {
            // A chunked body: counted as it is read.
            let (parts, body) = req.into_parts();
            let counted = Counted {
                body,
                limiter: self.limiter.clone(),
                client,
            };
            return Box::pin(inner.call(Request::from_parts(parts, Body::new(counted))));
        }
        Box::pin(inner.call(req))
    }
}

/// A body of unknown length whose bytes are charged to its client as they are read.
struct Counted {
    body: Body,
    limiter: Arc<Limiter>,
    client: Key,
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.limiter.charge(self.client, data.len() as u64);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Bytes of `map` written as JSON (what the store keeps of an event's custom data), counted
/// without writing them anywhere.
pub fn json_size(map: &serde_json::Map<String, serde_json::Value>) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, map) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| unreachable!("{s}: {e}"))
    }

    #[test]
    fn keys_are_whole_ipv4_and_ipv6_slash_64() {
        assert_ne!(key(ip("127.0.0.2")), key(ip("127.0.0.3")));
        assert_eq!(key(ip("192.0.2.7")), key(ip("::ffff:192.0.2.7")));
        assert_eq!(
            key(ip("2001:db8:1:2::1")),
            key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        );
        assert_ne!(key(ip("2001:db8:1:2::1")), key(ip("2001:db8:1:3::1")));
        // An IPv4 address never shares a key with an IPv6 /64.
        assert_ne!(key(ip("0.0.0.1")), key(ip("::")));
    }

    #[test]
    fn the_client_is_the_peer_or_behind_trust_proxy_the_last_forwarded_address() {
        let mut ext = axum::http::Extensions::new();
        let peer: std::net::SocketAddr =
            "127.0.0.1:4000".parse().unwrap_or_else(|_| unreachable!());
        ext.insert(axum::extract::ConnectInfo(peer));
        let mut headers = axum::http::HeaderMap::new();
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.1, 198.51.100.7"),
        );
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("2001:db8:1:2::9"),
        );
        assert_eq!(client_addr(&headers, &ext, false), Some(ip("127.0.0.1")));
        let forwarded = client_addr(&headers, &ext, true);
        assert_eq!(forwarded, Some(ip("2001:db8:1:2::9")));
        assert_eq!(forwarded.map(key), Some(key(ip("2001:db8:1:2::1"))));
        // Nothing usable forwarded: the peer.
        let mut junk = axum::http::HeaderMap::new();
        junk.insert(
            "x-forwarded-for",
            HeaderValue::from_static("not-an-address"),
        );
        assert_eq!(client_addr(&junk, &ext, true), Some(ip("127.0.0.1")));
    }

    #[test]
    fn json_size_is_the_serialized_length() {
        let mut m = serde_json::Map::new();
        m.insert("value".into(), serde_json::json!(12.5));
        m.insert(
            "contents".into(),
            serde_json::json!([{"id": "a\"b", "quantity": 2}]),
        );
        let text = serde_json::to_string(&m).unwrap_or_default();
        assert_eq!(json_size(&m), text.len());
    }
}
