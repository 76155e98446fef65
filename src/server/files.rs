//! `GET /feeds/…`: the files `build` wrote, for sites with no other web
//! server. Conditional requests are answered from the file's size and
//! modification time alone: `build` leaves a file's mtime alone when its
//! bytes did not change, so the pair changes exactly when the content does.
//!
//! Only what broadsheet wrote is served: the files the last build listed in
//! its manifest, and the web copies of digest issues
//! (`digests/<week>/index.html`, and their archive `digests/index.html`,
//! written by the digest's sender). Anything
//! else that lands in `output_dir` (a backup, a database, a link someone
//! made) stays private, and a listed file is served only where the build
//! put it, never through a symbolic link.
//!
//! Written here rather than with tower-http's ServeDir because feeds need
//! types chosen by file name (`rss.xml` and `atom.xml` are different
//! formats), an ETag, and that rule.

use crate::content::FileStat;
use crate::feeds::output::{Manifest, MANIFEST};
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::RwLock;
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

/// The path under `output_dir` that `request` names, `/`-separated, with
/// `index.html` for a folder (a request ending in `/`); `None` for `..`, a
/// hidden segment, or a separator or NUL inside a segment.
fn relative(request: &str) -> Option<String> {
    let mut out = String::with_capacity(request.len() + 10);
    for segment in request.split('/') {
        if segment.is_empty() {
            continue;
        }
        let mut parts = Path::new(segment).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(_)), None)
                if !segment.starts_with('.') && !segment.contains(['\\', '\0']) =>
            {
                if !out.is_empty() {
                    out.push('/');
                }
                out.push_str(segment);
            }
            _ => return None,
        }
    }
    if out.is_empty() || request.ends_with('/') {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str("index.html");
    }
    Some(out)
}

