//! Bad input: every case exits 2, names file, line and field, and leaves feeds/ untouched.

use crate::util::*;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// What `published` says when it cannot be read.
const DATE_EXPECTED: &str =
    "expected an RFC 3339 date such as 2026-06-12T07:00:00+08:00, a local date-time or a date";

/// A publication with a good article in each column, built once, so a
/// failing build has something to leave alone.
fn built() -> Publication {
    let p = Publication::new();
    p.write(
        "content/ai/good.md",
        article(
            r#"
title = "Good"
published = 2026-11-01T08:00:00+08:00
"#,
            "算力是新時代的基建。",
        ),
    );
    p.write(
        "content/city/tram.md",
        article(
            r#"
title = "電車慢活"
published = 2026-11-02T08:30:00+08:00
"#,
            "電車是城市的節奏。",
        ),
    );
    p.build();
    p
}

/// Runs `build` on a publication built before, expecting exit 2 and
/// feeds/ exactly as it was (bytes and mtimes); returns the error lines
/// without their `error: ` prefix.
#[track_caller]
fn build_refused(p: &Publication) -> Vec<String> {
    let before = p.tree("feeds");
    assert!(
        before.contains_key("all/rss.xml"),
        "the publication was built first"
    );
    let run = p.run(&["build"]).expect_code(2);
    assert_same_tree(&before, &p.tree("feeds"));
    let lines = error_lines(&run.stderr);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("nothing was written"),
        "{}",
        run.stderr
    );
    lines
}

/// Every `error: ` line of stderr, without the prefix.
fn error_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .map(str::to_owned)
        .collect()
}

/// Panics naming the files that changed, appeared or went.
#[track_caller]
fn assert_same_tree(
    before: &BTreeMap<String, (Vec<u8>, SystemTime)>,
    after: &BTreeMap<String, (Vec<u8>, SystemTime)>,
) {
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "feeds/ changed although nothing should have been written: {changed:?}"
    );
}

/// Panics unless `lines` holds exactly `want`.
#[track_caller]
fn assert_line(lines: &[String], want: &str) {
    assert!(
        lines.iter().any(|l| l == want),
        "expected the error line\n  {want}\namong\n  {}",
        lines.join("\n  ")
    );
}

/// Adds `rel` to a built publication and returns the error lines of the
/// refused build, checking the count line says one error.
#[track_caller]
fn one_bad_file(rel: &str, text: impl AsRef<[u8]>) -> Vec<String> {
    let p = built();
    p.write(rel, text);
    let lines = build_refused(&p);
    assert_line(&lines, "1 content error");
    lines
}

#[test]
fn bad_toml_syntax_is_named_with_its_line_and_field() {
    let lines = one_bad_file(
        "content/ai/x.md",
        "+++\ntitle = \"Unclosed\npublished = 2026-11-01\n+++\n\nBody.\n",
    );
    assert_line(
        &lines,
        "content/ai/x.md:2: title: invalid basic string, expected `\"`",
    );
}

#[test]
fn front_matter_never_closed_is_named_with_the_line_it_opened_on() {
    let lines = one_bad_file(
        "content/ai/x.md",
        "+++\ntitle = \"Open\"\npublished = 2026-11-01\n\nThe body, but no +++ before it.\n",
    );
    assert_line(
        &lines,
        "content/ai/x.md:1: the front matter opened on line 1 is never closed with a +++ line",
    );
}

#[test]
fn a_missing_title_is_named_with_its_line() {
    let lines = one_bad_file(
        "content/ai/x.md",
        article("published = 2026-11-01T08:00:00+08:00", "Body."),
    );
    assert_line(
        &lines,
        "content/ai/x.md:2: title: expected a title in the front matter, found none",
    );
}

#[test]
fn an_empty_title_is_refused() {
    let lines = one_bad_file(
        "content/ai/x.md",
        article("published = 2026-11-01\ntitle = \" \\r\\n \"", "Body."),
    );
    assert_line(
        &lines,
        "content/ai/x.md:3: title: expected a title, found an empty string",
    );
}

#[test]
fn a_title_that_is_a_number_is_a_wrong_type() {
    let lines = one_bad_file(
        "content/ai/x.md",
        article("published = 2026-11-01\ntitle = 5", "Body."),
    );
    assert_line(
        &lines,
        "content/ai/x.md:3: title: invalid type: integer `5`, expected a string",
    );
}

