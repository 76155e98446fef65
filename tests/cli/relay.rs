//! Relays that fail and stall: a dead relay or outbox ends the run at once
//! with nothing lost, a slow relay gets each message once, and neither
//! ever stops the feeds from being built.

use crate::smtp::{Pace, ScriptedRelay, SmtpServer};
use crate::util::digest_config as config;
use crate::util::*;
use std::time::Duration;

/// An hour after the Monday 08:00 slot in Hong Kong (2026-11-30).
const AFTER_SLOT: &str = "2026-11-30T09:00:00+08:00";

/// However long a run that does not hang may take here.
const NO_HANG: Duration = Duration::from_secs(40);

fn publication(smtp: &str) -> Publication {
    let p = Publication::with_config(&config(smtp));
    p.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容與新型工業化\"\npublished = 2026-11-27T07:00:00+08:00",
            "算力是新時代的基建。",
        ),
    );
    p
}

/// A publication sending through the relay on `port`, with these `[smtp]`
/// keys set (in place of the test config's own where it has them).
fn through(port: u16, smtp: &[(&str, &str)]) -> Publication {
    let mut lines = format!("host = \"127.0.0.1\"\nport = {port}");
    let mut config = config("");
    for (key, value) in smtp {
        let set = format!("{key} = {value}");
        match config.lines().find(|l| l.starts_with(&format!("{key} = "))) {
            Some(old) => config = config.replace(old, &set),
            None => lines.push_str(&format!("\n{set}")),
        }
    }
    let p = publication("");
    p.write(
        "config.toml",
        config.replacen("[smtp]\n", &format!("[smtp]\n{lines}\n"), 1),
    );
    p
}

/// `n` subscribers, imported in one go.
fn readers(p: &Publication, n: usize) -> Vec<String> {
    let who: Vec<String> = (0..n).map(|i| format!("reader{i}@example.com")).collect();
    let mut csv = String::from("email,name,columns\n");
    for w in &who {
        csv.push_str(&format!("{w},,\n"));
    }
    p.write("readers.csv", csv);
    p.run(&["subscribers", "import", "readers.csv"])
        .expect_code(0);
    who
}

fn port_with_nothing_listening() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn a_dead_relay_with_a_hundred_queued_ends_the_run_at_once_and_loses_nothing() {
    let port = port_with_nothing_listening();
    let p = through(port, &[]);
    let who = readers(&p, 100);
    let run = p
        .run_within(NO_HANG, AFTER_SLOT, &["digest", "send"])
        .expect_code(1);
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("stays queued for the next run"),
        "{}",
        run.stderr
    );
    // The lock went with the process: the next run sends everything, once.
    let server = SmtpServer::start();
    p.write("config.toml", through(server.port, &[]).read("config.toml"));
    p.run_within(NO_HANG, "2026-11-30T10:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    let copies = server.copies();
    for w in &who {
        assert_eq!(copies.get(w), Some(&1), "{w}");
    }
}

