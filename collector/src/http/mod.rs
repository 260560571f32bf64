//! Routes. Each noun has its module: beacons, the admin API, the report page, static files,
//! cookies, CORS and the multipart body parser.
//!
//! | route | what |
//! |---|---|
//! | `GET /tr`, `GET /tr/` | beacon in the query string → 1×1 GIF |
//! | `POST /tr`, `POST /tr/` | beacon as form, multipart or text body → 204 |
//! | `GET /healthz` | `200 ok` |
//! | `GET /metrics` | Prometheus text |
//! | `GET /api/events` | stored events, newest first (admin token) |
//! | `GET /report` | redirect to `/dashboard` |
//! | `GET /api/reports/{name}` | funnel, timeline, match-quality, relay, attribution, aem (admin token) |
//! | `GET /api/audiences/{name}.csv` | purchasers, cart_abandoners, viewers as hashed CSV (admin token) |
//! | `GET /dashboard` | the dashboard page (its script is `dist/dashboard.js`) |
//! | `GET /_bench/204` | bare 204, the benchmark's baseline |
//! | anything else | a file from `--dist`, then from `--site` |

pub mod api;
pub mod auth;
pub mod beacon;
pub mod cookies;
pub mod cors;
pub mod multipart;
pub mod report;
pub mod reports;
pub mod static_files;

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::metrics::Gauges;
use crate::AppState;

/// Build the router.
pub fn router(state: AppState) -> Router {
    let tr = || {
        get(beacon::get)
            .head(beacon::head)
            .post(beacon::post)
            .options(cors::preflight)
    };
    Router::new()
        .route("/tr", tr())
        .route("/tr/", tr())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/events", get(api::list))
        .route("/report", get(report::page))
        // Reports and the dashboard (issue #11).
        .route("/api/reports/{name}", get(reports::report))
        .route("/api/audiences/{file}", get(reports::audience))
        .route("/dashboard", get(reports::dashboard))
        .route("/_bench/204", get(bench_204))
        .fallback(static_files::serve)
        .layer(middleware::from_fn_with_state(state.clone(), track_latency))
        .with_state(state)
}

fn route_label(path: &str) -> &'static str {
    match path {
        "/tr" | "/tr/" => "tr",
        "/api/events" => "api",
        "/report" => "report",
        "/metrics" => "metrics",
        "/healthz" => "healthz",
        "/_bench/204" => "bench",
        p if p == "/dashboard"
            || p.starts_with("/api/reports/")
            || p.starts_with("/api/audiences/") =>
        {
            "report"
        }
        _ => "static",
    }
}

async fn track_latency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = route_label(req.uri().path());
    let start = Instant::now();
    let resp = next.run(req).await;
    state.metrics.observe(route, start.elapsed());
    resp
}

async fn healthz() -> &'static str {
    "ok"
}

async fn bench_204() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn metrics(State(state): State<AppState>) -> Response {
    let store = state.store.clone();
    let relay_pending = tokio::task::spawn_blocking(move || store.pending_count())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or(0);
    let gauges = Gauges {
        ingest_queue: state.ingest.queue_depth(),
        relay_pending,
    };
    let mut resp = state.metrics.render(&gauges).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
