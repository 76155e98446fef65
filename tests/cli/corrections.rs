//! Corrections: the feeds keep the id, move the date (RSS too) and show
//! the note first, written one way everywhere; the column page keeps the
//! lead; the next digest lists a correction once, and never one its reader
//! was mailed with.

use crate::authors::CHAN_FOLDER;
use crate::output::{assert_same_tree, instant, json_of};
use crate::status::{outbox_config, subscribe, AFTER_SLOT};
use crate::util::*;
use mail_parser::MessageParser;

const CORRECTION: &str = "第二段的數字應為 <30%> & 不是 40%。";

fn compute(extra: &str) -> String {
    article(
        &format!("title = \"算力擴容\"\npublished = 2026-11-20T07:00:00+08:00\n{extra}\nauthors = [\"陳大文\"]"),
        "第一段。\n\n第二段：40%。",
    )
}

/// Every feed the article is in, as `(folder, format)`.
fn feeds_of_compute() -> Vec<(String, &'static str)> {
    ["ai", "all", CHAN_FOLDER]
        .iter()
        .flat_map(|d| ["rss.xml", "atom.xml", "feed.json"].map(|f| (d.to_string(), f)))
        .collect()
}

#[test]
fn a_correction_keeps_the_id_moves_the_date_and_comes_first() {
    let p = Publication::new();
    p.write("content/ai/compute.md", compute(""));
    p.build();
    let ids: Vec<String> = feeds_of_compute()
        .iter()
        .map(|(d, f)| {
            parse_feed(p.read(&format!("feeds/{d}/{f}")).as_bytes()).entries[0]
                .id
                .clone()
        })
        .collect();

    p.write(
        "content/ai/compute.md",
        compute(&format!(
            "updated = 2026-11-25T09:00:00+08:00\ncorrection = \"{CORRECTION}\""
        )),
    );
    p.build();
    let note_html = "<p class=\"correction\"><strong>更正</strong>（2026年11月25日）：第二段的數字應為 &lt;30%&gt; &amp; 不是 40%。</p>";
    let note_text = format!("更正（2026年11月25日）：{CORRECTION}");
    for ((d, f), id) in feeds_of_compute().iter().zip(&ids) {
        let xml = p.read(&format!("feeds/{d}/{f}"));
        let feed = parse_feed(xml.as_bytes());
        let e = &feed.entries[0];
        assert_eq!(&e.id, id, "{d}/{f}: the id stays");
        if *f == "rss.xml" {
            // RSS has no element for it: atom:updated, which feed-rs does
            // not read, is what the W3C validator accepts in an item.
            assert!(
                xml.contains("<atom:updated>2026-11-25T09:00:00+08:00</atom:updated>"),
                "{d}/{f}: {xml}"
            );
            assert!(xml.contains("xmlns:atom=\"http://www.w3.org/2005/Atom\""));
        } else {
            assert_eq!(
                e.updated,
                Some(instant("2026-11-25T09:00:00+08:00")),
                "{d}/{f}"
            );
        }
        let summary = e.summary.as_ref().unwrap().content.clone();
        if *f == "feed.json" {
            assert!(summary.starts_with(&note_text), "{d}/{f}: {summary}");
        } else {
            // RSS descriptions are HTML, and Atom says so of this one.
            assert!(
                crate::hostile::unescape_html(&summary).starts_with(&note_text),
                "{d}/{f}: {summary}"
            );
        }
        assert!(summary.contains("第一段。"), "{d}/{f}: {summary}");
        // Column feeds carry the whole article, the note at its top;
        // author feeds only the summary.
        let html = e.content.as_ref().and_then(|c| c.body.clone());
        if d == CHAN_FOLDER && *f == "feed.json" {
            let item = &json_of(&p.read(&format!("feeds/{d}/{f}")))["items"][0];
            assert!(item.get("content_html").is_none(), "{d}/{f}: {item}");
            assert!(
                item["content_text"]
                    .as_str()
                    .unwrap()
                    .starts_with(&note_text),
                "{d}/{f}: {item}"
            );
        } else if d == CHAN_FOLDER {
            assert_eq!(html, None, "{d}/{f}");
        } else {
            let html = html.unwrap_or_default();
            assert!(html.starts_with(note_html), "{d}/{f}: {html}");
            assert!(html.contains("<p>第一段。</p>"), "{d}/{f}: {html}");
        }
    }
    // The column page shows the lead, and the note beside it rather than
    // in its place.
    let page = p.read("feeds/ai/index.html");
    let lead = page
        .find("<p>第一段。第二段：40%。</p>")
        .unwrap_or_else(|| panic!("{page}"));
    let note = page
        .find("更正（2026年11月25日）：第二段的數字應為 &lt;30%&gt; &amp; 不是 40%。")
        .unwrap_or_else(|| panic!("{page}"));
    assert!(lead < note, "{page}");
}

