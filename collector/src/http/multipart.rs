//! A small `multipart/form-data` reader (RFC 7578) for beacon bodies: text fields only, the whole
//! body already in memory (at most 64 KB). Parts with a `filename` are skipped.

/// Most parts accepted in one body.
const MAX_PARTS: usize = 2000;

/// The `boundary` parameter of a `Content-Type` header.
pub fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = unquote(v.trim());
        (!v.is_empty() && v.len() <= 200).then_some(v)
    })
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_owned(),
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// The `(name, value)` pairs of the text fields in `body`.
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<(String, String)>, &'static str> {
    const BAD: &str = "malformed multipart/form-data body";
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut pos = find(body, delimiter, 0).ok_or(BAD)? + delimiter.len();
    let mut out = Vec::new();
    loop {
        let rest = body.get(pos..).ok_or(BAD)?;
        if rest.starts_with(b"--") {
            return Ok(out);
        }
        pos += if rest.starts_with(b"\r\n") {
            2
        } else if rest.starts_with(b"\n") {
            1
        } else {
            return Err(BAD);
        };
        let (headers_end, sep_len) = match (find(body, b"\r\n\r\n", pos), find(body, b"\n\n", pos))
        {
            (Some(a), Some(b)) if b < a => (b, 2),
            (Some(a), _) => (a, 4),
            (None, Some(b)) => (b, 2),
            (None, None) => return Err(BAD),
        };
        let headers =
            std::str::from_utf8(body.get(pos..headers_end).ok_or(BAD)?).map_err(|_| BAD)?;
        let content_start = headers_end + sep_len;
        let next = find(body, delimiter, content_start).ok_or(BAD)?;
        let mut content_end = next;
        if body
            .get(..content_end)
            .is_some_and(|b| b.ends_with(b"\r\n"))
        {
            content_end -= 2;
        } else if body.get(..content_end).is_some_and(|b| b.ends_with(b"\n")) {
            content_end -= 1;
        }
        let content = body
            .get(content_start..content_end.max(content_start))
            .ok_or(BAD)?;
        if let Some(name) = field_name(headers) {
            let value = std::str::from_utf8(content).map_err(|_| "multipart field is not UTF-8")?;
            out.push((name, value.to_owned()));
            if out.len() > MAX_PARTS {
                return Err("too many multipart fields");
            }
        }
        pos = next + delimiter.len();
    }
}

/// The `name` of a `Content-Disposition: form-data` part, unless it is a file.
fn field_name(headers: &str) -> Option<String> {
    let line = headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(v)
    })?;
    let mut name = None;
    for param in line.split(';').skip(1) {
        let (k, v) = param.split_once('=')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(unquote(v.trim())),
            "filename" | "filename*" => return None,
            _ => {}
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let pairs = parse(body.as_bytes(), &b.unwrap_or_default());
        assert_eq!(
            pairs,
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
        assert!(parse(b"no delimiter here", "xyz").is_err());
        assert!(parse(
            b"--xyz\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n1",
            "xyz"
        )
        .is_err());
        assert!(parse(
            b"--xyz\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n\xff\r\n--xyz--",
            "xyz"
        )
        .is_err());
    }
}
