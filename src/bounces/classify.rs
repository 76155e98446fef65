//! What a message sent back to us says: a bounce (RFC 3464 delivery status
//! notification, or one of the common shapes that are not), a complaint
//! (RFC 5965 abuse report), an auto-reply (RFC 3834, vacation,
//! out-of-office: never a bounce), a delivery that succeeded, or nothing we
//! understand. The MIME tree is read by mail-parser, which never fails on
//! a damaged message; the report fields inside (`message/delivery-status`,
//! `message/feedback-report`) are plain header-like lines that no crate
//! we have parses, so they are read here.
//!
//! Nothing here trusts what it reads: the addresses and tokens found are
//! only candidates, which `bounces::record` checks against the state.

use super::Report;
use crate::store::BounceKind;
use chrono::{DateTime, FixedOffset};
use mail_parser::{HeaderName, Message, MessageParser, MimeHeaders, PartType};

/// What a message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// Bounces or complaints, one per recipient it names as failed.
    Reports(Vec<Report>),
    /// An automatic reply (vacation, out of office): not a bounce.
    AutoReply,
    /// A delivery status notification saying the message arrived.
    Delivered,
    /// Not a report we understand; the reason, for the log.
    Unknown(&'static str),
}

impl Classified {
    /// A word for the log and the summary.
    pub fn label(&self) -> &'static str {
        match self {
            Classified::Reports(r) if r.iter().any(|r| r.kind == BounceKind::Complaint) => {
                "complaint"
            }
            Classified::Reports(r) if r.iter().any(|r| r.kind == BounceKind::Hard) => "hard bounce",
            Classified::Reports(_) => "soft bounce",
            Classified::AutoReply => "auto-reply",
            Classified::Delivered => "delivery report",
            Classified::Unknown(_) => "not understood",
        }
    }
}

/// Reads `raw`, a whole message as it arrived.
pub fn classify(raw: &[u8]) -> Classified {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Classified::Unknown("no message headers");
    };
    let context = Context::of(&message, raw);
    // A report part decides, whatever the headers say: Postfix, Exim and
    // Gmail mark their bounces `Auto-Submitted: auto-replied` too.
    if let Some(fields) = part_of(&message, "feedback-report") {
        return complaint(&fields, &message, &context);
    }
    if let Some(fields) =
        part_of(&message, "delivery-status").or_else(|| part_of(&message, "global-delivery-status"))
    {
        return dsn(&fields, &context);
    }
    if context.from_daemon {
        // A multipart/report cut off before its status part was closed
        // still has its status lines: read them from the raw text.
        if is_report(&message) {
            let fields = raw_report_fields(raw);
            if !fields.is_empty() {
                return dsn(&fields, &context);
            }
        }
        return non_standard(&message, &context);
    }
    if is_auto_reply(&message) {
        return Classified::AutoReply;
    }
    Classified::Unknown("neither a delivery report, an abuse report nor an auto-reply")
}

/// What every report of one message shares.
struct Context {
    /// The VERP token: from where the message was delivered to (our
    /// envelope sender), else from the copy of our message inside.
    verp_token: Option<String>,
    /// The message's own id, which makes the report the one it is.
    message_id: String,
    /// Its Date.
    date: Option<DateTime<FixedOffset>>,
    /// Whether it comes from a mail system rather than a person.
    from_daemon: bool,
}

impl Context {
    fn of(message: &Message<'_>, raw: &[u8]) -> Context {
        // Where it was delivered to first: the outer headers name the
        // address we sent from. Then anywhere (a copy of our Return-Path).
        let delivered_to = ["Delivered-To", "X-Original-To", "Envelope-To", "To"]
            .iter()
            .filter_map(|h| message.header_raw(*h))
            .find_map(find_verp);
        let verp_token =
            delivered_to.or_else(|| find_verp(&String::from_utf8_lossy(prefix(raw, 1 << 20))));
        let message_id = message.message_id().unwrap_or("").to_owned();
        let date = message
            .date()
            .and_then(|d| DateTime::parse_from_rfc3339(&d.to_rfc3339()).ok());
        Context {
            verp_token,
            message_id,
            date,
            from_daemon: from_daemon(message),
        }
    }

