//! SMTP delivery with lettre's async connection: one connection per
//! worker, so a relay's limit on messages per connection can be kept, and
//! errors classified by asking lettre (`is_permanent`, `is_transient`),
//! never by reading text.
//!
//! Each step of the exchange has its own bound, as RFC 5321 §4.5.3.2
//! asks: connecting, the greeting, each command, each block of the
//! message, and, much longer, the reply to the final dot. The last is
//! different in kind: once the dot is sent the relay may have taken the
//! message, so no answer in time is not a refusal to retry but an unknown
//! outcome, which is never sent again without the operator saying so.

use super::{Answer, DeliveryError, Outgoing};
use crate::config::Security;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Mutex;

/// How to reach the relay.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Host name (checked against the certificate).
    pub host: String,
    /// Port.
    pub port: u16,
    /// none, starttls or tls.
    pub security: Security,
    /// AUTH user and password, if any.
    pub credentials: Option<(String, String)>,
    /// Connections (and so workers).
    pub connections: usize,
    /// The bound on each step but the last: connecting, the greeting,
    /// each command, each block of the message written.
    pub timeout: Duration,
    /// The bound on the reply to the final dot.
    pub final_reply_timeout: Duration,
    /// Messages on one connection before it is replaced; 0: no limit.
    pub max_messages_per_connection: usize,
    /// Extra root certificate (PEM) to trust, for a private relay.
    pub extra_root_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("auth", &self.credentials.as_ref().map(|(u, _)| u))
            .finish_non_exhaustive()
    }
}

/// Why an attempt failed.
enum Failure {
    /// The relay or the SMTP session said so.
    Smtp(lettre::transport::smtp::Error),
    /// The TCP connection could not be made.
    Connect(String),
    /// No answer in time to this step (before the final dot), within
    /// this bound.
    TimedOut(&'static str, Duration),
    /// The whole message and its final dot were sent, and then no reply
    /// came in time or the connection was lost: the relay may have the
    /// message.
    AfterData(String),
    /// TLS could not even be set up.
    Setup(String),
    /// The relay lacks an extension the message needs.
    Unsupported(String),
    /// The relay cannot take this recipient's address (international,
    /// without SMTPUTF8): a refusal of this message only.
    AddressUnsupported(String),
}

impl Failure {
    /// Whether a fresh connection might do better at once.
    fn is_connection(&self) -> bool {
        match self {
            Failure::Smtp(e) => is_connection_error(e),
            Failure::Connect(_) => true,
            Failure::TimedOut(..)
            | Failure::AfterData(_)
            | Failure::Setup(_)
            | Failure::Unsupported(_)
            | Failure::AddressUnsupported(_) => false,
        }
    }
}

/// Runs one step of the exchange within `limit`.
async fn bounded<T>(
    limit: Duration,
    step: &'static str,
    f: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r.map_err(Failure::Smtp),
        Err(_) => Err(Failure::TimedOut(step, limit)),
    }
}

/// When something last happened, from any thread: the time since a start,
/// in an atomic, for a writer's progress that a waiting task reads.
#[derive(Debug)]
struct LastSeen {
    started: tokio::time::Instant,
    /// Nanoseconds after `started`.
    last: AtomicU64,
}

impl LastSeen {
    fn new() -> LastSeen {
        LastSeen {
            started: tokio::time::Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ns = self.started.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64;
        self.last.store(ns, Ordering::Relaxed);
    }

    fn get(&self) -> tokio::time::Instant {
        self.started + Duration::from_nanos(self.last.load(Ordering::Relaxed))
    }
}

/// How far the message has been written, as lettre asks for its pieces:
/// it asks for the next only when the previous one is written, and asks
/// once more, getting nothing, just before it sends the final dot.
struct Progress {
    /// The last piece asked for.
    last: LastSeen,
    /// Whether the whole body has been written (the dot comes next).
    body_written: std::sync::atomic::AtomicBool,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            last: LastSeen::new(),
            body_written: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn touch(&self) {
        self.last.touch();
    }

