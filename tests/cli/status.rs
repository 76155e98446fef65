//! `status`, in JSON and in text: what it counts, when it is unhealthy
//! (exit 1), and that it writes nothing.

use crate::output::{assert_same_tree, build_line, json_of};
use crate::smtp::SmtpServer;
use crate::util::*;
use chrono::DateTime;
use serde_json::json;

/// An hour after the Monday 08:00 slot of issue 2026-W49 (2026-11-30).
pub(crate) const AFTER_SLOT: &str = "2026-11-30T09:00:00+08:00";

/// The Wednesday after issue 2026-W49.
const WEDNESDAY: &str = "2026-12-02T12:00:00+08:00";

/// `PRAGMA application_id` of broadsheet's database ("BSHT"), as
/// src/store/mod.rs sets it.
const APPLICATION_ID: i64 = 0x4253_4854;

/// The digest settings, every email written to outbox/.
pub(crate) fn outbox_config() -> String {
    digest_config("outbox_dir = \"outbox\"")
}

/// The digest settings, every email sent to a relay on 127.0.0.1:`port`.
fn smtp_config(port: u16) -> String {
    digest_config(&format!("host = \"127.0.0.1\"\nport = {port}"))
}

/// `subscribers add email args…`, which must succeed.
pub(crate) fn subscribe(p: &Publication, email: &str, args: &[&str]) {
    let mut all = vec!["subscribers", "add", email];
    all.extend_from_slice(args);
    p.run(&all).expect_code(0);
}

/// Two articles for issue 2026-W49, one for W50, a draft and one not due.
pub(crate) fn with_a_week_of_articles(config: &str) -> Publication {
    let p = Publication::with_config(config);
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容與新型工業化\"\npublished = 2026-11-27T07:00:00+08:00\nauthors = [{ name = \"陳大文\", role = \"研究院院長\" }]",
            "算力是新時代的基建。",
        ),
    );
    p.write(
        "content/city/tram.md",
        article(
            "title = \"電車慢活\"\npublished = 2026-11-26T07:00:00+08:00",
            "電車是城市的節奏。",
        ),
    );
    p.write(
        "content/city/ferry.md",
        article(
            "title = \"渡輪的黃昏\"\npublished = 2026-12-01T07:00:00+08:00",
            "渡輪是另一種節奏。",
        ),
    );
    p.write(
        "content/ai/draft.md",
        article(
            "title = \"草稿\"\npublished = 2026-11-25\ndraft = true",
            "未完成。",
        ),
    );
    p.write(
        "content/ai/later.md",
        article(
            "title = \"明年見\"\npublished = 2027-01-15T07:00:00+08:00",
            "將來的文章。",
        ),
    );
    p
}

/// Issue 2026-W49 sent to two readers (one following only `ai`) through
/// the outbox, and the feeds built on the Wednesday after.
fn after_one_issue() -> Publication {
    let p = with_a_week_of_articles(&outbox_config());
    subscribe(&p, "a@example.com", &["--name", "甲"]);
    subscribe(&p, "b@example.com", &["--columns", "ai"]);
    let sent = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    assert!(
        sent.stdout.contains("digest 2026-W49: 2 sent"),
        "{}",
        sent.stdout
    );
    p.run_at(WEDNESDAY, &["build"]).expect_code(0);
    p
}

