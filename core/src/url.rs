//! URL helpers: the few questions the core asks of a page or endpoint URL, answered without a
//! URL parser (whose tables would cost the wasm more than these loops). Used by the cookies
//! (`http_host`) and the tracker (`query_param`, `is_endpoint`), and by the collector. What a
//! page URL loses before it is sent or stored is `scrub`'s.

use crate::ascii::find_byte;

/// The host name of an http(s) URL, lowercased, without port; `None` for other schemes.
pub fn http_host(url: &str) -> Option<(String, bool)> {
    let lower = |s: &str, prefix: &str| {
        s.get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
    };
    let secure = lower(url, "https://");
    let rest = url.get(if secure { 8 } else { 7 }..)?;
    if !secure && !lower(url, "http://") {
        return None;
    }
    let authority = rest.get(..find_byte(rest, b"/?#").unwrap_or(rest.len()))?;
    let at = authority.bytes().rposition(|b| b == b'@');
    let authority = authority.get(at.map_or(0, |at| at + 1)..)?;
    let host_end = if authority.starts_with("[") {
        find_byte(authority, b"]")? + 1
    } else {
        find_byte(authority, b":").unwrap_or(authority.len())
    };
    let host = authority.get(..host_end)?;
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), secure))
}

pub(crate) fn is_ip(host: &str) -> bool {
    host.starts_with("[")
        || (!host.is_empty() && host.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// The raw value of query parameter `name` in `url` (first occurrence), not percent-decoded:
/// the values read here (`fbclid`, `fbq_debug`) are plain ASCII, and one that needs decoding is
/// not a value we would use.
pub fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let url = url.get(..find_byte(url, b"#").unwrap_or(url.len()))?;
    let mut rest = url.get(find_byte(url, b"?")? + 1..)?;
    loop {
        let end = find_byte(rest, b"&").unwrap_or(rest.len());
        if let Some(value) = rest.get(..end)?.strip_prefix(name) {
            if value.is_empty() {
                return Some("");
            }
            if let Some(v) = value.strip_prefix("=") {
                return Some(v);
            }
        }
        rest = rest.get(end + 1..)?;
    }
}

/// An endpoint `set('endpoint')` and `set('openbridge')` accept: an http(s) URL or a path on the
/// page's own origin (`/tr`, not `//other.host/tr`).
pub fn is_endpoint(url: &str) -> bool {
    url.starts_with("https://")
        || url.starts_with("http://")
        || (url.starts_with("/") && !url.starts_with("//"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_query_parameters() {
        assert_eq!(
            query_param("https://a.b/?x=1&fbclid=Ab-c_9#f", "fbclid"),
            Some("Ab-c_9")
        );
        assert_eq!(query_param("https://a.b/?fbq_debug", "fbq_debug"), Some(""));
        assert_eq!(query_param("https://a.b/#?fbclid=1", "fbclid"), None);
        assert_eq!(query_param("https://a.b/?fbclidx=1", "fbclid"), None);
    }

    #[test]
    fn endpoints() {
        for ok in ["https://c.example/tr", "http://c.example/", "/tr"] {
            assert!(is_endpoint(ok), "{ok}");
        }
        for bad in ["//c.example/tr", "javascript:x", "tr", ""] {
            assert!(!is_endpoint(bad), "{bad}");
        }
    }
}
