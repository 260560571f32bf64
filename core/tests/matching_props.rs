//! Fuzzing the normaliser with proptest: arbitrary (Unicode) input never panics, hashes are always
//! 64 lowercase hex (or a pre-hashed value as it came), normalising a normalised value changes
//! nothing for every field, and `ct`, `st`, `zp`, `country` stay within their character sets.

use pixel_core::matching::{is_country_code, is_hashed, is_sha256_hex, sha256_hex, Field};

mod common;
use common::{hash_field, normalize};
use proptest::prelude::*;

fn field() -> impl Strategy<Value = Field> {
    proptest::sample::select(Field::ALL.to_vec())
}

/// Arbitrary strings, plus shapes that reach the accepting branches of each field.
fn input() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,40}",
        "[ \\t]{0,2}[A-Za-z0-9._%+-]{1,12}@[A-Za-z0-9-]{1,10}\\.[A-Za-z]{2,4}[ \\t]{0,2}",
        "[+]?[0-9 ()-]{1,20}",
        "(1[89]|20|21)[0-9]{2}[-/]?[01]?[0-9][-/]?[0-3]?[0-9]",
        "[01]?[0-9]/[0-3]?[0-9]/(19|20)[0-9]{2}",
        "[A-Za-zÀ-ÿ' .&-]{1,30}",
        "[ΑαΣσςИиЖж가-힣ا-ي一-龥\u{300}-\u{36F}]{1,12}",
        "[0-9A-Fa-f]{64}",
        "[0-9a-f]{64}\\.([A-Za-z0-9_-]{2}|[A-Za-z0-9_-]{8})",
        "[A-Za-z0-9 ]{1,8}-?[A-Za-z0-9 ]{0,6}",
        "(New York|Quebec|Québec|Ontario|California|United States|Germany|UK)[A-Za-z ]{0,8}",
        "[0-3]?[0-9][./ -][0-3]?[0-9][./ -](1[89]|20)[0-9]{2}",
        "[A-Za-z0-9 -]{1,12}",
    ]
}

fn is_lower_hex_64(s: &str) -> bool {
    is_sha256_hex(s) && !s.bytes().any(|b| b.is_ascii_uppercase())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn never_panics_and_hashes_are_lower_hex_or_kept_hashes(f in field(), s in input()) {
        let normalized = normalize(f, &s);
        let hashed = hash_field(f, &s);
        match (&normalized, &hashed) {
            (Ok(n), Ok(h)) => {
                if is_hashed(s.trim()) {
                    prop_assert!(is_lower_hex_64(&h[..64]), "{:?} {:?} -> {:?}", f, s, h);
                } else {
                    prop_assert!(is_lower_hex_64(h), "{:?} {:?} -> {:?}", f, s, h);
                }
                if is_hashed(s.trim()) {
                    prop_assert_eq!(h, n);
                } else {
                    prop_assert_eq!(h, &sha256_hex(n));
                }
                prop_assert!(!n.is_empty());
                if f != Field::Zp {
                    prop_assert!(!n.chars().any(char::is_whitespace), "{:?} {:?}", f, n);
                }
                if !is_hashed(s.trim()) {
                    prop_assert_eq!(&n.to_lowercase(), n);
                }
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            _ => prop_assert!(false, "normalize {:?} but hash_field {:?}", normalized, hashed),
        }
    }

    #[test]
    fn normalising_twice_changes_nothing(f in field(), s in input()) {
        if let Ok(once) = normalize(f, &s) {
            prop_assert_eq!(normalize(f, &once), Ok(once.clone()), "{:?} {:?}", f, s);
        }
    }

    #[test]
    fn surrounding_white_space_is_ignored(f in field(), s in input(), pad in "[ \\t\\n\\u{a0}\\u{3000}]{0,3}") {
        let padded = format!("{pad}{s}{pad}");
        prop_assert_eq!(normalize(f, &padded), normalize(f, &s));
    }

    /// Every output of `ct`, `st`, `zp` and `country` is in its documented character set (SPEC §6),
    /// unless the input already was a hash.
    #[test]
    fn outputs_are_in_their_character_sets(s in input()) {
        if !is_hashed(s.trim()) {
            if let Ok(ct) = normalize(Field::Ct, &s) {
                prop_assert!(ct.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "ct {:?}", ct);
                prop_assert!(ct.as_bytes()[0].is_ascii_lowercase(), "ct {:?}", ct);
            }
            if let Ok(st) = normalize(Field::St, &s) {
                prop_assert!(st.len() == 2 && st.bytes().all(|b| b.is_ascii_lowercase()), "st {:?}", st);
            }
            if let Ok(country) = normalize(Field::Country, &s) {
                prop_assert!(is_country_code(&country), "country {:?}", country);
            }
            if let Ok(zp) = normalize(Field::Zp, &s) {
                prop_assert!(zp.chars().count() >= 2 && !zp.contains('-'), "zp {:?}", zp);
                prop_assert_eq!(zp.trim(), zp.as_str());
                prop_assert_eq!(&zp.to_lowercase(), &zp);
            }
        }
    }

    #[test]
    fn sha256_hex_is_64_lower_hex(s in any::<String>()) {
        prop_assert!(is_lower_hex_64(&sha256_hex(&s)));
    }
}
