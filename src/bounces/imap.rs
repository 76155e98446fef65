//! The IMAP mailbox `run` and `bounces poll` read bounces from
//! (`bounces.imap_url`): over TLS, always verified (the public roots and
//! `bounces.imap_ca_file`), every step bounded by
//! `bounces.imap_timeout_seconds`.
//!
//! What it does to the mailbox is little, on purpose: it fetches with
//! `BODY.PEEK[]`, which leaves `\Seen` alone, and sets `\Seen` only on the
//! messages it is told were handled. It never deletes, moves or expunges
//! anything: a message not understood stays where it was, unseen, for a
//! person to read.
//!
//! The calls are blocking: each step runs on a runtime of its own, one at
//! a time, so the caller may use the state (whose PostgreSQL client
//! blocks, and must not be called from inside a runtime) between them.
//!
//! The password is written to the server once, in the LOGIN, and nowhere
//! else: no error or log line carries it. (async-imap traces the commands
//! it writes through the `log` crate; nothing in broadsheet installs a
//! `log` logger, so those lines go nowhere.)

use crate::config::ImapMailbox;
use async_imap::imap_proto::{AttributeValue, MailboxDatum, RequestId, Response, Status};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A step of the conversation with the server, as errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Opening the TCP connection.
    Connect,
    /// The TLS handshake, and verifying the certificate.
    Tls,
    /// The server's first line.
    Greeting,
    /// `LOGIN`.
    Login,
    /// `SELECT` of the folder.
    Select,
    /// `UID SEARCH UNSEEN`.
    Search,
    /// `UID FETCH`, and each message it sends back.
    Fetch,
    /// `UID STORE … +FLAGS (\Seen)`.
    Store,
    /// `LOGOUT`.
    Logout,
}

impl Step {
    /// The step as a command: `LOGIN`, `UID FETCH`.
    fn name(self) -> &'static str {
        match self {
            Step::Connect => "connection",
            Step::Tls => "TLS handshake",
            Step::Greeting => "greeting",
            Step::Login => "LOGIN",
            Step::Select => "SELECT",
            Step::Search => "UID SEARCH UNSEEN",
            Step::Fetch => "UID FETCH",
            Step::Store => "UID STORE",
            Step::Logout => "LOGOUT",
        }
    }

    /// What the server did not do in time.
    fn awaited(self) -> String {
        match self {
            Step::Connect => "accept the connection".to_owned(),
            Step::Tls => "finish the TLS handshake".to_owned(),
            Step::Greeting => "send its greeting".to_owned(),
            step => format!("answer the {}", step.name()),
        }
    }
}

/// How a step went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer within `bounces.imap_timeout_seconds`.
    Timeout {
        /// The bound, in seconds.
        seconds: u32,
    },
    /// The server could not be reached: no such host, refused, no route.
    Unreachable(String),
    /// Its certificate is not one to trust for the host: the URL's host
    /// or `bounces.imap_ca_file` is to fix (or the server's certificate).
    Untrusted(String),
    /// The TLS handshake failed for another reason.
    Tls(String),
    /// The connection closed, or broke, before the step was done.
    Lost(String),
    /// The server answered NO or BAD, with its words.
    Refused(String),
    /// The server said something that is not what IMAP has it say.
    Protocol(String),
}

/// An IMAP step that failed: which server, which step, how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapError {
    /// The server as `host:port`.
    pub server: String,
    /// The step.
    pub step: Step,
    /// What went wrong.
    pub failure: Failure,
}

impl ImapError {
    /// Whether a setting is what to fix (exit 2): the login or the folder
    /// refused, or a certificate not trusted; anything else is the
    /// network's or the server's (exit 1), and may pass by the next run.
    pub fn is_setting(&self) -> bool {
        matches!(
            (&self.failure, self.step),
            (Failure::Untrusted(_), _) | (Failure::Refused(_), Step::Login | Step::Select)
        )
    }
}

