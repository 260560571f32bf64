//! How the matching tables are packed: the source keeps them readable, `const fn`s turn them into
//! compact bytes at compile time, and only those bytes reach the wasm.
//!
//! - **Name tables** (countries, regions, field keys) become one byte string of folded names,
//!   `|` between the names of an entry and `\n` after each entry ([`find`] scans it). The
//!   two-letter codes of a country or region table become one bit each ([`CodeBits`]): entries
//!   are in code order, so the n-th entry belongs to the n-th code present.
//! - **Number tables** (the lowercase runs, the punctuation ranges, the digit zeros) become
//!   LEB128 varints of the differences between neighbours ([`pack`], [`varint`]): mostly one or
//!   two bytes instead of four or eight, and they compress better.
//!
//! The packing `const fn`s assert what they rely on (sorted codes, non-empty ASCII names), so a
//! broken table is a compile error. They index freely: out of bounds at compile time is a compile
//! error too.

/// Two-letter codes `aa` to `zz`: bit `26 * a + b` (`aa` is bit 0 of byte 0) is set when the
/// table has an entry for that code.
pub(crate) type CodeBits = [u8; 85];

/// A name table as the binary holds it.
pub(crate) struct Names {
    pub(crate) codes: &'static CodeBits,
    /// Folded names (see [`fold_names`]) in code order.
    pub(crate) names: &'static [u8],
}

impl Names {
    /// The code of the entry that has the (folded) name `key`.
    pub(crate) fn code_of(&self, key: &str) -> Option<String> {
        self.nth_code(find(self.names, key.as_bytes())?)
    }

    /// The code of the `left`-th entry.
    fn nth_code(&self, mut left: usize) -> Option<String> {
        for code in 0..26 * 26 {
            if self.has(code) {
                if left == 0 {
                    let mut s = String::with_capacity(2);
                    s.push(char::from(b'a' + (code / 26) as u8));
                    s.push(char::from(b'a' + (code % 26) as u8));
                    return Some(s);
                }
                left -= 1;
            }
        }
        None
    }

    /// True when `code` (two lowercase ASCII letters) has an entry.
    pub(crate) fn has_code(&self, code: &str) -> bool {
        match *code.as_bytes() {
            [a @ b'a'..=b'z', b @ b'a'..=b'z'] => {
                self.has(usize::from(a - b'a') * 26 + usize::from(b - b'a'))
            }
            _ => false,
        }
    }

    /// The code of the entry one of whose (folded) names occurs in `key`: the leftmost occurrence,
    /// the longest name there. Names shorter than [`MIN_CONTAINED`] are not looked for inside
    /// longer values (`uk` in `milwaukee`).
    pub(crate) fn code_within(&self, key: &str) -> Option<String> {
        let key = key.as_bytes();
        for at in 0..key.len() {
            let rest = key.get(at..)?;
            let (mut best, mut best_len) = (None, 0);
            let (mut entry, mut start) = (0, 0);
            for (i, &b) in self.names.iter().enumerate() {
                if b == b'|' || b == b'\n' {
                    let name = self.names.get(start..i).unwrap_or_default();
                    if name.len() >= MIN_CONTAINED
                        && name.len() > best_len
                        && rest.starts_with(name)
                    {
                        (best, best_len) = (Some(entry), name.len());
                    }
                    start = i + 1;
                    entry += usize::from(b == b'\n');
                }
            }
            if let Some(entry) = best {
                return self.nth_code(entry);
            }
        }
        None
    }

    fn has(&self, code: usize) -> bool {
        self.codes
            .get(code / 8)
            .is_some_and(|bits| bits >> (code % 8) & 1 == 1)
    }
}

/// Shortest name that [`Names::code_within`] looks for inside a longer value.
const MIN_CONTAINED: usize = 4;

/// Longest folded value that [`fold_key`] returns: no name is longer, and a value this long is
/// not searched for names inside it either.
const MAX_FOLDED: usize = 256;

