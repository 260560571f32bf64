//! The collector's `multipart/form-data` `/tr` body: `collector::http::multipart::boundary` on the
//! `Content-Type` header and `collector::http::multipart::parse` (multer) on the body, then the
//! beacon steps. The input's first line is the header's value, the rest is the body.
//!
//! Checks: no input panics; the fields that parse, laid out again as a browser's `FormData` sends
//! them (CRLF line ends), parse back to exactly those fields; the beacon keeps its invariants.
#![no_main]

use bytes::Bytes;
use collector::event::MAX_PARAMS;
use collector::http::multipart;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(content_type) = std::str::from_utf8(head) else {
        return;
    };
    let Some(boundary) = multipart::boundary(content_type) else {
        return;
    };
    let Ok(fields) = multipart::parse(Bytes::copy_from_slice(body), &boundary, MAX_PARAMS) else {
        return;
    };
    if let Some(again) = lay_out(&boundary, &fields, true) {
        assert_eq!(
            multipart::parse(Bytes::from(again.clone()), &boundary, MAX_PARAMS).as_ref(),
            Ok(&fields),
            "laid out again as {again:?}"
        );
    }
    pixel_fuzz::accept(fields);
});

/// `fields` as a browser sends them, or `None` for what a browser cannot send (no part at all; a
/// name with `"`,
/// `\`, CR or LF (it would escape them), a value holding the delimiter (it would pick another
/// boundary); with bare LF line ends, a value ending in CR (its CR would read as the CRLF before
/// the delimiter).
fn lay_out(boundary: &str, fields: &[(String, String)], crlf: bool) -> Option<String> {
    if fields.is_empty() {
        return None; // a body of no part at all is malformed (what parsed had only files or unnamed parts)
    }
    let delimiter = format!("--{boundary}");
    let nl = if crlf { "\r\n" } else { "\n" };
    let mut body = String::new();
    for (name, value) in fields {
        if name.contains(['"', '\\', '\r', '\n'])
            || value.contains(&delimiter)
            || (!crlf && value.ends_with('\r'))
        {
            return None;
        }
        body.push_str(&format!(
            "{delimiter}{nl}Content-Disposition: form-data; name=\"{name}\"{nl}{nl}{value}{nl}"
        ));
    }
    body.push_str(&format!("{delimiter}--{nl}"));
    Some(body)
}