#[test]
fn tags_given_as_a_string_are_a_wrong_type() {
    let lines = one_bad_file(
        "content/ai/x.md",
        article(
            "title = \"Tags\"\npublished = 2026-11-01\ntags = \"x\"",
            "Body.",
        ),
    );
    assert_line(
        &lines,
        "content/ai/x.md:4: tags: invalid type: string \"x\", expected a sequence",
    );
}

#[test]
fn an_unparseable_date_is_named_with_its_line_in_the_file() {
    // Line 1 is the opening +++, so the TOML's line 1 is the file's line 2.
    let lines = one_bad_file(
        "content/ai/x.md",
        article(
            r#"
title = "Next week"
tags = ["a"]
published = "next tuesday"
"#,
            "Body.",
        ),
    );
    assert_line(
        &lines,
        &format!("content/ai/x.md:4: published: {DATE_EXPECTED}, found \"next tuesday\""),
    );
}

#[test]
fn the_line_of_a_date_counts_multi_line_values_crlf_and_a_bom_before_it() {
    let text = "\u{feff}+++\r\n\
                title = \"Lines\"\r\n\
                summary = \"\"\"one\r\n\
                two\r\n\
                three\"\"\"\r\n\
                tags = [\r\n  \"a\",\r\n  \"b\",\r\n]\r\n\
                \r\n\
                published = \"2026-13-01\"\r\n\
                +++\r\n\r\nBody.\r\n";
    let lines = one_bad_file("content/ai/x.md", text);
    assert_line(
        &lines,
        &format!("content/ai/x.md:11: published: {DATE_EXPECTED}, found \"2026-13-01\""),
    );
}

#[test]
fn an_unquoted_date_word_is_a_toml_error_on_its_line() {
    let lines = one_bad_file(
        "content/ai/x.md",
        article("title = \"t\"\n\npublished = next tuesday", "Body."),
    );
    assert_line(
        &lines,
        "content/ai/x.md:4: published: string values must be quoted, expected literal string",
    );
}

#[test]
fn an_unknown_column_in_front_matter_lists_the_columns() {
    let lines = one_bad_file(
        "content/x.md",
        article(
            "title = \"t\"\npublished = 2026-11-01\ncolumn = \"nope\"",
            "Body.",
        ),
    );
    assert_line(
        &lines,
        "content/x.md:4: column: unknown column \"nope\"; expected one of ai, city",
    );
}

#[test]
fn an_unknown_column_folder_names_the_file() {
    let lines = one_bad_file(
        "content/nope/x.md",
        article("title = \"t\"\npublished = 2026-11-01", "Body."),
    );
    assert_line(
        &lines,
        "content/nope/x.md: column: unknown column \"nope\"; expected one of ai, city",
    );
}

#[test]
fn an_article_outside_any_column_folder_needs_a_column() {
    let lines = one_bad_file(
        "content/x.md",
        article("title = \"t\"\npublished = 2026-11-01", "Body."),
    );
    assert_line(
        &lines,
        "content/x.md: column: expected a column: the file must sit in a column folder content/<column>/ or have `column = \"…\"` (one of ai, city)",
    );
}

#[test]
fn a_misspelt_column_in_front_matter_or_folder_names_the_column_meant() {
    let lines = one_bad_file(
        "content/x.md",
        article(
            "title = \"t\"\npublished = 2026-11-01\ncolumn = \"ctiy\"",
            "Body.",
        ),
    );
    assert_line(
        &lines,
        "content/x.md:4: column: unknown column \"ctiy\"; did you mean `city`? (expected one of ai, city)",
    );
    let lines = one_bad_file(
        "content/cty/x.md",
        article("title = \"t\"\npublished = 2026-11-01", "Body."),
    );
    assert_line(
        &lines,
        "content/cty/x.md: column: unknown column \"cty\"; did you mean `city`? (expected one of ai, city)",
    );
}

#[test]
fn a_duplicate_slug_in_a_column_names_both_files_and_the_line_of_the_slug() {
    // good.md was built first; a second file claims its slug.
    let lines = one_bad_file(
        "content/ai/zz-copy.md",
        article(
            "title = \"Copy\"\npublished = 2026-11-03\nslug = \"good\"",
            "Body.",
        ),
    );
    assert_line(
        &lines,
        "content/ai/zz-copy.md:4: slug: \"good\" is also the slug of content/ai/good.md in column ai; slugs must be unique in a column",
    );
}

