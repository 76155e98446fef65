//! The index: what a build keeps of every article between reading its
//! front matter and writing the feeds that carry it. That is its place in
//! feed order, its column and authors, and what the duplicate checks
//! compare, in about two hundred bytes where the whole article takes
//! kilobytes: an archive of a million articles fits in a few hundred
//! megabytes. The few thousand articles the feeds carry are read again,
//! a feed at a time ([`Index::load`]), and dropped once it is written.
//!
//! What one file gives the index is a [`Record`]; a build keeps the
//! records beside its output, so that the next one reads again only the
//! files that changed (see `content::cache`).

use super::source::{read_head, read_head_again, read_whole, SourceFile};
use super::{front_matter, Article, ContentError, ContentStats, FileStat};
use crate::config::Config;
use chrono::{DateTime, FixedOffset};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

/// A time to the nanosecond, as seconds and nanoseconds since the epoch:
/// it orders as the time does, and takes 12 bytes where a
/// `DateTime<FixedOffset>` takes 16.
pub type Instant = (i64, u32);

/// `t` as an [`Instant`].
pub fn instant(t: DateTime<FixedOffset>) -> Instant {
    (t.timestamp(), t.timestamp_subsec_nanos())
}

fn datetime(i: Instant, tz: chrono_tz::Tz) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(i.0, i.1)
        .unwrap_or_default()
        .with_timezone(&tz)
        .fixed_offset()
}

/// The shape of a [`Record`], part of what a cache of records is trusted
/// for: a change to the struct below changes this.
pub const RECORD_FORMAT: u32 = 3;

/// What the index needs of one article, as read from its file: all a
/// later build needs to skip reading the file again while its size and
/// times stay the same. Its text is borrowed from the cache's bytes when it
/// comes from there: a build after one edit takes a hundred thousand
/// records from the cache, and a string allocated for each, on the
/// threads that read them, and freed on the one that builds the index,
/// was most of what that took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record<'a> {
    /// When it is (or will be) published.
    pub published: Instant,
    /// When it stops being published (`expiryDate`).
    pub expires: Option<Instant>,
    /// When its correction was made (its `updated`), if it carries one: a
    /// digest lists corrections to articles of any age, and finds them
    /// on the index without reading every article.
    pub corrected: Option<Instant>,
    /// Whether it is a draft.
    pub draft: bool,
    /// Its column, as a position in the configuration's columns (a record
    /// is never trusted across a change of configuration).
    pub column: u16,
    /// A hash of its slug: the duplicate check compares these, and reads
    /// both files again when two are equal.
    pub slug: u64,
    /// Its feed id, whole: ties in publication time are ordered by it.
    #[serde(borrow)]
    pub id: Text<'a>,
    /// Each author's feed slug and name, in byline order: one or two, held
    /// in place.
    #[serde(borrow)]
    pub authors: smallvec::SmallVec<[(Text<'a>, Text<'a>); 2]>,
    /// The front-matter keys it has that broadsheet does not use, warned
    /// about in every build as if the file had been read.
    pub unused: Vec<String>,
}

/// A string of a [`Record`]: borrowed from the bytes it was decoded from
/// when they are at hand, owned when it was just read from a file.
///
/// Written out because serde borrows a `Cow<str>` only where it is a
/// field itself, never inside a list or a tuple (`Cow`'s own
/// `Deserialize` always copies). Encoded as a plain string, so the
/// cache's bytes are the same as for a `String`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text<'a>(pub std::borrow::Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Text<'_> {
    fn from(s: String) -> Self {
        Text(std::borrow::Cow::Owned(s))
    }
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text(std::borrow::Cow::Borrowed(s))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(Text::from(s))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(Text::from(s.to_owned()))
            }
            fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
                Ok(Text::from(s))
            }
        }
        d.deserialize_str(Visit)
    }
}

