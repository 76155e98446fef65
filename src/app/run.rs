//! `broadsheet run`: what cron calls. Build, then read the bounce mailbox
//! when `bounces.imap_url` is set, then send the digest when one is due.
//! The build and the send have locks of their own, so a digest that takes
//! an hour to go out, or a relay that is down, never stops the feeds from
//! being published: the next run builds, finds the send still going (or
//! stuck, and says so), and leaves it be. The poll comes before the send,
//! so an address that bounced since the last run is not mailed again; a
//! poll that fails is reported and stops neither the build nor the send.

use super::bounces::PollSummary;
use super::digest::{send_locked, SendOptions, SendSummary};
use super::{BuildOptions, BuildSummary};
use crate::config::Config;
use crate::error::LockError;
use crate::store::{LockHolder, RunLock, Store};
use crate::Error;
use chrono::{DateTime, FixedOffset};

/// What the digest step of a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendStep {
    /// It ran.
    Done(SendSummary),
    /// Another process holds the run lock, sending; this run left it be.
    Busy(LockHolder),
    /// No one is subscribed: nothing is prepared, so a publication that
    /// only publishes feeds needs no digest settings (`server.secret`).
    NoSubscribers,
}

/// What a run did: the build, then the bounce poll and the digest step
/// (or why each failed, after the build had written the feeds).
#[derive(Debug)]
pub struct RunSummary {
    /// The build.
    pub built: BuildSummary,
    /// The bounce mailbox's poll, when `bounces.imap_url` is set.
    pub poll: Option<Result<PollSummary, Error>>,
    /// The digest step.
    pub send: Result<SendStep, Error>,
}

/// [`super::build_with`] under the build lock: two builds at once (cron's
/// and one by hand) could each remove what the other just wrote. A build
/// waits for another to finish, up to `state.busy_timeout_seconds`.
pub fn build_locked(
    config: &Config,
    now: DateTime<FixedOffset>,
    options: BuildOptions,
) -> Result<BuildSummary, Error> {
    let wait = std::time::Duration::from_secs(config.state.busy_timeout_seconds.into());
    let _lock = match Store::lock_build(&config.site.state_path, wait)? {
        Ok(lock) => lock,
        Err(holder) => {
            return Err(LockError::BuildBusy {
                holder: holder.to_string(),
                output: config.display_path(&config.site.output_dir).into_owned(),
                waited_seconds: wait.as_secs(),
            }
            .into())
        }
    };
    super::build_with(config, now, options)
}

/// Takes the run lock, or says who holds it; held longer than
/// `digest.max_send_minutes`, the holder may be stuck, and that is an error
/// cron must hear of.
pub fn take_run_lock(config: &Config) -> Result<Result<RunLock, LockHolder>, Error> {
    if let Some(lock) = Store::try_lock(&config.site.state_path)? {
        return Ok(Ok(lock));
    }
    let holder = Store::lock_holder(&config.site.state_path).unwrap_or_default();
    let bound = std::time::Duration::from_secs(u64::from(config.digest.max_send_minutes) * 60);
    if holder.held_for().is_some_and(|held| held > bound) {
        return Err(LockError::RunStuck {
            state: config.display_path(&config.site.state_path).into_owned(),
            holder: holder.to_string(),
            max_minutes: config.digest.max_send_minutes,
        }
        .into());
    }
    Ok(Err(holder))
}

/// Builds the feeds, keeping going past invalid articles (cron must not
/// stop every column for one typo), polls the bounce mailbox when there
/// is one, then sends the digest if one is due.
pub fn run(
    config: &Config,
    now: DateTime<FixedOffset>,
    build_progress: indicatif::ProgressBar,
    progress: &indicatif::ProgressBar,
) -> Result<RunSummary, Error> {
    let options = BuildOptions {
        keep_going: true,
        progress: build_progress.clone(),
    };
    let built = build_locked(config, now, options);
    build_progress.finish_and_clear();
    let built = built?;
    let poll = config
        .bounces
        .imap
        .is_some()
        .then(|| super::bounces::poll(config, now));
    let send = has_subscribers(config).and_then(|any| match any {
        true => send_step(config, now, progress),
        false => Ok(SendStep::NoSubscribers),
    });
    Ok(RunSummary { built, poll, send })
}

/// Whether anyone is subscribed; a state not made yet holds no one, and
/// is not made here.
fn has_subscribers(config: &Config) -> Result<bool, Error> {
    let location = config.state_location();
    if !location.exists() {
        return Ok(false);
    }
    let counts = Store::connect(&location)?.subscriber_counts()?;
    Ok(counts.get("active").copied().unwrap_or(0) > 0)
}

/// The digest step: send under the run lock, or say who holds it.
fn send_step(
    config: &Config,
    now: DateTime<FixedOffset>,
    progress: &indicatif::ProgressBar,
) -> Result<SendStep, Error> {
    if config.state_location().is_shared() {
        let options = SendOptions {
            keep_going: true,
            ..SendOptions::default()
        };
        return send_locked(config, now, options, progress).map(SendStep::Done);
    }
    match take_run_lock(config)? {
        Err(holder) => Ok(SendStep::Busy(holder)),
        Ok(_lock) => {
            let options = SendOptions {
                keep_going: true,
                ..SendOptions::default()
            };
            send_locked(config, now, options, progress).map(SendStep::Done)
        }
    }
}
