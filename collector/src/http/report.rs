//! `GET /report?pixel=<id>` (admin token as `Bearer` or `token=`): a plain HTML page with the
//! funnel, deduplication, match quality and relay status of one pixel.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use pixel_core::tracker::valid_pixel_id;
use pixel_core::wire::parse_query;

use super::authorize;
use crate::error::AppError;
use crate::store::PixelReport;
use crate::AppState;

/// The funnel steps, in order.
pub const FUNNEL: [&str; 5] = [
    "PageView",
    "ViewContent",
    "AddToCart",
    "InitiateCheckout",
    "Purchase",
];

pub async fn page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    match page_inner(&state, &headers, &uri).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn page_inner(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Response, AppError> {
    let params = parse_query(uri.query().unwrap_or(""))
        .map_err(|_| AppError::BadParam("malformed query string"))?;
    let get = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    authorize(state, headers, get("token"))?;
    let pixel = get("pixel")
        .filter(|p| valid_pixel_id(p))
        .ok_or(AppError::BadParam("pixel must be a numeric pixel id"))?
        .to_owned();
    let store = state.store.clone();
    let p = pixel.clone();
    let report = tokio::task::spawn_blocking(move || store.report(&p))
        .await
        .map_err(|e| AppError::Internal(format!("report task: {e}")))??;
    let mut resp = render(&pixel, &report).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Escape text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".to_owned()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

/// The page.
pub fn render(pixel: &str, r: &PixelReport) -> String {
    let count = |name: &str| {
        r.by_event
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, c)| *c)
    };
    let mut h = String::with_capacity(4096);
    let pixel = escape(pixel);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Pixel {pixel}: report</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:48rem}}table{{border-collapse:collapse;margin-bottom:1.5rem}}\
         td,th{{border:1px solid #ccc;padding:.3rem .7rem;text-align:right}}th:first-child,td:first-child{{text-align:left}}</style>\
         </head><body><h1>Pixel {pixel}</h1><p>{} events stored.</p>",
        r.total
    );
    h.push_str(
        "<h2>Funnel</h2><table><tr><th>step</th><th>events</th><th>of previous step</th></tr>",
    );
    let mut previous: Option<u64> = None;
    for step in FUNNEL {
        let n = count(step);
        let of_prev = previous.map_or_else(|| "–".to_owned(), |p| pct(n, p));
        let _ = write!(h, "<tr><td>{step}</td><td>{n}</td><td>{of_prev}</td></tr>");
        previous = Some(n);
    }
    h.push_str("</table>");
    let others: Vec<_> = r
        .by_event
        .iter()
        .filter(|(n, _)| !FUNNEL.contains(&n.as_str()))
        .collect();
    if !others.is_empty() {
        h.push_str("<h2>Other events</h2><table><tr><th>event</th><th>events</th></tr>");
        for (name, n) in others {
            let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", escape(name));
        }
        h.push_str("</table>");
    }
    let received = r.total + r.duplicates;
    let _ = write!(
        h,
        "<h2>Deduplication</h2><table><tr><th>measure</th><th>count</th><th>share</th></tr>\
         <tr><td>duplicates acknowledged, not stored</td><td>{}</td><td>{}</td></tr>\
         <tr><td>stored with an event ID derived by the collector (no eid)</td><td>{}</td><td>{}</td></tr></table>",
        r.duplicates,
        pct(r.duplicates, received),
        r.derived_ids,
        pct(r.derived_ids, r.total)
    );
    h.push_str(
        "<h2>Match quality</h2><table><tr><th>events with</th><th>count</th><th>share</th></tr>",
    );
    for (label, n) in [
        ("em (email)", r.with_em),
        ("ph (phone)", r.with_ph),
        ("fbp", r.with_fbp),
        ("fbc", r.with_fbc),
    ] {
        let _ = write!(
            h,
            "<tr><td>{label}</td><td>{n}</td><td>{}</td></tr>",
            pct(n, r.total)
        );
    }
    h.push_str("</table><h2>Relay to the Conversions API</h2><table><tr><th>status</th><th>events</th></tr>");
    for status in crate::store::RelayStatus::ALL {
        let n = r
            .by_relay_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, c)| *c);
        let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", status.as_str());
    }
    h.push_str("</table></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn funnel_and_escaping() {
        let r = PixelReport {
            by_event: vec![
                ("PageView".into(), 10),
                ("Purchase".into(), 2),
                ("<script>".into(), 1),
            ],
            total: 13,
            duplicates: 3,
            with_em: 2,
            ..PixelReport::default()
        };
        let html = render("123", &r);
        assert!(html.contains("<tr><td>PageView</td><td>10</td><td>–</td></tr>"));
        assert!(html.contains("<tr><td>ViewContent</td><td>0</td><td>0.0%</td></tr>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(
            html.contains("<td>duplicates acknowledged, not stored</td><td>3</td><td>18.8%</td>")
        );
    }
}
