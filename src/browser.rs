//! [`Host`] on top of the browser (through `src/host.js`), and the `#[wasm_bindgen]` surface.

use pixel_core::host::{CookieWrite, Host, Level, Page, Transport};
use pixel_core::tracker::{Options, Tracker};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/host.js")]
extern "C" {
    fn now() -> f64;
    fn fill_random(buf: &mut [u8]);
    fn href() -> String;
    fn referrer() -> String;
    fn in_iframe() -> bool;
    /// `screen.width << 16 | screen.height`
    fn screen_size() -> u32;
    fn gpc() -> bool;
    fn cookies() -> String;
    fn set_cookie(cookie: &str);
    fn send(url: &str, body: &str, post: bool);
    fn log(level: u8, msg: &str);
}

/// The engine behind `fbq`: one per page.
#[wasm_bindgen]
pub struct Pixel {
    tracker: Tracker,
}

#[wasm_bindgen]
impl Pixel {
    /// Options come from the stub: `fbq.disablePushState`, `fbq.allowDuplicatePageViews`.
    #[wasm_bindgen(constructor)]
    pub fn new(disable_push_state: bool, allow_duplicate_page_views: bool) -> Pixel {
        let options = Options {
            disable_push_state,
            allow_duplicate_page_views,
        };
        Pixel {
            tracker: Tracker::new(options, &mut BrowserHost),
        }
    }

    /// The version string the loader puts in `fbq.version`.
    pub fn version(&self) -> String {
        pixel_core::VERSION.into()
    }

    /// One `fbq(...)` call, as the JSON text of its arguments array.
    pub fn call(&mut self, args_json: &str) {
        self.tracker.call_json(args_json, &mut BrowserHost);
    }

    /// The page URL changed through the History API (single-page apps).
    pub fn page_changed(&mut self) {
        self.tracker.page_changed(&mut BrowserHost);
    }
}

struct BrowserHost;

impl Host for BrowserHost {
    fn now_ms(&mut self) -> u64 {
        now() as u64
    }

    fn random(&mut self, buf: &mut [u8]) {
        fill_random(buf);
    }

    fn page(&mut self) -> Page {
        let size = screen_size();
        Page {
            href: href(),
            referrer: referrer(),
            in_iframe: in_iframe(),
            screen: (size != 0).then_some((size >> 16, size & 0xffff)),
        }
    }

    fn global_privacy_control(&mut self) -> bool {
        gpc()
    }

    fn cookie(&mut self, name: &str) -> Option<String> {
        cookies().split(';').find_map(|pair| {
            let (k, v) = pair.trim_start().split_once('=')?;
            (k == name).then(|| v.to_owned())
        })
    }

    fn set_cookie(&mut self, c: &CookieWrite<'_>) {
        let mut s = String::with_capacity(128);
        for part in [c.name, "=", c.value, "; Max-Age="] {
            s.push_str(part);
        }
        pixel_core::wire::push_u64(&mut s, c.max_age_secs.into());
        s.push_str("; Path=/; SameSite=Lax");
        if !c.domain.is_empty() {
            s.push_str("; Domain=");
            s.push_str(c.domain);
        }
        if c.secure {
            s.push_str("; Secure");
        }
        set_cookie(&s);
    }

    fn send(&mut self, endpoint: &str, query: &str, transport: Transport) {
        send(endpoint, query, transport == Transport::Post);
    }

    fn console(&mut self, level: Level, msg: &str) {
        log(level as u8, msg);
    }
}
