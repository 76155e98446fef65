//! The `broadsheet` command: parse the command line, run one command, print
//! its summary or its errors, and exit with the code the error decides.

use broadsheet::config::Config;
use broadsheet::{app, Error};
use chrono::{DateTime, FixedOffset, Utc};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Publishes a newspaper's opinion columns as RSS, Atom and JSON feeds.
#[derive(Debug, Parser)]
#[command(name = "broadsheet", version, about, propagate_version = true)]
struct Cli {
    /// The publication's configuration file.
    #[arg(
        long,
        global = true,
        env = "BROADSHEET_CONFIG",
        default_value = "config.toml"
    )]
    config: PathBuf,

    /// Act as if the clock said this (RFC 3339), for backfills and tests.
    #[arg(long, global = true, value_parser = parse_now)]
    now: Option<DateTime<FixedOffset>>,

    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// Say more (-v: each step, -vv: debugging detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read content and write every feed.
    Build,
    /// Validate config and content; write nothing.
    Check,
}

fn parse_now(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-06-15T08:00:00+08:00 ({e})"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.quiet, cli.verbose);
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("error: {line}");
            }
            if matches!(e, Error::Content(_) | Error::Config(_)) {
                eprintln!("error: nothing was written");
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cli: &Cli) -> Result<(), Error> {
    let started = Instant::now();
    let now = cli.now.unwrap_or_else(|| Utc::now().fixed_offset());
    let config = Config::load(&cli.config)?;
    for key in &config.unknown_keys {
        tracing::warn!("{}: unknown key {key} is ignored", cli.config.display());
    }
    match cli.command {
        Command::Build => {
            let s = app::build(&config, now)?;
            if !cli.quiet {
                println!(
                    "built {}, {} ({}, {} scheduled): {} files written, {} unchanged, {} removed in {:.2} s",
                    plural(s.columns, "column"),
                    plural(s.articles, "article"),
                    plural(s.drafts, "draft"),
                    s.scheduled,
                    s.files.written,
                    s.files.unchanged,
                    s.files.removed,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        Command::Check => {
            let s = app::check(&config, now)?;
            if !cli.quiet {
                println!(
                    "ok: {}, {} ({}, {} scheduled) checked in {:.2} s; nothing written",
                    plural(s.columns, "column"),
                    plural(s.articles, "article"),
                    plural(s.drafts, "draft"),
                    s.scheduled,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    Ok(())
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Logs go to stderr: warnings by default, `-v` for info, `-vv` for debug;
/// `BROADSHEET_LOG` (a tracing filter) overrides both.
fn init_tracing(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BROADSHEET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
