//! [`Host`] on top of web-sys, and the `#[wasm_bindgen]` surface.

use js_sys::{Promise, Reflect};
use pixel_core::host::{CookieWrite, Host, Level, Page, Transport};
use pixel_core::tracker::{Options, Tracker};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlDocument, RequestCredentials, RequestInit, RequestMode, Window};

/// The engine behind `fbq`: one per page.
#[wasm_bindgen]
pub struct Pixel {
    tracker: Tracker,
    host: BrowserHost,
}

#[wasm_bindgen]
impl Pixel {
    /// Options come from the stub: `fbq.disablePushState`, `fbq.allowDuplicatePageViews`.
    #[wasm_bindgen(constructor)]
    pub fn new(disable_push_state: bool, allow_duplicate_page_views: bool) -> Pixel {
        let mut host = BrowserHost::new();
        let tracker = Tracker::new(
            Options {
                disable_push_state,
                allow_duplicate_page_views,
            },
            &mut host,
        );
        Pixel { tracker, host }
    }

    /// The version string the loader puts in `fbq.version`.
    pub fn version(&self) -> String {
        pixel_core::VERSION.into()
    }

    /// One `fbq(...)` call, as the JSON text of its arguments array.
    pub fn call(&mut self, args_json: &str) {
        self.tracker.call_json(args_json, &mut self.host);
    }

    /// The page URL changed through the History API (single-page apps).
    pub fn page_changed(&mut self) {
        self.tracker.page_changed(&mut self.host);
    }
}

struct BrowserHost {
    window: Option<Window>,
    /// A no-op rejection handler, so a failed beacon never surfaces as an unhandled rejection.
    ignore: Closure<dyn FnMut(JsValue)>,
}

impl BrowserHost {
    fn new() -> BrowserHost {
        BrowserHost {
            window: web_sys::window(),
            ignore: Closure::new(|_: JsValue| {}),
        }
    }

    fn document(&self) -> Option<HtmlDocument> {
        self.window
            .as_ref()?
            .document()?
            .dyn_into::<HtmlDocument>()
            .ok()
    }

    fn fetch(&self, url: &str, post_body: Option<&str>) {
        let Some(w) = &self.window else { return };
        let init = RequestInit::new();
        init.set_mode(RequestMode::NoCors);
        init.set_credentials(RequestCredentials::Include);
        if let Some(body) = post_body {
            init.set_method("POST");
            init.set_body(&JsValue::from_str(body));
            // Keepalive bodies share a 64 KB budget per page; bigger ones go as a plain POST.
            keepalive(&init, body.len() < 60_000);
        } else {
            keepalive(&init, true);
        }
        let p: Promise = w.fetch_with_str_and_init(url, &init);
        let _ = p.catch(&self.ignore);
    }
}

impl Host for BrowserHost {
    fn now_ms(&mut self) -> u64 {
        js_sys::Date::now() as u64
    }

    fn random(&mut self, buf: &mut [u8]) {
        if let Some(c) = self.window.as_ref().and_then(|w| w.crypto().ok()) {
            let _ = c.get_random_values_with_u8_array(buf);
        }
    }

    fn page(&mut self) -> Page {
        let Some(w) = &self.window else {
            return Page::default();
        };
        let top = w.top().ok().flatten();
        let in_iframe = top.is_some_and(|t| !js_sys::Object::is(&t, w));
        let screen = w
            .screen()
            .ok()
            .and_then(|s| Some((s.width().ok()? as u32, s.height().ok()? as u32)));
        Page {
            href: w.location().href().unwrap_or_default(),
            referrer: w.document().map(|d| d.referrer()).unwrap_or_default(),
            in_iframe,
            screen,
        }
    }

    fn global_privacy_control(&mut self) -> bool {
        let Some(w) = &self.window else { return false };
        Reflect::get(&w.navigator(), &JsValue::from_str("globalPrivacyControl"))
            .is_ok_and(|v| v == JsValue::TRUE)
    }

    fn cookie(&mut self, name: &str) -> Option<String> {
        let all = self.document()?.cookie().ok()?;
        all.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }

    fn set_cookie(&mut self, c: &CookieWrite<'_>) {
        let Some(doc) = self.document() else { return };
        let mut s = [c.name, "=", c.value, "; Max-Age="].concat();
        pixel_core::wire::push_u64(&mut s, c.max_age_secs.into());
        s.push_str("; Path=/; SameSite=Lax");
        if !c.domain.is_empty() {
            s.push_str("; Domain=");
            s.push_str(c.domain);
        }
        if c.secure {
            s.push_str("; Secure");
        }
        let _ = doc.set_cookie(&s);
    }

    fn send(&mut self, endpoint: &str, query: &str, transport: Transport) {
        match transport {
            Transport::Get => self.fetch(&[endpoint, "?", query].concat(), None),
            Transport::Post => {
                // sendBeacon with URLSearchParams: a CORS-simple
                // application/x-www-form-urlencoded body that survives the page unloading.
                let sent = self.window.as_ref().is_some_and(|w| {
                    web_sys::UrlSearchParams::new_with_str(query)
                        .ok()
                        .and_then(|params| {
                            w.navigator()
                                .send_beacon_with_opt_url_search_params(endpoint, Some(&params))
                                .ok()
                        })
                        .unwrap_or(false)
                });
                if !sent {
                    self.fetch(endpoint, Some(query));
                }
            }
        }
    }

    fn console(&mut self, level: Level, msg: &str) {
        let m = JsValue::from_str(msg);
        match level {
            Level::Info => web_sys::console::log_1(&m),
            Level::Warn => web_sys::console::warn_1(&m),
            Level::Error => web_sys::console::error_1(&m),
        }
    }
}

/// `RequestInit.keepalive` (not in web-sys): the request outlives the page, so a Purchase tracked
/// just before navigating away still arrives, without an `unload` listener.
fn keepalive(init: &RequestInit, on: bool) {
    let _ = Reflect::set(
        init,
        &JsValue::from_str("keepalive"),
        &JsValue::from_bool(on),
    );
}
