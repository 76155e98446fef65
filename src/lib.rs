//! broadsheet publishes a newspaper's opinion columns.
//!
//! The pipeline runs one way: [`config`] is read and validated, [`content`]
//! turns Markdown files into a [`content::Catalog`], [`feeds`] turns the
//! catalog into output files, and [`app`] wires the steps into commands.
//! Library code never prints; it returns values and errors, and the binary
//! decides what reaches the terminal and which exit code a failure gets.

pub mod address;
pub mod app;
pub mod backoff;
pub mod bounces;
pub mod calendar;
pub mod config;
pub mod content;
pub mod diagnostic;
pub mod digest;
pub mod feeds;
pub mod fsio;
pub mod mail;
pub mod names;
pub mod report;
pub mod server;
pub mod store;
pub mod templates;
pub mod text;
pub mod token;
pub mod websub;

pub mod error;

pub use error::Error;
