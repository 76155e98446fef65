//! A rendered digest becomes a MIME message: multipart/alternative, UTF-8,
//! with the headers bulk mail needs (RFC 2369, RFC 8058, RFC 2919).

use super::render::RenderedDigest;
use chrono::{DateTime, FixedOffset};
use lettre::message::header::ContentTransferEncoding;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use sha2::{Digest, Sha256};

/// Fixed parts of every digest message.
#[derive(Debug, Clone)]
pub struct Sender {
    /// From.
    pub from: Mailbox,
    /// Reply-To, if set.
    pub reply_to: Option<Mailbox>,
    /// The List-Id header's value, encoded.
    pub list_id: String,
    /// DKIM signing, if configured.
    pub dkim: Option<std::sync::Arc<lettre::message::dkim::DkimConfig>>,
}

/// One recipient's message.
pub struct Letter<'a> {
    /// To.
    pub to: Mailbox,
    /// Subject, HTML and text.
    pub body: &'a RenderedDigest,
    /// The Date header (the run's `now`).
    pub date: DateTime<FixedOffset>,
    /// Message-ID, with angle brackets.
    pub message_id: &'a str,
    /// The one-click unsubscribe URL.
    pub unsubscribe_url: &'a str,
}

/// The Message-ID of an issue's email to one subscriber: the same on every
/// attempt, so a receiving system can tell a retry from a new message.
/// `reader` names the subscriber without their number (see
/// `Signer::opaque_id`): every reader sees this header.
pub fn message_id(
    issue_label: &str,
    cutoff: DateTime<FixedOffset>,
    reader: &str,
    domain: &str,
) -> String {
    format!(
        "<broadsheet.{issue_label}.{}.{reader}@{domain}>",
        cutoff.timestamp()
    )
}

/// An RFC 2047 encoded-word phrase (base64, UTF-8), in pieces short enough
/// for one header line each. Written here because lettre encodes whole
/// header values, and List-Id must keep its `<id>` outside the phrase.
pub fn encode_phrase(phrase: &str) -> String {
    if phrase
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" !#$%&'*+-/=?^_`{|}~".contains(&b))
    {
        return phrase.to_owned();
    }
    use base64::Engine;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in phrase.chars() {
        // 45 bytes of UTF-8 become 60 of base64: with the 12 of
        // "=?utf-8?b??=", under the 75 RFC 2047 allows.
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            format!(
                "=?utf-8?b?{}?=",
                base64::engine::general_purpose::STANDARD.encode(w)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The List-Id value: `<phrase> <digest.<domain>>`.
pub fn list_id(site_title: &str, domain: &str) -> String {
    format!(
        "{} <digest.{domain}>",
        encode_phrase(&format!("{site_title} digest"))
    )
}

fn header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// Builds the message. Names and subjects are encoded by lettre; they were
/// made single-line before, so nothing in them can start a header.
pub fn build(sender: &Sender, letter: &Letter<'_>) -> Result<Message, lettre::error::Error> {
    let boundary = {
        let digest = Sha256::digest(letter.message_id.as_bytes());
        format!("=_broadsheet_{}", crate::names::hex(&digest[..12]))
    };
    let mut b = Message::builder()
        .from(sender.from.clone())
        .to(letter.to.clone())
        .subject(letter.body.subject.clone())
        .date(std::time::SystemTime::from(letter.date))
        .message_id(Some(letter.message_id.to_owned()))
        .raw_header(HeaderValue::dangerous_new_pre_encoded(
            HeaderName::new_from_ascii_str("List-Id"),
            sender.list_id.clone(),
            sender.list_id.clone(),
        ))
        .raw_header(header(
            "List-Unsubscribe",
            format!(
                "<{}>, <mailto:{}?subject=unsubscribe>",
                letter.unsubscribe_url, sender.from.email
            ),
        ))
        .raw_header(header(
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click".into(),
        ))
        .raw_header(header("Auto-Submitted", "auto-generated".into()))
        .raw_header(header("Precedence", "bulk".into()));
    if let Some(r) = &sender.reply_to {
        b = b.reply_to(r.clone());
    }
    let mut message = b.multipart(
        MultiPart::alternative()
            .boundary(boundary)
            .singlepart(SinglePart::plain(base64_body(&letter.body.text)))
            .singlepart(SinglePart::html(base64_body(&letter.body.html))),
    )?;
    if let Some(dkim) = &sender.dkim {
        lettre::message::dkim::dkim_sign(&mut message, dkim);
    }
    Ok(message)
}

/// A body in base64: the shortest safe encoding for Chinese text, and
/// naming it saves lettre from trying each encoding on every message.
fn base64_body(text: &str) -> Body {
    Body::new_with_encoding(text.to_owned(), ContentTransferEncoding::Base64)
        .expect("base64 can carry any body")
}

/// The headers a DKIM signature covers: the usual ones, plus
/// List-Unsubscribe and List-Unsubscribe-Post, which RFC 8058 requires to
/// be signed (lettre's default set leaves them out).
pub fn dkim_headers() -> Vec<HeaderName> {
    [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "Reply-To",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "MIME-Version",
        "Content-Type",
    ]
    .into_iter()
    .map(HeaderName::new_from_ascii_str)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chinese_phrase_is_encoded_in_short_words() {
        let enc = encode_phrase("論壇每週摘要論壇每週摘要論壇每週摘要論壇每週摘要");
        for word in enc.split(' ') {
            assert!(word.len() <= 75, "{word}");
            assert!(word.starts_with("=?utf-8?b?"));
        }
        assert_eq!(encode_phrase("Forum digest"), "Forum digest");
    }
}
