//! What each command tells the person who ran it on standard output: one
//! `Display` wrapper per summary that [`app`](crate::app) returns. The
//! binary prints them; nothing here prints, reads the clock or touches a
//! file, so a wording lives in one place and a test can read it as text.
//!
//! Every report writes whole lines, each ending in a newline (none at all
//! when there is nothing to say), so the binary writes it to standard output as it
//! is. Scripts and the tests read these lines: change one only on purpose.

use crate::app::subscribers::{ImportSummary, Listed, Reason};
use crate::app::{BuildSummary, CheckSummary, InitSummary, PreviewSummary, SendSummary};
use crate::config::Config;
use crate::store::{LockHolder, UpsertOutcome};
use crate::text::count;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `build`, and the build step of `run`: what was read, what the files
/// became, and what a WebSub hub was told. One line of one shape for both,
/// so a script reading cron's mail reads either.
pub struct Built<'a>(
    /// What the build did.
    pub &'a BuildSummary,
    /// How long the command took, up to this report.
    pub Duration,
);

impl fmt::Display for Built<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Built(s, elapsed) = *self;
        write!(
            f,
            "built {}, {} ({}, {} scheduled",
            count(s.columns, "column", "columns"),
            count(s.articles, "article", "articles"),
            count(s.drafts, "draft", "drafts"),
            s.scheduled,
        )?;
        if !s.left_out.is_empty() {
            write!(f, ", {} invalid left out", s.left_out.files())?;
        }
        write!(
            f,
            "): {} written, {} unchanged, {} removed",
            count(s.files.written, "file", "files"),
            s.files.unchanged,
            s.files.removed,
        )?;
        match &s.hub {
            Some(h) if h.failed > 0 => write!(
                f,
                "; hub told of {} changed feeds, {} not",
                h.notified, h.failed
            )?,
            Some(h) => write!(f, "; hub told of {} changed feeds", h.notified)?,
            None => {}
        }
        writeln!(f, " in {:.2} s", elapsed.as_secs_f64())
    }
}

/// `check`: what was read, and that nothing was written.
pub struct Checked<'a>(
    /// What the check read.
    pub &'a CheckSummary,
    /// How long the command took, up to this report.
    pub Duration,
);

impl fmt::Display for Checked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Checked(s, elapsed) = *self;
        writeln!(
            f,
            "ok: {}, {} ({}, {} scheduled) checked in {:.2} s; nothing written",
            count(s.columns, "column", "columns"),
            count(s.articles, "article", "articles"),
            count(s.drafts, "draft", "drafts"),
            s.scheduled,
            elapsed.as_secs_f64()
        )
    }
}

/// `init`: every file written, how to build the new publication, and how
/// to get the templates to edit (`init` writes none).
pub struct Initialised<'a>(pub &'a InitSummary);

impl fmt::Display for Initialised<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        for file in &s.files {
            writeln!(f, "{}", s.dir.join(file).display())?;
        }
        writeln!(
            f,
            "a new publication is in {}: `cd {} && broadsheet build` writes its feeds",
            s.dir.display(),
            s.dir.display()
        )?;
        writeln!(
            f,
            "it uses the built-in templates; `broadsheet templates export` copies them into templates/ to edit"
        )
    }
}

/// `digest preview`: the files written, or why there are none.
pub struct Previewed<'a>(pub &'a PreviewSummary);

impl fmt::Display for Previewed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.0;
        if p.files.is_empty() {
            return writeln!(
                f,
                "digest {}: nothing new for {} ({} in the issue); nothing written",
                p.label,
                p.to,
                count(p.articles, "article", "articles")
            );
        }
        for file in &p.files {
            writeln!(f, "{}", file.display())?;
        }
        Ok(())
    }
}

/// `digest send`, and the digest step of `run`: which issue went out and
/// how each delivery ended, or that another run holds the lock.
pub struct Sent<'a>(
    /// What the send did.
    pub &'a SendSummary,
    /// How long the command took, up to this report.
    pub Duration,
);

