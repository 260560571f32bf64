//! The pixel's state machine: every `fbq(...)` call goes through [`Tracker::call_json`], which
//! decides what to send, what cookies to write and what to say on the console, through the
//! [`Host`] port.

use crate::consent::{CallContext, Consent, Held, MAX_HELD};
use crate::cookie::{self, CookieDomain};
use crate::host::{CookieWrite, Host, Level, Transport};
use crate::json::{self, nth, Members, Value};
use crate::matching::{self, Field, Left};
use crate::url;
use crate::wire::{Beacon, Dpo, MAX_GET_URL, META_ENDPOINT};
use crate::{event, event_id, VERSION};
use std::borrow::Cow;

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

/// Options read from Meta's stub before the library loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `fbq.disablePushState`: no PageView on History API navigation. Default `false`.
    pub disable_push_state: bool,
    /// `fbq.allowDuplicatePageViews`: PageView more than once per URL. Default `false`.
    pub allow_duplicate_page_views: bool,
}

#[derive(Clone, Debug, Default)]
struct PixelState {
    id: String,
    user_data: Vec<(Field, String)>,
    agent: Option<String>,
    /// Events sent so far (`ec`).
    sent: u32,
    /// First-party cookies for this pixel (`set('firstPartyCookies', bool, id)`). Default on.
    cookies: bool,
    /// `set('openbridge', id, url)`: a second endpoint that gets a copy of every beacon.
    bridge: Option<String>,
    /// Hashes of the URLs a PageView went out for, oldest first, at most [`MAX_PAGE_VIEW_URLS`]:
    /// a single-page app that rewrites its URL thousands of times must not grow memory.
    page_views: Vec<u64>,
}

impl PixelState {
    fn new(id: &str) -> PixelState {
        PixelState {
            id: id.to_owned(),
            cookies: true,
            ..PixelState::default()
        }
    }
}

/// One `track*` call, parsed.
struct Track<'a> {
    target: Option<&'a str>,
    name: &'a str,
    custom: Option<&'a Value<'a>>,
    event_id: Option<&'a str>,
    tm: Option<u8>,
}

#[derive(Debug, Default)]
pub struct Tracker {
    options: Options,
    pixels: Vec<PixelState>,
    consent: Consent,
    held: Vec<Held>,
    /// `dataProcessingOptions`: `["LDU"]` or `[]` (Meta knows no other option).
    dpo: Option<Dpo<&'static str>>,
    /// Where beacons go. Default Meta's `https://www.facebook.com/tr/`.
    endpoint: Option<String>,
    /// `set('debug', true)` or `?fbq_debug=1`. Default `false`.
    debug: bool,
    /// `set('firstPartyCookies', false)` with no id turns them off for every pixel.
    cookies_off: bool,
    /// `set('honorGPC', true)`: Global Privacy Control means limited mode. Default `false`.
    honor_gpc: bool,
    first_init: Option<u64>,
    /// Per-pixel settings made before that pixel's `init`.
    pending: Vec<PixelState>,
    cookie_domain: Option<CookieDomain>,
}

fn warn_msg(parts: &[&str]) -> String {
    let mut s = String::from("[fbq] ");
    for p in parts {
        s.push_str(p);
    }
    s
}

fn flag(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::Str(s) if s == "true" => Some(true),
        Value::Str(s) if s == "false" => Some(false),
        _ => None,
    }
}

/// The arguments of one call; the legacy form `fbq(['track', 'PageView'])` is unwrapped.
fn arguments(json: &str) -> Option<Members<'_>> {
    let Ok(Value::Arr(mut args, _)) = json::parse(json) else {
        return None;
    };
    if let [(_, Value::Arr(inner, _))] = args.as_mut_slice() {
        args = core::mem::take(inner);
    }
    Some(args)
}

/// Kept here for the code that knew it as part of the tracker; it lives in [`crate::pixel_id`].
pub use crate::pixel_id::valid_pixel_id;

