//! The `em` field: an e-mail address, lowercased, kept only when it is written the way Meta's code
//! accepts it (SPEC §6).

use super::reason::DropReason;

/// `em` (of the trimmed, lowercased address): dropped unless [`looks_like_email`].
pub(crate) fn normalize_email(lower: String) -> Result<String, DropReason> {
    if looks_like_email(&lower) {
        Ok(lower)
    } else {
        Err(DropReason::NotAnEmail)
    }
}

/// `local@domain` as Meta's code accepts it: the local part dot-separated, non-empty runs of ASCII
/// letters, digits and ``!#$%&'*+/=?^_`{|}~-`` (so no leading, trailing or double `.`); the domain
/// two or more dot-separated labels of ASCII letters, digits and `-` that neither start nor end
/// with `-`. No white space, no other characters.
// Not `set.contains(&b)`: on bytes that calls std's memchr (see `crate::ascii::find_byte`).
#[allow(clippy::manual_contains)]
pub fn looks_like_email(s: &str) -> bool {
    // One pass over the bytes. `prev` is the byte before; `@` or `.` there means a run or label
    // starts here (the value starts as if after an `@`).
    let (mut at, mut dots, mut prev) = (false, 0, b'@');
    for &b in s.as_bytes() {
        let start = prev == b'.' || prev == b'@';
        let fine = match b {
            b'@' => {
                !at && !start && {
                    at = true;
                    true
                }
            }
            b'.' => {
                dots += usize::from(at);
                !(start || at && prev == b'-')
            }
            b'-' if at => !start,
            _ if at => b.is_ascii_alphanumeric(),
            _ => b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~-".iter().any(|&a| a == b),
        };
        if !fine {
            return false;
        }
        prev = b;
    }
    at && dots > 0 && !matches!(prev, b'.' | b'@' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(looks_like_email("a@b.co"));
        assert!(looks_like_email("first.last+tag@mail.example.co.uk"));
        assert!(looks_like_email("test'name@example.com"));
        assert!(looks_like_email("a@b.c"));
        assert!(looks_like_email("a@my-shop.com"));
        assert!(!looks_like_email("josé@correo.es"));
        assert!(!looks_like_email("user@bücher.de"));
        assert!(!looks_like_email("a@b"));
        assert!(!looks_like_email("@b.com"));
        assert!(!looks_like_email("a@.com"));
        assert!(!looks_like_email("a@b..com"));
        assert!(!looks_like_email("a@b.com."));
        assert!(!looks_like_email("a@-b.com"));
        assert!(!looks_like_email("a@b-.com"));
        assert!(!looks_like_email("a@b@c.com"));
        assert!(!looks_like_email("a b@c.com"));
        assert!(!looks_like_email("test..x@example.com"));
        assert!(!looks_like_email(".x@example.com"));
        assert!(!looks_like_email("x.@example.com"));
        assert!(!looks_like_email("a@c.com\u{0}"));
    }
}