    fn last(&self) -> tokio::time::Instant {
        self.last.get()
    }

    fn body_written(&self) -> bool {
        self.body_written.load(Ordering::Relaxed)
    }
}

/// The message in blocks of this many bytes, each written within the step
/// bound.
const BLOCK: usize = 64 * 1024;

/// The message's blocks, noting each request in a [`Progress`].
struct Blocks<'a> {
    bytes: &'a [u8],
    at: usize,
    progress: &'a Progress,
}

impl<'a> Iterator for Blocks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        self.progress.touch();
        if self.at >= self.bytes.len() {
            self.progress
                .body_written
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        let end = (self.at + BLOCK).min(self.bytes.len());
        let block = &self.bytes[self.at..end];
        self.at = end;
        Some(block)
    }
}

/// One worker's connection, opened on first use.
struct Worker {
    conn: Option<AsyncSmtpConnection>,
    /// What `conn`'s stream has written, when broadsheet made the stream
    /// (not for implicit TLS, whose stream lettre makes); set with `conn`.
    watch: Option<Arc<Watch>>,
    sent: usize,
    last_used: std::time::Instant,
    /// An attempt began and did not come to its end: its future was
    /// dropped (the caller's bound ran out), so the session may be left
    /// mid-transaction and must not be used again.
    interrupted: bool,
}

/// Connections to one relay, one per worker.
pub struct SmtpTransport {
    settings: SmtpSettings,
    hello: ClientId,
    workers: Vec<Mutex<Worker>>,
}

/// A pooled connection idle longer than this is checked (NOOP) before use.
const IDLE_CHECK: Duration = Duration::from_secs(30);

impl SmtpTransport {
    /// Prepares `settings.connections` connections (opened on first use).
    pub fn new(settings: SmtpSettings) -> Result<SmtpTransport, String> {
        // Fail early on a bad certificate file or TLS setup.
        if settings.security != Security::None {
            tls_parameters(&settings)?;
        }
        let workers = (0..settings.connections.max(1))
            .map(|_| {
                Mutex::new(Worker {
                    conn: None,
                    watch: None,
                    sent: 0,
                    last_used: std::time::Instant::now(),
                    interrupted: false,
                })
            })
            .collect();
        Ok(SmtpTransport {
            settings,
            hello: ClientId::default(),
            workers,
        })
    }

    /// How many connections.
    pub fn connections(&self) -> usize {
        self.workers.len()
    }

    /// Opens a connection: TCP with Nagle's algorithm off (an SMTP client
    /// writes small commands and waits for each reply, which Nagle and
    /// delayed ACKs would hold up by 40 ms a message), then STARTTLS or
    /// TLS, then AUTH, as configured; each step within the step bound.
    async fn connect(&self) -> Result<(AsyncSmtpConnection, Option<Arc<Watch>>), Failure> {
        // No session at all within the bounds is a relay out of reach, as
        // a refused connection is (a full listen queue, a firewall that
        // drops, a server that never greets): not a message to retry.
        self.open().await.map_err(|f| match f {
            Failure::TimedOut(step, limit) => {
                Failure::Connect(format!("no answer to {step} within {} s", limit.as_secs()))
            }
            other => other,
        })
    }

