//! Advanced matching: normalise customer identifiers exactly as SPEC §6 says, then SHA-256 them.
//!
//! Every value is trimmed first; empty or white-space-only values are dropped
//! ([`DropReason::Empty`]). A trimmed value that already is a hash ([`is_hashed`]: 64 hex
//! characters, optionally with the `.<appendix>` Meta's Parameter Builder adds) is returned with
//! its hex lowercased, for every field. Otherwise, per field (SPEC §6 has the full rules):
//!
//! | field | rule | file |
//! |---|---|---|
//! | `em` | lowercase; `local@domain` as Meta's code accepts it | `email.rs` |
//! | `ph` | digits only (also Arabic-Indic, Devanagari, fullwidth ... digits), no leading zeros | `phone.rs` |
//! | `fn`, `ln` | lowercase; remove white space and ASCII punctuation, keep the rest | `text.rs` |
//! | `ge` | `f`/`m` and the words Meta maps to them | here |
//! | `db` | `YYYYMMDD` from the runs of digits, real calendar, 1800 to next year | `date.rs` |
//! | `ct` | lowercase; keep `a-z0-9`; must start with a letter | `text.rs` |
//! | `st` | US/Canadian region name (or one inside the value) → code, else two letters | `regions.rs` |
//! | `zp` | lowercase, the part before `-`, trimmed, inner spaces kept | here |
//! | `country` | ISO 3166-1 alpha-2 code or English name (or one inside the value) → code | `countries.rs` |
//! | `external_id` | lowercase, no white space | here |
//!
//! The principle (SPEC §6): follow Meta's own code (its Parameter Builder and its pixel), so that
//! the hash is the one Meta computes from its own data; the deliberate differences, where Meta's
//! code gives a value that cannot be right, are each a named test in `tests/matching_extra.rs`.
//!
//! Lowercasing is JavaScript's `toLowerCase`, which Meta's code uses: the pixel asks the browser
//! ([`crate::host::Host::lowercase`]), so no Unicode case table is in the wasm; the collector and
//! the tests use [`std_lower`], the same mapping.
//!
//! Size: the tables (country and region names, field keys, gender words) are written readably in
//! the source and packed by `const fn`s at compile time (`table.rs`); the per-field rules share one
//! character filter (`text::filter` over a `fn(char) -> bool`) and avoid `split`/`lines`/`find`
//! with string patterns, so few generic copies reach the wasm.
//!
//! Nothing here panics or formats: errors are [`DropReason`]s with `&'static str` messages.

mod countries;
mod date;
mod email;
mod lower;
mod phone;
mod reason;
mod regions;
pub(crate) mod table;
mod text;

pub use countries::{country_code, is_country_code};
pub use date::{days_in_month, is_leap_year, year_of, MIN_YEAR};
pub use email::looks_like_email;
pub use lower::std_lower;
pub use reason::DropReason;
pub use regions::region_code;

/// A canonical advanced-matching field. Its wire key is what goes into `ud[<key>]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Em,
    Ph,
    Fn,
    Ln,
    Ge,
    Db,
    Ct,
    St,
    Zp,
    Country,
    ExternalId,
}

impl Field {
    /// Every field, in wire order.
    pub const ALL: [Field; 11] = [
        Field::Em,
        Field::Ph,
        Field::Fn,
        Field::Ln,
        Field::Ge,
        Field::Db,
        Field::Ct,
        Field::St,
        Field::Zp,
        Field::Country,
        Field::ExternalId,
    ];

    /// The field for a canonical key or one of its aliases (`email`, `phone`, `first_name`, ...).
    pub fn from_key(key: &str) -> Option<Field> {
        Field::ALL.get(table::find(&KEYS, key.as_bytes())?).copied()
    }

