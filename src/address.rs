//! A subscriber's email address: checked once, compared the way mail
//! systems compare them; and the display names greeted in a `To` header.
//!
//! Domains are stored and compared in their ASCII (IDNA) form, so
//! `reader@bücher.example` and `reader@xn--bcher-kva.example` are one
//! mailbox, and a `To` header never carries raw UTF-8 in a domain.

use std::fmt;
use std::str::FromStr;

/// A syntactically valid email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email {
    text: String,
    key: String,
}

/// Why the web form refuses an address that [`Email::parse`] takes: forms
/// of address a mail system routes somewhere other than where they seem to
/// point, or that a relay cannot carry without SMTPUTF8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebRefusal {
    /// `%` or `!` in the local part: an old source route
    /// (`victim%example.org@relay`) some relays still follow.
    SourceRoute,
    /// Letters outside ASCII before the `@`: most relays refuse them, and
    /// a header would have to carry them raw.
    InternationalLocalPart,
    /// An IP address as domain without brackets (`127.0.0.1`, or `127.1`
    /// and the like, which resolvers read as one): as good as a literal.
    IpAddress,
    /// A domain that is not a host name: in its ASCII form, characters
    /// other than letters, digits, hyphens and dots (`ex%61mple.com`,
    /// which some relays decode), or no dot at all (a local host's name).
    NotAHostName,
}

/// Whether `c` is a bidirectional control or another invisible format
/// character (Unicode category Cf) that can make text read differently
/// from what it holds. The joiners U+200C and U+200D are kept: scripts and
/// emoji sequences need them, and they move nothing. So are the tag
/// characters of subdivision flag emoji (U+E0020..U+E007F).
pub fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{ad}'
        | '\u{600}'..='\u{605}'
        | '\u{61c}'
        | '\u{6dd}'
        | '\u{70f}'
        | '\u{890}'..='\u{891}'
        | '\u{8e2}'
        | '\u{180e}'
        | '\u{200b}'
        | '\u{200e}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{110bd}'
        | '\u{110cd}'
        | '\u{13430}'..='\u{1343f}'
        | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0001}')
}

/// A name fit to greet a reader by in a `To` header or a digest: on one
/// line, without bidirectional controls or other invisible format
/// characters (which could make `evil.example` read as something else).
pub fn display_name(s: &str) -> String {
    if !s.contains(is_format_char) {
        return crate::text::one_line(s);
    }
    let kept: String = s.chars().filter(|c| !is_format_char(*c)).collect();
    crate::text::one_line(&kept)
}

/// Whether `s` ends in a domain literal such as `[127.0.0.1]`, which
/// [`Email::parse`] refuses: for the form to say why.
pub fn is_address_literal(s: &str) -> bool {
    s.trim()
        .rsplit_once('@')
        .is_some_and(|(_, domain)| domain.starts_with('['))
}

impl Email {
    /// Checks `s` is an address a mail server would take (RFC 5321/5322 as
    /// lettre reads them, in an address and in a message's `To`), at most
    /// 254 characters, without display name, invisible format characters
    /// or a domain literal (`[127.0.0.1]`). A domain outside ASCII is kept
    /// in its ASCII (IDNA) form.
    pub fn parse(s: &str) -> Result<Email, String> {
        let s = s.trim();
        let expected =
            || format!("expected an email address such as reader@example.com, found {s:?}");
        if s.is_empty()
            || s.chars().count() > 254
            || s.contains(char::is_whitespace)
            || s.contains(['<', '>', ','])
            || s.contains(is_format_char)
        {
            return Err(expected());
        }
        let address = lettre::Address::from_str(s).map_err(|_| expected())?;
        // lettre reads `To` back with a stricter parser when it builds a
        // message: an address it takes here but not there (a quoted local
        // part holding `@` or a space, a domain literal) would fail every
        // email to it.
        if lettre::message::Mailbox::from_str(s).is_err() {
            return Err(expected());
        }
        let domain = address.domain();
        // The local part may be case-sensitive (RFC 5321 §2.4); the domain
        // never is, and its Unicode and ASCII forms are one name.
        let ascii = idna::domain_to_ascii(domain).map_err(|_| expected())?;
        let key = format!("{}@{ascii}", address.user());
        let text = if domain.is_ascii() {
            s.to_owned()
        } else {
            key.clone()
        };
        Ok(Email { text, key })
    }

