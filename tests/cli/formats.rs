//! Content as Hugo, Zola and Jekyll write it: YAML or TOML front matter,
//! their names for our fields, dates in file names, section files; every
//! feed read back with feed-rs and compared field by field. Then the YAML
//! a build refuses, each error named by file and line, nothing written.

use crate::output::{assert_same_tree, instant};
use crate::util::*;

/// Two columns in Hong Kong time: dates without an offset are read there.
const CONFIG_HK: &str = r#"
[site]
title = "論壇"
base_url = "https://news.example.com"
timezone = "Asia/Hong_Kong"

[[columns]]
slug = "ai"
title = "鑰匙與未來"
description = "編者按：人工智能與創科的路向。"

[[columns]]
slug = "city"
title = "城市筆記"
description = "編者按：城市生活。"

[feeds]
id_authority = "news.example.com"
"#;

const FORMATS: [&str; 3] = ["rss.xml", "atom.xml", "feed.json"];

/// One item as every format must give it.
struct Want<'a> {
    id: &'a str,
    title: &'a str,
    link: &'a str,
    published: &'a str,
    /// Atom and JSON Feed only: RSS has no element for it.
    updated: Option<&'a str>,
    authors: &'a [&'a str],
    tags: &'a [&'a str],
    summary: &'a str,
}

/// Reads the column's feed in every format and compares each item, in
/// order, field by field.
#[track_caller]
fn assert_items(p: &Publication, column: &str, want: &[Want<'_>]) {
    for format in FORMATS {
        let feed = parse_feed(p.read(&format!("feeds/{column}/{format}")).as_bytes());
        let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
        let want_ids: Vec<&str> = want.iter().map(|w| w.id).collect();
        assert_eq!(ids, want_ids, "{column}/{format}");
        for (e, w) in feed.entries.iter().zip(want) {
            let at = format!("{column}/{format} {}", w.id);
            assert_eq!(e.title.as_ref().unwrap().content, w.title, "{at}");
            assert_eq!(e.links[0].href, w.link, "{at}");
            assert_eq!(e.published, Some(instant(w.published)), "{at}");
            // Atom always has `updated`; JSON Feed's `date_modified` is
            // there when the article was changed.
            match format {
                "atom.xml" => assert_eq!(
                    e.updated,
                    Some(instant(w.updated.unwrap_or(w.published))),
                    "{at}"
                ),
                "feed.json" => assert_eq!(e.updated, w.updated.map(instant), "{at}"),
                _ => {}
            }
            let authors: Vec<&str> = e.authors.iter().map(|a| a.name.as_str()).collect();
            // JSON Feed names the publication for an item without a byline.
            let no_byline: &[&str] = if format == "feed.json" {
                &["論壇"]
            } else {
                &[]
            };
            let want_authors = if w.authors.is_empty() {
                no_byline
            } else {
                w.authors
            };
            assert_eq!(authors, want_authors, "{at}");
            let tags: Vec<&str> = e.categories.iter().map(|c| c.term.as_str()).collect();
            assert_eq!(tags, w.tags, "{at}");
            assert_eq!(e.summary.as_ref().unwrap().content, w.summary, "{at}");
        }
    }
}

/// The warning lines of stderr that name front-matter keys.
fn unused_key_warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("front-matter key"))
        .collect()
}