#[test]
fn a_duplicate_slug_blames_the_file_that_sets_it_not_the_one_named_so() {
    // dup.md sorts first and sets the slug; welcome.md's comes from its
    // file name, so the key to change is dup.md's.
    let p = built();
    p.write(
        "content/ai/dup.md",
        article(
            "title = \"Dup\"\npublished = 2026-11-03\nsummary = \"Dup.\"\nslug = \"welcome\"",
            "Body.",
        ),
    );
    p.write(
        "content/ai/welcome.md",
        article("title = \"Welcome\"\npublished = 2026-11-04", "Body."),
    );
    let lines = build_refused(&p);
    assert_line(
        &lines,
        "content/ai/dup.md:5: slug: \"welcome\" is also the slug of content/ai/welcome.md in column ai; slugs must be unique in a column",
    );
    assert_line(&lines, "1 content error");
}

#[test]
fn one_slug_in_two_columns_is_fine() {
    let p = built();
    p.write(
        "content/city/good.md",
        article(
            "title = \"Same slug, other column\"\npublished = 2026-11-03",
            "Body.",
        ),
    );
    p.build();
}

#[test]
fn a_duplicate_id_names_both_files_and_the_line_of_the_id() {
    let p = built();
    let id = "urn:uuid:9b0f6c1e-3a53-4a47-8f3e-0a9d1d3c2b11";
    p.write(
        "content/ai/first.md",
        article(
            &format!("title = \"One\"\npublished = 2026-11-03\nid = \"{id}\""),
            "Body.",
        ),
    );
    p.write(
        "content/city/second.md",
        article(
            &format!("title = \"Two\"\npublished = 2026-11-04\nid = \"{id}\""),
            "Body.",
        ),
    );
    let lines = build_refused(&p);
    assert_line(
        &lines,
        &format!("content/city/second.md:4: id: \"{id}\" is also the id of content/ai/first.md; ids must be unique"),
    );
    assert_line(&lines, "1 content error");
}

#[test]
fn an_id_set_by_hand_that_another_article_gets_by_default_is_the_one_named() {
    let p = built();
    let id = "tag:news.example.com,2026-11-04:ai/zz-later";
    p.write(
        "content/ai/a-first.md",
        article(
            &format!("title = \"One\"\npublished = 2026-11-03\nid = \"{id}\""),
            "Body.",
        ),
    );
    p.write(
        "content/ai/zz-later.md",
        article("title = \"Two\"\npublished = 2026-11-04", "Body."),
    );
    let lines = build_refused(&p);
    assert_line(
        &lines,
        &format!("content/ai/a-first.md:4: id: \"{id}\" is also the id of content/ai/zz-later.md; ids must be unique"),
    );
    assert_line(&lines, "1 content error");
}

#[test]
fn invalid_utf8_in_the_body_of_a_published_article_is_named_with_its_line() {
    let mut text = article(
        "title = \"Recent\"\npublished = 2026-11-20",
        "First paragraph.\n\nSecond ",
    )
    .into_bytes();
    // Line 1 +++, 2-3 TOML, 4 +++, 5 blank, 6 first paragraph, 7 blank, 8 here.
    text.pop();
    text.extend_from_slice(b"\xff\xfe paragraph.\n");
    let lines = one_bad_file("content/ai/x.md", text);
    assert_line(
        &lines,
        "content/ai/x.md:8: invalid UTF-8; expected UTF-8 text",
    );
}

#[test]
fn invalid_utf8_in_front_matter_is_named_with_its_line_and_field() {
    let lines = one_bad_file(
        "content/ai/x.md",
        b"+++\ntitle = \"Fine\"\npublished = 2026-11-01\nsummary = \"caf\xe9\"\n+++\n\nBody.\n"
            .as_slice(),
    );
    assert_line(
        &lines,
        "content/ai/x.md:4: summary: invalid UTF-8; expected UTF-8 text",
    );
}

#[test]
fn an_empty_file_is_refused() {
    let lines = one_bad_file("content/ai/x.md", "");
    assert_line(
        &lines,
        "content/ai/x.md: the file is empty; expected front matter between +++ lines",
    );
}

#[test]
fn a_file_without_front_matter_is_refused_at_line_one() {
    let lines = one_bad_file("content/ai/x.md", "# Just Markdown\n\nNo front matter.\n");
    assert_line(
        &lines,
        "content/ai/x.md:1: expected the file to open with a +++ line starting the TOML front matter",
    );
}

