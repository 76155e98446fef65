//! The command line of the `broadsheet` binary: its flags, commands and
//! their help text, as clap reads them. A module of the binary, not of the
//! library: the help, the manual page and the completions are all made
//! from these definitions, and nothing else needs them.
//!
//! The doc comments on the items clap derives from are the help text: an
//! edit to one changes `--help`, `broadsheet man` and the completions.

use chrono::{DateTime, FixedOffset};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Publishes a newspaper's opinion columns as RSS, Atom and JSON feeds.
#[derive(Debug, Parser)]
#[command(name = "broadsheet", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The publication's configuration file.
    #[arg(
        long,
        global = true,
        env = "BROADSHEET_CONFIG",
        default_value = "config.toml"
    )]
    pub config: PathBuf,

    /// Act as if the clock said this (RFC 3339), for backfills and tests.
    #[arg(long, global = true, value_parser = parse_now)]
    pub now: Option<DateTime<FixedOffset>>,

    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Say more (-v: each step, -vv: debugging detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// How log lines on stderr look: `text` for people, `json` (one
    /// object a line) for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines on standard error look (`--log-format`): `Text` for
/// people, `Json` (one object a line) for log collectors.
//
// The variants have no doc comments of their own on purpose: clap would
// add them to `--help`, the manual page and the completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[allow(missing_docs)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read content and write every feed.
    Build {
        /// Publish every valid article and leave the invalid ones out (an
        /// article an earlier build published keeps that version), as
        /// `run` does; exit 1 naming each. Without it, one invalid article
        /// stops the build and nothing is written.
        #[arg(long)]
        keep_going: bool,
    },
    /// Validate config, content and templates; write nothing.
    Check,
    /// Manage subscribers.
    #[command(subcommand)]
    Subscribers(SubscribersCommand),
    /// Preview or send the weekly digest.
    #[command(subcommand)]
    Digest(DigestCommand),
    /// The state: its schema, and moving it to another backend.
    #[command(subcommand)]
    State(StateCommand),
    /// What cron calls: build, then send the digest when it is due.
    Run,
    /// Read bounce and complaint mail.
    #[command(subcommand)]
    Bounces(BouncesCommand),
    /// Print the DNS records to publish: the DKIM key, SPF and MX for the
    /// bounce domain, DMARC; and whether the domains align for DMARC.
    Dns,
    /// The subscriber-facing web service: sign-up with double opt-in,
    /// one-click unsubscribe, preferences, and the feeds over HTTP.
    Serve {
        /// Listen on ADDR (such as 127.0.0.1:8081) instead of server.bind.
        #[arg(long, value_name = "ADDR", value_parser = parse_bind)]
        bind: Option<std::net::SocketAddr>,
    },
    /// Write a new article: content/COLUMN/SLUG.md with its front matter
    /// filled in (the title, the column, published = now in
    /// site.timezone, draft = true). The slug comes from a title in Latin
    /// letters; a title in Chinese gets the date and a counter
    /// (2026-06-15-1). A file already there is never replaced.
    New {
        /// The column's slug, as in config.toml.
        column: String,
        /// The article's title.
        title: String,
        /// The slug (and file name) instead of one made from the title.
        #[arg(long)]
        slug: Option<String>,
    },
    /// A preview of the publication on this machine, rebuilt and reloaded
    /// in the browser whenever content, templates or config.toml change.
    /// It builds in memory: it never writes site.output_dir or opens the
    /// state.
    Preview {
        /// Listen on ADDR, a loopback address.
        #[arg(long, value_name = "ADDR", default_value = broadsheet::app::live::DEFAULT_BIND, value_parser = parse_bind)]
        bind: std::net::SocketAddr,
        /// Show drafts and articles scheduled for later, as if published.
        #[arg(long)]
        drafts: bool,
    },
    /// Start a new publication in DIR (default: here), which must be empty
    /// or absent: a commented config.toml, one column and one article. It
    /// uses the built-in templates (`templates export` copies them out to
    /// edit). `broadsheet build` works on it at once.
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

/// `templates …`.
#[derive(Debug, Subcommand)]
pub(crate) enum TemplatesCommand {
    /// Copy the built-in templates into site.templates_dir for editing;
    /// files already there are kept unless --force.
    Export {
        /// Replace templates already in the folder.
        #[arg(long)]
        force: bool,
    },
}

/// `subscribers …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SubscribersCommand {
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
    /// With --status bounced or complained, then why: the kind, status
    /// code, source, date, report id and diagnostic of the report that
    /// decided it (or of the relay's refusal while sending).
    List {
        /// Only active, pending, unsubscribed, bounced or complained subscribers.
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

/// `bounces …`.
#[derive(Debug, Subcommand)]
pub(crate) enum BouncesCommand {
    /// Read one bounce or complaint email on standard input, as a mail
    /// server's pipe transport gives it. Exit 0: taken (recorded, or kept
    /// as not understood); 75: not taken now, try again later.
    Ingest,
    /// Process a Maildir: each bounce, complaint or auto-reply is
    /// recorded and moved to cur/ with the Seen flag; a message not
    /// understood stays where it was.
    Scan {
        /// The Maildir (the folder holding new/ and cur/).
        dir: PathBuf,
    },
    /// Read the mailbox bounces.imap_url names, once, as `run` does: each
    /// message not yet seen is fetched without being marked; one recorded
    /// or known to be harmless is then flagged seen; one not understood
    /// stays unseen. Nothing is ever deleted.
    Poll,
    /// Print one recorded report whole: its kind, code, diagnostic,
    /// source, times, subscriber, and the message or payload it came in,
    /// as kept.
    Show {
        /// The report's id (`subscribers list --status bounced` and
        /// `bounces list` give it).
        id: i64,
        /// Print only the message or payload, as kept (to read it in a
        /// mail program).
        #[arg(long)]
        evidence: bool,
    },
    /// The latest reports, newest first, one a line: id, reported, kind,
    /// status code, source, address, the status it gave, diagnostic
    /// (tab-separated).
    List {
        /// Only the reports about this address.
        #[arg(long, value_name = "EMAIL")]
        email: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
        limit: u32,
    },
}

/// `state …`.
#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// Apply the state's schema migrations (every command applies them
    /// when it opens the state; this does it now, and says what it did).
    /// A state from a newer broadsheet is refused.
    Migrate,
    /// Copy the whole state (subscribers, issues, deliveries and their
    /// states) into TARGET, one transaction per table, and print the
    /// counts. TARGET is a postgres:// URL (its password from the URL,
    /// PGPASSWORD or .pgpass) or the path of an SQLite file; it must hold
    /// no rows.
    Copy {
        /// The database or file to copy into.
        #[arg(long, value_name = "TARGET")]
        to: String,
    },
}

/// `digest …`.
#[derive(Debug, Subcommand)]
pub(crate) enum DigestCommand {
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

impl Command {
    /// Whether the command may write the feeds, the state or files it
    /// was asked for; one that never does must not say "nothing was
    /// written".
    pub(crate) fn writes(&self) -> bool {
        !matches!(
            self,
            Command::Check
                | Command::Dns
                | Command::Status { .. }
                | Command::Preview { .. }
                | Command::Completions { .. }
                | Command::Man
                | Command::Subscribers(
                    SubscribersCommand::List { .. } | SubscribersCommand::Export
                )
                | Command::Bounces(BouncesCommand::Show { .. } | BouncesCommand::List { .. })
        )
    }
}

/// Reads `--bind`: an IP address and port, or `localhost:PORT` (taken as
/// 127.0.0.1, never looked up: a resolver could answer anything).
fn parse_bind(s: &str) -> Result<std::net::SocketAddr, String> {
    if let Some(port) = s.strip_prefix("localhost:") {
        return port
            .parse::<u16>()
            .map(|port| std::net::SocketAddr::from(([127, 0, 0, 1], port)))
            .map_err(|_| format!("expected a port after localhost:, found {port:?}"));
    }
    s.parse().map_err(|_| {
        format!(
            "expected an address and port such as 127.0.0.1:8081 or localhost:8081, found {s:?}"
        )
    })
}

/// Reads `--now` as an RFC 3339 time; the error shows one.
fn parse_now(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-06-15T08:00:00+08:00 ({e})"))
}

/// Writes `bytes` to standard output; a reader that stops early (`| head`)
/// is not an error.
pub(crate) fn print_all(bytes: &[u8]) -> Result<(), broadsheet::Error> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // Flushed here, not at exit, where a failure would go unreported.
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(broadsheet::Error::Stdout(e)),
        _ => Ok(()),
    }
}