#[test]
fn an_outbox_that_cannot_be_written_ends_the_run_at_once() {
    let p = publication("outbox_dir = \"outbox\"");
    // A file where the folder should be: every write fails.
    p.write("outbox", "not a folder");
    readers(&p, 100);
    let run = p
        .run_within(NO_HANG, AFTER_SLOT, &["digest", "send"])
        .expect_code(1);
    assert!(run.stderr.contains("outbox"), "{}", run.stderr);
    assert!(
        run.stderr.contains("stays queued for the next run"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_run_with_the_relay_down_still_builds_the_feeds_and_the_next_run_is_not_silent() {
    let port = port_with_nothing_listening();
    let p = through(port, &[]);
    readers(&p, 20);
    let run = p
        .run_within(NO_HANG, AFTER_SLOT, &["--quiet", "run"])
        .expect_code(1);
    assert!(run.stderr.contains("127.0.0.1"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("nothing was written"),
        "the feeds were written: {}",
        run.stderr
    );
    assert!(p
        .read("feeds/all/atom.xml")
        .contains("算力擴容與新型工業化"));
    // The next run is not stood down by a lock left behind.
    let again = p
        .run_within(NO_HANG, "2026-11-30T09:10:00+08:00", &["--quiet", "run"])
        .expect_code(1);
    assert!(again.stderr.contains("127.0.0.1"), "{}", again.stderr);
}

#[test]
fn a_relay_slow_at_every_step_but_within_each_bound_gets_every_message() {
    // Each reply takes 0.6 s against a bound of 1 s a step: the whole
    // exchange (greeting, EHLO, MAIL, RCPT, DATA, the message) takes far
    // longer than 1 s, and that is fine.
    let relay = ScriptedRelay::start(Pace {
        each_reply: Duration::from_millis(600),
        final_reply: Duration::from_millis(600),
    });
    let p = through(
        relay.port,
        &[
            ("timeout_seconds", "1"),
            ("final_reply_timeout_seconds", "5"),
        ],
    );
    let who = readers(&p, 2);
    let run = p
        .run_within(NO_HANG, AFTER_SLOT, &["digest", "send"])
        .expect_code(0);
    assert!(run.stdout.contains("2 sent, 0 deferred"), "{}", run.stdout);
    let copies = relay.copies();
    for w in &who {
        assert_eq!(copies.get(w), Some(&1), "{w}: {copies:?}");
    }
}

#[test]
fn a_final_reply_later_than_a_step_but_within_its_own_bound_is_one_copy() {
    // The relay takes 2 s to answer the final dot, longer than the 1 s
    // a step may take: that wait has a bound of its own.
    let relay = ScriptedRelay::start(Pace {
        each_reply: Duration::ZERO,
        final_reply: Duration::from_secs(2),
    });
    let p = through(
        relay.port,
        &[
            ("timeout_seconds", "1"),
            ("final_reply_timeout_seconds", "10"),
            ("retries", "2"),
        ],
    );
    readers(&p, 1);
    let run = p
        .run_within(NO_HANG, AFTER_SLOT, &["digest", "send"])
        .expect_code(0);
    assert!(run.stdout.contains("1 sent, 0 deferred"), "{}", run.stdout);
    assert_eq!(relay.copies().get("reader0@example.com"), Some(&1));
}

#[test]
fn no_answer_to_the_final_dot_is_an_unknown_outcome_never_a_second_copy() {
    // The relay has the message as soon as the dot arrives, and answers
    // only after broadsheet has stopped waiting.
    let relay = ScriptedRelay::start(Pace {
        each_reply: Duration::ZERO,
        final_reply: Duration::from_secs(3),
    });
    let p = through(
        relay.port,
        &[("final_reply_timeout_seconds", "1"), ("retries", "2")],
    );
    readers(&p, 1);
    let run = p
        .run_within(NO_HANG, AFTER_SLOT, &["digest", "send"])
        .expect_code(1);
    assert!(run.stdout.contains("1 unknown"), "{}", run.stdout);
    assert!(run.stderr.contains("may have kept it"), "{}", run.stderr);
    assert!(run.stderr.contains("--retry-unknown"), "{}", run.stderr);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(relay.copies().get("reader0@example.com"), Some(&1));

    // Later runs do not send it again either.
    p.run_within(NO_HANG, "2026-11-30T10:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(relay.copies().get("reader0@example.com"), Some(&1));
    let status = p
        .run_at("2026-11-30T10:00:00+08:00", &["status", "--json"])
        .stdout;
    assert!(status.contains("\"unknown\": 1"), "{status}");
}

#[test]
fn a_relay_that_never_answers_the_final_dot_stops_the_run_after_three() {
    let relay = ScriptedRelay::start(Pace {
        each_reply: Duration::ZERO,
        final_reply: Duration::from_secs(30),
    });
    let p = through(
        relay.port,
        &[
            ("final_reply_timeout_seconds", "1"),
            ("max_connections", "1"),
        ],
    );
    readers(&p, 10);
    let run = p
        .run_within(NO_HANG, AFTER_SLOT, &["digest", "send"])
        .expect_code(1);
    assert!(run.stderr.contains("3 times in a row"), "{}", run.stderr);
    assert_eq!(relay.copies().len(), 3, "{:?}", relay.copies());
}

#[test]
fn a_run_builds_the_feeds_while_another_process_is_sending() {
    let p = publication("outbox_dir = \"outbox\"");
    readers(&p, 1);
    let lock = broadsheet::store::Store::try_lock(&p.path("broadsheet.db")).unwrap();
    assert!(lock.is_some());
    let run = p.run_at(AFTER_SLOT, &["run"]).expect_code(0);
    assert!(run.stdout.contains("still sending"), "{}", run.stdout);
    assert!(p.read("feeds/all/rss.xml").contains("算力擴容與新型工業化"));
    assert!(!p.path("outbox").exists());
}

#[test]
fn a_send_holding_the_lock_too_long_is_reported_even_under_quiet() {
    let p = publication("outbox_dir = \"outbox\"");
    p.write(
        "config.toml",
        p.read("config.toml").replace(
            "schedule = \"Mon 08:00\"",
            "schedule = \"Mon 08:00\"\nmax_send_minutes = 60",
        ),
    );
    readers(&p, 1);
    let lock = broadsheet::store::Store::try_lock(&p.path("broadsheet.db")).unwrap();
    assert!(lock.is_some());
    // As a process that took the lock two hours ago would have left it.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 2 * 3600;
    std::fs::write(
        p.path("broadsheet.db.lock"),
        format!("pid 4242\nsince {since}\ncommand digest send\n"),
    )
    .unwrap();
    let run = p.run_at(AFTER_SLOT, &["--quiet", "run"]).expect_code(1);
    assert!(run.stderr.contains("may be stuck"), "{}", run.stderr);
    assert!(run.stderr.contains("pid 4242"), "{}", run.stderr);
    assert!(
        run.stderr.contains("digest.max_send_minutes"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // The feeds were built all the same.
    assert!(p.read("feeds/all/rss.xml").contains("算力擴容與新型工業化"));

    let send = p.run_at(AFTER_SLOT, &["--quiet", "digest", "send"]);
    assert_eq!(send.code, 1, "{}", send.stderr);
    assert!(send.stderr.contains("may be stuck"), "{}", send.stderr);
}

#[test]
fn a_write_lock_held_longer_than_the_wait_names_the_wait_and_its_key() {
    let p = publication("outbox_dir = \"outbox\"");
    p.write(
        "config.toml",
        format!(
            "{}\n[state]\nbusy_timeout_seconds = 1\n",
            p.read("config.toml")
        ),
    );
    readers(&p, 1);
    let db = rusqlite::Connection::open(p.path("broadsheet.db")).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let run = p
        .run_within(
            NO_HANG,
            AFTER_SLOT,
            &["subscribers", "add", "late@example.com"],
        )
        .expect_code(1);
    assert!(
        run.stderr
            .contains("stayed locked by another process for 1 s (state.busy_timeout_seconds)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("no broadsheet run holds"),
        "{}",
        run.stderr
    );
    db.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn each_delivery_is_marked_sending_before_its_message_reaches_the_relay() {
    // What a power cut must not undo: by the time the relay has a message,
    // the state says it was being sent.
    let server = SmtpServer::start();
    let p = through(server.port, &[]);
    readers(&p, 3);
    let db_path = p.path("broadsheet.db");
    server.set(|b| {
        b.on_data_end = Some(Box::new(move || {
            let db = rusqlite::Connection::open_with_flags(
                &db_path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .unwrap();
            db.query_row(
                "SELECT count(*) FROM deliveries WHERE status = 'sending'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap()
        }));
    });
    p.run_within(NO_HANG, AFTER_SLOT, &["digest", "send"])
        .expect_code(0);
    let seen = server.observed();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|n| *n >= 1), "{seen:?}");
}

#[test]
fn a_relay_that_never_greets_ends_the_run_at_once_as_out_of_reach() {
    // A relay that takes the connection and then says nothing: no session
    // can be had, so no message is worth trying one after another.
    let relay = ScriptedRelay::start(Pace {
        each_reply: Duration::from_secs(60),
        final_reply: Duration::ZERO,
    });
    let p = through(relay.port, &[("timeout_seconds", "1"), ("retries", "3")]);
    readers(&p, 20);
    let run = p
        .run_within(NO_HANG, AFTER_SLOT, &["digest", "send"])
        .expect_code(1);
    assert!(
        run.stderr.contains("no answer to the greeting within 2 s"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("stays queued for the next run"),
        "{}",
        run.stderr
    );
    // Two connections, each tried twice at most: not twenty readers' worth.
    assert!(
        relay.connections() <= 4,
        "{} connections",
        relay.connections()
    );
}

#[test]
fn an_address_no_message_can_be_built_for_fails_alone() {
    let server = SmtpServer::start();
    let p = through(server.port, &[]);
    let who = readers(&p, 3);
    // As an older broadsheet may have stored it.
    let db = rusqlite::Connection::open(p.path("broadsheet.db")).unwrap();
    db.execute(
        "UPDATE subscribers SET email = '\"a@b\"@example.com' WHERE email = ?1",
        [&who[1]],
    )
    .unwrap();
    drop(db);
    let run = p
        .run_within(NO_HANG, AFTER_SLOT, &["digest", "send"])
        .expect_code(1);
    assert!(
        run.stdout.contains("2 sent, 0 deferred, 1 failed"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stderr.contains("a@b"),
        "no address in the log: {}",
        run.stderr
    );
    let copies = server.copies();
    assert_eq!(copies.get(&who[0]), Some(&1));
    assert_eq!(copies.get(&who[2]), Some(&1));
    // The issue is finished: the next run has nothing left to send.
    let again = p
        .run_within(NO_HANG, "2026-11-30T10:00:00+08:00", &["digest", "send"])
        .expect_code(0);
    assert!(again.stdout.contains("no digest due"), "{}", again.stdout);
}
