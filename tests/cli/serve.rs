//! `broadsheet serve` over HTTP on 127.0.0.1: sign-up with double opt-in,
//! signed links, RFC 8058 one-click unsubscribe, preferences, the feeds, and
//! what a hostile client sends. Requests are written by hand on a TCP
//! stream, so paths, headers and bodies arrive exactly as written; emails
//! are read back from the outbox with mail-parser, subscribers from the
//! SQLite state.

use crate::util::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use broadsheet::address::Email;
use broadsheet::store::{Store, Subscriber, SubscriberStatus};
use broadsheet::token::{Purpose, Signer};
use mail_parser::MessageParser;
use std::cell::Cell;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The service's clock unless a test says otherwise.
const CLOCK: &str = "2026-06-15T08:00:00+08:00";
/// A day after [`CLOCK`]: when the tokens tests sign stop working.
const TOMORROW: &str = "2026-06-16T08:00:00+08:00";
/// `server.secret`, given in the environment as operators are told to.
const SECRET: &str = "correct-horse-battery-staple";
/// How long the service may take to start, answer, write an email or stop.
const PATIENCE: Duration = Duration::from_secs(20);
/// The type browsers give a form.
const FORM: &str = "application/x-www-form-urlencoded";

// ---------------------------------------------------------------- the site

