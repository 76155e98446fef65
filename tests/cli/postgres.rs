//! The state in PostgreSQL: several senders on one issue, a sender killed
//! part way, `state copy` and `state migrate`, bad URLs and credentials.
//!
//! These need a server: `BROADSHEET_TEST_POSTGRES_URL` names one (see
//! `scripts/test-postgres.sh`); without it each test returns at once, and
//! the `postgres_suite` test binary prints the one line saying they were
//! skipped. Under `CI=true` a missing server fails them.

use crate::smtp::SmtpServer;
use crate::util::{digest_config, Publication};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const AFTER_SLOT: &str = "2026-11-30T09:00:00+08:00";

/// The tests share one server; the one that restarts it runs alone.
pub(crate) static SERVER: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// The test server's URL, if there is one.
pub(crate) fn server() -> Option<String> {
    match std::env::var("BROADSHEET_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and BROADSHEET_TEST_POSTGRES_URL is not set")
        }
        _ => None,
    }
}

/// A new, empty schema on the test server, as a URL whose connections
/// use it; dropped when the value is.
pub(crate) struct Database {
    base: String,
    schema: String,
    pub(crate) url: String,
}

impl Database {
    pub(crate) fn new(base: &str) -> Database {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let schema = format!(
            "cli_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut admin = postgres::Client::connect(base, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Database {
            base: base.to_owned(),
            schema,
            url,
        }
    }

