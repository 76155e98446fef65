//! `broadsheet build`: feeds read back with independent parsers, golden
//! output for the sample publication, and the promises about re-runs.

use crate::output::{build_line, files_counted};
use crate::util::*;
use broadsheet::feeds::output::{Manifest, MANIFEST, OLD_MANIFEST};
use chrono::{DateTime, Utc};

fn two_articles() -> Publication {
    let p = Publication::new();
    p.write(
        "content/ai/compute.md",
        article(
            r#"
title = "算力擴容與新型工業化"
published = 2026-11-20T07:00:00+08:00
updated = 2026-11-21T09:30:00+08:00
authors = [
  { name = "陳大文", role = "某大學人工智能研究院院長" },
  { name = "李小明", role = "某大學副校長(研究)" },
]
tags = ["算力", "人工智能"]
"#,
            "算力是新時代的基建。沒有足夠的算力，任何模型都只是紙上談兵！\n\n## 從硬件到人才\n\n第二段談人才。",
        ),
    );
    p.write(
        "content/city/tram.md",
        article(
            r#"
title = "電車慢活"
published = "2026-11-02 08:30"
authors = ["鄺嘉欣"]
summary = "編輯撰寫的摘要。"
"#,
            "電車是城市的節奏。",
        ),
    );
    p
}

/// Asserts two snapshots of feeds/ hold the same files with the same bytes
/// and mtimes, broadsheet's own manifest aside; names the files that differ.
#[track_caller]
fn assert_untouched(
    before: &std::collections::BTreeMap<String, (Vec<u8>, std::time::SystemTime)>,
    after: &std::collections::BTreeMap<String, (Vec<u8>, std::time::SystemTime)>,
) {
    let differ: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| !k.starts_with(".broadsheet"))
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(differ.is_empty(), "changed: {differ:?}");
}

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn every_feed_round_trips_through_an_independent_parser() {
    let p = two_articles();
    p.build();
    for format in ["rss.xml", "atom.xml", "feed.json"] {
        let feed = parse_feed(p.read(&format!("feeds/ai/{format}")).as_bytes());
        assert_eq!(feed.title.unwrap().content, "鑰匙與未來 | 論壇", "{format}");
        assert_eq!(feed.entries.len(), 1, "{format}");
        let e = &feed.entries[0];
        assert_eq!(
            e.id, "tag:news.example.com,2026-11-20:ai/compute",
            "{format}"
        );
        assert_eq!(
            e.title.as_ref().unwrap().content,
            "算力擴容與新型工業化",
            "{format}"
        );
        assert_eq!(
            e.links[0].href, "https://news.example.com/ai/compute/",
            "{format}"
        );
        assert_eq!(
            e.published,
            Some(instant("2026-11-20T07:00:00+08:00")),
            "{format}"
        );
        let authors: Vec<&str> = e.authors.iter().map(|a| a.name.as_str()).collect();
        // RSS and JSON Feed write the role's own brackets full-width, as
        // gofeed would blank the name otherwise (see authors.rs).
        let second = if format == "atom.xml" {
            "李小明（某大學副校長(研究)）"
        } else {
            "李小明（某大學副校長（研究））"
        };
        assert_eq!(
            authors,
            ["陳大文（某大學人工智能研究院院長）", second],
            "{format}"
        );
        let tags: Vec<&str> = e.categories.iter().map(|c| c.term.as_str()).collect();
        assert_eq!(tags, ["算力", "人工智能"], "{format}");
        let html = e
            .content
            .as_ref()
            .and_then(|c| c.body.clone())
            .unwrap_or_default();
        assert!(html.contains("<h2>從硬件到人才</h2>"), "{format}: {html}");
        assert!(html.contains("<p>第二段談人才。</p>"), "{format}: {html}");
        let summary = e.summary.as_ref().unwrap().content.clone();
        // The lead stops at the section head.
        assert_eq!(
            summary, "算力是新時代的基建。沒有足夠的算力，任何模型都只是紙上談兵！",
            "{format}"
        );
    }
    // Atom and JSON Feed carry the update (RSS as atom:updated, which
    // feed-rs does not read: see corrections.rs).
    for format in ["atom.xml", "feed.json"] {
        let feed = parse_feed(p.read(&format!("feeds/ai/{format}")).as_bytes());
        assert_eq!(
            feed.entries[0].updated,
            Some(instant("2026-11-21T09:30:00+08:00")),
            "{format}"
        );
    }
}

