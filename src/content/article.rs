//! The validated article: everything downstream needs, no raw strings.

use crate::names::ColumnSlug;
use chrono::{DateTime, FixedOffset};
use std::path::PathBuf;

/// Lines of front-matter keys that errors found later (duplicates across
/// files) point at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyLines {
    /// The `slug = …` line.
    pub slug: Option<usize>,
    /// The `id = …` line.
    pub id: Option<usize>,
}

/// A validated article. Its body stays on disk until an output needs it.
#[derive(Debug, Clone)]
pub struct Article {
    /// The file it came from, relative to the configuration's folder.
    pub source: String,
    /// The file on disk.
    pub path: PathBuf,
    /// Where the body starts in the file, in bytes.
    pub body_offset: u64,
    /// The 1-based line the body starts on.
    pub body_line: usize,
    /// The file's size and mtime when it was read.
    pub stat: super::FileStat,
    /// The column it belongs to.
    pub column: ColumnSlug,
    /// Its slug, unique in its column.
    pub slug: String,
    /// The lines of its `slug` and `id` keys, when the front matter has
    /// them: where a duplicate is named.
    pub key_lines: KeyLines,
    /// Its title, on one line.
    pub title: String,
    /// When it was (or will be) published, in the site's zone.
    pub published: DateTime<FixedOffset>,
    /// When it was last changed, if ever.
    pub updated: Option<DateTime<FixedOffset>>,
    /// Its authors with their titles of office.
    pub authors: Vec<Author>,
    /// A summary written by the editor, if any.
    pub summary: Option<String>,
    /// A correction, shown at the top of the article; `updated` says
    /// when it was made.
    pub correction: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// The feed id (Atom `id`, RSS `guid`, JSON Feed `id`): never changes.
    pub id: String,
    /// Its permalink.
    pub url: String,
    /// Drafts are never published.
    pub draft: bool,
    /// Hugo's `expiryDate`: from then on the article is no longer
    /// published (left out of every feed, as a draft is).
    pub expires: Option<DateTime<FixedOffset>>,
}

impl Article {
    /// The later of `published` and `updated`.
    pub fn last_changed(&self) -> DateTime<FixedOffset> {
        match self.updated {
            Some(u) if u > self.published => u,
            _ => self.published,
        }
    }
}

impl Article {
    /// The correction as a note for the top of the article, as HTML and as
    /// text, written the same way in every feed and page: `更正（2026年6月14日）：…`
    /// with full-width punctuation for a Chinese site (`language` `zh*`),
    /// `Correction (14 June 2026): …` otherwise. The date is `updated` in
    /// the site's zone `tz`.
    pub fn correction_note(&self, language: &str, tz: chrono_tz::Tz) -> Option<(String, String)> {
        let text = self.correction.as_deref()?;
        let date = self.updated.map(|u| u.with_timezone(&tz).date_naive());
        let (label, dated) = if language.starts_with("zh") {
            let when = date
                .map(|d| format!("（{}）", d.format("%Y年%-m月%-d日")))
                .unwrap_or_default();
            ("更正", format!("{when}："))
        } else {
            let when = date
                .map(|d| format!(" ({})", d.format("%-d %B %Y")))
                .unwrap_or_default();
            ("Correction", format!("{when}: "))
        };
        let html = format!(
            "<p class=\"correction\"><strong>{label}</strong>{dated}{}</p>\n",
            crate::text::escape_xml(text)
        );
        Some((html, format!("{label}{dated}{text}")))
    }
}

/// A byline: a name and, where the newspaper prints one, a title of office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The author's name.
    pub name: String,
    /// Their title of office, e.g. "投資推廣署署長".
    pub role: Option<String>,
    /// Their feeds' folder under `authors/`: from front matter, from
    /// `[authors]` in the config, or derived from the name.
    pub slug: String,
}

impl Author {
    /// The name with the role, as feeds show it: "陳大文（某大學副校長）"
    /// for a name in Chinese, "Jane Doe (Director)" otherwise.
    pub fn byline(&self) -> String {
        match &self.role {
            None => self.name.clone(),
            Some(role) if self.name.chars().any(crate::text::is_cjk) => {
                format!("{}（{}）", self.name, role)
            }
            Some(role) => format!("{} ({})", self.name, role),
        }
    }

    /// The byline as RSS `dc:creator` and JSON Feed `authors[].name` carry
    /// it, which some readers parse as an RFC 822 "address (Name)" pair:
    /// gofeed, the most used Go feed library, blanks any name with a
    /// half-width parenthesis or an `@` in it. So the role follows the name
    /// in full-width brackets (`陳大文（某大學副校長（研究））`) or after a
    /// comma (`Jane Doe, Director`), and any `(`, `)` or `@` of the
    /// author's own is written in its full-width form.
    pub fn feed_byline(&self) -> String {
        let joined = match &self.role {
            None => self.name.clone(),
            Some(role) if self.name.chars().any(crate::text::is_cjk) => {
                format!("{}（{}）", self.name, role)
            }
            Some(role) => format!("{}, {}", self.name, role),
        };
        joined
            .chars()
            .map(|c| match c {
                '(' => '（',
                ')' => '）',
                '@' => '＠',
                c => c,
            })
            .collect()
    }
}
