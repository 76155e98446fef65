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
    // broadsheet's own manifest is binary, never served, and no feed.
    let served = tree
        .iter()
        .filter(|(path, _)| !path.starts_with(".broadsheet-"));
    for (path, (bytes, _)) in served {
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

/// `html` as the text a reader treating it as HTML shows: character
/// references decoded (the feeds escape only with these).
pub(crate) fn unescape_html(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').expect("a closed reference");
        let name = &rest[1..end];
        let c = match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" | "#39" => '\'',
            _ => {
                let code = match name.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => name.trim_start_matches('#').parse(),
                };
                char::from_u32(code.unwrap_or_else(|_| panic!("&{name}; in {html:?}"))).unwrap()
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A text construct as a reader shows it: Atom's `type="html"` (and RSS's
/// title, which readers take as HTML) decoded once.
fn shown(format: &str, t: &feed_rs::model::Text) -> String {
    if format == "rss.xml" || t.content_type.subty() == "html" {
        unescape_html(&t.content)
    } else {
        t.content.clone()
    }
}

/// The texts of every `<name>…</name>` element in `xml` (CDATA taken as
/// it is, references left as written), with its start tag's attributes.
fn raw_elements<'a>(xml: &'a str, name: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        rest = after;
        if !after.starts_with([' ', '>']) {
            continue;
        }
        let gt = after.find('>').unwrap();
        let end = after
            .find(&close)
            .unwrap_or_else(|| panic!("{name} not closed"));
        out.push((&after[..gt], &after[gt + 1..end]));
        rest = &after[end..];
    }
    out
}

/// What an XML parser makes of an element's raw text.
fn xml_text(raw: &str) -> String {
    match raw.trim().strip_prefix("<![CDATA[") {
        Some(cdata) => cdata
            .replace("]]]]><![CDATA[>", "]]>")
            .trim_end_matches("]]>")
            .to_owned(),
        None => unescape_html(raw),
    }
}

