//! CORS for beacons. Browsers send `/tr` as simple requests (image GET, `sendBeacon`, form POST),
//! so no preflight is needed; the allow-list (`--allowed-origin`) decides which pages may send.
//! With no list every origin may. A request without `Origin` (an image GET) is always let through.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::config::Config;
use crate::error::AppError;
use crate::AppState;

fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

fn allowed(config: &Config, origin: &str) -> bool {
    config.allowed_origins.is_empty()
        || config
            .allowed_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin.trim_end_matches('/')))
}

/// Refuse a beacon whose `Origin` is not allowed.
pub fn check(config: &Config, headers: &HeaderMap) -> Result<(), AppError> {
    match origin(headers) {
        Some(o) if !allowed(config, o) => Err(AppError::OriginNotAllowed),
        _ => Ok(()),
    }
}

/// Add `Access-Control-Allow-*` for an allowed origin.
pub fn decorate(config: &Config, request: &HeaderMap, response: &mut HeaderMap) {
    response.append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(o) = origin(request).filter(|o| allowed(config, o)) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(o) {
        response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        response.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

/// `OPTIONS /tr`: for senders that do preflight (a `fetch` with a JSON-less custom header).
pub async fn preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = check(&state.config, &headers) {
        state.metrics.rejected(e.reason());
        return e.into_response();
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    decorate(&state.config, &headers, h);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    resp
}
