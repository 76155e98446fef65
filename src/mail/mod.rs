//! Messages and transports: [`message`] builds every email (the digest's
//! and the service's alike) from a [`Sender`] and a rendered letter; the
//! transports are SMTP (lettre, async, over a set of connections) or `.eml`
//! files in an outbox folder; and [`deliver`] is the engine that sends an
//! issue's deliveries through one. Each attempt ends in an [`Answer`] the
//! caller records, or in a [`DeliveryError`] when nothing more can be
//! sent; the transport keeps no state of its own.

pub(crate) mod deliver;
pub(crate) mod message;
mod outbox;
mod setup;
mod smtp;
#[cfg(test)]
pub(crate) mod stub;

pub use deliver::DeliveryError;
pub use message::Sender;
pub use smtp::{SmtpSettings, SmtpTransport};

use lettre::address::Envelope;
use std::path::PathBuf;
use std::time::Duration;

/// One message ready to go.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The delivery it belongs to.
    pub delivery_id: i64,
    /// Its recipient.
    pub subscriber_id: i64,
    /// MAIL FROM and RCPT TO.
    pub envelope: Envelope,
    /// The whole message.
    pub bytes: Vec<u8>,
    /// A file name for the outbox (from the Message-ID).
    pub file_name: String,
}

/// The outbox file name for a message: its Message-ID with anything but
/// letters, digits, `.`, `_` and `-` made `_`, and `.eml`.
pub fn outbox_file_name(message_id: &str) -> String {
    let stem: String = message_id
        .trim_matches(['<', '>'])
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{stem}.eml")
}

/// How an attempt at one message ended, when the transport can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Accepted; the server's reply.
    Sent(String),
    /// Refused for now (4xx, dropped connection, timeout before the end of
    /// the message): try later.
    Transient(String),
    /// Refused for good (5xx). `hard_bounce`: the address itself was refused.
    Permanent {
        /// The server's reply.
        reply: String,
        /// Whether the address was refused (550, 551, 553).
        hard_bounce: bool,
    },
    /// The message was sent to its end, then no reply came in time or the
    /// connection was lost: the relay may have kept it. Never retried at
    /// once; recorded as unknown, as a delivery in flight at a crash is.
    Unknown(String),
}

/// How an attempt ended, in one value: an [`Answer`], or the two kinds of
/// [`DeliveryError`] a transport gives, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// Accepted; the server's reply.
    Sent(String),
    /// Refused for now (4xx, dropped connection, timeout): try later.
    Transient(String),
    /// Refused for good (5xx). `hard_bounce`: the address itself was refused.
    Permanent {
        /// The server's reply.
        reply: String,
        /// Whether the address was refused (550, 551, 553).
        hard_bounce: bool,
    },
    /// The server could not be reached (refused, reset, no route): worth
    /// a retry, but if it persists nothing else will get through either.
    Unreachable(String),
    /// The message was sent to its end, then no reply came in time or the
    /// connection was lost: the relay may have kept it. Never retried at
    /// once; recorded as unknown, as a delivery in flight at a crash is.
    Unknown(String),
    /// Nothing can be sent this run (authentication refused, a certificate
    /// that does not verify, no server listening): stop and keep the rest
    /// queued.
    Fatal(String),
}

/// Where messages go.
pub enum Transport {
    /// `.eml` files in a folder, one per message.
    Outbox(PathBuf),
    /// An SMTP relay.
    Smtp(SmtpTransport),
    /// Scripted answers, for tests of what is built on a transport.
    #[cfg(test)]
    Stub(stub::StubTransport),
}

/// The bound on one outbox write: a write blocks its thread, so this only
/// guards what comes around it.
const OUTBOX_LIMIT: Duration = Duration::from_secs(60);

impl Transport {
    /// How many messages may be in flight at once.
    pub fn concurrency(&self) -> usize {
        match self {
            Transport::Outbox(_) => 1,
            Transport::Smtp(s) => s.connections(),
            #[cfg(test)]
            Transport::Stub(s) => s.connections(),
        }
    }

    /// Sends `m` over worker `worker`'s connection.
    pub async fn send(&self, worker: usize, m: &Outgoing) -> SendResult {
        match self.attempt(worker, m).await {
            Ok(Answer::Sent(r)) => SendResult::Sent(r),
            Ok(Answer::Transient(r)) => SendResult::Transient(r),
            Ok(Answer::Permanent { reply, hard_bounce }) => {
                SendResult::Permanent { reply, hard_bounce }
            }
            Ok(Answer::Unknown(r)) => SendResult::Unknown(r),
            Err(e) if e.is_unreachable() => SendResult::Unreachable(e.to_string()),
            Err(e) => SendResult::Fatal(e.to_string()),
        }
    }

    /// Sends `m` over worker `worker`'s connection; an error is one no
    /// other message would get past either.
    pub(crate) async fn attempt(
        &self,
        worker: usize,
        m: &Outgoing,
    ) -> Result<Answer, DeliveryError> {
        match self {
            Transport::Outbox(dir) => outbox::write(dir, &m.file_name, &outbox::file_bytes(m))
                .map(|path| Answer::Sent(format!("written to {}", path.display()))),
            Transport::Smtp(s) => s.attempt(worker, m).await,
            #[cfg(test)]
            Transport::Stub(s) => s.attempt(worker, m).await,
        }
    }

    /// The longest one [`Transport::attempt`] at `m` can take when every
    /// step takes as long as its bound allows: past it, something that has
    /// no bound of its own has hung, and the attempt is given up.
    pub(crate) fn attempt_limit(&self, m: &Outgoing) -> Duration {
        match self {
            Transport::Outbox(_) => OUTBOX_LIMIT,
            Transport::Smtp(s) => s.attempt_limit(m),
            #[cfg(test)]
            Transport::Stub(s) => s.attempt_limit(),
        }
    }
}
