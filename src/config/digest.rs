//! `[digest]`: who the weekly email comes from, when it goes out, what it
//! carries, and how it is signed. The addresses are parsed and the DKIM
//! key read and parsed here, at load, so `check` finds a bad one, not the
//! first send.

use super::issues::Issues;
use super::raw::RawDigest;
use super::{Schedule, Secret};
use lettre::message::dkim::{DkimSigningAlgorithm, DkimSigningKey};
use lettre::message::Mailbox;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// `[digest]`.
#[derive(Debug, Clone)]
pub struct Digest {
    /// The From header; `None` when `digest.from` is not set, which only
    /// the commands that send mail refuse.
    pub from: Option<Mailbox>,
    /// An optional Reply-To header.
    pub reply_to: Option<Mailbox>,
    /// The weekly slot.
    pub schedule: Schedule,
    /// Articles older than this at the cutoff are never mailed.
    pub max_age_days: u32,
    /// The subject, a Handlebars template; `None` for the built-in one in
    /// the site's language.
    pub subject: Option<String>,
    /// The sender's identity and postal address, shown in every digest's
    /// footer, one entry a line; `None` when not set (the footer then
    /// names the site alone).
    pub sender_address: Option<Vec<String>>,
    /// DKIM signing, when a selector, domain and key file are set.
    pub dkim: Option<Dkim>,
    /// A send still holding the run lock after this long is reported by
    /// the next run as stuck (exit 1), not passed over in silence.
    pub max_send_minutes: u32,
    /// `digest.bounce_domain`: the domain of the VERP envelope sender
    /// (`bounces+TOKEN@<domain>`), in ASCII and lower case; `None`: the
    /// envelope sender is the From address.
    pub bounce_domain: Option<String>,
    /// `digest.provider_headers`: the sending service whose header carries
    /// each message's VERP token, so that its webhook names the delivery.
    pub provider_headers: ProviderHeaders,
}

/// `digest.provider_headers`: which sending service's own header carries
/// the token of each message (the token its VERP address has), for the
/// service to hand back in its bounce and complaint webhooks. Only one: a
/// relay passes other services' headers on to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderHeaders {
    /// No such header (the default): a relay of one's own, or a service
    /// whose webhooks are not used.
    #[default]
    None,
    /// `X-SMTPAPI` with the token in `unique_args`, which SendGrid's Event
    /// Webhook gives back as a field of each event.
    Sendgrid,
    /// `X-Mailgun-Variables`, which Mailgun's webhooks give back as
    /// `user-variables`.
    Mailgun,
    /// `X-PM-Metadata-broadsheet_token`, which Postmark's webhooks give
    /// back in `Metadata`.
    Postmark,
    /// `X-SES-MESSAGE-TAGS` with a `broadsheet-token` tag, which SES's
    /// event publishing gives back in `mail.tags`.
    Ses,
}

impl ProviderHeaders {
    /// The value as written in config.toml.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderHeaders::None => "none",
            ProviderHeaders::Sendgrid => "sendgrid",
            ProviderHeaders::Mailgun => "mailgun",
            ProviderHeaders::Postmark => "postmark",
            ProviderHeaders::Ses => "ses",
        }
    }

    /// Every value, in the order the error names them.
    pub const ALL: [ProviderHeaders; 5] = [
        ProviderHeaders::None,
        ProviderHeaders::Sendgrid,
        ProviderHeaders::Mailgun,
        ProviderHeaders::Postmark,
        ProviderHeaders::Ses,
    ];
}

/// `digest.provider_headers`, or the issue that it is none of them.
fn provider_headers(text: &str, issues: &mut Issues) -> ProviderHeaders {
    let wanted = text.trim().to_ascii_lowercase();
    match ProviderHeaders::ALL
        .into_iter()
        .find(|p| p.as_str() == wanted)
    {
        Some(p) => p,
        None => {
            issues.add(
                "digest.provider_headers",
                format!(
                    "expected \"none\", \"sendgrid\", \"mailgun\", \"postmark\" or \"ses\", found {text:?}"
                ),
            );
            ProviderHeaders::None
        }
    }
}

/// DKIM signing settings, the key read and checked.
#[derive(Debug, Clone)]
pub struct Dkim {
    /// The selector (`<selector>._domainkey.<domain>`).
    pub selector: String,
    /// The signing domain.
    pub domain: String,
    /// The private key from `digest.dkim_key_file`.
    pub key: DkimKey,
}

/// A DKIM private key lettre has parsed: PKCS#1 PEM for RSA, base64 of
/// the 32-byte seed for Ed25519. lettre's `DkimSigningKey` can be neither
/// cloned nor shared (the `DkimConfig` that signs takes it by value), so
/// the checked text is kept, never shown, and each signer parses it again.
#[derive(Clone)]
pub struct DkimKey {
    text: Secret,
    algorithm: DkimSigningAlgorithm,
}

impl DkimKey {
    /// The key's text, for deriving its public key (`broadsheet dns`);
    /// never shown.
    pub(crate) fn private_text(&self) -> &str {
        self.text.expose()
    }

    /// The key in `text`, if lettre can use it.
    fn parse(text: &str, algorithm: DkimSigningAlgorithm) -> Result<DkimKey, String> {
        let text = text.trim();
        DkimSigningKey::new(text, algorithm)
            .map_err(|e| format!("not a usable private key: {e}"))?;
        Ok(DkimKey {
            text: Secret(text.to_owned()),
            algorithm,
        })
    }

