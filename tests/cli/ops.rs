//! What operators and readers were given beside the feeds: `init` and
//! `templates export`, `status`, WebSub announcements (to a hub on
//! 127.0.0.1), the pages beside the feeds, author feeds, corrections, and
//! the conveniences (shell completions, the man page, JSON logs).

use crate::smtp::SmtpServer;
use crate::util::*;
use chrono::{DateTime, Utc};
use mail_parser::MessageParser;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// An hour after the Monday 08:00 slot of issue 2026-W49 (2026-11-30).
const AFTER_SLOT: &str = "2026-11-30T09:00:00+08:00";

/// The Wednesday after issue 2026-W49.
const WEDNESDAY: &str = "2026-12-02T12:00:00+08:00";

/// `PRAGMA application_id` of broadsheet's database ("BSHT"), as
/// src/store/mod.rs sets it.
const APPLICATION_ID: i64 = 0x4253_4854;

type Tree = BTreeMap<String, (Vec<u8>, SystemTime)>;

/// Panics naming the files that changed, appeared or went.
#[track_caller]
fn assert_same_tree(before: &Tree, after: &Tree) {
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(changed.is_empty(), "changed: {changed:?}");
}

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The built-in template text of `name`.
fn builtin(name: &str) -> &'static str {
    broadsheet::app::init::builtin_templates()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no built-in {name}"))
        .1
}

/// Whether a line (after `# `) is a `key = value` line of the config.
fn is_key_line(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    })
}

