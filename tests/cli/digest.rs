//! The weekly digest: schedule, selection, rendering and delivery over real
//! SMTP on 127.0.0.1, every message read back with mail-parser.

use crate::smtp::{start_auth_refusing, SmtpServer};
use crate::util::digest_config as config;
use crate::util::*;
use mail_parser::MessageParser;

/// An hour after the Monday 08:00 slot in Hong Kong (2026-11-30).
const AFTER_SLOT: &str = "2026-11-30T09:00:00+08:00";

fn smtp_config(port: u16) -> String {
    config(&format!("host = \"127.0.0.1\"\nport = {port}"))
}

pub(crate) fn with_articles(config: &str) -> Publication {
    let p = Publication::with_config(config);
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容與新型工業化\"\npublished = 2026-11-27T07:00:00+08:00\nauthors = [{ name = \"陳大文\", role = \"研究院院長\" }]",
            "算力是新時代的基建。\n\n## 人才\n\n人才最重要。",
        ),
    );
    p.write(
        "content/city/tram.md",
        article(
            "title = \"電車慢活\"\npublished = 2026-11-26T07:00:00+08:00",
            "電車是城市的節奏。",
        ),
    );
    p
}

fn subscribe(p: &Publication, email: &str, args: &[&str]) {
    let mut all = vec!["subscribers", "add", email];
    all.extend_from_slice(args);
    p.run(&all).expect_code(0);
}

fn parse(data: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default()
        .parse(data)
        .expect("mail-parser reads the message")
}

#[test]
fn each_subscriber_gets_one_email_with_the_columns_they_follow() {
    let server = SmtpServer::start();
    let p = with_articles(&smtp_config(server.port));
    subscribe(&p, "chan@example.com", &["--name", "陳讀者"]);
    subscribe(&p, "city@Example.COM", &["--columns", "city"]);
    let run = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    assert!(
        run.stdout
            .contains("digest 2026-W49: 2 sent, 0 deferred, 0 failed"),
        "{}",
        run.stdout
    );

    let received = server.received();
    assert_eq!(received.len(), 2);
    let chan = received
        .iter()
        .find(|r| r.to == ["chan@example.com"])
        .unwrap();
    let m = parse(&chan.data);
    assert_eq!(m.subject(), Some("論壇每週精選｜11月30日（星期一）"));
    let from = m.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("論壇"));
    assert_eq!(from.address(), Some("digest@news.example.com"));
    assert_eq!(m.to().unwrap().first().unwrap().name(), Some("陳讀者"));
    let message_id = m.message_id().unwrap();
    assert!(message_id.starts_with("broadsheet.2026-W49."));
    // The reader's part names no subscriber number: the list's size stays
    // its publisher's to know.
    let reader = message_id
        .split('@')
        .next()
        .unwrap()
        .rsplit('.')
        .next()
        .unwrap();
    assert!(
        reader.len() == 24 && reader.bytes().all(|b| b.is_ascii_hexdigit()),
        "{message_id}"
    );
    assert!(m.date().is_some());
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(m
        .header_raw("List-Id")
        .unwrap()
        .contains("<digest.news.example.com>"));
    let text = m.body_text(0).unwrap();
    let html = m.body_html(0).unwrap();
    for part in [&text, &html] {
        assert!(part.contains("算力擴容與新型工業化"), "{part}");
        assert!(part.contains("電車慢活"), "{part}");
        assert!(part.contains("陳大文（研究院院長）"), "{part}");
        assert!(part.contains("陳讀者"), "{part}");
    }
    assert!(html.contains("href=\"https://news.example.com/ai/compute/\""));
    assert!(text.contains("https://news.example.com/ai/compute/"));
    for line in text.lines() {
        assert!(
            textwrap::core::display_width(line) <= 72 || line.starts_with("https://"),
            "{line}"
        );
    }

    let city = received
        .iter()
        .find(|r| r.to == ["city@Example.COM"])
        .unwrap();
    let m = parse(&city.data);
    let text = m.body_text(0).unwrap();
    assert!(text.contains("電車慢活"));
    assert!(!text.contains("算力擴容"), "city follows only city: {text}");
}

