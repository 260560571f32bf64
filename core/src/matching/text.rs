//! Character classes shared by the text fields (`fn`, `ln`, `ct`, `st`, `country`), and the key
//! folding used to look names up in the region and country tables.
//!
//! # What counts as a letter
//!
//! The standard library's `is_alphabetic` and `is_numeric` cost about 2.6 KB of gzipped wasm
//! together, so they are not used here. Instead, a character is
//!
//! 1. a **digit** when it is a decimal digit of one of the scripts in [`ZEROS`] (or ASCII);
//! 2. **removed** when it is white space, a control character, ASCII punctuation or a symbol, or
//!    lies in one of the [`NOISE`] ranges: punctuation, symbols, emoji, variation selectors, format
//!    characters, private use;
//! 3. otherwise a **letter**: the letters of every script, and the combining marks that go with
//!    them. Marks matter: a decomposed `Vale\u{301}ry` keeps its accent, Devanagari viramas (`क्ष`)
//!    and Thai tone marks survive. Dropping them would silently turn one name into another.
//!    No Unicode normalisation (NFC) is done: precomposed and decomposed spellings hash
//!    differently, as in Meta's pixel.
//!
//! Letter-like symbols that Unicode calls alphabetic but that are not part of any name (circled
//! letters `Ⓐ`, Roman numerals `Ⅻ`, `ℓ`, superscript `ⁿ`, squared `🅰`) lie in symbol blocks and
//! are removed; a unit test pins that list against `char::is_alphabetic`.

use super::case::to_lower;
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

/// Inclusive ranges of non-ASCII code points that are punctuation, symbols, emoji, format
/// characters, variation selectors or private use. Sorted; letters inside symbol blocks (`ª`, `µ`,
/// `º`, the modifier letters, `々`) are left out.
const NOISE: [(u32, u32); 66] = [
    (0x00A0, 0x00A9), // Latin-1 punctuation and symbols, superscripts, fractions, soft hyphen
    (0x00AB, 0x00B4),
    (0x00B6, 0x00B9),
    (0x00BB, 0x00BF),
    (0x00D7, 0x00D7), // ×
    (0x00F7, 0x00F7), // ÷
    (0x02C2, 0x02C5), // spacing modifier symbols (˘ ˙ ˚ ˜ ...), not the modifier letters
    (0x02D2, 0x02DF),
    (0x02E5, 0x02EB),
    (0x02ED, 0x02ED),
    (0x02EF, 0x02FF),
    (0x0375, 0x0375), // Greek numeral sign, question mark, tonos, ano teleia
    (0x037E, 0x037E),
    (0x0384, 0x0385),
    (0x0387, 0x0387),
    (0x055A, 0x055F), // Armenian punctuation
    (0x0589, 0x058A),
    (0x05BE, 0x05BE), // Hebrew maqaf, paseq, sof pasuq, nun hafukha, geresh, gershayim
    (0x05C0, 0x05C0),
    (0x05C3, 0x05C3),
    (0x05C6, 0x05C6),
    (0x05F3, 0x05F4),
    (0x0600, 0x060F), // Arabic number signs, comma, date separator, signs
    (0x061B, 0x061F), // Arabic semicolon, letter mark, question mark
    (0x066A, 0x066D),
    (0x06D4, 0x06D4),
    (0x06DD, 0x06DE),
    (0x06E9, 0x06E9),
    (0x0964, 0x0965), // danda, double danda
    (0x0970, 0x0970),
    (0x0E3F, 0x0E3F), // Thai baht, fongman, angkhankhu, khomut
    (0x0E4F, 0x0E4F),
    (0x0E5A, 0x0E5B),
    (0x10FB, 0x10FB),
    (0x1360, 0x1368), // Ethiopic punctuation
    (0x166D, 0x166E),
    (0x169B, 0x169C),
    (0x16EB, 0x16ED),
    (0x1800, 0x180F), // Mongolian punctuation and free variation selectors
    (0x2000, 0x2BFF), // general punctuation ... currency, letter-like, arrows, maths, dingbats
    (0x2E00, 0x2E7F), // supplemental punctuation
    (0x2FF0, 0x2FFF), // ideographic description characters
    (0x3000, 0x3004), // CJK symbols and punctuation, not 々 〆 〇 and the kana repeat marks
    (0x3008, 0x3020),
    (0x3030, 0x3030),
    (0x3036, 0x3037),
    (0x303D, 0x303F),
    (0x309B, 0x309C), // spacing kana voicing marks
    (0x30A0, 0x30A0),
    (0x30FB, 0x30FB), // katakana middle dot
    (0x3200, 0x33FF), // enclosed CJK, CJK compatibility
    (0x4DC0, 0x4DFF), // Yijing hexagrams
    (0xA4FE, 0xA4FF),
    (0xA60D, 0xA60F),
    (0xA700, 0xA716), // modifier tone symbols
    (0xA720, 0xA721),
    (0xE000, 0xF8FF), // private use
    (0xFD3E, 0xFD3F),
    (0xFE00, 0xFE1F), // variation selectors, vertical forms
    (0xFE30, 0xFE6F), // CJK compatibility forms, small forms
    (0xFEFF, 0xFEFF), // byte order mark
    (0xFF01, 0xFF0F), // fullwidth punctuation (not the fullwidth digits and letters)
    (0xFF1A, 0xFF20),
    (0xFF3B, 0xFF40),
    (0xFF5B, 0xFF65),
    (0xFFE0, 0xFFFF), // fullwidth symbols, specials
];

