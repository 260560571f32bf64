//! The router's three middlewares as plain tower services: the origin gate of the beacon routes,
//! the route label (`MatchedPath`) and the latency and body-deadline wrapper.
//!
//! `axum::middleware::from_fn` clones the whole service below it on every request (so that the
//! clone it calls is ready); stacked on a route, those clones nest, and each copies every method
//! handler of the route. The beacon route paid about a third more CPU per beacon for it in
//! `loadgen`. These services call the service below them directly, after forwarding
//! `poll_ready` to it, which is all tower asks.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::HttpBody;
use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::metrics::STATIC_ROUTE;
use crate::state::AppState;

pub type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// What a middleware does with one request, given the service below it.
pub trait Around: Clone + Send + Sync + 'static {
    fn around<S>(&self, req: Request, inner: &mut S) -> Answer
    where
        S: Service<Request, Response = Response, Error = Infallible>,
        S::Future: Send + 'static;
}

/// The layer of an [`Around`].
#[derive(Clone)]
pub struct Layered<A>(pub A);

impl<S, A: Around> Layer<S> for Layered<A> {
    type Service = Middleware<S, A>;
    fn layer(&self, inner: S) -> Middleware<S, A> {
        Middleware {
            inner,
            around: self.0.clone(),
        }
    }
}

/// An [`Around`] over the service below it.
#[derive(Clone)]
pub struct Middleware<S, A> {
    inner: S,
    around: A,
}

impl<S, A> Service<Request> for Middleware<S, A>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
    A: Around,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Answer {
        self.around.around(req, &mut self.inner)
    }
}

/// `403` for an `Origin` not on `--allowed-origin`, before the CORS layer (which would answer a
/// preflight itself) and before any body is read.
#[derive(Clone)]
pub struct Gate(pub AppState);

impl Around for Gate {
    fn around<S>(&self, req: Request, inner: &mut S) -> Answer
    where
        S: Service<Request, Response = Response, Error = Infallible>,
        S::Future: Send + 'static,
    {
        if let Err(e) = super::cors::check(&self.0.config, req.headers()) {
            self.0.metrics.rejected(e.reason());
            let mut resp = e.into_response();
            if !HttpBody::is_end_stream(req.body()) {
                crate::error::closes_connection(&mut resp);
            }
            return Box::pin(async move { Ok(resp) });
        }
        Box::pin(inner.call(req))
    }
}

/// On a matched route, hands its path pattern to [`Track`] in the response's extensions.
#[derive(Clone)]
pub struct LabelRoute;

impl Around for LabelRoute {
    fn around<S>(&self, req: Request, inner: &mut S) -> Answer
    where
        S: Service<Request, Response = Response, Error = Infallible>,
        S::Future: Send + 'static,
    {
        let route = req.extensions().get::<MatchedPath>().cloned();
        let answer = inner.call(req);
        Box::pin(async move {
            let mut resp = answer.await?;
            if let Some(route) = route {
                resp.extensions_mut().insert(route);
            }
            Ok(resp)
        })
    }
}

/// Latency of every request, labelled with its route pattern or `static` (the fallback); and
/// the deadline of a request with a body: answered within `--body-timeout-ms` of its head, or
/// `408`. A request without a body gets no timer: registering one with tokio for every beacon
/// (tower-http's `TimeoutLayer` does) cost more CPU per beacon than the whole router around it.
#[derive(Clone)]
pub struct Track(pub AppState);

impl Around for Track {
    fn around<S>(&self, req: Request, inner: &mut S) -> Answer
    where
        S: Service<Request, Response = Response, Error = Infallible>,
        S::Future: Send + 'static,
    {
        let start = Instant::now();
        let has_body = !HttpBody::is_end_stream(req.body());
        let answer = inner.call(req);
        let state = self.0.clone();
        Box::pin(async move {
            let resp = if has_body {
                let limit = Duration::from_millis(state.config.body_timeout_ms);
                match tokio::time::timeout(limit, answer).await {
                    Ok(resp) => resp?,
                    Err(_) => {
                        let mut resp = (
                            StatusCode::REQUEST_TIMEOUT,
                            "the request was not complete within --body-timeout-ms\n",
                        )
                            .into_response();
                        // The rest of the body may still come: not to be read as a next request.
                        crate::error::closes_connection(&mut resp);
                        resp
                    }
                }
            } else {
                answer.await?
            };
            let label = resp
                .extensions()
                .get::<MatchedPath>()
                .map_or(STATIC_ROUTE, MatchedPath::as_str);
            state.metrics.observe(label, start.elapsed());
            Ok(resp)
        })
    }
}
