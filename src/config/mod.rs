//! `config.toml` plus `BROADSHEET_<SECTION>__<KEY>` environment overrides:
//! read into [`raw::RawConfig`], then validated into [`Config`], which is all
//! the rest of the crate sees. Every problem names its key, and all of them
//! are reported at once.

mod raw;
mod schedule;

pub use schedule::Schedule;

use crate::names::{hex, ColumnSlug};
use chrono_tz::Tz;
use raw::RawConfig;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// Column slugs the output layout keeps for itself.
const RESERVED_SLUGS: &[&str] = &["all", "authors", "digests", "index"];

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The configuration file.
    pub path: PathBuf,
    /// The folder holding it: relative paths are resolved against it.
    pub root: PathBuf,
    /// `[site]`.
    pub site: Site,
    /// `[[columns]]`, in the order written.
    pub columns: Vec<Column>,
    /// `[feeds]`.
    pub feeds: Feeds,
    /// `[digest]`.
    pub digest: Digest,
    /// `[smtp]`.
    pub smtp: Smtp,
    /// `[server]`.
    pub server: Server,
    /// `[state]`.
    pub state: State,
    /// `[authors]`: a URL slug chosen for an author's name, where the one
    /// derived from it will not do.
    pub author_slugs: std::collections::BTreeMap<String, String>,
    /// Keys that were set but mean nothing to broadsheet (likely typos).
    pub unknown_keys: Vec<String>,
    /// Values that work but are unwise, as `key: why`; printed as warnings.
    pub warnings: Vec<String>,
    /// A digest of the file and the environment overrides it was read from.
    pub digest_of_sources: String,
}

/// `[site]`.
#[derive(Debug, Clone)]
pub struct Site {
    /// The publication's name.
    pub title: String,
    /// Where the site lives, without a trailing slash.
    pub base_url: String,
    /// A BCP 47 language tag, e.g. `zh-Hant-HK`.
    pub language: String,
    /// The zone dates without an offset are read in, and output is shown in.
    pub timezone: Tz,
    /// How an article's URL is made.
    pub permalink: Permalink,
    /// Where articles are read from.
    pub content_dir: PathBuf,
    /// Where feeds are written.
    pub output_dir: PathBuf,
    /// Where template overrides live.
    pub templates_dir: PathBuf,
    /// The SQLite state file.
    pub state_path: PathBuf,
    /// Whether a symlink under `content_dir` may lead outside it.
    pub follow_external_symlinks: bool,
}

/// One `[[columns]]` entry.
#[derive(Debug, Clone)]
pub struct Column {
    /// The column's slug: its folder under `content/` and `feeds/`.
    pub slug: ColumnSlug,
    /// Its title.
    pub title: String,
    /// The editor's note.
    pub description: String,
    /// The column's page on the site.
    pub url: String,
}

/// What feed item bodies carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedContent {
    /// The whole article as HTML.
    Full,
    /// Only the summary.
    Summary,
}

/// `[feeds]`.
#[derive(Debug, Clone)]
pub struct Feeds {
    /// Newest N articles per feed.
    pub max_items: usize,
    /// What item bodies carry.
    pub content: FeedContent,
    /// Where `output_dir` is served, without a trailing slash.
    pub url: String,
    /// The length of a summary taken from the body, in characters.
    pub summary_chars: usize,
    /// The authority in article ids (`tag:<authority>,<date>:<column>/<slug>`).
    pub id_authority: String,
    /// A WebSub hub told when a feed changes.
    pub websub_hub: Option<String>,
    /// Whether every author gets feeds of their own.
    pub author_feeds: bool,
    /// What their items carry.
    pub author_content: FeedContent,
    /// Articles in each author's feeds.
    pub author_max_items: usize,
}

/// `[digest]`.
#[derive(Debug, Clone)]
pub struct Digest {
    /// The From header.
    pub from: String,
    /// An optional Reply-To header.
    pub reply_to: Option<String>,
    /// The weekly slot.
    pub schedule: Schedule,
    /// Articles older than this at the cutoff are never mailed.
    pub max_age_days: u32,
    /// The subject, a Handlebars template.
    pub subject: String,
    /// DKIM signing, when a selector, domain and key file are set.
    pub dkim: Option<Dkim>,
    /// A send still holding the run lock after this long is reported by
    /// the next run as stuck (exit 1), not passed over in silence.
    pub max_send_minutes: u32,
}

/// `[state]`.
#[derive(Debug, Clone)]
pub struct State {
    /// How long to wait for another process's write lock on the database.
    pub busy_timeout_seconds: u32,
}