/// [`NOISE`] as the wasm holds it: varints of the gap before each range and of its length.
static NOISE_PACKED: [u8; packed_len(&range_steps::<{ 2 * NOISE.len() }>(&NOISE))] =
    pack(&range_steps::<{ 2 * NOISE.len() }>(&NOISE)).0;

/// True when `cp` lies in one of the [`NOISE`] ranges.
fn in_noise(cp: u32) -> bool {
    let (mut ranges, mut hi) = (&NOISE_PACKED[..], 0);
    while let (Some(gap), Some(len)) = (varint(&mut ranges), varint(&mut ranges)) {
        let lo = hi + gap;
        hi = lo + len;
        if cp < lo {
            break;
        }
        if cp <= hi {
            return true;
        }
    }
    false
}

/// Above the Basic Multilingual Plane: musical symbols, mahjong ... emoji ... legacy computing,
/// tags, the variation selectors supplement and the private use planes.
fn is_astral_noise(cp: u32) -> bool {
    matches!(cp, 0x1D000..=0x1D24F | 0x1F000..=0x1FBFF | 0xE0000..=0xE01EF | 0xF0000..)
}

/// How the text fields treat a character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// A letter of any script, or a combining mark.
    Letter,
    /// A decimal digit (see [`digit_value`]).
    Digit,
    /// White space, control, punctuation, symbol: always removed.
    Noise,
}

/// The [`Class`] of `c`.
pub(crate) fn class(c: char) -> Class {
    let cp = u32::from(c);
    if c.is_ascii_alphabetic() {
        Class::Letter
    } else if digit_value(c).is_some() {
        Class::Digit
    } else if c.is_ascii()
        || c.is_whitespace()
        || c.is_control()
        || in_noise(cp)
        || is_astral_noise(cp)
    {
        Class::Noise
    } else {
        Class::Letter
    }
}

/// A letter or combining mark: what `ct` keeps.
pub(crate) fn is_letter(c: char) -> bool {
    class(c) == Class::Letter
}

/// A letter, combining mark or digit: what `fn` and `ln` keep.
pub(crate) fn is_letter_or_digit(c: char) -> bool {
    class(c) != Class::Noise
}

/// A letter that is not a combining diacritical mark (U+0300-U+036F, the marks of decomposed
/// Latin, Greek and Cyrillic text): what the first two letters of a `st` are taken from.
pub(crate) fn is_base_letter(c: char) -> bool {
    is_letter(c) && !matches!(c, '\u{300}'..='\u{36f}')
}

/// Not white space: what `zp` and `external_id` keep.
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

/// Longest key a table holds; longer input cannot name a country or a region.
const MAX_KEY_LEN: usize = 64;

/// Folds a name to its lookup key: lowercase ASCII letters and digits. Latin-1 accented letters
/// lose their accent (`Québec` → `quebec`), `&` becomes `and`; combining marks, white space,
/// punctuation and the apostrophe-like letters `ʻ` `ʼ` (`Hawaiʻi`) go. Other letters stay, so they
/// never match an ASCII table entry. `None` when the input is too long to be a table key.
pub(crate) fn fold_key(s: &str) -> Option<String> {
    if s.len() > MAX_KEY_LEN * 4 {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    for c in to_lower(s).chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if c == '&' {
            out.push_str("and");
        } else if let Some(base) = strip_accent(c) {
            out.push(base);
        } else if is_base_letter(c) && !matches!(c, 'ʻ' | 'ʼ') {
            out.push(c);
        }
    }
    (out.len() <= MAX_KEY_LEN).then_some(out)
}

/// The base letter of a lowercase Latin-1 accented letter (`à` to `ÿ`; `_` marks `æ`, `ð`, `÷`
/// and `þ`, which have none).
fn strip_accent(c: char) -> Option<char> {
    let base = *b"aaaaaa_ceeeeiiii_nooooo_ouuuuy_y".get((c as usize).checked_sub(0xe0)?)?;
    (base != b'_').then_some(char::from(base))
}

