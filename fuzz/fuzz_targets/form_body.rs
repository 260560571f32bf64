//! The collector's `application/x-www-form-urlencoded` (and one-line `text/plain`) `/tr` body:
//! what `collector::http::beacon::body_pairs` does with it, which is
//! `pixel_core::wire::parse_query(text.trim())` on the UTF-8 body, then the beacon steps.
//!
//! Checks: no input panics; the decoded pairs, percent-encoded again, decode to the same pairs;
//! the beacon round-trips and its stored form holds only hashed user data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixel_core::wire::parse_query;

fuzz_target!(|data: &[u8]| {
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
