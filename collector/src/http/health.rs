//! `GET /healthz`: `200 ok` while the ingest writer can commit; `503` with a one-line reason
//! while it cannot (disk full, database locked, writer stopped), back to `200` by itself once a
//! commit or the writer's probe succeeds. A load balancer or service manager can act on it.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

pub async fn healthz(State(state): State<AppState>) -> Response {
    let (status, body) = match state.ingest.health() {
        Ok(()) => (StatusCode::OK, "ok".to_owned()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {reason}\n"),
        ),
    };
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
