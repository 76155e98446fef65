//! `index.opml`: an OPML 2.0 subscription list of every column's feed.
//! Written by hand: the format is a dozen lines, and the OPML crates
//! would add a second XML stack for them.

use super::{FeedSpec, ALL};
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
    for spec in specs.iter().filter(|s| s.dir != ALL) {
        outline(&mut out, config, spec, "    ");
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
