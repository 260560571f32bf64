//! Property tests of the URL scrubbing (`pixel_core::scrub`): on any text it never panics, only
//! removes (the result is the input with whole `?`/`#`/`&` pieces taken out, its first piece
//! kept), is idempotent, and never keeps a parameter that its own rules drop.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use pixel_core::scrub::scrub;
use proptest::prelude::*;

/// URL-ish text: a head, then pieces built from the characters that matter to the rules.
fn url() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("key=wc_order_1".to_string()),
        Just("email=a%40b.co".to_string()),
        Just("utm_source=x".to_string()),
        Just("tel=%2B33612345678".to_string()),
        Just("fbclid=IwAR".to_string()),
        "[a-zA-Z_%0-9@.+()= -]{0,12}",
        "\\PC{0,6}",
    ];
    (
        "https://shop\\.test/[a-z/]{0,8}",
        prop::collection::vec((prop::sample::select(vec!['?', '&', '#']), piece), 0..8),
    )
        .prop_map(|(head, pieces)| {
            let mut s = head;
            for (sep, p) in pieces {
                s.push(sep);
                s.push_str(&p);
            }
            s
        })
}

proptest! {
    #[test]
    fn scrub_only_removes_and_is_idempotent(u in url(), any in "\\PC{0,40}") {
        for u in [u, any] {
            let once = scrub(&u, false);
            prop_assert!(once.len() <= u.len());
            prop_assert_eq!(scrub(&once, false), once.clone(), "not idempotent on {:?}", u);
            let head = u.find(['?', '#', '&']).unwrap_or(u.len());
            if head > 0 {
                prop_assert!(once.starts_with(&u[..head]), "head changed: {:?} -> {:?}", u, once);
            }
            prop_assert!(!once.contains("wc_order") && !once.contains("a%40b") && !once.contains("33612345678"), "{:?}", once);
            let all = scrub(&u, true);
            // Limited mode: the URL up to its first `?`, `#` or `&`.
            prop_assert_eq!(&all[..], &u[..head]);
        }
    }
}
