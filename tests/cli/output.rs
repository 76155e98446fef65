//! Reading back what a run wrote and printed, for the test modules that
//! share it: trees of files, JSON, a feed's self link, HTML start tags,
//! and the counts on a build's summary line.

use crate::util::*;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Every file under a folder: its bytes and mtime, by relative path.
pub(crate) type Tree = BTreeMap<String, (Vec<u8>, SystemTime)>;

/// Panics naming the files that changed, appeared or went.
#[track_caller]
pub(crate) fn assert_same_tree(before: &Tree, after: &Tree) {
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(changed.is_empty(), "changed: {changed:?}");
}

/// A time as the feed parser gives it, in UTC.
pub(crate) fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// `text` parsed as JSON, or a panic showing it.
pub(crate) fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The self link a feed file carries (`rel="self"`, or JSON Feed's
/// `feed_url`).
pub(crate) fn self_link(p: &Publication, path: &str) -> String {
    let text = p.read(&format!("feeds/{path}"));
    if path.ends_with(".json") {
        return json_of(&text)["feed_url"].as_str().unwrap().to_owned();
    }
    let feed = parse_feed(text.as_bytes());
    let links: Vec<&feed_rs::model::Link> = feed
        .links
        .iter()
        .filter(|l| l.rel.as_deref() == Some("self"))
        .collect();
    assert_eq!(links.len(), 1, "{path}: {:?}", feed.links);
    links[0].href.clone()
}

/// The attributes of every `<name …>` start tag in `html`, entities
/// decoded.
pub(crate) fn start_tags(html: &str, name: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<{name}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        rest = after;
        if !after.starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/') {
            continue;
        }
        let end = after.find('>').expect("a closed tag");
        out.push(attributes(&after[..end]));
        rest = &after[end..];
    }
    out
}

fn attributes(mut s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    loop {
        s = s.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if s.is_empty() {
            return out;
        }
        let end = s
            .find(|c: char| c == '=' || c.is_ascii_whitespace())
            .unwrap_or(s.len());
        let name = s[..end].to_ascii_lowercase();
        s = &s[end..];
        match s.strip_prefix("=\"") {
            Some(v) => {
                let close = v.find('"').expect("a closed attribute value");
                out.insert(name, unescape_html(&v[..close]));
                s = &v[close + 1..];
            }
            None => {
                out.insert(name, String::new());
            }
        }
    }
}

fn unescape_html(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x3D;", "=")
        .replace("&#x60;", "`")
        .replace("&amp;", "&")
}

/// The summary line of a `build` run without the time it took (which
/// varies), so a test compares the rest whole: every count is read to its
/// first digit, and "10 files written" is never taken for "0 files written".
#[track_caller]
pub(crate) fn build_line(stdout: &str) -> &str {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("built "))
        .unwrap_or_else(|| panic!("no build summary in:\n{stdout}"));
    let (said, secs) = line
        .rsplit_once(" in ")
        .unwrap_or_else(|| panic!("no time in {line:?}"));
    assert!(
        secs.strip_suffix(" s")
            .is_some_and(|n| n.parse::<f64>().is_ok()),
        "not a time: {line:?}"
    );
    said
}

/// What a build's summary line says it did to the files.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Files {
    pub written: usize,
    pub unchanged: usize,
    pub removed: usize,
}

/// The counts on a build's summary line, each number read whole.
#[track_caller]
pub(crate) fn files_counted(stdout: &str) -> Files {
    let line = build_line(stdout);
    let counts = line
        .split_once("): ")
        .map(|(_, rest)| rest.split(';').next().unwrap_or(rest))
        .unwrap_or_else(|| panic!("no counts in {line:?}"));
    let mut n = counts
        .split(", ")
        .zip(["files written", "unchanged", "removed"])
        .map(|(part, word)| {
            match part.split_once(' ') {
                // "1 file written", "2 files written"
                Some((n, w)) if w == word || (n == "1" && w == "file written") => {
                    n.parse::<usize>().ok()
                }
                _ => None,
            }
            .unwrap_or_else(|| panic!("no count of {word:?} in {line:?}"))
        });
    let mut next = || {
        n.next()
            .unwrap_or_else(|| panic!("too few counts in {line:?}"))
    };
    Files {
        written: next(),
        unchanged: next(),
        removed: next(),
    }
}

#[test]
fn a_correction_note_meets_the_lead_with_no_space_after_chinese_and_one_after_latin() {
    let p = Publication::new();
    p.write(
        "content/ai/fund.md",
        article(
            "title = \"基金\"\npublished = 2026-11-20\nupdated = 2026-11-25\ncorrection = \"數字應為五千萬元。\"",
            "首段。",
        ),
    );
    p.write(
        "content/city/tram.md",
        article(
            "title = \"電車\"\npublished = 2026-11-19\nupdated = 2026-11-25\ncorrection = \"The fare is HK$3\"",
            "電車是城市的節奏。",
        ),
    );
    // A note that stops on a character with no mark keeps its space.
    p.write(
        "content/ai/older.md",
        article(
            "title = \"舊文\"\npublished = 2026-11-18\nupdated = 2026-11-25\ncorrection = \"單位應為億元\"",
            "次段。",
        ),
    );
    p.build();
    assert_eq!(
        json_of(&p.read("feeds/ai/feed.json"))["items"][1]["summary"],
        "更正（2026年11月25日）：單位應為億元 次段。"
    );
    let summary = |folder: &str| {
        json_of(&p.read(&format!("feeds/{folder}/feed.json")))["items"][0]["summary"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        summary("ai"),
        "更正（2026年11月25日）：數字應為五千萬元。首段。"
    );
    assert_eq!(
        summary("city"),
        "更正（2026年11月25日）：The fare is HK$3 電車是城市的節奏。"
    );
}