impl Record<'_> {
    fn of<'r>(a: &Article, config: &Config, unused: Vec<String>) -> Record<'r> {
        Record {
            published: instant(a.published),
            expires: a.expires.map(instant),
            corrected: a.correction.as_ref().and(a.updated).map(instant),
            draft: a.draft,
            column: config
                .columns
                .iter()
                .position(|c| c.slug == a.column)
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(u16::MAX),
            slug: slug_hash(&a.slug),
            id: a.id.clone().into(),
            authors: a
                .authors
                .iter()
                .map(|au| (au.slug.clone().into(), au.name.clone().into()))
                .collect(),
            unused,
        }
    }
}

/// What the index finds a byline by: Fx, as for the duplicate checks
/// (our own slugs and names, not hostile input from the network).
fn byline_hash(slug: &str, name: &str) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one((slug, name))
}

fn slug_hash(slug: &str) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    slug.hash(&mut h);
    h.finish()
}

/// One article in the index: 48 bytes. Its id and its authors are held
/// by the index, all articles' in one string and one list: a million
/// articles' ids in boxes of their own took a million allocations and a
/// fifth more than their text, and their authors (one, mostly) a box each
/// for four bytes.
#[derive(Debug, Clone)]
pub struct Key {
    /// Its file, a position in the index's files.
    pub file: u32,
    // When it is published, as an `Instant` in two fields, which pack with
    // the small ones below where a tuple would be padded on its own.
    secs: i64,
    nanos: u32,
    draft: bool,
    /// Its column, a position in the configuration's columns.
    pub column: u16,
    slug: u64,
    /// Its feed id: where it starts in the index's ids, and its length.
    id_at: u32,
    id_len: u32,
    /// Its authors (positions in the index's bylines): where they start in
    /// the index's list of them, and how many.
    authors_at: u32,
    authors_len: u32,
}

impl Key {
    /// When it is published.
    pub fn published(&self) -> Instant {
        (self.secs, self.nanos)
    }
}

/// Where a key's text or list starts in the index's, and how long it is,
/// as a key stores it.
fn span(start: usize, len: usize, what: &str) -> (u32, u32) {
    let fit =
        |n: usize| u32::try_from(n).unwrap_or_else(|_| panic!("{what}: fewer than 4 billion"));
    (fit(start), fit(len))
}

/// An author as one article names them: a feed slug and a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Byline {
    /// The author's feed folder under `authors/`.
    pub slug: Box<str>,
    /// The name.
    pub name: Box<str>,
}

/// Every valid article of a build: the published ones in feed order
/// (newest first, ties broken by id so the order never depends on the
/// file system), then drafts and scheduled ones in file order.
#[derive(Debug, Default)]
pub struct Index {
    /// Each article's file, its stat always known.
    files: Vec<SourceFile>,
    published: Vec<Key>,
    unpublished: Vec<Key>,
    by_column: Vec<Vec<u32>>,
    bylines: Vec<Byline>,
    /// Every key's id, one after another (see [`Key`]).
    ids: String,
    /// Every key's authors, one after another (see [`Key`]).
    author_ids: Vec<u32>,
    unused: Vec<(u32, Vec<String>)>,
    /// When the articles that expire do, by file: few articles do, so
    /// their keys do not carry the room for it.
    expiring: FxHashMap<u32, Instant>,
    /// When the corrected articles' corrections were made, by file: few
    /// articles carry one.
    corrected: FxHashMap<u32, Instant>,
    /// What was read and left out.
    pub stats: ContentStats,
    /// Files whose front matter was read, rather than taken from an
    /// earlier build's record.
    pub read_again: usize,
}

/// How an index reads its files.
pub struct ReadOptions<'a> {
    /// Count drafts and articles scheduled after `now` as published: what
    /// `preview --drafts` shows a writer, and never a build.
    pub unpublished: bool,
    /// A record kept from an earlier build for a file of this name and
    /// stat, which then is not read again.
    pub earlier: &'a (dyn Fn(&str, &FileStat) -> Option<Record<'a>> + Sync),
}

