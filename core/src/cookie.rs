//! First-party identity cookies (SPEC §5): `_fbp` (browser id) and `_fbc` (click id), their
//! values, and the choice of the broadest domain the browser accepts.
//!
//! Which of them a tracked event sends and writes back (read, created or refreshed) is decided by
//! the `identity` module, which the tracker calls; these are the rules it uses.

use crate::ascii::{find_byte, split_byte};
use crate::decimal::{parse_u64, push_u64};
use crate::host::{CookieWrite, Host};
use crate::url::{http_host, is_ip};

pub const FBP: &str = "_fbp";
pub const FBC: &str = "_fbc";
/// 90 days.
pub const MAX_AGE_SECS: u32 = 90 * 24 * 60 * 60;
/// `fbclid` values longer than this are ignored.
pub const MAX_FBCLID: usize = 500;
/// Longest `_fbp`/`_fbc` value accepted from a beacon or a request (bytes; a cookie-safe value is
/// ASCII, so characters too).
pub const MAX_VALUE_LEN: usize = 600;

/// The `Set-Cookie` / `document.cookie` text of a write, with the attributes in one order for the
/// pixel and the collector: `name=value; Max-Age=<s>; Path=/[; Domain=<d>]; SameSite=Lax[; Secure]`.
pub fn set_cookie_text(c: &CookieWrite<'_>) -> String {
    let mut s = String::with_capacity(80 + c.value.len());
    for part in [c.name, "=", c.value, "; Max-Age="] {
        s.push_str(part);
    }
    push_u64(&mut s, u64::from(c.max_age_secs));
    s.push_str("; Path=/");
    if !c.domain.is_empty() {
        s.push_str("; Domain=");
        s.push_str(c.domain);
    }
    s.push_str("; SameSite=Lax");
    if c.secure {
        s.push_str("; Secure");
    }
    s
}

/// `fb.<subdomainIndex>.<creationTimeMs>.<tail>`
pub fn format_value(subdomain_index: usize, created_ms: u64, tail: &str) -> String {
    let mut s = String::from("fb.");
    push_u64(&mut s, subdomain_index as u64);
    s.push('.');
    push_u64(&mut s, created_ms);
    s.push('.');
    s.push_str(tail);
    s
}

/// The parts of a well-formed `_fbp`/`_fbc` value: subdomain index, creation time, tail.
pub fn parse_value(v: &str) -> Option<(u32, u64, &str)> {
    let rest = v.strip_prefix("fb.")?;
    let (index, rest) = split_byte(rest, b'.')?;
    let (created, tail) = split_byte(rest, b'.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(index) || !digits(created) || !is_cookie_safe(tail) {
        return None;
    }
    Some((
        u32::try_from(parse_u64(index)?).ok()?,
        parse_u64(created)?,
        tail,
    ))
}

/// A tail as Meta's Parameter Builder writes it, `<payload>.<appendix>` (five segments in all,
/// the appendix 2 or 8 base64url characters), split; any other tail is all payload. Such a
/// cookie is kept and sent as it is; only its payload is compared with a new `fbclid`.
pub fn split_appendix(tail: &str) -> (&str, Option<&str>) {
    let at = tail.bytes().rposition(|b| b == b'.');
    match at.and_then(|at| Some((tail.get(..at)?, tail.get(at + 1..)?))) {
        Some((payload, appendix))
            if matches!(appendix.len(), 2 | 8)
                && !payload.is_empty()
                && find_byte(payload, b".").is_none()
                && appendix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            (payload, Some(appendix))
        }
        _ => (tail, None),
    }
}

/// Where the identity cookies live: the broadest domain that sticks, found once per page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieDomain {
    /// The `Domain` attribute; empty for a host-only cookie.
    pub domain: String,
    /// Labels of that domain minus one (`example.com` → 1).
    pub subdomain_index: usize,
    pub secure: bool,
}

/// The cookie that [`choose_domain`] writes to find the broadest domain, and deletes again.
pub const PROBE: &str = "_fbp_probe";

/// Find the broadest domain that accepts a cookie: write a throwaway cookie [`PROBE`]`=token` on
/// each suffix of the host, shortest first (`com`, then `example.com`, ...), keep the first that
/// reads back, and delete the probe. IP addresses and single-label hosts get host-only cookies.
/// `None` on pages that are not http(s), where nothing is written.
///
/// The probe has its own name and a fresh `token` so that a cookie already in the jar (a returning
/// visitor's `_fbp` on `example.com`) can never pass for a write that the browser refused.
pub fn choose_domain(host: &mut dyn Host, href: &str, token: &str) -> Option<CookieDomain> {
    let (hostname, secure) = http_host(href)?;
    let bytes = hostname.as_bytes();
    let dots = bytes.iter().filter(|&&b| b == b'.').count();
    let ip = is_ip(&hostname);
    // Each suffix that starts after a dot (`com`, `example.com`, ...), then the whole name.
    let (mut start, mut index) = (bytes.len(), 0);
    while !ip && dots > 0 && start > 0 {
        start -= 1;
        if start > 0 && bytes.get(start - 1) != Some(&b'.') {
            continue;
        }
        let domain = hostname.get(start..).unwrap_or("");
        let mut probe = CookieWrite {
            name: PROBE,
            value: token,
            domain,
            max_age_secs: 60,
            secure,
        };
        host.set_cookie(&probe);
        if host.cookie(PROBE).as_deref() == Some(token) {
            probe.max_age_secs = 0;
            host.set_cookie(&probe);
            return Some(CookieDomain {
                domain: domain.to_owned(),
                subdomain_index: index,
                secure,
            });
        }
        index += 1;
    }
    Some(CookieDomain {
        domain: String::new(),
        subdomain_index: if ip { 0 } else { dots },
        secure,
    })
}