/// DKIM signing settings.
#[derive(Debug, Clone)]
pub struct Dkim {
    /// The selector (`<selector>._domainkey.<domain>`).
    pub selector: String,
    /// The signing domain.
    pub domain: String,
    /// The private key file: PKCS#1 PEM for RSA, base64 of the 32-byte
    /// seed for Ed25519.
    pub key_file: PathBuf,
    /// `rsa` or `ed25519`.
    pub ed25519: bool,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text (loopback relays only).
    None,
    /// Upgrade with STARTTLS.
    StartTls,
    /// TLS from the first byte.
    Tls,
}

/// A value that must never be printed or logged.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether no secret was set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// `[smtp]`.
#[derive(Debug, Clone)]
pub struct Smtp {
    /// Where emails are written when no host is set.
    pub outbox_dir: PathBuf,
    /// The relay; `None` writes to `outbox_dir`.
    pub host: Option<String>,
    /// The relay's port.
    pub port: u16,
    /// How the connection is secured.
    pub security: Security,
    /// AUTH user name; empty: no AUTH.
    pub username: String,
    /// AUTH password.
    pub password: Secret,
    /// Connections in the pool.
    pub max_connections: u32,
    /// Messages per second at most; 0: unlimited.
    pub rate_limit_per_second: f64,
    /// Messages on one connection before it is replaced; 0: no limit.
    pub max_messages_per_connection: usize,
    /// Seconds to wait for the relay at each step.
    pub timeout_seconds: u64,
    /// Seconds to wait for the reply to the final dot of a message.
    pub final_reply_timeout_seconds: u64,
    /// Attempts after the first for a message refused for now, in a run.
    pub retries: u32,
    /// The first wait between attempts; doubled each time, with jitter.
    pub retry_backoff_ms: u64,
    /// A PEM root certificate to trust besides the public ones.
    pub ca_file: Option<PathBuf>,
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct Server {
    /// The address `serve` listens on.
    pub bind: SocketAddr,
    /// Where the service is reached from outside.
    pub public_url: Option<String>,
    /// The HMAC key for tokens.
    pub secret: Secret,
    /// Confirmation and preferences emails one address may be sent a day.
    pub emails_per_address_per_day: u32,
    /// Such emails one client (IP address) may ask for in an hour.
    pub emails_per_client_per_hour: u32,
    /// Take the client's address from the last `X-Forwarded-For` entry:
    /// set it only behind a reverse proxy that writes that header.
    pub trust_forwarded_for: bool,
    /// How long, at shutdown, queued emails get to leave; what is left
    /// stays queued in the state for the next start.
    pub shutdown_email_seconds: u64,
}

/// A permalink pattern with `{base_url}`, `{column}`, `{slug}`, `{year}`,
/// `{month}` and `{day}`.
#[derive(Debug, Clone)]
pub struct Permalink {
    segments: Vec<Segment>,
    text: String,
}

/// A piece of a permalink pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// Literal text: a range of the pattern.
    Text(usize, usize),
    BaseUrl,
    Column,
    Slug,
    Year,
    Month,
    Day,
}

/// Values filled into a [`Permalink`].
pub struct PermalinkParts<'a> {
    /// `site.base_url`.
    pub base_url: &'a str,
    /// The column slug.
    pub column: &'a str,
    /// The article slug.
    pub slug: &'a str,
    /// The publication date in the site's zone.
    pub date: chrono::NaiveDate,
}

const PERMALINK_PLACEHOLDERS: &[&str] = &["base_url", "column", "slug", "year", "month", "day"];

