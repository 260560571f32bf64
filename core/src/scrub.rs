//! URL scrubbing (issue #24): a page URL or referrer without the parameters that identify a
//! visitor or grant access to something, applied once, here, by both sides: the pixel to `dl` and
//! `rl` before any beacon is built (toward a first-party collector and Meta's own endpoint alike),
//! and the collector to every event's page URL and referrer before it is stored, relayed or sent.
//!
//! A parameter goes, name and value, when
//! - its value looks like an e-mail address: an `@` (or `%40`) after its first character (a
//!   `@handle` stays; `a@b` goes, a cheaper rule than an address's full shape, and no loss);
//! - its value looks like a phone number: 9 to 15 digits with nothing but `+ - . ( )`, spaces and
//!   percent escapes around them, and either one of those marks or a leading `0` (a national
//!   number); a bare run of digits that starts with 1–9 stays, because that is what product,
//!   variant (Shopify's 14 digits), post and campaign IDs and timestamps look like;
//! - its name marks a secret ([`NEEDLES`]): a word of it (split at anything but ASCII letters and
//!   digits, a percent escape included) is `key`, `auth`, `pass`, `sig`… (`keyword`, `author`,
//!   `passenger` stay); it contains `token`, `secret`, `passw`, `session` or `sessid`; or it is
//!   exactly `code` (an OAuth or e-mail-verification code; `coupon_code`, `country_code`
//!   stay) or `login` (WordPress's password-reset link carries the account name there, beside its
//!   `key`).
//!
//! So WooCommerce's `order-received/12/?key=wc_order_…` (guest access to the order), password
//! resets (`?key=…&login=…`, `?token=…`), `?email=a@b.com` from a newsletter, `access_token`,
//! `X-Amz-Signature` and `PHPSESSID` go; `utm_*`, `fbclid`, `gclid`, `id`, `q`, `variant`, `p`,
//! `author`, `keyword` and `coupon_code` stay.
//!
//! The fragment is scrubbed too, by the same rules: it is in `document.URL`, so in `dl`, and
//! OAuth's implicit flow and magic-link logins put `#access_token=…` there. Every `?`, `#` and `&`
//! after the scheme, host and path starts a parameter, so a single-page app's `#/route?x=1` and a
//! fragment `#a=1&b=2` are scrubbed like a query (a plain `#section` is a parameter without a
//! value, and stays). A query or fragment left empty goes with its `?` or `#`. Nothing else in the
//! URL changes, byte for byte.
//!
//! Hand-written byte scanning in one pass: no regex or URL parser in the wasm.

/// What marks a secret in a parameter name, as needles for the name lowercased, its words
/// (split at anything but ASCII letters and digits, a percent escape included) separated by
/// spaces and the whole between `^ ` and ` $` (`X-Amz-Signature` is `^ x amz signature $`):
/// whole names (`^ code $`), words (` key `) and text anywhere (`token`), `|`-separated (one list
/// scanned at run time: an array of slices is unrolled into code per entry).
pub const NEEDLES: &[u8] = b"^ code $|^ login $| key | apikey | auth | pass | pwd | sig | signature | credential | otp | jwt | hash | nonce | sid |token|secret|passw|session|sessid";

/// `url` without the parameters (of its query and fragment) that identify a visitor or grant
/// access: see the module's documentation. With `all`, without any (limited mode's `dl` and
/// `rl`): what is left is the URL up to its first `?`, `#` or `&`.
///
/// One pass: the URL is cut before each `?`, `#` and `&`; the first piece (scheme, host, path)
/// stays, every other piece is a separator and a parameter, dropped or kept whole. A `?` or `#`
/// whose parameter was dropped is carried to the next kept `&` piece, so no list is left
/// starting with `&` or ending in a bare `?`.
pub fn scrub(url: &str, all: bool) -> String {
    let b = url.as_bytes();
    let cut = |c: u8| c == b'?' || c == b'#' || c == b'&';
    let mut out = Vec::new();
    // `open`: the `?` or `#` of a dropped parameter, for the next kept `&` piece (0: none).
    let (mut from, mut open, mut i) = (0, 0, 0);
    while i <= b.len() {
        if i > from && b.get(i).is_none_or(|&c| cut(c)) {
            let mut sep = b.get(from).copied().unwrap_or(0);
            // The head (scheme, host and path) is kept whole.
            let head = from == 0 && !cut(sep);
            let p = b
                .get(if head { 0 } else { from + 1 }..i)
                .unwrap_or_default();
            if head {
                sep = 0;
            } else if all || drop(p) {
                if sep != b'&' {
                    open = sep;
                }
                sep = 1;
            } else if sep == b'&' && open > 0 {
                sep = open;
            }
            if sep != 1 {
                if sep > 0 {
                    out.push(sep);
                }
                out.extend_from_slice(p);
                open = 0;
            }
            from = i;
        }
        i += 1;
    }
    // Whole pieces cut at ASCII bytes: still UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Whether a parameter (`name=value`, not yet decoded) goes.
fn drop(p: &[u8]) -> bool {
    let eq = p.iter().position(|&c| c == b'=').unwrap_or(p.len());
    secret(p.get(..eq).unwrap_or_default()) || contact(p.get(eq + 1..).unwrap_or_default())
}

/// Whether a parameter name marks a secret: one of [`NEEDLES`] is in it.
fn secret(name: &[u8]) -> bool {
    let mut n = b"^ ".to_vec();
    let mut i = 0;
    while let Some(&c) = name.get(i) {
        n.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            b' '
        });
        i += if c == b'%' { 3 } else { 1 };
    }
    n.extend_from_slice(b" $");
    NEEDLES
        .split(|&c| c == b'|')
        .any(|e| n.windows(e.len()).any(|w| w == e))
}

