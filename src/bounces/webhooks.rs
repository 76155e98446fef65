//! The webhooks of the sending services (Amazon SES through SNS, SendGrid,
//! Postmark, Mailgun): each request is verified first (its signature or
//! credentials, and how old it is) and only then read for the bounces and
//! complaints it reports, as [`Report`]s.
//!
//! Nothing is fetched while reading. SNS's signing certificate is
//! configured, never downloaded from the URL a message names (a forged
//! message could name one of its own), and an SNS subscription is confirmed
//! by the operator visiting its URL, never by us.

use super::Report;
#[cfg(test)]
use super::DIAGNOSTIC_CHARS;
use crate::store::BounceKind;
use crate::token::{is_verp_token_shaped, verp_token_in, PROVIDER_TOKEN_FIELD, SES_TOKEN_TAG};
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use ring::signature::{
    UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_ASN1,
    RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY, RSA_PKCS1_2048_8192_SHA256,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use serde_json::Value;
use sha2::Sha256;
use x509_cert::der::Decode;
use x509_cert::spki::{ObjectIdentifier, SubjectPublicKeyInfoRef};
use x509_cert::Certificate;

type HmacSha256 = Hmac<Sha256>;

/// How old a message SNS signed may be. SNS retries a notification its
/// endpoint did not take for as long as the subscription's delivery policy
/// says, which can be days; a week covers any policy we would set, and a
/// signed message older than that is a replay.
const SNS_MAX_AGE: TimeDelta = TimeDelta::days(7);
/// How old SendGrid's signed timestamp may be: it retries for up to a day.
const SENDGRID_MAX_AGE: TimeDelta = TimeDelta::hours(24);
/// How old Mailgun's signed timestamp may be: it retries for about a day.
const MAILGUN_MAX_AGE: TimeDelta = TimeDelta::hours(24);
/// How far ahead of our clock a signed time may be: clocks drift, but not
/// by an hour.
const MAX_AHEAD: TimeDelta = TimeDelta::hours(1);

/// SendGrid's signature header (base64 of a DER ECDSA signature).
const SENDGRID_SIGNATURE: &str = "x-twilio-email-event-webhook-signature";
/// SendGrid's signed timestamp header (Unix seconds).
const SENDGRID_TIMESTAMP: &str = "x-twilio-email-event-webhook-timestamp";

/// id-ecPublicKey (RFC 5480).
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1, also called secp256r1 or P-256 (RFC 5480).
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// rsaEncryption (RFC 8017).
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The sending services whose webhooks `serve` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Amazon SES, its notifications (or event publishing) sent through SNS.
    Ses,
    /// SendGrid's signed Event Webhook.
    Sendgrid,
    /// Postmark's webhooks, behind HTTP Basic authentication.
    Postmark,
    /// Mailgun's webhooks, signed with the domain's webhook signing key.
    Mailgun,
}

impl Provider {
    /// The name in the route (`/webhooks/<name>`) and in logs, and the
    /// source a recorded report is given.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ses => "ses",
            Provider::Sendgrid => "sendgrid",
            Provider::Postmark => "postmark",
            Provider::Mailgun => "mailgun",
        }
    }

    /// The provider a route's last segment names (`ses`, `sendgrid`,
    /// `postmark`, `mailgun`), if any.
    pub fn from_route(s: &str) -> Option<Provider> {
        match s {
            "ses" => Some(Provider::Ses),
            "sendgrid" => Some(Provider::Sendgrid),
            "postmark" => Some(Provider::Postmark),
            "mailgun" => Some(Provider::Mailgun),
            _ => None,
        }
    }

    /// The setting without which its requests cannot be verified.
    fn config_key(self) -> &'static str {
        match self {
            Provider::Ses => "webhooks.ses_certificate",
            Provider::Sendgrid => "webhooks.sendgrid_public_key",
            Provider::Postmark => "webhooks.postmark_user (with webhooks.postmark_password)",
            Provider::Mailgun => "webhooks.mailgun_signing_key",
        }
    }
}

/// What verifies each provider's requests (from the `[webhooks]` config;
/// the caller builds it). A provider whose key is not set is refused: a
/// webhook nobody can verify is never read.
#[derive(Clone, Default)]
pub struct WebhookKeys {
    /// `webhooks.ses_certificate`: the DER of the X.509 certificate SNS
    /// signs with (see [`ses_certificate_from_pem`]).
    pub ses_certificate: Option<Vec<u8>>,
    /// `webhooks.ses_certificate_url`: when set, a message's
    /// SigningCertURL must equal it exactly.
    pub ses_certificate_url: Option<String>,
    /// `webhooks.ses_topic_arns`: when not empty, a message's TopicArn must
    /// be one of them.
    pub ses_topic_arns: Vec<String>,
    /// `webhooks.sendgrid_public_key`: the SubjectPublicKeyInfo DER of the
    /// P-256 key (see [`sendgrid_key_from_text`]).
    pub sendgrid_public_key: Option<Vec<u8>>,
    /// `webhooks.mailgun_signing_key`.
    pub mailgun_signing_key: Option<String>,
    /// `webhooks.postmark_user` and `postmark_password`.
    pub postmark: Option<(String, String)>,
}

impl std::fmt::Debug for WebhookKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The signing key and the credentials are secrets; the certificate
        // and the public key are not, but their bytes say nothing on a log
        // line. Whether each is set is what a reader of the log wants.
        let set = |present: bool| if present { "<set>" } else { "<not set>" };
        f.debug_struct("WebhookKeys")
            .field("ses_certificate", &set(self.ses_certificate.is_some()))
            .field("ses_certificate_url", &self.ses_certificate_url)
            .field("ses_topic_arns", &self.ses_topic_arns)
            .field(
                "sendgrid_public_key",
                &set(self.sendgrid_public_key.is_some()),
            )
            .field(
                "mailgun_signing_key",
                &set(self.mailgun_signing_key.is_some()),
            )
            .field("postmark", &set(self.postmark.is_some()))
            .finish()
    }
}

/// The DER of the first CERTIFICATE block in `pem` (the file
/// `webhooks.ses_certificate` names), once it is known to be an X.509
/// certificate with an RSA key, the kind SNS signs with.
pub fn ses_certificate_from_pem(pem: &[u8]) -> Result<Vec<u8>, String> {
    let der = CertificateDer::from_pem_slice(pem)
        .map_err(|e| format!("no PEM CERTIFICATE block ({e})"))?;
    rsa_public_key(&der)?;
    Ok(der.to_vec())
}

/// The SubjectPublicKeyInfo DER of `webhooks.sendgrid_public_key`, given
/// as base64 DER (as SendGrid's dashboard shows it) or as a PEM
/// `PUBLIC KEY` block, once it is known to be an EC P-256 key.
pub fn sendgrid_key_from_text(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let der = if text.starts_with("-----BEGIN") {
        SubjectPublicKeyInfoDer::from_pem_slice(text.as_bytes())
            .map_err(|e| format!("no PEM PUBLIC KEY block ({e})"))?
            .to_vec()
    } else {
        // The dashboard's text may be pasted across lines.
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        STANDARD
            .decode(compact)
            .map_err(|e| format!("neither PEM nor base64 ({e})"))?
    };
    p256_point(&der)?;
    Ok(der)
}

/// What a verified request asks of us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Bounce and complaint reports (possibly none: deliveries, opens and
    /// other events are skipped).
    Reports(Vec<Report>),
    /// An SNS subscription (or unsubscribe) confirmation: the operator
    /// confirms by visiting `url`; we never fetch it ourselves.
    SnsConfirmation {
        /// `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
        kind: &'static str,
        /// The topic the subscription is to.
        topic_arn: String,
        /// The message's SubscribeURL.
        url: String,
    },
}

/// Why a request was refused. The texts are one line, name what was
/// wrong, and never show the body, the signature or a secret: they are
/// logged, and the request may be an attacker's.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The provider's key is not configured, so its requests cannot be
    /// verified.
    #[error("{} is not set", .0.config_key())]
    NotConfigured(Provider),
    /// The signature or credentials are missing or wrong, or the
    /// certificate URL or topic is not one allowed.
    #[error("webhook not authenticated: {0}")]
    Unauthenticated(String),
    /// The signed timestamp is too old, or too far in the future.
    #[error("webhook refused as stale: {0}")]
    Stale(String),
    /// Not the JSON shape expected (after verification passed, or before
    /// when the request cannot be verified at all).
    #[error("webhook not understood: {0}")]
    Malformed(String),
}

impl WebhookError {
    /// The HTTP status to answer with: 401 when the request could not be
    /// trusted (a stale one included: it may be a replay), 404 when the
    /// provider is not configured (its route is as good as absent), 400
    /// for a request we cannot read.
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::Unauthenticated(_) | WebhookError::Stale(_) => 401,
            WebhookError::NotConfigured(_) => 404,
            WebhookError::Malformed(_) => 400,
        }
    }
}

fn unauthenticated(why: impl Into<String>) -> WebhookError {
    WebhookError::Unauthenticated(why.into())
}

/// The request's body as JSON.
fn json_body(body: &[u8]) -> Result<Value, WebhookError> {
    serde_json::from_slice(body).map_err(|e| malformed(format!("the body is not JSON ({e})")))
}

fn malformed(why: impl Into<String>) -> WebhookError {
    WebhookError::Malformed(why.into())
}

