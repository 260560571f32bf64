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
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    if local.is_empty() || domain.contains('@') {
        return false;
    }
    let mut labels = 0;
    let mut last = "";
    for label in domain.split('.') {
        if label.is_empty() {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && last.chars().nth(1).is_some()
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
