//! `pixel_core::wire::Beacon::decode`, the collector's reader of every `/tr` query string.
//!
//! Checks: no input panics; the pairs beneath it (`wire::query_pairs`, one pass, borrowing) are
//! those of the plain split-and-decode it replaced (`pixel_fuzz::reference_pairs`); a beacon that
//! decodes encodes to a query that decodes to the same beacon (so what the collector reads is what
//! the pixel would have sent); debug mode's console line for it (`console::render` of the
//! encoded query, which decodes it again) never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixel_core::console::{render, Msg};
use pixel_core::wire::Beacon;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    // `parse_query` is `query_pairs` with the pairs made owned.
    let pairs = pixel_core::wire::parse_query(query).ok();
    assert_eq!(pairs, pixel_fuzz::reference_pairs(query), "pairs of {query:?}");
    let Ok(beacon) = Beacon::decode(query) else {
        return;
    };
    pixel_fuzz::assert_round_trips(&beacon);
    let _ = render(Msg::Beacon, &[&beacon.ev, &beacon.id, "", &beacon.encode()]);
    let _ = render(Msg::Beacon, &["", "", "", query]);
});
