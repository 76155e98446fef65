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

    /// How log lines on stderr look: `text` for people, `json` (one
    /// object a line) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read content and write every feed.
    Build,
    /// Validate config, content and templates; write nothing.
    Check,
    /// Manage subscribers.
    #[command(subcommand)]
    Subscribers(SubscribersCommand),
    /// Preview or send the weekly digest.
    #[command(subcommand)]
    Digest(DigestCommand),
    /// What cron calls: build, then send the digest when it is due.
    Run,
    /// The subscriber-facing web service: sign-up with double opt-in,
    /// one-click unsubscribe, preferences, and the feeds over HTTP.
    Serve,
    /// Start a new publication in DIR (default: here), which must be empty
    /// or absent: a commented config.toml, one column, one article, and the
    /// built-in templates to edit. `broadsheet build` works on it at once.
    Init {
        /// The folder to create.
        dir: Option<PathBuf>,
    },
    /// Work with templates.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// What an operator or a monitor asks: articles, the last build, the
    /// last and next issues, subscribers. Exits 1 when the last issue left
    /// failures or deliveries have been deferred for over a day.
    Status {
        /// One JSON object (documented in the README) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script to standard output.
    ///
    /// bash: `broadsheet completions bash > /etc/bash_completion.d/broadsheet`;
    /// zsh: into a folder on `$fpath` as `_broadsheet`;
    /// fish: `~/.config/fish/completions/broadsheet.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to standard output:
    /// `broadsheet man > /usr/local/share/man/man1/broadsheet.1`.
    Man,
}