    /// The key, for a signer.
    pub fn signing_key(&self) -> DkimSigningKey {
        DkimSigningKey::new(self.text.expose(), self.algorithm)
            .expect("the same text parsed when the configuration was loaded")
    }

    /// RSA or Ed25519.
    pub fn algorithm(&self) -> DkimSigningAlgorithm {
        self.algorithm
    }
}

impl fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimKey")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// `[digest]`, the DKIM key file read from `root`.
pub(super) fn validate(raw: RawDigest, root: &Path, issues: &mut Issues) -> Digest {
    let schedule = Schedule::parse(&raw.schedule).unwrap_or_else(|| {
        issues.add(
            "digest.schedule",
            format!(
                "expected a weekday and a 24-hour time such as \"Mon 08:00\", found {:?}",
                raw.schedule
            ),
        );
        Schedule::parse("Mon 08:00").expect("a valid default")
    });
    let max_age_days = issues.whole("digest.max_age_days", raw.max_age_days, 14) as u32;
    let max_send_minutes = issues.whole("digest.max_send_minutes", raw.max_send_minutes, 60) as u32;
    let dkim = dkim(&raw, root, issues);
    let from = match raw.from.trim() {
        "" => None,
        _ => mailbox(
            issues,
            "digest.from",
            &raw.from,
            format!(
                "expected a mailbox such as \"論壇 <digest@news.example.com>\", found {:?}",
                raw.from
            ),
        ),
    };
    let reply_to = raw.reply_to.as_deref().and_then(|r| {
        mailbox(
            issues,
            "digest.reply_to",
            r,
            format!("expected a mailbox, found {r:?}"),
        )
    });
    let bounce_domain = bounce_domain(&raw.bounce_domain, issues);
    let provider_headers = provider_headers(&raw.provider_headers, issues);
    let sender_address = raw
        .sender_address
        .as_deref()
        .and_then(|text| sender_address(text, issues));
    Digest {
        from,
        reply_to,
        schedule,
        max_age_days,
        subject: raw.subject,
        sender_address,
        dkim,
        max_send_minutes,
        bounce_domain,
        provider_headers,
    }
}

/// `digest.bounce_domain` as a domain name in ASCII (IDNA), lower case.
fn bounce_domain(text: &str, issues: &mut Issues) -> Option<String> {
    let text = text.trim().trim_end_matches('.');
    if text.is_empty() {
        return None;
    }
    let why = format!(
        "expected a domain name such as \"bounces.news.example.com\" whose mail comes to broadsheet, found {text:?}"
    );
    // A host name with at least two labels: the underscores DNS allows
    // in `_dmarc` are no part of a mail domain.
    let ascii = crate::address::dns_name(text).filter(|d| d.contains('.') && !d.contains('_'));
    if ascii.is_none() {
        issues.add("digest.bounce_domain", why);
    }
    ascii
}

/// The most characters `digest.sender_address` may hold: a company's name
/// and a postal address, not a letter.
const SENDER_ADDRESS_CHARS: usize = 500;
/// The most lines it may have.
const SENDER_ADDRESS_LINES: usize = 8;

/// `digest.sender_address` as its lines, each on one line with no
/// control or hidden characters, blank ones dropped; `None` when nothing
/// is left. Longer than the bounds is an issue: a footer is no place for a
/// letter, and the text goes into every email.
fn sender_address(text: &str, issues: &mut Issues) -> Option<Vec<String>> {
    let chars = text.chars().count();
    let lines: Vec<String> = text
        .lines()
        .map(|l| crate::address::display_name(l).trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    if chars > SENDER_ADDRESS_CHARS || lines.len() > SENDER_ADDRESS_LINES {
        issues.add(
            "digest.sender_address",
            format!(
                "expected at most {SENDER_ADDRESS_CHARS} characters in at most {SENDER_ADDRESS_LINES} lines, found {chars} characters in {} lines",
                lines.len()
            ),
        );
        return None;
    }
    (!lines.is_empty()).then_some(lines)
}

/// `text` as a mailbox, or `why` reported at `key`.
fn mailbox(issues: &mut Issues, key: &str, text: &str, why: String) -> Option<Mailbox> {
    Mailbox::from_str(text)
        .map_err(|_| issues.add(key, why))
        .ok()
}

/// DKIM: all three of selector, domain and key file, or none; the key file
/// read and its key parsed.
fn dkim(raw: &RawDigest, root: &Path, issues: &mut Issues) -> Option<Dkim> {
    let (selector, domain, key_file) = match (
        &raw.dkim_selector,
        &raw.dkim_domain,
        &raw.dkim_key_file,
    ) {
        (None, None, None) => return None,
        (Some(selector), Some(domain), Some(key_file)) => (selector, domain, key_file),
        _ => {
            issues.add(
                "digest.dkim_selector",
                "DKIM needs all three of digest.dkim_selector, digest.dkim_domain and digest.dkim_key_file",
            );
            return None;
        }
    };
    let algorithm = match raw.dkim_algorithm.as_str() {
        "rsa" => DkimSigningAlgorithm::Rsa,
        "ed25519" => DkimSigningAlgorithm::Ed25519,
        other => {
            issues.add(
                "digest.dkim_algorithm",
                format!("expected \"rsa\" or \"ed25519\", found {other:?}"),
            );
            // Which key the file should hold is not known: not read.
            return None;
        }
    };
    let path = root.join(key_file);
    let key = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
        .and_then(|text| DkimKey::parse(&text, algorithm))
        .map_err(|m| issues.add("digest.dkim_key_file", m))
        .ok()?;
    Some(Dkim {
        selector: selector.clone(),
        domain: domain.clone(),
        key,
    })
}
