//! `[bounces]` (how bounce and complaint mail is read, and the rates that
//! are too high) and `[webhooks]` (what verifies each sending service's
//! events). The IMAP password is a [`Secret`]; the webhook secrets are
//! kept only inside the verifying keys, whose Debug never shows them.

use super::issues::Issues;
use super::raw::{RawBounces, RawWebhooks};
use super::Secret;
use crate::bounces::webhooks::{self, WebhookKeys};
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

/// `[webhooks]`.
#[derive(Debug, Clone, Default)]
pub struct Webhooks {
    /// The keys that verify each provider's requests; a provider without
    /// one is refused.
    pub keys: WebhookKeys,
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
    let ca_pem = raw.imap_ca_file.as_deref().and_then(|f| {
        let path = root.join(f);
        let pem = read_file(issues, "bounces.imap_ca_file", &path)?;
        // Checked now, so `check` finds a file that is not one.
        match pem_certificates(&pem) {
            Ok(()) => Some(pem),
            Err(why) => {
                issues.add("bounces.imap_ca_file", format!("{}: {why}", path.display()));
                None
            }
        }
    });
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

/// Whether `pem` holds one or more certificates, and nothing else that
/// fails to read.
fn pem_certificates(pem: &[u8]) -> Result<(), String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut found = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| format!("expected PEM certificates: {e}"))?;
        found += 1;
    }
    match found {
        0 => {
            Err("expected PEM certificates (-----BEGIN CERTIFICATE-----); it holds none".to_owned())
        }
        _ => Ok(()),
    }
}

fn read_file(issues: &mut Issues, key: &str, path: &PathBuf) -> Option<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| issues.add(key, format!("cannot read {}: {e}", path.display())))
        .ok()
}

/// `[webhooks]`: each key read and parsed now, so `check` finds a bad one.
pub(super) fn validate_webhooks(raw: RawWebhooks, root: &Path, issues: &mut Issues) -> Webhooks {
    let mut keys = WebhookKeys::default();
    if !raw.ses_certificate.trim().is_empty() {
        let path = root.join(raw.ses_certificate.trim());
        if let Some(pem) = read_file(issues, "webhooks.ses_certificate", &path) {
            match webhooks::ses_certificate_from_pem(&pem) {
                Ok(der) => keys.ses_certificate = Some(der),
                Err(why) => issues.add(
                    "webhooks.ses_certificate",
                    format!("{}: {why}", path.display()),
                ),
            }
        }
    }
    let cert_url = raw.ses_certificate_url.trim();
    if !cert_url.is_empty() {
        match url::Url::parse(cert_url) {
            Ok(u) if u.scheme() == "https" => keys.ses_certificate_url = Some(cert_url.to_owned()),
            _ => issues.add(
                "webhooks.ses_certificate_url",
                format!(
                    "expected the https:// URL SNS names as SigningCertURL, found {cert_url:?}"
                ),
            ),
        }
    }
    keys.ses_topic_arns = raw
        .ses_topic_arns
        .iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    if !raw.sendgrid_public_key.trim().is_empty() {
        match webhooks::sendgrid_key_from_text(raw.sendgrid_public_key.trim()) {
            Ok(der) => keys.sendgrid_public_key = Some(der),
            Err(why) => issues.add("webhooks.sendgrid_public_key", why),
        }
    }
    if !raw.mailgun_signing_key.is_empty() {
        keys.mailgun_signing_key = Some(raw.mailgun_signing_key);
    }
    match (raw.postmark_user.is_empty(), raw.postmark_password.is_empty()) {
        (true, true) => {}
        (false, false) => keys.postmark = Some((raw.postmark_user, raw.postmark_password)),
        _ => issues.add(
            "webhooks.postmark_user",
            "Postmark's basic auth needs both webhooks.postmark_user and webhooks.postmark_password (better: BROADSHEET_WEBHOOKS__POSTMARK_PASSWORD)",
        ),
    }
    Webhooks { keys }
}
