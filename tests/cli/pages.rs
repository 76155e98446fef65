//! The HTML pages beside the feeds: each column's page, with its feeds,
//! its latest articles and the sign-up form, and the index of them all.

use crate::output::{self_link, start_tags};
use crate::util::*;
use std::collections::BTreeMap;

/// Two columns, the first with a title and note that need escaping, three
/// articles in it and one in the other.
fn with_pages(public_url: bool) -> Publication {
    let config = CONFIG
        .replace("title = \"鑰匙與未來\"", "title = \"鑰匙<b>&未來\"")
        .replace(
            "description = \"編者按：人工智能與創科的路向。\"",
            "description = '編者按：<i>AI</i> & \"創科\"。'",
        );
    let config = if public_url {
        format!("{config}\n[server]\npublic_url = \"https://news.example.com/newsletter\"\n")
    } else {
        config
    };
    let p = Publication::with_config(&config);
    for (slug, title, day) in [
        ("first", "第一篇", "2026-11-20"),
        ("second", "第二篇", "2026-11-22"),
        ("third", "第三篇", "2026-11-24"),
    ] {
        p.write(
            &format!("content/ai/{slug}.md"),
            article(
                &format!("title = \"{title}\"\npublished = {day}T07:00:00+08:00\nauthors = [{{ name = \"陳大文\", role = \"院長\" }}]"),
                "內文。",
            ),
        );
    }
    p.write(
        "content/city/tram.md",
        article(
            "title = \"電車慢活\"\npublished = 2026-11-02T08:30:00+08:00",
            "電車是城市的節奏。",
        ),
    );
    p.build();
    p
}

#[test]
fn each_column_has_a_page_that_leads_to_its_feeds_and_the_digest() {
    let p = with_pages(true);
    for slug in ["ai", "city"] {
        let page = p.read(&format!("feeds/{slug}/index.html"));
        let rss = self_link(&p, &format!("{slug}/rss.xml"));
        let atom = self_link(&p, &format!("{slug}/atom.xml"));
        let json = self_link(&p, &format!("{slug}/feed.json"));

        // Feed discovery, with the types and the feeds' own self links.
        let alternates: BTreeMap<String, String> = start_tags(&page, "link")
            .into_iter()
            .filter(|a| a.get("rel").map(String::as_str) == Some("alternate"))
            .map(|a| (a["type"].clone(), a["href"].clone()))
            .collect();
        assert_eq!(
            alternates,
            BTreeMap::from([
                ("application/rss+xml".to_owned(), rss.clone()),
                ("application/atom+xml".to_owned(), atom.clone()),
                ("application/feed+json".to_owned(), json.clone()),
            ]),
            "{slug}"
        );
        // And the same three as links a reader can see and copy.
        let hrefs: Vec<String> = start_tags(&page, "a")
            .into_iter()
            .filter_map(|a| a.get("href").cloned())
            .collect();
        for feed in [&rss, &atom, &json] {
            assert!(hrefs.contains(feed), "{slug}: {feed} in {hrefs:?}");
        }
        assert!(hrefs.contains(&"https://news.example.com/feeds/".to_owned()));

        // The sign-up form for this column.
        let forms = start_tags(&page, "form");
        assert_eq!(forms.len(), 1, "{slug}");
        assert_eq!(forms[0]["method"], "post");
        assert_eq!(
            forms[0]["action"],
            "https://news.example.com/newsletter/subscribe"
        );
        let inputs = start_tags(&page, "input");
        let named = |n: &str| {
            inputs
                .iter()
                .find(|i| i.get("name").map(String::as_str) == Some(n))
                .unwrap_or_else(|| panic!("{slug}: no input {n}: {inputs:?}"))
        };
        assert_eq!(named("columns")["type"], "hidden");
        assert_eq!(named("columns")["value"], slug);
        assert_eq!(named("email")["type"], "email");
        assert!(named("email").contains_key("required"));
        // The honeypot: empty, out of the tab order.
        assert_eq!(named("website")["value"], "");
        assert_eq!(named("website")["tabindex"], "-1");
    }

    // Readable on a phone.
    assert!(p
        .read("feeds/city/index.html")
        .contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));

    // Title and editor's note, escaped.
    let ai = p.read("feeds/ai/index.html");
    assert!(ai.contains("<h1>鑰匙&lt;b&gt;&amp;未來</h1>"), "{ai}");
    assert!(
        ai.contains("<title>鑰匙&lt;b&gt;&amp;未來 · 論壇</title>"),
        "{ai}"
    );
    assert!(
        ai.contains("<p>編者按：&lt;i&gt;AI&lt;/i&gt; &amp; &quot;創科&quot;。</p>"),
        "{ai}"
    );
    assert!(!ai.contains("<b>") && !ai.contains("<i>AI"), "{ai}");

    // Its latest articles, newest first, linked, with bylines.
    let articles: Vec<String> = start_tags(&ai, "a")
        .into_iter()
        .filter_map(|a| a.get("href").cloned())
        .filter(|h| h.starts_with("https://news.example.com/ai/"))
        .collect();
    assert_eq!(
        articles,
        [
            "https://news.example.com/ai/third/",
            "https://news.example.com/ai/second/",
            "https://news.example.com/ai/first/",
        ]
    );
    let at = |s: &str| ai.find(s).unwrap_or_else(|| panic!("{s} not in {ai}"));
    assert!(at("第三篇") < at("第二篇") && at("第二篇") < at("第一篇"));
    assert!(ai.contains("陳大文（院長）"), "{ai}");
    assert!(ai.contains("<time datetime=\"2026-11-24T07:00:00+08:00\">2026-11-24</time>"));

    for (path, (bytes, _)) in p.tree("feeds") {
        if path.ends_with(".html") {
            let html = String::from_utf8(bytes).unwrap().to_ascii_lowercase();
            assert!(!html.contains("<script"), "{path} has a script");
        }
    }
}

