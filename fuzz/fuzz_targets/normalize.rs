//! `pixel_core::matching::normalize` and `hash_field`, the advanced-matching normaliser, for every
//! field on each input.
//!
//! Checks: no input panics; a normalised value is not empty, has no surrounding white space and
//! normalises to itself; white space around the input changes nothing; `hash_field` accepts
//! exactly what `normalize` accepts and always yields 64 lowercase hex characters (and, for a
//! value that already was a hash as Meta's libraries send one, its `.<appendix>` unchanged).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixel_core::matching::{hash_field, is_hashed, normalize, std_lower, year_of, Context, Field};

fuzz_target!(|raw: &str| {
    // A fixed year, so that a run is repeatable; the browser's lowercasing is std's here.
    let cx = Context {
        this_year: year_of(1_780_000_000_000),
        lower: &std_lower,
    };
    let padded = format!(" \t{raw}\n ");
    for field in Field::ALL {
        let normal = normalize(field, raw, &cx);
        assert_eq!(normalize(field, &padded, &cx), normal, "{field:?} padded");
        let hashed = hash_field(field, raw, &cx);
        assert_eq!(hashed.is_ok(), normal.is_ok(), "{field:?}");
        if let Ok(h) = &hashed {
            assert!(
                is_hashed(h) && !h.bytes().take(64).any(|b| b.is_ascii_uppercase()),
                "{field:?} {h:?}"
            );
        }
        if let Ok(n) = &normal {
            assert!(
                !n.is_empty() && n.trim() == n,
                "{field:?} normalised to {n:?}"
            );
            assert_eq!(
                normalize(field, n, &cx).as_ref(),
                Ok(n),
                "{field:?} not idempotent on {n:?}"
            );
        }
    }
});
