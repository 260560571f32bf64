//! The request parser's rules, one table row each: every refusal names the event's index and
//! the field, and one bad event refuses the request.

use pixel_core::matching::{is_hashed, sha256_hex};
use serde_json::{json, Value};

use super::*;
use crate::event::Origin;

/// 2023-11-14T22:13:20Z, the time of receipt in these tests.
const NOW_MS: i64 = 1_700_000_000_000;
const NOW: i64 = NOW_MS / 1000;

fn cx() -> Context<'static> {
    Context {
        pixel_id: "1234567890",
        relay: true,
        received_at_ms: NOW_MS,
        test_event_code: Some("TEST42"),
    }
}

/// A complete website Purchase, as a store's server sends it.
fn purchase() -> Value {
    json!({
        "event_name": "Purchase",
        "event_time": NOW - 30,
        "event_id": "order-1001",
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout/thank-you",
        "referrer_url": "https://shop.example/checkout",
        "opt_out": false,
        "user_data": {
            "em": ["Jane@Example.com"],
            "ph": sha256_hex("16505551212"),
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "fbp": "fb.1.1700000000000.123456789",
            "fbc": "fb.1.1700000000000.IwAR",
            "lead_id": 42
        },
        "custom_data": {"value": 129.9, "currency": "EUR", "contents": [{"id": "sku-1", "quantity": 1}]},
        "data_processing_options": ["LDU"],
        "data_processing_options_country": 1,
        "data_processing_options_state": 1000
    })
}

fn parse(data: Value) -> Result<Parsed, ApiError> {
    parse_events(Some(data), &cx())
}

/// The message of the refusal of `data`.
fn refusal(data: Value) -> String {
    match parse(data) {
        Ok(p) => unreachable!("accepted: {:?}", p.events),
        Err(e) => e.message,
    }
}

/// `purchase()` with `edit` applied, at index 3 of four events.
fn fourth(edit: impl FnOnce(&mut Value)) -> Value {
    let mut bad = purchase();
    edit(&mut bad);
    json!([purchase(), purchase(), purchase(), bad])
}

#[test]
fn a_website_purchase_becomes_a_verified_server_event() {
    let parsed = parse(json!([purchase()])).unwrap_or_default();
    let e = &parsed.events[0];
    assert_eq!(e.pixel_id, "1234567890");
    assert_eq!(
        (e.event_name.as_str(), e.event_id.as_str()),
        ("Purchase", "order-1001")
    );
    assert!(!e.event_id_derived);
    assert_eq!(e.event_time, NOW - 30);
    assert_eq!(e.received_at_ms, NOW_MS);
    assert_eq!(e.source_url, "https://shop.example/checkout/thank-you");
    assert_eq!(e.referrer_url, "https://shop.example/checkout");
    assert_eq!(e.origin, Origin::SERVER);
    assert!(e.origin.verified() && e.relay);
    assert_eq!(e.client_ip.as_deref(), Some("203.0.113.7"));
    assert_eq!(
        e.user_agent.as_deref(),
        Some("Mozilla/5.0 (X11; Linux x86_64)")
    );
    assert_eq!(e.fbp.as_deref(), Some("fb.1.1700000000000.123456789"));
    assert_eq!(
        e.user_data,
        vec![
            ("em".to_owned(), sha256_hex("jane@example.com")),
            ("ph".to_owned(), sha256_hex("16505551212")),
        ]
    );
    assert_eq!(
        Value::Object(e.custom_data.clone()),
        purchase()["custom_data"]
    );
    let dpo = e.dpo.clone().unwrap_or_default();
    assert_eq!(
        (dpo.options, dpo.country, dpo.state),
        (vec!["LDU".into()], 1, 1000)
    );
    let server = e.server.clone().unwrap_or_default();
    assert_eq!(server.action_source, "website");
    assert_eq!(server.test_event_code.as_deref(), Some("TEST42"));
    assert_eq!(Value::Object(server.user_data), json!({"lead_id": 42}));
    assert_eq!(Value::Object(server.event), json!({"opt_out": false}));
    assert_eq!(e.hold_until_ms, None, "the handler sets the hold");
}

#[test]
fn other_action_sources_need_no_url_nor_user_agent() {
    let shop = json!({
        "event_name": "Purchase", "event_time": NOW, "action_source": "physical_store",
        "user_data": {"em": sha256_hex("a@b.co")}
    });
    let parsed = parse(json!([shop])).unwrap_or_default();
    assert_eq!(parsed.events.len(), 1);
    assert_eq!(parsed.events[0].source_url, "");
    for source in ACTION_SOURCES {
        let mut e = purchase();
        e["action_source"] = json!(source);
        assert!(parse(json!([e])).is_ok(), "{source}");
    }
}