impl Permalink {
    fn parse(pattern: &str) -> Result<Permalink, String> {
        let mut rest = pattern;
        let mut names = Vec::new();
        let mut segments = Vec::new();
        while let Some(open) = rest.find('{') {
            let at = pattern.len() - rest.len();
            if open > 0 {
                segments.push(Segment::Text(at, at + open));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(format!("a {{ is never closed in {pattern:?}"));
            };
            let name = &after[..close];
            if !PERMALINK_PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "unknown placeholder {{{name}}} in {pattern:?}; expected {}",
                    PERMALINK_PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            names.push(name);
            segments.push(match name {
                "base_url" => Segment::BaseUrl,
                "column" => Segment::Column,
                "slug" => Segment::Slug,
                "year" => Segment::Year,
                "month" => Segment::Month,
                _ => Segment::Day,
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            let at = pattern.len() - rest.len();
            segments.push(Segment::Text(at, pattern.len()));
        }
        if !names.contains(&"slug") {
            return Err(format!(
                "{pattern:?} has no {{slug}}, so every article would get the same URL"
            ));
        }
        // Literal text is kept as ranges of this copy of the pattern.
        Ok(Permalink {
            segments,
            text: pattern.to_owned(),
        })
    }

    /// Fills the placeholders in (in one pass: it runs once per article).
    pub fn render(&self, parts: &PermalinkParts<'_>) -> String {
        use chrono::Datelike;
        use std::fmt::Write;
        let mut out =
            String::with_capacity(self.text.len() + parts.base_url.len() + parts.slug.len() + 16);
        for s in &self.segments {
            match *s {
                Segment::Text(a, b) => out.push_str(&self.text[a..b]),
                Segment::BaseUrl => out.push_str(parts.base_url),
                Segment::Column => out.push_str(parts.column),
                Segment::Slug => out.push_str(parts.slug),
                Segment::Year => {
                    let _ = write!(out, "{:04}", parts.date.year());
                }
                Segment::Month => {
                    let _ = write!(out, "{:02}", parts.date.month());
                }
                Segment::Day => {
                    let _ = write!(out, "{:02}", parts.date.day());
                }
            }
        }
        out
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// The key, as `section.key` or `columns[2].slug`.
    pub key: String,
    /// What was expected and what was found.
    pub message: String,
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is missing or unreadable.
    #[error("{}: cannot read the configuration: {source}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a value has the wrong type.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The configuration file.
        path: PathBuf,
        /// What the parser said, with the key or line.
        message: String,
    },
    /// Values are of the right type but make no sense.
    #[error("{}", display_issues(path, issues))]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// Every problem found.
        issues: Vec<ConfigIssue>,
    },
}

fn display_issues(path: &Path, issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("{}: {}: {}", path.display(), i.key, i.message))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Reads `path` with overrides from the process environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("BROADSHEET_"))
            .collect();
        Config::load_with_env(path, &env)
    }

    /// Reads `path` with overrides from `env` (variables named
    /// `BROADSHEET_<SECTION>__<KEY>`; others are ignored).
    pub fn load_with_env(
        path: &Path,
        env: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // Only SECTION__KEY variables are settings; BROADSHEET_CONFIG and
        // BROADSHEET_LOG are not.
        let env: config::Map<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("BROADSHEET_") && k.contains("__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let digest_of_sources = {
            use sha2::{Digest as _, Sha256};
            let mut h = Sha256::new();
            h.update(text.as_bytes());
            let mut sorted: Vec<_> = env.iter().collect();
            sorted.sort();
            for (k, v) in sorted {
                h.update([0]);
                h.update(k.as_bytes());
                h.update([b'=']);
                h.update(v.as_bytes());
            }
            hex(&h.finalize())
        };
        let parse_error = |e: config::ConfigError| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let built = config::Config::builder()
            .add_source(config::File::from_str(&text, config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("BROADSHEET")
                    .prefix_separator("_")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(env)),
            )
            .build()
            .map_err(parse_error)?;
        let mut unknown_keys = Vec::new();
        let raw: RawConfig =
            serde_ignored::deserialize(built, |p| unknown_keys.push(p.to_string()))
                .map_err(parse_error)?;
        let root = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let mut config = validate(raw, path, &root, unknown_keys)?;
        config.digest_of_sources = digest_of_sources;
        Ok(config)
    }

    /// The column with this slug.
    pub fn column(&self, slug: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.slug.as_str() == slug)
    }

    /// A path relative to the configuration's folder, for messages.
    pub fn display_path<'a>(&self, p: &'a Path) -> std::borrow::Cow<'a, str> {
        match p.strip_prefix(&self.root) {
            Ok(rel) => rel.to_string_lossy(),
            Err(_) => p.to_string_lossy(),
        }
    }
}

/// Collects issues while validating, so all are reported at once.
struct Issues(Vec<ConfigIssue>);

impl Issues {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue {
            key: key.into(),
            message: message.into(),
        });
    }
}

