//! `/tr`: Meta's beacon, as an image GET (query string) or a POST body
//! (`application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain`).
//!
//! Every beacon goes through the same steps: origin check, size and parameter-count checks,
//! decode (core), pixel check, hash any plain identifier (core), group commit, then the answer
//! with first-party cookies. Every step is linear in the request; a beacon of more than
//! [`MAX_PARAMS`] parameters is refused with 413 before any is decoded. When the store cannot
//! take the event, the answer is 503 with `Retry-After` and nothing is acknowledged.

use std::borrow::Cow;
use std::net::IpAddr;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use pixel_core::wire::{query_pairs, Beacon, Pair};

use super::multipart::{self, MultipartError};
use super::{cookies, cors};
use crate::error::AppError;
use crate::event::{NewEvent, RequestContext, MAX_PARAMS};
use crate::ingest::IngestError;
use crate::metrics::Metrics;
use crate::ports::InsertOutcome;
use crate::state::AppState;

/// Longest accepted query string.
pub const MAX_QUERY: usize = 32 * 1024;
/// Longest accepted body.
pub const MAX_BODY: usize = 64 * 1024;

/// A transparent 1×1 GIF.
pub const GIF: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The beacon routes' handlers as one service: `GET`, `HEAD`, `POST` and `OPTIONS` (not a
/// preflight; the CORS layer above answers those), else `405` with `Allow`.
#[derive(Clone)]
pub struct Beacons(pub AppState);

impl tower::Service<Request> for Beacons {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let state = self.0.clone();
        match *req.method() {
            Method::GET => Box::pin(async move { Ok(get(State(state), req).await) }),
            Method::POST => Box::pin(async move { Ok(post(State(state), req).await) }),
            Method::HEAD => Box::pin(async { Ok(head().await) }),
            Method::OPTIONS => Box::pin(async { Ok(cors::options().await.into_response()) }),
            _ => Box::pin(async {
                Ok((
                    StatusCode::METHOD_NOT_ALLOWED,
                    [(header::ALLOW, "GET,HEAD,POST,OPTIONS")],
                )
                    .into_response())
            }),
        }
    }
}

/// `GET /tr`: answer a GIF.
pub async fn get(State(state): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let result = async {
        cors::check(&state.config, &parts.headers)?;
        let pairs = uri_pairs(&parts)?;
        accept(&state, &parts, pairs).await
    }
    .await;
    respond(&state, result, true)
}

/// `HEAD /tr`: the GIF's headers, and nothing stored. (axum would otherwise run the GET handler
/// for HEAD and store a beacon that no browser sends.)
pub async fn head() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/gif"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        &GIF[..],
    )
        .into_response()
}

/// `POST /tr`: answer 204.
///
/// Everything that needs only the head is checked before the body is read: the origin, the
/// query string (its size, its parameters, and its pixel ID when it names one), the declared
/// length and the media type.
pub async fn post(State(state): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let result = async {
        let mut pairs = match before_body(&state, &parts) {
            Ok(pairs) => pairs,
            Err(e) => {
                // Refused on the head alone: the body is read (at most 64 KB, within the body
                // deadline) and dropped unparsed, so that the connection closes cleanly after
                // the answer. Closing it with the body unread resets it, and the client can lose
                // the answer that says what was wrong.
                if !matches!(e, AppError::BodyTooLarge) {
                    let _ = read_body(body).await;
                }
                return Err(e.into());
            }
        };
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let bytes = read_body(body).await?;
        let room = MAX_PARAMS.saturating_sub(pairs.len());
        pairs.extend(parse_body_limited(content_type, &bytes, room)?);
        accept(&state, &parts, pairs).await
    }
    .await;
    respond(&state, result, false)
}

/// Everything a POST can be refused for on its head alone, before its body is read: the origin,
/// the query string (size, parameter count, a pixel ID it names), the declared length and the
/// media type. Returns the query's pairs.
fn before_body<'a>(state: &AppState, parts: &'a Parts) -> Result<Vec<Pair<'a>>, AppError> {
    cors::check(&state.config, &parts.headers)?;
    let pairs = uri_pairs(parts)?;
    if let Some((_, id)) = pairs.iter().rfind(|(k, _)| k == "id") {
        if !id.is_empty() && state.config.pixel(id).is_none() {
            return Err(AppError::UnknownPixel);
        }
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(AppError::BodyTooLarge);
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    body_kind(content_type)?;
    Ok(pairs)
}

/// The request URI's query string as pairs, refused when too long or with too many.
fn uri_pairs(parts: &Parts) -> Result<Vec<Pair<'_>>, AppError> {
    let query = parts.uri.query().unwrap_or("");
    if query.len() > MAX_QUERY {
        return Err(AppError::QueryTooLarge);
    }
    form_pairs(query, MAX_PARAMS)
}

/// The body encodings a browser can send without a preflight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyKind {
    Form,
    Text,
    Multipart,
}

