//! `POST /{version}/{pixel}/events`: the store's server sends events as it would to Meta's
//! Conversions API, with the pixel's access token or `--server-key`.
//!
//! The steps, each refused in Meta's error shape (`server_events::answer`): the version and the
//! pixel (from the path), the declared length and the media type, a credential from the
//! `Authorization` header (checked before the body is read), the body (at most
//! [`MAX_BODY`]), the credential from the body or query string, Meta's rules for every event,
//! each event's `custom_data` within `--max-custom-data-bytes`, then one transaction for the
//! whole request. (The per-client limits, `http::limit`, come before all of these.) The answer `{"events_received": N}` is given
//! only once that transaction has committed; a request refused (4xx) stored nothing.
//!
//! No log line holds the URL's query string or a credential: the route's latency is recorded
//! under its pattern, and a refusal is logged (at debug level) with its label and trace ID only.

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::http::{header, request::Parts};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::auth::bearer;
use super::multipart::{self, MultipartError};
use crate::config::PixelConfig;
use crate::error::closes_connection;
use crate::ingest::IngestError;
use crate::metrics::Metrics;
use crate::ports::InsertOutcome;
use crate::server_events::{
    self as se, check_content_type, decode, fbtrace_id, is_version, offered, parse_events,
    received, too_large, ApiError, Check, Context, FieldsError, Kind, Params, Parsed, MAX_BODY,
};
use crate::state::AppState;

/// Bodies above this are parsed on the blocking pool, off the workers that answer beacons.
const PARSE_INLINE_MAX: usize = 64 * 1024;

/// The handler: the answer with `events_received`, or Meta's error object.
pub async fn receive(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    req: Request,
) -> Response {
    Metrics::inc(&state.metrics.server_received);
    let trace = fbtrace_id();
    let (parts, body) = req.into_parts();
    // A segment that does not decode (`%ff`) is no version nor pixel: Meta's unknown path.
    let (version, pixel) = path.map(|Path(p)| p).unwrap_or_default();
    match accept(&state, &version, &pixel, &parts, body).await {
        Ok(n) => {
            tracing::debug!(fbtrace_id = %trace, events = n, "server events stored");
            received(n, &trace)
        }
        Err((e, body_read)) => {
            state.metrics.rejected(e.kind.label());
            tracing::debug!(fbtrace_id = %trace, reason = e.kind.label(), "server events refused");
            let mut resp = e.into_response(&trace);
            if !body_read {
                // Answered with the body unread: the connection closes after the answer.
                closes_connection(&mut resp);
            }
            resp
        }
    }
}

/// Everything but the answer. The error says whether the body was read.
async fn accept(
    state: &AppState,
    version: &str,
    pixel_id: &str,
    parts: &Parts,
    body: Body,
) -> Result<usize, (ApiError, bool)> {
    let unread = |e: ApiError| (e, false);
    let read = |e: ApiError| (e, true);
    if !is_version(version) {
        return Err(unread(ApiError::new(
            Kind::UnknownPath,
            "Unknown path components: the version must look like v24.0",
        )));
    }
    let config = &state.config;
    let pixel = config
        .pixel(pixel_id)
        .ok_or_else(|| unread(unknown_pixel(pixel_id)))?;
    let server_key = config.server_key(pixel_id);
    se::accepts_server_events(pixel, server_key).map_err(unread)?;
    // The declared `Content-Length` (hyper's size hint of the body).
    if HttpBody::size_hint(&body).lower() > MAX_BODY as u64 {
        return Err(unread(too_large()));
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    check_content_type(content_type).map_err(unread)?;
    let job = Job {
        content_type: content_type.to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        bearer: bearer(&parts.headers).map(str::to_owned),
        pixel: pixel.clone(),
        server_key: server_key.map(str::to_owned),
        app_secret: config.app_secret.clone(),
        received_at_ms: 0,
        max_custom_data: config.max_custom_data_bytes,
    };
    if job.bearer.is_some() {
        // A wrong bearer token is refused before the body is read.
        job.check(&Params::default()).verify().map_err(unread)?;
    }
    let bytes = read_body(body).await.map_err(read)?;
    let job = Job {
        received_at_ms: state.clock.now_ms(),
        ..job
    };
    let parsed = if bytes.len() <= PARSE_INLINE_MAX {
        job.run(bytes)
    } else {
        tokio::task::spawn_blocking(move || job.run(bytes))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "the server-events parser failed");
                Err(ApiError::new(Kind::Internal, "An unknown error occurred"))
            })
    };
    if let Err(e) = &parsed {
        super::reports::note_refusal(state, pixel_id, &e.message).await;
    }
    let parsed = parsed.map_err(read)?;
    for d in &parsed.dropped {
        state.metrics.user_data_dropped(d.field, d.reason);
    }
    let mut events = parsed.events;
    for e in &mut events {
        e.hold_until_ms = config.hold_until(&e.event_name, e.relay, e.received_at_ms);
    }
    let n = events.len();
    let outcomes = match state.ingest.submit_all(events).await {
        Ok(outcomes) => outcomes,
        Err(IngestError::Closed) => return Err(read(ApiError::shutting_down())),
        Err(IngestError::Unavailable(why)) => return Err(read(ApiError::unavailable(why))),
    };
    for outcome in outcomes {
        Metrics::inc(match outcome {
            InsertOutcome::Stored => &state.metrics.stored,
            InsertOutcome::Duplicate => &state.metrics.duplicates,
            InsertOutcome::Merged => &state.metrics.merged,
        });
    }
    Ok(n)
}