#[test]
fn a_jekyll_posts_folder_is_read_with_its_file_name_dates() {
    let p = Publication::with_config(CONFIG_HK);
    p.write(
        "content/ai/_posts/2026-11-20-compute-power.markdown",
        "---\nlayout: post\ntitle: \"算力擴容\"\nauthor: 陳大文\ncategory: 科技\ntags: [算力, 人工智能]\n---\n\n算力是新時代的基建。\n",
    );
    p.write(
        "content/ai/_posts/2026-11-21-with-time.md",
        "---\nlayout: post\ntitle: Jekyll time\ndate: \"2026-11-21 02:12:52 +0200\"\ncategories: news tech\ncomments: true\n---\n\nA time with an offset.\n",
    );
    p.write(
        "content/ai/_posts/2026-11-22-not-yet.markdown",
        "---\ntitle: Held back\npublished: false\n---\n\nNot out.\n",
    );
    // Neither Markdown nor an article: left alone; nor is a draft, which
    // has no date to read.
    p.write(
        "content/ai/_layouts/post.html",
        "<html>{{ content }}</html>",
    );
    p.write(
        "content/ai/_drafts/undated.md",
        "---\ntitle: Draft\n---\n\nSoon.\n",
    );
    let run = p.build();
    assert_items(
        &p,
        "ai",
        &[
            Want {
                id: "tag:news.example.com,2026-11-21:ai/with-time",
                title: "Jekyll time",
                link: "https://news.example.com/ai/with-time/",
                published: "2026-11-21T08:12:52+08:00",
                updated: None,
                authors: &[],
                tags: &["news", "tech"],
                summary: "A time with an offset.",
            },
            Want {
                id: "tag:news.example.com,2026-11-20:ai/compute-power",
                title: "算力擴容",
                link: "https://news.example.com/ai/compute-power/",
                published: "2026-11-20T00:00:00+08:00",
                updated: None,
                authors: &["陳大文"],
                tags: &["算力", "人工智能", "科技"],
                summary: "算力是新時代的基建。",
            },
        ],
    );
    // Keys we do not use: each named once, with the files that have it.
    let warnings = unused_key_warnings(&run.stderr);
    assert_eq!(warnings.len(), 2, "{}", run.stderr);
    assert!(
        warnings[0].ends_with(
            "front-matter key `comments` is not used and is left out of the feeds (1 file)"
        ),
        "{warnings:?}"
    );
    assert!(
        warnings[1].ends_with(
            "front-matter key `layout` is not used and is left out of the feeds (2 files)"
        ),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().all(|w| w.starts_with("warning: ")),
        "{warnings:?}"
    );
}

#[test]
fn a_hugo_content_folder_in_yaml_is_read_with_schedules_and_expiry() {
    let p = Publication::with_config(CONFIG_HK);
    p.write(
        "content/city/_index.md",
        "---\ntitle: 城市\ndescription: A section, not an article\n---\n",
    );
    p.write(
        "content/city/tram.md",
        r#"---
title: "電車慢活"
date: 2026-11-20T08:00:00+08:00
lastmod: 2026-11-22T09:30:00+08:00
description: "電車是城市的節奏。"
categories: ["城市"]
tags: ["交通"]
authors: ["李小明"]
weight: 10
draft: false
---

The body's lead is not the summary: description is.
"#,
    );
    p.write(
        "content/city/scheduled.md",
        "---\ntitle: Later\ndate: 2026-11-01T08:00:00+08:00\npublishDate: 2026-12-01T08:00:00+08:00\n---\n\nLater.\n",
    );
    p.write(
        "content/city/expired.md",
        "---\ntitle: Gone\ndate: 2026-11-02T08:00:00+08:00\nexpiryDate: 2026-11-25T00:00:00+08:00\n---\n\nGone.\n",
    );
    p.write(
        "content/city/expiring.md",
        "---\ntitle: Still here\ndate: 2026-11-03\nexpiryDate: 2026-12-31\nweight: 2\n---\n\nStill here.\n",
    );
    let run = p.build();
    let tram = Want {
        id: "tag:news.example.com,2026-11-20:city/tram",
        title: "電車慢活",
        link: "https://news.example.com/city/tram/",
        published: "2026-11-20T08:00:00+08:00",
        updated: Some("2026-11-22T09:30:00+08:00"),
        authors: &["李小明"],
        tags: &["交通", "城市"],
        summary: "電車是城市的節奏。",
    };
    let expiring = Want {
        id: "tag:news.example.com,2026-11-03:city/expiring",
        title: "Still here",
        link: "https://news.example.com/city/expiring/",
        published: "2026-11-03T00:00:00+08:00",
        updated: None,
        authors: &[],
        tags: &[],
        summary: "Still here.",
    };
    assert_items(&p, "city", &[tram, expiring]);
    let warnings = unused_key_warnings(&run.stderr);
    assert_eq!(warnings.len(), 1, "{}", run.stderr);
    assert!(warnings[0].ends_with("`weight` is not used and is left out of the feeds (2 files)"));

    // After its publishDate the scheduled one is out; after its expiryDate
    // the other is gone.
    p.run_at("2026-12-31T12:00:00+08:00", &["build"])
        .expect_code(0);
    let feed = parse_feed(p.read("feeds/city/atom.xml").as_bytes());
    let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "tag:news.example.com,2026-12-01:city/scheduled",
            "tag:news.example.com,2026-11-20:city/tram",
        ]
    );
    assert_eq!(
        feed.entries[0].published,
        Some(instant("2026-12-01T08:00:00+08:00"))
    );
}