impl Default for ReadOptions<'_> {
    fn default() -> Self {
        ReadOptions {
            unpublished: false,
            earlier: &|_, _| None,
        }
    }
}

impl Index {
    /// Reads the front matter of `files` (those of a walk; `errors` are
    /// the walk's) into an index, with every problem found, and gives each
    /// valid article's file and `Article` to `keep`, whose results come
    /// back in file order: a catalog keeps every article, a build none.
    pub fn read<T: Send>(
        config: &Config,
        files: Vec<SourceFile>,
        mut errors: Vec<ContentError>,
        now: DateTime<FixedOffset>,
        options: ReadOptions<'_>,
        keep: impl Fn(Article) -> T + Sync,
    ) -> (Index, Vec<T>, Vec<ContentError>) {
        let started = std::time::Instant::now();
        let file_count = files.len();
        let unused_keys = front_matter::UnusedKeys::default();
        // Each file's stat is filled in where it lies: the list of files
        // becomes the index's, with no second one.
        let read_one = |f: &mut SourceFile| -> Result<(Record, Option<T>), Vec<ContentError>> {
            // A last good version kept elsewhere is always read: the record
            // of a file is of the file itself.
            if let Some(stat) = f.stat.filter(|_| !f.is_elsewhere()) {
                if let Some(r) = (options.earlier)(&f.display, &stat) {
                    return Ok((r, None));
                }
            }
            let head = read_head(f).map_err(|e| vec![e])?;
            f.stat = Some(head.stat);
            let mut unused = Vec::new();
            let parsed = front_matter::parse_article(f.clone(), &head, config, &mut unused);
            match parsed {
                Ok(a) => {
                    let record = Record::of(&a, config, unused);
                    Ok((record, Some(keep(a))))
                }
                Err(e) => {
                    unused_keys.add(&unused);
                    Err(e)
                }
            }
        };
        let mut index = Index {
            stats: ContentStats {
                files: file_count,
                ..ContentStats::default()
            },
            ..Index::default()
        };
        let mut kept = Vec::new();
        let mut keys = Vec::with_capacity(file_count);
        // Each byline once, found again by a hash of its text without
        // making a `Byline` to ask with: most articles' authors are there
        // already (three in four at a hundred thousand op-eds).
        let mut bylines: Vec<Byline> = Vec::new();
        let mut byline_at: hashbrown::HashTable<u32> = hashbrown::HashTable::new();
        // Read in batches, each turned into keys before the next is read:
        // what a file gives before it is a key (its record, the strings of
        // its names) is then held for one batch, not for the archive.
        const BATCH: usize = 16_384;
        let mut files = files;
        let mut valid = Vec::with_capacity(files.len());
        let mut at = 0u32;
        for batch in files.chunks_mut(BATCH) {
            let parsed: Vec<_> = batch.par_iter_mut().map(read_one).collect();
            index.read_again += parsed
                .iter()
                .filter(|p| p.as_ref().map_or(true, |(_, t)| t.is_some()))
                .count();
            for p in parsed {
                valid.push(p.is_ok());
                let (record, t) = match p {
                    Ok(ok) => ok,
                    Err(e) => {
                        errors.extend(e);
                        continue;
                    }
                };
                // Its place once the invalid files are taken out.
                let this = at;
                at = at.checked_add(1).expect("fewer than 4 billion files");
                let at = this;
                if let Some(t) = t {
                    kept.push(t);
                }
                let Record {
                    published,
                    expires,
                    corrected,
                    draft,
                    column,
                    slug,
                    id,
                    authors,
                    unused,
                } = record;
                let authors_from = index.author_ids.len();
                for (slug, name) in authors {
                    let hash = byline_hash(&slug, &name);
                    let same = |&i: &u32| {
                        let b = &bylines[i as usize];
                        *b.slug == *slug && *b.name == *name
                    };
                    let at = match byline_at.find(hash, same) {
                        Some(&at) => at,
                        None => {
                            let next =
                                u32::try_from(bylines.len()).expect("fewer than 4 billion bylines");
                            bylines.push(Byline {
                                slug: slug.0.into_owned().into_boxed_str(),
                                name: name.0.into_owned().into_boxed_str(),
                            });
                            byline_at.insert_unique(hash, next, |&i| {
                                let b = &bylines[i as usize];
                                byline_hash(&b.slug, &b.name)
                            });
                            next
                        }
                    };
                    index.author_ids.push(at);
                }
                let (authors_at, authors_len) = span(
                    authors_from,
                    index.author_ids.len() - authors_from,
                    "bylines of all articles",
                );
                let (id_at, id_len) = span(index.ids.len(), id.len(), "bytes of all ids");
                index.ids.push_str(&id);
                if !unused.is_empty() {
                    unused_keys.add(&unused);
                    index.unused.push((at, unused));
                }
                if let Some(e) = expires {
                    index.expiring.insert(at, e);
                }
                if let Some(c) = corrected {
                    index.corrected.insert(at, c);
                }
                keys.push(Key {
                    file: at,
                    secs: published.0,
                    nanos: published.1,
                    draft,
                    column,
                    slug,
                    id_at,
                    id_len,
                    authors_at,
                    authors_len,
                });
            }
        }
        let mut valid = valid.into_iter();
        files.retain(|_| valid.next().unwrap_or(false));
        index.files = files;
        tracing::debug!(elapsed = ?started.elapsed(), "front matter read and parsed");
        unused_keys.warn();
        drop(byline_at);
        index.bylines = bylines;
        // Duplicates are checked in file order, so the later file of a
        // pair is the one named unless only the earlier sets the key.
        errors.extend(index.duplicates(config, &keys));
        let tz = config.site.timezone;
        index.ids.shrink_to_fit();
        index.author_ids.shrink_to_fit();
        let order = Order {
            now,
            unpublished: options.unpublished,
            tz,
            expiring: &index.expiring,
            ids: &index.ids,
        };
        let (published, unpublished) = order.sort(keys, &mut index.stats);
        index.published = published;
        index.unpublished = unpublished;
        index.stats.published = index.published.len();
        let mut by_column = vec![Vec::new(); config.columns.len()];
        for (i, k) in index.published.iter().enumerate() {
            if let Some(c) = by_column.get_mut(usize::from(k.column)) {
                c.push(u32::try_from(i).expect("fewer than 4 billion articles"));
            }
        }
        index.by_column = by_column;
        tracing::debug!(elapsed = ?started.elapsed(), "duplicates checked, articles ordered");
        (index, kept, errors)
    }