#[test]
fn dates_keep_the_site_offset_in_every_format() {
    let p = two_articles();
    p.build();
    assert!(p
        .read("feeds/city/rss.xml")
        .contains("<pubDate>Mon, 2 Nov 2026 08:30:00 +0800</pubDate>"));
    assert!(p
        .read("feeds/city/atom.xml")
        .contains("<published>2026-11-02T08:30:00+08:00</published>"));
    assert!(p
        .read("feeds/city/feed.json")
        .contains("\"date_published\": \"2026-11-02T08:30:00+08:00\""));
    let rss = p.read("feeds/ai/rss.xml");
    assert!(
        rss.contains("<lastBuildDate>Sat, 21 Nov 2026 09:30:00 +0800</lastBuildDate>"),
        "{rss}"
    );
}

#[test]
fn the_feed_over_every_column_holds_all_articles_newest_first() {
    let p = two_articles();
    p.build();
    let feed = parse_feed(p.read("feeds/all/atom.xml").as_bytes());
    let titles: Vec<String> = feed
        .entries
        .iter()
        .map(|e| e.title.clone().unwrap().content)
        .collect();
    assert_eq!(titles, ["算力擴容與新型工業化", "電車慢活"]);
    let opml = p.read("feeds/index.opml");
    assert!(
        opml.contains("xmlUrl=\"https://news.example.com/feeds/ai/rss.xml\""),
        "{opml}"
    );
    assert!(
        opml.contains("xmlUrl=\"https://news.example.com/feeds/city/rss.xml\""),
        "{opml}"
    );
}

#[test]
fn an_editors_summary_wins_over_the_lead() {
    let p = two_articles();
    p.build();
    let feed = parse_feed(p.read("feeds/city/feed.json").as_bytes());
    assert_eq!(
        feed.entries[0].summary.as_ref().unwrap().content,
        "編輯撰寫的摘要。"
    );
}

#[test]
fn summary_mode_puts_only_the_summary_in_item_bodies() {
    let p = two_articles();
    p.write("config.toml", format!("{CONFIG}\ncontent = \"summary\"\n"));
    p.build();
    let rss = p.read("feeds/ai/rss.xml");
    assert!(!rss.contains("content:encoded"), "{rss}");
    assert!(!p.read("feeds/ai/atom.xml").contains("<content"));
    let json: serde_json::Value = serde_json::from_str(&p.read("feeds/ai/feed.json")).unwrap();
    assert!(json["items"][0].get("content_html").is_none());
    assert_eq!(
        json["items"][0]["content_text"],
        json["items"][0]["summary"]
    );
}

#[test]
fn drafts_and_future_articles_are_not_published_until_due() {
    let p = two_articles();
    p.write(
        "content/ai/draft.md",
        article(
            "title = \"草稿\"\npublished = 2026-11-01\ndraft = true",
            "未完成。",
        ),
    );
    p.write(
        "content/ai/next-year.md",
        article(
            "title = \"明年見\"\npublished = 2027-01-15T07:00:00+08:00",
            "將來的文章。",
        ),
    );
    let run = p.build();
    assert!(
        run.stdout.contains("2 articles (1 draft, 1 scheduled)"),
        "{}",
        run.stdout
    );
    assert!(!p.read("feeds/ai/atom.xml").contains("明年見"));
    assert!(!p.read("feeds/all/rss.xml").contains("草稿"));

    p.run_at("2027-01-15T07:00:00+08:00", &["build"])
        .expect_code(0);
    assert!(p.read("feeds/ai/atom.xml").contains("明年見"));
    assert!(!p.read("feeds/ai/atom.xml").contains("草稿"));
}

#[test]
fn max_items_keeps_the_newest() {
    let p = Publication::new();
    p.write("config.toml", format!("{CONFIG}\nmax_items = 2\n"));
    for day in 1..=5 {
        p.write(
            &format!("content/ai/day-{day}.md"),
            article(
                &format!("title = \"第{day}日\"\npublished = 2026-11-0{day}"),
                "內文。",
            ),
        );
    }
    p.build();
    let feed = parse_feed(p.read("feeds/ai/rss.xml").as_bytes());
    let titles: Vec<String> = feed
        .entries
        .iter()
        .map(|e| e.title.clone().unwrap().content)
        .collect();
    assert_eq!(titles, ["第5日", "第4日"]);
}

