//! An event's `user_data`, as Meta reads it, turned into what the collector stores:
//!
//! - the match keys `em, ph, fn, ln, ge, db, ct, st, zp, country, external_id`: a string or an
//!   array of strings (a number is read as its digits: `ph`, `zp`), each a SHA-256 hash (64 hex,
//!   passed through lowercased) or plain (normalised and hashed by core's normaliser, the
//!   pixel's own). The first value of an array that the normaliser accepts is kept: the stored
//!   event holds one hash per key. Values it refuses are dropped and counted, as on beacons;
//! - `fbp`, `fbc` (at most [`MAX_COOKIE_VALUE`] characters), `client_ip_address` (must be an IP
//!   address), `client_user_agent` (cut at [`MAX_USER_AGENT`] characters, like a beacon's);
//! - Meta's own IDs ([`PASSED`]), kept as they came for the relay;
//! - `f5first, f5last, fi, dobd, dobm, doby`: kept only when already hashed (the collector has
//!   no normaliser for them, and nothing plain is stored);
//! - any other key is dropped (and counted): Meta ignores unknown `user_data` keys too (an
//!   `email` key instead of `em` is accepted and matches nothing).
//!
//! Nothing plain is stored, logged or quoted in an error.

use std::net::IpAddr;

use pixel_core::matching::{is_hashed, Field};
use serde_json::{Map, Value};

use super::answer::ApiError;
use crate::event::{hash_user_data, DroppedField, MAX_COOKIE_VALUE, MAX_USER_AGENT};

/// `user_data` keys passed through to the relay as they came: Meta's IDs, not personal data
/// Meta asks to hash.
pub const PASSED: [&str; 11] = [
    "subscription_id",
    "lead_id",
    "fb_login_id",
    "anon_id",
    "madid",
    "ctwa_clid",
    "page_id",
    "page_scoped_user_id",
    "ig_account_id",
    "ig_sid",
    "app_user_id",
];

/// `user_data` keys Meta takes hashed that core has no normaliser for: kept when hashed.
pub const HASHED_ONLY: [&str; 6] = ["f5first", "f5last", "fi", "dobd", "dobm", "doby"];

/// What the stored event takes from `user_data`.
#[derive(Debug, Default, PartialEq)]
pub struct UserData {
    /// Canonical key → hash, in [`Field::ALL`] order.
    pub hashed: Vec<(String, String)>,
    pub fbp: Option<String>,
    pub fbc: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// For the relay, as they came ([`PASSED`], hashed [`HASHED_ONLY`]).
    pub passed: Map<String, Value>,
    pub dropped: Vec<DroppedField>,
}

/// Read the `user_data` object of the event at `event` (`data[3]`).
pub fn read(
    object: Map<String, Value>,
    event: &str,
    received_at_ms: i64,
) -> Result<UserData, ApiError> {
    let mut out = UserData::default();
    // Error paths are written only for an error: this runs for every key of every event.
    let at = |key: &str| format!("{event}.user_data.{key}");
    for (key, value) in object {
        if value.is_null() {
            continue;
        }
        if let Some(field) = Field::ALL.into_iter().find(|f| f.wire_key() == key) {
            out.match_key(field, value, event, received_at_ms)?;
            continue;
        }
        match key.as_str() {
            "fbp" | "fbc" => {
                let v = text(value).ok_or_else(|| not_text(&at(&key)))?;
                if v.chars().count() > MAX_COOKIE_VALUE {
                    return Err(ApiError::param(
                        &at(&key),
                        &format!("longer than {MAX_COOKIE_VALUE} characters"),
                    ));
                }
                if !v.is_empty() {
                    *(if key == "fbp" {
                        &mut out.fbp
                    } else {
                        &mut out.fbc
                    }) = Some(v);
                }
            }
            "client_ip_address" => {
                let v = text(value).ok_or_else(|| not_text(&at(&key)))?;
                if !v.is_empty() {
                    let ip: IpAddr = v
                        .parse()
                        .map_err(|_| ApiError::param(&at(&key), "not an IPv4 or IPv6 address"))?;
                    out.client_ip = Some(ip.to_canonical().to_string());
                }
            }
            "client_user_agent" => {
                let v = text(value).ok_or_else(|| not_text(&at(&key)))?;
                if !v.is_empty() {
                    out.user_agent = Some(match v.char_indices().nth(MAX_USER_AGENT) {
                        Some((cut, _)) => v.get(..cut).unwrap_or_default().to_owned(),
                        None => v,
                    });
                }
            }
            k if PASSED.contains(&k) => {
                out.passed.insert(key, value);
            }
            k if HASHED_ONLY.contains(&k) => out.hashed_only(key, value),
            _ => out.dropped.push(DroppedField {
                field: "unknown",
                reason: "unknown_key",
            }),
        }
    }
    Ok(out)
}