fn validate(
    raw: RawConfig,
    path: &Path,
    root: &Path,
    unknown_keys: Vec<String>,
) -> Result<Config, ConfigError> {
    let mut issues = Issues(Vec::new());
    check_output_dir(&mut issues, path, root, &raw);

    if raw.site.title.trim().is_empty() {
        issues.add(
            "site.title",
            "expected the publication's name, found nothing",
        );
    }
    let base_url = match Url::parse(&raw.site.base_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            raw.site.base_url.trim_end_matches('/').to_owned()
        }
        _ => {
            issues.add(
                "site.base_url",
                format!(
                    "expected an absolute http(s) URL such as \"https://news.example.com\", found {:?}",
                    raw.site.base_url
                ),
            );
            String::from("https://invalid.example")
        }
    };
    if !is_language_tag(&raw.site.language) {
        issues.add(
            "site.language",
            format!(
                "expected a BCP 47 language tag such as \"zh-Hant-HK\", found {:?}",
                raw.site.language
            ),
        );
    }
    let timezone = raw.site.timezone.parse::<Tz>().unwrap_or_else(|_| {
        issues.add(
            "site.timezone",
            format!(
                "expected an IANA time zone such as \"Asia/Hong_Kong\", found {:?}",
                raw.site.timezone
            ),
        );
        Tz::Asia__Hong_Kong
    });
    let permalink = Permalink::parse(&raw.site.permalink).unwrap_or_else(|m| {
        issues.add("site.permalink", m);
        Permalink::parse("{base_url}/{column}/{slug}/").expect("the default is valid")
    });
    let sample = permalink.render(&PermalinkParts {
        base_url: &base_url,
        column: "column",
        slug: "slug",
        date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a valid date"),
    });
    if Url::parse(&sample).is_err() {
        issues.add(
            "site.permalink",
            format!("expected a pattern that gives an absolute URL, but it gives {sample:?}"),
        );
    }

    let mut seen = HashSet::new();
    let mut columns = Vec::new();
    if raw.columns.is_empty() {
        issues.add(
            "columns",
            "expected at least one [[columns]] entry, found none",
        );
    }
    for (i, c) in raw.columns.iter().enumerate() {
        let key = format!("columns[{i}]");
        match ColumnSlug::parse(&c.slug) {
            Ok(slug) if RESERVED_SLUGS.contains(&slug.as_str()) => issues.add(
                format!("{key}.slug"),
                format!(
                    "{:?} is reserved for broadsheet's own output; choose another slug",
                    c.slug
                ),
            ),
            Ok(slug) => {
                if !seen.insert(slug.clone()) {
                    issues.add(
                        format!("{key}.slug"),
                        format!(
                            "{:?} is used by an earlier column; slugs must be unique",
                            c.slug
                        ),
                    );
                }
                if c.title.trim().is_empty() {
                    issues.add(
                        format!("{key}.title"),
                        "expected the column's title, found nothing",
                    );
                }
                let url = match &c.url {
                    Some(u) => {
                        if Url::parse(u).is_err() {
                            issues.add(
                                format!("{key}.url"),
                                format!("expected an absolute URL, found {u:?}"),
                            );
                        }
                        u.clone()
                    }
                    None => format!("{base_url}/{slug}/"),
                };
                columns.push(Column {
                    slug,
                    title: crate::text::one_line(&c.title),
                    description: crate::text::strip_control_chars(c.description.trim()),
                    url,
                });
            }
            Err(m) => issues.add(format!("{key}.slug"), m),
        }
    }

    let max_items = whole(&mut issues, "feeds.max_items", raw.feeds.max_items, 50) as usize;
    let summary_chars = whole(
        &mut issues,
        "feeds.summary_chars",
        raw.feeds.summary_chars,
        150,
    ) as usize;
    let content = match raw.feeds.content.as_str() {
        "full" => FeedContent::Full,
        "summary" => FeedContent::Summary,
        other => {
            issues.add(
                "feeds.content",
                format!("expected \"full\" or \"summary\", found {other:?}"),
            );
            FeedContent::Full
        }
    };
    let author_content = match raw.feeds.author_content.as_str() {
        "full" => FeedContent::Full,
        "summary" => FeedContent::Summary,
        other => {
            issues.add(
                "feeds.author_content",
                format!("expected \"full\" or \"summary\", found {other:?}"),
            );
            FeedContent::Summary
        }
    };
    let feeds_url = raw
        .feeds
        .url
        .replace("{base_url}", &base_url)
        .trim_end_matches('/')
        .to_owned();
    if Url::parse(&feeds_url).is_err() {
        issues.add(
            "feeds.url",
            format!(
                "expected an absolute URL (\"{{base_url}}\" may be used), found {:?}",
                raw.feeds.url
            ),
        );
    }
    let id_authority = raw
        .feeds
        .id_authority
        .unwrap_or_else(|| "broadsheet".into());
    if !is_tag_authority(&id_authority) {
        issues.add(
            "feeds.id_authority",
            format!("expected a domain name or an email address such as \"news.example.com\", found {id_authority:?}"),
        );
    }
    let author_max_items = whole(
        &mut issues,
        "feeds.author_max_items",
        raw.feeds.author_max_items,
        10,
    ) as usize;
    for (name, slug) in &raw.authors {
        if !crate::names::is_author_slug(slug) {
            issues.add(
                format!("authors.{name:?}"),
                format!("expected a slug of letters, digits, '-' or '_', such as \"chan-tai-man\", found {slug:?}"),
            );
        }
    }
    let mut warnings = Vec::new();
    let websub_hub = match raw.feeds.websub_hub.trim() {
        "" => None,
        hub => match Url::parse(hub) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                if u.scheme() != "https" {
                    warnings.push(format!(
                        "feeds.websub_hub: {hub:?} is not https; public hubs expect https, and a notification over http can be read and forged on the way"
                    ));
                }
                Some(hub.to_owned())
            }
            _ => {
                issues.add(
                    "feeds.websub_hub",
                    format!("expected the http(s) URL of a WebSub hub, such as \"https://pubsubhubbub.appspot.com/\", found {hub:?}"),
                );
                None
            }
        },
    };

    let schedule = Schedule::parse(&raw.digest.schedule).unwrap_or_else(|| {
        issues.add(
            "digest.schedule",
            format!(
                "expected a weekday and a 24-hour time such as \"Mon 08:00\", found {:?}",
                raw.digest.schedule
            ),
        );
        Schedule::parse("Mon 08:00").expect("a valid default")
    });
    let max_age_days = whole(
        &mut issues,
        "digest.max_age_days",
        raw.digest.max_age_days,
        14,
    ) as u32;

    let port = whole(&mut issues, "smtp.port", raw.smtp.port, 25) as u16;
    let security = match raw.smtp.security.as_str() {
        "none" => Security::None,
        "starttls" => Security::StartTls,
        "tls" => Security::Tls,
        other => {
            issues.add(
                "smtp.security",
                format!("expected \"none\", \"starttls\" or \"tls\", found {other:?}"),
            );
            Security::None
        }
    };
    let max_connections = whole(
        &mut issues,
        "smtp.max_connections",
        raw.smtp.max_connections,
        4,
    ) as u32;
    let rate = raw.smtp.rate_limit_per_second;
    let (low, high) = RATE_LIMIT;
    let rate_limit_per_second = if rate == 0.0 || (low..=high).contains(&rate) {
        rate
    } else {
        issues.add(
            "smtp.rate_limit_per_second",
            format!("expected 0 (unlimited) or a number from {low} to {high}, found {rate}"),
        );
        0.0
    };
    let host = raw.smtp.host.filter(|h| !h.trim().is_empty());
    let max_messages_per_connection = whole(
        &mut issues,
        "smtp.max_messages_per_connection",
        raw.smtp.max_messages_per_connection,
        0,
    ) as usize;
    let timeout_seconds = whole(
        &mut issues,
        "smtp.timeout_seconds",
        raw.smtp.timeout_seconds,
        30,
    ) as u64;
    let final_reply_timeout_seconds = whole(
        &mut issues,
        "smtp.final_reply_timeout_seconds",
        raw.smtp.final_reply_timeout_seconds,
        600,
    ) as u64;
    let max_send_minutes = whole(
        &mut issues,
        "digest.max_send_minutes",
        raw.digest.max_send_minutes,
        60,
    ) as u32;
    let busy_timeout_seconds = whole(
        &mut issues,
        "state.busy_timeout_seconds",
        raw.state.busy_timeout_seconds,
        30,
    ) as u32;
    let retries = whole(&mut issues, "smtp.retries", raw.smtp.retries, 3) as u32;
    let retry_backoff_ms = whole(
        &mut issues,
        "smtp.retry_backoff_ms",
        raw.smtp.retry_backoff_ms,
        1000,
    ) as u64;
    let dkim = match (
        &raw.digest.dkim_selector,
        &raw.digest.dkim_domain,
        &raw.digest.dkim_key_file,
    ) {
        (None, None, None) => None,
        (Some(selector), Some(domain), Some(key)) => {
            let ed25519 = match raw.digest.dkim_algorithm.as_str() {
                "rsa" => false,
                "ed25519" => true,
                other => {
                    issues.add(
                        "digest.dkim_algorithm",
                        format!("expected \"rsa\" or \"ed25519\", found {other:?}"),
                    );
                    false
                }
            };
            Some(Dkim {
                selector: selector.clone(),
                domain: domain.clone(),
                key_file: root.join(key),
                ed25519,
            })
        }
        _ => {
            issues.add(
                "digest.dkim_selector",
                "DKIM needs all three of digest.dkim_selector, digest.dkim_domain and digest.dkim_key_file",
            );
            None
        }
    };

    let bind = raw.server.bind.parse::<SocketAddr>().unwrap_or_else(|_| {
        issues.add(
            "server.bind",
            format!(
                "expected an address and port such as \"127.0.0.1:8080\", found {:?}",
                raw.server.bind
            ),
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let emails_per_address_per_day = whole(
        &mut issues,
        "server.emails_per_address_per_day",
        raw.server.emails_per_address_per_day,
        3,
    ) as u32;
    let emails_per_client_per_hour = whole(
        &mut issues,
        "server.emails_per_client_per_hour",
        raw.server.emails_per_client_per_hour,
        20,
    ) as u32;
    let shutdown_email_seconds = whole(
        &mut issues,
        "server.shutdown_email_seconds",
        raw.server.shutdown_email_seconds,
        30,
    ) as u64;
    if let Some(u) = &raw.server.public_url {
        if !matches!(Url::parse(u), Ok(p) if matches!(p.scheme(), "http" | "https")) {
            issues.add(
                "server.public_url",
                format!("expected an absolute http(s) URL, found {u:?}"),
            );
        }
    }

    if !issues.0.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_owned(),
            issues: issues.0,
        });
    }
    let at_root = |p: &str| root.join(p);
    Ok(Config {
        path: path.to_owned(),
        root: root.to_owned(),
        site: Site {
            title: crate::text::one_line(&raw.site.title),
            base_url,
            language: raw.site.language,
            timezone,
            permalink,
            content_dir: at_root(&raw.site.content_dir),
            output_dir: at_root(&raw.site.output_dir),
            templates_dir: at_root(&raw.site.templates_dir),
            state_path: at_root(&raw.site.state_path),
            follow_external_symlinks: raw.site.follow_external_symlinks,
        },
        columns,
        feeds: Feeds {
            max_items,
            content,
            url: feeds_url,
            summary_chars,
            id_authority,
            websub_hub,
            author_feeds: raw.feeds.author_feeds,
            author_content,
            author_max_items,
        },
        digest: Digest {
            from: raw.digest.from,
            reply_to: raw.digest.reply_to,
            schedule,
            max_age_days,
            subject: raw.digest.subject,
            dkim,
            max_send_minutes,
        },
        smtp: Smtp {
            outbox_dir: at_root(&raw.smtp.outbox_dir),
            host,
            port,
            security,
            username: raw.smtp.username,
            password: Secret(raw.smtp.password),
            max_connections,
            rate_limit_per_second,
            max_messages_per_connection,
            timeout_seconds,
            final_reply_timeout_seconds,
            retries,
            retry_backoff_ms,
            ca_file: raw.smtp.ca_file.map(|f| at_root(&f)),
        },
        server: Server {
            bind,
            public_url: raw
                .server
                .public_url
                .map(|u| u.trim_end_matches('/').to_owned()),
            secret: Secret(raw.server.secret),
            emails_per_address_per_day,
            emails_per_client_per_hour,
            trust_forwarded_for: raw.server.trust_forwarded_for,
            shutdown_email_seconds,
        },
        state: State {
            busy_timeout_seconds,
        },
        author_slugs: raw
            .authors
            .iter()
            .map(|(k, v)| (crate::text::one_line(k), v.clone()))
            .collect(),
        unknown_keys,
        warnings,
        digest_of_sources: String::new(),
    })
}

