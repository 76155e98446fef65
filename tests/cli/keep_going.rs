//! `run` (and `build --keep-going`) publish past an invalid article: the
//! rest goes out, the article keeps the version an earlier build published,
//! and the exit code and `status` say so until it is fixed. `build` and
//! `check` stay strict.

use crate::util::*;

fn piece(title: &str, published: &str) -> String {
    article(
        &format!("title = \"{title}\"\npublished = {published}\nauthors = [\"陳大文\"]"),
        "第一段。",
    )
}

fn titles(p: &Publication) -> Vec<String> {
    let feed = parse_feed(p.read("feeds/all/feed.json").as_bytes());
    let mut t: Vec<String> = feed
        .entries
        .into_iter()
        .map(|e| e.title.expect("a title").content)
        .collect();
    t.sort();
    t
}

#[test]
fn run_publishes_past_an_invalid_article_keeping_the_version_published_before() {
    let p = Publication::new();
    p.write(
        "content/ai/one.md",
        piece("第一篇", "2026-11-20T07:00:00+08:00"),
    );
    p.write(
        "content/city/two.md",
        piece("第二篇", "2026-11-21T07:00:00+08:00"),
    );
    p.run(&["run"]).expect_code(0);
    assert_eq!(titles(&p), ["第一篇", "第二篇"]);

    // A typo in an article already out, and a new article beside it.
    p.write(
        "content/city/two.md",
        piece("第二篇（改）", "\"next week\""),
    );
    p.write(
        "content/ai/three.md",
        piece("第三篇", "2026-11-22T07:00:00+08:00"),
    );
    let run = p.run(&["run"]).expect_code(1);
    assert!(
        run.stderr
            .contains("error: content/city/two.md:3: published: "),
        "the file, line and field are named:\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "error: 1 invalid article left out of the build; the version published before is kept in its place"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.starts_with(
            "built 2 columns, 3 articles (0 drafts, 0 scheduled, 1 invalid left out): "
        ),
        "{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains("nothing was written"),
        "{}",
        run.stderr
    );
    assert_eq!(
        titles(&p),
        ["第一篇", "第三篇", "第二篇"],
        "the new one is out, the bad one as it was"
    );

    let status = p.run(&["status"]).expect_code(1);
    assert!(
        status
            .stdout
            .contains("problem: 1 invalid article left out of the feeds (1 kept in the version published before)")
            && status.stdout.contains("content/city/two.md:3: published: "),
        "{}",
        status.stdout
    );

    // Cron's next run has nothing new to read, and says it all again.
    let again = p.run(&["run"]).expect_code(1);
    assert!(
        again.stderr.contains("content/city/two.md:3: published: "),
        "{}",
        again.stderr
    );

    // By hand, `build` stays strict and writes nothing; --keep-going is run's way.
    let before = p.tree("feeds");
    let strict = p.run(&["build"]).expect_code(2);
    assert!(
        strict.stderr.contains("content/city/two.md:3: published: "),
        "{}",
        strict.stderr
    );
    assert_eq!(p.tree("feeds"), before, "a strict build wrote nothing");
    p.run(&["build", "--keep-going"]).expect_code(1);
    assert_eq!(titles(&p), ["第一篇", "第三篇", "第二篇"]);

    // Fixed: published as it now is, and status is well again.
    p.write(
        "content/city/two.md",
        piece("第二篇（改）", "2026-11-21T07:00:00+08:00"),
    );
    p.run(&["run"]).expect_code(0);
    assert_eq!(titles(&p), ["第一篇", "第三篇", "第二篇（改）"]);
    let status = p.run(&["status"]).expect_code(0);
    assert!(!status.stdout.contains("left out"), "{}", status.stdout);
}

#[test]
fn an_invalid_article_never_published_is_left_out_and_the_rest_goes_out() {
    let p = Publication::new();
    p.write(
        "content/ai/one.md",
        piece("第一篇", "2026-11-20T07:00:00+08:00"),
    );
    p.write(
        "content/ai/bad.md",
        "+++\ntitle = \"壞\"\npublishd = 2026-11-21T07:00:00+08:00\n+++\n正文。\n",
    );
    let run = p.run(&["build", "--keep-going"]).expect_code(1);
    assert!(
        run.stderr.contains("content/ai/bad.md:3: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: 1 invalid article left out of the build; fix and run again"),
        "{}",
        run.stderr
    );
    assert_eq!(titles(&p), ["第一篇"]);
}

