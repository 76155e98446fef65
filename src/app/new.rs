//! `broadsheet new COLUMN TITLE`: a new article file with its front matter
//! filled in (the title, the column, `published` = now in the site's zone,
//! `draft = true`), at `content/<column>/<slug>.md`, never over a file
//! that is already there.
//!
//! The slug comes from the title when the title is written in Latin
//! letters (`Why the tram matters` → `why-the-tram-matters`); a title with
//! Chinese (or any letter outside ASCII) has no spelling a URL can carry
//! that a reader would recognise, so the slug is the date and a counter
//! (`2026-06-15-1`), the form a newsroom's own file names take.

use crate::config::Config;
use crate::content::index::ReadOptions;
use crate::content::{discover_content, Article, Index};
use crate::fsio::{FsAction, FsError};
use crate::Error;
use chrono::{DateTime, FixedOffset};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The longest slug made from a title, in characters: a URL path segment
/// people can still read and type.
const MAX_SLUG_CHARS: usize = 60;

/// Date slugs on one day a column may have: far more than any desk
/// writes, and a bound on the search for a free one.
const MAX_PER_DAY: u32 = 999;

/// What `new` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewArticle {
    /// The file, as the user knows it (relative to the config's folder).
    pub display: String,
    /// The file on disk.
    pub path: PathBuf,
    /// Its slug.
    pub slug: String,
}

/// Why `new` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    /// COLUMN is not one of config.toml's columns.
    #[error("COLUMN: no column {column:?} in {config}{}; the columns are: {}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(), known.join(", "))]
    UnknownColumn {
        /// What was given.
        column: String,
        /// The config file.
        config: String,
        /// The slug one or two edits away, if there is one.
        suggestion: Option<String>,
        /// Every column's slug.
        known: Vec<String>,
    },
    /// TITLE is empty or blank.
    #[error("TITLE: expected the article's title, found nothing")]
    EmptyTitle,
    /// `--slug` is not usable as a slug.
    #[error("--slug: expected lowercase letters, digits and hyphens such as \"tram-slow-city\", found {0:?}")]
    BadSlug(String),
    /// The file is there already, or its slug is another article's.
    #[error("{file}: {why}; nothing was written (give another title, or --slug)")]
    Taken {
        /// The file that would have been written.
        file: String,
        /// What holds it.
        why: String,
    },
    /// Every date slug of the day is taken.
    #[error(
        "{dir}: every slug from {date}-1 to {date}-{MAX_PER_DAY} is taken; give one with --slug"
    )]
    DayFull {
        /// The column's folder.
        dir: String,
        /// The day.
        date: String,
    },
}

/// Writes a new draft article in `column` titled `title`, dated `now` in
/// `site.timezone`; `slug` replaces the one made from the title.
pub fn new_article(
    config: &Config,
    now: DateTime<FixedOffset>,
    column: &str,
    title: &str,
    slug: Option<&str>,
) -> Result<NewArticle, Error> {
    let Some(column) = config.column(column) else {
        let known: Vec<String> = config
            .columns
            .iter()
            .map(|c| c.slug.as_str().to_owned())
            .collect();
        let suggestion =
            crate::text::closest(column, known.iter().map(String::as_str)).map(str::to_owned);
        return Err(NewError::UnknownColumn {
            column: column.to_owned(),
            config: config.display_path(&config.path).into_owned(),
            suggestion,
            known,
        }
        .into());
    };
    let title = crate::text::one_line(title.trim());
    if title.is_empty() {
        return Err(NewError::EmptyTitle.into());
    }
    if let Some(s) = slug {
        if !is_slug(s) {
            return Err(NewError::BadSlug(s.to_owned()).into());
        }
    }
    let local = now.with_timezone(&config.site.timezone);
    let dir = config.site.content_dir.join(column.slug.as_str());
    // Slugs the column's articles already use, wherever their files sit
    // (a nested folder, a `slug` key): a second one would fail the build.
    // Only the column's slugs are kept, each with its file: at a million
    // articles, the articles whole would take gigabytes.
    let (files, walk_errors) = discover_content(config, false);
    let options = ReadOptions::default();
    let of_column = |a: Article| (a.column == column.slug).then_some((a.slug, a.source));
    let (_, taken, _) = Index::read(config, files, walk_errors, now, options, of_column);
    let taken: BTreeMap<String, String> = taken.into_iter().flatten().collect();
    let used: BTreeSet<&str> = taken.keys().map(String::as_str).collect();
    let free = |slug: &str| -> Result<PathBuf, NewError> {
        let path = dir.join(format!("{slug}.md"));
        let file = config.display_path(&path).into_owned();
        if path.symlink_metadata().is_ok() {
            return Err(NewError::Taken {
                file,
                why: "already exists".into(),
            });
        }
        if let Some(source) = taken.get(slug) {
            return Err(NewError::Taken {
                file,
                why: format!("the slug {slug:?} is already {source}'s"),
            });
        }
        Ok(path)
    };
    let (slug, path) = match slug.map(str::to_owned).or_else(|| ascii_slug(&title)) {
        Some(slug) => {
            let path = free(&slug)?;
            (slug, path)
        }
        None => {
            let date = local.format("%Y-%m-%d").to_string();
            (1..=MAX_PER_DAY)
                .map(|n| format!("{date}-{n}"))
                .filter(|s| !used.contains(s.as_str()))
                .find_map(|s| free(&s).ok().map(|p| (s, p)))
                .ok_or_else(|| NewError::DayFull {
                    dir: config.display_path(&dir).into_owned(),
                    date,
                })?
        }
    };
    let text = front_matter(&title, column.slug.as_str(), local.fixed_offset());
    std::fs::create_dir_all(&dir).map_err(|e| FsError::new(&dir, FsAction::Create, e))?;
    // `create_new`: a file that appeared since the check above is kept.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(NewError::Taken {
                file: config.display_path(&path).into_owned(),
                why: "already exists".into(),
            }
            .into())
        }
        Err(e) => return Err(FsError::new(&path, FsAction::Write, e).into()),
    }
    Ok(NewArticle {
        display: config.display_path(&path).into_owned(),
        path,
        slug,
    })
}