/// Folds an already lowercased name to its lookup key: ASCII letters and digits. Latin-1 accented
/// letters lose their accent (`québec` → `quebec`), `&` becomes `and`; white space, punctuation,
/// marks and other characters go. `None` when the input is too long to hold a table name.
pub(crate) fn fold_key(lower: &str) -> Option<String> {
    if lower.len() > MAX_FOLDED * 4 {
        return None;
    }
    let mut out = String::with_capacity(lower.len());
    for c in lower.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if c == '&' {
            out.push_str("and");
        } else if let Some(base) = strip_accent(c) {
            out.push(base);
        }
    }
    (out.len() <= MAX_FOLDED).then_some(out)
}

/// The base letter of a lowercase Latin-1 accented letter (`à` to `ÿ`; `_` marks `æ`, `ð`, `÷`
/// and `þ`, which have none).
fn strip_accent(c: char) -> Option<char> {
    let base = *b"aaaaaa_ceeeeiiii_nooooo_ouuuuy_y".get((c as usize).checked_sub(0xe0)?)?;
    (base != b'_').then_some(char::from(base))
}

/// The index of the entry of `table` (names separated by `|`, each entry ended by `\n`) that has
/// the name `key`.
pub(crate) fn find(table: &[u8], key: &[u8]) -> Option<usize> {
    let (mut entry, mut start) = (0, 0);
    for (i, &b) in table.iter().enumerate() {
        if b == b'|' || b == b'\n' {
            if table.get(start..i) == Some(key) {
                return Some(entry);
            }
            start = i + 1;
            entry += usize::from(b == b'\n');
        }
    }
    None
}

/// The [`CodeBits`] of a source table: one line per entry, `<code> <Name>|<Other name>...`,
/// sorted by code.
#[allow(clippy::indexing_slicing)] // compile time only
pub(crate) const fn code_bits(src: &str) -> CodeBits {
    let s = src.as_bytes();
    let mut bits = [0; 85];
    let (mut i, mut next) = (0, 0);
    while i < s.len() {
        let (a, b) = (s[i], s[i + 1]);
        assert!(a.is_ascii_lowercase() && b.is_ascii_lowercase() && s[i + 2] == b' ');
        let code = (a - b'a') as usize * 26 + (b - b'a') as usize;
        assert!(
            code >= next,
            "lines must be sorted by code, one line per code"
        );
        bits[code / 8] |= 1 << (code % 8);
        next = code + 1;
        while i < s.len() && s[i] != b'\n' {
            i += 1;
        }
        i += 1;
    }
    bits
}

/// Folds the names of a source table (as [`code_bits`] reads it, or without the codes when
/// `skip` is 0) into the first `N` bytes of the result, and returns the full length: ASCII
/// letters lowercased, digits and `_` kept, `&` spelled `and`, everything else dropped, `|`
/// between names and `\n` after each line. Called once with `N = 0` for the length, then with that length.
#[allow(clippy::indexing_slicing)] // compile time only
pub(crate) const fn fold_names<const N: usize>(src: &str, skip: usize) -> ([u8; N], usize) {
    let s = src.as_bytes();
    let mut out = [0; N];
    let (mut i, mut n) = (0, 0);
    while i < s.len() {
        i += skip;
        let mut name = 0;
        loop {
            let b = if i < s.len() { s[i] } else { b'\n' };
            i += 1;
            if b == b'|' || b == b'\n' {
                assert!(name > 0, "empty name");
                n = put(&mut out, n, b);
                name = 0;
                if b == b'\n' {
                    break;
                }
            } else if b.is_ascii_alphanumeric() || b == b'_' {
                n = put(&mut out, n, b.to_ascii_lowercase());
                name += 1;
            } else if b == b'&' {
                n = put(&mut out, n, b'a');
                n = put(&mut out, n, b'n');
                n = put(&mut out, n, b'd');
                name += 3;
            } else {
                assert!(b.is_ascii(), "names are plain ASCII");
            }
        }
    }
    (out, n)
}

