//! `site.permalink`: a pattern of placeholders, parsed once at load into
//! pieces, so that making an article's URL is one pass with no lookups.

/// A permalink pattern with `{base_url}`, `{column}`, `{slug}`, `{year}`,
/// `{month}` and `{day}`.
#[derive(Debug, Clone)]
pub struct Permalink {
    segments: Vec<Segment>,
    text: String,
}

/// A piece of a permalink pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// Literal text: a range of the pattern.
    Text(usize, usize),
    BaseUrl,
    Column,
    Slug,
    Year,
    Month,
    Day,
}

/// Values filled into a [`Permalink`].
pub struct PermalinkParts<'a> {
    /// `site.base_url`.
    pub base_url: &'a str,
    /// The column slug.
    pub column: &'a str,
    /// The article slug.
    pub slug: &'a str,
    /// The publication date in the site's zone.
    pub date: chrono::NaiveDate,
}

const PERMALINK_PLACEHOLDERS: &[&str] = &["base_url", "column", "slug", "year", "month", "day"];

impl Permalink {
    pub(super) fn parse(pattern: &str) -> Result<Permalink, String> {
        let mut rest = pattern;
        let mut names = Vec::new();
        let mut segments = Vec::new();
        while let Some(open) = rest.find('{') {
            let at = pattern.len() - rest.len();
            if open > 0 {
                segments.push(Segment::Text(at, at + open));
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                return Err(format!("a {{ is never closed in {pattern:?}"));
            };
            let name = &after[..close];
            if !PERMALINK_PLACEHOLDERS.contains(&name) {
                return Err(format!(
                    "unknown placeholder {{{name}}} in {pattern:?}; expected {}",
                    PERMALINK_PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            names.push(name);
            segments.push(match name {
                "base_url" => Segment::BaseUrl,
                "column" => Segment::Column,
                "slug" => Segment::Slug,
                "year" => Segment::Year,
                "month" => Segment::Month,
                _ => Segment::Day,
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            let at = pattern.len() - rest.len();
            segments.push(Segment::Text(at, pattern.len()));
        }
        if !names.contains(&"slug") {
            return Err(format!(
                "{pattern:?} has no {{slug}}, so every article would get the same URL"
            ));
        }
        // Literal text is kept as ranges of this copy of the pattern.
        Ok(Permalink {
            segments,
            text: pattern.to_owned(),
        })
    }

    /// Fills the placeholders in (in one pass: it runs once per article).
    pub fn render(&self, parts: &PermalinkParts<'_>) -> String {
        use chrono::Datelike;
        use std::fmt::Write;
        let mut out =
            String::with_capacity(self.text.len() + parts.base_url.len() + parts.slug.len() + 16);
        for s in &self.segments {
            match *s {
                Segment::Text(a, b) => out.push_str(&self.text[a..b]),
                Segment::BaseUrl => out.push_str(parts.base_url),
                Segment::Column => out.push_str(parts.column),
                Segment::Slug => out.push_str(parts.slug),
                Segment::Year => {
                    let _ = write!(out, "{:04}", parts.date.year());
                }
                Segment::Month => {
                    let _ = write!(out, "{:02}", parts.date.month());
                }
                Segment::Day => {
                    let _ = write!(out, "{:02}", parts.date.day());
                }
            }
        }
        out
    }
}
