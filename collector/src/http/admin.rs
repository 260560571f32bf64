//! The admin routes as one group: `/dashboard`, `/api/*`, `/metrics`, `/report` and the demo
//! store's `/events.html`, which lists what the collector stored.
//!
//! Without `--admin-listen` they are served on `--listen` beside the store ([`routes`] merged
//! into the public router). With it, they are served on that address only ([`router`]), and the
//! public router answers `404` for every one of them ([`absent`]), `/events.html` included
//! although `--site` holds that file: the dashboard then never shares the storefront's origin,
//! so no script of the store's pages can open it, read its storage or script it.
//!
//! Every answer of the group carries (see [`AdminHeaders`]):
//!
//! - `Cross-Origin-Opener-Policy: same-origin`: a page of another origin that opened the
//!   dashboard (or that the dashboard opened) gets no handle on its window;
//! - `Referrer-Policy: no-referrer`: nothing of an admin page's URL leaves in a `Referer`;
//! - `Cross-Origin-Resource-Policy: same-origin`: no other origin can load an answer as a
//!   script, image or style (a `no-cors` read of the JSON).
//!
//! COOP only acts on documents (the dashboard and the events page); on the JSON it is inert but
//! harmless, and one rule for the whole group is easier to keep right than a list.
//!
//! Each route still needs the admin token (`Authorization: Bearer`) on either listener: a
//! separate address is where the routes are reachable from, not who may read them.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use axum::extract::Request;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::Service;

use super::layers::{Around, LabelRoute, Layered, Track};
use super::static_files::{self, StaticFiles};
use super::{api, health, prometheus, report, reports};
use crate::error::AppError;
use crate::state::AppState;

/// The paths of the group (for [`absent`]); `/api/{*rest}` covers every API route.
const PATHS: [&str; 6] = [
    "/dashboard",
    "/metrics",
    "/report",
    "/events.html",
    "/api",
    "/api/{*rest}",
];

/// The admin routes, with [`AdminHeaders`] on each.
pub fn routes(files: StaticFiles) -> Router<AppState> {
    Router::new()
        .route("/metrics", get(prometheus::metrics_admin))
        .route("/api/events", get(api::list))
        .route("/report", get(report::page))
        .route("/api/reports/{name}", get(reports::report))
        .route("/api/audiences/{file}", get(reports::audience))
        .route("/dashboard", get(reports::dashboard))
        .route(
            "/events.html",
            get(move |req: Request| static_files::serve(files, req)),
        )
        .route_layer(Layered(AdminHeaders))
}

/// The group's paths on the public listener when `--admin-listen` is set: `404`, as for a path
/// that does not exist (never the file `--site` may hold under that name).
pub fn absent() -> Router<AppState> {
    PATHS.iter().fold(Router::new(), |r, path| {
        r.route(path, axum::routing::any(not_here))
    })
}

async fn not_here() -> Response {
    AppError::NotFound.into_response()
}

/// The `--admin-listen` router: the admin routes, then the files of `--dist` and `--site` (the
/// dashboard's script, the events page's style sheet), every answer with [`AdminHeaders`] (the
/// whole origin is the admin's). No beacon or server-event route.
pub fn router(state: AppState) -> Router {
    let files = StaticFiles::new(&state.config);
    let fallback = files.clone();
    routes(files)
        .route("/healthz", get(health::healthz))
        .route_layer(Layered(LabelRoute))
        .fallback(move |req| static_files::serve(fallback, req))
        .layer(Layered(AdminHeaders))
        .layer(Layered(Track(state.clone())))
        .with_state(state)
}

/// Adds the group's three headers to every answer (see the module comment).
#[derive(Clone)]
pub struct AdminHeaders;

/// `Cross-Origin-Opener-Policy`, `Referrer-Policy`, `Cross-Origin-Resource-Policy`.
pub const HEADERS: [(&str, &str); 3] = [
    ("cross-origin-opener-policy", "same-origin"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-resource-policy", "same-origin"),
];

impl Around for AdminHeaders {
    fn around<S>(
        &self,
        req: Request,
        inner: &mut S,
    ) -> Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>
    where
        S: Service<Request, Response = Response, Error = Infallible>,
        S::Future: Send + 'static,
    {
        let answer = inner.call(req);
        Box::pin(async move {
            let mut resp = answer.await?;
            let h = resp.headers_mut();
            for (name, value) in HEADERS {
                h.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                );
            }
            // The events page lists stored events: never kept by a cache.
            if !h.contains_key(header::CACHE_CONTROL) {
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            Ok(resp)
        })
    }
}
