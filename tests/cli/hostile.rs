//! Hostile content still gives well-formed, safe feeds.

use crate::util::*;
use feed_rs::model::Feed;
use std::collections::BTreeMap;

/// What must never reach a feed reader's HTML.
const FORBIDDEN: &[&str] = &[
    "<script",
    "javascript:",
    "onerror",
    "onclick",
    "onload",
    "<iframe",
];

/// The three feed files written for every column and for all/.
const FORMATS: &[&str] = &["rss.xml", "atom.xml", "feed.json"];

/// Every feed file of a built publication, parsed, once each has been
/// checked: UTF-8, no control characters but `\n`, `\t` and `\r`, parsed by
/// feed-rs (and the JSON by serde_json), and no item HTML that could run
/// script. Keyed by path under feeds/, e.g. `ai/atom.xml`.
#[track_caller]
fn safe_feeds(p: &Publication) -> BTreeMap<String, Feed> {
    let tree = p.tree("feeds");
    for (path, (bytes, _)) in &tree {
        let text =
            std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("feeds/{path} is not UTF-8: {e}"));
        if let Some(c) = text
            .chars()
            .find(|&c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
        {
            panic!("feeds/{path} holds the control character {c:?}");
        }
        assert!(
            !text.contains('\u{feff}'),
            "feeds/{path} holds a byte order mark"
        );
    }
    let mut feeds = BTreeMap::new();
    for dir in ["ai", "city", "all"] {
        for format in FORMATS {
            let path = format!("{dir}/{format}");
            let (bytes, _) = tree
                .get(&path)
                .unwrap_or_else(|| panic!("feeds/{path} was not written"));
            let feed = parse_feed(bytes);
            for entry in &feed.entries {
                if let Some(html) = entry.content.as_ref().and_then(|c| c.body.as_deref()) {
                    assert_no_script(&path, html);
                }
            }
            if *format == "feed.json" {
                let json: serde_json::Value = serde_json::from_slice(bytes)
                    .unwrap_or_else(|e| panic!("feeds/{path} is not JSON: {e}"));
                for item in json["items"].as_array().expect("items") {
                    assert_no_script(&path, item["content_html"].as_str().expect("content_html"));
                }
            }
            feeds.insert(path, feed);
        }
    }
    feeds
}

#[track_caller]
fn assert_no_script(path: &str, html: &str) {
    let lower = html.to_lowercase();
    for bad in FORBIDDEN {
        assert!(
            !lower.contains(bad),
            "feeds/{path}: item HTML holds {bad:?}:\n{html}"
        );
    }
}

/// The one entry of `feed` whose link ends in `/<slug>/`.
#[track_caller]
fn entry<'a>(feed: &'a Feed, slug: &str) -> &'a feed_rs::model::Entry {
    let suffix = format!("/{slug}/");
    feed.entries
        .iter()
        .find(|e| e.links.iter().any(|l| l.href.ends_with(&suffix)))
        .unwrap_or_else(|| panic!("no entry links to …{suffix}"))
}

fn title(e: &feed_rs::model::Entry) -> &str {
    &e.title.as_ref().expect("a title").content
}

fn summary(e: &feed_rs::model::Entry) -> &str {
    &e.summary.as_ref().expect("a summary").content
}

fn html(e: &feed_rs::model::Entry) -> &str {
    e.content
        .as_ref()
        .and_then(|c| c.body.as_deref())
        .expect("content")
}

/// The feeds of the `ai` column, by format.
fn ai_feeds(feeds: &BTreeMap<String, Feed>) -> impl Iterator<Item = (&str, &Feed)> {
    FORMATS
        .iter()
        .map(move |f| (*f, &feeds[&format!("ai/{f}")]))
}

