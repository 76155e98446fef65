//! Every email broadsheet sends is built here, one way: the digest and the
//! subscriber service's confirmation and preferences emails alike are
//! multipart/alternative with a base64 UTF-8 text part and HTML part, a
//! boundary drawn from the Message-ID (so the same inputs give the same
//! bytes), the sender's From and Reply-To, and a DKIM signature when one
//! is configured. A message to a list (the digest) also carries the
//! headers bulk mail needs: List-Id (RFC 2919), List-Unsubscribe (RFC
//! 2369) with one-click List-Unsubscribe-Post (RFC 8058), and Precedence.
//!
//! What a message says arrives already rendered, as a [`Letter`]: this
//! module knows nothing of digests or of the service's pages.

use super::Outgoing;
use crate::config::ProviderHeaders;
use crate::token::{PROVIDER_TOKEN_FIELD as TOKEN_FIELD, SES_TOKEN_TAG};
use chrono::{DateTime, FixedOffset};
use lettre::message::header::{ContentTransferEncoding, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The fixed parts of every message: who sends it, where replies go, the
/// list it belongs to, and how it is signed. Made once per command by
/// `Sender::from_config`.
#[derive(Debug, Clone)]
pub struct Sender {
    /// From.
    pub(crate) from: Mailbox,
    /// Reply-To, if set.
    pub(crate) reply_to: Option<Mailbox>,
    /// The List-Id header's value, encoded.
    pub(crate) list_id: String,
    /// DKIM signing, if configured.
    pub(crate) dkim: Option<Arc<lettre::message::dkim::DkimConfig>>,
    /// `digest.bounce_domain`: when set, each message's envelope sender is
    /// a VERP address there, naming its delivery.
    pub(crate) bounce_domain: Option<String>,
    /// `digest.provider_headers`: the sending service whose header carries
    /// each message's token.
    pub(crate) provider_headers: ProviderHeaders,
}

impl Sender {
    /// A Message-ID in the From address's domain,
    /// `<broadsheet.{parts joined by dots}@{domain}>`. The parts must say
    /// what makes the message the one it is, and nothing a reader should
    /// not see: every recipient sees this header.
    pub(crate) fn message_id(&self, parts: &[&str]) -> String {
        format!(
            "<broadsheet.{}@{}>",
            parts.join("."),
            self.from.email.domain()
        )
    }

    /// The token naming a delivery of issue `issue_id` (0: a service
    /// email) to subscriber `subscriber_id`, signed by `signer`, when a
    /// message carries one: in its VERP address (`digest.bounce_domain`)
    /// or a sending service's header (`digest.provider_headers`).
    pub(crate) fn delivery_token(
        &self,
        signer: &crate::token::Signer,
        issue_id: i64,
        subscriber_id: i64,
    ) -> Option<String> {
        if self.bounce_domain.is_none() && self.provider_headers == ProviderHeaders::None {
            return None;
        }
        signer.verp_token(issue_id, subscriber_id)
    }

    /// The envelope sender (Return-Path) of a message whose delivery
    /// `token` names (see [`Sender::delivery_token`]): a VERP address, so
    /// a bounce names its delivery whatever else it garbles; `None` (the
    /// From address) without `digest.bounce_domain`.
    pub(crate) fn envelope_sender(&self, token: Option<&str>) -> Option<lettre::Address> {
        let domain = self.bounce_domain.as_deref()?;
        crate::token::verp_address(token?, domain).parse().ok()
    }

    /// The Feedback-ID header's value (Gmail's feedback loop): `campaign`
    /// (the issue, or the kind of service email), the kind of mail, and
    /// the sender's domain, which Gmail reports complaint rates by.
    pub(crate) fn feedback_id(&self, campaign: &str, kind: &str) -> String {
        format!("{campaign}:{kind}:{}", self.from.email.domain())
    }
}

/// What one message says, to whom, and when: rendered, on one line where
/// a header needs it, before it comes here.
#[derive(Debug, Clone)]
pub(crate) struct Letter<'a> {
    /// To.
    pub(crate) to: Mailbox,
    /// The subject, on one line (made so by whoever rendered it, so
    /// nothing in it can start a header).
    pub(crate) subject: &'a str,
    /// The HTML part.
    pub(crate) html: &'a str,
    /// The text part.
    pub(crate) text: &'a str,
    /// The Date header, written with this time's own offset (so a digest
    /// made with the time in `site.timezone` says `+0800` in Hong Kong).
    pub(crate) date: DateTime<FixedOffset>,
    /// Message-ID, with angle brackets (see [`Sender::message_id`]). The
    /// MIME boundary is drawn from it too.
    pub(crate) message_id: &'a str,
    /// The one-click unsubscribe URL of a message to a list, which then
    /// carries the list's headers; `None` for a message to one person
    /// about their own subscription, which belongs to no list.
    pub(crate) list_unsubscribe: Option<&'a str>,
    /// The Feedback-ID header (see [`Sender::feedback_id`]).
    pub(crate) feedback_id: Option<&'a str>,
    /// The delivery's token (see [`Sender::delivery_token`]), which the
    /// header `digest.provider_headers` names carries.
    pub(crate) token: Option<&'a str>,
}