    /// The canonical key used on the wire and in the Conversions API.
    pub fn wire_key(self) -> &'static str {
        match self {
            Field::Em => "em",
            Field::Ph => "ph",
            Field::Fn => "fn",
            Field::Ln => "ln",
            Field::Ge => "ge",
            Field::Db => "db",
            Field::Ct => "ct",
            Field::St => "st",
            Field::Zp => "zp",
            Field::Country => "country",
            Field::ExternalId => "external_id",
        }
    }
}

/// The keys of each field, in [`Field::ALL`] order: the wire key, then the aliases.
const KEY_SOURCE: &str = "\
em|email
ph|phone
fn|f_name|first_name
ln|l_name|last_name
ge|gen|gender
db|dob
ct|city
st|state
zp|zip|zip_code
country
external_id";
static KEYS: [u8; table::fold_names::<0>(KEY_SOURCE, 0).1] = table::fold_names(KEY_SOURCE, 0).0;

/// What normalising needs from outside the core.
pub struct Context<'a> {
    /// This year (UTC, see [`year_of`]): the next one is the latest year of birth accepted.
    pub this_year: u32,
    /// Unicode lowercasing as JavaScript's `toLowerCase` does it, which is what Meta's code uses:
    /// the browser's own in the pixel (its tables are not in the wasm), [`std_lower`] elsewhere.
    pub lower: &'a dyn Fn(&str) -> String,
}

/// Normalise `raw` for `field` (SPEC §6). A value that already is a hash ([`is_hashed`]) is
/// returned with its hex lowercased.
pub fn normalize(field: Field, raw: &str, cx: &Context<'_>) -> Result<String, DropReason> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(DropReason::Empty);
    }
    if is_hashed(trimmed) {
        let mut hash = trimmed.to_owned();
        if let Some(hex) = hash.get_mut(..64) {
            hex.make_ascii_lowercase();
        }
        return Ok(hash);
    }
    match field {
        Field::Ph => return phone::normalize_phone(trimmed),
        Field::Db => return date::normalize_date(trimmed, cx.this_year),
        _ => {}
    }
    // Every other field starts from the lowercased value.
    let lower = (cx.lower)(trimmed);
    let value = match field {
        Field::Em => return email::normalize_email(lower),
        Field::Ge => return gender(&lower),
        Field::St => return regions::normalize_state(&lower),
        Field::Country => return countries::normalize_country(&lower),
        Field::Ph | Field::Db => return Err(DropReason::Invalid),
        Field::ExternalId => text::filter(&lower, text::is_not_white_space),
        Field::Fn | Field::Ln => text::filter(&lower, text::is_name_char),
        Field::Ct => {
            let city = text::filter(&lower, text::is_city_char);
            if !city.as_bytes().first().is_some_and(u8::is_ascii_lowercase) {
                return Err(DropReason::Invalid);
            }
            city
        }
        // `zp`: the part before the first `-`, trimmed; inner spaces stay (`SW1A 1AA` →
        // `sw1a 1aa`). At least two characters.
        Field::Zp => {
            let zip = lower.get(..crate::ascii::find_byte(&lower, b"-").unwrap_or(lower.len()));
            let zip = zip.unwrap_or_default().trim();
            if zip.chars().nth(1).is_none() {
                return Err(DropReason::Invalid);
            }
            zip.into()
        }
    };
    if value.is_empty() {
        Err(DropReason::Invalid)
    } else {
        Ok(value)
    }
}

/// The words Meta's code maps to each gender, after the `f` and `m` lines of the table.
const GENDERS: &[u8] = b"\
f|female|woman|girl|lady|miss|ms|mrs|madam|ma'am|daughter|mother|mom|mama|mommy|aunt|niece|sister|wife|girlfriend|bride|widow|queen|princess|duchess|countess|empress|goddess|maiden|lass|gal|chick|dame|belle|she|her|hers|herself
m|male|man|boy|gentleman|guy|sir|mister|mr|son|father|dad|daddy|papa|uncle|nephew|brother|husband|boyfriend|groom|widower|king|prince|duke|count|emperor|god|lord|lad|fellow|chap|bloke|dude|he|him|his|himself
";

