//! The error every command returns, and the one place that maps it to an
//! exit code: by the type of what failed, never by the caller's choice.
//!
//! 2 means the user must fix an input (the command line, the
//! configuration, an article, a template, a file to import); 1 means the
//! command ran and something failed underneath it (a write, the relay, the
//! state, a lock held too long, the server).

use crate::config::ConfigError;
use crate::content::ContentErrors;
use crate::diagnostic::Diagnostic;
use crate::feeds::FeedError;
use crate::fsio::FsError;
use crate::mail::DeliveryError;
use crate::server::ServerError;
use crate::store::StoreError;
use crate::templates::TemplateError;
use std::path::PathBuf;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// One or more articles are invalid; every one of them is listed.
    #[error(transparent)]
    Content(#[from] ContentErrors),
    /// A template does not compile or names a field that does not exist.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The command line is wrong.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// A subscriber file could not be imported, or some of its rows were
    /// refused.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// A file or folder could not be read or written.
    #[error(transparent)]
    Io(#[from] FsError),
    /// Standard output could not be written (a reader that stops early,
    /// as `| head` does, is not an error).
    #[error("cannot write to standard output: {0}")]
    Stdout(std::io::Error),
    /// A feed could not be made.
    #[error(transparent)]
    Feeds(#[from] FeedError),
    /// The state database could not be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Some deliveries failed or were deferred, or sending stopped.
    #[error(transparent)]
    Delivery(#[from] DeliveryFailed),
    /// The delivery engine could not go on (the state not written, the
    /// sender not started).
    #[error(transparent)]
    Sending(DeliveryError),
    /// The subscriber service could not start, or stopped.
    #[error(transparent)]
    Serve(#[from] ServerError),
    /// Another process holds a lock this command needs, for too long.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// `status` found something an operator must look at.
    #[error(transparent)]
    Unhealthy(#[from] Unhealthy),
    /// A build that keeps going published everything valid and left the
    /// invalid articles out; every one of them is listed.
    #[error(transparent)]
    LeftOut(LeftOutError),
    /// `new` could not write the article it was asked for.
    #[error(transparent)]
    New(#[from] crate::app::new::NewError),
    /// `preview` could not start.
    #[error(transparent)]
    Preview(#[from] crate::app::live::PreviewError),
    /// `bounces ingest` could not take the message now: the mail server
    /// keeps it and tries again (exit 75, EX_TEMPFAIL of sysexits.h).
    #[error("{0}\nthe message was not taken; the mail server will try again")]
    TryLater(Box<Error>),
    /// The bounce mailbox could not be read (`bounces poll`, and `run`
    /// with `bounces.imap_url` set).
    #[error(transparent)]
    Imap(#[from] crate::bounces::imap::ImapError),
    /// A step of `run` after the build (the bounce poll, the digest)
    /// failed, the feeds written; the exit code is the inner error's.
    #[error(transparent)]
    AfterBuild(Box<Error>),
}

impl Error {
    /// The process exit code for this error: 2 when the user must fix an
    /// input, 1 when the run itself failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_)
            | Error::Content(_)
            | Error::Template(_)
            | Error::Usage(_)
            | Error::Import(_)
            | Error::Feeds(FeedError::Template(_))
            | Error::New(_)
            | Error::Preview(crate::app::live::PreviewError::NotLoopback { .. })
            | Error::Serve(ServerError::Config(_) | ServerError::Template(_)) => 2,
            Error::Io(_)
            | Error::Stdout(_)
            | Error::Feeds(FeedError::Serialize { .. })
            | Error::Delivery(_)
            | Error::Sending(_)
            | Error::Locked(_)
            | Error::Unhealthy(_)
            | Error::LeftOut(_)
            | Error::Preview(
                crate::app::live::PreviewError::Bind { .. }
                | crate::app::live::PreviewError::Runtime { .. },
            )
            | Error::Serve(ServerError::Bind { .. } | ServerError::Runtime { .. }) => 1,
            Error::Store(e) | Error::Serve(ServerError::Store(e)) => match e {
                StoreError::Corrupt { .. }
                | StoreError::Foreign { .. }
                | StoreError::NewerSchema { .. }
                | StoreError::Missing { .. }
                | StoreError::Refused { .. }
                | StoreError::ForeignDatabase { .. }
                | StoreError::Unmigrated { .. }
                | StoreError::NotEmpty { .. } => 2,
                StoreError::Sql { .. }
                | StoreError::Lock { .. }
                | StoreError::Busy { .. }
                | StoreError::Unreachable { .. }
                | StoreError::Timeout { .. }
                | StoreError::Io { .. } => 1,
            },
            Error::Imap(e) => match e.is_setting() {
                true => 2,
                false => 1,
            },
            Error::AfterBuild(inner) => inner.exit_code(),
            Error::TryLater(_) => 75,
        }
    }
}

impl From<DeliveryError> for Error {
    /// A store error stays one, so its kind decides the exit code as
    /// anywhere else.
    fn from(e: DeliveryError) -> Error {
        match e {
            DeliveryError::Store(e) => Error::Store(e),
            e => Error::Sending(e),
        }
    }
}

/// What a build that kept going left out. It ran and published, so the
/// exit code is 1, and cron mails the list until the articles are fixed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LeftOutError(pub crate::feeds::output::LeftOut);

/// The command line names something that is not right.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// An argument's value is not what the command takes.
    #[error("{argument}: {reason}")]
    Argument {
        /// The argument as `--help` names it: `EMAIL`, `--columns`.
        argument: &'static str,
        /// What was expected and what was found.
        reason: String,
    },
    /// `init` was pointed at a file.
    #[error("{}: is a file, not a folder; init writes a new publication into a new or empty folder", dir.display())]
    NotAFolder {
        /// The path given.
        dir: PathBuf,
    },
    /// `init` was pointed at a folder that already holds something.
    #[error("{}: the folder is not empty; init writes only into a new or empty folder, and nothing was written", dir.display())]
    NotEmpty {
        /// The folder.
        dir: PathBuf,
    },
}

impl UsageError {
    /// `argument`'s value is wrong, for `reason`.
    pub fn argument(argument: &'static str) -> impl FnOnce(String) -> UsageError {
        move |reason| UsageError::Argument { argument, reason }
    }
}

/// A subscriber CSV could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read. Exit 2 like the rest of an import:
    /// the file is one the user named on the command line, so it is theirs
    /// to fix, unlike a file broadsheet itself writes (`Error::Io`, exit 1).
    #[error(transparent)]
    Read(FsError),
    /// The file is not a subscriber list (no header, the wrong header).
    #[error(transparent)]
    Shape(Diagnostic),
    /// Some rows were refused (each listed on stderr); the others went in.
    #[error("{refused} row(s) of {} were refused; the others were imported", file.display())]
    Refused {
        /// The file.
        file: PathBuf,
        /// How many rows.
        refused: usize,
    },
}

/// Not every message of an issue went out.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryFailed {
    /// Sending stopped part way: the relay is out of reach, the outbox
    /// cannot be written, or the relay stopped answering.
    #[error("sending stopped: {reason}; what was not sent stays queued for the next run")]
    Stopped {
        /// Why, as the transport said it.
        reason: String,
    },
    /// A message could not be made for one recipient.
    #[error("cannot build the message to {to}: {reason}")]
    Message {
        /// The recipient.
        to: String,
        /// Why.
        reason: String,
    },
    /// Sending finished, but some messages were deferred, refused for good
    /// or have an unknown outcome.
    #[error("{}", incomplete(*deferred, *failed, *unknown, last_deferral.as_deref()))]
    Incomplete {
        /// Deferred this run; the next run tries again.
        deferred: usize,
        /// Refused for good.
        failed: usize,
        /// The relay did not answer the end of the message.
        unknown: usize,
        /// Why the last deferral happened.
        last_deferral: Option<String>,
    },
}

fn incomplete(deferred: usize, failed: usize, unknown: usize, why: Option<&str>) -> String {
    let mut what = match why {
        Some(why) if deferred > 0 => format!(
            "{deferred} deferred (the next run tries again; the last because {why}), {failed} failed"
        ),
        _ => format!("{deferred} deferred (the next run tries again), {failed} failed"),
    };
    if unknown > 0 {
        what.push_str(&format!(
            ", {unknown} unknown (the relay did not answer the end of the message; not sent again unless `digest send --retry-unknown`)"
        ));
    }
    what
}

/// A lock another process holds, for longer than this one may wait.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another build is writing the output.
    #[error("another build, {holder}, is still writing {output}; waited {waited_seconds} s (state.busy_timeout_seconds)")]
    BuildBusy {
        /// Who holds the build lock, as its lock file says.
        holder: String,
        /// The output folder, as the user knows it.
        output: String,
        /// How long this run waited.
        waited_seconds: u64,
    },
    /// The run lock is held longer than a send may take.
    #[error("{state}: the run lock is held by {holder}, longer than digest.max_send_minutes ({max_minutes} min) allows; it may be stuck (if that process is gone or hung, stop it and the next run resumes its issue without sending anything twice)")]
    RunStuck {
        /// The state file, as the user knows it.
        state: String,
        /// Who holds the run lock, as its lock file says.
        holder: String,
        /// `digest.max_send_minutes`.
        max_minutes: u32,
    },
}

/// What `status` found wrong: each problem in a sentence.
#[derive(Debug, thiserror::Error)]
#[error("{}", problems.join("; "))]
pub struct Unhealthy {
    /// The problems.
    pub problems: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_send_says_what_to_do_about_each_kind() {
        let e = DeliveryFailed::Incomplete {
            deferred: 2,
            failed: 1,
            unknown: 1,
            last_deferral: Some("451 busy".into()),
        };
        let text = e.to_string();
        assert!(text.starts_with("2 deferred (the next run tries again; the last because 451 busy), 1 failed, 1 unknown"), "{text}");
        assert_eq!(Error::from(e).exit_code(), 1);
    }

    #[test]
    fn a_failed_write_exits_one_and_a_bad_argument_two() {
        let io = FsError::new(
            std::path::Path::new("feeds"),
            crate::fsio::FsAction::Create,
            std::io::Error::other("read-only file system"),
        );
        assert_eq!(Error::from(io).exit_code(), 1);
        let usage = UsageError::argument("EMAIL")("expected an address".into());
        assert_eq!(usage.to_string(), "EMAIL: expected an address");
        assert_eq!(Error::from(usage).exit_code(), 2);
    }
}
