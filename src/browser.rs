//! [`Host`] on top of the browser (through `src/host.js`), and the raw ABI the loader drives.
//!
//! No wasm-bindgen in what ships: its class wrapper, string shims and start-up code cost more
//! than the few calls below need. The ABI is plain wasm functions over numbers:
//!
//! - **Exports**: [`fbq_start`] once, then [`fbq_call`] per `fbq(...)` call and
//!   [`fbq_page_changed`] per History API navigation; [`fbq_version`] and [`fbq_version_len`]
//!   for `fbq.version`; [`fbq_buf`] for strings coming in; and the `memory`.
//! - **Imports**, from the module `/src/host.js`: the file that implements them, named by its path
//!   from the crate root, which is where `wasm-bindgen-test-runner` serves it from for the browser
//!   tests. The loader bundles the same file and passes it under that name.
//! - **Strings out** (to an import) are a pointer and a length of UTF-8 in the memory.
//! - **Strings in**: JS calls [`fbq_buf`]`(len)` for room, writes the UTF-8 there, and passes the
//!   length on, as the argument of [`fbq_call`] or as the return value of an import; the engine
//!   then takes the bytes as a `String` without copying them.
//!
//! One engine per page, in a static. The exports are not reentrant: a call made while another
//! runs (a page hook on `document.cookie` or `fetch` that calls `fbq`) finds no engine and is
//! refused, and the loader warns.
#![allow(unsafe_code)]

use core::cell::Cell;
use pixel_core::consent::Consent;
use pixel_core::console::{Msg, SEPARATOR};
use pixel_core::cookie::set_cookie_text;
use pixel_core::delivery::{Delivery, Keep, Transport, OUTBOX_KEY, OUTBOX_MAX_AGE_DAYS};
use pixel_core::host::{CookieWrite, Host, Level, Page};
use pixel_core::tracker::{Options, Tracker};

#[link(wasm_import_module = "/src/host.js")]
extern "C" {
    // The `fbq_` prefix keeps the names apart from other C symbols in the link (`log`!).
    fn fbq_now() -> f64;
    fn fbq_random(ptr: *mut u8, len: usize);
    /// `location.href` (0), `document.referrer` (1) or the click ID Facebook's or Instagram's
    /// in-app browser gave (2, empty when none), put into the input buffer; returns its length
    /// in bytes.
    fn fbq_text(which: u32) -> usize;
    /// The value of the page's cookie named by the string at `name`, put into the input buffer:
    /// its length in bytes, or -1 when there is no such cookie.
    fn fbq_cookie(name: *const u8, name_len: usize) -> isize;
    fn fbq_in_iframe() -> u32;
    /// `screen.width << 16 | screen.height`
    fn fbq_screen() -> u32;
    fn fbq_gpc() -> u32;
    /// `document.cookie = <the string>`: core's `cookie::set_cookie_text`, the collector's
    /// `Set-Cookie` text too.
    fn fbq_set_cookie(text: *const u8, text_len: usize);
    /// A beacon, with what core's delivery policy decided: `post` (non-zero: a POST), `keep`
    /// (where a first-party beacon that fails waits: 1 the page's memory only, 2 localStorage),
    /// and the outbox's key prefix (the string at `key`) and age limit in days.
    fn fbq_send(
        url: *const u8,
        url_len: usize,
        body: *const u8,
        body_len: usize,
        post: u32,
        keep: u32,
        key: *const u8,
        key_len: usize,
        max_age_days: u32,
    );
    /// Console message number `msg` (core's `console::Msg`) at `level`, with its arguments: the
    /// string at `ptr`, NUL-separated. `src/host.js` has the texts (fetched when first needed).
    fn fbq_log(level: u32, msg: u32, ptr: *const u8, len: usize);
    /// The string at `ptr` lowercased by `String.prototype.toLowerCase`, put into the input
    /// buffer; returns its length in bytes.
    fn fbq_lower(ptr: *const u8, len: usize) -> usize;
}

/// A static for the one thread wasm32 runs: `Cell` never lends a reference, so even a reentrant
/// call (JS calling an export from inside an import) sees a consistent value. `thread_local!`
/// would do the same and cost about 300 bytes of lazy-initialisation code.
struct Global<T>(Cell<T>);

// SAFETY: wasm32-unknown-unknown without the atomics feature has one thread (src/alloc.rs refuses
// to build with it), so there is never a second thread to share these with.
unsafe impl<T> Sync for Global<T> {}

/// The engine: `None` before [`fbq_start`] and while a call runs.
static ENGINE: Global<Option<Box<Tracker>>> = Global(Cell::new(None));
/// The input buffer: the bytes JS wrote after the last [`fbq_buf`], until [`take`] takes them.
static INPUT: Global<Vec<u8>> = Global(Cell::new(Vec::new()));

/// Creates the engine. Options come from the stub: `fbq.disablePushState`,
/// `fbq.allowDuplicatePageViews` (non-zero is true).
#[no_mangle]
pub extern "C" fn fbq_start(disable_push_state: u32, allow_duplicate_page_views: u32) {
    let options = Options {
        disable_push_state: disable_push_state != 0,
        allow_duplicate_page_views: allow_duplicate_page_views != 0,
    };
    ENGINE
        .0
        .set(Some(Box::new(Tracker::new(options, &mut BrowserHost))));
}