    /// Every published article, newest first.
    pub fn published(&self) -> &[Key] {
        &self.published
    }

    /// Drafts and articles scheduled after `now`: validated, not published.
    pub fn unpublished(&self) -> &[Key] {
        &self.unpublished
    }

    /// Positions (in [`Index::published`]) of the articles of the
    /// configuration's column at position `column`.
    pub fn column_positions(&self, column: usize) -> &[u32] {
        self.by_column.get(column).map_or(&[], |v| v.as_slice())
    }

    /// An article's feed id.
    pub fn id(&self, key: &Key) -> &str {
        key_id(&self.ids, key)
    }

    /// An article's authors, positions in the bylines ([`Index::byline`]),
    /// in byline order.
    pub fn authors(&self, key: &Key) -> &[u32] {
        let at = key.authors_at as usize;
        &self.author_ids[at..at + key.authors_len as usize]
    }

    /// An author as some article names them.
    pub fn byline(&self, at: u32) -> &Byline {
        &self.bylines[at as usize]
    }

    /// The file of every article, in the order the walk found them.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The file of an article.
    pub fn file(&self, key: &Key) -> &SourceFile {
        &self.files[key.file as usize]
    }

    /// When an article's correction was made, if it carries one.
    pub fn corrected(&self, key: &Key) -> Option<Instant> {
        self.corrected.get(&key.file).copied()
    }