#[test]
fn a_symlink_loop_in_content_is_reported_not_followed_for_ever() {
    let p = built();
    std::os::unix::fs::symlink("..", p.path("content/ai/loop")).unwrap();
    let lines = build_refused(&p);
    assert_line(
        &lines,
        "content/ai/loop: symlink loop: this folder leads back to content; the loop is skipped",
    );
    assert_line(&lines, "1 content error");
}

/// A link under content/ to a file or folder elsewhere would publish
/// whatever the build can read; it is refused, naming the link and where it
/// leads, unless the configuration says such links are meant.
#[test]
fn a_symlink_leading_outside_content_is_refused_unless_configured() {
    let p = built();
    let elsewhere = tempfile::tempdir().unwrap();
    let secret = elsewhere.path().join("secret.md");
    std::fs::write(
        &secret,
        article("title = \"Secret\"\npublished = 2026-11-03", "不應公開。"),
    )
    .unwrap();
    std::fs::create_dir(elsewhere.path().join("more")).unwrap();
    std::os::unix::fs::symlink(&secret, p.path("content/ai/secret.md")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("more"), p.path("content/more")).unwrap();
    // A link inside content/ is followed as before, and one to a file that
    // is not Markdown is no article at all.
    std::os::unix::fs::symlink("../city/tram.md", p.path("content/ai/tram-again.md")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", p.path("content/ai/notes.txt")).unwrap();
    let lines = build_refused(&p);
    let real = elsewhere.path().canonicalize().unwrap();
    assert_line(
        &lines,
        &format!(
            "content/ai/secret.md: a symbolic link to {}, outside site.content_dir; it is not read (set site.follow_external_symlinks = true to read such links)",
            real.join("secret.md").display()
        ),
    );
    assert_line(
        &lines,
        &format!(
            "content/more: a symbolic link to {}, outside site.content_dir; it is not read (set site.follow_external_symlinks = true to read such links)",
            real.join("more").display()
        ),
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("tram-again") || l.contains("notes.txt")),
        "{lines:?}"
    );
    // With the links meant, the build publishes what they lead to.
    p.write(
        "config.toml",
        CONFIG.replace("[site]\n", "[site]\nfollow_external_symlinks = true\n"),
    );
    p.build();
    assert!(p.read("feeds/ai/rss.xml").contains("不應公開"));
}

#[test]
fn a_50_mib_file_is_refused_with_the_size_limit() {
    let p = built();
    let path = p.path("content/ai/huge.md");
    std::fs::write(
        &path,
        article("title = \"Huge\"\npublished = 2026-11-20", "Body."),
    )
    .unwrap();
    // Sparse: the length is what counts, and the test stays fast.
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(50 * 1024 * 1024)
        .unwrap();
    let lines = build_refused(&p);
    assert_line(
        &lines,
        "content/ai/huge.md: the file is 52428800 bytes; articles are limited to 4 MiB",
    );
}

#[test]
fn a_misspelt_field_is_refused_not_ignored_and_the_field_meant_is_suggested() {
    let lines = one_bad_file(
        "content/ai/x.md",
        article(
            "title = \"Typo\"\npublised = 2026-11-01\npublished = 2026-11-01",
            "Body.",
        ),
    );
    let line = lines
        .iter()
        .find(|l| {
            l.starts_with(
                "content/ai/x.md:3: publised: unknown field `publised`; did you mean `published`? (expected one of",
            )
        })
        .unwrap_or_else(|| panic!("no line names publised: {lines:?}"));
    assert!(line.contains("`published`"), "{line}");
}

#[test]
fn updated_before_published_is_refused() {
    let lines = one_bad_file(
        "content/ai/x.md",
        article(
            "title = \"Time travel\"\npublished = 2026-11-02T08:00:00+08:00\nupdated = 2026-11-01T08:00:00+08:00",
            "Body.",
        ),
    );
    assert_line(
        &lines,
        "content/ai/x.md:4: updated: expected a date on or after published (2026-11-02T08:00:00+08:00), found 2026-11-01T08:00:00+08:00",
    );
}

#[test]
fn a_url_that_is_not_absolute_http_is_refused() {
    let p = built();
    p.write(
        "content/ai/relative.md",
        article(
            "title = \"t\"\npublished = 2026-11-01\nurl = \"/ai/x/\"",
            "Body.",
        ),
    );
    p.write(
        "content/ai/script.md",
        article(
            "title = \"t\"\npublished = 2026-11-01\nurl = \"javascript:alert(1)\"",
            "Body.",
        ),
    );
    let lines = build_refused(&p);
    assert_line(
        &lines,
        "content/ai/relative.md:4: url: expected an absolute http(s) URL, found \"/ai/x/\"",
    );
    assert_line(
        &lines,
        "content/ai/script.md:4: url: expected an absolute http(s) URL, found \"javascript:alert(1)\"",
    );
    assert_line(&lines, "2 content errors");
}

