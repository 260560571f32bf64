//! The published advanced-matching vectors as table tests: `shared/vectors/advanced-matching.json`
//! (our own cases) and `shared/vectors/meta-param-builder.json` (inputs from the unit tests of
//! Meta's Conversions API Parameter Builder, with the value Meta's library gives).
//!
//! The shared folder sits beside the repository in development and CI; a vendored copy in
//! `tests/data/` is used when it is absent, and must stay byte-identical when both exist.

mod common;
use common::{hash_field, normalize};
use pixel_core::matching::{is_hashed, sha256_hex, Field};
use serde_json::Value;

fn shared(name: &str) -> String {
    format!("{}/../../shared/vectors/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn vendored(name: &str) -> String {
    format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(shared(name))
        .or_else(|_| std::fs::read_to_string(vendored(name)))
        .unwrap_or_default();
    let doc: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    doc.get("vectors")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

#[test]
fn vendored_copies_match_the_published_files() {
    for name in ["advanced-matching.json", "meta-param-builder.json"] {
        let vendored_bytes = std::fs::read(vendored(name)).unwrap_or_default();
        assert!(!vendored_bytes.is_empty(), "missing tests/data/{name}");
        if let Ok(shared_bytes) = std::fs::read(shared(name)) {
            assert!(
                shared_bytes == vendored_bytes,
                "tests/data/{name} is stale: copy {}",
                shared(name)
            );
        }
    }
}

/// Checks one vector; `key` is the field key the file uses (`key` or `field`).
fn check(v: &Value, key: &str, failures: &mut Vec<String>) {
    let input = text(v, "input");
    let case = format!("{key} {input:?}");
    let Some(field) = Field::from_key(key) else {
        failures.push(format!("{case}: unknown key"));
        return;
    };
    if let Some(wire) = v.get("wire_key").and_then(Value::as_str) {
        if field.wire_key() != wire {
            failures.push(format!("{case}: wire key {}", field.wire_key()));
        }
    }
    let expected = v.get("normalized").and_then(Value::as_str);
    let expected_hash = v.get("sha256").and_then(Value::as_str);
    // A value that arrives as a hash is compared without regard to case: Meta's library keeps the
    // case, SPEC §6 sends it lowercased (the published sha256 is lowercase either way).
    let same = |got: &str, want: &str| {
        got == want || (is_hashed(input.trim()) && got.eq_ignore_ascii_case(want))
    };
    match (normalize(field, input), expected) {
        (Ok(got), Some(want)) if same(&got, want) => {}
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
        if !n.eq_ignore_ascii_case(h) && sha256_hex(n) != h {
            failures.push(format!("{case}: sha256_hex({n:?}) = {}", sha256_hex(n)));
        }
    }
}

fn run(name: &str, key: &str, at_least: usize) {
    let vectors = load(name);
    assert!(
        vectors.len() >= at_least,
        "expected the published vectors of {name}, got {}",
        vectors.len()
    );
    let mut failures = Vec::new();
    for v in &vectors {
        check(v, text(v, key), &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} fail:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
}

#[test]
fn published_vectors() {
    run("advanced-matching.json", "key", 29);
}

#[test]
fn meta_parameter_builder_vectors() {
    run("meta-param-builder.json", "field", 329);
}