#[test]
fn a_second_run_is_byte_identical_and_touches_nothing() {
    let p = two_articles();
    p.build();
    let first = p.tree("feeds");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = p.build();
    assert_eq!(build_line(&run.stdout), "built 2 columns, 2 articles (0 drafts, 0 scheduled): 0 files written, 23 unchanged, 0 removed");
    assert_untouched(&first, &p.tree("feeds"));

    // A content file touched but unchanged forces a full rebuild, which
    // still rewrites nothing.
    let body = p.read("content/ai/compute.md");
    p.write("content/ai/compute.md", body);
    let run = p.build();
    assert_eq!(build_line(&run.stdout), "built 2 columns, 2 articles (0 drafts, 0 scheduled): 0 files written, 23 unchanged, 0 removed");
    assert_untouched(&first, &p.tree("feeds"));
}

#[test]
fn an_edited_article_is_rebuilt() {
    let p = two_articles();
    p.build();
    let before = p.tree("feeds");
    let text = p
        .read("content/city/tram.md")
        .replace("電車慢活", "電車慢活（修訂）");
    p.write("content/city/tram.md", text);
    let run = p.build();
    assert_eq!(build_line(&run.stdout), "built 2 columns, 2 articles (0 drafts, 0 scheduled): 10 files written, 13 unchanged, 0 removed");
    let after = p.tree("feeds");
    assert_eq!(
        before["ai/atom.xml"], after["ai/atom.xml"],
        "another column's files are untouched"
    );
    assert!(p.read("feeds/city/atom.xml").contains("電車慢活（修訂）"));
}

