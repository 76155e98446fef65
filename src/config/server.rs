//! `[server]`: where `serve` listens and is reached, the key links are
//! signed with, and its limits. Whether `public_url` and `secret` must be
//! set depends on the command: [`Config::service`] is the one place that
//! says so for those that mail links (`serve`, `digest send`).

use super::issues::Issues;
use super::raw::RawServer;
use super::{Config, ConfigError, Secret};
use std::net::SocketAddr;
use url::Url;

/// The fewest characters `server.secret` may have: a short secret can be
/// guessed, and every link signed with it forged.
const SECRET_MIN_CHARS: usize = 16;

/// `[server]`.
#[derive(Debug, Clone)]
pub struct Server {
    /// The address `serve` listens on.
    pub bind: SocketAddr,
    /// Where the service is reached from outside: an absolute http(s)
    /// URL, without a trailing slash.
    pub public_url: Option<String>,
    /// The HMAC key for tokens: empty, or at least 16 characters.
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

/// `[server]`.
pub(super) fn validate(raw: RawServer, issues: &mut Issues) -> Server {
    let bind = raw.bind.parse::<SocketAddr>().unwrap_or_else(|_| {
        issues.add(
            "server.bind",
            format!(
                "expected an address and port such as \"127.0.0.1:8080\", found {:?}",
                raw.bind
            ),
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let emails_per_address_per_day = issues.whole(
        "server.emails_per_address_per_day",
        raw.emails_per_address_per_day,
        3,
    ) as u32;
    let emails_per_client_per_hour = issues.whole(
        "server.emails_per_client_per_hour",
        raw.emails_per_client_per_hour,
        20,
    ) as u32;
    let shutdown_email_seconds = issues.whole(
        "server.shutdown_email_seconds",
        raw.shutdown_email_seconds,
        30,
    ) as u64;
    if let Some(u) = &raw.public_url {
        if !matches!(Url::parse(u), Ok(p) if matches!(p.scheme(), "http" | "https")) {
            issues.add(
                "server.public_url",
                format!("expected an absolute http(s) URL, found {u:?}"),
            );
        }
    }
    // Unset is fine here (a build signs nothing); set, it must be usable.
    if !raw.secret.is_empty() && raw.secret.chars().count() < SECRET_MIN_CHARS {
        issues.add(
            "server.secret",
            "expected at least 16 characters: a short secret can be guessed",
        );
    }
    Server {
        bind,
        public_url: raw.public_url.map(|u| u.trim_end_matches('/').to_owned()),
        secret: Secret(raw.secret),
        emails_per_address_per_day,
        emails_per_client_per_hour,
        trust_forwarded_for: raw.trust_forwarded_for,
        shutdown_email_seconds,
    }
}

/// What a command that mails readers signed links needs of `[server]`.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// Where the subscriber service is reached; every emailed link starts
    /// with it.
    pub public_url: String,
    /// The key links are signed with: at least 16 characters.
    pub secret: Secret,
}

/// Which command asks for [`ServiceSettings`]: each says in its own words
/// what a missing setting is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceUse {
    /// `serve`: the service itself.
    Serve,
    /// `digest send`, and `run`'s digest step.
    DigestSend,
}

impl Config {
    /// `digest.from`, `server.public_url` and `server.secret`, which `serve`
    /// and `digest send` need and a build does not; every one missing is
    /// reported at once, naming its key. (Set ones were checked at load.)
    pub fn service(&self, needed_by: ServiceUse) -> Result<ServiceSettings, ConfigError> {
        let secret = (
            "server.secret",
            self.server.secret.is_empty(),
            match needed_by {
                ServiceUse::Serve => "expected a secret to sign links with (at least 16 characters); set BROADSHEET_SERVER__SECRET",
                ServiceUse::DigestSend => "expected a secret to sign unsubscribe links with; set BROADSHEET_SERVER__SECRET",
            },
        );
        let public_url = (
            "server.public_url",
            self.server.public_url.is_none(),
            match needed_by {
                ServiceUse::Serve => "expected the address readers reach this service at (links in emails point there), found nothing",
                ServiceUse::DigestSend => "expected the address of the subscriber service (unsubscribe links point there), found nothing",
            },
        );
        // Every email carries a From: a digest and the service's emails.
        let from = (
            "digest.from",
            self.digest.from.is_none(),
            "expected the mailbox emails come from, such as \"論壇 <digest@news.example.com>\"; it is not set",
        );
        let order = match needed_by {
            ServiceUse::Serve => [from, secret, public_url],
            ServiceUse::DigestSend => [from, public_url, secret],
        };
        let mut issues = Issues::new(&self.path);
        for (key, missing, message) in order {
            if missing {
                issues.add(key, message);
            }
        }
        issues.finish()?;
        Ok(ServiceSettings {
            public_url: self.server.public_url.clone().unwrap_or_default(),
            secret: self.server.secret.clone(),
        })
    }
}
