//! `GET /report`: the old HTML report, replaced by the dashboard. It redirects to `/dashboard`,
//! keeping `pixel` and dropping any `token=` (the dashboard asks for the token and sends it as a
//! header: a token in a URL ends up in logs, history and `Referer`).

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use pixel_core::pixel_id::valid_pixel_id;
use pixel_core::wire::parse_query;

pub async fn page(uri: Uri) -> Response {
    let pixel = parse_query(uri.query().unwrap_or(""))
        .ok()
        .and_then(|params| {
            params
                .into_iter()
                .rev()
                .find(|(k, v)| k == "pixel" && valid_pixel_id(v))
        })
        .map(|(_, v)| v);
    let to = match pixel {
        Some(p) => format!("/dashboard?pixel={p}"),
        None => "/dashboard".to_owned(),
    };
    let mut resp = StatusCode::PERMANENT_REDIRECT.into_response();
    if let Ok(v) = HeaderValue::from_str(&to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
