//! `pixel_core::matching::normalize` and `hash_field`, the advanced-matching normaliser, for every
//! field on each input.
//!
//! Checks: no input panics; a normalised value is not empty, has no surrounding white space and
//! normalises to itself; white space around the input changes nothing; `hash_field` accepts
//! exactly what `normalize` accepts and always yields 64 lowercase hex characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixel_core::matching::{hash_field, is_sha256_hex, normalize, Field};

fuzz_target!(|raw: &str| {
    let padded = format!(" \t{raw}\n ");
    for field in Field::ALL {
        let normal = normalize(field, raw);
        assert_eq!(normalize(field, &padded), normal, "{field:?} padded");
        let hashed = hash_field(field, raw);
        assert_eq!(hashed.is_ok(), normal.is_ok(), "{field:?}");
        if let Ok(h) = &hashed {
            assert!(
                is_sha256_hex(h) && !h.bytes().any(|b| b.is_ascii_uppercase()),
                "{field:?} {h:?}"
            );
        }
        if let Ok(n) = &normal {
            assert!(
                !n.is_empty() && n.trim() == n,
                "{field:?} normalised to {n:?}"
            );
            assert_eq!(
                normalize(field, n).as_ref(),
                Ok(n),
                "{field:?} not idempotent on {n:?}"
            );
        }
    }
});