/// The article file: front matter with every field a writer fills in,
/// the optional ones commented, and an empty body.
fn front_matter(title: &str, column: &str, published: DateTime<FixedOffset>) -> String {
    // TOML's own quoting, so a title with `"` or `\` stays the title.
    let quote = |s: &str| toml::Value::String(s.to_owned()).to_string();
    format!(
        "+++\n\
         title = {}\n\
         column = {}\n\
         published = {}\n\
         # updated = {}\n\
         authors = []  # [{{ name = \"陳大文\", role = \"某大學副校長\" }}] or [\"陳大文\"]\n\
         # summary = \"\"\n\
         tags = []\n\
         draft = true  # false (or delete this line) to publish\n\
         +++\n\n",
        quote(title),
        quote(column),
        published.format("%Y-%m-%dT%H:%M:%S%:z"),
        published.format("%Y-%m-%dT%H:%M:%S%:z"),
    )
}

/// The slug of a title written in ASCII letters: lowercase words joined
/// by hyphens, at most [`MAX_SLUG_CHARS`] long, cut between words. None
/// when the title has a letter outside ASCII (Chinese, say) or no letter
/// or digit at all.
fn ascii_slug(title: &str) -> Option<String> {
    if title.chars().any(|c| c.is_alphabetic() && !c.is_ascii()) {
        return None;
    }
    let words: Vec<String> = title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut slug = String::new();
    for w in words {
        if !slug.is_empty() && slug.len() + 1 + w.len() > MAX_SLUG_CHARS {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&w);
    }
    // One word longer than the bound: cut it (ASCII, so bytes are chars).
    slug.truncate(MAX_SLUG_CHARS);
    (!slug.is_empty()).then_some(slug)
}

/// Whether `s` is a slug `new` may write a file for: lowercase ASCII
/// letters, digits and inner hyphens.
fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latin_title_becomes_lowercase_words_joined_by_hyphens() {
        assert_eq!(
            ascii_slug("Why the Tram Matters: A 2026 View!").as_deref(),
            Some("why-the-tram-matters-a-2026-view")
        );
        assert_eq!(ascii_slug("  --  ").as_deref(), None);
    }

    #[test]
    fn a_title_with_chinese_has_no_title_slug() {
        assert_eq!(ascii_slug("電車叮叮聲中的慢活提案"), None);
        assert_eq!(ascii_slug("AI時代的教育"), None);
        // Full-width punctuation alone does not make a title Chinese.
        assert_eq!(ascii_slug("AI「and」you").as_deref(), Some("ai-and-you"));
    }

    #[test]
    fn a_long_title_is_cut_between_words() {
        let slug = ascii_slug(&"word ".repeat(40)).unwrap();
        assert!(slug.len() <= MAX_SLUG_CHARS, "{slug}");
        assert!(slug.ends_with("word"), "{slug}");
        assert_eq!(ascii_slug(&"x".repeat(100)).unwrap().len(), MAX_SLUG_CHARS);
    }

    #[test]
    fn the_front_matter_quotes_a_title_as_toml_does() {
        let published = DateTime::parse_from_rfc3339("2026-06-15T09:30:00+08:00").unwrap();
        let text = front_matter("他說 \"慢\" \\ 好", "city", published);
        let toml_text = text
            .trim()
            .trim_start_matches("+++")
            .trim_end_matches("+++");
        let table: toml::Table = toml_text.parse().unwrap();
        assert_eq!(table["title"].as_str(), Some("他說 \"慢\" \\ 好"));
        assert_eq!(table["column"].as_str(), Some("city"));
        assert_eq!(table["draft"].as_bool(), Some(true));
        assert_eq!(table["published"].to_string(), "2026-06-15T09:30:00+08:00");
    }

    #[test]
    fn only_lowercase_words_and_hyphens_make_a_slug() {
        assert!(is_slug("tram-2026"));
        for bad in ["", "-a", "a-", "Tram", "a b", "a/b", "電車"] {
            assert!(!is_slug(bad), "{bad:?}");
        }
    }
}