/// `output_dir` is the web root: `serve` hands out what is in it, and
/// anyone who can write it may be a stranger. It must hold none of what
/// broadsheet keeps for itself (the configuration with its secret, the
/// state with every address, the outbox with signed links, the content
/// and templates), nor lie inside the content or the outbox.
fn check_output_dir(issues: &mut Issues, config_file: &Path, root: &Path, raw: &RawConfig) {
    let output = resolved(&root.join(&raw.site.output_dir));
    let mut held: Vec<(&str, PathBuf)> = vec![
        (
            "the configuration file",
            resolved(&root.join(config_file.file_name().unwrap_or_default())),
        ),
        (
            "site.content_dir",
            resolved(&root.join(&raw.site.content_dir)),
        ),
        (
            "site.templates_dir",
            resolved(&root.join(&raw.site.templates_dir)),
        ),
        (
            "site.state_path",
            resolved(&root.join(&raw.site.state_path)),
        ),
        (
            "smtp.outbox_dir",
            resolved(&root.join(&raw.smtp.outbox_dir)),
        ),
    ];
    if let Some(key) = &raw.digest.dkim_key_file {
        held.push(("digest.dkim_key_file", resolved(&root.join(key))));
    }
    if let Some(ca) = &raw.smtp.ca_file {
        held.push(("smtp.ca_file", resolved(&root.join(ca))));
    }
    for (what, path) in &held {
        let inside = |a: &Path, b: &Path| a.starts_with(b);
        let problem = if inside(path, &output) {
            Some("would be inside it")
        } else if matches!(*what, "site.content_dir" | "smtp.outbox_dir") && inside(&output, path) {
            Some("would hold it")
        } else {
            None
        };
        if let Some(problem) = problem {
            issues.add(
                "site.output_dir",
                format!(
                    "{:?} is served to anyone, and {what} ({}) {problem}; expected a folder of its own, such as \"feeds\"",
                    raw.site.output_dir,
                    path.display()
                ),
            );
        }
    }
}