/// Safe inside a cookie value and a URL without escaping: `A-Z a-z 0-9 . _ -`, not empty. An
/// `fbclid` or a cookie tail outside this set is ignored rather than written, so a crafted link
/// cannot inject cookie attributes (`;`, `=`, spaces) or odd bytes into `fbc`.
pub fn is_cookie_safe(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_host::MemoryHost;

    #[test]
    fn values_round_trip() {
        let v = format_value(1, 1_596_403_881_668, "1116446470");
        assert_eq!(v, "fb.1.1596403881668.1116446470");
        assert_eq!(parse_value(&v), Some((1, 1_596_403_881_668, "1116446470")));
        for bad in ["", "fb.", "fb.1.2", "fb.x.1.2", "fb.1.2.", "xx.1.2.3"] {
            assert_eq!(parse_value(bad), None, "{bad}");
        }
    }

    #[test]
    fn five_segment_values_as_metas_parameter_builder_writes_them() {
        let fbp = "fb.1.1700000000000.1234567890.AQ";
        assert_eq!(
            parse_value(fbp),
            Some((1, 1_700_000_000_000, "1234567890.AQ"))
        );
        assert_eq!(split_appendix("1234567890.AQ"), ("1234567890", Some("AQ")));
        assert_eq!(
            split_appendix("IwAR2F4-dbP0.Ab-_9xYz"),
            ("IwAR2F4-dbP0", Some("Ab-_9xYz"))
        );
        for plain in [
            "1234567890",
            "IwAR.x",
            "IwAR.ABC",
            "a.b.AQ",
            ".AQ",
            "IwAR.A=",
            "IwAR.",
        ] {
            assert_eq!(split_appendix(plain), (plain, None), "{plain}");
        }
    }

    #[test]
    fn set_cookie_text_has_one_attribute_order() {
        let mut c = CookieWrite {
            name: FBP,
            value: "fb.1.2.3",
            domain: "example.com",
            max_age_secs: MAX_AGE_SECS,
            secure: true,
        };
        assert_eq!(
            set_cookie_text(&c),
            "_fbp=fb.1.2.3; Max-Age=7776000; Path=/; Domain=example.com; SameSite=Lax; Secure"
        );
        (c.domain, c.secure, c.max_age_secs) = ("", false, 0);
        assert_eq!(
            set_cookie_text(&c),
            "_fbp=fb.1.2.3; Max-Age=0; Path=/; SameSite=Lax"
        );
    }

    #[test]
    fn broadest_domain_that_sticks() {
        let mut h = MemoryHost::new("https://shop.example.co.uk:8443/p?x=1", 0);
        let d = choose_domain(&mut h, "https://shop.example.co.uk:8443/p?x=1", "t1").unwrap();
        assert_eq!(
            d,
            CookieDomain {
                domain: "example.co.uk".into(),
                subdomain_index: 2,
                secure: true
            }
        );

        let mut h = MemoryHost::new("http://www.store.com/", 0);
        let d = choose_domain(&mut h, "http://www.store.com/", "t2").unwrap();
        assert_eq!(
            (d.domain.as_str(), d.subdomain_index, d.secure),
            ("store.com", 1, false)
        );
        assert!(h.jar.is_empty(), "the probe is deleted again: {:?}", h.jar);
    }

    #[test]
    fn an_existing_cookie_cannot_pass_for_a_refused_write() {
        // A returning visitor: _fbp already on example.com. Probing `com` is refused by the
        // browser; the old cookie must not make `com` look accepted.
        let mut h = MemoryHost::new("https://shop.example.com/", 0);
        h.set_cookie(&CookieWrite {
            name: PROBE,
            value: "stale",
            domain: "example.com",
            max_age_secs: 60,
            secure: true,
        });
        let d = choose_domain(&mut h, "https://shop.example.com/", "fresh").unwrap();
        assert_eq!((d.domain.as_str(), d.subdomain_index), ("example.com", 1));
    }

    #[test]
    fn cookie_safe_values() {
        for ok in ["IwAR2F4-dbP0l7_x", "a.b", "1"] {
            assert!(is_cookie_safe(ok), "{ok}");
        }
        for bad in ["", "a;b", "a b", "a=b", "a,b", "é", "a\"b"] {
            assert!(!is_cookie_safe(bad), "{bad}");
        }
        assert_eq!(parse_value("fb.1.2.abc; Max-Age=0"), None);
    }

    #[test]
    fn ip_and_single_label_hosts_are_host_only() {
        for (url, index) in [("http://127.0.0.1:8080/", 0), ("http://localhost/", 0)] {
            let mut h = MemoryHost::new(url, 0);
            let d = choose_domain(&mut h, url, "t3").unwrap();
            assert_eq!((d.domain.as_str(), d.subdomain_index), ("", index), "{url}");
        }
        let mut h = MemoryHost::new("file:///tmp/x.html", 0);
        assert_eq!(choose_domain(&mut h, "file:///tmp/x.html", "t4"), None);
        assert_eq!(h.cookie_writes, 0);
    }
}