    /// The size and times of an article's file when it was read.
    pub fn stat(&self, key: &Key) -> FileStat {
        self.file(key).stat.unwrap_or_default()
    }

    /// Reads the article of `key` again, whole. Its file must still have
    /// the size and times it was indexed with: one changed since (by an
    /// editor saving while the build runs) is an error, not an article
    /// that disagrees with the index.
    pub fn load(&self, config: &Config, key: &Key) -> Result<Article, Vec<ContentError>> {
        load_file(config, self.file(key))
    }

    /// [`Index::load`] with the article's body, read with the same open
    /// of its file: what a feed carrying it needs. The body comes checked
    /// as UTF-8 and without the characters XML cannot carry.
    pub fn load_with_body(
        &self,
        config: &Config,
        key: &Key,
    ) -> Result<(Article, String), Vec<ContentError>> {
        load_whole(config, self.file(key))
    }

    /// Every article's record, with its file's name and stat: what the
    /// next build may take instead of reading the file. A last good
    /// version read in place of an invalid file gives none: the file
    /// itself is read again next time.
    pub fn records(&self) -> impl Iterator<Item = (&str, FileStat, Record<'_>)> + '_ {
        let mut unused: FxHashMap<u32, &Vec<String>> =
            self.unused.iter().map(|(f, u)| (*f, u)).collect();
        let mut keys: Vec<&Key> = self.published.iter().chain(&self.unpublished).collect();
        keys.sort_unstable_by_key(|k| k.file);
        keys.retain(|k| !self.file(k).is_elsewhere());
        keys.into_iter().map(move |k| {
            let file = self.file(k);
            let record = Record {
                published: k.published(),
                expires: self.expiring.get(&k.file).copied(),
                corrected: self.corrected.get(&k.file).copied(),
                draft: k.draft,
                column: k.column,
                slug: k.slug,
                id: self.id(k).into(),
                authors: self
                    .authors(k)
                    .iter()
                    .map(|&b| {
                        let b = self.byline(b);
                        (Text::from(&*b.slug), Text::from(&*b.name))
                    })
                    .collect(),
                unused: unused.remove(&k.file).cloned().unwrap_or_default(),
            };
            (file.display.as_str(), self.stat(k), record)
        })
    }

    /// Two articles with one slug in a column would share a permalink; two
    /// with one id would be one item to every feed reader. Keys in file
    /// order are compared by slug hash and id; each pair found is read
    /// again to name both files, the one in error being the one whose
    /// front matter sets the key (see [`culprit`]), and to tell a true
    /// duplicate slug from two slugs with one hash.
    fn duplicates(&self, config: &Config, keys: &[Key]) -> Vec<ContentError> {
        // Fx hashing: the keys are our own slugs and ids, not hostile input
        // from the network, and SipHash costs more than the check itself.
        // Both maps are sized up front: growing one 100,000 keys long
        // rehashes it many times.
        let (slugs, ids) = rayon::join(
            || {
                let mut seen: FxHashMap<(u16, u64), usize> =
                    FxHashMap::with_capacity_and_hasher(keys.len(), Default::default());
                let mut pairs = Vec::new();
                for (i, k) in keys.iter().enumerate() {
                    if let Some(&first) = seen.get(&(k.column, k.slug)) {
                        pairs.push((first, i));
                    } else {
                        seen.insert((k.column, k.slug), i);
                    }
                }
                pairs
            },
            || {
                let mut seen: FxHashMap<&str, usize> =
                    FxHashMap::with_capacity_and_hasher(keys.len(), Default::default());
                let mut pairs = Vec::new();
                for (i, k) in keys.iter().enumerate() {
                    let id = self.id(k);
                    if let Some(&first) = seen.get(id) {
                        pairs.push((first, i));
                    } else {
                        seen.insert(id, i);
                    }
                }
                pairs
            },
        );
        let mut errors = Vec::new();
        let mut both = |first: usize, later: usize, check: Clash| {
            let loaded = (
                load_file(config, &self.files[keys[first].file as usize]),
                load_file(config, &self.files[keys[later].file as usize]),
            );
            match loaded {
                (Ok(a), Ok(b)) => errors.extend(check.error(&a, &b)),
                (a, b) => {
                    errors.extend(a.err().into_iter().flatten());
                    errors.extend(b.err().into_iter().flatten());
                }
            }
        };
        for (first, later) in slugs {
            both(first, later, Clash::Slug);
        }
        for (first, later) in ids {
            both(first, later, Clash::Id);
        }
        errors
    }
}

/// Reads the front matter of `file` again, if it still has the size and
/// times it was indexed with: what the duplicate checks compare.
fn load_file(config: &Config, file: &SourceFile) -> Result<Article, Vec<ContentError>> {
    let head = read_head_again(file).map_err(|e| vec![e])?;
    front_matter::parse_article(file.clone(), &head, config, &mut Vec::new())
}

/// Reads `file` again, whole and with one open, if it still has the size
/// and times it was indexed with: the article and its body.
fn load_whole(config: &Config, file: &SourceFile) -> Result<(Article, String), Vec<ContentError>> {
    let whole = read_whole(file).map_err(|e| vec![e])?;
    let article = front_matter::parse_article(file.clone(), &whole.head, config, &mut Vec::new())?;
    let body = whole.body.map_err(|e| vec![e])?;
    Ok((article, body))
}

/// The line of the key two articles share, in one of them.
type KeyLine = fn(&Article) -> Option<usize>;
/// What is wrong, said of the article in error and the other.
type Message = fn(&Article, &Article) -> String;

/// Which key two articles share.
#[derive(Clone, Copy)]
enum Clash {
    Slug,
    Id,
}

impl Clash {
    /// The error for two articles (`first` before `later` in file order)
    /// sharing this key, if they really do: two slugs may share a hash.
    fn error(self, first: &Article, later: &Article) -> Option<ContentError> {
        let (same, line, field, message): (bool, KeyLine, &str, Message) = match self {
            Clash::Slug => (
                first.column == later.column && first.slug == later.slug,
                |x| x.key_lines.slug,
                "slug",
                |a: &Article, other: &Article| {
                    format!(
                        "{:?} is also the slug of {} in column {}; slugs must be unique in a column",
                        a.slug, other.source, a.column
                    )
                },
            ),
            Clash::Id => (
                first.id == later.id,
                |x| x.key_lines.id,
                "id",
                |a: &Article, other: &Article| {
                    format!(
                        "{:?} is also the id of {}; ids must be unique",
                        a.id, other.source
                    )
                },
            ),
        };
        if !same {
            return None;
        }
        let (blamed, other) = culprit(first, later, line);
        let error = ContentError::new(&blamed.source, message(later, other));
        Some(error.at_line(line(blamed)).field(field))
    }
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

/// The id of `key` in `ids`, the index's.
fn key_id<'a>(ids: &'a str, key: &Key) -> &'a str {
    let at = key.id_at as usize;
    &ids[at..at + key.id_len as usize]
}