#[test]
fn markup_in_a_title_comes_back_as_exactly_the_text_written() {
    let p = Publication::new();
    p.write(
        "content/ai/markup.md",
        article(
            r#"
title = "A & B <C>"
published = 2026-11-20
tags = ["<b>&</b>", "]]>"]
authors = [{ name = "Eve <script>", role = "]]> & co" }]
"#,
            "Fish & chips < 5 ]]> done",
        ),
    );
    p.write(
        "content/ai/script.md",
        article(
            r#"
title = "<script>alert(1)</script> ]]> &amp;"
published = 2026-11-21
"#,
            "Body.",
        ),
    );
    p.build();
    let feeds = safe_feeds(&p);
    for (format, feed) in ai_feeds(&feeds) {
        let e = entry(feed, "markup");
        assert_eq!(title(e), "A & B <C>", "{format}");
        // RSS descriptions are HTML, so the plain-text summary arrives
        // escaped; the other formats carry it as text.
        let want = if format == "rss.xml" {
            "Fish &amp; chips &lt; 5 ]]&gt; done"
        } else {
            "Fish & chips < 5 ]]> done"
        };
        assert_eq!(summary(e), want, "{format}");
        assert!(
            html(e).contains("Fish &amp; chips &lt; 5 ]]&gt; done"),
            "{format}: {}",
            html(e)
        );
        let authors: Vec<&str> = e.authors.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(authors, ["Eve <script> (]]> & co)"], "{format}");
        assert_eq!(
            title(entry(feed, "script")),
            "<script>alert(1)</script> ]]> &amp;",
            "{format}"
        );
    }
    // The tags as written in the JSON, and as Atom categories.
    let json: serde_json::Value = serde_json::from_str(&p.read("feeds/ai/feed.json")).unwrap();
    let markup = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["url"].as_str().unwrap().ends_with("/markup/"))
        .unwrap();
    assert_eq!(markup["tags"], serde_json::json!(["<b>&</b>", "]]>"]));
    let atom = entry(&feeds["ai/atom.xml"], "markup");
    let terms: Vec<&str> = atom.categories.iter().map(|c| c.term.as_str()).collect();
    assert_eq!(terms, ["<b>&</b>", "]]>"]);
}

