//! `new COLUMN TITLE`: the article file it writes, its slug, and the files
//! it never replaces.

use crate::util::*;

/// 01:00 UTC is 09:00 in Hong Kong, the site's zone.
const WRITING_AT: &str = "2026-06-15T01:00:00Z";

#[test]
fn new_writes_a_draft_whose_front_matter_the_build_reads() {
    let p = Publication::new();
    let r = p
        .run_at(WRITING_AT, &["new", "city", "Why the Tram Matters"])
        .expect_code(0);
    assert_eq!(r.stdout, "content/city/why-the-tram-matters.md\n");
    let text = p.read("content/city/why-the-tram-matters.md");
    assert!(text.starts_with("+++\n"), "{text}");
    assert!(
        text.contains("title = \"Why the Tram Matters\"\n"),
        "{text}"
    );
    assert!(text.contains("column = \"city\"\n"), "{text}");
    assert!(
        text.contains("published = 2026-06-15T09:00:00+08:00\n"),
        "published is now in site.timezone: {text}"
    );
    assert!(text.contains("draft = true"), "{text}");
    // broadsheet's own parser takes it, as a draft.
    let r = p.run_at(WRITING_AT, &["check"]).expect_code(0);
    assert!(r.stdout.contains("(1 draft"), "{}", r.stdout);
    // Once the writer publishes it, the feeds carry it as written.
    p.write(
        "content/city/why-the-tram-matters.md",
        text.replace("draft = true", "draft = false") + "The body.\n",
    );
    p.run_at(WRITING_AT, &["build"]).expect_code(0);
    let feed = parse_feed(p.read("feeds/city/atom.xml").as_bytes());
    assert_eq!(feed.entries.len(), 1);
    let entry = &feed.entries[0];
    assert_eq!(
        entry.title.as_ref().unwrap().content,
        "Why the Tram Matters"
    );
    assert_eq!(
        entry.published.unwrap().to_rfc3339(),
        "2026-06-15T01:00:00+00:00"
    );
    assert!(
        entry.links[0].href.ends_with("/city/why-the-tram-matters/"),
        "{:?}",
        entry.links
    );
}

#[test]
fn a_chinese_title_gets_the_date_and_the_next_free_counter() {
    let p = Publication::new();
    let r = p
        .run_at(WRITING_AT, &["new", "city", "電車叮叮聲中的慢活提案"])
        .expect_code(0);
    assert_eq!(r.stdout, "content/city/2026-06-15-1.md\n");
    assert!(p
        .read("content/city/2026-06-15-1.md")
        .contains("title = \"電車叮叮聲中的慢活提案\"\n"));
    // The next one that day, and one whose slug another file already
    // takes (by its `slug` key, in a folder of its own).
    p.write(
        "content/city/2026/old.md",
        article(
            "title = \"舊文\"\nslug = \"2026-06-15-2\"\npublished = 2026-06-01",
            "正文。",
        ),
    );
    let r = p
        .run_at(WRITING_AT, &["new", "city", "AI時代的城市"])
        .expect_code(0);
    assert_eq!(r.stdout, "content/city/2026-06-15-3.md\n");
    p.run_at(WRITING_AT, &["check"]).expect_code(0);
}

#[test]
fn new_never_replaces_a_file_and_names_it() {
    let p = Publication::new();
    p.write("content/city/tram.md", "my notes, not yet an article\n");
    let r = p
        .run_at(WRITING_AT, &["new", "city", "Tram"])
        .expect_code(2);
    assert!(
        r.stderr
            .contains("error: content/city/tram.md: already exists; nothing was written"),
        "{}",
        r.stderr
    );
    assert_eq!(
        p.read("content/city/tram.md"),
        "my notes, not yet an article\n"
    );
    // --slug chooses another.
    let r = p
        .run_at(WRITING_AT, &["new", "city", "Tram", "--slug", "tram-2"])
        .expect_code(0);
    assert_eq!(r.stdout, "content/city/tram-2.md\n");
}

#[test]
fn a_slug_another_file_of_the_column_takes_is_refused_by_name() {
    let p = Publication::new();
    p.write(
        "content/city/2025/ferry.md",
        article(
            "title = \"渡輪\"\nslug = \"harbour\"\npublished = 2025-06-01",
            "正文。",
        ),
    );
    p.write(
        "content/ai/harbour-ai.md",
        article(
            "title = \"港口數據\"\nslug = \"harbour-ai\"\npublished = 2025-06-01",
            "正文。",
        ),
    );
    let r = p
        .run_at(WRITING_AT, &["new", "city", "Harbour", "--slug", "harbour"])
        .expect_code(2);
    assert!(
        r.stderr.contains(
            "content/city/harbour.md: the slug \"harbour\" is already content/city/2025/ferry.md's"
        ),
        "{}",
        r.stderr
    );
    // Another column's slug is no obstacle.
    let r = p
        .run_at(
            WRITING_AT,
            &["new", "city", "Harbour", "--slug", "harbour-ai"],
        )
        .expect_code(0);
    assert_eq!(r.stdout, "content/city/harbour-ai.md\n");
}

#[test]
fn new_in_an_unknown_column_lists_the_columns_and_the_one_meant() {
    let p = Publication::new();
    let r = p.run_at(WRITING_AT, &["new", "cty", "Tram"]).expect_code(2);
    assert!(
        r.stderr.contains(
            "error: COLUMN: no column \"cty\" in config.toml (did you mean `city`?); the columns are: ai, city"
        ),
        "{}",
        r.stderr
    );
    assert!(!p.path("content/cty").exists());
    let r = p
        .run_at(WRITING_AT, &["new", "sport", "Tram"])
        .expect_code(2);
    assert!(
        r.stderr.contains(
            "error: COLUMN: no column \"sport\" in config.toml; the columns are: ai, city"
        ),
        "{}",
        r.stderr
    );
}