#[test]
fn each_rule_refuses_the_request_naming_index_and_field() {
    let huge: Vec<Value> = (0..=MAX_EVENTS).map(|_| purchase()).collect();
    let table: Vec<(Value, &str)> = vec![
        (json!({"a": 1}), "data: must be an array of events"),
        (json!([]), "data: holds no event"),
        (
            Value::Array(huge),
            "data: 1001 events: at most 1000 per request",
        ),
        (json!([purchase(), 7]), "data[1]: must be an object"),
        (
            fourth(|e| drop(e.as_object_mut().map(|o| o.remove("event_name")))),
            "data[3].event_name: is required",
        ),
        (
            fourth(|e| e["event_name"] = json!("  ")),
            "data[3].event_name: is empty",
        ),
        (
            fourth(|e| e["event_name"] = json!("x".repeat(101))),
            "data[3].event_name: longer than 100 characters",
        ),
        (
            fourth(|e| e["event_name"] = json!(["Purchase"])),
            "data[3].event_name: must be a string",
        ),
        (
            fourth(|e| drop(e.as_object_mut().map(|o| o.remove("event_time")))),
            "data[3].event_time: is required",
        ),
        (
            fourth(|e| e["event_time"] = json!(1.7e9)),
            "data[3].event_time: must be an integer",
        ),
        (
            fourth(|e| e["event_time"] = json!("soon")),
            "data[3].event_time: must be an integer",
        ),
        (
            fourth(|e| e["event_time"] = json!(u64::MAX)),
            "data[3].event_time: must be an integer",
        ),
        (
            fourth(|e| e["event_time"] = json!(NOW - MAX_AGE_SECS - 1)),
            "data[3].event_time: more than 7 days in the past",
        ),
        (
            fourth(|e| e["event_time"] = json!(-5)),
            "data[3].event_time: more than 7 days in the past",
        ),
        (
            fourth(|e| e["event_time"] = json!(NOW + MAX_SKEW_SECS + 1)),
            "data[3].event_time: more than 60 s in the future",
        ),
        (
            fourth(|e| e["event_time"] = json!(NOW_MS)),
            "data[3].event_time: more than 60 s in the future (milliseconds?",
        ),
        (
            fourth(|e| drop(e.as_object_mut().map(|o| o.remove("action_source")))),
            "data[3].action_source: is required",
        ),
        (
            fourth(|e| e["action_source"] = json!("web")),
            "data[3].action_source: must be one of",
        ),
        (
            fourth(|e| e["action_source"] = json!("Website")),
            "data[3].action_source: must be one of",
        ),
        (
            fourth(|e| drop(e.as_object_mut().map(|o| o.remove("event_source_url")))),
            "data[3].event_source_url: is required when action_source is website",
        ),
        (
            fourth(|e| e["event_source_url"] = json!(5)),
            "data[3].event_source_url: must be a string",
        ),
        (
            fourth(|e| e["referrer_url"] = json!({})),
            "data[3].referrer_url: must be a string",
        ),
        (
            fourth(|e| {
                drop(
                    e["user_data"]
                        .as_object_mut()
                        .map(|o| o.remove("client_user_agent")),
                )
            }),
            "data[3].user_data.client_user_agent: is required when action_source is website",
        ),
        (
            fourth(|e| drop(e.as_object_mut().map(|o| o.remove("user_data")))),
            "data[3].user_data: is required",
        ),
        (
            fourth(|e| e["user_data"] = json!("jane@example.com")),
            "data[3].user_data: must be an object",
        ),
        (
            fourth(|e| e["user_data"]["em"] = json!(true)),
            "data[3].user_data.em[0]: must be a string",
        ),
        (
            fourth(|e| e["user_data"]["client_ip_address"] = json!("localhost")),
            "data[3].user_data.client_ip_address: not an IPv4 or IPv6 address",
        ),
        (
            fourth(|e| e["custom_data"] = json!([1])),
            "data[3].custom_data: must be an object",
        ),
        (
            fourth(|e| e["event_id"] = json!("e".repeat(201))),
            "data[3].event_id: longer than 200 characters",
        ),
        (
            fourth(|e| e["event_id"] = json!({"id": 1})),
            "data[3].event_id: must be a string",
        ),
        (
            fourth(|e| e["data_processing_options"] = json!("LDU")),
            "data[3].data_processing_options: must be an array of strings",
        ),
        (
            fourth(|e| e["data_processing_options"] = json!([1])),
            "data[3].data_processing_options: must be an array of strings",
        ),
        (
            fourth(|e| e["data_processing_options_country"] = json!("US")),
            "data[3].data_processing_options_country: must be an integer",
        ),
    ];
    for (data, want) in table {
        let got = refusal(data);
        assert!(got.starts_with(want), "want {want:?}, got {got:?}");
        assert!(!got.contains("jane") && !got.contains("Jane"), "{got}");
    }
}

#[test]
fn only_a_too_old_event_has_meta_s_timestamp_subcode() {
    let old = parse(fourth(|e| e["event_time"] = json!(NOW - MAX_AGE_SECS - 1))).err();
    assert_eq!(
        old.map(|e| e.kind),
        Some(Kind::Param {
            subcode: SUBCODE_TOO_OLD
        })
    );
    let future = parse(fourth(|e| e["event_time"] = json!(NOW + 3600))).err();
    assert_eq!(
        future.map(|e| e.kind),
        Some(Kind::Param {
            subcode: SUBCODE_PARAM
        })
    );
    let missing = parse_events(None, &cx()).err();
    assert_eq!(
        missing.map(|e| e.message),
        Some("data: is required".to_owned())
    );
}

