//! `config.toml` plus `BROADSHEET_<SECTION>__<KEY>` environment overrides:
//! read into [`raw::RawConfig`], then validated into [`Config`], which is all
//! the rest of the crate sees. Every problem names its key, and all of them
//! are reported at once.
//!
//! Each section is validated in a file of its own, into domain types: the
//! digest's addresses are mailboxes, the DKIM key and the relay's CA file
//! are read and the key parsed, the secret's length is checked. What is
//! required depends on the command, and is decided by [`Config::service`]
//! for the commands that mail links.

mod bounces;
mod columns;
mod digest;
mod feeds;
mod issues;
mod paths;
mod permalink;
mod raw;
mod schedule;
mod server;
mod site;
mod smtp;
mod state;
mod suggest;

pub use bounces::{Bounces, ImapMailbox, Webhooks};
pub use columns::Column;
pub use digest::{Digest, Dkim, DkimKey, ProviderHeaders};
pub use feeds::{FeedContent, Feeds};
pub use permalink::{Permalink, PermalinkParts};
pub use schedule::Schedule;
pub use server::{Server, ServiceSettings, ServiceUse};
pub use site::Site;
pub use smtp::{CaFile, Security, Smtp};
pub use state::State;
pub use suggest::closest_key;
pub(crate) use suggest::fields as struct_fields;

use crate::diagnostic::{Diagnostic, Location};
use crate::names::hex;
use issues::Issues;
use raw::RawConfig;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

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
    /// `[bounces]`.
    pub bounces: Bounces,
    /// `[webhooks]`.
    pub webhooks: Webhooks,
    /// `[authors]`: a URL slug chosen for an author's name, where the one
    /// derived from it will not do.
    pub author_slugs: BTreeMap<String, String>,
    /// Keys that were set but mean nothing to broadsheet (likely typos).
    pub unknown_keys: Vec<String>,
    /// Values that work but are unwise, as `key: why`; printed as warnings.
    pub warnings: Vec<String>,
    /// A digest of the file and the environment overrides it was read from.
    pub digest_of_sources: String,
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
    /// Values are of the right type but make no sense, or a command needs
    /// one that is not set.
    #[error("{}", display_issues(issues))]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// Every problem found: the file as shown, the key as the field.
        issues: Vec<Diagnostic>,
    },
}

impl ConfigError {
    /// One problem with `key` in the configuration file `path`.
    pub fn invalid(path: &Path, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: path.to_owned(),
            issues: vec![Diagnostic::located(
                Location::file(path.display().to_string()).field(key),
                message,
            )],
        }
    }
}

/// One problem a line: `path: key: message`.
fn display_issues(issues: &[Diagnostic]) -> String {
    issues
        .iter()
        .map(Diagnostic::to_string)
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
        // A value of the wrong type is named by its key, like every other
        // bad value; a TOML syntax error keeps the parser's words, which
        // give the line and column.
        let parse_error = |e: config::ConfigError| match e {
            config::ConfigError::Type {
                unexpected,
                expected,
                key: Some(key),
                ..
            } => ConfigError::invalid(
                path,
                &key,
                format!("expected {expected}, found {unexpected}"),
            ),
            e => ConfigError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            },
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
        // A column's title may come from its `_index.md`, which no
        // fingerprint of content files covers: what the titles came to is
        // part of the sources.
        config.digest_of_sources = {
            use sha2::{Digest as _, Sha256};
            let mut h = Sha256::new();
            h.update(digest_of_sources.as_bytes());
            for c in &config.columns {
                for part in [&c.title, &c.description] {
                    h.update([0]);
                    h.update(part.as_bytes());
                }
            }
            hex(&h.finalize())
        };
        Ok(config)
    }

    /// The column with this slug.
    pub fn column(&self, slug: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.slug.as_str() == slug)
    }

    /// Where the state is: `[state] url`, or `site.state_path`.
    pub fn state_location(&self) -> crate::store::Location {
        self.state.location(&self.site.state_path)
    }

    /// A path relative to the configuration's folder, for messages.
    pub fn display_path<'a>(&self, p: &'a Path) -> std::borrow::Cow<'a, str> {
        match p.strip_prefix(&self.root) {
            Ok(rel) => rel.to_string_lossy(),
            Err(_) => p.to_string_lossy(),
        }
    }
}

