//! When the other copy of a stored event arrives: a server copy of a beacon, or a beacon of a
//! server copy. Every store calls [`meet`] inside the transaction that would have stored the
//! copy, so the rule is written once.
//!
//! The copies are one event (same pixel, event name and event ID), and Meta should get it once,
//! with everything both know:
//!
//! - **Verified beats unverified.** The server copy came with the pixel's credentials; a beacon
//!   can come from anyone. The server's custom data is kept whole (value, currency, contents are
//!   the order's truth; a beacon never adds a key to it), its match keys win on the same key, its
//!   time, URLs and server-only fields are kept.
//! - **The browser fills what the server lacks**: `fbp`, `fbc`, user agent, IP, URLs, and the match
//!   keys the server did not send; but only the order's own browser: when the server copy names
//!   the order's `fbp` (kept at checkout) and a beacon carries another, the beacon came from
//!   another browser (a forged one) and adds nothing; stored first, it is replaced whole.
//! - **Limited Data Use stays on** when either copy asked for it.
//! - **A complete pair is released at once**: the hold (waiting for the other copy) ends.
//! - **After the relay, nothing more is sent.** Meta keeps the first copy of an event ID it gets
//!   within 48 hours and drops later ones ("If we find a match between events sent within 48
//!   hours of each other, we only consider the first one": Meta's server-event parameters,
//!   `event_name`), and the relay sends every copy through the Conversions API. A copy that
//!   arrives once its event was sent (or failed, or expired) is merged into the stored row, for the
//!   reports, and flagged [`Origin::LATE`]; the relay does not send it again. Nor does the store
//!   keep its IP and user agent (the row's own were cleared when it left the queue): it derives
//!   the reports' bits of them and writes the row without them (`store/columns.rs`,
//!   `merged_row`).

use super::types::RelayStatus;
use crate::event::{NewEvent, Origin};

/// The stored event after `incoming` met it, or `None` when `incoming` brings no new copy (a
/// repeat: a retried beacon, a server retry): a duplicate.
pub fn meet(stored: &NewEvent, status: RelayStatus, incoming: &NewEvent) -> Option<NewEvent> {
    let copies = incoming.origin.copies();
    if copies.0 == 0 || stored.origin.has(copies) {
        return None;
    }
    let (server, browser) = if incoming.origin.verified() {
        (incoming, stored)
    } else {
        (stored, incoming)
    };
    let late = matches!(
        status,
        RelayStatus::Sent | RelayStatus::Failed | RelayStatus::Expired
    );
    if other_browser(server, browser) {
        if !incoming.origin.verified() {
            // Another browser's beacon with this event ID: not the order's own; dropped.
            return None;
        }
        // The stored beacon came from another browser than the order's (a forged one, sent
        // first): the server's copy replaces it whole, and still waits for the order's own.
        let origin = if late {
            Origin::SERVER.with(Origin::LATE)
        } else {
            Origin::SERVER
        };
        return Some(NewEvent {
            received_at_ms: stored.received_at_ms,
            relay: stored.relay,
            origin,
            ..incoming.clone()
        });
    }
    let mut origin = stored.origin.with(copies);
    if late {
        origin = origin.with(Origin::LATE);
    }
    let mut user_data = server.user_data.clone();
    for (key, hash) in &browser.user_data {
        if !user_data.iter().any(|(k, _)| k == key) {
            user_data.push((key.clone(), hash.clone()));
        }
    }
    // In key order, as the stores write and read the column.
    user_data.sort();
    let either = |s: &Option<String>, b: &Option<String>| s.clone().or_else(|| b.clone());
    let text = |s: &String, b: &String| if s.is_empty() { b.clone() } else { s.clone() };
    let ldu = |e: &NewEvent| {
        e.dpo
            .as_ref()
            .is_some_and(|d| d.options.iter().any(|o| o.eq_ignore_ascii_case("LDU")))
    };
    let dpo = if ldu(server) || !ldu(browser) {
        server.dpo.clone().or_else(|| browser.dpo.clone())
    } else {
        browser.dpo.clone()
    };
    Some(NewEvent {
        pixel_id: stored.pixel_id.clone(),
        event_name: stored.event_name.clone(),
        event_id: stored.event_id.clone(),
        event_id_derived: stored.event_id_derived,
        event_time: server.event_time,
        // The first copy's receipt: the deduplication window and the reports' order keep it.
        received_at_ms: stored.received_at_ms,
        source_url: text(&server.source_url, &browser.source_url),
        referrer_url: text(&server.referrer_url, &browser.referrer_url),
        fbp: either(&server.fbp, &browser.fbp),
        fbc: either(&server.fbc, &browser.fbc),
        client_ip: either(&server.client_ip, &browser.client_ip),
        user_agent: either(&server.user_agent, &browser.user_agent),
        user_data,
        custom_data: if server.custom_data.is_empty() {
            browser.custom_data.clone()
        } else {
            server.custom_data.clone()
        },
        dpo,
        relay: stored.relay,
        origin,
        hold_until_ms: None,
        server: server.server.clone(),
    })
}

