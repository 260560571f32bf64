//! The stored event: what a decoded [`Beacon`] becomes once the request around it is known.
//!
//! Here plain identifiers are hashed (core's normaliser), custom data values are turned back into
//! JSON values, the event time is settled and an event ID is derived for old pixels that send none.

use pixel_core::matching::{self, sha256_hex, DropReason, Left};
use pixel_core::wire::{Beacon, Dpo};
use serde_json::{Map, Value};

/// Longest accepted event name, event ID, `fbp`/`fbc` value (characters).
pub const MAX_EVENT_NAME: usize = 100;
pub const MAX_EVENT_ID: usize = 200;
/// `fbp`/`fbc`: core's limit, the one the collector's `Set-Cookie` uses too.
pub const MAX_COOKIE_VALUE: usize = pixel_core::cookie::MAX_VALUE_LEN;
/// Longest user agent stored; longer ones are cut.
pub const MAX_USER_AGENT: usize = 512;
/// Most parameters in one beacon, query string and body together (the pixel sends about 30; a
/// full advanced-matching Purchase with contents under 100). More is refused with 413 before the
/// beacon is decoded.
pub const MAX_PARAMS: usize = 500;

/// A beacon (or a server event) ready to be stored; read back, it is the `event` of a
/// [`StoredEvent`](crate::ports::StoredEvent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewEvent {
    pub pixel_id: String,
    pub event_name: String,
    pub event_id: String,
    /// True when the beacon had no `eid` and [`derive_event_id`] made one.
    pub event_id_derived: bool,
    /// Unix seconds.
    pub event_time: i64,
    /// Unix milliseconds when the collector received it.
    pub received_at_ms: i64,
    pub source_url: String,
    pub referrer_url: String,
    pub fbp: Option<String>,
    pub fbc: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// Canonical key → 64-hex SHA-256, in wire order of arrival.
    pub user_data: Vec<(String, String)>,
    /// Custom data as JSON values.
    pub custom_data: Map<String, Value>,
    pub dpo: Option<Dpo>,
    /// Relay to the Conversions API (the pixel has an access token).
    pub relay: bool,
    /// Which copies the event is made of: a browser's beacon, the store's server, or both.
    pub origin: Origin,
    /// Not relayed before this time (Unix ms): an event of the held set waiting for its other
    /// copy. `None`: relayed as soon as the relay gets to it.
    pub hold_until_ms: Option<i64>,
    /// What only a server copy carries (`None` for a beacon).
    pub server: Option<Box<ServerFields>>,
}

/// Which copies an event is made of, as bits: [`Origin::BROWSER`] (a beacon, unverified),
/// [`Origin::SERVER`] (sent with the pixel's credentials: verified) and [`Origin::LATE`] (a copy
/// arrived after the event had left for the Conversions API, and was not sent: Meta keeps the
/// first copy of an event ID it gets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Origin(pub u8);

impl Origin {
    pub const BROWSER: Origin = Origin(1);
    pub const SERVER: Origin = Origin(2);
    pub const LATE: Origin = Origin(4);

    pub fn has(self, other: Origin) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, other: Origin) -> Origin {
        Origin(self.0 | other.0)
    }

    /// Only which copies it is made of (browser, server), without [`Origin::LATE`].
    pub fn copies(self) -> Origin {
        Origin(self.0 & (Origin::BROWSER.0 | Origin::SERVER.0))
    }

    /// A server copy is part of it: it came with the pixel's credentials.
    pub fn verified(self) -> bool {
        self.has(Origin::SERVER)
    }

    /// `browser`, `server` or `both`.
    pub fn as_str(self) -> &'static str {
        match (self.has(Origin::BROWSER), self.has(Origin::SERVER)) {
            (true, true) => "both",
            (false, true) => "server",
            _ => "browser",
        }
    }

    /// The stored integer back; unknown bits are dropped, no copy at all reads as a browser's.
    pub fn from_bits(bits: i64) -> Origin {
        let bits = u8::try_from(bits & 7).unwrap_or(1);
        if bits & 3 == 0 {
            Origin(bits | 1)
        } else {
            Origin(bits)
        }
    }
}

impl Default for Origin {
    fn default() -> Self {
        Origin::BROWSER
    }
}

