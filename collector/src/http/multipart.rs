//! `multipart/form-data` beacon bodies (RFC 7578) through `multer`, the parser axum's own
//! `Multipart` extractor uses: text fields only, the whole body already in memory (at most 64 KB).
//! Parts with a file name are skipped, but count towards the parameter limit like every part.
//!
//! multer finds each delimiter with one forward search over the buffered body, so the cost is
//! linear in the body; the old hand-written reader searched for two separators from every part to
//! the end (a 64 KB body of `--b\n\n\n` took 0.24 s).

use axum::body::Bytes;
use futures_util::FutureExt;

/// The `boundary` parameter of a `Content-Type` header.
pub fn boundary(content_type: &str) -> Option<String> {
    multer::parse_boundary(content_type)
        .ok()
        .filter(|b| !b.is_empty() && b.len() <= 200)
}

/// Why a multipart body was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MultipartError {
    /// Not a well-formed `multipart/form-data` body.
    Malformed,
    /// A text field that is not UTF-8.
    NotUtf8,
    /// More parts than the caller allowed.
    TooManyParts,
}

impl MultipartError {
    pub fn message(self) -> &'static str {
        match self {
            MultipartError::Malformed => "malformed multipart/form-data body",
            MultipartError::NotUtf8 => "multipart field is not UTF-8",
            MultipartError::TooManyParts => "too many multipart fields",
        }
    }
}

/// The `(name, value)` pairs of the text fields in `body`; more than `max_parts` parts (named,
/// unnamed or files) is [`MultipartError::TooManyParts`], found before the next part is read.
///
/// Synchronous: the body is one ready chunk, so multer's futures never wait, and a fuzz target
/// can call this directly.
pub fn parse(
    body: Bytes,
    boundary: &str,
    max_parts: usize,
) -> Result<Vec<(String, String)>, MultipartError> {
    let stream =
        futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut reader = multer::Multipart::new(stream, boundary);
    let read = async move {
        let mut out = Vec::new();
        let mut parts = 0usize;
        while let Some(field) = reader
            .next_field()
            .await
            .map_err(|_| MultipartError::Malformed)?
        {
            parts += 1;
            if parts > max_parts {
                return Err(MultipartError::TooManyParts);
            }
            let name = match (field.name(), field.file_name()) {
                (Some(name), None) => Some(name.to_owned()),
                _ => None,
            };
            let value = field.bytes().await.map_err(|_| MultipartError::Malformed)?;
            if let Some(name) = name {
                let value =
                    String::from_utf8(value.to_vec()).map_err(|_| MultipartError::NotUtf8)?;
                out.push((name, value));
            }
        }
        if parts == 0 {
            // multer reads a body without any delimiter as no parts at all.
            return Err(MultipartError::Malformed);
        }
        Ok(out)
    };
    // A ready stream never leaves multer waiting; if it ever did, the body is refused, never
    // waited on.
    read.now_or_never()
        .unwrap_or(Err(MultipartError::Malformed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(body: &str, boundary: &str) -> Result<Vec<(String, String)>, MultipartError> {
        parse(Bytes::copy_from_slice(body.as_bytes()), boundary, 500)
    }

    #[test]
    fn reads_fields_as_browsers_send_them() {
        let body = "------WebKitFormBoundaryx\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n123\r\n\
                    ------WebKitFormBoundaryx\r\nContent-Disposition: form-data; name=\"cd[content_ids]\"\r\n\r\n[\"a\",\"b\"]\r\n\
                    ------WebKitFormBoundaryx\r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n\
                    ------WebKitFormBoundaryx\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x.txt\"\r\nContent-Type: text/plain\r\n\r\nfile\r\n\
                    ------WebKitFormBoundaryx--\r\n";
        let ct = "multipart/form-data; boundary=----WebKitFormBoundaryx";
        let b = boundary(ct);
        assert_eq!(b.as_deref(), Some("----WebKitFormBoundaryx"));
        assert_eq!(
            parse_str(body, &b.unwrap_or_default()),
            Ok(vec![
                ("id".into(), "123".into()),
                ("cd[content_ids]".into(), "[\"a\",\"b\"]".into()),
                ("empty".into(), String::new())
            ])
        );
    }

    #[test]
    fn quoted_boundary_and_bad_bodies() {
        assert_eq!(
            boundary("multipart/form-data; charset=utf-8; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(
            parse_str("no delimiter here", "xyz"),
            Err(MultipartError::Malformed)
        );
        assert_eq!(
            parse_str(
                "--xyz\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n1",
                "xyz"
            ),
            Err(MultipartError::Malformed)
        );
        assert_eq!(
            parse(
                Bytes::from_static(
                    b"--xyz\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n\xff\r\n--xyz--"
                ),
                "xyz",
                500
            ),
            Err(MultipartError::NotUtf8)
        );
    }

    #[test]
    fn every_part_counts_towards_the_limit() {
        let mut body = String::new();
        for _ in 0..3 {
            body.push_str("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n");
            // An unnamed part and a file count too.
            body.push_str("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
            body.push_str(
                "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f\"\r\n\r\nx\r\n",
            );
        }
        body.push_str("--b--\r\n");
        let b = Bytes::copy_from_slice(body.as_bytes());
        assert_eq!(parse(b.clone(), "b", 9).map(|p| p.len()), Ok(3));
        assert_eq!(parse(b, "b", 8), Err(MultipartError::TooManyParts));
    }
}
