//! The preview's HTTP side: the latest build's pages from memory, each
//! HTML page with a small script that asks for the build's generation and
//! reloads the page when a new build has replaced it; a failed build's
//! error in place of every page until the next build works.

use super::Shared;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// Where the script asks for the generation.
pub(super) const GENERATION_PATH: &str = "/__preview/generation";

/// How often a page asks, in milliseconds: a change shows within about a
/// second of its build, and an idle tab costs a request a second.
const POLL_MS: u32 = 700;

/// The preview's routes.
pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(GENERATION_PATH, get(generation))
        .fallback(get(page))
        .with_state(shared)
}

/// The answer to a request for another host.
fn foreign_host() -> Response {
    no_store((
        StatusCode::MISDIRECTED_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "this preview answers only at the address it printed\n",
    ))
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok())
}

async fn generation(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if !shared.is_own_host(host(&headers)) {
        return foreign_host();
    }
    let tag = shared.generation_tag();
    no_store(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], tag))
}

async fn page(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if !shared.is_own_host(host(&headers)) {
        return foreign_host();
    }
    let (tag, pages, error) = shared.snapshot();
    let raw = uri.path();
    if raw == "/" {
        return redirect(&format!("/{}", super::site::FEEDS_PREFIX));
    }
    let path = super::site::decode(raw.trim_start_matches('/'));
    let key = if path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path.clone()
    };
    let found = pages.files.get(&key);
    let html = found.is_none() || key.ends_with(".html");
    if let (Some(error), true) = (&error, html) {
        let body = error_page(error);
        return no_store((
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            inject(&body, &tag),
        ));
    }
    if let Some(bytes) = found {
        let kind = content_type(&key);
        let body = if kind.starts_with("text/html") {
            inject(&String::from_utf8_lossy(bytes), &tag).into_bytes()
        } else {
            bytes.clone()
        };
        return no_store(([(header::CONTENT_TYPE, kind)], body));
    }
    // A folder asked for without its slash, and a column's own address
    // (`/city-notes/`), whose page is the one under the feeds.
    let folder = format!("{}/index.html", path.trim_end_matches('/'));
    if !path.ends_with('/') && pages.files.contains_key(&folder) {
        return redirect(&format!("{raw}/"));
    }
    let feeds_page = format!("{}{folder}", super::site::FEEDS_PREFIX);
    if pages.files.contains_key(&feeds_page) {
        return redirect(&format!(
            "/{}{}/",
            super::site::FEEDS_PREFIX,
            raw.trim_matches('/')
        ));
    }
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"zh-Hant\">\n<head><meta charset=\"utf-8\"><title>找不到 Not found</title></head>\n<body>\n<h1>找不到這一頁 Not found</h1>\n<p><code>{}</code></p>\n<p><a href=\"/{}\">所有欄目 Every column</a></p>\n</body>\n</html>\n",
        crate::text::escape_xml(&path),
        super::site::FEEDS_PREFIX
    );
    no_store((
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        inject(&body, &tag),
    ))
}

fn redirect(to: &str) -> Response {
    match HeaderValue::from_str(to) {
        Ok(location) => no_store((StatusCode::FOUND, [(header::LOCATION, location)])),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Every answer is the build of this moment: a browser keeps none.
fn no_store(r: impl IntoResponse) -> Response {
    let mut r = r.into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        // Shown as text by a browser rather than downloaded.
        Some("xml" | "opml") => "application/xml; charset=utf-8",
        Some("json") => "application/json; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The page a failed build shows: what failed, as stderr says it.
fn error_page(error: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-Hant\">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>建置失敗 Build failed</title>\n<style>body{{font:16px/1.6 system-ui,sans-serif;margin:2rem auto;max-width:50rem;padding:0 1rem}}pre{{white-space:pre-wrap;background:#fbeaea;border-left:4px solid #8a1c1c;padding:1rem}}</style></head>\n<body>\n<h1>建置失敗 Build failed</h1>\n<p>修正以下問題後，本頁會自動重新載入。<br>Fix what follows; this page reloads by itself once a build works.</p>\n<pre id=\"preview-error\">{}</pre>\n</body>\n</html>\n",
        crate::text::escape_xml(error)
    )
}

/// `html` with the reload script before its `</body>` (or at its end).
fn inject(html: &str, tag: &str) -> String {
    // The tag is digits and a hyphen; nothing in it needs escaping.
    let script = format!(
        "<script>(()=>{{const seen=\"{tag}\";const ask=()=>fetch(\"{GENERATION_PATH}\",{{cache:\"no-store\"}}).then(r=>r.ok?r.text():seen).then(t=>{{if(t.trim()!==seen){{location.reload();}}else{{setTimeout(ask,{POLL_MS});}}}},()=>setTimeout(ask,{POLL_MS}));setTimeout(ask,{POLL_MS});}})();</script>\n"
    );
    match html.rfind("</body>") {
        Some(at) => {
            let mut out = String::with_capacity(html.len() + script.len());
            out.push_str(&html[..at]);
            out.push_str(&script);
            out.push_str(&html[at..]);
            out
        }
        None => format!("{html}{script}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reload_script_goes_before_the_end_of_the_body() {
        let page = inject("<html><body><p>x</p></body></html>", "7-3");
        let script = page.find("<script>").unwrap();
        assert!(script > page.find("<p>x</p>").unwrap(), "{page}");
        assert!(page.ends_with("</body></html>"), "{page}");
        assert!(page.contains("const seen=\"7-3\""), "{page}");
        assert!(inject("<p>no body</p>", "1-1").starts_with("<p>no body</p><script>"));
    }

    #[test]
    fn a_build_error_is_escaped_on_its_page() {
        let page = error_page("content/a.md:3: title: <script>");
        assert!(
            page.contains("content/a.md:3: title: &lt;script&gt;"),
            "{page}"
        );
    }
}
