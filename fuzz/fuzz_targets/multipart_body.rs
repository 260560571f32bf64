//! The collector's `multipart/form-data` `/tr` body: `collector::http::multipart::boundary` on the
//! `Content-Type` header and `collector::http::multipart::parse` on the body, then the beacon
//! steps. The input's first line is the header's value, the rest is the body.
//!
//! Checks: no input panics; the fields that parse, laid out again as a browser's `FormData` sends
//! them (CRLF or bare LF), parse back to exactly those fields; the beacon keeps its invariants.
#![no_main]

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
    let Ok(fields) = multipart::parse(body, &boundary) else {
        return;
    };
    for crlf in [true, false] {
        if let Some(again) = lay_out(&boundary, &fields, crlf) {
            assert_eq!(
                multipart::parse(again.as_bytes(), &boundary).as_ref(),
                Ok(&fields),
                "laid out again as {again:?}"
            );
        }
    }
    pixel_fuzz::accept(fields);
});

/// `fields` as a browser sends them, or `None` for what a browser cannot send: a name with `"`,
/// `\`, CR or LF (it would escape them), a value holding the delimiter (it would pick another
/// boundary); with bare LF line ends, a value ending in CR (its CR would read as the CRLF before
/// the delimiter).
fn lay_out(boundary: &str, fields: &[(String, String)], crlf: bool) -> Option<String> {
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