/// The header that hands `token` to the sending service `provider`, as
/// (name, value); `None` for no service, or a token that is not one of
/// ours (base32, so nothing in it can end a header line or break out of
/// the JSON some of these headers hold).
pub(crate) fn provider_header(
    provider: ProviderHeaders,
    token: &str,
) -> Option<(&'static str, String)> {
    if !crate::token::is_verp_token_shaped(token) {
        return None;
    }
    let json = |v: serde_json::Value| v.to_string();
    Some(match provider {
        ProviderHeaders::None => return None,
        // SendGrid's SMTP API: unique arguments come back as fields of
        // each event of the Event Webhook.
        ProviderHeaders::Sendgrid => (
            "X-SMTPAPI",
            json(serde_json::json!({ "unique_args": { TOKEN_FIELD: token } })),
        ),
        // Mailgun: a JSON object of variables, back as `user-variables`.
        ProviderHeaders::Mailgun => (
            "X-Mailgun-Variables",
            json(serde_json::json!({ TOKEN_FIELD: token })),
        ),
        // Postmark: one header a metadata field (`X-PM-Metadata-` and
        // the field's name), back in `Metadata`.
        ProviderHeaders::Postmark => ("X-PM-Metadata-broadsheet_token", token.to_owned()),
        // SES: message tags as name=value (names of letters, digits, `_`
        // and `-`), back in an event's `mail.tags` as lists.
        ProviderHeaders::Ses => ("X-SES-MESSAGE-TAGS", format!("{SES_TOKEN_TAG}={token}")),
    })
}