/// `ge` (of the trimmed, lowercased value): `f`, `female` and Meta's female words → `f`; `m`,
/// `male` and its male words → `m`; anything else is dropped.
fn gender(lower: &str) -> Result<String, DropReason> {
    match table::find(GENDERS, lower.as_bytes()) {
        Some(0) => Ok("f".into()),
        Some(_) => Ok("m".into()),
        None => Err(DropReason::UnknownGender),
    }
}

/// True when `s` is exactly 64 hexadecimal characters (either case).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// True when `s` is a hash as Meta's libraries send one: [`is_sha256_hex`], optionally followed
/// by `.` and an appendix of 2 or 8 base64url characters (`<64 hex>.AQ`, what Meta's Parameter
/// Builder writes).
pub fn is_hashed(s: &str) -> bool {
    let appendix = s.as_bytes().get(64..).unwrap_or_default();
    let base64url = |c: &u8| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_';
    is_sha256_hex(s.get(..64).unwrap_or(""))
        && match appendix {
            [] => true,
            [b'.', rest @ ..] => matches!(rest.len(), 2 | 8) && rest.iter().all(base64url),
            _ => false,
        }
}

/// SHA-256 of the UTF-8 bytes of `s`, as 64 lowercase hex characters.
pub fn sha256_hex(s: &str) -> String {
    crate::sha256::hex(s.as_bytes())
}

/// Normalise then hash: what goes into `ud[<wire key>]`. A value that arrived as a hash
/// ([`is_hashed`]) passes through with its hex lowercased.
pub fn hash_field(field: Field, raw: &str, cx: &Context<'_>) -> Result<String, DropReason> {
    let normalized = normalize(field, raw, cx)?;
    // Only a value that arrived as a hash passes through; one that merely *becomes* 64 hex
    // characters after normalising (a zip `<64 hex>-1`, a spaced external_id) is hashed.
    if is_hashed(raw.trim()) {
        Ok(normalized)
    } else {
        Ok(sha256_hex(&normalized))
    }
}

/// Why [`hash_user_data`] left out one of its pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Left<'a> {
    /// The key is no field nor alias of one.
    UnknownKey(&'a str),
    /// The value was dropped by the normaliser (or was no text: [`DropReason::Invalid`]).
    Dropped(Field, DropReason),
}

/// The user data of one `fbq` call or one beacon, hashed: each `(key, value)` pair (`None` for a
/// value that is no text) normalised and hashed for its field, in [`Field::ALL`] order. The key
/// may be an alias and is trimmed. When a field comes more than once (`em` and `email`), its last
/// accepted value wins; a later value that is dropped does not erase an earlier one. What is left
/// out is returned beside. The pixel and the collector both hash through here (SPEC §6).
pub fn hash_user_data<'a>(
    pairs: &[(&'a str, Option<&'a str>)],
    cx: &Context<'_>,
) -> (Vec<(Field, String)>, Vec<Left<'a>>) {
    let (mut out, mut left): (Vec<(Field, String)>, _) = (Vec::new(), Vec::new());
    for &(key, value) in pairs {
        let Some(field) = Field::from_key(key.trim()) else {
            left.push(Left::UnknownKey(key));
            continue;
        };
        match value.map_or(Err(DropReason::Invalid), |v| hash_field(field, v, cx)) {
            Ok(h) => match out.iter_mut().find(|(f, _)| *f == field) {
                Some(slot) => slot.1 = h,
                None => out.push((field, h)),
            },
            Err(reason) => left.push(Left::Dropped(field, reason)),
        }
    }
    // Wire order is the order of Field::ALL (no sort: its code is large in the wasm).
    let mut ordered = Vec::with_capacity(out.len());
    for f in Field::ALL {
        if let Some(i) = out.iter().position(|(g, _)| *g == f) {
            ordered.push(out.swap_remove(i));
        }
    }
    (ordered, left)
}
