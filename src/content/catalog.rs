//! The catalog: every published article, whole, newest first, for the
//! commands that need them all (a digest, `check`, `status`, a preview);
//! the order and the checks that need every article at once are the
//! index's.

use super::index::{instant, Index, Key, ReadOptions};
use super::source::{discover, SourceFile};
use super::{Article, ContentError, ContentErrors};
use crate::config::Config;
use crate::names::ColumnSlug;
use chrono::{DateTime, FixedOffset};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};

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
/// order never depends on the file system. A whole catalog holds every
/// article; a selected one (see [`Selection`]) only those a digest or
/// `status` looks at, with every article still in its index.
#[derive(Debug, Default)]
pub struct Catalog {
    articles: Vec<Article>,
    unpublished: Vec<Article>,
    by_column: BTreeMap<ColumnSlug, Vec<usize>>,
    column_counts: BTreeMap<ColumnSlug, usize>,
    index: Index,
}

/// Which published articles a selected catalog reads whole. A digest needs
/// the articles of the weeks it covers, the corrected ones (a correction
/// to an article of any age is listed) and those of the issues still
/// being sent; at a million articles, reading every one whole to find them
/// would take gigabytes. Each column's newest article is always read: it
/// is what `status` shows of the column.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Every article published at or after this time.
    pub since: Option<DateTime<FixedOffset>>,
    /// Every article that carries a correction.
    pub corrected: bool,
    /// The articles of these feed ids, whatever their age.
    pub ids: HashSet<String>,
    /// The newest articles of all, this many.
    pub newest: usize,
}

impl Selection {
    fn wants(&self, index: &Index, key: &Key) -> bool {
        self.since.is_some_and(|t| key.published() >= instant(t))
            || (self.corrected && index.corrected(key).is_some())
            || self.ids.contains(index.id(key))
    }
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
        (Catalog::of(config, index, articles, unpublished), errors)
    }

    /// Indexes every file (a file whose size and times match what an
    /// earlier build read of it, in `read.earlier`, is not read again) and
    /// reads whole only the published articles `selection` wants, and each
    /// column's newest. Drafts and scheduled articles are counted, not
    /// kept.
    pub fn select(
        config: &Config,
        files: Vec<SourceFile>,
        errors: Vec<ContentError>,
        now: DateTime<FixedOffset>,
        read: ReadOptions<'_>,
        selection: &Selection,
    ) -> (Catalog, Vec<ContentError>) {
        let (index, _, errors) = Index::read(config, files, errors, now, read, |_| ());
        Catalog::from_index(config, index, errors, selection)
    }

    /// The catalog of `index` holding the articles `selection` wants, read
    /// again whole; `errors` are those found making the index, returned
    /// with those of reading again.
    pub fn from_index(
        config: &Config,
        index: Index,
        mut errors: Vec<ContentError>,
        selection: &Selection,
    ) -> (Catalog, Vec<ContentError>) {
        let newest: HashSet<u32> = (0..config.columns.len())
            .filter_map(|c| index.column_positions(c).first().copied())
            .collect();
        let wanted: Vec<&Key> = index
            .published()
            .iter()
            .enumerate()
            .filter(|&(i, k)| {
                let i = u32::try_from(i).expect("fewer than 4 billion articles");
                (i as usize) < selection.newest || newest.contains(&i) || selection.wants(&index, k)
            })
            .map(|(_, k)| k)
            .collect();
        let loaded: Vec<_> = wanted.par_iter().map(|k| index.load(config, k)).collect();
        let mut articles = Vec::with_capacity(loaded.len());
        for a in loaded {
            match a {
                Ok(a) => articles.push(a),
                Err(e) => errors.extend(e),
            }
        }
        (Catalog::of(config, index, articles, Vec::new()), errors)
    }

    fn of(
        config: &Config,
        index: Index,
        articles: Vec<Article>,
        unpublished: Vec<Article>,
    ) -> Catalog {
        let mut by_column: BTreeMap<ColumnSlug, Vec<usize>> = config
            .columns
            .iter()
            .map(|c| (c.slug.clone(), Vec::new()))
            .collect();
        for (i, a) in articles.iter().enumerate() {
            if let Some(positions) = by_column.get_mut(&a.column) {
                positions.push(i);
            }
        }
        let column_counts = config
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.slug.clone(), index.column_positions(i).len()))
            .collect();
        Catalog {
            articles,
            unpublished,
            by_column,
            column_counts,
            index,
        }
    }

    /// What was read and left out.
    pub fn stats(&self) -> &ContentStats {
        &self.index.stats
    }

    /// The index of the articles: what a feed's plan is made from.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The published articles it holds, newest first: every one, or
    /// those selected.
    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    /// Drafts and articles scheduled after `now`: validated, not published
    /// (none in a selected catalog).
    pub fn unpublished(&self) -> &[Article] {
        &self.unpublished
    }

    /// Positions (in [`Catalog::articles`]) of one column's articles that
    /// it holds.
    pub fn column_indices(&self, slug: &ColumnSlug) -> &[usize] {
        self.by_column.get(slug).map_or(&[], |v| v.as_slice())
    }

    /// How many articles a column has published, held or not.
    pub fn column_count(&self, slug: &ColumnSlug) -> usize {
        self.column_counts.get(slug).copied().unwrap_or(0)
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