    async fn open(&self) -> Result<(AsyncSmtpConnection, Option<Arc<Watch>>), Failure> {
        let s = &self.settings;
        let step = s.timeout;
        if s.security == Security::Tls {
            let params = tls_parameters(s).map_err(Failure::Setup)?;
            let mut conn = bounded(
                3 * step,
                "the TLS handshake and greeting",
                AsyncSmtpConnection::connect_tokio1(
                    (s.host.as_str(), s.port),
                    Some(step),
                    &self.hello,
                    Some(params),
                    None,
                ),
            )
            .await?;
            self.authenticate(&mut conn).await?;
            return Ok((conn, None));
        }
        let stream = match tokio::time::timeout(
            step,
            tokio::net::TcpStream::connect((s.host.as_str(), s.port)),
        )
        .await
        {
            Ok(r) => r.map_err(|e| Failure::Connect(e.to_string()))?,
            Err(_) => return Err(Failure::TimedOut("the connection", step)),
        };
        let _ = stream.set_nodelay(true);
        let watch = Arc::new(Watch::new());
        let stream = Watched {
            inner: stream,
            watch: watch.clone(),
        };
        // lettre reads the greeting and sends EHLO in one call, and STARTTLS
        // comes with a second EHLO: two replies, so two steps' time.
        let mut conn = bounded(
            2 * step,
            "the greeting",
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello),
        )
        .await?;
        if s.security == Security::StartTls {
            let params = tls_parameters(s).map_err(Failure::Setup)?;
            bounded(2 * step, "STARTTLS", conn.starttls(params, &self.hello)).await?;
        }
        self.authenticate(&mut conn).await?;
        Ok((conn, Some(watch)))
    }

    async fn authenticate(&self, conn: &mut AsyncSmtpConnection) -> Result<(), Failure> {
        if let Some((user, pass)) = &self.settings.credentials {
            let credentials = Credentials::new(user.clone(), pass.clone());
            // AUTH LOGIN takes three round trips.
            bounded(
                3 * self.settings.timeout,
                "AUTH",
                conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials),
            )
            .await?;
        }
        Ok(())
    }

    /// The longest [`SmtpTransport::attempt`] at `m` can take with every
    /// step as slow as its bound allows: the old connection closed and
    /// checked, then twice (the retry on a fresh connection) connecting,
    /// the greeting, STARTTLS, AUTH, the commands, each block of the
    /// message and the final reply. Each block counts twice, for the
    /// looks at its bound every tick, and a step is left to spare.
    pub fn attempt_limit(&self, m: &Outgoing) -> Duration {
        let s = &self.settings;
        let blocks = m.bytes.len().div_ceil(BLOCK) as u32 + 1;
        let commands = 2 + m.envelope.to().len() as u32;
        let session = 1 + 2 + 2 + 3;
        let one = s.timeout * (session + commands + 2 * blocks) + s.final_reply_timeout;
        s.timeout * 3 + one * 2
    }

    /// Sends one message over worker `i`'s connection. A connection that
    /// turns out dead (it idled too long, the relay closed it) is replaced
    /// and the message tried once more at once.
    pub async fn attempt(&self, i: usize, m: &Outgoing) -> Result<Answer, DeliveryError> {
        let mut w = self.workers[i % self.workers.len()].lock().await;
        if w.interrupted {
            w.conn = None;
        }
        w.interrupted = true;
        let limit = self.settings.max_messages_per_connection;
        let step = self.settings.timeout;
        if limit > 0 && w.sent >= limit {
            if let Some(mut c) = w.conn.take() {
                let _ = tokio::time::timeout(step, c.quit()).await;
            }
            w.sent = 0;
        }
        if w.last_used.elapsed() > IDLE_CHECK {
            if let Some(c) = w.conn.as_mut() {
                if !tokio::time::timeout(step, c.test_connected())
                    .await
                    .unwrap_or(false)
                {
                    w.conn = None;
                }
            }
        }
        let mut result = self.try_once(&mut w, m).await;
        if let Err(f) = &result {
            if f.is_connection() {
                w.conn = None;
                result = self.try_once(&mut w, m).await;
            }
        }
        w.last_used = std::time::Instant::now();
        w.interrupted = false;
        let s = &self.settings;
        match result {
            Ok(r) => {
                w.sent += 1;
                Ok(Answer::Sent(format!(
                    "{} {}",
                    r.code(),
                    r.message().collect::<Vec<_>>().join(" ")
                )))
            }
            Err(Failure::Smtp(e)) => {
                // The session is left mid-transaction: start afresh, as
                // lettre's own `send` does.
                w.conn = None;
                classify(&e, s)
            }
            Err(Failure::Connect(reason)) => {
                w.conn = None;
                Err(DeliveryError::Unreachable {
                    host: s.host.clone(),
                    port: s.port,
                    reason,
                })
            }
            Err(Failure::TimedOut(step, limit)) => {
                w.conn = None;
                Ok(Answer::Transient(format!(
                    "{}:{} did not answer {step} within {} s",
                    s.host,
                    s.port,
                    limit.as_secs()
                )))
            }
            Err(Failure::AfterData(why)) => {
                w.conn = None;
                Ok(Answer::Unknown(format!(
                    "{}:{} {why} after the end of the message; it may have kept it",
                    s.host, s.port
                )))
            }
            Err(Failure::Setup(e)) => Err(DeliveryError::TlsSetup(e)),
            Err(Failure::AddressUnsupported(e)) => Ok(Answer::Permanent {
                reply: format!("{}:{} {e}", s.host, s.port),
                hard_bounce: false,
            }),
            Err(Failure::Unsupported(what)) => {
                w.conn = None;
                Err(DeliveryError::Unsupported {
                    host: s.host.clone(),
                    port: s.port,
                    what,
                })
            }
        }
    }

    /// One attempt: connecting if needed, then MAIL, RCPT, DATA, the
    /// message and the reply to its final dot, each step within its bound.
    async fn try_once(
        &self,
        w: &mut Worker,
        m: &Outgoing,
    ) -> Result<lettre::transport::smtp::response::Response, Failure> {
        use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
        use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
        if w.conn.is_none() {
            let (conn, watch) = self.connect().await?;
            w.conn = Some(conn);
            w.watch = watch;
            w.sent = 0;
        }
        let conn = w.conn.as_mut().expect("just connected");
        let step = self.settings.timeout;
        // What lettre's `send` does, one step at a time.
        let mut options = Vec::new();
        let non_ascii = m
            .envelope
            .from()
            .is_some_and(|a| !AsRef::<str>::as_ref(a).is_ascii())
            || m.envelope
                .to()
                .iter()
                .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
        if non_ascii {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(Failure::AddressUnsupported(
                    "does not take international addresses (no SMTPUTF8)".into(),
                ));
            }
            options.push(MailParameter::SmtpUtfEight);
        }
        if !m.bytes.is_ascii() {
            if !conn.server_info().supports_feature(Extension::EightBitMime) {
                return Err(Failure::Unsupported(
                    "does not take 8-bit messages (no 8BITMIME)".into(),
                ));
            }
            options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        bounded(
            step,
            "MAIL FROM",
            conn.command(Mail::new(m.envelope.from().cloned(), options)),
        )
        .await?;
        for to in m.envelope.to() {
            bounded(step, "RCPT TO", conn.command(Rcpt::new(to.clone(), vec![]))).await?;
        }
        bounded(step, "DATA", conn.command(Data)).await?;

        // lettre's own writer makes the message transparent (RFC 5321
        // §4.5.2) a byte at a time, a fifth of a send's processor time;
        // where broadsheet made the stream it writes the message as one
        // command instead, doubling leading dots a line at a time, and
        // learns from the stream when it was written.
        let text = simdutf8::basic::from_utf8(&m.bytes).ok();
        if let (Some(watch), Some(text)) = (w.watch.as_deref(), text) {
            let sight = Sight::Stream {
                watch,
                flushed_before: watch.flushes(),
                since: tokio::time::Instant::now(),
            };
            return self.reply(conn.command(Transparent(text)), &sight).await;
        }
        let progress = Progress::new();
        let message = conn.message_iter(Blocks {
            bytes: &m.bytes,
            at: 0,
            progress: &progress,
        });
        self.reply(message, &Sight::Pieces(&progress)).await
    }

    /// Waits for the reply to the final dot while the message is written,
    /// each stretch within its bound: a bound runs from the last progress,
    /// and which bound applies changes once the body is written.
    async fn reply(
        &self,
        message: impl std::future::Future<
            Output = Result<
                lettre::transport::smtp::response::Response,
                lettre::transport::smtp::Error,
            >,
        >,
        sight: &Sight<'_>,
    ) -> Result<lettre::transport::smtp::response::Response, Failure> {
        tokio::pin!(message);
        // Looked at every TICK.
        const TICK: Duration = Duration::from_millis(50);
        let step = self.settings.timeout;
        loop {
            tokio::select! {
                r = &mut message => {
                    return match r {
                        Ok(reply) => Ok(reply),
                        // A refusal of the message is a refusal, whenever it comes.
                        Err(e) if e.is_permanent() || e.is_transient() => Err(Failure::Smtp(e)),
                        Err(e) if sight.body_written() => {
                            Err(Failure::AfterData(format!("lost the connection ({e})")))
                        }
                        Err(e) => Err(Failure::Smtp(e)),
                    };
                }
                () = tokio::time::sleep(TICK) => {
                    let final_reply = sight.body_written();
                    let limit = if final_reply {
                        self.settings.final_reply_timeout
                    } else {
                        step
                    };
                    if tokio::time::Instant::now() < sight.last() + limit {
                        continue;
                    }
                    return Err(if final_reply {
                        Failure::AfterData(format!(
                            "did not answer within {} s",
                            limit.as_secs()
                        ))
                    } else {
                        Failure::TimedOut("while the message was written", limit)
                    });
                }
            }
        }
    }
}

