//! Commands: one file each, wiring config, content, feeds, digest, mail and
//! store together. They return summaries for the binary to print; they
//! never print.

mod build;
mod check;
pub mod digest;
pub mod init;
mod run;
mod serve;
pub mod status;
pub mod subscribers;

pub use build::{build, BuildSummary};
pub use check::{check, CheckSummary};
pub use digest::{preview, send, PreviewSummary, SendOptions, SendSummary};
pub use init::{export_templates, init, InitSummary};
pub use run::{build_locked, run, take_run_lock, RunSummary, SendStep};
pub use serve::serve;
pub use status::{status, Status};
