//! `/feeds/…`: the files the build wrote, with the types, validators and
//! compression feed readers expect, and nothing else.

use super::*;

/// A site with built feeds, served.
fn feeds_site() -> (Site, Service) {
    let site = Site::new();
    site.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容與新型工業化\"\npublished = 2026-11-26T07:00:00+08:00",
            &"算力是新時代的基建。".repeat(40),
        ),
    );
    site.build();
    let service = site.serve();
    (site, service)
}

#[test]
fn feeds_are_served_with_the_types_readers_expect() {
    let (site, service) = feeds_site();
    for (path, content_type) in [
        ("ai/rss.xml", "application/rss+xml; charset=utf-8"),
        ("ai/atom.xml", "application/atom+xml; charset=utf-8"),
        ("all/feed.json", "application/feed+json; charset=utf-8"),
        ("index.opml", "text/x-opml; charset=utf-8"),
    ] {
        let r = service.get(&format!("/feeds/{path}"));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(
            r.body,
            std::fs::read(site.path(&format!("feeds/{path}"))).unwrap()
        );
        assert!(r.header("etag").is_some_and(|e| e.starts_with("W/\"")));
        let modified = r.header("last-modified").expect("Last-Modified");
        let modified = chrono::DateTime::parse_from_rfc2822(modified).unwrap();
        let mtime: chrono::DateTime<chrono::Utc> =
            std::fs::metadata(site.path(&format!("feeds/{path}")))
                .unwrap()
                .modified()
                .unwrap()
                .into();
        assert_eq!(modified.timestamp(), mtime.timestamp(), "{path}");
    }
    parse_feed(&service.get("/feeds/ai/atom.xml").body);
}

#[test]
fn a_head_request_gets_the_length_without_the_body() {
    let (site, service) = feeds_site();
    let r = service.request("HEAD", "/feeds/ai/rss.xml", &[], b"");
    assert_eq!(r.status, 200);
    let size = std::fs::metadata(site.path("feeds/ai/rss.xml"))
        .unwrap()
        .len();
    assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));
    assert!(r.body.is_empty());
}