    fn report(
        &self,
        kind: BounceKind,
        recipient: Option<String>,
        status: &str,
        diagnostic: &str,
    ) -> Report {
        let event_id = match (&self.message_id, &recipient) {
            (id, _) if id.is_empty() => String::new(),
            (id, Some(r)) => format!("{id} {}", r.to_lowercase()),
            (id, None) => id.clone(),
        };
        Report {
            kind,
            recipient,
            verp_token: self.verp_token.clone(),
            status_code: status.to_owned(),
            diagnostic: super::diagnostic(diagnostic),
            reported_at: self.date,
            event_id,
        }
    }
}

fn prefix(raw: &[u8], n: usize) -> &[u8] {
    &raw[..raw.len().min(n)]
}

/// The first VERP token in `text`: `bounces+TOKEN@`.
fn find_verp(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(crate::token::VERP_PREFIX) {
        let start = from + at + crate::token::VERP_PREFIX.len();
        let token: String = lower[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if !token.is_empty() && lower[start + token.len()..].starts_with('@') {
            return Some(text[start..start + token.len()].to_owned());
        }
        from = start;
    }
    None
}

/// Whether the sender is a mail system: `MAILER-DAEMON`, `postmaster`,
/// "Mail Delivery System", or a bounce's own headers. An empty
/// Return-Path alone says nothing: RFC 3834 asks auto-replies for one too.
fn from_daemon(message: &Message<'_>) -> bool {
    let from = message.from().and_then(|a| a.first());
    let local = from
        .and_then(|a| a.address())
        .and_then(|a| a.split('@').next())
        .unwrap_or("")
        .to_ascii_lowercase();
    let name = from
        .and_then(|a| a.name())
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(
        local.as_str(),
        "mailer-daemon" | "mailerdaemon" | "mail-daemon" | "postmaster"
    ) || name.contains("mail delivery")
        || name.contains("mailer-daemon")
        || message.header_raw("X-Failed-Recipients").is_some()
        || message.header_raw("X-MS-Exchange-Message-Is-Ndr").is_some()
}

/// Whether the top content type is `multipart/report` for a DSN.
fn is_report(message: &Message<'_>) -> bool {
    message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    })
}

/// RFC 3834 and the common shapes before it: `Auto-Submitted` other than
/// `no`, vacation programs' headers, Exchange's out-of-office marks.
fn is_auto_reply(message: &Message<'_>) -> bool {
    let header = |h: &str| message.header_raw(h).map(|v| v.trim().to_ascii_lowercase());
    if header("Auto-Submitted").is_some_and(|v| v != "no") {
        return true;
    }
    if header("Precedence").is_some_and(|v| v == "auto_reply" || v == "junk") {
        return true;
    }
    if [
        "X-Autoreply",
        "X-Autorespond",
        "X-Autoresponder",
        "X-MS-Exchange-Organization-AutoReply",
    ]
    .iter()
    .any(|h| message.header_raw(*h).is_some())
    {
        return true;
    }
    let subject = message.subject().unwrap_or("").to_lowercase();
    let marked = header("X-Auto-Response-Suppress").is_some()
        || message
            .header_raw("X-MS-Exchange-Inbox-Rules-Loop")
            .is_some();
    let oof_subject = [
        "automatic reply",
        "auto reply",
        "autoreply",
        "auto:",
        "out of office",
        "out of the office",
        "自動回覆",
        "自动回复",
    ]
    .iter()
    .any(|s| subject.contains(s));
    oof_subject && (marked || message.in_reply_to().as_text().is_some())
}

/// The header-like lines of the first part of type `message/<subtype>`,
/// in groups (a DSN's first group is about the message, each next about
/// one recipient), each field's name lower-cased, folded lines joined.
fn part_of(message: &Message<'_>, subtype: &str) -> Option<Vec<Vec<(String, String)>>> {
    for part in &message.parts {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let ours = ct.ctype().eq_ignore_ascii_case("message")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case(subtype));
        if !ours {
            continue;
        }
        let bytes: &[u8] = match &part.body {
            PartType::Message(m) => m.raw_message(),
            _ => part.contents(),
        };
        return Some(fields(&String::from_utf8_lossy(bytes)));
    }
    None
}