/// Whether `path` is a digest issue's web copy, `digests/2026-W25/index.html`,
/// or the archive that lists them, `digests/index.html` (both written by
/// the digest's sender, not the build).
fn is_web_copy(path: &str) -> bool {
    if path == "digests/index.html" {
        return true;
    }
    let mut parts = path.split('/');
    let (Some("digests"), Some(week), Some("index.html"), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let b = week.as_bytes();
    b.len() == 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && &b[4..6] == b"-W"
        && b[6..].iter().all(u8::is_ascii_digit)
}

/// What `serve` may hand out from `output_dir`: the files the manifest
/// lists, read again whenever the manifest changes (a build replaces it by
/// a rename, so its inode and times change), never on a request that finds
/// it as it was. Checking costs one `stat` a request.
pub(super) struct Published {
    manifest: PathBuf,
    root: PathBuf,
    listing: RwLock<Listing>,
}

#[derive(Default)]
struct Listing {
    /// The manifest as it was when read; `None` before that, or when
    /// there is none.
    stamp: Option<FileStat>,
    /// `output_dir` with every link resolved, when it exists.
    real_root: Option<PathBuf>,
    /// The files of the last build, with the inode each was written as.
    files: HashMap<String, u64>,
}

impl Published {
    /// The files of `output_dir`, read when first asked for.
    pub(super) fn new(output_dir: &Path) -> Published {
        Published {
            manifest: output_dir.join(MANIFEST),
            root: output_dir.to_owned(),
            listing: RwLock::new(Listing::default()),
        }
    }

    /// Where the file `rel` is, if it may be served: listed by the last
    /// build, or a digest's web copy.
    fn lookup(&self, rel: &str) -> Option<(PathBuf, Written)> {
        let stamp = std::fs::metadata(&self.manifest)
            .ok()
            .map(|m| FileStat::of(&m));
        {
            let listing = self.listing.read().unwrap_or_else(|e| e.into_inner());
            if listing.stamp == stamp && listing.real_root.is_some() {
                return listing.find(rel);
            }
        }
        let mut listing = self.listing.write().unwrap_or_else(|e| e.into_inner());
        if listing.stamp != stamp || listing.real_root.is_none() {
            *listing = Listing {
                stamp,
                real_root: self.root.canonicalize().ok(),
                files: Manifest::read(&self.root)
                    .files
                    .into_iter()
                    .map(|(k, stat)| (k, stat.ino))
                    .collect(),
            };
        }
        listing.find(rel)
    }

    /// Answers a request for `request` under `output_dir`. The file system
    /// is used directly, not through a blocking pool: the files are small
    /// and in the page cache, so a stat or a read takes microseconds, less
    /// than the hop to another thread would.
    pub(super) async fn serve(
        &self,
        request: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> Response {
        let not_found = || (StatusCode::NOT_FOUND, "not found\n").into_response();
        let Some(rel) = relative(request) else {
            return not_found();
        };
        let Some((path, written)) = self.lookup(&rel) else {
            // A folder named without its slash.
            if !request.ends_with('/') && self.lookup(&format!("{rel}/index.html")).is_some() {
                let last = request.rsplit('/').next().unwrap_or("");
                let location = format!("{}/", crate::feeds::url_path(last));
                return (
                    StatusCode::MOVED_PERMANENTLY,
                    [(header::LOCATION, location)],
                )
                    .into_response();
            }
            return not_found();
        };
        // Served only where the build put it: a link on the way (to the
        // manifest, the configuration, anything) is not followed.
        if path.canonicalize().ok().as_ref() != Some(&path) {
            return not_found();
        }
        // Nor a file put in its place by another name for it (a hard link
        // to the state or the configuration): a listed file must be the
        // very one the build wrote, and a web copy have no other name.
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(&path) {
            Ok(meta)
                if meta.is_file()
                    && match written {
                        Written::AsInode(ino) => ino == 0 || meta.ino() == ino,
                        Written::WebCopy => meta.nlink() == 1,
                    } =>
            {
                respond(&path, &meta, method, headers)
            }
            _ => not_found(),
        }
    }
}

/// What is known of how a servable file was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// By a build, as this inode (0: a manifest too old to say).
    AsInode(u64),
    /// A digest's web copy, written by the sender outside the manifest.
    WebCopy,
}

impl Listing {
    fn find(&self, rel: &str) -> Option<(PathBuf, Written)> {
        let root = self.real_root.as_ref()?;
        let written = match self.files.get(rel) {
            Some(ino) => Written::AsInode(*ino),
            None if is_web_copy(rel) => Written::WebCopy,
            None => return None,
        };
        Some((root.join(rel), written))
    }
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

/// The answer for the file at `path`, whose metadata is `meta`.
fn respond(
    path: &Path,
    meta: &std::fs::Metadata,
    method: &Method,
    headers: &HeaderMap,
) -> Response {
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
        match std::fs::read(path) {
            Ok(bytes) => Response::new(Body::from(bytes)),
            Err(_) => return (StatusCode::NOT_FOUND, "not found\n").into_response(),
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
    fn requests_name_paths_under_the_folder_and_nothing_else() {
        assert_eq!(relative("ai/rss.xml").as_deref(), Some("ai/rss.xml"));
        assert_eq!(relative("ai/").as_deref(), Some("ai/index.html"));
        assert_eq!(relative("").as_deref(), Some("index.html"));
        assert_eq!(relative("ai//rss.xml").as_deref(), Some("ai/rss.xml"));
        for bad in [
            "a/../a/rss.xml",
            "../etc/passwd",
            ".broadsheet-manifest",
            ".broadsheet-manifest.json",
            "a\\..\\..",
            "ai/rss.xml\0",
        ] {
            assert_eq!(relative(bad), None, "{bad}");
        }
        assert!(is_web_copy("digests/2026-W25/index.html"));
        assert!(!is_web_copy("digests/2026-W25/x.eml"));
        assert!(!is_web_copy("digests/../index.html"));
        // The archive of the web copies, and nothing else beside them.
        assert!(is_web_copy("digests/index.html"));
        assert!(!is_web_copy("digests/archive.html"));
        assert!(!is_web_copy("index.html"));
    }

    /// A file in the folder is served only if the last build listed it (or
    /// it is a digest's web copy) and it is where the build put it; a new
    /// manifest is picked up without a restart.
    #[test]
    fn only_what_the_manifest_lists_is_served_and_never_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        let manifest = |files: &[&str]| {
            let mut m = Manifest::default();
            for f in files {
                m.files.insert((*f).to_owned(), FileStat::default());
            }
            crate::fsio::write_if_changed(&root.join(MANIFEST), &m.to_bytes()).unwrap();
        };
        write("ai/rss.xml", "<rss/>");
        write("ai/index.html", "<html></html>");
        write("ai/notes.eml", "a signed link");
        write("broadsheet.db", "every address");
        write("digests/2026-W25/index.html", "issue");
        std::os::unix::fs::symlink(MANIFEST, root.join("ai/atom.xml")).unwrap();
        manifest(&["ai/rss.xml", "ai/index.html", "ai/atom.xml"]);
        let published = Published::new(root);
        let status = |request: &str| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(published.serve(request, &Method::GET, &HeaderMap::new()))
                .status()
        };
        assert_eq!(status("ai/rss.xml"), StatusCode::OK);
        assert_eq!(status("ai/"), StatusCode::OK);
        assert_eq!(status("ai"), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(status("digests/2026-W25/"), StatusCode::OK);
        for hidden in ["ai/notes.eml", "broadsheet.db", "ai/atom.xml", "index.html"] {
            assert_eq!(status(hidden), StatusCode::NOT_FOUND, "{hidden}");
        }
        // The next build's manifest is read on the next request.
        write("index.html", "<html></html>");
        manifest(&["index.html"]);
        assert_eq!(status("index.html"), StatusCode::OK);
        assert_eq!(status("ai/rss.xml"), StatusCode::NOT_FOUND);
    }
}
