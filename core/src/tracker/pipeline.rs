//! The track pipeline: a `track`, `trackCustom`, `trackSingle` or `trackSingleCustom` call
//! checked, turned into one beacon per pixel it reaches (PageView once per URL, the page's event
//! ID or a generated one, limited mode) and sent to the endpoint and any bridge.

use super::state::Tracker;
use crate::consent::{CallContext, Consent};
use crate::console::Msg;
use crate::delivery::{Delivery, Keep, Transport, MAX_GET_URL, META_ENDPOINT};
use crate::event;
use crate::host::{Host, Level};
use crate::json::Value;
use crate::scrub::scrub;
use crate::version::VERSION;
use crate::wire::{Beacon, Dpo};

/// A custom-data value longer than this is dropped (with a warning) rather than sent.
pub const MAX_PARAM_CHARS: usize = 16 * 1024;

/// How many page URLs per pixel the PageView-once rule remembers; the oldest is forgotten first.
pub const MAX_PAGE_VIEW_URLS: usize = 1024;

/// FNV-1a, 64 bits: a compact key for a URL already seen (not a security boundary).
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One `track*` call, parsed.
pub(super) struct Track<'a> {
    pub(super) target: Option<&'a str>,
    pub(super) name: &'a str,
    pub(super) custom: Option<&'a Value<'a>>,
    pub(super) event_id: Option<&'a str>,
    pub(super) tm: Option<u8>,
}

impl Tracker {
    fn limited(&self, host: &mut dyn Host) -> bool {
        self.consent == Consent::Limited || (self.honor_gpc && host.global_privacy_control())
    }

    pub(super) fn track(
        &mut self,
        t: Track<'_>,
        standard_call: bool,
        ctx: &CallContext,
        host: &mut dyn Host,
    ) {
        if t.name.is_empty() {
            return self.warn(host, Msg::NoEventName, &[]);
        }
        if let Some(target) = t.target {
            if target.is_empty() {
                return self.warn(host, Msg::SingleNeedsId, &[]);
            }
            if !self.pixels.iter().any(|p| p.id == target) {
                return self.warn(host, Msg::SingleUnknownPixel, &[target]);
            }
        } else if self.pixels.is_empty() {
            return self.warn(host, Msg::NoPixel, &[t.name]);
        }
        let custom = match t.custom {
            None | Some(Value::Null) => None,
            Some(c @ Value::Obj(..)) => Some(c),
            Some(_) => {
                self.warn(host, Msg::CustomDataNotObject, &[t.name]);
                None
            }
        };
        for w in event::check(t.name, custom, standard_call) {
            self.warn(host, w, &[t.name]);
        }
        let mut cd = Vec::new();
        for (k, v) in custom.and_then(Value::members).unwrap_or(&[]) {
            match v.wire_text() {
                Some(text) if text.len() > MAX_PARAM_CHARS => {
                    self.warn(host, Msg::ParameterTooLong, &[t.name, k])
                }
                Some(text) => cd.push((&**k, text)),
                None => {}
            }
        }
        let limited = self.limited(host);
        // Cookies only when a pixel this call reaches has first-party cookies on.
        let cookies = !limited
            && !self.cookies_off
            && self
                .pixels
                .iter()
                .any(|p| p.cookies && t.target.is_none_or(|id| id == p.id));
        let (fbp, fbc) = if cookies {
            self.identity.cookies(&ctx.page.href, ctx.now, host)
        } else {
            (None, None)
        };
        // Which pixels get the event, and the `ec` each one sends (first pass: the only one that
        // changes pixel state).
        let mut sends = Vec::new();
        for (i, p) in self.pixels.iter_mut().enumerate() {
            if t.target.is_some_and(|id| id != p.id) {
                continue;
            }
            if t.name == "PageView" && !self.options.allow_duplicate_page_views {
                let url = fnv1a(&ctx.page.href);
                if p.page_views.contains(&url) {
                    continue;
                }
                if p.page_views.len() >= MAX_PAGE_VIEW_URLS {
                    p.page_views.remove(0);
                }
                p.page_views.push(url);
            }
            sends.push((i, p.sent));
            p.sent = p.sent.saturating_add(1);
        }
        let page = &ctx.page;
        // Limited mode sends no query or fragment at all; otherwise they lose what identifies
        // the visitor or grants access (e-mail, phone, keys, tokens: `scrub`), toward every
        // endpoint, Meta's included.
        let dl = scrub(&page.href, limited);
        let rl = scrub(&page.referrer, limited);
        let dpo = if limited {
            let explicit = self.dpo.as_ref().filter(|d| !d.options.is_empty());
            Some(Dpo {
                options: vec!["LDU"],
                country: explicit.map_or(0, |d| d.country),
                state: explicit.map_or(0, |d| d.state),
            })
        } else {
            self.dpo.clone()
        };
        // LDU (the tracker's options are `["LDU"]` or none) keeps a beacon out of storage.
        let keep = Keep::for_beacon(dpo.as_ref().is_some_and(|d| !d.options.is_empty()));
        // One beacon per call, borrowing every string; only the per-pixel fields change.
        let mut b = Beacon {
            ev: t.name,
            dl: &dl,
            rl: &rl,
            in_iframe: page.in_iframe,
            ts: ctx.now,
            cd,
            sw: page.screen.map(|s| s.0),
            sh: page.screen.map(|s| s.1),
            v: VERSION,
            r: "stable",
            it: self.first_init,
            dpo,
            eid: t.event_id.or(ctx.event_id.as_deref()),
            tm: t.tm,
            ..Beacon::default()
        };
        let endpoint = self.endpoint.as_deref().unwrap_or(META_ENDPOINT);
        for (i, ec) in sends {
            let Some(p) = self.pixels.get(i) else {
                continue;
            };
            b.id = &p.id;
            b.ud.clear();
            if !limited {
                for (f, h) in &p.user_data {
                    b.ud.push((f.wire_key(), h));
                }
            }
            b.a = p.agent.as_deref();
            b.ec = ec;
            b.fbp = fbp.as_deref().filter(|_| p.cookies);
            b.fbc = fbc.as_deref().filter(|_| p.cookies);
            send(self.debug, endpoint, &mut b, keep, host);
            if let Some(url) = &p.bridge {
                send(self.debug, url, &mut b, keep, host);
            }
        }
    }
}

fn send(debug: bool, endpoint: &str, beacon: &mut Beacon<&str>, keep: Keep, host: &mut dyn Host) {
    beacon.rqm = Some(Transport::Get.rqm());
    let mut query = beacon.encode();
    let mut transport = Transport::Get;
    if endpoint.len() + 1 + query.len() >= MAX_GET_URL {
        transport = Transport::Post;
        beacon.rqm = Some(Transport::Post.rqm());
        query = beacon.encode();
    }
    if debug {
        host.console(
            Level::Info,
            Msg::Beacon,
            &[beacon.ev, beacon.id, endpoint, &query],
        );
    }
    host.send(endpoint, &query, Delivery { transport, keep });
}

/// The page's event ID from the 4th argument: `{eventID: 'x'}` or `{event_id: 'x'}`.
pub(super) fn event_id_of<'a>(event_data: Option<&'a Value<'a>>) -> Option<&'a str> {
    let ed = event_data?;
    let id = ed
        .get("eventID")
        .or_else(|| ed.get("event_id"))?
        .as_text()?;
    (!id.is_empty()).then_some(id)
}
