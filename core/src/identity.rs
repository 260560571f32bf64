//! The identity cookies of a tracked event (SPEC §5): the `_fbp`/`_fbc` a call sends, read,
//! created or refreshed, and written back with a rolling 90-day expiry.
//!
//! Its own noun, which the tracker calls (whether any pixel a call reaches has first-party cookies
//! on is the tracker's to say): [`Identity`] keeps the domain [`cookie::choose_domain`] found for
//! the rest of the page, and uses the cookie rules of [`crate::cookie`].

use crate::cookie::{self, CookieDomain};
use crate::decimal::push_u64;
use crate::host::{CookieWrite, Host};
use crate::url;

/// The page's identity cookies: where they live, found by the first call that needs them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Identity {
    domain: Option<CookieDomain>,
}

impl Identity {
    /// `fbp`/`fbc` for a call made at `now` on the page `href`: read, created or refreshed
    /// (90-day rolling expiry). `(None, None)` on a page that is not http(s).
    pub(crate) fn cookies(
        &mut self,
        href: &str,
        now: u64,
        host: &mut dyn Host,
    ) -> (Option<String>, Option<String>) {
        let existing = host
            .cookie(cookie::FBP)
            .filter(|v| cookie::parse_value(v).is_some());
        let mut random = [0u8; 4];
        host.random(&mut random);
        let digits = u64::from(u32::from_le_bytes(random) >> 1);
        let domain = match &self.domain {
            Some(d) => d.clone(),
            None => {
                let mut token = String::new();
                push_u64(&mut token, digits);
                match cookie::choose_domain(host, href, &token) {
                    Some(d) => d,
                    None => return (None, None),
                }
            }
        };
        // A returning visitor keeps the browser ID (and the subdomain index) it already has.
        let fbp = existing.unwrap_or_else(|| fresh(domain.subdomain_index, now, digits));
        write(host, cookie::FBP, &fbp, &domain);
        // Without `fbclid` in the URL, the click ID an in-app browser gave (Facebook, Instagram).
        let from_url = url::query_param(href, "fbclid");
        let in_app = if from_url.is_none() {
            host.in_app_click_id()
        } else {
            None
        };
        let clid = from_url
            .or(in_app.as_deref())
            .filter(|c| c.len() <= cookie::MAX_FBCLID && cookie::is_cookie_safe(c));
        let old = host.cookie(cookie::FBC);
        let old_tail = old.as_deref().and_then(cookie::parse_value).map(|v| v.2);
        // A cookie Meta's Parameter Builder wrote (`<fbclid>.<appendix>`) is the same click when
        // it starts with this `fbclid` and a dot: kept as it is, appendix and all.
        let same = match (old_tail, clid) {
            (Some(t), Some(c)) => t
                .strip_prefix(c)
                .is_some_and(|r| r.is_empty() || r.starts_with(".")),
            _ => false,
        };
        let valid = old_tail.is_some();
        // A new click id replaces the cookie; the same one or none keeps a well-formed old one.
        let fbc = match clid {
            Some(clid) if !same => Some(cookie::format_value(domain.subdomain_index, now, clid)),
            _ => old.filter(|_| valid),
        };
        if let Some(fbc) = &fbc {
            write(host, cookie::FBC, fbc, &domain);
        }
        self.domain = Some(domain);
        (Some(fbp), fbc)
    }
}

fn fresh(index: usize, now: u64, digits: u64) -> String {
    let mut tail = String::new();
    push_u64(&mut tail, digits);
    cookie::format_value(index, now, &tail)
}

fn write(host: &mut dyn Host, name: &str, value: &str, d: &CookieDomain) {
    host.set_cookie(&CookieWrite {
        name,
        value,
        domain: &d.domain,
        max_age_secs: cookie::MAX_AGE_SECS,
        secure: d.secure,
    });
}
