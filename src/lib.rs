//! The WebAssembly shell (skeleton; filled in by the drop-in pixel work).
#![cfg_attr(not(target_arch = "wasm32"), allow(unused))]

#[cfg(target_arch = "wasm32")]
mod shell {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    pub struct Pixel {}

    #[wasm_bindgen]
    impl Pixel {
        #[wasm_bindgen(constructor)]
        pub fn new(_disable_push_state: bool, _allow_duplicate_page_views: bool) -> Pixel {
            Pixel {}
        }
        pub fn version(&self) -> String {
            String::from("0.1.0")
        }
        /// One `fbq(...)` call, as the JSON text of its arguments array.
        pub fn call(&mut self, _args_json: &str) {}
        /// The page URL changed (SPA navigation).
        pub fn page_changed(&mut self) {}
    }
}
