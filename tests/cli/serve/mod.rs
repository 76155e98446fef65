//! `broadsheet serve` over HTTP on 127.0.0.1: sign-up with double opt-in,
//! signed links, RFC 8058 one-click unsubscribe, preferences, the feeds, and
//! what a hostile client sends. Most tests run the service in this process
//! (`server::bind` on port 0, served on a runtime of the test's own) and
//! talk to it with ureq, which sends paths exactly as written; a few start
//! the binary, for what only a process shows: SIGTERM, the log, a limit on
//! open files, exit codes, a restart. Emails are read back from the outbox
//! with mail-parser, subscribers from the SQLite state.

use crate::util::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use broadsheet::address::Email;
use broadsheet::config::Config;
use broadsheet::server::{Clock, ServerError};
use broadsheet::store::{Store, Subscriber, SubscriberStatus};
use broadsheet::token::{Purpose, Signer};
use mail_parser::MessageParser;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

mod attacks;
mod choices;
mod feeds;
mod links;
mod process;
mod shared;
mod signup;
mod webhooks;
mod welcome;

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
/// `server.public_url`: where readers reach the service (a proxy in front
/// of it), so the origin of its pages and the start of every link. The
/// tests talk to the port the service was given instead.
const PUBLIC_URL: &str = "http://127.0.0.1:8080";

// ---------------------------------------------------------------- the site

/// [`CONFIG`]-like `base` with a sender, mail to `outbox/`, and the service
/// on a port the system chooses; `server` adds lines to `[server]`.
fn service_config(base: &str, server: &str) -> String {
    format!(
        r#"{base}
[digest]
from = "論壇 <digest@news.example.com>"

[smtp]
outbox_dir = "outbox"

[server]
bind = "127.0.0.1:0"
public_url = "{PUBLIC_URL}"
{server}
"#
    )
}