    pub(crate) fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    /// Deliveries of the newest issue by status.
    fn deliveries(&self) -> HashMap<String, i64> {
        self.client()
            .query(
                "SELECT status, count(*) FROM deliveries GROUP BY status",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.base, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}

/// The digest tests' config, sending to `port`, with leases short enough
/// for a test to outlive one.
fn config(port: u16) -> String {
    let smtp = format!("host = \"127.0.0.1\"\nport = {port}");
    format!("{}\n[state]\nlease_seconds = 5\n", digest_config(&smtp))
}

/// A subscriber file of `n` readers following every column.
pub(crate) fn readers_csv(n: usize) -> String {
    let mut csv = String::from("email,name,columns\n");
    for i in 0..n {
        csv.push_str(&format!("reader{i}@example.com,讀者{i},\n"));
    }
    csv
}

/// A publication with new articles in both columns and `readers`
/// subscribers in the database `db`.
fn publication(db: &Database, port: u16, readers: usize) -> Publication {
    let p = crate::digest::with_articles(&config(port));
    p.write("readers.csv", readers_csv(readers));
    bs(&p, db, &["subscribers", "import", "readers.csv"]).expect_code(0);
    p
}

fn bs(p: &Publication, db: &Database, args: &[&str]) -> crate::util::Run {
    p.run_with_env(AFTER_SLOT, args, &[("BROADSHEET_STATE__URL", &db.url)])
}

fn spawn(p: &Publication, db: &Database, args: &[&str]) -> std::process::Child {
    p.command("", AFTER_SLOT, args, &[("BROADSHEET_STATE__URL", &db.url)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn three_senders_on_one_issue_send_each_subscriber_one_copy() {
    let Some(base) = server() else { return };
    let _shared = SERVER.read().unwrap_or_else(|p| p.into_inner());
    let db = Database::new(&base);
    let smtp = SmtpServer::start();
    smtp.set(|b| b.delay = Duration::from_millis(1));
    let p = publication(&db, smtp.port, 2_000);
    let senders: Vec<_> = (0..3)
        .map(|_| spawn(&p, &db, &["digest", "send"]))
        .collect();
    for s in senders {
        let out = s.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let copies = smtp.copies();
    assert_eq!(copies.len(), 2_000, "every reader got the issue");
    assert!(
        copies.values().all(|&n| n == 1),
        "no reader got it twice: {:?}",
        copies
            .iter()
            .filter(|(_, &n)| n > 1)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(db.deliveries(), HashMap::from([("sent".to_owned(), 2_000)]));
    let issues: i64 = db
        .client()
        .query_one("SELECT count(*) FROM issues WHERE status = 'done'", &[])
        .unwrap()
        .get(0);
    assert_eq!(issues, 1, "one issue, made once, finished");
    // More than one sender took part: the claims name the processes.
    let claimers: i64 = db
        .client()
        .query_one("SELECT count(DISTINCT claimed_by) FROM deliveries", &[])
        .unwrap()
        .get(0);
    assert!(claimers >= 2, "{claimers} sender(s) claimed deliveries");
}

#[test]
fn a_sender_killed_part_way_leaves_its_work_to_the_others_and_nothing_twice() {
    let Some(base) = server() else { return };
    let _shared = SERVER.read().unwrap_or_else(|p| p.into_inner());
    // Kill moments spread over the send, the same every run.
    for (round, kill_after_ms) in [30u64, 60, 90, 120, 160, 200, 250, 300, 400, 500]
        .into_iter()
        .enumerate()
    {
        let db = Database::new(&base);
        let smtp = SmtpServer::start();
        smtp.set(|b| b.delay = Duration::from_millis(2));
        let p = publication(&db, smtp.port, 300);
        let mut victim = spawn(&p, &db, &["digest", "send"]);
        let other = spawn(&p, &db, &["digest", "send"]);
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        victim.kill().unwrap(); // SIGKILL
        victim.wait().unwrap();
        let out = other.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The next run finishes whatever is left.
        bs(&p, &db, &["digest", "send"]);
        let copies = smtp.copies();
        assert!(
            copies.values().all(|&n| n == 1),
            "round {round}: a reader got two copies"
        );
        let standing = db.deliveries();
        let unknown = standing.get("unknown").copied().unwrap_or(0);
        let sent = standing.get("sent").copied().unwrap_or(0);
        assert_eq!(
            sent + unknown,
            300,
            "round {round}: every delivery sent or unknown: {standing:?}"
        );
        // Only what the killed sender had in flight is unknown: at most
        // one message per connection, and each of them either arrived
        // (the server took it) or did not.
        assert!(unknown <= 2, "round {round}: {unknown} unknown");
        let received = copies.len() as i64;
        assert!(
            received >= sent && received <= sent + unknown,
            "round {round}: {received} received, {sent} sent, {unknown} unknown"
        );
    }
}

#[test]
fn the_state_copies_to_postgres_and_back_with_counts_that_match() {
    let Some(base) = server() else { return };
    let _shared = SERVER.read().unwrap_or_else(|p| p.into_inner());
    let db = Database::new(&base);
    let smtp = SmtpServer::start();
    // An SQLite state with an issue sent to 50 readers.
    let p = crate::digest::with_articles(&config(smtp.port));
    p.write("readers.csv", readers_csv(50));
    p.run_at(AFTER_SLOT, &["subscribers", "import", "readers.csv"])
        .expect_code(0);
    p.run_at(AFTER_SLOT, &["digest", "send"]).expect_code(0);

    let copied = p
        .run_at(AFTER_SLOT, &["state", "copy", "--to", &db.url])
        .expect_code(0);
    assert!(copied.stdout.contains("subscribers"), "{}", copied.stdout);
    assert!(!copied.stdout.contains("MISMATCH"), "{}", copied.stdout);
    assert!(
        !copied.stdout.contains("broadsheet-test"),
        "no password shown"
    );
    assert_eq!(db.deliveries(), HashMap::from([("sent".to_owned(), 50)]));
    // A second copy into the same database is refused.
    let again = p.run_at(AFTER_SLOT, &["state", "copy", "--to", &db.url]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("already holds 50 subscribers"),
        "{}",
        again.stderr
    );

    // Running on PostgreSQL now: the issue is done, nothing is sent again,
    // and a new reader added there gets an id past the copied ones.
    let run = bs(&p, &db, &["digest", "send"]).expect_code(0);
    assert!(run.stdout.contains("no digest due"), "{}", run.stdout);
    assert_eq!(smtp.received().len(), 50);
    bs(&p, &db, &["subscribers", "add", "new@example.com"]).expect_code(0);
    let status = bs(&p, &db, &["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["state"]["backend"], "postgres");
    assert_eq!(json["subscribers"]["active"], 51);

    // And back into a new SQLite file.
    let back = bs(&p, &db, &["state", "copy", "--to", "copy.db"]).expect_code(0);
    assert!(back.stdout.contains("51 read"), "{}", back.stdout);
    let list = p.run_with_env(
        AFTER_SLOT,
        &["subscribers", "list"],
        &[("BROADSHEET_SITE__STATE_PATH", "copy.db")],
    );
    assert_eq!(list.stdout.lines().count(), 51, "{}", list.stdout);
}

#[test]
fn migrate_reports_the_version_and_a_newer_schema_is_refused() {
    let Some(base) = server() else { return };
    let _shared = SERVER.read().unwrap_or_else(|p| p.into_inner());
    let db = Database::new(&base);
    let p = Publication::with_config(&config(25));
    let first = bs(&p, &db, &["state", "migrate"]).expect_code(0);
    assert!(
        first.stdout.contains("schema version 0 → "),
        "{}",
        first.stdout
    );
    let again = bs(&p, &db, &["state", "migrate"]).expect_code(0);
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
    db.client()
        .batch_execute("UPDATE broadsheet_schema SET version = 99")
        .unwrap();
    let refused = bs(&p, &db, &["subscribers", "add", "a@example.com"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("schema version 99, newer than this broadsheet knows"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_wrong_password_or_a_server_that_is_down_is_named_without_the_password() {
    let Some(base) = server() else { return };
    let _shared = SERVER.read().unwrap_or_else(|p| p.into_inner());
    let url = url::Url::parse(&base).unwrap();
    let mut wrong = url.clone();
    wrong.set_password(Some("not-the-password-xyzzy")).unwrap();
    let p = Publication::with_config(&config(25));
    let run = p.run_with_env(
        AFTER_SLOT,
        &["subscribers", "add", "a@example.com"],
        &[("BROADSHEET_STATE__URL", wrong.as_str())],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(!run.stderr.contains("xyzzy"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains(&format!("{}:", url.host_str().unwrap())),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(url.path().trim_start_matches('/')),
        "{}",
        run.stderr
    );

    // No password at all: the URL or the environment to fix, exit 2.
    let mut bare = url.clone();
    bare.set_password(None).unwrap();
    let run = p.run_with_env(
        AFTER_SLOT,
        &["subscribers", "add", "a@example.com"],
        &[
            ("BROADSHEET_STATE__URL", bare.as_str()),
            // Whatever this machine's user keeps there stays out of it.
            ("PGPASSWORD", ""),
            ("PGPASSFILE", "/nonexistent/pgpass"),
        ],
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("password missing"), "{}", run.stderr);
    assert!(
        run.stderr.contains("PGPASSWORD or .pgpass"),
        "{}",
        run.stderr
    );

    // Nothing listens on port 9 of this machine.
    let mut down = url.clone();
    down.set_port(Some(9)).unwrap();
    let run = p.run_with_env(
        AFTER_SLOT,
        &["digest", "send"],
        &[("BROADSHEET_STATE__URL", down.as_str())],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot reach the database server"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("broadsheet-test"), "{}", run.stderr);
}

#[test]
fn a_postgres_restart_mid_send_stops_the_run_and_the_next_finishes_with_nothing_twice() {
    let Some(base) = server() else { return };
    let (Ok(dir), Ok(bin)) = (
        std::env::var("BROADSHEET_TEST_POSTGRES_DIR"),
        std::env::var("BROADSHEET_TEST_POSTGRES_BIN"),
    ) else {
        // A server of someone else's: not ours to restart.
        return;
    };
    let _alone = SERVER.write().unwrap_or_else(|p| p.into_inner());
    let db = Database::new(&base);
    let smtp = SmtpServer::start();
    smtp.set(|b| b.delay = Duration::from_millis(3));
    let p = publication(&db, smtp.port, 400);
    let sender = spawn(&p, &db, &["digest", "send"]);
    std::thread::sleep(Duration::from_millis(300));
    let pg_ctl = format!("{bin}/pg_ctl");
    let data = format!("{dir}/data");
    let mut restart = if running_as_root() {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--", &pg_ctl]);
        c
    } else {
        std::process::Command::new(&pg_ctl)
    };
    let restarted = restart
        .args(["-D", &data, "-m", "fast", "-w", "restart", "-l"])
        .arg(format!("{dir}/server.log"))
        // The server outlives the test: it must hold none of its output.
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(restarted.success(), "the test server restarts");
    let out = sender.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Stopped by the lost connection (exit 1, the database named), or
    // done before it noticed; never a hang, never a panic.
    match out.status.code() {
        Some(1) => assert!(stderr.contains("postgres://"), "{stderr}"),
        Some(0) => {}
        other => panic!("exit {other:?}: {stderr}"),
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The next run finishes the issue.
    bs(&p, &db, &["digest", "send"]);
    let copies = smtp.copies();
    assert!(copies.values().all(|&n| n == 1), "a reader got two copies");
    let standing = db.deliveries();
    let sent = standing.get("sent").copied().unwrap_or(0);
    let unknown = standing.get("unknown").copied().unwrap_or(0);
    assert_eq!(sent + unknown, 400, "{standing:?}");
    assert!(
        unknown <= 2,
        "only what was in flight is unknown: {standing:?}"
    );
    assert!(copies.len() as i64 >= sent);
}

/// Whether this process runs as root (then the server runs as `postgres`).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}