#[test]
fn an_item_never_corrected_has_no_update_date_in_rss() {
    let p = Publication::new();
    p.write("content/ai/compute.md", compute(""));
    p.build();
    assert!(!p.read("feeds/ai/rss.xml").contains("atom:updated"));
}

#[test]
fn an_english_site_labels_the_correction_in_english() {
    let p = Publication::with_config(&CONFIG.replace(
        "base_url = \"https://news.example.com\"",
        "base_url = \"https://news.example.com\"\nlanguage = \"en\"",
    ));
    p.write(
        "content/ai/compute.md",
        compute("updated = 2026-11-25T09:00:00+08:00\ncorrection = \"The second figure is 30%.\""),
    );
    p.build();
    let json = json_of(&p.read("feeds/ai/feed.json"));
    let item = &json["items"][0];
    assert!(
        item["content_html"]
            .as_str()
            .unwrap()
            .starts_with("<p class=\"correction\"><strong>Correction</strong> (25 November 2026): The second figure is 30%.</p>"),
        "{item}"
    );
    assert!(
        item["summary"]
            .as_str()
            .unwrap()
            .starts_with("Correction (25 November 2026): The second figure is 30%. 第一段。"),
        "{item}"
    );
    assert_eq!(item["date_modified"], "2026-11-25T09:00:00+08:00");
}

#[test]
fn a_correction_without_updated_exits_2_naming_file_line_and_field() {
    let p = Publication::new();
    p.write("content/ai/compute.md", compute(""));
    p.build();
    let before = p.tree("feeds");
    p.write(
        "content/ai/compute.md",
        compute(&format!("correction = \"{CORRECTION}\"")),
    );
    for command in ["build", "check"] {
        let run = p.run(&[command]).expect_code(2);
        assert!(
            run.stderr
                .contains("content/ai/compute.md:4: updated: a correction needs `updated`"),
            "{command}: {}",
            run.stderr
        );
        assert_same_tree(&before, &p.tree("feeds"));
    }
}

/// The email of issue `label` to `to` in the outbox, parsed as (text,
/// HTML); `None` if there is none.
fn outbox_email(p: &Publication, label: &str, to: &str) -> Option<(String, String)> {
    let mut found = Vec::new();
    for f in std::fs::read_dir(p.path("outbox")).unwrap() {
        let f = f.unwrap().path();
        if !f.to_string_lossy().contains(&format!(".{label}.")) {
            continue;
        }
        let bytes = std::fs::read(&f).unwrap();
        let m = MessageParser::default().parse(&bytes).unwrap();
        if m.to().unwrap().first().unwrap().address() == Some(to) {
            found.push((
                m.body_text(0).unwrap().into_owned(),
                m.body_html(0).unwrap().into_owned(),
            ));
        }
    }
    assert!(found.len() <= 1, "{label} to {to}: {} emails", found.len());
    found.pop()
}

