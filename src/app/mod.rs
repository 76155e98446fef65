//! Commands: one file each, wiring config, content and feeds together.
//! They return summaries for the binary to print; they never print.

mod build;
mod check;

pub use build::{build, BuildSummary};
pub use check::{check, CheckSummary};
