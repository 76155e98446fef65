//! `[bounces]`: how bounce and complaint mail is read, and the rates that
//! are too high. The IMAP password is a [`Secret`], never printed.

use super::issues::Issues;
use super::raw::RawBounces;
use super::Secret;
use crate::store::BouncePolicy;
use std::path::{Path, PathBuf};

/// `[bounces]`.
#[derive(Debug, Clone)]
pub struct Bounces {
    /// `soft_limit` and `soft_days`.
    pub policy: BouncePolicy,
    /// `imap_url`, when set: the mailbox `run` reads bounces from.
    pub imap: Option<ImapMailbox>,
    /// `max_bounce_rate`: a hard-bounce rate above it is a problem `status`
    /// reports (exit 1).
    pub max_bounce_rate: f64,
    /// `max_complaint_rate`: likewise for complaints; Gmail's bulk-sender
    /// rules name 0.3% as the rate never to reach.
    pub max_complaint_rate: f64,
}

/// `bounces.imap_url` with its password and limits.
#[derive(Debug, Clone)]
pub struct ImapMailbox {
    /// The server's name, as the certificate must show it.
    pub host: String,
    /// Its port (993 unless given).
    pub port: u16,
    /// The login.
    pub user: String,
    /// `bounces.imap_password` (better: `BROADSHEET_BOUNCES__IMAP_PASSWORD`).
    pub password: Secret,
    /// The folder to read (`INBOX` unless given).
    pub mailbox: String,
    /// `bounces.imap_ca_file`: certificates to trust besides the system's
    /// (a newsroom's own CA), as PEM.
    pub ca_pem: Option<Vec<u8>>,
    /// `bounces.imap_timeout_seconds`: the longest any one step may wait
    /// for the server.
    pub timeout_seconds: u32,
}

/// `[bounces]`.
pub(super) fn validate(raw: RawBounces, root: &Path, issues: &mut Issues) -> Bounces {
    let policy = BouncePolicy {
        soft_limit: issues.whole("bounces.soft_limit", raw.soft_limit, 3) as u32,
        soft_days: issues.whole("bounces.soft_days", raw.soft_days, 7) as u32,
    };
    let timeout_seconds =
        issues.whole("bounces.imap_timeout_seconds", raw.imap_timeout_seconds, 30) as u32;
    let imap = match raw.imap_url.trim() {
        "" => None,
        url => imap_mailbox(url, &raw, root, timeout_seconds, issues),
    };
    Bounces {
        policy,
        imap,
        max_bounce_rate: rate(issues, "bounces.max_bounce_rate", raw.max_bounce_rate, 0.02),
        max_complaint_rate: rate(
            issues,
            "bounces.max_complaint_rate",
            raw.max_complaint_rate,
            0.003,
        ),
    }
}

/// A rate: more than 0, at most 1.
fn rate(issues: &mut Issues, key: &str, value: f64, fallback: f64) -> f64 {
    if value > 0.0 && value <= 1.0 {
        value
    } else {
        issues.add(
            key,
            format!("expected a share between 0 and 1 (0.003 is 0.3%), found {value}"),
        );
        fallback
    }
}

fn imap_mailbox(
    text: &str,
    raw: &RawBounces,
    root: &Path,
    timeout_seconds: u32,
    issues: &mut Issues,
) -> Option<ImapMailbox> {
    let key = "bounces.imap_url";
    let url = match url::Url::parse(text) {
        Ok(u) => u,
        Err(e) => {
            issues.add(
                key,
                format!("expected a URL such as \"imaps://bounces@mail.example.com/INBOX\": {e}"),
            );
            return None;
        }
    };
    if url.scheme() != "imaps" {
        issues.add(
            key,
            format!(
                "expected imaps:// (IMAP over TLS, its certificate verified), found {}://: the password must not cross the network in clear",
                url.scheme()
            ),
        );
        return None;
    }
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.trim_matches(['[', ']']).to_owned(),
        _ => {
            issues.add(key, "expected a host name after imaps://");
            return None;
        }
    };
    let user = percent_encoding::percent_decode_str(url.username())
        .decode_utf8_lossy()
        .into_owned();
    if user.is_empty() {
        issues.add(
            key,
            "expected the login before the host: imaps://LOGIN@host/INBOX",
        );
        return None;
    }
    if url.password().is_some() {
        issues.add(
            key,
            "a password does not belong in the URL, where logs and `ps` show it: set BROADSHEET_BOUNCES__IMAP_PASSWORD",
        );
        return None;
    }
    if raw.imap_password.is_empty() {
        issues.add(
            "bounces.imap_password",
            "bounces.imap_url is set but no password is: set BROADSHEET_BOUNCES__IMAP_PASSWORD",
        );
    }
    let mailbox = percent_encoding::percent_decode_str(url.path().trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned();
    let ca_pem = raw
        .imap_ca_file
        .as_deref()
        .and_then(|f| read_file(issues, "bounces.imap_ca_file", &root.join(f)));
    Some(ImapMailbox {
        host,
        port: url.port().unwrap_or(993),
        user,
        password: Secret(raw.imap_password.clone()),
        mailbox: if mailbox.is_empty() {
            "INBOX".to_owned()
        } else {
            mailbox
        },
        ca_pem,
        timeout_seconds,
    })
}

fn read_file(issues: &mut Issues, key: &str, path: &PathBuf) -> Option<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| issues.add(key, format!("cannot read {}: {e}", path.display())))
        .ok()
}