/// Whether a value looks like an e-mail address (an `@`, or `%40`, after its first character) or
/// a phone number (9 to 15 digits among `+ - . ( )`, spaces and percent escapes, with one of those
/// or a leading `0`).
fn contact(v: &[u8]) -> bool {
    // Digits so far; 99 once a character no phone number has is seen.
    let (mut digits, mut i) = (0, 0);
    while let Some(&c) = v.get(i) {
        if i > 0 && (c == b'@' || v.get(i..i + 3) == Some(b"%40")) {
            return true;
        }
        if c == b'%' {
            i += 2;
        } else if c.is_ascii_digit() {
            digits += 1;
        } else if !matches!(c, b'+' | b'-' | b'.' | b'(' | b')' | b' ') {
            digits = 99;
        }
        i += 1;
    }
    digits > 8 && digits < 16 && (digits < v.len() || v.first() == Some(&b'0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "https://shop.test/checkout/order-received/12/";

    /// (URL, what it becomes)
    const TABLE: &[(&str, &str)] = &[
        // WooCommerce's order-received key (guest access to the order); utm_* stays.
        (
            "https://shop.test/checkout/order-received/12/?key=wc_order_abc&utm_source=x",
            "https://shop.test/checkout/order-received/12/?utm_source=x",
        ),
        // WordPress's password reset: the key and the account name.
        (
            "https://shop.test/wp-login.php?action=rp&key=Xy12&login=bob",
            "https://shop.test/wp-login.php?action=rp",
        ),
        // Reset and session tokens elsewhere, whatever their case or decoration.
        ("https://a.test/reset?token=abc", "https://a.test/reset"),
        ("https://a.test/r?Token=abc&x=1", "https://a.test/r?x=1"),
        ("https://a.test/r?reset_token=abc", "https://a.test/r"),
        ("https://a.test/r?accessToken=abc&id=7", "https://a.test/r?id=7"),
        ("https://a.test/r?api_key=1&apiKey=2&apikey=3", "https://a.test/r"),
        ("https://a.test/r?password=a&pass=b&pwd=c&newPassword=d", "https://a.test/r"),
        ("https://a.test/r?user%5Bpassword%5D=a&data%5Bkey%5D=b", "https://a.test/r"),
        ("https://a.test/r?auth=a&auth_token=b&client_secret=c", "https://a.test/r"),
        ("https://a.test/r?session=a&sessionid=b&PHPSESSID=c", "https://a.test/r"),
        ("https://a.test/r?sig=a&X-Amz-Signature=b&X-Amz-Credential=c", "https://a.test/r"),
        ("https://a.test/r?otp=1&jwt=2&hash=3&nonce=4&sid=5", "https://a.test/r"),
        // An OAuth or verification code goes; a coupon or country code stays.
        (
            "https://a.test/cb?code=4%2F0Ab&state=x&coupon_code=SUMMER&country_code=FR",
            "https://a.test/cb?state=x&coupon_code=SUMMER&country_code=FR",
        ),
        // E-mail addresses, in any parameter (utm_content too), plain or percent-encoded.
        (
            "https://a.test/?email=a@b.com&utm_medium=email&utm_content=a%40b.co.uk",
            "https://a.test/?utm_medium=email",
        ),
        ("https://a.test/?m=first.last%2Btag%40mail.example", "https://a.test/"),
        // Not an e-mail address: a handle.
        ("https://a.test/?ref=@brand&to=%40b", "https://a.test/?ref=@brand&to=%40b"),
        // Phone numbers: international, national, with separators or escapes.
        (
            "https://a.test/?tel=%2B33612345678&t=+1%20(555)%20123-4567&f=0612345678&us=555-123-4567&d=555.123.4567",
            "https://a.test/",
        ),
        // Not a phone number: IDs (Shopify variants), timestamps, short numbers, dates, campaign IDs.
        (
            "https://a.test/p?variant=44012345678901&t=1700000000000&p=123&d=2024-01-15&utm_id=120203456789012345",
            "https://a.test/p?variant=44012345678901&t=1700000000000&p=123&d=2024-01-15&utm_id=120203456789012345",
        ),
        // What Meta's pixel and ad platforms put in URLs, and common store parameters, stay.
        (
            "https://a.test/p?id=42&q=red+shoes&fbclid=IwAR0abc-_x&gclid=Cj0KCQ&utm_source=fb&utm_campaign=spring&wbraid=x&msclkid=y&author=5&keyword=key&authuser=0&s=shoes&add-to-cart=9&_pos=1&_ss=r",
            "https://a.test/p?id=42&q=red+shoes&fbclid=IwAR0abc-_x&gclid=Cj0KCQ&utm_source=fb&utm_campaign=spring&wbraid=x&msclkid=y&author=5&keyword=key&authuser=0&s=shoes&add-to-cart=9&_pos=1&_ss=r",
        ),
        // The fragment: implicit-flow tokens, a single-page app's route with its own query.
        (
            "https://a.test/cb#access_token=x&token_type=bearer&expires_in=3600",
            "https://a.test/cb#expires_in=3600",
        ),
        ("https://a.test/cb#id_token=x", "https://a.test/cb"),
        (
            "https://a.test/#/checkout?email=a%40b.com&step=2",
            "https://a.test/#/checkout?step=2",
        ),
        ("https://a.test/#/checkout?email=a%40b.com", "https://a.test/#/checkout"),
        ("https://a.test/p?key=1#reviews", "https://a.test/p#reviews"),
        ("https://a.test/p#section-2", "https://a.test/p#section-2"),
        // Nothing to scrub: the URL comes back as it was, odd shapes included.
        (PAGE, PAGE),
        ("", ""),
        ("https://a.test/?", "https://a.test/?"),
        ("https://a.test/?a&&b=", "https://a.test/?a&&b="),
        ("https://a.test/?=1&a=b=c", "https://a.test/?=1&a=b=c"),
        ("https://a.test/p?é=ü#ö", "https://a.test/p?é=ü#ö"),
        ("/relative?token=1&x=2", "/relative?x=2"),
        ("?email=a@b.co&x=2", "?x=2"),
        ("&pwd=1", ""),
        // Truncated escapes do not overrun.
        ("https://a.test/?a%=1&b=%4", "https://a.test/?a%=1&b=%4"),
    ];

    #[test]
    fn scrubs_by_the_table() {
        for (url, want) in TABLE {
            assert_eq!(scrub(url, false), *want, "{url}");
            // Scrubbing is idempotent.
            assert_eq!(scrub(want, false), *want, "{want}");
        }
    }

    #[test]
    fn limited_mode_keeps_no_parameter() {
        for (url, want) in [
            ("https://a.test/p?id=1&fbclid=x#top", "https://a.test/p"),
            ("https://a.test/p#/r?x=1", "https://a.test/p"),
            ("https://a.test/p", "https://a.test/p"),
            ("", ""),
        ] {
            assert_eq!(scrub(url, true), want, "{url}");
        }
    }

    #[test]
    fn names_that_mark_a_secret() {
        for name in [
            "key",
            "KEY",
            "wc_key",
            "license-key",
            "token",
            "csrfToken",
            "jsessionid",
            "login",
        ] {
            assert!(secret(name.as_bytes()), "{name}");
        }
        for name in [
            "id",
            "q",
            "utm_source",
            "fbclid",
            "gclid",
            "keyword",
            "monkey",
            "author",
            "design",
            "passenger",
            "compass",
            "sess",
            "assessment",
            "zipcode",
            "promo_code",
            "codes",
            "login_hint2x",
            "",
        ] {
            assert!(!secret(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn values_that_look_like_contact_details() {
        for v in ["a@b.co", "a%40b.co", "x.y+z@sub.example.org"] {
            assert!(contact(v.as_bytes()), "{v}");
        }
        for v in ["@a.b", "ab.c", "%40a.b", "a%4", ""] {
            assert!(!contact(v.as_bytes()), "{v}");
        }
        for v in [
            "+33612345678",
            "%2B33612345678",
            "0612345678",
            "(555) 123-4567",
            "555 123 4567",
        ] {
            assert!(contact(v.as_bytes()), "{v}");
        }
        for v in [
            "5551234567",
            "12345678",
            "+1234567",
            "0123456789012345",
            "555-123-456a",
            "",
        ] {
            assert!(!contact(v.as_bytes()), "{v}");
        }
    }
}
