//! RSS 2.0 with the Atom (self link), Dublin Core (authors) and content
//! (full HTML) namespaces.

use super::FeedError;
use super::{Entry, FeedSpec};
use crate::config::Config;
use ::rss::extension::atom::{AtomExtension, Link};
use ::rss::extension::dublincore::DublinCoreExtension;
use ::rss::extension::{Extension, ExtensionMap};
use ::rss::{Category, Channel, Guid, Item};
use chrono::{DateTime, FixedOffset};

/// Plain text for an RSS element readers take as HTML (`title`,
/// `description`, `category`): escaped as HTML, so `<b>` shows as `<b>` and
/// a `<script>` never runs. With hexadecimal references, as the RSS
/// Advisory Board's profile asks and the W3C validator checks: a named
/// `&lt;` in a title is reported as HTML in it.
fn html_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&#x26;"),
            '<' => out.push_str("&#x3C;"),
            '>' => out.push_str("&#x3E;"),
            c => out.push(c),
        }
    }
    out
}

/// The serialiser escapes every `&` as `&amp;`, so a reference written by
/// [`html_text`] arrives as `&amp;#x…`; the same `&` as `&#x26;` is the same
/// document to every XML (and, in CDATA, HTML) reader, and it is the form
/// the validator looks for to know the escaping was meant.
fn hex_ampersands(xml: Vec<u8>) -> Vec<u8> {
    match String::from_utf8(xml) {
        Ok(s) if s.contains("&amp;#x") => s.replace("&amp;#x", "&#x26;#x").into_bytes(),
        Ok(s) => s.into_bytes(),
        Err(e) => e.into_bytes(),
    }
}

pub(super) fn write(
    config: &Config,
    spec: &FeedSpec,
    entries: &[Entry<'_>],
    updated: DateTime<FixedOffset>,
) -> Result<Vec<u8>, FeedError> {
    let items = entries.iter().map(|e| item(e, spec.full)).collect();
    let channel = Channel {
        title: html_text(&spec.title),
        link: spec.home_url.clone(),
        description: html_text(&spec.description),
        language: Some(config.site.language.clone()),
        last_build_date: Some(updated.to_rfc2822()),
        pub_date: entries.first().map(|e| e.article.published.to_rfc2822()),
        generator: Some(format!("broadsheet {}", env!("CARGO_PKG_VERSION"))),
        docs: Some("https://www.rssboard.org/rss-specification".into()),
        atom_ext: Some(AtomExtension {
            links: std::iter::once(Link {
                href: spec.file_url(config, "rss.xml"),
                rel: "self".into(),
                mime_type: Some("application/rss+xml".into()),
                ..Link::default()
            })
            .chain(config.feeds.websub_hub.iter().map(|hub| Link {
                href: hub.clone(),
                rel: "hub".into(),
                ..Link::default()
            }))
            .collect(),
        }),
        items,
        ..Channel::default()
    };
    let mut out =
        channel
            .pretty_write_to(Vec::new(), b' ', 2)
            .map_err(|e| FeedError::Serialize {
                format: "rss",
                feed: spec.dir.clone(),
                message: e.to_string(),
            })?;
    out.push(b'\n');
    Ok(hex_ampersands(out))
}

fn item(e: &Entry<'_>, full: bool) -> Item {
    let a = e.article;
    Item {
        title: Some(html_text(&a.title)),
        link: Some(a.url.clone()),
        description: Some(html_text(&e.summary())),
        // RSS's own <author> must be an email address; names go in
        // dc:creator, in the form every tested reader keeps.
        dublin_core_ext: (!a.authors.is_empty()).then(|| DublinCoreExtension {
            creators: a.authors.iter().map(|au| au.feed_byline()).collect(),
            ..DublinCoreExtension::default()
        }),
        categories: a
            .tags
            .iter()
            .map(|t| Category {
                name: html_text(t),
                domain: None,
            })
            .collect(),
        guid: Some(Guid {
            value: a.id.clone(),
            permalink: false,
        }),
        pub_date: Some(a.published.to_rfc2822()),
        content: full.then(|| e.body.html.clone()),
        extensions: updated(e),
        ..Item::default()
    }
}

/// `atom:updated` on an item that changed after it was published (a
/// correction): RSS has no element of its own for it, `dc:date` beside
/// `pubDate` is reported by the W3C validator as saying the same thing
/// twice, and `atom:updated` is what it accepts in an RSS 2.0 item (and
/// what feedparser reads as the item's update).
fn updated(e: &Entry<'_>) -> ExtensionMap {
    let a = e.article;
    let mut map = ExtensionMap::new();
    if a.last_changed() > a.published {
        let ext = Extension {
            name: "atom:updated".into(),
            value: Some(a.last_changed().to_rfc3339()),
            ..Extension::default()
        };
        map.entry("atom".into())
            .or_default()
            .insert("updated".into(), vec![ext]);
    }
    map
}