/// What a server copy carries beyond a beacon's fields, kept to be relayed as it came.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerFields {
    /// Meta's `action_source` (`website`, `physical_store`, `system_generated`, ...).
    pub action_source: String,
    /// The request's `test_event_code`: the event is relayed with it.
    pub test_event_code: Option<String>,
    /// `user_data` fields other than the hashed match keys and `fbp`, `fbc`, `client_ip_address`,
    /// `client_user_agent` (Meta's own IDs: `subscription_id`, `lead_id`, `fb_login_id`,
    /// `anon_id`, `madid`, `ctwa_clid`, `page_id`, `page_scoped_user_id`, `ig_account_id`,
    /// `ig_sid`), as they came.
    pub user_data: Map<String, Value>,
    /// Top-level event fields the collector does not model (`opt_out`, `app_data`,
    /// `original_event_data`, `messaging_channel`, ...), as they came.
    pub event: Map<String, Value>,
}

/// A `ud[...]` entry left out of the stored event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DroppedField {
    /// Canonical key, or `"unknown"` for a key that is no advanced-matching field.
    pub field: &'static str,
    pub reason: &'static str,
}

/// Where a request came from.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub received_at_ms: i64,
}

/// Why a decoded beacon is still refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidBeacon {
    EventNameTooLong,
    EventIdTooLong,
}

impl InvalidBeacon {
    pub fn message(self) -> &'static str {
        match self {
            InvalidBeacon::EventNameTooLong => "event name (ev) is longer than 100 characters",
            InvalidBeacon::EventIdTooLong => "event id (eid) is longer than 200 characters",
        }
    }
}

impl NewEvent {
    /// Build the stored form of `beacon`. Returns the event and the user-data fields dropped.
    pub fn from_beacon(
        mut beacon: Beacon,
        ctx: RequestContext,
        relay: bool,
    ) -> Result<(NewEvent, Vec<DroppedField>), InvalidBeacon> {
        if beacon.ev.chars().count() > MAX_EVENT_NAME {
            return Err(InvalidBeacon::EventNameTooLong);
        }
        let eid = beacon
            .eid
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        if eid.is_some_and(|e| e.chars().count() > MAX_EVENT_ID) {
            return Err(InvalidBeacon::EventIdTooLong);
        }
        let (user_data, dropped) = hash_user_data(&beacon.ud, ctx.received_at_ms);
        let event_time = event_time_secs(beacon.ts, ctx.received_at_ms);
        let (event_id, event_id_derived) = if eid.is_some() {
            // The beacon's own string, trimmed (not empty: checked above).
            (beacon.eid.take().map(trim_owned).unwrap_or_default(), false)
        } else {
            (derive_event_id(&beacon, ctx.received_at_ms), true)
        };
        let event = NewEvent {
            custom_data: decode_custom_data_owned(beacon.cd),
            fbp: cookie_value(beacon.fbp),
            fbc: cookie_value(beacon.fbc),
            pixel_id: beacon.id,
            event_name: beacon.ev,
            event_id,
            event_id_derived,
            event_time,
            received_at_ms: ctx.received_at_ms,
            source_url: beacon.dl,
            referrer_url: beacon.rl,
            client_ip: ctx.client_ip,
            user_agent: ctx.user_agent.map(|ua| truncate_chars(ua, MAX_USER_AGENT)),
            user_data,
            dpo: beacon.dpo,
            relay,
            origin: Origin::BROWSER,
            hold_until_ms: None,
            server: None,
        };
        Ok((event, dropped))
    }
}

impl NewEvent {
    /// About how many bytes of memory the event holds: its strings plus a fixed cost per custom
    /// data value. What the ingest queue's byte budget charges for it.
    pub fn approx_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        let strings = self.pixel_id.len()
            + self.event_name.len()
            + self.event_id.len()
            + self.source_url.len()
            + self.referrer_url.len()
            + opt(&self.fbp)
            + opt(&self.fbc)
            + opt(&self.client_ip)
            + opt(&self.user_agent);
        let user_data: usize = self
            .user_data
            .iter()
            .map(|(k, v)| k.len() + v.len() + 48)
            .sum();
        let custom_data: usize = self
            .custom_data
            .iter()
            .map(|(k, v)| k.len() + 48 + value_bytes(v))
            .sum();
        let server = self.server.as_ref().map_or(0, |s| {
            std::mem::size_of::<ServerFields>()
                + s.action_source.len()
                + s.test_event_code.as_ref().map_or(0, String::len)
                + s.user_data
                    .iter()
                    .chain(&s.event)
                    .map(|(k, v)| k.len() + 48 + value_bytes(v))
                    .sum::<usize>()
        });
        std::mem::size_of::<NewEvent>() + strings + user_data + custom_data + server
    }
}

