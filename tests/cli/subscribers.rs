//! `broadsheet subscribers …` against a real SQLite file.

use crate::util::*;

fn publication() -> Publication {
    Publication::new()
}

#[test]
fn add_list_and_remove() {
    let p = publication();
    p.run(&[
        "subscribers",
        "add",
        "Reader@Example.COM",
        "--name",
        "陳讀者",
        "--columns",
        "ai,city",
    ])
    .expect_code(0);
    // The domain compares without case: the same subscriber, updated.
    let again = p
        .run(&[
            "subscribers",
            "add",
            "Reader@example.com",
            "--columns",
            "ai",
        ])
        .expect_code(0);
    assert!(again.stdout.contains("updated"), "{}", again.stdout);
    let list = p.run(&["subscribers", "list"]).expect_code(0);
    assert_eq!(list.stdout, "Reader@Example.COM\t陳讀者\tai\tactive\n");
    p.run(&["subscribers", "remove", "Reader@EXAMPLE.com"])
        .expect_code(0);
    assert_eq!(p.run(&["subscribers", "list"]).expect_code(0).stdout, "");
}

#[test]
fn a_bad_address_or_column_is_refused_by_name() {
    let p = publication();
    let run = p
        .run(&["subscribers", "add", "not-an-address"])
        .expect_code(2);
    assert!(
        run.stderr.contains(
            "EMAIL: expected an email address such as reader@example.com, found \"not-an-address\""
        ),
        "{}",
        run.stderr
    );
    let run = p
        .run(&[
            "subscribers",
            "add",
            "a@example.com",
            "--columns",
            "ai,sport",
        ])
        .expect_code(2);
    assert!(
        run.stderr
            .contains("--columns: unknown column \"sport\"; expected one of ai, city"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_misspelt_column_given_to_add_names_the_column_meant() {
    let p = Publication::new();
    let run = p
        .run(&[
            "subscribers",
            "add",
            "a@example.com",
            "--columns",
            "ai,ctiy",
        ])
        .expect_code(2);
    assert!(
        run.stderr.contains(
            "--columns: unknown column \"ctiy\"; did you mean `city`? (expected one of ai, city)"
        ),
        "{}",
        run.stderr
    );
    // Two letters two edits from `ai` are not a slip of the hand for it.
    let run = p
        .run(&["subscribers", "add", "a@example.com", "--columns", "zz"])
        .expect_code(2);
    assert!(
        run.stderr
            .contains("--columns: unknown column \"zz\"; expected one of ai, city"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_address_no_message_could_be_sent_to_is_refused_by_name() {
    let p = publication();
    let run = p
        .run(&["subscribers", "add", "\"a@b\"@example.com"])
        .expect_code(2);
    assert!(
        run.stderr.contains(
            r#"EMAIL: expected an email address such as reader@example.com, found "\"a@b\"@example.com""#
        ),
        "{}",
        run.stderr
    );
    assert_eq!(p.run(&["subscribers", "list"]).expect_code(0).stdout, "");
}

#[test]
fn import_reports_bad_rows_by_line_and_imports_the_rest() {
    let p = publication();
    p.write(
        "in.csv",
        "\u{feff}email,name,columns\r\na@example.com,甲,ai\r\nnot-an-address,乙,\r\nb@example.com,丙,sport\r\nc@example.com,丁,ai;city,extra\r\nd@example.com,\"戊, 己\",\r\na@EXAMPLE.com,dup,\r\n",
    );
    let run = p.run(&["subscribers", "import", "in.csv"]).expect_code(2);
    for expected in [
        "in.csv:3: email: expected an email address",
        "in.csv:4: columns: unknown column \"sport\"",
        "in.csv:5: expected 3 fields (email,name,columns), found 4",
        "in.csv:7: email: a@EXAMPLE.com is already on line 2",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?} in\n{}",
            run.stderr
        );
    }
    assert!(run.stdout.contains("2 added"), "{}", run.stdout);
    let list = p.run(&["subscribers", "list"]).expect_code(0).stdout;
    assert_eq!(
        list,
        "a@example.com\t甲\tai\tactive\nd@example.com\t戊, 己\t*\tactive\n"
    );
}

#[test]
fn a_csv_without_the_header_is_refused_whole() {
    let p = publication();
    p.write("in.csv", "a@example.com,甲,ai\n");
    let run = p.run(&["subscribers", "import", "in.csv"]).expect_code(2);
    assert!(
        run.stderr
            .contains("in.csv:1: expected the header email,name,columns"),
        "{}",
        run.stderr
    );
    assert_eq!(p.run(&["subscribers", "list"]).expect_code(0).stdout, "");
}

#[test]
fn export_round_trips_with_import_and_reimport_changes_nothing() {
    let p = publication();
    p.run(&[
        "subscribers",
        "add",
        "a@example.com",
        "--name",
        "甲, \"乙\"",
        "--columns",
        "ai",
    ])
    .expect_code(0);
    p.run(&["subscribers", "add", "b@example.com"])
        .expect_code(0);
    let exported = p.run(&["subscribers", "export"]).expect_code(0).stdout;
    p.write("out.csv", &exported);
    let run = p.run(&["subscribers", "import", "out.csv"]).expect_code(0);
    assert!(
        run.stdout.contains("0 added, 0 updated, 2 unchanged"),
        "{}",
        run.stdout
    );
    let q = publication();
    q.write("in.csv", &exported);
    q.run(&["subscribers", "import", "in.csv"]).expect_code(0);
    assert_eq!(
        q.run(&["subscribers", "list"]).expect_code(0).stdout,
        p.run(&["subscribers", "list"]).expect_code(0).stdout
    );
}

#[test]
fn an_unsubscribed_address_is_not_reactivated_without_resubscribe() {
    let p = publication();
    p.run(&["subscribers", "add", "a@example.com"])
        .expect_code(0);
    {
        let mut store = broadsheet::store::Store::open(&p.path("broadsheet.db")).unwrap();
        let s = store
            .subscriber(&broadsheet::address::Email::parse("a@example.com").unwrap())
            .unwrap()
            .unwrap();
        let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap();
        store
            .set_subscriber_status(s.id, broadsheet::store::SubscriberStatus::Unsubscribed, now)
            .unwrap();
    }
    p.write("in.csv", "email,name,columns\na@example.com,,\n");
    let run = p.run(&["subscribers", "import", "in.csv"]).expect_code(0);
    assert!(run.stdout.contains("1 kept unsubscribed"), "{}", run.stdout);
    assert!(p
        .run(&["subscribers", "list", "--status", "unsubscribed"])
        .expect_code(0)
        .stdout
        .starts_with("a@example.com"));
    p.run(&["subscribers", "import", "in.csv", "--resubscribe"])
        .expect_code(0);
    assert!(p
        .run(&["subscribers", "list", "--status", "active"])
        .expect_code(0)
        .stdout
        .starts_with("a@example.com"));
}

#[test]
fn a_large_import_goes_in_one_transaction() {
    let p = publication();
    let mut csv = String::from("email,name,columns\n");
    for i in 0..100_000 {
        csv.push_str(&format!("reader{i}@example.com,讀者{i},ai\n"));
    }
    p.write("big.csv", csv);
    // The database refuses the last row, as a full disk would: rows
    // committed one by one would leave the 99,999 before it behind.
    p.run(&["subscribers", "add", "seed@example.com"])
        .expect_code(0);
    p.run(&["subscribers", "remove", "seed@example.com"])
        .expect_code(0);
    let db = rusqlite::Connection::open(p.path("broadsheet.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse_the_last BEFORE INSERT ON subscribers
         WHEN NEW.email = 'reader99999@example.com'
         BEGIN SELECT RAISE(ABORT, 'the last row is refused'); END;",
    )
    .unwrap();
    let run = p.run(&["subscribers", "import", "big.csv"]).expect_code(1);
    assert!(
        run.stderr
            .contains("broadsheet.db: the last row is refused"),
        "{}",
        run.stderr
    );
    let left = p.run(&["subscribers", "list"]).expect_code(0).stdout;
    assert_eq!(left.lines().count(), 0, "rows left behind");

    db.execute_batch("DROP TRIGGER refuse_the_last").unwrap();
    drop(db);
    let run = p.run(&["subscribers", "import", "big.csv"]).expect_code(0);
    assert!(run.stdout.contains("100000 added"), "{}", run.stdout);
}

#[test]
fn a_state_folder_that_cannot_be_made_is_named_and_exits_1() {
    let p = publication();
    p.write("data", "a file where the state's folder would be");
    let run = p
        .run_with_env(
            "2026-06-08T07:00:00+08:00",
            &["subscribers", "add", "a@example.com"],
            &[("BROADSHEET_SITE__STATE_PATH", "data/broadsheet.db")],
        )
        .expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "{}: cannot create the folder of the state database (site.state_path): ",
            p.path("data").display()
        )),
        "{}",
        run.stderr
    );
}

#[test]
fn a_unicode_domain_and_its_ascii_form_are_one_subscriber() {
    let p = publication();
    p.run(&[
        "subscribers",
        "add",
        "reader@Bücher.example",
        "--name",
        "甲",
    ])
    .expect_code(0);
    let again = p
        .run(&[
            "subscribers",
            "add",
            "reader@xn--bcher-kva.example",
            "--name",
            "甲",
        ])
        .expect_code(0);
    assert!(again.stdout.contains("unchanged"), "{}", again.stdout);
    let list = p.run(&["subscribers", "list"]).expect_code(0);
    assert_eq!(list.stdout, "reader@xn--bcher-kva.example\t甲\t*\tactive\n");

    p.write(
        "both.csv",
        "email,name,columns\nother@bücher.example,,\nother@XN--BCHER-KVA.example,,\n",
    );
    let run = p.run(&["subscribers", "import", "both.csv"]).expect_code(2);
    assert!(
        run.stderr
            .contains("both.csv:3: email: other@XN--BCHER-KVA.example is already on line 2"),
        "{}",
        run.stderr
    );
}

#[test]
fn bidi_and_format_characters_are_dropped_from_names() {
    let p = publication();
    p.run(&[
        "subscribers",
        "add",
        "a@example.com",
        "--name",
        "Send your password to \u{202e}elpmaxe.live\u{2066}",
    ])
    .expect_code(0);
    p.write(
        "names.csv",
        "email,name,columns\nb@example.com,\u{200f}陳\u{200b}大文,\n",
    );
    p.run(&["subscribers", "import", "names.csv"])
        .expect_code(0);
    let list = p.run(&["subscribers", "list"]).expect_code(0);
    assert_eq!(
        list.stdout,
        "a@example.com\tSend your password to elpmaxe.live\t*\tactive\nb@example.com\t陳大文\t*\tactive\n"
    );
}

#[test]
fn adding_an_address_again_changes_only_the_fields_given() {
    let p = publication();
    let add = |args: &[&str]| {
        let mut all = vec!["subscribers", "add", "reader@example.com"];
        all.extend_from_slice(args);
        p.run(&all).expect_code(0).stdout
    };
    let list = || p.run(&["subscribers", "list"]).expect_code(0).stdout;
    add(&["--name", "陳讀者", "--columns", "ai,city"]);
    assert_eq!(add(&["--columns", "ai"]), "reader@example.com: updated\n");
    assert_eq!(list(), "reader@example.com\t陳讀者\tai\tactive\n");
    assert_eq!(add(&["--name", "陳大文"]), "reader@example.com: updated\n");
    assert_eq!(list(), "reader@example.com\t陳大文\tai\tactive\n");
    assert_eq!(add(&[]), "reader@example.com: unchanged\n");
    assert_eq!(list(), "reader@example.com\t陳大文\tai\tactive\n");
    // Given empty, a field is cleared: no name, every column.
    assert_eq!(
        add(&["--name", "", "--columns", ""]),
        "reader@example.com: updated\n"
    );
    assert_eq!(list(), "reader@example.com\t\t*\tactive\n");
}

#[test]
fn an_import_row_sets_every_field_and_an_empty_name_cell_clears_the_name() {
    let p = publication();
    p.run(&[
        "subscribers",
        "add",
        "reader@example.com",
        "--name",
        "陳讀者",
        "--columns",
        "city",
    ])
    .expect_code(0);
    p.write("rows.csv", "email,name,columns\nreader@example.com,,ai\n");
    p.run(&["subscribers", "import", "rows.csv"]).expect_code(0);
    assert_eq!(
        p.run(&["subscribers", "list"]).expect_code(0).stdout,
        "reader@example.com\t\tai\tactive\n"
    );
}
