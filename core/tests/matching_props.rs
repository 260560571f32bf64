//! Fuzzing the normaliser with proptest: arbitrary (Unicode) input never panics, hashes are always
//! 64 lowercase hex, and normalising twice changes nothing.

use pixel_core::matching::{hash_field, is_sha256_hex, normalize, sha256_hex, to_lower, Field};
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
        "[A-Za-z0-9 -]{1,12}",
    ]
}

fn is_lower_hex_64(s: &str) -> bool {
    is_sha256_hex(s) && !s.bytes().any(|b| b.is_ascii_uppercase())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn never_panics_and_hashes_are_lower_hex(f in field(), s in input()) {
        let normalized = normalize(f, &s);
        let hashed = hash_field(f, &s);
        match (&normalized, &hashed) {
            (Ok(n), Ok(h)) => {
                prop_assert!(is_lower_hex_64(h), "{:?} {:?} -> {:?}", f, s, h);
                if is_sha256_hex(n) {
                    prop_assert_eq!(h, n);
                } else {
                    prop_assert_eq!(h, &sha256_hex(n));
                }
                prop_assert!(!n.is_empty());
                prop_assert!(!n.chars().any(char::is_whitespace), "{:?} {:?}", f, n);
                prop_assert_eq!(&n.to_lowercase(), n);
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

    /// The compact lowercaser agrees with the standard library on cased scripts, word-final sigma
    /// included (`to_lower` approximates "cased letter" and "case-ignorable", so the alphabet is
    /// limited to characters where the approximation is exact).
    #[test]
    fn to_lower_agrees_with_std(s in "[A-Za-zÀ-ÖØ-ÞĀ-ſΑ-ΡΤ-Ωά-ώΣσςА-яЁёİ0-9 '.,:;!?&()\\-\u{300}-\u{36F}\u{2019}\u{B7}]{0,16}") {
        prop_assert_eq!(to_lower(&s), s.to_lowercase());
    }

    #[test]
    fn to_lower_of_single_chars_agrees_with_std(c in any::<char>()) {
        if c != 'Σ' {
            prop_assert_eq!(to_lower(&c.to_string()), c.to_lowercase().collect::<String>());
        }
    }

    #[test]
    fn sha256_hex_is_64_lower_hex(s in any::<String>()) {
        prop_assert!(is_lower_hex_64(&sha256_hex(&s)));
    }
}