/// Verifies a request to `/webhooks/<provider>` and reads it. `now` is
/// the time signed timestamps are measured against. The body's size is
/// bounded by the caller.
pub fn read(
    provider: Provider,
    headers: &HeaderMap,
    body: &[u8],
    keys: &WebhookKeys,
    now: DateTime<FixedOffset>,
) -> Result<Verdict, WebhookError> {
    match provider {
        Provider::Ses => read_ses(body, keys, now),
        Provider::Sendgrid => read_sendgrid(headers, body, keys, now),
        Provider::Postmark => read_postmark(headers, body, keys),
        Provider::Mailgun => read_mailgun(body, keys, now),
    }
}

// --- Amazon SES, through SNS ---

/// The kinds of SNS message an HTTPS subscription receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SnsType {
    Notification,
    SubscriptionConfirmation,
    UnsubscribeConfirmation,
}

impl SnsType {
    fn name(self) -> &'static str {
        match self {
            SnsType::Notification => "Notification",
            SnsType::SubscriptionConfirmation => "SubscriptionConfirmation",
            SnsType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }
}

fn sns_type(envelope: &Value) -> Result<SnsType, WebhookError> {
    match field(envelope, "Type") {
        Some("Notification") => Ok(SnsType::Notification),
        Some("SubscriptionConfirmation") => Ok(SnsType::SubscriptionConfirmation),
        Some("UnsubscribeConfirmation") => Ok(SnsType::UnsubscribeConfirmation),
        _ => Err(malformed("the body is not an SNS message of a known Type")),
    }
}

/// The text SNS signs, as AWS documents it: the fields below, in this
/// order, each as "name\nvalue\n"; a notification's Subject only when it
/// has one.
fn string_to_sign(envelope: &Value, kind: SnsType) -> Result<String, WebhookError> {
    let names: &[&str] = match kind {
        SnsType::Notification => &[
            "Message",
            "MessageId",
            "Subject",
            "Timestamp",
            "TopicArn",
            "Type",
        ],
        SnsType::SubscriptionConfirmation | SnsType::UnsubscribeConfirmation => &[
            "Message",
            "MessageId",
            "SubscribeURL",
            "Timestamp",
            "Token",
            "TopicArn",
            "Type",
        ],
    };
    let mut out = String::new();
    for &name in names {
        match envelope.get(name) {
            Some(Value::String(value)) => {
                out.push_str(name);
                out.push('\n');
                out.push_str(value);
                out.push('\n');
            }
            None | Some(Value::Null) if name == "Subject" => {}
            _ => {
                return Err(malformed(format!(
                    "the SNS message's {name} is missing or not text"
                )))
            }
        }
    }
    Ok(out)
}

/// Whether `url` can be where SNS keeps its signing certificate:
/// `https://sns.<region>.amazonaws.com[.cn]/….pem`, with no user, port,
/// query or fragment. We never fetch it (the certificate is configured);
/// the check refuses a message that claims another signer.
fn is_sns_certificate_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let Some(slash) = rest.find('/') else {
        return false;
    };
    let (host, path) = rest.split_at(slash);
    let region = host.strip_prefix("sns.").and_then(|h| {
        h.strip_suffix(".amazonaws.com")
            .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
    });
    let region_ok = region.is_some_and(|r| {
        !r.is_empty()
            && r.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    region_ok && path.ends_with(".pem") && !path.contains(['?', '#'])
}

/// The RSAPublicKey DER (what ring verifies with) inside an X.509
/// certificate's DER, when it is one and its key is RSA.
fn rsa_public_key(certificate: &[u8]) -> Result<Vec<u8>, String> {
    let certificate = Certificate::from_der(certificate)
        .map_err(|e| format!("not an X.509 certificate ({e})"))?;
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err("the certificate's key is not an RSA key".to_owned());
    }
    spki.subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| "the certificate's key is not a whole number of bytes".to_owned())
}

fn read_ses(
    body: &[u8],
    keys: &WebhookKeys,
    now: DateTime<FixedOffset>,
) -> Result<Verdict, WebhookError> {
    let certificate = keys
        .ses_certificate
        .as_deref()
        .ok_or(WebhookError::NotConfigured(Provider::Ses))?;
    // The envelope must be read to be verified: SNS signs some of its
    // fields, not the body's bytes.
    let envelope = json_body(body)?;
    let kind = sns_type(&envelope)?;
    let signed = string_to_sign(&envelope, kind)?;
    let cert_url = field(&envelope, "SigningCertURL")
        .ok_or_else(|| unauthenticated("the SNS message has no SigningCertURL"))?;
    if !is_sns_certificate_url(cert_url) {
        return Err(unauthenticated(
            "the SigningCertURL is not an https://sns.<region>.amazonaws.com/….pem address",
        ));
    }
    if keys
        .ses_certificate_url
        .as_deref()
        .is_some_and(|allowed| allowed != cert_url)
    {
        return Err(unauthenticated(
            "the SigningCertURL is not webhooks.ses_certificate_url",
        ));
    }
    let algorithm: &'static dyn VerificationAlgorithm = match field(&envelope, "SignatureVersion") {
        Some("1") => &RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        Some("2") => &RSA_PKCS1_2048_8192_SHA256,
        _ => return Err(unauthenticated("the SignatureVersion is neither 1 nor 2")),
    };
    let signature = field(&envelope, "Signature")
        .and_then(|s| STANDARD.decode(s).ok())
        .ok_or_else(|| unauthenticated("the SNS Signature is missing or not base64"))?;
    let public_key = rsa_public_key(certificate)
        .map_err(|e| unauthenticated(format!("webhooks.ses_certificate: {e}")))?;
    UnparsedPublicKey::new(algorithm, public_key.as_slice())
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| {
            unauthenticated("the SNS signature is not made with webhooks.ses_certificate")
        })?;

    // Everything read from here on was signed by SNS.
    let topic_arn = text(&envelope, "TopicArn")?;
    if !keys.ses_topic_arns.is_empty()
        && !keys
            .ses_topic_arns
            .iter()
            .map(String::as_str)
            .any(|allowed| allowed == topic_arn)
    {
        return Err(unauthenticated(
            "the TopicArn is not one of webhooks.ses_topic_arns",
        ));
    }
    let published = DateTime::parse_from_rfc3339(text(&envelope, "Timestamp")?)
        .map_err(|_| malformed("the SNS Timestamp is not an RFC 3339 time"))?;
    check_fresh("the SNS message", published, now, SNS_MAX_AGE)?;
    match kind {
        SnsType::Notification => {
            let message: Value = serde_json::from_str(text(&envelope, "Message")?)
                .map_err(|e| malformed(format!("the SNS Message is not JSON ({e})")))?;
            ses_reports(&message, text(&envelope, "MessageId")?, published).map(Verdict::Reports)
        }
        SnsType::SubscriptionConfirmation | SnsType::UnsubscribeConfirmation => {
            Ok(Verdict::SnsConfirmation {
                kind: kind.name(),
                topic_arn: topic_arn.to_owned(),
                url: text(&envelope, "SubscribeURL")?.to_owned(),
            })
        }
    }
}

/// The reports in an SES message (the JSON an SNS notification carries).
/// `sns_message_id` names the report when SES gives no feedback id (a
/// delay has none; SNS keeps the id on every retry), and `published` is
/// its time when SES gives none.
fn ses_reports(
    message: &Value,
    sns_message_id: &str,
    published: DateTime<FixedOffset>,
) -> Result<Vec<Report>, WebhookError> {
    // SES's own notifications name their kind notificationType; event
    // publishing (a configuration set's SNS destination) names it
    // eventType. The objects inside are alike.
    let Some(name) = field(message, "notificationType").or_else(|| field(message, "eventType"))
    else {
        return Err(malformed(
            "the SNS Message has neither notificationType nor eventType",
        ));
    };
    let (object, list, kind) = match name {
        "Bounce" => ("bounce", "bouncedRecipients", None),
        "Complaint" => (
            "complaint",
            "complainedRecipients",
            Some(BounceKind::Complaint),
        ),
        "DeliveryDelay" => ("deliveryDelay", "delayedRecipients", Some(BounceKind::Soft)),
        // Sends, deliveries, opens, clicks, rejects, rendering failures,
        // and the notice that a topic was subscribed to.
        _ => return Ok(Vec::new()),
    };
    let detail = message
        .get(object)
        .filter(|d| d.is_object())
        .ok_or_else(|| malformed(format!("a {name} message without its {object} object")))?;
    // Only a permanent bounce is hard; Transient and Undetermined ones
    // (and any bounce type SES may add) are soft.
    let kind = kind.unwrap_or_else(|| {
        if field(detail, "bounceType") == Some("Permanent") {
            BounceKind::Hard
        } else {
            BounceKind::Soft
        }
    });
    if field(detail, "complaintFeedbackType") == Some("not-spam") {
        // The mailbox provider saying the digest is not spam after all.
        return Ok(Vec::new());
    }
    let recipients = detail
        .get(list)
        .and_then(Value::as_array)
        .ok_or_else(|| malformed(format!("a {name} message without {list}")))?;
    let verp_token = message.get("mail").and_then(ses_verp_token);
    let report_id = field(detail, "feedbackId").unwrap_or(sns_message_id);
    let reported_at = field(detail, "timestamp")
        .and_then(rfc3339)
        .or(Some(published));
    // A complaint has no diagnostic code; its feedback type ("abuse") is
    // what the mailbox provider said.
    let feedback_type = field(detail, "complaintFeedbackType");
    Ok(recipients
        .iter()
        .map(|recipient| {
            let address = field(recipient, "emailAddress");
            Report {
                kind,
                recipient: address.map(str::to_owned),
                verp_token: verp_token.clone(),
                status_code: field(recipient, "status").unwrap_or_default().to_owned(),
                diagnostic: diagnostic(field(recipient, "diagnosticCode").or(feedback_type)),
                reported_at,
                // One feedback id covers every recipient of one message.
                event_id: match address {
                    Some(address) => format!("{report_id}:{}", address.to_lowercase()),
                    None => report_id.to_owned(),
                },
            }
        })
        .collect())
}