impl Tracker {
    pub fn new(options: Options, host: &mut dyn Host) -> Tracker {
        let debug = url::query_param(&host.page().href, "fbq_debug") == Some("1");
        Tracker {
            options,
            debug,
            ..Tracker::default()
        }
    }

    fn warn(&self, host: &mut dyn Host, parts: &[&str]) {
        host.console(Level::Warn, &warn_msg(parts));
    }

    fn debug_log(&self, host: &mut dyn Host, parts: &[&str]) {
        if self.debug {
            host.console(Level::Info, &warn_msg(parts));
        }
    }

    fn debug_warn(&self, host: &mut dyn Host, parts: &[&str]) {
        if self.debug {
            host.console(Level::Warn, &warn_msg(parts));
        }
    }

    /// One `fbq(...)` call as the JSON text of its arguments.
    pub fn call_json(&mut self, args_json: &str, host: &mut dyn Host) {
        let Some(args) = arguments(args_json) else {
            return self.warn(host, &["unreadable fbq arguments; ignored."]);
        };
        let command = nth(&args, 0).and_then(Value::as_str).unwrap_or("");
        let ctx = CallContext {
            now: host.now_ms(),
            page: host.page(),
            event_id: command
                .starts_with("track")
                .then(|| event_id::generate(host)),
        };
        if self.consent == Consent::Revoked && command != "consent" {
            if self.held.len() < MAX_HELD {
                self.held.push(Held {
                    json: args_json.to_owned(),
                    ctx,
                });
            } else {
                self.warn(host, &["over 1000 calls held without consent; dropped."]);
            }
            return;
        }
        self.execute(&args, &ctx, host);
    }

