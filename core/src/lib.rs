//! # pixel-core: the sans-IO heart of the drop-in Meta Pixel
//!
//! In scope: parsing `fbq(...)` calls, validating events, advanced-matching normalisation and
//! SHA-256, consent and Limited Data Use state, `_fbp`/`_fbc` cookie values, the `/tr` wire format
//! (encode *and* decode) and the event-ID rule.
//!
//! Out of scope: every kind of I/O. Time, randomness, the page URL, the cookie jar, transports and
//! the console reach the core through the [`host::Host`] port; the WebAssembly shell (`src/`)
//! implements it with browser APIs and [`host::MemoryHost`] implements it for tests. No
//! wasm-bindgen, web-sys or js-sys here: everything runs under plain `cargo test`.

pub mod consent;
pub mod cookie;
pub mod event;
pub mod event_id;
pub mod host;
pub mod json;
pub mod matching;
pub mod sha256;
pub mod tracker;
pub mod wire;

/// The library version, sent as `v` and shown as `fbq.version`: Meta's pixel version whose
/// behaviour we mirror, tagged as ours.
/// The byte index of the first of `set` (ASCII bytes) in `s`. Byte loops instead of `str::find`
/// with `char` patterns: std's searchers cost about a kilobyte of wasm for what this does.
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

pub const VERSION: &str = "2.9.134-wasm.0.1.0";