#[test]
fn a_url_or_id_with_control_characters_or_spaces_is_refused() {
    let p = built();
    p.write(
        "content/ai/url.md",
        article(
            "title = \"t\"\npublished = 2026-11-01\nurl = \"https://news.example.com/a\\u001bb\"",
            "Body.",
        ),
    );
    p.write(
        "content/ai/spaced.md",
        article(
            "title = \"t\"\npublished = 2026-11-01\nurl = \"https://news.example.com/a b\"",
            "Body.",
        ),
    );
    p.write(
        "content/ai/id.md",
        article(
            "title = \"t\"\npublished = 2026-11-01\nid = \"urn:x:a\\u0007b\"",
            "Body.",
        ),
    );
    let lines = build_refused(&p);
    assert_line(
        &lines,
        "content/ai/url.md:4: url: expected an absolute http(s) URL, found \"https://news.example.com/a\\u{1b}b\"",
    );
    assert_line(
        &lines,
        "content/ai/spaced.md:4: url: expected an absolute http(s) URL, found \"https://news.example.com/a b\"",
    );
    assert_line(
        &lines,
        "content/ai/id.md:4: id: expected a URI that names this article for ever, such as \"urn:uuid:…\" or \"tag:…\", found \"urn:x:a\\u{7}b\"",
    );
    assert_line(&lines, "3 content errors");
}

#[test]
fn every_error_of_a_run_is_listed_in_file_order() {
    let p = built();
    p.write("content/ai/a-empty.md", "");
    p.write(
        "content/ai/b-date.md",
        article("title = \"t\"\npublished = \"next tuesday\"", "Body."),
    );
    p.write(
        "content/ai/c-two-errors.md",
        article(
            "title = \"t\"\npublished = 2026-11-01\nurl = \"nope\"\nslug = \"a b\"",
            "Body.",
        ),
    );
    p.write("content/city/d-plain.md", "no front matter\n");
    p.write(
        "content/nope/e.md",
        article("title = \"t\"\npublished = 2026-11-01", "Body."),
    );
    let lines = build_refused(&p);
    assert_eq!(
        lines,
        [
            "content/ai/a-empty.md: the file is empty; expected front matter between +++ lines".to_owned(),
            format!("content/ai/b-date.md:3: published: {DATE_EXPECTED}, found \"next tuesday\""),
            "content/ai/c-two-errors.md:4: url: expected an absolute http(s) URL, found \"nope\"".to_owned(),
            "content/ai/c-two-errors.md:5: slug: expected a slug of letters, digits, '-', '_' or '.', such as \"compute-expansion\", found \"a b\"".to_owned(),
            "content/city/d-plain.md:1: expected the file to open with a +++ line starting the TOML front matter".to_owned(),
            "content/nope/e.md: column: unknown column \"nope\"; expected one of ai, city".to_owned(),
            "6 content errors".to_owned(),
            "nothing was written".to_owned(),
        ]
    );
}

#[test]
fn a_fixed_article_builds_again_after_a_refused_build() {
    let p = built();
    p.write(
        "content/ai/x.md",
        article("title = 5\npublished = 2026-11-01", "Body."),
    );
    build_refused(&p);
    p.write(
        "content/ai/x.md",
        article("title = \"Five\"\npublished = 2026-11-03", "Body."),
    );
    p.build();
    let feed = parse_feed(p.read("feeds/ai/atom.xml").as_bytes());
    let titles: Vec<String> = feed
        .entries
        .iter()
        .map(|e| e.title.as_ref().unwrap().content.clone())
        .collect();
    assert_eq!(titles, ["Five", "Good"]);
}

