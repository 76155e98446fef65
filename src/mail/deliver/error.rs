//! What stops a delivery run: the state that cannot be written, or a
//! transport that cannot go on. A refusal of one message is not an error
//! here but that delivery's outcome ([`super::super::Answer`]).

use crate::store::StoreError;
use std::path::PathBuf;

/// Why the delivery engine, or a transport under it, cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The state could not be read, or an issue not closed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Marks or outcomes could not be committed: nothing more is marked,
    /// and what was not marked stays queued.
    #[error("cannot record deliveries in the state: {0}")]
    Record(#[source] StoreError),
    /// The state writer is gone (it failed, and said why in
    /// [`DeliveryError::Record`]).
    #[error("the state writer stopped")]
    StateWriter,
    /// The async runtime the transports run on could not be started.
    #[error("cannot start the sender: {0}")]
    Runtime(#[source] std::io::Error),
    /// A message could not be written to the outbox folder.
    #[error("{}: cannot write: {source}", path.display())]
    Outbox {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No session with the relay could be had: not listening, reset, no
    /// route, or no greeting within the bound.
    #[error("cannot reach {host}:{port}: {reason}")]
    Unreachable {
        /// The relay's host.
        host: String,
        /// Its port.
        port: u16,
        /// What failed.
        reason: String,
    },
    /// The relay refused the login.
    #[error("{host}:{port} refused authentication: {reply}")]
    Authentication {
        /// The relay's host.
        host: String,
        /// Its port.
        port: u16,
        /// Its reply.
        reply: String,
    },
    /// TLS with the relay failed (a certificate that does not verify).
    #[error("TLS with {host}:{port} failed (certificates are verified): {reason}")]
    Tls {
        /// The relay's host.
        host: String,
        /// Its port.
        port: u16,
        /// What failed.
        reason: String,
    },
    /// TLS could not even be set up (a bad extra root certificate).
    #[error("{0}")]
    TlsSetup(String),
    /// The relay lacks an extension every message needs.
    #[error("{host}:{port} {what}")]
    Unsupported {
        /// The relay's host.
        host: String,
        /// Its port.
        port: u16,
        /// What it does not take.
        what: String,
    },
    /// The relay took messages and then did not answer their end, this
    /// many times in a row: it would hold every connection for the whole
    /// final-reply wait, message after message.
    #[error("{last}, {times} times in a row")]
    Unanswered {
        /// What the last such attempt said.
        last: String,
        /// How many in a row.
        times: usize,
    },
}

impl DeliveryError {
    /// Whether the relay was out of reach, as opposed to reached and
    /// unwilling or unable.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, DeliveryError::Unreachable { .. })
    }
}
