//! The published advanced-matching vectors (`shared/vectors/advanced-matching.json`) as a table test.
//!
//! The shared folder sits beside the repository in development and CI; a vendored copy in
//! `tests/data/` is used when it is absent, and must stay byte-identical when both exist.

use pixel_core::matching::{hash_field, normalize, sha256_hex, Field};
use serde_json::Value;

const SHARED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/vectors/advanced-matching.json"
);
const VENDORED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/advanced-matching.json"
);

fn load() -> Value {
    let text = std::fs::read_to_string(SHARED)
        .or_else(|_| std::fs::read_to_string(VENDORED))
        .unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

#[test]
fn vendored_copy_matches_the_published_file() {
    let vendored = std::fs::read(VENDORED).unwrap_or_default();
    assert!(!vendored.is_empty(), "missing {VENDORED}");
    if let Ok(shared) = std::fs::read(SHARED) {
        assert!(
            shared == vendored,
            "tests/data/advanced-matching.json is stale: copy {SHARED}"
        );
    }
}

#[test]
fn published_vectors() {
    let doc = load();
    let vectors = doc
        .get("vectors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    assert!(
        vectors.len() >= 29,
        "expected the published vectors, got {}",
        vectors.len()
    );

    let mut failures = Vec::new();
    for v in &vectors {
        let (key, input) = (text(v, "key"), text(v, "input"));
        let case = format!("{key} {input:?}");
        let Some(field) = Field::from_key(key) else {
            failures.push(format!("{case}: unknown key"));
            continue;
        };
        if field.wire_key() != text(v, "wire_key") {
            failures.push(format!("{case}: wire key {}", field.wire_key()));
        }
        let expected = v.get("normalized").and_then(Value::as_str);
        let expected_hash = v.get("sha256").and_then(Value::as_str);
        match (normalize(field, input), expected) {
            (Ok(got), Some(want)) if got == want => {}
            (Err(_), None) => {}
            (got, want) => failures.push(format!("{case}: normalize {got:?}, want {want:?}")),
        }
        let hashed = hash_field(field, input).ok();
        if hashed.as_deref() != expected_hash {
            failures.push(format!("{case}: hash {hashed:?}, want {expected_hash:?}"));
        }
        // The published digest is the SHA-256 of the published normalised string (or that string
        // itself when it already is a hash): checks `sha256_hex` independently of `normalize`.
        if let (Some(n), Some(h)) = (expected, expected_hash) {
            if n != h && sha256_hex(n) != h {
                failures.push(format!("{case}: sha256_hex({n:?}) = {}", sha256_hex(n)));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
