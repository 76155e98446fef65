//! `bounces ingest` (one message from a mail server's pipe), `bounces
//! scan DIR` (a Maildir), and the IMAP mailbox `run` polls: each message
//! classified (`bounces::classify`), matched and recorded once
//! (`bounces::Recorder`). What is not understood is never lost: a pipe's
//! message is kept as `unmatched`, a Maildir's or a mailbox's stays where
//! it was.

use crate::bounces::classify::{classify, Classified};
use crate::bounces::imap::Mailbox;
use crate::bounces::{Recorded, Recorder, Trust};
use crate::config::Config;
use crate::store::{BounceEvent, Store, SubscriberStatus};
use crate::token::Signer;
use crate::Error;
use chrono::{DateTime, FixedOffset};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The most bytes of one message read: a bounce carrying back a huge
/// attachment is read this far, which holds every report part before it.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// What one message was, and what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// What the classifier made of it.
    pub class: &'static str,
    /// Why it was not understood, when it was not.
    pub unknown: Option<&'static str>,
    /// Each report it carried, as recorded.
    pub recorded: Vec<Recorded>,
}

impl Taken {
    /// Whether the message was understood (a report, an auto-reply, a
    /// delivery notice): a Maildir's or mailbox's message is then done
    /// with.
    pub fn understood(&self) -> bool {
        self.unknown.is_none()
    }

    /// Subscribers whose status it changed, with the new status.
    pub fn changed(&self) -> impl Iterator<Item = (&str, SubscriberStatus)> {
        self.recorded.iter().filter_map(|r| match r {
            Recorded::Matched {
                email,
                became: Some(s),
                ..
            } => Some((email.as_str(), *s)),
            _ => None,
        })
    }
}

/// What recording needs from the config.
pub(crate) fn recorder<'a>(
    config: &Config,
    signer: Option<&'a Signer>,
    now: DateTime<FixedOffset>,
) -> Recorder<'a> {
    Recorder {
        signer,
        policy: config.bounces.policy,
        now,
    }
}

/// The signer of VERP tokens and Message-IDs, when there is a secret.
pub(crate) fn signer(config: &Config) -> Option<Signer> {
    let secret = config.server.secret.expose();
    (!secret.is_empty()).then(|| Signer::new(secret))
}

/// Classifies and records one message. `keep_unknown`: a message not
/// understood is kept as an `unmatched` report (a pipe cannot leave it
/// anywhere else).
pub(crate) fn take(
    store: &mut Store,
    recorder: &Recorder<'_>,
    raw: &[u8],
    source: &str,
    keep_unknown: bool,
) -> Result<Taken, crate::store::StoreError> {
    let classified = classify(raw);
    let class = classified.label();
    let mut taken = Taken {
        class,
        unknown: None,
        recorded: Vec::new(),
    };
    match classified {
        Classified::Reports(reports) => {
            for report in &reports {
                let r = recorder.record(store, report, source, Trust::Mail, raw)?;
                log_recorded(&r, report, source);
                taken.recorded.push(r);
            }
        }
        Classified::AutoReply | Classified::Delivered => {
            tracing::info!(source, "{class}: not a bounce, nothing changed");
        }
        Classified::Unknown(why) => {
            // Said by the caller, which can name the message (its file,
            // its UID, or the standard input).
            taken.unknown = Some(why);
            if keep_unknown {
                let report = crate::bounces::Report {
                    kind: crate::store::BounceKind::Unmatched,
                    recipient: None,
                    verp_token: None,
                    status_code: String::new(),
                    diagnostic: why.to_owned(),
                    reported_at: None,
                    event_id: String::new(),
                };
                taken
                    .recorded
                    .push(recorder.record(store, &report, source, Trust::Mail, raw)?);
            }
        }
    }
    Ok(taken)
}

