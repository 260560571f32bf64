//! `GET /healthz`: `200 {"status":"ok"}` while the ingest writer can commit; `503
//! {"status":"unavailable","reason":"<code>"}` while it cannot, back to `200` by itself once a
//! commit or the writer's probe succeeds. A load balancer or service manager can act on it.
//!
//! The reason is a stable code, never the store's own message: that can name a database host, a
//! file path or an I/O error, and `/healthz` is public. The codes are `disk_full`,
//! `database_locked`, `store_failed` (any other failed commit, PostgreSQL unreachable included),
//! `queue_full`, `store_slow` and `writer_stopped`; the writer logs the detail when the failure
//! starts and once a minute while it lasts, and this route logs it at `debug`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

pub async fn healthz(State(state): State<AppState>) -> Response {
    let (status, body) = match state.ingest.health_code() {
        Ok(()) => (StatusCode::OK, String::from(r#"{"status":"ok"}"#)),
        Err(code) => {
            if let Err(detail) = state.ingest.health() {
                tracing::debug!(reason = code, %detail, "/healthz: unavailable");
            }
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(r#"{{"status":"unavailable","reason":"{code}"}}"#),
            )
        }
    };
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
