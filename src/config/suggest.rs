//! "Did you mean `feeds.max_items`?" for a config key one or two edits
//! from a real one. The known keys come from the config's own serde
//! shapes, so a key added there is suggested without a list to keep.

use super::raw::{
    RawBounces, RawColumn, RawConfig, RawDigest, RawFeeds, RawServer, RawSite, RawSmtp, RawState,
    RawWebhooks,
};
use serde::de::{self, Deserialize, Visitor};
use std::fmt;

/// The known key closest to `unknown` (a dotted path as `serde_ignored`
/// gives it: `feeds.max_itmes`, `columns.0.titel`, `feed`), when it is at
/// most two edits away; written in the same dotted form.
pub fn closest_key(unknown: &str) -> Option<String> {
    let parts: Vec<&str> = unknown.split('.').collect();
    let (prefix, key, known) = match parts.as_slice() {
        [key] => (String::new(), *key, fields::<RawConfig>()),
        ["columns", n, key] => (format!("columns.{n}."), *key, fields::<RawColumn>()),
        [section, key] => {
            let known = match *section {
                "site" => fields::<RawSite>(),
                "feeds" => fields::<RawFeeds>(),
                "digest" => fields::<RawDigest>(),
                "smtp" => fields::<RawSmtp>(),
                "server" => fields::<RawServer>(),
                "state" => fields::<RawState>(),
                "bounces" => fields::<RawBounces>(),
                "webhooks" => fields::<RawWebhooks>(),
                _ => return None,
            };
            (format!("{section}."), *key, known)
        }
        _ => return None,
    };
    crate::text::closest(key, known.iter().copied()).map(|k| format!("{prefix}{k}"))
}

/// The field names serde's derive gives a struct (renamed as written,
/// without aliases): it hands them to `deserialize_struct`, which this
/// deserializer answers with them as its error, reading nothing. For the
/// config's sections here, and for the front matter's keys.
pub(crate) fn fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(FieldProbe) {
        Err(Probed::Fields(fields)) => fields,
        _ => &[],
    }
}

struct FieldProbe;

#[derive(Debug)]
enum Probed {
    Fields(&'static [&'static str]),
    NotAStruct,
}

impl fmt::Display for Probed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probed")
    }
}

impl std::error::Error for Probed {}

impl de::Error for Probed {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Probed::NotAStruct
    }
}

impl<'de> de::Deserializer<'de> for FieldProbe {
    type Error = Probed;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Probed> {
        Err(Probed::Fields(fields))
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Probed> {
        Err(Probed::NotAStruct)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::closest_key;

    #[test]
    fn a_key_two_edits_away_is_named_in_its_section() {
        assert_eq!(
            closest_key("feeds.max_itmes").as_deref(),
            Some("feeds.max_items")
        );
        assert_eq!(
            closest_key("columns.2.titel").as_deref(),
            Some("columns.2.title")
        );
        assert_eq!(closest_key("feed").as_deref(), Some("feeds"));
        assert_eq!(
            closest_key("site.timzone").as_deref(),
            Some("site.timezone")
        );
        assert_eq!(closest_key("feeds.nothing_like_it"), None);
        assert_eq!(closest_key("nowhere.key"), None);
    }
}
