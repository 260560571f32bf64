//! Routes. Each noun has its module: beacons, the admin API, the report page, static files,
//! cookies, CORS and the multipart body parser.
//!
//! | route | what |
//! |---|---|
//! | `GET /tr`, `GET /tr/` | beacon in the query string → 1×1 GIF |
//! | `POST /tr`, `POST /tr/` | beacon as form, multipart or text body → 204 |
//! | `POST /{version}/{pixel}/events` | server events, as to Meta's Conversions API → `{"events_received": N}` |
//! | `GET /healthz` | `200 {"status":"ok"}`, or `503` and a stable reason code while events cannot be stored |
//! | `GET /metrics` | Prometheus text (admin token; none on `--metrics-listen`) |
//! | `GET /api/events` | stored events, newest first (admin token) |
//! | `GET /report` | redirect to `/dashboard` |
//! | `GET /api/reports/{name}` | funnel, timeline, match-quality, relay, summary, attribution, aem, diagnostics (admin token) |
//! | `GET /api/audiences/{name}.csv` | purchasers, cart_abandoners, viewers as hashed CSV (admin token) |
//! | `GET /dashboard` | the dashboard page (its script is `dist/dashboard.js`) |
//! | `GET /_bench/204` | bare 204, the benchmark's baseline |
//! | `GET /events.html` | the demo store's list of stored events (its API calls need the admin token) |
//! | anything else | a file from `--dist`, then from `--site` |
//!
//! The admin routes (`/dashboard`, `/api/*`, `/metrics`, `/report`, `/events.html`) are one
//! group ([`admin`]): on `--listen`, or with `--admin-listen` on that address only (`404` on
//! `--listen`).
//!
//! The beacon routes and the server-event route are limited per client (`limit`: `429` with
//! `Retry-After`, before the body is read).

pub mod admin;
pub mod api;
pub mod auth;
pub mod beacon;
pub mod cookies;
pub mod cors;
pub mod health;
pub mod layers;
pub mod limit;
pub mod multipart;
pub mod prometheus;
pub mod report;
pub mod reports;
pub mod server_events;
pub mod static_files;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

/// Build the router. Every route's latency is recorded under its path pattern (`MatchedPath`);
/// a request with a body must be answered within `--body-timeout-ms` of its head (`408`).
pub fn router(state: AppState) -> Router {
    use tower::Layer;
    // The beacon routes are one service (the gate, CORS, then a match on the method), not a
    // `MethodRouter` with layers: axum clones a route's whole boxed stack for every request, and
    // each layer on a `MethodRouter` nests one more boxed route per method inside it.
    let files = static_files::StaticFiles::new(&state.config);
    let files_too = files.clone();
    let (beacon_limit, server_limit) = limits(&state);
    let tr = layers::Layered(layers::Gate(state.clone())).layer(
        cors::layer(&state.config)
            .layer(layers::Layered(beacon_limit).layer(beacon::Beacons(state.clone()))),
    );
    Router::new()
        .route_service("/tr", tr.clone())
        .route_service("/tr/", tr)
        // Server events (the Conversions API's path); other methods fall through to the files,
        // so a site's `/a/b/events` page is still served.
        .route(
            "/{version}/{pixel}/events",
            post(server_events::receive)
                .fallback(move |req| static_files::serve(files_too, req))
                .layer(layers::Layered(server_limit)),
        )
        .route("/healthz", get(health::healthz))
        .route("/_bench/204", get(bench_204))
        .merge(match state.config.admin_listen {
            None => admin::routes(files.clone()),
            Some(_) => admin::absent(),
        })
        .route_layer(layers::Layered(layers::LabelRoute))
        .fallback(move |req| static_files::serve(files, req))
        .layer(layers::Layered(layers::Track(state.clone())))
        .with_state(state)
}

/// The per-client limits of the beacon routes and of the server-event route (`limit`), each
/// with its own table of clients.
fn limits(state: &AppState) -> (limit::Limit, limit::Limit) {
    let c = &state.config;
    let bucket = |per_sec, burst| limit::Bucket { per_sec, burst };
    let make = |route, requests, bytes| limit::Limit {
        limiter: std::sync::Arc::new(limit::Limiter::new(
            limit::Rule { requests, bytes },
            c.limit_clients,
        )),
        route,
        trust_proxy: c.trust_proxy,
        metrics: state.metrics.clone(),
    };
    (
        make(
            limit::Route::Beacon,
            bucket(c.beacon_rate, c.beacon_burst),
            bucket(c.beacon_bytes_rate, c.beacon_bytes_burst),
        ),
        make(
            limit::Route::ServerEvents,
            bucket(c.server_events_rate, c.server_events_burst),
            bucket(c.server_events_bytes_rate, c.server_events_bytes_burst),
        ),
    )
}

/// The `--metrics-listen` router: `/metrics` without a token, nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(prometheus::metrics))
        .with_state(state)
}

async fn bench_204() -> StatusCode {
    StatusCode::NO_CONTENT
}
