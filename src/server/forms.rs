//! Form bodies and query strings.
//!
//! Written here rather than with serde_urlencoded because that decoder
//! replaces bytes that are not UTF-8 with U+FFFD and keeps only the last of
//! repeated keys: the forms need every ticked `columns` box, and a body that
//! is not UTF-8 must be refused, not silently changed and stored.

use percent_encoding::percent_decode;

/// The fields of an `application/x-www-form-urlencoded` body, in order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Form(Vec<(String, String)>);

/// Why a form could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadForm;

impl Form {
    /// Decodes `bytes`; fails on anything that is not UTF-8 once decoded.
    pub(super) fn parse(bytes: &[u8]) -> Result<Form, BadForm> {
        let mut fields = Vec::new();
        for pair in bytes.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (key, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            fields.push((decode(key)?, decode(value)?));
        }
        Ok(Form(fields))
    }

    /// The first value of `key`.
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub(super) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn decode(bytes: &[u8]) -> Result<String, BadForm> {
    let plus_as_space: Vec<u8> = bytes
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let decoded: Vec<u8> = percent_decode(&plus_as_space).collect();
    String::from_utf8(decoded).map_err(|_| BadForm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_encodings_are_kept() {
        let f =
            Form::parse(b"email=a%40b.hk&name=%E9%99%B3+%E5%A4%A7%E6%96%87&columns=a&columns=b&x")
                .unwrap();
        assert_eq!(f.get("email"), Some("a@b.hk"));
        assert_eq!(f.get("name"), Some("陳 大文"));
        assert_eq!(f.all("columns").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(f.get("x"), Some(""));
        assert_eq!(f.get("missing"), None);
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused() {
        assert_eq!(Form::parse(b"name=%FF%FE"), Err(BadForm));
        assert_eq!(Form::parse(b"name=\xff"), Err(BadForm));
    }
}
