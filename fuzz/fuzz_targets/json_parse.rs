//! `pixel_core::json::parse`, the reader of every `fbq(...)` call's arguments.
//!
//! Checks: no input panics; every text serde_json accepts is read, with the same strings, literals
//! and shape (as deep as the reader builds trees), and the raw text kept for each of its arrays and
//! objects reads back to itself. (Past `MAX_TREE_DEPTH` the reader only matches brackets, by
//! design, so broken JSON down there is read as raw text; only valid JSON is held to the
//! raw-text check.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use pixel_core::json::{self, Value, MAX_TREE_DEPTH};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ours = json::parse(text);
    if let Ok(reference) = serde_json::from_str::<serde_json::Value>(text) {
        match &ours {
            Ok(v) => {
                same(v, &reference, 0);
                raw_reads_back(v);
            }
            Err(_) => panic!("serde_json reads {text:?}, json::parse refuses it"),
        }
    }
});

fn raw_reads_back(v: &Value<'_>) {
    if let Value::Arr(items, raw) | Value::Obj(items, raw) = v {
        let again = json::parse(raw);
        assert_eq!(again.as_ref().ok().and_then(Value::wire_text), Some(*raw));
        items.iter().for_each(|(_, item)| raw_reads_back(item));
    }
}

fn same(ours: &Value<'_>, reference: &serde_json::Value, depth: usize) {
    use serde_json::Value as J;
    match (ours, reference) {
        (Value::Null, J::Null) => {}
        (Value::Bool(a), J::Bool(b)) => assert_eq!(a, b),
        // The reader keeps a number's text as printed: it must at least be a number.
        (Value::Num(text), J::Number(_)) => assert!(text.parse::<f64>().is_ok(), "{text:?}"),
        (Value::Str(a), J::String(b)) => assert_eq!(a, b),
        (Value::Arr(items, _), J::Array(b)) => {
            if depth < MAX_TREE_DEPTH {
                assert_eq!(items.len(), b.len());
                for ((_, a), b) in items.iter().zip(b) {
                    same(a, b, depth + 1);
                }
            }
        }
        (Value::Obj(items, _), J::Object(b)) => {
            if depth < MAX_TREE_DEPTH {
                // serde_json keeps the last of repeated keys; so must a lookup in ours.
                let mut keys: Vec<&str> = items.iter().map(|(k, _)| k.as_ref()).collect();
                keys.sort_unstable();
                keys.dedup();
                assert_eq!(keys.len(), b.len());
                for (key, b) in b {
                    let a = items.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
                    match a {
                        Some(a) => same(a, b, depth + 1),
                        None => panic!("key {key:?} missing"),
                    }
                }
            }
        }
        (a, b) => panic!("json::parse read {a:?}, serde_json {b:?}"),
    }
}
