//! `bounces poll` and `run`'s poll of an IMAP mailbox: against a
//! throwaway Dovecot (what it records, what it flags seen, what it leaves,
//! a wrong password, a connection cut part way through a fetch), and
//! against a server that accepts the connection and never answers.
//!
//! The Dovecot tests need one: `eval "$(scripts/test-dovecot.sh)"` starts
//! it and sets `BROADSHEET_TEST_IMAP_*`. Without them each returns at once
//! and one line says they were skipped; under `CI=true` they fail.

use crate::bounces::{fixture, publication, status_of, verp, GONE, STAYS};
use crate::util::{Publication, Run, NOW};
use broadsheet::address::Email;
use broadsheet::store::{BounceEvent, Store};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The throwaway server scripts/test-dovecot.sh started.
struct Dovecot {
    port: u16,
    user: String,
    password: String,
    ca_file: PathBuf,
    /// The user's Maildir: its folders are `.NAME` in it (Maildir++).
    maildir: PathBuf,
}

/// The test server, if there is one.
fn dovecot() -> Option<Dovecot> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let found = (|| {
        Some(Dovecot {
            port: var("BROADSHEET_TEST_IMAP_PORT")?.parse().ok()?,
            user: var("BROADSHEET_TEST_IMAP_USER")?,
            password: var("BROADSHEET_TEST_IMAP_PASSWORD")?,
            ca_file: var("BROADSHEET_TEST_IMAP_CA_FILE")?.into(),
            maildir: var("BROADSHEET_TEST_IMAP_MAILDIR")?.into(),
        })
    })();
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true and BROADSHEET_TEST_IMAP_* are not set: eval \"$(scripts/test-dovecot.sh)\" first");
        }
        static SAID: std::sync::Once = std::sync::Once::new();
        // Straight to stderr: the test harness keeps what `eprintln!`
        // says to itself unless a test fails.
        SAID.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "IMAP tests: skipped; to run them, eval \"$(scripts/test-dovecot.sh)\" (a throwaway Dovecot on 127.0.0.1)"
            );
        });
    }
    found
}

/// A folder of the test user's, new for one test, so tests running at
/// once never see each other's messages.
struct Folder {
    name: String,
    dir: PathBuf,
}

impl Dovecot {
    fn folder(&self, label: &str) -> Folder {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.maildir.join(format!(".{name}"));
        // Owned as the Maildir is: the server's mail processes, not this
        // test, write in it (run as root, they are `nobody`).
        let owner = std::fs::metadata(&self.maildir).unwrap();
        for d in [
            dir.clone(),
            dir.join("new"),
            dir.join("cur"),
            dir.join("tmp"),
        ] {
            std::fs::create_dir_all(&d).unwrap();
            std::os::unix::fs::chown(&d, Some(owner.uid()), Some(owner.gid())).unwrap();
        }
        Folder { name, dir }
    }

    /// Points the publication's `[bounces]` at `folder` on `port` (this
    /// server's, or a proxy's in front of it). The password is in the
    /// file too, for the commands the tests check with (every command
    /// refuses an imap_url without one).
    fn configure(&self, p: &Publication, port: u16, folder: &str) {
        let password = Some(self.password.as_str());
        mailbox(
            p,
            &self.user,
            port,
            folder,
            Some(&self.ca_file),
            10,
            password,
        );
    }

    /// The password, as cron would give it.
    fn env(&self) -> [(&'static str, &str); 1] {
        [("BROADSHEET_BOUNCES__IMAP_PASSWORD", &self.password)]
    }
}

/// Writes `[bounces]` into the publication's config (replacing any
/// earlier one).
fn mailbox(
    p: &Publication,
    user: &str,
    port: u16,
    folder: &str,
    ca_file: Option<&Path>,
    timeout_seconds: u32,
    password: Option<&str>,
) {
    let config = p.read("config.toml");
    let config = config.split("\n[bounces]\n").next().unwrap().to_owned();
    let mut section = format!(
        "\n[bounces]\nimap_url = \"imaps://{user}@127.0.0.1:{port}/{folder}\"\nimap_timeout_seconds = {timeout_seconds}\n"
    );
    if let Some(ca) = ca_file {
        section.push_str(&format!("imap_ca_file = {:?}\n", ca.to_str().unwrap()));
    }
    if let Some(pw) = password {
        section.push_str(&format!("imap_password = {pw:?}\n"));
    }
    p.write("config.toml", config + &section);
}

impl Folder {
    /// Delivers a message the Maildir way: written in tmp/, then moved
    /// into new/, so the server never reads half of one.
    fn deliver(&self, name: &str, bytes: &[u8]) {
        let tmp = self.dir.join("tmp").join(name);
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, self.dir.join("new").join(name)).unwrap();
    }

