//! Commands: one file each, wiring config, content, feeds, digest, mail and
//! store together. They return summaries for the binary to print; they
//! never print.

pub mod bounces;
mod build;
mod check;
pub mod digest;
mod dns;
pub mod init;
mod issue;
mod last_good;
pub mod live;
pub mod new;
mod preview;
mod run;
mod serve;
pub mod state;
pub mod status;
pub mod subscribers;

pub use build::{build, build_with, BuildOptions, BuildSummary};
pub use check::{check, CheckSummary};
pub use digest::{send, SendOptions, SendSummary};
pub use dns::{alignment_warnings, dns, DnsRecord, DnsSummary};
pub use init::{export_templates, init, InitSummary};
pub use live::{preview as preview_site, PreviewOptions, Rebuilt};
pub use new::{new_article, NewArticle};
pub use preview::{preview, PreviewSummary};
pub use run::{build_locked, run, take_run_lock, RunSummary, SendStep};
pub use serve::serve;
pub use status::{status, Status};

use crate::config::Config;
use std::path::Path;

/// Reads the publication's config, sets the state's busy wait from it, and
/// warns of what in it is ignored.
pub fn load_config(path: &Path) -> Result<Config, crate::Error> {
    let config = Config::load(path)?;
    crate::store::set_timeouts(
        std::time::Duration::from_secs(config.state.busy_timeout_seconds.into()),
        std::time::Duration::from_secs(config.state.statement_timeout_seconds.into()),
    );
    for key in &config.unknown_keys {
        match crate::config::closest_key(key) {
            Some(meant) => tracing::warn!(
                "{}: unknown key {key} is ignored; did you mean `{meant}`?",
                path.display()
            ),
            None => tracing::warn!("{}: unknown key {key} is ignored", path.display()),
        }
    }
    for w in &config.warnings {
        tracing::warn!("{}: {w}", path.display());
    }
    Ok(config)
}