impl fmt::Display for Sent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Sent(s, elapsed) = *self;
        if s.locked {
            return writeln!(
                f,
                "another broadsheet run, {}, holds the lock; this one did nothing",
                s.holder
            );
        }
        if let (true, Some(created)) = (s.issues.is_empty(), &s.created) {
            write!(f, "digest {created} (no one had anything new)")?;
        } else if s.issues.is_empty() {
            match s.next_due {
                Some(next) => write!(f, "no digest due; the next is at {}", next.to_rfc3339())?,
                None => f.write_str("no digest due")?,
            }
            // Nothing was attempted, so there is nothing to count but
            // deliveries of earlier issues left unknown.
            if s.unknown > 0 {
                write!(f, "; {} unknown from earlier issues", s.unknown)?;
            }
            return writeln!(f, " ({:.2} s)", elapsed.as_secs_f64());
        } else {
            write!(f, "digest {}", s.issues.join(", "))?;
        }
        writeln!(
            f,
            ": {} sent, {} deferred, {} failed, {} skipped (nothing new), {} unknown in {:.2} s",
            s.sent,
            s.deferred,
            s.failed,
            s.skipped,
            s.unknown,
            elapsed.as_secs_f64()
        )
    }
}

/// Why `run` had no digest step.
pub enum NoDigestStep<'a> {
    /// Another process holds the run lock and is sending.
    Busy {
        /// Who holds it.
        holder: &'a LockHolder,
        /// The state file the lock is on (`site.state_path`).
        state_path: &'a Path,
    },
    /// No one is subscribed, so there is no one to send to.
    NoSubscribers,
}

impl fmt::Display for NoDigestStep<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoDigestStep::Busy { holder, state_path } => writeln!(
                f,
                "no digest step: {holder} holds the run lock on {} and is still sending",
                state_path.display()
            ),
            NoDigestStep::NoSubscribers => {
                writeln!(f, "no digest step: no one is subscribed yet")
            }
        }
    }
}

/// `templates export`: each template written, then each kept.
pub struct TemplatesExported<'a>(
    /// The publication, whose folder the paths are shown relative to.
    pub &'a Config,
    /// The templates written.
    pub &'a [PathBuf],
    /// The templates already there and kept.
    pub &'a [PathBuf],
);

impl fmt::Display for TemplatesExported<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TemplatesExported(config, written, skipped) = *self;
        for p in written {
            writeln!(f, "{}", config.display_path(p))?;
        }
        for p in skipped {
            writeln!(
                f,
                "{}: already there, kept (--force replaces it)",
                config.display_path(p)
            )?;
        }
        Ok(())
    }
}

/// `status` for people (`status --json` is the serialised
/// [`Status`](crate::app::Status) itself).
pub struct StatusText<'a>(pub &'a crate::app::Status);