/// The message as DATA carries it, ended by the final dot: a line that
/// begins with a dot gets another (RFC 5321 §4.5.2), exactly where
/// lettre's writer would put one (at the start, and after each CRLF).
struct Transparent<'a>(&'a str);

impl std::fmt::Display for Transparent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0;
        if text.starts_with('.') {
            f.write_str(".")?;
        }
        let mut from = 0;
        for at in memchr::memmem::find_iter(text.as_bytes(), b"\r\n.") {
            // Up to and with the CRLF; the line's own dot starts the next piece.
            f.write_str(&text[from..at + 2])?;
            f.write_str(".")?;
            from = at + 2;
        }
        f.write_str(&text[from..])?;
        f.write_str("\r\n.\r\n")
    }
}

/// How an attempt sees the message being written.
enum Sight<'a> {
    /// By the pieces lettre's writer asks for.
    Pieces(&'a Progress),
    /// By the stream: it is written when the stream is flushed (lettre
    /// flushes after writing a command whole; over STARTTLS the flush
    /// reaches the socket once every byte is encrypted and written).
    Stream {
        watch: &'a Watch,
        flushed_before: u64,
        since: tokio::time::Instant,
    },
}

impl Sight<'_> {
    fn body_written(&self) -> bool {
        match self {
            Sight::Pieces(p) => p.body_written(),
            Sight::Stream {
                watch,
                flushed_before,
                ..
            } => watch.flushes() > *flushed_before,
        }
    }

    fn last(&self) -> tokio::time::Instant {
        match self {
            Sight::Pieces(p) => p.last(),
            Sight::Stream { watch, since, .. } => watch.last_write().max(*since),
        }
    }
}