#[test]
fn scripts_frames_handlers_and_javascript_links_are_removed_from_bodies() {
    let p = Publication::new();
    let body = r#"Before the attack.

<script>alert(1)</script>

<SCRIPT SRC="https://evil.example/x.js"></SCRIPT>

Inline <script>alert(2)</script> script and <b onclick="alert(3)">bold</b> text.

<iframe src="https://evil.example/"></iframe>

<p onclick="alert(4)">click me</p>

<svg onload="alert(5)"><circle r="1"/></svg>

[plain link](javascript:alert(6)) and [shouting](JAVASCRIPT:alert(7))

![image](javascript:alert(9))

<img src=x onerror=alert(10)>

<a href="JaVaScRiPt:alert(11)">mixed case</a> <a href="&#106;avascript:alert(12)">entity</a>

<div style="background:url(javascript:alert(13))">styled</div>

After the attack: [a fine link](https://example.com/)."#;
    p.write(
        "content/ai/attack.md",
        article("title = \"Attack\"\npublished = 2026-11-20", body),
    );
    p.build();
    let feeds = safe_feeds(&p);
    for (format, feed) in ai_feeds(&feeds) {
        let h = html(entry(feed, "attack"));
        // The prose around the attacks survives.
        for kept in [
            "Before the attack.",
            "bold",
            "click me",
            "plain link",
            "mixed case",
            "styled",
            "https://example.com/",
        ] {
            assert!(h.contains(kept), "{format}: {kept:?} was lost:\n{h}");
        }
    }
}

#[test]
fn control_characters_never_reach_a_feed() {
    let p = Publication::new();
    let text = "+++\n\
        title = \"Bell\\u0007 escape\\u001b nul\\u0000 del\\u007f c1\\u0085 end\"\n\
        published = 2026-11-20\n\
        summary = \"Sum\\u0000mary\\u001b here\"\n\
        tags = [\"t\\u0007ag\"]\n\
        authors = [{ name = \"Na\\u0000me\", role = \"Ro\\u001ble\" }]\n\
        +++\n\n\
        Body \u{0} with \u{1b}[31m escape \u{7} bell \u{8} backspace \u{b} tab and \u{c} feed.\n";
    p.write("content/ai/controls.md", text);
    p.write(
        "content/city/lead.md",
        "+++\ntitle = \"Lead\"\npublished = 2026-11-20\n+++\n\nLead \u{0}with\u{1b} controls\u{7}.\n",
    );
    p.build();
    let feeds = safe_feeds(&p);
    for (format, feed) in ai_feeds(&feeds) {
        let e = entry(feed, "controls");
        assert_eq!(title(e), "Bell escape nul del c1 end", "{format}");
        assert_eq!(summary(e), "Sum mary here", "{format}");
        assert_eq!(e.authors[0].name, "Na me (Ro le)", "{format}");
        assert!(
            html(e).contains("with [31m escape  bell  backspace  tab and  feed."),
            "{format}: {}",
            html(e)
        );
    }
    for format in FORMATS {
        let e = entry(&feeds[&format!("city/{format}")], "lead");
        assert_eq!(summary(e), "Lead with controls.", "{format}");
    }
}

#[test]
fn crlf_line_ends_are_read_and_a_line_break_in_a_title_becomes_a_space() {
    let p = Publication::new();
    p.write(
        "content/ai/crlf.md",
        "+++\r\n\
         title = \"\"\"First line\r\nsecond line\"\"\"\r\n\
         published = 2026-11-20T08:00:00+08:00\r\n\
         +++\r\n\
         \r\n\
         A paragraph\r\non two lines.\r\n\
         \r\n\
         ## A heading\r\n\
         \r\n\
         Another paragraph.\r\n",
    );
    p.write(
        "content/ai/escaped.md",
        article(
            "title = \"Escaped\\r\\nbreak\\rand\\nmore\"\npublished = 2026-11-19",
            "Body.",
        ),
    );
    p.build();
    let feeds = safe_feeds(&p);
    for (format, feed) in ai_feeds(&feeds) {
        let e = entry(feed, "crlf");
        assert_eq!(title(e), "First line second line", "{format}");
        assert_eq!(
            summary(e),
            "A paragraph on two lines. Another paragraph.",
            "{format}"
        );
        assert!(
            html(e).contains("<h2>A heading</h2>"),
            "{format}: {}",
            html(e)
        );
        assert_eq!(
            title(entry(feed, "escaped")),
            "Escaped break and more",
            "{format}"
        );
    }
    // On one line in the bytes too: no reader ever sees a broken title.
    let rss = p.read("feeds/ai/rss.xml");
    assert!(
        rss.lines()
            .any(|l| l.trim() == "<title>First line second line</title>"),
        "{rss}"
    );
    let atom = p.read("feeds/ai/atom.xml");
    assert!(
        atom.lines()
            .any(|l| l.trim() == "<title>Escaped break and more</title>"),
        "{atom}"
    );
}

#[test]
fn a_byte_order_mark_at_the_start_is_accepted_and_not_copied() {
    let p = Publication::new();
    p.write(
        "content/ai/bom.md",
        format!(
            "\u{feff}{}",
            article(
                "title = \"With a BOM\"\npublished = 2026-11-20",
                "Body text."
            )
        ),
    );
    p.build();
    let feeds = safe_feeds(&p);
    for (format, feed) in ai_feeds(&feeds) {
        let e = entry(feed, "bom");
        assert_eq!(title(e), "With a BOM", "{format}");
    }
}

/// A family emoji: three people joined by zero-width joiners, one cluster.
const FAMILY: &str = "👨\u{200d}👩\u{200d}👧";

#[test]
fn an_emoji_sequence_at_the_summary_cut_is_kept_whole_or_left_out() {
    let p = Publication::with_config(&CONFIG.replace("[feeds]\n", "[feeds]\nsummary_chars = 20\n"));
    let han = "一二三四五六七八九十".repeat(3);
    // The family lands on every position around the 20-cluster cut,
    // including those where a cut by `char` would split it.
    for k in 15..=22 {
        let lead: String = han.chars().take(k).collect();
        p.write(
            &format!("content/ai/cut-{k}.md"),
            article(
                &format!("title = \"Cut {k}\"\npublished = 2026-11-{k}"),
                &format!("{lead}{FAMILY}之後還有很多很多很多字"),
            ),
        );
    }
    p.build();
    let feeds = safe_feeds(&p);
    let json: serde_json::Value = serde_json::from_str(&p.read("feeds/ai/feed.json")).unwrap();
    for k in 15..=22 {
        let lead: String = han.chars().take(k).collect();
        let slug = format!("cut-{k}");
        let json_summary = json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["url"].as_str().unwrap().ends_with(&format!("/{slug}/")))
            .map(|i| i["summary"].as_str().unwrap().to_owned())
            .unwrap();
        let mut summaries = vec![("feed.json raw".to_owned(), json_summary)];
        for dir in ["ai", "all"] {
            for format in FORMATS {
                let s = summary(entry(&feeds[&format!("{dir}/{format}")], &slug)).to_owned();
                summaries.push((format!("{dir}/{format}"), s));
            }
        }
        for (at, s) in summaries {
            let whole = s.matches(FAMILY).count();
            let parts = s.matches(['👨', '👩', '👧', '\u{200d}']).count();
            assert!(
                (whole == 1 && parts == 5) || (whole == 0 && parts == 0),
                "{at}, family after {k} characters: the cluster was split: {s:?}"
            );
            // Twenty clusters, then the ellipsis.
            let want = if k < 20 {
                let rest: String = "之後還有很多很多很多字".chars().take(19 - k).collect();
                format!("{lead}{FAMILY}{rest}…")
            } else {
                format!("{}…", han.chars().take(20).collect::<String>())
            };
            assert_eq!(s, want, "{at}, family after {k} characters");
        }
    }
}

