//! The percent codec: JavaScript's `encodeURIComponent` for the pixel's wire text, and the
//! decoding of `%XX` escapes and `+` (a form body's space) for the collector's side. Knows nothing
//! of beacons: the wire decoder (`wire`) builds on it.

use std::borrow::Cow;

/// A text that does not percent-decode: a `%` not followed by two hex digits, or bytes that are not
/// UTF-8 once decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed;

/// Decode `%XX` escapes and `+`. Invalid UTF-8 after decoding is an error.
pub fn percent_decode(s: &str) -> Result<String, Malformed> {
    decode_component(s).map(Cow::into_owned)
}

/// [`percent_decode`], borrowing `s` when it holds nothing to decode. The runs between escapes
/// are copied whole, and only a decoded text is checked for UTF-8 (`s` itself is a `str`).
pub fn decode_component(s: &str) -> Result<Cow<'_, str>, Malformed> {
    let special = |b: &u8| *b == b'%' || *b == b'+';
    let bytes = s.as_bytes();
    let Some(first) = bytes.iter().position(special) else {
        return Ok(Cow::Borrowed(s));
    };
    let (plain, mut rest) = bytes.split_at_checked(first).unwrap_or((bytes, &[]));
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(plain);
    loop {
        match rest {
            [] => break,
            [b'+', tail @ ..] => {
                out.push(b' ');
                rest = tail;
            }
            [b'%', hi, lo, tail @ ..] => match (hex_val(*hi), hex_val(*lo)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    rest = tail;
                }
                _ => return Err(Malformed),
            },
            [b'%', ..] => return Err(Malformed),
            _ => {
                // A run up to the next escape (at least this byte, which is none).
                let run = rest.iter().position(special).unwrap_or(rest.len());
                let (text, tail) = rest.split_at_checked(run).unwrap_or((rest, &[]));
                out.extend_from_slice(text);
                rest = tail;
            }
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| Malformed)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// JavaScript's `encodeURIComponent`: everything but `A-Z a-z 0-9 - _ . ! ~ * ' ( )` is
/// percent-encoded as UTF-8.
pub fn encode_uri_component(s: &str, out: &mut String) {
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(hex_upper(b >> 4));
            out.push(hex_upper(b & 0xf));
        }
    }
}

fn hex_upper(n: u8) -> char {
    (if n < 10 { b'0' + n } else { b'A' + n - 10 }) as char
}
