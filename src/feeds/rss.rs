//! RSS 2.0 with the Atom (self link), Dublin Core (authors) and content
//! (full HTML) namespaces.

use super::FeedError;
use super::{Entry, FeedSpec};
use crate::config::Config;
use ::rss::extension::atom::{AtomExtension, Link};
use ::rss::extension::dublincore::DublinCoreExtension;
use ::rss::{Category, Channel, Guid, Item};
use chrono::{DateTime, FixedOffset};

pub(super) fn write(
    config: &Config,
    spec: &FeedSpec,
    entries: &[Entry<'_>],
    updated: DateTime<FixedOffset>,
) -> Result<Vec<u8>, FeedError> {
    let items = entries.iter().map(|e| item(e, spec.full)).collect();
    let channel = Channel {
        title: spec.title.clone(),
        link: spec.home_url.clone(),
        description: spec.description.clone(),
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
    Ok(out)
}

fn item(e: &Entry<'_>, full: bool) -> Item {
    let a = e.article;
    Item {
        title: Some(a.title.clone()),
        link: Some(a.url.clone()),
        // Readers take <description> as HTML: the plain-text summary is
        // escaped so markup in it shows as text, never runs.
        description: Some(crate::text::escape_xml(&e.body.summary)),
        // RSS's own <author> must be an email address; names go in dc:creator.
        dublin_core_ext: (!a.authors.is_empty()).then(|| DublinCoreExtension {
            creators: a.authors.iter().map(|au| au.byline()).collect(),
            ..DublinCoreExtension::default()
        }),
        categories: a
            .tags
            .iter()
            .map(|t| Category {
                name: t.clone(),
                domain: None,
            })
            .collect(),
        guid: Some(Guid {
            value: a.id.clone(),
            permalink: false,
        }),
        pub_date: Some(a.published.to_rfc2822()),
        content: full.then(|| e.body.html.clone()),
        ..Item::default()
    }
}
