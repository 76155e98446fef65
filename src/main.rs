//! The `broadsheet` command: parse the command line ([`cli`]), run one
//! command, print its summary (worded in `broadsheet::report`) or its
//! errors, and exit with the code the error decides.

mod cli;

use broadsheet::app::subscribers as subs;
use broadsheet::config::ConfigError;
use broadsheet::error::ImportError;
use broadsheet::server::Clock;
use broadsheet::{app, report, Error};
use chrono::Utc;
use clap::Parser;
use cli::{
    print_all, BouncesCommand, Cli, Command, DigestCommand, StateCommand, SubscribersCommand,
    TemplatesCommand,
};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli.init_logs();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut text = e.to_string();
            if let Some(hint) = init_hint(&cli, &e).or_else(|| bind_hint(&cli, &e)) {
                text.push_str(&hint);
            }
            for line in text.lines() {
                cli.say_error(line);
            }
            // Said only by the commands that write: `check`, `status` and
            // the rest never do, and saying so would suggest they might.
            if cli.command.writes()
                && matches!(
                    e,
                    Error::Content(_)
                        | Error::Config(_)
                        | Error::Serve(broadsheet::server::ServerError::Config(_))
                )
            {
                cli.say_error("nothing was written");
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// Runs the command, printing its summary unless `--quiet`.
fn run(cli: &Cli) -> Result<(), Error> {
    let started = Instant::now();
    let now = cli.now.unwrap_or_else(|| Utc::now().fixed_offset());
    let say = |report: &dyn std::fmt::Display| match cli.quiet {
        true => Ok(()),
        false => print_all(report.to_string().as_bytes()),
    };
    match &cli.command {
        Command::Completions { shell } => print_all(&Cli::completions(*shell))?,
        Command::Man => print_all(&Cli::man().map_err(Error::Stdout)?)?,
        Command::Init { dir } => {
            let dir = dir.clone().unwrap_or_else(|| PathBuf::from("."));
            say(&report::Initialised(&app::init(&dir, now)?))?;
        }
        Command::Build { keep_going } => {
            let options = app::BuildOptions {
                keep_going: *keep_going,
                progress: cli.build_spinner(),
            };
            let spinner = options.progress.clone();
            let summary = app::build_locked(&load(cli)?, now, options);
            spinner.finish_and_clear();
            let summary = summary?;
            say(&report::Built(&summary, started.elapsed()))?;
            left_out(&summary)?;
        }
        Command::Check => {
            let summary = app::check(&load(cli)?, now)?;
            say(&report::Checked(&summary, started.elapsed()))?;
        }
        Command::Subscribers(SubscribersCommand::Add {
            email,
            name,
            columns,
            resubscribe,
        }) => {
            let (name, columns) = (name.as_deref(), columns.as_deref());
            let outcome = subs::add(&load(cli)?, now, email, name, columns, *resubscribe)?;
            say(&report::SubscriberAdded(email, outcome))?;
        }
        Command::Subscribers(SubscribersCommand::Import { file, resubscribe }) => {
            let summary = subs::import(&load(cli)?, now, file, *resubscribe)?;
            for r in &summary.refused {
                cli.say_error(&r.to_string());
            }
            say(&report::SubscribersImported(file, &summary))?;
            if !summary.refused.is_empty() {
                return Err(ImportError::Refused {
                    file: file.clone(),
                    refused: summary.refused.len(),
                }
                .into());
            }
        }
        Command::Subscribers(SubscribersCommand::List { status }) => {
            let list = subs::listed(&load(cli)?, status.as_deref())?;
            let text = match std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                true => report::SubscriberTable(&list).to_string(),
                false => report::SubscriberList(&list).to_string(),
            };
            print_all(text.as_bytes())?;
        }
        Command::Subscribers(SubscribersCommand::Export) => {
            print_all(&subs::export(&load(cli)?)?)?;
        }
        Command::Subscribers(SubscribersCommand::Remove { email }) => {
            let removed = subs::remove(&load(cli)?, email)?;
            say(&report::SubscriberRemoved(email, removed))?;
        }
        Command::Bounces(BouncesCommand::Ingest) => {
            // A mail server keeps a message its pipe answered 75 and tries
            // again later; any other failure would bounce the bounce.
            let config = load(cli).map_err(|e| Error::TryLater(Box::new(e)))?;
            let taken = app::bounces::ingest(&config, &mut std::io::stdin().lock(), now)
                .map_err(|e| Error::TryLater(Box::new(e)))?;
            say(&report::Ingested(&taken))?;
        }
        Command::Bounces(BouncesCommand::Scan { dir }) => {
            let summary = app::bounces::scan(&load(cli)?, dir, now)?;
            for (path, why) in &summary.left {
                tracing::warn!(
                    "{}: not understood ({why}); left where it is",
                    path.display()
                );
            }
            say(&report::Scanned(&summary))?;
        }
        Command::Bounces(BouncesCommand::Poll) => {
            let config = load(cli)?;
            let summary = app::bounces::poll(&config, now)?;
            report_poll(cli, &config, &summary)?;
        }
        Command::Bounces(BouncesCommand::Show { id, evidence }) => {
            let shown = app::bounces::show(&load(cli)?, *id)?;
            if !*evidence {
                print_all(report::BounceShown(&shown).to_string().as_bytes())?;
            }
            print_all(&shown.evidence)?;
        }
        Command::Bounces(BouncesCommand::List { email, limit }) => {
            let events = app::bounces::list(&load(cli)?, email.as_deref(), *limit as usize)?;
            print_all(report::BounceList(&events).to_string().as_bytes())?;
        }
        Command::Dns => {
            let summary = app::dns(&load(cli)?)?;
            print_all(report::DnsText(&summary).to_string().as_bytes())?;
        }
        Command::State(StateCommand::Migrate) => {
            say(&app::state::migrate(&load(cli)?)?)?;
        }
        Command::State(StateCommand::Copy { to }) => {
            say(&app::state::copy(&load(cli)?, to)?)?;
        }
        Command::Digest(DigestCommand::Preview { to, out }) => {
            let config = load(cli)?;
            // Relative to the config's folder; an absolute `out` replaces it.
            let out = config.root.join(out);
            let summary = app::preview(&config, now, to.as_deref(), &out)?;
            say(&report::Previewed(&summary))?;
        }
        Command::Digest(DigestCommand::Send {
            force,
            retry_unknown,
        }) => {
            let config = load(cli)?;
            let progress = cli.progress_bar();
            let options = app::SendOptions {
                force: *force,
                retry_unknown: *retry_unknown,
                keep_going: false,
            };
            let summary = app::send(&config, now, options, &progress)?;
            progress.finish_and_clear();
            report_send(cli, &summary, started)?;
        }
        Command::Templates(TemplatesCommand::Export { force }) => {
            let config = load(cli)?;
            let (written, skipped) = app::export_templates(&config.site.templates_dir, *force)?;
            say(&report::TemplatesExported(&config, &written, &skipped))?;
        }
        Command::Status { json } => {
            let s = app::status(&load(cli)?, now)?;
            if *json {
                let mut text = serde_json::to_string_pretty(&s).expect("status serialises");
                text.push('\n');
                print_all(text.as_bytes())?;
            } else if !cli.quiet {
                print_all(report::StatusText(&s).to_string().as_bytes())?;
            }
            if let Some(e) = s.unhealthy() {
                return Err(e.into());
            }
        }
        Command::Serve { bind } => {
            let clock = cli.now.map_or(Clock::System, Clock::Fixed);
            let mut config = load(cli)?;
            if let Some(bind) = bind {
                config.server.bind = *bind;
            }
            app::serve(config, clock)?;
        }
        Command::New {
            column,
            title,
            slug,
        } => {
            let written = app::new_article(&load(cli)?, now, column, title, slug.as_deref())?;
            say(&format_args!("{}\n", written.display))?;
        }
        Command::Preview { bind, drafts } => preview(cli, *bind, *drafts)?,
        Command::Run => {
            let config = load(cli)?;
            let progress = cli.progress_bar();
            let done = app::run(&config, now, cli.build_spinner(), &progress);
            progress.finish_and_clear();
            let done = done?;
            say(&report::Built(&done.built, started.elapsed()))?;
            let polled = match done.poll {
                None => Ok(()),
                Some(Ok(s)) => report_poll(cli, &config, &s),
                Some(Err(e)) => Err(e),
            }
            .map_err(|e| Error::AfterBuild(Box::new(e)));
            let state_path = &config.site.state_path;
            let sent = match done.send {
                Ok(app::SendStep::Done(s)) => {
                    report_send(cli, &s, started).map_err(|e| Error::AfterBuild(Box::new(e)))
                }
                Ok(app::SendStep::Busy(holder)) => say(&report::NoDigestStep::Busy {
                    holder: &holder,
                    state_path,
                }),
                Ok(app::SendStep::NoSubscribers) => say(&report::NoDigestStep::NoSubscribers),
                Err(e) => Err(Error::AfterBuild(Box::new(e))),
            };
            // Every failure is cron's to hear of: a failed poll, a failed
            // digest step and the articles left out are each said, and
            // the exit code is the gravest one's (a config to fix is 2;
            // of equals, the last).
            let mut failed: Vec<Error> = [polled, sent, left_out(&done.built)]
                .into_iter()
                .filter_map(Result::err)
                .collect();
            let gravest = (0..failed.len()).max_by_key(|&i| failed[i].exit_code());
            if let Some(gravest) = gravest {
                let last = failed.remove(gravest);
                for e in &failed {
                    for line in e.to_string().lines() {
                        cli.say_error(line);
                    }
                }
                return Err(last);
            }
        }
    }
    Ok(())
}

