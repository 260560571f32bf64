//! The Graph transport port: how the relay reaches the Conversions API. One request body for a
//! pixel goes in, the [`Verdict`] on it comes out; what an answer means is decided by [`capi`]
//! alone ([`capi::classify`], [`capi::redirected`], [`capi::parse_retry_after`]).
//!
//! The collector runs on [`HttpGraph`] (reqwest, `POST {graph-url}/{version}/{pixel}/events`);
//! the relay's logic tests run on a scripted stand-in (`relay/tests/stand_in.rs`) that answers in
//! process, without a socket.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::capi::{self, Verdict};
use crate::config::Config;
use crate::ports::Clock;

/// A request on its way: resolves to the verdict on it. Boxed, so that the trait stays object safe
/// without a macro crate.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// The Conversions API as the relay sees it.
pub trait Graph: Send + Sync + 'static {
    /// POST `body` (a [`capi::request_body`]) to the `/events` edge of `pixel_id`, and tell what
    /// the answer (or its absence: a timeout, a connection error) means for its events.
    fn send<'a>(&'a self, pixel_id: &'a str, body: Vec<u8>) -> Sending<'a>;
}

/// The Graph API over HTTP: one client for every pixel, with `--relay-timeout-ms` and no
/// redirects.
pub struct HttpGraph {
    client: reqwest::Client,
    /// `{graph-url}/{version}`: no secret in it.
    base: String,
    /// For a `Retry-After` given as a date.
    clock: Arc<dyn Clock>,
}

impl HttpGraph {
    pub fn new(config: &Config, clock: Arc<dyn Clock>) -> Result<HttpGraph, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.relay_timeout_ms))
            .connect_timeout(Duration::from_millis(config.relay_timeout_ms.min(10_000)))
            // A redirect is a misconfiguration: following a 302 turns the POST into a GET, and the
            // 200 at its end would mark events sent that were never posted.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("collector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(HttpGraph {
            client,
            base: format!("{}/{}", config.graph_url, config.graph_version),
            clock,
        })
    }

    async fn post(&self, pixel_id: &str, body: Vec<u8>) -> Verdict {
        let sent = self
            .client
            .post(format!("{}/{pixel_id}/events", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => return network_verdict(e),
        };
        let status = resp.status().as_u16();
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        if (300..400).contains(&status) {
            return capi::redirected(status, header(reqwest::header::LOCATION).as_deref());
        }
        let now = u64::try_from(self.clock.now_ms()).unwrap_or(0);
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(now);
        let retry_after =
            header(reqwest::header::RETRY_AFTER).and_then(|v| capi::parse_retry_after(&v, now));
        match read_capped(resp, capi::MAX_RESPONSE_BYTES).await {
            Ok(body) => capi::classify(status, retry_after, &body),
            Err(e) => network_verdict(e),
        }
    }
}

impl Graph for HttpGraph {
    fn send<'a>(&'a self, pixel_id: &'a str, body: Vec<u8>) -> Sending<'a> {
        Box::pin(self.post(pixel_id, body))
    }
}

/// At most `cap` bytes of the body; the rest is not read (the connection is dropped).
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = cap.saturating_sub(body.len());
        body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if body.len() >= cap {
            break;
        }
    }
    Ok(body)
}

fn network_verdict(e: reqwest::Error) -> Verdict {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "network"
    };
    // The URL holds no secret, but the messages are for a log: keep them short.
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Verdict::Retry {
        kind,
        after: None,
        detail,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ports::SystemClock;

    #[tokio::test]
    async fn a_response_body_is_read_up_to_the_cap() {
        for (size, want) in [
            (10, 10),
            (capi::MAX_RESPONSE_BYTES, capi::MAX_RESPONSE_BYTES),
            (8 << 20, capi::MAX_RESPONSE_BYTES),
        ] {
            let resp = reqwest::Response::from(axum::http::Response::new(vec![b'x'; size]));
            let body = read_capped(resp, capi::MAX_RESPONSE_BYTES).await;
            assert_eq!(body.map(|b| b.len()).ok(), Some(want));
        }
    }

    /// A Graph URL where nothing listens: a retry of kind `connect`, saying why, without the URL.
    #[tokio::test]
    async fn a_refused_connection_is_a_connect_retry_that_says_so() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let config = Config::parse_from([
            "collector",
            "--graph-url",
            &url,
            "--graph-allow-http",
            "--pixel",
            "1234567890=capi-token",
        ])
        .unwrap();
        let graph = HttpGraph::new(&config, Arc::new(SystemClock)).unwrap();
        let verdict = graph.send("1234567890", b"{}".to_vec()).await;
        let Verdict::Retry {
            kind,
            after: None,
            detail,
        } = verdict
        else {
            panic!("{verdict:?}")
        };
        assert_eq!(kind, "connect");
        assert!(
            detail.contains("Connection refused") || detail.contains("connect"),
            "{detail}"
        );
        assert!(!detail.contains(&url), "{detail}");
    }
}