/// The config `init` writes with every commented-out `key = value` line
/// (the optional keys shown as examples) and `[section]` line made live.
fn uncommented(config: &str) -> String {
    config
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if is_key_line(rest) || (rest.starts_with('[') && rest.ends_with(']')) => {
                rest
            }
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------- init

#[test]
fn init_writes_a_publication_that_builds_and_checks_at_once_without_a_warning() {
    let p = Publication::empty();
    // No DIR: the folder it runs in, which is empty.
    let run = p.run(&["init"]).expect_code(0);
    let mut expected = vec![
        ".gitignore".to_owned(),
        "config.toml".to_owned(),
        "content/opinion/welcome.md".to_owned(),
    ];
    for (name, text) in broadsheet::app::init::builtin_templates() {
        let path = format!("templates/{name}");
        assert_eq!(p.read(&path), text, "{path} is the built-in template");
        expected.push(path);
    }
    expected.sort();
    let written: Vec<String> = p.tree("").into_keys().collect();
    assert_eq!(written, expected);
    for f in &expected {
        assert!(
            run.stdout.lines().any(|l| l.ends_with(f.as_str())),
            "{f} is listed:\n{}",
            run.stdout
        );
    }
    assert!(run.stdout.contains("broadsheet build"), "{}", run.stdout);
    let gitignore = p.read(".gitignore");
    for ignored in ["/feeds/", "/outbox/", "/broadsheet.db*"] {
        assert!(gitignore.lines().any(|l| l == ignored), "{gitignore}");
    }

    // Builds and checks at once: no unknown key, no warning of any kind.
    let build = p.build();
    assert_eq!(build.stderr, "", "build warned");
    assert!(
        build
            .stdout
            .starts_with("built 1 column, 1 article (0 drafts, 0 scheduled)"),
        "{}",
        build.stdout
    );
    let check = p.run(&["check"]).expect_code(0);
    assert_eq!(check.stderr, "", "check warned");
    for format in ["rss.xml", "atom.xml", "feed.json"] {
        let feed = parse_feed(p.read(&format!("feeds/opinion/{format}")).as_bytes());
        assert_eq!(feed.entries.len(), 1, "{format}");
        let e = &feed.entries[0];
        assert_eq!(e.title.as_ref().unwrap().content, "歡迎來到評論版");
        // Dated the moment of `init`, so the first build publishes it.
        assert_eq!(e.published, Some(instant(NOW)), "{format}");
    }
    assert!(p.path("feeds/opinion/index.html").is_file());
}

#[test]
fn the_cron_line_works_on_a_fresh_publication_with_no_one_subscribed() {
    let p = Publication::empty();
    p.run(&["init"]).expect_code(0);
    // No server.secret: a publication that only publishes feeds needs none.
    let quiet = p.run(&["--quiet", "run"]).expect_code(0);
    assert_eq!(quiet.stdout, "");
    assert_eq!(quiet.stderr, "");
    assert!(p.path("feeds/opinion/atom.xml").is_file());
    assert!(
        !p.path("broadsheet.db").exists(),
        "no state made for no one"
    );
    let run = p.run(&["run"]).expect_code(0);
    assert!(
        run.stdout.contains("no one is subscribed yet"),
        "{}",
        run.stdout
    );

    // Someone to send to, and still no secret: that is an error to fix.
    p.run(&["subscribers", "add", "reader@example.com"])
        .expect_code(0);
    let run = p.run(&["--quiet", "run"]).expect_code(2);
    assert!(run.stderr.contains("server.secret"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("nothing was written"),
        "{}",
        run.stderr
    );
}

#[test]
fn init_dir_makes_the_folder_and_the_publication_works_from_there() {
    let p = Publication::empty();
    p.run(&["init", "papers/opinion"]).expect_code(0);
    assert!(p.path("papers/opinion/config.toml").is_file());
    assert!(p
        .path("papers/opinion/content/opinion/welcome.md")
        .is_file());
    let build = p.run_in("papers/opinion", &["build"]).expect_code(0);
    assert_eq!(build.stderr, "");
    assert!(p.path("papers/opinion/feeds/opinion/rss.xml").is_file());
    p.run_in("papers/opinion", &["check"]).expect_code(0);
}

#[test]
fn every_key_in_the_generated_config_is_known_the_commented_examples_too() {
    let p = Publication::empty();
    p.run(&["init"]).expect_code(0);
    let generated = p.read("config.toml");
    let live = uncommented(&generated);
    assert_ne!(live, generated, "some example keys are commented out");
    // The files the examples name are read at load: they must be there,
    // and the key one broadsheet can sign with.
    let live = live.replace("dkim_algorithm = \"rsa\"", "dkim_algorithm = \"ed25519\"");
    use base64::Engine;
    p.write(
        "dkim.pem",
        base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
    );
    p.write("relay-ca.pem", "");
    p.write("config.toml", &live);
    let check = p.run(&["check"]).expect_code(0);
    assert!(!check.stderr.contains("unknown key"), "{}", check.stderr);
    assert_eq!(check.stderr, "");

    // The absence means something: a key broadsheet does not know is named.
    p.write(
        "config.toml",
        live.replace(
            "trust_forwarded_for = false",
            "trust_forwarded_for = false\nemails_per_adress_per_day = 3",
        ),
    );
    let check = p.run(&["check"]).expect_code(0);
    assert!(
        check
            .stderr
            .contains("unknown key server.emails_per_adress_per_day"),
        "{}",
        check.stderr
    );
}

#[test]
fn the_generated_config_shows_every_key_as_its_first_line_promises() {
    let p = Publication::empty();
    p.run(&["init"]).expect_code(0);
    let generated = p.read("config.toml");
    assert!(
        generated.starts_with("# broadsheet: one publication. Every key is shown"),
        "{generated}"
    );
    let table: toml::Table = toml::from_str(&uncommented(&generated)).unwrap();
    // Every key broadsheet reads (src/config/raw.rs).
    let known: &[(&str, &[&str])] = &[
        (
            "site",
            &[
                "title",
                "base_url",
                "language",
                "timezone",
                "permalink",
                "content_dir",
                "output_dir",
                "templates_dir",
                "state_path",
                "follow_external_symlinks",
            ],
        ),
        ("columns", &["slug", "title", "description", "url"]),
        (
            "feeds",
            &[
                "max_items",
                "content",
                "url",
                "summary_chars",
                "id_authority",
                "websub_hub",
                "author_feeds",
                "author_content",
                "author_max_items",
            ],
        ),
        (
            "digest",
            &[
                "from",
                "reply_to",
                "schedule",
                "max_age_days",
                "subject",
                "dkim_selector",
                "dkim_domain",
                "dkim_key_file",
                "dkim_algorithm",
                "max_send_minutes",
            ],
        ),
        (
            "smtp",
            &[
                "outbox_dir",
                "host",
                "port",
                "security",
                "username",
                "password",
                "max_connections",
                "rate_limit_per_second",
                "max_messages_per_connection",
                "timeout_seconds",
                "final_reply_timeout_seconds",
                "retries",
                "retry_backoff_ms",
                "ca_file",
            ],
        ),
        (
            "server",
            &[
                "bind",
                "public_url",
                "secret",
                "emails_per_address_per_day",
                "emails_per_client_per_hour",
                "trust_forwarded_for",
                "shutdown_email_seconds",
            ],
        ),
        ("state", &["busy_timeout_seconds"]),
    ];
    let mut missing = Vec::new();
    for (section, keys) in known {
        let found = match table.get(*section) {
            Some(toml::Value::Array(a)) => a.first().and_then(|v| v.as_table()),
            Some(v) => v.as_table(),
            None => None,
        };
        for key in *keys {
            if found.is_none_or(|t| !t.contains_key(*key)) {
                missing.push(format!("{section}.{key}"));
            }
        }
    }
    if !table.contains_key("authors") {
        missing.push("[authors]".to_owned());
    }
    assert!(missing.is_empty(), "not shown: {missing:?}");
}

#[test]
fn init_into_a_folder_that_is_not_empty_exits_2_and_changes_nothing() {
    let p = Publication::new();
    p.write("paper/notes.txt", "mine");
    let before = p.tree("");
    let run = p.run(&["init", "paper"]).expect_code(2);
    assert!(run.stderr.contains("paper"), "{}", run.stderr);
    assert!(run.stderr.contains("not empty"), "{}", run.stderr);
    assert_same_tree(&before, &p.tree(""));
    assert!(!p.path("paper/templates").exists());
    assert!(!p.path("paper/content").exists());

    // Nor the folder it runs in, which holds a publication already.
    let run = p.run(&["init"]).expect_code(2);
    assert!(run.stderr.contains("not empty"), "{}", run.stderr);
    assert_same_tree(&before, &p.tree(""));
    assert!(!p.path("templates").exists());
}

#[test]
fn templates_export_keeps_an_edited_template_unless_forced() {
    const EDITED: &str = "<!DOCTYPE html>\n<title>{{column.title}}</title>\n<p>our own page</p>\n";
    let p = Publication::new();
    p.write("templates/column.html.hbs", EDITED);
    let run = p.run(&["templates", "export"]).expect_code(0);
    let all = broadsheet::app::init::builtin_templates();
    for (name, text) in &all {
        let path = format!("templates/{name}");
        if *name == "column.html.hbs" {
            assert_eq!(p.read(&path), EDITED);
            assert!(
                run.stdout
                    .lines()
                    .any(|l| l
                        == "templates/column.html.hbs: already there, kept (--force replaces it)"),
                "{}",
                run.stdout
            );
        } else {
            assert_eq!(p.read(&path), *text, "{path}");
            assert!(
                run.stdout.lines().any(|l| l == path),
                "{path} listed:\n{}",
                run.stdout
            );
        }
    }
    // The edited page is the one the build uses.
    p.build();
    assert!(p.read("feeds/ai/index.html").contains("our own page"));

    // Again: every file is kept, and said so.
    let before = p.tree("templates");
    let again = p.run(&["templates", "export"]).expect_code(0);
    let kept = again
        .stdout
        .lines()
        .filter(|l| l.ends_with(": already there, kept (--force replaces it)"))
        .count();
    assert_eq!(kept, all.len(), "{}", again.stdout);
    assert_same_tree(&before, &p.tree("templates"));

    let forced = p.run(&["templates", "export", "--force"]).expect_code(0);
    assert_eq!(
        p.read("templates/column.html.hbs"),
        builtin("column.html.hbs")
    );
    assert!(
        forced
            .stdout
            .lines()
            .any(|l| l == "templates/column.html.hbs"),
        "{}",
        forced.stdout
    );
    assert!(!forced.stdout.contains("kept"), "{}", forced.stdout);
    p.build();
    assert!(!p.read("feeds/ai/index.html").contains("our own page"));
}

// -------------------------------------------------------------- status

fn outbox_config() -> String {
    digest_config("outbox_dir = \"outbox\"")
}

fn smtp_config(port: u16) -> String {
    digest_config(&format!("host = \"127.0.0.1\"\nport = {port}"))
}

fn subscribe(p: &Publication, email: &str, args: &[&str]) {
    let mut all = vec!["subscribers", "add", email];
    all.extend_from_slice(args);
    p.run(&all).expect_code(0);
}

/// Two articles for issue 2026-W49, one for W50, a draft and one not due.
fn with_a_week_of_articles(config: &str) -> Publication {
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
        json!({ "active": 2, "pending": 0, "unsubscribed": 0, "bounced": 0 })
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
    let manifest = json_of(&p.read("feeds/.broadsheet-manifest.json"));
    assert_eq!(
        json["last_build"]["files"],
        manifest["files"].as_object().unwrap().len()
    );
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
    assert!(run.stdout.contains(": 0 files written"), "{}", run.stdout);
    assert_eq!(at(&p), before, "no feed changed");

    // An edit changes feeds: the time is that build's, never earlier.
    let text = p.read("content/city/tram.md").replace("電車慢活", "電車");
    p.write("content/city/tram.md", text);
    let run = p.run_at(WEDNESDAY, &["build"]).expect_code(0);
    assert!(!run.stdout.contains(": 0 files written"), "{}", run.stdout);
    assert!(at(&p) >= before);
}

#[test]
fn status_names_content_errors_as_a_problem_but_stays_healthy() {
    let p = after_one_issue();
    p.write(
        "content/ai/broken.md",
        article("title = \"壞\"", "沒有日期。"),
    );
    let run = p.run_at(WEDNESDAY, &["status", "--json"]).expect_code(0);
    let json = json_of(&run.stdout);
    assert_eq!(json["healthy"], true);
    assert_eq!(json["articles"]["invalid"], 1);
    assert_eq!(json["articles"]["published"], 3);
    assert_eq!(
        json["problems"],
        json!(["1 content error(s): `broadsheet check` lists them"])
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
        sent.stdout.contains("0 sent, 1 deferred"),
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
fn status_without_a_database_exits_2_naming_site_state_path_and_creates_none() {
    let p = with_a_week_of_articles(&outbox_config());
    let before = p.tree("");
    for args in [&["status"][..], &["status", "--json"][..]] {
        let run = p.run_at(WEDNESDAY, args).expect_code(2);
        assert!(run.stderr.contains("site.state_path"), "{}", run.stderr);
        assert!(run.stderr.contains("broadsheet.db"), "{}", run.stderr);
        assert_eq!(run.stdout, "");
    }
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

// -------------------------------------------------------------- WebSub

/// One request as the hub received it.
#[derive(Debug, Clone)]
struct HubRequest {
    method: String,
    path: String,
    content_type: String,
    body: String,
}

#[derive(Default)]
struct HubState {
    requests: Vec<HubRequest>,
    replies: VecDeque<u16>,
}

/// A WebSub hub on 127.0.0.1: records every request, then answers with
/// the scripted statuses in turn, and 204 once they are used up.
struct Hub {
    url: String,
    state: Arc<Mutex<HubState>>,
}

impl Hub {
    fn start(replies: &[u16]) -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(HubState {
            requests: Vec::new(),
            replies: replies.iter().copied().collect(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || serve_hub_connection(stream, &state));
            }
        });
        Hub {
            url: format!("http://127.0.0.1:{port}/"),
            state,
        }
    }

    fn requests(&self) -> Vec<HubRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The `hub.url` of every request, in order.
    fn announced(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| {
                url::form_urlencoded::parse(r.body.as_bytes())
                    .find(|(k, _)| k == "hub.url")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| panic!("no hub.url in {r:?}"))
            })
            .collect()
    }
}

/// Reads requests off one (keep-alive) connection until it closes.
fn serve_hub_connection(stream: TcpStream, state: &Mutex<HubState>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let status = {
            let mut s = state.lock().unwrap();
            s.requests.push(HubRequest {
                method,
                path,
                content_type: headers.get("content-type").cloned().unwrap_or_default(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            s.replies.pop_front().unwrap_or(204)
        };
        let reply = match status {
            204 => "HTTP/1.1 204 No Content\r\n\r\n".to_owned(),
            code => format!("HTTP/1.1 {code} Scripted\r\nContent-Length: 0\r\n\r\n"),
        };
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// A port on 127.0.0.1 nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Articles in both columns, by two authors: five feeds (ai, city, all and
/// one per author), fifteen feed files.
fn with_hub(hub: &str) -> Publication {
    let p = Publication::with_config(&format!("{CONFIG}websub_hub = \"{hub}\"\n"));
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容與新型工業化\"\npublished = 2026-11-20T07:00:00+08:00\nauthors = [\"陳大文\"]",
            "算力是新時代的基建。",
        ),
    );
    p.write(
        "content/city/tram.md",
        article(
            "title = \"電車慢活\"\npublished = 2026-11-02T08:30:00+08:00\nauthors = [\"Daniel Whitcombe\"]",
            "電車是城市的節奏。",
        ),
    );
    p
}

/// Whether a path under feeds/ is a feed file.
fn is_feed_file(path: &str) -> bool {
    path.ends_with("/rss.xml") || path.ends_with("/atom.xml") || path.ends_with("/feed.json")
}

/// The self link a feed file carries (`rel="self"`, or JSON Feed's
/// `feed_url`).
fn self_link(p: &Publication, path: &str) -> String {
    let text = p.read(&format!("feeds/{path}"));
    if path.ends_with(".json") {
        return json_of(&text)["feed_url"].as_str().unwrap().to_owned();
    }
    let feed = parse_feed(text.as_bytes());
    let links: Vec<&feed_rs::model::Link> = feed
        .links
        .iter()
        .filter(|l| l.rel.as_deref() == Some("self"))
        .collect();
    assert_eq!(links.len(), 1, "{path}: {:?}", feed.links);
    links[0].href.clone()
}

/// The self links of the feed files under feeds/ that differ between two
/// trees (changed or new).
fn changed_feeds(p: &Publication, before: &Tree, after: &Tree) -> BTreeSet<String> {
    after
        .iter()
        .filter(|(k, v)| is_feed_file(k) && before.get(*k) != Some(*v))
        .map(|(k, _)| self_link(p, k))
        .collect()
}

#[test]
fn every_feed_names_the_hub() {
    let hub = Hub::start(&[]);
    let p = with_hub(&hub.url);
    p.build();
    let feeds: Vec<String> = p
        .tree("feeds")
        .into_keys()
        .filter(|k| is_feed_file(k))
        .collect();
    assert_eq!(feeds.len(), 15, "{feeds:?}");
    for path in &feeds {
        let text = p.read(&format!("feeds/{path}"));
        if path.ends_with(".json") {
            assert_eq!(
                json_of(&text)["hubs"],
                json!([{ "type": "WebSub", "url": hub.url }]),
                "{path}"
            );
        } else {
            let feed = parse_feed(text.as_bytes());
            let hubs: Vec<&str> = feed
                .links
                .iter()
                .filter(|l| l.rel.as_deref() == Some("hub"))
                .map(|l| l.href.as_str())
                .collect();
            assert_eq!(hubs, [hub.url.as_str()], "{path}");
        }
    }
    let rss = p.read("feeds/ai/rss.xml");
    assert!(
        rss.contains(&format!("<atom:link href=\"{}\" rel=\"hub\"/>", hub.url)),
        "{rss}"
    );

    // Without a hub, no feed names one.
    let p = Publication::new();
    p.write(
        "content/ai/x.md",
        article("title = \"X\"\npublished = 2026-11-20", "內文。"),
    );
    p.build();
    assert!(!p.read("feeds/ai/rss.xml").contains("rel=\"hub\""));
    assert!(!p.read("feeds/ai/atom.xml").contains("rel=\"hub\""));
    assert!(json_of(&p.read("feeds/ai/feed.json")).get("hubs").is_none());
}

#[test]
fn a_build_announces_each_changed_feed_once_and_an_unchanged_build_nothing() {
    let hub = Hub::start(&[]);
    let p = with_hub(&hub.url);
    let run = p.build();
    assert!(
        run.stdout.contains("; hub told of 15 changed feeds in"),
        "{}",
        run.stdout
    );
    let first = p.tree("feeds");
    let requests = hub.requests();
    for r in &requests {
        assert_eq!(r.method, "POST", "{r:?}");
        assert_eq!(r.path, "/", "{r:?}");
        assert_eq!(r.content_type, "application/x-www-form-urlencoded", "{r:?}");
        let url = url::form_urlencoded::parse(r.body.as_bytes())
            .find(|(k, _)| k == "hub.url")
            .unwrap()
            .1
            .into_owned();
        let expected: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("hub.mode", "publish")
            .append_pair("hub.url", &url)
            .finish();
        assert_eq!(r.body, expected);
    }
    let announced = hub.announced();
    let unique: BTreeSet<String> = announced.iter().cloned().collect();
    assert_eq!(unique.len(), announced.len(), "once each: {announced:?}");
    assert_eq!(unique, changed_feeds(&p, &Tree::new(), &first));
    // An author's feed is announced by the URL its self link gives.
    assert!(
        unique.contains(
            "https://news.example.com/feeds/authors/%E9%99%B3%E5%A4%A7%E6%96%87/atom.xml"
        ),
        "{unique:?}"
    );

    // Nothing changed: nothing sent.
    let run = p.build();
    assert!(!run.stdout.contains("hub"), "{}", run.stdout);
    assert_eq!(hub.requests().len(), 15);

    // One article edited: its column's, the whole publication's and its
    // author's feeds, and no others.
    let text = p
        .read("content/city/tram.md")
        .replace("電車慢活", "電車慢活（修訂）");
    p.write("content/city/tram.md", text);
    let run = p.build();
    assert!(
        run.stdout.contains("; hub told of 9 changed feeds in"),
        "{}",
        run.stdout
    );
    let second: BTreeSet<String> = hub.announced()[15..].iter().cloned().collect();
    assert_eq!(hub.requests().len(), 24, "once each");
    assert_eq!(second, changed_feeds(&p, &first, &p.tree("feeds")));
    let expected: BTreeSet<String> = ["city", "all", "authors/daniel-whitcombe"]
        .iter()
        .flat_map(|dir| {
            ["rss.xml", "atom.xml", "feed.json"]
                .map(|f| format!("https://news.example.com/feeds/{dir}/{f}"))
        })
        .collect();
    assert_eq!(second, expected);

    // Only the pages beside the feeds change: the hub is told nothing.
    let before = p.tree("feeds");
    p.write(
        "config.toml",
        format!(
            "{CONFIG}websub_hub = \"{}\"\n\n[server]\npublic_url = \"https://news.example.com/newsletter\"\n",
            hub.url
        ),
    );
    let run = p.build();
    assert!(
        run.stdout.contains("; hub told of 0 changed feeds in"),
        "{}",
        run.stdout
    );
    assert_ne!(before["ai/index.html"], p.tree("feeds")["ai/index.html"]);
    assert!(changed_feeds(&p, &before, &p.tree("feeds")).is_empty());
    assert_eq!(hub.requests().len(), 24);
}

#[test]
fn a_hub_that_answers_503_is_asked_again() {
    let hub = Hub::start(&[503]);
    let p = with_hub(&hub.url);
    let run = p.build();
    assert!(
        run.stdout.contains("; hub told of 15 changed feeds in"),
        "{}",
        run.stdout
    );
    assert!(!run.stderr.contains("WebSub hub"), "{}", run.stderr);
    let requests = hub.requests();
    assert_eq!(requests.len(), 16);
    assert_eq!(requests[0].body, requests[1].body, "the same feed again");
    let unique: BTreeSet<String> = hub.announced().into_iter().collect();
    assert_eq!(unique.len(), 15);
}

#[test]
fn a_hub_that_refuses_one_feed_is_still_told_of_the_others() {
    let hub = Hub::start(&[400]);
    let p = with_hub(&hub.url);
    let run = p.build();
    assert!(
        run.stdout
            .contains("; hub told of 14 changed feeds, 1 not in"),
        "{}",
        run.stdout
    );
    // A 400 is an answer, not an outage: not asked again.
    assert_eq!(hub.requests().len(), 15);
    let refused = &hub.announced()[0];
    assert!(
        run.stderr.contains("WebSub hub not told of a changed feed")
            && run.stderr.contains(refused.as_str()),
        "{}",
        run.stderr
    );
}

#[test]
fn a_hub_that_is_down_costs_a_warning_never_the_build() {
    let p = with_hub(&format!("http://127.0.0.1:{}/", closed_port()));
    let run = p.build();
    assert!(
        run.stderr.contains("WebSub hub unreachable"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("15 changed feeds not announced"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("0 removed; hub told of 0 changed feeds, 15 not in"),
        "{}",
        run.stdout
    );
    let feed = parse_feed(p.read("feeds/ai/atom.xml").as_bytes());
    assert_eq!(feed.entries.len(), 1);
}

#[test]
fn a_hub_that_is_not_a_url_is_refused_and_the_feeds_are_left_alone() {
    let hub = Hub::start(&[]);
    let p = with_hub(&hub.url);
    p.build();
    let before = p.tree("feeds");
    for bad in ["not a url", "ftp://hub.example.net/", "https://"] {
        p.write("config.toml", format!("{CONFIG}websub_hub = \"{bad}\"\n"));
        let run = p.run(&["build"]).expect_code(2);
        assert!(
            run.stderr.contains("feeds.websub_hub"),
            "{bad}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(bad), "{bad}: {}", run.stderr);
        assert_same_tree(&before, &p.tree("feeds"));
        p.run(&["check"]).expect_code(2);
    }
    assert_eq!(hub.requests().len(), 15, "only the first build's");
}

#[test]
fn a_hub_over_http_is_a_warning_naming_the_key() {
    let p = Publication::with_config(&format!(
        "{CONFIG}websub_hub = \"http://hub.example.net/\"\n"
    ));
    let run = p.run(&["check"]).expect_code(0);
    assert!(
        run.stderr.contains("feeds.websub_hub") && run.stderr.contains("not https"),
        "{}",
        run.stderr
    );
    p.write(
        "config.toml",
        format!("{CONFIG}websub_hub = \"https://hub.example.net/\"\n"),
    );
    let run = p.run(&["check"]).expect_code(0);
    assert_eq!(run.stderr, "");
}

// --------------------------------------------------------------- pages

/// The attributes of every `<name …>` start tag in `html`, entities
/// decoded.
fn start_tags(html: &str, name: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        rest = after;
        if !after.starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/') {
            continue;
        }
        let end = after.find('>').expect("a closed tag");
        out.push(attributes(&after[..end]));
        rest = &after[end..];
    }
    out
}

fn attributes(mut s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if s.is_empty() {
            return out;
        }
        let end = s
            .find(|c: char| c == '=' || c.is_ascii_whitespace())
            .unwrap_or(s.len());
        let name = s[..end].to_ascii_lowercase();
        s = &s[end..];
        match s.strip_prefix("=\"") {
            Some(v) => {
                let close = v.find('"').expect("a closed attribute value");
                out.insert(name, unescape_html(&v[..close]));
                s = &v[close + 1..];
            }
            None => {
                out.insert(name, String::new());
            }
        }
    }
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x3D;", "=")
        .replace("&#x60;", "`")
        .replace("&amp;", "&")
}

/// Two columns, the first with a title and note that need escaping, three
/// articles in it and one in the other.
fn with_pages(public_url: bool) -> Publication {
    let config = CONFIG
        .replace("title = \"鑰匙與未來\"", "title = \"鑰匙<b>&未來\"")
        .replace(
            "description = \"編者按：人工智能與創科的路向。\"",
            "description = '編者按：<i>AI</i> & \"創科\"。'",
        );
    let config = if public_url {
        format!("{config}\n[server]\npublic_url = \"https://news.example.com/newsletter\"\n")
    } else {
        config
    };
    let p = Publication::with_config(&config);
    for (slug, title, day) in [
        ("first", "第一篇", "2026-11-20"),
        ("second", "第二篇", "2026-11-22"),
        ("third", "第三篇", "2026-11-24"),
    ] {
        p.write(
            &format!("content/ai/{slug}.md"),
            article(
                &format!("title = \"{title}\"\npublished = {day}T07:00:00+08:00\nauthors = [{{ name = \"陳大文\", role = \"院長\" }}]"),
                "內文。",
            ),
        );
    }
    p.write(
        "content/city/tram.md",
        article(
            "title = \"電車慢活\"\npublished = 2026-11-02T08:30:00+08:00",
            "電車是城市的節奏。",
        ),
    );
    p.build();
    p
}

#[test]
fn each_column_has_a_page_that_leads_to_its_feeds_and_the_digest() {
    let p = with_pages(true);
    for slug in ["ai", "city"] {
        let page = p.read(&format!("feeds/{slug}/index.html"));
        let rss = self_link(&p, &format!("{slug}/rss.xml"));
        let atom = self_link(&p, &format!("{slug}/atom.xml"));
        let json = self_link(&p, &format!("{slug}/feed.json"));

        // Feed discovery, with the types and the feeds' own self links.
        let alternates: BTreeMap<String, String> = start_tags(&page, "link")
            .into_iter()
            .filter(|a| a.get("rel").map(String::as_str) == Some("alternate"))
            .map(|a| (a["type"].clone(), a["href"].clone()))
            .collect();
        assert_eq!(
            alternates,
            BTreeMap::from([
                ("application/rss+xml".to_owned(), rss.clone()),
                ("application/atom+xml".to_owned(), atom.clone()),
                ("application/feed+json".to_owned(), json.clone()),
            ]),
            "{slug}"
        );
        // And the same three as links a reader can see and copy.
        let hrefs: Vec<String> = start_tags(&page, "a")
            .into_iter()
            .filter_map(|a| a.get("href").cloned())
            .collect();
        for feed in [&rss, &atom, &json] {
            assert!(hrefs.contains(feed), "{slug}: {feed} in {hrefs:?}");
        }
        assert!(hrefs.contains(&"https://news.example.com/feeds/".to_owned()));

        // The sign-up form for this column.
        let forms = start_tags(&page, "form");
        assert_eq!(forms.len(), 1, "{slug}");
        assert_eq!(forms[0]["method"], "post");
        assert_eq!(
            forms[0]["action"],
            "https://news.example.com/newsletter/subscribe"
        );
        let inputs = start_tags(&page, "input");
        let named = |n: &str| {
            inputs
                .iter()
                .find(|i| i.get("name").map(String::as_str) == Some(n))
                .unwrap_or_else(|| panic!("{slug}: no input {n}: {inputs:?}"))
        };
        assert_eq!(named("columns")["type"], "hidden");
        assert_eq!(named("columns")["value"], slug);
        assert_eq!(named("email")["type"], "email");
        assert!(named("email").contains_key("required"));
        // The honeypot: empty, out of the tab order.
        assert_eq!(named("website")["value"], "");
        assert_eq!(named("website")["tabindex"], "-1");
    }

    // Readable on a phone.
    assert!(p
        .read("feeds/city/index.html")
        .contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));

    // Title and editor's note, escaped.
    let ai = p.read("feeds/ai/index.html");
    assert!(ai.contains("<h1>鑰匙&lt;b&gt;&amp;未來</h1>"), "{ai}");
    assert!(
        ai.contains("<title>鑰匙&lt;b&gt;&amp;未來 · 論壇</title>"),
        "{ai}"
    );
    assert!(
        ai.contains("<p>編者按：&lt;i&gt;AI&lt;/i&gt; &amp; &quot;創科&quot;。</p>"),
        "{ai}"
    );
    assert!(!ai.contains("<b>") && !ai.contains("<i>AI"), "{ai}");

    // Its latest articles, newest first, linked, with bylines.
    let articles: Vec<String> = start_tags(&ai, "a")
        .into_iter()
        .filter_map(|a| a.get("href").cloned())
        .filter(|h| h.starts_with("https://news.example.com/ai/"))
        .collect();
    assert_eq!(
        articles,
        [
            "https://news.example.com/ai/third/",
            "https://news.example.com/ai/second/",
            "https://news.example.com/ai/first/",
        ]
    );
    let at = |s: &str| ai.find(s).unwrap_or_else(|| panic!("{s} not in {ai}"));
    assert!(at("第三篇") < at("第二篇") && at("第二篇") < at("第一篇"));
    assert!(ai.contains("陳大文（院長）"), "{ai}");
    assert!(ai.contains("<time datetime=\"2026-11-24T07:00:00+08:00\">2026-11-24</time>"));

    for (path, (bytes, _)) in p.tree("feeds") {
        if path.ends_with(".html") {
            let html = String::from_utf8(bytes).unwrap().to_ascii_lowercase();
            assert!(!html.contains("<script"), "{path} has a script");
        }
    }
}

#[test]
fn a_column_page_lists_the_latest_20_articles_in_the_sites_language() {
    let p = Publication::new();
    for day in 1..=25 {
        p.write(
            &format!("content/city/day-{day:02}.md"),
            article(
                &format!("title = \"第{day}日\"\npublished = 2026-11-{day:02}T07:00:00+08:00"),
                "內文。",
            ),
        );
    }
    p.build();
    let page = p.read("feeds/city/index.html");
    let listed: Vec<String> = start_tags(&page, "a")
        .into_iter()
        .filter_map(|a| a.get("href").cloned())
        .filter(|h| h.starts_with("https://news.example.com/city/"))
        .collect();
    let expected: Vec<String> = (6..=25)
        .rev()
        .map(|d| format!("https://news.example.com/city/day-{d:02}/"))
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(start_tags(&page, "html")[0]["lang"], "zh-Hant-HK");
    // The feed itself keeps its own limit.
    let feed = parse_feed(p.read("feeds/city/atom.xml").as_bytes());
    assert_eq!(feed.entries.len(), 25);
}

#[test]
fn without_a_public_url_no_page_has_a_form() {
    let p = with_pages(false);
    for path in [
        "feeds/ai/index.html",
        "feeds/city/index.html",
        "feeds/index.html",
    ] {
        let html = p.read(path);
        assert!(!html.contains("<form"), "{path}");
        assert!(!html.contains("/subscribe"), "{path}");
        assert!(!html.contains("newsletter"), "{path}");
    }
    // The feeds are still offered.
    let page = p.read("feeds/ai/index.html");
    assert!(page.contains(&self_link(&p, "ai/rss.xml")));
}

#[test]
fn the_index_page_links_every_column_page_and_the_opml() {
    let p = with_pages(true);
    let index = p.read("feeds/index.html");
    let hrefs: Vec<String> = start_tags(&index, "a")
        .into_iter()
        .filter_map(|a| a.get("href").cloned())
        .collect();
    for slug in ["ai", "city"] {
        assert!(
            hrefs.contains(&format!("https://news.example.com/feeds/{slug}/")),
            "{slug}: {hrefs:?}"
        );
        // The page it links is the one written.
        assert!(p.path(&format!("feeds/{slug}/index.html")).is_file());
        for f in ["rss.xml", "atom.xml", "feed.json"] {
            assert!(hrefs.contains(&self_link(&p, &format!("{slug}/{f}"))));
        }
    }
    assert!(hrefs.contains(&"https://news.example.com/feeds/index.opml".to_owned()));
    assert!(hrefs.contains(&"https://news.example.com/newsletter/".to_owned()));
    let alternates: Vec<String> = start_tags(&index, "link")
        .into_iter()
        .filter(|a| a.get("rel").map(String::as_str) == Some("alternate"))
        .map(|a| a["href"].clone())
        .collect();
    assert_eq!(
        alternates,
        [
            self_link(&p, "all/rss.xml"),
            self_link(&p, "all/atom.xml"),
            self_link(&p, "all/feed.json")
        ]
    );
    assert!(index.contains("鑰匙&lt;b&gt;&amp;未來"), "{index}");
    assert!(!index.contains("<b>"), "{index}");
}

// ------------------------------------------------------------- authors

const CHAN_FOLDER: &str = "authors/陳大文";
const CHAN_URL: &str = "https://news.example.com/feeds/authors/%E9%99%B3%E5%A4%A7%E6%96%87";

/// Five articles: 陳大文 wrote three (one with Daniel Whitcombe), Daniel
/// two, and one has no byline.
fn with_authors(extra_config: &str) -> Publication {
    let p = Publication::with_config(&format!("{CONFIG}{extra_config}"));
    for (path, title, day, authors) in [
        (
            "ai/a1",
            "甲一",
            "2026-11-20",
            r#"[{ name = "陳大文", role = "院長" }]"#,
        ),
        (
            "ai/a2",
            "甲二",
            "2026-11-22",
            r#"["陳大文", "Daniel Whitcombe"]"#,
        ),
        ("city/c1", "乙一", "2026-11-24", r#"["陳大文"]"#),
        ("city/c2", "乙二", "2026-11-25", r#"["Daniel Whitcombe"]"#),
        ("city/c3", "乙三", "2026-11-26", "[]"),
    ] {
        p.write(
            &format!("content/{path}.md"),
            article(
                &format!(
                    "title = \"{title}\"\npublished = {day}T07:00:00+08:00\nauthors = {authors}"
                ),
                "內文。",
            ),
        );
    }
    p
}

fn titles(feed: &feed_rs::model::Feed) -> Vec<String> {
    feed.entries
        .iter()
        .map(|e| e.title.clone().unwrap().content)
        .collect()
}

/// The author folders under feeds/authors/.
fn author_folders(p: &Publication) -> BTreeSet<String> {
    p.tree("feeds")
        .into_keys()
        .filter_map(|k| {
            let rest = k.strip_prefix("authors/")?;
            Some(rest.split('/').next().unwrap().to_owned())
        })
        .collect()
}

#[test]
fn each_author_gets_feeds_of_their_articles_newest_first() {
    let p = with_authors("");
    p.build();
    assert_eq!(
        author_folders(&p),
        BTreeSet::from(["daniel-whitcombe".to_owned(), "陳大文".to_owned()])
    );
    for format in ["rss.xml", "atom.xml", "feed.json"] {
        let chan = parse_feed(p.read(&format!("feeds/{CHAN_FOLDER}/{format}")).as_bytes());
        assert_eq!(
            chan.title.as_ref().unwrap().content,
            "陳大文 | 論壇",
            "{format}"
        );
        assert_eq!(titles(&chan), ["乙一", "甲二", "甲一"], "{format}");
        let daniel = parse_feed(
            p.read(&format!("feeds/authors/daniel-whitcombe/{format}"))
                .as_bytes(),
        );
        assert_eq!(
            daniel.title.as_ref().unwrap().content,
            "Daniel Whitcombe | 論壇",
            "{format}"
        );
        assert_eq!(titles(&daniel), ["乙二", "甲二"], "{format}");
    }
}

#[test]
fn author_feeds_carry_at_most_author_max_items() {
    let p = with_authors("author_max_items = 2\n");
    p.build();
    for format in ["rss.xml", "atom.xml", "feed.json"] {
        let chan = parse_feed(p.read(&format!("feeds/{CHAN_FOLDER}/{format}")).as_bytes());
        assert_eq!(titles(&chan), ["乙一", "甲二"], "{format}");
    }
    // The column feeds keep their own limit.
    let city = parse_feed(p.read("feeds/city/atom.xml").as_bytes());
    assert_eq!(city.entries.len(), 3);
}

#[test]
fn author_feeds_carry_summaries_unless_author_content_is_full() {
    let p = with_authors("");
    p.build();
    let json = json_of(&p.read(&format!("feeds/{CHAN_FOLDER}/feed.json")));
    assert!(json["items"][0].get("content_html").is_none(), "{json}");
    assert_eq!(
        json["items"][0]["content_text"],
        json["items"][0]["summary"]
    );

    p.write(
        "config.toml",
        format!("{CONFIG}author_content = \"full\"\n"),
    );
    p.build();
    let json = json_of(&p.read(&format!("feeds/{CHAN_FOLDER}/feed.json")));
    assert_eq!(json["items"][0]["content_html"], "<p>內文。</p>\n");
}

/// An article only an author feed carries gets its summary without its
/// body being rendered as HTML: the summary must be the one a column feed
/// would show for it.
#[test]
fn an_article_only_an_author_feed_carries_has_the_summary_a_column_feed_gives() {
    let body = "## 小標題\n\n第一段講[政策](/policy/)與**市場**，說明為何要改。第二句繼續解釋背景與影響。\n\
                第三句換行後仍在同一段！第四句：數字是 30% 與 `code`。\n\n\
                - 列表一\n- 列表二\n\n第二段開始，Second paragraph in English, with a \
                [link](https://example.com/x) and more words to pass the limit. 再多一句。\n\n\
                [^1]: 註腳不入摘要。\n";
    let summary_of = |max_items: usize| {
        let p = with_authors(&format!("max_items = {max_items}\nsummary_chars = 60\n"));
        p.write(
            "content/ai/a1.md",
            article(
                "title = \"甲一\"\npublished = 2026-11-20T07:00:00+08:00\nauthors = [\"陳大文\"]",
                body,
            ),
        );
        p.build();
        let in_column = p.read("feeds/ai/feed.json").contains("\"甲一\"");
        let json = json_of(&p.read(&format!("feeds/{CHAN_FOLDER}/feed.json")));
        let item = json["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["title"] == "甲一")
            .unwrap()
            .clone();
        (in_column, item["summary"].as_str().unwrap().to_owned())
    };
    let (in_column, with_html) = summary_of(50);
    assert!(in_column);
    let (in_column, summary_alone) = summary_of(1);
    assert!(!in_column, "甲一 should have fallen out of the column feed");
    assert_eq!(summary_alone, with_html);
    assert!(
        summary_alone.starts_with("第一段講政策與市場"),
        "{summary_alone}"
    );
    assert!(!summary_alone.contains("小標題"), "{summary_alone}");
}

#[test]
fn only_published_articles_give_an_author_feeds() {
    let p = with_authors("");
    p.write(
        "content/ai/draft.md",
        article(
            "title = \"草稿\"\npublished = 2026-11-21\ndraft = true\nauthors = [\"草稿作者\"]",
            "未完成。",
        ),
    );
    p.write(
        "content/ai/later.md",
        article(
            "title = \"明年見\"\npublished = 2027-01-15T07:00:00+08:00\nauthors = [\"未來作者\", \"陳大文\"]",
            "將來的文章。",
        ),
    );
    p.build();
    assert_eq!(
        author_folders(&p),
        BTreeSet::from(["daniel-whitcombe".to_owned(), "陳大文".to_owned()])
    );
    let chan = parse_feed(p.read(&format!("feeds/{CHAN_FOLDER}/rss.xml")).as_bytes());
    assert_eq!(titles(&chan), ["乙一", "甲二", "甲一"]);

    // Once it is due, the new author has feeds.
    p.run_at("2027-01-15T07:00:00+08:00", &["build"])
        .expect_code(0);
    assert!(author_folders(&p).contains("未來作者"));
    let chan = parse_feed(p.read(&format!("feeds/{CHAN_FOLDER}/rss.xml")).as_bytes());
    assert_eq!(titles(&chan)[0], "明年見");
}

#[test]
fn a_chinese_name_keeps_its_folder_and_is_percent_encoded_in_links() {
    let p = with_authors("");
    p.build();
    for f in ["rss.xml", "atom.xml", "feed.json"] {
        assert!(p.path(&format!("feeds/{CHAN_FOLDER}/{f}")).is_file());
        assert_eq!(
            self_link(&p, &format!("{CHAN_FOLDER}/{f}")),
            format!("{CHAN_URL}/{f}")
        );
    }
    let atom = parse_feed(p.read(&format!("feeds/{CHAN_FOLDER}/atom.xml")).as_bytes());
    assert_eq!(atom.id, format!("{CHAN_URL}/atom.xml"));
    assert!(p
        .read("feeds/index.opml")
        .contains(&format!("xmlUrl=\"{CHAN_URL}/rss.xml\"")));
    assert_eq!(
        self_link(&p, "authors/daniel-whitcombe/rss.xml"),
        "https://news.example.com/feeds/authors/daniel-whitcombe/rss.xml"
    );
}

#[test]
fn a_slug_in_the_front_matter_or_in_the_config_replaces_the_derived_one() {
    let p = Publication::with_config(&format!(
        "{CONFIG}\n[authors]\n\"陳大文\" = \"chan-tai-man\"\n\"Daniel Whitcombe\" = \"dw\"\n"
    ));
    p.write(
        "content/ai/a.md",
        article(
            "title = \"甲\"\npublished = 2026-11-20\nauthors = [\"陳大文\"]",
            "內文。",
        ),
    );
    p.write(
        "content/ai/b.md",
        article(
            "title = \"乙\"\npublished = 2026-11-21\nauthors = [{ name = \"李小明\", slug = \"lee-siu-ming\" }]",
            "內文。",
        ),
    );
    // The front matter wins over the config.
    p.write(
        "content/city/c.md",
        article(
            "title = \"丙\"\npublished = 2026-11-22\nauthors = [{ name = \"Daniel Whitcombe\", role = \"Editor\", slug = \"daniel\" }]",
            "內文。",
        ),
    );
    p.build();
    assert_eq!(
        author_folders(&p),
        BTreeSet::from([
            "chan-tai-man".to_owned(),
            "daniel".to_owned(),
            "lee-siu-ming".to_owned()
        ])
    );
    let chan = parse_feed(p.read("feeds/authors/chan-tai-man/atom.xml").as_bytes());
    assert_eq!(chan.title.as_ref().unwrap().content, "陳大文 | 論壇");
    assert_eq!(titles(&chan), ["甲"]);
    assert_eq!(
        self_link(&p, "authors/lee-siu-ming/feed.json"),
        "https://news.example.com/feeds/authors/lee-siu-ming/feed.json"
    );
    let daniel = parse_feed(p.read("feeds/authors/daniel/rss.xml").as_bytes());
    assert_eq!(titles(&daniel), ["丙"]);
}

#[test]
fn an_invalid_author_slug_exits_2_naming_the_field_and_writes_nothing() {
    let p = with_authors("");
    p.build();
    let before = p.tree("feeds");

    p.write(
        "content/ai/bad.md",
        article(
            "title = \"壞\"\npublished = 2026-11-21\nauthors = [{ name = \"陳大文\", slug = \"chan tai/man\" }]",
            "內文。",
        ),
    );
    let run = p.run(&["build"]).expect_code(2);
    assert!(
        run.stderr
            .contains("content/ai/bad.md:4: authors: author 1: expected a slug"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("chan tai/man"), "{}", run.stderr);
    assert_same_tree(&before, &p.tree("feeds"));
    std::fs::remove_file(p.path("content/ai/bad.md")).unwrap();

    p.write(
        "config.toml",
        format!("{CONFIG}\n[authors]\n\"陳大文\" = \"../陳\"\n"),
    );
    let run = p.run(&["build"]).expect_code(2);
    assert!(run.stderr.contains("authors.\"陳大文\""), "{}", run.stderr);
    assert!(run.stderr.contains("../陳"), "{}", run.stderr);
    assert_same_tree(&before, &p.tree("feeds"));
}

#[test]
fn the_opml_lists_author_feeds_in_a_folder_of_their_own() {
    let p = with_authors("");
    p.build();
    let opml = p.read("feeds/index.opml");
    let open = "<outline text=\"作者\" title=\"作者\">";
    let start = opml.find(open).unwrap_or_else(|| panic!("{opml}"));
    let end = start + opml[start..].find("</outline>").unwrap();
    let (outside, inside) = (
        format!("{}{}", &opml[..start], &opml[end..]),
        &opml[start..end],
    );
    let xml_urls = |s: &str| -> Vec<String> {
        start_tags(s, "outline")
            .into_iter()
            .filter_map(|o| o.get("xmlurl").cloned())
            .collect()
    };
    assert_eq!(
        xml_urls(inside),
        [
            "https://news.example.com/feeds/authors/daniel-whitcombe/rss.xml".to_owned(),
            format!("{CHAN_URL}/rss.xml"),
        ]
    );
    assert_eq!(
        xml_urls(&outside),
        [
            "https://news.example.com/feeds/ai/rss.xml",
            "https://news.example.com/feeds/city/rss.xml"
        ]
    );
}

#[test]
fn an_author_whose_articles_are_gone_loses_their_feeds() {
    let p = with_authors("");
    p.build();
    std::fs::remove_file(p.path("content/ai/a2.md")).unwrap();
    std::fs::remove_file(p.path("content/city/c2.md")).unwrap();
    let run = p.build();
    assert!(run.stdout.contains("3 removed"), "{}", run.stdout);
    assert!(!p.path("feeds/authors/daniel-whitcombe").exists());
    assert_eq!(author_folders(&p), BTreeSet::from(["陳大文".to_owned()]));
    assert!(!p.read("feeds/index.opml").contains("daniel-whitcombe"));
}

#[test]
fn author_feeds_off_writes_none_and_removes_those_written() {
    let p = with_authors("author_feeds = false\n");
    p.build();
    assert!(!p.path("feeds/authors").exists());
    assert!(!p.read("feeds/index.opml").contains("作者"));

    // Turned off after a build, they go.
    let p = with_authors("");
    p.build();
    assert_eq!(author_folders(&p).len(), 2);
    p.write("config.toml", format!("{CONFIG}author_feeds = false\n"));
    let run = p.build();
    assert!(run.stdout.contains("6 removed"), "{}", run.stdout);
    assert!(!p.path("feeds/authors").exists());
    assert!(!p.read("feeds/index.opml").contains("authors/"));
}

// --------------------------------------------------------- corrections

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
    let note_html = "<p class=\"correction\"><strong>更正</strong> (2026-11-25)：第二段的數字應為 &lt;30%&gt; &amp; 不是 40%。</p>";
    let note_text = format!("[更正 2026-11-25] {CORRECTION}");
    for ((d, f), id) in feeds_of_compute().iter().zip(&ids) {
        let feed = parse_feed(p.read(&format!("feeds/{d}/{f}")).as_bytes());
        let e = &feed.entries[0];
        assert_eq!(&e.id, id, "{d}/{f}: the id stays");
        if *f != "rss.xml" {
            // RSS has no element for it.
            assert_eq!(
                e.updated,
                Some(instant("2026-11-25T09:00:00+08:00")),
                "{d}/{f}"
            );
        }
        let summary = e.summary.as_ref().unwrap().content.clone();
        if *f == "rss.xml" {
            // RSS descriptions are HTML.
            assert!(
                summary
                    .starts_with("[更正 2026-11-25] 第二段的數字應為 &lt;30%&gt; &amp; 不是 40%。"),
                "{d}/{f}: {summary}"
            );
        } else {
            assert!(summary.starts_with(&note_text), "{d}/{f}: {summary}");
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
    // The column page shows the summary with the note too.
    let page = p.read("feeds/ai/index.html");
    assert!(page.contains("[更正 2026-11-25]"), "{page}");
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
            .starts_with("<p class=\"correction\"><strong>Correction</strong> (2026-11-25): The second figure is 30%.</p>"),
        "{item}"
    );
    assert!(
        item["summary"]
            .as_str()
            .unwrap()
            .starts_with("[Correction 2026-11-25] The second figure is 30%."),
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
        .find("== 更正 Corrections since the last issue ==")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(text.find("算力擴容").unwrap() > header, "{text}");
    assert!(text.find("渡輪的黃昏").unwrap() < header, "{text}");
    assert!(
        html.contains("更正 Corrections since the last issue"),
        "{html}"
    );
    assert_eq!(html.matches("算力擴容").count(), 1, "once: {html}");
    assert!(html.contains("數字有誤，已更正。"), "{html}");
    // A reader of the other column gets their news, not the correction.
    let (text, html) = outbox_email(&p, "2026-W50", "city@example.com").unwrap();
    assert!(text.contains("渡輪的黃昏"), "{text}");
    for part in [&text, &html] {
        assert!(!part.contains("算力擴容"), "{part}");
        assert!(!part.contains("Corrections since the last issue"), "{part}");
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
        assert!(!part.contains("Corrections since the last issue"), "{part}");
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

// --------------------------------------------------------- conveniences

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    let p = Publication::empty();
    for shell in ["bash", "zsh", "fish"] {
        let run = p.run(&["completions", shell]).expect_code(0);
        assert!(!run.stdout.trim().is_empty(), "{shell}");
        for word in ["broadsheet", "serve", "status", "build", "subscribers"] {
            assert!(run.stdout.contains(word), "{shell}: {word}");
        }
        assert_eq!(run.stderr, "", "{shell}");
    }
    p.run(&["completions", "tcsh"]).expect_code(2);
}

#[test]
fn man_prints_a_roff_page() {
    let p = Publication::empty();
    let run = p.run(&["man"]).expect_code(0);
    assert!(
        run.stdout.starts_with(".TH") || run.stdout.starts_with(".ie"),
        "{}",
        &run.stdout[..run.stdout.len().min(200)]
    );
    assert!(run.stdout.contains(".TH broadsheet 1"), "{}", run.stdout);
    for word in [
        "build",
        "status",
        "serve",
        "\\-\\-config",
        "\\-\\-log\\-format",
    ] {
        assert!(run.stdout.contains(word), "{word}");
    }
}

/// Every line of stderr, parsed as a JSON object.
#[track_caller]
fn json_lines(stderr: &str) -> Vec<serde_json::Map<String, Value>> {
    stderr
        .lines()
        .map(|l| match serde_json::from_str(l) {
            Ok(Value::Object(o)) => o,
            _ => panic!("not a JSON object: {l:?}\n{stderr}"),
        })
        .collect()
}

#[test]
fn json_logs_are_one_object_a_line() {
    let p = Publication::with_config(&format!("{CONFIG}max_itmes = 3\n"));
    p.write(
        "content/ai/x.md",
        article("title = \"X\"\npublished = 2026-11-20", "內文。"),
    );
    p.run(&["--log-format", "json", "-v", "build"])
        .expect_code(0);
    // A second build has nothing to do, and says so at -v.
    let run = p
        .run(&["--log-format", "json", "-v", "build"])
        .expect_code(0);
    let lines = json_lines(&run.stderr);
    assert!(lines.len() >= 2, "{}", run.stderr);
    for l in &lines {
        assert!(
            l.contains_key("level") && l.contains_key("timestamp"),
            "{l:?}"
        );
    }
    let message = |m: &str| {
        lines
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|s| s.contains(m)))
    };
    assert!(message("unknown key feeds.max_itmes"), "{}", run.stderr);
    assert!(
        message("nothing changed since the last build"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.starts_with("built 2 columns"), "{}", run.stdout);
}

#[test]
fn json_logs_stay_json_when_a_command_fails() {
    let p = Publication::new();
    p.write("content/ai/x.md", article("title = \"X\"", "內文。"));
    let run = p.run(&["--log-format", "json", "build"]).expect_code(2);
    let lines = json_lines(&run.stderr);
    assert!(
        lines.iter().any(|l| l
            .values()
            .any(|v| v.as_str().is_some_and(|s| s.contains("content/ai/x.md")))),
        "{}",
        run.stderr
    );
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
    assert!(!text.contains("Corrections since the last issue"), "{text}");

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
        assert!(!part.contains("Corrections since the last issue"), "{part}");
    }
}
