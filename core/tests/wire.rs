//! Wire format: exact encoding, decoding, and the encode → decode round trip (property test).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::Cow;

use pixel_core::percent::{decode_component, encode_uri_component, percent_decode, Malformed};
use pixel_core::wire::{parse_query, query_pairs, Beacon, DecodeError, Dpo};
use proptest::prelude::*;

fn enc(s: &str) -> String {
    let mut out = String::new();
    encode_uri_component(s, &mut out);
    out
}

#[test]
fn encode_uri_component_matches_javascript() {
    // Expected values are what JavaScript's encodeURIComponent prints.
    let table = [
        ("abcXYZ019", "abcXYZ019"),
        ("-_.!~*'()", "-_.!~*'()"),
        (" ", "%20"),
        ("+&=?#/[]", "%2B%26%3D%3F%23%2F%5B%5D"),
        ("é", "%C3%A9"),
        ("😀", "%F0%9F%98%80"),
        ("\"{}\n", "%22%7B%7D%0A"),
    ];
    for (input, want) in table {
        assert_eq!(enc(input), want, "{input}");
    }
}

#[test]
fn full_beacon_in_meta_order() {
    let b = Beacon {
        id: "1".into(),
        ev: "Purchase".into(),
        dl: "https://s.example/t?x=1".into(),
        rl: String::new(),
        in_iframe: true,
        ts: 1_700_000_000_123,
        cd: vec![
            ("value".into(), "9.99".into()),
            ("content_ids".into(), r#"["a"]"#.into()),
        ],
        sw: Some(390),
        sh: Some(844),
        ud: vec![("em".into(), "ab".repeat(32))],
        v: "2.9.134-wasm.0.1.0".into(),
        r: "stable".into(),
        a: Some("tmgoogle".into()),
        ec: 4,
        fbp: Some("fb.1.1.2".into()),
        fbc: Some("fb.1.1.x".into()),
        it: Some(1_700_000_000_000),
        dpo: Some(Dpo {
            options: vec!["LDU".into()],
            country: 1,
            state: 1000,
        }),
        eid: Some("e-1".into()),
        tm: Some(2),
        rqm: Some("FGET".into()),
    };
    let want = format!(
        "id=1&ev=Purchase&dl=https%3A%2F%2Fs.example%2Ft%3Fx%3D1&rl=&if=true&ts=1700000000123&cd[value]=9.99&cd[content_ids]=%5B%22a%22%5D\
         &sw=390&sh=844&ud[em]={}&v=2.9.134-wasm.0.1.0&r=stable&a=tmgoogle&ec=4&fbp=fb.1.1.2&fbc=fb.1.1.x&it=1700000000000\
         &dpo=LDU&dpoco=1&dpost=1000&eid=e-1&tm=2&rqm=FGET",
        "ab".repeat(32)
    );
    assert_eq!(b.encode(), want);
    assert_eq!(Beacon::decode(&want).unwrap(), b);
}

#[test]
fn decode_rejects_what_it_must() {
    assert_eq!(Beacon::decode("ev=PageView"), Err(DecodeError::MissingId));
    assert_eq!(Beacon::decode("id=1"), Err(DecodeError::MissingEvent));
    assert_eq!(
        Beacon::decode("id=1&ev=A&ts=soon"),
        Err(DecodeError::BadNumber)
    );
    assert_eq!(
        Beacon::decode("id=1&ev=%ZZ"),
        Err(DecodeError::BadPercentEncoding)
    );
    assert_eq!(
        Beacon::decode("id=1&ev=%FF"),
        Err(DecodeError::BadPercentEncoding)
    );
    assert!(DecodeError::MissingId.message().contains("id"));
}

#[test]
fn decode_accepts_form_bodies_and_unknown_parameters() {
    let b = Beacon::decode("?id=1&ev=Lead&cd[note]=a+b%2Bc&zz=1&&cd[note]=last").unwrap();
    assert_eq!(b.cd, vec![("note".to_string(), "last".to_string())]);
    assert_eq!(percent_decode("a+b%2Bc").unwrap(), "a b+c");
    assert_eq!(
        parse_query("a=1&b&c=").unwrap(),
        vec![
            ("a".into(), "1".into()),
            ("b".into(), String::new()),
            ("c".into(), String::new())
        ]
    );
    let off = Beacon::decode("id=1&ev=Lead&dpo=").unwrap();
    assert_eq!(off.dpo, Some(Dpo::default()));
}

/// A repeated `cd[...]` key keeps its first place and takes the last value, whether the list is
/// short (a linear scan finds it) or long (a map does, built when the list outgrows the scan).
#[test]
fn repeated_custom_data_keys_short_and_long() {
    for n in [3usize, 16, 17, 40] {
        let mut q = String::from("id=1&ev=Lead");
        for i in 0..n {
            q.push_str(&format!("&cd[k{i}]=v{i}"));
        }
        q.push_str(&format!("&cd[k0]=again&cd[k{}]=late&cd[new]=x", n - 1));
        let b = Beacon::decode(&q).unwrap();
        assert_eq!(b.cd.len(), n + 1, "{n} keys");
        assert_eq!(b.cd[0], ("k0".to_string(), "again".to_string()), "{n} keys");
        assert_eq!(b.cd[n - 1].1, "late", "{n} keys");
        assert_eq!(b.cd[n], ("new".to_string(), "x".to_string()), "{n} keys");
        assert_eq!(b.cd[1], ("k1".to_string(), "v1".to_string()), "{n} keys");
    }
}

/// Found by `fuzz/fuzz_targets/wire_decode.rs`: a country and state without LDU were kept by the
/// decoder but dropped by the encoder, so the beacon did not survive a second trip.
#[test]
fn geolocation_without_ldu_is_not_kept() {
    for q in [
        "id=1&ev=Lead&dpo=&dpoco=1&dpost=1000",
        "id=1&ev=Lead&dpoco=1&dpost=1000",
        "id=1&ev=Lead&dpoco=1&dpost=1000&dpo=",
    ] {
        let b = Beacon::decode(q).unwrap();
        assert_eq!(b.dpo, Some(Dpo::default()), "{q}");
        assert_eq!(Beacon::decode(&b.encode()).unwrap(), b, "{q}");
    }
    let ldu = Beacon::decode("id=1&ev=Lead&dpoco=1&dpost=1000&dpo=LDU").unwrap();
    assert_eq!(
        ldu.dpo,
        Some(Dpo {
            options: vec!["LDU".into()],
            country: 1,
            state: 1000
        })
    );
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,24}"
}