#[test]
fn check_reports_the_same_errors_as_build_and_writes_nothing() {
    let p = Publication::new();
    p.write(
        "content/ai/good.md",
        article("title = \"Good\"\npublished = 2026-11-01", "Body."),
    );
    p.write(
        "content/ai/date.md",
        article("title = \"t\"\npublished = \"next tuesday\"", "Body."),
    );
    p.write(
        "content/ai/typed.md",
        article("title = 5\npublished = 2026-11-01", "Body."),
    );
    p.write("content/ai/empty.md", "");
    let check = p.run(&["check"]).expect_code(2);
    assert!(!p.path("feeds").exists(), "check created feeds/");
    let build = p.run(&["build"]).expect_code(2);
    assert!(!p.path("feeds").exists(), "a refused build created feeds/");
    let mut lines = error_lines(&check.stderr);
    // The same, but for the line a refused build adds: check never writes.
    lines.push("nothing was written".to_owned());
    assert_eq!(lines, error_lines(&build.stderr));
    assert_eq!(
        lines,
        [
            format!("content/ai/date.md:3: published: {DATE_EXPECTED}, found \"next tuesday\""),
            "content/ai/empty.md: the file is empty; expected front matter between +++ lines"
                .to_owned(),
            "content/ai/typed.md:2: title: invalid type: integer `5`, expected a string".to_owned(),
            "3 content errors".to_owned(),
            "nothing was written".to_owned(),
        ]
    );
}

#[test]
fn check_reads_the_bodies_that_no_feed_carries() {
    let p = Publication::with_config(&CONFIG.replace("[feeds]\n", "[feeds]\nmax_items = 1\n"));
    p.write(
        "content/ai/new.md",
        article("title = \"New\"\npublished = 2026-11-20", "Fine."),
    );
    let mut old = article("title = \"Old\"\npublished = 2026-01-01", "Bad ").into_bytes();
    old.pop();
    old.extend_from_slice(b"\xc3\x28 byte.\n");
    p.write("content/ai/old.md", old);
    // The build renders only the newest article, so it never sees the bad byte…
    p.build();
    let before = p.tree("feeds");
    // …but check reads every body.
    let run = p.run(&["check"]).expect_code(2);
    assert_eq!(
        error_lines(&run.stderr),
        [
            "content/ai/old.md:6: invalid UTF-8; expected UTF-8 text",
            "1 content error",
        ]
    );
    assert_same_tree(&before, &p.tree("feeds"));
}

#[test]
fn an_unknown_timezone_is_a_config_error_naming_site_timezone() {
    let p = built();
    let config = p
        .read("config.toml")
        .replace("[site]\n", "[site]\ntimezone = \"Mars/Olympus\"\n");
    p.write("config.toml", config);
    let lines = build_refused(&p);
    let config_path = p.path("config.toml");
    assert_eq!(
        lines,
        [
            format!(
                "{}: site.timezone: expected an IANA time zone such as \"Asia/Hong_Kong\", found \"Mars/Olympus\"",
                config_path.display()
            ),
            "nothing was written".to_owned(),
        ]
    );
}