    /// What the sign-up and manage forms refuse besides what
    /// [`Email::parse`] does: the operator may import such an address, a
    /// visitor may not make the service mail one.
    pub fn web_refusal(&self) -> Option<WebRefusal> {
        let (local, domain) = self.key.rsplit_once('@').unwrap_or(("", ""));
        // No top-level domain begins with a digit; a last label that does
        // is part of an IP address in some resolver's reading (`127.1`,
        // `0x7f.1`), or nothing mail can reach.
        let numeric_end = domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_digit()));
        if domain.parse::<std::net::IpAddr>().is_ok() || numeric_end {
            Some(WebRefusal::IpAddress)
        } else if !domain.contains('.')
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            Some(WebRefusal::NotAHostName)
        } else if local.contains(['%', '!']) {
            Some(WebRefusal::SourceRoute)
        } else if !local.is_ascii() {
            Some(WebRefusal::InternationalLocalPart)
        } else {
            None
        }
    }

    /// The address as given, with its domain in ASCII.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The address as compared: the domain in lower-case ASCII.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The domain, lower-cased.
    pub fn domain(&self) -> &str {
        self.key.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// The mailbox mail to this address most likely lands in, for counting
    /// what is sent there: lower-cased, without a `+tag` (most providers
    /// deliver `reader+1@` and `Reader@` to `reader@`).
    pub fn mailbox(&self) -> String {
        let (local, domain) = self.key.rsplit_once('@').unwrap_or((&self.key, ""));
        let local = local.split_once('+').map_or(local, |(l, _)| l);
        format!("{}@{domain}", local.to_lowercase())
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `domain` as the DNS names it: ASCII (IDNA), lower-case, without a
/// final dot; `None` for what is not a host name (a domain literal such as
/// `[192.0.2.1]`, an empty or overlong label, a stray character).
pub(crate) fn dns_name(domain: &str) -> Option<String> {
    let domain = domain.trim();
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() || domain.starts_with('[') {
        return None;
    }
    let ascii = idna::domain_to_ascii(domain).ok()?;
    let labels_ok = ascii.len() <= 253 && ascii.split('.').all(is_dns_label);
    labels_ok.then_some(ascii)
}

/// Whether `label` is one label of a DNS name: letters, digits, hyphens
/// (not at either end), and the underscores of `_domainkey` and `_dmarc`,
/// at most 63 bytes.
pub(crate) fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_compare_without_case_local_parts_with_it() {
        let a = Email::parse("Reader@Example.COM").unwrap();
        assert_eq!(a.key(), "Reader@example.com");
        assert_eq!(a.as_str(), "Reader@Example.COM");
        assert_ne!(a.key(), Email::parse("reader@example.com").unwrap().key());
    }

    #[test]
    fn a_unicode_domain_and_its_ascii_form_are_one_address() {
        let unicode = Email::parse("reader@Bücher.example").unwrap();
        let ascii = Email::parse("reader@xn--bcher-kva.example").unwrap();
        assert_eq!(unicode.key(), "reader@xn--bcher-kva.example");
        assert_eq!(unicode.key(), ascii.key());
        assert_eq!(unicode.as_str(), "reader@xn--bcher-kva.example");
    }

    #[test]
    fn sub_addresses_and_case_count_as_one_mailbox() {
        for spelling in [
            "victim@example.com",
            "Victim+1@Example.com",
            "victim+news+2@EXAMPLE.COM",
        ] {
            assert_eq!(
                Email::parse(spelling).unwrap().mailbox(),
                "victim@example.com",
                "{spelling}"
            );
        }
    }

    #[test]
    fn the_web_refuses_source_routes_and_unicode_local_parts() {
        let refusal = |s: &str| Email::parse(s).unwrap().web_refusal();
        assert_eq!(
            refusal("victim%example.org@example.com"),
            Some(WebRefusal::SourceRoute)
        );
        assert_eq!(
            refusal("example.org!victim@example.com"),
            Some(WebRefusal::SourceRoute)
        );
        assert_eq!(
            refusal("讀者@example.com"),
            Some(WebRefusal::InternationalLocalPart)
        );
        assert_eq!(refusal("reader+news@bücher.example"), None);
        assert_eq!(refusal("reader@mail-1.example.com"), None);
    }

    #[test]
    fn the_web_refuses_domains_that_are_ip_addresses_or_not_host_names() {
        let refusal = |s: &str| Email::parse(s).unwrap().web_refusal();
        for ip in ["a@127.0.0.1", "a@127.1", "a@0x7f.1", "a@example.123"] {
            assert_eq!(refusal(ip), Some(WebRefusal::IpAddress), "{ip}");
        }
        for name in [
            "a@ex%61mple.com",
            "a@mail_1.example.com",
            "a@localhost",
            "a@xn--bcher-kva",
            "a@例子",
        ] {
            assert_eq!(refusal(name), Some(WebRefusal::NotAHostName), "{name}");
        }
    }

    #[test]
    fn an_address_a_message_header_cannot_carry_is_refused() {
        for bad in ["\"a@b\"@example.com", "\"a b\"@example.com"] {
            let e = Email::parse(bad).unwrap_err();
            assert_eq!(
                e,
                format!("expected an email address such as reader@example.com, found {bad:?}")
            );
        }
        // Nor can one carry a domain literal, which would make the relay
        // connect wherever the address says.
        for literal in ["a@[127.0.0.1]", "a@[IPv6:::1]"] {
            assert!(Email::parse(literal).is_err(), "{literal}");
            assert!(is_address_literal(literal), "{literal}");
        }
        assert!(!is_address_literal("a[1]@example.com"));
        // Quoting that a header keeps is fine.
        assert!(Email::parse("\"a.b\"@example.com").is_ok());
    }

    #[test]
    fn display_names_lose_bidi_and_format_characters_only() {
        assert_eq!(
            display_name("Send your password to \u{202e}elpmaxe.live\u{202c}"),
            "Send your password to elpmaxe.live"
        );
        assert_eq!(display_name("陳\u{200b}大文\u{2066}"), "陳大文");
        // Joiners hold emoji sequences and scripts together.
        assert_eq!(display_name("👩\u{200d}💻 Jo"), "👩\u{200d}💻 Jo");
        assert_eq!(display_name("a\r\nBcc: x"), "a Bcc: x");
    }

    #[test]
    fn nonsense_is_refused_with_the_value() {
        for bad in [
            "",
            "no-at-sign",
            "a@",
            "@b.com",
            "a b@c.com",
            "A <a@b.com>",
            "a@b.com\r\nBcc: x@y.z",
            "moc.elpmaxe\u{202e}@example.com",
            "a\u{200b}b@example.com",
        ] {
            let e = Email::parse(bad).unwrap_err();
            assert!(e.starts_with("expected an email address"), "{bad}: {e}");
        }
    }
}