#[test]
fn a_zola_folder_is_read_with_taxonomies_and_dated_names() {
    let p = Publication::with_config(CONFIG_HK);
    p.write(
        "content/ai/_index.md",
        "+++\ntitle = \"AI\"\nsort_by = \"date\"\n+++\n",
    );
    p.write(
        "content/ai/2016-10-08_first-post.md",
        r#"+++
title = "First"
description = "Zola summary"

[taxonomies]
tags = ["rust", "zola"]
categories = ["tech"]
series = ["intro"]
+++

The body.
"#,
    );
    p.write(
        "content/ai/second.md",
        r#"+++
title = "Second"
date = 2026-11-25
updated = 2026-11-26T10:00:00+08:00
authors = ["陳大文"]
template = "page.html"

[extra]
hero = "x.png"
+++

Second body.
"#,
    );
    // Named with a date but dated inside, as broadsheet's own TOML files
    // may be: the slug stays the whole name, as before.
    p.write(
        "content/ai/2026-11-01-kept.md",
        "+++\ntitle = \"Kept\"\npublished = 2026-11-01T08:00:00+08:00\n+++\n\nKept.\n",
    );
    let run = p.build();
    assert_items(
        &p,
        "ai",
        &[
            Want {
                id: "tag:news.example.com,2026-11-25:ai/second",
                title: "Second",
                link: "https://news.example.com/ai/second/",
                published: "2026-11-25T00:00:00+08:00",
                updated: Some("2026-11-26T10:00:00+08:00"),
                authors: &["陳大文"],
                tags: &[],
                summary: "Second body.",
            },
            Want {
                id: "tag:news.example.com,2026-11-01:ai/2026-11-01-kept",
                title: "Kept",
                link: "https://news.example.com/ai/2026-11-01-kept/",
                published: "2026-11-01T08:00:00+08:00",
                updated: None,
                authors: &[],
                tags: &[],
                summary: "Kept.",
            },
            Want {
                id: "tag:news.example.com,2016-10-08:ai/first-post",
                title: "First",
                link: "https://news.example.com/ai/first-post/",
                published: "2016-10-08T00:00:00+08:00",
                updated: None,
                authors: &[],
                tags: &["rust", "zola", "tech"],
                summary: "Zola summary",
            },
        ],
    );
    let warnings = unused_key_warnings(&run.stderr);
    assert_eq!(warnings.len(), 2, "{}", run.stderr);
    assert!(warnings[0].contains("`taxonomies.series`"), "{warnings:?}");
    assert!(warnings[1].contains("`template`"), "{warnings:?}");
}

/// A publication built once from good YAML, so a refused build has feeds
/// to leave alone.
fn built() -> Publication {
    let p = Publication::with_config(CONFIG_HK);
    p.write(
        "content/ai/good.md",
        "---\ntitle: Good\ndate: 2026-11-01T08:00:00+08:00\n---\n\nGood.\n",
    );
    p.build();
    p
}

/// Writes `content/ai/x.md`, builds, expects exit 2 and feeds/ as they
/// were; returns the error lines without `error: `.
#[track_caller]
fn refused(text: &str) -> Vec<String> {
    let p = built();
    p.write("content/ai/x.md", text);
    let before = p.tree("feeds");
    let run = p.run(&["build"]).expect_code(2);
    assert_same_tree(&before, &p.tree("feeds"));
    let lines: Vec<String> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        lines.last().map(String::as_str),
        Some("nothing was written"),
        "{}",
        run.stderr
    );
    lines
}

#[test]
fn a_tab_in_yaml_indentation_is_refused_with_its_line() {
    let lines = refused("---\ntitle: Tabs\ndate: 2026-11-01\ntags:\n\t- a\n---\n\nBody.\n");
    assert!(
        lines[0].starts_with("content/ai/x.md:5: invalid YAML: ")
            && lines[0].ends_with("; indent YAML with spaces, not tabs"),
        "{lines:?}"
    );
}

#[test]
fn a_yaml_key_given_twice_is_refused_naming_both_lines() {
    let lines = refused("---\ntitle: One\ndate: 2026-11-01\ntitle: Two\n---\n\nBody.\n");
    assert_eq!(
        lines[0],
        "content/ai/x.md:4: title: `title` is given twice, first on line 2; expected each key once"
    );
}

#[test]
fn a_billion_laughs_alias_bomb_is_refused_at_its_first_anchor() {
    let mut text = String::from("---\ntitle: Laughs\ndate: 2026-11-01\na: &a [\"lol\"]\n");
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        text.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    text.push_str("---\n\nBody.\n");
    let lines = refused(&text);
    assert_eq!(
        lines[0],
        "content/ai/x.md:4: anchors (&name) and aliases (*name) are not accepted in front matter; write the value out"
    );
}

