//! The catalog: every published article, newest first, with the checks that
//! need all of them at once (duplicate slugs and ids).

use super::source::{discover, read_head, SourceFile};
use super::{front_matter, Article, ContentError, ContentErrors};
use crate::config::Config;
use crate::names::ColumnSlug;
use chrono::{DateTime, FixedOffset};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
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
    /// What was read and left out.
    pub stats: ContentStats,
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
        mut errors: Vec<ContentError>,
        now: DateTime<FixedOffset>,
        unpublished: bool,
    ) -> (Catalog, Vec<ContentError>) {
        let started = std::time::Instant::now();
        let file_count = files.len();
        let unused_keys = front_matter::UnusedKeys::default();
        let parsed: Vec<Result<Article, Vec<ContentError>>> = files
            .into_par_iter()
            .map(|f: SourceFile| {
                let head = read_head(&f).map_err(|e| vec![e])?;
                front_matter::parse_article(f, &head, config, &unused_keys)
            })
            .collect();
        unused_keys.warn();
        tracing::debug!(elapsed = ?started.elapsed(), "front matter read and parsed");
        // The valid articles, in file order, in the buffer they were read
        // into: a second array of 100,000 articles is memory to fault in.
        let mut all: Vec<Article> = parsed
            .into_iter()
            .filter_map(|p| p.map_err(|e| errors.extend(e)).ok())
            .collect();
        let mut stats = ContentStats {
            files: file_count,
            ..ContentStats::default()
        };
        // Duplicates are checked in file order, so the later file of a pair
        // is the one named unless only the earlier sets the key; meanwhile the other core puts the published
        // articles in feed order.
        let (duplicate_errors, (mut order, set_aside)) = rayon::join(
            || duplicates(&all),
            || feed_order(&all, now, unpublished, &mut stats),
        );
        errors.extend(duplicate_errors);
        tracing::debug!(elapsed = ?started.elapsed(), "duplicates checked, articles ordered");
        // Published articles first, newest first, then drafts and scheduled
        // ones in file order: each article moves once.
        let published = order.len();
        order.extend(set_aside);
        permute(&mut all, &mut order);
        let unpublished = all.split_off(published);
        let articles = all;
        tracing::debug!(elapsed = ?started.elapsed(), "articles sorted");
        stats.published = articles.len();
        // Positions per column, looked up by slug in a hash map: a search
        // of the configuration's columns per article costs more.
        let column_of: FxHashMap<&str, usize> = config
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.slug.as_str(), i))
            .collect();
        let mut positions: Vec<Vec<usize>> = vec![Vec::new(); config.columns.len()];
        for (i, a) in articles.iter().enumerate() {
            // Every article's column is one of the configuration's.
            if let Some(&c) = column_of.get(a.column.as_str()) {
                positions[c].push(i);
            }
        }
        let by_column: BTreeMap<ColumnSlug, Vec<usize>> = config
            .columns
            .iter()
            .map(|c| c.slug.clone())
            .zip(positions)
            .collect();
        (
            Catalog {
                articles,
                unpublished,
                by_column,
                stats,
            },
            errors,
        )
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