/// `p` made absolute with every symbolic link resolved as far as it exists
/// (the rest, not made yet, is taken as written), so that two spellings of
/// one folder compare equal.
fn resolved(p: &Path) -> PathBuf {
    use std::path::Component;
    let absolute = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let mut lexical = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let mut existing = lexical.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(mut real) = existing.canonicalize() {
            real.extend(rest.iter().rev());
            return real;
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name);
                existing = parent;
            }
            _ => return lexical,
        }
    }
}

/// The range each whole-number key may take. Every number is bounded: a
/// value that passes `check` must not crash or stall a later command
/// (`smtp.max_connections = 100000000` would have a send allocate a pool of
/// that size; `feeds.max_items = 1e23` reads as the largest integer). The
/// bounds are far beyond any sensible setting; README's table lists them.
pub const BOUNDS: &[(&str, i64, i64)] = &[
    ("feeds.max_items", 1, 10_000),
    ("feeds.summary_chars", 1, 10_000),
    ("feeds.author_max_items", 1, 1_000),
    ("digest.max_age_days", 1, 3_650),
    ("smtp.port", 1, 65_535),
    ("smtp.max_connections", 1, 100),
    ("smtp.max_messages_per_connection", 0, 1_000_000),
    ("smtp.timeout_seconds", 1, 600),
    ("smtp.final_reply_timeout_seconds", 1, 3_600),
    ("digest.max_send_minutes", 1, 10_080),
    ("state.busy_timeout_seconds", 1, 3_600),
    ("smtp.retries", 0, 10),
    ("smtp.retry_backoff_ms", 0, 30_000),
    ("server.emails_per_address_per_day", 1, 1_000),
    ("server.emails_per_client_per_hour", 1, 10_000),
    ("server.shutdown_email_seconds", 0, 3_600),
];