/// The VERP token of the message an SES report is about: in its source
/// (the envelope sender we gave SES) or its Return-Path, else in the
/// `broadsheet-token` message tag, when the sender set one.
fn ses_verp_token(mail: &Value) -> Option<String> {
    field(mail, "source")
        .and_then(verp_token_in)
        .or_else(|| {
            mail.pointer("/commonHeaders/returnPath")
                .and_then(Value::as_str)
                .and_then(verp_token_in)
        })
        .map(str::to_owned)
        .or_else(|| {
            mail.get("tags")
                .and_then(|tags| tags.get(SES_TOKEN_TAG))
                .and_then(|values| values.get(0))
                .and_then(Value::as_str)
                .and_then(clean_token)
        })
}

// --- SendGrid ---

fn read_sendgrid(
    headers: &HeaderMap,
    body: &[u8],
    keys: &WebhookKeys,
    now: DateTime<FixedOffset>,
) -> Result<Verdict, WebhookError> {
    let key = keys
        .sendgrid_public_key
        .as_deref()
        .ok_or(WebhookError::NotConfigured(Provider::Sendgrid))?;
    let point = p256_point(key)
        .map_err(|e| unauthenticated(format!("webhooks.sendgrid_public_key: {e}")))?;
    let signature = header(headers, SENDGRID_SIGNATURE)?
        .ok_or_else(|| unauthenticated(format!("no {SENDGRID_SIGNATURE} header")))?;
    let timestamp = header(headers, SENDGRID_TIMESTAMP)?
        .ok_or_else(|| unauthenticated(format!("no {SENDGRID_TIMESTAMP} header")))?;
    let signature = STANDARD
        .decode(signature.trim())
        .map_err(|_| unauthenticated(format!("the {SENDGRID_SIGNATURE} header is not base64")))?;
    // SendGrid signs the timestamp's bytes followed by the body's, exactly
    // as they came: the body must not be parsed (or trimmed) before.
    let mut signed = Vec::with_capacity(timestamp.len() + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(body);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
        .verify(&signed, &signature)
        .map_err(|_| {
            unauthenticated("the SendGrid signature is not made with webhooks.sendgrid_public_key")
        })?;
    let sent = timestamp
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(unix_seconds)
        .ok_or_else(|| {
            malformed(format!(
                "the {SENDGRID_TIMESTAMP} header is not a Unix time"
            ))
        })?;
    check_fresh("the signed timestamp", sent, now, SENDGRID_MAX_AGE)?;
    sendgrid_reports(body).map(Verdict::Reports)
}

/// The uncompressed point (what ring verifies with) of the P-256 key in a
/// SubjectPublicKeyInfo's DER.
fn p256_point(spki_der: &[u8]) -> Result<&[u8], String> {
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| format!("not a DER SubjectPublicKeyInfo ({e})"))?;
    spki.algorithm
        .assert_oids(ID_EC_PUBLIC_KEY, PRIME256V1)
        .map_err(|_| "not an EC P-256 (prime256v1) public key".to_owned())?;
    match spki.subject_public_key.as_bytes() {
        Some(point) if point.len() == 65 && point[0] == 4 => Ok(point),
        _ => Err("the P-256 key is not an uncompressed point".to_owned()),
    }
}

/// The reports in SendGrid's array of events.
fn sendgrid_reports(body: &[u8]) -> Result<Vec<Report>, WebhookError> {
    let events = json_body(body)?;
    let events = events
        .as_array()
        .ok_or_else(|| malformed("the body is not an array of events"))?;
    let mut reports = Vec::new();
    for event in events {
        let name = field(event, "event").ok_or_else(|| malformed("an event has no event name"))?;
        let kind = match name {
            // A bounce's type is "bounce" (refused for good) or "blocked"
            // (refused for now, often for the sender's reputation); one
            // without a type, as SendGrid sent them before, is a bounce.
            "bounce" => {
                if field(event, "type") == Some("blocked") {
                    BounceKind::Soft
                } else {
                    BounceKind::Hard
                }
            }
            // Not sent at all because the address bounced before. Drops for
            // other reasons (unsubscribed, invalid, spam-reporting
            // addresses) come from SendGrid's lists, not from the mailbox.
            "dropped" => {
                if field(event, "reason").is_some_and(|r| r.contains("Bounced Address")) {
                    BounceKind::Hard
                } else {
                    continue;
                }
            }
            "deferred" => BounceKind::Soft,
            "spamreport" => BounceKind::Complaint,
            // Processed, delivered, opens, clicks, unsubscribes.
            _ => continue,
        };
        reports.push(Report {
            kind,
            recipient: field(event, "email").map(str::to_owned),
            // Custom arguments come as fields of the event itself.
            verp_token: broadsheet_token(event),
            status_code: field(event, "status").unwrap_or_default().to_owned(),
            // A deferral gives the server's words as its response.
            diagnostic: diagnostic(first_text(field(event, "reason"), field(event, "response"))),
            reported_at: event.get("timestamp").and_then(unix_time),
            event_id: field(event, "sg_event_id").unwrap_or_default().to_owned(),
        });
    }
    Ok(reports)
}

// --- Postmark ---

fn read_postmark(
    headers: &HeaderMap,
    body: &[u8],
    keys: &WebhookKeys,
) -> Result<Verdict, WebhookError> {
    let (user, password) = keys
        .postmark
        .as_ref()
        .ok_or(WebhookError::NotConfigured(Provider::Postmark))?;
    let authorization = header(headers, "authorization")?
        .ok_or_else(|| unauthenticated("no Authorization header"))?;
    let credentials = authorization
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Basic"))
        .map(|(_, credentials)| credentials.trim())
        .ok_or_else(|| unauthenticated("the Authorization header is not Basic"))?;
    let given = STANDARD
        .decode(credentials)
        .map_err(|_| unauthenticated("the Authorization header's credentials are not base64"))?;
    let expected = format!("{user}:{password}");
    if !same_secret(&given, expected.as_bytes()) {
        return Err(unauthenticated(
            "the Authorization header's credentials are not webhooks.postmark_user and postmark_password",
        ));
    }
    postmark_reports(body).map(Verdict::Reports)
}

/// Whether `given` equals `expected`, in a time that does not depend on
/// where they differ (or on their lengths): both are hashed with one key
/// first, and the digests compared by `verify_slice`, which takes constant
/// time.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let keyed = |bytes: &[u8]| {
        let mut mac = HmacSha256::new_from_slice(b"broadsheet webhook credentials")
            .expect("HMAC takes any key length");
        mac.update(bytes);
        mac
    };
    let given = keyed(given).finalize().into_bytes();
    keyed(expected).verify_slice(&given).is_ok()
}

/// The report in one Postmark record (a bounce, or a spam complaint).
fn postmark_reports(body: &[u8]) -> Result<Vec<Report>, WebhookError> {
    let record = json_body(body)?;
    let kind = match field(&record, "RecordType") {
        Some("Bounce") => postmark_bounce_kind(field(&record, "Type").unwrap_or_default()),
        Some("SpamComplaint") => Some(BounceKind::Complaint),
        // Deliveries, opens, clicks, and subscription changes (Postmark
        // suppressing an address after a bounce or complaint it has
        // already sent us, or a reader unsubscribing through Postmark).
        Some(_) => None,
        None => return Err(malformed("the body has no RecordType")),
    };
    let Some(kind) = kind else {
        return Ok(Vec::new());
    };
    Ok(vec![Report {
        kind,
        recipient: field(&record, "Email").map(str::to_owned),
        verp_token: record.get("Metadata").and_then(broadsheet_token),
        // Postmark gives no SMTP status; its bounce type is its code.
        status_code: field(&record, "Type").unwrap_or_default().to_owned(),
        // Details holds the remote server's words; Description is
        // Postmark's explanation of the type.
        diagnostic: diagnostic(first_text(
            field(&record, "Details"),
            field(&record, "Description"),
        )),
        reported_at: field(&record, "BouncedAt").and_then(rfc3339),
        // One record names one recipient.
        event_id: record.get("ID").and_then(scalar_text).unwrap_or_default(),
    }])
}

