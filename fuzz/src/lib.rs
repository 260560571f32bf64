//! What the collector's body targets share: the steps after a body parser, with the invariants
//! every accepted beacon must keep.

use collector::event::{NewEvent, RequestContext};
use pixel_core::matching::{is_sha256_hex, Field};
use pixel_core::percent::encode_uri_component;
use pixel_core::wire::Beacon;

/// `pairs` as a urlencoded query, each name and value percent-encoded as the pixel does.
pub fn encode_pairs(pairs: &[(String, String)]) -> String {
    let mut q = String::new();
    for (k, v) in pairs {
        if !q.is_empty() {
            q.push('&');
        }
        encode_uri_component(k, &mut q);
        q.push('=');
        encode_uri_component(v, &mut q);
    }
    q
}

/// The query decoder as first written — split on `&`, then on the first `=`, and decode a byte
/// at a time — which `pixel_core::wire::query_pairs`' one-pass scanner must agree with.
pub fn reference_pairs(query: &str) -> Option<Vec<(String, String)>> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut out = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((reference_decode(k)?, reference_decode(v)?));
    }
    Some(out)
}

fn reference_decode(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            b'+' => out.push(b' '),
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// `beacon`, encoded for the wire, decodes to itself.
pub fn assert_round_trips(beacon: &Beacon) {
    let wire = beacon.encode();
    assert_eq!(
        Beacon::decode(&wire).as_ref(),
        Ok(beacon),
        "encoded as {wire:?}"
    );
}

/// What `/tr` does with the pairs a body parser returned, up to the store: the beacon must
/// round-trip through the wire format, and the stored event must hold no plain identifier.
pub fn accept(pairs: Vec<(String, String)>) {
    let Ok(beacon) = Beacon::from_pairs(pairs) else {
        return;
    };
    assert_round_trips(&beacon);
    let ctx = RequestContext {
        received_at_ms: 1_700_000_000_000,
        ..RequestContext::default()
    };
    let Ok((event, _dropped)) = NewEvent::from_beacon(beacon, ctx, true) else {
        return;
    };
    assert!(!event.event_id.is_empty());
    let mut keys = Vec::new();
    for (key, hash) in &event.user_data {
        assert!(
            Field::ALL.iter().any(|f| f.wire_key() == key),
            "stored user data under {key:?}"
        );
        assert!(
            is_sha256_hex(hash) && !hash.bytes().any(|b| b.is_ascii_uppercase()),
            "stored {key}={hash:?}, not a lowercase SHA-256"
        );
        keys.push(key);
    }
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), n, "a user-data field stored twice");
}