#[test]
fn build_and_run_print_one_summary_line_of_one_shape() {
    let p = Publication::new();
    p.write(
        "content/ai/one.md",
        piece("第一篇", "2026-11-20T07:00:00+08:00"),
    );
    let build = p.run(&["build"]).expect_code(0);
    p.write(
        "content/ai/two.md",
        piece("第二篇", "2026-11-21T07:00:00+08:00"),
    );
    let run = p.run(&["run"]).expect_code(0);
    let shape = |line: &str| {
        line.lines()
            .next()
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .replace(char::is_numeric, "#")
    };
    assert_eq!(
        shape(&build.stdout),
        "built # columns, # article (# drafts, # scheduled)"
    );
    assert_eq!(
        shape(&run.stdout),
        "built # columns, # articles (# drafts, # scheduled)"
    );
}

#[test]
fn the_digest_of_a_run_goes_out_past_an_invalid_article_with_what_the_feeds_carry() {
    let p = Publication::with_config(&crate::status::outbox_config());
    crate::status::subscribe(&p, "chan@example.com", &[]);
    p.write(
        "content/ai/one.md",
        piece("第一篇", "2026-11-26T07:00:00+08:00"),
    );
    p.write(
        "content/city/two.md",
        piece("第二篇", "2026-11-27T07:00:00+08:00"),
    );
    // Published by a plain build, as the README starts; broken afterwards.
    p.run_at("2026-11-28T09:00:00+08:00", &["build"])
        .expect_code(0);
    p.write(
        "content/city/two.md",
        piece("第二篇（改）", "\"next week\""),
    );
    p.write("content/ai/bad.md", "+++\ntitle = 3\n+++\n");

    let run = p.run_at(crate::status::AFTER_SLOT, &["run"]).expect_code(1);
    assert!(
        run.stdout.contains("digest 2026-W49"),
        "the digest step ran:\n{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("content/ai/bad.md:2: title: "),
        "{}",
        run.stderr
    );
    let outbox: Vec<_> = std::fs::read_dir(p.path("outbox")).unwrap().collect();
    assert_eq!(outbox.len(), 1, "one digest in the outbox");
    let eml = std::fs::read(outbox[0].as_ref().unwrap().path()).unwrap();
    let mail = mail_parser::MessageParser::default()
        .parse(&eml[..])
        .unwrap();
    let text = mail.body_text(0).unwrap();
    assert!(text.contains("第一篇") && text.contains("第二篇"), "{text}");
    assert!(
        !text.contains("（改）"),
        "the version the feeds carry: {text}"
    );
    assert_eq!(
        titles(&p),
        ["第一篇", "第二篇"],
        "kept from the plain build"
    );

    let status = p
        .run_at(crate::status::AFTER_SLOT, &["status"])
        .expect_code(1);
    let lines: Vec<&str> = status
        .stdout
        .lines()
        .filter(|l| l.starts_with("problem: "))
        .collect();
    assert_eq!(
        lines,
        [
            "problem: 2 invalid articles left out of the feeds (1 kept in the version published before); fix and run again",
            "problem: invalid: content/ai/bad.md:2: title: invalid type: integer `3`, expected a string",
            "problem: invalid: content/city/two.md:3: published: expected an RFC 3339 date such as 2026-06-12T07:00:00+08:00, a local date-time or a date, found \"next week\"",
        ],
        "{}",
        status.stdout
    );
}

#[test]
fn a_config_to_fix_outranks_an_article_left_out_in_the_exit_code() {
    // Someone is subscribed, and the digest settings lack a secret.
    let p = Publication::new();
    p.run(&["subscribers", "add", "chan@example.com"])
        .expect_code(0);
    p.write(
        "content/ai/one.md",
        piece("第一篇", "2026-11-20T07:00:00+08:00"),
    );
    p.write("content/ai/bad.md", "+++\ntitle = 3\n+++\n");
    let run = p.run(&["--quiet", "run"]).expect_code(2);
    assert!(
        run.stderr.contains("content/ai/bad.md:2: title: "),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("server.secret"), "{}", run.stderr);
}
