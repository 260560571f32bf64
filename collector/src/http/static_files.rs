//! Static files: the built pixel from `--dist` (so a store loads `fbevents.js` from its own
//! domain), then an optional site from `--site` (the demo storefront), both at `/`.
//!
//! Each root is a tower-http `ServeDir`: it streams the file from disk, answers `HEAD`, ranges,
//! `If-Modified-Since` (`304`) and a directory without its slash (`307` to the slash, then its
//! `index.html`), takes the content type from the extension (`application/wasm` for `.wasm`), and
//! serves a precompressed sibling (`fbevents.wasm.br`, `fbevents.js.gz`) when the client accepts
//! that encoding. It already refuses `..`, absolute and drive-letter components. What it does not
//! do, we do in front of it:
//!
//! - **hidden files**: a path with a segment starting with `.` is `404`, except `.well-known`
//!   (RFC 8615), so `.git/`, `.env` or editor backups are never served;
//! - **symlinks** are followed only when the file they lead to is inside the same root: a link
//!   out of the root (to `/etc`, to the database) is `404`;
//! - backslashes and NUL in a segment are `404` (never a Windows-style separator);
//! - `//x` is `/x` (leading and repeated slashes are empty segments, not the filesystem root);
//! - `Cache-Control` per root (`public, max-age=300` for the pixel, `no-cache` for the site),
//!   `Vary: Accept-Encoding` and `X-Content-Type-Options: nosniff`;
//! - `Access-Control-Allow-Origin: *` on the pixel's files: they are public, and a page on another
//!   origin (a Shopify custom pixel's sandbox, a store whose collector has its own host) must be
//!   able to `fetch` the wasm; the site's files carry none;
//! - only `GET` and `HEAD`, and a one-line `404`/`405` like every other route.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pixel_core::percent::percent_decode;
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

use crate::config::Config;
use crate::error::AppError;

struct Root {
    dir: PathBuf,
    serve: ServeDir,
    cache_control: &'static str,
    /// `Access-Control-Allow-Origin: *` (the pixel's files).
    any_origin: bool,
}

/// The file roots, in the order they are tried (cheap to clone: the fallback route holds it).
#[derive(Clone)]
pub struct StaticFiles {
    roots: Arc<Vec<Root>>,
}

impl StaticFiles {
    pub fn new(config: &Config) -> StaticFiles {
        let root = |dir: &Path, cache_control, any_origin| Root {
            dir: dir.to_owned(),
            serve: ServeDir::new(dir)
                .precompressed_br()
                .precompressed_gzip()
                .append_index_html_on_directories(true),
            cache_control,
            any_origin,
        };
        let mut roots = vec![root(&config.dist, "public, max-age=300", true)];
        if let Some(site) = &config.site {
            roots.push(root(site, "no-cache", false));
        }
        StaticFiles {
            roots: Arc::new(roots),
        }
    }
}

/// The URL path as a relative file path, or `None` when it is refused (see the module comment).
fn safe_relative(url_path: &str) -> Option<PathBuf> {
    // `+` is a literal plus in a path; core's decoder is the form decoder, so protect it.
    let decoded = percent_decode(&url_path.replace('+', "%2B")).ok()?;
    let mut rel = PathBuf::new();
    for seg in decoded.split('/') {
        if seg.is_empty() {
            continue;
        }
        let hidden = seg.starts_with('.') && seg != ".well-known";
        if hidden || seg.contains(['\\', '\0']) {
            return None;
        }
        rel.push(seg);
    }
    Some(rel)
}

enum Place {
    /// Nothing at this path in this root: try the next one.
    Missing,
    /// The path resolves inside the root.
    Inside,
    /// A symlink leads out of the root.
    Outside,
}

/// Where `rel` leads in `root`. Blocking file-system calls: run it off the async workers.
fn place(root: &Path, rel: &Path) -> Place {
    let Ok(base) = std::fs::canonicalize(root) else {
        return Place::Missing;
    };
    let Ok(mut real) = std::fs::canonicalize(root.join(rel)) else {
        return Place::Missing;
    };
    if !real.starts_with(&base) {
        return Place::Outside;
    }
    if real.is_dir() {
        match std::fs::canonicalize(real.join("index.html")) {
            Ok(index) => real = index,
            Err(_) => return Place::Inside,
        }
    }
    if real.starts_with(&base) {
        Place::Inside
    } else {
        Place::Outside
    }
}

/// [`place`] in every root, in order, in one trip to the blocking pool.
async fn places(files: &StaticFiles, rel: PathBuf) -> Vec<Place> {
    let roots: Vec<PathBuf> = files.roots.iter().map(|r| r.dir.clone()).collect();
    tokio::task::spawn_blocking(move || roots.iter().map(|r| place(r, &rel)).collect())
        .await
        .unwrap_or_default()
}

/// The fallback route.
pub async fn serve(files: StaticFiles, req: Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return AppError::MethodNotAllowed.into_response();
    }
    let Some(rel) = safe_relative(req.uri().path()) else {
        return AppError::NotFound.into_response();
    };
    let (parts, _) = req.into_parts();
    let places = places(&files, rel).await;
    for (root, place) in files.roots.iter().zip(places) {
        match place {
            Place::Missing => continue,
            Place::Outside => return AppError::NotFound.into_response(),
            Place::Inside => {}
        }
        let mut one = Request::new(Body::empty());
        *one.method_mut() = parts.method.clone();
        *one.uri_mut() = parts.uri.clone();
        *one.headers_mut() = parts.headers.clone();
        let Ok(resp) = root.serve.clone().oneshot(one).await;
        if resp.status() == StatusCode::NOT_FOUND {
            continue;
        }
        let mut resp = resp.into_response();
        if resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED {
            let h = resp.headers_mut();
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(root.cache_control),
            );
            h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            if root.any_origin {
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_ORIGIN,
                    HeaderValue::from_static("*"),
                );
            }
        }
        resp.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        return resp;
    }
    AppError::NotFound.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_out_of_the_root_and_hidden_files() {
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
        assert_eq!(safe_relative("//etc//x"), Some(PathBuf::from("etc/x")));
        assert_eq!(
            safe_relative("/.well-known/security.txt"),
            Some(PathBuf::from(".well-known/security.txt"))
        );
        for bad in [
            "/../etc/passwd",
            "/%2e%2e/x",
            "/a/..%2fb",
            "/.git/config",
            "/a/.env",
            "/a%5cb",
            "/%00",
            "/%ff",
        ] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }
}