#[test]
fn a_correction_is_listed_once_in_the_next_digest_and_the_article_not_again() {
    let p = Publication::with_config(&outbox_config());
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容\"\npublished = 2026-11-27T07:00:00+08:00",
            "第一段。",
        ),
    );
    subscribe(&p, "a@example.com", &[]);
    subscribe(&p, "city@example.com", &["--columns", "city"]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let (text, _) = outbox_email(&p, "2026-W49", "a@example.com").unwrap();
    assert!(text.contains("算力擴容"), "{text}");

    // Corrected on Tuesday; a new article in the other column the day after.
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容\"\npublished = 2026-11-27T07:00:00+08:00\nupdated = 2026-12-01T10:00:00+08:00\ncorrection = \"數字有誤，已更正。\"",
            "第一段。",
        ),
    );
    p.write(
        "content/city/ferry.md",
        article(
            "title = \"渡輪的黃昏\"\npublished = 2026-12-02T07:00:00+08:00",
            "渡輪。",
        ),
    );
    p.run_at("2026-12-07T08:30:00+08:00", &["digest", "send"])
        .expect_code(0);
    let (text, html) = outbox_email(&p, "2026-W50", "a@example.com").unwrap();
    assert!(text.contains("渡輪的黃昏"), "{text}");
    assert_eq!(text.matches("算力擴容").count(), 1, "once: {text}");
    assert_eq!(text.matches("數字有誤，已更正。").count(), 1, "{text}");
    let header = text
        .find("== 自上期以來的更正 ==")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(text.find("算力擴容").unwrap() > header, "{text}");
    assert!(text.find("渡輪的黃昏").unwrap() < header, "{text}");
    assert!(html.contains(">自上期以來的更正</h2>"), "{html}");
    assert_eq!(html.matches("算力擴容").count(), 1, "once: {html}");
    assert!(html.contains("數字有誤，已更正。"), "{html}");
    // A reader of the other column gets their news, not the correction.
    let (text, html) = outbox_email(&p, "2026-W50", "city@example.com").unwrap();
    assert!(text.contains("渡輪的黃昏"), "{text}");
    for part in [&text, &html] {
        assert!(!part.contains("算力擴容"), "{part}");
        assert!(!part.contains("自上期以來的更正"), "{part}");
    }

    // The week after: not again.
    p.write(
        "content/ai/bus.md",
        article(
            "title = \"巴士路線\"\npublished = 2026-12-09T07:00:00+08:00",
            "巴士。",
        ),
    );
    p.run_at("2026-12-14T08:30:00+08:00", &["digest", "send"])
        .expect_code(0);
    let (text, html) = outbox_email(&p, "2026-W51", "a@example.com").unwrap();
    assert!(text.contains("巴士路線"), "{text}");
    for part in [&text, &html] {
        assert!(!part.contains("算力擴容"), "{part}");
        assert!(!part.contains("自上期以來的更正"), "{part}");
    }

    // A later correction, with a new `updated`, is listed again, alone.
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容\"\npublished = 2026-11-27T07:00:00+08:00\nupdated = 2026-12-15T10:00:00+08:00\ncorrection = \"再更正：單位應為億元。\"",
            "第一段。",
        ),
    );
    p.run_at("2026-12-21T08:30:00+08:00", &["digest", "send"])
        .expect_code(0);
    let (text, _) = outbox_email(&p, "2026-W52", "a@example.com").unwrap();
    assert_eq!(text.matches("算力擴容").count(), 1, "{text}");
    assert!(text.contains("再更正：單位應為億元。"), "{text}");
    assert!(!text.contains("數字有誤"), "{text}");
    assert!(
        outbox_email(&p, "2026-W52", "city@example.com").is_none(),
        "nothing new in city"
    );
}

#[test]
fn a_correction_alone_brings_its_readers_an_issue_and_status_counts_them() {
    let p = Publication::with_config(&outbox_config());
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容\"\npublished = 2026-11-27T07:00:00+08:00",
            "第一段。",
        ),
    );
    subscribe(&p, "a@example.com", &["--columns", "ai"]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容\"\npublished = 2026-11-27T07:00:00+08:00\nupdated = 2026-12-01T10:00:00+08:00\ncorrection = \"數字有誤，已更正。\"",
            "第一段。",
        ),
    );
    // What status expects of the next issue, as things stand on Sunday…
    let status = p
        .run_at("2026-12-06T12:00:00+08:00", &["status", "--json"])
        .expect_code(0);
    let next = json_of(&status.stdout)["next_issue"].clone();
    assert_eq!(next["label"], "2026-W50");
    // …is what Monday's issue does: the reader of `ai` gets the correction.
    let sent = p
        .run_at("2026-12-07T08:30:00+08:00", &["digest", "send"])
        .expect_code(0);
    assert!(
        sent.stdout.contains("digest 2026-W50: 1 sent"),
        "{}",
        sent.stdout
    );
    assert!(outbox_email(&p, "2026-W50", "a@example.com").is_some());
    assert_eq!(next["subscribers"], 1, "status foresaw {next}");
}

#[test]
fn an_article_mailed_with_its_correction_is_not_listed_again_as_corrected() {
    let p = Publication::with_config(&outbox_config());
    // Published and corrected before the first issue that carries it.
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容\"\npublished = 2026-11-27T07:00:00+08:00\nupdated = 2026-11-28T10:00:00+08:00\ncorrection = \"數字有誤，已更正。\"",
            "第一段。",
        ),
    );
    subscribe(&p, "a@example.com", &[]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let (text, _) = outbox_email(&p, "2026-W49", "a@example.com").unwrap();
    assert!(text.contains("算力擴容"), "{text}");
    assert!(!text.contains("自上期以來的更正"), "{text}");

    p.write(
        "content/ai/bus.md",
        article(
            "title = \"巴士路線\"\npublished = 2026-12-02T07:00:00+08:00",
            "巴士。",
        ),
    );
    p.run_at("2026-12-07T08:30:00+08:00", &["digest", "send"])
        .expect_code(0);
    let (text, html) = outbox_email(&p, "2026-W50", "a@example.com").unwrap();
    assert!(text.contains("巴士路線"), "{text}");
    for part in [&text, &html] {
        assert!(!part.contains("算力擴容"), "{part}");
        assert!(!part.contains("自上期以來的更正"), "{part}");
    }
}
