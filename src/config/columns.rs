//! `[[columns]]`: each column's slug (its folder under `content/` and
//! `feeds/`), title, editor's note and page.

use super::issues::Issues;
use super::raw::RawColumn;
use crate::names::ColumnSlug;
use std::collections::HashSet;
use url::Url;

/// Column slugs the output layout keeps for itself.
const RESERVED_SLUGS: &[&str] = &["all", "authors", "digests", "index"];

/// One `[[columns]]` entry.
#[derive(Debug, Clone)]
pub struct Column {
    /// The column's slug: its folder under `content/` and `feeds/`.
    pub slug: ColumnSlug,
    /// Its title.
    pub title: String,
    /// The editor's note.
    pub description: String,
    /// The column's page on the site.
    pub url: String,
}

/// The columns, in the order written; a column whose slug is unusable is
/// left out (and reported), the others are still checked.
pub(super) fn validate(
    raw: &[RawColumn],
    base_url: &str,
    content_dir: &std::path::Path,
    issues: &mut Issues,
) -> Vec<Column> {
    let mut seen = HashSet::new();
    let mut columns = Vec::new();
    if raw.is_empty() {
        issues.add(
            "columns",
            "expected at least one [[columns]] entry, found none",
        );
    }
    for (i, c) in raw.iter().enumerate() {
        let key = format!("columns[{i}]");
        match ColumnSlug::parse(&c.slug) {
            Ok(slug) if RESERVED_SLUGS.contains(&slug.as_str()) => issues.add(
                format!("{key}.slug"),
                format!(
                    "{:?} is reserved for broadsheet's own output; choose another slug",
                    c.slug
                ),
            ),
            Ok(slug) => {
                if !seen.insert(slug.clone()) {
                    issues.add(
                        format!("{key}.slug"),
                        format!(
                            "{:?} is used by an earlier column; slugs must be unique",
                            c.slug
                        ),
                    );
                }
                // A Hugo or Zola section file may name the column instead.
                let (mut title, mut description) = (c.title.clone(), c.description.clone());
                if title.trim().is_empty() || description.trim().is_empty() {
                    let section = content_dir.join(slug.as_str()).join("_index.md");
                    if let Some((t, d)) = crate::content::section_text(&section) {
                        if title.trim().is_empty() {
                            title = t.unwrap_or_default();
                        }
                        if description.trim().is_empty() {
                            description = d.unwrap_or_default();
                        }
                    }
                }
                if title.trim().is_empty() {
                    issues.add(
                        format!("{key}.title"),
                        "expected the column's title, found nothing (here, or as the `title` of the column's _index.md)",
                    );
                }
                let url = match &c.url {
                    Some(u) => {
                        if Url::parse(u).is_err() {
                            issues.add(
                                format!("{key}.url"),
                                format!("expected an absolute URL, found {u:?}"),
                            );
                        }
                        u.clone()
                    }
                    None => format!("{base_url}/{slug}/"),
                };
                columns.push(Column {
                    slug,
                    title: crate::text::one_line(&title),
                    description: crate::text::strip_control_chars(description.trim()),
                    url,
                });
            }
            Err(m) => issues.add(format!("{key}.slug"), m),
        }
    }
    columns
}
