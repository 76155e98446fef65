//! Commands: one file each, wiring config, content, feeds, digest, mail and
//! store together. They return summaries for the binary to print; they
//! never print.

mod build;
mod check;
pub mod digest;
mod run;
pub mod subscribers;

pub use build::{build, BuildSummary};
pub use check::{check, CheckSummary};
pub use digest::{preview, send, PreviewSummary, SendOptions, SendSummary};
pub use run::{run, RunSummary};
