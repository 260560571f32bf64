//! The request's parameters, from its body and query string, in every encoding Meta's SDKs use:
//! a JSON object (the Node.js SDK, `curl -d @events.json`), a form
//! (`data=<JSON array>&access_token=...`: the Python and PHP SDKs) or `multipart/form-data`
//! (`curl -F`, as Meta's own examples). The query string adds the parameters the body lacks: the
//! Node.js and Python SDKs put `access_token` (and `appsecret_proof`) there.
//!
//! Only the request-level parameters are read here; `data` stays a JSON value for `parse`. The
//! multipart parser is the HTTP layer's (`http/multipart.rs`), handed in as a [`Multipart`].

use axum::body::Bytes;
use pixel_core::wire::query_pairs;
use serde_json::{Map, Value};

use super::answer::{ApiError, Kind};

/// A `multipart/form-data` parser: the body, its `Content-Type` (with the boundary) and the most
/// parts allowed → the text fields.
pub type Multipart = fn(Bytes, &str, usize) -> Result<Vec<(String, String)>, FieldsError>;

/// Why a [`Multipart`] parser refused a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldsError {
    TooMany,
    /// Malformed, with the reason.
    Bad(&'static str),
}

/// Longest accepted body: 1,000 full events (a Purchase with advanced matching and ten
/// products is under 2 KB of JSON) with room to spare.
pub const MAX_BODY: usize = 4 << 20;
/// Longest accepted query string (the beacon's limit).
pub const MAX_QUERY: usize = 32 * 1024;
/// Most parameters in a form or multipart body or a query string: Meta's request takes a
/// handful (`data`, `access_token`, `appsecret_proof`, `test_event_code`, `partner_agent`,
/// `namespace_id`, `upload_*`). Counted before any is decoded.
pub const MAX_PARAMS: usize = 64;

/// The request-level parameters. Text values are trimmed; empty ones and JSON `null`s are
/// absent (the Node.js SDK sends `"test_event_code": null`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    /// The events, as they came (checked to be an array by `parse`).
    pub data: Option<Value>,
    pub access_token: Option<String>,
    pub appsecret_proof: Option<String>,
    pub test_event_code: Option<String>,
}

/// How the body is encoded, from its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Json,
    Form,
    Multipart,
    /// No type, or `text/plain`: a JSON object when it starts with `{`, else a form.
    Sniff,
}

fn encoding(content_type: &str) -> Result<Encoding, ApiError> {
    let mime = content_type.split(';').next().unwrap_or("").trim();
    let is = |m: &str| mime.eq_ignore_ascii_case(m);
    if is("application/json") {
        Ok(Encoding::Json)
    } else if is("application/x-www-form-urlencoded") {
        Ok(Encoding::Form)
    } else if is("multipart/form-data") {
        Ok(Encoding::Multipart)
    } else if mime.is_empty() || is("text/plain") {
        Ok(Encoding::Sniff)
    } else {
        Err(ApiError::new(
            Kind::UnsupportedMediaType,
            "unsupported content type: send application/json, application/x-www-form-urlencoded or multipart/form-data",
        ))
    }
}

/// Whether a `Content-Type` is one the endpoint reads (checked before the body is read).
pub fn check_content_type(content_type: &str) -> Result<(), ApiError> {
    encoding(content_type).map(|_| ())
}