fn log_recorded(r: &Recorded, report: &crate::bounces::Report, source: &str) {
    let kind = report.kind.as_str();
    match r {
        Recorded::Matched {
            subscriber_id,
            became,
            ..
        } => tracing::info!(
            source,
            subscriber = subscriber_id,
            kind,
            status = report.status_code.as_str(),
            "{}",
            match became {
                Some(s) => format!("recorded; the subscriber is now {}", s.as_str()),
                None => "recorded; the subscriber's status is unchanged".to_owned(),
            }
        ),
        Recorded::Duplicate => {
            tracing::info!(source, kind, "recorded before: nothing changed")
        }
        Recorded::Unmatched => tracing::warn!(
            source,
            kind,
            "names no subscriber of ours (no valid VERP token or Message-ID): kept as unmatched, nothing changed"
        ),
    }
}

/// `bounces ingest`: one message, read from `input`.
pub fn ingest(
    config: &Config,
    input: &mut dyn std::io::Read,
    now: DateTime<FixedOffset>,
) -> Result<Taken, Error> {
    let mut raw = Vec::new();
    input
        .take(MAX_MESSAGE_BYTES as u64)
        .read_to_end(&mut raw)
        .map_err(|e| {
            Error::Io(crate::fsio::FsError::new(
                Path::new("standard input"),
                crate::fsio::FsAction::Read,
                e,
            ))
        })?;
    let signer = signer(config);
    let recorder = recorder(config, signer.as_ref(), now);
    let mut store = Store::connect(&config.state_location())?;
    let taken = take(&mut store, &recorder, &raw, "mail", true)?;
    if let Some(why) = taken.unknown {
        tracing::warn!(
            "standard input: not understood ({why}); kept as unmatched, nothing changed"
        );
    }
    Ok(taken)
}

/// What reading a Maildir or a mailbox did. `L` is how a message left
/// alone is named: its path in a Maildir, its UID in a mailbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailSummary<L> {
    /// Messages read.
    pub read: usize,
    /// Reports recorded (new ones).
    pub recorded: usize,
    /// Reports recorded before.
    pub duplicates: usize,
    /// Reports naming no subscriber of ours.
    pub unmatched: usize,
    /// Auto-replies and delivery notices: done with, nothing recorded.
    pub ignored: usize,
    /// Messages not understood, left where they were (unseen), with why.
    pub left: Vec<(L, &'static str)>,
    /// Subscribers whose status changed, with the new one.
    pub changed: Vec<(String, SubscriberStatus)>,
}

/// What `bounces scan` did.
pub type ScanSummary = MailSummary<PathBuf>;

/// What `bounces poll` (and `run`'s poll) did: messages left alone are
/// named by their UID.
pub type PollSummary = MailSummary<u32>;

impl<L> MailSummary<L> {
    /// Counts a message read, and what it did; one not understood is
    /// left, as `at`.
    fn count(&mut self, taken: &Taken, at: L) {
        self.read += 1;
        if let Some(why) = taken.unknown {
            self.left.push((at, why));
            return;
        }
        if taken.recorded.is_empty() {
            self.ignored += 1;
        }
        for r in &taken.recorded {
            match r {
                Recorded::Matched { .. } => self.recorded += 1,
                Recorded::Duplicate => self.duplicates += 1,
                Recorded::Unmatched => self.unmatched += 1,
            }
        }
        self.changed
            .extend(taken.changed().map(|(e, s)| (e.to_owned(), s)));
    }
}

