//! The events of a request (`data`) checked against Meta's rules and turned into
//! [`NewEvent`]s. One event that breaks a rule refuses the whole request (as Meta does for an
//! `event_time` over 7 days old), with a message naming its index and field:
//! `data[3].event_time: more than 7 days in the past`.
//!
//! | field | rule |
//! |---|---|
//! | `data` | an array of 1 to [`MAX_EVENTS`] objects |
//! | `event_name` | required, a non-blank string of at most 100 characters |
//! | `event_time` | required, integer Unix seconds (digits in a string too), not over 7 days old, not over [`MAX_SKEW_SECS`] ahead |
//! | `action_source` | required, one of [`ACTION_SOURCES`] |
//! | `event_source_url` | a string; required when `action_source` is `website` |
//! | `user_data` | required, an object (see `user_data.rs`); `client_user_agent` required for `website` |
//! | `event_id` | optional, a string or an integer, at most 200 characters; absent: derived (`s-…`) |
//! | `custom_data` | optional, an object, stored as it came |
//! | `data_processing_options` | optional, an array of strings; `_country`, `_state` integers |
//! | anything else | passed through to the relay as it came (`opt_out`, `app_data`, ...) |

use pixel_core::matching::sha256_hex;
use pixel_core::wire::Dpo;
use serde_json::{Map, Value};

use super::answer::{ApiError, Kind, SUBCODE_TOO_OLD};
use super::user_data;
use crate::event::{DroppedField, NewEvent, Origin, ServerFields, MAX_EVENT_ID, MAX_EVENT_NAME};

/// Most events in one request (Meta's limit).
pub const MAX_EVENTS: usize = 1000;
/// Oldest accepted `event_time`, seconds before receipt (Meta's 7 days; the relay expires events
/// older than that too).
pub const MAX_AGE_SECS: i64 = 7 * 24 * 3600;
/// How far ahead of the collector's clock an `event_time` may be: the skew the beacons' `ts` is
/// allowed, and far more than an NTP-synchronised store server drifts.
pub const MAX_SKEW_SECS: i64 = 60;

/// Meta's `action_source` values.
pub const ACTION_SOURCES: [&str; 9] = [
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
];

/// What every event of a request shares.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub pixel_id: &'a str,
    /// Relay the events (the pixel has an access token).
    pub relay: bool,
    pub received_at_ms: i64,
    /// The request's `test_event_code`, relayed with each event.
    pub test_event_code: Option<&'a str>,
}

/// A request's events, ready to store, and the user-data values left out of them.
#[derive(Debug, Default)]
pub struct Parsed {
    pub events: Vec<NewEvent>,
    pub dropped: Vec<DroppedField>,
}

/// Check `data` and build its events; the first broken rule refuses them all.
pub fn parse_events(data: Option<Value>, cx: &Context<'_>) -> Result<Parsed, ApiError> {
    let list = match data {
        None => return Err(ApiError::param("data", "is required")),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(ApiError::param("data", "must be an array of events")),
    };
    if list.is_empty() {
        return Err(ApiError::param("data", "holds no event"));
    }
    if list.len() > MAX_EVENTS {
        return Err(ApiError::param(
            "data",
            &format!("{} events: at most {MAX_EVENTS} per request", list.len()),
        ));
    }
    let mut parsed = Parsed {
        events: Vec::with_capacity(list.len()),
        dropped: Vec::new(),
    };
    for (i, event) in list.into_iter().enumerate() {
        let at = format!("data[{i}]");
        let Value::Object(map) = event else {
            return Err(ApiError::param(&at, "must be an object"));
        };
        parsed
            .events
            .push(read_event(map, &at, cx, &mut parsed.dropped)?);
    }
    Ok(parsed)
}

