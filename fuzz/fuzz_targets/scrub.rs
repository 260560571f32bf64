//! The page-URL scrubbing (`pixel_core::scrub::scrub`), which the collector runs on every event's
//! page URL and referrer, server events' included (any text a client sends).
//!
//! Checks: no input panics; the result is never longer than the input, keeps its head (up to the
//! first `?`, `#` or `&`), and scrubbing it again changes nothing; with every parameter dropped
//! (limited mode) only the head is left.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixel_core::scrub::scrub;

fuzz_target!(|data: &[u8]| {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    let once = scrub(url, false);
    assert!(once.len() <= url.len());
    let head = url.find(['?', '#', '&']).unwrap_or(url.len());
    assert!(once.starts_with(url.get(..head).unwrap_or_default()));
    assert_eq!(scrub(&once, false), once, "not idempotent on {url:?}");
    assert_eq!(scrub(url, true), url.get(..head).unwrap_or_default());
});