    /// The page moved to a new URL through the History API.
    pub fn page_changed(&mut self, host: &mut dyn Host) {
        if !self.options.disable_push_state {
            self.call_json(r#"["track","PageView"]"#, host);
        }
    }

    fn execute(&mut self, args: &[(Cow<str>, Value)], ctx: &CallContext, host: &mut dyn Host) {
        let arg = |i: usize| nth(args, i);
        let Some(command) = arg(0).and_then(Value::as_str) else {
            return self.warn(host, &["fbq needs a command name first; ignored."]);
        };
        // track, trackCustom: (name, custom data, event data); the single forms put a pixel ID
        // first and send tm=1 (trackSingle) or tm=2 (trackSingleCustom).
        let kind = match command {
            "track" => Some((true, 0)),
            "trackCustom" => Some((false, 0)),
            "trackSingle" => Some((true, 1)),
            "trackSingleCustom" => Some((false, 1)),
            _ => None,
        };
        if let Some((standard, single)) = kind {
            let t = Track {
                // A pixel ID that is not text matches no pixel (never "all pixels").
                target: (single == 1).then(|| arg(1).and_then(Value::as_text).unwrap_or("")),
                name: arg(1 + single).and_then(Value::as_str).unwrap_or(""),
                custom: arg(2 + single),
                event_id: event_id_of(arg(3 + single)),
                tm: (single == 1).then_some(if standard { 1 } else { 2 }),
            };
            return self.track(t, standard, ctx, host);
        }
        match command {
            "init" => self.init(arg(1), arg(2), arg(3), ctx, host),
            "consent" => self.set_consent(arg(1), host),
            "dataProcessingOptions" => self.data_processing_options(arg(1), arg(2), arg(3), host),
            "set" => self.set(args.get(1..).unwrap_or(&[]), host),
            _ => self.warn(
                host,
                &["\"", command, "\" is not a valid fbq command; ignored."],
            ),
        }
    }

    fn init(
        &mut self,
        id: Option<&Value>,
        user_data: Option<&Value>,
        options: Option<&Value>,
        ctx: &CallContext,
        host: &mut dyn Host,
    ) {
        let Some(id) = id.and_then(Value::as_text).filter(|id| valid_pixel_id(id)) else {
            return self.warn(host, &["init needs a pixel ID (1-26 digits); ignored."]);
        };
        let hashed = match user_data {
            None | Some(Value::Null) => None,
            Some(ud @ Value::Obj(..)) => Some(self.hash_user_data(ud, host)),
            Some(_) => {
                self.warn(host, &["init: user data must be an object; ignored."]);
                None
            }
        };
        let agent = options
            .and_then(|o| o.get("agent"))
            .and_then(Value::as_text)
            .map(str::to_owned);
        if let Some(p) = self.pixels.iter_mut().find(|p| p.id == id) {
            if agent.is_some() {
                p.agent = agent;
            }
            match hashed {
                Some(ud) => p.user_data = ud,
                None => host.console(
                    Level::Warn,
                    &warn_msg(&["Duplicate Pixel ID: ", id, "; ignored."]),
                ),
            }
            return;
        }
        self.first_init.get_or_insert(ctx.now);
        // Settings made for this id before its init (`set(..., id)`) carry over.
        let mut p = match self.pending.iter().position(|p| p.id == id) {
            Some(i) => self.pending.swap_remove(i),
            None => PixelState::new(id),
        };
        if let Some(ud) = hashed {
            p.user_data = ud;
        }
        if agent.is_some() {
            p.agent = agent;
        }
        self.pixels.push(p);
        self.debug_log(host, &["pixel ", id, " initialised"]);
    }

    /// Normalise and hash advanced-matching data. Dropped fields are reported in debug mode only,
    /// and never with their plain value.
    fn hash_user_data(&self, ud: &Value, host: &mut dyn Host) -> Vec<(Field, String)> {
        let this_year = matching::year_of(host.now_ms());
        let mut pairs = Vec::new();
        for (key, value) in ud.members().unwrap_or(&[]) {
            match value {
                Value::Null => {}
                Value::Str(_) | Value::Num(_) => pairs.push((key.as_ref(), value.as_text())),
                _ => pairs.push((key.as_ref(), None)),
            }
        }
        let lower = &|s: &str| host.lowercase(s);
        let (hashed, left) =
            matching::hash_user_data(&pairs, &matching::Context { this_year, lower });
        for l in left {
            match l {
                Left::UnknownKey(key) => {
                    self.debug_log(host, &["unknown user data key \"", key, "\"; ignored"])
                }
                // SPEC §6: a console warning in debug mode, naming the field, never the value.
                Left::Dropped(field, reason) => self.debug_warn(
                    host,
                    &["dropped ud[", field.wire_key(), "]: ", reason.message()],
                ),
            }
        }
        hashed
    }

    fn set_consent(&mut self, action: Option<&Value>, host: &mut dyn Host) {
        let Some(next) = action
            .and_then(Value::as_str)
            .and_then(Consent::from_action)
        else {
            return self.warn(
                host,
                &["consent takes 'revoke', 'grant' or 'limited'; ignored."],
            );
        };
        self.consent = next;
        if next != Consent::Revoked {
            for held in core::mem::take(&mut self.held) {
                let args = arguments(&held.json).unwrap_or_default();
                self.execute(&args, &held.ctx, host);
            }
        }
    }

    fn data_processing_options(
        &mut self,
        options: Option<&Value>,
        country: Option<&Value>,
        state: Option<&Value>,
        host: &mut dyn Host,
    ) {
        let Some(Value::Arr(items, _)) = options else {
            return self.warn(host, &["dataProcessingOptions needs an array; ignored."]);
        };
        let ldu = items.iter().any(|(_, v)| v.as_str() == Some("LDU"));
        let number = |v: Option<&Value>| {
            v.and_then(Value::as_text)
                .and_then(crate::wire::parse_i64)
                .unwrap_or(0)
        };
        self.dpo = Some(Dpo {
            options: if ldu { vec!["LDU"] } else { Vec::new() },
            country: number(country),
            state: number(state),
        });
    }

    fn set(&mut self, args: &[(Cow<str>, Value)], host: &mut dyn Host) {
        let arg = |i: usize| nth(args, i);
        let key = arg(0).and_then(Value::as_str).unwrap_or("");
        let id = |i: usize| arg(i).and_then(Value::as_text);
        match key {
            "agent" => {
                let agent = id(1).map(str::to_owned);
                self.for_targets(id(2), &mut |p| p.agent.clone_from(&agent));
            }
            "autoConfig" => {}
            "firstPartyCookies" => match (flag(arg(1)), id(2)) {
                (Some(on), None) => self.cookies_off = !on,
                (Some(on), Some(id)) => self.for_targets(Some(id), &mut |p| p.cookies = on),
                (None, _) => self.warn(
                    host,
                    &["set('firstPartyCookies') takes true or false; ignored."],
                ),
            },
            "endpoint" => match arg(1)
                .and_then(Value::as_str)
                .filter(|u| url::is_endpoint(u))
            {
                Some(url) => self.endpoint = Some(url.to_owned()),
                None => self.warn(host, &["set('endpoint') needs an http(s) URL; ignored."]),
            },
            "openbridge" => match (
                id(1).filter(|i| valid_pixel_id(i)),
                arg(2)
                    .and_then(Value::as_str)
                    .filter(|u| url::is_endpoint(u)),
            ) {
                (Some(id), Some(url)) => {
                    self.for_targets(Some(id), &mut |p| p.bridge = Some(url.to_owned()))
                }
                _ => self.warn(
                    host,
                    &["set('openbridge') needs a pixel ID and an http(s) URL; ignored."],
                ),
            },
            "userData" => {
                let hashed = match arg(1) {
                    Some(ud @ Value::Obj(..)) => self.hash_user_data(ud, host),
                    _ => return self.warn(host, &["set('userData') needs an object; ignored."]),
                };
                self.for_targets(id(2), &mut |p| p.user_data.clone_from(&hashed));
            }
            "debug" => self.debug = flag(arg(1)).unwrap_or(true),
            "honorGPC" => self.honor_gpc = flag(arg(1)).unwrap_or(true),
            _ => self.warn(host, &["set('", key, "') is not a known setting; ignored."]),
        }
    }

    /// Apply a per-pixel setting: with no id, to every initialised pixel; with an id, to that
    /// pixel, or, before its `init`, to settings kept for it until then.
    fn for_targets(&mut self, id: Option<&str>, f: &mut dyn FnMut(&mut PixelState)) {
        let Some(id) = id else {
            self.pixels.iter_mut().for_each(f);
            return;
        };
        if let Some(p) = self.pixels.iter_mut().find(|p| p.id == id) {
            return f(p);
        }
        if !valid_pixel_id(id) {
            return;
        }
        if !self.pending.iter().any(|p| p.id == id) {
            self.pending.push(PixelState::new(id));
        }
        if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
            f(p);
        }
    }

