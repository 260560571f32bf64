//! Browser tests of the WebAssembly shell, in headless Chromium:
//! `cargo test -p fbevents --target wasm32-unknown-unknown` with `wasm-bindgen-test-runner` as the
//! cargo runner and `CHROMEDRIVER` set (./test.sh does both).
//!
//! They drive the shell's raw exports the way the loader does, through the real `src/host.js`:
//! the engine imports it by the module name `/src/host.js`, which the runner serves from the crate
//! root, and the tests import the same module (`raw_module`, so the same instance) for `bind`,
//! `put` and `str`. They check the plumbing (version, strings both ways, cookies written and read
//! back, a call made from inside another refused) and that nothing a page can pass makes the
//! engine panic, since a panic aborts the instance for the rest of the page. Beacons go to this
//! page's own origin, never to Meta. The loader itself is covered end to end (`tests/e2e/`).
#![cfg(target_arch = "wasm32")]

use fbevents::{fbq_call, fbq_page_changed, fbq_start, fbq_version, fbq_version_len};
use pixel_core::console::Msg;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::HtmlDocument;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(raw_module = "/src/host.js")]
extern "C" {
    fn bind(exports: JsValue);
    fn put(s: &str) -> usize;
    #[wasm_bindgen(js_name = str)]
    fn read(ptr: *const u8, len: usize) -> String;
}

#[wasm_bindgen(inline_js = r#"
import { put, words } from '/src/host.js';
var seen = [];
// Records what the engine says through console.warn (and still prints it). The engine says a
// message's number and arguments (the loader fetches the texts); here they print as
// `#number argument|argument`, at once.
export function watch_warnings() {
  seen = [];
  words(function (m, a) { return '#' + m + ' ' + a.join('|'); });
  if (console.warn.watched) return;
  var orig = console.warn;
  console.warn = function (m) { seen.push(String(m)); return orig.apply(console, arguments); };
  console.warn.watched = true;
}
export function warnings() { return seen.join('\n'); }
// An fbq call whose JSON holds a lone surrogate, which no Rust string can.
export function put_lone_surrogate() { return put('["\ud800x"]'); }
// The next console.warn makes a call into the engine, as a page's hook could; returns a function
// that tells what that inner call returned (-1: not made).
export function reenter_on_next_warning(exports) {
  words(function (m, a) { return '#' + m + ' ' + a.join('|'); });
  var inner = -1, orig = console.warn;
  console.warn = function () {
    console.warn = orig;
    inner = exports.fbq_call(put('["track","PageView"]'));
    return orig.apply(console, arguments);
  };
  return function () { return inner; };
}
"#)]
extern "C" {
    fn watch_warnings();
    fn warnings() -> String;
    fn put_lone_surrogate() -> usize;
    fn reenter_on_next_warning(exports: JsValue) -> js_sys::Function;
}

/// A fresh engine, as the loader starts it.
fn start() {
    bind(wasm_bindgen::exports());
    fbq_start(0, 0);
}

/// One `fbq` call as the loader makes it: 1 when the engine ran it.
fn call(args_json: &str) -> u32 {
    fbq_call(put(args_json))
}

fn document() -> Result<HtmlDocument, JsValue> {
    web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))?
        .dyn_into::<HtmlDocument>()
        .map_err(|_| JsValue::from_str("not an HTML document"))
}

/// `["set","endpoint","<this origin>/tr/"]`: keeps every beacon on the test server.
fn local_endpoint() -> Result<String, JsValue> {
    let origin = web_sys::window()
        .ok_or_else(|| JsValue::from_str("no window"))?
        .location()
        .origin()?;
    Ok(format!(r#"["set","endpoint","{origin}/tr/"]"#))
}

/// The value of a cookie of this page, if set.
fn cookie(name: &str) -> Result<Option<String>, JsValue> {
    let jar = document()?.cookie()?;
    Ok(jar.split("; ").find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_owned())
    }))
}

#[wasm_bindgen_test]
fn has_the_core_version() {
    start();
    assert_eq!(read(fbq_version(), fbq_version_len()), pixel_core::VERSION);
}

