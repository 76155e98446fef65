//! The subscription lists, OPML 2.0: `index.opml` holds every column's
//! feed and the feed over every column; `authors.opml` every author's.
//! Two lists rather than one with folders: a reader who imports a list
//! subscribes to everything in it, and a list of the columns that also held
//! every author would give a 20-column paper hundreds of subscriptions, each
//! article arriving once per column and once per author.
//! Written by hand: the format is a dozen lines, and the OPML crates
//! would add a second XML stack for them. What the W3C validator accepts
//! decides the details: `<head>` holds only elements it knows (`<docs>` is
//! not one of them), and every outline is a feed (`type="rss"`), so none
//! needs the `type` a folder would lack.

use super::{html_of_text, FeedSpec, ALL, AUTHORS};
use crate::config::Config;
use crate::text::escape_xml;
use std::fmt::Write;

/// The file of the columns' feeds and the `all` feed.
pub(super) const COLUMNS: &str = "index.opml";
/// The file of the authors' feeds.
pub(super) const AUTHOR_LIST: &str = "authors.opml";

fn is_author(s: &FeedSpec) -> bool {
    s.dir
        .strip_prefix(AUTHORS)
        .is_some_and(|rest| rest.starts_with('/'))
}

/// `index.opml`: the feed over every column first, then each column's.
pub(super) fn columns(config: &Config, specs: &[FeedSpec]) -> Vec<u8> {
    let listed = specs
        .iter()
        .filter(|s| s.dir == ALL)
        .chain(specs.iter().filter(|s| s.dir != ALL && !is_author(s)));
    let mut out = Vec::new();
    // Writing into memory cannot fail.
    let _ = document(&config.site.title, config, listed, &mut out);
    out
}

/// Whether any author has a feed: an OPML body must hold an outline, so
/// with none there is no `authors.opml`.
pub(super) fn has_authors(specs: &[FeedSpec]) -> bool {
    specs.iter().any(is_author)
}

/// `authors.opml`, written into `out` an outline at a time: at a million
/// articles it lists 124,000 feeds. Only when [`has_authors`].
pub(super) fn authors(
    config: &Config,
    specs: &[FeedSpec],
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let title = if config.site.language.starts_with("zh") {
        format!("{}：作者", config.site.title)
    } else {
        format!("{}: authors", config.site.title)
    };
    document(&title, config, specs.iter().filter(|s| is_author(s)), out)
}

fn document<'a>(
    title: &str,
    config: &Config,
    specs: impl Iterator<Item = &'a FeedSpec>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut line = String::new();
    line.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\">\n  <head>\n");
    let _ = writeln!(line, "    <title>{}</title>", html_attr(title));
    line.push_str("  </head>\n  <body>\n");
    out.write_all(line.as_bytes())?;
    for spec in specs {
        line.clear();
        outline(&mut line, config, spec);
        out.write_all(line.as_bytes())?;
    }
    out.write_all(b"  </body>\n</opml>\n")
}

/// An attribute the validator reads as HTML (`text`, `title`,
/// `description`): markup in it is escaped as HTML first.
fn html_attr(s: &str) -> String {
    escape_xml(&html_of_text(s).unwrap_or_else(|| s.to_owned()))
}

fn outline(out: &mut String, config: &Config, spec: &FeedSpec) {
    // The feed over every column is titled the site's name, which is also
    // the list's own title; in a reader's sidebar it needs to say what it
    // holds.
    let title = if spec.dir == ALL {
        if config.site.language.starts_with("zh") {
            format!("{}・全部欄目", spec.title)
        } else {
            format!("{} — all columns", spec.title)
        }
    } else {
        spec.title.clone()
    };
    let _ = writeln!(
        out,
        "    <outline type=\"rss\" version=\"RSS2\" text=\"{t}\" title=\"{t}\" description=\"{d}\" xmlUrl=\"{x}\" htmlUrl=\"{h}\" language=\"{l}\"/>",
        t = html_attr(&title),
        d = html_attr(&spec.description),
        x = escape_xml(&spec.file_url(config, "rss.xml")),
        h = escape_xml(&spec.home_url),
        l = escape_xml(&config.site.language),
    );
}