/// Every author gets feeds whose item lists all the article's authors: an
/// article of thousands would make output of millions of bylines. Past the
/// bound it is refused, naming the file, line and field.
#[test]
fn an_article_with_more_authors_than_the_bound_is_refused() {
    let names = |n: usize| {
        (0..n)
            .map(|i| format!("\"作者{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lines = one_bad_file(
        "content/ai/many.md",
        article(
            &format!(
                "title = \"聯署\"\npublished = 2026-11-03\nauthors = [{}]",
                names(101)
            ),
            "內文。",
        ),
    );
    assert_line(
        &lines,
        "content/ai/many.md:4: authors: expected at most 100 authors, found 101; name the others in the body",
    );
    // A hundred is fine: a feed for each of them.
    let p = built();
    p.write(
        "content/ai/many.md",
        article(
            &format!(
                "title = \"聯署\"\npublished = 2026-11-03\nauthors = [{}]",
                names(100)
            ),
            "內文。",
        ),
    );
    p.build();
    let authors = std::fs::read_dir(p.path("feeds/authors")).unwrap().count();
    assert_eq!(authors, 100);
}

/// `output_dir` is what `serve` hands out: one that would hold the
/// configuration (its secret), the state (every address), the outbox
/// (signed links) or the content is refused by every command, naming the
/// key.
#[test]
fn an_output_dir_holding_what_broadsheet_keeps_is_refused() {
    for (output_dir, extra, held) in [
        (".", "", "the configuration file"),
        ("/", "", "the configuration file"),
        ("content", "", "site.content_dir"),
        ("content/feeds", "", "site.content_dir"),
        ("outbox", "", "smtp.outbox_dir"),
        (
            "data",
            "state_path = \"data/broadsheet.db\"\n",
            "site.state_path",
        ),
        ("feeds/../.", "", "the configuration file"),
    ] {
        let p = Publication::with_config(&CONFIG.replace(
            "[site]\n",
            &format!("[site]\noutput_dir = {output_dir:?}\n{extra}"),
        ));
        for command in ["check", "build"] {
            let run = p.run(&[command]).expect_code(2);
            let want = format!("site.output_dir: {output_dir:?} is served to anyone, and {held} (");
            assert!(
                run.stderr.contains(&want),
                "{command} {output_dir}: {}",
                run.stderr
            );
        }
        assert!(!p.path(&format!("{output_dir}/index.opml")).exists() || output_dir == "/");
    }
}

/// Runs `check`, expecting exit 2 and no line saying nothing was written
/// (check never writes); returns the error lines, the configuration
/// file's path written as `{config}`.
#[track_caller]
fn check_refused(p: &Publication) -> Vec<String> {
    let run = p.run(&["check"]).expect_code(2);
    let config = p.path("config.toml").display().to_string();
    let lines: Vec<String> = error_lines(&run.stderr)
        .into_iter()
        .map(|l| l.replace(&config, "{config}"))
        .collect();
    assert!(
        !lines.iter().any(|l| l == "nothing was written"),
        "{}",
        run.stderr
    );
    lines
}

/// The mail settings are parsed when the config is loaded, so `check`
/// finds an address no message can carry, naming its key, not the first
/// send.
#[test]
fn check_names_a_from_or_reply_to_that_is_not_a_mailbox() {
    let p = Publication::with_config(&format!(
        "{CONFIG}\n[digest]\nfrom = \"digest at news.example.com\"\nreply_to = \"<editor@\"\n"
    ));
    let lines = check_refused(&p);
    assert_line(
        &lines,
        "{config}: digest.from: expected a mailbox such as \"論壇 <digest@news.example.com>\", found \"digest at news.example.com\"",
    );
    assert_line(
        &lines,
        "{config}: digest.reply_to: expected a mailbox, found \"<editor@\"",
    );
    assert_eq!(lines.len(), 2, "{lines:?}");
}

/// The DKIM key is read and parsed at load: a missing file and a file
/// that holds no usable key are both named by `digest.dkim_key_file`.
#[test]
fn check_names_a_dkim_key_file_it_cannot_read_or_use() {
    let p = Publication::with_config(&format!(
        "{CONFIG}\n[digest]\ndkim_selector = \"bs\"\ndkim_domain = \"news.example.com\"\ndkim_key_file = \"dkim.pem\"\n"
    ));
    let lines = check_refused(&p);
    assert_line(
        &lines,
        &format!(
            "{{config}}: digest.dkim_key_file: cannot read {}: No such file or directory (os error 2)",
            p.path("dkim.pem").display()
        ),
    );
    p.write(
        "dkim.pem",
        "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n",
    );
    let lines = check_refused(&p);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("{config}: digest.dkim_key_file: not a usable private key: ")),
        "{lines:?}"
    );
}

/// A secret that is set must be long enough to sign with, whichever
/// command reads it; one from the environment is checked the same way,
/// and never shown.
#[test]
fn check_refuses_a_secret_too_short_to_sign_with() {
    let p = Publication::with_config(&format!("{CONFIG}\n[server]\nsecret = \"short\"\n"));
    let lines = check_refused(&p);
    assert_eq!(
        lines,
        ["{config}: server.secret: expected at least 16 characters: a short secret can be guessed"]
    );
    let run = p
        .run_with_env(
            NOW,
            &["check"],
            &[("BROADSHEET_SERVER__SECRET", "tiny-env")],
        )
        .expect_code(2);
    assert!(run.stderr.contains("server.secret"), "{}", run.stderr);
    assert!(!run.stderr.contains("tiny-env"), "{}", run.stderr);
    p.run_with_env(
        NOW,
        &["check"],
        &[("BROADSHEET_SERVER__SECRET", "sixteen-or-more-characters")],
    )
    .expect_code(0);
}