/// Every section checked, every problem collected, before any is
/// reported: the user fixes them all in one go.
fn validate(
    raw: RawConfig,
    path: &Path,
    root: &Path,
    unknown_keys: Vec<String>,
) -> Result<Config, ConfigError> {
    let mut issues = Issues::new(path);
    paths::check_output_dir(&mut issues, path, root, &raw);
    let site = site::validate(raw.site, root, &mut issues);
    let columns = columns::validate(&raw.columns, &site.base_url, &site.content_dir, &mut issues);
    let feeds = feeds::validate(raw.feeds, &site.base_url, &mut issues);
    let author_slugs = feeds::author_slugs(&raw.authors, &mut issues);
    let digest = digest::validate(raw.digest, root, &mut issues);
    let smtp = smtp::validate(raw.smtp, root, &mut issues);
    let server = server::validate(raw.server, &mut issues);
    let state = state::validate(raw.state, &mut issues);
    let bounces = bounces::validate(raw.bounces, root, &mut issues);
    let webhooks = bounces::validate_webhooks(raw.webhooks, root, &mut issues);
    if digest.bounce_domain.is_some() && server.secret.is_empty() {
        issues.add(
            "digest.bounce_domain",
            "VERP addresses carry a token signed with server.secret: set it (better: BROADSHEET_SERVER__SECRET)",
        );
    }
    if digest.provider_headers != ProviderHeaders::None && server.secret.is_empty() {
        issues.add(
            "digest.provider_headers",
            "the header carries a token signed with server.secret: set it (better: BROADSHEET_SERVER__SECRET)",
        );
    }
    issues.finish()?;
    Ok(Config {
        path: path.to_owned(),
        root: root.to_owned(),
        site,
        columns,
        feeds,
        digest,
        smtp,
        server,
        state,
        bounces,
        webhooks,
        author_slugs,
        unknown_keys,
        warnings: issues.warnings,
        digest_of_sources: String::new(),
    })
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
    ("feeds.author_min_articles", 1, 1_000),
    ("digest.max_age_days", 1, 3_650),
    ("smtp.port", 1, 65_535),
    ("smtp.max_connections", 1, 100),
    ("smtp.max_messages_per_connection", 0, 1_000_000),
    ("smtp.timeout_seconds", 1, 600),
    ("smtp.final_reply_timeout_seconds", 1, 3_600),
    ("digest.max_send_minutes", 1, 10_080),
    ("state.busy_timeout_seconds", 1, 3_600),
    ("state.statement_timeout_seconds", 1, 86_400),
    ("state.lease_seconds", 5, 86_400),
    ("state.pool_size", 1, 64),
    ("smtp.retries", 0, 10),
    ("smtp.retry_backoff_ms", 0, 30_000),
    ("server.emails_per_address_per_day", 1, 1_000),
    ("server.emails_per_client_per_hour", 1, 10_000),
    ("server.shutdown_email_seconds", 0, 3_600),
    ("bounces.soft_limit", 1, 100),
    ("bounces.soft_days", 0, 365),
    ("bounces.imap_timeout_seconds", 1, 600),
];

