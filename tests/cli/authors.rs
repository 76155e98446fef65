//! Author feeds: one set an author, their folders and slugs, their limits
//! and summaries, `authors.opml`, removal when they go, and bylines that
//! every tested feed reader keeps.

use crate::output::{assert_same_tree, files_counted, json_of, self_link, start_tags};
use crate::util::*;
use std::collections::BTreeSet;

pub(crate) const CHAN_FOLDER: &str = "authors/陳大文";
const CHAN_URL: &str = "https://news.example.com/feeds/authors/%E9%99%B3%E5%A4%A7%E6%96%87";

/// Five articles: 陳大文 wrote three (one with Daniel Whitcombe), Daniel
/// two, and one has no byline. The test config gives every author feeds.
fn with_authors(extra_config: &str) -> Publication {
    authors_on(&format!("{CONFIG}{extra_config}"))
}

/// The same articles on the default `feeds.author_min_articles`.
fn with_authors_by_default(extra_config: &str) -> Publication {
    let config = CONFIG.replace("author_min_articles = 1\n", "");
    assert_ne!(config, CONFIG, "the test config sets author_min_articles");
    authors_on(&format!("{config}{extra_config}"))
}

fn authors_on(config: &str) -> Publication {
    let p = Publication::with_config(config);
    for (path, title, day, authors) in [
        (
            "ai/a1",
            "甲一",
            "2026-11-20",
            r#"[{ name = "陳大文", role = "院長" }]"#,
        ),
        (
            "ai/a2",
            "甲二",
            "2026-11-22",
            r#"["陳大文", "Daniel Whitcombe"]"#,
        ),
        ("city/c1", "乙一", "2026-11-24", r#"["陳大文"]"#),
        ("city/c2", "乙二", "2026-11-25", r#"["Daniel Whitcombe"]"#),
        ("city/c3", "乙三", "2026-11-26", "[]"),
    ] {
        p.write(
            &format!("content/{path}.md"),
            article(
                &format!(
                    "title = \"{title}\"\npublished = {day}T07:00:00+08:00\nauthors = {authors}"
                ),
                "內文。",
            ),
        );
    }
    p
}

fn titles(feed: &feed_rs::model::Feed) -> Vec<String> {
    feed.entries
        .iter()
        .map(|e| e.title.clone().unwrap().content)
        .collect()
}

/// The author folders under feeds/authors/.
fn author_folders(p: &Publication) -> BTreeSet<String> {
    p.tree("feeds")
        .into_keys()
        .filter_map(|k| {
            let rest = k.strip_prefix("authors/")?;
            Some(rest.split('/').next().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn each_author_gets_feeds_of_their_articles_newest_first() {
    let p = with_authors("");
    p.build();
    assert_eq!(
        author_folders(&p),
        BTreeSet::from(["daniel-whitcombe".to_owned(), "陳大文".to_owned()])
    );
    for format in ["rss.xml", "atom.xml", "feed.json"] {
        let chan = parse_feed(p.read(&format!("feeds/{CHAN_FOLDER}/{format}")).as_bytes());
        assert_eq!(
            chan.title.as_ref().unwrap().content,
            "陳大文 | 論壇",
            "{format}"
        );
        assert_eq!(titles(&chan), ["乙一", "甲二", "甲一"], "{format}");
        let daniel = parse_feed(
            p.read(&format!("feeds/authors/daniel-whitcombe/{format}"))
                .as_bytes(),
        );
        assert_eq!(
            daniel.title.as_ref().unwrap().content,
            "Daniel Whitcombe | 論壇",
            "{format}"
        );
        assert_eq!(titles(&daniel), ["乙二", "甲二"], "{format}");
    }
}

#[test]
fn author_feeds_carry_at_most_author_max_items() {
    let p = with_authors("author_max_items = 2\n");
    p.build();
    for format in ["rss.xml", "atom.xml", "feed.json"] {
        let chan = parse_feed(p.read(&format!("feeds/{CHAN_FOLDER}/{format}")).as_bytes());
        assert_eq!(titles(&chan), ["乙一", "甲二"], "{format}");
    }
    // The column feeds keep their own limit.
    let city = parse_feed(p.read("feeds/city/atom.xml").as_bytes());
    assert_eq!(city.entries.len(), 3);
}

#[test]
fn author_feeds_carry_summaries_unless_author_content_is_full() {
    let p = with_authors("");
    p.build();
    let json = json_of(&p.read(&format!("feeds/{CHAN_FOLDER}/feed.json")));
    assert!(json["items"][0].get("content_html").is_none(), "{json}");
    assert_eq!(
        json["items"][0]["content_text"],
        json["items"][0]["summary"]
    );

    p.write(
        "config.toml",
        format!("{CONFIG}author_content = \"full\"\n"),
    );
    p.build();
    let json = json_of(&p.read(&format!("feeds/{CHAN_FOLDER}/feed.json")));
    assert_eq!(json["items"][0]["content_html"], "<p>內文。</p>\n");
}

/// An article only an author feed carries gets its summary without its
/// body being rendered as HTML: the summary must be the one a column feed
/// would show for it.
#[test]
fn an_article_only_an_author_feed_carries_has_the_summary_a_column_feed_gives() {
    let body = "## 小標題\n\n第一段講[政策](/policy/)與**市場**，說明為何要改。第二句繼續解釋背景與影響。\n\
                第三句換行後仍在同一段！第四句：數字是 30% 與 `code`。\n\n\
                - 列表一\n- 列表二\n\n第二段開始，Second paragraph in English, with a \
                [link](https://example.com/x) and more words to pass the limit. 再多一句。\n\n\
                [^1]: 註腳不入摘要。\n";
    let summary_of = |max_items: usize| {
        let p = with_authors(&format!("max_items = {max_items}\nsummary_chars = 60\n"));
        p.write(
            "content/ai/a1.md",
            article(
                "title = \"甲一\"\npublished = 2026-11-20T07:00:00+08:00\nauthors = [\"陳大文\"]",
                body,
            ),
        );
        p.build();
        let in_column = p.read("feeds/ai/feed.json").contains("\"甲一\"");
        let json = json_of(&p.read(&format!("feeds/{CHAN_FOLDER}/feed.json")));
        let item = json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["title"] == "甲一")
            .unwrap()
            .clone();
        (in_column, item["summary"].as_str().unwrap().to_owned())
    };
    let (in_column, with_html) = summary_of(50);
    assert!(in_column);
    let (in_column, summary_alone) = summary_of(1);
    assert!(!in_column, "甲一 should have fallen out of the column feed");
    assert_eq!(summary_alone, with_html);
    assert!(
        summary_alone.starts_with("第一段講政策與市場"),
        "{summary_alone}"
    );
    assert!(!summary_alone.contains("小標題"), "{summary_alone}");
}

#[test]
fn only_published_articles_give_an_author_feeds() {
    let p = with_authors("");
    p.write(
        "content/ai/draft.md",
        article(
            "title = \"草稿\"\npublished = 2026-11-21\ndraft = true\nauthors = [\"草稿作者\"]",
            "未完成。",
        ),
    );
    p.write(
        "content/ai/later.md",
        article(
            "title = \"明年見\"\npublished = 2027-01-15T07:00:00+08:00\nauthors = [\"未來作者\", \"陳大文\"]",
            "將來的文章。",
        ),
    );
    p.build();
    assert_eq!(
        author_folders(&p),
        BTreeSet::from(["daniel-whitcombe".to_owned(), "陳大文".to_owned()])
    );
    let chan = parse_feed(p.read(&format!("feeds/{CHAN_FOLDER}/rss.xml")).as_bytes());
    assert_eq!(titles(&chan), ["乙一", "甲二", "甲一"]);

    // Once it is due, the new author has feeds.
    p.run_at("2027-01-15T07:00:00+08:00", &["build"])
        .expect_code(0);
    assert!(author_folders(&p).contains("未來作者"));
    let chan = parse_feed(p.read(&format!("feeds/{CHAN_FOLDER}/rss.xml")).as_bytes());
    assert_eq!(titles(&chan)[0], "明年見");
}

#[test]
fn a_chinese_name_keeps_its_folder_and_is_percent_encoded_in_links() {
    let p = with_authors("");
    p.build();
    for f in ["rss.xml", "atom.xml", "feed.json"] {
        assert!(p.path(&format!("feeds/{CHAN_FOLDER}/{f}")).is_file());
        assert_eq!(
            self_link(&p, &format!("{CHAN_FOLDER}/{f}")),
            format!("{CHAN_URL}/{f}")
        );
    }
    let atom = parse_feed(p.read(&format!("feeds/{CHAN_FOLDER}/atom.xml")).as_bytes());
    assert_eq!(atom.id, format!("{CHAN_URL}/atom.xml"));
    assert!(p
        .read("feeds/authors.opml")
        .contains(&format!("xmlUrl=\"{CHAN_URL}/rss.xml\"")));
    assert_eq!(
        self_link(&p, "authors/daniel-whitcombe/rss.xml"),
        "https://news.example.com/feeds/authors/daniel-whitcombe/rss.xml"
    );
}

#[test]
fn a_slug_in_the_front_matter_or_in_the_config_replaces_the_derived_one() {
    let p = Publication::with_config(&format!(
        "{CONFIG}\n[authors]\n\"陳大文\" = \"chan-tai-man\"\n\"Daniel Whitcombe\" = \"dw\"\n"
    ));
    p.write(
        "content/ai/a.md",
        article(
            "title = \"甲\"\npublished = 2026-11-20\nauthors = [\"陳大文\"]",
            "內文。",
        ),
    );
    p.write(
        "content/ai/b.md",
        article(
            "title = \"乙\"\npublished = 2026-11-21\nauthors = [{ name = \"李小明\", slug = \"lee-siu-ming\" }]",
            "內文。",
        ),
    );
    // The front matter wins over the config.
    p.write(
        "content/city/c.md",
        article(
            "title = \"丙\"\npublished = 2026-11-22\nauthors = [{ name = \"Daniel Whitcombe\", role = \"Editor\", slug = \"daniel\" }]",
            "內文。",
        ),
    );
    p.build();
    assert_eq!(
        author_folders(&p),
        BTreeSet::from([
            "chan-tai-man".to_owned(),
            "daniel".to_owned(),
            "lee-siu-ming".to_owned()
        ])
    );
    let chan = parse_feed(p.read("feeds/authors/chan-tai-man/atom.xml").as_bytes());
    assert_eq!(chan.title.as_ref().unwrap().content, "陳大文 | 論壇");
    assert_eq!(titles(&chan), ["甲"]);
    assert_eq!(
        self_link(&p, "authors/lee-siu-ming/feed.json"),
        "https://news.example.com/feeds/authors/lee-siu-ming/feed.json"
    );
    let daniel = parse_feed(p.read("feeds/authors/daniel/rss.xml").as_bytes());
    assert_eq!(titles(&daniel), ["丙"]);
}

#[test]
fn an_invalid_author_slug_exits_2_naming_the_field_and_writes_nothing() {
    let p = with_authors("");
    p.build();
    let before = p.tree("feeds");

    p.write(
        "content/ai/bad.md",
        article(
            "title = \"壞\"\npublished = 2026-11-21\nauthors = [{ name = \"陳大文\", slug = \"chan tai/man\" }]",
            "內文。",
        ),
    );
    let run = p.run(&["build"]).expect_code(2);
    assert!(
        run.stderr
            .contains("content/ai/bad.md:4: authors: author 1: expected a slug"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("chan tai/man"), "{}", run.stderr);
    assert_same_tree(&before, &p.tree("feeds"));
    std::fs::remove_file(p.path("content/ai/bad.md")).unwrap();

    p.write(
        "config.toml",
        format!("{CONFIG}\n[authors]\n\"陳大文\" = \"../陳\"\n"),
    );
    let run = p.run(&["build"]).expect_code(2);
    assert!(run.stderr.contains("authors.\"陳大文\""), "{}", run.stderr);
    assert!(run.stderr.contains("../陳"), "{}", run.stderr);
    assert_same_tree(&before, &p.tree("feeds"));
}

/// The `xmlUrl` of every outline in an OPML file, in order.
fn xml_urls(opml: &str) -> Vec<String> {
    start_tags(opml, "outline")
        .into_iter()
        .filter_map(|o| o.get("xmlurl").cloned())
        .collect()
}

/// What the W3C feed validator reports on an OPML file, as its
/// `src/feedvalidator/opml.py` (w3c/feedvalidator) decides it: `<head>`
/// holds only the elements it defines (`<docs>` is not one: an error), and
/// an outline with any of `description htmlUrl language title version
/// xmlUrl` but no `type` is a warning, as is a `type` other than `rss` or
/// `link`.
#[track_caller]
pub(crate) fn assert_opml_validates(name: &str, opml: &str) {
    const HEAD: &[&str] = &[
        "title",
        "dateCreated",
        "dateModified",
        "ownerName",
        "ownerEmail",
        "ownerId",
        "expansionState",
        "vertScrollState",
        "windowTop",
        "windowLeft",
        "windowBottom",
        "windowRight",
    ];
    let head = &opml[opml.find("<head>").unwrap() + 6..opml.find("</head>").unwrap()];
    for tag in head.split('<').skip(1).filter(|t| !t.starts_with('/')) {
        let element = tag
            .split(|c: char| c == '>' || c.is_whitespace())
            .next()
            .unwrap();
        assert!(
            HEAD.contains(&element),
            "{name}: <{element}> in <head>:\n{opml}"
        );
    }
    let outlines = start_tags(opml, "outline");
    assert!(!outlines.is_empty(), "{name}: a body with no outline");
    for o in outlines {
        assert!(
            o.contains_key("text"),
            "{name}: an outline without text: {o:?}"
        );
        match o.get("type").map(String::as_str) {
            Some("rss") => {
                assert!(
                    o.contains_key("xmlurl") && o.contains_key("title"),
                    "{name}: {o:?}"
                )
            }
            Some(other) => panic!("{name}: outline type {other:?}"),
            None => assert_eq!(o.len(), 1, "{name}: an outline with no type: {o:?}"),
        }
    }
}

#[test]
fn index_opml_lists_all_and_the_columns_and_authors_opml_the_authors() {
    let p = with_authors("");
    p.build();
    let index = p.read("feeds/index.opml");
    let authors = p.read("feeds/authors.opml");
    assert_eq!(
        xml_urls(&index),
        [
            "https://news.example.com/feeds/all/rss.xml",
            "https://news.example.com/feeds/ai/rss.xml",
            "https://news.example.com/feeds/city/rss.xml"
        ]
    );
    assert_eq!(
        xml_urls(&authors),
        [
            "https://news.example.com/feeds/authors/daniel-whitcombe/rss.xml".to_owned(),
            format!("{CHAN_URL}/rss.xml"),
        ]
    );
    assert_opml_validates("index.opml", &index);
    assert_opml_validates("authors.opml", &authors);
    // The index page links both lists.
    let page = p.read("feeds/index.html");
    let hrefs: Vec<String> = start_tags(&page, "a")
        .into_iter()
        .filter_map(|a| a.get("href").cloned())
        .collect();
    for list in ["index.opml", "authors.opml"] {
        let url = format!("https://news.example.com/feeds/{list}");
        assert!(hrefs.contains(&url), "{url} in {hrefs:?}");
    }
}

/// Each outline's `(title, description)`, in order.
fn outline_texts(opml: &str) -> Vec<(String, String)> {
    start_tags(opml, "outline")
        .into_iter()
        .map(|o| (o["title"].clone(), o["description"].clone()))
        .collect()
}

#[test]
fn the_all_feed_is_titled_apart_from_the_list_and_a_latin_name_is_spaced_from_chinese() {
    let p = with_authors("");
    p.build();
    let index = outline_texts(&p.read("feeds/index.opml"));
    assert_eq!(index[0].0, "論壇・全部欄目", "{index:?}");
    assert!(p.read("feeds/index.opml").contains("<title>論壇</title>"));
    let authors = outline_texts(&p.read("feeds/authors.opml"));
    assert_eq!(
        authors.iter().map(|a| a.1.as_str()).collect::<Vec<_>>(),
        [
            "Daniel Whitcombe 在《論壇》的文章",
            "陳大文在《論壇》的文章"
        ]
    );

    let en = Publication::with_config(&CONFIG.replace(
        "base_url = \"https://news.example.com\"",
        "base_url = \"https://news.example.com\"\nlanguage = \"en\"",
    ));
    en.write(
        "content/ai/a.md",
        article("title = \"A\"\npublished = 2026-11-20", "Body."),
    );
    en.build();
    let index = outline_texts(&en.read("feeds/index.opml"));
    assert_eq!(index[0].0, "論壇 — all columns", "{index:?}");
}

/// gofeed's name rule (mmcdole/gofeed, `internal/shared/parseutils.go`,
/// `ParseNameAddress`), which its RSS translator applies to `dc:creator`
/// and its JSON translator to `authors[].name`: the four regular
/// expressions it tries in turn, copied as written there. What it returns
/// as the name; `""` is a name it has blanked.
fn gofeed_name(text: &str) -> String {
    use regex::Regex;
    let email_name = Regex::new(r"^([^@]+@[^\s]+)\s+\(([^@]+)\)$").unwrap();
    let name_email = Regex::new(r"^([^@]+)\s+\(([^@]+@[^)]+)\)$").unwrap();
    let name_only = Regex::new(r"^([^@()]+)$").unwrap();
    if let Some(c) = email_name.captures(text) {
        return c[2].to_owned();
    }
    if let Some(c) = name_email.captures(text) {
        return c[1].to_owned();
    }
    if let Some(c) = name_only.captures(text) {
        return c[1].to_owned();
    }
    // emailOnlyRgx gives an address and no name; so does anything else.
    String::new()
}

#[test]
fn the_gofeed_rule_blanks_a_name_with_parentheses_as_gofeed_does() {
    assert_eq!(gofeed_name("Jane Doe (Director)"), "");
    assert_eq!(gofeed_name("jane@example.com (Jane Doe)"), "Jane Doe");
    assert_eq!(gofeed_name("趙汝恒（創新科技署署長(研究及創新)）"), "");
    assert_eq!(gofeed_name("陳大文（院長）"), "陳大文（院長）");
    assert_eq!(gofeed_name("Jane @ Home"), "");
}

#[test]
fn every_byline_in_rss_and_json_feed_survives_gofeeds_name_rule() {
    let p = Publication::new();
    p.write(
        "content/ai/roles.md",
        article(
            r#"
title = "Roles"
published = 2026-11-20T07:00:00+08:00
authors = [
  { name = "Jane Doe", role = "Director" },
  { name = "趙汝恒", role = "創新科技署署長(研究及創新)" },
  { name = "Sam (Sammy) Lee", role = "Editor @ Large" },
  "陳大文",
]
"#,
            "內文。",
        ),
    );
    p.build();
    let rss = parse_feed(p.read("feeds/ai/rss.xml").as_bytes());
    let json = json_of(&p.read("feeds/ai/feed.json"));
    let from_rss: Vec<String> = rss.entries[0]
        .authors
        .iter()
        .map(|a| a.name.clone())
        .collect();
    let from_json: Vec<String> = json["items"][0]["authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    let want = [
        "Jane Doe, Director",
        "趙汝恒（創新科技署署長（研究及創新））",
        "Sam （Sammy） Lee, Editor ＠ Large",
        "陳大文",
    ];
    for (format, names) in [("rss.xml", from_rss), ("feed.json", from_json)] {
        assert_eq!(names, want, "{format}");
        for name in &names {
            assert_eq!(&gofeed_name(name), name, "{format}: gofeed blanks {name:?}");
        }
    }
    // gofeed takes an Atom author's name as written, so Atom keeps the
    // byline as pages print it.
    let atom = parse_feed(p.read("feeds/ai/atom.xml").as_bytes());
    let names: Vec<&str> = atom.entries[0]
        .authors
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Jane Doe (Director)",
            "趙汝恒（創新科技署署長(研究及創新)）",
            "Sam (Sammy) Lee (Editor @ Large)",
            "陳大文"
        ]
    );
}

#[test]
fn an_author_whose_articles_are_gone_loses_their_feeds() {
    let p = with_authors("");
    p.build();
    std::fs::remove_file(p.path("content/ai/a2.md")).unwrap();
    std::fs::remove_file(p.path("content/city/c2.md")).unwrap();
    let run = p.build();
    assert_eq!(files_counted(&run.stdout).removed, 3, "{}", run.stdout);
    assert!(!p.path("feeds/authors/daniel-whitcombe").exists());
    assert_eq!(author_folders(&p), BTreeSet::from(["陳大文".to_owned()]));
    assert!(!p.read("feeds/authors.opml").contains("daniel-whitcombe"));
}

#[test]
fn author_feeds_off_writes_none_and_removes_those_written() {
    let p = with_authors("author_feeds = false\n");
    p.build();
    assert!(!p.path("feeds/authors").exists());
    assert!(!p.path("feeds/authors.opml").exists());

    // Turned off after a build, they go.
    let p = with_authors("");
    p.build();
    assert_eq!(author_folders(&p).len(), 2);
    p.write("config.toml", format!("{CONFIG}author_feeds = false\n"));
    let run = p.build();
    // Two authors' three feeds, and the list of them.
    assert_eq!(files_counted(&run.stdout).removed, 7, "{}", run.stdout);
    assert!(!p.path("feeds/authors").exists());
    assert!(!p.path("feeds/authors.opml").exists());
}

/// A guest's op-ed by 客座作者, who has written nothing else.
fn guest_article(p: &Publication, path: &str, title: &str, day: &str) {
    p.write(
        &format!("content/{path}.md"),
        article(
            &format!(
                "title = \"{title}\"\npublished = {day}T07:00:00+08:00\nauthors = [{{ name = \"客座作者\", role = \"某大學講師\" }}]"
            ),
            "客座文章。",
        ),
    );
}

#[test]
fn a_guest_who_wrote_once_gets_no_feed_until_they_write_again() {
    let p = with_authors_by_default("");
    guest_article(&p, "ai/guest1", "客座一", "2026-11-23");
    p.build();
    // The regulars (three and two articles) have feeds; the guest has none,
    // and is not in the list of authors' feeds, though the article is in
    // its column's feed.
    assert_eq!(
        author_folders(&p),
        BTreeSet::from(["daniel-whitcombe".to_owned(), "陳大文".to_owned()])
    );
    assert!(!p.path("feeds/authors/客座作者").exists());
    let opml = p.read("feeds/authors.opml");
    assert!(!opml.contains("客座作者"), "{opml}");
    assert_eq!(xml_urls(&opml).len(), 2, "{opml}");
    assert!(titles(&parse_feed(p.read("feeds/ai/rss.xml").as_bytes())).contains(&"客座一".into()));

    // A second op-ed reaches the threshold: both articles are in the feed.
    guest_article(&p, "city/guest2", "客座二", "2026-11-26");
    p.build();
    assert!(author_folders(&p).contains("客座作者"));
    for format in ["rss.xml", "atom.xml", "feed.json"] {
        let guest = parse_feed(
            p.read(&format!("feeds/authors/客座作者/{format}"))
                .as_bytes(),
        );
        assert_eq!(titles(&guest), ["客座二", "客座一"], "{format}");
    }
    let opml = p.read("feeds/authors.opml");
    assert!(
        opml.contains("xmlUrl=\"https://news.example.com/feeds/authors/%E5%AE%A2%E5%BA%A7%E4%BD%9C%E8%80%85/rss.xml\""),
        "{opml}"
    );
    assert_opml_validates("authors.opml", &opml);
}

#[test]
fn author_min_articles_1_gives_every_author_feeds() {
    let p = with_authors_by_default("author_min_articles = 1\n");
    guest_article(&p, "ai/guest1", "客座一", "2026-11-23");
    p.build();
    assert_eq!(
        author_folders(&p),
        BTreeSet::from([
            "daniel-whitcombe".to_owned(),
            "客座作者".to_owned(),
            "陳大文".to_owned()
        ])
    );
    let guest = parse_feed(p.read("feeds/authors/客座作者/atom.xml").as_bytes());
    assert_eq!(titles(&guest), ["客座一"]);
    assert_eq!(xml_urls(&p.read("feeds/authors.opml")).len(), 3);
}

#[test]
fn raising_author_min_articles_removes_the_feeds_of_those_below_it() {
    let p = with_authors_by_default("");
    p.build();
    assert_eq!(author_folders(&p).len(), 2);
    // 陳大文 wrote three articles, Daniel Whitcombe two; an article with
    // both counts for each.
    let config = CONFIG.replace("author_min_articles = 1\n", "");
    p.write("config.toml", format!("{config}author_min_articles = 3\n"));
    let run = p.build();
    assert_eq!(files_counted(&run.stdout).removed, 3, "{}", run.stdout);
    assert_eq!(author_folders(&p), BTreeSet::from(["陳大文".to_owned()]));
    assert_eq!(
        xml_urls(&p.read("feeds/authors.opml")),
        [format!("{CHAN_URL}/rss.xml")]
    );
    // With nobody at the threshold there is no list at all, as with author
    // feeds off.
    p.write("config.toml", format!("{config}author_min_articles = 4\n"));
    p.build();
    assert!(!p.path("feeds/authors").exists());
    assert!(!p.path("feeds/authors.opml").exists());
}

#[test]
fn an_author_min_articles_out_of_its_range_exits_2_naming_the_key() {
    for value in ["0", "1001", "-1"] {
        let p = with_authors_by_default(&format!("author_min_articles = {value}\n"));
        let run = p.run(&["build"]).expect_code(2);
        assert!(
            run.stderr.contains(&format!(
                "feeds.author_min_articles: expected a whole number from 1 to 1000, found {value}"
            )),
            "{}",
            run.stderr
        );
        assert!(!p.path("feeds").exists());
    }
}
