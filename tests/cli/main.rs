//! Integration tests: the `broadsheet` binary run on fixture publications,
//! its output read back with independent parsers.

mod bad_input;
mod build;
mod digest;
mod exit_codes;
mod hostile;
mod ops;
mod relay;
#[cfg(unix)]
mod serve;
mod smtp;
mod subscribers;
mod util;
