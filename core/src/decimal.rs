//! Integer text: decimal digits read and written by hand, because `str::parse` and `core::fmt`
//! cost kilobytes in wasm. Used by the wire encoder, the cookie values and the tracker.

/// A run of ASCII digits as a number (no sign, no spaces); `None` when empty, not digits, or too
/// big.
pub fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

/// An optionally negative [`parse_u64`].
pub fn parse_i64(s: &str) -> Option<i64> {
    match s.strip_prefix("-") {
        Some(digits) => i64::try_from(parse_u64(digits)?).ok().map(|n| -n),
        None => i64::try_from(parse_u64(s)?).ok(),
    }
}

/// Decimal digits of `n`.
pub fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        if let Some(slot) = buf.get_mut(i) {
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    for &d in buf.get(i..).unwrap_or(&[]) {
        out.push(d as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_against_std() {
        for n in [0, 1, 9, 10, 99, 1_596_403_881_668, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, n);
            assert_eq!(s, n.to_string());
            assert_eq!(parse_u64(&s), Some(n));
        }
        for n in [0, -1, 1000, -1000, i64::MIN + 1, i64::MAX] {
            assert_eq!(parse_i64(&n.to_string()), Some(n));
        }
        for bad in ["", "-", "1a", " 1", "+1", "18446744073709551616"] {
            assert_eq!(parse_u64(bad), None, "{bad}");
        }
    }
}
