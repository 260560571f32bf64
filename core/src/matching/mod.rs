//! Advanced matching: normalise customer identifiers exactly as SPEC §6 says, then SHA-256 them.
//!
//! (Interface fixed; the implementation lands with the advanced-matching issue.)

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
        Some(match key {
            "em" | "email" => Field::Em,
            "ph" | "phone" => Field::Ph,
            "fn" | "f_name" | "first_name" => Field::Fn,
            "ln" | "l_name" | "last_name" => Field::Ln,
            "ge" | "gen" | "gender" => Field::Ge,
            "db" | "dob" => Field::Db,
            "ct" | "city" => Field::Ct,
            "st" | "state" => Field::St,
            "zp" | "zip" | "zip_code" => Field::Zp,
            "country" => Field::Country,
            "external_id" => Field::ExternalId,
            _ => return None,
        })
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

/// Why a value was dropped instead of hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Empty,
    Invalid,
}

impl DropReason {
    pub fn message(self) -> &'static str {
        match self {
            DropReason::Empty => "empty value",
            DropReason::Invalid => "not a valid value for this field",
        }
    }
}

/// Normalise `raw` for `field`. A value that already is 64 hex characters is returned lowercased.
pub fn normalize(_field: Field, raw: &str) -> Result<String, DropReason> {
    let v = raw.trim().to_lowercase();
    if v.is_empty() {
        Err(DropReason::Empty)
    } else {
        Ok(v)
    }
}

/// True when `s` is exactly 64 hexadecimal characters (either case).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// SHA-256 of the UTF-8 bytes of `s`, as 64 lowercase hex characters.
pub fn sha256_hex(s: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(s.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(hex_digit(b >> 4));
        out.push(hex_digit(b & 0xf));
    }
    out
}

fn hex_digit(n: u8) -> char {
    match n {
        0..=9 => (b'0' + n) as char,
        _ => (b'a' + n - 10) as char,
    }
}

/// Normalise then hash: what goes into `ud[<wire key>]`. Pre-hashed input passes through lowercased.
pub fn hash_field(field: Field, raw: &str) -> Result<String, DropReason> {
    let normalized = normalize(field, raw)?;
    if is_sha256_hex(&normalized) {
        Ok(normalized)
    } else {
        Ok(sha256_hex(&normalized))
    }
}