    fn limited(&self, host: &mut dyn Host) -> bool {
        self.consent == Consent::Limited || (self.honor_gpc && host.global_privacy_control())
    }

    fn track(&mut self, t: Track<'_>, standard_call: bool, ctx: &CallContext, host: &mut dyn Host) {
        if t.name.is_empty() {
            return self.warn(host, &["track needs an event name; ignored."]);
        }
        if let Some(target) = t.target {
            if target.is_empty() {
                return self.warn(host, &["trackSingle needs a pixel ID; nothing sent."]);
            }
            if !self.pixels.iter().any(|p| p.id == target) {
                return self.warn(
                    host,
                    &[
                        "trackSingle: pixel ",
                        target,
                        " has not been initialised; nothing sent.",
                    ],
                );
            }
        } else if self.pixels.is_empty() {
            return self.warn(host, &[t.name, ": no pixel initialised yet; nothing sent."]);
        }
        let custom = match t.custom {
            None | Some(Value::Null) => None,
            Some(c @ Value::Obj(..)) => Some(c),
            Some(_) => {
                self.warn(
                    host,
                    &[t.name, ": custom data must be an object; sent without it."],
                );
                None
            }
        };
        for w in event::check(t.name, custom, standard_call) {
            self.warn(host, &[t.name, " ", w]);
        }
        let mut cd = Vec::new();
        for (k, v) in custom.and_then(Value::members).unwrap_or(&[]) {
            match v.wire_text() {
                Some(text) if text.len() > MAX_PARAM_CHARS => self.warn(
                    host,
                    &[t.name, ": parameter \"", k, "\" is over 16 KB; dropped."],
                ),
                Some(text) => cd.push((&**k, text)),
                None => {}
            }
        }
        let limited = self.limited(host);
        let (fbp, fbc) = if limited || self.cookies_off {
            (None, None)
        } else {
            self.identity(t.target, ctx, host)
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
        let (dl, rl) = if limited {
            (
                url::strip_query(&page.href),
                url::strip_query(&page.referrer),
            )
        } else {
            (page.href.as_str(), page.referrer.as_str())
        };
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
        // One beacon per call, borrowing every string; only the per-pixel fields change.
        let mut b = Beacon {
            ev: t.name,
            dl,
            rl,
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
            send(self.debug, endpoint, &mut b, host);
            if let Some(url) = &p.bridge {
                send(self.debug, url, &mut b, host);
            }
        }
    }

    /// `fbp`/`fbc` for this call: read, created or refreshed (90-day rolling expiry).
    fn identity(
        &mut self,
        target: Option<&str>,
        ctx: &CallContext,
        host: &mut dyn Host,
    ) -> (Option<String>, Option<String>) {
        // Only when a pixel this call reaches has first-party cookies on.
        if !self
            .pixels
            .iter()
            .any(|p| p.cookies && target.is_none_or(|id| id == p.id))
        {
            return (None, None);
        }
        let href = &ctx.page.href;
        let existing = host
            .cookie(cookie::FBP)
            .filter(|v| cookie::parse_value(v).is_some());
        let mut random = [0u8; 4];
        host.random(&mut random);
        let digits = u64::from(u32::from_le_bytes(random) >> 1);
        let domain = match &self.cookie_domain {
            Some(d) => d.clone(),
            None => {
                let mut token = String::new();
                crate::wire::push_u64(&mut token, digits);
                match cookie::choose_domain(host, href, &token) {
                    Some(d) => d,
                    None => return (None, None),
                }
            }
        };
        // A returning visitor keeps the browser ID (and the subdomain index) it already has.
        let fbp = existing.unwrap_or_else(|| fresh(domain.subdomain_index, ctx.now, digits));
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
            Some(clid) if !same => {
                Some(cookie::format_value(domain.subdomain_index, ctx.now, clid))
            }
            _ => old.filter(|_| valid),
        };
        if let Some(fbc) = &fbc {
            write(host, cookie::FBC, fbc, &domain);
        }
        self.cookie_domain = Some(domain);
        (Some(fbp), fbc)
    }
}

