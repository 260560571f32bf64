//! # collector: the first-party collection endpoint of the drop-in Meta Pixel
//!
//! In scope: receiving `/tr` beacons (GET query, POST form/multipart/text bodies) with core's wire
//! decoder, and server events as Meta's Conversions API takes them
//! (`POST /{version}/{pixel}/events`, [`server_events`]), hashing any plain identifier with core's
//! normaliser, storing events durably with deduplication (in SQLite, or in PostgreSQL shared by
//! several replicas), relaying them to
//! Meta's Conversions API, serving the built pixel and an optional static site, first-party
//! `_fbp`/`_fbc` cookies, metrics and a small admin API.
//!
//! Out of scope: decoding or normalising anything itself (that is `pixel-core`), TLS for HTTP (run
//! behind a reverse proxy), storage engines beyond the two behind [`ports`].
//!
//! ```text
//!   browser ──/tr──> http::beacon ──> ingest (group commit) ──EventLog──> store (SQLite | PostgreSQL)
//!   store's server ──/{version}/{pixel}/events──> http::server_events ──> ingest (a request: one
//!                                                                         transaction)
//!                                                                          │
//!   Meta Graph API <── relay (batches of ≤1000, retry, bisect) <─RelayQueue─┤
//!   dashboard <── http::reports <── reports (one pass per report) <─ReportSource┘
//! ```
//!
//! The storage ports ([`ports`]) are a leaf: each consumer gets only the one it uses from
//! [`Shared`], and the stores ([`store`]) implement all three. The collector's README draws the
//! whole module map ("Architecture").
//!
//! `main` only parses flags and binds; [`app`] builds the router so tests can call it with
//! `tower::ServiceExt::oneshot`, and [`server::run`] adds the background tasks.

pub mod config;
pub mod error;
pub mod event;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod ports;
pub mod relay;
pub mod reports;
pub mod seed;
pub mod server;
pub mod server_events;
mod state;
pub mod store;

use axum::Router;

pub use state::{AppState, Shared};

/// The HTTP application.
pub fn app(state: AppState) -> Router {
    http::router(state)
}