/// The parameters of a request: its body (of `content_type`; `multipart` reads a multipart one),
/// then what its `query` string adds.
pub fn decode(
    content_type: &str,
    body: Bytes,
    query: &str,
    multipart: Multipart,
) -> Result<Params, ApiError> {
    if body.len() > MAX_BODY {
        return Err(too_large());
    }
    let mut params = Params::default();
    let kind = match encoding(content_type)? {
        Encoding::Sniff => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            if first == Some(&b'{') {
                Encoding::Json
            } else {
                Encoding::Form
            }
        }
        other => other,
    };
    match kind {
        Encoding::Json => params.read_json(&body)?,
        Encoding::Multipart => {
            let fields = multipart(body, content_type, MAX_PARAMS).map_err(|e| match e {
                FieldsError::TooMany => too_many_params(),
                FieldsError::Bad(why) => ApiError::bad_body(why),
            })?;
            for (k, v) in fields {
                params.read_text(&k, &v)?;
            }
        }
        Encoding::Form | Encoding::Sniff => {
            let text = std::str::from_utf8(&body)
                .map_err(|_| ApiError::bad_body("the request body is not UTF-8"))?;
            params.read_form(text.trim())?;
        }
    }
    if query.len() > MAX_QUERY {
        return Err(ApiError::new(
            Kind::TooLarge,
            "the query string is larger than 32 KB",
        ));
    }
    let mut from_query = Params::default();
    from_query.read_form(query)?;
    params.data = params.data.or(from_query.data);
    params.access_token = params.access_token.or(from_query.access_token);
    params.appsecret_proof = params.appsecret_proof.or(from_query.appsecret_proof);
    params.test_event_code = params.test_event_code.or(from_query.test_event_code);
    Ok(params)
}

/// The refusal of a body over [`MAX_BODY`] (declared, read or handed over).
pub fn too_large() -> ApiError {
    ApiError::new(
        Kind::TooLarge,
        "the request body is larger than 4 MB: send at most 1,000 events per request",
    )
}

fn too_many_params() -> ApiError {
    ApiError::new(
        Kind::TooLarge,
        "more than 64 parameters in the request body or query string",
    )
}

