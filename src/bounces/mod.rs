//! Bounces and complaints that arrive after the SMTP session: reading
//! them (delivery status notifications, abuse reports and auto-replies by
//! mail, and the IMAP mailbox they may wait in; sending services'
//! webhooks), matching each to its subscriber, and
//! recording it once with its evidence (`store::bounces` decides what it
//! does to the subscriber).
//!
//! Everything that reads reports turns them into [`Report`]s; one function
//! ([`record`]) matches and records them, whichever way they came.

pub mod classify;
pub mod evidence;
pub mod imap;
pub mod webhooks;

use crate::store::BounceKind;
use chrono::{DateTime, FixedOffset};

/// The most characters of a remote server's words a report keeps.
pub const DIAGNOSTIC_CHARS: usize = 300;

/// A remote server's words as a report keeps them, whichever way they
/// came: on one line, without characters XML refuses (they are shown in
/// `subscribers list` and JSON), at most [`DIAGNOSTIC_CHARS`] characters,
/// cut on a character boundary with `…`.
pub fn diagnostic(text: &str) -> String {
    let line = crate::text::one_line(text);
    match line.char_indices().nth(DIAGNOSTIC_CHARS - 1) {
        Some((end, _)) if line.chars().count() > DIAGNOSTIC_CHARS => {
            format!("{}…", &line[..end])
        }
        _ => line,
    }
}

/// One thing a report says about one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Hard, soft or a complaint (never `Unmatched`: that is what
    /// recording makes of a report that names no one of ours).
    pub kind: BounceKind,
    /// The address the report is about, as it gives it (`Final-Recipient`,
    /// a provider's `email`), when it gives one.
    pub recipient: Option<String>,
    /// The VERP token found in the report (the envelope sender it was sent
    /// to, or a copy of the digest's headers), when there is one.
    pub verp_token: Option<String>,
    /// The enhanced status code (`5.1.1`), or the provider's code; may be
    /// empty.
    pub status_code: String,
    /// The remote server's words, on one line, at most a few hundred
    /// characters; may be empty.
    pub diagnostic: String,
    /// When the report says it happened.
    pub reported_at: Option<DateTime<FixedOffset>>,
    /// What makes this report this report, for recording it once: the
    /// report's Message-ID, the provider's event id (with the recipient,
    /// when one event names several). Empty: the evidence's bytes decide.
    pub event_id: String,
}

use crate::address::Email;
use crate::store::{BouncePolicy, BounceRecorded, NewBounce, Store, StoreError, SubscriberStatus};
use crate::token::Signer;
use sha2::{Digest, Sha256};

/// How much a report's recipient is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The report came by mail, which anyone can send: its recipient
    /// counts only with proof it is about our delivery (a VERP token, or
    /// the delivery's Message-ID, both signed with `server.secret`).
    Mail,
    /// The report came in a request whose signature was verified: the
    /// sending service names the recipient.
    Signed,
}

/// What recording one report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Matched to a subscriber and recorded.
    Matched {
        /// The subscriber.
        subscriber_id: i64,
        /// Their address.
        email: String,
        /// Their new status, when the report changed it.
        became: Option<SubscriberStatus>,
    },
    /// The same report was recorded before: nothing changed.
    Duplicate,
    /// About no subscriber of ours (or not provably so): kept as
    /// `unmatched`, nothing changed.
    Unmatched,
}

/// The subscriber (id, address) a report is about, and the issue.
type Matched = (Option<(i64, String)>, Option<i64>);

/// Everything recording needs besides the report.
#[derive(Debug, Clone, Copy)]
pub struct Recorder<'a> {
    /// Checks VERP tokens and Message-IDs; `None` without `server.secret`.
    pub signer: Option<&'a Signer>,
    /// `[bounces]`.
    pub policy: BouncePolicy,
    /// When it is taken.
    pub now: DateTime<FixedOffset>,
}

/// The source under which reports count as the same: a DSN read from the
/// Maildir and again over IMAP is one report.
fn source_family(source: &str) -> &str {
    match source {
        "mail" | "imap" | "maildir" => "mail",
        other => other,
    }
}

impl Recorder<'_> {
    /// Matches `report` to its subscriber and records it once, with
    /// `evidence`, under `source` (`mail`, `maildir`, `imap`, `ses`, …).
    pub fn record(
        &self,
        store: &mut Store,
        report: &Report,
        source: &str,
        trust: Trust,
        evidence: &[u8],
    ) -> Result<Recorded, StoreError> {
        let (subscriber, issue_id) = self.match_report(store, report, trust, evidence)?;
        let report_key = {
            let mut h = Sha256::new();
            h.update(source_family(source).as_bytes());
            h.update(b"\n");
            if report.event_id.is_empty() {
                h.update(evidence);
            } else {
                h.update(report.event_id.as_bytes());
            }
            if let Some(r) = &report.recipient {
                h.update(b"\n");
                h.update(r.to_lowercase().as_bytes());
            }
            crate::names::hex(&h.finalize())
        };
        let email_key = match (&subscriber, &report.recipient) {
            (Some((_, email)), _) => email.clone(),
            (None, Some(r)) => r.to_lowercase(),
            (None, None) => String::new(),
        };
        let kind = match subscriber {
            Some(_) => report.kind,
            None => crate::store::BounceKind::Unmatched,
        };
        let stored = store.record_bounce(
            &NewBounce {
                report_key: &report_key,
                subscriber_id: subscriber.as_ref().map(|(id, _)| *id),
                email_key: &email_key,
                issue_id,
                kind,
                status_code: &report.status_code,
                diagnostic: &report.diagnostic,
                source,
                reported_at: report.reported_at.unwrap_or(self.now),
                evidence: &evidence::keep(evidence),
            },
            self.policy,
            self.now,
        )?;
        Ok(match (stored, subscriber) {
            (BounceRecorded::Duplicate, _) => Recorded::Duplicate,
            (BounceRecorded::New { .. }, None) => Recorded::Unmatched,
            (BounceRecorded::New { became, .. }, Some((subscriber_id, email))) => {
                Recorded::Matched {
                    subscriber_id,
                    email,
                    became,
                }
            }
        })
    }

    /// The subscriber (id, address) and issue a report is about: by its
    /// VERP token first; then, for a signed webhook, by its recipient; for
    /// mail, by its recipient only when the evidence holds the Message-ID
    /// we sent that subscriber (its signed part), which no one without the
    /// secret can make.
    fn match_report(
        &self,
        store: &Store,
        report: &Report,
        trust: Trust,
        evidence: &[u8],
    ) -> Result<Matched, StoreError> {
        if let (Some(signer), Some(token)) = (self.signer, &report.verp_token) {
            if let Some(claims) = signer.verify_verp(token) {
                let issue = (claims.issue_id > 0).then_some(claims.issue_id);
                return Ok(match store.subscriber_by_id(claims.subscriber_id)? {
                    Some(s) => (Some((s.id, s.email)), issue),
                    None => (None, issue),
                });
            }
        }
        let Some(recipient) = report
            .recipient
            .as_deref()
            .and_then(|r| Email::parse(r).ok())
        else {
            return Ok((None, None));
        };
        let Some(s) = store.subscriber(&recipient)? else {
            return Ok((None, None));
        };
        let proven = match trust {
            Trust::Signed => true,
            Trust::Mail => self.signer.is_some_and(|signer| {
                let id = signer.opaque_id(s.id);
                memchr::memmem::find(evidence, id.as_bytes()).is_some()
            }),
        };
        Ok((proven.then_some((s.id, s.email)), None))
    }
}
