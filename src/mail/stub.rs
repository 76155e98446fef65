//! A transport that answers from a script, for unit tests of the delivery
//! engine (built only with `cfg(test)`): each recipient gets the answers
//! scripted for it, one per attempt, and once they run out every attempt
//! is accepted. It counts attempts and accepted copies per recipient, as
//! lettre's `StubTransport` keeps what it was given.

use super::{Answer, DeliveryError, Outgoing};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// What the stub does with one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// 250: accepted.
    Accept,
    /// 451: refused for now.
    Defer,
    /// 550: the address refused for good.
    Refuse,
    /// The connection lost after the end of the message, before the
    /// final reply: the relay may have kept it.
    Drop,
    /// Never answers: only the caller's bound ends the attempt.
    Hang,
    /// The relay cannot be reached.
    Down,
}

/// Scripted answers per recipient; see the module's documentation.
pub struct StubTransport {
    scripts: Mutex<HashMap<String, VecDeque<Reply>>>,
    attempts: Mutex<HashMap<String, usize>>,
    accepted: Mutex<HashMap<String, usize>>,
    connections: usize,
    limit: Duration,
}

impl StubTransport {
    /// A stub with one connection that accepts everything, and an attempt
    /// bound of 5 s.
    pub(crate) fn new() -> StubTransport {
        StubTransport {
            scripts: Mutex::new(HashMap::new()),
            attempts: Mutex::new(HashMap::new()),
            accepted: Mutex::new(HashMap::new()),
            connections: 1,
            limit: Duration::from_secs(5),
        }
    }

    /// Answers `replies`, in turn, to the attempts at `to`.
    pub(crate) fn script(self, to: &str, replies: impl IntoIterator<Item = Reply>) -> Self {
        self.scripts
            .lock()
            .expect("script lock")
            .entry(to.to_owned())
            .or_default()
            .extend(replies);
        self
    }

    /// The bound the engine puts on each attempt.
    pub(crate) fn with_limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    /// Attempts made at `to`, accepted or not.
    pub(crate) fn attempts(&self, to: &str) -> usize {
        self.attempts
            .lock()
            .expect("count lock")
            .get(to)
            .copied()
            .unwrap_or(0)
    }

    /// Copies of a message to `to` that reached the relay: accepted, or
    /// lost after their end (the relay may have them).
    pub(crate) fn copies(&self, to: &str) -> usize {
        self.accepted
            .lock()
            .expect("count lock")
            .get(to)
            .copied()
            .unwrap_or(0)
    }

    pub(super) fn connections(&self) -> usize {
        self.connections
    }

    pub(super) fn attempt_limit(&self) -> Duration {
        self.limit
    }

    pub(super) async fn attempt(
        &self,
        _worker: usize,
        m: &Outgoing,
    ) -> Result<Answer, DeliveryError> {
        let to = m
            .envelope
            .to()
            .first()
            .map(|a| a.to_string())
            .unwrap_or_default();
        *self
            .attempts
            .lock()
            .expect("count lock")
            .entry(to.clone())
            .or_default() += 1;
        let reply = self
            .scripts
            .lock()
            .expect("script lock")
            .get_mut(&to)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Reply::Accept);
        let reached = || {
            *self
                .accepted
                .lock()
                .expect("count lock")
                .entry(to.clone())
                .or_default() += 1;
        };
        match reply {
            Reply::Accept => {
                reached();
                Ok(Answer::Sent("250 2.0.0 Ok: queued".into()))
            }
            Reply::Defer => Ok(Answer::Transient("451 4.3.0 <stub> try again later".into())),
            Reply::Refuse => Ok(Answer::Permanent {
                reply: format!("550 5.1.1 <{to}>: mailbox unavailable"),
                hard_bounce: true,
            }),
            Reply::Drop => {
                reached();
                Ok(Answer::Unknown(
                    "stub lost the connection after the end of the message; it may have kept it"
                        .into(),
                ))
            }
            Reply::Hang => std::future::pending().await,
            Reply::Down => Err(DeliveryError::Unreachable {
                host: "stub".into(),
                port: 25,
                reason: "Connection refused".into(),
            }),
        }
    }
}
