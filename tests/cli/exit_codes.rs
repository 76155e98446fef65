//! The exit code follows what failed, not which command failed: 2 when
//! the user must fix an input, 1 when the run failed underneath (a write,
//! standard output, the relay). These are the cases where one command
//! once said 2 and another 1 for the same failure.

use crate::util::*;

#[cfg(target_os = "linux")]
#[test]
fn every_command_exits_1_when_standard_output_cannot_be_written() {
    let p = Publication::sample();
    p.build();
    p.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    for args in [
        &["build"][..],
        &["check"],
        &["status", "--json"],
        &["subscribers", "list"],
        &["subscribers", "export"],
        &["man"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full on Linux");
        let run = p.run_with_stdout(full, args);
        assert_eq!(run.code, 1, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("cannot write to standard output"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn init_where_a_file_is_in_the_way_exits_1_naming_the_path() {
    let p = Publication::empty();
    p.write("blocker", "a file, not a folder");
    let run = p.run(&["init", "blocker/paper"]).expect_code(1);
    assert!(run.stderr.contains("blocker/paper"), "{}", run.stderr);
    assert!(run.stderr.contains("cannot read"), "{}", run.stderr);
}

#[test]
fn a_bad_argument_still_exits_2() {
    let p = Publication::sample();
    let run = p
        .run(&["subscribers", "add", "not-an-address"])
        .expect_code(2);
    assert!(run.stderr.contains("EMAIL: "), "{}", run.stderr);
}

#[test]
fn init_pointed_at_a_file_says_so_and_exits_2() {
    let p = Publication::empty();
    p.write("config.toml", "# someone's");
    let run = p.run(&["init", "config.toml"]).expect_code(2);
    assert!(
        run.stderr.contains("config.toml: is a file, not a folder"),
        "{}",
        run.stderr
    );
    assert_eq!(p.read("config.toml"), "# someone's");
}