impl fmt::Display for StatusText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        writeln!(
            f,
            "status at {}: {}",
            s.now,
            if s.healthy { "healthy" } else { "NOT HEALTHY" }
        )?;
        let a = &s.articles;
        writeln!(
            f,
            "articles: {} published, {}, {} scheduled, {} invalid",
            a.published,
            count(a.drafts, "draft", "drafts"),
            a.scheduled,
            a.invalid
        )?;
        for c in &s.columns {
            let newest = c.newest.as_ref().map_or(String::from("none yet"), |n| {
                format!("newest {} {}", n.published, n.title)
            });
            writeln!(
                f,
                "  {:<16} {}: {}",
                c.slug,
                count(c.articles, "article", "articles"),
                newest
            )?;
        }
        match &s.last_build {
            Some(b) => writeln!(f, "last build: {} ({} files)", b.at, b.files)?,
            None => writeln!(f, "last build: none")?,
        }
        let sub = |k: &str| s.subscribers.get(k).copied().unwrap_or(0);
        writeln!(f, "state: {} ({})", s.state.location, s.state.backend)?;
        if s.subscribers.values().all(|&n| n == 0) {
            writeln!(f, "subscribers: no subscribers yet")?;
        } else {
            writeln!(
                f,
                "subscribers: {} active, {} pending, {} unsubscribed, {} bounced",
                sub("active"),
                sub("pending"),
                sub("unsubscribed"),
                sub("bounced")
            )?;
        }
        let b = &s.bounces.last_30_days;
        if b.hard + b.soft + b.complaints > 0 || sub("complained") > 0 {
            writeln!(
                f,
                "bounces, last 30 days: {} hard, {} soft, {} of {} sent; {} complained in all",
                b.hard,
                b.soft,
                count(b.complaints, "complaint", "complaints"),
                b.sent,
                sub("complained")
            )?;
        }
        match &s.last_issue {
            Some(i) => {
                let d = |k: &str| i.deliveries.get(k).copied().unwrap_or(0);
                writeln!(
                    f,
                    "last issue: {} ({}), {}: {} sent, {} deferred, {} failed, {} unknown, {} queued",
                    i.label,
                    i.scheduled,
                    count(i.articles, "article", "articles"),
                    d("sent"),
                    d("deferred"),
                    d("failed"),
                    d("unknown"),
                    d("queued") + d("sending")
                )?;
            }
            None => writeln!(f, "last issue: none")?,
        }
        let n = &s.next_issue;
        // A slot that has passed is not "next": the next run sends it.
        let when = match chrono::DateTime::parse_from_rfc3339(&n.at) {
            Ok(at) if n.due_now => {
                format!("due now (its slot was {})", at.format("%Y-%m-%d %H:%M %:z"))
            }
            _ => format!("{} at {}", n.label, n.at),
        };
        writeln!(
            f,
            "next issue: {when}: {} for {} as things stand",
            count(n.articles, "article", "articles"),
            count(n.subscribers, "subscriber", "subscribers")
        )?;
        for p in &s.problems {
            writeln!(f, "problem: {p}")?;
        }
        Ok(())
    }
}

/// `subscribers add`: what became of the address.
pub struct SubscriberAdded<'a>(
    /// The address as given.
    pub &'a str,
    /// What adding it did.
    pub UpsertOutcome,
);

impl fmt::Display for SubscriberAdded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SubscriberAdded(email, outcome) = *self;
        let said = match outcome {
            UpsertOutcome::Added => "added",
            UpsertOutcome::Updated => "updated",
            UpsertOutcome::Unchanged => "unchanged",
            UpsertOutcome::KeptUnsubscribed => {
                "kept unsubscribed (use --resubscribe to re-activate)"
            }
            UpsertOutcome::KeptComplained => {
                "kept unsubscribed: this address reported the digest as spam, and only its owner's own sign-up can bring it back"
            }
            UpsertOutcome::Resubscribed => "re-activated (--resubscribe): it had unsubscribed or bounced",
        };
        writeln!(f, "{email}: {said}")
    }
}

/// `subscribers import`: the counts, refused rows included (the rows
/// themselves go to standard error).
pub struct SubscribersImported<'a>(
    /// The CSV file, as given.
    pub &'a Path,
    /// What the import did.
    pub &'a ImportSummary,
);

impl fmt::Display for SubscribersImported<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SubscribersImported(file, s) = *self;
        writeln!(
            f,
            "imported {}: {} added, {} updated, {} unchanged, {} kept unsubscribed, {} refused",
            file.display(),
            s.report.added,
            s.report.updated + s.report.resubscribed,
            s.report.unchanged,
            s.report.kept_unsubscribed + s.report.kept_complained,
            s.refused.len()
        )?;
        if s.report.kept_complained > 0 {
            writeln!(
                f,
                "  {} of those kept unsubscribed reported the digest as spam: an import never brings them back",
                s.report.kept_complained
            )?;
        }
        if s.report.resubscribed > 0 {
            writeln!(
                f,
                "  {} of those updated had unsubscribed or bounced, and are active again (--resubscribe)",
                s.report.resubscribed
            )?;
        }
        Ok(())
    }
}

