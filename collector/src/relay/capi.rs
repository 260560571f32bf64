//! The Conversions API side (SPEC §7), free of I/O: the JSON an event becomes, the request body,
//! `appsecret_proof`, and what a response means.

use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use crate::event::NewEvent;
use crate::ports::StoredEvent;

/// One stored event as a Conversions API server event.
///
/// `event_id` is sent only when the page gave one: an ID the collector derived matches no browser
/// copy, and leaving it out lets Meta fall back to deduplicating on `fbp`/`external_id`. The cost:
/// a retry of such an event after Meta processed it (timeout, crash before the `sent` mark) has no
/// `event_id` to be recognised by and may be counted twice (collector/README.md, *Event IDs*).
pub fn event_json(e: &NewEvent) -> Value {
    let mut ev = Map::new();
    ev.insert("event_name".into(), json!(e.event_name));
    ev.insert("event_time".into(), json!(e.event_time));
    if !e.event_id_derived {
        ev.insert("event_id".into(), json!(e.event_id));
    }
    if !e.source_url.is_empty() {
        ev.insert("event_source_url".into(), json!(e.source_url));
    }
    let action_source = e
        .server
        .as_ref()
        .map_or("website", |s| s.action_source.as_str());
    ev.insert("action_source".into(), json!(action_source));
    let mut ud = Map::new();
    for (key, hash) in &e.user_data {
        ud.insert(key.clone(), json!([hash]));
    }
    if let Some(ip) = &e.client_ip {
        ud.insert("client_ip_address".into(), json!(ip));
    }
    if let Some(ua) = &e.user_agent {
        ud.insert("client_user_agent".into(), json!(ua));
    }
    if let Some(fbp) = &e.fbp {
        ud.insert("fbp".into(), json!(fbp));
    }
    if let Some(fbc) = &e.fbc {
        ud.insert("fbc".into(), json!(fbc));
    }
    if let Some(server) = &e.server {
        for (k, v) in &server.user_data {
            ud.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    ev.insert("user_data".into(), Value::Object(ud));
    if !e.custom_data.is_empty() {
        ev.insert("custom_data".into(), Value::Object(e.custom_data.clone()));
    }
    if let Some(dpo) = &e.dpo {
        ev.insert("data_processing_options".into(), json!(dpo.options));
        if !dpo.options.is_empty() {
            ev.insert("data_processing_options_country".into(), json!(dpo.country));
            ev.insert("data_processing_options_state".into(), json!(dpo.state));
        }
    }
    if let Some(server) = &e.server {
        for (k, v) in &server.event {
            ev.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Value::Object(ev)
}

/// The `test_event_code` a server request gave its event (`None` for a beacon).
pub fn test_event_code(e: &StoredEvent) -> Option<&str> {
    e.event.server.as_ref()?.test_event_code.as_deref()
}

/// How a request proves who sends it: the access token and, with `--app-secret`, its proof.
/// Both travel in the POST body, never in the URL (which HTTP clients, proxies and logs print).
/// `Debug` shows neither.
#[derive(Clone)]
pub struct Auth {
    access_token: String,
    appsecret_proof: Option<String>,
}

impl Auth {
    pub fn new(access_token: &str, app_secret: Option<&str>) -> Auth {
        Auth {
            access_token: access_token.to_owned(),
            appsecret_proof: app_secret.map(|s| appsecret_proof(s, access_token)),
        }
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth { access_token: <redacted>, appsecret_proof: <redacted> }")
    }
}

/// `{"data": [...], "test_event_code": "...", "access_token": "...", "appsecret_proof": "..."}`.
///
/// The Graph API reads a POST's parameters from its body as well as from the query string; a JSON
/// body's top-level fields are parameters like form fields, `access_token` and `appsecret_proof`
/// included.
pub fn request_body(events: &[StoredEvent], test_event_code: Option<&str>, auth: &Auth) -> Vec<u8> {
    let mut body = Map::new();
    body.insert(
        "data".into(),
        Value::Array(events.iter().map(|e| event_json(&e.event)).collect()),
    );
    if let Some(code) = test_event_code {
        body.insert("test_event_code".into(), json!(code));
    }
    body.insert("access_token".into(), json!(auth.access_token));
    if let Some(proof) = &auth.appsecret_proof {
        body.insert("appsecret_proof".into(), json!(proof));
    }
    Value::Object(body).to_string().into_bytes()
}

/// The most of a response body the relay reads: Meta's answers are a few hundred bytes.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A 3xx from the Graph URL: never followed (a `302` would turn the POST into a GET and a `200` at
/// the end would mark events sent that were never posted). `location` is where it pointed.
pub fn redirected(status: u16, location: Option<&str>) -> Verdict {
    let location: String = location
        .unwrap_or("(no Location header)")
        .chars()
        .take(300)
        .collect();
    Verdict::Redirected {
        detail: format!(
            "HTTP {status} redirect to {location}: redirects are never followed, check --graph-url"
        ),
    }
}

/// HMAC-SHA256(key = app secret, message = access token), lowercase hex.
pub fn appsecret_proof(app_secret: &str, access_token: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(access_token.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a response (or its absence) means for the events in the request.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// 2xx: every event in the request was received.
    Accepted,
    /// Meta refused the request for its content (400): one event in it is bad. `code` and
    /// `subcode` are Meta's `code` and `error_subcode` (0 when absent): with `message` they are the
    /// refusal's signature, which the bisection compares (see `relay`).
    Rejected {
        message: String,
        code: i64,
        subcode: i64,
        /// The position in the request's `data` of the event refused, when Meta names it
        /// ([`MetaError::event_index`]): the relay fails that one without a bisection.
        index: Option<usize>,
    },
    /// Try the same events again later (5xx, 429, timeouts, connection errors).
    Retry {
        kind: &'static str,
        after: Option<Duration>,
        detail: String,
    },
    /// Our configuration is wrong (token, app secret, pixel, permission): the request is refused
    /// whatever events it carries. Keep them pending and retry at the longest delay.
    Misconfigured { detail: String },
    /// A 3xx: the Graph URL points elsewhere. Treated like [`Verdict::Misconfigured`].
    Redirected { detail: String },
}

/// Meta's error object: `{"error": {"message", "type", "code", "error_subcode", "is_transient",
/// "error_user_title", "error_user_msg", "fbtrace_id"}}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetaError {
    pub message: String,
    pub code: i64,
    /// `error_subcode`, 0 when absent.
    pub subcode: i64,
    pub is_transient: bool,
    /// The refused event's position in the request's `data`, when Meta names it: in
    /// `error_data.event_index` (an object, or the JSON string the Graph API often sends), or
    /// as `$['data'][i]` / `data[i]` in its message (`Unexpected key "…" on param
    /// "$['data'][0]"`). Meta does not document it for the Conversions API, so it is a hint: the
    /// bisection does without it.
    pub event_index: Option<usize>,
}

impl MetaError {
    pub fn parse(body: &[u8]) -> MetaError {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let err = v.get("error").cloned().unwrap_or(Value::Null);
        let text = |k: &str| {
            err.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let mut message = text("message").unwrap_or("").to_owned();
        if let Some(user) = text("error_user_msg").or_else(|| text("error_user_title")) {
            if message.is_empty() {
                message = user.to_owned();
            } else {
                message = format!("{message}: {user}");
            }
        }
        if message.is_empty() {
            message = String::from_utf8_lossy(body.get(..body.len().min(300)).unwrap_or(&[]))
                .trim()
                .to_owned();
        }
        let event_index =
            event_index_in(err.get("error_data")).or_else(|| event_index_in_text(&message));
        MetaError {
            event_index,
            message,
            code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
            subcode: err
                .get("error_subcode")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            is_transient: err
                .get("is_transient")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// Invalid or expired token, missing permission.
    fn is_auth(&self) -> bool {
        matches!(self.code, 10 | 102 | 190 | 200..=299)
    }

    /// A refusal of the request as a whole that Meta files under code 100 ("invalid parameter"),
    /// like the event-level ones: the pixel does not exist or the token cannot reach it
    /// (subcode 33), or the `appsecret_proof`/access token parameter is wrong. No event in the
    /// request is at fault.
    fn is_request_level(&self) -> bool {
        if self.code == 100 && self.subcode == 33 {
            return true;
        }
        let message = self.message.to_ascii_lowercase();
        ["appsecret_proof", "access token", "access_token"]
            .iter()
            .any(|needle| message.contains(needle))
    }

    /// Graph API rate limiting codes.
    fn is_rate_limit(&self) -> bool {
        matches!(self.code, 4 | 17 | 32 | 613 | 80004)
    }
}

/// `event_index` in `error_data`, given as an object or as the JSON text of one.
fn event_index_in(data: Option<&Value>) -> Option<usize> {
    let parsed;
    let data = match data? {
        Value::String(text) => {
            parsed = serde_json::from_str::<Value>(text).ok()?;
            &parsed
        }
        other => other,
    };
    let index = data.get("event_index")?.as_u64()?;
    usize::try_from(index).ok()
}

/// The first `data[<digits>]` or `['data'][<digits>]` in `text`.
fn event_index_in_text(text: &str) -> Option<usize> {
    ["['data'][", "[\"data\"][", "data["]
        .iter()
        .find_map(|needle| {
            let at = text.find(needle)? + needle.len();
            let rest = text.get(at..)?;
            let digits = rest.split(']').next()?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        })
}

/// Classify an HTTP answer.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Verdict {
    match status {
        200..=299 => Verdict::Accepted,
        429 => Verdict::Retry {
            kind: "rate_limited",
            after: retry_after,
            detail: format!("HTTP 429: {}", MetaError::parse(body).message),
        },
        408 => Verdict::Retry {
            kind: "timeout",
            after: retry_after,
            detail: "HTTP 408".into(),
        },
        500..=599 => Verdict::Retry {
            kind: "http_5xx",
            after: retry_after,
            detail: format!("HTTP {status}: {}", MetaError::parse(body).message),
        },
        400 | 413 | 422 => {
            let err = MetaError::parse(body);
            if err.is_auth() || err.is_request_level() {
                Verdict::Misconfigured {
                    detail: format!(
                        "HTTP {status} (code {}, subcode {}): {}",
                        err.code, err.subcode, err.message
                    ),
                }
            } else if err.is_rate_limit() {
                Verdict::Retry {
                    kind: "rate_limited",
                    after: retry_after,
                    detail: format!("HTTP {status}: {}", err.message),
                }
            } else if err.is_transient {
                Verdict::Retry {
                    kind: "transient",
                    after: retry_after,
                    detail: format!("HTTP {status}: {}", err.message),
                }
            } else {
                Verdict::Rejected {
                    message: err.message,
                    code: err.code,
                    subcode: err.subcode,
                    index: err.event_index,
                }
            }
        }
        300..=399 => redirected(status, None),
        _ => Verdict::Misconfigured {
            detail: format!("HTTP {status}: {}", MetaError::parse(body).message),
        },
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixel_core::wire::Dpo;

    fn purchase() -> NewEvent {
        NewEvent {
            pixel_id: "123".into(),
            event_name: "Purchase".into(),
            event_id: "eid-1".into(),
            event_id_derived: false,
            event_time: 1_700_000_000,
            received_at_ms: 1_700_000_000_500,
            source_url: "https://shop.example/checkout".into(),
            referrer_url: String::new(),
            fbp: Some("fb.1.1.2".into()),
            fbc: None,
            client_ip: Some("203.0.113.7".into()),
            user_agent: Some("UA/1".into()),
            user_data: vec![("em".into(), "a".repeat(64))],
            custom_data: serde_json::from_value(json!({"value": 12.5, "currency": "EUR"}))
                .unwrap_or_default(),
            dpo: Some(Dpo {
                options: vec!["LDU".into()],
                country: 1,
                state: 1000,
            }),
            relay: true,
            ..NewEvent::default()
        }
    }

    #[test]
    fn maps_an_event_exactly() {
        assert_eq!(
            event_json(&purchase()),
            json!({
                "event_name": "Purchase",
                "event_time": 1_700_000_000,
                "event_id": "eid-1",
                "event_source_url": "https://shop.example/checkout",
                "action_source": "website",
                "user_data": {
                    "em": ["a".repeat(64)],
                    "client_ip_address": "203.0.113.7",
                    "client_user_agent": "UA/1",
                    "fbp": "fb.1.1.2"
                },
                "custom_data": {"value": 12.5, "currency": "EUR"},
                "data_processing_options": ["LDU"],
                "data_processing_options_country": 1,
                "data_processing_options_state": 1000
            })
        );
        let plain = NewEvent {
            event_id_derived: true,
            dpo: Some(Dpo::default()),
            custom_data: Map::new(),
            ..purchase()
        };
        let v = event_json(&plain);
        assert!(v.get("event_id").is_none());
        assert!(v.get("custom_data").is_none());
        assert_eq!(v.get("data_processing_options"), Some(&json!([])));
        assert!(v.get("data_processing_options_country").is_none());
    }

    #[test]
    fn a_server_copy_keeps_its_action_source_and_the_fields_it_passed_through() {
        let e = NewEvent {
            server: Some(Box::new(crate::event::ServerFields {
                action_source: "physical_store".into(),
                test_event_code: Some("TEST9".into()),
                user_data: serde_json::from_value(json!({"lead_id": "77", "fbp": "not this"}))
                    .unwrap_or_default(),
                event: serde_json::from_value(json!({"opt_out": true, "event_name": "not this"}))
                    .unwrap_or_default(),
            })),
            ..purchase()
        };
        let v = event_json(&e);
        assert_eq!(v.get("action_source"), Some(&json!("physical_store")));
        assert_eq!(v.get("opt_out"), Some(&json!(true)));
        assert_eq!(v.get("event_name"), Some(&json!("Purchase")));
        let ud = v.get("user_data").cloned().unwrap_or_default();
        assert_eq!(ud.get("lead_id"), Some(&json!("77")));
        assert_eq!(
            ud.get("fbp"),
            Some(&json!("fb.1.1.2")),
            "the modelled field wins"
        );
        let stored = StoredEvent {
            id: 1,
            event: e,
            relay_status: crate::ports::RelayStatus::Pending,
            relay_attempts: 0,
            relay_error: None,
        };
        assert_eq!(test_event_code(&stored), Some("TEST9"));
    }

    #[test]
    fn appsecret_proof_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            appsecret_proof("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn classifies_answers() {
        assert_eq!(classify(200, None, b"{}"), Verdict::Accepted);
        let bad = br#"{"error":{"message":"Invalid parameter","type":"OAuthException","code":100,"error_subcode":2804008,"error_user_title":"Event timestamp too old","error_user_msg":"The timestamp for this event is too far in the past.","fbtrace_id":"A1"}}"#;
        assert_eq!(
            classify(400, None, bad),
            Verdict::Rejected {
                message: "Invalid parameter: The timestamp for this event is too far in the past."
                    .into(),
                code: 100,
                subcode: 2804008,
                index: None,
            }
        );
        let token = br#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}"#;
        assert!(matches!(
            classify(400, None, token),
            Verdict::Misconfigured { .. }
        ));
        let throttled = br#"{"error":{"message":"Application request limit reached","code":4}}"#;
        assert!(matches!(
            classify(400, None, throttled),
            Verdict::Retry {
                kind: "rate_limited",
                ..
            }
        ));
        assert!(matches!(
            classify(429, Some(Duration::from_secs(3)), b""),
            Verdict::Retry { kind: "rate_limited", after: Some(d), .. } if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            classify(503, None, b"down"),
            Verdict::Retry {
                kind: "http_5xx",
                ..
            }
        ));
        assert!(matches!(
            classify(404, None, b""),
            Verdict::Misconfigured { .. }
        ));
    }

    /// Where Meta names the refused event, in `error_data` (an object or its JSON text) or in its
    /// message; a number that is not a position in `data` names nothing.
    #[test]
    fn a_refusal_that_names_its_event_gives_its_index() {
        let index = |body: &str| match classify(400, None, body.as_bytes()) {
            Verdict::Rejected { index, .. } => index,
            other => panic!("{other:?}"),
        };
        let string_data = r#"{"error":{"message":"Invalid parameter","code":100,"error_subcode":2804003,"error_data":"{\"event_index\":14}"}}"#;
        let object_data = r#"{"error":{"message":"Invalid parameter","code":100,"error_data":{"event_index":3,"message":"x"}}}"#;
        let in_message = r#"{"error":{"message":"(#100) Server Side Api Parameter Error: Unexpected key \"foo\" on param \"$['data'][7]['user_data']\".","code":100}}"#;
        let plain = r#"{"error":{"message":"Invalid parameter","code":100,"error_user_msg":"data[12] has an invalid event_time"}}"#;
        let none = r#"{"error":{"message":"Invalid parameter","code":100,"error_user_msg":"The event has an invalid parameter."}}"#;
        let not_a_number = r#"{"error":{"message":"Invalid parameter: data[x]","code":100,"error_data":{"event_index":-1}}}"#;
        assert_eq!(index(string_data), Some(14));
        assert_eq!(index(object_data), Some(3));
        assert_eq!(index(in_message), Some(7));
        assert_eq!(index(plain), Some(12));
        assert_eq!(index(none), None);
        assert_eq!(index(not_a_number), None);
    }

    #[test]
    fn request_level_code_100_errors_are_misconfiguration_not_a_bad_event() {
        let no_object = br#"{"error":{"message":"Unsupported post request. Object with ID '123' does not exist, cannot be loaded due to missing permissions, or does not support this operation.","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"A"}}"#;
        let proof = br#"{"error":{"message":"Invalid appsecret_proof provided in the API argument","type":"GraphMethodException","code":100,"fbtrace_id":"B"}}"#;
        let token_param = br#"{"error":{"message":"An access token is required to request this resource.","type":"OAuthException","code":104}}"#;
        for body in [&no_object[..], &proof[..], &token_param[..]] {
            assert!(
                matches!(classify(400, None, body), Verdict::Misconfigured { .. }),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let Verdict::Misconfigured { detail } = classify(400, None, no_object) else {
            unreachable!()
        };
        assert!(detail.starts_with("HTTP 400 (code 100, subcode 33): Unsupported post request"));
        // Another code-100 subcode is about an event.
        let event =
            br#"{"error":{"message":"Invalid parameter","code":100,"error_subcode":2804003}}"#;
        assert!(matches!(
            classify(400, None, event),
            Verdict::Rejected {
                code: 100,
                subcode: 2804003,
                ..
            }
        ));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