#[test]
fn status_json_reports_articles_subscribers_and_the_last_and_next_issues() {
    let p = after_one_issue();
    let run = p.run_at(WEDNESDAY, &["status", "--json"]).expect_code(0);
    let json = json_of(&run.stdout);
    assert_eq!(json["schema"], 1);
    assert_eq!(json["healthy"], true);
    assert_eq!(json["problems"], json!([]));
    assert_eq!(
        json["articles"],
        json!({ "published": 3, "drafts": 1, "scheduled": 1, "invalid": 0 })
    );
    assert_eq!(
        json["subscribers"],
        json!({ "active": 2, "pending": 0, "unsubscribed": 0, "bounced": 0, "complained": 0 })
    );
    let last = &json["last_issue"];
    assert_eq!(last["label"], "2026-W49");
    assert_eq!(last["scheduled"], "2026-11-30T08:00:00+08:00");
    assert_eq!(last["finished"], true);
    // Settled by the run at AFTER_SLOT; in site.timezone, as every time
    // not marked UTC in the README's table.
    assert_eq!(last["finished_at"], "2026-11-30T09:00:00+08:00");
    assert_eq!(last["articles"], 2);
    assert_eq!(
        last["deliveries"],
        json!({ "queued": 0, "sending": 0, "sent": 2, "deferred": 0, "failed": 0, "unknown": 0 })
    );
    // Due next Monday, with the ferry article for the one reader of `city`.
    let next = &json["next_issue"];
    assert_eq!(next["label"], "2026-W50");
    assert_eq!(next["at"], "2026-12-07T08:00:00+08:00");
    assert_eq!(next["articles"], 1);
    assert_eq!(next["subscribers"], 1);
    // The files the build keeps; its time comes from the clock of the
    // machine, so it is checked for form and left out of the golden copy.
    let manifest = broadsheet::feeds::output::Manifest::read(&p.path("feeds"));
    assert_eq!(json["last_build"]["files"], manifest.files.len());
    let at = json["last_build"]["at"].as_str().unwrap();
    assert!(
        at.ends_with('Z') && DateTime::parse_from_rfc3339(at).is_ok(),
        "{at}"
    );
    let golden = run.stdout.replacen(
        &format!("\"last_build\": {{\n    \"at\": \"{at}\""),
        "\"last_build\": {\n    \"at\": \"[the manifest's mtime]\"",
        1,
    );
    assert_ne!(golden, run.stdout, "last_build.at is redacted");
    insta::assert_snapshot!("status_json", golden);
}

#[test]
fn status_says_the_same_in_text_for_people() {
    let p = after_one_issue();
    let run = p.run_at(WEDNESDAY, &["status"]).expect_code(0);
    for line in [
        "status at 2026-12-02T12:00:00+08:00: healthy",
        "articles: 3 published, 1 draft, 1 scheduled, 0 invalid",
        "subscribers: 2 active, 0 pending, 0 unsubscribed, 0 bounced",
        "last issue: 2026-W49 (2026-11-30T08:00:00+08:00), 2 articles: 2 sent, 0 deferred, 0 failed, 0 unknown, 0 queued",
        "next issue: 2026-W50 at 2026-12-07T08:00:00+08:00: 1 article for 1 subscriber as things stand",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "{line}\n{}",
            run.stdout
        );
    }
    // For a monitor: nothing printed, the exit code says it.
    let quiet = p.run_at(WEDNESDAY, &["-q", "status"]).expect_code(0);
    assert_eq!(quiet.stdout, "");
    assert_eq!(quiet.stderr, "");
    assert!(
        run.stdout.lines().any(|l| l.starts_with("  city ")
            && l.ends_with("2 articles: newest 2026-12-01T07:00:00+08:00 渡輪的黃昏")),
        "{}",
        run.stdout
    );
}