/// `subscribers list`: one subscriber a line, tab-separated: email, name,
/// columns (`*` for every column), status; with `--status bounced` or
/// `complained`, then why: kind, status code, source, when (RFC 3339),
/// the report's id and the diagnostic (empty where there is none).
pub struct SubscriberList<'a>(pub &'a Listed);

impl fmt::Display for SubscriberList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let listed = self.0;
        for (i, s) in listed.subscribers.iter().enumerate() {
            let columns = if s.columns.is_empty() {
                "*".to_owned()
            } else {
                s.columns.join(",")
            };
            write!(
                f,
                "{}\t{}\t{}\t{}",
                s.email,
                s.name,
                columns,
                s.status.as_str()
            )?;
            match listed.reasons.as_ref().map(|r| r[i].as_ref()) {
                None => {}
                Some(None) => write!(f, "\t\t\t\t\t\t")?,
                Some(Some(why)) => write!(
                    f,
                    "\t{}\t{}\t{}\t{}\t{}\t{}",
                    why.kind,
                    why.status_code,
                    why.source,
                    rfc3339(why.at),
                    why.event_id.map(|id| id.to_string()).unwrap_or_default(),
                    why.diagnostic
                )?,
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// A time as every listing gives it: RFC 3339 to the second, with its
/// offset (the site's zone).
fn rfc3339(t: chrono::DateTime<chrono::FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// A reason on one line, for a person: `hard bounce 5.1.1 (mail,
/// 2026-11-30 09:12 +08:00, report 3): 550 5.1.1 user unknown`.
fn reason_text(why: &Reason) -> String {
    let kind = match why.kind {
        "hard" => "hard bounce",
        "soft" => "soft bounces",
        other => other,
    };
    let mut text = kind.to_owned();
    if !why.status_code.is_empty() {
        text.push(' ');
        text.push_str(&why.status_code);
    }
    let source = match why.source.as_str() {
        "smtp" => "refused while sending",
        other => other,
    };
    text.push_str(&format!(
        " ({source}, {}",
        why.at.format("%Y-%m-%d %H:%M %:z")
    ));
    if let Some(id) = why.event_id {
        text.push_str(&format!(", report {id}"));
    }
    text.push(')');
    if !why.diagnostic.is_empty() {
        text.push_str(": ");
        text.push_str(&why.diagnostic);
    }
    text
}

/// `subscribers list` on a terminal, for a person: a header, the columns
/// aligned by display width (a Chinese name is two columns a character),
/// "every column" for `*`, why each bounced or complained one is, and a
/// count. Piped, the plain lines of [`SubscriberList`] go out instead,
/// for scripts.
pub struct SubscriberTable<'a>(pub &'a Listed);

impl fmt::Display for SubscriberTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let listed = self.0;
        let rows: Vec<Vec<String>> = listed
            .subscribers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let columns = match s.columns.is_empty() {
                    true => "every column".to_owned(),
                    false => s.columns.join(", "),
                };
                let mut row = vec![
                    s.email.clone(),
                    s.name.clone(),
                    columns,
                    s.status.as_str().to_owned(),
                ];
                if let Some(reasons) = &listed.reasons {
                    row.push(match &reasons[i] {
                        Some(why) => reason_text(why),
                        None => "no report recorded".to_owned(),
                    });
                }
                row
            })
            .collect();
        let mut header: Vec<String> = ["EMAIL", "NAME", "COLUMNS", "STATUS"]
            .map(str::to_owned)
            .into();
        if listed.reasons.is_some() {
            header.push("WHY".to_owned());
        }
        let last = header.len() - 1;
        let width = |i: usize| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|r| textwrap::core::display_width(&r[i]))
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..last).map(width).collect();
        for row in std::iter::once(&header).chain(&rows) {
            for (cell, w) in row.iter().zip(&widths) {
                let pad = w - textwrap::core::display_width(cell);
                write!(f, "{cell}{:pad$}  ", "")?;
            }
            writeln!(f, "{}", row[last])?;
        }
        writeln!(f, "{}", count(rows.len(), "subscriber", "subscribers"))?;
        if listed
            .reasons
            .iter()
            .flatten()
            .any(|r| r.as_ref().is_some_and(|r| r.event_id.is_some()))
        {
            writeln!(
                f,
                "`broadsheet bounces show ID` prints a report whole, with the message or payload it came in"
            )?;
        }
        Ok(())
    }
}