/// For a config file that does not exist, the command that makes one:
/// whoever runs broadsheet in the wrong folder, or for the first time,
/// learns both at once. Only for a missing file: one that cannot be read
/// for another reason (its permissions, say) is not cured by `init`.
fn init_hint(cli: &Cli, e: &Error) -> Option<String> {
    let Error::Config(ConfigError::Read { path, source }) = e else {
        return None;
    };
    if source.kind() != std::io::ErrorKind::NotFound || matches!(cli.command, Command::Init { .. })
    {
        return None;
    }
    // `init` makes `config.toml` in the folder it is given.
    match path.parent() {
        Some(dir) if path.file_name() == Some("config.toml".as_ref()) => {
            let here = dir.as_os_str().is_empty()
                || std::env::current_dir()
                    .and_then(|cwd| Ok(cwd.canonicalize()? == dir.canonicalize()?))
                    .unwrap_or(false);
            Some(if here {
                "; to start a publication here, run `broadsheet init`".to_owned()
            } else {
                format!(
                    "; to start a publication there, run `broadsheet init {}`",
                    dir.display()
                )
            })
        }
        _ => None,
    }
}

/// The articles a build that kept going left out, as the error that
/// makes the exit code 1.
fn left_out(summary: &app::BuildSummary) -> Result<(), Error> {
    match summary.left_out.is_empty() {
        true => Ok(()),
        false => Err(Error::LeftOut(broadsheet::error::LeftOutError(
            summary.left_out.clone(),
        ))),
    }
}

