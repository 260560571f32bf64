//! `GET /api/events?pixel=<id>&limit=<n>&event=<name>` (admin token as `Authorization: Bearer`,
//! never from the query string): stored events as a JSON array, newest first.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use pixel_core::pixel_id::valid_pixel_id;
use pixel_core::wire::parse_query;
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::Admin;
use crate::error::AppError;
use crate::event::{Origin, MAX_EVENT_NAME};
use crate::ports::{EventQuery, StoredEvent};
use crate::state::AppState;

/// Default and largest `limit`.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// One event as the API shows it.
#[derive(Serialize)]
pub struct ApiEvent<'a> {
    pub pixel_id: &'a str,
    pub event_name: &'a str,
    pub event_id: &'a str,
    /// True when the beacon had no `eid` and the collector derived this one.
    pub event_id_derived: bool,
    pub event_time: i64,
    pub source_url: &'a str,
    pub fbp: Option<&'a str>,
    pub fbc: Option<&'a str>,
    pub user_data: BTreeMap<&'a str, &'a str>,
    pub custom_data: &'a Map<String, Value>,
    pub relay_status: &'static str,
    pub relay_error: Option<&'a str>,
    /// Which copies the event is made of: `browser`, `server` or `both`.
    pub origin: &'static str,
    /// A server copy (sent with the pixel's credentials) is part of it.
    pub verified: bool,
    /// A copy arrived after the event had been relayed, and was not sent (Meta keeps the first).
    pub late_copy: bool,
    /// Not relayed before this time (Unix ms) unless its other copy comes: `null` when not held.
    pub hold_until_ms: Option<i64>,
}

impl<'a> From<&'a StoredEvent> for ApiEvent<'a> {
    fn from(s: &'a StoredEvent) -> Self {
        let e = &s.event;
        ApiEvent {
            pixel_id: &e.pixel_id,
            event_name: &e.event_name,
            event_id: &e.event_id,
            event_id_derived: e.event_id_derived,
            event_time: e.event_time,
            source_url: &e.source_url,
            fbp: e.fbp.as_deref(),
            fbc: e.fbc.as_deref(),
            user_data: e
                .user_data
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            custom_data: &e.custom_data,
            relay_status: s.relay_status.as_str(),
            relay_error: s.relay_error.as_deref(),
            origin: e.origin.as_str(),
            verified: e.origin.verified(),
            late_copy: e.origin.has(Origin::LATE),
            hold_until_ms: e.hold_until_ms,
        }
    }
}

/// Parse the query of `/api/events`.
pub fn event_query(uri: &Uri) -> Result<EventQuery, AppError> {
    let params = parse_query(uri.query().unwrap_or(""))
        .map_err(|_| AppError::BadParam("malformed query string"))?;
    let mut q = EventQuery {
        limit: DEFAULT_LIMIT,
        ..EventQuery::default()
    };
    for (k, v) in params {
        match k.as_str() {
            "pixel" if valid_pixel_id(&v) => q.pixel_id = Some(v),
            "pixel" => return Err(AppError::BadParam("pixel must be a numeric pixel id")),
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or(AppError::BadParam("limit must be a number from 1 to 1000"))?;
            }
            "event" if !v.is_empty() && v.chars().count() <= MAX_EVENT_NAME => {
                q.event_name = Some(v)
            }
            "event" => {
                return Err(AppError::BadParam(
                    "event must be an event name of 1 to 100 characters",
                ))
            }
            _ => {}
        }
    }
    Ok(q)
}

/// The handler.
pub async fn list(_: Admin, State(state): State<AppState>, uri: Uri) -> Response {
    match list_inner(&state, &uri).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn list_inner(state: &AppState, uri: &Uri) -> Result<Response, AppError> {
    let query = event_query(uri)?;
    let log = state.log.clone();
    let events = tokio::task::spawn_blocking(move || log.list(&query))
        .await
        .map_err(|e| AppError::Internal(format!("list task: {e}")))??;
    let api: Vec<ApiEvent<'_>> = events.iter().map(ApiEvent::from).collect();
    let body = serde_json::to_vec(&api).map_err(|e| AppError::Internal(format!("json: {e}")))?;
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