/// `subscribers remove`: whether there was anyone to remove.
pub struct SubscriberRemoved<'a>(
    /// The address as given.
    pub &'a str,
    /// Whether it was a subscriber (and is now gone).
    pub bool,
);

impl fmt::Display for SubscriberRemoved<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SubscriberRemoved(email, removed) = *self;
        let said = if removed {
            "removed"
        } else {
            "not a subscriber"
        };
        writeln!(f, "{email}: {said}")
    }
}

/// `bounces ingest`: what the message was and what it did.
pub struct Ingested<'a>(pub &'a crate::app::bounces::Taken);

impl fmt::Display for Ingested<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::bounces::Recorded;
        let t = self.0;
        if let Some(why) = t.unknown {
            return writeln!(
                f,
                "taken: not understood ({why}); kept as unmatched, nothing changed"
            );
        }
        if t.recorded.is_empty() {
            return writeln!(f, "taken: {}, not a bounce; nothing changed", t.class);
        }
        for r in &t.recorded {
            match r {
                Recorded::Matched {
                    email,
                    became: Some(s),
                    ..
                } => writeln!(f, "taken: {} for {email}, now {}", t.class, s.as_str())?,
                Recorded::Matched { email, .. } => writeln!(
                    f,
                    "taken: {} for {email}, counted; status unchanged",
                    t.class
                )?,
                Recorded::Duplicate => {
                    writeln!(f, "taken: {} recorded before; nothing changed", t.class)?
                }
                Recorded::Unmatched => writeln!(
                    f,
                    "taken: {} naming no subscriber of ours; kept as unmatched, nothing changed",
                    t.class
                )?,
            }
        }
        Ok(())
    }
}

/// `bounces scan`: counts, and each subscriber whose status changed.
pub struct Scanned<'a>(pub &'a crate::app::bounces::ScanSummary);

impl fmt::Display for Scanned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scanned ")?;
        mail_counts(f, self.0, "left where they were")
    }
}

/// `bounces poll` and `run`'s poll: the mailbox, counts, and each
/// subscriber whose status changed.
pub struct Polled<'a>(
    pub &'a crate::app::bounces::PollSummary,
    pub &'a crate::config::ImapMailbox,
);

impl fmt::Display for Polled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Polled(s, mailbox) = *self;
        write!(
            f,
            "polled {} on {}: ",
            mailbox.mailbox,
            crate::bounces::imap::server_name(mailbox)
        )?;
        mail_counts(f, s, "left unseen")
    }
}

/// The counts of a scan or a poll, and each subscriber whose status changed.
fn mail_counts<L>(
    f: &mut fmt::Formatter<'_>,
    s: &crate::app::bounces::MailSummary<L>,
    left: &str,
) -> fmt::Result {
    writeln!(
        f,
        "{}: {} recorded, {} recorded before, {} naming no subscriber of ours, {} auto-replies or delivery notices, {} not understood ({left})",
        count(s.read, "message", "messages"),
        s.recorded,
        s.duplicates,
        s.unmatched,
        s.ignored,
        s.left.len()
    )?;
    for (email, status) in &s.changed {
        writeln!(f, "  {email}: now {}", status.as_str())?;
    }
    Ok(())
}

