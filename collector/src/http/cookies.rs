//! First-party `_fbp`/`_fbc` cookies set by the server.
//!
//! Safari caps cookies written by scripts at 7 days; cookies set in an HTTP response from the
//! site's own host keep their 90 days. So when a beacon carries `fbp`/`fbc` and was sent to the
//! same site as the page (`dl`), the answer sets them again. A beacon that carried none gets none
//! (no consent, no cookie).
//!
//! The domain is the one the pixel wrote on: `fb.<subdomainIndex>....` says how many labels it
//! had (index + 1), so the server's cookie replaces the script's instead of adding a second one.
//!
//! The request's `Host` is the client's to write, and its labels become the `Domain` attribute:
//! only a host name of `[a-z0-9.-]` (case-insensitive, a port stripped) or a bracketed IPv6
//! address is used ([`valid_host`]); any other gets no cookie at all. (`Host: a;domain=evil.com`
//! once reached the attribute as `Domain=a;domain=evil.com`.)

use std::net::IpAddr;

use axum::http::HeaderValue;
use pixel_core::cookie::{
    parse_value, set_cookie_text, split_appendix, FBC, FBP, MAX_AGE_SECS, MAX_VALUE_LEN,
};
use pixel_core::host::CookieWrite;
use pixel_core::url::http_host;
/// The pixel writes `fb.<labels of the cookie domain - 1>....`: one digit in practice.
const MAX_SUBDOMAIN_INDEX: u32 = 9;

/// What the decision needs from the request.
pub struct CookieRequest<'a> {
    pub fbp: Option<&'a str>,
    pub fbc: Option<&'a str>,
    /// `Host` of the request as [`header_host`] gives it.
    pub request_host: Option<&'a str>,
    /// The page URL (`dl`).
    pub page_url: &'a str,
    /// The page is served over https (adds `Secure`).
    pub https: bool,
}

/// The `Set-Cookie` values to answer with (none, one or two).
pub fn first_party(req: &CookieRequest<'_>) -> Vec<HeaderValue> {
    let mut out = Vec::new();
    let Some(host) = req
        .request_host
        .map(str::to_ascii_lowercase)
        .filter(|h| valid_host(h))
    else {
        return out;
    };
    let Some((page_host, _)) = http_host(req.page_url) else {
        return out;
    };
    for (name, value, subdomain_index) in [
        (FBP, req.fbp, fbp_index as fn(&str) -> Option<u32>),
        (FBC, req.fbc, fbc_index),
    ] {
        let Some((value, index)) = value.and_then(|v| Some((v, subdomain_index(v)?))) else {
            continue;
        };
        let Some(domain) = cookie_domain(&host, &page_host, index as usize) else {
            continue;
        };
        // The pixel's own text for `document.cookie` (core), so both write the same cookie.
        let cookie = set_cookie_text(&CookieWrite {
            name,
            value,
            domain: domain.as_deref().unwrap_or(""),
            max_age_secs: MAX_AGE_SECS,
            secure: req.https,
        });
        // From the `String` itself (same validation as `from_str`, without a copy).
        if let Ok(v) = HeaderValue::try_from(cookie) {
            out.push(v);
        }
    }
    out
}

/// `None`: not the same site, set nothing. `Some(None)`: a host-only cookie.
/// `Some(Some(d))`: `Domain=d`.
fn cookie_domain(host: &str, page_host: &str, index: usize) -> Option<Option<String>> {
    // An IPv6 literal comes in brackets (`[::1]`), as `http_host` gives it.
    if host.starts_with('[') || host.parse::<IpAddr>().is_ok() || !host.contains('.') {
        return (host == page_host).then_some(None);
    }
    let labels: Vec<&str> = host.split('.').collect();
    let keep = (index + 1).min(labels.len());
    let domain = labels.get(labels.len() - keep..)?.join(".");
    let within = |h: &str| {
        h == domain
            || h.strip_suffix(domain.as_str())
                .is_some_and(|p| p.ends_with('.'))
    };
    if !within(page_host) {
        return None;
    }
    if keep < 2 {
        return (host == page_host).then_some(None);
    }
    Some(Some(domain))
}

/// The subdomain index of a well-formed `_fbp`: `fb.<index>.<ms>.<random digits>` by core's
/// `parse_value`, and on top the random part only digits (at most 20), as the pixel writes it, or
/// followed by the `.<appendix>` Meta's Parameter Builder adds (kept and re-set unchanged).
fn fbp_index(v: &str) -> Option<u32> {
    let (index, _, tail) = parse_value(v)?;
    let (tail, _) = split_appendix(tail);
    let digits = tail.len() <= 20 && tail.bytes().all(|b| b.is_ascii_digit());
    (index <= MAX_SUBDOMAIN_INDEX && digits).then_some(index)
}