/// `smtp.rate_limit_per_second`, when not 0: from one message every 100
/// seconds to far more than any relay takes.
pub const RATE_LIMIT: (f64, f64) = (0.01, 100_000.0);

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

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
                ("BROADSHEET_SERVER__SECRET", "s3cret-of-sixteen+"),
                ("BROADSHEET_CONFIG", "elsewhere.toml"),
            ],
        )
        .unwrap();
        assert_eq!(c.smtp.port, 2525);
        assert_eq!(c.feeds.max_items, 7);
        assert_eq!(c.server.secret.expose(), "s3cret-of-sixteen+");
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
author_min_articles = 0

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
            "feeds.author_min_articles: expected a whole number from 1 to 1000, found 0",
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
        assert_eq!(text.lines().count(), 14, "{text}");
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

    /// `serve` and `digest send` need a public URL and a secret; every one
    /// missing is named at once, in the words of the command that asks.
    #[test]
    fn a_command_that_mails_links_is_told_every_missing_setting_at_once() {
        let c = load(MINIMAL, &[]).unwrap();
        let path = c.path.display().to_string();
        let text = c.service(ServiceUse::DigestSend).unwrap_err().to_string();
        assert_eq!(
            text,
            format!(
                "{path}: digest.from: expected the mailbox emails come from, such as \"論壇 <digest@news.example.com>\"; it is not set\n\
                 {path}: server.public_url: expected the address of the subscriber service (unsubscribe links point there), found nothing\n\
                 {path}: server.secret: expected a secret to sign unsubscribe links with; set BROADSHEET_SERVER__SECRET"
            )
        );
        let text = c.service(ServiceUse::Serve).unwrap_err().to_string();
        assert!(
            text.lines().nth(1).is_some_and(|l| l.starts_with(&format!("{path}: server.secret: expected a secret to sign links with (at least 16 characters)"))),
            "{text}"
        );
        assert_eq!(text.lines().count(), 3, "{text}");
        let c = load(
            MINIMAL,
            &[
                (
                    "BROADSHEET_SERVER__PUBLIC_URL",
                    "https://news.example.com/newsletter/",
                ),
                ("BROADSHEET_SERVER__SECRET", "sixteen-characters"),
                ("BROADSHEET_DIGEST__FROM", "論壇 <digest@news.example.com>"),
            ],
        )
        .unwrap();
        let s = c.service(ServiceUse::Serve).unwrap();
        assert_eq!(s.public_url, "https://news.example.com/newsletter");
        assert_eq!(s.secret.expose(), "sixteen-characters");
    }

    /// The digest's addresses, its DKIM key and the relay's CA file are
    /// read and checked at load, into the types a send uses.
    #[test]
    fn the_mail_settings_are_domain_types_once_loaded() {
        use base64::Engine;
        let dir = tempfile::tempdir().unwrap();
        let seed = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        std::fs::write(dir.path().join("dkim.key"), format!("{seed}\n")).unwrap();
        std::fs::write(dir.path().join("ca.pem"), "PEM").unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            format!(
                "{MINIMAL}\n[digest]\nfrom = \"論壇 <digest@news.example.com>\"\nreply_to = \"editor@news.example.com\"\n\
                 dkim_selector = \"bs\"\ndkim_domain = \"news.example.com\"\ndkim_key_file = \"dkim.key\"\ndkim_algorithm = \"ed25519\"\n\
                 [smtp]\nca_file = \"ca.pem\"\n"
            ),
        )
        .unwrap();
        let c = Config::load_with_env(&path, &BTreeMap::new()).unwrap();
        let from = c.digest.from.as_ref().unwrap();
        assert_eq!(from.name.as_deref(), Some("論壇"));
        assert_eq!(from.email.to_string(), "digest@news.example.com");
        assert_eq!(
            c.digest.reply_to.as_ref().unwrap().email.to_string(),
            "editor@news.example.com"
        );
        let dkim = c.digest.dkim.as_ref().unwrap();
        assert_eq!(
            (dkim.selector.as_str(), dkim.domain.as_str()),
            ("bs", "news.example.com")
        );
        assert!(matches!(
            dkim.key.algorithm(),
            lettre::message::dkim::DkimSigningAlgorithm::Ed25519
        ));
        assert!(!format!("{c:?}").contains(&seed), "the key is never shown");
        assert_eq!(c.smtp.ca_file.as_ref().unwrap().pem, b"PEM");
        // Unset, the sender's address is no one's concern until a send.
        assert!(load(MINIMAL, &[]).unwrap().digest.from.is_none());
    }

    #[test]
    fn the_bounce_mailbox_is_read_from_its_url_and_its_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let config = |ca: &str| {
            std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
            std::fs::write(
                &path,
                format!(
                    "{MINIMAL}\n[bounces]\nimap_url = \"imaps://bounces%40news@mail.example.com/Bounces%20In\"\nimap_ca_file = \"ca.pem\"\n"
                ),
            )
            .unwrap();
            let env = [("BROADSHEET_BOUNCES__IMAP_PASSWORD", "s3cret")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Config::load_with_env(&path, &env)
        };
        let text = config("PEM").unwrap_err().to_string();
        assert!(
            text.contains("bounces.imap_ca_file") && text.contains("expected PEM certificates"),
            "{text}"
        );
        let pem = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";
        let c = config(pem).unwrap();
        let imap = c.bounces.imap.as_ref().unwrap();
        assert_eq!(
            (imap.host.as_str(), imap.port, imap.user.as_str()),
            ("mail.example.com", 993, "bounces@news")
        );
        assert_eq!(imap.mailbox, "Bounces In");
        assert_eq!(imap.password.expose(), "s3cret");
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the password is never shown"
        );
    }

    /// Every key in [`BOUNDS`] is checked against its range: a value just
    /// past either end is refused, naming the key and the range.
    #[test]
    fn every_bounded_key_refuses_a_value_just_past_its_range() {
        for (key, min, max) in BOUNDS {
            let (section, name) = key.split_once('.').unwrap();
            let var = format!(
                "BROADSHEET_{}__{}",
                section.to_uppercase(),
                name.to_uppercase()
            );
            for bad in [min - 1, max + 1] {
                let err = load(MINIMAL, &[(&var, &bad.to_string())])
                    .unwrap_err()
                    .to_string();
                assert!(
                    err.ends_with(&format!(
                        ": {key}: expected a whole number from {min} to {max}, found {bad}"
                    )),
                    "{var}={bad}: {err}"
                );
            }
        }
    }
}
