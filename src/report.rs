//! What each command tells the person who ran it on standard output: one
//! `Display` wrapper per summary that [`app`](crate::app) returns. The
//! binary prints them; nothing here prints, reads the clock or touches a
//! file, so a wording lives in one place and a test can read it as text.
//!
//! Every report writes whole lines, each ending in a newline (none at all
//! when there is nothing to say), so the binary writes it to standard output as it
//! is. Scripts and the tests read these lines: change one only on purpose.

use crate::app::subscribers::ImportSummary;
use crate::app::{BuildSummary, CheckSummary, InitSummary, PreviewSummary, SendSummary};
use crate::config::Config;
use crate::store::{LockHolder, Subscriber, UpsertOutcome};
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
/// columns (`*` for every column), status.
pub struct SubscriberList<'a>(pub &'a [Subscriber]);

impl fmt::Display for SubscriberList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in self.0 {
            let columns = if s.columns.is_empty() {
                "*".to_owned()
            } else {
                s.columns.join(",")
            };
            writeln!(
                f,
                "{}\t{}\t{}\t{}",
                s.email,
                s.name,
                columns,
                s.status.as_str()
            )?;
        }
        Ok(())
    }
}

/// `subscribers list` on a terminal, for a person: a header, the columns
/// aligned by display width (a Chinese name is two columns a character),
/// "every column" for `*`, and a count. Piped, the plain lines of
/// [`SubscriberList`] go out instead, for scripts.
pub struct SubscriberTable<'a>(pub &'a [Subscriber]);

impl fmt::Display for SubscriberTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 4]> = self
            .0
            .iter()
            .map(|s| {
                let columns = match s.columns.is_empty() {
                    true => "every column".to_owned(),
                    false => s.columns.join(", "),
                };
                [
                    s.email.clone(),
                    s.name.clone(),
                    columns,
                    s.status.as_str().to_owned(),
                ]
            })
            .collect();
        let header = ["EMAIL", "NAME", "COLUMNS", "STATUS"].map(str::to_owned);
        let width = |i: usize| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|r| textwrap::core::display_width(&r[i]))
                .max()
                .unwrap_or(0)
        };
        let widths = [width(0), width(1), width(2)];
        for row in std::iter::once(&header).chain(&rows) {
            for (cell, w) in row.iter().zip(widths) {
                let pad = w - textwrap::core::display_width(cell);
                write!(f, "{cell}{:pad$}  ", "")?;
            }
            writeln!(f, "{}", row[3])?;
        }
        writeln!(f, "{}", count(rows.len(), "subscriber", "subscribers"))
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
        use crate::store::SubscriberStatus;
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
        assert_eq!(
            SubscriberList(&list).to_string(),
            "a@example.com\t甲\t*\tactive\nb@example.com\t\tai,city\tbounced\n"
        );
        assert_eq!(SubscriberList(&[]).to_string(), "", "no one: no line");
    }
}
