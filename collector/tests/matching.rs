//! Meta's normalisation through the collector (issue #13): every input of
//! `shared/vectors/meta-param-builder.json` (the unit tests of Meta's Conversions API Parameter
//! Builder with the value Meta's library gives; the core's vendored copy when the shared folder
//! is absent) sent as a plain `ud[<field>]` in a beacon to a running collector must be stored as
//! the hash of Meta's value, or dropped when Meta drops it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{backend_tests, beacon, send_all, Backend, Collector, PIXEL};
use serde_json::Value;
use std::time::Duration;

fn vectors() -> Vec<Value> {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let shared = format!("{manifest}/../../shared/vectors/meta-param-builder.json");
    let vendored = format!("{manifest}/../core/tests/data/meta-param-builder.json");
    let text = std::fs::read_to_string(shared)
        .or_else(|_| std::fs::read_to_string(vendored))
        .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["vectors"].as_array().unwrap().clone()
}

async fn meta_parameter_builder_vectors_through_ud_are_stored_as_metas_hash(backend: Backend) {
    let vectors = vectors();
    assert!(vectors.len() >= 329, "{}", vectors.len());
    let dir = tempfile::tempdir().unwrap();
    let c = Collector::start_on(&backend.db(dir.path()), dir.path(), &["--pixel", PIXEL]).await;
    let beacons = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut b = beacon("Lead", &format!("mv-{i}"));
            let field = v["field"].as_str().unwrap();
            b.ud = vec![(field.into(), v["input"].as_str().unwrap().into())];
            b
        })
        .collect();
    send_all(&c, beacons, 4).await;
    let events = c.wait_settled(vectors.len(), Duration::from_secs(20)).await;
    assert_eq!(events.len(), vectors.len());
    let mut wrong = Vec::new();
    for (i, v) in vectors.iter().enumerate() {
        let e = events
            .iter()
            .find(|e| e["event_id"] == format!("mv-{i}"))
            .unwrap();
        let field = v["field"].as_str().unwrap();
        let stored = e["user_data"].get(field).cloned().unwrap_or(Value::Null);
        if stored != v["sha256"] {
            wrong.push(format!(
                "{field} {:?}: stored {stored}, Meta {} → {}",
                v["input"], v["normalized"], v["sha256"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ from Meta's library:\n{}",
        wrong.len(),
        vectors.len(),
        wrong.join("\n")
    );
}

/// Cookies and hashes as Meta's Parameter Builder writes them (five-segment `fbp`/`fbc`,
/// `<64 hex>.<appendix>` values) go through the collector unchanged: set again from the server
/// as they are, and relayed to the Conversions API as they are.
async fn five_segment_cookies_and_suffixed_hashes_are_re_set_and_relayed_unchanged(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let graph = common::Graph::start().await;
    let pixel = format!("{PIXEL}={}", common::TOKEN);
    let c = Collector::start_on(
        &backend.db(dir.path()),
        dir.path(),
        &[
            "--graph-url",
            &graph.url,
            "--graph-allow-http",
            "--pixel",
            &pixel,
            "--relay-interval-ms",
            "50",
        ],
    )
    .await;
    let (fbp, fbc) = (
        "fb.1.1700000000000.1234567890.AQ",
        "fb.1.1700000000000.IwAR2F4-dbP0.Ab-_9xYz",
    );
    let hex = pixel_core::matching::sha256_hex("jane@example.com");
    let mut b = beacon("Lead", "five-1");
    b.dl = c.url("/product/1");
    b.fbp = Some(fbp.into());
    b.fbc = Some(fbc.into());
    b.ud = vec![("em".into(), format!("{}.AQ", hex.to_uppercase()))];
    let r = reqwest::get(c.url(&format!("/tr/?{}", b.encode())))
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let set: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        set,
        [
            format!("_fbp={fbp}; Max-Age=7776000; Path=/; SameSite=Lax"),
            format!("_fbc={fbc}; Max-Age=7776000; Path=/; SameSite=Lax"),
        ]
    );
    graph.wait_arrived(1, Duration::from_secs(10)).await;
    let sent = &graph.received()[0].body["data"][0]["user_data"];
    assert_eq!(sent["fbp"], fbp);
    assert_eq!(sent["fbc"], fbc);
    assert_eq!(sent["em"], serde_json::json!([format!("{hex}.AQ")]));
}

backend_tests! {
    meta_parameter_builder_vectors_through_ud_are_stored_as_metas_hash,
    five_segment_cookies_and_suffixed_hashes_are_re_set_and_relayed_unchanged,
}