/// For an address the service cannot listen on, where it came from and
/// how to give another.
fn bind_hint(cli: &Cli, e: &Error) -> Option<String> {
    let Error::Serve(broadsheet::server::ServerError::Bind { .. }) = e else {
        return None;
    };
    Some(match &cli.command {
        Command::Serve { bind: Some(_) } => " (the address given with --bind)".to_owned(),
        _ => "; `broadsheet serve --bind 127.0.0.1:PORT` listens on another".to_owned(),
    })
}

/// Runs `preview`, saying where it listens and how each build went.
fn preview(cli: &Cli, bind: std::net::SocketAddr, drafts: bool) -> Result<(), Error> {
    let options = app::PreviewOptions {
        bind,
        drafts,
        now: cli.now,
    };
    let quiet = cli.quiet;
    let ready = |addr: std::net::SocketAddr, first: &app::Rebuilt| {
        tell(first);
        if !quiet {
            // The one line a script waits for; stdout, unlike the log.
            let _ = print_all(format!("preview: http://{addr}/ (Ctrl-C stops it)\n").as_bytes());
        }
    };
    app::preview_site(&cli.config, options, ready, tell)
}

/// A build's outcome on stderr: a failure as an error, every line of it.
fn tell(outcome: &app::Rebuilt) {
    match outcome {
        app::Rebuilt::Built {
            articles,
            pages,
            elapsed,
        } => tracing::info!(
            "built {articles} articles, {pages} pages in {:.2} s",
            elapsed.as_secs_f64()
        ),
        app::Rebuilt::Failed(text) => {
            for line in text.lines() {
                tracing::error!("{line}");
            }
        }
    }
}

fn load(cli: &Cli) -> Result<broadsheet::config::Config, Error> {
    app::load_config(&cli.config)
}

/// Warns of each message a poll left unseen, and prints what it did.
fn report_poll(
    cli: &Cli,
    config: &broadsheet::config::Config,
    s: &app::bounces::PollSummary,
) -> Result<(), Error> {
    let Some(mailbox) = &config.bounces.imap else {
        return Ok(());
    };
    for (uid, why) in &s.left {
        tracing::warn!(
            "{} on {}, UID {uid}: not understood ({why}); left unseen",
            mailbox.mailbox,
            broadsheet::bounces::imap::server_name(mailbox)
        );
    }
    if !cli.quiet {
        print_all(report::Polled(s, mailbox).to_string().as_bytes())?;
    }
    Ok(())
}

/// Prints what a send did, warns of deliveries whose outcome is unknown,
/// and fails when anything was left unsent.
fn report_send(cli: &Cli, s: &app::SendSummary, started: Instant) -> Result<(), Error> {
    if !s.locked && s.unknown > 0 {
        tracing::warn!(
            "{} deliveries have an unknown outcome (a run stopped while sending them); `digest send --retry-unknown` sends them again",
            s.unknown
        );
    }
    if !cli.quiet {
        print_all(report::Sent(s, started.elapsed()).to_string().as_bytes())?;
    }
    match s.failure() {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}
