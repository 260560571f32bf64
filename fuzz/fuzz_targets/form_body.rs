//! The collector's `application/x-www-form-urlencoded` and `text/plain` `/tr` bodies: its entry
//! point `collector::http::beacon::parse_body` for both types, and the query decoder beneath it
//! (`pixel_core::wire::query_pairs`, through `parse_query`), then the beacon steps.
//!
//! Checks: no input panics; the decoded pairs, percent-encoded again, decode to the same pairs;
//! the beacon round-trips and its stored form holds only hashed user data.
#![no_main]

use bytes::Bytes;
use collector::event::MAX_PARAMS;
use collector::http::beacon::parse_body;
use libfuzzer_sys::fuzz_target;
use pixel_core::wire::parse_query;

fuzz_target!(|data: &[u8]| {
    for content_type in ["application/x-www-form-urlencoded", "text/plain;charset=UTF-8"] {
        if let Ok(pairs) = parse_body(content_type, Bytes::copy_from_slice(data)) {
            assert!(pairs.len() <= MAX_PARAMS, "{} pairs", pairs.len());
            pixel_fuzz::accept(pairs);
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pairs) = parse_query(text.trim()) else {
        return;
    };
    let again = pixel_fuzz::encode_pairs(&pairs);
    assert_eq!(
        parse_query(&again).as_ref(),
        Ok(&pairs),
        "re-encoded as {again:?}"
    );
    pixel_fuzz::accept(pairs);
});