/// [`CONFIG`]-like `base` with a sender, mail to `outbox/`, and the service
/// on `port`; `server` adds lines to `[server]`.
fn service_config(base: &str, port: u16, server: &str) -> String {
    format!(
        r#"{base}
[digest]
from = "論壇 <digest@news.example.com>"

[smtp]
outbox_dir = "outbox"

[server]
bind = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
{server}
"#
    )
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// A publication the service runs on.
struct Site {
    p: Publication,
    base: String,
    server: String,
    port: Cell<u16>,
    /// `BROADSHEET_*` settings given to the service besides the secret.
    env: std::cell::RefCell<Vec<(String, String)>>,
    /// The service's soft limit on open files, when a test sets one.
    open_files: Cell<Option<u32>>,
}

impl std::ops::Deref for Site {
    type Target = Publication;
    fn deref(&self) -> &Publication {
        &self.p
    }
}

impl Site {
    /// [`CONFIG`], with the service's defaults.
    fn new() -> Site {
        Site::custom(CONFIG, "")
    }

    /// [`CONFIG`] with these lines in `[server]`.
    fn with_server(lines: &str) -> Site {
        Site::custom(CONFIG, lines)
    }

    fn custom(base: &str, server: &str) -> Site {
        let port = free_port();
        Site {
            p: Publication::with_config(&service_config(base, port, server)),
            base: base.to_owned(),
            server: server.to_owned(),
            port: Cell::new(port),
            env: Default::default(),
            open_files: Cell::new(None),
        }
    }

    /// `server.public_url`.
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port.get())
    }

    /// The service with [`SECRET`] at [`CLOCK`].
    fn serve(&self) -> Service {
        self.serve_with(SECRET, CLOCK)
    }

    /// The service with this secret and clock, once it says it listens on
    /// its port (not some other process) and `/healthz` answers.
    fn serve_with(&self, secret: &str, now: &str) -> Service {
        for _ in 0..5 {
            let (mut child, log) = self.spawn(Some(secret), now);
            let port = self.port.get();
            let listening = format!("listening on http://127.0.0.1:{port}");
            let deadline = Instant::now() + PATIENCE;
            loop {
                let said = std::fs::read_to_string(log.path()).unwrap();
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(
                        said.contains("cannot listen"),
                        "serve exited ({status}) before answering:\n{said}"
                    );
                    break;
                }
                let healthy = || {
                    try_request(
                        port,
                        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                    )
                    .is_ok_and(|r| r.status == 200)
                };
                if said.contains(&listening) && healthy() {
                    return Service { child, log, port };
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    panic!(
                        "serve did not answer /healthz:\n{}",
                        std::fs::read_to_string(log.path()).unwrap()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            // Something took the port between choosing and binding it.
            self.port.set(free_port());
            self.write(
                "config.toml",
                service_config(&self.base, self.port.get(), &self.server),
            );
        }
        panic!("no free port for serve");
    }

    /// `broadsheet --now <now> serve` from the publication's folder, its
    /// standard error going to a temporary file.
    fn spawn(&self, secret: Option<&str>, now: &str) -> (Child, tempfile::NamedTempFile) {
        let log = tempfile::NamedTempFile::new().unwrap();
        let bin = env!("CARGO_BIN_EXE_broadsheet");
        let mut cmd = match self.open_files.get() {
            // As systemd starts a service: a soft limit on open files.
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), bin]);
                c
            }
            None => Command::new(bin),
        };
        cmd.current_dir(self.path("."))
            .args(["--now", now, "serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().unwrap());
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BROADSHEET")) {
            cmd.env_remove(k);
        }
        if let Some(secret) = secret {
            cmd.env("BROADSHEET_SERVER__SECRET", secret);
        }
        for (k, v) in self.env.borrow().iter() {
            cmd.env(k, v);
        }
        (cmd.spawn().expect("the binary starts"), log)
    }

    /// The subscriber with this address.
    fn subscriber(&self, email: &str) -> Option<Subscriber> {
        Store::open(&self.path("broadsheet.db"))
            .unwrap()
            .subscriber(&Email::parse(email).unwrap())
            .unwrap()
    }

    /// Every subscriber.
    fn subscribers(&self) -> Vec<Subscriber> {
        Store::open(&self.path("broadsheet.db"))
            .unwrap()
            .subscribers(None)
            .unwrap()
    }

    /// `subscribers add`: an active subscriber; returns them.
    fn add(&self, email: &str, name: &str, columns: &str) -> Subscriber {
        let mut args = vec!["subscribers", "add", email, "--name", name];
        if !columns.is_empty() {
            args.extend(["--columns", columns]);
        }
        self.run(&args).expect_code(0);
        self.subscriber(email).unwrap()
    }

    /// Every email in the outbox.
    fn emails(&self) -> Vec<Mail> {
        let Ok(dir) = std::fs::read_dir(self.path("outbox")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = dir
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| Mail::parse(&std::fs::read(f).unwrap()))
            .collect()
    }

    /// Waits until at least `n` emails to `address` are in the outbox;
    /// returns them all.
    #[track_caller]
    fn wait_for_emails_to(&self, address: &str, n: usize) -> Vec<Mail> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let found: Vec<Mail> = self
                .emails()
                .into_iter()
                .filter(|m| m.to == address)
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} emails to {address} in the outbox",
                found.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until an email to `address` is in the outbox.
    #[track_caller]
    fn wait_for_email_to(&self, address: &str) -> Mail {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(m) = self.emails().into_iter().find(|m| m.to == address) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no email to {address} in the outbox"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// ----------------------------------------------------------- the process

/// A running `broadsheet serve`; stopped with SIGTERM when dropped.
struct Service {
    child: Child,
    log: tempfile::NamedTempFile,
    port: u16,
}

/// How the service ended.
struct Stopped {
    /// The exit code; `None` when it ended by a signal, or was still
    /// running [`PATIENCE`] after SIGTERM and had to be killed.
    code: Option<i32>,
    log: String,
}

impl Service {
    /// A request with these headers (and `Host`, `Connection: close`, and
    /// `Content-Length` when there is a body or it is a POST).
    fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut head = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            self.port
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let chunked = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
        if !chunked && (method == "POST" || !body.is_empty()) {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    /// Sends `bytes` as they are and reads the answer.
    #[track_caller]
    fn raw(&self, bytes: &[u8]) -> Response {
        try_request(self.port, bytes).unwrap_or_else(|e| panic!("no answer: {e}"))
    }

    /// `GET target`, the target sent exactly as written.
    fn get(&self, target: &str) -> Response {
        self.request("GET", target, &[], b"")
    }

    /// `GET target` with these headers.
    fn get_with(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", target, headers, b"")
    }

    /// A form posted from the service's own page, as a browser posts it.
    fn post(&self, target: &str, body: &str) -> Response {
        let origin = format!("http://127.0.0.1:{}", self.port);
        self.request(
            "POST",
            target,
            &[("Content-Type", FORM), ("Origin", &origin)],
            body.as_bytes(),
        )
    }

    /// Stops the service with SIGTERM and waits for it to end.
    fn stop(mut self) -> Stopped {
        let status = terminate(&mut self.child);
        Stopped {
            code: status.and_then(|s| s.code()),
            log: std::fs::read_to_string(self.log.path()).unwrap(),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            terminate(&mut self.child);
        }
    }
}

/// SIGTERM, then the exit status; `None` if it had to be killed.
fn terminate(child: &mut Child) -> Option<ExitStatus> {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = exit_status_within_patience(child);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
}

/// The exit status once the process ends; `None` if it is still running
/// after [`PATIENCE`].
fn exit_status_within_patience(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

// -------------------------------------------------------------------- HTTP

/// An answer as read off the wire.
#[derive(Debug)]
struct Response {
    status: u16,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    /// With any chunked transfer coding removed.
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("a UTF-8 body")
    }
}

fn try_request(port: u16, bytes: &[u8]) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    // A service refusing a body may answer before reading all of it.
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !answer.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(parse_response(&answer, bytes.starts_with(b"HEAD ")))
}

/// Reads an answer; to a HEAD request, whose headers describe a body that
/// is not sent.
#[track_caller]
fn parse_response(bytes: &[u8], to_head: bool) -> Response {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(bytes)));
    let head = std::str::from_utf8(&bytes[..end]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').expect("a header line");
            (n.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let mut body = bytes[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if to_head {
        assert!(body.is_empty(), "a body in answer to HEAD");
    } else if chunked {
        body = dechunk(&body);
    } else if let Some((_, n)) = headers.iter().find(|(n, _)| n == "content-length") {
        let n: usize = n.parse().unwrap();
        assert!(body.len() >= n, "a body shorter than its Content-Length");
        body.truncate(n);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = std::str::from_utf8(&rest[..eol]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 2 + size + 2..];
    }
}

/// An `application/x-www-form-urlencoded` body.
fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// The sign-up form, filled in.
fn sign_up_form(email: &str, name: &str, columns: &[&str]) -> String {
    let mut fields = vec![("email", email), ("name", name)];
    fields.extend(columns.iter().map(|c| ("columns", *c)));
    form(&fields)
}

/// Presses the confirmation button for `token`, which must work.
#[track_caller]
fn press_confirm(service: &Service, token: &str) {
    assert_page(
        &service.post("/confirm", &form(&[("token", token)])),
        200,
        "You are subscribed",
    );
}

/// Asserts how the subscriber with `email` stands: status, name, columns.
#[track_caller]
fn assert_standing(
    site: &Site,
    email: &str,
    status: SubscriberStatus,
    name: &str,
    columns: &[String],
) {
    let s = site.subscriber(email).unwrap();
    assert_eq!(
        (s.status, s.name.as_str(), s.columns.as_slice()),
        (status, name, columns)
    );
}

/// Asserts a page of the service: status, HTML, and `text` in it.
#[track_caller]
fn assert_page(r: &Response, status: u16, text: &str) {
    let body = String::from_utf8_lossy(&r.body);
    assert_eq!(r.status, status, "{body}");
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        r.headers
    );
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    assert!(body.contains(text), "{text:?} is not in\n{body}");
}

// ------------------------------------------------------------------ emails

/// What the tests read of an email.
#[derive(Debug)]
struct Mail {
    raw: String,
    /// The first recipient's address.
    to: String,
    to_name: Option<String>,
    recipients: usize,
    subject: String,
    subject_raw: String,
    header_names: Vec<String>,
    text: String,
    html: String,
}

impl Mail {
    fn parse(bytes: &[u8]) -> Mail {
        let m = MessageParser::default()
            .parse(bytes)
            .expect("mail-parser reads the message");
        let to = m.to().expect("a To header");
        let first = to.first().expect("a recipient");
        Mail {
            raw: String::from_utf8_lossy(bytes).into_owned(),
            to: first.address().unwrap_or("").to_owned(),
            to_name: first.name().map(str::to_owned),
            recipients: to.iter().count(),
            subject: m.subject().unwrap_or("").to_owned(),
            subject_raw: m.header_raw("Subject").unwrap_or("").to_owned(),
            header_names: m
                .headers()
                .iter()
                .map(|h| h.name().to_ascii_lowercase())
                .collect(),
            text: m.body_text(0).expect("a text part").into_owned(),
            html: m.body_html(0).expect("an HTML part").into_owned(),
        }
    }

    /// The token of the `{public_url}/{page}?token=…` link in the text
    /// part; the HTML part must carry the same token.
    #[track_caller]
    fn token(&self, public_url: &str, page: &str) -> String {
        let prefix = format!("{public_url}/{page}?token=");
        let at = self
            .text
            .find(&prefix)
            .unwrap_or_else(|| panic!("no {prefix} link in\n{}", self.text));
        let token = self.text[at + prefix.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        assert!(self.html.contains(&token), "{}", self.html);
        token
    }
}

/// A token signed with [`SECRET`] for `email`, working until `expires`.
fn token(id: i64, email: &str, purpose: Purpose, expires: &str) -> String {
    Signer::new(SECRET).sign(
        id,
        Email::parse(email).unwrap().key(),
        purpose,
        chrono::DateTime::parse_from_rfc3339(expires).unwrap(),
    )
}

/// Signs `email` up through the form; returns its confirmation token.
#[track_caller]
fn sign_up(site: &Site, service: &Service, email: &str) -> String {
    let r = service.post("/subscribe", &sign_up_form(email, "", &[]));
    assert_page(&r, 200, "Check your inbox");
    site.wait_for_email_to(email).token(&site.url(), "confirm")
}

// ------------------------------------------------------- the sign-up page

#[test]
fn the_sign_up_page_offers_every_column_and_a_honeypot() {
    let site = Site::new();
    let service = site.serve();
    let r = service.get("/");
    assert_page(
        &r,
        200,
        r#"<form id="subscribe" method="post" action="subscribe">"#,
    );
    let body = r.text();
    for slug in ["ai", "city"] {
        assert!(
            body.contains(&format!(
                r#"<input type="checkbox" name="columns" value="{slug}">"#
            )),
            "{body}"
        );
    }
    assert!(body.contains("鑰匙與未來") && body.contains("城市筆記"));
    assert!(body.contains(r#"<input type="text" id="website" name="website" value="""#));
    assert!(r
        .header("content-security-policy")
        .is_some_and(|c| c.contains("frame-ancestors 'none'")));
}

#[test]
fn column_titles_are_escaped_on_the_sign_up_page() {
    let site = Site::custom(&CONFIG.replace("鑰匙與未來", "<b>&"), "");
    let service = site.serve();
    let r = service.get("/");
    assert_page(&r, 200, "&lt;b&gt;&amp;");
    assert!(!r.text().contains("<b>&"), "{}", r.text());
}

// ----------------------------------------------------------------- sign-up

#[test]
fn a_sign_up_is_stored_as_pending_and_mailed_one_confirmation_link() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("Reader@Example.COM", "陳讀者", &["ai"]),
    );
    assert_page(&r, 200, "Check your inbox");
    let s = site.subscriber("Reader@example.com").unwrap();
    assert_eq!(s.email, "Reader@Example.COM");
    assert_eq!(s.status, SubscriberStatus::Pending);
    // What the form chose waits with the request, not on the record.
    assert_eq!(s.name, "");
    assert!(s.columns.is_empty());

    let mail = site.wait_for_email_to("Reader@Example.COM");
    let token = mail.token(&site.url(), "confirm");
    let claims = Signer::new(SECRET)
        .verify(
            &token,
            "Reader@example.com",
            Purpose::Confirm,
            chrono::DateTime::parse_from_rfc3339(CLOCK).unwrap(),
        )
        .expect("a confirmation token for this address");
    assert!(!claims.legacy);
    press_confirm(&service, &token);
    assert_standing(
        &site,
        "Reader@example.com",
        SubscriberStatus::Active,
        "陳讀者",
        &["ai".to_owned()],
    );
    service.stop();
    assert_eq!(site.emails().len(), 1);
}

#[test]
fn the_confirmation_email_goes_to_the_bare_address_and_never_carries_the_name() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("reader@example.com", "Win a prize at spam.example", &[]),
    );
    assert_page(&r, 200, "Check your inbox");
    assert_eq!(site.subscriber("reader@example.com").unwrap().name, "");
    let mail = site.wait_for_email_to("reader@example.com");
    assert_eq!(mail.to_name, None, "{}", mail.raw);
    assert_eq!(mail.recipients, 1);
    for (part, text) in [
        ("raw", &mail.raw),
        ("text", &mail.text),
        ("html", &mail.html),
    ] {
        assert!(
            !text.contains("spam.example") && !text.contains("prize"),
            "the name is in the {part}:\n{text}"
        );
    }
    assert!(mail.subject_raw.is_ascii(), "{}", mail.subject_raw);
    assert!(
        mail.subject_raw.to_ascii_lowercase().contains("=?utf-8?"),
        "{}",
        mail.subject_raw
    );
    assert_eq!(mail.subject, "請確認訂閱 Confirm your subscription · 論壇");
    assert!(mail.text.contains("Please confirm your subscription"));
}