/// `Name: value` lines in groups separated by blank lines.
fn fields(text: &str) -> Vec<Vec<(String, String)>> {
    let mut groups: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !groups.last().is_some_and(Vec::is_empty) {
                groups.push(Vec::new());
            }
            continue;
        }
        let group = groups.last_mut().expect("one group at least");
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = group.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            group.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// The status lines of a report whose MIME structure is broken: the lines
/// from the first `Final-Recipient`/`Action`/`Status` on.
fn raw_report_fields(raw: &[u8]) -> Vec<Vec<(String, String)>> {
    let text = String::from_utf8_lossy(raw);
    // ASCII lower-casing keeps every byte where it was.
    let lower = text.to_ascii_lowercase();
    let Some(start) = [
        "\nfinal-recipient:",
        "\noriginal-recipient:",
        "\naction:",
        "\nstatus:",
    ]
    .iter()
    .filter_map(|m| lower.find(m))
    .min() else {
        return Vec::new();
    };
    let groups = fields(&text[start + 1..]);
    // Only the fields a report has: the rest is the next part's headers.
    groups
        .into_iter()
        .map(|g| {
            g.into_iter()
                .filter(|(n, _)| {
                    matches!(
                        n.as_str(),
                        "final-recipient"
                            | "original-recipient"
                            | "action"
                            | "status"
                            | "diagnostic-code"
                    )
                })
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty())
        .collect()
}

fn field<'a>(group: &'a [(String, String)], name: &str) -> Option<&'a str> {
    group
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `rfc822; Reader@Example.com` → `Reader@Example.com`.
fn address_of(value: &str) -> Option<String> {
    let address = value.split_once(';').map_or(value, |(_, a)| a).trim();
    let address = address.trim_matches(['<', '>']).trim();
    address.contains('@').then(|| address.to_owned())
}

/// RFC 3464: one report per recipient group that failed or was delayed.
fn dsn(groups: &[Vec<(String, String)>], context: &Context) -> Classified {
    let mut reports = Vec::new();
    let mut delivered = false;
    for group in groups {
        let recipient = field(group, "final-recipient")
            .or_else(|| field(group, "original-recipient"))
            .and_then(address_of);
        let action = field(group, "action").map(|a| a.to_ascii_lowercase());
        let status = field(group, "status")
            .and_then(enhanced_code)
            .unwrap_or_default();
        if recipient.is_none() && action.is_none() && status.is_empty() {
            continue; // the per-message group
        }
        let diagnostic = field(group, "diagnostic-code")
            .map(|d| d.split_once(';').map_or(d, |(_, t)| t).trim())
            .unwrap_or("");
        let kind = match (action.as_deref(), status.chars().next()) {
            (Some("delivered" | "relayed" | "expanded"), _) => {
                delivered = true;
                continue;
            }
            (Some("delayed"), _) | (_, Some('4')) => BounceKind::Soft,
            (_, Some('5')) => BounceKind::Hard,
            (Some("failed"), _) => match basic_code(diagnostic) {
                Some(c) if c.starts_with('4') => BounceKind::Soft,
                _ => BounceKind::Hard,
            },
            _ => continue,
        };
        reports.push(context.report(kind, recipient, &status, diagnostic));
    }
    match (reports.is_empty(), delivered) {
        (false, _) => Classified::Reports(reports),
        (true, true) => Classified::Delivered,
        (true, false) => Classified::Unknown("a delivery report naming no failed recipient"),
    }
}