impl fmt::Display for ImapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (server, step) = (&self.server, self.step);
        match &self.failure {
            Failure::Timeout { seconds } => write!(
                f,
                "IMAP server {server} did not {} within {seconds} s (bounces.imap_timeout_seconds)",
                step.awaited()
            )?,
            Failure::Unreachable(why) => write!(f, "IMAP server {server}: cannot connect: {why}")?,
            Failure::Untrusted(why) => write!(
                f,
                "IMAP server {server}: its certificate is not trusted: {why} (it must name the host in bounces.imap_url and chain to a public root or to bounces.imap_ca_file)"
            )?,
            Failure::Tls(why) => write!(f, "IMAP server {server}: the TLS handshake failed: {why}")?,
            Failure::Lost(why) => write!(
                f,
                "IMAP server {server} closed the connection during the {}: {why}",
                step.name()
            )?,
            Failure::Refused(said) => {
                write!(f, "IMAP server {server} refused the {}: {said}", step.name())?;
                match step {
                    Step::Login => f.write_str(
                        " (the login in bounces.imap_url, the password in BROADSHEET_BOUNCES__IMAP_PASSWORD)",
                    )?,
                    Step::Select => f.write_str(" (the folder in bounces.imap_url)")?,
                    _ => {}
                }
            }
            Failure::Protocol(why) => write!(
                f,
                "IMAP server {server}: the {} went wrong: {why}",
                step.name()
            )?,
        }
        if matches!(step, Step::Fetch | Step::Store) {
            f.write_str("; what was recorded stays recorded, and the next poll takes up the rest")?;
        }
        Ok(())
    }
}

impl std::error::Error for ImapError {}

/// A message fetched: its UID and its bytes (at most the bound asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its UID in the folder.
    pub uid: u32,
    /// The message as the server keeps it.
    pub raw: Vec<u8>,
}

/// What one response from the server was, as much of it as is used.
enum Reply {
    /// A tagged end of a command.
    Done {
        tag: RequestId,
        status: Status,
        said: String,
    },
    /// An untagged status line (`* OK`, `* BYE`).
    Data { status: Status, said: String },
    /// `* SEARCH`.
    Search(Vec<u32>),
    /// `* n FETCH (…)`: the UID and body, when it carries them.
    Fetched {
        uid: Option<u32>,
        body: Option<Vec<u8>>,
    },
    /// Anything else (`* n EXISTS`, `* FLAGS`, `* CAPABILITY`, …).
    Other,
}

impl Reply {
    fn of(response: &Response<'_>) -> Reply {
        match response {
            Response::Done {
                tag,
                status,
                outcome,
            } => Reply::Done {
                tag: tag.clone(),
                status: copy_status(status),
                said: outcome.information.as_deref().unwrap_or("").to_owned(),
            },
            Response::Data { status, outcome } => Reply::Data {
                status: copy_status(status),
                said: outcome.information.as_deref().unwrap_or("").to_owned(),
            },
            Response::MailboxData(MailboxDatum::Search(uids)) => Reply::Search(uids.clone()),
            Response::Fetch(_, attributes) => {
                let mut uid = None;
                let mut body = None;
                for a in attributes {
                    match a {
                        AttributeValue::Uid(u) => uid = Some(*u),
                        // `BODY[]<0>`: the whole message, or its first
                        // bytes up to the bound asked.
                        AttributeValue::BodySection {
                            section: None,
                            data: Some(data),
                            ..
                        } => body = Some(data.to_vec()),
                        _ => {}
                    }
                }
                Reply::Fetched { uid, body }
            }
            _ => Reply::Other,
        }
    }
}

/// imap-proto's `Status` is neither `Clone` nor `Copy`.
fn copy_status(status: &Status) -> Status {
    match status {
        Status::Ok => Status::Ok,
        Status::No => Status::No,
        Status::Bad => Status::Bad,
        Status::PreAuth => Status::PreAuth,
        Status::Bye => Status::Bye,
    }
}

/// Runs each step on its runtime, bounded by the timeout.
struct Steps {
    runtime: tokio::runtime::Runtime,
    server: String,
    seconds: u32,
}

impl Steps {
    fn error(&self, step: Step, failure: Failure) -> ImapError {
        ImapError {
            server: self.server.clone(),
            step,
            failure,
        }
    }

