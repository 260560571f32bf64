use super::*;
use crate::event::ServerFields;
use crate::ports::merge;
use crate::ports::RelayStatus;
use serde_json::json;

/// 2026-12-01T00:00:00Z.
const NOW: i64 = 1_796_083_200_000;

fn purchase(id: &str) -> NewEvent {
    NewEvent {
        pixel_id: "1".into(),
        event_name: "Purchase".into(),
        event_id: id.into(),
        event_time: NOW / 1000 - 2,
        received_at_ms: NOW,
        fbp: Some("fb.1.1.111".into()),
        client_ip: Some("203.0.113.9".into()),
        user_agent: Some("UA".into()),
        user_data: vec![("em".into(), "e".repeat(64)), ("ph".into(), "p".repeat(64))],
        custom_data: serde_json::from_value(
            json!({"value": 59.9, "currency": "EUR", "content_ids": ["sku-1"]}),
        )
        .unwrap_or_default(),
        relay: true,
        origin: Origin::BROWSER,
        ..NewEvent::default()
    }
}

fn server_copy(e: &NewEvent) -> NewEvent {
    NewEvent {
        origin: Origin::SERVER,
        received_at_ms: e.received_at_ms + 1000,
        server: Some(Box::new(ServerFields {
            action_source: "website".into(),
            ..ServerFields::default()
        })),
        ..e.clone()
    }
}

/// `(code, event name, detail, events)` of a tally's rows, facts left out.
fn findings(t: Tally) -> Vec<(String, String, String, i64)> {
    t.into_rows()
        .into_iter()
        .filter(|r| !r.code.starts_with('_'))
        .map(|r| (r.code, r.event_name, r.detail, r.events))
        .collect()
}

fn stored(e: &NewEvent) -> Vec<(String, String, String, i64)> {
    let mut t = Tally::default();
    t.stored(e);
    findings(t)
}

fn row(code: Code, name: &str, detail: &str, n: i64) -> (String, String, String, i64) {
    (code.as_str().into(), name.into(), detail.into(), n)
}

#[test]
fn a_clean_purchase_marks_nothing_but_facts() {
    assert_eq!(stored(&purchase("order-1")), vec![]);
    let mut t = Tally::default();
    t.stored(&purchase("order-1"));
    let facts: Vec<(String, String)> = t
        .into_rows()
        .into_iter()
        .map(|r| (r.code, r.detail))
        .collect();
    assert!(facts.contains(&(fact::EVENTS.into(), String::new())));
    assert!(facts.contains(&(fact::PURCHASES.into(), "browser".into())));
    assert!(
        facts
            .iter()
            .any(|(c, d)| c == fact::PURCHASE_KEYS && d == "51"),
        "{facts:?}"
    );
    assert!(facts.iter().any(|(c, _)| c == fact::ORDERS));
}

#[test]
fn each_per_event_rule() {
    let no_id = NewEvent {
        event_id_derived: true,
        ..purchase("d-1")
    };
    assert_eq!(
        stored(&no_id),
        vec![row(Code::PurchaseNoEventId, "Purchase", "browser", 1)]
    );
    let bad_ip = NewEvent {
        client_ip: Some("203.0.113.9:443".into()),
        ..purchase("o")
    };
    assert_eq!(
        stored(&bad_ip),
        vec![row(Code::ClientIpInvalid, "Purchase", "stored", 1)]
    );
    let seconds = NewEvent {
        event_time: 1_796_083,
        ..purchase("o")
    };
    assert_eq!(
        stored(&seconds),
        vec![row(Code::EventTimeSuspect, "Purchase", "unit", 1)]
    );
    let late = NewEvent {
        event_time: NOW / 1000 - LATE_SECS - 1,
        ..purchase("o")
    };
    assert_eq!(
        stored(&late),
        vec![row(Code::EventTimeSuspect, "Purchase", "late", 1)]
    );
    let not_late = NewEvent {
        event_time: NOW / 1000 - LATE_SECS,
        ..purchase("o")
    };
    assert_eq!(stored(&not_late), vec![]);
    let no_ids = NewEvent {
        event_name: "AddToCart".into(),
        custom_data: serde_json::Map::new(),
        ..purchase("o")
    };
    assert_eq!(
        stored(&no_ids),
        vec![row(Code::ContentIdsMissing, "AddToCart", "", 1)]
    );
    let contents = NewEvent {
        custom_data: serde_json::from_value(json!({"contents": [{"id": "sku", "quantity": 1}]}))
            .unwrap_or_default(),
        ..no_ids.clone()
    };
    assert_eq!(stored(&contents), vec![]);
    let page = NewEvent {
        event_name: "PageView".into(),
        ..no_ids
    };
    assert_eq!(stored(&page), vec![]);
    let test = NewEvent {
        server: Some(Box::new(ServerFields {
            test_event_code: Some("TEST1".into()),
            ..ServerFields::default()
        })),
        origin: Origin::SERVER,
        ..purchase("o")
    };
    assert_eq!(
        stored(&test),
        vec![row(Code::TestEventCode, "Purchase", "TEST1", 1)]
    );
}

