//! `index.opml`: an OPML 2.0 subscription list of every column's feed, and
//! of every author's in a folder.
//! Written by hand: the format is a dozen lines, and the OPML crates
//! would add a second XML stack for them.

use super::{FeedSpec, ALL, AUTHORS};
use crate::config::Config;
use crate::text::escape_xml;
use std::fmt::Write;

pub(super) fn write(config: &Config, specs: &[FeedSpec]) -> Vec<u8> {
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<opml version=\"2.0\">\n  <head>\n");
    let _ = writeln!(out, "    <title>{}</title>", escape_xml(&config.site.title));
    out.push_str("    <docs>http://opml.org/spec2.opml</docs>\n  </head>\n  <body>\n");
    // Only the column feeds: a reader importing the whole list would get
    // every article twice if the feed over every column were listed too.
    let is_author = |s: &FeedSpec| s.dir.starts_with(&format!("{AUTHORS}/"));
    for spec in specs.iter().filter(|s| s.dir != ALL && !is_author(s)) {
        outline(&mut out, config, spec, "    ");
    }
    // Authors in a folder of their own: the same articles again, for
    // readers who follow a person rather than a column.
    if specs.iter().any(&is_author) {
        let label = if config.site.language.starts_with("zh") {
            "作者"
        } else {
            "Authors"
        };
        let _ = writeln!(out, "    <outline text=\"{label}\" title=\"{label}\">");
        for spec in specs.iter().filter(|s| is_author(s)) {
            outline(&mut out, config, spec, "      ");
        }
        out.push_str("    </outline>\n");
    }
    out.push_str("  </body>\n</opml>\n");
    out.into_bytes()
}

fn outline(out: &mut String, config: &Config, spec: &FeedSpec, indent: &str) {
    let _ = writeln!(
        out,
        "{indent}<outline type=\"rss\" version=\"RSS2\" text=\"{t}\" title=\"{t}\" description=\"{d}\" xmlUrl=\"{x}\" htmlUrl=\"{h}\" language=\"{l}\"/>",
        t = escape_xml(&spec.title),
        d = escape_xml(&spec.description),
        x = escape_xml(&spec.file_url(config, "rss.xml")),
        h = escape_xml(&spec.home_url),
        l = escape_xml(&config.site.language),
    );
}
