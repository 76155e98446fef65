//! `GET /feeds/…`: the files `build` wrote, for sites with no other web
//! server. Conditional requests are answered from the file's size and
//! modification time alone: `build` leaves a file's mtime alone when its
//! bytes did not change, so the pair changes exactly when the content does.
//!
//! Written here rather than with tower-http's ServeDir because feeds need
//! types chosen by file name (`rss.xml` and `atom.xml` are different
//! formats), an ETag, and the rule that nothing broadsheet keeps for itself
//! (the manifest, temporary files) is ever served.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

/// How long a reader may use a copy without asking again.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The type a feed reader expects for `name`.
fn content_type(name: &str) -> &'static str {
    match name {
        "rss.xml" => "application/rss+xml; charset=utf-8",
        "atom.xml" => "application/atom+xml; charset=utf-8",
        "feed.json" => "application/feed+json; charset=utf-8",
        _ => match name.rsplit_once('.').map(|(_, ext)| ext) {
            Some("opml") => "text/x-opml; charset=utf-8",
            Some("html") => "text/html; charset=utf-8",
            Some("xml") => "application/xml; charset=utf-8",
            Some("json") => "application/json; charset=utf-8",
            Some("txt") => "text/plain; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "application/octet-stream",
        },
    }
}

/// The file under `root` that `request` names, or `None` when it names
/// nothing servable: `..`, a hidden file, anything that resolves outside
/// `root` through a link.
pub fn resolve(root: &Path, request: &str) -> Option<PathBuf> {
    let mut path = root.to_path_buf();
    for segment in request.split('/') {
        if segment.is_empty() {
            continue;
        }
        let mut parts = Path::new(segment).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(s)), None)
                if !segment.starts_with('.') && !segment.contains(['\\', '\0']) =>
            {
                path.push(s);
            }
            _ => return None,
        }
    }
    let real = path.canonicalize().ok()?;
    let real_root = root.canonicalize().ok()?;
    real.starts_with(&real_root).then_some(real)
}

/// An HTTP date (RFC 9110 IMF-fixdate).
fn http_date(t: SystemTime) -> String {
    DateTime::<Utc>::from(t)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// Whether the client's copy, described by `headers`, is current.
fn not_modified(headers: &HeaderMap, etag: &str, modified: SystemTime) -> bool {
    if let Some(v) = headers.get(header::IF_NONE_MATCH) {
        // Weak comparison (RFC 9110 §13.1.2): our tags are weak anyway,
        // because gzip may be applied on the way out.
        let tag = etag.trim_start_matches("W/");
        return v.to_str().is_ok_and(|list| {
            list.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.trim_start_matches("W/") == tag)
        });
    }
    if let Some(since) = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| DateTime::parse_from_rfc2822(s).ok())
    {
        let modified = DateTime::<Utc>::from(modified).timestamp();
        return modified <= since.timestamp();
    }
    false
}

/// Answers a request for `request` under `root`. The file system is used
/// directly, not through a blocking pool: the files are small and in the
/// page cache, so a stat or a read takes microseconds, less than the hop
/// to another thread would.
pub async fn serve(root: &Path, request: &str, method: &Method, headers: &HeaderMap) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found\n").into_response();
    let Some(mut path) = resolve(root, request) else {
        return not_found();
    };
    let Ok(mut meta) = std::fs::metadata(&path) else {
        return not_found();
    };
    if meta.is_dir() {
        if !request.is_empty() && !request.ends_with('/') {
            let last = request.rsplit('/').next().unwrap_or("");
            let location = format!("{}/", crate::feeds::url_path(last));
            return (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
        path.push("index.html");
        meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            _ => return not_found(),
        };
    }
    if !meta.is_file() {
        return not_found();
    }
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let since_epoch = modified
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let etag = format!(
        "W/\"{:x}-{:x}.{:x}\"",
        meta.len(),
        since_epoch.as_secs(),
        since_epoch.subsec_nanos()
    );
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut response = if not_modified(headers, &etag, modified) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        let mut r = Response::new(Body::empty());
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
        r
    } else {
        match std::fs::read(&path) {
            Ok(bytes) => Response::new(Body::from(bytes)),
            Err(_) => return not_found(),
        }
    };
    let modified_304 = response.status() == StatusCode::NOT_MODIFIED;
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("ASCII"));
    h.insert(
        header::LAST_MODIFIED,
        HeaderValue::from_str(&http_date(modified)).expect("ASCII"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    if !modified_304 {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(name)),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_get_the_types_readers_expect() {
        assert_eq!(
            content_type("rss.xml"),
            "application/rss+xml; charset=utf-8"
        );
        assert_eq!(
            content_type("atom.xml"),
            "application/atom+xml; charset=utf-8"
        );
        assert_eq!(
            content_type("feed.json"),
            "application/feed+json; charset=utf-8"
        );
        assert_eq!(content_type("index.opml"), "text/x-opml; charset=utf-8");
    }

    #[test]
    fn nothing_outside_the_folder_resolves() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/rss.xml"), "x").unwrap();
        std::fs::write(dir.path().join(".broadsheet-manifest.json"), "{}").unwrap();
        assert!(resolve(dir.path(), "a/rss.xml").is_some());
        assert!(resolve(dir.path(), "a/../a/rss.xml").is_none());
        assert!(resolve(dir.path(), "../etc/passwd").is_none());
        assert!(resolve(dir.path(), ".broadsheet-manifest.json").is_none());
        assert!(resolve(dir.path(), "a\\..\\..").is_none());
    }
}
