//! What the collector's body targets share: the steps after a body parser, with the invariants
//! every accepted beacon must keep.

use collector::event::{NewEvent, RequestContext};
use pixel_core::matching::{is_sha256_hex, Field};
use pixel_core::wire::{encode_uri_component, Beacon};

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
