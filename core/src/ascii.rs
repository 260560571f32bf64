//! Byte-level helpers for ASCII text: finding and splitting at a byte, and hex digits. Byte loops
//! instead of `str::find` with `char` patterns: std's searchers cost about a kilobyte of wasm for
//! what these do.

/// The byte index of the first of `set` (ASCII bytes) in `s`.
// Not `set.contains(&b)`: on bytes that calls std's memchr, 200 bytes of gzip in the pixel.
#[allow(clippy::manual_contains)]
pub(crate) fn find_byte(s: &str, set: &[u8]) -> Option<usize> {
    s.bytes().position(|b| set.iter().any(|&s| s == b))
}

/// `s` split around its first `sep` (an ASCII byte).
pub(crate) fn split_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = find_byte(s, &[sep])?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// Two lowercase hex digits of `b`.
// Inlined into its two callers, as it was when it lived in lib.rs: outlined it costs 34 bytes.
#[inline(always)]
pub(crate) fn push_hex(out: &mut String, b: u8) {
    let digit = |n: u8| {
        char::from(
            b"0123456789abcdef"
                .get(usize::from(n & 0xf))
                .copied()
                .unwrap_or(b'0'),
        )
    };
    out.push(digit(b >> 4));
    out.push(digit(b));
}