fn body_kind(content_type: &str) -> Result<BodyKind, AppError> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let is = |m: &str| mime.eq_ignore_ascii_case(m);
    if mime.is_empty() || is("application/x-www-form-urlencoded") {
        Ok(BodyKind::Form)
    } else if is("text/plain") {
        Ok(BodyKind::Text)
    } else if is("multipart/form-data") {
        Ok(BodyKind::Multipart)
    } else {
        Err(AppError::UnsupportedMediaType)
    }
}

/// Decode a `/tr` POST body of `content_type` into `(name, value)` pairs: form-urlencoded,
/// `text/plain` (urlencoded, or a `text/plain` form's `name=value` lines) or
/// `multipart/form-data`. Linear in the body; more than [`MAX_PARAMS`] pairs is
/// [`AppError::TooManyParams`], found before they are decoded. The entry point of the fuzz
/// target for bodies.
pub fn parse_body(content_type: &str, body: Bytes) -> Result<Vec<(String, String)>, AppError> {
    Ok(parse_body_limited(content_type, &body, MAX_PARAMS)?
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// [`parse_body`] with room for `max_params` pairs, borrowing from `body` what needs no decoding.
fn parse_body_limited<'a>(
    content_type: &str,
    body: &'a Bytes,
    max_params: usize,
) -> Result<Vec<Pair<'a>>, AppError> {
    if body.len() > MAX_BODY {
        return Err(AppError::BodyTooLarge);
    }
    let kind = body_kind(content_type)?;
    if kind == BodyKind::Multipart {
        let boundary = multipart::boundary(content_type)
            .ok_or(AppError::BadBody("multipart/form-data without a boundary"))?;
        return match multipart::parse(body.clone(), &boundary, max_params) {
            Ok(fields) => Ok(fields
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
                .collect()),
            Err(MultipartError::TooManyParts) => Err(AppError::TooManyParams),
            Err(other) => Err(AppError::BadBody(other.message())),
        };
    }
    let text =
        std::str::from_utf8(body).map_err(|_| AppError::BadBody("request body is not UTF-8"))?;
    if kind == BodyKind::Text && text.contains("\r\n") {
        // A form with enctype="text/plain": `name=value` lines, not percent-encoded. A
        // urlencoded string never holds a raw line break, so the two cannot be confused.
        let lines = || text.split("\r\n").filter(|l| !l.is_empty());
        if lines().count() > max_params {
            return Err(AppError::TooManyParams);
        }
        return Ok(lines()
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (Cow::Borrowed(k), Cow::Borrowed(v)),
                None => (Cow::Borrowed(l), Cow::Borrowed("")),
            })
            .collect());
    }
    form_pairs(text.trim(), max_params)
}

/// Core's `query_pairs`, after counting the pairs without decoding any (one pass, no
/// allocation). A pair takes at least one byte and a separator, so a text shorter than
/// `2 * max_params` cannot hold too many and is not counted (a beacon's query string is far
/// below the bound).
fn form_pairs(text: &str, max_params: usize) -> Result<Vec<Pair<'_>>, AppError> {
    if text.len() >= 2 * max_params
        && text.split('&').filter(|p| !p.is_empty()).count() > max_params
    {
        return Err(AppError::TooManyParams);
    }
    query_pairs(text).map_err(AppError::Decode)
}

async fn read_body(body: Body) -> Result<Bytes, AppError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(AppError::BodyTooLarge),
        Err(_) => Err(AppError::BadBody("could not read the request body")),
    }
}

/// Why a beacon is refused: one of the errors every route shares, or its custom data above
/// `--max-custom-data-bytes` (`413`, naming the cap).
#[derive(Debug)]
enum Refusal {
    App(AppError),
    CustomData { size: usize, cap: usize },
}

impl From<AppError> for Refusal {
    fn from(e: AppError) -> Refusal {
        Refusal::App(e)
    }
}

impl Refusal {
    fn into_response(self, state: &AppState) -> Response {
        match self {
            Refusal::App(e) => {
                state.metrics.rejected(e.reason());
                e.into_response()
            }
            Refusal::CustomData { size, cap } => {
                state.metrics.rejected("custom_data_too_large");
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                    format!("the event's custom data (cd[...]) is {size} bytes as JSON, above the cap of {cap} bytes per event (--max-custom-data-bytes)\n"),
                )
                    .into_response()
            }
        }
    }
}

