//! What the relay does with server copies: each request carries one `test_event_code`, and an
//! event of the held set leaves when its other copy has come or its hold is over, not before.

use std::time::Duration;

use super::*;
use crate::event::{NewEvent, Origin, ServerFields};

fn server(eid: &str, at_ms: i64, code: Option<&str>) -> NewEvent {
    NewEvent {
        origin: Origin::SERVER,
        server: Some(Box::new(ServerFields {
            action_source: "website".into(),
            test_event_code: code.map(str::to_owned),
            ..ServerFields::default()
        })),
        ..event_at("Purchase", Some(eid), at_ms)
    }
}

#[tokio::test(start_paused = true)]
async fn each_request_carries_the_test_code_of_its_events() {
    let mut twin = Twin::new(Vec::new());
    let now = twin.now_ms();
    twin.store(&[
        server("a", now, Some("TEST1")),
        event_at("PageView", Some("b"), now),
        server("c", now, Some("TEST2")),
        server("d", now, Some("TEST1")),
    ]);
    twin.start();
    twin.settled(4, Duration::from_secs(10)).await;
    let requests: Vec<(Option<String>, Vec<String>)> = twin
        .graph
        .received()
        .iter()
        .map(|r| {
            let code = r.body.get("test_event_code").and_then(|c| c.as_str());
            let ids = r
                .events()
                .iter()
                .filter_map(|e| {
                    e.get("event_id")
                        .and_then(|i| i.as_str())
                        .map(str::to_owned)
                })
                .collect();
            (code.map(str::to_owned), ids)
        })
        .collect();
    assert_eq!(
        requests,
        [
            (
                Some("TEST1".to_owned()),
                vec!["a".to_owned(), "d".to_owned()]
            ),
            (None, vec!["b".to_owned()]),
            (Some("TEST2".to_owned()), vec!["c".to_owned()]),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_held_event_leaves_with_its_pair_or_at_the_end_of_its_hold_and_others_do_not_wait() {
    let mut twin = Twin::new(Vec::new());
    let now = twin.now_ms();
    let held = |e: NewEvent| NewEvent {
        hold_until_ms: Some(now + 60_000),
        ..e
    };
    twin.store(&[
        held(event_at("Purchase", Some("alone"), now)),
        held(event_at("Purchase", Some("pair"), now)),
        event_at("PageView", Some("view"), now),
    ]);
    twin.start();
    twin.arrived(1, Duration::from_secs(5)).await;
    assert_eq!(
        twin.graph.accepted_ids(),
        ["view"],
        "the others do not wait"
    );
    twin.store(&[held(server("pair", now + 1000, None))]);
    twin.arrived(2, Duration::from_secs(5)).await;
    assert_eq!(twin.graph.accepted_ids(), ["view", "pair"]);
    let sent_pair = twin.now_ms() - now;
    assert!(
        sent_pair < 60_000,
        "the pair left at once, after {sent_pair} ms"
    );
    twin.arrived(3, Duration::from_secs(120)).await;
    assert_eq!(twin.graph.accepted_ids(), ["view", "pair", "alone"]);
    assert!(
        twin.now_ms() - now >= 60_000,
        "the lone copy waited its hold"
    );
}
