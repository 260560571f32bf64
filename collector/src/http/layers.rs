//! The router's three middlewares as plain tower services: the origin gate of the beacon routes,
//! the route label (`MatchedPath`) and the latency/`408` wrapper.
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
use std::time::Instant;

use axum::body::HttpBody;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::metrics::STATIC_ROUTE;
use crate::AppState;

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// A layer made of a function from the inner service to the wrapping one.
#[derive(Clone)]
pub struct Wrap<F>(F);

impl<S, T, F: Fn(S) -> T> Layer<S> for Wrap<F> {
    type Service = T;
    fn layer(&self, inner: S) -> T {
        (self.0)(inner)
    }
}

/// `403` for an `Origin` not on `--allowed-origin`, before the CORS layer (which would answer a
/// preflight itself) and before any body is read.
#[derive(Clone)]
pub struct Gate<S> {
    inner: S,
    state: AppState,
}

/// The [`Gate`] layer.
pub fn gate<S: 'static>(
    state: AppState,
) -> Wrap<impl Fn(S) -> Gate<S> + Clone + Send + Sync + 'static> {
    Wrap(move |inner| Gate {
        inner,
        state: state.clone(),
    })
}

impl<S> Service<Request> for Gate<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Answer {
        if let Err(e) = super::cors::check(&self.state.config, req.headers()) {
            self.state.metrics.rejected(e.reason());
            let resp = e.into_response();
            return Box::pin(async move { Ok(resp) });
        }
        Box::pin(self.inner.call(req))
    }
}

/// On a matched route, hands its path pattern to [`Track`] in the response's extensions.
#[derive(Clone)]
pub struct LabelRoute<S>(S);

/// The [`LabelRoute`] layer.
pub fn label_route<S>() -> Wrap<fn(S) -> LabelRoute<S>> {
    Wrap(LabelRoute)
}

impl<S> Service<Request> for LabelRoute<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Answer {
        let route = req.extensions().get::<MatchedPath>().cloned();
        let answer = self.0.call(req);
        Box::pin(async move {
            let mut resp = answer.await?;
            if let Some(route) = route {
                resp.extensions_mut().insert(route);
            }
            Ok(resp)
        })
    }
}

/// Latency of every request, labelled with its route pattern or `static` (the fallback); and the
/// reason of a `408` from the timeout layer below (which answers it empty).
#[derive(Clone)]
pub struct Track<S> {
    inner: S,
    state: AppState,
}

/// The [`Track`] layer.
pub fn track<S: 'static>(
    state: AppState,
) -> Wrap<impl Fn(S) -> Track<S> + Clone + Send + Sync + 'static> {
    Wrap(move |inner| Track {
        inner,
        state: state.clone(),
    })
}

impl<S> Service<Request> for Track<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Answer {
        let start = Instant::now();
        let answer = self.inner.call(req);
        let state = self.state.clone();
        Box::pin(async move {
            let resp = answer.await?;
            let label = resp
                .extensions()
                .get::<MatchedPath>()
                .map_or(STATIC_ROUTE, MatchedPath::as_str);
            state.metrics.observe(label, start.elapsed());
            // tower-http's timeout answers an empty 408: say why, like every other refusal.
            let empty = HttpBody::size_hint(resp.body()).exact() == Some(0);
            if resp.status() == StatusCode::REQUEST_TIMEOUT && empty {
                return Ok((
                    StatusCode::REQUEST_TIMEOUT,
                    [(header::CONNECTION, "close")],
                    "the request was not complete within --body-timeout-ms\n",
                )
                    .into_response());
            }
            Ok(resp)
        })
    }
}
