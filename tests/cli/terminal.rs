//! What a person at a terminal sees, and what a script or cron reads when
//! the same command is piped: colour, a table with a header, progress.

use crate::util::*;

const COLOURED_WARNING: &str = "\u{1b}[1;33mwarning\u{1b}[0m: ";
const COLOURED_ERROR: &str = "\u{1b}[1;31merror\u{1b}[0m: ";

fn with_typo() -> Publication {
    let p = Publication::with_config(&format!("{CONFIG}max_itmes = 5\n"));
    p.write(
        "content/ai/one.md",
        article(
            "title = \"第一篇\"\npublished = 2026-11-20T07:00:00+08:00",
            "正文。",
        ),
    );
    p
}

#[test]
fn a_misspelt_config_key_names_the_one_meant() {
    let run = with_typo().run(&["check"]).expect_code(0);
    assert!(
        run.stderr.contains(
            "config.toml: unknown key feeds.max_itmes is ignored; did you mean `feeds.max_items`?"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn warnings_and_errors_are_coloured_on_a_terminal_only() {
    let p = with_typo();
    let piped = p.run(&["build"]).expect_code(0);
    assert!(piped.stderr.starts_with("warning: "), "{}", piped.stderr);
    assert!(
        !piped.stderr.contains('\u{1b}'),
        "no colour when piped: {:?}",
        piped.stderr
    );

    let screen = p.run_on_terminal(&["build"], &[]).expect_code(0);
    assert!(
        screen.stdout.contains(COLOURED_WARNING),
        "{:?}",
        screen.stdout
    );
    p.write("content/ai/bad.md", "+++\ntitle = 3\n+++\n");
    let screen = p.run_on_terminal(&["check"], &[]).expect_code(2);
    assert!(
        screen.stdout.contains(COLOURED_ERROR),
        "{:?}",
        screen.stdout
    );

    // NO_COLOR, set to anything, turns it off (https://no-color.org).
    let plain = p
        .run_on_terminal(&["check"], &[("NO_COLOR", "1")])
        .expect_code(2);
    assert!(
        plain.stdout.contains("error: content/ai/bad.md:2: title: "),
        "{:?}",
        plain.stdout
    );
    assert!(!plain.stdout.contains("\u{1b}[1;3"), "{:?}", plain.stdout);
}

#[test]
fn verbose_builds_say_each_phase_with_its_counts() {
    let p = Publication::new();
    p.write(
        "content/ai/one.md",
        article(
            "title = \"第一篇\"\npublished = 2026-11-20T07:00:00+08:00",
            "正文。",
        ),
    );
    p.write(
        "content/ai/draft.md",
        article(
            "title = \"草稿\"\npublished = 2026-11-20T08:00:00+08:00\ndraft = true",
            "正文。",
        ),
    );
    let run = p.run(&["-v", "build"]).expect_code(0);
    for phase in [
        "found 2 content files (",
        "read 2 articles (1 published, 1 draft, 0 scheduled; 2 read again, 0 as the last build read them) for 3 feeds (",
        "made 3 feeds, kept 0 (",
        "wrote ",
    ] {
        assert!(run.stderr.contains(phase), "{phase:?} in:\n{}", run.stderr);
    }
    // Without -v, the same build is one line on stdout and nothing else.
    p.write(
        "content/ai/two.md",
        article(
            "title = \"第二篇\"\npublished = 2026-11-21T07:00:00+08:00",
            "正文。",
        ),
    );
    let quiet = p.run(&["build"]).expect_code(0);
    assert_eq!(quiet.stderr, "");
}

#[test]
fn subscribers_list_has_a_header_on_a_terminal_and_plain_lines_when_piped() {
    let p = Publication::new();
    p.run(&["subscribers", "add", "chan@example.com", "--name", "陳小姐"])
        .expect_code(0);
    p.run(&["subscribers", "add", "lee@example.com", "--columns", "ai"])
        .expect_code(0);
    let piped = p.run(&["subscribers", "list"]).expect_code(0);
    assert_eq!(
        piped.stdout,
        "chan@example.com\t陳小姐\t*\tactive\nlee@example.com\t\tai\tactive\n"
    );
    let screen = p
        .run_on_terminal(&["subscribers", "list"], &[])
        .expect_code(0);
    let lines: Vec<&str> = screen.stdout.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            "EMAIL             NAME    COLUMNS       STATUS",
            "chan@example.com  陳小姐  every column  active",
            "lee@example.com           ai            active",
            "2 subscribers",
        ],
        "{:?}",
        screen.stdout
    );
}

#[test]
fn read_only_commands_never_speak_of_writing_nor_make_a_state() {
    let p = Publication::empty();
    let run = p.run(&["status"]).expect_code(2);
    assert!(run.stderr.contains("broadsheet init"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("nothing was written"),
        "{}",
        run.stderr
    );

    let p = Publication::new();
    let list = p.run(&["subscribers", "list"]).expect_code(0);
    assert_eq!(list.stdout, "");
    p.run(&["subscribers", "export"]).expect_code(0);
    assert!(!p.path("broadsheet.db").exists(), "listing made a state");
}