/// The W3C feed validator's warnings on text, as w3c/feedvalidator's
/// `validators.py` (class `nonhtml`, for RSS `title` and `category` and
/// Atom `type="text"`) and `content.py` give them, made stricter rather
/// than looser: text with an end tag in it is HTML left in plain text;
/// text with a character reference (what readers would decode again) needs
/// the hexadecimal form `&#x` in the raw bytes, which tells the validator
/// the escaping was meant (RSS Advisory Board profile); and in RSS 2.0 a
/// `<` followed by a letter or `/` needs the same. Text the validator reads
/// as HTML (RSS `description`, Atom `type="html"`, OPML attributes) must
/// hold nothing it calls a security risk.
#[track_caller]
fn assert_validator_finds_no_warning_in_texts(path: &str, xml: &str) {
    let rss = path.ends_with("rss.xml");
    let plain: &[&str] = if rss {
        &["title", "category"]
    } else {
        &["title", "subtitle", "summary"]
    };
    for name in plain {
        for (attrs, raw) in raw_elements(xml, name) {
            let value = xml_text(raw);
            if attrs.contains("type=\"html\"") {
                assert!(
                    !value.to_lowercase().contains("<script"),
                    "{path}: <{name}> holds a script: {value:?}"
                );
                continue;
            }
            let end_tag = value.split("</").skip(1).any(|t| {
                t.split('>')
                    .next()
                    .is_some_and(|w| !w.is_empty() && w.chars().all(char::is_alphanumeric))
            });
            assert!(!end_tag, "{path}: HTML in plain <{name}>: {value:?}");
            let reference = value
                .split('&')
                .skip(1)
                .any(|t| t.starts_with(|c: char| c == '#' || c.is_ascii_alphabetic()));
            let tag = rss
                && value
                    .split('<')
                    .skip(1)
                    .any(|t| t.starts_with(|c: char| c == '/' || c.is_ascii_alphabetic()));
            if reference || tag {
                assert!(
                    raw.contains("&#x"),
                    "{path}: <{name}>{raw}</{name}> escapes HTML without hexadecimal references"
                );
            }
        }
    }
    let html: &[&str] = if rss { &["description"] } else { &[] };
    for name in html {
        for (_, raw) in raw_elements(xml, name) {
            let value = xml_text(raw).to_lowercase();
            assert!(
                !value.contains("<script"),
                "{path}: <{name}> holds a script: {value:?}"
            );
        }
    }
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
        assert_eq!(
            shown(format, e.title.as_ref().unwrap()),
            "A & B <C>",
            "{format}"
        );
        // RSS titles and descriptions are HTML, so plain text arrives
        // escaped; Atom says `type="html"` when it is; JSON Feed carries
        // the text as it is.
        let want = if format == "rss.xml" {
            "Fish &#x26; chips &#x3C; 5 ]]&#x3E; done"
        } else if format == "atom.xml" {
            "Fish &amp; chips &lt; 5 ]]&gt; done"
        } else {
            "Fish & chips < 5 ]]> done"
        };
        assert_eq!(summary(e), want, "{format}");
        assert_eq!(
            shown(format, e.summary.as_ref().unwrap()),
            "Fish & chips < 5 ]]> done"
        );
        assert!(
            html(e).contains("Fish &amp; chips &lt; 5 ]]&gt; done"),
            "{format}: {}",
            html(e)
        );
        let authors: Vec<&str> = e.authors.iter().map(|a| a.name.as_str()).collect();
        let byline = if format == "atom.xml" {
            "Eve <script> (]]> & co)"
        } else {
            "Eve <script>, ]]> & co"
        };
        assert_eq!(authors, [byline], "{format}");
        assert_eq!(
            shown(format, entry(feed, "script").title.as_ref().unwrap()),
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
        let byline = if format == "atom.xml" {
            "Na me (Ro le)"
        } else {
            "Na me, Ro le"
        };
        assert_eq!(e.authors[0].name, byline, "{format}");
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
        // The summary stops at the section head.
        assert_eq!(summary(e), "A paragraph on two lines.", "{format}");
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

#[test]
fn markup_in_titles_notes_tags_and_corrections_gives_no_validator_warning() {
    let hostile = CONFIG
        .replace("title = \"鑰匙與未來\"", "title = \"<b>Keys</b> & 未來\"")
        .replace(
            "description = \"編者按：人工智能與創科的路向。\"",
            "description = \"<script>alert(1)</script> & 編者按\"",
        )
        .replace("title = \"論壇\"", "title = \"論壇 <i>&</i>\"");
    let p = Publication::with_config(&hostile);
    p.write(
        "content/ai/markup.md",
        article(
            r#"
title = "<b>粗體</b> & <script>x</script>"
published = 2026-11-20
updated = 2026-11-22
correction = "<script>alert(2)</script> 數字 & 單位"
tags = ["<b>&</b>", "a &amp; b"]
authors = [{ name = "Eve", role = "<i>編輯</i>" }]
summary = "<em>摘要</em> & 更多"
"#,
            "Body.",
        ),
    );
    p.build();
    let feeds = safe_feeds(&p);
    for dir in ["ai", "all", "authors/eve"] {
        for format in ["rss.xml", "atom.xml"] {
            let path = format!("{dir}/{format}");
            assert_validator_finds_no_warning_in_texts(&path, &p.read(&format!("feeds/{path}")));
        }
    }
    // Readers that take the texts as HTML show exactly what was written.
    for format in ["rss.xml", "atom.xml"] {
        let feed = &feeds[&format!("ai/{format}")];
        assert_eq!(
            shown(format, feed.title.as_ref().unwrap()),
            "<b>Keys</b> & 未來 | 論壇 <i>&</i>"
        );
        assert_eq!(
            shown(format, feed.description.as_ref().unwrap()),
            "<script>alert(1)</script> & 編者按",
            "{format}"
        );
        let e = entry(feed, "markup");
        assert_eq!(
            shown(format, e.title.as_ref().unwrap()),
            "<b>粗體</b> & <script>x</script>"
        );
        assert!(
            shown(format, e.summary.as_ref().unwrap())
                .starts_with("更正（2026年11月22日）：<script>alert(2)</script> 數字 & 單位 <em>摘要</em> & 更多"),
            "{format}: {:?}",
            e.summary
        );
    }
    for list in ["index.opml", "authors.opml"] {
        let opml = p.read(&format!("feeds/{list}"));
        crate::authors::assert_opml_validates(list, &opml);
        for o in crate::output::start_tags(&opml, "outline") {
            for attr in ["text", "title", "description"] {
                assert!(!o[attr].contains('<'), "{list}: {attr} holds markup: {o:?}");
            }
        }
    }
}

#[test]
fn footnote_links_are_absolute_and_unique_to_their_article() {
    let p = Publication::new();
    for (slug, day) in [("first", "20"), ("second", "21")] {
        p.write(
            &format!("content/ai/{slug}.md"),
            article(
                &format!("title = \"{slug}\"\npublished = 2026-11-{day}"),
                "正文[^a]，再一注[^b]。\n\n[^b]: 第二個注。\n\n[^a]: 第一個注。",
            ),
        );
    }
    p.write(
        "content/ai/raw.md",
        article(
            "title = \"raw\"\npublished = 2026-11-22",
            "<span>HTML</span> 正文[^n]。\n\n[^n]: 注。",
        ),
    );
    p.build();
    let json = crate::output::json_of(&p.read("feeds/ai/feed.json"));
    let mut ids = std::collections::BTreeSet::new();
    for item in json["items"].as_array().unwrap() {
        let url = item["url"].as_str().unwrap();
        let slug = url.trim_end_matches('/').rsplit('/').next().unwrap();
        let html = item["content_html"].as_str().unwrap();
        let hrefs: Vec<String> = crate::output::start_tags(html, "a")
            .into_iter()
            .filter_map(|a| a.get("href").cloned())
            .collect();
        let targets: Vec<String> = crate::output::start_tags(html, "div")
            .into_iter()
            .filter_map(|d| d.get("id").cloned())
            .collect();
        let notes = if slug == "raw" { 1 } else { 2 };
        let want: Vec<String> = (1..=notes).map(|n| format!("fn-ai-{slug}-{n}")).collect();
        assert_eq!(
            hrefs,
            want.iter()
                .map(|id| format!("{url}#{id}"))
                .collect::<Vec<_>>(),
            "{html}"
        );
        // Each link's target is in the same item, under the same id.
        let mut sorted = targets.clone();
        sorted.sort();
        assert_eq!(sorted, want, "{html}");
        for id in targets {
            assert!(ids.insert(id.clone()), "{id} in two articles");
        }
    }
    assert_eq!(ids.len(), 5);
    // A slug is unique only in its column: the same slug in another column
    // still gets ids of its own in the feed over every column.
    p.write(
        "content/city/first.md",
        article(
            "title = \"city first\"\npublished = 2026-11-23",
            "正文[^a]。\n\n[^a]: 注。",
        ),
    );
    p.build();
    let all = crate::output::json_of(&p.read("feeds/all/feed.json"));
    let ids: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| crate::output::start_tags(i["content_html"].as_str().unwrap(), "div"))
        .filter_map(|d| d.get("id").cloned())
        .collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    assert!(ids.contains(&"fn-city-first-1".to_owned()), "{ids:?}");
}