#[test]
fn the_code_of_an_inline_script_or_style_never_becomes_summary_text() {
    let p = Publication::new();
    p.write(
        "content/ai/inline.md",
        article(
            "title = \"Inline\"\npublished = 2026-11-20",
            "Hello <script>alert(1)</script> world <STYLE type=\"text/css\">p { color: red }</STYLE>again.",
        ),
    );
    p.build();
    let feeds = safe_feeds(&p);
    for (format, feed) in ai_feeds(&feeds) {
        let e = entry(feed, "inline");
        assert_eq!(summary(e), "Hello world again.", "{format}");
        assert!(!html(e).contains("alert"), "{format}: {}", html(e));
    }
}

/// The sanitiser's HTML parser takes time growing with the square of the
/// nesting depth (200,000 nested `<div>`s, inside the size limit, would
/// take minutes in every `build` and `check`): HTML nested deeper than a
/// browser would nest it is refused, naming the file; sloppy but ordinary
/// HTML (unclosed paragraphs and list items) is not.
#[test]
fn html_nested_past_the_depth_limit_is_refused_and_sloppy_html_is_not() {
    let p = Publication::new();
    p.write(
        "content/ai/sloppy.md",
        article(
            "title = \"Sloppy\"\npublished = 2026-11-20",
            &format!(
                "Text.\n\n<ul>{}</ul>\n\n<div>{}</div>\n",
                "<li><p>item".repeat(2000),
                "<p>para".repeat(2000)
            ),
        ),
    );
    p.build();
    assert!(p.read("feeds/ai/rss.xml").contains("item"));
    for (name, html) in [
        ("divs", "<div>".repeat(513)),
        ("spans", "<span>".repeat(600)),
        ("self-closing", "<div/>".repeat(1000)),
    ] {
        p.write(
            &format!("content/ai/{name}.md"),
            article(
                "title = \"Deep\"\npublished = 2026-11-21",
                &format!("Text.\n\n{html}x\n"),
            ),
        );
    }
    for command in ["build", "check"] {
        let run = p.run(&[command]).expect_code(2);
        for name in ["divs", "spans", "self-closing"] {
            let line = format!(
                "content/ai/{name}.md: body: the body's HTML nests elements more than 512 deep; expected ordinary HTML (close what is opened)"
            );
            assert!(
                run.stderr.contains(&line),
                "{command}: {line}\n{}",
                run.stderr
            );
        }
    }
}