/// What decides which articles are published, and in what order.
struct Order<'a> {
    /// The index's ids, which break ties.
    ids: &'a str,
    now: DateTime<FixedOffset>,
    /// Count drafts and scheduled articles as published.
    unpublished: bool,
    tz: chrono_tz::Tz,
    expiring: &'a FxHashMap<u32, Instant>,
}

impl Order<'_> {
    /// The keys published at `now`, newest first, ties broken by id; then
    /// the drafts and scheduled ones, in file order (unless `unpublished`
    /// counts them as published). Counts them in `stats`. The published
    /// keys stay in the vector they came in, sorted there.
    fn sort(&self, mut keys: Vec<Key>, stats: &mut ContentStats) -> (Vec<Key>, Vec<Key>) {
        let now = instant(self.now);
        let mut next: Option<Instant> = None;
        let mut last: Option<Instant> = None;
        let mut set_aside = Vec::new();
        keys.retain(|k| {
            let t = k.published();
            let expires = self.expiring.get(&k.file).copied();
            if k.draft && !self.unpublished {
                stats.drafts += 1;
            } else if t > now && !self.unpublished {
                stats.scheduled += 1;
                next = Some(next.map_or(t, |n| n.min(t)));
            } else if expires.is_some_and(|e| e <= now) {
                // Expired (`expiryDate`): left out as a draft is.
                stats.expired += 1;
            } else {
                // An expiry still to come changes the output then, as a
                // scheduled article does.
                if let Some(e) = expires {
                    next = Some(next.map_or(e, |n| n.min(e)));
                }
                last = Some(last.map_or(t, |n| n.max(t)));
                return true;
            }
            set_aside.push(k.clone());
            false
        });
        keys.par_sort_unstable_by(|x, y| {
            y.published()
                .cmp(&x.published())
                .then_with(|| key_id(self.ids, x).cmp(key_id(self.ids, y)))
        });
        stats.next_release = next.map(|i| datetime(i, self.tz));
        stats.last_release = last.map(|i| datetime(i, self.tz));
        (keys, set_aside)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn record<'a>(id: Text<'a>, authors: Vec<(Text<'a>, Text<'a>)>) -> Record<'a> {
        Record {
            published: (1_764_000_000, 5),
            expires: None,
            corrected: Some((1_764_100_000, 0)),
            draft: false,
            column: 3,
            slug: 42,
            id,
            authors: authors.into_iter().collect(),
            unused: vec!["weight".to_owned()],
        }
    }

    #[test]
    fn a_record_taken_from_bytes_borrows_its_text_and_is_encoded_as_with_strings() {
        let owned = record(
            "urn:broadsheet:評論:一".to_owned().into(),
            vec![
                ("li-wen".to_owned().into(), "李文".to_owned().into()),
                ("chan".to_owned().into(), "陳大明".to_owned().into()),
                ("wong".to_owned().into(), "黃三".to_owned().into()),
            ],
        );
        let bytes = postcard::to_allocvec(&owned).unwrap();
        // The same bytes as a record of plain `String`s: caches written
        // before `Text` read the same.
        #[derive(Serialize)]
        struct Plain {
            published: Instant,
            expires: Option<Instant>,
            corrected: Option<Instant>,
            draft: bool,
            column: u16,
            slug: u64,
            id: String,
            authors: Vec<(String, String)>,
            unused: Vec<String>,
        }
        let plain = Plain {
            published: owned.published,
            expires: None,
            corrected: owned.corrected,
            draft: false,
            column: 3,
            slug: 42,
            id: owned.id.to_string(),
            authors: owned
                .authors
                .iter()
                .map(|(s, n)| (s.to_string(), n.to_string()))
                .collect(),
            unused: owned.unused.clone(),
        };
        assert_eq!(bytes, postcard::to_allocvec(&plain).unwrap());

        let back: Record<'_> = postcard::from_bytes(&bytes).unwrap();
        // Compared as shown: a record borrowing from `bytes` and one that
        // owns its text are of two types here.
        let shown = format!("{owned:?}");
        assert_eq!(format!("{back:?}"), shown);
        assert!(matches!(back.id.0, Cow::Borrowed(_)));
        assert!(back
            .authors
            .iter()
            .all(|(s, n)| matches!((&s.0, &n.0), (Cow::Borrowed(_), Cow::Borrowed(_)))));
        // From a reader, which cannot lend, the text is owned and the same.
        let json = serde_json::to_vec(&owned).unwrap();
        let mut reader = serde_json::Deserializer::from_reader(&json[..]);
        let read = Record::deserialize(&mut reader).unwrap();
        assert_eq!(format!("{read:?}"), shown);
        assert!(matches!(read.id.0, Cow::Owned(_)));
    }
}