fn header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// Builds the message. Names and the subject are encoded by lettre (RFC
/// 2047); they were made single-line before, so nothing in them can start
/// a header.
pub(crate) fn build(sender: &Sender, letter: &Letter<'_>) -> Result<Message, lettre::error::Error> {
    let boundary = {
        let digest = Sha256::digest(letter.message_id.as_bytes());
        format!("=_broadsheet_{}", crate::names::hex(&digest[..12]))
    };
    let mut b = Message::builder()
        .from(sender.from.clone())
        .to(letter.to.clone())
        .subject(letter.subject)
        .date(std::time::SystemTime::from(letter.date))
        .message_id(Some(letter.message_id.to_owned()));
    if let Some(url) = letter.list_unsubscribe {
        b = b
            .raw_header(HeaderValue::dangerous_new_pre_encoded(
                HeaderName::new_from_ascii_str("List-Id"),
                sender.list_id.clone(),
                sender.list_id.clone(),
            ))
            .raw_header(header(
                "List-Unsubscribe",
                format!(
                    "<{url}>, <mailto:{}?subject=unsubscribe>",
                    sender.from.email
                ),
            ))
            .raw_header(header(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".into(),
            ));
    }
    // Auto-Submitted (RFC 3834) asks responders not to answer: vacation
    // and out-of-office replies to a digest only load the bounce reader.
    // Mailbox providers do not hold it against bulk mail (it is what a
    // machine-sent message is), and README says why it stays.
    b = b.raw_header(header("Auto-Submitted", "auto-generated".into()));
    if let Some(id) = letter.feedback_id {
        b = b.raw_header(header("Feedback-ID", id.to_owned()));
    }
    // Not signed by DKIM (see `dkim_headers`): the service takes it out
    // before it sends the message on.
    if let Some((name, value)) = letter
        .token
        .and_then(|t| provider_header(sender.provider_headers, t))
    {
        b = b.raw_header(header(name, value));
    }
    if letter.list_unsubscribe.is_some() {
        b = b.raw_header(header("Precedence", "bulk".into()));
    }
    if let Some(r) = &sender.reply_to {
        b = b.reply_to(r.clone());
    }
    let mut message = b.multipart(
        MultiPart::alternative()
            .boundary(boundary)
            .singlepart(SinglePart::plain(base64_body(letter.text)))
            .singlepart(SinglePart::html(base64_body(letter.html))),
    )?;
    // lettre writes every Date in UTC; readers' mail clients show the
    // header as it is when they do not convert it, so it keeps the zone the
    // letter was dated in. RFC 5322 §3.3 form, which chrono's RFC 2822 is.
    let date = letter.date.to_rfc2822();
    message
        .headers_mut()
        .insert_raw(HeaderValue::dangerous_new_pre_encoded(
            HeaderName::new_from_ascii_str("Date"),
            date.clone(),
            date,
        ));
    if let Some(dkim) = &sender.dkim {
        lettre::message::dkim::dkim_sign(&mut message, dkim);
    }
    Ok(message)
}

impl Outgoing {
    /// `message` ready to go as delivery `delivery_id` (0 for a service
    /// email) to subscriber `subscriber_id`, its outbox file named after
    /// `message_id`.
    pub(crate) fn new(
        delivery_id: i64,
        subscriber_id: i64,
        message: &Message,
        message_id: &str,
    ) -> Outgoing {
        Outgoing {
            delivery_id,
            subscriber_id,
            envelope: message.envelope().clone(),
            bytes: message.formatted(),
            file_name: super::outbox_file_name(message_id),
        }
    }

    /// The same message with `sender` as its envelope sender, when there
    /// is one (see [`Sender::envelope_sender`]).
    pub(crate) fn with_envelope_sender(mut self, sender: Option<lettre::Address>) -> Outgoing {
        if let Some(sender) = sender {
            if let Ok(e) = lettre::address::Envelope::new(Some(sender), self.envelope.to().to_vec())
            {
                self.envelope = e;
            }
        }
        self
    }
}

/// A body in base64: the shortest safe encoding for Chinese text. Encoded
/// here, to the bytes lettre's `Body::new_with_encoding` gives (CRLF line
/// ends, then base64 in lines of 76): lettre puts each `\r` in with a
/// `String::insert`, which for a digest's hundreds of lines costs more
/// than the rest of the message, and first asks which encoding would do.
fn base64_body(text: &str) -> Body {
    use base64::Engine;
    let bytes = text.as_bytes();
    let mut crlf = Vec::with_capacity(text.len() + text.len() / 32);
    let mut start = 0;
    for (at, _) in text.match_indices('\n') {
        crlf.extend_from_slice(&bytes[start..at]);
        if at == 0 || bytes[at - 1] != b'\r' {
            crlf.push(b'\r');
        }
        crlf.push(b'\n');
        start = at + 1;
    }
    crlf.extend_from_slice(&bytes[start..]);
    // 57 bytes of input make one line of 76.
    let mut out = Vec::with_capacity(crlf.len() / 57 * 78 + 80);
    let mut line = [0u8; 76];
    for (i, chunk) in crlf.chunks(57).enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\r\n");
        }
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(chunk, &mut line)
            .expect("57 bytes fit a line of 76");
        out.extend_from_slice(&line[..n]);
    }
    Body::dangerous_pre_encoded(out, ContentTransferEncoding::Base64)
}