impl Cli {
    /// The completion script for `shell`.
    pub(crate) fn completions(shell: clap_complete::Shell) -> Vec<u8> {
        use clap::CommandFactory;
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "broadsheet", &mut out);
        out
    }

    /// The manual page, in roff.
    pub(crate) fn man() -> std::io::Result<Vec<u8>> {
        use clap::CommandFactory;
        let mut out = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut out)?;
        Ok(out)
    }

    /// Logs go to stderr. A command logs warnings unless asked for more
    /// (`-v`: info, `-vv`: debug, `-q`: errors only); the service, which
    /// runs for weeks, logs each request and stamps every line.
    /// `BROADSHEET_LOG` (a tracing filter) overrides the level.
    pub(crate) fn init_logs(&self) {
        let service = matches!(
            self.command,
            Command::Serve { .. } | Command::Preview { .. }
        );
        let level = match (self.quiet, self.verbose, service) {
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
            .with_ansi(colour_on_stderr())
            .with_target(false);
        match (self.log_format, service) {
            // A collector wants every field and a time on every line.
            (LogFormat::Json, _) => builder.json().flatten_event(true).with_ansi(false).init(),
            (LogFormat::Text, true) => builder.init(),
            // A command speaks as compilers do: `warning: …`, `error: …`.
            (LogFormat::Text, false) => builder.event_format(Prefixed).init(),
        }
    }

    /// An error line on stderr: `error: …` for people, or a JSON log line
    /// when a collector reads stderr.
    pub(crate) fn say_error(&self, line: &str) {
        if self.log_format == LogFormat::Json {
            tracing::error!("{line}");
        } else {
            eprintln!(
                "{}{line}",
                prefix(tracing::Level::ERROR, colour_on_stderr())
            );
        }
    }

    /// The phase a build is in, on a spinner on stderr: drawn only on a
    /// terminal (under cron it stays silent), hidden under `--quiet`.
    pub(crate) fn build_spinner(&self) -> indicatif::ProgressBar {
        if self.quiet {
            return indicatif::ProgressBar::hidden();
        }
        let spinner =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        spinner.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .expect("a valid template"),
        );
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        spinner
    }

    /// The progress of a send on stderr, hidden under `--quiet`.
    pub(crate) fn progress_bar(&self) -> indicatif::ProgressBar {
        if self.quiet {
            return indicatif::ProgressBar::hidden();
        }
        // Drawn only on a terminal: under cron it stays silent.
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(send_style());
        bar
    }
}

