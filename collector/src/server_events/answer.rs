//! The endpoint's answers, in the shape of Meta's: `{"events_received": N, "messages": [],
//! "fbtrace_id"}` on success, and Meta's error object on a refusal, with the status code each
//! refusal gets. Every status code of the endpoint is chosen here.
//!
//! | refusal | status | `type`, `code`, `error_subcode` |
//! |---|---|---|
//! | version not `v<major>.<minor>` | 404 | `OAuthException`, 2500 (Meta's "Unknown path components") |
//! | pixel not accepted by `--pixel` | 400 | `GraphMethodException`, 100, 33 (Meta's own answer, status included) |
//! | pixel has neither access token nor `--server-key` | 403 | `OAuthException`, 200 (permission) |
//! | no credential | 401 | `OAuthException`, 104 (Meta's "access token is required") |
//! | wrong credential | 401 | `OAuthException`, 190 ("Invalid OAuth access token") |
//! | wrong `appsecret_proof` | 401 | `GraphMethodException`, 100 |
//! | body over [`MAX_BODY`](super::MAX_BODY) | 413 | `OAuthException`, 100 |
//! | other content types | 415 | `OAuthException`, 100 |
//! | unreadable body, bad `data` | 400 | `OAuthException`, 100 |
//! | an event breaks a rule | 400 | `OAuthException`, 100, 2804019 (2804008: older than 7 days) |
//! | a per-client limit (`--server-events-rate`, `--server-events-bytes-rate`) | 429 + `Retry-After` | `OAuthException`, 4 (Meta's "Application request limit reached"), `is_transient: true` |
//! | custom data above `--max-custom-data-bytes` | 413 | `OAuthException`, 100 |
//! | the store cannot take the request | 503 + `Retry-After` | `OAuthException`, 2 (Meta's "Service temporarily unavailable"), `is_transient: true` |
//! | a fault of ours (never a request's content) | 500 | `OAuthException`, 1 (Meta's "An unknown error occurred"), `is_transient: true` |

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::ingest::Unavailable;

/// Meta's `error_subcode` of a parameter error (its "Server-side API parameter error", e.g.
/// `The parameter $['data'][0]['event_time'] is required.`).
pub const SUBCODE_PARAM: u32 = 2_804_019;
/// Meta's `error_subcode` of an event older than 7 days ("Event timestamp too old").
pub const SUBCODE_TOO_OLD: u32 = 2_804_008;

/// What kind of refusal: fixes the status, Meta's `type`, `code` and `error_subcode`, the title
/// and the label of the `rejected` metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    UnknownPath,
    UnknownPixel,
    NoCredentials,
    MissingToken,
    BadToken,
    BadProof,
    TooLarge,
    UnsupportedMediaType,
    BadBody,
    /// An event breaks a rule: `subcode` is [`SUBCODE_PARAM`] or [`SUBCODE_TOO_OLD`].
    Param {
        subcode: u32,
    },
    /// Over a per-client limit (`http::limit`): `429`, with `Retry-After` from the limiter.
    RateLimited,
    Unavailable(Unavailable),
    ShuttingDown,
    /// A fault of ours (the parser panicked): logged, answered with Meta's unknown error.
    Internal,
}