impl UserData {
    /// A match key of the event at `event`: the first of its values the normaliser accepts.
    fn match_key(
        &mut self,
        field: Field,
        value: Value,
        event: &str,
        received_at_ms: i64,
    ) -> Result<(), ApiError> {
        let values = match value {
            Value::Array(list) => list,
            one => vec![one],
        };
        let key = field.wire_key();
        let mut kept = false;
        for (n, v) in values.into_iter().enumerate() {
            let raw = match v {
                Value::Null => continue,
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                _ => {
                    return Err(ApiError::param(
                        &format!("{event}.user_data.{}[{n}]", field.wire_key()),
                        "must be a string (a SHA-256 hash, or the plain value to hash)",
                    ))
                }
            };
            if kept {
                self.dropped.push(DroppedField {
                    field: key,
                    reason: "extra_value",
                });
                continue;
            }
            let (mut hashed, dropped) = hash_user_data(&[(key.to_owned(), raw)], received_at_ms);
            self.dropped.extend(dropped);
            if let Some(pair) = hashed.pop() {
                self.hashed.push(pair);
                kept = true;
            }
        }
        Ok(())
    }

    /// `f5first` and the like: kept when a hash (first of an array), else dropped.
    fn hashed_only(&mut self, key: String, value: Value) {
        let first = match &value {
            Value::Array(list) => list.first(),
            one => Some(one),
        };
        match first.and_then(Value::as_str).map(str::trim) {
            Some(h) if is_hashed(h) => {
                let mut h = h.to_owned();
                if let Some(hex) = h.get_mut(..64) {
                    hex.make_ascii_lowercase();
                }
                self.passed.insert(key, Value::String(h));
            }
            _ => self.dropped.push(DroppedField {
                field: "unknown",
                reason: "not_hashed",
            }),
        }
    }
}

/// A string value, trimmed; `None` for another type.
fn text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => {
            let t = s.trim();
            Some(if t.len() == s.len() { s } else { t.to_owned() })
        }
        _ => None,
    }
}

fn not_text(path: &str) -> ApiError {
    ApiError::param(path, "must be a string")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixel_core::matching::sha256_hex;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000_000;

    fn read_json(v: Value) -> Result<UserData, ApiError> {
        match v {
            Value::Object(o) => read(o, "data[0]", NOW),
            _ => unreachable!(),
        }
    }

    #[test]
    fn plain_values_are_hashed_and_hashes_pass_lowercased() {
        let hash = sha256_hex("jane@example.com");
        let ud = read_json(json!({
            "em": "  Jane@Example.com ",
            "ph": 16505551212u64,
            "external_id": [hash.to_uppercase()],
            "country": ["  ", "us"],
        }))
        .unwrap_or_default();
        let get = |k: &str| {
            ud.hashed
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("em"), Some(hash.clone()));
        assert_eq!(get("ph"), Some(sha256_hex("16505551212")));
        assert_eq!(get("external_id"), Some(hash));
        assert_eq!(get("country"), Some(sha256_hex("us")), "first valid value");
        assert!(ud
            .hashed
            .iter()
            .all(|(_, h)| is_hashed(h) && !h.contains("jane")));
    }

    #[test]
    fn an_array_keeps_its_first_valid_value() {
        let ud = read_json(json!({"em": [null, "not an email", "a@b.co", "c@d.co"]}))
            .unwrap_or_default();
        assert_eq!(ud.hashed, vec![("em".to_owned(), sha256_hex("a@b.co"))]);
        let reasons: Vec<_> = ud.dropped.iter().map(|d| d.reason).collect();
        assert_eq!(reasons, vec!["invalid", "extra_value"]);
    }

    #[test]
    fn browser_fields_and_meta_ids() {
        let ud = read_json(json!({
            "fbp": " fb.1.1700000000000.123 ",
            "fbc": "fb.1.1700000000000.IwAR",
            "client_ip_address": "::ffff:192.0.2.10",
            "client_user_agent": "é".repeat(600),
            "lead_id": 123456789,
            "madid": "abc",
            "f5first": "A".repeat(64),
            "f5last": "smith",
            "email": "jane@example.com",
        }))
        .unwrap_or_default();
        assert_eq!(ud.fbp.as_deref(), Some("fb.1.1700000000000.123"));
        assert_eq!(ud.client_ip.as_deref(), Some("192.0.2.10"));
        assert_eq!(
            ud.user_agent.map(|u| u.chars().count()),
            Some(MAX_USER_AGENT)
        );
        assert_eq!(
            Value::Object(ud.passed),
            json!({"lead_id": 123456789, "madid": "abc", "f5first": "a".repeat(64)})
        );
        let reasons: Vec<_> = ud.dropped.iter().map(|d| d.reason).collect();
        assert!(reasons.contains(&"unknown_key") && reasons.contains(&"not_hashed"));
        assert!(ud.hashed.is_empty(), "`email` is no key of Meta's");
    }

    #[test]
    fn wrong_types_and_values_name_the_field() {
        for (ud, path) in [
            (json!({"em": {"a": 1}}), "data[0].user_data.em[0]"),
            (json!({"ph": ["1", true]}), "data[0].user_data.ph[1]"),
            (json!({"fbp": 12}), "data[0].user_data.fbp"),
            (
                json!({"fbc": "x".repeat(MAX_COOKIE_VALUE + 1)}),
                "data[0].user_data.fbc",
            ),
            (
                json!({"client_ip_address": "300.1.1.1"}),
                "data[0].user_data.client_ip_address",
            ),
            (
                json!({"client_user_agent": ["a"]}),
                "data[0].user_data.client_user_agent",
            ),
        ] {
            let e = read_json(ud.clone())
                .err()
                .map(|e| e.message)
                .unwrap_or_default();
            assert!(e.starts_with(&format!("{path}: ")), "{ud}: {e}");
        }
    }
}