/// Whether `error:` and `warning:` are coloured: on a terminal, unless
/// `NO_COLOR` is set to anything (<https://no-color.org>).
fn colour_on_stderr() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The word a line of this level starts with, coloured or not; info lines
/// (progress under `-v`) have none. The two escape codes are written by
/// hand: a crate for them would be larger than this function.
fn prefix(level: tracing::Level, colour: bool) -> String {
    let (word, style) = match level {
        tracing::Level::ERROR => ("error", "1;31"),
        tracing::Level::WARN => ("warning", "1;33"),
        tracing::Level::INFO => return String::new(),
        _ => ("debug", "2"),
    };
    match colour {
        true => format!("\x1b[{style}m{word}\x1b[0m: "),
        false => format!("{word}: "),
    }
}

/// A command's log line: [`prefix`], then the message and its fields.
struct Prefixed;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Prefixed
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = *event.metadata().level();
        write!(writer, "{}", prefix(level, writer.has_ansi_escapes()))?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// How a send's progress is drawn. The rate is in whole messages a second:
/// indicatif's own `{per_sec}` shows four decimals (`12.3457/s`), a
/// precision no one sending mail needs, which only makes the line jitter.
fn send_style() -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(
        "{spinner} sending {pos}/{len} [{bar:30}] {rate} eta {eta}",
    )
    .expect("a valid template")
    .with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let rate = state.per_sec();
            // Before the first message, or in the first instant, there is
            // no rate to speak of.
            let _ = match rate.is_finite() {
                true => write!(w, "{:.0}/s", indicatif::HumanFloatCount(rate)),
                false => w.write_str("0/s"),
            };
        },
    )
    .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A terminal that keeps every line drawn on it.
    #[derive(Debug, Default, Clone)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            120
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            if !s.is_empty() {
                self.0.lock().unwrap().push(s.to_owned());
            }
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_send_shows_its_rate_in_whole_messages_a_second() {
        let screen = Screen::default();
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::term_like(Box::new(screen.clone())),
        );
        bar.set_style(send_style());
        bar.set_length(3);
        bar.inc(3);
        // Finished, the rate is messages over the time taken: a fraction
        // whatever the machine's speed.
        bar.finish();
        let lines = screen.0.lock().unwrap().clone();
        // Lines of spaces are how the bar clears itself between draws.
        let last = lines
            .iter()
            .rfind(|l| !l.trim().is_empty())
            .expect("the bar was drawn");
        assert!(last.contains("sending 3/3"), "{lines:?}");
        let rate = last
            .split(' ')
            .find_map(|word| word.strip_suffix("/s"))
            .unwrap_or_else(|| panic!("no rate in {last:?}"));
        assert!(
            !rate.is_empty() && rate.chars().all(|c| c.is_ascii_digit() || c == ','),
            "a whole number: {last:?}"
        );
    }
}
