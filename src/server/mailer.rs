//! Confirmation and preferences emails: built like the digest's messages and
//! sent over the same transport (SMTP or the outbox), from a queue, so a
//! slow relay never holds up a page.

use crate::address::Email;
use crate::digest::message::Sender;
use crate::mail::{Outgoing, SendResult, Transport};
use chrono::{DateTime, FixedOffset};
use lettre::message::header::{ContentTransferEncoding, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Emails waiting to go; past this a request's email is dropped (and
/// logged) rather than letting a flood grow memory without bound.
const QUEUE: usize = 1024;
/// Attempts for an email the relay refuses for now.
const ATTEMPTS: u32 = 4;

/// One email to one address.
pub struct Notice<'a> {
    /// The subscriber it is about (for the logs: never the address).
    pub subscriber_id: i64,
    /// The recipient. No display name: the one typed into the form is not
    /// echoed anywhere, so the form cannot carry a spammer's text.
    pub to: &'a Email,
    /// Subject.
    pub subject: &'a str,
    /// The text part.
    pub text: &'a str,
    /// The HTML part.
    pub html: &'a str,
    /// The Date header.
    pub date: DateTime<FixedOffset>,
    /// What the email is, for its Message-ID: `confirm` or `manage`.
    pub kind: &'a str,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Builds the message.
pub fn build(sender: &Sender, n: &Notice<'_>) -> Result<Outgoing, String> {
    let address = lettre::Address::from_str(n.to.as_str()).map_err(|e| e.to_string())?;
    let domain = sender.from.email.domain().to_owned();
    let message_id = format!(
        "<broadsheet.{}.{}.{}.{}@{domain}>",
        n.kind,
        n.subscriber_id,
        n.date.timestamp(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    );
    let base64 = |s: &str| {
        Body::new_with_encoding(s.to_owned(), ContentTransferEncoding::Base64)
            .expect("base64 can carry any body")
    };
    let mut b = Message::builder()
        .from(sender.from.clone())
        .to(Mailbox::new(None, address.clone()))
        .subject(n.subject)
        .date(std::time::SystemTime::from(n.date))
        .message_id(Some(message_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ));
    if let Some(r) = &sender.reply_to {
        b = b.reply_to(r.clone());
    }
    let mut message = b
        .multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(base64(n.text)))
                .singlepart(SinglePart::html(base64(n.html))),
        )
        .map_err(|e| e.to_string())?;
    if let Some(dkim) = &sender.dkim {
        lettre::message::dkim::dkim_sign(&mut message, dkim);
    }
    let envelope = message.envelope().clone();
    let file_name = crate::mail::outbox_file_name(&message_id);
    Ok(Outgoing {
        delivery_id: 0,
        subscriber_id: n.subscriber_id,
        envelope,
        bytes: message.formatted(),
        file_name,
    })
}

/// The sending end of the queue.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Outgoing>,
    closing: std::sync::Arc<tokio::sync::Notify>,
}

impl Mailer {
    /// Starts the task that sends what is queued. It ends, after sending
    /// everything already queued, on [`Mailer::close`] or once every
    /// [`Mailer`] is dropped.
    pub fn start(transport: Transport) -> (Mailer, tokio::task::JoinHandle<()>) {
        let (queue, mut rx) = mpsc::channel::<Outgoing>(QUEUE);
        let closing = std::sync::Arc::new(tokio::sync::Notify::new());
        let notified = closing.clone();
        let task = tokio::spawn(async move {
            let mut closed = false;
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => send_with_retries(&transport, &m).await,
                        None => break,
                    },
                    () = notified.notified(), if !closed => {
                        // Take nothing new; what is queued still goes.
                        rx.close();
                        closed = true;
                    }
                }
            }
        });
        (Mailer { queue, closing }, task)
    }

    /// Stops taking emails; the task sends what is queued, then ends.
    pub fn close(&self) {
        self.closing.notify_one();
    }

    /// Queues `m`; false when the queue is full.
    pub fn queue(&self, m: Outgoing) -> bool {
        match self.queue.try_send(m) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(
                    subscriber = e.into_inner().subscriber_id,
                    "the email queue is full; an email was dropped"
                );
                false
            }
        }
    }
}

async fn send_with_retries(transport: &Transport, m: &Outgoing) {
    let mut wait = Duration::from_secs(2);
    for attempt in 1..=ATTEMPTS {
        match transport.send(0, m).await {
            SendResult::Sent(_) => {
                tracing::info!(subscriber = m.subscriber_id, file = %m.file_name, "email sent");
                return;
            }
            SendResult::Transient(reply) | SendResult::Unreachable(reply) if attempt < ATTEMPTS => {
                tracing::warn!(
                    subscriber = m.subscriber_id,
                    reply = reply_code(&reply),
                    "email refused for now; trying again"
                );
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            SendResult::Unknown(reply) => {
                // The relay may have it: a second copy would be worse than
                // none, and the reader can ask again.
                tracing::warn!(
                    subscriber = m.subscriber_id,
                    reply = reply_code(&reply),
                    "email outcome unknown; not sent again"
                );
                return;
            }
            SendResult::Transient(reply)
            | SendResult::Unreachable(reply)
            | SendResult::Fatal(reply)
            | SendResult::Permanent { reply, .. } => {
                tracing::error!(
                    subscriber = m.subscriber_id,
                    reply = reply_code(&reply),
                    "email not sent"
                );
                return;
            }
        }
    }
}

/// The start of a server's reply, for the log: relays often repeat the
/// address in the rest, and the log never shows an address.
fn reply_code(reply: &str) -> String {
    reply
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(12)
        .collect()
}