#[test]
fn status_last_build_is_when_a_build_last_changed_the_feeds() {
    let p = after_one_issue();
    let at = |p: &Publication| {
        let run = p.run_at(WEDNESDAY, &["status", "--json"]).expect_code(0);
        json_of(&run.stdout)["last_build"]["at"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let before = at(&p);

    // A file saved again unchanged: the build reads everything, rewrites
    // its manifest, and changes no feed.
    let text = p.read("content/city/tram.md");
    p.write("content/city/tram.md", text);
    let run = p.run_at(WEDNESDAY, &["build"]).expect_code(0);
    assert_eq!(build_line(&run.stdout), "built 2 columns, 3 articles (1 draft, 1 scheduled): 0 files written, 17 unchanged, 0 removed");
    assert_eq!(at(&p), before, "no feed changed");

    // An edit changes feeds: the time is that build's, never earlier.
    let text = p.read("content/city/tram.md").replace("電車慢活", "電車");
    p.write("content/city/tram.md", text);
    let run = p.run_at(WEDNESDAY, &["build"]).expect_code(0);
    assert_eq!(build_line(&run.stdout), "built 2 columns, 3 articles (1 draft, 1 scheduled): 7 files written, 10 unchanged, 0 removed");
    assert!(at(&p) >= before);
}

#[test]
fn status_names_each_content_error_and_is_unhealthy_as_run_fails_until_it_is_fixed() {
    let p = after_one_issue();
    p.write(
        "content/ai/broken.md",
        article("title = \"壞\"", "沒有日期。"),
    );
    let run = p.run_at(WEDNESDAY, &["status", "--json"]).expect_code(1);
    let json = json_of(&run.stdout);
    assert_eq!(json["healthy"], false);
    assert_eq!(json["articles"]["invalid"], 1);
    assert_eq!(json["articles"]["published"], 3);
    assert_eq!(
        json["problems"],
        json!([
            "1 invalid article left out of the feeds; fix and run again",
            "invalid: content/ai/broken.md:2: published: expected a published in the front matter, found none"
        ])
    );
}

#[test]
fn status_writes_nothing_not_even_beside_the_database() {
    let p = after_one_issue();
    let before = p.tree("");
    p.run_at(WEDNESDAY, &["status", "--json"]).expect_code(0);
    p.run_at(WEDNESDAY, &["status"]).expect_code(0);
    assert_same_tree(&before, &p.tree(""));
}

#[test]
fn status_exits_1_when_the_last_issue_left_a_failed_delivery() {
    let server = SmtpServer::start();
    server.set(|b| {
        b.rcpt_replies
            .insert("gone@example.com".into(), vec![550; 4]);
    });
    let p = with_a_week_of_articles(&smtp_config(server.port));
    subscribe(&p, "gone@example.com", &[]);
    subscribe(&p, "a@example.com", &[]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(1);
    assert_eq!(server.copies().get("gone@example.com"), None);

    let run = p.run_at(WEDNESDAY, &["status", "--json"]).expect_code(1);
    let json = json_of(&run.stdout);
    assert_eq!(json["healthy"], false);
    assert_eq!(
        json["problems"],
        json!(["issue 2026-W49 left 1 failed deliveries"])
    );
    assert_eq!(json["last_issue"]["deliveries"]["failed"], 1);
    assert_eq!(json["last_issue"]["deliveries"]["sent"], 1);
    assert!(
        run.stderr
            .contains("error: issue 2026-W49 left 1 failed deliveries"),
        "{}",
        run.stderr
    );

    p.run_at(WEDNESDAY, &["-q", "status"]).expect_code(1);
    let text = p.run_at(WEDNESDAY, &["status"]).expect_code(1);
    assert!(
        text.stdout
            .starts_with("status at 2026-12-02T12:00:00+08:00: NOT HEALTHY"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("problem: issue 2026-W49 left 1 failed deliveries"),
        "{}",
        text.stdout
    );
}

#[test]
fn status_exits_1_once_a_deferred_delivery_is_a_day_old() {
    let server = SmtpServer::start();
    server.set(|b| {
        b.rcpt_replies
            .insert("slow@example.com".into(), vec![451; 10]);
    });
    let p =
        with_a_week_of_articles(&smtp_config(server.port).replace("retries = 1", "retries = 0"));
    subscribe(&p, "slow@example.com", &[]);
    let sent = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(1);
    assert!(
        sent.stdout
            .contains("digest 2026-W49: 0 sent, 1 deferred, 0 failed,"),
        "{}",
        sent.stdout
    );

    // An hour later the next run may still get it through.
    let soon = p
        .run_at("2026-11-30T10:00:00+08:00", &["status", "--json"])
        .expect_code(0);
    let json = json_of(&soon.stdout);
    assert_eq!(json["healthy"], true);
    assert_eq!(json["last_issue"]["deliveries"]["deferred"], 1);
    assert_eq!(json["last_issue"]["finished"], false);
    assert_eq!(json["stale_deferred"], 0);

    let late = p
        .run_at("2026-12-01T10:00:00+08:00", &["status", "--json"])
        .expect_code(1);
    let json = json_of(&late.stdout);
    assert_eq!(json["healthy"], false);
    assert_eq!(json["stale_deferred"], 1);
    assert_eq!(
        json["problems"],
        json!(["1 deliveries deferred and not retried for over a day"])
    );
}

#[test]
fn status_on_a_publication_no_one_has_subscribed_to_is_a_normal_answer_and_creates_nothing() {
    let p = with_a_week_of_articles(&outbox_config());
    let before = p.tree("");
    let run = p.run_at(WEDNESDAY, &["status"]).expect_code(0);
    assert!(
        run.stdout.contains("subscribers: no subscribers yet"),
        "{}",
        run.stdout
    );
    let run = p.run_at(WEDNESDAY, &["status", "--json"]).expect_code(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["healthy"], true);
    assert_eq!(json["subscribers"]["active"], 0);
    assert!(json["last_issue"].is_null(), "{json}");
    assert!(!p.path("broadsheet.db").exists());
    assert_same_tree(&before, &p.tree(""));
}

#[test]
fn status_refuses_a_database_from_a_newer_broadsheet_and_leaves_it_byte_for_byte() {
    let p = with_a_week_of_articles(&outbox_config());
    {
        let conn = rusqlite::Connection::open(p.path("broadsheet.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE from_the_future (x TEXT); INSERT INTO from_the_future VALUES ('kept');",
        )
        .unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = p.tree("");
    for args in [&["status"][..], &["status", "--json"][..]] {
        let run = p.run_at(WEDNESDAY, args).expect_code(2);
        assert!(
            run.stderr
                .contains("schema version 99, newer than this broadsheet knows"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    assert_same_tree(&before, &p.tree(""));
}

#[test]
fn an_issue_whose_slot_has_passed_is_said_to_be_due_now_not_next() {
    let p = with_a_week_of_articles(&outbox_config());
    subscribe(&p, "a@example.com", &[]);
    // The Tuesday after the Monday slot, with no issue sent yet.
    let run = p
        .run_at("2026-12-01T12:00:00+08:00", &["status"])
        .expect_code(0);
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("next issue:"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        line.starts_with("next issue: due now (its slot was 2026-11-30 08:00 +08:00): "),
        "{line}"
    );
    assert!(!line.contains("W49"), "{line}");
    let json = json_of(
        &p.run_at("2026-12-01T12:00:00+08:00", &["status", "--json"])
            .expect_code(0)
            .stdout,
    );
    assert_eq!(json["next_issue"]["due_now"], true, "{json}");
    // After it went out, the next is next week's, not due yet.
    p.run_at("2026-12-01T12:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    let after = p
        .run_at("2026-12-01T12:00:00+08:00", &["status"])
        .expect_code(0);
    assert!(
        after
            .stdout
            .contains("next issue: 2026-W50 at 2026-12-07T08:00:00+08:00: "),
        "{}",
        after.stdout
    );
}

/// After an upgrade, the output keeps the JSON manifest of the version
/// before until a build writes its own: `status` still tells when the
/// last build was and what it keeps.
#[test]
fn status_reads_the_last_build_from_the_json_manifest_of_an_earlier_version() {
    use broadsheet::feeds::output::{Manifest, MANIFEST, OLD_MANIFEST};
    let p = with_a_week_of_articles(&outbox_config());
    p.build();
    let new = p.path(&format!("feeds/{MANIFEST}"));
    let manifest = Manifest::from_bytes(&std::fs::read(&new).unwrap()).unwrap();
    std::fs::write(
        p.path(&format!("feeds/{OLD_MANIFEST}")),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(&new).unwrap();
    let run = p.run_at(WEDNESDAY, &["status", "--json"]).expect_code(0);
    let json = json_of(&run.stdout);
    assert_eq!(
        json["last_build"]["files"],
        manifest.files.len(),
        "{}",
        run.stdout
    );
}