/// RFC 5965: an abuse report is a complaint; other feedback types (an
/// authentication failure report, "not spam") are not.
fn complaint(
    groups: &[Vec<(String, String)>],
    message: &Message<'_>,
    context: &Context,
) -> Classified {
    let all: Vec<(String, String)> = groups.iter().flatten().cloned().collect();
    let kind = field(&all, "feedback-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    if !matches!(kind.as_str(), "abuse" | "fraud" | "other" | "virus") {
        return Classified::Unknown("a feedback report that is not a complaint");
    }
    let recipient = field(&all, "original-rcpt-to").and_then(address_of);
    let mut report = context.report(BounceKind::Complaint, recipient, "", &kind);
    if let Some(at) =
        field(&all, "arrival-date").and_then(|d| DateTime::parse_from_rfc2822(d.trim()).ok())
    {
        report.reported_at = Some(at);
    }
    // Some feedback loops cut the address out; the VERP token or the copy
    // of our message then names the reader.
    if report.verp_token.is_none() {
        report.verp_token = message
            .header_raw(HeaderName::ReturnPath)
            .and_then(find_verp);
    }
    Classified::Reports(vec![report])
}

/// Where the copy of the sent message begins in a bounce without MIME
/// structure: what comes after is our own text, not the server's.
const COPY_MARKERS: &[&str] = &[
    "------ this is a copy of the message",
    "--- below this line is a copy of the message",
    "----- original message -----",
    "------ original message ------",
    "--- original message follows",
    "original message follows",
    "\nreturn-path:",
    "\nreceived:",
];

/// A bounce from a mail system that wrote no delivery-status part
/// (Exim, qmail and Yahoo's, some Exchange): the recipient from
/// `X-Failed-Recipients` or the text, the code from the text before the
/// copy of our message.
fn non_standard(message: &Message<'_>, context: &Context) -> Classified {
    let mut text = String::new();
    for part in message.text_bodies() {
        if let Some(t) = part.text_contents() {
            text.push_str(t);
            text.push('\n');
        }
    }
    let lower = text.to_lowercase();
    let cut = COPY_MARKERS
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
        .unwrap_or(lower.len());
    let (text, lower) = (&text[..cut.min(text.len())], &lower[..cut]);
    let subject = message.subject().unwrap_or("").to_lowercase();
    let recipient = message
        .header_raw("X-Failed-Recipients")
        .and_then(|r| r.split(',').next())
        .map(|r| r.trim().to_owned())
        .filter(|r| r.contains('@'))
        .or_else(|| first_bracketed_address(text));
    let status = enhanced_code(text);
    let basic = basic_code(text);
    let soft_words = [
        "delayed",
        "not yet been delivered",
        "will keep trying",
        "will retry",
        "temporar",
    ];
    let hard_words = [
        "permanent",
        "could not be delivered",
        "unable to deliver",
        "undeliverable",
        "does not exist",
        "user unknown",
        "no such user",
        "address not found",
        "mailbox unavailable",
    ];
    let kind = match (status.as_deref().and_then(|s| s.chars().next()), &basic) {
        (Some('5'), _) => BounceKind::Hard,
        (Some('4'), _) => BounceKind::Soft,
        (_, Some(c)) if c.starts_with('5') => BounceKind::Hard,
        (_, Some(c)) if c.starts_with('4') => BounceKind::Soft,
        _ if soft_words
            .iter()
            .any(|w| lower.contains(w) || subject.contains(w)) =>
        {
            BounceKind::Soft
        }
        _ if hard_words
            .iter()
            .any(|w| lower.contains(w) || subject.contains(w)) =>
        {
            BounceKind::Hard
        }
        _ => return Classified::Unknown("a mail system's message that names no failure"),
    };
    let code = status.or(basic).unwrap_or_default();
    let diagnostic = diagnostic_line(text, &code);
    Classified::Reports(vec![context.report(kind, recipient, &code, &diagnostic)])
}

/// `<reader@example.com>` first in a text, as qmail writes it.
fn first_bracketed_address(text: &str) -> Option<String> {
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let close = after.find('>')?;
        let inside = &after[..close];
        if inside.contains('@') && !inside.contains(char::is_whitespace) {
            return Some(inside.to_owned());
        }
        rest = &after[close + 1..];
    }
    None
}

/// The line a code was found on, the server's words.
fn diagnostic_line(text: &str, code: &str) -> String {
    if code.is_empty() {
        return String::new();
    }
    text.lines()
        .find(|l| l.contains(code))
        .map(|l| l.trim().to_owned())
        .unwrap_or_default()
}