prop_compose! {
    fn beacon()(
        id in "[1-9][0-9]{0,15}", ev in "[A-Za-z]{1,12}", dl in text(), rl in text(), in_iframe in any::<bool>(),
        ts in any::<u64>(), cd in prop::collection::vec(("[a-z_]{1,8}", text()), 0..4),
        sw in any::<Option<u32>>(), sh in any::<Option<u32>>(),
        ud in prop::collection::vec(("[a-z]{2}", "[0-9a-f]{64}"), 0..3),
        v in text(), r in text(), a in prop::option::of(text()), ec in any::<u32>(),
        fbp in prop::option::of(text()), fbc in prop::option::of(text()), it in any::<Option<u64>>(),
        dpo in prop::option::of((prop::collection::vec("[A-Z]{1,4}", 0..3), any::<i64>(), any::<i64>())),
        eid in prop::option::of(text()), tm in any::<Option<u8>>(), rqm in prop::option::of(text()),
    ) -> Beacon {
        let dedup = |v: Vec<(String, String)>| {
            let mut out: Vec<(String, String)> = Vec::new();
            for (k, val) in v { if !out.iter().any(|(x, _)| *x == k) { out.push((k, val)); } }
            out
        };
        let dpo = dpo.map(|(options, country, state)| {
            if options.is_empty() { Dpo { options, country: 0, state: 0 } } else { Dpo { options, country, state } }
        });
        Beacon { id, ev, dl, rl, in_iframe, ts, cd: dedup(cd), sw, sh, ud: dedup(ud), v, r, a, ec, fbp, fbc, it, dpo, eid, tm, rqm }
    }
}

proptest! {
    #[test]
    fn encode_then_decode_round_trips(b in beacon()) {
        let q = b.encode();
        prop_assert!(q.is_ascii());
        prop_assert_eq!(Beacon::decode(&q).unwrap(), b);
    }

    #[test]
    fn decoding_arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = Beacon::decode(&s);
    }
}

/// The pair splitter as first written (split on `&`, then on the first `=`, decode both), which
/// `query_pairs`' one-pass scanner must agree with on any text.
fn reference_pairs(query: &str) -> Result<Vec<(String, String)>, DecodeError> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut out = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(out)
}

#[test]
fn query_pairs_borrow_what_needs_no_decoding() {
    let pairs = query_pairs("?id=1&dl=https%3A%2F%2Fa.b&cd%5Bx%5D=a+b&=v&k=&&k2=a=b").unwrap();
    let got: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    assert_eq!(
        got,
        [
            ("id", "1"),
            ("dl", "https://a.b"),
            ("cd[x]", "a b"),
            ("", "v"),
            ("k", ""),
            ("k2", "a=b")
        ]
    );
    let borrowed: Vec<bool> = pairs
        .iter()
        .map(|(k, v)| matches!((k, v), (Cow::Borrowed(_), Cow::Borrowed(_))))
        .collect();
    assert_eq!(borrowed, [true, false, false, true, true, true]);
    assert!(matches!(
        decode_component("plain"),
        Ok(Cow::Borrowed("plain"))
    ));
    assert_eq!(decode_component("%C3%A9t%C3%A9+x").unwrap(), "été x");
    assert_eq!(decode_component("%C3"), Err(Malformed));
    assert_eq!(decode_component("a%2"), Err(Malformed));
    assert_eq!(query_pairs("a=%zz"), Err(DecodeError::BadPercentEncoding));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Any text, built from the characters that matter to the splitter and decoder.
    #[test]
    fn query_pairs_agree_with_the_reference(q in "[?&=%+a-c0-9fF\\[\\]é]{0,40}") {
        let ours = query_pairs(&q).map(|ps| {
            ps.into_iter().map(|(k, v)| (k.into_owned(), v.into_owned())).collect::<Vec<_>>()
        });
        prop_assert_eq!(ours, reference_pairs(&q));
        prop_assert_eq!(parse_query(&q), reference_pairs(&q));
    }
}
