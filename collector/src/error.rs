//! One error type for every HTTP handler, turned into a response once, here.
//!
//! Bad input gets its own 4xx status and a one-line reason. Internal faults get a generic message
//! and a log line with the detail. Nothing a client sends maps to a 5xx.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pixel_core::wire::DecodeError;

use crate::event::InvalidBeacon;

/// Everything a handler can refuse or fail with.
#[derive(Debug)]
pub enum AppError {
    /// The beacon could not be decoded (missing `id`/`ev`, bad number, bad escape).
    Decode(DecodeError),
    /// Decoded, but a field is out of bounds.
    Invalid(InvalidBeacon),
    /// The pixel ID is not configured with `--pixel`.
    UnknownPixel,
    /// Query string over 32 KB.
    QueryTooLarge,
    /// Body over 64 KB.
    BodyTooLarge,
    /// POST body of a type a browser cannot send without a preflight (or unknown).
    UnsupportedMediaType,
    /// A body that is not UTF-8, or a broken multipart body.
    BadBody(&'static str),
    /// `Origin` not in `--allowed-origin`.
    OriginNotAllowed,
    /// Missing or wrong admin token.
    Unauthorized,
    /// A bad query parameter of the admin API.
    BadParam(&'static str),
    NotFound,
    MethodNotAllowed,
    /// More than [`crate::event::MAX_PARAMS`] parameters in one beacon.
    TooManyParams,
    /// The server is shutting down (or its writer has stopped) and no longer takes events.
    ShuttingDown,
    /// The store cannot take the event right now (disk full, database locked, queue full): 503
    /// with `Retry-After`, nothing acknowledged. The reason is one line for the client.
    Unavailable(crate::ingest::Unavailable),
    /// A fault of ours: logged with this detail, answered with a generic message.
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Decode(_)
            | AppError::Invalid(_)
            | AppError::BadBody(_)
            | AppError::BadParam(_) => StatusCode::BAD_REQUEST,
            AppError::UnknownPixel | AppError::OriginNotAllowed => StatusCode::FORBIDDEN,
            AppError::QueryTooLarge | AppError::BodyTooLarge | AppError::TooManyParams => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unauthorized => StatusCode::UNAUTHORIZED,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            AppError::ShuttingDown | AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The one-line reason sent to the client.
    pub fn message(&self) -> &'static str {
        match self {
            AppError::Decode(e) => e.message(),
            AppError::Invalid(e) => e.message(),
            AppError::UnknownPixel => "unknown pixel id: this collector does not accept events for it",
            AppError::QueryTooLarge => "query string is larger than 32 KB",
            AppError::BodyTooLarge => "request body is larger than 64 KB",
            AppError::UnsupportedMediaType => {
                "unsupported content type: send application/x-www-form-urlencoded, multipart/form-data or text/plain"
            }
            AppError::BadBody(m) | AppError::BadParam(m) => m,
            AppError::OriginNotAllowed => "origin not allowed",
            AppError::Unauthorized => "missing or wrong admin token (Authorization: Bearer <token>)",
            AppError::NotFound => "not found",
            AppError::MethodNotAllowed => "method not allowed",
            AppError::TooManyParams => "beacon has more than 500 parameters",
            AppError::ShuttingDown => "shutting down, try again",
            AppError::Unavailable(u) => u.message(),
            AppError::Internal(_) => "internal error",
        }
    }

    /// Short label for the `rejected` metric.
    pub fn reason(&self) -> &'static str {
        match self {
            AppError::Decode(DecodeError::MissingId) => "missing_id",
            AppError::Decode(DecodeError::MissingEvent) => "missing_event",
            AppError::Decode(DecodeError::BadNumber) => "bad_number",
            AppError::Decode(DecodeError::BadPercentEncoding) => "bad_encoding",
            AppError::Invalid(InvalidBeacon::EventNameTooLong) => "event_name_too_long",
            AppError::Invalid(InvalidBeacon::EventIdTooLong) => "event_id_too_long",
            AppError::UnknownPixel => "unknown_pixel",
            AppError::QueryTooLarge => "query_too_large",
            AppError::BodyTooLarge => "body_too_large",
            AppError::UnsupportedMediaType => "unsupported_media_type",
            AppError::BadBody(_) => "bad_body",
            AppError::OriginNotAllowed => "origin_not_allowed",
            AppError::Unauthorized => "unauthorized",
            AppError::BadParam(_) => "bad_param",
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::TooManyParams => "too_many_params",
            AppError::ShuttingDown => "shutting_down",
            AppError::Unavailable(u) => u.label(),
            AppError::Internal(_) => "internal",
        }
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl From<crate::ports::StoreError> for AppError {
    fn from(e: crate::ports::StoreError) -> Self {
        AppError::Internal(format!("store: {e}"))
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let mut body = String::with_capacity(self.message().len() + 1);
        body.push_str(self.message());
        body.push('\n');
        let mut resp = (self.status(), body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        let retry_after = match &self {
            AppError::Unavailable(u) => Some(u.retry_after_secs()),
            AppError::ShuttingDown => Some(5),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, AppError::Unauthorized) {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(self, AppError::BodyTooLarge) {
            closes_connection(&mut resp);
        }
        resp
    }
}

/// Mark an answer given with the request's body left unread: hyper closes such a connection
/// after the answer, and without `Connection: close` a pooling client sends its next request on
/// the closing socket.
pub fn closes_connection(resp: &mut Response) {
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}