impl Params {
    /// A JSON object body.
    fn read_json(&mut self, body: &[u8]) -> Result<(), ApiError> {
        let object: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err(ApiError::bad_body("the JSON body is not an object")),
            // serde's message names the line and column, never the text there.
            Err(e) => return Err(ApiError::bad_body(format!("the JSON body is invalid: {e}"))),
        };
        for (key, value) in object {
            match (key.as_str(), value) {
                (_, Value::Null) => {}
                ("data", v) => self.data = Some(v),
                (
                    name @ ("access_token" | "appsecret_proof" | "test_event_code"),
                    Value::String(s),
                ) => self.set_text(name, &s),
                ("access_token" | "appsecret_proof" | "test_event_code", _) => {
                    return Err(ApiError::bad_body(format!("{key}: must be a string")))
                }
                // partner_agent, namespace_id, upload_*: nothing for the collector to keep.
                _ => {}
            }
        }
        Ok(())
    }

    /// A form body or query string: counted before any pair is decoded.
    fn read_form(&mut self, text: &str) -> Result<(), ApiError> {
        if text
            .split('&')
            .filter(|p| !p.is_empty())
            .nth(MAX_PARAMS)
            .is_some()
        {
            return Err(too_many_params());
        }
        let pairs = query_pairs(text)
            .map_err(|e| ApiError::bad_body(format!("the form is invalid: {}", e.message())))?;
        for (k, v) in pairs {
            self.read_text(&k, &v)?;
        }
        Ok(())
    }

    /// One text parameter (of a form, a multipart body or the query string): `data` is JSON.
    fn read_text(&mut self, key: &str, value: &str) -> Result<(), ApiError> {
        match key {
            "data" => {
                let data: Value = serde_json::from_str(value).map_err(|e| {
                    ApiError::bad_body(format!("data: not a JSON array of events: {e}"))
                })?;
                self.data = Some(data).filter(|d| !d.is_null());
            }
            "access_token" | "appsecret_proof" | "test_event_code" => self.set_text(key, value),
            _ => {}
        }
        Ok(())
    }

    fn set_text(&mut self, key: &str, value: &str) {
        let value = Some(value.trim().to_owned()).filter(|v| !v.is_empty());
        match key {
            "access_token" => self.access_token = value,
            "appsecret_proof" => self.appsecret_proof = value,
            _ => self.test_event_code = value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The HTTP layer's parser, as the handler hands it in.
    fn fields(
        body: Bytes,
        content_type: &str,
        max: usize,
    ) -> Result<Vec<(String, String)>, FieldsError> {
        crate::http::server_events::multipart_fields(body, content_type, max)
    }

    fn decode_str(content_type: &str, body: &str, query: &str) -> Result<Params, ApiError> {
        decode(
            content_type,
            Bytes::copy_from_slice(body.as_bytes()),
            query,
            fields,
        )
    }

    #[test]
    fn json_form_and_multipart_read_alike() {
        let want = Params {
            data: Some(json!([{"event_name": "Purchase"}])),
            access_token: Some("tok".into()),
            appsecret_proof: None,
            test_event_code: Some("TEST1".into()),
        };
        let json_body = r#"{"data":[{"event_name":"Purchase"}],"access_token":"tok","test_event_code":"TEST1","partner_agent":null}"#;
        assert_eq!(
            decode_str("application/json", json_body, ""),
            Ok(want.clone())
        );
        assert_eq!(decode_str("", json_body, ""), Ok(want.clone()));
        assert_eq!(decode_str("text/plain", json_body, ""), Ok(want.clone()));
        let form = "data=%5B%7B%22event_name%22%3A%22Purchase%22%7D%5D&access_token=tok&test_event_code=TEST1&partner_agent=x";
        assert_eq!(
            decode_str("application/x-www-form-urlencoded", form, ""),
            Ok(want.clone())
        );
        let multipart = "--b\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n[{\"event_name\":\"Purchase\"}]\r\n--b\r\nContent-Disposition: form-data; name=\"access_token\"\r\n\r\ntok\r\n--b\r\nContent-Disposition: form-data; name=\"test_event_code\"\r\n\r\nTEST1\r\n--b--\r\n";
        assert_eq!(
            decode_str("multipart/form-data; boundary=b", multipart, ""),
            Ok(want.clone())
        );
        // The Node.js SDK: JSON body, token in the query string.
        let node = r#"{"data":[{"event_name":"Purchase"}],"test_event_code":"TEST1"}"#;
        assert_eq!(
            decode_str("application/json", node, "access_token=tok"),
            Ok(want.clone())
        );
    }

    #[test]
    fn the_body_wins_over_the_query_string() {
        let p = decode_str(
            "application/json",
            r#"{"data":[],"access_token":"body"}"#,
            "access_token=query&appsecret_proof=p",
        );
        let p = p.unwrap_or_default();
        assert_eq!(p.access_token.as_deref(), Some("body"));
        assert_eq!(p.appsecret_proof.as_deref(), Some("p"));
    }

    #[test]
    fn broken_bodies_are_400_and_odd_types_415() {
        for (ct, body) in [
            ("application/json", "{"),
            ("application/json", "[1,2]"),
            ("application/json", r#"{"access_token": 12}"#),
            ("application/x-www-form-urlencoded", "data=%ZZ"),
            ("application/x-www-form-urlencoded", "data=[{"),
            ("multipart/form-data", "--b\r\n"),
            ("multipart/form-data; boundary=b", "no parts"),
            ("multipart/form-data; boundary=", "--\r\n"),
        ] {
            let e = decode_str(ct, body, "").err();
            assert_eq!(e.map(|e| e.kind), Some(Kind::BadBody), "{ct} {body}");
        }
        let e = decode_str("application/xml", "<a/>", "").err();
        assert_eq!(e.map(|e| e.kind), Some(Kind::UnsupportedMediaType));
        let many = "a=1&".repeat(MAX_PARAMS + 1);
        let e = decode_str("application/x-www-form-urlencoded", &many, "").err();
        assert_eq!(e.map(|e| e.kind), Some(Kind::TooLarge));
        let e = decode_str("application/json", "{}", &many).err();
        assert_eq!(e.map(|e| e.kind), Some(Kind::TooLarge));
        let big = Bytes::from(vec![b' '; MAX_BODY + 1]);
        let e = decode("application/json", big, "", fields).err();
        assert_eq!(e.map(|e| e.kind), Some(Kind::TooLarge));
    }

    #[test]
    fn deep_nesting_is_a_400_not_a_stack_overflow() {
        let deep = format!(
            "{{\"data\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = decode_str("application/json", &deep, "").err();
        assert_eq!(e.map(|e| e.kind), Some(Kind::BadBody));
    }
}