/// `smtp.rate_limit_per_second`, when not 0: from one message every 100
/// seconds to far more than any relay takes.
pub const RATE_LIMIT: (f64, f64) = (0.01, 100_000.0);

/// `value` if it lies in the range [`BOUNDS`] gives `key`; else an issue
/// naming the key and the range, and `fallback` so validation goes on.
fn whole(issues: &mut Issues, key: &str, value: i64, fallback: i64) -> i64 {
    let (_, min, max) = BOUNDS
        .iter()
        .find(|(k, _, _)| *k == key)
        .copied()
        .expect("every whole-number key has bounds");
    if (min..=max).contains(&value) {
        value
    } else {
        issues.add(
            key,
            format!("expected a whole number from {min} to {max}, found {value}"),
        );
        fallback
    }
}

/// A loose BCP 47 check: a 2–3 letter language, then subtags of 1–8
/// letters or digits.
fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()));
    lang_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A tag URI authority (RFC 4151): a DNS name or an email address.
fn is_tag_authority(s: &str) -> bool {
    let domain = s
        .rsplit_once('@')
        .map_or(s, |(local, d)| if local.is_empty() { "" } else { d });
    !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, toml).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load_with_env(&path, &env)
    }

    const MINIMAL: &str = r#"
[site]
title = "論壇"
base_url = "https://news.example.com/"

