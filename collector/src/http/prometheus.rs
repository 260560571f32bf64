//! `GET /metrics`: the Prometheus text, behind the admin token among the admin routes, or
//! without one on `--metrics-listen`.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::auth;
use crate::metrics::Gauges;
use crate::state::AppState;

/// `/metrics` on `--listen`: the admin token, like every admin route.
pub async fn metrics_admin(_: auth::Admin, state: State<AppState>) -> Response {
    metrics(state).await
}

/// The Prometheus text. The pending-events gauge is the background count (`server`), never a
/// `COUNT(*)` per scrape.
pub async fn metrics(State(state): State<AppState>) -> Response {
    use std::sync::atomic::Ordering;
    let gauges = Gauges {
        ingest_queue: state.ingest.queue_depth(),
        relay_pending: state.metrics.relay_pending.load(Ordering::Relaxed),
        diagnostics: crate::ports::diagnostics::totals(),
    };
    let mut resp = state.metrics.render(&gauges).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
