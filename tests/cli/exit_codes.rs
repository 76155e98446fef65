//! The exit code follows what failed, not which command failed: 2 when
//! the user must fix an input, 1 when the run failed underneath (a write,
//! standard output, the relay). These are the cases where one command
//! once said 2 and another 1 for the same failure.

use crate::util::*;

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
