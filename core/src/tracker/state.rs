//! The [`Tracker`] and its state: the pixels, consent and held calls, settings. The commands
//! that change it live beside this file (`dispatch`, `pipeline`, `console`).

use crate::consent::{Consent, Held};
use crate::host::Host;
use crate::identity::Identity;
use crate::matching::Field;
use crate::url;
use crate::wire::Dpo;

/// Options read from Meta's stub before the library loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `fbq.disablePushState`: no PageView on History API navigation. Default `false`.
    pub disable_push_state: bool,
    /// `fbq.allowDuplicatePageViews`: PageView more than once per URL. Default `false`.
    pub allow_duplicate_page_views: bool,
}

#[derive(Clone, Debug, Default)]
pub(super) struct PixelState {
    pub(super) id: String,
    pub(super) user_data: Vec<(Field, String)>,
    pub(super) agent: Option<String>,
    /// Events sent so far (`ec`).
    pub(super) sent: u32,
    /// First-party cookies for this pixel (`set('firstPartyCookies', bool, id)`). Default on.
    pub(super) cookies: bool,
    /// `set('openbridge', id, url)`: a second endpoint that gets a copy of every beacon.
    pub(super) bridge: Option<String>,
    /// Hashes of the URLs a PageView went out for, oldest first, at most
    /// [`super::MAX_PAGE_VIEW_URLS`]: a single-page app that rewrites its URL thousands of times
    /// must not grow memory.
    pub(super) page_views: Vec<u64>,
}

impl PixelState {
    pub(super) fn new(id: &str) -> PixelState {
        PixelState {
            id: id.to_owned(),
            cookies: true,
            ..PixelState::default()
        }
    }
}

#[derive(Debug, Default)]
pub struct Tracker {
    pub(super) options: Options,
    pub(super) pixels: Vec<PixelState>,
    pub(super) consent: Consent,
    pub(super) held: Vec<Held>,
    /// `dataProcessingOptions`: `["LDU"]` or `[]` (Meta knows no other option).
    pub(super) dpo: Option<Dpo<&'static str>>,
    /// Where beacons go. Default Meta's `https://www.facebook.com/tr/`.
    pub(super) endpoint: Option<String>,
    /// `set('debug', true)` or `?fbq_debug=1`. Default `false`.
    pub(super) debug: bool,
    /// `set('firstPartyCookies', false)` with no id turns them off for every pixel.
    pub(super) cookies_off: bool,
    /// `set('honorGPC', true)`: Global Privacy Control means limited mode. Default `false`.
    pub(super) honor_gpc: bool,
    pub(super) first_init: Option<u64>,
    /// Per-pixel settings made before that pixel's `init`.
    pub(super) pending: Vec<PixelState>,
    /// The `_fbp`/`_fbc` cookies and the domain they live on.
    pub(super) identity: Identity,
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

    /// For the WebAssembly shell (issue #10): the outbox in `src/host.js` neither sends nor
    /// stores while consent is revoked, and learns it from here after each call.
    pub fn consent(&self) -> Consent {
        self.consent
    }
}