impl Kind {
    pub fn status(self) -> StatusCode {
        match self {
            Kind::UnknownPath => StatusCode::NOT_FOUND,
            Kind::UnknownPixel | Kind::BadBody | Kind::Param { .. } => StatusCode::BAD_REQUEST,
            Kind::NoCredentials => StatusCode::FORBIDDEN,
            Kind::MissingToken | Kind::BadToken | Kind::BadProof => StatusCode::UNAUTHORIZED,
            Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable(_) | Kind::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Meta's `type`, `code` and `error_subcode`.
    fn meta(self) -> (&'static str, u32, Option<u32>) {
        match self {
            Kind::UnknownPath => ("OAuthException", 2500, None),
            Kind::UnknownPixel => ("GraphMethodException", 100, Some(33)),
            Kind::NoCredentials => ("OAuthException", 200, None),
            Kind::MissingToken => ("OAuthException", 104, None),
            Kind::BadToken => ("OAuthException", 190, None),
            Kind::BadProof => ("GraphMethodException", 100, None),
            Kind::TooLarge | Kind::UnsupportedMediaType | Kind::BadBody => {
                ("OAuthException", 100, None)
            }
            Kind::Param { subcode } => ("OAuthException", 100, Some(subcode)),
            Kind::RateLimited => ("OAuthException", 4, None),
            Kind::Unavailable(_) | Kind::ShuttingDown => ("OAuthException", 2, None),
            Kind::Internal => ("OAuthException", 1, None),
        }
    }

    fn title(self) -> Option<&'static str> {
        match self {
            Kind::Param {
                subcode: SUBCODE_TOO_OLD,
            } => Some("Event timestamp too old"),
            Kind::Param { .. } => Some("Server-side API parameter error"),
            _ => None,
        }
    }

    /// Label of the `rejected` metric.
    pub fn label(self) -> &'static str {
        match self {
            Kind::UnknownPath => "server_unknown_path",
            Kind::UnknownPixel => "server_unknown_pixel",
            Kind::NoCredentials => "server_no_credentials",
            Kind::MissingToken => "server_missing_token",
            Kind::BadToken => "server_bad_token",
            Kind::BadProof => "server_bad_appsecret_proof",
            Kind::TooLarge => "server_too_large",
            Kind::UnsupportedMediaType => "server_unsupported_media_type",
            Kind::BadBody => "server_bad_body",
            Kind::Param { .. } => "server_invalid_event",
            Kind::RateLimited => "server_rate_limited",
            Kind::Unavailable(u) => u.label(),
            Kind::ShuttingDown => "shutting_down",
            Kind::Internal => "internal",
        }
    }

    /// Whether a retry later may succeed (Meta's `is_transient`): our faults, the store's
    /// unavailability and a rate limit.
    pub fn transient(self) -> bool {
        self.status().is_server_error() || self == Kind::RateLimited
    }
}