/// The first RFC 3463 enhanced status code (`5.1.1`) in `text`: class 2,
/// 4 or 5, a subject digit, one to three detail digits, not inside a
/// longer number (an IP address, a version).
fn enhanced_code(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let digits = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i - start, i)
    };
    for i in 0..b.len() {
        if !matches!(b[i], b'2' | b'4' | b'5')
            || (i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.'))
        {
            continue;
        }
        if b.get(i + 1) != Some(&b'.') {
            continue;
        }
        // The subject is one digit (RFC 3463 names 0 to 7), which keeps
        // a version such as 4.96.1 out.
        let (n1, j) = digits(i + 2);
        if n1 != 1 || b.get(j) != Some(&b'.') {
            continue;
        }
        let (n2, k) = digits(j + 1);
        if !(1..=3).contains(&n2) || (k < b.len() && (b[k] == b'.' || b[k].is_ascii_alphanumeric()))
        {
            continue;
        }
        return Some(text[i..k].to_owned());
    }
    None
}

/// The first SMTP reply code (`550`, `452`) in `text`: three digits, the
/// first 4 or 5, standing alone or before `-`, `:` or a space.
fn basic_code(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(2)).find_map(|i| {
        let alone_before = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.');
        let code = &b[i..i + 3];
        let after = b.get(i + 3).copied();
        let alone_after = after.is_none_or(|c| matches!(c, b' ' | b'-' | b':' | b'\n' | b'\r'));
        (alone_before
            && matches!(code[0], b'4' | b'5')
            && code[1..].iter().all(u8::is_ascii_digit)
            && (b'0'..=b'5').contains(&code[1])
            && alone_after)
            .then(|| text[i..i + 3].to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounces::DIAGNOSTIC_CHARS;

    /// A fixture with its placeholders filled in.
    fn fixture(name: &str, return_path: &str, recipient: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/bounces/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .replace("{{return_path}}", return_path)
            .replace("{{recipient}}", recipient)
            .replace(
                "{{message_id}}",
                "broadsheet.2025-W10.1741000000.0123456789abcdef01234567@news.example.com",
            )
            .into_bytes()
    }

    const RETURN_PATH: &str = "bounces+abcdefgh234567@bounces.news.example.com";
    const RECIPIENT: &str = "Reader.Gone@example.com";

    fn expect(name: &str) -> Classified {
        classify(&fixture(name, RETURN_PATH, RECIPIENT))
    }

    fn one(name: &str) -> Report {
        match expect(name) {
            Classified::Reports(r) => {
                assert_eq!(r.len(), 1, "{name}: {r:?}");
                r.into_iter().next().unwrap()
            }
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn every_fixture_is_what_its_readme_says() {
        use BounceKind::*;
        // file, kind, status, whether the recipient is found
        let bounces: &[(&str, BounceKind, &str, bool)] = &[
            ("rfc3464-hard.eml", Hard, "5.1.1", true),
            ("rfc3464-delayed.eml", Soft, "4.4.7", true),
            ("postfix-hard.eml", Hard, "5.1.1", true),
            ("postfix-soft-mailbox-full.eml", Soft, "4.2.2", true),
            ("exim-hard.eml", Hard, "5.1.1", true),
            ("exchange-hard.eml", Hard, "5.1.10", true),
            ("gmail-hard.eml", Hard, "5.1.1", true),
            ("yahoo-hard-nonstandard.eml", Hard, "554", true),
            ("dsn-multiple-recipients.eml", Hard, "5.1.1", true),
            ("malformed-mime.eml", Hard, "5.1.1", true),
            ("exim-soft-retry.eml", Soft, "", false),
            ("arf-abuse.eml", Complaint, "", true),
            ("arf-yahoo-style.eml", Complaint, "", false),
        ];
        for (name, kind, status, has_recipient) in bounces {
            let r = one(name);
            assert_eq!((r.kind, r.status_code.as_str()), (*kind, *status), "{name}");
            if *has_recipient {
                assert_eq!(
                    r.recipient.as_deref().map(str::to_lowercase),
                    Some(RECIPIENT.to_lowercase()),
                    "{name}"
                );
            }
            assert_eq!(r.verp_token.as_deref(), Some("abcdefgh234567"), "{name}");
            assert!(r.diagnostic.chars().count() <= DIAGNOSTIC_CHARS, "{name}");
            assert!(!r.diagnostic.contains('\n'), "{name}");
        }
        for name in [
            "vacation-rfc3834.eml",
            "out-of-office-exchange.eml",
            "vacation-disguised-as-failure.eml",
        ] {
            assert_eq!(expect(name), Classified::AutoReply, "{name}");
        }
        assert_eq!(expect("dsn-success.eml"), Classified::Delivered);
        assert!(matches!(expect("not-a-bounce.eml"), Classified::Unknown(_)));
    }

    #[test]
    fn the_failed_recipient_of_several_is_the_one_reported() {
        let r = one("dsn-multiple-recipients.eml");
        assert_eq!(r.recipient.as_deref(), Some(RECIPIENT));
        assert!(r.diagnostic.contains("5.1.1"), "{}", r.diagnostic);
    }

    #[test]
    fn a_diagnostic_keeps_the_servers_words_on_one_line() {
        let r = one("postfix-hard.eml");
        assert!(r.diagnostic.starts_with("550"), "{}", r.diagnostic);
        assert!(r.reported_at.is_some());
    }

    #[test]
    fn without_a_token_the_report_still_names_the_recipient() {
        let raw = fixture("rfc3464-hard.eml", "digest@news.example.com", RECIPIENT);
        let Classified::Reports(r) = classify(&raw) else {
            panic!()
        };
        assert_eq!(r[0].verp_token, None);
        assert_eq!(r[0].recipient.as_deref(), Some(RECIPIENT));
    }

    #[test]
    fn a_huge_attachment_and_garbage_are_read_without_failing() {
        let mut raw = fixture("rfc3464-hard.eml", RETURN_PATH, RECIPIENT);
        let text = String::from_utf8(raw.clone()).unwrap();
        // 30 MB of base64 in an extra part before the end.
        let boundary_line = text
            .lines()
            .rev()
            .find(|l| l.starts_with("--") && l.ends_with("--"))
            .unwrap()
            .to_owned();
        let open = boundary_line.trim_end_matches("--").to_owned();
        let big = "QUFB".repeat(30 << 20 >> 2);
        let extra = format!("{open}\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{big}\r\n{boundary_line}");
        raw = text.replacen(&boundary_line, &extra, 1).into_bytes();
        assert_eq!(one_of(&raw).kind, BounceKind::Hard);
        for junk in [&b""[..], b"\0\0\0", b"Subject: x", b"\xff\xfe\r\n\r\n\xff"] {
            assert!(matches!(classify(junk), Classified::Unknown(_)), "{junk:?}");
        }
    }

    fn one_of(raw: &[u8]) -> Report {
        match classify(raw) {
            Classified::Reports(r) => r.into_iter().next().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn codes_are_found_alone_not_inside_addresses_or_versions() {
        assert_eq!(enhanced_code("said: 550 5.1.1 <a@b>"), Some("5.1.1".into()));
        assert_eq!(
            enhanced_code("Status: 4.2.2 (mailbox full)"),
            Some("4.2.2".into())
        );
        assert_eq!(enhanced_code("host 192.5.1.1 and 10.5.1.1"), None);
        assert_eq!(enhanced_code("Exim 4.96.1"), None);
        assert_eq!(enhanced_code("5.1.10 RESOLVER"), Some("5.1.10".into()));
        assert_eq!(basic_code("<a@b>: 554: delivery error"), Some("554".into()));
        assert_eq!(basic_code("550-5.1.1 The email"), Some("550".into()));
        assert_eq!(basic_code("port 4567 and 192.0.2.55"), None);
        assert_eq!(basic_code("code 699 or 561"), None);
    }

    #[test]
    fn a_diagnostic_is_cut_on_a_character_boundary() {
        let long = "無法送達。".repeat(200);
        let cut = crate::bounces::diagnostic(&long);
        assert_eq!(cut.chars().count(), DIAGNOSTIC_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(crate::bounces::diagnostic("a\r\n  b\tc\u{7}"), "a b c");
    }
}