#[test]
fn an_active_address_gets_the_same_answer_and_a_preferences_link_instead() {
    let site = Site::new();
    let service = site.serve();
    let known = site.add("known@example.com", "甲", "city");
    let to_known = service.post(
        "/subscribe",
        &sign_up_form("known@example.com", "乙", &["ai"]),
    );
    let to_new = service.post(
        "/subscribe",
        &sign_up_form("new@example.com", "乙", &["ai"]),
    );
    assert_page(&to_known, 200, "Check your inbox");
    assert_eq!(to_known.status, to_new.status);
    assert_eq!(to_known.text(), to_new.text());
    assert_eq!(site.subscriber("known@example.com").unwrap(), known);
    assert_eq!(
        site.subscriber("new@example.com").unwrap().status,
        SubscriberStatus::Pending
    );

    let mail = site.wait_for_email_to("known@example.com");
    assert_eq!(mail.subject, "你的訂閱設定 Your subscription · 論壇");
    assert!(!mail.text.contains("/confirm?token="), "{}", mail.text);
    let token = mail.token(&site.url(), "preferences");
    let page = service.get(&format!("/preferences?token={token}"));
    assert_page(&page, 200, r#"<form id="preferences""#);
    assert!(page.text().contains(r#"value="甲""#));
    site.wait_for_email_to("new@example.com")
        .token(&site.url(), "confirm");
}

#[test]
fn ticking_every_column_is_stored_as_following_all_of_them() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("a@example.com", "", &["ai", "city", "ai"]),
    );
    assert_page(&r, 200, "Check your inbox");
    assert!(site.subscriber("a@example.com").unwrap().columns.is_empty());
}

// ----------------------------------------------------------------- confirm

#[test]
fn opening_the_confirmation_link_shows_a_button_and_changes_nothing() {
    let site = Site::new();
    let service = site.serve();
    let token = sign_up(&site, &service, "a@example.com");
    let before = site.subscriber("a@example.com").unwrap();
    for _ in 0..2 {
        let r = service.get(&format!("/confirm?token={token}"));
        assert_page(
            &r,
            200,
            r#"<form id="confirm" method="post" action="confirm">"#,
        );
        assert!(r
            .text()
            .contains(&format!(r#"name="token" value="{token}""#)));
    }
    assert_eq!(site.subscriber("a@example.com").unwrap(), before);
    assert_eq!(before.status, SubscriberStatus::Pending);
}

#[test]
fn pressing_confirm_activates_and_pressing_it_again_is_harmless() {
    let site = Site::new();
    let service = site.serve();
    let token = sign_up(&site, &service, "a@example.com");
    let r = service.post("/confirm", &form(&[("token", &token)]));
    assert_page(&r, 200, "You are subscribed");
    let active = site.subscriber("a@example.com").unwrap();
    assert_eq!(active.status, SubscriberStatus::Active);
    let again = service.post("/confirm", &form(&[("token", &token)]));
    assert_page(&again, 200, "You are subscribed");
    assert_eq!(site.subscriber("a@example.com").unwrap(), active);
    assert_page(
        &service.get(&format!("/confirm?token={token}")),
        200,
        "Already confirmed",
    );
}

#[test]
fn a_confirmation_link_works_for_48_hours_then_gets_a_friendly_410() {
    let site = Site::new();
    let token = {
        let service = site.serve();
        sign_up(&site, &service, "a@example.com")
    };
    let before = site.subscriber("a@example.com").unwrap();
    {
        let service = site.serve_with(SECRET, "2026-06-17T07:59:59+08:00");
        assert_page(
            &service.get(&format!("/confirm?token={token}")),
            200,
            "Confirm",
        );
    }
    let service = site.serve_with(SECRET, "2026-06-17T08:00:00+08:00");
    assert_page(
        &service.get(&format!("/confirm?token={token}")),
        410,
        "This link has expired",
    );
    assert_page(
        &service.post("/confirm", &form(&[("token", &token)])),
        410,
        "This link has expired",
    );
    assert_eq!(site.subscriber("a@example.com").unwrap(), before);
}

#[test]
fn an_expired_link_of_any_kind_changes_nothing() {
    let site = Site::new();
    let service = site.serve();
    let s = site.add("a@example.com", "甲", "ai");
    let gone = "2026-06-15T07:59:59+08:00";
    let unsubscribe = token(s.id, "a@example.com", Purpose::Unsubscribe, gone);
    let preferences = token(s.id, "a@example.com", Purpose::Preferences, gone);
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={unsubscribe}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 410, "This link has expired");
    let r = service.post(
        "/preferences",
        &form(&[("token", &preferences), ("name", "乙")]),
    );
    assert_page(&r, 410, "This link has expired");
    assert_eq!(site.subscriber("a@example.com").unwrap(), s);
}

/// `token` with the character at `at` replaced by another base64url one.
fn flip(token: &str, at: usize) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn a_damaged_or_doctored_link_is_refused_and_changes_nothing() {
    let site = Site::new();
    let service = site.serve();
    let token = sign_up(&site, &service, "a@example.com");
    let before = site.subscriber("a@example.com").unwrap();
    let (payload, mac) = token.split_once('.').unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let (id, rest) = claims.split_once('.').unwrap();
    let expires: i64 = rest.split_once('.').unwrap().1.parse().unwrap();
    let with_payload = |p: String| format!("{}.{mac}", URL_SAFE_NO_PAD.encode(p));
    let cases = [
        (
            "a flipped MAC",
            flip(&token, payload.len() + 1 + mac.len() / 2),
            403,
        ),
        ("a MAC cut short", token[..token.len() - 3].to_owned(), 403),
        ("no MAC", payload.to_owned(), 400),
        ("half a payload", token[..payload.len() / 2].to_owned(), 400),
        ("garbage", "garbage".to_owned(), 400),
        ("nothing", String::new(), 400),
        ("bytes that are not UTF-8", "%FF%FE".to_owned(), 400),
        (
            "a later expiry",
            with_payload(format!("{id}.c.{}", expires + 86_400 * 365)),
            403,
        ),
        (
            "another purpose",
            with_payload(format!("{id}.p.{expires}")),
            403,
        ),
    ];
    for (what, bad, status) in &cases {
        let r = service.get(&format!("/confirm?token={bad}"));
        assert_eq!(r.status, *status, "GET with {what}: {}", r.text());
        assert_page(&r, *status, "</h1>");
        let r = service.post("/confirm", &format!("token={bad}"));
        assert_eq!(r.status, *status, "POST with {what}: {}", r.text());
        assert_page(&r, *status, "</h1>");
    }
    assert_eq!(site.subscriber("a@example.com").unwrap(), before);
    // The real one still works: the refusals were about the links.
    press_confirm(&service, &token);
}

#[test]
fn a_link_made_for_one_purpose_does_nothing_for_another() {
    let site = Site::new();
    let service = site.serve();
    let confirm = sign_up(&site, &service, "pending@example.com");
    let pending = site.subscriber("pending@example.com").unwrap();
    let active = site.add("active@example.com", "甲", "ai");

    let unsubscribe = token(
        pending.id,
        "pending@example.com",
        Purpose::Unsubscribe,
        TOMORROW,
    );
    assert_page(
        &service.get(&format!("/confirm?token={unsubscribe}")),
        403,
        "This link does not work",
    );
    assert_page(
        &service.post("/confirm", &form(&[("token", &unsubscribe)])),
        403,
        "This link does not work",
    );
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={confirm}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 403, "This link does not work");
    assert_eq!(site.subscriber("pending@example.com").unwrap(), pending);

    let preferences = token(
        active.id,
        "active@example.com",
        Purpose::Preferences,
        TOMORROW,
    );
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={preferences}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 403, "This link does not work");
    let unsubscribe = token(
        active.id,
        "active@example.com",
        Purpose::Unsubscribe,
        TOMORROW,
    );
    let r = service.post(
        "/preferences",
        &form(&[("token", &unsubscribe), ("name", "乙"), ("columns", "city")]),
    );
    assert_page(&r, 403, "This link does not work");
    assert_eq!(site.subscriber("active@example.com").unwrap(), active);
}

#[test]
fn a_link_for_one_subscriber_does_nothing_for_another() {
    let site = Site::new();
    let service = site.serve();
    let a = site.add("a@example.com", "甲", "");
    let b = site.add("b@example.com", "乙", "");
    let one_click = |t: &str| {
        service.request(
            "POST",
            &format!("/unsubscribe?token={t}"),
            &[("Content-Type", FORM)],
            b"List-Unsubscribe=One-Click",
        )
    };
    // Signed for A's id but B's address.
    let mixed = token(a.id, "b@example.com", Purpose::Unsubscribe, TOMORROW);
    assert_page(&one_click(&mixed), 403, "This link does not work");
    // B's own link with A's id written into it.
    let b_token = token(b.id, "b@example.com", Purpose::Unsubscribe, TOMORROW);
    let (payload, mac) = b_token.split_once('.').unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let (_, rest) = claims.split_once('.').unwrap();
    let replayed = format!(
        "{}.{mac}",
        URL_SAFE_NO_PAD.encode(format!("{}.{rest}", a.id))
    );
    assert_page(&one_click(&replayed), 403, "This link does not work");
    assert_eq!(site.subscriber("a@example.com").unwrap(), a);
    assert_eq!(site.subscriber("b@example.com").unwrap(), b);
    // B's link unsubscribes B, and only B.
    assert_page(&one_click(&b_token), 200, "You are unsubscribed");
    assert_eq!(
        site.subscriber("b@example.com").unwrap().status,
        SubscriberStatus::Unsubscribed
    );
    assert_eq!(site.subscriber("a@example.com").unwrap(), a);
}

#[test]
fn rotating_the_secret_voids_every_link_with_a_friendly_page() {
    let site = Site::new();
    let confirm = {
        let service = site.serve();
        sign_up(&site, &service, "pending@example.com")
    };
    let active = site.add("active@example.com", "", "");
    let unsubscribe = token(
        active.id,
        "active@example.com",
        Purpose::Unsubscribe,
        TOMORROW,
    );
    let pending = site.subscriber("pending@example.com").unwrap();

    let service = site.serve_with("a-new-secret-after-a-leak", CLOCK);
    assert_page(
        &service.get(&format!("/confirm?token={confirm}")),
        403,
        "This link does not work",
    );
    assert_page(
        &service.post("/confirm", &form(&[("token", &confirm)])),
        403,
        "This link does not work",
    );
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={unsubscribe}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 403, "Get a new link");
    assert_eq!(site.subscriber("pending@example.com").unwrap(), pending);
    assert_eq!(site.subscriber("active@example.com").unwrap(), active);
}