#[wasm_bindgen_test]
fn survives_any_call() -> Result<(), JsValue> {
    start();
    assert_eq!(call(&local_endpoint()?), 1);
    for args in [
        r#"["init","1234567890"]"#,
        r#"["track","PageView"]"#,
        r#"["track","Purchase",{"value":12.5,"currency":"EUR","content_ids":["a","b"]},{"eventID":"o-1"}]"#,
        r#"["trackCustom","Thing",{"nested":{"deep":[1,2,{"x":null}]}}]"#,
        r#"["trackSingle","1234567890","AddToCart"]"#,
        r#"["trackSingle","999","AddToCart"]"#,
        r#"["init","not-a-number"]"#,
        r#"["init","1234567890",{"em":"John.Doe@Example.COM","ph":"+1 (650) 555-1212"}]"#,
        r#"["consent","sideways"]"#,
        r#"["dataProcessingOptions",["LDU"],1,1000]"#,
        r#"["nonsense"]"#,
        r#"[["track","PageView"]]"#,
        r#"[]"#,
        r#"[null]"#,
        r#"[42,{}]"#,
        r#"{"not":"an array"}"#,
        r#"["track""#,
        "",
        "\u{0}\u{ffff}",
    ] {
        assert_eq!(call(args), 1, "{args}");
    }
    fbq_page_changed();
    assert_eq!(call(r#"["track","ViewContent",{"content_ids":["a"]}]"#), 1);
    Ok(())
}

/// Strings cross both ways as UTF-8: a call's JSON in (`put`), a console message out (`str`).
#[wasm_bindgen_test]
fn strings_cross_as_utf8() {
    start();
    watch_warnings();
    call(r#"["é 😀 ✓"]"#);
    assert!(
        warnings().contains(&format!("[fbq] #{} é 😀 ✓", Msg::NotACommand as u8)),
        "{}",
        warnings()
    );
    // TextEncoder turns a lone surrogate into U+FFFD.
    watch_warnings();
    fbq_call(put_lone_surrogate());
    assert!(
        warnings().contains(&format!("[fbq] #{} \u{fffd}x", Msg::NotACommand as u8)),
        "{}",
        warnings()
    );
}

/// A 1 MB argument fits: the input buffer grows to it.
#[wasm_bindgen_test]
fn takes_a_1_mb_argument() -> Result<(), JsValue> {
    start();
    call(&local_endpoint()?);
    call(r#"["init","1234567890"]"#);
    watch_warnings();
    let big = "x".repeat(1 << 20);
    let args = format!(r#"["trackCustom","Mega",{{"keep":"yes","big":"{big}"}}]"#);
    assert_eq!(call(&args), 1);
    // The engine saw the whole value: it drops it as too long, by name.
    assert!(warnings().contains("big"), "{}", warnings());
    Ok(())
}

#[wasm_bindgen_test]
fn writes_no_cookie_while_consent_is_revoked() -> Result<(), JsValue> {
    let doc = document()?;
    doc.set_cookie("_fbp=; max-age=0; path=/")?;
    start();
    call(&local_endpoint()?);
    call(r#"["consent","revoke"]"#);
    call(r#"["init","1234567890"]"#);
    call(r#"["track","PageView"]"#);
    let cookies = doc.cookie()?;
    assert!(
        !cookies.contains("_fbp="),
        "cookies while revoked: {cookies}"
    );
    Ok(())
}

/// `_fbp` is written through `document.cookie`, and a later engine reads it back and keeps it.
#[wasm_bindgen_test]
fn writes_fbp_and_reads_it_back() -> Result<(), JsValue> {
    document()?.set_cookie("_fbp=; max-age=0; path=/")?;
    start();
    call(&local_endpoint()?);
    call(r#"["init","1234567890"]"#);
    call(r#"["track","PageView"]"#);
    let first = cookie("_fbp")?.ok_or_else(|| JsValue::from_str("no _fbp written"))?;
    assert!(first.starts_with("fb."), "{first}");

    start();
    call(&local_endpoint()?);
    call(r#"["init","1234567890"]"#);
    call(r#"["track","PageView"]"#);
    assert_eq!(cookie("_fbp")?, Some(first));
    Ok(())
}

/// A call made from inside another (here from a console.warn hook) is refused, not run.
#[wasm_bindgen_test]
fn refuses_a_call_from_inside_a_call() -> Result<(), JsValue> {
    start();
    let inner = reenter_on_next_warning(wasm_bindgen::exports());
    assert_eq!(call(r#"["nonsense"]"#), 1, "the outer call runs");
    assert_eq!(inner.call0(&JsValue::NULL)?, 0, "the inner one is refused");
    assert_eq!(call(r#"["track","PageView"]"#), 1, "and the engine is back");
    Ok(())
}