// Postmark's bounce types (its Bounce API documents them), and what each
// is here:
//
//   HardBounce, BadEmailAddress        hard: the mailbox does not exist
//   SoftBounce, Transient, DnsError    soft: refused for now
//   Blocked                            soft: the receiving server refused
//                                      it, often for the sender's
//                                      reputation (SendGrid's "blocked")
//   SpamComplaint                      a complaint (as a bounce's type in
//                                      older webhooks)
//   AutoResponder                      nothing: an auto-reply (a holiday
//                                      notice) is never a bounce
//   ManuallyDeactivated                nothing: someone deactivated the
//                                      address at Postmark; no server
//                                      refused anything
//   SpamNotification, VirusNotification, ChallengeVerification,
//   Subscribe, Unsubscribe, AddressChange, OpenRelayTest
//                                      nothing: notices about a message,
//                                      not about the mailbox
//   DMARCPolicy, Unconfirmed, SMTPApiError, InboundError,
//   TemplateRenderingFailed            nothing: our own domain's or
//                                      account's trouble, which counted
//                                      against readers would bounce them
//                                      all at once
//   Unknown, and any type Postmark adds
//                                      nothing: not understood, so not
//                                      counted
fn postmark_bounce_kind(kind: &str) -> Option<BounceKind> {
    match kind {
        "HardBounce" | "BadEmailAddress" => Some(BounceKind::Hard),
        "SoftBounce" | "Transient" | "DnsError" | "Blocked" => Some(BounceKind::Soft),
        "SpamComplaint" => Some(BounceKind::Complaint),
        _ => None,
    }
}

// --- Mailgun ---

fn read_mailgun(
    body: &[u8],
    keys: &WebhookKeys,
    now: DateTime<FixedOffset>,
) -> Result<Verdict, WebhookError> {
    let signing_key = keys
        .mailgun_signing_key
        .as_deref()
        .ok_or(WebhookError::NotConfigured(Provider::Mailgun))?;
    // The signature travels in the body, which must be read to find it.
    let payload = json_body(body)?;
    let signed_by = payload
        .get("signature")
        .ok_or_else(|| unauthenticated("the body has no signature object"))?;
    let (Some(timestamp), Some(token), Some(given)) = (
        field(signed_by, "timestamp"),
        field(signed_by, "token"),
        field(signed_by, "signature"),
    ) else {
        return Err(unauthenticated(
            "the signature object lacks its timestamp, token or signature",
        ));
    };
    let given =
        hex_decode(given).ok_or_else(|| unauthenticated("the Mailgun signature is not hex"))?;
    // Mailgun signs only the timestamp and the token, not the event: a
    // signature seen once could be replayed with another event-data for a
    // day. That is harmless here: each event is recorded once by its id,
    // and a forged event would need a token and timestamp Mailgun signed.
    let mut mac =
        HmacSha256::new_from_slice(signing_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.verify_slice(&given).map_err(|_| {
        unauthenticated("the Mailgun signature is not made with webhooks.mailgun_signing_key")
    })?;
    let sent = timestamp
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(unix_seconds)
        .ok_or_else(|| malformed("the signature's timestamp is not a Unix time"))?;
    check_fresh("the signed timestamp", sent, now, MAILGUN_MAX_AGE)?;
    let event = payload
        .get("event-data")
        .filter(|e| e.is_object())
        .ok_or_else(|| malformed("the body has no event-data object"))?;
    Ok(Verdict::Reports(mailgun_reports(event)))
}

/// The report in one Mailgun event.
fn mailgun_reports(event: &Value) -> Vec<Report> {
    let kind = match (field(event, "event"), field(event, "severity")) {
        (Some("failed"), Some("permanent")) => BounceKind::Hard,
        (Some("failed"), Some("temporary")) => BounceKind::Soft,
        (Some("complained"), _) => BounceKind::Complaint,
        // Accepted, delivered, opened, clicked, unsubscribed, and failures
        // of no stated severity.
        _ => return Vec::new(),
    };
    let status = event.get("delivery-status");
    let from_status = |name: &str| status.and_then(|s| field(s, name));
    // The enhanced code (5.1.1) says more than the reply code (550);
    // Mailgun's own codes (605: not sent to a known bounce) have none.
    let status_code = from_status("enhanced-code")
        .filter(|c| !c.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| status.and_then(|s| s.get("code")).and_then(scalar_text))
        .unwrap_or_default();
    vec![Report {
        kind,
        recipient: field(event, "recipient").map(str::to_owned),
        verp_token: event.get("user-variables").and_then(broadsheet_token),
        status_code,
        diagnostic: diagnostic(first_text(
            from_status("description"),
            from_status("message"),
        )),
        reported_at: event.get("timestamp").and_then(unix_time),
        event_id: field(event, "id").unwrap_or_default().to_owned(),
    }]
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    pairs
        .map(|pair| Some((hex_digit(pair[0])? << 4) | hex_digit(pair[1])?))
        .collect()
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

// --- Shared helpers ---

/// Header `name`, when present. A value that is not UTF-8 is refused: no
/// header these webhooks are verified by may hold one.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, WebhookError> {
    headers
        .get(name)
        .map(|value| {
            std::str::from_utf8(value.as_bytes())
                .map_err(|_| unauthenticated(format!("the {name} header is not UTF-8")))
        })
        .transpose()
}

/// Refuses a signed time more than `max_age` before `now`, or more than
/// [`MAX_AHEAD`] after it.
fn check_fresh(
    what: &str,
    at: DateTime<FixedOffset>,
    now: DateTime<FixedOffset>,
    max_age: TimeDelta,
) -> Result<(), WebhookError> {
    if now - at > max_age {
        return Err(WebhookError::Stale(format!(
            "{what} is more than {} hours old",
            max_age.num_hours()
        )));
    }
    if at - now > MAX_AHEAD {
        return Err(WebhookError::Stale(format!(
            "{what} is more than an hour ahead of our clock"
        )));
    }
    Ok(())
}

/// The text at `key` of a JSON object.
fn field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The text at `key`, which verification has already found there.
fn text<'a>(value: &'a Value, key: &str) -> Result<&'a str, WebhookError> {
    field(value, key).ok_or_else(|| malformed(format!("the message has no {key}")))
}

/// A string or a number, as text (ids and codes come as either).
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `first` unless it is blank, else `second`.
fn first_text<'a>(first: Option<&'a str>, second: Option<&'a str>) -> Option<&'a str> {
    first.filter(|t| !t.trim().is_empty()).or(second)
}

/// A remote server's words as a report keeps them (see
/// [`super::diagnostic`]); none when the provider gave none.
fn diagnostic(text: Option<&str>) -> String {
    super::diagnostic(text.unwrap_or_default())
}

fn rfc3339(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(text).ok()
}

fn unix_seconds(secs: i64) -> Option<DateTime<FixedOffset>> {
    DateTime::<Utc>::from_timestamp(secs, 0).map(|t| t.fixed_offset())
}

/// A Unix time given as whole seconds or (Mailgun) with a fraction.
fn unix_time(value: &Value) -> Option<DateTime<FixedOffset>> {
    if let Some(secs) = value.as_i64() {
        return unix_seconds(secs);
    }
    let secs = value.as_f64().filter(|s| s.is_finite())?;
    let whole = secs.floor();
    // To the microsecond Mailgun gives, so that .402117 stays .402117
    // rather than the nearest double's .402116990.
    let micros = (((secs - whole) * 1e6).round() as u32).min(999_999);
    DateTime::<Utc>::from_timestamp(whole as i64, micros * 1000).map(|t| t.fixed_offset())
}

/// The VERP token a provider carried for us in its custom fields (SendGrid's
/// custom arguments, Postmark's metadata, Mailgun's user variables).
fn broadsheet_token(fields: &Value) -> Option<String> {
    field(fields, PROVIDER_TOKEN_FIELD)
        .or_else(|| field(fields, "broadsheet"))
        .and_then(clean_token)
}

