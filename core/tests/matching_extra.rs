//! Our own advanced-matching table (`tests/data/matching-extra.json`): every rule branch of SPEC §6
//! as implemented, plus the cases a JSON table cannot hold (100 KB values, SHA-256 known answers,
//! the alias list).

use pixel_core::matching::{is_sha256_hex, sha256_hex, DropReason, Field};

mod common;
use common::{hash_field, normalize};
use serde_json::Value;
use std::time::{Duration, Instant};

const EXTRA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/matching-extra.json"
);

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(EXTRA).unwrap_or_default();
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    doc.get("vectors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

#[test]
fn extra_vectors() {
    let vectors = vectors();
    assert!(
        vectors.len() >= 200,
        "table not loaded: {} vectors",
        vectors.len()
    );
    let mut failures = Vec::new();
    for v in &vectors {
        let key = v.get("key").and_then(Value::as_str).unwrap_or_default();
        let input = v.get("input").and_then(Value::as_str).unwrap_or_default();
        let want = v.get("normalized").and_then(Value::as_str);
        let reason = v.get("reason").and_then(Value::as_str);
        let case = format!("{key} {input:?}");
        let Some(field) = Field::from_key(key) else {
            failures.push(format!("{case}: unknown key"));
            continue;
        };
        let got = normalize(field, input);
        let hashed = hash_field(field, input);
        match (&got, want) {
            (Ok(n), Some(w)) if n == w => {
                // A pre-hashed value is sent as is; anything else as the SHA-256 of the
                // expected normalised string.
                let expected = if is_sha256_hex(w) {
                    w.to_string()
                } else {
                    sha256_hex(w)
                };
                if hashed.as_deref() != Ok(expected.as_str()) {
                    failures.push(format!("{case}: hash {hashed:?}, want {expected}"));
                }
            }
            (Err(e), None) if Some(e.message()) == reason => {
                if hashed != Err(*e) {
                    failures.push(format!("{case}: hash_field {hashed:?}, normalize {e:?}"));
                }
            }
            _ => failures.push(format!(
                "{case}: got {:?}, want {want:?} / {reason:?}",
                got.map_err(DropReason::message)
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_key_and_alias_maps_to_its_wire_key() {
    let table = [
        ("em", "em"),
        ("email", "em"),
        ("ph", "ph"),
        ("phone", "ph"),
        ("fn", "fn"),
        ("f_name", "fn"),
        ("first_name", "fn"),
        ("ln", "ln"),
        ("l_name", "ln"),
        ("last_name", "ln"),
        ("ge", "ge"),
        ("gen", "ge"),
        ("gender", "ge"),
        ("db", "db"),
        ("dob", "db"),
        ("ct", "ct"),
        ("city", "ct"),
        ("st", "st"),
        ("state", "st"),
        ("zp", "zp"),
        ("zip", "zp"),
        ("zip_code", "zp"),
        ("country", "country"),
        ("external_id", "external_id"),
    ];
    for (key, wire) in table {
        assert_eq!(
            Field::from_key(key).map(Field::wire_key),
            Some(wire),
            "{key}"
        );
    }
    for key in [
        "",
        "EM",
        "Email",
        "e-mail",
        "zipcode",
        "birthday",
        "externalId",
        " em",
    ] {
        assert_eq!(Field::from_key(key), None, "{key:?}");
    }
    for field in Field::ALL {
        assert_eq!(Field::from_key(field.wire_key()), Some(field));
    }
}

#[test]
fn sha256_known_answers() {
    let cases = [
        (
            "",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            "abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ];
    for (input, digest) in cases {
        assert_eq!(sha256_hex(input), digest, "{input:?}");
    }
    assert_eq!(
        sha256_hex(&"a".repeat(1_000_000)),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    );
}

#[test]
fn sha256_hex_shape_check() {
    let h = sha256_hex("abc");
    assert!(is_sha256_hex(&h));
    assert!(is_sha256_hex(&h.to_ascii_uppercase()));
    assert!(!is_sha256_hex(h.get(..63).unwrap_or_default()));
    assert!(!is_sha256_hex(&format!("{h}0")));
    assert!(!is_sha256_hex(&h.replace('a', "g")));
    assert!(!is_sha256_hex(&format!(
        " {}",
        h.get(1..).unwrap_or_default()
    )));
    assert!(!is_sha256_hex(""));
}

#[test]
fn drop_reasons_have_distinct_messages() {
    let all = [
        DropReason::Empty,
        DropReason::Invalid,
        DropReason::NotAnEmail,
        DropReason::NoDigits,
        DropReason::NotADate,
        DropReason::ImpossibleDate,
        DropReason::YearOutOfRange,
        DropReason::UnknownGender,
        DropReason::NotARegion,
        DropReason::UnknownCountry,
    ];
    for (i, a) in all.iter().enumerate() {
        assert!(!a.message().is_empty());
        for b in all.iter().skip(i + 1) {
            assert_ne!(a.message(), b.message());
        }
    }
}

/// 100 KB values of several shapes, for every field: no panic, linear time, sensible answers.
#[test]
fn very_long_values() {
    let n = 100_000;
    let long_email = format!("{}@example.com", "A".repeat(n));
    let inputs = [
        "a".repeat(n),
        "É".repeat(n / 2),
        "Σ".repeat(n / 2),
        "9".repeat(n),
        " ".repeat(n),
        "-".repeat(n),
        "@.".repeat(n / 2),
        "a b".repeat(n / 3),
        "😀".repeat(n / 4),
        "e\u{301}".repeat(n / 3),
        long_email.clone(),
    ];
    let start = Instant::now();
    for input in &inputs {
        for field in Field::ALL {
            if let Ok(h) = hash_field(field, input) {
                assert!(
                    is_sha256_hex(&h) && h == h.to_ascii_lowercase(),
                    "{field:?}"
                );
            }
        }
    }
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");

    assert_eq!(
        normalize(Field::Em, &long_email),
        Ok(long_email.to_lowercase())
    );
    assert_eq!(normalize(Field::Ph, &"9".repeat(n)).map(|s| s.len()), Ok(n));
    assert_eq!(
        normalize(Field::Fn, &"a b".repeat(n / 3)).map(|s| s.len()),
        Ok(2 * (n / 3))
    );
    assert_eq!(
        normalize(Field::Ct, &"😀".repeat(n / 4)),
        Err(DropReason::Invalid)
    );
    assert_eq!(normalize(Field::St, &"a".repeat(n)), Ok("aa".to_string()));
    assert_eq!(
        normalize(Field::Country, &"a".repeat(n)),
        Err(DropReason::UnknownCountry)
    );
    assert_eq!(
        normalize(Field::Db, &"9".repeat(n)),
        Err(DropReason::NotADate)
    );
    assert_eq!(
        normalize(Field::Ge, &"f".repeat(n)),
        Err(DropReason::UnknownGender)
    );
    assert_eq!(normalize(Field::Zp, &" ".repeat(n)), Err(DropReason::Empty));
    assert_eq!(
        normalize(Field::ExternalId, &"A ".repeat(n / 2)).map(|s| s.len()),
        Ok(n / 2)
    );
}

#[test]
fn only_input_that_already_is_a_hash_passes_through() {
    let h = "ab".repeat(32);
    assert_eq!(
        hash_field(Field::Zp, &format!("  {}  ", h.to_uppercase())).unwrap(),
        h
    );
    // Becomes 64 hex only after normalising: hashed like any other value.
    let zip = format!("{h}-1");
    assert_eq!(hash_field(Field::Zp, &zip).unwrap(), sha256_hex(&h));
    let spaced = format!("{} {}", &h[..32], &h[32..]);
    assert_eq!(
        hash_field(Field::ExternalId, &spaced).unwrap(),
        sha256_hex(&h)
    );
}

// The deliberate differences from Meta's code (SPEC §6), one named test each: in each, Meta's code
// produces a value that cannot be right, and ours is what Meta's code gives for the correct input.

#[test]
fn difference_unknown_country_is_dropped_not_cut_to_two_letters() {
    // Meta: `Unknown` → `un`, a code that is no country.
    assert_eq!(
        normalize(Field::Country, "Unknown"),
        Err(DropReason::UnknownCountry)
    );
    assert_eq!(
        normalize(Field::Country, "xx"),
        Err(DropReason::UnknownCountry)
    );
    assert_eq!(normalize(Field::Country, "United States"), Ok("us".into()));
}

#[test]
fn difference_one_letter_state_is_dropped() {
    assert_eq!(normalize(Field::St, "C"), Err(DropReason::NotARegion));
    assert_eq!(normalize(Field::St, "9C"), Err(DropReason::NotARegion));
}

#[test]
fn difference_french_province_names_with_accents_map_to_their_code() {
    // Meta: `Québec` → `qu` (it drops the `é` and keeps two letters).
    assert_eq!(normalize(Field::St, "Québec"), Ok("qc".into()));
    assert_eq!(
        normalize(Field::St, "Île-du-Prince-Édouard"),
        Ok("pe".into())
    );
    assert_eq!(normalize(Field::St, "Nouvelle-Écosse"), Ok("ns".into()));
}

#[test]
fn difference_digits_of_other_scripts_count_in_phone_numbers() {
    // Meta drops a number typed with fullwidth or Arabic-Indic digits.
    assert_eq!(
        normalize(Field::Ph, "５５５１２３４５６７"),
        Ok("5551234567".into())
    );
    assert_eq!(normalize(Field::Ph, "٠٥٥٥ ١٢٣"), Ok("555123".into()));
}

#[test]
fn difference_impossible_calendar_date_is_dropped() {
    // Meta checks only that the day is 1-31.
    assert_eq!(
        normalize(Field::Db, "1990-02-30"),
        Err(DropReason::ImpossibleDate)
    );
    assert_eq!(
        normalize(Field::Db, "31/04/1990"),
        Err(DropReason::ImpossibleDate)
    );
    assert_eq!(
        normalize(Field::Db, "1900-02-29"),
        Err(DropReason::ImpossibleDate)
    );
    assert_eq!(normalize(Field::Db, "2000-02-29"), Ok("20000229".into()));
}

/// Meta's Parameter Builder sends hashes as `<64 hex>.<appendix>` (2 or 8 base64url characters):
/// taken as a hash for every field, the hex lowercased, the appendix kept as it is.
#[test]
fn hashes_with_an_appendix_pass_through() {
    let hex = sha256_hex("jane@example.com");
    for appendix in ["AQ", "Ab-_9xYz"] {
        let value = format!("{}.{appendix}", hex.to_uppercase());
        let want = format!("{hex}.{appendix}");
        for field in Field::ALL {
            assert_eq!(
                hash_field(field, &format!(" {value} ")),
                Ok(want.clone()),
                "{field:?}"
            );
            assert_eq!(normalize(field, &value), Ok(want.clone()), "{field:?}");
        }
        assert!(pixel_core::matching::is_hashed(&want));
    }
    // Not a hash: a wrong appendix length or character, or no dot. Hashed as any value would be.
    for bad in [
        format!("{hex}.A"),
        format!("{hex}.ABC"),
        format!("{hex}.AB=CDEFG"),
        format!("{hex}AQ"),
        format!("{hex}."),
    ] {
        assert!(!pixel_core::matching::is_hashed(&bad), "{bad}");
        if let Ok(h) = hash_field(Field::ExternalId, &bad) {
            assert_eq!(h, sha256_hex(&bad.to_lowercase()), "{bad}");
        }
    }
}
