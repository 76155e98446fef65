//! Transports: SMTP (lettre, async, over a set of connections) or `.eml`
//! files in an outbox folder. Each attempt ends in a [`SendResult`] the
//! caller records; the transport keeps no state of its own.

mod setup;
mod smtp;

// The fixed parts of every message; made by `Sender::from_config` here.
pub use crate::digest::message::Sender;
pub use smtp::{SmtpSettings, SmtpTransport};

use lettre::address::Envelope;
use std::path::PathBuf;

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

/// How an attempt ended.
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
}

impl Transport {
    /// How many messages may be in flight at once.
    pub fn concurrency(&self) -> usize {
        match self {
            Transport::Outbox(_) => 1,
            Transport::Smtp(s) => s.connections(),
        }
    }

    /// Sends `m` over worker `worker`'s connection.
    pub async fn send(&self, worker: usize, m: &Outgoing) -> SendResult {
        match self {
            Transport::Outbox(dir) => {
                let path = dir.join(&m.file_name);
                match crate::fsio::write_if_changed(&path, &m.bytes) {
                    Ok(_) => SendResult::Sent(format!("written to {}", path.display())),
                    Err(e) => SendResult::Fatal(e.to_string()),
                }
            }
            Transport::Smtp(s) => s.send(worker, m).await,
        }
    }
}