/// What reading a request's body takes, owned so that a large one can be read on the blocking
/// pool.
struct Job {
    content_type: String,
    query: String,
    /// `Authorization: Bearer`.
    bearer: Option<String>,
    pixel: PixelConfig,
    server_key: Option<String>,
    app_secret: Option<String>,
    received_at_ms: i64,
    /// `--max-custom-data-bytes`.
    max_custom_data: usize,
}

impl Job {
    fn check<'a>(&'a self, params: &'a Params) -> Check<'a> {
        Check {
            pixel: &self.pixel,
            server_key: self.server_key.as_deref(),
            app_secret: self.app_secret.as_deref(),
            offered: offered(self.bearer.as_deref(), params),
            appsecret_proof: params.appsecret_proof.as_deref(),
        }
    }

    /// Decode the body, check the credential, then every event.
    fn run(&self, bytes: Bytes) -> Result<Parsed, ApiError> {
        let params = read_params(&self.content_type, bytes, &self.query)?;
        self.check(&params).verify()?;
        let Params {
            data,
            test_event_code,
            ..
        } = params;
        let parsed = parse_events(
            data,
            &Context {
                pixel_id: &self.pixel.id,
                relay: self.pixel.token.is_some(),
                received_at_ms: self.received_at_ms,
                test_event_code: test_event_code.as_deref(),
            },
        )?;
        custom_data_within(&parsed.events, self.max_custom_data)?;
        Ok(parsed)
    }
}

/// Refuse the request (`413`, nothing stored) when one event's `custom_data` is above `cap`
/// bytes as JSON, naming the event and the cap.
pub fn custom_data_within(events: &[crate::event::NewEvent], cap: usize) -> Result<(), ApiError> {
    for (i, e) in events.iter().enumerate() {
        if e.custom_data.is_empty() {
            continue;
        }
        let size = super::limit::json_size(&e.custom_data);
        if size > cap {
            return Err(ApiError::new(
                Kind::TooLarge,
                format!("data[{i}].custom_data is {size} bytes as JSON, above the cap of {cap} bytes per event (--max-custom-data-bytes)"),
            ));
        }
    }
    Ok(())
}

/// The request's parameters from its body (any encoding, multipart through `http/multipart.rs`)
/// and query string. The fuzz target's entry point, with `server_events::parse_events`.
pub fn read_params(content_type: &str, body: Bytes, query: &str) -> Result<Params, ApiError> {
    decode(content_type, body, query, multipart_fields)
}

/// `http/multipart.rs` as a [`server_events::Multipart`](crate::server_events::Multipart).
pub fn multipart_fields(
    body: Bytes,
    content_type: &str,
    max: usize,
) -> Result<Vec<(String, String)>, FieldsError> {
    let boundary = multipart::boundary(content_type)
        .ok_or(FieldsError::Bad("multipart/form-data without a boundary"))?;
    multipart::parse(body, &boundary, max).map_err(|e| match e {
        MultipartError::TooManyParts => FieldsError::TooMany,
        other => FieldsError::Bad(other.message()),
    })
}

/// Meta's answer for a pixel it does not know (quoting the ID only when it is one).
fn unknown_pixel(pixel_id: &str) -> ApiError {
    let id = if pixel_core::pixel_id::valid_pixel_id(pixel_id) {
        format!("'{pixel_id}'")
    } else {
        "in the path".to_owned()
    };
    ApiError::new(
        Kind::UnknownPixel,
        format!("Unsupported post request. Object with ID {id} does not exist, cannot be loaded due to missing permissions, or does not support this operation: this collector does not accept this pixel (--pixel)"),
    )
}

async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(_) => Err(ApiError::bad_body("could not read the request body")),
    }
}
