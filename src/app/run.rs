//! `broadsheet run`: what cron calls. Build, then send the digest when one
//! is due, all under the run lock so overlapping runs never both act.

use super::digest::{send_locked, SendOptions, SendSummary};
use super::BuildSummary;
use crate::config::Config;
use crate::store::Store;
use crate::Error;
use chrono::{DateTime, FixedOffset};

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunSummary {
    /// Another run holds the lock; this one did nothing.
    Locked,
    /// The build and the send.
    Done(Box<(BuildSummary, SendSummary)>),
}

/// Builds the feeds, then sends the digest if one is due.
pub fn run(
    config: &Config,
    now: DateTime<FixedOffset>,
    progress: &indicatif::ProgressBar,
) -> Result<RunSummary, Error> {
    let Some(_lock) = Store::try_lock(&config.site.state_path)? else {
        return Ok(RunSummary::Locked);
    };
    let built = super::build(config, now)?;
    let sent = send_locked(config, now, SendOptions::default(), progress)?;
    Ok(RunSummary::Done(Box::new((built, sent))))
}