#[test]
fn a_column_page_lists_the_latest_20_articles_in_the_sites_language() {
    let p = Publication::new();
    for day in 1..=25 {
        p.write(
            &format!("content/city/day-{day:02}.md"),
            article(
                &format!("title = \"第{day}日\"\npublished = 2026-11-{day:02}T07:00:00+08:00"),
                "內文。",
            ),
        );
    }
    p.build();
    let page = p.read("feeds/city/index.html");
    let listed: Vec<String> = start_tags(&page, "a")
        .into_iter()
        .filter_map(|a| a.get("href").cloned())
        .filter(|h| h.starts_with("https://news.example.com/city/"))
        .collect();
    let expected: Vec<String> = (6..=25)
        .rev()
        .map(|d| format!("https://news.example.com/city/day-{d:02}/"))
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(start_tags(&page, "html")[0]["lang"], "zh-Hant-HK");
    // The feed itself keeps its own limit.
    let feed = parse_feed(p.read("feeds/city/atom.xml").as_bytes());
    assert_eq!(feed.entries.len(), 25);
}

#[test]
fn without_a_public_url_no_page_has_a_form() {
    let p = with_pages(false);
    for path in [
        "feeds/ai/index.html",
        "feeds/city/index.html",
        "feeds/index.html",
    ] {
        let html = p.read(path);
        assert!(!html.contains("<form"), "{path}");
        assert!(!html.contains("/subscribe"), "{path}");
        assert!(!html.contains("newsletter"), "{path}");
    }
    // The feeds are still offered.
    let page = p.read("feeds/ai/index.html");
    assert!(page.contains(&self_link(&p, "ai/rss.xml")));
}

#[test]
fn the_index_page_links_every_column_page_and_the_opml() {
    let p = with_pages(true);
    let index = p.read("feeds/index.html");
    let hrefs: Vec<String> = start_tags(&index, "a")
        .into_iter()
        .filter_map(|a| a.get("href").cloned())
        .collect();
    for slug in ["ai", "city"] {
        assert!(
            hrefs.contains(&format!("https://news.example.com/feeds/{slug}/")),
            "{slug}: {hrefs:?}"
        );
        // The page it links is the one written.
        assert!(p.path(&format!("feeds/{slug}/index.html")).is_file());
        for f in ["rss.xml", "atom.xml", "feed.json"] {
            assert!(hrefs.contains(&self_link(&p, &format!("{slug}/{f}"))));
        }
    }
    assert!(hrefs.contains(&"https://news.example.com/feeds/index.opml".to_owned()));
    assert!(hrefs.contains(&"https://news.example.com/newsletter/".to_owned()));
    let alternates: Vec<String> = start_tags(&index, "link")
        .into_iter()
        .filter(|a| a.get("rel").map(String::as_str) == Some("alternate"))
        .map(|a| a["href"].clone())
        .collect();
    assert_eq!(
        alternates,
        [
            self_link(&p, "all/rss.xml"),
            self_link(&p, "all/atom.xml"),
            self_link(&p, "all/feed.json")
        ]
    );
    assert!(index.contains("鑰匙&lt;b&gt;&amp;未來"), "{index}");
    assert!(!index.contains("<b>"), "{index}");
}

#[test]
fn the_index_page_counts_articles_in_the_sites_language() {
    let p = with_pages(false);
    p.run(&["build"]).expect_code(0);
    let zh = p.read("feeds/index.html");
    assert!(
        zh.contains("<span class=\"soft\">· 3 篇文章</span>"),
        "{zh}"
    );
    assert!(
        zh.contains("<span class=\"soft\">· 1 篇文章</span>"),
        "{zh}"
    );
    assert!(!zh.contains("articles</span>"), "{zh}");
    let config = p.read("config.toml").replace(
        "base_url = \"https://news.example.com\"",
        "base_url = \"https://news.example.com\"\nlanguage = \"en\"",
    );
    p.write("config.toml", &config);
    p.run(&["build"]).expect_code(0);
    let en = p.read("feeds/index.html");
    assert!(
        en.contains("<span class=\"soft\">· 3 articles</span>"),
        "{en}"
    );
    assert!(
        en.contains("<span class=\"soft\">· 1 article</span>"),
        "{en}"
    );
    assert!(!en.contains("篇"), "{en}");
}
