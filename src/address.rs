//! A subscriber's email address: checked once, compared the way mail
//! systems compare them.

use std::fmt;
use std::str::FromStr;

/// A syntactically valid email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email {
    text: String,
    key: String,
}

impl Email {
    /// Checks `s` is an address a mail server would take (RFC 5321/5322 as
    /// lettre reads them), at most 254 characters, without display name.
    pub fn parse(s: &str) -> Result<Email, String> {
        let s = s.trim();
        let expected =
            || format!("expected an email address such as reader@example.com, found {s:?}");
        if s.is_empty()
            || s.chars().count() > 254
            || s.contains(char::is_whitespace)
            || s.contains(['<', '>', ','])
        {
            return Err(expected());
        }
        let address = lettre::Address::from_str(s).map_err(|_| expected())?;
        // The local part may be case-sensitive (RFC 5321 §2.4); the domain
        // never is.
        let key = format!("{}@{}", address.user(), address.domain().to_lowercase());
        Ok(Email {
            text: s.to_owned(),
            key,
        })
    }

    /// The address as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The address as compared: the domain lower-cased.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The domain, lower-cased.
    pub fn domain(&self) -> &str {
        self.key.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
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
    fn nonsense_is_refused_with_the_value() {
        for bad in [
            "",
            "no-at-sign",
            "a@",
            "@b.com",
            "a b@c.com",
            "A <a@b.com>",
            "a@b.com\r\nBcc: x@y.z",
        ] {
            let e = Email::parse(bad).unwrap_err();
            assert!(e.starts_with("expected an email address"), "{bad}: {e}");
        }
    }
}