/// A refusal: its kind and a one-line message. A message names what is wrong and where
/// (`data[3].event_time: ...`) and never quotes a value the request carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: Kind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: Kind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// An event breaks a rule: `path` is where (`data[3].user_data.em`), `why` what is wrong.
    pub fn param(path: &str, why: &str) -> ApiError {
        ApiError::new(
            Kind::Param {
                subcode: SUBCODE_PARAM,
            },
            format!("{path}: {why}"),
        )
    }

    pub fn bad_body(why: impl Into<String>) -> ApiError {
        ApiError::new(Kind::BadBody, why)
    }

    pub fn unavailable(u: Unavailable) -> ApiError {
        ApiError::new(Kind::Unavailable(u), u.message())
    }

    pub fn shutting_down() -> ApiError {
        ApiError::new(Kind::ShuttingDown, "shutting down, try again")
    }

    /// The error object, as Meta writes it.
    pub fn body(&self, fbtrace_id: &str) -> Value {
        let (kind, code, subcode) = self.kind.meta();
        let mut error = json!({
            "message": self.message,
            "type": kind,
            "code": code,
            "is_transient": self.kind.transient(),
            "fbtrace_id": fbtrace_id,
        });
        if let Some(map) = error.as_object_mut() {
            if let Some(sub) = subcode {
                map.insert("error_subcode".into(), sub.into());
            }
            if let Some(title) = self.kind.title() {
                map.insert("error_user_title".into(), title.into());
                map.insert("error_user_msg".into(), self.message.clone().into());
            }
        }
        json!({ "error": error })
    }

    /// The answer: the status, Meta's body, `Retry-After` on a 503, `WWW-Authenticate` on a 401.
    pub fn into_response(self, fbtrace_id: &str) -> Response {
        let mut resp = json_response(self.kind.status(), self.body(fbtrace_id).to_string());
        let headers = resp.headers_mut();
        let retry_after = match self.kind {
            Kind::Unavailable(u) => Some(u.retry_after_secs()),
            Kind::ShuttingDown => Some(5),
            _ => None,
        };
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.kind.status() == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// Meta's success body: every event of the request counted, stored or not. (Written as text: a
/// trace ID is base64url, nothing in it needs escaping.)
pub fn received(events: usize, fbtrace_id: &str) -> Response {
    json_response(
        StatusCode::OK,
        format!(r#"{{"events_received":{events},"messages":[],"fbtrace_id":"{fbtrace_id}"}}"#),
    )
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A request's trace ID, as Meta gives one in every answer: `A` and 22 base64url characters
/// (random; it is in the answer and in the debug log line of the request, to find one by the
/// other).
pub fn fbtrace_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = String::with_capacity(23);
    id.push('A');
    for _ in 0..22 {
        id.push(char::from(
            ALPHABET.get(fastrand::usize(..64)).copied().unwrap_or(b'A'),
        ));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::capi::{classify, Verdict};

    fn all() -> Vec<ApiError> {
        [
            Kind::UnknownPath,
            Kind::UnknownPixel,
            Kind::NoCredentials,
            Kind::MissingToken,
            Kind::BadToken,
            Kind::BadProof,
            Kind::TooLarge,
            Kind::UnsupportedMediaType,
            Kind::BadBody,
            Kind::RateLimited,
            Kind::Param {
                subcode: SUBCODE_PARAM,
            },
            Kind::Param {
                subcode: SUBCODE_TOO_OLD,
            },
            Kind::Unavailable(Unavailable::DiskFull),
            Kind::ShuttingDown,
            Kind::Internal,
        ]
        .into_iter()
        .map(|k| ApiError::new(k, "data[3].event_time: why"))
        .collect()
    }

    #[test]
    fn every_refusal_has_meta_s_fields_and_no_5xx_but_unavailability() {
        for e in all() {
            let body = e.body("Atrace");
            let err = &body["error"];
            assert_eq!(err["message"], "data[3].event_time: why");
            assert!(err["type"].is_string() && err["code"].is_u64(), "{body}");
            assert_eq!(err["fbtrace_id"], "Atrace");
            let transient = err["is_transient"].as_bool().unwrap_or(false);
            assert_eq!(e.kind.transient(), transient, "{body}");
            assert!(
                e.kind.status().is_server_error() <= transient,
                "every 5xx is transient: {body}"
            );
            if let Kind::Param { subcode } = e.kind {
                assert_eq!(err["error_subcode"], subcode);
                assert_eq!(err["error_user_msg"], "data[3].event_time: why");
            }
        }
    }

    /// Our answers read by our own relay's reading of Meta's (a collector can relay to another
    /// one): a refused event is an event-level refusal, credentials and the pixel are
    /// configuration, a 503 is retried.
    #[test]
    fn our_relay_reads_our_answers_as_it_reads_meta_s() {
        for e in all() {
            let status = e.kind.status().as_u16();
            let body = e.body("A").to_string();
            let verdict = classify(status, None, body.as_bytes());
            match e.kind {
                Kind::Param { .. } | Kind::BadBody => {
                    assert!(matches!(verdict, Verdict::Rejected { .. }), "{verdict:?}")
                }
                Kind::UnknownPixel | Kind::NoCredentials | Kind::MissingToken | Kind::BadToken => {
                    assert!(
                        matches!(verdict, Verdict::Misconfigured { .. }),
                        "{e:?} {verdict:?}"
                    )
                }
                Kind::Unavailable(_) | Kind::ShuttingDown | Kind::Internal | Kind::RateLimited => {
                    assert!(
                        matches!(verdict, Verdict::Retry { .. }),
                        "{e:?} {verdict:?}"
                    )
                }
                _ => {}
            }
        }
        let ok = received(3, &fbtrace_id());
        assert_eq!(ok.status(), StatusCode::OK);
    }

    #[test]
    fn trace_ids_look_like_meta_s() {
        let a = fbtrace_id();
        assert_eq!(a.len(), 23);
        assert!(a.starts_with('A'));
        assert_ne!(a, fbtrace_id());
    }
}