/// `bounces scan DIR`: every message in the Maildir's `new/` (and those
/// in `cur/` not yet flagged seen, as a mail client may leave them), in
/// name order. A message handled moves to `cur/` with the Seen flag (on
/// the same file system, by rename, so a crash leaves it in one place or
/// the other, and a second scan records nothing twice); one not
/// understood stays where it was.
pub fn scan(config: &Config, dir: &Path, now: DateTime<FixedOffset>) -> Result<ScanSummary, Error> {
    let fs = |action, path: &Path| {
        let path = path.to_owned();
        move |e| Error::Io(crate::fsio::FsError::new(&path, action, e))
    };
    use crate::fsio::FsAction;
    let new = dir.join("new");
    let cur = dir.join("cur");
    for sub in [&new, &cur] {
        if !sub.is_dir() {
            return Err(crate::error::UsageError::argument("DIR")(format!(
                "{} is not a Maildir: it has no {} folder",
                dir.display(),
                sub.file_name().and_then(|n| n.to_str()).unwrap_or("")
            ))
            .into());
        }
    }
    let mut files = Vec::new();
    for (sub, in_cur) in [(&new, false), (&cur, true)] {
        for entry in std::fs::read_dir(sub).map_err(fs(FsAction::Read, sub))? {
            let entry = entry.map_err(fs(FsAction::Read, sub))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Dot files are a Maildir's own; in cur/, what is flagged
            // seen was handled (by us or a reader).
            if name.starts_with('.') || (in_cur && seen(&name)) {
                continue;
            }
            if entry
                .file_type()
                .map_err(fs(FsAction::Read, sub))?
                .is_file()
            {
                files.push((entry.path(), name, in_cur));
            }
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let signer = signer(config);
    let recorder = recorder(config, signer.as_ref(), now);
    let mut store = Store::connect(&config.state_location())?;
    let mut summary = ScanSummary::default();
    for (path, name, in_cur) in files {
        let mut raw = Vec::new();
        let read = std::fs::File::open(&path)
            .and_then(|f| f.take(MAX_MESSAGE_BYTES as u64).read_to_end(&mut raw));
        if let Err(e) = read {
            // Another reader took it meanwhile: not ours to worry about.
            if e.kind() == std::io::ErrorKind::NotFound {
                continue;
            }
            return Err(fs(FsAction::Read, &path)(e));
        }
        let taken = take(&mut store, &recorder, &raw, "maildir", false)?;
        let understood = taken.understood();
        summary.count(&taken, path.clone());
        if understood {
            let target = cur.join(with_seen_flag(&name, in_cur));
            std::fs::rename(&path, &target).map_err(fs(FsAction::Write, &target))?;
        }
    }
    Ok(summary)
}

/// How many messages one `UID FETCH` asks for: few round trips, and a
/// bounded share of work to fetch again should the connection break.
const FETCH_BATCH: usize = 50;

/// `bounces poll`, and `run` when `bounces.imap_url` is set: every
/// message of the mailbox not flagged seen, lowest UID first, fetched
/// without flagging it (`BODY.PEEK[]`), read as far as
/// [`MAX_MESSAGE_BYTES`]. Each message handled is flagged `\Seen` once its
/// batch is recorded, so the next poll passes it by; one not understood
/// stays unseen. Nothing is deleted, moved or expunged.
///
/// Each report is recorded in its own transaction, once by its key: a
/// connection that breaks part way leaves what was recorded recorded,
/// and the next poll, fetching those messages again, records nothing
/// twice.
pub fn poll(config: &Config, now: DateTime<FixedOffset>) -> Result<PollSummary, Error> {
    let Some(settings) = &config.bounces.imap else {
        return Err(crate::config::ConfigError::invalid(
            &config.path,
            "bounces.imap_url",
            "expected the mailbox to poll, such as \"imaps://bounces@mail.example.com/INBOX\"; it is not set",
        )
        .into());
    };
    let signer = signer(config);
    let recorder = recorder(config, signer.as_ref(), now);
    // The state first: one that cannot be opened fails the poll before
    // anything is asked of the server.
    let mut store = Store::connect(&config.state_location())?;
    let mut mailbox = Mailbox::open(settings)?;
    let mut summary = PollSummary::default();
    for batch in mailbox.unseen()?.chunks(FETCH_BATCH) {
        let mut handled = Vec::new();
        let mut fetching = mailbox.fetch(batch, MAX_MESSAGE_BYTES)?;
        while let Some(message) = fetching.next_message()? {
            let taken = take(&mut store, &recorder, &message.raw, "imap", false)?;
            if taken.understood() {
                handled.push(message.uid);
            }
            summary.count(&taken, message.uid);
        }
        mailbox.mark_seen(&handled)?;
    }
    mailbox.logout()?;
    Ok(summary)
}

/// What `bounces show ID` prints: one report whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The report, its times in `site.timezone`.
    pub event: BounceEvent,
    /// Its subscriber as they are now, when it names one still there.
    pub subscriber: Option<crate::store::Subscriber>,
    /// The message or payload, as kept.
    pub evidence: Vec<u8>,
}

/// The report's times in `tz`, as every command shows times.
fn local(mut event: BounceEvent, tz: chrono_tz::Tz) -> BounceEvent {
    event.reported_at = event.reported_at.with_timezone(&tz).fixed_offset();
    event.received_at = event.received_at.with_timezone(&tz).fixed_offset();
    event
}

/// `bounces show ID`.
pub fn show(config: &Config, id: i64) -> Result<Shown, Error> {
    let none = || {
        crate::error::UsageError::argument("ID")(format!(
            "no bounce or complaint report {id} in the state; `broadsheet bounces list` names them"
        ))
    };
    if !config.state_location().exists() {
        return Err(none().into());
    }
    let store = Store::connect_snapshot(&config.state_location())?;
    let event = store.bounce_event(id)?.ok_or_else(none)?;
    let subscriber = match event.subscriber_id {
        Some(s) => store.subscriber_by_id(s)?,
        None => None,
    };
    let evidence = store.bounce_evidence(id)?.unwrap_or_default();
    Ok(Shown {
        event: local(event, config.site.timezone),
        subscriber,
        evidence,
    })
}

/// `bounces list [--email E] [--limit N]`: the latest reports, newest
/// first.
pub fn list(config: &Config, email: Option<&str>, limit: usize) -> Result<Vec<BounceEvent>, Error> {
    let email = email
        .map(crate::address::Email::parse)
        .transpose()
        .map_err(crate::error::UsageError::argument("--email"))?;
    // Listing makes no state: with none yet, there is no report.
    if !config.state_location().exists() {
        return Ok(Vec::new());
    }
    let store = Store::connect_snapshot(&config.state_location())?;
    Ok(store
        .recent_bounce_events(email.as_ref(), limit)?
        .into_iter()
        .map(|e| local(e, config.site.timezone))
        .collect())
}

/// Whether a Maildir name in `cur/` carries the Seen flag (`:2,…S…`).
fn seen(name: &str) -> bool {
    name.rsplit_once(":2,")
        .is_some_and(|(_, flags)| flags.contains('S'))
}

/// The name in `cur/`: the unique part, then `:2,` and the flags, with
/// `S` added in order (flags are kept sorted, as the Maildir format asks).
fn with_seen_flag(name: &str, in_cur: bool) -> String {
    match name.rsplit_once(":2,") {
        Some((base, flags)) if in_cur || !flags.is_empty() => {
            let mut f: Vec<char> = flags.chars().filter(|c| *c != 'S').collect();
            f.push('S');
            f.sort_unstable();
            format!("{base}:2,{}", f.into_iter().collect::<String>())
        }
        Some((base, _)) => format!("{base}:2,S"),
        None => format!("{name}:2,S"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seen_flag_is_added_in_order_once() {
        assert_eq!(
            with_seen_flag("1700.M1P2.host", false),
            "1700.M1P2.host:2,S"
        );
        assert_eq!(
            with_seen_flag("1700.M1P2.host:2,", true),
            "1700.M1P2.host:2,S"
        );
        assert_eq!(
            with_seen_flag("1700.M1P2.host:2,FR", true),
            "1700.M1P2.host:2,FRS"
        );
        assert_eq!(
            with_seen_flag("1700.M1P2.host:2,T", true),
            "1700.M1P2.host:2,ST"
        );
        assert!(seen("x:2,FS") && !seen("x:2,F") && !seen("x"));
    }
}
