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
            .contains("the last build left out 1 invalid article(s)")
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