/// One event, at `at` (`data[3]`).
fn read_event(
    mut map: Map<String, Value>,
    at: &str,
    cx: &Context<'_>,
    dropped: &mut Vec<DroppedField>,
) -> Result<NewEvent, ApiError> {
    let path = |key: &str| format!("{at}.{key}");
    let event_id = match map.remove("event_id").filter(|v| !v.is_null()) {
        None => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Some(_) => return Err(ApiError::param(&path("event_id"), "must be a string")),
    };
    if event_id
        .as_ref()
        .is_some_and(|id| id.chars().count() > MAX_EVENT_ID)
    {
        return Err(ApiError::param(
            &path("event_id"),
            &format!("longer than {MAX_EVENT_ID} characters"),
        ));
    }
    // Derived from the whole event as it came, before any field is taken out of it.
    let (event_id, event_id_derived) = match event_id {
        Some(id) => (id, false),
        None => (derive_event_id(cx.pixel_id, &map), true),
    };
    let mut take = |key: &str| map.remove(key).filter(|v| !v.is_null());
    let event_name = match take("event_name") {
        None => return Err(ApiError::param(&path("event_name"), "is required")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(ApiError::param(&path("event_name"), "is empty"))
        }
        Some(Value::String(s)) if s.chars().count() > MAX_EVENT_NAME => {
            return Err(ApiError::param(
                &path("event_name"),
                &format!("longer than {MAX_EVENT_NAME} characters"),
            ))
        }
        Some(Value::String(s)) => s,
        Some(_) => return Err(ApiError::param(&path("event_name"), "must be a string")),
    };
    let event_time = event_time(take("event_time"), at, cx.received_at_ms)?;
    let action_source = match take("action_source") {
        None => return Err(ApiError::param(&path("action_source"), "is required")),
        Some(Value::String(s)) if ACTION_SOURCES.contains(&s.as_str()) => s,
        Some(_) => {
            return Err(ApiError::param(
                &path("action_source"),
                "must be one of email, website, app, phone_call, chat, physical_store, system_generated, business_messaging, other",
            ))
        }
    };
    let website = action_source == "website";
    let source_url = optional_text(take("event_source_url"), at, "event_source_url")?;
    if website && source_url.is_empty() {
        return Err(ApiError::param(
            &path("event_source_url"),
            "is required when action_source is website",
        ));
    }
    let referrer_url = optional_text(take("referrer_url"), at, "referrer_url")?;
    let user_data = match take("user_data") {
        None => return Err(ApiError::param(&path("user_data"), "is required")),
        Some(Value::Object(o)) => user_data::read(o, at, cx.received_at_ms)?,
        Some(_) => return Err(ApiError::param(&path("user_data"), "must be an object")),
    };
    if website && user_data.user_agent.is_none() {
        return Err(ApiError::param(
            &path("user_data.client_user_agent"),
            "is required when action_source is website",
        ));
    }
    let custom_data = match take("custom_data") {
        None => Map::new(),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(ApiError::param(&path("custom_data"), "must be an object")),
    };
    let dpo = data_processing_options(&mut take, at)?;
    // What is left is passed through to the relay.
    dropped.extend(user_data.dropped);
    Ok(NewEvent {
        pixel_id: cx.pixel_id.to_owned(),
        event_name,
        event_id,
        event_id_derived,
        event_time,
        received_at_ms: cx.received_at_ms,
        source_url,
        referrer_url,
        fbp: user_data.fbp,
        fbc: user_data.fbc,
        client_ip: user_data.client_ip,
        user_agent: user_data.user_agent,
        user_data: user_data.hashed,
        custom_data,
        dpo,
        relay: cx.relay,
        origin: Origin::SERVER,
        hold_until_ms: None,
        server: Some(Box::new(ServerFields {
            action_source,
            test_event_code: cx.test_event_code.map(str::to_owned),
            user_data: user_data.passed,
            event: map,
        })),
    })
}

/// `event_time` of the event at `at`: integer seconds (or their digits in a string), within
/// Meta's window.
fn event_time(value: Option<Value>, at: &str, received_at_ms: i64) -> Result<i64, ApiError> {
    // Error paths are written only for an error: this runs for every event.
    let path = || format!("{at}.event_time");
    let secs = match value {
        None => return Err(ApiError::param(&path(), "is required")),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        Some(_) => None,
    };
    let Some(secs) = secs else {
        return Err(ApiError::param(
            &path(),
            "must be an integer: Unix time in seconds",
        ));
    };
    let now = received_at_ms.div_euclid(1000);
    if secs < now.saturating_sub(MAX_AGE_SECS) {
        return Err(ApiError::new(
            Kind::Param {
                subcode: SUBCODE_TOO_OLD,
            },
            format!(
                "{}: more than 7 days in the past; Meta takes no older event",
                path()
            ),
        ));
    }
    if secs > now.saturating_add(MAX_SKEW_SECS) {
        let hint = if secs > 100_000_000_000 {
            " (milliseconds? event_time is in seconds)"
        } else {
            ""
        };
        return Err(ApiError::param(
            &path(),
            &format!("more than {MAX_SKEW_SECS} s in the future{hint}"),
        ));
    }
    Ok(secs)
}

/// The string `key` of the event at `at`, empty when absent; another type is a 400.
fn optional_text(value: Option<Value>, at: &str, key: &str) -> Result<String, ApiError> {
    match value {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::param(&format!("{at}.{key}"), "must be a string")),
    }
}

/// `data_processing_options` (an array of strings) and its `_country` and `_state` (integers,
/// 0 when absent: geolocate).
fn data_processing_options(
    take: &mut impl FnMut(&str) -> Option<Value>,
    at: &str,
) -> Result<Option<Dpo>, ApiError> {
    let code = |v: Option<Value>, key: &str| match v {
        None => Ok(0),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64().unwrap_or(0)),
        Some(_) => Err(ApiError::param(
            &format!("{at}.{key}"),
            "must be an integer",
        )),
    };
    let country = code(
        take("data_processing_options_country"),
        "data_processing_options_country",
    )?;
    let state = code(
        take("data_processing_options_state"),
        "data_processing_options_state",
    )?;
    let Some(options) = take("data_processing_options") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::param(
            &format!("{at}.data_processing_options"),
            "must be an array of strings (e.g. [\"LDU\"], or [])",
        )
    };
    let Value::Array(list) = options else {
        return Err(bad());
    };
    let options = list
        .into_iter()
        .map(|v| match v {
            Value::String(s) => Ok(s),
            _ => Err(bad()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Dpo {
        options,
        country,
        state,
    }))
}

/// The ID of an event sent without `event_id`: a SHA-256 of the pixel and the event as it came
/// (every field, in key order), so that an SDK's retry of the same request deduplicates; two
/// events alike in every field are one. Prefixed `s-` (server), as beacons' derived IDs are `d-`;
/// the relay sends no derived ID to Meta.
fn derive_event_id(pixel_id: &str, event: &Map<String, Value>) -> String {
    // `Map` keeps its keys sorted (serde_json without `preserve_order`): the text is canonical,
    // whatever order the request wrote them in (a test checks it).
    let mut key = String::with_capacity(512);
    key.push_str(pixel_id);
    key.push('\n');
    key.push_str(&serde_json::to_string(event).unwrap_or_default());
    let hash = sha256_hex(&key);
    format!("s-{}", hash.get(..32).unwrap_or(&hash))
}
