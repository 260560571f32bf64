//! The pixel's state machine: every `fbq(...)` call goes through [`Tracker::call_json`], which
//! decides what to send, what cookies to write and what to say on the console, through the
//! [`Host`] port.
//!
//! This file is the façade: the [`Tracker`] and its state. The work is split by job:
//! `dispatch` (the `fbq` commands, `set` keys, `init`, consent), `pipeline` (the track pipeline:
//! events and beacons, PageView once per URL, event IDs), `console` (what it says on the
//! console); the `_fbp`/`_fbc` decisions live with the cookie rules, in `cookie::identity`.

mod console;
mod dispatch;
mod pipeline;

use crate::consent::{Consent, Held};
use crate::cookie::CookieDomain;
use crate::host::Host;
use crate::matching::Field;
use crate::url;
use crate::wire::Dpo;

pub use pipeline::{MAX_PAGE_VIEW_URLS, MAX_PARAM_CHARS};

/// Kept here for the code that knew it as part of the tracker; it lives in [`crate::pixel_id`].
pub use crate::pixel_id::valid_pixel_id;

/// Options read from Meta's stub before the library loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `fbq.disablePushState`: no PageView on History API navigation. Default `false`.
    pub disable_push_state: bool,
    /// `fbq.allowDuplicatePageViews`: PageView more than once per URL. Default `false`.
    pub allow_duplicate_page_views: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PixelState {
    pub(crate) id: String,
    user_data: Vec<(Field, String)>,
    agent: Option<String>,
    /// Events sent so far (`ec`).
    sent: u32,
    /// First-party cookies for this pixel (`set('firstPartyCookies', bool, id)`). Default on.
    pub(crate) cookies: bool,
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

#[derive(Debug, Default)]
pub struct Tracker {
    options: Options,
    pub(crate) pixels: Vec<PixelState>,
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
    pub(crate) cookie_domain: Option<CookieDomain>,
}

impl Tracker {
    pub fn new(options: Options, host: &mut dyn Host) -> Tracker {
        let debug = url::query_param(&host.page().href, "fbq_debug") == Some("1");
        Tracker {
            options,
            debug,
            ..Tracker::default()
        }
    }
}