#[test]
fn yaml_nested_ten_thousand_deep_is_refused_at_the_bound() {
    for nested in [
        format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!("{}1{}", "{a: ".repeat(10_000), "}".repeat(10_000)),
    ] {
        let lines = refused(&format!(
            "---\ntitle: Deep\ndate: 2026-11-01\nx: {nested}\n---\n\nBody.\n"
        ));
        assert_eq!(
            lines[0],
            "content/ai/x.md:4: the YAML nests deeper than 16 levels; front matter is a few `key: value` lines"
        );
    }
}

#[test]
fn a_yaml_date_that_is_not_a_date_names_its_key() {
    let lines = refused("---\ntitle: When\ndate: next tuesday\n---\n\nBody.\n");
    assert_eq!(
        lines[0],
        "content/ai/x.md:3: date: expected an RFC 3339 date such as 2026-06-12T07:00:00+08:00, a local date-time or a date, found \"next tuesday\""
    );
}

#[test]
fn both_date_and_published_are_refused_naming_both() {
    let lines =
        refused("---\ntitle: Twice\npublished: 2026-11-01\ndate: 2026-11-02\n---\n\nBody.\n");
    assert_eq!(
        lines[0],
        "content/ai/x.md:4: date: both `published` and `date` give the publication date; expected one of them"
    );
}

#[test]
fn a_file_mixing_yaml_and_toml_delimiters_is_refused() {
    let lines = refused("---\ntitle: Mixed\ndate: 2026-11-01\n+++\n\nBody.\n");
    assert_eq!(
        lines[0],
        "content/ai/x.md:4: the front matter opened with --- (YAML) on line 1 meets a +++ line on line 4; expected it closed as it was opened: --- lines around YAML, +++ lines around TOML"
    );
    let lines = refused("+++\ntitle = \"Mixed\"\npublished = 2026-11-01\n---\n\nBody.\n");
    assert_eq!(
        lines[0],
        "content/ai/x.md:4: the front matter opened with +++ (TOML) on line 1 meets a --- line on line 4; expected it closed as it was opened: --- lines around YAML, +++ lines around TOML"
    );
}

#[test]
fn a_misspelt_yaml_key_is_refused_and_the_key_meant_is_suggested() {
    let lines = refused("---\ntitle: Typo\npublised: 2026-11-01\ndate: 2026-11-01\n---\n\nBody.\n");
    assert!(
        lines[0].starts_with(
            "content/ai/x.md:3: publised: unknown field `publised`; did you mean `published`? (expected one of `title`,"
        ),
        "{lines:?}"
    );
}

#[test]
fn a_toml_key_far_from_ours_is_a_warning_not_an_error() {
    let p = Publication::with_config(CONFIG_HK);
    p.write(
        "content/ai/x.md",
        article(
            "title = \"Hugo TOML\"\npublished = 2026-11-01T08:00:00+08:00\nweight = 3\naliases = [\"/old/\"]",
            "Body.",
        ),
    );
    let run = p.build();
    let warnings = unused_key_warnings(&run.stderr);
    assert_eq!(warnings.len(), 2, "{}", run.stderr);
    assert!(warnings[0].contains("`aliases`") && warnings[1].contains("`weight`"));
    let feed = parse_feed(p.read("feeds/ai/atom.xml").as_bytes());
    assert_eq!(feed.entries.len(), 1);
    assert!(!p.read("feeds/ai/atom.xml").contains("/old/"));
}

#[test]
fn hugo_keys_in_any_case_are_ours_and_one_key_twice_is_refused() {
    let p = Publication::with_config(CONFIG_HK);
    p.write(
        "content/city/caps.md",
        "---\nTitle: Capitals\nPublishDate: 2026-11-20\nTags: [a]\n---\n\nBody.\n",
    );
    p.build();
    let feed = parse_feed(p.read("feeds/city/atom.xml").as_bytes());
    let e = &feed.entries[0];
    assert_eq!(e.title.as_ref().unwrap().content, "Capitals");
    assert_eq!(e.published, Some(instant("2026-11-20T00:00:00+08:00")));
    assert_eq!(e.categories[0].term, "a");

    let lines = refused("---\ntitle: One\nTitle: Two\ndate: 2026-11-01\n---\n\nBody.\n");
    assert_eq!(
        lines[0],
        "content/ai/x.md:3: Title: `Title` is `title` again, first on line 2; expected each key once"
    );
}