#[test]
fn the_unsubscribe_link_is_signed_for_that_subscriber_only() {
    use broadsheet::token::{Purpose, Signer};
    let server = SmtpServer::start();
    let p = with_articles(&smtp_config(server.port));
    subscribe(&p, "a@example.com", &[]);
    subscribe(&p, "b@example.com", &[]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let now = chrono::DateTime::parse_from_rfc3339(AFTER_SLOT).unwrap();
    let signer = Signer::new("test-secret-for-links");
    for r in server.received() {
        let m = parse(&r.data);
        let header = m
            .header_raw("List-Unsubscribe")
            .unwrap()
            .replace(['\r', '\n'], "");
        let url = header
            .split('<')
            .nth(1)
            .unwrap()
            .split('>')
            .next()
            .unwrap()
            .to_owned();
        assert!(
            url.starts_with("https://news.example.com/newsletter/unsubscribe?token="),
            "{url}"
        );
        assert!(
            header.contains("<mailto:digest@news.example.com?subject=unsubscribe>"),
            "{header}"
        );
        let token = url.split("token=").nth(1).unwrap();
        let me = &r.to[0];
        let other = if me == "a@example.com" {
            "b@example.com"
        } else {
            "a@example.com"
        };
        assert!(signer.verify(token, me, Purpose::Unsubscribe, now).is_ok());
        assert!(signer
            .verify(token, other, Purpose::Unsubscribe, now)
            .is_err());
        assert!(signer.verify(token, me, Purpose::Preferences, now).is_err());
        let html = m.body_html(0).unwrap();
        assert!(
            html.contains(&url.replace('&', "&amp;")),
            "the footer carries the same link"
        );
    }
}

#[test]
fn nothing_is_sent_before_the_slot_and_one_issue_after_it() {
    let server = SmtpServer::start();
    let p = with_articles(&smtp_config(server.port));
    subscribe(&p, "a@example.com", &[]);
    // The first issue goes out at the latest slot; the next is not due yet.
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let again = p
        .run_at("2026-12-07T07:59:00+08:00", &["digest", "send"])
        .expect_code(0);
    assert!(
        again
            .stdout
            .contains("no digest due; the next is at 2026-12-07T08:00:00+08:00"),
        "{}",
        again.stdout
    );
    assert_eq!(server.received().len(), 1);
}

#[test]
fn a_forced_send_sends_at_once_even_when_the_last_issue_has_the_same_time() {
    // `--force` ignores the schedule: an issue goes out now, even when the
    // last one was sent at this very second (a second forced send, or a
    // `--now` no later than the last issue's).
    let server = SmtpServer::start();
    let p = with_articles(&smtp_config(server.port));
    subscribe(&p, "a@example.com", &[]);
    // A Wednesday: no slot anywhere near.
    const AT: &str = "2026-12-02T15:00:00+08:00";
    p.run_at(AT, &["digest", "send", "--force"]).expect_code(0);
    assert_eq!(server.received().len(), 1);
    // Added after that send, dated before it.
    p.write(
        "content/city/late.md",
        article(
            "title = \"遲來的稿\"\npublished = 2026-12-02T14:00:00+08:00",
            "晚了一點。",
        ),
    );
    let again = p.run_at(AT, &["digest", "send", "--force"]).expect_code(0);
    assert!(
        again.stdout.contains("digest 2026-W49-2: 1 sent"),
        "{}",
        again.stdout
    );
    let received = server.received();
    assert_eq!(received.len(), 2);
    let m = parse(&received[1].data);
    let text = m.body_text(0).unwrap();
    assert!(text.contains("遲來的稿"), "{text}");
    assert!(!text.contains("算力擴容"), "carried by the first: {text}");
    let first = parse(&received[0].data);
    assert_ne!(first.message_id(), m.message_id());
}

#[test]
fn nothing_is_sent_to_a_subscriber_with_nothing_new() {
    let server = SmtpServer::start();
    let p = Publication::with_config(&smtp_config(server.port));
    p.write(
        "content/ai/x.md",
        article("title = \"X\"\npublished = 2026-11-27", "內文。"),
    );
    subscribe(&p, "ai@example.com", &["--columns", "ai"]);
    subscribe(&p, "city@example.com", &["--columns", "city"]);
    let run = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    assert!(
        run.stdout
            .contains("1 sent, 0 deferred, 0 failed, 1 skipped"),
        "{}",
        run.stdout
    );
    assert_eq!(
        server.copies().keys().collect::<Vec<_>>(),
        ["ai@example.com"]
    );
}

#[test]
fn an_article_added_late_with_an_earlier_date_goes_in_the_next_issue_once() {
    let server = SmtpServer::start();
    let p = with_articles(&smtp_config(server.port));
    subscribe(&p, "a@example.com", &[]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    // Written on Tuesday, dated the Sunday before the first issue.
    p.write(
        "content/ai/late.md",
        article(
            "title = \"遲來的稿件\"\npublished = 2026-11-29T10:00:00+08:00",
            "晚了。",
        ),
    );
    p.write(
        "content/ai/next.md",
        article(
            "title = \"下週文章\"\npublished = 2026-12-02T10:00:00+08:00",
            "新的。",
        ),
    );
    p.run_at("2026-12-07T08:30:00+08:00", &["digest", "send"])
        .expect_code(0);
    p.run_at("2026-12-14T08:30:00+08:00", &["digest", "send"])
        .expect_code(0);
    let texts: Vec<String> = server
        .received()
        .iter()
        .map(|r| parse(&r.data).body_text(0).unwrap().into_owned())
        .collect();
    assert_eq!(texts.len(), 2, "the third week had nothing new");
    assert!(
        texts[1].contains("遲來的稿件") && texts[1].contains("下週文章"),
        "{}",
        texts[1]
    );
    assert!(!texts[1].contains("算力擴容"), "nothing is mailed twice");
}

#[test]
fn an_edited_article_is_not_mailed_again() {
    let server = SmtpServer::start();
    let p = with_articles(&smtp_config(server.port));
    subscribe(&p, "a@example.com", &[]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let text = p.read("content/ai/compute.md").replace(
        "published = 2026-11-27T07:00:00+08:00",
        "published = 2026-11-27T07:00:00+08:00\nupdated = 2026-12-03T07:00:00+08:00",
    );
    p.write("content/ai/compute.md", text);
    let run = p
        .run_at("2026-12-07T08:30:00+08:00", &["digest", "send"])
        .expect_code(0);
    assert!(run.stdout.contains("0 sent"), "{}", run.stdout);
    assert_eq!(server.received().len(), 1);
}

#[test]
fn missed_weeks_are_caught_up_in_one_issue_and_said_so() {
    let server = SmtpServer::start();
    let p = with_articles(&smtp_config(server.port));
    subscribe(&p, "a@example.com", &[]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    p.write(
        "content/ai/w1.md",
        article(
            "title = \"第一週\"\npublished = 2026-12-01T10:00:00+08:00",
            "一。",
        ),
    );
    p.write(
        "content/ai/w2.md",
        article(
            "title = \"第二週\"\npublished = 2026-12-08T10:00:00+08:00",
            "二。",
        ),
    );
    // No run on 7 or 14 December; the next is on the 15th.
    let run = p
        .run_at("2026-12-15T12:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    assert!(run.stderr.contains("1 scheduled issue(s) since 2026-W49 were not sent; issue 2026-W51 carries their articles"), "{}", run.stderr);
    let received = server.received();
    assert_eq!(received.len(), 2);
    let text = parse(&received[1].data).body_text(0).unwrap().into_owned();
    assert!(text.contains("第一週") && text.contains("第二週"), "{text}");
}

#[test]
fn articles_older_than_max_age_are_never_mailed() {
    let server = SmtpServer::start();
    let p = with_articles(&smtp_config(server.port));
    p.write(
        "content/ai/old.md",
        article(
            "title = \"舊文\"\npublished = 2026-11-10T07:00:00+08:00",
            "舊。",
        ),
    );
    subscribe(&p, "a@example.com", &[]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let text = parse(&server.received()[0].data)
        .body_text(0)
        .unwrap()
        .into_owned();
    assert!(!text.contains("舊文"), "{text}");
}

#[test]
fn a_deferred_recipient_is_retried_and_gets_exactly_one_copy() {
    let server = SmtpServer::start();
    server.set(|b| {
        b.rcpt_replies.insert("slow@example.com".into(), vec![451]);
    });
    let p = with_articles(&smtp_config(server.port));
    subscribe(&p, "slow@example.com", &[]);
    subscribe(&p, "ok@example.com", &[]);
    let run = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    assert!(run.stdout.contains("2 sent, 0 deferred"), "{}", run.stdout);
    assert_eq!(server.copies()["slow@example.com"], 1);
    assert_eq!(server.copies()["ok@example.com"], 1);
}

#[test]
fn a_refused_recipient_fails_and_the_others_are_delivered() {
    let server = SmtpServer::start();
    server.set(|b| {
        b.rcpt_replies
            .insert("gone@example.com".into(), vec![550, 550, 550]);
    });
    let p = with_articles(&smtp_config(server.port));
    for who in ["gone@example.com", "a@example.com", "b@example.com"] {
        subscribe(&p, who, &[]);
    }
    let run = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(1);
    assert!(
        run.stdout.contains("2 sent, 0 deferred, 1 failed"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("0 deferred (the next run tries again), 1 failed"),
        "{}",
        run.stderr
    );
    let copies = server.copies();
    assert_eq!(copies.get("gone@example.com"), None);
    assert_eq!(copies["a@example.com"], 1);
    assert_eq!(copies["b@example.com"], 1);
    // A failure is final: the next run does not try again.
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    assert_eq!(server.received().len(), 2);
}

#[test]
fn a_dropped_connection_leaves_the_rest_for_the_next_run_and_no_one_gets_two() {
    let server = SmtpServer::start();
    server.set(|b| b.hang_up_after = Some(2));
    // One connection, so "after two messages" is exact.
    let p = with_articles(
        &smtp_config(server.port).replace("max_connections = 2", "max_connections = 1"),
    );
    let everyone: Vec<String> = (0..6).map(|i| format!("reader{i}@example.com")).collect();
    for who in &everyone {
        subscribe(&p, who, &[]);
    }
    let first = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(1);
    assert!(
        first.stdout.contains("2 sent, 4 deferred"),
        "{}",
        first.stdout
    );
    server.set(|b| b.hang_up_after = None);
    let second = p
        .run_at("2026-11-30T10:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    assert!(
        second.stdout.contains("4 sent, 0 deferred"),
        "{}",
        second.stdout
    );
    let copies = server.copies();
    for who in &everyone {
        assert_eq!(copies.get(who), Some(&1), "{who}");
    }
}

#[test]
fn a_killed_send_resumes_without_duplicates() {
    let server = SmtpServer::start();
    server.set(|b| b.delay = std::time::Duration::from_millis(300));
    let p = with_articles(&smtp_config(server.port));
    let everyone: Vec<String> = (0..8).map(|i| format!("reader{i}@example.com")).collect();
    for who in &everyone {
        subscribe(&p, who, &[]);
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_broadsheet"))
        .arg("--config")
        .arg(p.path("config.toml"))
        .args(["--now", AFTER_SLOT, "digest", "send"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let waited = std::time::Instant::now();
    while server.received().len() < 2 && waited.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let before = server.copies();
    server.set(|b| b.delay = std::time::Duration::ZERO);

    let resumed = p
        .run_at("2026-11-30T10:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    assert!(
        resumed.stderr.contains("outcome is unknown"),
        "{}",
        resumed.stderr
    );
    let after = server.copies();
    for who in &everyone {
        assert!(
            after.get(who).copied().unwrap_or(0) <= 1,
            "{who} got two copies"
        );
    }
    let unknown: Vec<&String> = everyone
        .iter()
        .filter(|w| !after.contains_key(*w))
        .collect();
    // Only what was in flight when the run died can be unknown.
    assert!(unknown.len() <= 2, "{unknown:?}");
    assert!(before.len() >= 2);

    // The operator can choose to send those again.
    let retry = p
        .run_at(
            "2026-11-30T11:00:00+08:00",
            &["digest", "send", "--retry-unknown"],
        )
        .expect_code(0);
    let last = server.copies();
    for who in &everyone {
        assert!(
            last.get(who).copied().unwrap_or(0) >= 1,
            "{who} never got it\n{}",
            retry.stdout
        );
    }
}

#[test]
fn refused_authentication_stops_the_run_and_loses_nothing() {
    let port = start_auth_refusing();
    let p = with_articles(&config(&format!(
        "host = \"127.0.0.1\"\nport = {port}\nusername = \"u\"\npassword = \"wrong\""
    )));
    subscribe(&p, "a@example.com", &[]);
    subscribe(&p, "b@example.com", &[]);
    let run = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(1);
    assert!(
        run.stderr.contains("refused authentication"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("stays queued for the next run"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("wrong"),
        "the password is never printed: {}",
        run.stderr
    );

    // With a working server the issue goes out to both.
    let server = SmtpServer::start();
    p.write("config.toml", smtp_config(server.port));
    p.run_at("2026-11-30T10:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    assert_eq!(server.copies().len(), 2);
}

#[test]
fn a_server_that_is_not_listening_is_a_clear_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = with_articles(&smtp_config(port));
    subscribe(&p, "a@example.com", &[]);
    let run = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(1);
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
}

#[test]
fn a_relay_limit_on_messages_per_connection_is_kept() {
    let server = SmtpServer::start();
    let p = with_articles(&smtp_config(server.port).replace(
        "max_connections = 2",
        "max_connections = 1\nmax_messages_per_connection = 2",
    ));
    for i in 0..5 {
        subscribe(&p, &format!("r{i}@example.com"), &[]);
    }
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    assert_eq!(server.received().len(), 5);
    assert!(
        server.connections() >= 3,
        "{} connections",
        server.connections()
    );
}

#[test]
fn without_a_host_every_email_goes_to_the_outbox() {
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    subscribe(&p, "a@example.com", &["--name", "甲"]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let files: Vec<_> = std::fs::read_dir(p.path("outbox")).unwrap().collect();
    assert_eq!(files.len(), 1);
    let bytes = std::fs::read(files[0].as_ref().unwrap().path()).unwrap();
    let m = parse(&bytes);
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("a@example.com")
    );
    assert!(p
        .read("feeds/digests/2026-W49/index.html")
        .contains("算力擴容與新型工業化"));
}

#[test]
fn an_overlapping_run_stands_down() {
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    subscribe(&p, "a@example.com", &[]);
    let lock = broadsheet::store::Store::try_lock(&p.path("broadsheet.db")).unwrap();
    assert!(lock.is_some());
    let run = p.run_at(AFTER_SLOT, &["run"]).expect_code(0);
    assert!(run.stdout.contains("holds the run lock"), "{}", run.stdout);
    assert!(!p.path("outbox").exists());
    let send = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    assert!(
        send.stdout.contains("another broadsheet run"),
        "{}",
        send.stdout
    );
    drop(lock);
    p.run_at(AFTER_SLOT, &["run"]).expect_code(0);
    assert!(p.path("outbox").exists());
}

#[test]
fn preview_writes_files_and_changes_no_state() {
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    subscribe(&p, "a@example.com", &["--name", "甲"]);
    let db_before = std::fs::read(p.path("broadsheet.db")).unwrap();
    let run = p
        .run_at(
            AFTER_SLOT,
            &["digest", "preview", "--to", "a@example.com", "--out", "pv"],
        )
        .expect_code(0);
    assert!(run.stdout.contains(".eml"), "{}", run.stdout);
    let eml = std::fs::read_dir(p.path("pv"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|x| x == "eml"))
        .unwrap();
    let bytes = std::fs::read(eml).unwrap();
    assert!(parse(&bytes).body_text(0).unwrap().contains("甲"));
    assert!(!p.path("outbox").exists());
    assert_eq!(std::fs::read(p.path("broadsheet.db")).unwrap(), db_before);
}

#[test]
fn a_template_with_a_missing_field_fails_at_check() {
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    p.write(
        "templates/digest.txt.hbs",
        "{{site.title}}\n{{issue.nonsense}}\n",
    );
    let run = p.run_at(AFTER_SLOT, &["check"]).expect_code(2);
    assert!(
        run.stderr.contains("templates/digest.txt.hbs"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("nonsense"), "{}", run.stderr);
    p.write("templates/digest.txt.hbs", "{{#each columns}}\n{{title}}\n");
    let run = p.run_at(AFTER_SLOT, &["check"]).expect_code(2);
    assert!(
        run.stderr.contains("templates/digest.txt.hbs:"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_title_with_a_line_break_cannot_add_a_header() {
    let p = Publication::with_config(&config("outbox_dir = \"outbox\""));
    p.write(
        "content/ai/x.md",
        article(
            "title = \"Hi\\r\\nBcc: victim@example.com\"\npublished = 2026-11-27",
            "x",
        ),
    );
    p.write("config.toml", config("outbox_dir = \"outbox\"").replace(
        "schedule = \"Mon 08:00\"",
        "schedule = \"Mon 08:00\"\nsubject = \"{{#each columns}}{{#each articles}}{{title}}{{/each}}{{/each}}\"",
    ));
    subscribe(
        &p,
        "a@example.com",
        &["--name", "Eve\r\nBcc: x@example.com"],
    );
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let file = std::fs::read_dir(p.path("outbox"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(file).unwrap();
    let m = parse(&bytes);
    assert!(m.header_raw("Bcc").is_none());
    assert_eq!(m.subject(), Some("Hi Bcc: victim@example.com"));
}

#[test]
fn a_corrupt_database_is_refused_and_left_alone() {
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    p.write(
        "broadsheet.db",
        "this is not a database, it is a note".repeat(200),
    );
    let run = p
        .run_at(AFTER_SLOT, &["subscribers", "list"])
        .expect_code(2);
    assert!(
        run.stderr
            .contains("broadsheet.db: not a usable broadsheet database"),
        "{}",
        run.stderr
    );
    assert!(p
        .read("broadsheet.db")
        .starts_with("this is not a database"));
}

#[test]
fn a_database_from_a_newer_broadsheet_is_refused() {
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    subscribe(&p, "a@example.com", &[]);
    let conn = rusqlite::Connection::open(p.path("broadsheet.db")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let run = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(2);
    assert!(
        run.stderr
            .contains("schema version 99, newer than this broadsheet knows"),
        "{}",
        run.stderr
    );
}

#[test]
fn dkim_signs_the_unsubscribe_headers() {
    use base64::Engine;
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    let seed = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    p.write("dkim.key", seed);
    let cfg = config("outbox_dir = \"outbox\"").replace(
        "schedule = \"Mon 08:00\"",
        "schedule = \"Mon 08:00\"\ndkim_selector = \"bs\"\ndkim_domain = \"news.example.com\"\ndkim_key_file = \"dkim.key\"\ndkim_algorithm = \"ed25519\"",
    );
    p.write("config.toml", cfg);
    subscribe(&p, "a@example.com", &[]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let file = std::fs::read_dir(p.path("outbox"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(file).unwrap();
    let m = parse(&bytes);
    let sig = m
        .header_raw("DKIM-Signature")
        .expect("signed")
        .replace(['\r', '\n', ' ', '\t'], "")
        .to_lowercase();
    let h = sig
        .split(";h=")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let signed: Vec<&str> = h.split(':').collect();
    for needed in [
        "from",
        "subject",
        "list-unsubscribe",
        "list-unsubscribe-post",
    ] {
        assert!(signed.contains(&needed), "{needed} not in h={h}");
    }
}

#[test]
fn a_long_week_stays_under_gmails_clipping_limit() {
    let p = Publication::with_config(&config("outbox_dir = \"outbox\""));
    let paragraph = "香港的創科發展需要長遠規劃，也需要社會各界共同參與。".repeat(6);
    for i in 0..120 {
        p.write(
            &format!("content/ai/a{i:03}.md"),
            article(
                &format!("title = \"第{i}篇：算力、人才與制度的長篇討論\"\npublished = 2026-11-27T07:{:02}:00+08:00\nsummary = \"{paragraph}\"", i % 60),
                "內文。",
            ),
        );
    }
    subscribe(&p, "a@example.com", &[]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let file = std::fs::read_dir(p.path("outbox"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(file).unwrap();
    let m = parse(&bytes);
    let html = m.body_html(0).unwrap();
    assert!(html.len() < 100 * 1024, "{} bytes", html.len());
    assert!(
        html.contains(">本週還有</h2>"),
        "the rest are listed as headlines"
    );
    assert!(html.contains("https://news.example.com/feeds/digests/2026-W49/"));
    // Every article is still there, in full or as a headline.
    for i in 0..120 {
        assert!(html.contains(&format!("第{i}篇：")), "article {i} missing");
    }
}

#[test]
fn an_address_refused_three_issues_running_is_marked_bounced() {
    let server = SmtpServer::start();
    server.set(|b| {
        b.rcpt_replies
            .insert("gone@example.com".into(), vec![550; 10]);
    });
    let p = with_articles(&smtp_config(server.port));
    subscribe(&p, "gone@example.com", &[]);
    for (i, when) in [
        "2026-11-30T09:00:00+08:00",
        "2026-12-07T09:00:00+08:00",
        "2026-12-14T09:00:00+08:00",
    ]
    .iter()
    .enumerate()
    {
        p.write(
            &format!("content/ai/w{i}.md"),
            article(
                &format!("title = \"W{i}\"\npublished = {}", &when[..10]),
                "x",
            ),
        );
        p.run_at(when, &["digest", "send"]).expect_code(1);
    }
    let list = p
        .run(&["subscribers", "list", "--status", "bounced"])
        .expect_code(0);
    assert!(
        list.stdout.starts_with("gone@example.com"),
        "{}",
        list.stdout
    );
    p.write(
        "content/ai/w3.md",
        article("title = \"W3\"\npublished = 2026-12-21", "x"),
    );
    let run = p
        .run_at("2026-12-21T09:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    assert!(
        run.stdout.contains("0 sent, 0 deferred, 0 failed"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_server_too_slow_to_answer_leaves_the_message_deferred() {
    // Too slow before the message is sent: nothing reached the relay, so
    // the next run tries again.
    let relay = crate::smtp::ScriptedRelay::start(crate::smtp::Pace {
        each_reply: std::time::Duration::from_secs(3),
        final_reply: std::time::Duration::ZERO,
    });
    let p = with_articles(
        &smtp_config(relay.port)
            .replace("timeout_seconds = 5", "timeout_seconds = 1")
            .replace("retries = 1", "retries = 0"),
    );
    subscribe(&p, "a@example.com", &[]);
    let run = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(1);
    assert!(run.stdout.contains("0 sent, 1 deferred"), "{}", run.stdout);
    assert!(
        run.stderr.contains("no answer to the greeting within 2 s"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_certificate_that_does_not_verify_stops_the_run_and_loses_nothing() {
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(p.path("key.pem"))
        .arg("-out")
        .arg(p.path("cert.pem"))
        .output()
        .expect("openssl makes a self-signed certificate");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let server = SmtpServer::start_tls(&p.path("cert.pem"), &p.path("key.pem"));
    p.write(
        "config.toml",
        config(&format!(
            "host = \"localhost\"\nport = {}\nsecurity = \"starttls\"",
            server.port
        )),
    );
    subscribe(&p, "a@example.com", &[]);
    let run = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(1);
    assert!(run.stderr.contains("TLS with localhost"), "{}", run.stderr);
    assert!(
        run.stderr.contains("certificates are verified"),
        "{}",
        run.stderr
    );
    assert!(server.received().is_empty());
}

#[test]
fn preview_into_a_folder_it_cannot_make_exits_1_like_a_failed_write() {
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    subscribe(&p, "a@example.com", &[]);
    p.write("blocker", "a file, not a folder");
    let run = p
        .run_at(
            AFTER_SLOT,
            &[
                "digest",
                "preview",
                "--to",
                "a@example.com",
                "--out",
                "blocker/pv",
            ],
        )
        .expect_code(1);
    assert!(
        run.stderr.contains("blocker/pv: cannot create"),
        "{}",
        run.stderr
    );
}

/// Golden file: one reader's digest, whole, as the outbox holds it after a
/// send at a fixed time. Its bytes follow from the inputs alone (Date from
/// `--now`, Message-ID and boundary from the issue and the reader), so any
/// change to them is a change to review.
#[test]
fn a_digest_email_is_the_same_to_the_byte_for_the_same_inputs() {
    let cfg = config("outbox_dir = \"outbox\"").replace(
        "schedule = \"Mon 08:00\"",
        "schedule = \"Mon 08:00\"\nreply_to = \"編輯部 <editor@news.example.com>\"",
    );
    let p = with_articles(&cfg);
    subscribe(&p, "chan@example.com", &["--name", "陳讀者"]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let files: Vec<_> = std::fs::read_dir(p.path("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let bytes = std::fs::read(&files[0]).unwrap();
    insta::assert_snapshot!("digest_email", golden_text(&bytes));

    let m = parse(&bytes);
    assert_eq!(m.subject(), Some("論壇每週精選｜11月30日（星期一）"));
    assert_eq!(
        m.to().unwrap().first().unwrap().address(),
        Some("chan@example.com")
    );
    assert_eq!(m.to().unwrap().first().unwrap().name(), Some("陳讀者"));
    assert_eq!(
        m.reply_to().unwrap().first().unwrap().address(),
        Some("editor@news.example.com")
    );
    assert_eq!(
        m.date().map(|d| d.to_rfc3339()).as_deref(),
        Some("2026-11-30T09:00:00+08:00")
    );
    // Unfolded: lettre folds the long value onto a second line.
    let unsubscribe = m
        .header_raw("List-Unsubscribe")
        .unwrap()
        .replace("\r\n", "")
        .trim()
        .to_owned();
    assert!(
        unsubscribe.starts_with("<https://news.example.com/newsletter/unsubscribe?token=")
            && unsubscribe.ends_with(">, <mailto:digest@news.example.com?subject=unsubscribe>"),
        "{unsubscribe}"
    );
    assert_eq!(
        m.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(m.header_raw("Precedence").map(str::trim), Some("bulk"));
    assert_eq!(
        m.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    assert!(m.body_text(0).unwrap().contains("陳讀者"));
    assert!(m.body_html(0).unwrap().contains("算力擴容與新型工業化"));
}

#[test]
fn preview_without_to_is_for_the_first_subscriber_added_not_the_first_by_address() {
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    subscribe(&p, "zoe@example.com", &["--name", "最早的讀者"]);
    subscribe(&p, "adam@example.com", &["--name", "後來的讀者"]);
    p.run_at(AFTER_SLOT, &["digest", "preview", "--out", "pv"])
        .expect_code(0);
    let eml = std::fs::read_dir(p.path("pv"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|f| f.extension().is_some_and(|x| x == "eml"))
        .unwrap();
    let bytes = std::fs::read(eml).unwrap();
    let message = parse(&bytes);
    let to = message.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to.address(), Some("zoe@example.com"));
    assert!(message.body_text(0).unwrap().contains("最早的讀者"));
}

#[test]
fn preview_for_a_reader_whose_columns_have_nothing_new_writes_nothing_as_send_skips_them() {
    let p = Publication::with_config(&config("outbox_dir = \"outbox\""));
    p.write(
        "content/ai/x.md",
        article(
            "title = \"只在人工智能欄\"\npublished = 2026-11-27",
            "內文。",
        ),
    );
    subscribe(
        &p,
        "city@example.com",
        &["--name", "城市讀者", "--columns", "city"],
    );
    let run = p
        .run_at(
            AFTER_SLOT,
            &[
                "digest",
                "preview",
                "--to",
                "city@example.com",
                "--out",
                "pv",
            ],
        )
        .expect_code(0);
    assert!(
        run.stdout.contains("nothing new for city@example.com"),
        "{}",
        run.stdout
    );
    assert!(!p.path("pv").exists(), "nothing written");
    let send = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    assert!(
        send.stdout
            .contains("0 sent, 0 deferred, 0 failed, 1 skipped"),
        "{}",
        send.stdout
    );
}

#[test]
fn a_send_with_no_digest_due_says_when_the_next_is_and_counts_nothing() {
    let p = with_articles(&config("outbox_dir = \"outbox\""));
    subscribe(&p, "a@example.com", &[]);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let again = p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);
    let line = again
        .stdout
        .lines()
        .find(|l| l.starts_with("no digest due"))
        .unwrap_or_else(|| panic!("{}", again.stdout));
    assert!(
        line.starts_with("no digest due; the next is at 2026-12-07T08:00:00+08:00"),
        "{line}"
    );
    assert!(
        !line.contains("sent") && !line.contains("skipped"),
        "{line}"
    );
}
