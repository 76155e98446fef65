//! Atom 1.0 (RFC 4287).

use super::FeedError;
use super::{Entry, FeedSpec};
use crate::config::Config;
use atom_syndication::{
    Category, Content, Entry as AtomEntry, Feed, Generator, Link, Person, Text, WriteConfig,
};
use chrono::{DateTime, FixedOffset};

/// A text construct: `type="text"`, or `type="html"` with the text escaped
/// when it holds `<` or `&`, which a validator (and some readers) would
/// otherwise take for markup left undeclared.
fn text(s: &str) -> Text {
    match super::html_of_text(s) {
        Some(html) => Text::html(html),
        None => Text::plain(s),
    }
}

pub(super) fn write(
    config: &Config,
    spec: &FeedSpec,
    entries: &[Entry<'_>],
    updated: DateTime<FixedOffset>,
) -> Result<Vec<u8>, FeedError> {
    let self_url = spec.file_url(config, "atom.xml");
    let feed = Feed {
        title: text(&spec.title),
        subtitle: Some(text(&spec.description)),
        // The feed's own address names it; entries keep ids of their own.
        id: self_url.clone(),
        updated,
        // RFC 4287 wants an author on the feed when an entry has none.
        authors: vec![Person {
            name: config.site.title.clone(),
            uri: Some(format!("{}/", config.site.base_url)),
            ..Person::default()
        }],
        links: [
            link("alternate", &spec.home_url, Some("text/html")),
            link("self", &self_url, Some("application/atom+xml")),
        ]
        .into_iter()
        .chain(
            config
                .feeds
                .websub_hub
                .iter()
                .map(|hub| link("hub", hub, None)),
        )
        .collect(),
        generator: Some(Generator {
            value: "broadsheet".into(),
            uri: None,
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
        lang: Some(config.site.language.clone()),
        entries: entries.iter().map(|e| entry(e, spec.full)).collect(),
        ..Feed::default()
    };
    let mut out = feed
        .write_with_config(
            Vec::new(),
            WriteConfig {
                write_document_declaration: true,
                indent_size: Some(2),
            },
        )
        .map_err(|e| FeedError::Serialize {
            format: "atom",
            feed: spec.dir.clone(),
            message: e.to_string(),
        })?;
    out.push(b'\n');
    Ok(out)
}

fn link(rel: &str, href: &str, mime: Option<&str>) -> Link {
    Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: mime.map(str::to_owned),
        ..Link::default()
    }
}

fn entry(e: &Entry<'_>, full: bool) -> AtomEntry {
    let a = e.article;
    AtomEntry {
        title: text(&a.title),
        id: a.id.clone(),
        updated: a.last_changed(),
        published: Some(a.published),
        authors: a
            .authors
            .iter()
            .map(|au| Person {
                name: au.byline(),
                ..Person::default()
            })
            .collect(),
        categories: a
            .tags
            .iter()
            .map(|t| Category {
                term: t.clone(),
                ..Category::default()
            })
            .collect(),
        links: vec![link("alternate", &a.url, Some("text/html"))],
        summary: Some(text(&e.summary())),
        content: full.then(|| Content {
            value: Some(e.body.html.clone()),
            content_type: Some("html".into()),
            ..Content::default()
        }),
        ..AtomEntry::default()
    }
}