#[test]
fn edges_of_the_time_window_and_lenient_types_are_accepted() {
    let ok = |edit: fn(&mut Value)| {
        let mut e = purchase();
        edit(&mut e);
        parse(json!([e])).map(|p| p.events.len())
    };
    assert_eq!(ok(|e| e["event_time"] = json!(NOW - MAX_AGE_SECS)), Ok(1));
    assert_eq!(ok(|e| e["event_time"] = json!(NOW + MAX_SKEW_SECS)), Ok(1));
    assert_eq!(ok(|e| e["event_time"] = json!(NOW.to_string())), Ok(1));
    assert_eq!(ok(|e| e["event_id"] = json!(1001)), Ok(1));
    assert_eq!(ok(|e| e["custom_data"] = Value::Null), Ok(1));
    assert_eq!(ok(|e| e["user_data"]["zp"] = json!(94025)), Ok(1));
    assert_eq!(ok(|e| e["data_processing_options"] = json!([])), Ok(1));
}

#[test]
fn an_event_without_id_gets_a_stable_derived_one() {
    let without = |edit: fn(&mut Value)| {
        let mut e = purchase();
        if let Some(o) = e.as_object_mut() {
            o.remove("event_id");
        }
        edit(&mut e);
        let parsed = parse(json!([e])).unwrap_or_default();
        let ev = &parsed.events[0];
        assert!(ev.event_id_derived);
        assert!(
            ev.event_id.starts_with("s-") && ev.event_id.len() == 34,
            "{}",
            ev.event_id
        );
        ev.event_id.clone()
    };
    let id = without(|_| {});
    assert_eq!(id, without(|_| {}), "a retry deduplicates");
    assert_eq!(
        id,
        without(|e| e["event_id"] = json!("  ")),
        "blank is absent"
    );
    assert_ne!(id, without(|e| e["custom_data"]["value"] = json!(130)));
    assert_ne!(
        id,
        without(|e| e["user_data"]["em"] = json!("other@example.com"))
    );
    assert_ne!(id, without(|e| e["event_time"] = json!(NOW - 31)));
    // Key order does not matter (`serde_json::Map` is sorted): the text of the request may vary.
    let reordered: Value = serde_json::from_str(
        &serde_json::to_string(&purchase())
            .unwrap_or_default()
            .replacen("{\"action_source", "{\"zz\":1,\"action_source", 1),
    )
    .unwrap_or_default();
    let mut plain = reordered.clone();
    if let Some(o) = plain.as_object_mut() {
        o.remove("zz");
        o.remove("event_id");
    }
    let text_a = serde_json::to_string(&plain).unwrap_or_default();
    let mut fields: Vec<(String, Value)> = plain
        .as_object()
        .map(|o| o.clone().into_iter().collect())
        .unwrap_or_default();
    fields.reverse();
    let text_b = format!(
        "{{{}}}",
        fields
            .iter()
            .map(|(k, v)| format!("{}:{v}", Value::String(k.clone())))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_ne!(
        text_a, text_b,
        "the two texts list the keys in different orders"
    );
    let ids: Vec<String> = [text_a, text_b]
        .iter()
        .map(|t| {
            let v: Value = serde_json::from_str(t).unwrap_or_default();
            parse(json!([v])).unwrap_or_default().events[0]
                .event_id
                .clone()
        })
        .collect();
    assert_eq!(ids[0], ids[1]);
}

#[test]
fn nothing_plain_is_stored_and_every_match_key_is_a_hash() {
    let mut e = purchase();
    e["user_data"] = json!({
        "em": "Jane.Doe@Example.com", "ph": "+1 (650) 555-1212", "fn": "Jane", "ln": "Doe",
        "ge": "female", "db": "1990-02-14", "ct": "Menlo Park", "st": "California",
        "zp": "94025-1234", "country": "United States", "external_id": "Ext 3141",
        "client_user_agent": "UA"
    });
    let parsed = parse(json!([e])).unwrap_or_default();
    let ev = &parsed.events[0];
    assert_eq!(ev.user_data.len(), 11);
    for (key, hash) in &ev.user_data {
        assert!(is_hashed(hash), "{key}: {hash}");
    }
    let text = format!("{:?}", parsed.events);
    for plain in ["Jane", "Doe", "650", "Menlo", "California", "94025", "3141"] {
        assert!(!text.contains(plain), "{plain} in {text}");
    }
}

#[test]
fn versions_look_like_meta_s() {
    for ok in ["v24.0", "v2.12", "v100.0"] {
        assert!(is_version(ok), "{ok}");
    }
    for bad in [
        "24.0", "v24", "v.0", "v24.", "vx.0", "V24.0", "v24.0.1", "v1234.0", "",
    ] {
        assert!(!is_version(bad), "{bad}");
    }
}
