//! Static files: the built pixel from `--dist` (so a store loads `fbevents.js` from its own
//! domain), then an optional site from `--site` (the demo storefront), both at `/`.
//!
//! Files are read once and kept in memory with their `ETag` and gzip form; a changed size or
//! modification time reloads them. Paths with `..`, hidden segments or backslashes are refused.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pixel_core::wire::percent_decode;

use crate::config::Config;
use crate::error::AppError;
use crate::AppState;

/// Files above this size are not served.
const MAX_FILE: u64 = 64 * 1024 * 1024;
/// Below this size gzip is not worth it.
const MIN_GZIP: usize = 256;

struct Root {
    dir: PathBuf,
    cache_control: &'static str,
    /// `Access-Control-Allow-Origin: *`: the pixel's files are public, and a page on another
    /// origin (a Shopify custom pixel's sandbox, a store whose collector has its own host) must be
    /// able to `fetch` the wasm.
    any_origin: bool,
}

struct Cached {
    len: u64,
    modified: Option<SystemTime>,
    etag: String,
    content_type: &'static str,
    body: Bytes,
    gzip: Option<Bytes>,
}

/// The file roots and their in-memory cache.
pub struct StaticFiles {
    roots: Vec<Root>,
    cache: Mutex<HashMap<PathBuf, Arc<Cached>>>,
}

enum Found {
    File(Arc<Cached>),
    /// A directory asked for without its trailing slash.
    Redirect(String),
    Missing,
}

impl StaticFiles {
    pub fn new(config: &Config) -> StaticFiles {
        let mut roots = vec![Root {
            dir: config.dist.clone(),
            cache_control: "public, max-age=300",
            any_origin: true,
        }];
        if let Some(site) = &config.site {
            roots.push(Root {
                dir: site.clone(),
                cache_control: "no-cache",
                any_origin: false,
            });
        }
        StaticFiles {
            roots,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn lookup(&self, url_path: &str) -> Result<(Found, &'static str, bool), AppError> {
        let Some(rel) = safe_relative(url_path) else {
            return Ok((Found::Missing, "", false));
        };
        for root in &self.roots {
            let mut path = root.dir.join(&rel);
            if path.is_dir() {
                if !url_path.ends_with('/') {
                    return Ok((
                        Found::Redirect(format!("{url_path}/")),
                        root.cache_control,
                        root.any_origin,
                    ));
                }
                path.push("index.html");
            }
            if path.is_file() {
                return Ok((
                    Found::File(self.load(&path)?),
                    root.cache_control,
                    root.any_origin,
                ));
            }
        }
        Ok((Found::Missing, "", false))
    }

    fn load(&self, path: &Path) -> Result<Arc<Cached>, AppError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| AppError::Internal(format!("{}: {e}", path.display())))?;
        if meta.len() > MAX_FILE {
            return Err(AppError::NotFound);
        }
        let modified = meta.modified().ok();
        if let Ok(cache) = self.cache.lock() {
            if let Some(c) = cache
                .get(path)
                .filter(|c| c.len == meta.len() && c.modified == modified)
            {
                return Ok(c.clone());
            }
        }
        let body = std::fs::read(path)
            .map_err(|e| AppError::Internal(format!("{}: {e}", path.display())))?;
        let content_type = content_type(path);
        let etag = etag_of(&body);
        let gzip = (compressible(content_type) && body.len() >= MIN_GZIP)
            .then(|| gzip(&body))
            .flatten()
            .filter(|z| z.len() < body.len())
            .map(Bytes::from);
        let cached = Arc::new(Cached {
            len: meta.len(),
            modified,
            etag,
            content_type,
            body: Bytes::from(body),
            gzip,
        });
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(path.to_owned(), cached.clone());
        }
        Ok(cached)
    }
}

/// A strong `ETag`: the first 96 bits of the SHA-256 of the content, and its length.
fn etag_of(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(body);
    let mut tag = String::from("\"");
    for b in digest.iter().take(12) {
        tag.push_str(&format!("{b:02x}"));
    }
    tag.push_str(&format!("-{:x}\"", body.len()));
    tag
}

fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).ok()?;
    enc.finish().ok()
}

/// The URL path as a relative file path, or `None` when it tries to leave the root.
fn safe_relative(url_path: &str) -> Option<PathBuf> {
    // `+` is a literal plus in a path; core's decoder is the form decoder, so protect it.
    let decoded = percent_decode(&url_path.replace('+', "%2B")).ok()?;
    let mut rel = PathBuf::new();
    for seg in decoded.split('/') {
        if seg.is_empty() {
            continue;
        }
        if seg.starts_with('.') || seg.contains(['\\', '\0', ':']) {
            return None;
        }
        rel.push(seg);
    }
    Some(rel)
}

fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        "ts" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn compressible(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || matches!(
            content_type,
            "application/wasm" | "application/json" | "image/svg+xml"
        )
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let zero_q = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !zero_q
        })
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.trim_start_matches("W/") == etag
            })
        })
}

/// The fallback route.
pub async fn serve(State(state): State<AppState>, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return AppError::MethodNotAllowed.into_response();
    }
    let path = req.uri().path().to_owned();
    let st = state.clone();
    let found = tokio::task::spawn_blocking(move || st.statics.lookup(&path)).await;
    let (found, cache_control, any_origin) = match found {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return e.into_response(),
        Err(e) => return AppError::Internal(format!("static lookup: {e}")).into_response(),
    };
    let file = match found {
        Found::File(f) => f,
        Found::Redirect(to) => {
            let mut resp = StatusCode::PERMANENT_REDIRECT.into_response();
            if let Ok(v) = HeaderValue::from_str(&to) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            return resp;
        }
        Found::Missing => return AppError::NotFound.into_response(),
    };
    let gz = file.gzip.as_ref().filter(|_| accepts_gzip(req.headers()));
    let etag = match gz {
        Some(_) => format!("{}-gz\"", file.etag.trim_end_matches('"')),
        None => file.etag.clone(),
    };
    let not_modified = etag_matches(req.headers(), &etag);
    let mut resp = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        gz.cloned()
            .unwrap_or_else(|| file.body.clone())
            .into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(file.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if file.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    if gz.is_some() && !not_modified {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if any_origin {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_out_of_the_root() {
        assert_eq!(
            safe_relative("/fbevents.js"),
            Some(PathBuf::from("fbevents.js"))
        );
        assert_eq!(
            safe_relative("/a/b%20c.js"),
            Some(PathBuf::from("a/b c.js"))
        );
        assert_eq!(safe_relative("/a+b.js"), Some(PathBuf::from("a+b.js")));
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/x",
            "/a/..%2fb",
            "/.git/config",
            "/a%5cb",
            "/%00",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }

    #[test]
    fn gzip_negotiation() {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip;q=0.8"),
        );
        assert!(accepts_gzip(&h));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, br"),
        );
        assert!(!accepts_gzip(&h));
    }
}