/// Validate, store and build the `Set-Cookie` headers for one beacon.
async fn accept(
    state: &AppState,
    parts: &Parts,
    pairs: Vec<Pair<'_>>,
) -> Result<Vec<HeaderValue>, Refusal> {
    let beacon = Beacon::from_pairs(pairs).map_err(AppError::Decode)?;
    let pixel = state
        .config
        .pixel(&beacon.id)
        .ok_or(AppError::UnknownPixel)?;
    let ctx = RequestContext {
        client_ip: client_ip(parts, state.config.trust_proxy),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .filter(|s| !s.is_empty()),
        received_at_ms: state.clock.now_ms(),
    };
    let host = request_host(&parts.headers, parts);
    let set_cookies = cookies::first_party(&cookies::CookieRequest {
        fbp: beacon.fbp.as_deref(),
        fbc: beacon.fbc.as_deref(),
        request_host: host.as_deref(),
        page_url: &beacon.dl,
        https: is_https(parts, &beacon.dl, state.config.trust_proxy),
    });
    let (mut event, dropped) =
        NewEvent::from_beacon(beacon, ctx, pixel.token.is_some()).map_err(AppError::Invalid)?;
    let cap = state.config.max_custom_data_bytes;
    // Counted as the store writes it (JSON), without writing it: a PageView has none.
    if !event.custom_data.is_empty() {
        let size = super::limit::json_size(&event.custom_data);
        if size > cap {
            return Err(Refusal::CustomData { size, cap });
        }
    }
    // An event of `--hold` waits for its server copy before it is relayed.
    event.hold_until_ms =
        state
            .config
            .hold_until(&event.event_name, event.relay, event.received_at_ms);
    for d in &dropped {
        state.metrics.user_data_dropped(d.field, d.reason);
    }
    // Each event is logged at debug level; the clones are made only then.
    let key = tracing::enabled!(tracing::Level::DEBUG).then(|| {
        format!(
            "pixel={} event={} event_id={}",
            event.pixel_id, event.event_name, event.event_id
        )
    });
    match state.ingest.submit(event).await {
        Ok(InsertOutcome::Stored) => {
            Metrics::inc(&state.metrics.stored);
            if let Some(key) = key {
                tracing::debug!("stored {key}");
            }
        }
        Ok(InsertOutcome::Duplicate) => {
            Metrics::inc(&state.metrics.duplicates);
            if let Some(key) = key {
                tracing::debug!("duplicate {key}");
            }
        }
        Ok(InsertOutcome::Merged) => {
            Metrics::inc(&state.metrics.merged);
            if let Some(key) = key {
                tracing::debug!("merged into its server copy: {key}");
            }
        }
        Err(IngestError::Closed) => return Err(AppError::ShuttingDown.into()),
        Err(IngestError::Unavailable(why)) => return Err(AppError::Unavailable(why).into()),
    }
    Metrics::add(&state.metrics.cookies_set, set_cookies.len() as u64);
    Ok(set_cookies)
}

fn respond(state: &AppState, result: Result<Vec<HeaderValue>, Refusal>, gif: bool) -> Response {
    Metrics::inc(&state.metrics.received);
    let mut resp = match result {
        Ok(set_cookies) => {
            let mut resp = if gif {
                (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"))],
                    &GIF[..],
                )
                    .into_response()
            } else {
                StatusCode::NO_CONTENT.into_response()
            };
            for c in set_cookies {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
        Err(e) => e.into_response(state),
    };
    let headers = resp.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The client's address: the socket peer, or with `--trust-proxy` the last `X-Forwarded-For`
/// entry (the one our own proxy appended; earlier entries are the client's to invent).
/// (The rule is [`super::limit::client_addr`]'s, which keys the per-client limits.)
pub fn client_ip(parts: &Parts, trust_proxy: bool) -> Option<String> {
    super::limit::client_addr(&parts.headers, &parts.extensions, trust_proxy).map(ip_text)
}

/// `ip.to_canonical().to_string()`, an IPv4 address written by hand: `Display` goes through the
/// formatter's padding machinery, 1,600 instructions for every beacon.
fn ip_text(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let mut s = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                if octet >= 100 {
                    s.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    s.push(char::from(b'0' + octet / 10 % 10));
                }
                s.push(char::from(b'0' + octet % 10));
            }
            s
        }
        v6 => v6.to_string(),
    }
}

/// The host the request was sent to, lowercased, without port (see `cookies::header_host`).
pub fn request_host(headers: &HeaderMap, parts: &Parts) -> Option<String> {
    let raw = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))?;
    cookies::header_host(raw)
}

fn is_https(parts: &Parts, page_url: &str, trust_proxy: bool) -> bool {
    if trust_proxy {
        if let Some(proto) = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
        {
            return proto.trim().eq_ignore_ascii_case("https");
        }
    }
    parts.uri.scheme_str() == Some("https")
        || pixel_core::url::http_host(page_url).is_some_and(|(_, https)| https)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_writes_what_display_writes() {
        for octet in 0..=255u8 {
            for ip in [
                [octet, 0, 0, 0],
                [1, octet, 2, 3],
                [10, 20, octet, 99],
                [255, 100, 9, octet],
            ] {
                let ip = IpAddr::from(ip);
                assert_eq!(ip_text(ip), ip.to_string());
            }
        }
        let mapped: IpAddr = "::ffff:192.0.2.10".parse().unwrap();
        assert_eq!(ip_text(mapped), "192.0.2.10");
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_text(v6), "2001:db8::1");
    }
}