/// The heap a JSON value holds, about (each node counted at the size of a `Value`).
fn value_bytes(v: &Value) -> usize {
    let node = std::mem::size_of::<Value>();
    match v {
        Value::String(s) => return node + s.len(),
        Value::Array(_) | Value::Object(_) => {}
        _ => return node,
    }
    let mut total = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        total += node;
        match v {
            Value::String(s) => total += s.len(),
            Value::Array(a) => stack.extend(a.iter()),
            Value::Object(o) => {
                for (k, v) in o {
                    total += k.len() + node;
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
    total
}

fn cookie_value(v: Option<String>) -> Option<String> {
    v.map(trim_owned)
        .filter(|s| !s.is_empty() && s.len() <= MAX_COOKIE_VALUE)
}

/// `s.trim()`, reusing `s` when there is nothing to trim (the usual case).
fn trim_owned(s: String) -> String {
    let t = s.trim();
    if t.len() == s.len() {
        s
    } else {
        t.to_owned()
    }
}

/// The first `max` characters of `s`, reusing `s` when it is no longer.
fn truncate_chars(mut s: String, max: usize) -> String {
    // No more bytes than `max` means no more characters either.
    if s.len() > max {
        if let Some((at, _)) = s.char_indices().nth(max) {
            s.truncate(at);
        }
    }
    s
}

/// The beacon's `ts` in seconds; a missing (`0`) or future (over a minute ahead) time becomes the
/// time of receipt. Past times are kept: the relay marks events older than 7 days expired.
pub fn event_time_secs(ts_ms: u64, received_at_ms: i64) -> i64 {
    let ts = i64::try_from(ts_ms).unwrap_or(i64::MAX);
    if ts <= 0 || ts > received_at_ms.saturating_add(60_000) {
        received_at_ms / 1000
    } else {
        ts / 1000
    }
}

/// An event ID for a beacon without `eid` (old pixels, `<noscript>` images): the SHA-256 of
/// pixel, event name, `fbp`, `ts`, event counter and page URL, so a retried copy of the same
/// beacon deduplicates. A beacon without `ts` also mixes in the time of receipt, so distinct
/// `<noscript>` hits are not merged. Prefixed `d-` so it is never mistaken for a page's own ID.
pub fn derive_event_id(b: &Beacon, received_at_ms: i64) -> String {
    let mut key = String::new();
    for part in [
        b.id.as_str(),
        b.ev.as_str(),
        b.fbp.as_deref().unwrap_or(""),
        b.dl.as_str(),
    ] {
        key.push_str(part);
        key.push('\n');
    }
    key.push_str(&b.ts.to_string());
    key.push('\n');
    key.push_str(&b.ec.to_string());
    if b.ts == 0 {
        key.push('\n');
        key.push_str(&received_at_ms.to_string());
    }
    let hash = sha256_hex(&key);
    format!("d-{}", hash.get(..32).unwrap_or(&hash))
}

/// Hash the `ud[...]` values with core's normaliser, the one the pixel uses
/// ([`matching::hash_user_data`]): a value that already is a hash (`<64 hex>`, or with the
/// `.<appendix>` Meta's Parameter Builder writes) passes through with its hex lowercased; unknown
/// keys and values the normaliser refuses are dropped (and reported). When a field comes more
/// than once (`ud[em]` and `ud[email]`), its last accepted value wins (SPEC §6). A date of birth
/// is judged by the year of `received_at_ms`.
pub fn hash_user_data(
    ud: &[(String, String)],
    received_at_ms: i64,
) -> (Vec<(String, String)>, Vec<DroppedField>) {
    let pairs: Vec<(&str, Option<&str>)> = ud
        .iter()
        .map(|(k, v)| (k.as_str(), Some(v.as_str())))
        .collect();
    let cx = matching::Context {
        this_year: matching::year_of(u64::try_from(received_at_ms).unwrap_or(0)),
        lower: &matching::std_lower,
    };
    let (hashed, left) = matching::hash_user_data(&pairs, &cx);
    let dropped = left
        .into_iter()
        .map(|l| match l {
            Left::UnknownKey(_) => DroppedField {
                field: "unknown",
                reason: "unknown_key",
            },
            Left::Dropped(field, reason) => DroppedField {
                field: field.wire_key(),
                // Core's reasons grow with its rules; the metric keeps two stable labels.
                reason: if reason == DropReason::Empty {
                    "empty"
                } else {
                    "invalid"
                },
            },
        })
        .collect();
    let user_data = hashed
        .into_iter()
        .map(|(field, hash)| (field.wire_key().to_owned(), hash))
        .collect();
    (user_data, dropped)
}

/// Custom-data keys whose values are numbers in the Conversions API.
const NUMERIC_KEYS: [&str; 3] = ["value", "predicted_ltv", "num_items"];

/// Turn the wire's printed values back into JSON: JSON arrays and objects are parsed, the numeric
/// keys become numbers when they look like one, everything else stays a string.
pub fn decode_custom_data(cd: &[(String, String)]) -> Map<String, Value> {
    decode_custom_data_owned(cd.to_vec())
}

/// [`decode_custom_data`], keeping the beacon's strings (no copy of keys and string values).
fn decode_custom_data_owned(cd: Vec<(String, String)>) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, raw) in cd {
        let value = decode_custom_value(&key, raw);
        out.insert(key, value);
    }
    out
}

fn decode_custom_value(key: &str, raw: String) -> Value {
    let t = raw.trim_start();
    if t.starts_with('[') || t.starts_with('{') {
        if let Ok(v @ (Value::Array(_) | Value::Object(_))) = serde_json::from_str::<Value>(&raw) {
            return v;
        }
    }
    if NUMERIC_KEYS.contains(&key) {
        if let Some(n) = js_number(&raw) {
            return Value::Number(n);
        }
    }
    Value::String(raw)
}

/// A number as JavaScript prints it (`12`, `-3.5`, `1e+21`); not `NaN`, `Infinity` or hex.
fn js_number(s: &str) -> Option<serde_json::Number> {
    let s = s.trim();
    let first = s.bytes().next()?;
    if !(first.is_ascii_digit() || first == b'-' || first == b'.') {
        return None;
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(i.into());
    }
    let f = s.parse::<f64>().ok().filter(|f| f.is_finite())?;
    serde_json::Number::from_f64(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pixel_core::matching::{is_sha256_hex, Field};
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn user_agent_is_cut_at_characters_and_cookies_are_trimmed() {
        let ua = "é".repeat(600);
        let cut = truncate_chars(ua.clone(), MAX_USER_AGENT);
        assert_eq!(cut, ua.chars().take(MAX_USER_AGENT).collect::<String>());
        let short = "Mozilla/5.0 é".to_owned();
        assert_eq!(truncate_chars(short.clone(), MAX_USER_AGENT), short);
        let exact = "a".repeat(MAX_USER_AGENT);
        assert_eq!(truncate_chars(exact.clone(), MAX_USER_AGENT), exact);
        assert_eq!(
            cookie_value(Some(" fb.1.2.3 ".into())).as_deref(),
            Some("fb.1.2.3")
        );
        assert_eq!(
            cookie_value(Some("fb.1.2.3".into())).as_deref(),
            Some("fb.1.2.3")
        );
        assert_eq!(cookie_value(Some("  ".into())), None);
    }

    #[test]
    fn custom_data_values_become_json_again() {
        let cd = pairs(&[
            ("value", "12.5"),
            ("num_items", "3"),
            ("predicted_ltv", "1e+21"),
            ("currency", "USD"),
            ("content_ids", r#"["sku1","sku2"]"#),
            ("contents", r#"[{"id":"sku1","quantity":2,"item_price":5}]"#),
            ("order_id", "123"),
            ("value_label", "12"),
            ("broken", "[not json"),
        ]);
        assert_eq!(
            Value::Object(decode_custom_data(&cd)),
            json!({
                "value": 12.5, "num_items": 3, "predicted_ltv": 1e21, "currency": "USD",
                "content_ids": ["sku1", "sku2"],
                "contents": [{"id": "sku1", "quantity": 2, "item_price": 5}],
                "order_id": "123", "value_label": "12", "broken": "[not json"
            })
        );
        let odd = decode_custom_data(&pairs(&[("value", "NaN"), ("num_items", "0x10")]));
        assert_eq!(
            Value::Object(odd),
            json!({"value": "NaN", "num_items": "0x10"})
        );
    }

    /// 2023-11-14: a time of receipt for the tests.
    const NOW: i64 = 1_700_000_000_000;

    fn hash_field(field: Field, raw: &str) -> Result<String, DropReason> {
        let cx = matching::Context {
            this_year: 2023,
            lower: &matching::std_lower,
        };
        matching::hash_field(field, raw, &cx)
    }

    #[test]
    fn hashes_with_an_appendix_are_relayed_unchanged() {
        let hex = sha256_hex("jane@example.com");
        let (ud, dropped) = hash_user_data(
            &pairs(&[
                ("em", &format!("{}.AQ", hex.to_uppercase())),
                ("external_id", &format!("{hex}.Ab-_9xYz")),
            ]),
            NOW,
        );
        assert_eq!(
            ud,
            vec![
                ("em".to_owned(), format!("{hex}.AQ")),
                ("external_id".to_owned(), format!("{hex}.Ab-_9xYz")),
            ]
        );
        assert!(dropped.is_empty());
    }

    #[test]
    fn user_data_is_hashed_and_prehashed_passes_lowercased() {
        let pre = "A".repeat(64);
        let (ud, dropped) = hash_user_data(
            &pairs(&[
                ("em", &pre),
                ("email", "other@example.com"),
                ("ph", "+1 650 555 1212"),
                ("shoe_size", "44"),
                ("fn", "  "),
            ]),
            NOW,
        );
        // `email` is `em` again, later: it wins, as in the pixel.
        let other = hash_field(Field::Em, "other@example.com").unwrap_or_default();
        assert_eq!(ud.first(), Some(&("em".to_owned(), other)));
        assert_eq!(ud.len(), 2, "{ud:?}");
        assert!(ud
            .iter()
            .all(|(_, h)| is_sha256_hex(h) && !h.contains("650")));
        assert!(dropped.contains(&DroppedField {
            field: "unknown",
            reason: "unknown_key"
        }));
        assert!(dropped.contains(&DroppedField {
            field: "fn",
            reason: "empty"
        }));
    }

    #[test]
    fn a_repeated_user_data_field_keeps_its_last_valid_value_like_the_pixel() {
        let hash = |f, v| hash_field(f, v).unwrap_or_default();
        let pre = "B".repeat(64);
        let (ud, _) = hash_user_data(
            &pairs(&[
                ("em", "first@example.com"),
                ("ph", "+1 650 555 1212"),
                ("email", "second@example.com"),
                ("phone", &pre),
                // A later value the normaliser refuses does not erase the earlier one.
                ("em", "   "),
            ]),
            NOW,
        );
        assert_eq!(
            ud,
            vec![
                ("em".to_owned(), hash(Field::Em, "second@example.com")),
                ("ph".to_owned(), "b".repeat(64)),
            ]
        );
    }

    #[test]
    fn event_time_rules() {
        let now = 1_700_000_000_000;
        assert_eq!(event_time_secs(0, now), 1_700_000_000);
        assert_eq!(event_time_secs(1_699_999_000_000, now), 1_699_999_000);
        assert_eq!(event_time_secs(1_700_000_030_000, now), 1_700_000_030);
        assert_eq!(event_time_secs(1_800_000_000_000, now), 1_700_000_000);
    }

    #[test]
    fn derived_event_id_is_stable_per_beacon() {
        let b = Beacon {
            id: "1".into(),
            ev: "PageView".into(),
            ts: 5,
            fbp: Some("fb.1.2.3".into()),
            ..Beacon::default()
        };
        assert_eq!(derive_event_id(&b, 1), derive_event_id(&b, 2));
        let other = Beacon { ts: 6, ..b.clone() };
        assert_ne!(derive_event_id(&b, 1), derive_event_id(&other, 1));
        let noscript = Beacon { ts: 0, ..b };
        assert_ne!(derive_event_id(&noscript, 1), derive_event_id(&noscript, 2));
    }
}