    /// `work`, given at most the timeout; its own error made one of ours.
    fn run<T, E>(
        &self,
        step: Step,
        work: impl Future<Output = Result<T, E>>,
        failure: impl FnOnce(E) -> Failure,
    ) -> Result<T, ImapError> {
        let limit = Duration::from_secs(self.seconds.into());
        match self
            .runtime
            .block_on(async { tokio::time::timeout(limit, work).await })
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.error(step, failure(e))),
            Err(_elapsed) => Err(self.error(
                step,
                Failure::Timeout {
                    seconds: self.seconds,
                },
            )),
        }
    }
}

type Session = async_imap::Session<TlsStream<TcpStream>>;

/// A folder of the server, logged in to and selected.
pub struct Mailbox {
    // Before `steps`: the connection is dropped before its runtime.
    session: Session,
    steps: Steps,
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("server", &self.steps.server)
            .finish_non_exhaustive()
    }
}

/// `host:port`, with an IPv6 address in brackets.
pub fn server_name(mailbox: &ImapMailbox) -> String {
    match mailbox.host.contains(':') {
        true => format!("[{}]:{}", mailbox.host, mailbox.port),
        false => format!("{}:{}", mailbox.host, mailbox.port),
    }
}

impl Mailbox {
    /// Connects, verifies the server's certificate, logs in and selects
    /// the folder (read-write, so `\Seen` can be set).
    pub fn open(config: &ImapMailbox) -> Result<Mailbox, ImapError> {
        let server = server_name(config);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ImapError {
                server: server.clone(),
                step: Step::Connect,
                failure: Failure::Unreachable(format!("cannot start the network runtime: {e}")),
            })?;
        let steps = Steps {
            runtime,
            server,
            seconds: config.timeout_seconds,
        };
        let tls = tls_config(config).map_err(|why| steps.error(Step::Tls, why))?;
        let name = rustls::pki_types::ServerName::try_from(config.host.clone()).map_err(|e| {
            steps.error(
                Step::Tls,
                Failure::Untrusted(format!("{:?} is not a host name: {e}", config.host)),
            )
        })?;
        let tcp = steps.run(
            Step::Connect,
            TcpStream::connect((config.host.as_str(), config.port)),
            |e| Failure::Unreachable(e.to_string()),
        )?;
        let stream = steps.run(
            Step::Tls,
            tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp),
            tls_failure,
        )?;
        let mut client = async_imap::Client::new(stream);
        let greeting = steps.run(Step::Greeting, client.read_response(), |e| {
            Failure::Lost(e.to_string())
        })?;
        match greeting.as_ref().map(|r| Reply::of(r.parsed())) {
            Some(Reply::Data {
                status: Status::Ok, ..
            }) => {}
            // Too many connections, or a server shutting down.
            Some(Reply::Data {
                status: Status::Bye,
                said,
            }) => return Err(steps.error(Step::Greeting, Failure::Lost(said))),
            Some(_) => {
                return Err(steps.error(
                    Step::Greeting,
                    Failure::Protocol("its first line is not * OK".to_owned()),
                ))
            }
            None => {
                return Err(steps.error(
                    Step::Greeting,
                    Failure::Lost("before its greeting".to_owned()),
                ))
            }
        }
        let login = client.login(&config.user, config.password.expose());
        let session = steps.run(Step::Login, login, |(e, _client)| login_failure(e))?;
        let mut mailbox = Mailbox { session, steps };
        let select = format!("SELECT {}", quoted(&config.mailbox));
        mailbox.command(Step::Select, &select, |_| {})?;
        Ok(mailbox)
    }

    /// The UIDs of the messages not flagged `\Seen`, lowest first.
    pub fn unseen(&mut self) -> Result<Vec<u32>, ImapError> {
        let mut uids = Vec::new();
        self.command(Step::Search, "UID SEARCH UNSEEN", |reply| {
            if let Reply::Search(found) = reply {
                uids.extend(found);
            }
        })?;
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// Asks for the messages `uids`, each cut at `max_bytes`; the
    /// messages come one by one from [`Fetching::next_message`]. `BODY.PEEK[]`:
    /// reading a message does not make it seen.
    pub fn fetch(&mut self, uids: &[u32], max_bytes: usize) -> Result<Fetching<'_>, ImapError> {
        let command = format!(
            "UID FETCH {} (UID BODY.PEEK[]<0.{max_bytes}>)",
            uid_set(uids)
        );
        let tag = self.send(Step::Fetch, &command)?;
        Ok(Fetching {
            mailbox: self,
            tag,
            done: false,
        })
    }

    /// Flags the messages `uids` `\Seen`, so the next poll passes them by.
    /// Nothing else about them changes.
    pub fn mark_seen(&mut self, uids: &[u32]) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        // .SILENT: the server need not echo each message's flags back.
        let command = format!("UID STORE {} +FLAGS.SILENT (\\Seen)", uid_set(uids));
        self.command(Step::Store, &command, |_| {})
    }

    /// Says goodbye; the server closes the connection.
    pub fn logout(mut self) -> Result<(), ImapError> {
        let tag = self.send(Step::Logout, "LOGOUT")?;
        loop {
            match self.read(Step::Logout) {
                Ok(Reply::Done { tag: t, .. }) if t == tag => return Ok(()),
                Ok(_) => {}
                // After its BYE the server may close without the tagged
                // OK: the session is over either way.
                Err(ImapError {
                    failure: Failure::Lost(_),
                    ..
                }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes `command` with a new tag.
    fn send(&mut self, step: Step, command: &str) -> Result<RequestId, ImapError> {
        self.steps
            .run(step, self.session.run_command(command), |e| {
                Failure::Lost(e.to_string())
            })
    }

    /// The next response, within the timeout; the end of the connection
    /// is an error, since every step here waits for an answer.
    fn read(&mut self, step: Step) -> Result<Reply, ImapError> {
        let response = self.steps.run(step, self.session.read_response(), |e| {
            Failure::Lost(e.to_string())
        })?;
        match response {
            Some(r) => Ok(Reply::of(r.parsed())),
            None => Err(self
                .steps
                .error(step, Failure::Lost("no more came".to_owned()))),
        }
    }

    /// Runs `command` to its tagged end, giving every untagged response
    /// to `each`; NO or BAD is an error with the server's words.
    fn command(
        &mut self,
        step: Step,
        command: &str,
        mut each: impl FnMut(Reply),
    ) -> Result<(), ImapError> {
        let tag = self.send(step, command)?;
        loop {
            match self.read(step)? {
                Reply::Done {
                    tag: t,
                    status,
                    said,
                } if t == tag => {
                    return self.status(step, status, said);
                }
                Reply::Data {
                    status: Status::Bye,
                    said,
                } => return Err(self.steps.error(step, Failure::Lost(said))),
                reply => each(reply),
            }
        }
    }

    fn status(&self, step: Step, status: Status, said: String) -> Result<(), ImapError> {
        match status {
            Status::Ok => Ok(()),
            Status::No | Status::Bad => Err(self.steps.error(step, Failure::Refused(said))),
            Status::PreAuth | Status::Bye => Err(self.steps.error(
                step,
                Failure::Protocol(format!("the command ended in {status:?}: {said}")),
            )),
        }
    }
}

/// A `UID FETCH` under way.
#[derive(Debug)]
pub struct Fetching<'a> {
    mailbox: &'a mut Mailbox,
    tag: RequestId,
    done: bool,
}

impl Fetching<'_> {
    /// The next message, or `None` once the server has sent them all
    /// (a UID expunged meanwhile by another client just does not come).
    /// Each must come within the timeout.
    pub fn next_message(&mut self) -> Result<Option<Message>, ImapError> {
        while !self.done {
            match self.mailbox.read(Step::Fetch)? {
                Reply::Fetched {
                    uid: Some(uid),
                    body: Some(raw),
                } => return Ok(Some(Message { uid, raw })),
                Reply::Done { tag, status, said } if tag == self.tag => {
                    self.done = true;
                    self.mailbox.status(Step::Fetch, status, said)?;
                }
                Reply::Data {
                    status: Status::Bye,
                    said,
                } => {
                    return Err(self.mailbox.steps.error(Step::Fetch, Failure::Lost(said)));
                }
                // Flags another client changed meanwhile, and the like.
                _ => {}
            }
        }
        Ok(None)
    }
}

/// `1,5,7`: UIDs as a set a command takes.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A folder name as an IMAP quoted string. (The URL cannot carry a line
/// break into it: the config reads it from a URL's path.)
fn quoted(name: &str) -> String {
    let mut q = String::with_capacity(name.len() + 2);
    q.push('"');
    for c in name.chars().filter(|c| *c != '\r' && *c != '\n') {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// The roots to trust: the public ones and `bounces.imap_ca_file`'s.
fn tls_config(config: &ImapMailbox) -> Result<rustls::ClientConfig, Failure> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = &config.ca_pem {
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                Failure::Untrusted(format!("bounces.imap_ca_file is not PEM certificates: {e}"))
            })?;
            roots.add(cert).map_err(|e| {
                Failure::Untrusted(format!(
                    "bounces.imap_ca_file holds a certificate that cannot be used: {e}"
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A failed handshake: a certificate refused, or anything else.
fn tls_failure(e: std::io::Error) -> Failure {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(why)) => Failure::Untrusted(why.to_string()),
        Some(other) => Failure::Tls(other.to_string()),
        None => Failure::Lost(e.to_string()),
    }
}

/// async-imap's LOGIN error, in words. Its NO and BAD carry the server's
/// answer only as `code: …, info: Some("…")` (Rust's debug form), whose
/// words are taken out here; a line break in the password is refused
/// before anything is sent, and said so without the password.
fn login_failure(e: async_imap::error::Error) -> Failure {
    use async_imap::error::Error as E;
    match e {
        E::No(said) | E::Bad(said) => Failure::Refused(server_words(&said)),
        E::Validate(_) => Failure::Refused(
            "the password holds a line break, which a LOGIN cannot carry (nothing was sent)"
                .to_owned(),
        ),
        E::Io(e) => Failure::Lost(e.to_string()),
        E::ConnectionLost => Failure::Lost("no more came".to_owned()),
        other => Failure::Protocol(other.to_string()),
    }
}

/// `Authentication failed.` out of
/// `code: Some(AuthenticationFailed), info: Some("Authentication failed.")`.
fn server_words(said: &str) -> String {
    let words = said
        .split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map(|(words, _)| words.replace("\\\"", "\"").replace("\\\\", "\\"));
    match words {
        Some(w) if !w.trim().is_empty() => w,
        _ => said.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_words_are_taken_out_of_async_imaps_debug_form() {
        assert_eq!(
            server_words(
                r#"code: Some(AuthenticationFailed), info: Some("Authentication failed.")"#
            ),
            "Authentication failed."
        );
        assert_eq!(
            server_words(r#"code: None, info: Some("say \"no\"")"#),
            r#"say "no""#
        );
        assert_eq!(
            server_words("code: None, info: None"),
            "code: None, info: None"
        );
    }

    #[test]
    fn a_timeout_names_the_server_the_step_and_the_bound() {
        let e = ImapError {
            server: "mail.example:993".to_owned(),
            step: Step::Login,
            failure: Failure::Timeout { seconds: 30 },
        };
        assert_eq!(
            e.to_string(),
            "IMAP server mail.example:993 did not answer the LOGIN within 30 s (bounces.imap_timeout_seconds)"
        );
        assert!(!e.is_setting());
        let lost = ImapError {
            step: Step::Fetch,
            failure: Failure::Lost("early eof".to_owned()),
            ..e.clone()
        };
        assert_eq!(
            lost.to_string(),
            "IMAP server mail.example:993 closed the connection during the UID FETCH: early eof; what was recorded stays recorded, and the next poll takes up the rest"
        );
        let refused = ImapError {
            failure: Failure::Refused("Authentication failed.".to_owned()),
            ..e
        };
        assert!(refused.is_setting());
    }

    #[test]
    fn a_folder_is_quoted_and_uids_are_a_set() {
        assert_eq!(quoted(r#"Bounces "old"\x"#), r#""Bounces \"old\"\\x""#);
        assert_eq!(uid_set(&[1, 5, 7]), "1,5,7");
    }
}