#[test]
fn ids_survive_a_new_base_url_permalink_and_title() {
    let p = two_articles();
    p.build();
    let ids = |p: &Publication| -> Vec<String> {
        parse_feed(p.read("feeds/all/atom.xml").as_bytes())
            .entries
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    let before = ids(&p);
    let config = CONFIG
        .replace("https://news.example.com", "https://example.org/news")
        .replacen(
            "[[columns]]",
            "permalink = \"{base_url}/{year}/{month}/{slug}.html\"\n\n[[columns]]",
            1,
        );
    p.write("config.toml", config);
    let text = p
        .read("content/ai/compute.md")
        .replace("算力擴容與新型工業化", "新標題");
    p.write("content/ai/compute.md", text);
    p.build();
    assert_eq!(ids(&p), before);
    assert!(p
        .read("feeds/ai/rss.xml")
        .contains("https://example.org/news/2026/11/compute.html"));
}

#[test]
fn without_an_id_authority_ids_do_not_depend_on_the_base_url() {
    let config = CONFIG.replace("id_authority = \"news.example.com\"", "");
    let p = Publication::with_config(&config);
    p.write(
        "content/ai/x.md",
        article("title = \"X\"\npublished = 2026-11-20", "內文。"),
    );
    p.build();
    let id = parse_feed(p.read("feeds/ai/atom.xml").as_bytes()).entries[0]
        .id
        .clone();
    assert_eq!(id, "tag:broadsheet,2026-11-20:ai/x");
}

#[test]
fn a_pinned_id_is_kept() {
    let p = Publication::new();
    p.write(
        "content/ai/x.md",
        article("title = \"X\"\npublished = 2026-11-20\nid = \"urn:uuid:3f6c2a9e-8b41-4d7c-9a15-2e7f0b6d4c18\"", "內文。"),
    );
    p.build();
    let rss = p.read("feeds/ai/rss.xml");
    assert!(
        rss.contains(
            "<guid isPermaLink=\"false\">urn:uuid:3f6c2a9e-8b41-4d7c-9a15-2e7f0b6d4c18</guid>"
        ),
        "{rss}"
    );
}

#[test]
fn a_removed_column_loses_only_the_files_broadsheet_wrote() {
    let p = two_articles();
    p.build();
    p.write("feeds/city/notes-by-hand.txt", "not ours");
    p.write("feeds/robots.txt", "User-agent: *");
    let config = CONFIG.replace(
        "[[columns]]\nslug = \"city\"\ntitle = \"城市筆記\"\ndescription = \"編者按：城市生活。\"\n",
        "",
    );
    p.write("config.toml", config);
    std::fs::remove_dir_all(p.path("content/city")).unwrap();
    let run = p.build();
    assert_eq!(files_counted(&run.stdout).removed, 7, "{}", run.stdout);
    assert!(!p.path("feeds/city/rss.xml").exists());
    assert!(!p.path("feeds/city/atom.xml").exists());
    assert!(!p.path("feeds/city/feed.json").exists());
    assert!(!p.path("feeds/city/index.html").exists());
    assert_eq!(p.read("feeds/city/notes-by-hand.txt"), "not ours");
    assert_eq!(p.read("feeds/robots.txt"), "User-agent: *");
}

#[test]
fn the_environment_overrides_the_file() {
    let p = two_articles();
    p.run_with_env(
        NOW,
        &["build"],
        &[("BROADSHEET_FEEDS__URL", "https://cdn.example.net/f")],
    )
    .expect_code(0);
    assert!(p
        .read("feeds/ai/rss.xml")
        .contains("https://cdn.example.net/f/ai/rss.xml"));
}

#[test]
fn relative_links_become_absolute() {
    let p = Publication::new();
    p.write(
        "content/ai/links.md",
        article(
            "title = \"連結\"\npublished = 2026-11-20",
            "見[上篇](../earlier/)及![圖](chart.png)。",
        ),
    );
    p.build();
    let json: serde_json::Value = serde_json::from_str(&p.read("feeds/ai/feed.json")).unwrap();
    let html = json["items"][0]["content_html"].as_str().unwrap();
    assert!(
        html.contains("href=\"https://news.example.com/ai/earlier/\""),
        "{html}"
    );
    assert!(
        html.contains("src=\"https://news.example.com/ai/links/chart.png\""),
        "{html}"
    );
}

#[test]
fn tables_and_footnotes_render() {
    let p = Publication::new();
    p.write(
        "content/ai/table.md",
        article(
            "title = \"表\"\npublished = 2026-11-20",
            "| 項目 | 數字 |\n|:--|--:|\n| 甲 | 1 |\n\n正文[^1]。\n\n[^1]: 註腳。",
        ),
    );
    p.build();
    let json: serde_json::Value = serde_json::from_str(&p.read("feeds/ai/feed.json")).unwrap();
    let html = json["items"][0]["content_html"].as_str().unwrap();
    assert!(html.contains("<table>"), "{html}");
    assert!(
        html.contains("<td style=\"text-align: right\">1</td>"),
        "{html}"
    );
    assert!(html.contains("footnote-definition"), "{html}");
}

#[test]
fn the_sample_publication_builds_and_checks() {
    let p = Publication::sample();
    let run = p.build();
    assert!(
        run.stdout
            .starts_with("built 3 columns, 9 articles (1 draft, 1 scheduled)"),
        "{}",
        run.stdout
    );
    p.run(&["check"]).expect_code(0);
    let rss = p.read("feeds/economy/rss.xml");
    assert!(
        rss.contains("Daniel Whitcombe"),
        "the English article is published"
    );
}

/// Golden files: any change to the bytes of the sample publication's output
/// shows up here as a diff to review (`cargo insta review`).
#[test]
fn the_sample_publications_output_is_stable() {
    let p = Publication::sample();
    p.build();
    for (path, (bytes, _)) in p.tree("feeds") {
        if path.starts_with('.') {
            continue;
        }
        let name = path.replace(['/', '.'], "_");
        insta::assert_snapshot!(name, String::from_utf8(bytes).unwrap());
    }
}

/// A first build reads each file's size and mtime from the open file, not
/// from the folder listing; what it records must be what the next build
/// finds by listing, or every cron run would rebuild everything.
#[test]
fn a_first_build_records_what_the_next_build_finds() {
    let p = Publication::with_config(CONFIG);
    p.write(
        "content/ai/a.md",
        article(
            "title = \"甲\"\npublished = 2026-11-20T07:00:00+08:00",
            "內文。",
        ),
    );
    p.write(
        "content/ai/2026/bundle/index.md",
        article("title = \"乙\"\npublished = 2026-11-21", "內文。"),
    );
    p.write(
        "content/city/draft.md",
        article(
            "title = \"丙\"\npublished = 2026-11-22\ndraft = true",
            "草稿。",
        ),
    );
    p.write(
        "content/city/later.md",
        article("title = \"丁\"\npublished = 2030-01-01", "將來。"),
    );
    p.write(
        "content/top.md",
        article(
            "title = \"戊\"\ncolumn = \"city\"\npublished = 2026-11-23",
            "頂層。",
        ),
    );
    p.build();
    let run = p.run(&["-v", "build"]).expect_code(0);
    assert!(
        run.stderr.contains("nothing changed since the last build"),
        "{}",
        run.stderr
    );
    // A file whose mtime moves is seen as changed.
    std::thread::sleep(std::time::Duration::from_millis(20));
    p.write("content/ai/a.md", p.read("content/ai/a.md"));
    let run = p.run(&["-v", "build"]).expect_code(0);
    assert!(!run.stderr.contains("nothing changed"), "{}", run.stderr);
}

/// The manifest sits in the web root, where others may write: what it
/// names outside `output_dir`, or names that broadsheet never writes, are
/// never removed.
#[test]
fn a_manifest_entry_outside_output_dir_is_ignored_not_removed() {
    let p = two_articles();
    p.build();
    p.write("broadsheet.db", "the state");
    p.write("feeds/robots.txt", "User-agent: *");
    let outside = tempfile::NamedTempFile::new().unwrap();
    let manifest_path = p.path(&format!("feeds/{MANIFEST}"));
    let mut manifest = Manifest::from_bytes(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let stamp = manifest.files["ai/rss.xml"];
    for entry in [
        "../broadsheet.db",
        outside.path().to_str().unwrap(),
        "robots.txt",
        "ai/../../broadsheet.db",
    ] {
        manifest.files.insert(entry.to_owned(), stamp);
    }
    std::fs::write(&manifest_path, manifest.to_bytes()).unwrap();
    // A change, so the build writes and removes what it no longer makes.
    p.write(
        "content/city/tram.md",
        p.read("content/city/tram.md").replace("節奏", "脈搏"),
    );
    let run = p.build();
    assert_eq!(p.read("broadsheet.db"), "the state");
    assert!(outside.path().exists());
    assert_eq!(p.read("feeds/robots.txt"), "User-agent: *");
    assert!(
        run.stderr.contains(
            "the entry \"../broadsheet.db\" is not a file broadsheet writes; it is ignored"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(files_counted(&run.stdout).removed, 0, "{}", run.stdout);
    // The next manifest lists only what the build wrote.
    let manifest = Manifest::from_bytes(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let listed: Vec<&String> = manifest.files.keys().collect();
    assert!(
        !listed
            .iter()
            .any(|f| f.contains("broadsheet.db") || f.contains("robots")),
        "{listed:?}"
    );
    assert!(listed.contains(&&"ai/rss.xml".to_owned()), "{listed:?}");
}

/// The first build after an upgrade finds the JSON manifest an earlier
/// version wrote: it still knows what that build wrote (a stale file is
/// removed, a kept one is not written again), and it replaces the JSON
/// one with its own.
#[test]
fn a_manifest_in_the_json_of_earlier_versions_is_read_and_replaced() {
    let p = two_articles();
    p.build();
    let new = p.path(&format!("feeds/{MANIFEST}"));
    let old = p.path(&format!("feeds/{OLD_MANIFEST}"));
    let mut manifest = Manifest::from_bytes(&std::fs::read(&new).unwrap()).unwrap();
    // A file the earlier build wrote that no build makes any more.
    p.write("feeds/gone/rss.xml", "<rss>old</rss>");
    let stamp = manifest.files["ai/rss.xml"];
    manifest.files.insert("gone/rss.xml".to_owned(), stamp);
    std::fs::write(&old, serde_json::to_vec(&manifest).unwrap()).unwrap();
    std::fs::remove_file(&new).unwrap();
    let first = p.tree("feeds");
    p.write(
        "content/city/tram.md",
        p.read("content/city/tram.md").replace("節奏", "脈搏"),
    );
    let run = p.build();
    let counted = files_counted(&run.stdout);
    assert_eq!(counted.removed, 1, "{}", run.stdout);
    assert!(!p.path("feeds/gone").exists());
    // Only what the edit changed is written.
    let changed: Vec<String> = p
        .tree("feeds")
        .into_iter()
        .filter(|(path, bytes)| first.get(path) != Some(bytes))
        .map(|(path, _)| path)
        .filter(|path| !path.starts_with(".broadsheet-"))
        .collect();
    assert_eq!(changed.len(), counted.written, "{changed:?}");
    assert!(
        counted.written > 0 && counted.unchanged > 0,
        "{}",
        run.stdout
    );
    assert!(!old.exists(), "the JSON manifest is replaced");
    let manifest = Manifest::from_bytes(&std::fs::read(&new).unwrap()).unwrap();
    assert!(!manifest.files.contains_key("gone/rss.xml"));
    assert!(manifest.files.contains_key("city/rss.xml"));
}

/// A build that finds nothing changed writes nothing, not even the
/// manifest: its mtime is what `status` gives as the last build's.
#[test]
fn a_build_with_nothing_changed_leaves_the_manifest_as_it_was() {
    use std::os::unix::fs::MetadataExt;
    let p = two_articles();
    p.build();
    let path = p.path(&format!("feeds/{MANIFEST}"));
    let before = std::fs::metadata(&path).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = p.run(&["-v", "build"]).expect_code(0);
    assert!(
        run.stderr.contains("nothing changed since the last build"),
        "{}",
        run.stderr
    );
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (after.ino(), after.modified().unwrap()),
        (before.ino(), before.modified().unwrap())
    );
}

/// A build that cannot write one file (here a file stands where a new
/// column's folder must go; a full disk is the same) writes none: readers
/// see the previous set whole, never a mix of old and new feeds.
#[test]
fn a_build_that_fails_part_way_leaves_the_previous_feeds_as_they_were() {
    let p = two_articles();
    p.build();
    let before = p.tree("feeds");
    p.write(
        "config.toml",
        format!("{CONFIG}\n[[columns]]\nslug = \"law\"\ntitle = \"法治\"\n"),
    );
    // The newest article: the feeds over every column change too.
    p.write(
        "content/law/new.md",
        article(
            "title = \"新法\"\npublished = 2026-11-25T07:00:00+08:00",
            "內文。",
        ),
    );
    p.write("feeds/law", "in the way");
    let run = p.run(&["build"]).expect_code(1);
    assert!(
        run.stderr.contains("feeds/law/") && run.stderr.contains("cannot write"),
        "{}",
        run.stderr
    );
    let mut after = p.tree("feeds");
    assert_eq!(
        after.remove("law").map(|(b, _)| b),
        Some(b"in the way".to_vec())
    );
    let differ: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(differ.is_empty(), "changed or left behind: {differ:?}");
    // Once the way is clear, the build goes through.
    std::fs::remove_file(p.path("feeds/law")).unwrap();
    p.build();
    assert!(p.read("feeds/all/rss.xml").contains("新法"));
}

/// `cp -p` and `rsync -t` keep the mtime of what they copy: an edit made
/// that way, keeping the size too, must still be seen.
#[test]
fn an_edit_that_keeps_size_and_mtime_is_still_rebuilt() {
    let p = two_articles();
    p.build();
    let path = p.path("content/city/tram.md");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let edited = p.read("content/city/tram.md").replace("節奏", "脈搏");
    assert_eq!(edited.len(), p.read("content/city/tram.md").len());
    std::fs::write(&path, edited).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
    p.build();
    assert!(p.read("feeds/city/rss.xml").contains("脈搏"));
}

#[cfg(unix)]
#[test]
fn a_folder_in_the_output_replaced_by_a_link_is_never_written_through() {
    let p = two_articles();
    p.build();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::remove_dir_all(p.path("feeds/ai")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), p.path("feeds/ai")).unwrap();
    let before = p.tree("feeds");
    // A change, so the build has something to write.
    p.write(
        "content/city/tram.md",
        p.read("content/city/tram.md").replace("節奏", "脈搏"),
    );
    let run = p.run(&["build"]).expect_code(1);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing written outside output_dir"
    );
    assert_eq!(
        p.tree("feeds"),
        before,
        "the previous feeds stay as they were"
    );
}

#[test]
fn a_folder_where_a_feed_goes_fails_the_build_before_anything_changes() {
    let p = two_articles();
    p.build();
    std::fs::remove_file(p.path("feeds/city/rss.xml")).unwrap();
    std::fs::create_dir_all(p.path("feeds/city/rss.xml/x")).unwrap();
    let before = p.tree("feeds");
    p.write(
        "config.toml",
        p.read("config.toml")
            .replace("title = \"論壇\"", "title = \"新論壇\""),
    );
    let run = p.run(&["build"]).expect_code(1);
    assert!(
        run.stderr.contains("a folder is where this file goes"),
        "{}",
        run.stderr
    );
    assert_eq!(p.tree("feeds"), before, "no feed has the new title");
}
