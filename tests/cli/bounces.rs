//! `bounces ingest` and `bounces scan` on the hand-written report fixtures
//! (tests/fixtures/bounces), against a real state: what each does to its
//! subscriber, the evidence kept, and that nothing else changes.

use crate::smtp::SmtpServer;
use crate::util::*;
use broadsheet::token::{verp_address, Signer};
use std::io::Write;
use std::process::Stdio;

const SECRET: &str = "test-secret-for-links";
pub(crate) const GONE: &str = "reader.gone@example.com";
pub(crate) const STAYS: &str = "reader.stays@example.com";

pub(crate) fn publication() -> Publication {
    let config = digest_config("outbox_dir = \"outbox\"").replace(
        "[digest]\n",
        "[digest]\nbounce_domain = \"bounces.news.example.com\"\n",
    );
    let p = Publication::with_config(&config);
    for who in [GONE, STAYS] {
        p.run(&["subscribers", "add", who]).expect_code(0);
    }
    p
}

/// The VERP address of issue `issue` to subscriber `id`, as a digest has it.
pub(crate) fn verp(issue: i64, id: i64) -> String {
    let token = Signer::new(SECRET).verp_token(issue, id).unwrap();
    verp_address(&token, "bounces.news.example.com")
}

pub(crate) fn fixture(name: &str, return_path: &str, recipient: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/bounces/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .replace("{{return_path}}", return_path)
        .replace("{{recipient}}", recipient)
        .replace("{{message_id}}", "broadsheet.test@news.example.com")
        .into_bytes()
}

fn ingest(p: &Publication, message: &[u8]) -> Run {
    let mut child = p
        .command("", NOW, &["bounces", "ingest"], &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn statuses(p: &Publication) -> Vec<(String, String)> {
    p.run(&["subscribers", "list"])
        .expect_code(0)
        .stdout
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_owned(), f[3].to_owned())
        })
        .collect()
}

pub(crate) fn status_of(p: &Publication, email: &str) -> String {
    statuses(p)
        .into_iter()
        .find(|(e, _)| e == email)
        .map(|(_, s)| s)
        .unwrap()
}

#[test]
fn a_hard_bounce_through_the_pipe_marks_its_subscriber_once_and_no_one_else() {
    let p = publication();
    // Subscriber 1 is GONE.
    let dsn = fixture("postfix-hard.eml", &verp(1, 1), GONE);
    let run = ingest(&p, &dsn).expect_code(0);
    assert!(
        run.stdout
            .contains("hard bounce for reader.gone@example.com, now bounced"),
        "{}",
        run.stdout
    );
    assert_eq!(status_of(&p, GONE), "bounced");
    assert_eq!(status_of(&p, STAYS), "active");
    // The same report again changes nothing.
    let again = ingest(&p, &dsn).expect_code(0);
    assert!(again.stdout.contains("recorded before"), "{}", again.stdout);
}

#[test]
fn a_bounce_naming_an_issue_the_state_no_longer_has_still_marks_its_reader_and_one_naming_a_removed_reader_marks_no_one(
) {
    let p = publication();
    // No issue was ever sent here, so issue 999 is not in the state (as
    // after the state was replaced): the signed token still proves the
    // address was mailed by us.
    let run = ingest(&p, &fixture("postfix-hard.eml", &verp(999, 1), GONE)).expect_code(0);
    assert!(run.stdout.contains("now bounced"), "{}", run.stdout);
    assert_eq!(status_of(&p, GONE), "bounced");
    let listed = p.run(&["bounces", "list"]).expect_code(0).stdout;
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let shown = p.run(&["bounces", "show", "1"]).expect_code(0).stdout;
    assert!(shown.contains("issue:       999"), "{shown}");
    // A signed token for a reader removed since: kept, naming no one, and
    // nobody else changes.
    p.run(&["subscribers", "remove", STAYS]).expect_code(0);
    let run = ingest(&p, &fixture("rfc3464-hard.eml", &verp(1, 2), STAYS)).expect_code(0);
    assert!(
        run.stdout.contains("naming no subscriber of ours"),
        "{}",
        run.stdout
    );
    assert_eq!(statuses(&p), [(GONE.to_owned(), "bounced".to_owned())]);
    let listed = p.run(&["bounces", "list"]).expect_code(0).stdout;
    assert_eq!(listed.lines().count(), 2, "{listed}");
}

