//! Browser tests of the WebAssembly shell, in headless Chromium:
//! `cargo test -p fbevents --target wasm32-unknown-unknown` with `wasm-bindgen-test-runner` as the
//! cargo runner and `CHROMEDRIVER` set (./test.sh does both).
//!
//! They drive [`fbevents::Pixel`] the way the loader does (one JSON array per `fbq` call) and check
//! that nothing a page can pass makes it panic, since a panic aborts the instance for the rest of
//! the page. Beacons go to this page's own origin, never to Meta.
#![cfg(target_arch = "wasm32")]

use fbevents::Pixel;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::HtmlDocument;

wasm_bindgen_test_configure!(run_in_browser);

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

#[wasm_bindgen_test]
fn has_a_version() {
    let pixel = Pixel::new(false, false);
    assert!(!pixel.version().is_empty());
}

#[wasm_bindgen_test]
fn survives_any_call() -> Result<(), JsValue> {
    let mut pixel = Pixel::new(false, false);
    pixel.call(&local_endpoint()?);
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
        pixel.call(args);
    }
    pixel.page_changed();
    pixel.call(r#"["track","ViewContent",{"content_ids":["a"]}]"#);
    Ok(())
}

#[wasm_bindgen_test]
fn writes_no_cookie_while_consent_is_revoked() -> Result<(), JsValue> {
    let doc = document()?;
    doc.set_cookie("_fbp=; max-age=0; path=/")?;
    let mut pixel = Pixel::new(false, false);
    pixel.call(&local_endpoint()?);
    pixel.call(r#"["consent","revoke"]"#);
    pixel.call(r#"["init","1234567890"]"#);
    pixel.call(r#"["track","PageView"]"#);
    let cookies = doc.cookie()?;
    assert!(
        !cookies.contains("_fbp="),
        "cookies while revoked: {cookies}"
    );
    Ok(())
}
