//! `[smtp]`: the relay, or the outbox folder when there is none; how the
//! connection is secured, its bounds, its pace and its retries. A root
//! certificate to trust is read here, at load.

use super::issues::Issues;
use super::raw::RawSmtp;
use super::{Secret, RATE_LIMIT};
use std::fmt;
use std::path::{Path, PathBuf};

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text (loopback relays only).
    None,
    /// Upgrade with STARTTLS.
    StartTls,
    /// TLS from the first byte.
    Tls,
}

/// `[smtp]`.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// Where emails are written when no host is set.
    pub outbox_dir: PathBuf,
    /// The relay; `None` writes to `outbox_dir`.
    pub host: Option<String>,
    /// The relay's port.
    pub port: u16,
    /// How the connection is secured.
    pub security: Security,
    /// AUTH user name; empty: no AUTH.
    pub username: String,
    /// AUTH password.
    pub password: Secret,
    /// Connections in the pool.
    pub max_connections: u32,
    /// Messages per second at most; 0: unlimited.
    pub rate_limit_per_second: f64,
    /// Messages on one connection before it is replaced; 0: no limit.
    pub max_messages_per_connection: usize,
    /// Seconds to wait for the relay at each step.
    pub timeout_seconds: u64,
    /// Seconds to wait for the reply to the final dot of a message.
    pub final_reply_timeout_seconds: u64,
    /// Attempts after the first for a message refused for now, in a run.
    pub retries: u32,
    /// The first wait between attempts; doubled each time, with jitter.
    pub retry_backoff_ms: u64,
    /// A PEM root certificate to trust besides the public ones.
    pub ca_file: Option<CaFile>,
}

/// `smtp.ca_file`, read.
#[derive(Clone)]
pub struct CaFile {
    /// The file.
    pub path: PathBuf,
    /// What it holds: PEM, which the relay's TLS setup parses.
    pub pem: Vec<u8>,
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("bytes", &self.pem.len())
            .finish()
    }
}

/// `[smtp]`, its paths resolved against `root` and the CA file read.
pub(super) fn validate(raw: RawSmtp, root: &Path, issues: &mut Issues) -> Smtp {
    let port = issues.whole("smtp.port", raw.port, 25) as u16;
    let security = match raw.security.as_str() {
        "none" => Security::None,
        "starttls" => Security::StartTls,
        "tls" => Security::Tls,
        other => {
            issues.add(
                "smtp.security",
                format!("expected \"none\", \"starttls\" or \"tls\", found {other:?}"),
            );
            Security::None
        }
    };
    let max_connections = issues.whole("smtp.max_connections", raw.max_connections, 4) as u32;
    let rate = raw.rate_limit_per_second;
    let (low, high) = RATE_LIMIT;
    let rate_limit_per_second = if rate == 0.0 || (low..=high).contains(&rate) {
        rate
    } else {
        issues.add(
            "smtp.rate_limit_per_second",
            format!("expected 0 (unlimited) or a number from {low} to {high}, found {rate}"),
        );
        0.0
    };
    let max_messages_per_connection = issues.whole(
        "smtp.max_messages_per_connection",
        raw.max_messages_per_connection,
        0,
    ) as usize;
    let timeout_seconds = issues.whole("smtp.timeout_seconds", raw.timeout_seconds, 30) as u64;
    let final_reply_timeout_seconds = issues.whole(
        "smtp.final_reply_timeout_seconds",
        raw.final_reply_timeout_seconds,
        600,
    ) as u64;
    let retries = issues.whole("smtp.retries", raw.retries, 3) as u32;
    let retry_backoff_ms = issues.whole("smtp.retry_backoff_ms", raw.retry_backoff_ms, 1000) as u64;
    let ca_file = raw.ca_file.and_then(|f| {
        let path = root.join(f);
        match std::fs::read(&path) {
            Ok(pem) => Some(CaFile { path, pem }),
            Err(e) => {
                issues.add(
                    "smtp.ca_file",
                    format!("cannot read {}: {e}", path.display()),
                );
                None
            }
        }
    });
    Smtp {
        outbox_dir: root.join(&raw.outbox_dir),
        host: raw.host.filter(|h| !h.trim().is_empty()),
        port,
        security,
        username: raw.username,
        password: Secret(raw.password),
        max_connections,
        rate_limit_per_second,
        max_messages_per_connection,
        timeout_seconds,
        final_reply_timeout_seconds,
        retries,
        retry_backoff_ms,
        ca_file,
    }
}