/// An RFC 2047 encoded-word phrase (base64, UTF-8), in pieces short enough
/// for one header line each. Written here because lettre encodes whole
/// header values, and List-Id must keep its `<id>` outside the phrase.
pub(crate) fn encode_phrase(phrase: &str) -> String {
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

/// The List-Id value: `<phrase> <digest.<domain>>`, the phrase the
/// digest's name in the site's language (`論壇每週精選`), as readers see it
/// in the subject.
pub(crate) fn list_id(name: &str, domain: &str) -> String {
    format!("{} <digest.{domain}>", encode_phrase(name))
}

/// The headers a DKIM signature covers: the usual ones, plus
/// List-Unsubscribe and List-Unsubscribe-Post, which RFC 8058 requires to
/// be signed (lettre's default set leaves them out). A header a message
/// lacks is signed as absent, so none can be added on the way.
pub(crate) fn dkim_headers() -> Vec<HeaderName> {
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
        // Gmail counts a Feedback-ID only when the sending domain's DKIM
        // signature covers it.
        "Feedback-ID",
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
    fn a_body_is_the_base64_lettre_would_write() {
        let lines = "第一行，香港。\nline two\r\n\n\r\rthree\n".repeat(40);
        for text in [
            String::new(),
            "\n".into(),
            "\nstarts with a line end".into(),
            "a".repeat(56),
            "a".repeat(57),
            "a".repeat(58),
            "b".repeat(57 * 3),
            lines,
        ] {
            let lettre = Body::new_with_encoding(text.clone(), ContentTransferEncoding::Base64)
                .expect("base64 can carry any body");
            let ours = base64_body(&text);
            assert_eq!(
                String::from_utf8_lossy(ours.as_ref()),
                String::from_utf8_lossy(lettre.as_ref()),
                "{text:?}"
            );
            assert_eq!(ours.encoding(), lettre.encoding());
        }
    }

    fn sender() -> Sender {
        Sender {
            from: "論壇 <digest@news.example.com>".parse().unwrap(),
            reply_to: None,
            list_id: list_id("論壇每週精選", "news.example.com"),
            dkim: None,
            bounce_domain: None,
            provider_headers: ProviderHeaders::None,
        }
    }

    fn letter(list_unsubscribe: Option<&str>) -> Letter<'_> {
        Letter {
            to: "reader@example.com".parse().unwrap(),
            subject: "請確認訂閱",
            html: "<p>你好</p>",
            text: "你好\n",
            date: DateTime::parse_from_rfc3339("2026-06-15T08:00:00+08:00").unwrap(),
            message_id: "<broadsheet.test.1@news.example.com>",
            list_unsubscribe,
            feedback_id: None,
            token: None,
        }
    }

    fn headers(m: &Message) -> String {
        let bytes = m.formatted();
        let text = String::from_utf8(bytes).unwrap();
        text.split("\r\n\r\n").next().unwrap().to_owned()
    }

    #[test]
    fn a_chinese_phrase_is_encoded_in_short_words() {
        let enc = encode_phrase("論壇每週摘要論壇每週摘要論壇每週摘要論壇每週摘要");
        for word in enc.split(' ') {
            assert!(word.len() <= 75, "{word}");
            assert!(word.starts_with("=?utf-8?b?"));
        }
        assert_eq!(encode_phrase("Forum digest"), "Forum digest");
    }

    #[test]
    fn only_a_message_to_the_list_carries_the_lists_headers() {
        let s = sender();
        let to_one = headers(&build(&s, &letter(None)).unwrap());
        let to_list = headers(&build(&s, &letter(Some("https://n.example/u?t=1"))).unwrap());
        for name in [
            "List-Id:",
            "List-Unsubscribe:",
            "List-Unsubscribe-Post:",
            "Precedence:",
        ] {
            assert!(!to_one.contains(name), "{name} in\n{to_one}");
            assert!(to_list.contains(name), "{name} not in\n{to_list}");
        }
        for h in [&to_one, &to_list] {
            assert!(h.contains("\r\nAuto-Submitted: auto-generated\r\n"), "{h}");
        }
    }

    #[test]
    fn the_same_letter_gives_the_same_bytes_and_another_id_another_boundary() {
        let s = sender();
        let first = build(&s, &letter(None)).unwrap().formatted();
        assert_eq!(first, build(&s, &letter(None)).unwrap().formatted());
        let other = Letter {
            message_id: "<broadsheet.test.2@news.example.com>",
            ..letter(None)
        };
        let second = build(&s, &other).unwrap().formatted();
        let boundary = |b: &[u8]| {
            let t = String::from_utf8(b.to_vec()).unwrap();
            let at = t.find("boundary=\"").unwrap() + 10;
            t[at..at + 37].to_owned()
        };
        assert!(boundary(&first).starts_with("=_broadsheet_"));
        assert_ne!(boundary(&first), boundary(&second));
    }

    #[test]
    fn the_date_header_keeps_the_letters_own_offset() {
        let h = headers(&build(&sender(), &letter(None)).unwrap());
        assert!(
            h.contains("\r\nDate: Mon, 15 Jun 2026 08:00:00 +0800\r\n"),
            "{h}"
        );
        assert_eq!(h.matches("\r\nDate: ").count(), 1, "{h}");
    }

    #[test]
    fn only_the_configured_services_header_carries_the_token_and_dkim_leaves_it_unsigned() {
        let token = "abcdefghijklmnopqrstuvwxyz23";
        let names = [
            "X-SMTPAPI",
            "X-Mailgun-Variables",
            "X-PM-Metadata-broadsheet_token",
            "X-SES-MESSAGE-TAGS",
        ];
        let expected = [
            (ProviderHeaders::None, None),
            (
                ProviderHeaders::Sendgrid,
                Some("X-SMTPAPI: {\"unique_args\":{\"broadsheet_token\":\"abcdefghijklmnopqrstuvwxyz23\"}}"),
            ),
            (
                ProviderHeaders::Mailgun,
                Some("X-Mailgun-Variables: {\"broadsheet_token\":\"abcdefghijklmnopqrstuvwxyz23\"}"),
            ),
            (
                ProviderHeaders::Postmark,
                Some("X-PM-Metadata-broadsheet_token: abcdefghijklmnopqrstuvwxyz23"),
            ),
            (
                ProviderHeaders::Ses,
                Some("X-SES-MESSAGE-TAGS: broadsheet-token=abcdefghijklmnopqrstuvwxyz23"),
            ),
        ];
        for (provider, line) in expected {
            let s = Sender {
                provider_headers: provider,
                ..sender()
            };
            let h = headers(
                &build(
                    &s,
                    &Letter {
                        token: Some(token),
                        ..letter(None)
                    },
                )
                .unwrap(),
            );
            let present: Vec<&str> = names
                .iter()
                .copied()
                .filter(|n| h.contains(&format!("\r\n{n}: ")))
                .collect();
            match line {
                Some(line) => {
                    assert!(h.contains(&format!("\r\n{line}\r\n")), "{line}\n{h}");
                    assert_eq!(present.len(), 1, "{provider:?}: {present:?}");
                }
                None => assert!(present.is_empty(), "{present:?}"),
            }
            // A message without a token carries none either.
            let without = headers(&build(&s, &letter(None)).unwrap());
            assert!(!names.iter().any(|n| without.contains(n)), "{without}");
        }
        for name in names {
            assert!(!dkim_headers().iter().any(|d| d.eq_ignore_ascii_case(name)));
        }
        // Nothing that is not one of our tokens reaches a header.
        for bad in ["abc\r\nBcc: x@example.com", "a\"b", "", &"a".repeat(65)] {
            assert_eq!(
                provider_header(ProviderHeaders::Sendgrid, bad),
                None,
                "{bad:?}"
            );
            assert_eq!(
                provider_header(ProviderHeaders::Postmark, bad),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_message_id_is_in_the_senders_domain() {
        assert_eq!(
            sender().message_id(&["confirm", "1781481600", "ab12"]),
            "<broadsheet.confirm.1781481600.ab12@news.example.com>"
        );
    }
}