#[test]
fn a_forged_token_or_a_bare_address_marks_no_one() {
    let p = publication();
    // A token signed with another secret, naming STAYS (subscriber 2).
    let forged = verp_address(
        &Signer::new("someone-elses-secret")
            .verp_token(1, 2)
            .unwrap(),
        "bounces.news.example.com",
    );
    let run = ingest(&p, &fixture("rfc3464-hard.eml", &forged, STAYS)).expect_code(0);
    assert!(
        run.stdout.contains("naming no subscriber of ours"),
        "{}",
        run.stdout
    );
    // No token at all, and no Message-ID of ours: the address alone is
    // not proof, for anyone can mail a bounce.
    ingest(
        &p,
        &fixture("exim-hard.eml", "digest@news.example.com", STAYS),
    )
    .expect_code(0);
    assert_eq!(status_of(&p, STAYS), "active");
    // Not understood at all: taken (a pipe cannot leave it), kept, exit 0.
    let run = ingest(&p, b"Subject: hello\r\n\r\njust a note\r\n").expect_code(0);
    assert!(run.stdout.contains("not understood"), "{}", run.stdout);
    assert_eq!(status_of(&p, GONE), "active");
}

#[test]
fn a_state_that_cannot_be_written_is_try_again_later() {
    let p = publication();
    p.write(
        "config.toml",
        p.read("config.toml").replace(
            "[site]\n",
            "[site]\nstate_path = \"no/such/folder/state.db\"\n",
        ),
    );
    std::fs::write(p.path("no"), "a file where a folder must be").unwrap();
    let run = ingest(&p, &fixture("postfix-hard.eml", &verp(1, 1), GONE));
    assert_eq!(run.code, 75, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("try again"), "{}", run.stderr);
}

