//! Advanced matching: normalise customer identifiers exactly as SPEC §6 says, then SHA-256 them.
//!
//! Every value is trimmed first; empty or white-space-only values are dropped
//! ([`DropReason::Empty`]). A trimmed value that already is 64 hex characters is taken as a hash
//! and returned lowercased, for every field. Otherwise, per field:
//!
//! | field | rule | file |
//! |---|---|---|
//! | `em` | lowercase; must look like `local@domain.tld` | `email.rs` |
//! | `ph` | digits only (also Arabic-Indic, Devanagari, fullwidth ... digits), no leading zeros | `phone.rs` |
//! | `fn`, `ln` | lowercase; keep letters, digits and combining marks of any script | `text.rs` |
//! | `ge` | `f`/`female` → `f`, `m`/`male` → `m` | here |
//! | `db` | `YYYYMMDD` from four layouts, real calendar, years 1900-2100 | `date.rs` |
//! | `ct` | lowercase; keep letters and combining marks of any script, no digits | `text.rs` |
//! | `st` | US/Canadian region name → code, else the first two letters | `regions.rs` |
//! | `zp` | lowercase, no white space, the part before `-` | here |
//! | `country` | ISO 3166-1 alpha-2 code or English name → lowercase code | `countries.rs` |
//! | `external_id` | lowercase, no white space | here |
//!
//! Decisions the SPEC leaves open:
//! - **Digits in names stay** (`Louis14` → `louis14`): the SPEC removes only white space and
//!   punctuation, and so does Meta's pixel. Cities lose digits (`ct` keeps letters only).
//! - **Combining marks stay** in names and cities, so a decomposed `Vale\u{301}ry` keeps its accent
//!   and Devanagari viramas and Thai tone marks survive; see `text.rs` for how "punctuation" is told
//!   apart without a Unicode category table. No NFC normalisation.
//! - Lowercasing is Unicode-aware and contextual, as `str::to_lowercase` and JavaScript's
//!   `toLowerCase`: `ÉLODIE` → `élodie`, a word-final `Σ` → `ς`. It is done by [`to_lower`]
//!   (`case.rs`) with a run table checked against the standard library for every code point: the
//!   standard library's own tables would cost about 8 KB of the pixel's 20 KB gzip budget.
//! - `UK` is read as the name it usually is and becomes `gb`; any other two-letter `country` must
//!   be an ISO code.
//!
//! Size: the tables (country and region names, lowercase runs, punctuation ranges, field keys) are
//! written readably in the source and packed by `const fn`s at compile time (`table.rs`); the
//! per-field rules share one character filter (`text::filter` over a `fn(char) -> bool`) and
//! avoid `split`/`lines`/`find` with string patterns, so few generic copies reach the wasm.
//!
//! Nothing here panics or formats: errors are [`DropReason`]s with `&'static str` messages.

mod case;
mod countries;
mod date;
mod email;
mod phone;
mod regions;
pub(crate) mod table;
mod text;

pub use case::to_lower;
pub use countries::{country_code, is_country_code};
pub use date::{days_in_month, is_leap_year, MAX_YEAR, MIN_YEAR};
pub use email::looks_like_email;
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

/// Why a value was dropped instead of hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Empty or white space only.
    Empty,
    /// Nothing usable left after normalisation (a name of punctuation only, a zip of `-1234`).
    Invalid,
    /// `em` does not look like `local@domain.tld`.
    NotAnEmail,
    /// `ph` has no digits besides leading zeros.
    NoDigits,
    /// `db` is in none of the accepted layouts.
    NotADate,
    /// `db` names a day that does not exist (`1990-02-30`, month 13).
    ImpossibleDate,
    /// `db` year before [`MIN_YEAR`] or after [`MAX_YEAR`].
    YearOutOfRange,
    /// `ge` is none of `f`, `female`, `m`, `male`.
    UnknownGender,
    /// `st` is no region name and has fewer than two letters.
    NotARegion,
    /// `country` is neither an ISO 3166-1 alpha-2 code nor a known English country name.
    UnknownCountry,
}

impl DropReason {
    pub fn message(self) -> &'static str {
        match self {
            DropReason::Empty => "empty value",
            DropReason::Invalid => "not a valid value for this field",
            DropReason::NotAnEmail => "not an email address",
            DropReason::NoDigits => "not a phone number: no digits",
            DropReason::NotADate => "not a date as YYYYMMDD, YYYY-MM-DD, YYYY/MM/DD or MM/DD/YYYY",
            DropReason::ImpossibleDate => "impossible date",
            DropReason::YearOutOfRange => "year of birth outside 1900-2100",
            DropReason::UnknownGender => "unknown gender",
            DropReason::NotARegion => "not a state or province",
            DropReason::UnknownCountry => "unknown country",
        }
    }
}

/// Normalise `raw` for `field`. A value that already is 64 hex characters is returned lowercased.
pub fn normalize(field: Field, raw: &str) -> Result<String, DropReason> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(DropReason::Empty);
    }
    if is_sha256_hex(trimmed) {
        return Ok(trimmed.to_ascii_lowercase());
    }
    let lower = |keep: fn(char) -> bool| text::filter(&case::to_lower(trimmed), keep);
    let value = match field {
        Field::Em => return email::normalize_email(trimmed),
        Field::Ph => return phone::normalize_phone(trimmed),
        Field::Ge => return gender(trimmed),
        Field::Db => return date::normalize_date(trimmed),
        Field::St => return regions::normalize_state(trimmed),
        Field::Country => return countries::normalize_country(trimmed),
        Field::ExternalId => return Ok(lower(text::is_not_white_space)),
        Field::Fn | Field::Ln => lower(text::is_letter_or_digit),
        Field::Ct => lower(text::is_letter),
        // `zp`: white space removed, only the part before the first `-` (`94025-1234` → `94025`,
        // `SW1A 1AA` → `sw1a1aa`).
        Field::Zp => {
            let mut zip = lower(text::is_not_white_space);
            if let Some(cut) = crate::find_byte(&zip, b"-") {
                zip.truncate(cut);
            }
            zip
        }
    };
    if value.is_empty() {
        Err(DropReason::Invalid)
    } else {
        Ok(value)
    }
}

/// `ge`: `f`/`female` → `f`, `m`/`male` → `m` (any case); anything else is dropped.
fn gender(trimmed: &str) -> Result<String, DropReason> {
    match table::find(b"f|female\nm|male\n", case::to_lower(trimmed).as_bytes()) {
        Some(0) => Ok("f".into()),
        Some(_) => Ok("m".into()),
        None => Err(DropReason::UnknownGender),
    }
}

/// True when `s` is exactly 64 hexadecimal characters (either case).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// SHA-256 of the UTF-8 bytes of `s`, as 64 lowercase hex characters.
pub fn sha256_hex(s: &str) -> String {
    crate::sha256::hex(s.as_bytes())
}

/// Normalise then hash: what goes into `ud[<wire key>]`. Pre-hashed input passes through lowercased.
pub fn hash_field(field: Field, raw: &str) -> Result<String, DropReason> {
    let normalized = normalize(field, raw)?;
    // Only a value that arrived as a hash passes through; one that merely *becomes* 64 hex
    // characters after normalising (a zip `<64 hex>-1`, a spaced external_id) is hashed.
    if is_sha256_hex(raw.trim()) {
        Ok(normalized)
    } else {
        Ok(sha256_hex(&normalized))
    }
}