// ------------------------------------------------------------- unsubscribe

/// An active subscriber and a token to unsubscribe them.
fn unsubscribable(site: &Site) -> (Subscriber, String) {
    let s = site.add("reader@example.com", "甲", "ai");
    let t = token(s.id, "reader@example.com", Purpose::Unsubscribe, TOMORROW);
    (s, t)
}

#[test]
fn one_click_unsubscribe_works_exactly_as_a_mailbox_provider_sends_it() {
    let site = Site::new();
    let service = site.serve();
    let (_, token) = unsubscribable(&site);
    // RFC 8058 §3.1: multipart/form-data, no cookies, no Origin.
    let boundary = "---FormBoundaryjWmhtjORrn";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--{boundary}--\r\n"
    );
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={token}"),
        &[(
            "Content-Type",
            &format!("multipart/form-data; boundary={boundary}"),
        )],
        body.as_bytes(),
    );
    assert_page(&r, 200, "You are unsubscribed");
    assert_eq!(r.header("set-cookie"), None);
    assert_eq!(
        site.subscriber("reader@example.com").unwrap().status,
        SubscriberStatus::Unsubscribed
    );
}

#[test]
fn one_click_unsubscribe_takes_a_urlencoded_body_and_a_repeat_changes_nothing() {
    let site = Site::new();
    let service = site.serve();
    let (s, token) = unsubscribable(&site);
    let one_click = || {
        service.request(
            "POST",
            &format!("/unsubscribe?token={token}"),
            &[("Content-Type", FORM)],
            b"List-Unsubscribe=One-Click",
        )
    };
    assert_page(&one_click(), 200, "You are unsubscribed");
    let after = site.subscriber("reader@example.com").unwrap();
    assert_eq!(after.status, SubscriberStatus::Unsubscribed);
    assert_eq!((&after.name, &after.columns), (&s.name, &s.columns));
    assert_page(&one_click(), 200, "You are unsubscribed");
    assert_eq!(site.subscriber("reader@example.com").unwrap(), after);
}