/// `bounces show ID`: the report's fields, one a line, then a blank line;
/// the binary writes the evidence's bytes after it, as they were kept.
pub struct BounceShown<'a>(pub &'a crate::app::bounces::Shown);

impl fmt::Display for BounceShown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let crate::app::bounces::Shown {
            event: e,
            subscriber,
            evidence,
        } = self.0;
        let or_none = |s: &str| match s.is_empty() {
            true => "(none)".to_owned(),
            false => s.to_owned(),
        };
        writeln!(f, "report:      {}", e.id)?;
        writeln!(f, "kind:        {}", e.kind.as_str())?;
        writeln!(
            f,
            "did:         {}",
            match (e.became, e.kind) {
                (Some(s), _) => format!("made the subscriber {}", s.as_str()),
                (None, crate::store::BounceKind::Unmatched) =>
                    "nothing: it names no subscriber of ours".to_owned(),
                (None, _) => "counted; it changed no status".to_owned(),
            }
        )?;
        writeln!(f, "status code: {}", or_none(&e.status_code))?;
        writeln!(f, "diagnostic:  {}", or_none(&e.diagnostic))?;
        writeln!(f, "source:      {}", e.source)?;
        writeln!(f, "reported:    {}", rfc3339(e.reported_at))?;
        writeln!(f, "received:    {}", rfc3339(e.received_at))?;
        match (subscriber, e.subscriber_id) {
            (Some(s), _) => writeln!(
                f,
                "subscriber:  {} (id {}, now {})",
                s.email,
                s.id,
                s.status.as_str()
            )?,
            (None, Some(id)) => writeln!(f, "subscriber:  {id}, since removed")?,
            (None, None) => writeln!(f, "subscriber:  (none) {}", or_none(&e.email))?,
        }
        match e.issue_id {
            Some(id) => writeln!(f, "issue:       {id}")?,
            None => writeln!(
                f,
                "issue:       (none: a service email, or no token came back)"
            )?,
        }
        writeln!(
            f,
            "evidence:    {}, as kept:",
            count(evidence.len(), "byte", "bytes")
        )?;
        writeln!(f)
    }
}

/// `bounces list`: one report a line, newest first, tab-separated: id,
/// reported (RFC 3339), kind, status code, source, address, the status it
/// gave (empty: none), diagnostic.
pub struct BounceList<'a>(pub &'a [crate::store::BounceEvent]);

impl fmt::Display for BounceList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in self.0 {
            writeln!(
                f,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                e.id,
                rfc3339(e.reported_at),
                e.kind.as_str(),
                e.status_code,
                e.source,
                e.email,
                e.became.map(|s| s.as_str()).unwrap_or_default(),
                e.diagnostic
            )?;
        }
        Ok(())
    }
}

/// `dns`: the records as a zone-file fragment, then the notes.
pub struct DnsText<'a>(pub &'a crate::app::DnsSummary);