/// A publication the service runs on.
struct Site {
    p: Publication,
    /// `BROADSHEET_*` settings given to the service besides the secret.
    env: std::cell::RefCell<Vec<(String, String)>>,
    /// The binary's soft limit on open files, when a test sets one.
    open_files: std::cell::Cell<Option<u32>>,
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
        Site {
            p: Publication::with_config(&service_config(base, server)),
            env: Default::default(),
            open_files: Default::default(),
        }
    }

    /// `server.public_url`.
    fn url(&self) -> String {
        PUBLIC_URL.to_owned()
    }

    /// The service in this process, with [`SECRET`] at [`CLOCK`].
    fn serve(&self) -> Service {
        self.serve_with(SECRET, CLOCK)
    }

    /// The service in this process with this secret and clock, mailing to
    /// the outbox, as `broadsheet --now <now> serve` would run it.
    fn serve_with(&self, secret: &str, now: &str) -> Service {
        let mut env: BTreeMap<String, String> = self.env.borrow().iter().cloned().collect();
        env.insert("BROADSHEET_SERVER__SECRET".into(), secret.into());
        let config = Config::load_with_env(&self.path("config.toml"), &env)
            .unwrap_or_else(|e| panic!("the configuration loads: {e}"));
        assert!(
            config.smtp.host.is_none(),
            "in this process mail goes to the outbox"
        );
        let sender =
            broadsheet::mail::Sender::from_config(&config).expect("the mail settings are usable");
        let transport =
            broadsheet::mail::Transport::from_config(&config).expect("the outbox is usable");
        let clock = Clock::Fixed(chrono::DateTime::parse_from_rfc3339(now).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a runtime for the service");
        let bound = runtime
            .block_on(broadsheet::server::bind(config, clock, sender, transport))
            .unwrap_or_else(|e| panic!("the service starts: {e}"));
        let http = Http::new(bound.addr);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = runtime.spawn(bound.serve_until(async {
            let _ = stopped.await;
        }));
        Service {
            http,
            running: Some(Running {
                runtime,
                stop,
                serving,
            }),
        }
    }

    /// `broadsheet serve` as a process, with [`SECRET`] at [`CLOCK`].
    fn start(&self) -> Process {
        let (mut child, log) = self.spawn(Some(SECRET), CLOCK);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let said = std::fs::read_to_string(log.path()).unwrap();
            if let Some(addr) = listening_on(&said) {
                let http = Http::new(addr);
                assert_eq!(http.get("/healthz").status, 200, "{said}");
                return Process { http, child, log };
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("serve exited ({status}) before listening:\n{said}");
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve did not say where it listens:\n{said}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
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

/// The address in the binary's `listening on http://…` line, once it is
/// in `log`.
fn listening_on(log: &str) -> Option<SocketAddr> {
    let (_, rest) = log.split_once("listening on http://")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

// ----------------------------------------------------------- the services

/// The service running in this process; stopped when dropped.
struct Service {
    http: Http,
    /// Until it is stopped.
    running: Option<Running>,
}

/// A service's runtime, what tells it to stop, and its task.
struct Running {
    runtime: tokio::runtime::Runtime,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl std::ops::Deref for Service {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl Service {
    /// Stops the service as SIGTERM would, and waits until it has: requests
    /// finished, queued emails sent.
    #[track_caller]
    fn stop(mut self) {
        if let Err(e) = self.shut_down() {
            panic!("{e}");
        }
    }

    fn shut_down(&mut self) -> Result<(), String> {
        let Some(Running {
            runtime,
            stop,
            serving,
        }) = self.running.take()
        else {
            return Ok(());
        };
        let _ = stop.send(());
        let ended = runtime.block_on(async { tokio::time::timeout(PATIENCE, serving).await });
        runtime.shutdown_timeout(PATIENCE);
        match ended {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(format!("the service stopped with an error: {e}")),
            Ok(Err(e)) => Err(format!("the service's task failed: {e}")),
            Err(_) => Err(format!("the service still ran {PATIENCE:?} after the stop")),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let stopped = self.shut_down();
        if !std::thread::panicking() {
            if let Err(e) = stopped {
                panic!("{e}");
            }
        }
    }
}

/// A running `broadsheet serve`; stopped with SIGTERM when dropped.
struct Process {
    http: Http,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl std::ops::Deref for Process {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

/// How the binary ended.
struct Stopped {
    /// The exit code; `None` when it ended by a signal, or was still
    /// running [`PATIENCE`] after SIGTERM and had to be killed.
    code: Option<i32>,
    log: String,
}

impl Process {
    /// Stops the service with SIGTERM and waits for it to end.
    fn stop(mut self) -> Stopped {
        let status = terminate(&mut self.child);
        Stopped {
            code: status.and_then(|s| s.code()),
            log: std::fs::read_to_string(self.log.path()).unwrap(),
        }
    }
}

impl Drop for Process {
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

/// Requests to the service at `addr`, sent with ureq: redirects not
/// followed, every status an answer, each request on a connection of its
/// own, the target sent as written.
struct Http {
    addr: SocketAddr,
    agent: ureq::Agent,
}

/// An answer.
#[derive(Debug)]
struct Response {
    status: u16,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    /// With any transfer coding removed (but no content coding).
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

impl Http {
    fn new(addr: SocketAddr) -> Http {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(PATIENCE))
            .build()
            .new_agent();
        Http { addr, agent }
    }

    /// A request with these headers (and `Connection: close`); a POST or a
    /// body gets a `Content-Length`.
    #[track_caller]
    fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let request = self.prepare(method, target, headers);
        let answer = if body.is_empty() && method != "POST" {
            self.agent.run(request.body(()).unwrap())
        } else {
            self.agent.run(request.body(body.to_vec()).unwrap())
        };
        read(answer, method, target)
    }

    /// The status of a POST whose body is sent in chunks, with no length up
    /// front, on hyper's client: it reads the answer while the body is still
    /// going out, so it sees a refusal sent before the body's end.
    fn post_streamed(&self, target: &str, headers: &[(&str, &str)], body: &[u8]) -> u16 {
        use http_body_util::StreamBody;
        use hyper::body::{Bytes, Frame};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = body
            .chunks(8 * 1024)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        runtime.block_on(async {
            let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let mut request =
                ureq::http::Request::post(target).header("Host", self.addr.to_string());
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let request = request
                .body(StreamBody::new(futures::stream::iter(frames)))
                .unwrap();
            let answer = tokio::time::timeout(PATIENCE, sender.send_request(request))
                .await
                .expect("an answer in time")
                .unwrap_or_else(|e| panic!("no answer to POST {target}: {e}"));
            answer.status().as_u16()
        })
    }

    fn prepare(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> ureq::http::request::Builder {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("http://{}{target}", self.addr))
            .header("Connection", "close");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    }

    /// `GET target`, the target sent exactly as written.
    #[track_caller]
    fn get(&self, target: &str) -> Response {
        self.request("GET", target, &[], b"")
    }

    /// `GET target` with these headers.
    #[track_caller]
    fn get_with(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", target, headers, b"")
    }

    /// A form posted from the service's own page, as a browser posts it.
    #[track_caller]
    fn post(&self, target: &str, body: &str) -> Response {
        self.request(
            "POST",
            target,
            &[("Content-Type", FORM), ("Origin", PUBLIC_URL)],
            body.as_bytes(),
        )
    }
}

/// The answer ureq read, status, headers and body.
#[track_caller]
fn read(
    answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    method: &str,
    target: &str,
) -> Response {
    let answer = answer.unwrap_or_else(|e| panic!("no answer to {method} {target}: {e}"));
    let status = answer.status().as_u16();
    let headers = answer
        .headers()
        .iter()
        .map(|(n, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (n.as_str().to_owned(), value)
        })
        .collect();
    let body = answer
        .into_body()
        .into_with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("the body of the answer to {method} {target}: {e}"));
    Response {
        status,
        headers,
        body,
    }
}

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
fn press_confirm(service: &Http, token: &str) {
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
fn sign_up(site: &Site, service: &Http, email: &str) -> String {
    let r = service.post("/subscribe", &sign_up_form(email, "", &[]));
    assert_page(&r, 200, "Check your inbox");
    site.wait_for_email_to(email).token(&site.url(), "confirm")
}

/// An active subscriber and a token to unsubscribe them.
fn unsubscribable(site: &Site) -> (Subscriber, String) {
    let s = site.add("reader@example.com", "甲", "ai");
    let t = token(s.id, "reader@example.com", Purpose::Unsubscribe, TOMORROW);
    (s, t)
}