fn send(debug: bool, endpoint: &str, beacon: &mut Beacon<&str>, host: &mut dyn Host) {
    beacon.rqm = Some(Transport::Get.rqm());
    let mut query = beacon.encode();
    let mut transport = Transport::Get;
    if endpoint.len() + 1 + query.len() >= MAX_GET_URL {
        transport = Transport::Post;
        beacon.rqm = Some(Transport::Post.rqm());
        query = beacon.encode();
    }
    if debug {
        let mut text = warn_msg(&[beacon.ev, " → pixel ", beacon.id, " via ", endpoint]);
        text.push_str(&beacon.describe());
        host.console(Level::Info, &text);
    }
    host.send(endpoint, &query, transport);
}

fn fresh(index: usize, now: u64, digits: u64) -> String {
    let mut tail = String::new();
    crate::wire::push_u64(&mut tail, digits);
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

/// The page's event ID from the 4th argument: `{eventID: 'x'}` or `{event_id: 'x'}`.
fn event_id_of<'a>(event_data: Option<&'a Value<'a>>) -> Option<&'a str> {
    let ed = event_data?;
    let id = ed
        .get("eventID")
        .or_else(|| ed.get("event_id"))?
        .as_text()?;
    (!id.is_empty()).then_some(id)
}

/// For the WebAssembly shell (issue #10): the outbox in `src/host.js` neither sends nor stores
/// while consent is revoked, and learns it from here after each call.
impl Tracker {
    pub fn consent(&self) -> Consent {
        self.consent
    }
}