/// Where the version string the loader puts in `fbq.version` starts (UTF-8).
#[no_mangle]
pub extern "C" fn fbq_version() -> *const u8 {
    pixel_core::VERSION.as_ptr()
}

/// The length in bytes of the version string.
#[no_mangle]
pub extern "C" fn fbq_version_len() -> usize {
    pixel_core::VERSION.len()
}

/// Replaces the input buffer with `len` zero bytes and returns where they start. The next
/// [`fbq_call`], or the import that called this, takes them. A length the heap cannot hold traps.
#[no_mangle]
pub extern "C" fn fbq_buf(len: usize) -> *mut u8 {
    let mut buf = vec![0; len];
    let ptr = buf.as_mut_ptr();
    INPUT.0.set(buf);
    ptr
}

/// One `fbq(...)` call: the first `len` bytes of the input buffer are the JSON text of its
/// arguments array. Returns 0 when refused (made while another call runs), 2 when done and
/// consent is revoked after it (the outbox in `src/host.js` then pauses), else 1.
#[no_mangle]
pub extern "C" fn fbq_call(len: usize) -> u32 {
    let args = take(len);
    let mut revoked = false;
    let done = with_engine(|tracker| {
        tracker.call_json(&args, &mut BrowserHost);
        revoked = tracker.consent() == Consent::Revoked;
    });
    done << u32::from(revoked)
}

/// The page URL changed through the History API (single-page apps).
#[no_mangle]
pub extern "C" fn fbq_page_changed() {
    with_engine(|tracker| tracker.page_changed(&mut BrowserHost));
}

/// Runs `f` on the engine, taken out of its static meanwhile; 0 when there is none.
fn with_engine(f: impl FnOnce(&mut Tracker)) -> u32 {
    let Some(mut tracker) = ENGINE.0.take() else {
        return 0;
    };
    f(&mut tracker);
    ENGINE.0.set(Some(tracker));
    1
}

/// The first `len` bytes of the input buffer, as a string (empty if they are not UTF-8, which
/// `TextEncoder` output always is). Leaves the buffer empty.
fn take(len: usize) -> String {
    let mut bytes = INPUT.0.take();
    bytes.truncate(len);
    String::from_utf8(bytes).unwrap_or_default()
}

fn text(which: u32) -> String {
    // SAFETY: an import without memory arguments; it writes only through `fbq_buf`.
    take(unsafe { fbq_text(which) })
}

struct BrowserHost;

// SAFETY (every import call below): the pointers and lengths are those of live Rust slices and
// strings, which the JS side only reads (`fbq_random` writes within its slice).
impl Host for BrowserHost {
    fn now_ms(&mut self) -> u64 {
        unsafe { fbq_now() as u64 }
    }

    fn random(&mut self, buf: &mut [u8]) {
        unsafe { fbq_random(buf.as_mut_ptr(), buf.len()) }
    }

    fn page(&mut self) -> Page {
        let size = unsafe { fbq_screen() };
        Page {
            href: text(0),
            referrer: text(1),
            in_iframe: unsafe { fbq_in_iframe() } != 0,
            screen: (size != 0).then_some((size >> 16, size & 0xffff)),
        }
    }

    fn global_privacy_control(&mut self) -> bool {
        unsafe { fbq_gpc() != 0 }
    }

    fn in_app_click_id(&mut self) -> Option<String> {
        Some(text(2)).filter(|s| !s.is_empty())
    }

    fn cookie(&mut self, name: &str) -> Option<String> {
        let len = unsafe { fbq_cookie(name.as_ptr(), name.len()) };
        usize::try_from(len).ok().map(take)
    }

    fn set_cookie(&mut self, c: &CookieWrite<'_>) {
        let text = set_cookie_text(c);
        unsafe { fbq_set_cookie(text.as_ptr(), text.len()) }
    }

    fn send(&mut self, endpoint: &str, query: &str, delivery: Delivery) {
        let post = u32::from(delivery.transport == Transport::Post);
        let keep = match delivery.keep {
            Keep::Memory => 1,
            Keep::Storage => 2,
        };
        unsafe {
            fbq_send(
                endpoint.as_ptr(),
                endpoint.len(),
                query.as_ptr(),
                query.len(),
                post,
                keep,
                OUTBOX_KEY.as_ptr(),
                OUTBOX_KEY.len(),
                OUTBOX_MAX_AGE_DAYS,
            )
        }
    }

    fn console(&mut self, level: Level, msg: Msg, args: &[&str]) {
        let mut text = String::new();
        for (i, a) in args.iter().enumerate() {
            if i > 0 {
                text.push(SEPARATOR);
            }
            text.push_str(a);
        }
        unsafe { fbq_log(level as u32, msg as u32, text.as_ptr(), text.len()) }
    }

    fn lowercase(&self, s: &str) -> String {
        take(unsafe { fbq_lower(s.as_ptr(), s.len()) })
    }
}