/// Positions in `all` of the articles published at `now`, newest first,
/// ties broken by id so the order never depends on the file system; and of
/// the drafts and scheduled ones, in file order (unless `unpublished`
/// counts them as published). Counts them in `stats`.
fn feed_order(
    all: &[Article],
    now: DateTime<FixedOffset>,
    unpublished: bool,
    stats: &mut ContentStats,
) -> (Vec<usize>, Vec<usize>) {
    // The keys are copied out first so the sort reads a small array rather
    // than jumping around 100,000 large articles.
    let mut keys: Vec<(std::cmp::Reverse<(i64, u32)>, usize)> = Vec::with_capacity(all.len());
    let mut set_aside = Vec::new();
    for (i, a) in all.iter().enumerate() {
        let t = a.published;
        if a.draft && !unpublished {
            stats.drafts += 1;
            set_aside.push(i);
        } else if t > now && !unpublished {
            stats.scheduled += 1;
            set_aside.push(i);
            stats.next_release = Some(stats.next_release.map_or(t, |n| n.min(t)));
        } else if a.expires.is_some_and(|e| e <= now) {
            // Expired (`expiryDate`): left out as a draft is.
            stats.expired += 1;
            set_aside.push(i);
        } else {
            // An expiry still to come changes the output then, as a
            // scheduled article does.
            if let Some(e) = a.expires {
                stats.next_release = Some(stats.next_release.map_or(e, |n| n.min(e)));
            }
            stats.last_release = Some(stats.last_release.map_or(t, |n| n.max(t)));
            keys.push((
                std::cmp::Reverse((t.timestamp(), t.timestamp_subsec_nanos())),
                i,
            ));
        }
    }
    keys.par_sort_unstable_by(|x, y| x.0.cmp(&y.0).then_with(|| all[x.1].id.cmp(&all[y.1].id)));
    (keys.into_iter().map(|(_, i)| i).collect(), set_aside)
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

/// Rearranges `v` so that `v[i]` becomes the element that was at
/// `order[i]`, following each cycle of the permutation: every element moves
/// once, and no second array is needed.
fn permute<T>(v: &mut [T], order: &mut [usize]) {
    for i in 0..v.len() {
        if order[i] == i {
            continue;
        }
        let mut j = i;
        loop {
            let k = order[j];
            order[j] = j;
            if k == i {
                break;
            }
            v.swap(j, k);
            j = k;
        }
    }
}

/// Two articles with one slug in a column would share a permalink; two with
/// one id would be one item to every feed reader. Both files are named, the
/// one in error being the one whose front matter sets the key (see
/// [`culprit`]).
fn duplicates(all: &[Article]) -> Vec<ContentError> {
    let (mut slugs, ids) = rayon::join(|| duplicate_slugs(all), || duplicate_ids(all));
    slugs.extend(ids);
    slugs
}

// Fx hashing below: the keys are our own slugs and ids, not hostile input
// from the network, and SipHash costs more than the check itself. Both maps
// are sized up front: growing one 100,000 keys long rehashes it many times.

fn duplicate_slugs(all: &[Article]) -> Vec<ContentError> {
    let mut errors = Vec::new();
    let mut slugs: FxHashMap<(&ColumnSlug, &str), &Article> =
        FxHashMap::with_capacity_and_hasher(all.len(), Default::default());
    for a in all {
        if let Some(first) = slugs.insert((&a.column, a.slug.as_str()), a) {
            let (blamed, other) = culprit(first, a, |x| x.key_lines.slug);
            errors.push(
                ContentError::new(
                    &blamed.source,
                    format!(
                        "{:?} is also the slug of {} in column {}; slugs must be unique in a column",
                        a.slug, other.source, a.column
                    ),
                )
                .at_line(blamed.key_lines.slug)
                .field("slug"),
            );
            slugs.insert((&a.column, a.slug.as_str()), first);
        }
    }
    errors
}

fn duplicate_ids(all: &[Article]) -> Vec<ContentError> {
    let mut errors = Vec::new();
    let mut ids: FxHashMap<&str, &Article> =
        FxHashMap::with_capacity_and_hasher(all.len(), Default::default());
    for a in all {
        if let Some(first) = ids.insert(a.id.as_str(), a) {
            let (blamed, other) = culprit(first, a, |x| x.key_lines.id);
            errors.push(
                ContentError::new(
                    &blamed.source,
                    format!(
                        "{:?} is also the id of {}; ids must be unique",
                        a.id, other.source
                    ),
                )
                .at_line(blamed.key_lines.id)
                .field("id"),
            );
            ids.insert(a.id.as_str(), first);
        }
    }
    errors
}

/// Which of two clashing articles is in error, and the other. The one that
/// sets the key in its front matter when only one does: the other's value
/// comes from its file name (or its permalink), so the key written by hand
/// is the one to change, and its line can be named. Otherwise the later one
/// in file order, as a file added to a column is the usual cause.
fn culprit<'a>(
    first: &'a Article,
    later: &'a Article,
    key_line: impl Fn(&Article) -> Option<usize>,
) -> (&'a Article, &'a Article) {
    match (key_line(first), key_line(later)) {
        (Some(_), None) => (first, later),
        _ => (later, first),
    }
}

#[cfg(test)]
mod tests {
    use super::permute;

    #[test]
    fn a_permutation_is_applied_in_place() {
        let mut v = vec!['a', 'b', 'c', 'd', 'e'];
        let mut order = vec![3, 0, 4, 1, 2];
        permute(&mut v, &mut order);
        assert_eq!(v, ['d', 'a', 'e', 'b', 'c']);
    }
}