/// What a connection's stream has done: when it last wrote a byte, and
/// how many flushes it has finished.
#[derive(Debug)]
struct Watch {
    last_write: LastSeen,
    flushes: AtomicU64,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            last_write: LastSeen::new(),
            flushes: AtomicU64::new(0),
        }
    }

    fn last_write(&self) -> tokio::time::Instant {
        self.last_write.get()
    }

    fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }
}

/// The TCP stream to the relay, telling its [`Watch`] what it does.
#[derive(Debug)]
struct Watched {
    inner: tokio::net::TcpStream,
    watch: Arc<Watch>,
}

impl lettre::transport::smtp::client::AsyncTokioStream for Watched {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.peer_addr()
    }
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.last_write.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) {
            self.watch.flushes.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn is_connection_error(e: &lettre::transport::smtp::Error) -> bool {
    !e.is_permanent() && !e.is_transient() && !is_tls(e) && !e.is_timeout() && !e.is_client()
}

/// Whether TLS failed: lettre says so itself for some failures, and for a
/// certificate refused during the handshake reports a connection error
/// whose cause is a `rustls::Error`.
fn is_tls(e: &lettre::transport::smtp::Error) -> bool {
    if e.is_tls() {
        return true;
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if c.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return true;
            }
        }
        cause = c.source();
    }
    false
}