#[test]
fn purchase_value_and_currency() {
    let with = |cd: serde_json::Value| NewEvent {
        custom_data: serde_json::from_value(cd).unwrap_or_default(),
        ..purchase("o")
    };
    let cases = [
        (json!({"value": 1, "currency": "EUR"}), None),
        (json!({"value": 0, "currency": "jpy"}), None),
        (json!({"currency": "EUR"}), Some("value_missing")),
        (
            json!({"value": "12,50", "currency": "EUR"}),
            Some("value_not_number"),
        ),
        (
            json!({"value": -3, "currency": "EUR"}),
            Some("value_negative"),
        ),
        (json!({"value": 3}), Some("currency_missing")),
        (
            json!({"value": 3, "currency": ""}),
            Some("currency_missing"),
        ),
        (
            json!({"value": 3, "currency": "EURO"}),
            Some("currency_not_iso4217"),
        ),
        (
            json!({"value": 3, "currency": "€"}),
            Some("currency_not_iso4217"),
        ),
        (
            json!({"value": 3, "currency": 978}),
            Some("currency_not_iso4217"),
        ),
        (json!({}), Some("value_missing,currency_missing")),
    ];
    for (cd, want) in cases {
        assert_eq!(
            purchase_problems(&with(cd.clone())).as_deref(),
            want,
            "{cd}"
        );
    }
}

#[test]
fn match_score_and_the_key_that_raises_it_most() {
    let weak = NewEvent {
        user_data: vec![],
        client_ip: None,
        ..purchase("o")
    };
    let (weak_score, best) = score(&carried(&weak));
    assert!((weak_score - 0.75).abs() < 1e-9, "{weak_score}");
    assert_eq!(best, "em");
    assert_eq!(
        stored(&weak),
        vec![row(Code::MatchQualityLow, "Purchase", "em", 1)]
    );
    let (strong, _) = score(&carried(&purchase("o")));
    assert!(strong >= MATCH_FLOOR, "{strong}");
}

#[test]
fn pairs_of_copies() {
    let b = purchase("order-1");
    // A retried beacon: no mark.
    assert_eq!(pair(&b, &b.clone()), None);
    // Another browser, or another time: an ID reused.
    let other = NewEvent {
        fbp: Some("fb.1.1.222".into()),
        ..b.clone()
    };
    assert_eq!(pair(&b, &other), Some((Code::EventIdReused, "")));
    let later = NewEvent {
        event_time: b.event_time + REUSE_SKEW_SECS + 1,
        ..b.clone()
    };
    assert_eq!(pair(&b, &later), Some((Code::EventIdReused, "")));
    // Derived IDs are the content: never reused.
    let derived = NewEvent {
        event_id_derived: true,
        ..b.clone()
    };
    assert_eq!(pair(&derived, &other), None);
    // Browser and server copies.
    let s = server_copy(&b);
    assert_eq!(pair(&b, &s), None);
    assert_eq!(pair(&s, &b), None);
    let s_other = NewEvent {
        fbp: Some("fb.1.1.999".into()),
        ..s.clone()
    };
    assert_eq!(pair(&b, &s_other), Some((Code::FbpMismatch, "fbp_differs")));
    let s_none = NewEvent {
        fbp: None,
        ..s.clone()
    };
    assert_eq!(
        pair(&b, &s_none),
        Some((Code::FbpMismatch, "server_without_fbp"))
    );
    let b_fbc = NewEvent {
        fbc: Some("fb.1.1.click".into()),
        ..b.clone()
    };
    assert_eq!(
        pair(&s, &b_fbc),
        Some((Code::FbpMismatch, "server_without_fbc"))
    );
}

#[test]
fn a_merge_moves_the_event_codes_and_counts_each_event_once() {
    // A browser Purchase without content_ids, then its server copy with them.
    let b = NewEvent {
        custom_data: serde_json::from_value(json!({"value": 5, "currency": "EUR"}))
            .unwrap_or_default(),
        ..purchase("order-1")
    };
    let s = server_copy(&purchase("order-1"));
    let mut t = Tally::default();
    t.stored(&b);
    let merged = merge::meet(&b, RelayStatus::Pending, &s).unwrap_or_default();
    t.merged(&b, &s, &merged);
    let rows = t.into_rows();
    let get = |code: &str, detail: &str| {
        rows.iter()
            .find(|r| r.code == code && r.detail == detail)
            .map(|r| r.events)
    };
    assert_eq!(get(Code::ContentIdsMissing.as_str(), ""), None, "{rows:#?}");
    assert_eq!(get(fact::PURCHASES, "browser"), None);
    assert_eq!(get(fact::PURCHASES, "both"), Some(1));
    assert_eq!(get(fact::EVENTS, ""), Some(1));
}

#[test]
fn an_order_twice_has_one_fingerprint() {
    let a = purchase("order-1");
    let b = purchase("order-1-reload");
    assert_eq!(order_fingerprint(&a), order_fingerprint(&b));
    let other_value = NewEvent {
        custom_data: serde_json::from_value(json!({"value": 60, "currency": "EUR"}))
            .unwrap_or_default(),
        ..purchase("o")
    };
    assert_ne!(order_fingerprint(&a), order_fingerprint(&other_value));
    let anonymous = NewEvent {
        fbp: None,
        user_data: vec![],
        ..purchase("o")
    };
    assert_eq!(order_fingerprint(&anonymous), None);
}

#[test]
fn refusals_at_the_door_and_by_meta() {
    let ip = door(
        "1",
        NOW,
        "data[0].user_data.client_ip_address: not an IPv4 or IPv6 address",
    );
    assert_eq!(
        ip.map(|r| (r.code, r.detail, r.events, r.day)),
        Some((
            Code::ClientIpInvalid.as_str().into(),
            "refused".into(),
            1,
            NOW / 86_400_000
        ))
    );
    let ms = door(
        "1",
        NOW,
        "data[0].event_time: more than 60 s in the future (milliseconds? event_time is in seconds)",
    );
    assert_eq!(ms.map(|r| r.detail), Some("refused_milliseconds".into()));
    let future = door("1", NOW, "data[2].event_time: more than 60 s in the future");
    assert_eq!(future.map(|r| r.detail), Some("refused_future".into()));
    assert!(door("1", NOW, "data[0].event_name: is required").is_none());
    assert_eq!(refusal_detail(&"x".repeat(500)).len(), MAX_DETAIL);
}