#[test]
fn opening_the_unsubscribe_link_only_shows_a_button() {
    let site = Site::new();
    let service = site.serve();
    let (s, token) = unsubscribable(&site);
    for _ in 0..2 {
        let r = service.get(&format!("/unsubscribe?token={token}"));
        assert_page(&r, 200, r#"<form id="unsubscribe" method="post""#);
        assert!(r
            .text()
            .contains(r#"name="List-Unsubscribe" value="One-Click""#));
    }
    assert_eq!(site.subscriber("reader@example.com").unwrap(), s);
}

// ------------------------------------------------------------- preferences

/// An active subscriber following `city`, and a preferences token.
fn with_preferences(site: &Site) -> (Subscriber, String) {
    let s = site.add("reader@example.com", "甲", "city");
    let t = token(s.id, "reader@example.com", Purpose::Preferences, TOMORROW);
    (s, t)
}

#[test]
fn the_preferences_page_shows_the_columns_followed() {
    let site = Site::new();
    let service = site.serve();
    let (_, token) = with_preferences(&site);
    let r = service.get(&format!("/preferences?token={token}"));
    assert_page(&r, 200, r#"<form id="preferences""#);
    let body = r.text();
    assert!(body.contains(r#"<input type="checkbox" name="columns" value="city" checked>"#));
    assert!(body.contains(r#"<input type="checkbox" name="columns" value="ai">"#));
    assert!(body.contains(r#"name="name" value="甲""#));
}

#[test]
fn saving_preferences_stores_the_name_and_columns() {
    let site = Site::new();
    let service = site.serve();
    let (s, token) = with_preferences(&site);
    let r = service.post(
        "/preferences",
        &form(&[
            ("token", &token),
            ("name", "乙"),
            ("columns", "ai"),
            ("action", "save"),
        ]),
    );
    assert_page(&r, 200, "Saved.");
    assert!(r
        .text()
        .contains(r#"<input type="checkbox" name="columns" value="ai" checked>"#));
    let after = site.subscriber("reader@example.com").unwrap();
    assert_eq!(after.id, s.id);
    assert_eq!(after.name, "乙");
    assert_eq!(after.columns, ["ai"]);
    assert_eq!(after.status, SubscriberStatus::Active);
}

#[test]
fn a_preferences_link_never_brings_back_a_reader_who_left_without_a_fresh_confirmation() {
    let site = Site::new();
    let service = site.serve();
    let (_, token) = with_preferences(&site);
    let r = service.post(
        "/preferences",
        &form(&[("token", &token), ("action", "unsubscribe")]),
    );
    assert_page(&r, 200, "You are unsubscribed");
    let left = site.subscriber("reader@example.com").unwrap();
    assert_eq!(left.status, SubscriberStatus::Unsubscribed);

    // Whoever holds the link (a forwarded digest) offers no save, and a
    // save posted anyway changes nothing but asks the address to confirm.
    let page = service.get(&format!("/preferences?token={token}"));
    assert_page(&page, 200, "Email me a confirmation");
    assert!(!page.text().contains(r#"value="save""#), "{}", page.text());
    for action in ["save", "resubscribe"] {
        let r = service.post(
            "/preferences",
            &form(&[
                ("token", &token),
                ("action", action),
                ("name", "甲"),
                ("columns", "city"),
            ]),
        );
        assert_page(&r, 200, "Check your inbox");
        assert_eq!(site.subscriber("reader@example.com").unwrap(), left);
    }

    // The owner confirms from the email: back, with what they chose.
    let mails = site.wait_for_emails_to("reader@example.com", 2);
    let confirm = mails[0].token(&site.url(), "confirm");
    let page = service.get(&format!("/confirm?token={confirm}"));
    assert_page(&page, 200, "Columns: 城市筆記");
    press_confirm(&service, &confirm);
    assert_standing(
        &site,
        "reader@example.com",
        SubscriberStatus::Active,
        "甲",
        &["city".to_owned()],
    );
}

#[test]
fn an_unknown_column_or_a_long_name_is_refused_and_changes_nothing() {
    let site = Site::new();
    let service = site.serve();
    let (s, token) = with_preferences(&site);
    let r = service.post(
        "/preferences",
        &form(&[("token", &token), ("name", "乙"), ("columns", "sport")]),
    );
    assert_page(&r, 400, "There is no such column");
    let long = "字".repeat(101);
    let r = service.post(
        "/preferences",
        &form(&[("token", &token), ("name", &long), ("columns", "ai")]),
    );
    assert_page(&r, 400, "The name is too long");
    assert_eq!(site.subscriber("reader@example.com").unwrap(), s);
    // A hundred characters is not too long.
    let hundred = "字".repeat(100);
    let r = service.post(
        "/preferences",
        &form(&[("token", &token), ("name", &hundred)]),
    );
    assert_page(&r, 200, "Saved.");
    assert_eq!(site.subscriber("reader@example.com").unwrap().name, hundred);
}

// ------------------------------------------------------------------ manage

#[test]
fn asking_for_a_link_mails_a_known_address_and_answers_a_stranger_the_same() {
    let site = Site::new();
    let service = site.serve();
    let known = site.add("known@example.com", "甲", "");
    let to_known = service.post("/manage", &form(&[("email", "known@example.com")]));
    let to_stranger = service.post("/manage", &form(&[("email", "stranger@example.com")]));
    assert_page(&to_known, 200, "Check your inbox");
    assert_eq!(to_known.status, to_stranger.status);
    assert_eq!(to_known.text(), to_stranger.text());

    let mail = site.wait_for_email_to("known@example.com");
    assert_eq!(mail.subject, "你的訂閱設定 Your subscription · 論壇");
    let token = mail.token(&site.url(), "preferences");
    assert_page(
        &service.get(&format!("/preferences?token={token}")),
        200,
        r#"<form id="preferences""#,
    );
    service.stop();
    let emails = site.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(site.subscribers(), [known]);
}

// ----------------------------------------------------------------- attacks

#[test]
fn an_oversized_body_is_refused_with_413() {
    let site = Site::new();
    let service = site.serve();
    let origin = site.url();
    let body = format!("email=a%40example.com&name={}", "a".repeat(100 * 1024));
    let r = service.request(
        "POST",
        "/subscribe",
        &[("Content-Type", FORM), ("Origin", &origin)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 413);
    // The same without a length up front.
    let mut chunked = Vec::new();
    for chunk in body.as_bytes().chunks(8 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = service.request(
        "POST",
        "/subscribe",
        &[
            ("Content-Type", FORM),
            ("Origin", &origin),
            ("Transfer-Encoding", "chunked"),
        ],
        &chunked,
    );
    assert_eq!(r.status, 413);
    assert!(site.subscribers().is_empty());
}

#[test]
fn a_name_that_is_not_utf8_is_refused_and_nothing_is_stored() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post("/subscribe", "email=a%40example.com&name=%FF");
    assert_page(&r, 400, "The form could not be read");
    let origin = site.url();
    let r = service.request(
        "POST",
        "/subscribe",
        &[("Content-Type", FORM), ("Origin", &origin)],
        b"email=a%40example.com&name=\xff\xfe",
    );
    assert_page(&r, 400, "The form could not be read");
    assert!(site.subscribers().is_empty());
    service.stop();
    assert!(site.emails().is_empty());
}

#[test]
fn a_line_break_in_the_name_cannot_add_a_header() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("a@example.com", "Eve\r\nBcc: victim@example.com", &[]),
    );
    assert_page(&r, 200, "Check your inbox");
    let mail = site.wait_for_email_to("a@example.com");
    let confirm = mail.token(&site.url(), "confirm");
    press_confirm(&service, &confirm);
    assert_eq!(
        site.subscriber("a@example.com").unwrap().name,
        "Eve Bcc: victim@example.com"
    );
    assert!(
        !mail.header_names.iter().any(|h| h == "bcc" || h == "cc"),
        "{:?}",
        mail.header_names
    );
    assert_eq!(mail.recipients, 1);
    assert!(!mail.raw.contains("victim"), "{}", mail.raw);
}

#[test]
fn a_line_break_in_the_address_is_refused() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("a@example.com\r\nBcc: victim@example.com", "", &[]),
    );
    assert_page(&r, 400, "Please enter a valid email address");
    assert!(site.subscribers().is_empty());
    service.stop();
    assert!(site.emails().is_empty());
}

#[test]
fn what_was_typed_is_shown_back_escaped() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form("\"><script>alert(1)</script>", "", &["ai"]),
    );
    assert_page(&r, 400, "Please enter a valid email address");
    let body = r.text();
    assert!(!body.contains("<script>"), "{body}");
    assert!(body.contains("&quot;&gt;&lt;script&gt;"), "{body}");
    assert!(site.subscribers().is_empty());
}

#[test]
fn a_filled_honeypot_gets_the_usual_answer_and_nothing_happens() {
    let site = Site::new();
    let service = site.serve();
    let robot = service.post(
        "/subscribe",
        &form(&[
            ("email", "robot@example.com"),
            ("name", "Cheap pills"),
            ("website", "https://spam.example"),
        ]),
    );
    let person = service.post("/subscribe", &sign_up_form("person@example.com", "", &[]));
    assert_page(&robot, 200, "Check your inbox");
    assert_eq!(robot.text(), person.text());
    assert_eq!(site.subscriber("robot@example.com"), None);
    site.wait_for_email_to("person@example.com");
    service.stop();
    let emails = site.emails();
    assert_eq!(emails.len(), 1, "{emails:?}");
}

#[test]
fn a_form_posted_from_another_site_is_refused() {
    let site = Site::new();
    let service = site.serve();
    let confirm = sign_up(&site, &service, "pending@example.com");
    let pending = site.subscriber("pending@example.com").unwrap();
    let active = site.add("active@example.com", "甲", "city");
    let preferences = token(
        active.id,
        "active@example.com",
        Purpose::Preferences,
        TOMORROW,
    );
    let look_alike = format!("{}.evil.example", site.url());
    let hostile: [&[(&str, &str)]; 5] = [
        &[("Origin", "https://evil.example")],
        &[("Origin", "null")],
        &[("Origin", look_alike.as_str())],
        &[("Origin", "http://127.0.0.1")],
        &[("Sec-Fetch-Site", "cross-site")],
    ];
    let forms = [
        ("/subscribe", sign_up_form("victim@example.com", "", &[])),
        ("/manage", form(&[("email", "active@example.com")])),
        ("/confirm", form(&[("token", &confirm)])),
        (
            "/preferences",
            form(&[
                ("token", &preferences),
                ("name", "Mallory"),
                ("columns", "ai"),
            ]),
        ),
    ];
    for headers in hostile {
        for (path, body) in &forms {
            let mut all = vec![("Content-Type", FORM)];
            all.extend_from_slice(headers);
            let r = service.request("POST", path, &all, body.as_bytes());
            assert_eq!(r.status, 403, "{path} with {headers:?}: {}", r.text());
            assert_page(&r, 403, "This form was not accepted");
        }
    }
    assert_eq!(site.subscriber("victim@example.com"), None);
    assert_eq!(site.subscriber("pending@example.com").unwrap(), pending);
    assert_eq!(site.subscriber("active@example.com").unwrap(), active);
    service.stop();
    let emails = site.emails();
    assert_eq!(emails.len(), 1, "only the sign-up's own email: {emails:?}");
}

#[test]
fn one_address_gets_at_most_the_daily_number_of_emails() {
    let site =
        Site::with_server("emails_per_address_per_day = 2\nemails_per_client_per_hour = 100");
    let service = site.serve();
    let mut statuses = Vec::new();
    for email in [
        "a@example.com",
        "a@example.com",
        "a@EXAMPLE.com",
        "a@example.com",
    ] {
        let r = service.post("/subscribe", &sign_up_form(email, "", &[]));
        if r.status == 429 {
            assert_page(&r, 429, "Too many requests");
            assert_eq!(r.header("retry-after"), Some("3600"));
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    let r = service.post("/manage", &form(&[("email", "a@example.com")]));
    assert_eq!(r.status, 429);
    // Another address is not held back.
    let r = service.post("/subscribe", &sign_up_form("b@example.com", "", &[]));
    assert_eq!(r.status, 200);
    service.stop();
    let to_a = site
        .emails()
        .iter()
        .filter(|m| m.to == "a@example.com")
        .count();
    assert_eq!(to_a, 2);
}

#[test]
fn one_client_gets_at_most_the_hourly_number_of_emails() {
    let site = Site::with_server("emails_per_client_per_hour = 2");
    let service = site.serve();
    let origin = site.url();
    let post = |email: &str, forwarded: Option<&str>| {
        let mut headers = vec![("Content-Type", FORM), ("Origin", origin.as_str())];
        if let Some(f) = forwarded {
            headers.push(("X-Forwarded-For", f));
        }
        service
            .request(
                "POST",
                "/subscribe",
                &headers,
                sign_up_form(email, "", &[]).as_bytes(),
            )
            .status
    };
    assert_eq!(post("a@example.com", None), 200);
    assert_eq!(post("b@example.com", None), 200);
    assert_eq!(post("c@example.com", None), 429);
    // X-Forwarded-For is not believed unless the operator says so.
    assert_eq!(post("d@example.com", Some("203.0.113.9")), 429);
    assert_eq!(site.subscriber("c@example.com"), None);
    assert_eq!(site.subscriber("d@example.com"), None);
    service.stop();
    assert_eq!(site.emails().len(), 2);
}

#[test]
fn behind_a_trusted_proxy_each_client_is_counted_apart() {
    let site = Site::with_server("emails_per_client_per_hour = 1\ntrust_forwarded_for = true");
    let service = site.serve();
    let origin = site.url();
    let post = |email: &str, forwarded: &str| {
        service
            .request(
                "POST",
                "/subscribe",
                &[
                    ("Content-Type", FORM),
                    ("Origin", &origin),
                    ("X-Forwarded-For", forwarded),
                ],
                sign_up_form(email, "", &[]).as_bytes(),
            )
            .status
    };
    assert_eq!(post("a@example.com", "203.0.113.1"), 200);
    assert_eq!(post("b@example.com", "203.0.113.1"), 429);
    assert_eq!(post("b@example.com", "203.0.113.2"), 200);
    // Only the entry the proxy added counts: a client cannot prepend one.
    assert_eq!(post("c@example.com", "198.51.100.7, 203.0.113.1"), 429);
}

// ------------------------------------------------------------------- feeds

/// A site with built feeds, served.
fn feeds_site() -> (Site, Service) {
    let site = Site::new();
    site.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容與新型工業化\"\npublished = 2026-11-26T07:00:00+08:00",
            &"算力是新時代的基建。".repeat(40),
        ),
    );
    site.build();
    let service = site.serve();
    (site, service)
}

#[test]
fn feeds_are_served_with_the_types_readers_expect() {
    let (site, service) = feeds_site();
    for (path, content_type) in [
        ("ai/rss.xml", "application/rss+xml; charset=utf-8"),
        ("ai/atom.xml", "application/atom+xml; charset=utf-8"),
        ("all/feed.json", "application/feed+json; charset=utf-8"),
        ("index.opml", "text/x-opml; charset=utf-8"),
    ] {
        let r = service.get(&format!("/feeds/{path}"));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(
            r.body,
            std::fs::read(site.path(&format!("feeds/{path}"))).unwrap()
        );
        assert!(r.header("etag").is_some_and(|e| e.starts_with("W/\"")));
        let modified = r.header("last-modified").expect("Last-Modified");
        let modified = chrono::DateTime::parse_from_rfc2822(modified).unwrap();
        let mtime: chrono::DateTime<chrono::Utc> =
            std::fs::metadata(site.path(&format!("feeds/{path}")))
                .unwrap()
                .modified()
                .unwrap()
                .into();
        assert_eq!(modified.timestamp(), mtime.timestamp(), "{path}");
    }
    parse_feed(&service.get("/feeds/ai/atom.xml").body);
}

#[test]
fn a_head_request_gets_the_length_without_the_body() {
    let (site, service) = feeds_site();
    let r = service.request("HEAD", "/feeds/ai/rss.xml", &[], b"");
    assert_eq!(r.status, 200);
    let size = std::fs::metadata(site.path("feeds/ai/rss.xml"))
        .unwrap()
        .len();
    assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));
    assert!(r.body.is_empty());
}

#[test]
fn a_feed_reader_with_a_current_copy_gets_304_and_no_body() {
    let (_site, service) = feeds_site();
    let first = service.get("/feeds/ai/rss.xml");
    let etag = first.header("etag").unwrap();
    let modified = first.header("last-modified").unwrap();

    let r = service.get_with("/feeds/ai/rss.xml", &[("If-None-Match", etag)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag));
    let r = service.get_with("/feeds/ai/rss.xml", &[("If-Modified-Since", modified)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    // As feed readers ask: gzip accepted, both validators sent.
    let r = service.get_with(
        "/feeds/ai/rss.xml",
        &[
            ("Accept-Encoding", "gzip"),
            ("If-None-Match", etag),
            ("If-Modified-Since", modified),
        ],
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("content-encoding"), None);

    // A stale tag wins over a current date (RFC 9110 §13.2.2).
    let r = service.get_with(
        "/feeds/ai/rss.xml",
        &[
            ("If-None-Match", "W/\"stale\""),
            ("If-Modified-Since", modified),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body, first.body);
    let r = service.get_with(
        "/feeds/ai/rss.xml",
        &[("If-Modified-Since", "Thu, 01 Jan 2015 00:00:00 GMT")],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn a_feed_is_gzipped_for_clients_that_ask() {
    let (site, service) = feeds_site();
    let r = service.get_with("/feeds/all/atom.xml", &[("Accept-Encoding", "gzip")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r
        .header("vary")
        .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")));
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(
        plain,
        std::fs::read(site.path("feeds/all/atom.xml")).unwrap()
    );
    assert!(r.body.len() < plain.len());
}

#[test]
fn nothing_outside_the_feeds_folder_or_hidden_in_it_is_served() {
    let (site, service) = feeds_site();
    assert!(site.read("config.toml").contains("[site]"));
    assert!(site.path("feeds/.broadsheet-manifest.json").exists());
    for target in [
        "/feeds/../config.toml",
        "/feeds/ai/../../config.toml",
        "/feeds/%2e%2e/config.toml",
        "/feeds/%2E%2E/%2E%2E/etc/passwd",
        "/feeds/ai/..%2f..%2fconfig.toml",
        "/feeds/ai/%2e%2e%2f%2e%2e%2fbroadsheet.db",
        "/feeds/..%5cconfig.toml",
        "/feeds/%2fetc%2fpasswd",
        "/feeds//etc/passwd",
        "/feeds/%2F..%2Fconfig.toml",
        "/feeds/.broadsheet-manifest.json",
        "/feeds/%2ebroadsheet-manifest.json",
        "/feeds/ai/rss.xml%00",
        "/feeds/ai/rss.xml%00.txt",
    ] {
        let r = service.get(target);
        assert_eq!(
            r.status,
            404,
            "{target}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let body = String::from_utf8_lossy(&r.body);
        for leak in ["[site]", "SQLite", "root:", "mtime_ns"] {
            assert!(!body.contains(leak), "{target} leaked {leak}: {body}");
        }
    }
}

#[cfg(unix)]
#[test]
fn a_link_out_of_the_feeds_folder_is_not_followed() {
    let (site, service) = feeds_site();
    std::os::unix::fs::symlink(site.path("config.toml"), site.path("feeds/ai/config.xml")).unwrap();
    std::os::unix::fs::symlink(site.path("."), site.path("feeds/up")).unwrap();
    for target in ["/feeds/ai/config.xml", "/feeds/up/config.toml"] {
        let r = service.get(target);
        assert_eq!(
            r.status,
            404,
            "{target}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

/// Whatever else lands in the web root (a copy of the state, an email
/// with signed links, a link to the manifest) is not served: only the
/// files the last build wrote, and the digests' web copies.
#[cfg(unix)]
#[test]
fn only_the_files_broadsheet_wrote_are_served() {
    let (site, service) = feeds_site();
    site.write(
        "feeds/outbox/1.eml",
        "List-Unsubscribe: <https://…?token=signed>",
    );
    site.write("feeds/broadsheet.db", "SQLite format 3");
    site.write("feeds/ai/rss.xml.bak", "<rss/>");
    std::os::unix::fs::symlink("../.broadsheet-manifest.json", site.path("feeds/ai/m.json"))
        .unwrap();
    site.write("feeds/digests/2026-W25/index.html", "<html>issue</html>");
    for target in [
        "/feeds/outbox/1.eml",
        "/feeds/broadsheet.db",
        "/feeds/ai/rss.xml.bak",
        "/feeds/ai/m.json",
    ] {
        let r = service.get(target);
        assert_eq!(
            r.status,
            404,
            "{target}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(service.get("/feeds/ai/rss.xml").status, 200);
    assert_eq!(service.get("/feeds/digests/2026-W25/").status, 200);
    // A listed file replaced by a link to the manifest is not followed.
    std::fs::remove_file(site.path("feeds/ai/atom.xml")).unwrap();
    std::os::unix::fs::symlink(
        "../.broadsheet-manifest.json",
        site.path("feeds/ai/atom.xml"),
    )
    .unwrap();
    assert_eq!(service.get("/feeds/ai/atom.xml").status, 404);
    // Nor another name for a file broadsheet keeps, put where a listed
    // file was (a hard link is no link to follow: it is the file).
    site.write("broadsheet.secret", "SQLite format 3 and every address");
    std::fs::remove_file(site.path("feeds/ai/feed.json")).unwrap();
    std::fs::hard_link(
        site.path("broadsheet.secret"),
        site.path("feeds/ai/feed.json"),
    )
    .unwrap();
    assert_eq!(service.get("/feeds/ai/feed.json").status, 404);
    std::fs::remove_file(site.path("feeds/digests/2026-W25/index.html")).unwrap();
    std::fs::hard_link(
        site.path("broadsheet.secret"),
        site.path("feeds/digests/2026-W25/index.html"),
    )
    .unwrap();
    assert_eq!(service.get("/feeds/digests/2026-W25/").status, 404);
}

#[test]
fn a_folder_without_its_slash_is_redirected_and_never_listed() {
    let (site, service) = feeds_site();
    let base = url::Url::parse(&site.url()).unwrap();
    for (from, status, to) in [("/feeds/ai", 301, "/feeds/ai/"), ("/feeds", 308, "/feeds/")] {
        let r = service.get(from);
        assert_eq!(r.status, status, "{from}");
        let location = r.header("location").expect("Location");
        let followed = base.join(from).unwrap().join(location).unwrap();
        assert_eq!(followed.path(), to, "{from} -> {location}");
    }
    // A folder without index.html is not listed.
    site.write("feeds/unlisted/rss.xml", "<rss/>");
    for target in [
        "/feeds/unlisted/",
        "/feeds/unlisted/./",
        "/feeds/unlisted//",
    ] {
        let r = service.get(target);
        assert_eq!(r.status, 404, "{target}");
        assert!(!String::from_utf8_lossy(&r.body).contains("rss.xml"));
    }
    // Nor is a file the build did not write.
    assert_eq!(service.get("/feeds/unlisted/rss.xml").status, 404);
}

// ----------------------------------------------------------------- service

#[test]
fn health_check_and_an_unknown_path() {
    let site = Site::new();
    let service = site.serve();
    let r = service.get("/healthz");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    assert_page(&service.get("/no/such/page"), 404, "Page not found");
}

/// Runs `serve`, expected to stop at once: its exit code and log.
fn serve_refused(site: &Site, secret: Option<&str>) -> (Option<i32>, String) {
    let (mut child, log) = site.spawn(secret, CLOCK);
    let Some(status) = exit_status_within_patience(&mut child) else {
        terminate(&mut child);
        panic!("serve started when it should have refused to");
    };
    (status.code(), std::fs::read_to_string(log.path()).unwrap())
}

#[test]
fn serve_without_a_usable_secret_or_public_url_exits_2_naming_the_key() {
    let site = Site::new();
    let (code, log) = serve_refused(&site, None);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("server.secret"), "{log}");
    let (code, log) = serve_refused(&site, Some("short"));
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("server.secret") && log.contains("at least 16"),
        "{log}"
    );
    assert!(!log.contains("short\""), "the secret is never shown: {log}");
    let port = free_port();
    site.write(
        "config.toml",
        service_config(CONFIG, port, "")
            .replace(&format!("public_url = \"http://127.0.0.1:{port}\""), ""),
    );
    let (code, log) = serve_refused(&site, Some(SECRET));
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("server.public_url"), "{log}");
}

#[test]
fn sigterm_stops_the_service_cleanly_after_sending_what_is_queued() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post("/subscribe", &sign_up_form("a@example.com", "", &[]));
    assert_page(&r, 200, "Check your inbox");
    let stopped = service.stop();
    assert_eq!(stopped.code, Some(0), "{}", stopped.log);
    assert!(stopped.log.contains("stopped"), "{}", stopped.log);
    assert_eq!(site.emails().len(), 1);
}

#[test]
fn sigterm_does_not_wait_forever_for_a_client_that_never_finishes_its_request() {
    let site = Site::new();
    let service = site.serve();
    let mut stalled = TcpStream::connect(("127.0.0.1", service.port)).unwrap();
    stalled
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    assert_eq!(service.get("/healthz").status, 200);
    let stopped = service.stop();
    assert_eq!(
        stopped.code,
        Some(0),
        "still running {PATIENCE:?} after SIGTERM, held by a half-sent request head:\n{}",
        stopped.log
    );
    drop(stalled);
}

#[test]
fn every_refusal_is_a_page_not_an_error_dump() {
    let site = Site::new();
    let service = site.serve();
    let origin = site.url();
    let oversized = format!("email=a%40example.com&name={}", "a".repeat(100 * 1024));
    let answers = [
        (
            "a link with the token twice",
            service.get("/confirm?token=a&token=b"),
            400,
        ),
        (
            "the sign-up address opened as a page",
            service.get("/subscribe"),
            405,
        ),
        (
            "an oversized form",
            service.request(
                "POST",
                "/subscribe",
                &[("Content-Type", FORM), ("Origin", &origin)],
                oversized.as_bytes(),
            ),
            413,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, r, status) in &answers {
        let is_page = r
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
            && r.body.starts_with(b"<!DOCTYPE html>");
        if r.status != *status || !is_page {
            wrong.push(format!(
                "{what}: {} {:?} {:?}",
                r.status,
                r.header("content-type"),
                String::from_utf8_lossy(&r.body)
            ));
        }
    }
    assert!(wrong.is_empty(), "not a page:\n{}", wrong.join("\n"));
}

#[test]
fn the_access_log_never_shows_a_token_or_an_address() {
    let site = Site::new();
    let service = site.serve();
    let email = "log.reader@example.org";
    let r = service.post("/subscribe", &sign_up_form(email, "Log Reader", &["ai"]));
    assert_page(&r, 200, "Check your inbox");
    let confirm = site.wait_for_email_to(email).token(&site.url(), "confirm");
    assert_page(
        &service.get(&format!("/confirm?token={confirm}")),
        200,
        "Confirm",
    );
    press_confirm(&service, &confirm);
    let s = site.subscriber(email).unwrap();
    let unsubscribe = token(s.id, email, Purpose::Unsubscribe, TOMORROW);
    assert_page(
        &service.get(&format!("/unsubscribe?token={unsubscribe}")),
        200,
        "Unsubscribe",
    );
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={unsubscribe}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "You are unsubscribed");
    assert_eq!(
        site.subscriber(email).unwrap().status,
        SubscriberStatus::Unsubscribed
    );

    let log = service.stop().log;
    for seen in ["path=/subscribe", "path=/confirm", "path=/unsubscribe"] {
        assert!(log.contains(seen), "no {seen} in the log:\n{log}");
    }
    for secret in [
        email,
        "log.reader",
        "example.org",
        "Log Reader",
        "token=",
        confirm.as_str(),
        confirm.split('.').next().unwrap(),
        unsubscribe.as_str(),
        unsubscribe.split('.').next().unwrap(),
        SECRET,
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log:\n{log}");
    }
}

#[test]
fn a_sign_up_never_undoes_an_unsubscribe_until_the_owner_confirms() {
    let site = Site::new();
    let service = site.serve();
    let s = site.add("gone@example.com", "原名", "ai");
    let unsubscribe = token(
        s.id,
        "gone@example.com",
        Purpose::Unsubscribe,
        "2027-01-01T00:00:00+08:00",
    );
    let r = service.post(
        &format!("/unsubscribe?token={unsubscribe}"),
        "List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "You are unsubscribed");
    let before = site.subscriber("gone@example.com").unwrap();
    assert_eq!(before.status, SubscriberStatus::Unsubscribed);

    // A stranger fills the form in with the address, another name and
    // other columns: the record does not move, and only its owner is
    // asked to confirm.
    let confirm = {
        let r = service.post(
            "/subscribe",
            &sign_up_form("gone@example.com", "Win a prize", &["city"]),
        );
        assert_page(&r, 200, "Check your inbox");
        site.wait_for_email_to("gone@example.com")
            .token(&site.url(), "confirm")
    };
    assert_eq!(site.subscriber("gone@example.com").unwrap(), before);
    // Its link shows what confirming it would apply.
    assert_page(
        &service.get(&format!("/confirm?token={confirm}")),
        200,
        "Name: Win a prize",
    );
    assert_eq!(site.subscriber("gone@example.com").unwrap(), before);
}

#[test]
fn a_strangers_sign_up_cannot_choose_the_name_and_columns_the_owner_confirms() {
    let site = Site::new();
    let service = site.serve();
    let victim = "victim@example.com";
    let r = service.post(
        "/subscribe",
        &sign_up_form(victim, "Send your password to evil.example", &["city"]),
    );
    assert_page(&r, 200, "Check your inbox");
    let r = service.post("/subscribe", &sign_up_form(victim, "陳讀者", &["ai"]));
    assert_page(&r, 200, "Check your inbox");
    // The owner follows the link of their own sign-up, which shows their
    // choices; the stranger's link shows the stranger's.
    let mut own = None;
    for mail in site.wait_for_emails_to(victim, 2) {
        let token = mail.token(&site.url(), "confirm");
        let page = service.get(&format!("/confirm?token={token}")).text();
        if page.contains("Name: 陳讀者") {
            assert!(page.contains("Columns: 鑰匙與未來"), "{page}");
            own = Some(token);
        } else {
            assert!(page.contains("Name: Send your password"), "{page}");
        }
    }
    let own = own.expect("a confirmation link for the owner's own sign-up");
    press_confirm(&service, &own);
    assert_standing(
        &site,
        victim,
        SubscriberStatus::Active,
        "陳讀者",
        &["ai".to_owned()],
    );
}

// ------------------------------------------------------ hardening

#[test]
fn an_origin_that_only_matches_the_host_header_is_refused() {
    // DNS rebinding: a page on a name the attacker points at this machine
    // sends `Host` and `Origin` both naming it.
    let site = Site::new();
    let service = site.serve();
    let body = sign_up_form("a@example.com", "", &[]);
    let port = service.port;
    let raw = format!(
        "POST /subscribe HTTP/1.1\r\nHost: rebound.example:{port}\r\nOrigin: http://rebound.example:{port}\r\nContent-Type: {FORM}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_page(
        &service.raw(raw.as_bytes()),
        403,
        "This form was not accepted",
    );
    assert!(site.subscriber("a@example.com").is_none());
}

#[test]
fn sub_addresses_and_spellings_share_one_mailboxs_daily_limit() {
    let site = Site::new();
    let service = site.serve();
    for address in [
        "victim+1@example.com",
        "Victim+2@EXAMPLE.com",
        "victim@example.com",
    ] {
        let r = service.post("/subscribe", &sign_up_form(address, "", &[]));
        assert_page(&r, 200, "Check your inbox");
    }
    let r = service.post("/subscribe", &sign_up_form("victim+4@example.com", "", &[]));
    assert_page(&r, 429, "Too many requests");
    assert!(site.subscriber("victim+4@example.com").is_none());
}

#[test]
fn the_form_refuses_addresses_that_route_elsewhere_or_hide_characters() {
    let site = Site::new();
    let service = site.serve();
    for (address, said) in [
        ("victim%example.org@example.com", "may not contain % or !"),
        ("example.org!victim@example.com", "may not contain % or !"),
        ("a@[127.0.0.1]", "not an [IP address]"),
        ("a@127.0.0.1", "not an IP address"),
        ("a@ex%61mple.com", "letters, digits, hyphens and dots only"),
        (
            "moc.elpmaxe\u{202e}@example.com",
            "Please enter a valid email address",
        ),
        ("讀者@example.com", "Before the @ only Latin letters"),
    ] {
        let r = service.post("/subscribe", &sign_up_form(address, "", &[]));
        assert_page(&r, 400, said);
        let r = service.post("/manage", &form(&[("email", address)]));
        assert_page(&r, 400, said);
    }
    assert!(site.subscribers().is_empty());

    // A domain in any script is sent in its ASCII form.
    let r = service.post(
        "/subscribe",
        &sign_up_form("reader@Bücher.example", "", &[]),
    );
    assert_page(&r, 200, "Check your inbox");
    let mail = site.wait_for_email_to("reader@xn--bcher-kva.example");
    let to = mail
        .raw
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("to:"))
        .unwrap();
    assert!(to.is_ascii(), "{to}");
    assert_eq!(site.subscribers().len(), 1);
    // Its other spelling is the same subscriber.
    let r = service.post(
        "/subscribe",
        &sign_up_form("reader@xn--bcher-kva.example", "", &[]),
    );
    assert_page(&r, 200, "Check your inbox");
    assert_eq!(site.subscribers().len(), 1);
}

#[test]
fn bidi_and_format_characters_never_reach_a_stored_name() {
    let site = Site::new();
    let service = site.serve();
    let r = service.post(
        "/subscribe",
        &sign_up_form(
            "a@example.com",
            "Send your password to \u{202e}elpmaxe.live\u{202c}\u{200b}",
            &[],
        ),
    );
    assert_page(&r, 200, "Check your inbox");
    let confirm = site
        .wait_for_email_to("a@example.com")
        .token(&site.url(), "confirm");
    press_confirm(&service, &confirm);
    assert_eq!(
        site.subscriber("a@example.com").unwrap().name,
        "Send your password to elpmaxe.live"
    );
}

/// A link of the first token format, with the subscriber's number in
/// clear, as digests mailed before ids were hidden carry.
fn first_format_token(id: i64, email: &str, purpose: &str, expires: &str) -> String {
    use hmac::{Hmac, Mac};
    let expires = chrono::DateTime::parse_from_rfc3339(expires)
        .unwrap()
        .timestamp();
    let payload = format!("{id}.{purpose}.{expires}");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    mac.update(b"\n");
    mac.update(Email::parse(email).unwrap().key().as_bytes());
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

#[test]
fn links_never_show_the_subscribers_number_and_old_links_still_work() {
    let site = Site::new();
    let service = site.serve();
    let first = site.add("first@example.com", "", "");
    let confirm = sign_up(&site, &service, "second@example.com");
    let second = site.subscriber("second@example.com").unwrap();
    let shown = |token: &str| {
        String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(token.split_once('.').unwrap().0)
                .unwrap(),
        )
        .unwrap()
    };
    for token in [
        confirm.clone(),
        token(
            first.id,
            "first@example.com",
            Purpose::Unsubscribe,
            TOMORROW,
        ),
    ] {
        let payload = shown(&token);
        let id = payload.split('.').next().unwrap();
        assert!(
            id.parse::<i64>().is_err() && id.len() > 10,
            "a number in {payload}"
        );
    }
    assert_ne!(second.id.to_string(), shown(&confirm));

    // A digest mailed before keeps its one-click link until it expires.
    let old = first_format_token(first.id, "first@example.com", "u", TOMORROW);
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={old}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "You are unsubscribed");
    assert_eq!(
        site.subscriber("first@example.com").unwrap().status,
        SubscriberStatus::Unsubscribed
    );
    // And a confirmation mailed before confirms its subscriber.
    let old = first_format_token(second.id, "second@example.com", "c", TOMORROW);
    press_confirm(&service, &old);
    assert_eq!(
        site.subscriber("second@example.com").unwrap().status,
        SubscriberStatus::Active
    );
}

#[test]
fn a_flood_of_silent_connections_neither_stops_one_click_nor_stays_open() {
    let site = Site::new();
    // systemd's default soft limit, which 1,100 silent sockets exceed.
    site.open_files.set(Some(1024));
    let service = site.serve();
    let (_, unsubscribe) = unsubscribable(&site);
    let silent: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect(("127.0.0.1", service.port)).unwrap())
        .collect();
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={unsubscribe}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "You are unsubscribed");
    // The newest of them is still open; having sent nothing, it is closed
    // once the header timeout passes.
    let mut last = silent.last().unwrap();
    last.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 64];
    match last.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("{n} bytes to a connection that sent nothing"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("a silent connection still open after {PATIENCE:?}: {e}"),
    }
    drop(silent);
    assert_eq!(service.get("/healthz").status, 200);
}

/// How long the service waits on a reply its client takes nothing of.
const WRITE_BOUND: Duration = Duration::from_secs(15);

/// A connection whose receive buffer is as small as the system allows, as
/// a client that means to hold the service's replies up would open.
fn small_buffered(port: u16) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(1024).unwrap();
        socket
            .connect(([127, 0, 0, 1], port).into())
            .await
            .unwrap()
            .into_std()
            .unwrap()
    });
    stream.set_nonblocking(false).unwrap();
    stream
}

#[test]
fn clients_that_never_read_their_replies_neither_stop_one_click_nor_stay_open() {
    let site = Site::new();
    site.open_files.set(Some(1024));
    site.write(
        "content/ai/compute.md",
        article(
            "title = \"算力擴容與新型工業化\"\npublished = 2026-06-14T07:00:00+08:00",
            &"算力是新時代的基建。".repeat(3000),
        ),
    );
    site.build();
    let service = site.serve();
    let (_, unsubscribe) = unsubscribable(&site);
    let feed = std::fs::metadata(site.path("feeds/all/atom.xml"))
        .unwrap()
        .len() as usize;
    assert!(feed > 64 * 1024, "a feed of {feed} bytes");
    let asks = 200;
    let every_reply = asks * feed;
    let pipelined = "GET /feeds/all/atom.xml HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(asks);
    let started = Instant::now();
    let unread: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = small_buffered(service.port);
            s.write_all(pipelined.as_bytes()).unwrap();
            s
        })
        .collect();
    let r = service.request(
        "POST",
        &format!("/unsubscribe?token={unsubscribe}"),
        &[("Content-Type", FORM)],
        b"List-Unsubscribe=One-Click",
    );
    assert_page(&r, 200, "You are unsubscribed");
    assert_eq!(service.get("/healthz").status, 200);
    // Once the bound has passed, each was closed: reading now gets what
    // was on its way and the end, not every reply asked for.
    std::thread::sleep(
        (started + WRITE_BOUND + Duration::from_secs(5)).saturating_duration_since(Instant::now()),
    );
    for (i, mut s) in unread.into_iter().enumerate() {
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut got = 0;
        let mut buf = [0u8; 64 * 1024];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => panic!("connection {i} still open after {got} bytes: {e}"),
            }
            assert!(
                got < every_reply,
                "connection {i} was sent all {asks} replies: it was never closed"
            );
        }
    }
    assert_eq!(service.get("/healthz").status, 200);
}

#[test]
fn emails_a_slow_relay_had_not_taken_at_sigterm_are_sent_after_a_restart() {
    let relay = crate::smtp::SmtpServer::start();
    relay.set(|b| b.delay = Duration::from_secs(3));
    let site = Site::with_server("emails_per_client_per_hour = 100");
    site.env.borrow_mut().extend([
        ("BROADSHEET_SMTP__HOST".to_owned(), "127.0.0.1".to_owned()),
        ("BROADSHEET_SMTP__PORT".to_owned(), relay.port.to_string()),
        (
            "BROADSHEET_SERVER__SHUTDOWN_EMAIL_SECONDS".to_owned(),
            "1".to_owned(),
        ),
    ]);
    let service = site.serve();
    let readers: Vec<String> = (0..12).map(|i| format!("reader{i}@example.com")).collect();
    for r in &readers {
        let page = service.post("/subscribe", &sign_up_form(r, "", &[]));
        assert_page(&page, 200, "Check your inbox");
    }
    let stopped = service.stop();
    assert_eq!(stopped.code, Some(0), "{}", stopped.log);
    assert!(stopped.log.contains("stay queued"), "{}", stopped.log);

    // Started again (mail now to the outbox): what was left goes out.
    site.env.borrow_mut().clear();
    let service = site.serve();
    let relayed = relay.copies();
    let left: Vec<&String> = readers
        .iter()
        .filter(|r| !relayed.contains_key(r.as_str()))
        .collect();
    assert!(!left.is_empty(), "the relay took every email: {relayed:?}");
    for r in left {
        site.wait_for_email_to(r);
    }
    let stopped = service.stop();
    assert!(!stopped.log.contains("stay queued"), "{}", stopped.log);
}
