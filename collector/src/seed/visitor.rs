//! A shopper, derived from their number alone, so that any generator thread can meet a returning
//! visitor without asking the others: the same number always gives the same cookie, browser,
//! address and customer information.

use std::sync::LazyLock;

use fastrand::Rng;
use pixel_core::matching::{hash_field, Field};

use super::shop::{self, chance};

/// One returning or new shopper.
pub struct Visitor {
    pub fbp: Option<String>,
    pub ua: &'static str,
    pub ip: String,
    /// Signed in at the store: a customer ID on every event.
    pub external_id: Option<String>,
}

/// A visitor number: the chunk of their first session and the session's number in it.
pub fn number(chunk: u32, session: u32) -> u64 {
    (u64::from(chunk) << 24) | u64::from(session & 0xff_ffff)
}

/// The chunk of a visitor's first session.
pub fn chunk_of(number: u64) -> usize {
    usize::try_from(number >> 24).unwrap_or(0)
}

/// SplitMix64's finaliser: a well-spread 64-bit value from two.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Visitor `n` of the run seeded `seed`, first seen at `first_ms` (the start of their chunk, so
/// their cookie is never younger than any of their events).
pub fn visitor(seed: u64, n: u64, first_ms: i64) -> Visitor {
    let mut rng = Rng::with_seed(mix(seed, n));
    let fbp = (!chance(&mut rng, shop::NO_COOKIE))
        .then(|| format!("fb.1.{first_ms}.{}", rng.u64(1_000_000_000..9_999_999_999)));
    let ua = shop::pick(&mut rng, &shop::UAS);
    // Documentation ranges only (RFC 5737, RFC 3849); a third on IPv6.
    let ip = if chance(&mut rng, 330) {
        format!(
            "2001:db8:{:x}:{:x}::{:x}",
            rng.u16(..),
            rng.u16(..),
            rng.u16(1..)
        )
    } else {
        let net = ["192.0.2", "198.51.100", "203.0.113"][rng.usize(0..3)];
        format!("{net}.{}", rng.u8(1..255))
    };
    let external_id = chance(&mut rng, shop::EXTERNAL_ID).then(|| format!("customer-{n}"));
    Visitor {
        fbp,
        ua,
        ip,
        external_id,
    }
}

fn hash(field: Field, raw: &str) -> Hashed {
    // The seed's values are plain ASCII and no date is hashed: the year does not matter.
    let cx = pixel_core::matching::Context {
        this_year: 2026,
        lower: &pixel_core::matching::std_lower,
    };
    hash_field(field, raw, &cx)
        .ok()
        .map(|h| (field.wire_key().to_owned(), h))
}

/// A hashed field as the wire names it: `(key, hash)`.
type Hashed = Option<(String, String)>;

/// The hashes of the shared values (names, towns), computed once.
static NAMES: LazyLock<Vec<Hashed>> = LazyLock::new(|| {
    shop::FIRST_NAMES
        .iter()
        .map(|n| hash(Field::Fn, n))
        .collect()
});
static TOWNS: LazyLock<Vec<[Hashed; 4]>> = LazyLock::new(|| {
    shop::TOWNS
        .iter()
        .map(|(ct, st, zp, country)| {
            [
                hash(Field::Ct, ct),
                hash(Field::St, st),
                hash(Field::Zp, zp),
                hash(Field::Country, country),
            ]
        })
        .collect()
});

/// The customer information visitor `n` types at checkout, hashed as the pixel sends it.
pub fn identity(seed: u64, n: u64) -> Vec<(String, String)> {
    let mut rng = Rng::with_seed(mix(seed ^ 0x1d, n));
    let mut ud = Vec::with_capacity(8);
    ud.extend(hash(Field::Em, &format!("shopper{n}@mail.example")));
    if chance(&mut rng, 700) {
        ud.extend(hash(Field::Ph, &format!("+1 650 555 {:04}", n % 10_000)));
    }
    ud.extend(NAMES[rng.usize(0..NAMES.len())].clone());
    ud.extend(hash(Field::Ln, &format!("shopper{n}")));
    if chance(&mut rng, 600) {
        ud.extend(TOWNS[rng.usize(0..TOWNS.len())].iter().flatten().cloned());
    }
    ud
}

/// The hashed customer ID of a signed-in visitor.
pub fn hashed_external_id(id: &str) -> Hashed {
    hash(Field::ExternalId, id)
}