#[test]
fn a_maildir_scan_moves_what_it_handled_and_leaves_what_it_did_not_understand() {
    let p = publication();
    let messages = [
        ("1.arf", fixture("arf-abuse.eml", &verp(1, 1), GONE)),
        (
            "2.vacation",
            fixture("vacation-rfc3834.eml", &verp(1, 2), STAYS),
        ),
        ("3.reply", fixture("not-a-bounce.eml", &verp(1, 2), STAYS)),
        (
            "4.soft",
            fixture("postfix-soft-mailbox-full.eml", &verp(1, 2), STAYS),
        ),
    ];
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(p.path(&format!("Maildir/{sub}"))).unwrap();
    }
    for (name, bytes) in &messages {
        p.write(&format!("Maildir/new/{name}"), bytes);
    }
    let maildir = p.path("Maildir");
    let run = p
        .run(&["bounces", "scan", maildir.to_str().unwrap()])
        .expect_code(0);
    assert!(
        run.stdout.contains("scanned 4 messages: 2 recorded"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("reader.gone@example.com: now complained"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("3.reply: not understood"),
        "{}",
        run.stderr
    );
    let names = |sub: &str| {
        let mut v: Vec<String> = std::fs::read_dir(p.path(&format!("Maildir/{sub}")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("new"), ["3.reply"]);
    assert_eq!(names("cur"), ["1.arf:2,S", "2.vacation:2,S", "4.soft:2,S"]);
    assert_eq!(status_of(&p, GONE), "complained");
    // One soft bounce is counted, not yet a bounce; a vacation reply is none.
    assert_eq!(status_of(&p, STAYS), "active");
    // A second scan finds nothing new to record.
    let again = p
        .run(&["bounces", "scan", maildir.to_str().unwrap()])
        .expect_code(0);
    assert!(
        again.stdout.contains("scanned 1 message: 0 recorded"),
        "{}",
        again.stdout
    );
    assert_eq!(names("new"), ["3.reply"]);
}

#[test]
fn each_digest_goes_out_from_a_verp_address_naming_its_issue_and_reader_and_a_feedback_id() {
    let server = SmtpServer::start();
    let config = digest_config(&format!("host = \"127.0.0.1\"\nport = {}", server.port)).replace(
        "[digest]\n",
        "[digest]\nbounce_domain = \"Bounces.News.Example.com\"\n",
    );
    let p = crate::digest::with_articles(&config);
    for who in [GONE, STAYS] {
        p.run(&["subscribers", "add", who]).expect_code(0);
    }
    p.run_at("2026-11-30T09:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    let signer = Signer::new(SECRET);
    let mut seen = Vec::new();
    for r in server.received() {
        let (local, domain) = r.from.trim_matches(['<', '>']).split_once('@').unwrap();
        assert_eq!(domain, "bounces.news.example.com", "{}", r.from);
        let token = local.strip_prefix("bounces+").unwrap();
        let claims = signer.verify_verp(token).unwrap();
        assert_eq!(claims.issue_id, 1);
        seen.push((r.to[0].clone(), claims.subscriber_id));
        let m = mail_parser::MessageParser::default()
            .parse(&r.data)
            .unwrap();
        assert_eq!(
            m.header_raw("Feedback-ID").map(str::trim),
            Some("issue-1:digest:news.example.com")
        );
        assert_eq!(
            m.header_raw("Auto-Submitted").map(str::trim),
            Some("auto-generated")
        );
    }
    seen.sort();
    assert_eq!(seen, [(GONE.to_owned(), 1), (STAYS.to_owned(), 2)]);
}

#[test]
fn dns_prints_the_records_and_check_warns_of_what_does_not_align() {
    let p = publication();
    let run = p.run(&["dns"]).expect_code(0);
    assert!(
        run.stdout.contains("bounces.news.example.com. 3600 IN MX"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("_dmarc.news.example.com. 3600 IN TXT \"v=DMARC1;"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("bounces.news.example.com. 3600 IN TXT \"v=spf1"),
        "{}",
        run.stdout
    );
    // The Return-Path (a subdomain of the From's) aligns: no warning.
    let check = p.run(&["check"]).expect_code(0);
    assert!(!check.stderr.contains("align"), "{}", check.stderr);
    // A From on another domain, and no DKIM: DMARC cannot pass.
    p.write(
        "config.toml",
        p.read("config.toml")
            .replace("digest@news.example.com", "digest@forum.example.org"),
    );
    let check = p.run(&["check"]).expect_code(0);
    assert!(
        check.stderr.contains(
            "digest.bounce_domain: the Return-Path domain bounces.news.example.com does not align"
        ),
        "{}",
        check.stderr
    );
    assert!(check.stderr.contains("DMARC will fail"), "{}", check.stderr);
}

#[test]
fn status_reports_the_complaint_rate_and_exits_1_past_the_limit() {
    let server = SmtpServer::start();
    let config = digest_config(&format!("host = \"127.0.0.1\"\nport = {}", server.port)).replace(
        "[digest]\n",
        "[digest]\nbounce_domain = \"bounces.news.example.com\"\n",
    );
    let p = crate::digest::with_articles(&config);
    for who in [GONE, STAYS] {
        p.run(&["subscribers", "add", who]).expect_code(0);
    }
    let after = "2026-11-30T09:00:00+08:00";
    p.run_at(after, &["digest", "send"]).expect_code(0);
    let healthy = p.run_at(after, &["status", "--json"]).expect_code(0);
    assert!(
        healthy.stdout.contains("\"complaint_rate\": 0.0"),
        "{}",
        healthy.stdout
    );
    // One reader of two reports it as spam: 50%, far past 0.3%.
    ingest(&p, &fixture("arf-abuse.eml", &verp(1, 1), GONE)).expect_code(0);
    let run = p.run_at(after, &["status", "--json"]).expect_code(1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["bounces"]["last_issue"]["sent"], 2);
    assert_eq!(json["bounces"]["last_issue"]["complaints"], 1);
    assert_eq!(json["bounces"]["last_issue"]["complaint_rate"], 0.5);
    assert_eq!(json["subscribers"]["complained"], 1);
    let problems = json["problems"].to_string();
    assert!(problems.contains("1 of 2 readers reported the digest as spam (50%), above bounces.max_complaint_rate (0.3%)"), "{problems}");
    let text = p.run_at(after, &["status"]).expect_code(1);
    assert!(
        text.stdout.contains(
            "bounces, last 30 days: 0 hard, 0 soft, 1 complaint of 2 sent; 1 complained in all"
        ),
        "{}",
        text.stdout
    );
}

/// The tab-separated fields of the one line `subscribers list --status
/// STATUS` prints.
fn listed(p: &Publication, status: &str) -> Vec<String> {
    let run = p
        .run(&["subscribers", "list", "--status", status])
        .expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    lines[0].split('\t').map(str::to_owned).collect()
}

#[test]
fn the_bounced_and_complained_lists_say_which_report_decided_each_and_show_prints_it_whole() {
    let p = publication();
    let dsn = fixture("postfix-hard.eml", &verp(1, 1), GONE);
    ingest(&p, &dsn).expect_code(0);
    ingest(&p, &fixture("arf-abuse.eml", &verp(1, 2), STAYS)).expect_code(0);

    let gone = listed(&p, "bounced");
    assert_eq!(gone[..4], [GONE, "", "*", "bounced"], "{gone:?}");
    // Kind, status code, source, when the report says it happened (in
    // site.timezone), the report's id, and the server's words on one line.
    assert_eq!(
        gone[4..8],
        ["hard", "5.1.1", "mail", "2025-03-03T17:00:15+08:00"],
        "{gone:?}"
    );
    let hard_id = gone[8].clone();
    assert_eq!(
        gone[9],
        format!(
            "550 5.1.1 <{GONE}>: Recipient address rejected: User unknown in virtual mailbox table"
        ),
        "{gone:?}"
    );
    assert_eq!(gone.len(), 10, "{gone:?}");

    let angry = listed(&p, "complained");
    assert_eq!(angry[..4], [STAYS, "", "*", "complained"], "{angry:?}");
    assert_eq!(angry[4..6], ["complaint", ""], "{angry:?}");
    assert_eq!(angry[6], "mail", "{angry:?}");
    assert_ne!(angry[8], hard_id, "each has its own report");

    // The report whole, and its evidence as it came.
    let shown = p.run(&["bounces", "show", &hard_id]).expect_code(0).stdout;
    for line in [
        format!("report:      {hard_id}\n"),
        "kind:        hard\n".to_owned(),
        "did:         made the subscriber bounced\n".to_owned(),
        "status code: 5.1.1\n".to_owned(),
        "source:      mail\n".to_owned(),
        "reported:    2025-03-03T17:00:15+08:00\n".to_owned(),
        format!("subscriber:  {GONE} (id 1, now bounced)\n"),
        "issue:       1\n".to_owned(),
        format!("evidence:    {} bytes, as kept:\n\n", dsn.len()),
    ] {
        assert!(shown.contains(&line), "{line:?} not in\n{shown}");
    }
    assert!(
        shown.ends_with(std::str::from_utf8(&dsn).unwrap()),
        "{shown}"
    );
    let raw = p
        .run(&["bounces", "show", &hard_id, "--evidence"])
        .expect_code(0);
    assert_eq!(raw.stdout.as_bytes(), dsn.as_slice());
    let missing = p.run(&["bounces", "show", "999"]).expect_code(2);
    assert!(
        missing
            .stderr
            .contains("ID: no bounce or complaint report 999"),
        "{}",
        missing.stderr
    );

    // Every report, newest first, or one address's.
    let all = p.run(&["bounces", "list"]).expect_code(0).stdout;
    let ids: Vec<&str> = all.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(ids, [angry[8].as_str(), hard_id.as_str()], "{all}");
    let one = p
        .run(&["bounces", "list", "--email", GONE, "--limit", "5"])
        .expect_code(0)
        .stdout;
    let fields: Vec<&str> = one.trim_end().split('\t').collect();
    assert_eq!(
        fields[..7],
        [
            hard_id.as_str(),
            "2025-03-03T17:00:15+08:00",
            "hard",
            "5.1.1",
            "mail",
            GONE,
            "bounced"
        ],
        "{one}"
    );
}

#[test]
fn a_digest_hands_the_configured_sending_service_the_token_its_return_path_carries() {
    let headers = [
        ("sendgrid", "X-SMTPAPI"),
        ("mailgun", "X-Mailgun-Variables"),
        ("postmark", "X-PM-Metadata-broadsheet_token"),
        ("ses", "X-SES-MESSAGE-TAGS"),
    ];
    let signer = Signer::new(SECRET);
    for (provider, header) in headers.iter().copied().chain([("none", "")]) {
        let server = SmtpServer::start();
        let config = digest_config(&format!("host = \"127.0.0.1\"\nport = {}", server.port))
            .replace(
                "[digest]\n",
                &format!(
                    "[digest]\nbounce_domain = \"bounces.news.example.com\"\nprovider_headers = \"{provider}\"\n"
                ),
            );
        let p = crate::digest::with_articles(&config);
        p.run(&["subscribers", "add", GONE]).expect_code(0);
        p.run_at("2026-11-30T09:00:00+08:00", &["digest", "send"])
            .expect_code(0);
        let received = server.received();
        assert_eq!(received.len(), 1, "{provider}");
        let r = &received[0];
        let return_path = broadsheet::token::verp_token_in(&r.from)
            .unwrap_or_else(|| panic!("{provider}: {}", r.from))
            .to_owned();
        let m = mail_parser::MessageParser::default()
            .parse(&r.data)
            .unwrap();
        // Only the service named has its header; the others' would go on
        // to the reader.
        for (other, name) in headers {
            if other != provider {
                assert_eq!(m.header_raw(name), None, "{provider}: {name}");
            }
        }
        if provider == "none" {
            continue;
        }
        let value = m
            .header_raw(header)
            .unwrap_or_else(|| panic!("{provider}: no {header}"))
            .trim()
            .to_owned();
        let token = match provider {
            "sendgrid" => serde_json::from_str::<serde_json::Value>(&value).unwrap()["unique_args"]
                ["broadsheet_token"]
                .as_str()
                .unwrap()
                .to_owned(),
            "mailgun" => serde_json::from_str::<serde_json::Value>(&value).unwrap()
                ["broadsheet_token"]
                .as_str()
                .unwrap()
                .to_owned(),
            "ses" => value.strip_prefix("broadsheet-token=").unwrap().to_owned(),
            _ => value,
        };
        assert_eq!(token, return_path, "{provider}");
        let claims = signer.verify_verp(&token).unwrap();
        assert_eq!(
            (claims.issue_id, claims.subscriber_id),
            (1, 1),
            "{provider}"
        );
    }
}

#[test]
fn a_sending_service_not_known_is_named_and_refused() {
    let p = publication();
    p.write(
        "config.toml",
        p.read("config.toml")
            .replace("[digest]\n", "[digest]\nprovider_headers = \"sendgird\"\n"),
    );
    let check = p.run(&["check"]).expect_code(2);
    assert!(
        check.stderr.contains(
            "digest.provider_headers: expected \"none\", \"sendgrid\", \"mailgun\", \"postmark\" or \"ses\", found \"sendgird\""
        ),
        "{}",
        check.stderr
    );
}

#[test]
fn an_outbox_digest_shows_the_verp_return_path_a_bounce_would_go_to() {
    let config = digest_config("outbox_dir = \"outbox\"").replace(
        "[digest]\n",
        "[digest]\nbounce_domain = \"bounces.news.example.com\"\n",
    );
    let p = crate::digest::with_articles(&config);
    p.run(&["subscribers", "add", GONE]).expect_code(0);
    p.run_at("2026-11-30T09:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    let files: Vec<_> = std::fs::read_dir(p.path("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let bytes = std::fs::read(&files[0]).unwrap();
    let first = String::from_utf8_lossy(&bytes[..bytes.iter().position(|&b| b == b'\n').unwrap()])
        .into_owned();
    let token = first
        .strip_prefix("Return-Path: <bounces+")
        .and_then(|rest| rest.strip_suffix("@bounces.news.example.com>\r"))
        .unwrap_or_else(|| panic!("{first:?}"));
    let claims = Signer::new(SECRET).verify_verp(token).unwrap();
    assert_eq!((claims.issue_id, claims.subscriber_id), (1, 1));
    let m = mail_parser::MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(m.to().unwrap().first().unwrap().address(), Some(GONE));
}