/// `token` when it can be one of ours (see
/// [`crate::token::is_verp_token_shaped`]): a provider's field is the
/// sender's to fill, and whatever else it holds is not passed on.
fn clean_token(token: &str) -> Option<String> {
    is_verp_token_shaped(token).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};
    use sha2::Digest;
    use std::path::PathBuf;

    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:broadsheet-ses-feedback";
    const CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-6aad65c2f9911b05cd53efda11f913f9.pem";
    const POSTMARK_USER: &str = "broadsheet";
    const POSTMARK_PASSWORD: &str = "correct-horse-battery-staple";
    const POSTMARK_AUTH: &str = "Basic YnJvYWRzaGVldDpjb3JyZWN0LWhvcnNlLWJhdHRlcnktc3RhcGxl";
    const MAILGUN_KEY: &str = "key-0123456789abcdef0123456789abcdef-broadsheet-test";
    /// The SendGrid fixture's signed timestamp.
    const SENDGRID_SENT: i64 = 1_772_496_200;

    fn dir(provider: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/webhooks")
            .join(provider)
    }

    fn fixture(provider: &str, name: &str) -> Vec<u8> {
        let path = dir(provider).join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn cases(provider: &str) -> Vec<Value> {
        let cases: Value = serde_json::from_slice(&fixture(provider, "cases.json")).unwrap();
        cases.as_array().unwrap().clone()
    }

    fn case_headers(case: &Value) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in case["headers"].as_object().unwrap() {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
            );
        }
        map
    }

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn unix(secs: i64) -> DateTime<FixedOffset> {
        unix_seconds(secs).unwrap()
    }

    fn hex(bytes: &[u8]) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            write!(out, "{b:02x}").unwrap();
        }
        out
    }

    /// What a case must give: Ok when valid, else refused as
    /// unauthenticated or stale.
    fn check_case(provider: &str, case: &Value, got: &Result<Verdict, WebhookError>) {
        let why = format!("{provider} {}: {}", case["body"], case["why"]);
        if case["valid"].as_bool().unwrap() {
            match got {
                Ok(Verdict::Reports(reports)) => {
                    for report in reports {
                        assert!(
                            matches!(
                                report.kind,
                                BounceKind::Hard | BounceKind::Soft | BounceKind::Complaint
                            ),
                            "{why}: {report:?}"
                        );
                    }
                }
                Ok(Verdict::SnsConfirmation { .. }) => {}
                Err(e) => panic!("{why}: {e}"),
            }
        } else {
            assert!(
                matches!(
                    got,
                    Err(WebhookError::Unauthenticated(_) | WebhookError::Stale(_))
                ),
                "{why}: {got:?}"
            );
        }
    }

    fn reports(got: Result<Verdict, WebhookError>) -> Vec<Report> {
        match got {
            Ok(Verdict::Reports(reports)) => reports,
            other => panic!("expected reports, got {other:?}"),
        }
    }

    /// Kind, recipient, status code and event id of each report.
    fn brief(reports: &[Report]) -> Vec<(BounceKind, Option<&str>, &str, &str)> {
        reports
            .iter()
            .map(|r| {
                (
                    r.kind,
                    r.recipient.as_deref(),
                    r.status_code.as_str(),
                    r.event_id.as_str(),
                )
            })
            .collect()
    }

    // --- SES ---

    fn ses_keys(certificate: &str) -> WebhookKeys {
        WebhookKeys {
            ses_certificate: Some(ses_certificate_from_pem(&fixture("ses", certificate)).unwrap()),
            ..WebhookKeys::default()
        }
    }

    /// A few minutes after the message was published.
    fn sns_now(body: &[u8]) -> DateTime<FixedOffset> {
        let envelope: Value = serde_json::from_slice(body).unwrap();
        t(envelope["Timestamp"].as_str().unwrap()) + TimeDelta::minutes(5)
    }

    fn read_sns(name: &str, keys: &WebhookKeys) -> Result<Verdict, WebhookError> {
        let body = fixture("ses", name);
        read(
            Provider::Ses,
            &HeaderMap::new(),
            &body,
            keys,
            sns_now(&body),
        )
    }

    #[test]
    fn provider_names_round_trip() {
        for provider in [
            Provider::Ses,
            Provider::Sendgrid,
            Provider::Postmark,
            Provider::Mailgun,
        ] {
            assert_eq!(Provider::from_route(provider.as_str()), Some(provider));
        }
        assert_eq!(Provider::from_route("SES"), None);
        assert_eq!(Provider::from_route(""), None);
    }

    #[test]
    fn every_ses_case_is_taken_or_refused_as_cases_json_says() {
        for case in cases("ses") {
            let keys = ses_keys(case["certificate"].as_str().unwrap());
            let body = fixture("ses", case["body"].as_str().unwrap());
            let got = read(
                Provider::Ses,
                &case_headers(&case),
                &body,
                &keys,
                sns_now(&body),
            );
            check_case("ses", &case, &got);
        }
    }

    #[test]
    fn the_ses_string_to_sign_is_the_one_aws_signs() {
        let mut checked = 0;
        for case in cases("ses") {
            let Some(want) = case["string_to_sign_sha256"].as_str() else {
                continue;
            };
            let envelope: Value =
                serde_json::from_slice(&fixture("ses", case["body"].as_str().unwrap())).unwrap();
            let signed = string_to_sign(&envelope, sns_type(&envelope).unwrap()).unwrap();
            assert_eq!(
                hex(&Sha256::digest(signed.as_bytes())),
                want,
                "{}",
                case["body"]
            );
            checked += 1;
        }
        assert!(checked >= 9, "{checked}");
    }

    #[test]
    fn ses_reports_carry_what_the_fixtures_say() {
        let keys = ses_keys("test-signing-cert.pem");

        let permanent = reports(read_sns("sns-bounce-permanent-v1.json", &keys));
        assert_eq!(
            brief(&permanent),
            [(
                BounceKind::Hard,
                Some("reader.gone@example.com"),
                "5.1.1",
                "0100018e0a1b2c3d-5e6f7081-92a3-4b4c-8d5e-6f708192a3b4-000000:reader.gone@example.com"
            )]
        );
        assert_eq!(
            permanent[0].verp_token.as_deref(),
            Some("BSt1-4f9QvR2mT8wLxK0a")
        );
        assert_eq!(
            permanent[0].diagnostic,
            "smtp; 550 5.1.1 <reader.gone@example.com>: Recipient address rejected: User unknown in virtual mailbox table"
        );
        assert_eq!(
            permanent[0].reported_at,
            Some(t("2026-03-02T00:15:31.402Z"))
        );

        let transient = reports(read_sns("sns-bounce-transient-v2.json", &keys));
        assert_eq!(
            brief(&transient),
            [(
                BounceKind::Soft,
                Some("reader.full@example.com"),
                "4.2.2",
                "0100018e0a1b9f00-a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d-000000:reader.full@example.com"
            )]
        );
        assert_eq!(
            transient[0].verp_token.as_deref(),
            Some("BSt1-7hN3cP5sZ1yUe6Bd")
        );

        let complaint = reports(read_sns("sns-complaint-v2.json", &keys));
        assert_eq!(
            brief(&complaint),
            [(
                BounceKind::Complaint,
                Some("reader.annoyed@example.com"),
                "",
                "0100018e0c0d0e0f-b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e-000000:reader.annoyed@example.com"
            )]
        );
        assert_eq!(complaint[0].diagnostic, "abuse");
        assert_eq!(
            complaint[0].verp_token.as_deref(),
            Some("BSt1-2kW8gJ4rM0tHq9Xc")
        );
        assert_eq!(
            complaint[0].reported_at,
            Some(t("2026-03-03T09:02:11.000Z"))
        );

        // Event publishing's format.
        let event = reports(read_sns("sns-event-bounce-v2.json", &keys));
        assert_eq!(
            brief(&event),
            [(
                BounceKind::Hard,
                Some("reader.suppressed@example.com"),
                "5.1.1",
                "0100018e0d0e0f10-c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f-000000:reader.suppressed@example.com"
            )]
        );

        // A delay has no feedback id: the SNS message's stands in.
        let delay = reports(read_sns("sns-event-delivery-delay-v1.json", &keys));
        assert_eq!(
            brief(&delay),
            [(
                BounceKind::Soft,
                Some("reader.full@example.com"),
                "4.2.2",
                "9d5a6e3c-cfb1-5283-a706-5f4e3d2c1b0a:reader.full@example.com"
            )]
        );
        assert_eq!(delay[0].diagnostic, "smtp; 452 4.2.2 Mailbox full");
        assert_eq!(
            delay[0].verp_token.as_deref(),
            Some("BSt1-7hN3cP5sZ1yUe6Bd")
        );
        assert_eq!(delay[0].reported_at, Some(t("2026-03-02T02:20:41.000Z")));
    }

    #[test]
    fn sns_confirmations_are_handed_to_the_operator() {
        let keys = ses_keys("test-signing-cert.pem");
        let url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:broadsheet-ses-feedback&Token=2336412f37fb687f5d51e6e2425c464de9f4b9e0b0e7a1ba0b8c3d5e7f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9";
        assert_eq!(
            read_sns("sns-subscription-confirmation-v1.json", &keys).unwrap(),
            Verdict::SnsConfirmation {
                kind: "SubscriptionConfirmation",
                topic_arn: TOPIC.to_owned(),
                url: url.to_owned(),
            }
        );
        assert_eq!(
            read_sns("sns-unsubscribe-confirmation-v2.json", &keys).unwrap(),
            Verdict::SnsConfirmation {
                kind: "UnsubscribeConfirmation",
                topic_arn: TOPIC.to_owned(),
                url: url.to_owned(),
            }
        );
    }

    #[test]
    fn a_configured_certificate_url_must_be_the_message_s() {
        let mut keys = ses_keys("test-signing-cert.pem");
        keys.ses_certificate_url = Some(CERT_URL.to_owned());
        assert!(read_sns("sns-complaint-v2.json", &keys).is_ok());
        keys.ses_certificate_url = Some(
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem".to_owned(),
        );
        let err = read_sns("sns-complaint-v2.json", &keys).unwrap_err();
        assert!(matches!(err, WebhookError::Unauthenticated(_)), "{err:?}");
        assert_eq!(err.status(), 401);
    }

    #[test]
    fn a_topic_not_configured_is_refused() {
        let mut keys = ses_keys("test-signing-cert.pem");
        keys.ses_topic_arns = vec![TOPIC.to_owned()];
        assert!(read_sns("sns-bounce-permanent-v1.json", &keys).is_ok());
        keys.ses_topic_arns = vec!["arn:aws:sns:us-east-1:123456789012:another-topic".to_owned()];
        let err = read_sns("sns-bounce-permanent-v1.json", &keys).unwrap_err();
        assert!(matches!(err, WebhookError::Unauthenticated(_)), "{err:?}");
    }

    #[test]
    fn an_old_sns_message_is_stale() {
        let keys = ses_keys("test-signing-cert.pem");
        let body = fixture("ses", "sns-subscription-confirmation-v1.json");
        let published = t("2026-03-01T12:00:00.000Z");
        assert!(read(
            Provider::Ses,
            &HeaderMap::new(),
            &body,
            &keys,
            published + TimeDelta::days(6)
        )
        .is_ok());
        for now in [
            published + TimeDelta::days(8),
            published - TimeDelta::hours(2),
        ] {
            let err = read(Provider::Ses, &HeaderMap::new(), &body, &keys, now).unwrap_err();
            assert!(matches!(err, WebhookError::Stale(_)), "{err:?}");
            assert_eq!(err.status(), 401);
        }
    }

    #[test]
    fn a_body_that_is_not_sns_json_is_malformed() {
        let keys = ses_keys("test-signing-cert.pem");
        let now = t("2026-03-02T00:00:00Z");
        for body in [&b"not json"[..], &b"{}"[..], &b"[]"[..]] {
            let err = read(Provider::Ses, &HeaderMap::new(), body, &keys, now).unwrap_err();
            assert!(matches!(err, WebhookError::Malformed(_)), "{err:?}");
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn a_not_spam_complaint_and_a_delivery_are_no_reports() {
        let published = t("2026-03-03T09:02:12.204Z");
        let mut message: Value =
            serde_json::from_slice(&fixture("ses", "ses-complaint.json")).unwrap();
        assert_eq!(ses_reports(&message, "id", published).unwrap().len(), 1);
        message["complaint"]["complaintFeedbackType"] = Value::from("not-spam");
        assert!(ses_reports(&message, "id", published).unwrap().is_empty());

        let mut delivery: Value =
            serde_json::from_slice(&fixture("ses", "ses-bounce-permanent.json")).unwrap();
        delivery["notificationType"] = Value::from("Delivery");
        assert!(ses_reports(&delivery, "id", published).unwrap().is_empty());
    }

    #[test]
    fn only_sns_s_own_certificate_urls_pass() {
        for good in [
            CERT_URL,
            "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem",
        ] {
            assert!(is_sns_certificate_url(good), "{good}");
        }
        for bad in [
            "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.us-east-1.amazonaws.com.attacker.example.com/SimpleNotificationService-abc.pem",
            "https://attacker.example.com/@sns.us-east-1.amazonaws.com/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.pem?x=1",
            "https://sns.us-east-1.amazonaws.com/x.pem#x",
            "https://sns.us-east-1.amazonaws.com/x.txt",
            "https://sns..amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com",
            "https://s3.amazonaws.com/x.pem",
        ] {
            assert!(!is_sns_certificate_url(bad), "{bad}");
        }
    }

    #[test]
    fn the_ses_certificate_must_be_a_pem_certificate() {
        let der = ses_certificate_from_pem(&fixture("ses", "test-signing-cert.pem")).unwrap();
        assert!(rsa_public_key(&der).is_ok());
        assert!(ses_certificate_from_pem(b"no PEM here").is_err());
        let public_key = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            String::from_utf8(fixture("sendgrid", "test-public-key.txt"))
                .unwrap()
                .trim()
        );
        assert!(ses_certificate_from_pem(public_key.as_bytes()).is_err());
    }

    // --- SendGrid ---

    fn sendgrid_keys() -> WebhookKeys {
        let text = String::from_utf8(fixture("sendgrid", "test-public-key.txt")).unwrap();
        WebhookKeys {
            sendgrid_public_key: Some(sendgrid_key_from_text(&text).unwrap()),
            ..WebhookKeys::default()
        }
    }

    #[test]
    fn every_sendgrid_case_is_taken_or_refused_as_cases_json_says() {
        let keys = sendgrid_keys();
        for case in cases("sendgrid") {
            let body = fixture("sendgrid", case["body"].as_str().unwrap());
            let got = read(
                Provider::Sendgrid,
                &case_headers(&case),
                &body,
                &keys,
                unix(SENDGRID_SENT + 60),
            );
            check_case("sendgrid", &case, &got);
        }
    }

    fn sendgrid_valid() -> (HeaderMap, Vec<u8>) {
        let case = cases("sendgrid")
            .into_iter()
            .find(|c| c["valid"].as_bool() == Some(true))
            .unwrap();
        (
            case_headers(&case),
            fixture("sendgrid", case["body"].as_str().unwrap()),
        )
    }

    #[test]
    fn sendgrid_reports_carry_what_the_fixture_says() {
        let (headers, body) = sendgrid_valid();
        let got = reports(read(
            Provider::Sendgrid,
            &headers,
            &body,
            &sendgrid_keys(),
            unix(SENDGRID_SENT + 60),
        ));
        assert_eq!(
            brief(&got),
            [
                (
                    BounceKind::Hard,
                    Some("reader.gone@example.com"),
                    "5.1.1",
                    "Ym91bmNlLTAtMTIzNDU2LWFiY2RlZi0w"
                ),
                (
                    BounceKind::Soft,
                    Some("reader.blocked@example.com"),
                    "5.7.1",
                    "Ym91bmNlLTEtMTIzNDU2LWFiY2RlZi0x"
                ),
                (
                    BounceKind::Soft,
                    Some("reader.full@example.com"),
                    "",
                    "ZGVmZXJyZWQtMi0xMjM0NTYtYWJjZGVmLTI"
                ),
                (
                    BounceKind::Hard,
                    Some("reader.suppressed@example.com"),
                    "5.0.0",
                    "ZHJvcHBlZC0zLTEyMzQ1Ni1hYmNkZWYtMw"
                ),
                (
                    BounceKind::Complaint,
                    Some("reader.annoyed@example.com"),
                    "",
                    "c3BhbXJlcG9ydC00LTEyMzQ1Ni1hYmNkZWYtNA"
                ),
                (
                    BounceKind::Hard,
                    Some("reader.async@example.com"),
                    "5.2.1",
                    "Ym91bmNlLTUtYXN5bmMtYWJjZGVmLTU"
                ),
            ]
        );
        assert_eq!(got[0].verp_token.as_deref(), Some("BSt1-4f9QvR2mT8wLxK0a"));
        assert_eq!(
            got[0].diagnostic,
            "550 5.1.1 The email account that you tried to reach does not exist."
        );
        assert_eq!(got[0].reported_at, Some(unix(1_772_410_531)));
        assert_eq!(
            got[2].diagnostic,
            "452 4.2.2 The email account that you tried to reach is over quota."
        );
        assert_eq!(got[5].verp_token, None);
    }

    #[test]
    fn an_old_or_future_sendgrid_timestamp_is_stale() {
        let (headers, body) = sendgrid_valid();
        let keys = sendgrid_keys();
        for now in [
            unix(SENDGRID_SENT + 2 * 86_400),
            unix(SENDGRID_SENT - 2 * 3_600),
        ] {
            let err = read(Provider::Sendgrid, &headers, &body, &keys, now).unwrap_err();
            assert!(matches!(err, WebhookError::Stale(_)), "{err:?}");
        }
    }

    #[test]
    fn a_header_that_is_not_utf8_is_unauthenticated() {
        let (mut headers, body) = sendgrid_valid();
        headers.insert(
            SENDGRID_SIGNATURE,
            HeaderValue::from_bytes(b"MEUCIQ\xff\xfe").unwrap(),
        );
        let err = read(
            Provider::Sendgrid,
            &headers,
            &body,
            &sendgrid_keys(),
            unix(SENDGRID_SENT),
        )
        .unwrap_err();
        assert!(matches!(err, WebhookError::Unauthenticated(_)), "{err:?}");
    }

    #[test]
    fn the_sendgrid_key_is_read_from_base64_or_pem() {
        let text = String::from_utf8(fixture("sendgrid", "test-public-key.txt")).unwrap();
        let der = sendgrid_key_from_text(&text).unwrap();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----\n",
            &text.trim()[..64],
            &text.trim()[64..]
        );
        assert_eq!(sendgrid_key_from_text(&pem).unwrap(), der);
        assert!(sendgrid_key_from_text("aGVsbG8=").is_err());
        assert!(sendgrid_key_from_text("not base64!").is_err());
    }

    // --- Postmark ---

    fn postmark_keys() -> WebhookKeys {
        WebhookKeys {
            postmark: Some((POSTMARK_USER.to_owned(), POSTMARK_PASSWORD.to_owned())),
            ..WebhookKeys::default()
        }
    }

    fn postmark_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static(POSTMARK_AUTH));
        headers
    }

    fn read_postmark_body(body: &[u8]) -> Result<Verdict, WebhookError> {
        read(
            Provider::Postmark,
            &postmark_headers(),
            body,
            &postmark_keys(),
            t("2026-03-02T09:00:00Z"),
        )
    }

    #[test]
    fn every_postmark_case_is_taken_or_refused_as_cases_json_says() {
        let keys = postmark_keys();
        for case in cases("postmark") {
            let body = fixture("postmark", case["body"].as_str().unwrap());
            let got = read(
                Provider::Postmark,
                &case_headers(&case),
                &body,
                &keys,
                t("2026-03-02T09:00:00Z"),
            );
            check_case("postmark", &case, &got);
        }
    }

    #[test]
    fn postmark_reports_carry_what_the_fixtures_say() {
        let hard = reports(read_postmark_body(&fixture("postmark", "bounce-hard.json")));
        assert_eq!(
            brief(&hard),
            [(
                BounceKind::Hard,
                Some("reader.gone@example.com"),
                "HardBounce",
                "4323372036"
            )]
        );
        assert_eq!(hard[0].verp_token.as_deref(), Some("BSt1-4f9QvR2mT8wLxK0a"));
        assert_eq!(
            hard[0].diagnostic,
            "smtp;550 5.1.1 The email account that you tried to reach does not exist."
        );
        assert_eq!(
            hard[0].reported_at,
            Some(t("2026-03-02T03:15:31.2735393-05:00"))
        );

        let soft = reports(read_postmark_body(&fixture("postmark", "bounce-soft.json")));
        assert_eq!(
            brief(&soft),
            [(
                BounceKind::Soft,
                Some("reader.full@example.com"),
                "SoftBounce",
                "4323372037"
            )]
        );

        let complaint = reports(read_postmark_body(&fixture(
            "postmark",
            "spam-complaint.json",
        )));
        assert_eq!(
            brief(&complaint),
            [(
                BounceKind::Complaint,
                Some("reader.annoyed@example.com"),
                "SpamComplaint",
                "4323372038"
            )]
        );
        assert_eq!(
            complaint[0].verp_token.as_deref(),
            Some("BSt1-2kW8gJ4rM0tHq9Xc")
        );

        let change = reports(read_postmark_body(&fixture(
            "postmark",
            "subscription-change.json",
        )));
        assert!(change.is_empty(), "{change:?}");
    }

    #[test]
    fn a_postmark_auto_reply_or_deactivation_is_no_bounce() {
        let mut record: Value =
            serde_json::from_slice(&fixture("postmark", "bounce-hard.json")).unwrap();
        for kind in ["AutoResponder", "ManuallyDeactivated", "Unknown"] {
            record["Type"] = Value::from(kind);
            let got = reports(read_postmark_body(&serde_json::to_vec(&record).unwrap()));
            assert!(got.is_empty(), "{kind}: {got:?}");
        }
        // A string id is taken as it is.
        record["Type"] = Value::from("Transient");
        record["ID"] = Value::from("abc-1");
        let got = reports(read_postmark_body(&serde_json::to_vec(&record).unwrap()));
        assert_eq!(got[0].kind, BounceKind::Soft);
        assert_eq!(got[0].event_id, "abc-1");
    }

    // --- Mailgun ---

    fn mailgun_keys() -> WebhookKeys {
        WebhookKeys {
            mailgun_signing_key: Some(MAILGUN_KEY.to_owned()),
            ..WebhookKeys::default()
        }
    }

    /// After every fixture's signed timestamp, and within a day of each.
    fn mailgun_now() -> DateTime<FixedOffset> {
        unix(1_772_496_200)
    }

    fn read_mailgun_body(body: &[u8], now: DateTime<FixedOffset>) -> Result<Verdict, WebhookError> {
        read(
            Provider::Mailgun,
            &HeaderMap::new(),
            body,
            &mailgun_keys(),
            now,
        )
    }

    /// A payload signed with the test key, as Mailgun signs.
    fn mailgun_signed(event_data: Value, timestamp: i64) -> Vec<u8> {
        let timestamp = timestamp.to_string();
        let token = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a697887";
        let mut mac = HmacSha256::new_from_slice(MAILGUN_KEY.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(token.as_bytes());
        let signature = hex(&mac.finalize().into_bytes());
        serde_json::to_vec(&serde_json::json!({
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": event_data
        }))
        .unwrap()
    }

    #[test]
    fn every_mailgun_case_is_taken_or_refused_as_cases_json_says() {
        for case in cases("mailgun") {
            assert_eq!(case["signing_key"].as_str(), Some(MAILGUN_KEY));
            let body = fixture("mailgun", case["body"].as_str().unwrap());
            let got = read(
                Provider::Mailgun,
                &case_headers(&case),
                &body,
                &mailgun_keys(),
                mailgun_now(),
            );
            check_case("mailgun", &case, &got);
        }
    }

    #[test]
    fn mailgun_reports_carry_what_the_fixtures_say() {
        let read_fixture =
            |name: &str| reports(read_mailgun_body(&fixture("mailgun", name), mailgun_now()));

        let permanent = read_fixture("failed-permanent.json");
        assert_eq!(
            brief(&permanent),
            [(
                BounceKind::Hard,
                Some("reader.gone@example.com"),
                "5.1.1",
                "G9Bn5sQ2RoKkJ8pZ4wYx1A"
            )]
        );
        assert_eq!(
            permanent[0].diagnostic,
            "5.1.1 The email account that you tried to reach does not exist."
        );
        assert_eq!(
            permanent[0].verp_token.as_deref(),
            Some("BSt1-4f9QvR2mT8wLxK0a")
        );
        assert_eq!(
            permanent[0].reported_at.map(|t| t.timestamp_micros()),
            Some(1_772_410_531_402_117)
        );

        let temporary = read_fixture("failed-temporary.json");
        assert_eq!(
            brief(&temporary),
            [(
                BounceKind::Soft,
                Some("reader.full@example.com"),
                "4.2.2",
                "Hq0Co6tR3SpLl9qA5xZy2B"
            )]
        );

        // No enhanced code: the reply code stands in.
        let suppressed = read_fixture("failed-suppressed.json");
        assert_eq!(
            brief(&suppressed),
            [(
                BounceKind::Hard,
                Some("reader.suppressed@example.com"),
                "605",
                "Ir1Dp7uS4TqMm0rB6yAz3C"
            )]
        );
        assert_eq!(
            suppressed[0].diagnostic,
            "Not delivering to previously bounced address"
        );

        let complained = read_fixture("complained.json");
        assert_eq!(
            brief(&complained),
            [(
                BounceKind::Complaint,
                Some("reader.annoyed@example.com"),
                "",
                "Js2Eq8vT5UrNn1sC7zBa4D"
            )]
        );
        assert_eq!(
            complained[0].verp_token.as_deref(),
            Some("BSt1-2kW8gJ4rM0tHq9Xc")
        );
    }

    #[test]
    fn an_old_or_future_mailgun_timestamp_is_stale() {
        let body = fixture("mailgun", "failed-permanent.json");
        let signed = unix(1_772_410_532);
        for now in [signed + TimeDelta::days(2), signed - TimeDelta::hours(2)] {
            let err = read_mailgun_body(&body, now).unwrap_err();
            assert!(matches!(err, WebhookError::Stale(_)), "{err:?}");
        }
    }

    #[test]
    fn other_mailgun_events_are_skipped_and_odd_ones_refused() {
        let sent = 1_772_496_000;
        for event in [
            serde_json::json!({"event": "delivered", "id": "a", "recipient": "a@example.com"}),
            serde_json::json!({"event": "failed", "id": "b", "recipient": "b@example.com"}),
        ] {
            let got = reports(read_mailgun_body(
                &mailgun_signed(event, sent),
                mailgun_now(),
            ));
            assert!(got.is_empty(), "{got:?}");
        }
        let err = read_mailgun_body(&mailgun_signed(Value::Null, sent), mailgun_now()).unwrap_err();
        assert!(matches!(err, WebhookError::Malformed(_)), "{err:?}");

        let mut bad_hex: Value =
            serde_json::from_slice(&mailgun_signed(Value::Null, sent)).unwrap();
        bad_hex["signature"]["signature"] = Value::from("zz");
        let err =
            read_mailgun_body(&serde_json::to_vec(&bad_hex).unwrap(), mailgun_now()).unwrap_err();
        assert!(matches!(err, WebhookError::Unauthenticated(_)), "{err:?}");
    }

    // --- All providers ---

    #[test]
    fn a_provider_without_its_key_is_not_configured() {
        for (provider, body) in [
            (Provider::Ses, fixture("ses", "sns-complaint-v2.json")),
            (Provider::Sendgrid, fixture("sendgrid", "events.json")),
            (Provider::Postmark, fixture("postmark", "bounce-hard.json")),
            (Provider::Mailgun, fixture("mailgun", "complained.json")),
        ] {
            let err = read(
                provider,
                &postmark_headers(),
                &body,
                &WebhookKeys::default(),
                mailgun_now(),
            )
            .unwrap_err();
            assert!(
                matches!(err, WebhookError::NotConfigured(p) if p == provider),
                "{err:?}"
            );
            assert_eq!(err.status(), 404);
            assert!(err.to_string().starts_with("webhooks."), "{err}");
        }
    }

    #[test]
    fn error_texts_show_no_secret_signature_or_body() {
        let mut wrong = HeaderMap::new();
        wrong.insert(
            "authorization",
            HeaderValue::from_static("Basic YnJvYWRzaGVldDp3cm9uZw=="),
        );
        let postmark = read(
            Provider::Postmark,
            &wrong,
            &fixture("postmark", "bounce-hard.json"),
            &postmark_keys(),
            mailgun_now(),
        )
        .unwrap_err();

        let mailgun = read_mailgun_body(
            &fixture("mailgun", "failed-permanent-bad-signature.json"),
            mailgun_now(),
        )
        .unwrap_err();

        let sendgrid_case = cases("sendgrid")
            .into_iter()
            .find(|c| c["why"] == "timestamp header changed")
            .unwrap();
        let sendgrid = read(
            Provider::Sendgrid,
            &case_headers(&sendgrid_case),
            &fixture("sendgrid", "events.json"),
            &sendgrid_keys(),
            unix(SENDGRID_SENT),
        )
        .unwrap_err();

        let ses = read_sns(
            "sns-bounce-tampered.json",
            &ses_keys("test-signing-cert.pem"),
        )
        .unwrap_err();

        for err in [postmark, mailgun, sendgrid, ses] {
            assert_eq!(err.status(), 401, "{err:?}");
            let text = err.to_string();
            for never in [
                POSTMARK_PASSWORD,
                "YnJvYWRzaGVldDp3cm9uZw==",
                MAILGUN_KEY,
                "840601af66d3ae135c24c15b0ce7b56ae4551cf9febe1fdd5e41d7bebe48e98e",
                "MEUCIQDFXIH6SLEI",
                "fBX1dsoY6dh6iulY",
                "example.com",
                "BSt1",
            ] {
                assert!(!text.contains(never), "{text}");
            }
            assert!(!text.contains('\n'), "{text}");
        }
    }

    #[test]
    fn the_keys_debug_shows_no_secret() {
        let mut keys = postmark_keys();
        keys.mailgun_signing_key = Some(MAILGUN_KEY.to_owned());
        let shown = format!("{keys:?}");
        assert!(!shown.contains(POSTMARK_PASSWORD), "{shown}");
        assert!(!shown.contains(POSTMARK_USER), "{shown}");
        assert!(!shown.contains(MAILGUN_KEY), "{shown}");
        assert!(shown.contains("mailgun_signing_key: \"<set>\""), "{shown}");
    }

    #[test]
    fn verp_tokens_are_found_in_addresses() {
        assert_eq!(
            verp_token_in("bounces+BSt1-4f9QvR2mT8wLxK0a@bounces.example.com"),
            Some("BSt1-4f9QvR2mT8wLxK0a")
        );
        assert_eq!(verp_token_in(" <Bounces+abc_1@x.example> "), Some("abc_1"));
        for none in [
            "bounces+@x.example",
            "bounces+a.b@x.example",
            "bounces+abc",
            "digest@x.example",
            "xbounces+abc@x.example",
            "",
        ] {
            assert_eq!(verp_token_in(none), None, "{none}");
        }
        assert_eq!(clean_token(&"a".repeat(65)), None);
    }

    #[test]
    fn diagnostics_are_one_line_and_bounded() {
        assert_eq!(
            diagnostic(Some(" 550 5.1.1\r\n  no such user ")),
            "550 5.1.1 no such user"
        );
        assert_eq!(diagnostic(None), "");
        let long = diagnostic(Some("論".repeat(400).as_str()));
        assert_eq!(long.chars().count(), DIAGNOSTIC_CHARS);
        assert_eq!(diagnostic(Some("x".repeat(300).as_str())).len(), 300);
    }

    #[test]
    fn status_codes() {
        assert_eq!(unauthenticated("x").status(), 401);
        assert_eq!(WebhookError::Stale("x".to_owned()).status(), 401);
        assert_eq!(malformed("x").status(), 400);
        assert_eq!(WebhookError::NotConfigured(Provider::Ses).status(), 404);
        assert_eq!(
            WebhookError::NotConfigured(Provider::Postmark).to_string(),
            "webhooks.postmark_user (with webhooks.postmark_password) is not set"
        );
    }

    /// The token in the header `provider` is given, read as the service
    /// reads it: SendGrid's `unique_args` and Mailgun's variables from
    /// their JSON, Postmark's metadata header as it is, SES's tags as
    /// `name=value` pairs.
    fn token_the_service_reads(
        provider: crate::config::ProviderHeaders,
        message: &mail_parser::Message<'_>,
    ) -> String {
        use crate::config::ProviderHeaders::*;
        let raw = |name: &str| {
            message
                .header_raw(name)
                .unwrap_or_else(|| panic!("no {name} header"))
                .trim()
                .to_owned()
        };
        let json = |name: &str| serde_json::from_str::<Value>(&raw(name)).unwrap();
        match provider {
            Sendgrid => json("X-SMTPAPI")["unique_args"]["broadsheet_token"]
                .as_str()
                .unwrap()
                .to_owned(),
            Mailgun => json("X-Mailgun-Variables")["broadsheet_token"]
                .as_str()
                .unwrap()
                .to_owned(),
            Postmark => raw("X-PM-Metadata-broadsheet_token"),
            Ses => raw("X-SES-MESSAGE-TAGS")
                .split(',')
                .find_map(|tag| tag.trim().strip_prefix("broadsheet-token="))
                .unwrap()
                .to_owned(),
            None => unreachable!("no header"),
        }
    }

    #[test]
    fn the_token_a_services_header_carries_comes_back_in_its_webhook_and_names_the_delivery() {
        use crate::bounces::{Recorded, Recorder, Trust};
        use crate::config::ProviderHeaders;
        use crate::mail::message::{self, Letter, Sender};
        let signer = crate::token::Signer::new("webhook-test-secret");
        let now = t("2026-03-02T08:00:00+08:00");
        crate::store::testing::every_store(|store| {
            let reader = crate::store::testing::active_subscriber(store, "reader@example.com");
            // The event names another subscriber: only the token can lead
            // to the delivery's reader.
            let other = crate::store::testing::active_subscriber(store, "other@example.com");
            for provider in [
                ProviderHeaders::Sendgrid,
                ProviderHeaders::Mailgun,
                ProviderHeaders::Postmark,
                ProviderHeaders::Ses,
            ] {
                let sender = Sender {
                    from: "論壇 <digest@news.example.com>".parse().unwrap(),
                    reply_to: None,
                    list_id: message::list_id("論壇每週精選", "news.example.com"),
                    dkim: None,
                    // Without a bounce domain: the service's own Return-Path.
                    bounce_domain: None,
                    provider_headers: provider,
                };
                let token = sender.delivery_token(&signer, 7, reader).unwrap();
                let built = message::build(
                    &sender,
                    &Letter {
                        to: "reader@example.com".parse().unwrap(),
                        subject: "論壇每週精選",
                        html: "<p>你好</p>",
                        text: "你好\n",
                        date: now,
                        message_id: "<broadsheet.7.x@news.example.com>",
                        list_unsubscribe: Some("https://news.example.com/u?t=1"),
                        feedback_id: Some("issue-7:digest:news.example.com"),
                        token: Some(&token),
                    },
                )
                .unwrap()
                .formatted();
                let parsed = mail_parser::MessageParser::default().parse(&built).unwrap();
                let carried = token_the_service_reads(provider, &parsed);
                assert_eq!(carried, token, "{provider:?}");
                let event = |id: &str| format!("{}-{id}", provider.as_str());
                let reports = match provider {
                    ProviderHeaders::Sendgrid => sendgrid_reports(
                        serde_json::json!([{
                            "event": "bounce", "type": "bounce", "email": "other@example.com",
                            "status": "5.1.1", "reason": "550 5.1.1 unknown user",
                            "timestamp": 1_772_410_000, "sg_event_id": event("1"),
                            "broadsheet_token": carried,
                        }])
                        .to_string()
                        .as_bytes(),
                    )
                    .unwrap(),
                    ProviderHeaders::Mailgun => mailgun_reports(&serde_json::json!({
                        "event": "failed", "severity": "permanent",
                        "recipient": "other@example.com", "id": event("1"),
                        "timestamp": 1_772_410_000.5,
                        "delivery-status": { "code": 550, "enhanced-code": "5.1.1" },
                        "user-variables": { "broadsheet_token": carried },
                    })),
                    ProviderHeaders::Postmark => postmark_reports(
                        serde_json::json!({
                            "RecordType": "Bounce", "Type": "HardBounce", "ID": 42,
                            "Email": "other@example.com", "BouncedAt": "2026-03-02T00:10:00Z",
                            "Metadata": { "broadsheet_token": carried },
                        })
                        .to_string()
                        .as_bytes(),
                    )
                    .unwrap(),
                    ProviderHeaders::Ses => ses_reports(
                        &serde_json::json!({
                            "eventType": "Bounce",
                            "bounce": {
                                "bounceType": "Permanent", "feedbackId": event("1"),
                                "timestamp": "2026-03-02T00:10:00Z",
                                "bouncedRecipients": [
                                    { "emailAddress": "other@example.com", "status": "5.1.1" }
                                ],
                            },
                            // SES's own address as the envelope sender.
                            "mail": {
                                "source": "digest@news.example.com",
                                "tags": { "broadsheet-token": [carried] },
                            },
                        }),
                        "sns-1",
                        now,
                    )
                    .unwrap(),
                    ProviderHeaders::None => unreachable!(),
                };
                assert_eq!(reports.len(), 1, "{provider:?}");
                assert_eq!(reports[0].verp_token.as_deref(), Some(token.as_str()));
                let recorder = Recorder {
                    signer: Some(&signer),
                    policy: crate::store::BouncePolicy::default(),
                    now,
                };
                let recorded = recorder
                    .record(store, &reports[0], provider.as_str(), Trust::Signed, b"{}")
                    .unwrap();
                assert!(
                    matches!(&recorded, Recorded::Matched { subscriber_id, .. } if *subscriber_id == reader),
                    "{provider:?}: {recorded:?}"
                );
                let issue = store.bounce_events(reader).unwrap()[0].issue_id;
                assert_eq!(issue, Some(7), "{provider:?}");
            }
            let status = |id| store.subscriber_by_id(id).unwrap().unwrap().status;
            assert_eq!(status(reader), crate::store::SubscriberStatus::Bounced);
            assert_eq!(status(other), crate::store::SubscriberStatus::Active);
        });
    }
}