/// Writes `values` as LEB128 varints into the first `N` bytes of the result and returns the
/// full length. Called once with `N = 0` for the length, then with that length.
#[allow(clippy::indexing_slicing)] // compile time only
pub(crate) const fn pack<const N: usize>(values: &[u32]) -> ([u8; N], usize) {
    let mut out = [0; N];
    let (mut i, mut n) = (0, 0);
    while i < values.len() {
        let mut v = values[i];
        while v >= 0x80 {
            n = put(&mut out, n, (v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        n = put(&mut out, n, v as u8);
        i += 1;
    }
    (out, n)
}

/// The steps between ascending values: `[a, b, c]` → `[a, b - a, c - b]`, what [`pack`] stores
/// for a sorted set.
#[allow(clippy::indexing_slicing)] // compile time only
pub(crate) const fn ascending_steps<const N: usize>(values: &[u32; N]) -> [u32; N] {
    let (mut out, mut i, mut prev) = ([0; N], 0, 0);
    while i < N {
        assert!(values[i] >= prev, "values must ascend");
        out[i] = values[i] - prev;
        prev = values[i];
        i += 1;
    }
    out
}

/// The length of `values` packed.
pub(crate) const fn packed_len(values: &[u32]) -> usize {
    pack::<0>(values).1
}

#[allow(clippy::indexing_slicing)] // compile time only
const fn put<const N: usize>(out: &mut [u8; N], n: usize, b: u8) -> usize {
    if n < N {
        out[n] = b;
    }
    n + 1
}

/// Reads one varint that [`pack`] wrote from the front of `bytes`.
pub(crate) fn varint(bytes: &mut &[u8]) -> Option<u32> {
    let (mut n, mut shift) = (0u32, 0u32);
    while let [b, ref rest @ ..] = **bytes {
        *bytes = rest;
        n |= u32::from(b & 0x7f).wrapping_shl(shift);
        if b < 0x80 {
            return Some(n);
        }
        shift += 7;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "\
ab Alpha Beta|A&B
ba Bravo|B.A.
zz Zulu";
    const LEN: usize = fold_names::<0>(SRC, 3).1;
    static NAMES: [u8; LEN] = fold_names::<LEN>(SRC, 3).0;
    static BITS: CodeBits = code_bits(SRC);
    const TABLE: Names = Names {
        codes: &BITS,
        names: &NAMES,
    };

    #[test]
    fn names_and_codes() {
        assert_eq!(&NAMES[..], b"alphabeta|aandb\nbravo|ba\nzulu\n");
        assert_eq!(TABLE.code_of("aandb").as_deref(), Some("ab"));
        assert_eq!(TABLE.code_of("ba").as_deref(), Some("ba"));
        assert_eq!(TABLE.code_of("zulu").as_deref(), Some("zz"));
        assert_eq!(TABLE.code_of("alpha"), None);
        assert_eq!(TABLE.code_of(""), None);
        assert!(TABLE.has_code("ab") && TABLE.has_code("zz"));
        assert!(!TABLE.has_code("aa") && !TABLE.has_code("AB") && !TABLE.has_code("abc"));
    }

    #[test]
    fn names_within_longer_values() {
        assert_eq!(TABLE.code_within("thebravocity").as_deref(), Some("ba"));
        assert_eq!(TABLE.code_within("zulualphabeta").as_deref(), Some("zz"));
        // `ba` is too short to be looked for inside a value.
        assert_eq!(TABLE.code_within("xbax"), None);
        assert_eq!(TABLE.code_within(""), None);
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
        assert_eq!(fold_key("québec").as_deref(), Some("quebec"));
        assert_eq!(fold_key("que\u{301}bec").as_deref(), Some("quebec"));
        assert_eq!(
            fold_key("trinidad & tobago").as_deref(),
            Some("trinidadandtobago")
        );
        assert_eq!(fold_key("hawaiʻi").as_deref(), Some("hawaii"));
        assert_eq!(fold_key(&"a".repeat(257)), None);
    }

    #[test]
    fn varints_round_trip() {
        const VALUES: [u32; 6] = [0, 1, 127, 128, 0x1_0000, u32::MAX];
        const LEN: usize = pack::<0>(&VALUES).1;
        const PACKED: [u8; LEN] = pack::<LEN>(&VALUES).0;
        assert_eq!(LEN, 1 + 1 + 1 + 2 + 3 + 5);
        let mut bytes = &PACKED[..];
        for v in VALUES {
            assert_eq!(varint(&mut bytes), Some(v));
        }
        assert_eq!(varint(&mut bytes), None);
        assert_eq!(varint(&mut &[0x80u8][..]), None);
    }
}
