//! Names: the slugs that become folder names and URL segments, and the
//! hexadecimal form of digests. A leaf module, so `config` and `content`
//! both use these rules without importing each other.

use std::fmt;

/// A column slug: lower-case ASCII letters, digits and hyphens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ColumnSlug(String);

impl ColumnSlug {
    /// Checks `s` has the shape of a slug.
    pub fn parse(s: &str) -> Result<ColumnSlug, String> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(ColumnSlug(s.to_owned()))
        } else {
            Err(format!(
                "expected a slug of lower-case letters, digits and hyphens such as \"ai-innovation\", found {s:?}"
            ))
        }
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ColumnSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The slug derived from an author's name: letters and digits of any
/// script kept (Latin ones lower-cased), every run of anything else made
/// one `-`. "陳大文" stays "陳大文" (percent-encoded in URLs, as browsers
/// show it unencoded); "Daniel Whitcombe" becomes "daniel-whitcombe". A name
/// with no letter or digit gets `author-` and a hash of it, so it is still
/// stable.
pub fn author_slug(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(name.as_bytes());
        out = format!("author-{}", hex(&digest[..4]));
    }
    out
}

/// Whether `s` may name an author's feeds folder.
pub fn is_author_slug(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= 100
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    // By table rather than `write!("{b:02x}")`: a build checks a digest
    // for each of tens of thousands of feeds, and the formatter took a
    // microsecond a digest.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_slug_is_lower_case_ascii_with_inner_hyphens() {
        assert!(ColumnSlug::parse("ai-innovation").is_ok());
        for bad in ["", "-a", "a-", "AI", "a b", "專欄"] {
            assert!(ColumnSlug::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_author_slug_keeps_letters_of_any_script() {
        assert_eq!(author_slug("陳大文"), "陳大文");
        assert_eq!(author_slug("Daniel  Whitcombe"), "daniel-whitcombe");
        assert!(author_slug("（）").starts_with("author-"));
        assert!(is_author_slug("陳大文") && !is_author_slug("a/b"));
    }

    #[test]
    fn hex_is_lower_case_and_two_digits_a_byte() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