[[columns]]
slug = "ai"
title = "AI"
"#;

    #[test]
    fn defaults_are_those_of_the_spec() {
        let c = load(MINIMAL, &[]).unwrap();
        assert_eq!(c.site.base_url, "https://news.example.com");
        assert_eq!(c.site.timezone, Tz::Asia__Hong_Kong);
        assert_eq!(c.feeds.max_items, 50);
        assert_eq!(c.feeds.url, "https://news.example.com/feeds");
        assert_eq!(c.digest.max_age_days, 14);
        assert_eq!(c.columns[0].url, "https://news.example.com/ai/");
        assert!(c.site.output_dir.ends_with("feeds"));
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let c = load(
            MINIMAL,
            &[
                ("BROADSHEET_SMTP__PORT", "2525"),
                ("BROADSHEET_FEEDS__MAX_ITEMS", "7"),
                ("BROADSHEET_SERVER__SECRET", "s3cret"),
                ("BROADSHEET_CONFIG", "elsewhere.toml"),
            ],
        )
        .unwrap();
        assert_eq!(c.smtp.port, 2525);
        assert_eq!(c.feeds.max_items, 7);
        assert_eq!(c.server.secret.expose(), "s3cret");
        assert!(!format!("{:?}", c.server).contains("s3cret"));
        assert!(c.unknown_keys.is_empty(), "{:?}", c.unknown_keys);
    }

    #[test]
    fn every_bad_value_is_named_by_its_key() {
        let err = load(
            r#"
[site]
title = "x"
base_url = "/relative"
timezone = "Mars/Olympus"
permalink = "{base_url}/{section}/{slug}"

[[columns]]
slug = "all"
title = "All"

[[columns]]
slug = "ai"
title = "AI"

[[columns]]
slug = "ai"
title = "AI again"

[digest]
schedule = "someday"
"#,
            &[],
        )
        .unwrap_err();
        let text = err.to_string();
        for expected in [
            "site.base_url: expected an absolute http(s) URL",
            "site.timezone: expected an IANA time zone such as \"Asia/Hong_Kong\", found \"Mars/Olympus\"",
            "site.permalink: unknown placeholder {section}",
            "columns[0].slug: \"all\" is reserved",
            "columns[2].slug: \"ai\" is used by an earlier column",
            "digest.schedule: expected a weekday and a 24-hour time such as \"Mon 08:00\", found \"someday\"",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let err = load(&format!("{MINIMAL}\n[feeds]\nmax_items = \"many\"\n"), &[]).unwrap_err();
        assert!(err.to_string().contains("feeds.max_items"), "{err}");
    }

    /// Values `check` used to pass and a later command then crashed on:
    /// every number in the configuration is bounded, and the error names
    /// the key and the range.
    #[test]
    fn every_number_out_of_its_range_is_named_with_the_range() {
        let err = load(
            &format!(
                r#"{MINIMAL}
[feeds]
max_items = 1e23
summary_chars = 0
author_max_items = 5000

[digest]
max_age_days = 100000

[smtp]
port = 0
max_connections = 100000000
rate_limit_per_second = 1e-9
max_messages_per_connection = -1
timeout_seconds = 86400
retries = 1000
retry_backoff_ms = 99999999

[server]
emails_per_address_per_day = 0
emails_per_client_per_hour = 4294967296
"#
            ),
            &[],
        )
        .unwrap_err();
        let text = err.to_string();
        for expected in [
            "feeds.max_items: expected a whole number from 1 to 10000, found ",
            "feeds.summary_chars: expected a whole number from 1 to 10000, found 0",
            "feeds.author_max_items: expected a whole number from 1 to 1000, found 5000",
            "digest.max_age_days: expected a whole number from 1 to 3650, found 100000",
            "smtp.port: expected a whole number from 1 to 65535, found 0",
            "smtp.max_connections: expected a whole number from 1 to 100, found 100000000",
            "smtp.rate_limit_per_second: expected 0 (unlimited) or a number from 0.01 to 100000, found 0.000000001",
            "smtp.max_messages_per_connection: expected a whole number from 0 to 1000000, found -1",
            "smtp.timeout_seconds: expected a whole number from 1 to 600, found 86400",
            "smtp.retries: expected a whole number from 0 to 10, found 1000",
            "smtp.retry_backoff_ms: expected a whole number from 0 to 30000, found 99999999",
            "server.emails_per_address_per_day: expected a whole number from 1 to 1000, found 0",
            "server.emails_per_client_per_hour: expected a whole number from 1 to 10000, found 4294967296",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert_eq!(text.lines().count(), 13, "{text}");
    }

    /// The bounds a user meets are the ones README's table gives.
    #[test]
    fn the_readme_gives_every_bound() {
        let readme = include_str!("../../README.md");
        let thousands = |n: i64| {
            let digits = n.to_string();
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 && (digits.len() - i).is_multiple_of(3) {
                    out.push(',');
                }
                out.push(c);
            }
            out
        };
        for (key, min, max) in BOUNDS {
            let row = readme
                .lines()
                .find(|l| l.starts_with(&format!("| `{key}` |")))
                .unwrap_or_else(|| panic!("no README row for {key}"));
            let range = format!("{}–{}", thousands(*min), thousands(*max));
            assert!(row.contains(&range), "{key}: expected {range} in {row}");
        }
    }

    #[test]
    fn typos_are_reported_as_unknown_keys() {
        let c = load(&format!("{MINIMAL}\n[feeds]\nmax_itmes = 3\n"), &[]).unwrap();
        assert_eq!(c.unknown_keys, vec!["feeds.max_itmes".to_string()]);
    }
}
