//! CORS for beacons. Browsers send `/tr` as simple requests (image GET, `sendBeacon`, form POST),
//! so no preflight is needed; the allow-list (`--allowed-origin`) decides which pages may send.
//! With no list every origin may. A request without `Origin` (an image GET) is always let through.
//!
//! Two parts: [`check`] (as `http::layers::Gate` on the beacon routes) is the authorisation check (a request from an origin not on the list gets
//! `403` before its body is read, a preflight included); [`layer`] is tower-http's `CorsLayer`,
//! which writes the `Access-Control-*` headers and answers preflights. With an allow-list it
//! echoes the allowed origin with `Allow-Credentials: true` (the pixel's beacons carry the
//! first-party cookies); with none it answers `Allow-Origin: *` and never allows credentials, so
//! an arbitrary page can send beacons but never read a credentialed answer.

use std::sync::Arc;

use axum::http::{header, HeaderMap, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::config::Config;
use crate::error::AppError;

fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

fn on_list(list: &[String], origin: &str) -> bool {
    let origin = origin.trim_end_matches('/');
    list.iter().any(|o| o.eq_ignore_ascii_case(origin))
}

/// Refuse a beacon whose `Origin` is not allowed.
pub fn check(config: &Config, headers: &HeaderMap) -> Result<(), AppError> {
    match origin(headers) {
        Some(o) if !config.allowed_origins.is_empty() && !on_list(&config.allowed_origins, o) => {
            Err(AppError::OriginNotAllowed)
        }
        // An `Origin` that is not even text cannot be on a list.
        None if headers.contains_key(header::ORIGIN) && !config.allowed_origins.is_empty() => {
            Err(AppError::OriginNotAllowed)
        }
        _ => Ok(()),
    }
}

/// The `Access-Control-*` headers of the beacon routes.
pub fn layer(config: &Config) -> CorsLayer {
    let cors = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(86_400));
    // `Vary` names only what the answer depends on. With no list it is the same `*` for every
    // origin, and the allowed methods and headers are fixed, so nothing: tower-http's default
    // (origin and both preflight request headers) is joined into a fresh header value and its
    // list cloned with the layer on every beacon: about 5% of the beacon path's instructions
    // (callgrind, `loadgen`). Beacon answers are `no-store` besides, so no cache keys them.
    if config.allowed_origins.is_empty() {
        return cors.allow_origin(Any).vary([]);
    }
    let list = Arc::new(config.allowed_origins.clone());
    cors.allow_origin(AllowOrigin::predicate(move |o: &HeaderValue, _| {
        o.to_str().is_ok_and(|o| on_list(&list, o))
    }))
    .allow_credentials(true)
    .vary([header::ORIGIN])
}

/// `OPTIONS /tr` that is not a CORS preflight (the layer answers those): `204`.
pub async fn options() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}
