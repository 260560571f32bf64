//! `GET /api/reports/{funnel,timeline,match-quality,relay,summary,attribution,aem,diagnostics}` (JSON),
//! `GET /api/audiences/{purchasers,cart_abandoners,viewers}.csv` and `GET /dashboard`.
//!
//! Admin token as `Authorization: Bearer` (the [`Admin`] extractor runs first, so a request
//! without it is a 401 whatever else is wrong with it). `pixel`, `from`, `to` are required; see
//! [`crate::reports`] for the figures.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};

use super::auth::Admin;
use crate::error::AppError;
use crate::reports::{self, Audience, ReportParams};
use crate::state::AppState;

/// The dashboard page; its script is `dist/dashboard.js` (webpack, from `www/dashboard/`).
const DASHBOARD_HTML: &str = include_str!("../../../www/dashboard/index.html");

/// Everything the dashboard loads comes from this origin (no CDN, no external request).
const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

pub async fn dashboard() -> Response {
    let mut resp = DASHBOARD_HTML.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DASHBOARD_CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

fn with_type(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::ports::StoreError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Internal(format!("report task: {e}")))?
        .map_err(AppError::from)
}

/// `GET /api/reports/{name}`.
pub async fn report(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    uri: Uri,
) -> Response {
    match report_inner(&state, &name, &uri).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn report_inner(state: &AppState, name: &str, uri: &Uri) -> Result<Response, AppError> {
    if !matches!(
        name,
        "funnel"
            | "timeline"
            | "match-quality"
            | "relay"
            | "summary"
            | "attribution"
            | "aem"
            | "diagnostics"
    ) {
        return Err(AppError::NotFound);
    }
    let p = ReportParams::parse(uri.query())?;
    if name == "diagnostics" {
        let source = state.diagnostics.clone();
        let value =
            blocking(move || reports::diagnostics(source.as_ref(), &p.pixel, p.range)).await?;
        let body =
            serde_json::to_vec(&value).map_err(|e| AppError::Internal(format!("json: {e}")))?;
        return Ok(with_type(body, "application/json"));
    }
    let window = if name == "attribution" {
        p.window_days()?
    } else {
        0
    };
    let aem = if name == "aem" { Some(p.aem()?) } else { None };
    let source = state.reports.clone();
    let name = name.to_owned();
    let value = blocking(move || {
        let src = source.as_ref();
        let (pixel, range) = (p.pixel.as_str(), p.range);
        match (name.as_str(), aem) {
            ("funnel", _) => reports::funnel(src, pixel, range),
            ("timeline", _) => reports::timeline(src, pixel, range),
            ("match-quality", _) => reports::match_quality(src, pixel, range),
            ("relay", _) => reports::relay(src, pixel, range),
            ("summary", _) => reports::summary(src, pixel, range),
            ("attribution", _) => reports::attribution(src, pixel, range, window),
            (_, Some(aem)) => reports::aem(src, pixel, range, &aem),
            _ => Ok(serde_json::Value::Null),
        }
    })
    .await?;
    let body = serde_json::to_vec(&value).map_err(|e| AppError::Internal(format!("json: {e}")))?;
    Ok(with_type(body, "application/json"))
}

/// `GET /api/audiences/{name}.csv`.
pub async fn audience(
    _: Admin,
    State(state): State<AppState>,
    Path(file): Path<String>,
    uri: Uri,
) -> Response {
    match audience_inner(&state, &file, &uri).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn audience_inner(state: &AppState, file: &str, uri: &Uri) -> Result<Response, AppError> {
    let which = Audience::parse(file).ok_or(AppError::NotFound)?;
    let p = ReportParams::parse(uri.query())?;
    let params = p.audience()?;
    let source = state.reports.clone();
    let csv =
        blocking(move || reports::audience(source.as_ref(), &p.pixel, p.range, which, &params))
            .await?;
    let mut resp = with_type(csv, "text/csv; charset=utf-8");
    let disposition = format!("attachment; filename=\"{file}\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// A server-events request refused for a rule the diagnostics watch (an IP that is none, an
/// `event_time` in milliseconds, in the future or too old): recorded for the diagnostics report
/// before the refusal is answered, so the report shows it at once. A failure to record is logged,
/// never the sender's error.
pub async fn note_refusal(state: &AppState, pixel_id: &str, message: &str) {
    let Some(row) = crate::ports::diagnostics::door(pixel_id, state.clock.now_ms(), message) else {
        return;
    };
    let sink = state.diagnostics.clone();
    if let Err(e) = blocking(move || sink.record(vec![row])).await {
        tracing::warn!(error = ?e, "could not record a refused server event for the diagnostics");
    }
}
