//! The error every command returns, and the one place that maps it to an
//! exit code.

use crate::config::ConfigError;
use crate::content::ContentErrors;
use crate::digest::render::TemplateError;
use crate::feeds::output::OutputError;
use crate::server::ServerError;
use crate::store::StoreError;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration could not be read or is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// One or more articles are invalid; every one of them is listed.
    #[error(transparent)]
    Content(#[from] ContentErrors),
    /// Writing the output failed part way.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The state database could not be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A template does not compile or names a field that does not exist.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The command line or a file it names is wrong (an address, a column,
    /// a CSV row, a setting a command needs).
    #[error("{0}")]
    Usage(String),
    /// Some deliveries failed or were deferred; the summary says how many.
    #[error("{0}")]
    Delivery(String),
    /// Another process holds a lock this command needs, for too long.
    #[error("{0}")]
    Locked(String),
    /// The subscriber service could not start, or stopped.
    #[error(transparent)]
    Serve(#[from] ServerError),
    /// The digest step of `run` failed after the build had written the
    /// feeds; the exit code is the inner error's.
    #[error(transparent)]
    AfterBuild(Box<Error>),
    /// A feed could not be serialised (a bug rather than bad input).
    #[error("could not write the {format} feed for {feed}: {message}")]
    Serialize {
        /// Which format failed: rss, atom, json or opml.
        format: &'static str,
        /// Which feed: a column slug or `all`.
        feed: String,
        /// What the serialiser said.
        message: String,
    },
}

impl Error {
    /// The process exit code for this error: 2 for bad usage, config,
    /// content or templates (the user must fix an input), 1 when the run
    /// itself failed (a write, a delivery).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Content(_) | Error::Template(_) | Error::Usage(_) => 2,
            Error::Store(e) | Error::Serve(ServerError::Store(e)) => match e {
                StoreError::Corrupt { .. }
                | StoreError::Foreign { .. }
                | StoreError::NewerSchema { .. }
                | StoreError::Missing { .. } => 2,
                StoreError::Sql { .. } | StoreError::Lock { .. } | StoreError::Busy { .. } => 1,
            },
            Error::Output(_) | Error::Serialize { .. } | Error::Delivery(_) | Error::Locked(_) => 1,
            Error::AfterBuild(inner) => inner.exit_code(),
            Error::Serve(ServerError::Config(_) | ServerError::Template(_)) => 2,
            Error::Serve(ServerError::Bind { .. } | ServerError::Runtime { .. }) => 1,
        }
    }
}