/// The server copy names the order's browser (its `fbp`, kept at checkout) and the beacon came
/// from another one: the beacon is not the order's copy.
fn other_browser(server: &NewEvent, browser: &NewEvent) -> bool {
    matches!((&server.fbp, &browser.fbp), (Some(s), Some(b)) if s != b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ServerFields;
    use pixel_core::wire::Dpo;
    use serde_json::json;

    fn browser() -> NewEvent {
        NewEvent {
            pixel_id: "1".into(),
            event_name: "Purchase".into(),
            event_id: "order-7".into(),
            event_time: 100,
            received_at_ms: 100_500,
            source_url: "https://shop.example/thanks".into(),
            fbp: Some("fb.1.1.111".into()),
            fbc: Some("fb.1.1.click".into()),
            client_ip: Some("203.0.113.9".into()),
            user_agent: Some("Browser UA".into()),
            user_data: vec![("em".into(), "b".repeat(64)), ("fn".into(), "f".repeat(64))],
            custom_data: serde_json::from_value(
                json!({"value": 1, "currency": "XXX", "content_ids": ["junk"]}),
            )
            .unwrap_or_default(),
            relay: true,
            origin: Origin::BROWSER,
            hold_until_ms: Some(700_500),
            ..NewEvent::default()
        }
    }

    fn server() -> NewEvent {
        NewEvent {
            pixel_id: "1".into(),
            event_name: "Purchase".into(),
            event_id: "order-7".into(),
            event_time: 98,
            received_at_ms: 101_000,
            source_url: String::new(),
            user_agent: None,
            client_ip: Some("198.51.100.1".into()),
            user_data: vec![("em".into(), "a".repeat(64)), ("ph".into(), "c".repeat(64))],
            custom_data: serde_json::from_value(json!({"value": 59.9, "currency": "EUR", "contents": [{"id": "sku", "quantity": 1}]}))
                .unwrap_or_default(),
            relay: true,
            origin: Origin::SERVER,
            hold_until_ms: Some(701_000),
            server: Some(Box::new(ServerFields {
                action_source: "website".into(),
                test_event_code: Some("TEST1".into()),
                ..ServerFields::default()
            })),
            ..NewEvent::default()
        }
    }

    #[test]
    fn the_server_copy_wins_and_the_browser_fills_the_gaps_in_either_order() {
        let a = meet(&browser(), RelayStatus::Pending, &server()).unwrap_or_default();
        let mut b = meet(&server(), RelayStatus::Pending, &browser()).unwrap_or_default();
        // Only the first copy's receipt differs with the order.
        assert_eq!(b.received_at_ms, 101_000);
        b.received_at_ms = a.received_at_ms;
        assert_eq!(a, b);
        assert_eq!(a.origin.as_str(), "both");
        assert!(a.origin.verified() && !a.origin.has(Origin::LATE));
        assert_eq!(a.hold_until_ms, None, "a complete pair is released at once");
        assert_eq!(
            serde_json::Value::Object(a.custom_data.clone()),
            json!({"value": 59.9, "currency": "EUR", "contents": [{"id": "sku", "quantity": 1}]}),
            "the beacon adds nothing to the server's custom data"
        );
        assert_eq!(
            a.user_data,
            vec![
                ("em".into(), "a".repeat(64)),
                ("fn".into(), "f".repeat(64)),
                ("ph".into(), "c".repeat(64)),
            ]
        );
        assert_eq!(a.event_time, 98);
        assert_eq!(a.fbp.as_deref(), Some("fb.1.1.111"));
        assert_eq!(a.fbc.as_deref(), Some("fb.1.1.click"));
        assert_eq!(a.user_agent.as_deref(), Some("Browser UA"));
        assert_eq!(a.client_ip.as_deref(), Some("198.51.100.1"));
        assert_eq!(a.source_url, "https://shop.example/thanks");
        assert_eq!(
            a.server.as_ref().and_then(|s| s.test_event_code.as_deref()),
            Some("TEST1")
        );
    }

    #[test]
    fn a_beacon_from_another_browser_than_the_orders_adds_nothing() {
        let order = NewEvent {
            fbp: Some("fb.1.1.order".into()),
            fbc: None,
            ..server()
        };
        let forged = NewEvent {
            fbc: Some("fb.1.1.forgers-click".into()),
            ..browser()
        };
        // Forged first: the server's copy replaces it whole and still waits for the order's own.
        let m = meet(&forged, RelayStatus::Pending, &order).unwrap_or_default();
        assert_eq!(m.origin, Origin::SERVER);
        assert_eq!(m.fbc, None, "nothing of the forged beacon");
        assert_eq!(m.user_data, order.user_data);
        assert_eq!(m.hold_until_ms, order.hold_until_ms);
        assert_eq!(m.received_at_ms, forged.received_at_ms);
        // Forged after: dropped.
        assert_eq!(meet(&order, RelayStatus::Pending, &forged), None);
        // The order's own beacon then completes it.
        let own = NewEvent {
            fbp: Some("fb.1.1.order".into()),
            ..browser()
        };
        let both = meet(&m, RelayStatus::Pending, &own).unwrap_or_default();
        assert_eq!(both.origin.as_str(), "both");
        assert_eq!(both.fbc.as_deref(), Some("fb.1.1.click"));
    }

    #[test]
    fn repeats_are_duplicates() {
        assert_eq!(meet(&browser(), RelayStatus::Pending, &browser()), None);
        assert_eq!(meet(&server(), RelayStatus::Pending, &server()), None);
        let both = meet(&browser(), RelayStatus::Pending, &server()).unwrap_or_default();
        assert_eq!(meet(&both, RelayStatus::Pending, &browser()), None);
        assert_eq!(meet(&both, RelayStatus::Pending, &server()), None);
    }

    #[test]
    fn a_copy_after_the_relay_is_late() {
        for status in [RelayStatus::Sent, RelayStatus::Failed, RelayStatus::Expired] {
            let m = meet(&browser(), status, &server()).unwrap_or_default();
            assert!(
                m.origin.has(Origin::LATE) && m.origin.verified(),
                "{status:?}"
            );
        }
        let quiet = meet(&browser(), RelayStatus::NotRelayed, &server()).unwrap_or_default();
        assert!(!quiet.origin.has(Origin::LATE));
    }

    #[test]
    fn limited_data_use_from_either_copy_stays_on() {
        let ldu = Some(Dpo {
            options: vec!["LDU".into()],
            country: 1,
            state: 1000,
        });
        let b = NewEvent {
            dpo: ldu.clone(),
            ..browser()
        };
        let s = NewEvent {
            dpo: Some(Dpo::default()),
            ..server()
        };
        assert_eq!(meet(&b, RelayStatus::Pending, &s).and_then(|e| e.dpo), ldu);
        assert_eq!(meet(&s, RelayStatus::Pending, &b).and_then(|e| e.dpo), ldu);
        let none = meet(&browser(), RelayStatus::Pending, &s).and_then(|e| e.dpo);
        assert_eq!(none, Some(Dpo::default()));
    }
}