/// `smtp.ca_file` is read at load, relay or not; and with a relay, its
/// TLS setup is made as a send would make it, so a certificate file that
/// cannot be read as PEM is found by `check` too.
#[test]
fn check_names_a_ca_file_it_cannot_read_or_parse() {
    let p = Publication::with_config(&format!("{CONFIG}\n[smtp]\nca_file = \"relay-ca.pem\"\n"));
    let lines = check_refused(&p);
    assert_eq!(
        lines,
        [format!(
            "{{config}}: smtp.ca_file: cannot read {}: No such file or directory (os error 2)",
            p.path("relay-ca.pem").display()
        )]
    );
    let p = Publication::with_config(&format!(
        "{CONFIG}\n[smtp]\nhost = \"127.0.0.1\"\nsecurity = \"starttls\"\nca_file = \"relay-ca.pem\"\n"
    ));
    p.write(
        "relay-ca.pem",
        "-----BEGIN CERTIFICATE-----\n%%% not base64 %%%\n-----END CERTIFICATE-----\n",
    );
    let lines = check_refused(&p);
    assert!(
        lines.len() == 1
            && lines[0]
                .starts_with("{config}: smtp.host: smtp: cannot read the extra root certificate: "),
        "{lines:?}"
    );
}

#[test]
fn a_subject_that_does_not_compile_is_named_by_its_key_not_a_line_of_the_config() {
    let p = built();
    let run = p
        .run_with_env(
            NOW,
            &["check"],
            &[("BROADSHEET_DIGEST__SUBJECT", "{{#if issue.label}}本週")],
        )
        .expect_code(2);
    let shown = p.path("config.toml").display().to_string();
    let line = error_lines(&run.stderr)
        .into_iter()
        .find(|l| l.contains("digest.subject"))
        .unwrap_or_else(|| panic!("no digest.subject error in {}", run.stderr));
    assert!(
        line.starts_with("config.toml: digest.subject: ")
            || line.starts_with(&format!("{shown}: digest.subject: ")),
        "{line}"
    );
}

#[test]
fn digest_send_names_every_setting_it_lacks_at_once_from_included() {
    let p = Publication::new();
    p.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    let run = p.run(&["digest", "send"]).expect_code(2);
    let lines = error_lines(&run.stderr);
    for key in ["digest.from", "server.public_url", "server.secret"] {
        assert!(
            lines.iter().any(|l| l.contains(&format!(": {key}: "))),
            "{key} not named in {lines:?}"
        );
    }
    assert!(
        lines.iter().any(|l| l.ends_with("digest.from: expected the mailbox emails come from, such as \"論壇 <digest@news.example.com>\"; it is not set")),
        "{lines:?}"
    );
}

#[test]
fn a_config_value_of_the_wrong_type_is_named_by_its_key_like_any_other() {
    let p = Publication::new();
    let run = p
        .run_with_env(NOW, &["check"], &[("BROADSHEET_SMTP__PORT", "abc")])
        .expect_code(2);
    let lines = error_lines(&run.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(": smtp.port: expected an integer, found string \"abc\"")),
        "{lines:?}"
    );
}

#[test]
fn a_missing_config_toml_suggests_broadsheet_init_and_nothing_else_does() {
    let p = Publication::empty();
    let run = p.run(&["build"]).expect_code(2);
    let lines = error_lines(&run.stderr);
    assert!(
        lines.iter().any(
            |l| l.contains("config.toml: cannot read the configuration: ")
                && l.ends_with("; to start a publication here, run `broadsheet init`")
        ),
        "{lines:?}"
    );
    // Another folder's: init is pointed there.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .current_dir(p.path(""))
        .args(["--config", "paper/config.toml", "check"])
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        error_lines(&stderr)
            .iter()
            .any(|l| l.ends_with("; to start a publication there, run `broadsheet init paper`")),
        "{stderr}"
    );
    // A config.toml that is there but cannot be read is not cured by init.
    std::fs::create_dir(p.path("config.toml")).unwrap();
    let run = p.run(&["build"]).expect_code(2);
    assert!(
        run.stderr.contains("cannot read the configuration"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("broadsheet init"), "{}", run.stderr);
}

#[test]
fn check_never_says_nothing_was_written_since_it_writes_nothing_ever() {
    let p = Publication::new();
    p.write(
        "content/ai/bad.md",
        "+++\ntitle = \"壞\"\npublised = 2026-06-12\n+++\nbody\n",
    );
    let check = p.run(&["check"]).expect_code(2);
    assert!(check.stderr.contains("publised"), "{}", check.stderr);
    assert!(
        !check.stderr.contains("nothing was written"),
        "{}",
        check.stderr
    );
    // A build, which would have written, still says so.
    let build = p.run(&["build"]).expect_code(2);
    assert!(
        error_lines(&build.stderr)
            .iter()
            .any(|l| l == "nothing was written"),
        "{}",
        build.stderr
    );
}