#[test]
fn a_feed_reader_with_a_current_copy_gets_304_and_no_body() {
    let (_site, service) = feeds_site();
    let first = service.get("/feeds/ai/rss.xml");
    let etag = first.header("etag").unwrap();
    let modified = first.header("last-modified").unwrap();

    let r = service.get_with("/feeds/ai/rss.xml", &[("If-None-Match", etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag));
    let r = service.get_with("/feeds/ai/rss.xml", &[("If-Modified-Since", modified)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    // As feed readers ask: gzip accepted, both validators sent.
    let r = service.get_with(
        "/feeds/ai/rss.xml",
        &[
            ("Accept-Encoding", "gzip"),
            ("If-None-Match", etag),
            ("If-Modified-Since", modified),
        ],
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-encoding"), None);

    // A stale tag wins over a current date (RFC 9110 §13.2.2).
    let r = service.get_with(
        "/feeds/ai/rss.xml",
        &[
            ("If-None-Match", "W/\"stale\""),
            ("If-Modified-Since", modified),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, first.body);
    let r = service.get_with(
        "/feeds/ai/rss.xml",
        &[("If-Modified-Since", "Thu, 01 Jan 2015 00:00:00 GMT")],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn a_feed_is_gzipped_for_clients_that_ask() {
    let (site, service) = feeds_site();
    let r = service.get_with("/feeds/all/atom.xml", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r
        .header("vary")
        .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(
        plain,
        std::fs::read(site.path("feeds/all/atom.xml")).unwrap()
    );
    assert!(r.body.len() < plain.len());
}

#[test]
fn nothing_outside_the_feeds_folder_or_hidden_in_it_is_served() {
    let (site, service) = feeds_site();
    assert!(site.read("config.toml").contains("[site]"));
    assert!(site.path("feeds/.broadsheet-manifest").exists());
    for target in [
        "/feeds/../config.toml",
        "/feeds/ai/../../config.toml",
        "/feeds/%2e%2e/config.toml",
        "/feeds/%2E%2E/%2E%2E/etc/passwd",
        "/feeds/ai/..%2f..%2fconfig.toml",
        "/feeds/ai/%2e%2e%2f%2e%2e%2fbroadsheet.db",
        "/feeds/..%5cconfig.toml",
        "/feeds/%2fetc%2fpasswd",
        "/feeds//etc/passwd",
        "/feeds/%2F..%2Fconfig.toml",
        "/feeds/.broadsheet-manifest",
        "/feeds/%2ebroadsheet-manifest",
        "/feeds/ai/rss.xml%00",
        "/feeds/ai/rss.xml%00.txt",
    ] {
        let r = service.get(target);
        assert_eq!(
            r.status,
            404,
            "{target}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let body = String::from_utf8_lossy(&r.body);
        for leak in ["[site]", "SQLite", "root:", "mtime_ns"] {
            assert!(!body.contains(leak), "{target} leaked {leak}: {body}");
        }
    }
}

#[cfg(unix)]
#[test]
fn a_link_out_of_the_feeds_folder_is_not_followed() {
    let (site, service) = feeds_site();
    std::os::unix::fs::symlink(site.path("config.toml"), site.path("feeds/ai/config.xml")).unwrap();
    std::os::unix::fs::symlink(site.path("."), site.path("feeds/up")).unwrap();
    for target in ["/feeds/ai/config.xml", "/feeds/up/config.toml"] {
        let r = service.get(target);
        assert_eq!(
            r.status,
            404,
            "{target}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// Whatever else lands in the web root (a copy of the state, an email
/// with signed links, a link to the manifest) is not served: only the
/// files the last build wrote, and the digests' web copies.
#[cfg(unix)]
#[test]
fn only_the_files_broadsheet_wrote_are_served() {
    let (site, service) = feeds_site();
    site.write(
        "feeds/outbox/1.eml",
        "List-Unsubscribe: <https://…?token=signed>",
    );
    site.write("feeds/broadsheet.db", "SQLite format 3");
    site.write("feeds/ai/rss.xml.bak", "<rss/>");
    std::os::unix::fs::symlink("../.broadsheet-manifest", site.path("feeds/ai/m.json")).unwrap();
    site.write("feeds/digests/2026-W25/index.html", "<html>issue</html>");
    for target in [
        "/feeds/outbox/1.eml",
        "/feeds/broadsheet.db",
        "/feeds/ai/rss.xml.bak",
        "/feeds/ai/m.json",
    ] {
        let r = service.get(target);
        assert_eq!(
            r.status,
            404,
            "{target}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(service.get("/feeds/ai/rss.xml").status, 200);
    assert_eq!(service.get("/feeds/digests/2026-W25/").status, 200);
    // A listed file replaced by a link to the manifest is not followed.
    std::fs::remove_file(site.path("feeds/ai/atom.xml")).unwrap();
    std::os::unix::fs::symlink("../.broadsheet-manifest", site.path("feeds/ai/atom.xml")).unwrap();
    assert_eq!(service.get("/feeds/ai/atom.xml").status, 404);
    // Nor another name for a file broadsheet keeps, put where a listed
    // file was (a hard link is no link to follow: it is the file).
    site.write("broadsheet.secret", "SQLite format 3 and every address");
    std::fs::remove_file(site.path("feeds/ai/feed.json")).unwrap();
    std::fs::hard_link(
        site.path("broadsheet.secret"),
        site.path("feeds/ai/feed.json"),
    )
    .unwrap();
    assert_eq!(service.get("/feeds/ai/feed.json").status, 404);
    std::fs::remove_file(site.path("feeds/digests/2026-W25/index.html")).unwrap();
    std::fs::hard_link(
        site.path("broadsheet.secret"),
        site.path("feeds/digests/2026-W25/index.html"),
    )
    .unwrap();
    assert_eq!(service.get("/feeds/digests/2026-W25/").status, 404);
}

#[test]
fn a_folder_without_its_slash_is_redirected_and_never_listed() {
    let (site, service) = feeds_site();
    let base = url::Url::parse(&site.url()).unwrap();
    for (from, status, to) in [("/feeds/ai", 301, "/feeds/ai/"), ("/feeds", 308, "/feeds/")] {
        let r = service.get(from);
        assert_eq!(r.status, status, "{from}");
        let location = r.header("location").expect("Location");
        let followed = base.join(from).unwrap().join(location).unwrap();
        assert_eq!(followed.path(), to, "{from} -> {location}");
    }
    // A folder without index.html is not listed.
    site.write("feeds/unlisted/rss.xml", "<rss/>");
    for target in [
        "/feeds/unlisted/",
        "/feeds/unlisted/./",
        "/feeds/unlisted//",
    ] {
        let r = service.get(target);
        assert_eq!(r.status, 404, "{target}");
        assert!(!String::from_utf8_lossy(&r.body).contains("rss.xml"));
    }
    // Nor is a file the build did not write.
    assert_eq!(service.get("/feeds/unlisted/rss.xml").status, 404);
}

/// The archive of past issues is served beside their web copies, as the
/// digest's sender wrote it, and like them only where it was written.
#[cfg(unix)]
#[test]
fn the_archive_of_digests_is_served_beside_their_web_copies() {
    let (site, service) = feeds_site();
    site.write("feeds/digests/2026-W25/index.html", "<html>issue</html>");
    site.write("feeds/digests/index.html", "<html>past issues</html>");
    for target in ["/feeds/digests/", "/feeds/digests/index.html"] {
        let r = service.get(target);
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{target}"
        );
        assert_eq!(String::from_utf8_lossy(&r.body), "<html>past issues</html>");
    }
    assert_eq!(service.get("/feeds/digests").status, 301);
    site.write("feeds/digests/other.html", "<html>not ours</html>");
    assert_eq!(service.get("/feeds/digests/other.html").status, 404);
}
