//! The server-events request reader: `collector::http::server_events::read_params` (the body in
//! each encoding, and the query string), then `server_events::parse_events` (Meta's rules, user
//! data hashed).
//!
//! Input: the first byte picks the `Content-Type`, the rest is the body. Checks: no input panics;
//! a refusal is a 4xx with a message; an accepted request holds 1 to 1,000 events that keep every
//! rule (name, ID, time window, action source, website fields, lengths, an IP address), whose
//! match keys are all hashes (64 hex, with an optional appendix) under canonical keys, whose
//! passed-through user data holds only Meta's IDs and hashes; and reading it again gives the
//! same events (derived IDs are stable).
#![no_main]

use std::net::IpAddr;

use bytes::Bytes;
use collector::event::{Origin, MAX_COOKIE_VALUE, MAX_EVENT_ID, MAX_EVENT_NAME, MAX_USER_AGENT};
use collector::http::server_events::read_params;
use collector::server_events::{
    parse_events, Context, ACTION_SOURCES, HASHED_ONLY, MAX_AGE_SECS, MAX_EVENTS,
    MAX_SKEW_SECS, PASSED,
};
use libfuzzer_sys::fuzz_target;
use pixel_core::matching::{is_hashed, Field};

const NOW_MS: i64 = 1_700_000_000_000;
const TYPES: [&str; 6] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=b",
    "text/plain",
    "",
    "application/json; charset=utf-8",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let content_type = TYPES[usize::from(pick) % TYPES.len()];
    let query = if pick >= 128 { "access_token=t&test_event_code=T" } else { "" };
    let read = || {
        let params = read_params(content_type, Bytes::copy_from_slice(body), query)?;
        let cx = Context {
            pixel_id: "1234567890",
            relay: true,
            received_at_ms: NOW_MS,
            test_event_code: params.test_event_code.as_deref(),
        };
        parse_events(params.data.clone(), &cx)
    };
    let parsed = match read() {
        Ok(parsed) => parsed,
        Err(e) => {
            assert!(e.kind.status().is_client_error(), "{e:?}");
            assert!(!e.message.is_empty());
            return;
        }
    };
    let n = parsed.events.len();
    assert!((1..=MAX_EVENTS).contains(&n), "{n} events");
    let now = NOW_MS / 1000;
    for e in &parsed.events {
        assert_eq!(e.origin, Origin::SERVER);
        assert!(!e.event_name.trim().is_empty() && e.event_name.chars().count() <= MAX_EVENT_NAME);
        assert!(!e.event_id.is_empty() && e.event_id.chars().count() <= MAX_EVENT_ID);
        if e.event_id_derived {
            assert!(e.event_id.starts_with("s-") && e.event_id.len() == 34, "{}", e.event_id);
        }
        assert!((now - MAX_AGE_SECS..=now + MAX_SKEW_SECS).contains(&e.event_time));
        let server = e.server.as_ref().expect("a server event has its server fields");
        assert!(ACTION_SOURCES.contains(&server.action_source.as_str()));
        if server.action_source == "website" {
            assert!(!e.source_url.is_empty() && e.user_agent.is_some());
        }
        assert!(e.user_agent.as_ref().is_none_or(|u| u.chars().count() <= MAX_USER_AGENT));
        for c in [&e.fbp, &e.fbc].into_iter().flatten() {
            assert!(!c.is_empty() && c.chars().count() <= MAX_COOKIE_VALUE);
        }
        assert!(e.client_ip.as_ref().is_none_or(|ip| ip.parse::<IpAddr>().is_ok()));
        let mut keys = Vec::new();
        for (key, hash) in &e.user_data {
            assert!(Field::ALL.iter().any(|f| f.wire_key() == key), "key {key}");
            assert!(is_hashed(hash), "{key} stored as {hash:?}");
            assert_eq!(hash.get(..64), Some(hash.get(..64).unwrap_or("").to_ascii_lowercase().as_str()));
            keys.push(key.as_str());
        }
        let before = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), before, "one hash per key");
        for (key, value) in &server.user_data {
            if HASHED_ONLY.contains(&key.as_str()) {
                assert!(value.as_str().is_some_and(is_hashed), "{key}: {value}");
            } else {
                assert!(PASSED.contains(&key.as_str()), "{key} passed through");
            }
        }
    }
    let again = read().expect("the same request reads the same twice");
    assert_eq!(again.events, parsed.events);
});
