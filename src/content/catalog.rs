//! The catalog: every published article, whole, newest first, for the
//! commands that need them all (a digest, `check`, `status`, a preview);
//! the order and the checks that need every article at once are the
//! index's.

use super::index::{Index, Key, ReadOptions};
use super::source::{discover, SourceFile};
use super::{Article, ContentError, ContentErrors};
use crate::config::Config;
use crate::names::ColumnSlug;
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;

/// Counts a build reports, and what decides when the output next changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentStats {
    /// Markdown files read.
    pub files: usize,
    /// Articles published at `now`.
    pub published: usize,
    /// Drafts left out.
    pub drafts: usize,
    /// Articles dated after `now`, left out for now.
    pub scheduled: usize,
    /// Articles whose `expiryDate` has passed at `now`, left out.
    pub expired: usize,
    /// When the next scheduled article falls due (or a published one
    /// expires).
    pub next_release: Option<DateTime<FixedOffset>>,
    /// The newest publication time at or before `now`.
    pub last_release: Option<DateTime<FixedOffset>>,
}

/// Published articles in feed order: newest first, ties broken by id so the
/// order never depends on the file system.
#[derive(Debug, Default)]
pub struct Catalog {
    articles: Vec<Article>,
    unpublished: Vec<Article>,
    by_column: BTreeMap<ColumnSlug, Vec<usize>>,
    index: Index,
}

impl Catalog {
    /// Reads every content file; fails with every error found.
    pub fn load(config: &Config, now: DateTime<FixedOffset>) -> Result<Catalog, ContentErrors> {
        let (catalog, errors) = Catalog::load_lenient(config, now);
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(ContentErrors::sorted(errors))
        }
    }

    /// Reads every content file, keeping the valid articles and returning
    /// the errors beside them, so a caller can look for more errors (in
    /// bodies, say) before it fails.
    pub fn load_lenient(
        config: &Config,
        now: DateTime<FixedOffset>,
    ) -> (Catalog, Vec<ContentError>) {
        let (files, errors) = discover_content(config, false);
        Catalog::from_files(config, files, errors, now)
    }

    /// Reads the files found by [`discover_content`]; `errors` are those of
    /// the walk, returned with the rest. Each article takes over its file's
    /// entry rather than copying its path and names.
    pub fn from_files(
        config: &Config,
        files: Vec<SourceFile>,
        errors: Vec<ContentError>,
        now: DateTime<FixedOffset>,
    ) -> (Catalog, Vec<ContentError>) {
        Catalog::from_files_with(config, files, errors, now, false)
    }

    /// [`Catalog::from_files`], with drafts and articles scheduled after
    /// `now` among the published ones when `unpublished` is set: what
    /// `preview --drafts` shows a writer, and never a build.
    pub fn from_files_with(
        config: &Config,
        files: Vec<SourceFile>,
        errors: Vec<ContentError>,
        now: DateTime<FixedOffset>,
        unpublished: bool,
    ) -> (Catalog, Vec<ContentError>) {
        let options = ReadOptions {
            unpublished,
            ..ReadOptions::default()
        };
        let (index, kept, errors) = Index::read(config, files, errors, now, options, |a| a);
        // Every article was read (nothing is taken from an earlier build),
        // so the articles kept are those of the index's files, in order.
        let mut slots: Vec<Option<Article>> = kept.into_iter().map(Some).collect();
        let mut take = |k: &Key| {
            slots[k.file as usize]
                .take()
                .expect("an article for every indexed file")
        };
        let articles: Vec<Article> = index.published().iter().map(&mut take).collect();
        let unpublished: Vec<Article> = index.unpublished().iter().map(&mut take).collect();
        let by_column: BTreeMap<ColumnSlug, Vec<usize>> = config
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let positions = index.column_positions(i).iter().map(|&p| p as usize);
                (c.slug.clone(), positions.collect())
            })
            .collect();
        (
            Catalog {
                articles,
                unpublished,
                by_column,
                index,
            },
            errors,
        )
    }

    /// What was read and left out.
    pub fn stats(&self) -> &ContentStats {
        &self.index.stats
    }

    /// The index of the articles: what a feed's plan is made from.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Every published article, newest first.
    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    /// Drafts and articles scheduled after `now`: validated, not published.
    pub fn unpublished(&self) -> &[Article] {
        &self.unpublished
    }

    /// Positions (in [`Catalog::articles`]) of one column's articles.
    pub fn column_indices(&self, slug: &ColumnSlug) -> &[usize] {
        self.by_column.get(slug).map_or(&[], |v| v.as_slice())
    }
}

/// Finds the content files of `config`, with the errors of the walk;
/// with each file's size and mtime when `stat_files` is set.
pub fn discover_content(config: &Config, stat_files: bool) -> (Vec<SourceFile>, Vec<ContentError>) {
    let display = |p: &std::path::Path| config.display_path(p).into_owned();
    discover(
        &config.site.content_dir,
        &display,
        stat_files,
        config.site.follow_external_symlinks,
    )
}
