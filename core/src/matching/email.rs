//! The `em` field: an email address, lowercased, kept only when it looks like `local@domain.tld`.

use super::case::to_lower;
use super::DropReason;

/// `em`: lowercase the (trimmed) address; drop it unless [`looks_like_email`].
pub(crate) fn normalize_email(trimmed: &str) -> Result<String, DropReason> {
    let lower = to_lower(trimmed);
    if looks_like_email(&lower) {
        Ok(lower)
    } else {
        Err(DropReason::NotAnEmail)
    }
}

/// A deliberately loose shape check, not RFC 5322: exactly one `@`, a non-empty local part, a
/// domain of at least two non-empty dot-separated labels whose last label (the TLD) has at least
/// two characters, and no white space or control characters anywhere. Internationalised addresses
/// (`josé@correo.es`, `user@bücher.de`) pass.
pub fn looks_like_email(s: &str) -> bool {
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    // Walk the bytes once: `@` and `.` are ASCII, so they never occur inside a multi-byte
    // character. `label` counts the characters (not continuation bytes) of the current part.
    let (mut ats, mut dots, mut label) = (0, 0, 0);
    for &b in s.as_bytes() {
        match b {
            b'@' | b'.' if label == 0 && (b == b'@' || ats > 0) => return false,
            b'@' => {
                ats += 1;
                label = 0;
            }
            b'.' if ats > 0 => {
                dots += 1;
                label = 0;
            }
            _ if b & 0xc0 != 0x80 => label += 1,
            _ => {}
        }
    }
    ats == 1 && dots > 0 && label >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(looks_like_email("a@b.co"));
        assert!(looks_like_email("first.last+tag@mail.example.co.uk"));
        assert!(looks_like_email("josé@bücher.de"));
        assert!(!looks_like_email("a@b.c"));
        assert!(!looks_like_email("a@b"));
        assert!(!looks_like_email("@b.com"));
        assert!(!looks_like_email("a@.com"));
        assert!(!looks_like_email("a@b..com"));
        assert!(!looks_like_email("a@b.com."));
        assert!(!looks_like_email("a@b@c.com"));
        assert!(!looks_like_email("a b@c.com"));
        assert!(!looks_like_email("a@c.com\u{0}"));
    }
}
