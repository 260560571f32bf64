//! Property tests: no `fbq(...)` argument text, however broken, panics the engine, and whatever
//! it sends always decodes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use pixel_core::json;
use pixel_core::memory_host::MemoryHost;
use pixel_core::tracker::{Options, Tracker};
use pixel_core::wire::Beacon;
use proptest::prelude::*;

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        Just("true".to_string()),
        "-?[0-9]{1,5}(\\.[0-9]{1,3})?".prop_map(|s| s),
        "\\PC{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        prop::sample::select(vec![
            "\"init\"",
            "\"track\"",
            "\"consent\"",
            "\"set\"",
            "\"PageView\"",
            "\"1234\"",
            "\"revoke\"",
            "\"grant\"",
            "\"limited\""
        ])
        .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..5).prop_map(|v| format!(
                "{{{}}}",
                v.into_iter()
                    .map(|(k, x)| format!("\"{k}\":{x}"))
                    .collect::<Vec<_>>()
                    .join(",")
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_calls_never_panic(calls in prop::collection::vec(prop::collection::vec(json_value(), 0..5), 1..8)) {
        let mut h = MemoryHost::new("https://shop.example.com/?fbclid=z", 1);
        let mut t = Tracker::new(Options::default(), &mut h);
        t.call_json(r#"["init","1234"]"#, &mut h);
        for args in calls {
            t.call_json(&format!("[{}]", args.join(",")), &mut h);
        }
        t.call_json(r#"["consent","grant"]"#, &mut h);
        t.call_json(r#"["track","Lead"]"#, &mut h);
        for s in &h.sent {
            prop_assert!(Beacon::decode(&s.query).is_ok(), "undecodable: {}", s.query);
        }
    }

    #[test]
    fn json_reader_never_panics(s in "\\PC{0,100}") {
        let _ = json::parse(&s);
    }

    #[test]
    fn json_reader_reads_what_it_is_given(v in json_value()) {
        let parsed = json::parse(&v).unwrap();
        match &parsed {
            // Strings come back decoded, exactly as serde_json reads them.
            json::Value::Str(s) => prop_assert_eq!(s, &serde_json::from_str::<String>(&v).unwrap()),
            json::Value::Null => prop_assert_eq!(parsed.wire_text(), None),
            // Everything else keeps the text JavaScript printed.
            _ => prop_assert_eq!(parsed.wire_text(), Some(v.as_str())),
        }
    }
}
