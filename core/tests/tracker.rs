//! The state machine end to end on the in-memory host: exact query strings, consent, cookies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use pixel_core::delivery::{Keep, Transport};
use pixel_core::host::Level;
use pixel_core::memory_host::MemoryHost;
use pixel_core::tracker::{Options, Tracker};
use pixel_core::wire::Beacon;

const T0: u64 = 1_700_000_000_000;

fn setup(href: &str) -> (Tracker, MemoryHost) {
    let mut host = MemoryHost::new(href, T0);
    let t = Tracker::new(Options::default(), &mut host);
    (t, host)
}

fn call(t: &mut Tracker, h: &mut MemoryHost, json: &str) {
    t.call_json(json, h);
}

/// The query without the parts that vary (ts/eid are checked separately).
fn sent_queries(h: &MemoryHost) -> Vec<String> {
    h.sent.iter().map(|s| s.query.clone()).collect()
}

#[test]
fn init_and_pageview_exact_wire_format() {
    let (mut t, mut h) = setup("http://127.0.0.1:8080/shop?a=1");
    h.page.referrer = "https://www.google.com/".into();
    call(&mut t, &mut h, r#"["init","1234567890"]"#);
    call(
        &mut t,
        &mut h,
        r#"["track","PageView",null,{"eventID":"pv-1"}]"#,
    );
    let q = sent_queries(&h);
    assert_eq!(q.len(), 1);
    let fbp = h.cookie_value("_fbp");
    assert_eq!(
        q[0],
        format!(
            "id=1234567890&ev=PageView&dl=http%3A%2F%2F127.0.0.1%3A8080%2Fshop%3Fa%3D1&rl=https%3A%2F%2Fwww.google.com%2F&if=false&ts={T0}\
             &sw=1920&sh=1080&v=2.9.134-wasm.0.1.0&r=stable&ec=0&fbp={fbp}&it={T0}&eid=pv-1&rqm=FGET"
        )
    );
    assert_eq!(h.sent[0].endpoint, "https://www.facebook.com/tr/");
    assert_eq!(h.sent[0].transport, Transport::Get);
    assert!(fbp.starts_with(&format!("fb.0.{T0}.")), "{fbp}");
}

#[test]
fn custom_data_encoding_and_event_ids() {
    let (mut t, mut h) = setup("https://shop.example.com/p");
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(
        &mut t,
        &mut h,
        r#"["track","Purchase",{"value":12.5,"currency":"EUR","content_ids":["a","b"],"contents":[{"id":"a","quantity":2,"item_price":5}],"gift":true,"note":null,"eventID":"in-cd"},{"event_id":"order-7"}]"#,
    );
    let b = &h.beacons()[0];
    assert_eq!(
        b.cd,
        vec![
            ("value".into(), "12.5".into()),
            ("currency".into(), "EUR".into()),
            ("content_ids".into(), r#"["a","b"]"#.into()),
            (
                "contents".into(),
                r#"[{"id":"a","quantity":2,"item_price":5}]"#.into()
            ),
            ("gift".into(), "true".into()),
            ("eventID".into(), "in-cd".into()),
        ]
    );
    assert_eq!(b.eid.as_deref(), Some("order-7"));
    let q = &h.sent[0].query;
    assert!(
        q.contains("&cd[content_ids]=%5B%22a%22%2C%22b%22%5D&"),
        "{q}"
    );
    assert!(h.warnings().is_empty(), "{:?}", h.warnings());

    // No event ID from the page: a fresh UUID for each call.
    call(&mut t, &mut h, r#"["track","Lead"]"#);
    call(&mut t, &mut h, r#"["track","Lead"]"#);
    let bs = h.beacons();
    let (a, b) = (bs[1].eid.clone().unwrap(), bs[2].eid.clone().unwrap());
    assert_eq!(a.len(), 36);
    assert_ne!(a, b);
}

#[test]
fn event_counter_first_init_time_and_queue_order() {
    let (mut t, mut h) = setup("https://a.example.com/");
    call(&mut t, &mut h, r#"["init","111"]"#);
    h.now += 5;
    call(
        &mut t,
        &mut h,
        r#"["init","222",null,{"agent":"plshopify"}]"#,
    );
    h.now += 5;
    for ev in ["PageView", "ViewContent", "AddToCart"] {
        call(&mut t, &mut h, &format!(r#"["track","{ev}"]"#));
    }
    let bs = h.beacons();
    let seen: Vec<(String, String, u32, Option<String>)> = bs
        .iter()
        .map(|b| (b.id.clone(), b.ev.clone(), b.ec, b.a.clone()))
        .collect();
    let agent = Some("plshopify".to_string());
    assert_eq!(
        seen,
        vec![
            ("111".into(), "PageView".into(), 0, None),
            ("222".into(), "PageView".into(), 0, agent.clone()),
            ("111".into(), "ViewContent".into(), 1, None),
            ("222".into(), "ViewContent".into(), 1, agent.clone()),
            ("111".into(), "AddToCart".into(), 2, None),
            ("222".into(), "AddToCart".into(), 2, agent),
        ]
    );
    assert!(bs.iter().all(|b| b.it == Some(T0) && b.ts == T0 + 10));
    // One event ID per call, shared by the pixels it goes to.
    assert_eq!(bs[0].eid, bs[1].eid);
    assert_ne!(bs[0].eid, bs[2].eid);
}

#[test]
fn track_single_routes_to_one_pixel() {
    let (mut t, mut h) = setup("https://a.example.com/");
    call(&mut t, &mut h, r#"["init","111"]"#);
    call(&mut t, &mut h, r#"["init",222]"#);
    call(
        &mut t,
        &mut h,
        r#"["trackSingle","222","Purchase",{"value":1,"currency":"USD"}]"#,
    );
    call(&mut t, &mut h, r#"["trackSingleCustom",111,"Wishlisted"]"#);
    call(&mut t, &mut h, r#"["trackSingle","999","Lead"]"#);
    for not_an_id in ["null", "true", r#"["111"]"#, "{}"] {
        call(
            &mut t,
            &mut h,
            &format!(r#"["trackSingle",{not_an_id},"Lead"]"#),
        );
        call(
            &mut t,
            &mut h,
            &format!(r#"["trackSingleCustom",{not_an_id},"Odd"]"#),
        );
    }
    call(&mut t, &mut h, r#"["trackSingle"]"#);
    let bs = h.beacons();
    assert_eq!(bs.len(), 2, "a pixel ID that is not text sends nothing");
    assert_eq!(
        h.warnings()
            .iter()
            .filter(|w| w.contains("needs a pixel ID"))
            .count(),
        8
    );
    assert_eq!(
        (bs[0].id.as_str(), bs[0].ev.as_str(), bs[0].tm),
        ("222", "Purchase", Some(1))
    );
    assert_eq!(
        (bs[1].id.as_str(), bs[1].ev.as_str(), bs[1].tm),
        ("111", "Wishlisted", Some(2))
    );
    assert!(h
        .warnings()
        .iter()
        .any(|w| w.contains("999") && w.contains("not initialised")));
}

#[test]
fn warnings_still_send() {
    let (mut t, mut h) = setup("https://a.example.com/");
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","MyEvent"]"#);
    call(&mut t, &mut h, r#"["track","Purchase",{"value":"lots"}]"#);
    call(&mut t, &mut h, r#"["trackCustom","MyEvent"]"#);
    assert_eq!(h.beacons().len(), 3);
    let w = h.warnings();
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(w[0].contains("trackCustom"));
    assert!(w[1].contains("value") && w[2].contains("currency"));
    assert!(w.iter().all(|w| w.starts_with("[fbq] ")));
}

#[test]
fn invalid_calls_warn_and_send_nothing_then_next_call_works() {
    let (mut t, mut h) = setup("https://a.example.com/");
    for bad in [
        "[]",
        "[42]",
        r#"["track"]"#,
        r#"["track",42]"#,
        r#"["init","abc"]"#,
        r#"["init","0123"]"#,
        r#"["init","123456789012345678901234567"]"#,
        r#"["bogus","x"]"#,
        r#"["consent","maybe"]"#,
        r#"["set","nope",1]"#,
        r#"["dataProcessingOptions","LDU"]"#,
        "not json",
        r#"[{"a":1}]"#,
    ] {
        call(&mut t, &mut h, bad);
    }
    assert!(h.sent.is_empty());
    assert_eq!(h.warnings().len(), 13, "{:?}", h.warnings());
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","Lead","not an object"]"#);
    let bs = h.beacons();
    assert_eq!(bs.len(), 1);
    assert!(bs[0].cd.is_empty());
}

#[test]
fn duplicate_init_and_legacy_array_form() {
    let (mut t, mut h) = setup("https://a.example.com/");
    call(&mut t, &mut h, r#"[["init","1"]]"#);
    call(&mut t, &mut h, r#"["init","1"]"#);
    assert!(h
        .warnings()
        .iter()
        .any(|w| w.contains("Duplicate Pixel ID")));
    call(&mut t, &mut h, r#"["init","1",{"em":"jane@example.com"}]"#);
    call(&mut t, &mut h, r#"[["track","PageView"]]"#);
    let b = &h.beacons()[0];
    assert_eq!(
        b.ud,
        vec![(
            "em".to_string(),
            "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d".to_string()
        )]
    );
}

#[test]
fn pageview_once_per_url_unless_allowed() {
    let (mut t, mut h) = setup("https://a.example.com/one");
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    h.page.href = "https://a.example.com/two".into();
    t.page_changed(&mut h);
    t.page_changed(&mut h);
    let dls: Vec<String> = h.beacons().iter().map(|b| b.dl.clone()).collect();
    assert_eq!(
        dls,
        ["https://a.example.com/one", "https://a.example.com/two"]
    );

    let mut h = MemoryHost::new("https://a.example.com/one", T0);
    let mut t = Tracker::new(
        Options {
            allow_duplicate_page_views: true,
            disable_push_state: true,
        },
        &mut h,
    );
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    h.page.href = "https://a.example.com/two".into();
    t.page_changed(&mut h);
    assert_eq!(
        h.beacons().len(),
        2,
        "duplicates allowed, pushState disabled"
    );
}

/// Two pixels where only one has seen this URL: the other gets the PageView, with its own `id`
/// and `ec`, and the first gets nothing (the per-pixel state and the beacon must not drift apart).
#[test]
fn pageview_once_per_pixel_when_pixels_differ() {
    let (mut t, mut h) = setup("https://a.example.com/one");
    call(&mut t, &mut h, r#"["init","111"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    call(&mut t, &mut h, r#"["init","222"]"#);
    call(&mut t, &mut h, r#"["track","ViewContent"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    let got: Vec<(String, String, u32)> = h
        .beacons()
        .iter()
        .map(|b| (b.id.clone(), b.ev.clone(), b.ec))
        .collect();
    let want = [
        ("111", "PageView", 0),
        ("111", "ViewContent", 1),
        ("222", "ViewContent", 0),
        ("222", "PageView", 1),
    ];
    assert_eq!(got, want.map(|(i, e, c)| (i.to_string(), e.to_string(), c)));
}

#[test]
fn consent_revoke_holds_everything_and_grant_replays_in_order() {
    let (mut t, mut h) = setup("https://shop.example.com/?fbclid=abc");
    call(&mut t, &mut h, r#"["consent","revoke"]"#);
    call(&mut t, &mut h, r#"["init","1",{"em":"jane@example.com"}]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    h.now += 1000;
    call(
        &mut t,
        &mut h,
        r#"["track","Lead",{},{"eventID":"lead-1"}]"#,
    );
    assert!(h.sent.is_empty());
    assert_eq!(h.cookie_writes, 0, "no cookie write while revoked");
    assert!(h.jar.is_empty());
    h.now += 60_000;
    call(&mut t, &mut h, r#"["consent","grant"]"#);
    let bs = h.beacons();
    assert_eq!(
        bs.iter().map(|b| b.ev.as_str()).collect::<Vec<_>>(),
        ["PageView", "Lead"]
    );
    assert_eq!(bs[0].ts, T0);
    assert_eq!(bs[1].ts, T0 + 1000);
    assert_eq!(bs[1].eid.as_deref(), Some("lead-1"));
    assert_eq!(bs[0].it, Some(T0));
    assert!(bs[0].fbc.as_deref().unwrap().ends_with(".abc"));
    // Revoking again holds again.
    call(&mut t, &mut h, r#"["consent","revoke"]"#);
    call(
        &mut t,
        &mut h,
        r#"["track","Purchase",{"value":1,"currency":"USD"}]"#,
    );
    assert_eq!(h.sent.len(), 2);
}

#[test]
fn limited_mode_sends_without_identity() {
    let (mut t, mut h) = setup("https://shop.example.com/p?email=x#frag");
    h.page.referrer = "https://ref.example.org/a?b=c".into();
    call(&mut t, &mut h, r#"["consent","revoke"]"#);
    call(&mut t, &mut h, r#"["init","1",{"em":"jane@example.com"}]"#);
    call(&mut t, &mut h, r#"["consent","limited"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    let b = &h.beacons()[0];
    assert_eq!(b.dl, "https://shop.example.com/p");
    assert_eq!(b.rl, "https://ref.example.org/a");
    assert!(b.ud.is_empty() && b.fbp.is_none() && b.fbc.is_none());
    assert_eq!(
        b.dpo
            .as_ref()
            .map(|d| (d.options.clone(), d.country, d.state)),
        Some((vec!["LDU".to_string()], 0, 0))
    );
    assert_eq!(h.cookie_writes, 0);
}

#[test]
fn global_privacy_control_means_limited_when_honoured() {
    let (mut t, mut h) = setup("https://shop.example.com/");
    h.gpc = true;
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","Lead"]"#);
    assert!(
        h.beacons()[0].fbp.is_some(),
        "GPC ignored unless honorGPC is set"
    );
    call(&mut t, &mut h, r#"["set","honorGPC",true]"#);
    call(&mut t, &mut h, r#"["track","Lead"]"#);
    let b = &h.beacons()[1];
    assert!(b.fbp.is_none());
    assert_eq!(b.dpo.as_ref().unwrap().options, ["LDU"]);
}

#[test]
fn data_processing_options_variants() {
    let cases = [
        (
            r#"["dataProcessingOptions",["LDU"],1,1000]"#,
            "&dpo=LDU&dpoco=1&dpost=1000&",
        ),
        (
            r#"["dataProcessingOptions",["LDU"]]"#,
            "&dpo=LDU&dpoco=0&dpost=0&",
        ),
        (r#"["dataProcessingOptions",[]]"#, "&dpo=&eid="),
    ];
    for (dpo, want) in cases {
        let (mut t, mut h) = setup("https://a.example.com/");
        call(&mut t, &mut h, dpo);
        call(&mut t, &mut h, r#"["init","1"]"#);
        call(&mut t, &mut h, r#"["track","Lead"]"#);
        assert!(h.sent[0].query.contains(want), "{dpo}: {}", h.sent[0].query);
    }
}

/// Delivery policy is the core's: the shell is told with each beacon whether a copy the endpoint
/// did not acknowledge may wait in storage, and never reads LDU back out of the wire text.
#[test]
fn the_shell_is_told_to_keep_ldu_beacons_out_of_storage() {
    let cases = [
        (r#"["consent","limited"]"#, Keep::Memory),
        (r#"["dataProcessingOptions",["LDU"],1,1000]"#, Keep::Memory),
        (r#"["dataProcessingOptions",["LDU"]]"#, Keep::Memory),
        (r#"["dataProcessingOptions",[]]"#, Keep::Storage),
        (r#"["consent","grant"]"#, Keep::Storage),
    ];
    for (setting, keep) in cases {
        let (mut t, mut h) = setup("https://a.example.com/");
        call(&mut t, &mut h, setting);
        call(&mut t, &mut h, r#"["init","1"]"#);
        call(
            &mut t,
            &mut h,
            r#"["set","openbridge","1","https://b.example/tr"]"#,
        );
        call(&mut t, &mut h, r#"["track","Lead"]"#);
        assert_eq!(h.sent.len(), 2, "{setting}: endpoint and bridge");
        for s in &h.sent {
            assert_eq!(s.keep, keep, "{setting} → {}", s.query);
            let ldu = s.query.contains("&dpo=LDU&");
            assert_eq!(
                ldu,
                keep == Keep::Memory,
                "{setting}: the flag agrees with the wire"
            );
        }
    }
    // Global Privacy Control honoured: limited mode, so LDU, so memory only.
    let (mut t, mut h) = setup("https://a.example.com/");
    h.gpc = true;
    call(&mut t, &mut h, r#"["set","honorGPC",true]"#);
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","Lead"]"#);
    assert_eq!(h.sent[0].keep, Keep::Memory);
    // And a long beacon that goes as a POST keeps its class.
    let big = "x".repeat(3000);
    call(
        &mut t,
        &mut h,
        &format!(r#"["track","Lead",{{"note":"{big}"}}]"#),
    );
    assert_eq!(
        (h.sent[1].transport, h.sent[1].keep),
        (Transport::Post, Keep::Memory)
    );
}

#[test]
fn cookies_domain_format_and_fbclid_replacement() {
    let (mut t, mut h) = setup("https://shop.example.com/p?fbclid=IwAR1");
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    let fbp = h.cookie_value("_fbp");
    let fbc = h.cookie_value("_fbc");
    assert!(
        fbp.starts_with(&format!("fb.1.{T0}.")) && fbp.len() > 18,
        "{fbp}"
    );
    assert_eq!(fbc, format!("fb.1.{T0}.IwAR1"));
    let jar_domains: Vec<&str> = h.jar.iter().map(|c| c.domain.as_str()).collect();
    assert_eq!(jar_domains, ["example.com", "example.com"]);
    assert!(h
        .jar
        .iter()
        .all(|c| c.secure && c.max_age_secs == 90 * 24 * 3600));
    let b = &h.beacons()[0];
    assert_eq!(
        (b.fbp.as_deref(), b.fbc.as_deref()),
        (Some(fbp.as_str()), Some(fbc.as_str()))
    );

    // Same fbclid: kept. New fbclid: replaced. The browser id never changes.
    h.now += 10;
    h.page.href = "https://shop.example.com/q?fbclid=IwAR1".into();
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    assert_eq!(h.cookie_value("_fbc"), fbc);
    h.page.href = "https://shop.example.com/r?fbclid=IwAR2".into();
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    assert_eq!(h.cookie_value("_fbc"), format!("fb.1.{}.IwAR2", T0 + 10));
    assert_eq!(h.cookie_value("_fbp"), fbp);

    // A too-long fbclid is ignored.
    let long = "x".repeat(501);
    h.page.href = format!("https://shop.example.com/s?fbclid={long}");
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    assert!(h.cookie_value("_fbc").ends_with("IwAR2"));
}

#[test]
fn first_party_cookies_off() {
    let (mut t, mut h) = setup("https://shop.example.com/");
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["init","2"]"#);
    call(&mut t, &mut h, r#"["set","firstPartyCookies",false,"2"]"#);
    call(&mut t, &mut h, r#"["track","Lead"]"#);
    let bs = h.beacons();
    assert!(bs[0].fbp.is_some() && bs[1].fbp.is_none());
    let (mut t, mut h) = setup("https://shop.example.com/");
    call(&mut t, &mut h, r#"["set","firstPartyCookies",false]"#);
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","Lead"]"#);
    assert!(h.beacons()[0].fbp.is_none());
    assert_eq!(h.cookie_writes, 0);
}

#[test]
fn non_http_pages_write_no_cookie() {
    let (mut t, mut h) = setup("file:///tmp/page.html");
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","Lead"]"#);
    assert_eq!(h.cookie_writes, 0);
    assert!(h.beacons()[0].fbp.is_none());
}

#[test]
fn long_payloads_go_as_post_and_arrive_whole() {
    let (mut t, mut h) = setup("https://a.example.com/");
    call(&mut t, &mut h, r#"["init","1"]"#);
    let name = "é".repeat(3000);
    call(
        &mut t,
        &mut h,
        &format!(r#"["track","ViewContent",{{"content_name":"{name}"}}]"#),
    );
    assert_eq!(h.sent[0].transport, Transport::Post);
    let b = Beacon::decode(&h.sent[0].query).unwrap();
    assert_eq!(b.cd[0].1, name);
    assert_eq!(b.rqm.as_deref(), Some("SB"));
    // Over 16 KB: the parameter is dropped with a warning, the event still goes.
    let huge = "x".repeat(1 << 20);
    call(
        &mut t,
        &mut h,
        &format!(r#"["track","ViewContent",{{"content_name":"{huge}","value":1}}]"#),
    );
    let b = Beacon::decode(&h.sent[1].query).unwrap();
    assert_eq!(b.cd, vec![("value".to_string(), "1".to_string())]);
    assert!(h
        .warnings()
        .iter()
        .any(|w| w.contains("content_name") && w.contains("16 KB")));
}

#[test]
fn endpoint_and_openbridge() {
    let (mut t, mut h) = setup("https://a.example.com/");
    call(
        &mut t,
        &mut h,
        r#"["set","endpoint","https://a.example.com/tr/"]"#,
    );
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["init","2"]"#);
    call(
        &mut t,
        &mut h,
        r#"["set","openbridge","2","https://gw.example.com/events"]"#,
    );
    call(
        &mut t,
        &mut h,
        r#"["track","Purchase",{"value":3,"currency":"USD"},{"eventID":"o1"}]"#,
    );
    let to: Vec<(&str, String)> = h
        .sent
        .iter()
        .map(|s| (s.endpoint.as_str(), Beacon::decode(&s.query).unwrap().id))
        .collect();
    assert_eq!(
        to,
        [
            ("https://a.example.com/tr/", "1".into()),
            ("https://a.example.com/tr/", "2".into()),
            ("https://gw.example.com/events", "2".into())
        ]
    );
    assert_eq!(
        h.sent[1].query, h.sent[2].query,
        "the gateway copy is identical, eid included"
    );
    call(
        &mut t,
        &mut h,
        r#"["set","endpoint","javascript:alert(1)"]"#,
    );
    assert!(h.warnings().iter().any(|w| w.contains("endpoint")));
}

#[test]
fn debug_mode_logs_beacons_with_hashes_only() {
    let (mut t, mut h) = setup("https://a.example.com/?fbq_debug=1");
    call(
        &mut t,
        &mut h,
        r#"["init","1",{"em":"Jane@Example.com","ph":"nothing","zz":"x"}]"#,
    );
    call(&mut t, &mut h, r#"["track","Lead"]"#);
    let info: Vec<&str> = h
        .console
        .iter()
        .filter(|(l, _)| *l != Level::Error)
        .map(|(_, m)| m.as_str())
        .collect();
    let all = info.join("\n");
    assert!(
        all.contains("Lead → pixel 1 via https://www.facebook.com/tr/"),
        "{all}"
    );
    assert!(
        all.contains("ud[em]: 8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"),
        "{all}"
    );
    assert!(all.contains("dropped ud[ph]"), "{all}");
    assert!(
        h.warnings().iter().any(|w| w.contains("dropped ud[ph]")),
        "a dropped field is a warning in debug mode"
    );
    assert!(!all.to_lowercase().contains("jane@example.com"));
    assert!(!all.contains("nothing"));
}

#[test]
fn set_user_data_replaces_hashes() {
    let (mut t, mut h) = setup("https://a.example.com/");
    call(&mut t, &mut h, r#"["init","1",{"em":"a@b.co"}]"#);
    call(
        &mut t,
        &mut h,
        r#"["set","userData",{"phone":"+1 (650) 555-1212"},"1"]"#,
    );
    call(&mut t, &mut h, r#"["track","Lead"]"#);
    assert_eq!(
        h.beacons()[0].ud,
        vec![(
            "ph".to_string(),
            "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176".to_string()
        )]
    );
}

#[test]
fn returning_visitor_keeps_the_browser_id_and_gets_the_click_id_on_the_right_domain() {
    let (mut t, mut h) = setup("https://shop.example.com/p?fbclid=NEW-click_1");
    // Written by an earlier visit (ours or Meta's pixel) on example.com.
    h.jar.push(pixel_core::memory_host::StoredCookie {
        name: "_fbp".into(),
        value: "fb.1.1600000000000.123456".into(),
        domain: "example.com".into(),
        max_age_secs: 3600,
        secure: true,
    });
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    let b = &h.beacons()[0];
    assert_eq!(b.fbp.as_deref(), Some("fb.1.1600000000000.123456"));
    assert_eq!(b.fbc, Some(format!("fb.1.{T0}.NEW-click_1")));
    let jar: Vec<(&str, &str, u32)> = h
        .jar
        .iter()
        .map(|c| (c.name.as_str(), c.domain.as_str(), c.max_age_secs))
        .collect();
    assert_eq!(
        jar,
        [
            ("_fbp", "example.com", 90 * 24 * 3600),
            ("_fbc", "example.com", 90 * 24 * 3600)
        ],
        "the browser ID is refreshed for 90 days and the click ID stored beside it; no probe left"
    );
}

#[test]
fn an_fbclid_that_is_not_cookie_safe_is_ignored() {
    let (mut t, mut h) = setup("https://shop.example.com/?fbclid=abc%3B%20Max-Age%3D0%2C%20x");
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    assert_eq!(h.beacons()[0].fbc, None);
    assert!(h.jar.iter().all(|c| c.name != "_fbc"));
}

#[test]
fn settings_made_before_init_apply_when_the_pixel_is_initialised() {
    let (mut t, mut h) = setup("https://shop.example.com/");
    call(&mut t, &mut h, r#"["set","firstPartyCookies",false,"1"]"#);
    call(&mut t, &mut h, r#"["set","agent","plwoocommerce","1"]"#);
    call(
        &mut t,
        &mut h,
        r#"["set","userData",{"em":"jane@example.com"},"1"]"#,
    );
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    let b = &h.beacons()[0];
    assert_eq!(b.fbp, None);
    assert_eq!(
        h.cookie_writes, 0,
        "the store's opt-out holds from the first event"
    );
    assert_eq!(b.a.as_deref(), Some("plwoocommerce"));
    assert_eq!(b.ud.len(), 1);
    // init's own data wins over what was set before it.
    call(&mut t, &mut h, r#"["set","agent","first","2"]"#);
    call(&mut t, &mut h, r#"["init","2",null,{"agent":"second"}]"#);
    call(&mut t, &mut h, r#"["trackSingle","2","Lead"]"#);
    assert_eq!(h.beacons()[1].a.as_deref(), Some("second"));
}

#[test]
fn a_call_to_a_pixel_without_cookies_touches_no_cookie() {
    let (mut t, mut h) = setup("https://shop.example.com/");
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["init","2"]"#);
    call(&mut t, &mut h, r#"["set","firstPartyCookies",false,"2"]"#);
    call(&mut t, &mut h, r#"["trackSingle","2","Lead"]"#);
    assert_eq!(h.cookie_writes, 0);
    call(&mut t, &mut h, r#"["trackSingle","1","Lead"]"#);
    assert!(h.cookie_writes > 0);
}

#[test]
fn pageview_once_per_url_with_bounded_memory() {
    let (mut t, mut h) = setup("https://a.example.com/a");
    call(&mut t, &mut h, r#"["init","1"]"#);
    for href in ["a", "a", "b", "a", "b"] {
        h.page.href = format!("https://a.example.com/{href}");
        call(&mut t, &mut h, r#"["track","PageView"]"#);
    }
    let dls: Vec<String> = h.beacons().iter().map(|b| b.dl.clone()).collect();
    assert_eq!(dls, ["https://a.example.com/a", "https://a.example.com/b"]);
    // An infinite-scroll page rewriting its URL: the rule remembers the last 1,024 URLs, so the
    // first one (long forgotten) counts again and memory stays bounded.
    for i in 0..pixel_core::tracker::MAX_PAGE_VIEW_URLS {
        h.page.href = format!("https://a.example.com/?page={i}");
        call(&mut t, &mut h, r#"["track","PageView"]"#);
    }
    h.page.href = "https://a.example.com/a".into();
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    assert_eq!(h.beacons().len(), 2 + 1024 + 1);
}

/// Cookies Meta's Parameter Builder writes have a fifth segment (`.<appendix>`): kept as they are
/// (no rewrite), sent as `fbp`/`fbc`, and the same click ID in the URL does not replace `_fbc`.
#[test]
fn five_segment_cookies_of_metas_parameter_builder_are_kept_and_sent_as_they_are() {
    for url in [
        "https://shop.example.com/p",
        "https://shop.example.com/p?fbclid=IwAR2F4-dbP0",
    ] {
        let (mut t, mut h) = setup(url);
        for (name, value) in [
            ("_fbp", "fb.1.1600000000000.1234567890.AQ"),
            ("_fbc", "fb.1.1600000000000.IwAR2F4-dbP0.Ab-_9xYz"),
        ] {
            h.jar.push(pixel_core::memory_host::StoredCookie {
                name: name.into(),
                value: value.into(),
                domain: "example.com".into(),
                max_age_secs: 3600,
                secure: true,
            });
        }
        call(&mut t, &mut h, r#"["init","1"]"#);
        call(&mut t, &mut h, r#"["track","PageView"]"#);
        let b = &h.beacons()[0];
        assert_eq!(
            b.fbp.as_deref(),
            Some("fb.1.1600000000000.1234567890.AQ"),
            "{url}"
        );
        assert_eq!(
            b.fbc.as_deref(),
            Some("fb.1.1600000000000.IwAR2F4-dbP0.Ab-_9xYz"),
            "{url}"
        );
        for c in &h.jar {
            assert!(
                c.value.ends_with(".AQ") || c.value.ends_with(".Ab-_9xYz"),
                "{c:?}"
            );
        }
    }
    // A different click ID still replaces the cookie.
    let (mut t, mut h) = setup("https://shop.example.com/p?fbclid=OTHER");
    h.jar.push(pixel_core::memory_host::StoredCookie {
        name: "_fbc".into(),
        value: "fb.1.1600000000000.IwAR2F4-dbP0.AQ".into(),
        domain: "example.com".into(),
        max_age_secs: 3600,
        secure: true,
    });
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    assert_eq!(h.beacons()[0].fbc, Some(format!("fb.1.{T0}.OTHER")));
}

/// Inside Facebook's or Instagram's in-app browser the app may give the click ID the URL lacks:
/// it becomes `_fbc` and `fbc` like an `fbclid`; an `fbclid` in the URL wins; not cookie-safe:
/// ignored.
#[test]
fn the_in_app_browsers_click_id_stands_in_for_a_missing_fbclid() {
    let (mut t, mut h) = setup("https://shop.example.com/p");
    h.in_app_click_id = Some("IwAR-in_app.1".into());
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    assert_eq!(h.beacons()[0].fbc, Some(format!("fb.1.{T0}.IwAR-in_app.1")));
    assert!(h.jar.iter().any(|c| c.name == "_fbc"));

    let (mut t, mut h) = setup("https://shop.example.com/p?fbclid=FROM-URL");
    h.in_app_click_id = Some("IwAR-in_app".into());
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    assert_eq!(h.beacons()[0].fbc, Some(format!("fb.1.{T0}.FROM-URL")));

    let (mut t, mut h) = setup("https://shop.example.com/p");
    h.in_app_click_id = Some("a;b=c".into());
    call(&mut t, &mut h, r#"["init","1"]"#);
    call(&mut t, &mut h, r#"["track","PageView"]"#);
    assert_eq!(h.beacons()[0].fbc, None);
}