#[derive(Debug, Subcommand)]
enum TemplatesCommand {
    /// Copy the built-in templates into site.templates_dir for editing;
    /// files already there are kept unless --force.
    Export {
        /// Replace templates already in the folder.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
enum SubscribersCommand {
    /// Add (or update) an active subscriber.
    Add {
        /// Their email address.
        email: String,
        /// The name to greet them by.
        #[arg(long)]
        name: Option<String>,
        /// Columns to follow, comma-separated; none: every column.
        #[arg(long)]
        columns: Option<String>,
        /// Re-activate an address that unsubscribed or bounced.
        #[arg(long)]
        resubscribe: bool,
    },
    /// Import a CSV file with the header email,name,columns (columns
    /// `;`-separated, empty: every column).
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Re-activate addresses that unsubscribed or bounced.
        #[arg(long)]
        resubscribe: bool,
    },
    /// One subscriber a line: email, name, columns, status (tab-separated).
    List {
        /// Only active, pending, unsubscribed or bounced subscribers.
        #[arg(long)]
        status: Option<String>,
    },
    /// Active subscribers as CSV in the import format, to standard output.
    Export,
    /// Remove a subscriber and their delivery history.
    Remove {
        /// Their email address.
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum DigestCommand {
    /// Render the digest now due as .eml and .html files; send nothing.
    Preview {
        /// Render it for this subscriber (default: the first active one).
        #[arg(long)]
        to: Option<String>,
        /// Where to write the files.
        #[arg(long, default_value = "preview")]
        out: PathBuf,
    },
    /// Send the digest now due, finishing any issue left unfinished.
    Send {
        /// Send an issue now, whatever the schedule says.
        #[arg(long)]
        force: bool,
        /// Also send the deliveries whose outcome is unknown (a run died
        /// while sending them): their readers may get a second copy.
        #[arg(long)]
        retry_unknown: bool,
    },
}

fn parse_now(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-06-15T08:00:00+08:00 ({e})"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(
        cli.quiet,
        cli.verbose,
        matches!(cli.command, Command::Serve),
        cli.log_format,
    );
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let json = cli.log_format == LogFormat::Json;
            for line in e.to_string().lines() {
                say_error(json, line);
            }
            if matches!(
                e,
                Error::Content(_)
                    | Error::Config(_)
                    | Error::Serve(broadsheet::server::ServerError::Config(_))
            ) {
                say_error(json, "nothing was written");
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cli: &Cli) -> Result<(), Error> {
    let started = Instant::now();
    // Commands that need no publication.
    match &cli.command {
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "broadsheet", &mut out);
            return print_all(&out);
        }
        Command::Init { dir } => {
            let now = cli.now.unwrap_or_else(|| Utc::now().fixed_offset());
            let dir = dir.clone().unwrap_or_else(|| PathBuf::from("."));
            let s = app::init(&dir, now)?;
            if !cli.quiet {
                for f in &s.files {
                    println!("{}", s.dir.join(f).display());
                }
                println!(
                    "a new publication is in {}: `cd {} && broadsheet build` writes its feeds",
                    s.dir.display(),
                    s.dir.display()
                );
            }
            return Ok(());
        }
        Command::Man => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|e| Error::Usage(format!("cannot render the manual page: {e}")))?;
            return print_all(&out);
        }
        _ => {}
    }
    let now = cli.now.unwrap_or_else(|| Utc::now().fixed_offset());
    let config = Config::load(&cli.config)?;
    broadsheet::store::set_busy_timeout(std::time::Duration::from_secs(
        config.state.busy_timeout_seconds.into(),
    ));
    for key in &config.unknown_keys {
        tracing::warn!("{}: unknown key {key} is ignored", cli.config.display());
    }
    for w in &config.warnings {
        tracing::warn!("{}: {w}", cli.config.display());
    }
    match &cli.command {
        Command::Build => {
            let s = app::build_locked(&config, now)?;
            if !cli.quiet {
                let hub = match s.hub {
                    Some(h) if h.failed > 0 => format!(
                        "; hub told of {} changed feeds, {} not",
                        h.notified, h.failed
                    ),
                    Some(h) => format!("; hub told of {} changed feeds", h.notified),
                    None => String::new(),
                };
                println!(
                    "built {}, {} ({}, {} scheduled): {} files written, {} unchanged, {} removed{hub} in {:.2} s",
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
        Command::Subscribers(sub) => subscribers(cli, &config, now, sub)?,
        Command::Digest(DigestCommand::Preview { to, out }) => {
            let out = if out.is_absolute() {
                out.clone()
            } else {
                config.root.join(out)
            };
            let p = app::preview(&config, now, to.as_deref(), &out)?;
            if !cli.quiet {
                if p.files.is_empty() {
                    println!(
                        "digest {}: nothing new for {} ({} articles in the issue); nothing written",
                        p.label, p.to, p.articles
                    );
                } else {
                    for f in &p.files {
                        println!("{}", f.display());
                    }
                }
            }
        }
        Command::Digest(DigestCommand::Send {
            force,
            retry_unknown,
        }) => {
            let progress = progress_bar(cli.quiet);
            let s = app::send(
                &config,
                now,
                app::SendOptions {
                    force: *force,
                    retry_unknown: *retry_unknown,
                },
                &progress,
            )?;
            progress.finish_and_clear();
            report_send(cli, &s, started)?;
        }
        Command::Completions { .. } | Command::Man | Command::Init { .. } => {
            unreachable!("handled above")
        }
        Command::Templates(TemplatesCommand::Export { force }) => {
            let (written, skipped) = app::export_templates(&config.site.templates_dir, *force)?;
            if !cli.quiet {
                for p in &written {
                    println!("{}", config.display_path(p));
                }
                for p in &skipped {
                    println!(
                        "{}: already there, kept (--force replaces it)",
                        config.display_path(p)
                    );
                }
            }
        }
        Command::Status { json } => {
            let s = app::status(&config, now)?;
            if *json {
                let mut text = serde_json::to_string_pretty(&s).expect("status serialises");
                text.push('\n');
                print_all(text.as_bytes())?;
            } else if !cli.quiet {
                print_all(status_text(&s).as_bytes())?;
            }
            if !s.healthy {
                return Err(Error::Delivery(s.problems.join("; ")));
            }
        }
        Command::Serve => {
            let clock = match cli.now {
                Some(t) => broadsheet::server::Clock::Fixed(t),
                None => broadsheet::server::Clock::System,
            };
            app::serve(config, clock)?;
        }
        Command::Run => {
            let progress = progress_bar(cli.quiet);
            let done = app::run(&config, now, &progress)?;
            progress.finish_and_clear();
            let b = &done.built;
            if !cli.quiet {
                println!(
                    "built {}: {} files written, {} unchanged",
                    plural(b.articles, "article"),
                    b.files.written,
                    b.files.unchanged
                );
            }
            match done.send {
                Ok(app::SendStep::Done(s)) => {
                    report_send(cli, &s, started).map_err(|e| Error::AfterBuild(Box::new(e)))?
                }
                Ok(app::SendStep::Busy(holder)) => {
                    if !cli.quiet {
                        println!(
                            "no digest step: {holder} holds the run lock on {} and is still sending",
                            config.site.state_path.display()
                        );
                    }
                }
                Ok(app::SendStep::NoSubscribers) => {
                    if !cli.quiet {
                        println!("no digest step: no one is subscribed yet");
                    }
                }
                Err(e) => return Err(Error::AfterBuild(Box::new(e))),
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

fn subscribers(
    cli: &Cli,
    config: &Config,
    now: DateTime<FixedOffset>,
    command: &SubscribersCommand,
) -> Result<(), Error> {
    use app::subscribers as subs;
    match command {
        SubscribersCommand::Add {
            email,
            name,
            columns,
            resubscribe,
        } => {
            let outcome = subs::add(
                config,
                now,
                email,
                name.as_deref(),
                columns.as_deref(),
                *resubscribe,
            )?;
            if !cli.quiet {
                let said = match outcome {
                    broadsheet::store::UpsertOutcome::Added => "added",
                    broadsheet::store::UpsertOutcome::Updated => "updated",
                    broadsheet::store::UpsertOutcome::Unchanged => "unchanged",
                    broadsheet::store::UpsertOutcome::KeptUnsubscribed => {
                        "kept unsubscribed (use --resubscribe to re-activate)"
                    }
                };
                println!("{email}: {said}");
            }
        }
        SubscribersCommand::Import { file, resubscribe } => {
            let s = subs::import(config, now, file, *resubscribe)?;
            for r in &s.refused {
                say_error(cli.log_format == LogFormat::Json, r);
            }
            if !cli.quiet {
                println!(
                    "imported {}: {} added, {} updated, {} unchanged, {} kept unsubscribed, {} refused",
                    file.display(),
                    s.report.added,
                    s.report.updated,
                    s.report.unchanged,
                    s.report.kept_unsubscribed,
                    s.refused.len()
                );
            }
            if !s.refused.is_empty() {
                return Err(Error::Usage(format!(
                    "{} row(s) of {} were refused; the others were imported",
                    s.refused.len(),
                    file.display()
                )));
            }
        }
        SubscribersCommand::List { status } => {
            let mut out = String::new();
            for s in subs::list(config, status.as_deref())? {
                let columns = if s.columns.is_empty() {
                    "*".to_owned()
                } else {
                    s.columns.join(",")
                };
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\n",
                    s.email,
                    s.name,
                    columns,
                    s.status.as_str()
                ));
            }
            print!("{out}");
        }
        SubscribersCommand::Export => {
            use std::io::Write;
            let bytes = subs::export(config)?;
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|e| Error::Delivery(format!("cannot write to standard output: {e}")))?;
        }
        SubscribersCommand::Remove { email } => {
            let removed = subs::remove(config, email)?;
            if !cli.quiet {
                println!(
                    "{email}: {}",
                    if removed {
                        "removed"
                    } else {
                        "not a subscriber"
                    }
                );
            }
        }
    }
    Ok(())
}

fn progress_bar(quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    // Drawn only on a terminal: under cron it stays silent.
    let bar =
        indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} sending {pos}/{len} [{bar:30}] {per_sec} eta {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

fn report_send(cli: &Cli, s: &app::SendSummary, started: Instant) -> Result<(), Error> {
    if s.locked {
        if !cli.quiet {
            println!(
                "another broadsheet run, {}, holds the lock; this one did nothing",
                s.holder
            );
        }
        return Ok(());
    }
    if s.unknown > 0 {
        tracing::warn!(
            "{} deliveries have an unknown outcome (a run stopped while sending them); `digest send --retry-unknown` sends them again",
            s.unknown
        );
    }
    if !cli.quiet {
        let what = if let (true, Some(created)) = (s.issues.is_empty(), &s.created) {
            format!("digest {created} (no one had anything new)")
        } else if s.issues.is_empty() {
            match s.next_due {
                Some(next) => format!("no digest due; the next is at {}", next.to_rfc3339()),
                None => "no digest due".to_owned(),
            }
        } else {
            format!("digest {}", s.issues.join(", "))
        };
        println!(
            "{what}: {} sent, {} deferred, {} failed, {} skipped (nothing new), {} unknown in {:.2} s",
            s.sent,
            s.deferred,
            s.failed,
            s.skipped,
            s.unknown,
            started.elapsed().as_secs_f64()
        );
    }
    if let Some(f) = &s.fatal {
        return Err(Error::Delivery(format!(
            "sending stopped: {f}; what was not sent stays queued for the next run"
        )));
    }
    if s.has_failures() {
        let mut what = match &s.last_deferral {
            Some(why) if s.deferred > 0 => format!(
                "{} deferred (the next run tries again; the last because {why}), {} failed",
                s.deferred, s.failed
            ),
            _ => format!(
                "{} deferred (the next run tries again), {} failed",
                s.deferred, s.failed
            ),
        };
        if s.unknown_now > 0 {
            what.push_str(&format!(
                ", {} unknown (the relay did not answer the end of the message; not sent again unless `digest send --retry-unknown`)",
                s.unknown_now
            ));
        }
        return Err(Error::Delivery(what));
    }
    Ok(())
}

/// An error line on stderr: `error: …` for people, or a JSON log line
/// when a collector reads stderr.
fn say_error(json: bool, line: &str) {
    if json {
        tracing::error!("{line}");
    } else {
        eprintln!("error: {line}");
    }
}

/// `status` for people.
fn status_text(s: &app::Status) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "status at {}: {}",
        s.now,
        if s.healthy { "healthy" } else { "NOT HEALTHY" }
    );
    let a = &s.articles;
    let _ = writeln!(
        out,
        "articles: {} published, {}, {} scheduled, {} invalid",
        a.published,
        plural(a.drafts, "draft"),
        a.scheduled,
        a.invalid
    );
    for c in &s.columns {
        let newest = c.newest.as_ref().map_or(String::from("none yet"), |n| {
            format!("newest {} {}", n.published, n.title)
        });
        let _ = writeln!(
            out,
            "  {:<16} {}: {}",
            c.slug,
            plural(c.articles, "article"),
            newest
        );
    }
    match &s.last_build {
        Some(b) => {
            let _ = writeln!(out, "last build: {} ({} files)", b.at, b.files);
        }
        None => out.push_str("last build: none\n"),
    }
    let sub = |k: &str| s.subscribers.get(k).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "subscribers: {} active, {} pending, {} unsubscribed, {} bounced",
        sub("active"),
        sub("pending"),
        sub("unsubscribed"),
        sub("bounced")
    );
    match &s.last_issue {
        Some(i) => {
            let d = |k: &str| i.deliveries.get(k).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "last issue: {} ({}), {}: {} sent, {} deferred, {} failed, {} unknown, {} queued",
                i.label,
                i.scheduled,
                plural(i.articles, "article"),
                d("sent"),
                d("deferred"),
                d("failed"),
                d("unknown"),
                d("queued") + d("sending")
            );
        }
        None => out.push_str("last issue: none\n"),
    }
    let n = &s.next_issue;
    let _ = writeln!(
        out,
        "next issue: {} at {}: {} for {} as things stand",
        n.label,
        n.at,
        plural(n.articles, "article"),
        plural(n.subscribers, "subscriber")
    );
    for p in &s.problems {
        let _ = writeln!(out, "problem: {p}");
    }
    out
}

/// Writes `bytes` to standard output; a reader that stops early (`| head`)
/// is not an error.
fn print_all(bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Usage(format!(
            "cannot write to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Logs go to stderr: warnings by default, `-v` for info, `-vv` for debug;
/// `BROADSHEET_LOG` (a tracing filter) overrides both.
/// Logs go to stderr. A command logs warnings unless asked for more; the
/// service, which runs for weeks, logs each request and stamps every line.
fn init_tracing(quiet: bool, verbose: u8, service: bool, format: LogFormat) {
    let level = match (quiet, verbose, service) {
        (true, _, _) => "error",
        (false, 0, false) => "warn",
        (false, 0, true) | (false, 1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BROADSHEET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    match (format, service) {
        // A collector wants every field and a time on every line.
        (LogFormat::Json, _) => builder.json().flatten_event(true).with_ansi(false).init(),
        (LogFormat::Text, true) => builder.init(),
        (LogFormat::Text, false) => builder.without_time().init(),
    }
}