/// Sorted, disjoint inclusive ranges as `[gap before, length - 1]` pairs; `N` is twice their number.
#[allow(clippy::indexing_slicing)] // compile time only
const fn range_steps<const N: usize>(ranges: &[(u32, u32)]) -> [u32; N] {
    assert!(N == 2 * ranges.len());
    let (mut out, mut i, mut hi) = ([0; N], 0, 0);
    while i < ranges.len() {
        let (lo, end) = ranges[i];
        assert!(lo > hi && end >= lo, "ranges must be sorted and disjoint");
        out[2 * i] = lo - hi;
        out[2 * i + 1] = end - lo;
        hi = end;
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `fn`/`ln` (`digits`) and `ct` keep of an already lowercased string.
    fn keep_letters(lower: &str, digits: bool) -> String {
        filter(
            lower,
            if digits {
                is_letter_or_digit
            } else {
                is_letter
            },
        )
    }

    #[test]
    fn noise_table_is_sorted_and_disjoint() {
        let mut last = 0x7f;
        for &(lo, hi) in NOISE.iter() {
            assert!(lo > last && lo <= hi, "{lo:#x}..{hi:#x}");
            last = hi;
        }
    }

    /// The packed tables say what the readable ones say.
    #[test]
    fn packed_tables_decode_to_the_source() {
        for cp in 0x80..0x11000 {
            let listed = NOISE.iter().any(|&(lo, hi)| lo <= cp && cp <= hi);
            assert_eq!(in_noise(cp), listed, "{cp:#x}");
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

    /// Every character the standard library calls alphabetic is a letter here, except the
    /// letter-like symbols listed.
    #[test]
    fn letters_of_every_script_are_letters() {
        let symbol_letters = [
            (0x2071, 0x2071),   // ⁱ
            (0x207F, 0x207F),   // ⁿ
            (0x2090, 0x209C),   // subscript letters
            (0x2100, 0x214F),   // letter-like symbols (ℂ ℓ K Å ...)
            (0x2160, 0x2188),   // Roman numerals
            (0x24B6, 0x24E9),   // circled letters
            (0x2E2F, 0x2E2F),   // vertical tilde
            (0x1F130, 0x1F189), // squared and circled Latin letters (🅰)
        ];
        let mut wrong = Vec::new();
        for c in (0x80..=0x10ffff).filter_map(char::from_u32) {
            let cp = u32::from(c);
            let symbol = symbol_letters.iter().any(|&(lo, hi)| lo <= cp && cp <= hi);
            if c.is_alphabetic() && !symbol && class(c) != Class::Letter {
                wrong.push(format!("{cp:#x}"));
            }
        }
        assert!(wrong.is_empty(), "alphabetic but not a letter: {wrong:?}");
    }

    #[test]
    fn marks_stay_punctuation_goes() {
        assert_eq!(keep_letters("vale\u{301}ry", true), "vale\u{301}ry");
        assert_eq!(keep_letters("क्ष", true), "क्ष");
        assert_eq!(keep_letters("o’brien—jr.", true), "obrienjr");
        assert_eq!(keep_letters("ジョン・スミス", true), "ジョンスミス");
        assert_eq!(keep_letters("佐々木", true), "佐々木");
        assert_eq!(keep_letters("ana😀\u{fe0f}", true), "ana");
        assert_eq!(keep_letters("abc123٣", false), "abc");
        assert_eq!(keep_letters("abc123٣", true), "abc123٣");
        assert_eq!(keep_letters("a\u{a0}b\u{200b}c\u{feff}", true), "abc");
    }

    #[test]
    fn accents() {
        for (c, base) in "àáâãäåçèéêëìíîïñòóôõöøùúûüýÿ"
            .chars()
            .zip("aaaaaaceeeeiiiinoooooouuuuyy".chars())
        {
            assert_eq!(strip_accent(c), Some(base), "{c}");
        }
        for c in ['æ', 'ð', '÷', 'þ', 'ß', 'Ā', 'a', '\u{100}'] {
            assert_eq!(strip_accent(c), None, "{c}");
        }
    }

    #[test]
    fn folding() {
        assert_eq!(fold_key("Québec").as_deref(), Some("quebec"));
        assert_eq!(fold_key("Que\u{301}bec").as_deref(), Some("quebec"));
        assert_eq!(
            fold_key("Trinidad & Tobago").as_deref(),
            Some("trinidadandtobago")
        );
        assert_eq!(fold_key(&"a".repeat(65)), None);
    }
}