    /// Every message in the folder: (the name it was delivered under,
    /// its sub-folder, its flags).
    fn messages(&self) -> Vec<(String, &'static str, String)> {
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            for entry in std::fs::read_dir(self.dir.join(sub)).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                let (base, flags) = name.split_once(":2,").unwrap_or((&name, ""));
                found.push((base.to_owned(), sub, flags.to_owned()));
            }
        }
        found.sort();
        found
    }
}

/// The reports recorded about `email`.
fn events(p: &Publication, email: &str) -> (Store, Vec<BounceEvent>) {
    let store = Store::open(&p.path("broadsheet.db")).unwrap();
    let id = store
        .subscriber(&Email::parse(email).unwrap())
        .unwrap()
        .unwrap()
        .id;
    let events = store.bounce_events(id).unwrap();
    (store, events)
}

/// A message as IMAP gives it back: with CRLF line ends.
fn crlf(bytes: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(bytes)
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

fn poll(p: &Publication, env: &[(&str, &str)]) -> Run {
    p.run_with_env(NOW, &["bounces", "poll"], env)
}

#[test]
fn a_poll_records_what_it_understood_flags_it_seen_and_leaves_the_rest_unseen() {
    let Some(server) = dovecot() else { return };
    let p = publication();
    let folder = server.folder("poll");
    // Subscriber 1 is GONE, 2 STAYS.
    let hard = fixture("postfix-hard.eml", &verp(1, 1), GONE);
    folder.deliver("1.hard", &hard);
    folder.deliver(
        "2.vacation",
        &fixture("vacation-rfc3834.eml", &verp(1, 2), STAYS),
    );
    folder.deliver("3.reply", &fixture("not-a-bounce.eml", &verp(1, 2), STAYS));
    server.configure(&p, server.port, &folder.name);

    let run = p.run_with_env(NOW, &["run"], &server.env()).expect_code(0);
    assert!(run.stdout.contains("built"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&format!(
            "polled {} on 127.0.0.1:{}: 3 messages: 1 recorded, 0 recorded before, 0 naming no subscriber of ours, 1 auto-replies or delivery notices, 1 not understood (left unseen)",
            folder.name, server.port
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("reader.gone@example.com: now bounced"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("not understood (") && run.stderr.contains("left unseen"),
        "{}",
        run.stderr
    );
    assert_eq!(status_of(&p, GONE), "bounced");
    assert_eq!(status_of(&p, STAYS), "active");
    let (store, gone) = events(&p, GONE);
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert_eq!(gone[0].source, "imap");
    assert_eq!(
        store.bounce_evidence(gone[0].id).unwrap().map(|e| crlf(&e)),
        Some(crlf(&hard)),
        "the message is the evidence"
    );
    assert!(events(&p, STAYS).1.is_empty());

    // What was handled is flagged seen; the reply no one understood is
    // not; nothing is gone.
    let messages = folder.messages();
    assert_eq!(messages.len(), 3, "nothing is deleted: {messages:?}");
    for (name, sub, flags) in &messages {
        let seen = *sub == "cur" && flags.contains('S');
        assert_eq!(seen, name != "3.reply", "{name} in {sub}/ flags {flags:?}");
    }

    // The next poll finds only the reply, and records nothing again.
    let again = poll(&p, &server.env()).expect_code(0);
    assert!(
        again
            .stdout
            .contains(": 1 message: 0 recorded, 0 recorded before"),
        "{}",
        again.stdout
    );
    assert_eq!(events(&p, GONE).1.len(), 1);
    assert_eq!(folder.messages().len(), 3);
}

#[test]
fn a_wrong_password_is_a_clear_error_that_never_shows_a_password() {
    let Some(server) = dovecot() else { return };
    let p = publication();
    server.configure(&p, server.port, "INBOX");
    // The environment's password wins over the file's (the right one).
    let wrong = "not-the-password-7Qx2";
    let env = [("BROADSHEET_BOUNCES__IMAP_PASSWORD", wrong)];
    // With every log line there is.
    let run = p
        .run_with_env(NOW, &["-vv", "bounces", "poll"], &env)
        .expect_code(2);
    assert!(
        run.stderr.contains(&format!(
            "IMAP server 127.0.0.1:{} refused the LOGIN: [AUTHENTICATIONFAILED] Authentication failed. (the login in bounces.imap_url, the password in BROADSHEET_BOUNCES__IMAP_PASSWORD)",
            server.port
        )),
        "{}",
        run.stderr
    );
    // `run` still builds, says why the poll failed, and exits as it did.
    let ran = p.run_with_env(NOW, &["-vv", "run"], &env).expect_code(2);
    assert!(ran.stdout.contains("built"), "{}", ran.stdout);
    assert!(ran.stderr.contains("refused the LOGIN"), "{}", ran.stderr);
    for out in [&run.stdout, &run.stderr, &ran.stdout, &ran.stderr] {
        assert!(!out.contains(wrong), "the password is shown:\n{out}");
        assert!(
            !out.contains(&server.password),
            "a password is shown:\n{out}"
        );
    }
}

/// A TCP proxy on 127.0.0.1 that passes the server's first `budget`
/// bytes to the client, then cuts both connections.
fn cutting_proxy(upstream: u16, budget: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut from_client, mut to_server) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_client, &mut to_server);
            });
            let (mut from_server, mut to_client) = (server, client);
            std::thread::spawn(move || {
                let (mut left, mut buf) = (budget, vec![0; 16 << 10]);
                while left > 0 {
                    let n = match from_server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n.min(left),
                    };
                    if to_client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    left -= n;
                }
                let _ = to_client.shutdown(Shutdown::Both);
                let _ = from_server.shutdown(Shutdown::Both);
            });
        }
    });
    port
}

