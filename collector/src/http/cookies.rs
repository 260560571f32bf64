//! First-party `_fbp`/`_fbc` cookies set by the server.
//!
//! Safari caps cookies written by scripts at 7 days; cookies set in an HTTP response from the
//! site's own host keep their 90 days. So when a beacon carries `fbp`/`fbc` and was sent to the
//! same site as the page (`dl`), the answer sets them again. A beacon that carried none gets none
//! (no consent, no cookie).
//!
//! The domain is the one the pixel wrote on: `fb.<subdomainIndex>....` says how many labels it
//! had (index + 1), so the server's cookie replaces the script's instead of adding a second one.

use std::net::IpAddr;

use axum::http::HeaderValue;

/// 90 days.
pub const MAX_AGE_SECS: u64 = 90 * 24 * 3600;
const MAX_VALUE_LEN: usize = 600;

/// What the decision needs from the request.
pub struct CookieRequest<'a> {
    pub fbp: Option<&'a str>,
    pub fbc: Option<&'a str>,
    /// `Host` of the request, without port.
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
        .filter(|h| !h.is_empty())
    else {
        return out;
    };
    let Some(page_host) = url_host(req.page_url) else {
        return out;
    };
    for (name, value, valid) in [
        ("_fbp", req.fbp, valid_fbp as fn(&str) -> bool),
        ("_fbc", req.fbc, valid_fbc),
    ] {
        let Some(value) = value.filter(|v| valid(v)) else {
            continue;
        };
        let Some(index) = subdomain_index(value) else {
            continue;
        };
        let Some(domain) = cookie_domain(&host, &page_host, index) else {
            continue;
        };
        let mut cookie = format!("{name}={value}; Max-Age={MAX_AGE_SECS}; Path=/");
        if let Some(d) = domain {
            cookie.push_str("; Domain=");
            cookie.push_str(&d);
        }
        cookie.push_str("; SameSite=Lax");
        if req.https {
            cookie.push_str("; Secure");
        }
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            out.push(v);
        }
    }
    out
}

/// `None`: not the same site, set nothing. `Some(None)`: a host-only cookie.
/// `Some(Some(d))`: `Domain=d`.
fn cookie_domain(host: &str, page_host: &str, index: usize) -> Option<Option<String>> {
    if host.parse::<IpAddr>().is_ok() || !host.contains('.') {
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

/// `fb.<index>.<ms>.<random digits>`.
fn valid_fbp(v: &str) -> bool {
    let mut parts = v.split('.');
    parts.next() == Some("fb")
        && parts.next().is_some_and(is_small_index)
        && parts.next().is_some_and(is_digits)
        && parts.next().is_some_and(is_digits)
        && parts.next().is_none()
}

/// `fb.<index>.<ms>.<fbclid>`, the click ID made of cookie-safe characters.
fn valid_fbc(v: &str) -> bool {
    if v.len() > MAX_VALUE_LEN {
        return false;
    }
    let mut parts = v.splitn(4, '.');
    parts.next() == Some("fb")
        && parts.next().is_some_and(is_small_index)
        && parts.next().is_some_and(is_digits)
        && parts.next().is_some_and(|id| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
        })
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_small_index(s: &str) -> bool {
    s.len() == 1 && s.bytes().all(|b| b.is_ascii_digit())
}

fn subdomain_index(v: &str) -> Option<usize> {
    v.split('.').nth(1)?.parse().ok()
}

/// `host:port` → `host` (also `[v6]:port` → `v6`).
pub fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// The lowercased host of an `http(s)` URL.
pub fn url_host(url: &str) -> Option<String> {
    let lower = url.get(..8)?.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        url.get(8..)?
    } else if lower.starts_with("http://") {
        url.get(7..)?
    } else {
        return None;
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let host = strip_port(authority).to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(strip_port("Example.com:8080"), "Example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(
            url_host("HTTPS://user@Shop.Example.com:443/a?b#c").as_deref(),
            Some("shop.example.com")
        );
        assert_eq!(url_host("ftp://x"), None);
    }
}
