//! SMTP delivery with lettre's async connection: one connection per
//! worker, so a relay's limit on messages per connection can be kept, and
//! errors classified by asking lettre (`is_permanent`, `is_transient`),
//! never by reading text.

use super::{Outgoing, SendResult};
use crate::config::Security;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
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
    /// Per-command timeout.
    pub timeout: Duration,
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
    /// No answer in time.
    TimedOut,
    /// TLS could not even be set up.
    Setup(String),
}

impl Failure {
    /// Whether a fresh connection might do better at once.
    fn is_connection(&self) -> bool {
        match self {
            Failure::Smtp(e) => is_connection_error(e),
            Failure::Connect(_) => true,
            Failure::TimedOut | Failure::Setup(_) => false,
        }
    }
}

/// One worker's connection, opened on first use.
struct Worker {
    conn: Option<AsyncSmtpConnection>,
    sent: usize,
    last_used: std::time::Instant,
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
                    sent: 0,
                    last_used: std::time::Instant::now(),
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
    /// TLS, then AUTH, as configured.
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let s = &self.settings;
        if s.security == Security::Tls {
            let params = tls_parameters(s).map_err(Failure::Setup)?;
            let mut conn = AsyncSmtpConnection::connect_tokio1(
                (s.host.as_str(), s.port),
                Some(s.timeout),
                &self.hello,
                Some(params),
                None,
            )
            .await
            .map_err(Failure::Smtp)?;
            self.authenticate(&mut conn).await?;
            return Ok(conn);
        }
        let stream = tokio::net::TcpStream::connect((s.host.as_str(), s.port))
            .await
            .map_err(|e| Failure::Connect(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let mut conn = AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
            .await
            .map_err(Failure::Smtp)?;
        if s.security == Security::StartTls {
            let params = tls_parameters(s).map_err(Failure::Setup)?;
            conn.starttls(params, &self.hello)
                .await
                .map_err(Failure::Smtp)?;
        }
        self.authenticate(&mut conn).await?;
        Ok(conn)
    }

    async fn authenticate(&self, conn: &mut AsyncSmtpConnection) -> Result<(), Failure> {
        if let Some((user, pass)) = &self.settings.credentials {
            let credentials = Credentials::new(user.clone(), pass.clone());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(Failure::Smtp)?;
        }
        Ok(())
    }

    /// Sends one message over worker `i`'s connection. A connection that
    /// turns out dead (it idled too long, the relay closed it) is replaced
    /// and the message tried once more at once.
    pub async fn send(&self, i: usize, m: &Outgoing) -> SendResult {
        let mut w = self.workers[i % self.workers.len()].lock().await;
        let limit = self.settings.max_messages_per_connection;
        if limit > 0 && w.sent >= limit {
            if let Some(mut c) = w.conn.take() {
                let _ = c.quit().await;
            }
            w.sent = 0;
        }
        if w.last_used.elapsed() > IDLE_CHECK {
            if let Some(c) = w.conn.as_mut() {
                if !c.test_connected().await {
                    w.conn = None;
                }
            }
        }
        let mut result = self.attempt(&mut w, m).await;
        if let Err(f) = &result {
            if f.is_connection() {
                w.conn = None;
                result = self.attempt(&mut w, m).await;
            }
        }
        w.last_used = std::time::Instant::now();
        let s = &self.settings;
        match result {
            Ok(r) => {
                w.sent += 1;
                SendResult::Sent(format!(
                    "{} {}",
                    r.code(),
                    r.message().collect::<Vec<_>>().join(" ")
                ))
            }
            Err(Failure::Smtp(e)) => {
                // A refusal leaves the connection usable; anything else may
                // have left it in any state.
                if !e.is_permanent() && !e.is_transient() {
                    w.conn = None;
                }
                classify(&e, s)
            }
            Err(Failure::Connect(e)) => {
                w.conn = None;
                SendResult::Unreachable(format!("cannot reach {}:{}: {e}", s.host, s.port))
            }
            Err(Failure::TimedOut) => {
                w.conn = None;
                SendResult::Transient(format!(
                    "{}:{} did not answer within {} s",
                    s.host,
                    s.port,
                    s.timeout.as_secs()
                ))
            }
            Err(Failure::Setup(e)) => SendResult::Fatal(e),
        }
    }

    /// One attempt, bounded by the timeout as a whole: connecting if
    /// needed, and the whole exchange up to the reply to the end of DATA.
    async fn attempt(
        &self,
        w: &mut Worker,
        m: &Outgoing,
    ) -> Result<lettre::transport::smtp::response::Response, Failure> {
        let exchange = async {
            if w.conn.is_none() {
                w.conn = Some(self.connect().await?);
                w.sent = 0;
            }
            let conn = w.conn.as_mut().expect("just connected");
            conn.send(&m.envelope, &m.bytes)
                .await
                .map_err(Failure::Smtp)
        };
        match tokio::time::timeout(self.settings.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(Failure::TimedOut),
        }
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
fn classify(e: &lettre::transport::smtp::Error, s: &SmtpSettings) -> SendResult {
    let text = e.to_string();
    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
    if e.is_permanent() {
        // Authentication refusals say nothing of the recipient.
        if matches!(code.as_str(), "530" | "534" | "535" | "538") {
            return SendResult::Fatal(format!(
                "{}:{} refused authentication: {text}",
                s.host, s.port
            ));
        }
        SendResult::Permanent {
            hard_bounce: matches!(code.as_str(), "550" | "551" | "553"),
            reply: text,
        }
    } else if e.is_transient() || e.is_timeout() {
        SendResult::Transient(text)
    } else if is_tls(e) {
        SendResult::Fatal(format!(
            "TLS with {}:{} failed (certificates are verified): {text}",
            s.host, s.port
        ))
    } else {
        SendResult::Unreachable(format!("cannot reach {}:{}: {text}", s.host, s.port))
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
