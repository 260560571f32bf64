//! The character classes of the per-field filters (SPEC §6) and the decimal digits of other
//! scripts that `ph` reads.
//!
//! Meta's code decides by ASCII only: names lose white space and ASCII punctuation and keep every
//! other character (letters of any script, marks, emoji); cities keep `a-z0-9`. So no Unicode
//! category table is needed. No Unicode normalisation (NFC) is done: precomposed and decomposed
//! spellings hash differently, as in Meta's code.

use super::table::{ascending_steps, pack, packed_len, varint};

/// The zero of each run of ten decimal digits accepted besides ASCII (the Basic Multilingual
/// Plane's decimal digit sets): Arabic-Indic, Persian, NKo, Devanagari, Bengali, Gurmukhi,
/// Gujarati, Oriya, Tamil, Telugu, Kannada, Malayalam, Sinhala, Thai, Lao, Tibetan, Myanmar (2),
/// Khmer, Mongolian, Limbu, New Tai Lue, Tai Tham (2), Balinese, Sundanese, Lepcha, Ol Chiki, Vai,
/// Saurashtra, Kayah Li, Javanese, Myanmar Tai Laing, Cham, Meetei Mayek, fullwidth.
const ZEROS: [u32; 36] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
];

/// [`ZEROS`] as the wasm holds it: varints of the steps between them.
static ZEROS_PACKED: [u8; packed_len(&ascending_steps(&ZEROS))] = pack(&ascending_steps(&ZEROS)).0;

/// The value of a decimal digit of ASCII or of one of the [`ZEROS`] scripts.
pub(crate) fn digit_value(c: char) -> Option<u32> {
    let cp = u32::from(c);
    if c.is_ascii_digit() {
        return Some(cp - u32::from(b'0'));
    }
    let (mut zeros, mut zero) = (&ZEROS_PACKED[..], 0);
    while let Some(step) = varint(&mut zeros) {
        zero += step;
        if cp < zero {
            break;
        }
        if cp - zero < 10 {
            return Some(cp - zero);
        }
    }
    None
}

/// What `fn` and `ln` keep: everything but white space and ASCII punctuation (letters of any
/// script, digits, marks and emoji stay, as in Meta's code).
pub(crate) fn is_name_char(c: char) -> bool {
    !c.is_whitespace() && !c.is_ascii_punctuation()
}

/// What `ct` keeps: `a-z` and `0-9` (of a lowercased value).
pub(crate) fn is_city_char(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Not white space: what `external_id` keeps.
pub(crate) fn is_not_white_space(c: char) -> bool {
    !c.is_whitespace()
}

/// The characters of `s` that `keep` accepts. One function for every field (`keep` is a plain
/// function pointer, so there is one copy of this loop in the wasm).
pub(crate) fn filter(s: &str, keep: fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if keep(c) {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_digits_decode_to_the_source() {
        for cp in 0x80..0x11000 {
            let zero = ZEROS.iter().find(|&&z| z <= cp && cp - z < 10);
            let c = char::from_u32(cp).unwrap_or_default();
            assert_eq!(digit_value(c), zero.map(|z| cp - z), "{cp:#x}");
        }
    }

    #[test]
    fn zeros_start_runs_of_ten_digits() {
        for zero in ZEROS {
            for cp in zero..zero + 10 {
                let c = char::from_u32(cp).unwrap_or_default();
                assert!(c.is_numeric() && !c.is_alphabetic(), "{cp:#x}");
                assert_eq!(digit_value(c), Some(cp - zero));
            }
        }
    }

    #[test]
    fn names_keep_all_but_white_space_and_ascii_punctuation() {
        assert_eq!(filter("vale\u{301}ry", is_name_char), "vale\u{301}ry");
        assert_eq!(filter("o'brien jr.", is_name_char), "obrienjr");
        assert_eq!(filter("o’brien—jr", is_name_char), "o’brien—jr");
        assert_eq!(filter("mary ❤️", is_name_char), "mary❤️");
        assert_eq!(filter("a\u{a0}b\u{3000}c", is_name_char), "abc");
        assert_eq!(filter("s\u{e3}o paulo9", is_city_char), "sopaulo9");
    }
}