impl fmt::Display for DnsText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.zone_text())?;
        for note in &self.0.notes {
            writeln!(f, "; note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::output::WriteReport;
    use crate::websub::HubReport;

    fn built(hub: Option<HubReport>) -> BuildSummary {
        BuildSummary {
            columns: 1,
            articles: 12,
            drafts: 1,
            scheduled: 0,
            files: WriteReport {
                written: 10,
                changed: Vec::new(),
                unchanged: 3,
                removed: 0,
            },
            up_to_date: false,
            hub,
            left_out: Default::default(),
        }
    }

    #[test]
    fn a_build_line_counts_in_words_and_says_what_the_hub_was_told() {
        let elapsed = Duration::from_millis(1234);
        assert_eq!(
            Built(&built(None), elapsed).to_string(),
            "built 1 column, 12 articles (1 draft, 0 scheduled): 10 files written, 3 unchanged, 0 removed in 1.23 s\n"
        );
        let told = HubReport {
            notified: 6,
            failed: 0,
        };
        assert!(Built(&built(Some(told)), elapsed)
            .to_string()
            .ends_with(" 0 removed; hub told of 6 changed feeds in 1.23 s\n"));
        let refused = HubReport {
            notified: 5,
            failed: 1,
        };
        assert!(Built(&built(Some(refused)), elapsed)
            .to_string()
            .ends_with("; hub told of 5 changed feeds, 1 not in 1.23 s\n"));
        let mut left = built(None);
        left.left_out.problems = vec![crate::diagnostic::Diagnostic::new("content/a/x.md", "bad")];
        assert!(Built(&left, elapsed).to_string().starts_with(
            "built 1 column, 12 articles (1 draft, 0 scheduled, 1 invalid left out): "
        ));
    }

    #[test]
    fn a_send_says_which_issue_went_out_or_when_the_next_is_due() {
        let elapsed = Duration::from_millis(50);
        let next = chrono::DateTime::parse_from_rfc3339("2026-12-07T08:00:00+08:00").unwrap();
        let none_due = SendSummary {
            next_due: Some(next),
            ..SendSummary::default()
        };
        assert_eq!(
            Sent(&none_due, elapsed).to_string(),
            "no digest due; the next is at 2026-12-07T08:00:00+08:00 (0.05 s)\n"
        );
        let two = SendSummary {
            issues: vec!["2026-W48".into(), "2026-W49".into()],
            sent: 3,
            ..SendSummary::default()
        };
        assert!(Sent(&two, elapsed)
            .to_string()
            .starts_with("digest 2026-W48, 2026-W49: 3 sent, "));
        let locked = SendSummary {
            locked: true,
            ..SendSummary::default()
        };
        assert!(Sent(&locked, elapsed)
            .to_string()
            .ends_with("holds the lock; this one did nothing\n"));
    }

    #[test]
    fn the_list_is_one_tab_separated_line_a_subscriber_and_a_star_for_every_column() {
        use crate::store::{Subscriber, SubscriberStatus};
        let list = [
            Subscriber {
                id: 1,
                email: "a@example.com".into(),
                name: "甲".into(),
                columns: Vec::new(),
                status: SubscriberStatus::Active,
            },
            Subscriber {
                id: 2,
                email: "b@example.com".into(),
                name: String::new(),
                columns: vec!["ai".into(), "city".into()],
                status: SubscriberStatus::Bounced,
            },
        ];
        let listed = Listed {
            subscribers: list.to_vec(),
            reasons: None,
        };
        assert_eq!(
            SubscriberList(&listed).to_string(),
            "a@example.com\t甲\t*\tactive\nb@example.com\t\tai,city\tbounced\n"
        );
        let nobody = Listed {
            subscribers: Vec::new(),
            reasons: None,
        };
        assert_eq!(SubscriberList(&nobody).to_string(), "", "no one: no line");
        // Listing the bounced, why comes after the status.
        let bounced = Listed {
            subscribers: list[1..].to_vec(),
            reasons: Some(vec![Some(Reason {
                kind: "hard",
                status_code: "5.1.1".into(),
                source: "maildir".into(),
                at: chrono::DateTime::parse_from_rfc3339("2026-11-30T09:12:00+08:00").unwrap(),
                event_id: Some(3),
                diagnostic: "550 5.1.1 user unknown".into(),
            })]),
        };
        assert_eq!(
            SubscriberList(&bounced).to_string(),
            "b@example.com\t\tai,city\tbounced\thard\t5.1.1\tmaildir\t2026-11-30T09:12:00+08:00\t3\t550 5.1.1 user unknown\n"
        );
        let table = SubscriberTable(&bounced).to_string();
        assert!(
            table.contains(
                "bounced  hard bounce 5.1.1 (maildir, 2026-11-30 09:12 +08:00, report 3): 550 5.1.1 user unknown\n"
            ),
            "{table}"
        );
    }
}