#[test]
fn a_connection_cut_during_a_fetch_keeps_what_was_recorded_and_the_next_poll_records_nothing_twice()
{
    let Some(server) = dovecot() else { return };
    let p = publication();
    let folder = server.folder("cut");
    // Two hard bounces of about 1 MB each (a returned attachment, after
    // the report): the proxy lets the first through whole and cuts the
    // second, whichever the server sends first.
    let padding = format!("{}\n", "x".repeat(76)).repeat(14_000);
    for (name, id, email) in [("1.gone", 1, GONE), ("2.stays", 2, STAYS)] {
        let mut message = fixture("postfix-hard.eml", &verp(1, id), email);
        message.extend_from_slice(padding.as_bytes());
        folder.deliver(name, &message);
    }
    let proxy = cutting_proxy(server.port, 1_600_000);
    server.configure(&p, proxy, &folder.name);
    let cut = poll(&p, &server.env()).expect_code(1);
    assert!(
        cut.stderr.contains(&format!(
            "IMAP server 127.0.0.1:{proxy} closed the connection during the UID FETCH"
        )) && cut
            .stderr
            .contains("what was recorded stays recorded, and the next poll takes up the rest"),
        "{}",
        cut.stderr
    );
    let bounced = |p: &Publication| {
        [GONE, STAYS]
            .into_iter()
            .filter(|e| status_of(p, e) == "bounced")
            .count()
    };
    assert_eq!(bounced(&p), 1, "the first message was recorded");
    // Nothing was flagged: the batch's flags are set once it is done.
    assert!(folder.messages().iter().all(|(_, _, f)| !f.contains('S')));

    server.configure(&p, server.port, &folder.name);
    let again = poll(&p, &server.env()).expect_code(0);
    assert!(
        again
            .stdout
            .contains(": 2 messages: 1 recorded, 1 recorded before"),
        "{}",
        again.stdout
    );
    assert_eq!(bounced(&p), 2);
    for email in [GONE, STAYS] {
        assert_eq!(events(&p, email).1.len(), 1, "{email} recorded once");
    }
    assert_eq!(folder.messages().len(), 2);
}

#[test]
fn a_server_that_never_answers_ends_in_a_timeout_naming_the_step() {
    // Accepts connections and holds them, saying nothing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let held: Vec<TcpStream> = listener.incoming().flatten().collect();
        drop(held);
    });
    let p = publication();
    mailbox(&p, "bounces", port, "INBOX", None, 1, Some("not-needed"));
    let limit = Duration::from_secs(30);
    let said = format!(
        "IMAP server 127.0.0.1:{port} did not finish the TLS handshake within 1 s (bounces.imap_timeout_seconds)"
    );
    let run = p
        .run_within(limit, NOW, &["bounces", "poll"])
        .expect_code(1);
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    // In `run` the build is done, and the digest step still runs.
    let ran = p.run_within(limit, NOW, &["run"]).expect_code(1);
    assert!(ran.stdout.contains("built"), "{}", ran.stdout);
    assert!(ran.stderr.contains(&said), "{}", ran.stderr);
}