/// What an SMTP error means for the delivery.
fn classify(e: &lettre::transport::smtp::Error, s: &SmtpSettings) -> Result<Answer, DeliveryError> {
    let text = e.to_string();
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    let (host, port) = (s.host.clone(), s.port);
    if e.is_permanent() {
        // Authentication refusals say nothing of the recipient.
        if matches!(code.as_str(), "530" | "534" | "535" | "538") {
            return Err(DeliveryError::Authentication {
                host,
                port,
                reply: text,
            });
        }
        Ok(Answer::Permanent {
            hard_bounce: matches!(code.as_str(), "550" | "551" | "553"),
            reply: text,
        })
    } else if e.is_transient() || e.is_timeout() {
        Ok(Answer::Transient(text))
    } else if is_tls(e) {
        Err(DeliveryError::Tls {
            host,
            port,
            reason: text,
        })
    } else {
        Err(DeliveryError::Unreachable {
            host,
            port,
            reason: text,
        })
    }
}

fn tls_parameters(s: &SmtpSettings) -> Result<TlsParameters, String> {
    let mut b = TlsParameters::builder(s.host.clone());
    if let Some(pem) = &s.extra_root_pem {
        let cert = lettre::transport::smtp::client::Certificate::from_pem(pem)
            .map_err(|e| format!("smtp: cannot read the extra root certificate: {e}"))?;
        b = b.add_root_certificate(cert);
    }
    b.build_rustls()
        .map_err(|e| format!("smtp: TLS setup for {}: {e}", s.host))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Transparency as RFC 5321 §4.5.2 states it and lettre's writer does
    /// it, a byte at a time: a dot at the start of the message or right
    /// after a CRLF is doubled.
    fn byte_at_a_time(text: &str) -> String {
        let mut out = String::new();
        let (mut after_cr, mut line_start) = (false, true);
        for c in text.chars() {
            out.push(c);
            if c == '.' && line_start {
                out.push('.');
            }
            line_start = after_cr && c == '\n';
            after_cr = c == '\r';
        }
        out + "\r\n.\r\n"
    }

    #[test]
    fn a_line_that_begins_with_a_dot_gets_another_exactly_where_lettre_puts_one() {
        for text in [
            "",
            ".",
            "..",
            "a.b",
            ".\r\n.",
            "line\r\n.hidden\r\n",
            "\r\n\r\n.\r\n",
            "bare\n.newline",
            "cr\r.alone",
            "\r\r\n.twice",
            "end with a dot\r\n.",
            "中文。\r\n.點\r\n",
        ] {
            assert_eq!(
                Transparent(text).to_string(),
                byte_at_a_time(text),
                "{text:?}"
            );
        }
        // Every arrangement of the characters that matter, up to six long.
        let alphabet = ['.', '\r', '\n', 'x'];
        let mut texts = vec![String::new()];
        for _ in 0..6 {
            texts = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            for text in &texts {
                assert_eq!(
                    Transparent(text).to_string(),
                    byte_at_a_time(text),
                    "{text:?}"
                );
            }
        }
    }
}
