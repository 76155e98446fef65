//! SMTP delivery with lettre: one connection per worker, so a relay's
//! limit on messages per connection can be kept, and errors classified by
//! asking lettre (`is_permanent`, `is_transient`), never by reading text.

use super::{Outgoing, SendResult};
use crate::config::Security;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
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

struct Worker {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sent: usize,
}

/// Connections to one relay, one per worker.
pub struct SmtpTransport {
    settings: SmtpSettings,
    workers: Vec<Mutex<Worker>>,
}

impl SmtpTransport {
    /// Prepares `settings.connections` connections (opened on first use).
    pub fn new(settings: SmtpSettings) -> Result<SmtpTransport, String> {
        let workers = (0..settings.connections.max(1))
            .map(|_| {
                Ok(Mutex::new(Worker {
                    transport: build(&settings)?,
                    sent: 0,
                }))
            })
            .collect::<Result<_, String>>()?;
        Ok(SmtpTransport { settings, workers })
    }

    /// How many connections.
    pub fn connections(&self) -> usize {
        self.workers.len()
    }

    /// Sends one message over worker `i`'s connection. A connection that
    /// turns out dead (it idled too long, the relay closed it) is replaced
    /// and the message tried once more at once.
    pub async fn send(&self, i: usize, m: &Outgoing) -> SendResult {
        let mut w = self.workers[i % self.workers.len()].lock().await;
        let limit = self.settings.max_messages_per_connection;
        if limit > 0 && w.sent >= limit {
            match build(&self.settings) {
                Ok(t) => w.transport = t,
                Err(e) => return SendResult::Fatal(e),
            }
            w.sent = 0;
        }
        // lettre's own timeout covers connecting; this one covers the whole
        // exchange, the reply to the end of DATA included.
        let limit = self.settings.timeout;
        let timed_out = |w: &mut Worker| {
            if let Ok(t) = build(&self.settings) {
                w.transport = t;
                w.sent = 0;
            }
            SendResult::Transient(format!(
                "{}:{} did not answer within {} s",
                self.settings.host,
                self.settings.port,
                limit.as_secs()
            ))
        };
        let Ok(mut result) =
            tokio::time::timeout(limit, w.transport.send_raw(&m.envelope, &m.bytes)).await
        else {
            return timed_out(&mut w);
        };
        if let Err(e) = &result {
            if is_connection_error(e) {
                match build(&self.settings) {
                    Ok(t) => w.transport = t,
                    Err(e) => return SendResult::Fatal(e),
                }
                w.sent = 0;
                match tokio::time::timeout(limit, w.transport.send_raw(&m.envelope, &m.bytes)).await
                {
                    Ok(r) => result = r,
                    Err(_) => return timed_out(&mut w),
                }
            }
        }
        match result {
            Ok(r) => {
                w.sent += 1;
                SendResult::Sent(format!(
                    "{} {}",
                    r.code(),
                    r.message().collect::<Vec<_>>().join(" ")
                ))
            }
            Err(e) => {
                // The connection may be in any state after an error.
                if !e.is_permanent() && !e.is_transient() {
                    if let Ok(t) = build(&self.settings) {
                        w.transport = t;
                        w.sent = 0;
                    }
                }
                classify(&e, &self.settings)
            }
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

fn build(s: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls_params = || {
        let mut b = TlsParameters::builder(s.host.clone());
        if let Some(pem) = &s.extra_root_pem {
            let cert = lettre::transport::smtp::client::Certificate::from_pem(pem)
                .map_err(|e| format!("smtp: cannot read the extra root certificate: {e}"))?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls()
            .map_err(|e| format!("smtp: TLS setup for {}: {e}", s.host))
    };
    let tls = match s.security {
        Security::None => Tls::None,
        Security::StartTls => Tls::Required(tls_params()?),
        Security::Tls => Tls::Wrapper(tls_params()?),
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone())
        .port(s.port)
        .tls(tls)
        .timeout(Some(s.timeout))
        .pool_config(
            PoolConfig::new()
                .max_size(1)
                .min_idle(0)
                .idle_timeout(Duration::from_secs(60)),
        );
    if let Some((user, pass)) = &s.credentials {
        b = b.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    Ok(b.build())
}