/// The subdomain index of a well-formed `_fbc`: `fb.<index>.<ms>.<fbclid>` by core's
/// `parse_value` (a cookie-safe click ID, the only kind the pixel writes), at most 600 characters.
fn fbc_index(v: &str) -> Option<u32> {
    if v.len() > MAX_VALUE_LEN {
        return None;
    }
    let (index, _, _) = parse_value(v)?;
    (index <= MAX_SUBDOMAIN_INDEX).then_some(index)
}

/// The host of a `Host` header (`host[:port]`) in the form core's `http_host` gives the page's
/// host (lowercased, without port, an IPv6 literal in brackets), so the two can be compared.
/// `None` for a host that [`valid_host`] refuses.
pub fn header_host(raw: &str) -> Option<String> {
    if raw.contains(['/', '?', '#', '@']) {
        return None;
    }
    http_host(&format!("http://{raw}/"))
        .map(|(host, _)| host)
        .filter(|h| valid_host(h))
}

/// A host a cookie may name: a non-empty name of ASCII letters, digits, `.` and `-`, or an IPv6
/// address in brackets. Nothing else can end up in `Domain=` (no `;`, `=`, space or comma).
pub fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_host_never_reaches_the_domain_attribute() {
        let fbp = Some("fb.1.1596403881668.1116446470");
        for (raw, page) in [
            ("www.a;domain=evil.com", "http://www.a;domain=evil.com/"),
            (
                "shop.example.com;domain=evil.com",
                "https://shop.example.com/",
            ),
            ("shop.example.com, evil.com", "https://shop.example.com/"),
            ("shop.example.com evil", "https://shop.example.com/"),
            ("shop.exa_mple.com", "https://shop.exa_mple.com/"),
            ("shop.example.com=x", "https://shop.example.com/"),
            ("[::1;x]", "http://[::1]/"),
            ("[not-v6]", "http://[not-v6]/"),
            ("", "https://shop.example.com/"),
        ] {
            let host = header_host(raw);
            assert!(host.is_none() || raw.is_empty(), "{raw:?} gave {host:?}");
            // And given directly (as a caller that skipped `header_host` would).
            assert!(
                cookies(fbp, None, raw, page, true).is_empty(),
                "{raw:?} got a cookie"
            );
        }
        // What is accepted: letters, digits, dots, dashes, any case, a port stripped; IPv6.
        assert_eq!(
            header_host("Shop-1.Example.COM:8443").as_deref(),
            Some("shop-1.example.com")
        );
        assert_eq!(header_host("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(header_host("127.0.0.1:80").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            cookies(fbp, None, "Shop.Example.com", "https://shop.example.com/", true),
            vec!["_fbp=fb.1.1596403881668.1116446470; Max-Age=7776000; Path=/; Domain=example.com; SameSite=Lax; Secure"]
        );
        assert_eq!(
            cookies(fbp, None, "[::1]", "http://[::1]:8080/", false).len(),
            1
        );
    }

    #[test]
    fn max_age_is_cores_ninety_days() {
        assert_eq!(MAX_AGE_SECS, 90 * 24 * 3600);
    }

    fn cookies(
        fbp: Option<&str>,
        fbc: Option<&str>,
        host: &str,
        page: &str,
        https: bool,
    ) -> Vec<String> {
        first_party(&CookieRequest {
            fbp,
            fbc,
            request_host: Some(host),
            page_url: page,
            https,
        })
        .into_iter()
        .map(|v| v.to_str().map(str::to_owned).unwrap_or_default())
        .collect()
    }

    #[test]
    fn sets_on_the_domain_the_pixel_wrote() {
        assert_eq!(
            cookies(Some("fb.1.1596403881668.1116446470"), None, "shop.example.com", "https://shop.example.com/p?x=1", true),
            vec!["_fbp=fb.1.1596403881668.1116446470; Max-Age=7776000; Path=/; Domain=example.com; SameSite=Lax; Secure"]
        );
        assert_eq!(
            cookies(None, Some("fb.2.1596403881668.IwAR2F4-dbP0"), "shop.example.co.uk", "http://shop.example.co.uk/", false),
            vec!["_fbc=fb.2.1596403881668.IwAR2F4-dbP0; Max-Age=7776000; Path=/; Domain=example.co.uk; SameSite=Lax"]
        );
    }

    #[test]
    fn host_only_on_localhost_and_ip() {
        assert_eq!(
            cookies(
                Some("fb.0.1.2"),
                None,
                "localhost",
                "http://localhost:8080/",
                false
            ),
            vec!["_fbp=fb.0.1.2; Max-Age=7776000; Path=/; SameSite=Lax"]
        );
        assert_eq!(
            cookies(
                Some("fb.0.1.2"),
                None,
                "127.0.0.1",
                "http://127.0.0.1:8080/",
                false
            )
            .len(),
            1
        );
    }

    #[test]
    fn nothing_for_other_sites_bad_values_or_no_cookie() {
        assert!(cookies(
            Some("fb.1.1.2"),
            None,
            "collect.other.com",
            "https://shop.example.com/",
            true
        )
        .is_empty());
        assert!(cookies(
            Some("fb.1.1.2; Domain=evil"),
            None,
            "example.com",
            "https://example.com/",
            true
        )
        .is_empty());
        assert!(cookies(
            None,
            Some("fb.1.1.a b"),
            "example.com",
            "https://example.com/",
            true
        )
        .is_empty());
        assert!(cookies(None, None, "example.com", "https://example.com/", true).is_empty());
        assert!(cookies(
            Some("fb.1.1.2"),
            None,
            "127.0.0.1",
            "http://localhost/",
            false
        )
        .is_empty());
    }

    #[test]
    fn hosts() {
        assert_eq!(
            header_host("Example.com:8080").as_deref(),
            Some("example.com")
        );
        assert_eq!(header_host("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(header_host("shop.example").as_deref(), Some("shop.example"));
        for bad in ["", "a/b", "user@shop.example", "x?y"] {
            assert_eq!(header_host(bad), None, "{bad}");
        }
    }

    #[test]
    fn host_only_on_an_ipv6_literal() {
        let host = header_host("[::1]:8080");
        let set = first_party(&CookieRequest {
            fbp: Some("fb.0.1.2"),
            fbc: None,
            request_host: host.as_deref(),
            page_url: "http://[::1]:8080/p",
            https: false,
        });
        assert_eq!(
            set,
            vec![HeaderValue::from_static(
                "_fbp=fb.0.1.2; Max-Age=7776000; Path=/; SameSite=Lax"
            )]
        );
        let mapped = header_host("[::ffff:127.0.0.1]");
        let set = first_party(&CookieRequest {
            fbp: Some("fb.1.1.2"),
            fbc: None,
            request_host: mapped.as_deref(),
            page_url: "http://[::ffff:127.0.0.1]/",
            https: false,
        });
        assert_eq!(
            set,
            vec![HeaderValue::from_static(
                "_fbp=fb.1.1.2; Max-Age=7776000; Path=/; SameSite=Lax"
            )]
        );
    }

    #[test]
    fn only_values_the_pixel_could_have_written_are_echoed() {
        let fbp = |v| cookies(Some(v), None, "example.com", "https://example.com/", true);
        let fbc = |v| cookies(None, Some(v), "example.com", "https://example.com/", true);
        assert_eq!(fbp("fb.1.1596403881668.1116446470").len(), 1);
        // The random part of _fbp is digits; the index one digit; the time a u64.
        for bad in [
            "fb.1.1.2.3",
            "fb.1.1.x2",
            "fb.12.1.2",
            "fb.1.99999999999999999999.2",
            "fb.1.1.123456789012345678901",
        ] {
            assert!(fbp(bad).is_empty(), "{bad}");
        }
        assert_eq!(fbc("fb.1.1596403881668.IwAR2F4-dbP0_x.y").len(), 1);
        // A click ID outside A-Z a-z 0-9 . _ - is not echoed (core's cookie-safe rule).
        for bad in ["fb.1.1.IwAR=2", "fb.1.1.Iw~AR", "fb.1.1.", "fb.1.x.IwAR"] {
            assert!(fbc(bad).is_empty(), "{bad}");
        }
        assert!(fbc(&format!("fb.1.1.{}", "a".repeat(600))).is_empty());
    }

    /// Meta's Parameter Builder writes a fifth segment, `.<appendix>` (2 or 8 base64url
    /// characters): such cookies are set again unchanged.
    #[test]
    fn five_segment_cookies_are_set_again_unchanged() {
        let both = cookies(
            Some("fb.1.1700000000000.1234567890.AQ"),
            Some("fb.1.1700000000000.IwAR2F4-dbP0.Ab-_9xYz"),
            "example.com",
            "https://example.com/",
            true,
        );
        assert_eq!(
            both,
            vec![
                "_fbp=fb.1.1700000000000.1234567890.AQ; Max-Age=7776000; Path=/; Domain=example.com; SameSite=Lax; Secure",
                "_fbc=fb.1.1700000000000.IwAR2F4-dbP0.Ab-_9xYz; Max-Age=7776000; Path=/; Domain=example.com; SameSite=Lax; Secure",
            ]
        );
        // Not an appendix: a random part that is not digits stays refused.
        let fbp = |v| cookies(Some(v), None, "example.com", "https://example.com/", true);
        assert!(fbp("fb.1.1.12x.AQ").is_empty());
        assert!(fbp("fb.1.1.12.ABC").is_empty());
    }
}