#[test]
fn a_build_after_an_expiry_drops_the_article_though_no_file_changed() {
    let p = Publication::with_config(CONFIG_HK);
    p.write(
        "content/city/stays.md",
        "---\ntitle: Stays\ndate: 2026-11-01\n---\n\nStays.\n",
    );
    p.write(
        "content/city/offer.md",
        "---\ntitle: Offer\ndate: 2026-11-02\nexpiryDate: 2026-11-28T09:00:00+08:00\n---\n\nUntil Saturday.\n",
    );
    p.build();
    let ids = |p: &Publication| -> Vec<String> {
        parse_feed(p.read("feeds/city/atom.xml").as_bytes())
            .entries
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    let offer = "tag:news.example.com,2026-11-02:city/offer";
    let stays = "tag:news.example.com,2026-11-01:city/stays";
    assert_eq!(ids(&p), [offer, stays]);
    // Nothing changed on disk; the clock passed the expiry.
    p.run_at("2026-11-28T09:00:00+08:00", &["build"])
        .expect_code(0);
    assert_eq!(ids(&p), [stays]);
}

#[test]
fn a_yaml_value_of_the_wrong_type_names_its_key_and_line() {
    let lines = refused("---\ntitle: [a, b]\ndate: 2026-11-01\ndraft: yes\n---\n\nBody.\n");
    assert_eq!(
        lines[..2],
        [
            "content/ai/x.md:2: title: expected a string, found a list",
            "content/ai/x.md:4: draft: expected true or false, found a string",
        ]
    );
}

#[test]
fn a_section_index_names_a_column_the_config_leaves_untitled() {
    let p = Publication::with_config(&CONFIG_HK.replace(
        "title = \"鑰匙與未來\"\ndescription = \"編者按：人工智能與創科的路向。\"\n",
        "",
    ));
    p.write(
        "content/ai/_index.md",
        "+++\ntitle = \"科技前沿\"\ndescription = \"編者按：從 Zola 來的欄目。\"\nsort_by = \"date\"\n+++\n",
    );
    p.write(
        "content/city/_index.md",
        "---\ntitle: Not used\ndescription: The config's own title wins\n---\n",
    );
    p.write(
        "content/ai/a.md",
        "---\ntitle: A\ndate: 2026-11-01\n---\n\nA.\n",
    );
    p.build();
    for format in FORMATS {
        let feed = parse_feed(p.read(&format!("feeds/ai/{format}")).as_bytes());
        assert_eq!(feed.title.unwrap().content, "科技前沿 | 論壇", "{format}");
        assert_eq!(
            feed.description.unwrap().content,
            "編者按：從 Zola 來的欄目。",
            "{format}"
        );
        let city = parse_feed(p.read(&format!("feeds/city/{format}")).as_bytes());
        assert_eq!(city.title.unwrap().content, "城市筆記 | 論壇", "{format}");
        assert_eq!(
            city.description.unwrap().content,
            "編者按：城市生活。",
            "{format}"
        );
    }
    // A new title in the section file alone reaches the feeds.
    p.write(
        "content/ai/_index.md",
        "+++\ntitle = \"科技新篇\"\ndescription = \"編者按：從 Zola 來的欄目。\"\n+++\n",
    );
    p.build();
    let feed = parse_feed(p.read("feeds/ai/atom.xml").as_bytes());
    assert_eq!(feed.title.unwrap().content, "科技新篇 | 論壇");
    // Without either, the config's check names the key.
    std::fs::remove_file(p.path("content/ai/_index.md")).unwrap();
    let run = p.run(&["build"]).expect_code(2);
    assert!(
        run.stderr.contains("columns[0].title: expected the column's title, found nothing (here, or as the `title` of the column's _index.md)"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_file_name_date_whose_midnight_the_zone_skips_is_an_error_not_a_crash() {
    // Chile moves its clocks from midnight to one on the first Sunday of
    // September: 2026-09-06 has no midnight in Santiago.
    let p = Publication::with_config(&CONFIG_HK.replace("Asia/Hong_Kong", "America/Santiago"));
    p.write(
        "content/ai/2026-09-06-spring.md",
        "---\ntitle: Spring\n---\n\nBody.\n",
    );
    let run = p
        .run_at("2026-11-27T12:00:00-03:00", &["build"])
        .expect_code(2);
    assert!(
        run.stderr.contains(
            "content/ai/2026-09-06-spring.md:2: published: the date in the file name, 2026-09-06, has no midnight in America/Santiago; expected a `published` date-time in the front matter"
        ),
        "{}",
        run.stderr
    );
}
