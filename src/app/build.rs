//! `broadsheet build`: read content, write feeds.

use crate::config::Config;
use crate::content::cache;
use crate::content::index::{ReadOptions, Record};
use crate::content::{
    discover_content, Catalog, ContentError, ContentErrors, FileStat, Index, Selection, SourceFile,
};
use crate::feeds::output::{self, InputStamp, LeftOut, Manifest, WriteReport};
use crate::feeds::FeedSpec;
use crate::text::count;
use crate::{feeds, Error};
use chrono::{DateTime, FixedOffset};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// What a build did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSummary {
    /// Columns in the configuration.
    pub columns: usize,
    /// Articles published.
    pub articles: usize,
    /// Drafts left out.
    pub drafts: usize,
    /// Articles dated after `now`, left out.
    pub scheduled: usize,
    /// Files written, unchanged and removed.
    pub files: WriteReport,
    /// Whether nothing had changed since the last build, so nothing was
    /// even read beyond the file list.
    pub up_to_date: bool,
    /// What the WebSub hub was told, when one is configured.
    pub hub: Option<crate::websub::HubReport>,
    /// The invalid articles a build that keeps going left out (always
    /// empty for a strict build, which fails instead).
    pub left_out: LeftOut,
}

/// How a build treats an invalid article, and where it shows progress.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Publish everything valid, leaving each invalid article out (or
    /// putting in its place the version an earlier build published), and
    /// say what was left out; otherwise write nothing unless every article
    /// is valid.
    pub keep_going: bool,
    /// A spinner naming the phase the build is in (hidden unless the
    /// caller draws it, on a terminal).
    pub progress: indicatif::ProgressBar,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            keep_going: false,
            progress: indicatif::ProgressBar::hidden(),
        }
    }
}

/// One phase of a build, told to `-v` (an info line, with the spinner
/// out of its way) and shown on the spinner.
fn phase(progress: &indicatif::ProgressBar, started: std::time::Instant, what: String) {
    progress.suspend(|| tracing::info!("{what} ({:.2} s)", started.elapsed().as_secs_f64()));
    progress.set_message(what);
}

/// Reads content and writes every feed. Nothing is written unless every
/// article (and every body a feed carries) is valid.
pub fn build(config: &Config, now: DateTime<FixedOffset>) -> Result<BuildSummary, Error> {
    build_with(config, now, BuildOptions::default())
}

/// Reads content and writes every feed, as `options` say.
pub fn build_with(
    config: &Config,
    now: DateTime<FixedOffset>,
    options: BuildOptions,
) -> Result<BuildSummary, Error> {
    let started = std::time::Instant::now();
    let output_dir = &config.site.output_dir;
    // With no earlier build to compare with, asking each file's size and
    // mtime before reading it is a lookup per file for nothing: they are
    // read from the open files instead.
    let stat_files = output_dir.join(output::MANIFEST).is_file();
    // The manifest is read, and every file it lists looked at, while the
    // content folder is listed: neither needs the other, and each alone
    // leaves a core idle part of the time.
    let ((files, walk_errors), previous) = rayon::join(
        || discover_content(config, stat_files),
        || {
            let mut previous = Manifest::read(output_dir);
            if previous.inputs.is_some() {
                previous.check_files(output_dir);
            }
            tracing::debug!(elapsed = ?started.elapsed(), "manifest read, its files looked at");
            previous
        },
    );
    let compare = stat_files && previous.inputs.is_some();
    let progress = &options.progress;
    // A spinner is for a build long enough to wonder about; drawn for a
    // small one it only flickers.
    const LONG_BUILD_FILES: usize = 20_000;
    if files.len() < LONG_BUILD_FILES {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let found = count(files.len(), "content file", "content files");
    phase(progress, started, format!("found {found}"));
    let listed_fingerprint = compare.then(|| {
        let stats = files
            .iter()
            .map(|f| (f.display.as_str(), f.stat.unwrap_or_default()));
        fingerprint(config, stats)
    });
    // What a build that kept going left out, a strict build refuses: it
    // reads everything again to say why.
    let left_out_before = previous
        .inputs
        .as_ref()
        .is_some_and(|i| !i.left_out.is_empty());
    let up_to_date = walk_errors.is_empty()
        && (options.keep_going || !left_out_before)
        && listed_fingerprint
            .as_deref()
            .is_some_and(|fp| is_current(&previous, fp, now, config));
    if up_to_date {
        tracing::info!("nothing changed since the last build");
        let [articles, drafts, scheduled] = previous.inputs.as_ref().map_or([0; 3], |i| i.counts);
        return Ok(BuildSummary {
            columns: config.columns.len(),
            articles,
            drafts,
            scheduled,
            files: WriteReport {
                unchanged: previous.files.len(),
                ..WriteReport::default()
            },
            up_to_date: true,
            hub: None,
            left_out: previous.inputs.map(|i| i.left_out).unwrap_or_default(),
        });
    }

    // Templates first: a broken one fails the build before any work.
    let pages = feeds::PageTemplates::load(config)?;
    progress.set_message(format!("reading {found}"));
    let kept_files = options.keep_going.then(|| files.clone());
    // What the last build read of each file, for those whose size and
    // times are the same: with no earlier output the walk asked for no
    // stats, and nothing could be matched.
    let cache_path = cache_path(config);
    let cache_stamp = cache_stamp(config);
    let cache: cache::FileCache<Record<'static>> = match compare {
        true => cache::FileCache::load(&cache_path, &cache_stamp),
        false => cache::FileCache::default(),
    };
    tracing::debug!(elapsed = ?started.elapsed(), entries = cache.len(), "cache loaded");
    let earlier = |display: &str, stat: &FileStat| cache.get_as(display, stat);
    let read = ReadOptions {
        unpublished: false,
        earlier: &earlier,
    };
    let attempt = |files: Vec<SourceFile>, walk_errors: Vec<ContentError>| {
        let inputs = Inputs {
            files,
            walk_errors,
            now,
            read: &read,
        };
        let made = make(config, inputs, &pages, &previous, progress, started);
        match made {
            Ok((made, errors)) => (Ok(made), errors),
            Err(e) => (Err(e), Vec::new()),
        }
    };
    let (mut made, errors) = attempt(files, walk_errors);
    let mut left_out = LeftOut::default();
    if !errors.is_empty() {
        match kept_files {
            None => return Err(ContentErrors::sorted(errors).into()),
            Some(files) => {
                drop(made);
                let read_files = |files| attempt(files, Vec::new());
                (made, left_out) = leave_out_invalid(config, files, errors, read_files, |m| {
                    m.as_ref().ok().map(|m| &m.index)
                })?;
            }
        }
    }
    let Made {
        index,
        specs,
        sink,
        generated,
    } = made?;
    // What the last build read is no longer needed, and at a million
    // articles it is a hundred megabytes.
    let cached = cache.len();
    drop(cache);
    let stats = &index.stats;
    let fingerprint = listed_fingerprint.unwrap_or_else(|| {
        // Every file became an article (or the build stopped above), each
        // with the size and mtime it was read with, in path order as the
        // walk lists them: what a later walk's stats will give.
        let files = index.files().iter();
        fingerprint(
            config,
            files.map(|f| (f.display.as_str(), f.stat.unwrap_or_default())),
        )
    });
    let stamp = InputStamp {
        fingerprint,
        valid_from: stats.last_release.map(|d| d.to_rfc3339()),
        valid_until: stats.next_release.map(|d| d.to_rfc3339()),
        counts: [stats.published, stats.drafts, stats.scheduled],
        left_out: left_out.clone(),
    };
    let report = sink.commit(stamp)?;
    tracing::debug!(elapsed = ?started.elapsed(), "files put in place, manifest written");
    // Written only once the feeds are: a cache must never hold what no
    // output was made from. Nothing new read, nothing to write; and a few
    // files read again are not worth it either: writing the cache costs
    // about a microsecond an entry (a tenth of a second at 100,000, half a
    // second at a million), reading a file again a few tens, so the cache
    // is written again once what it lacks or holds for nothing (files
    // read again, files gone) is more than a thousandth of it. The one it
    // replaces is still right for every other file.
    let hits = index.files().len().saturating_sub(index.read_again);
    let stale = index.read_again + cached.saturating_sub(hits);
    const MIN_STALE: usize = 64;
    if stale > 0 && (cached == 0 || stale > MIN_STALE.max(cached / 1000)) {
        if let Err(e) = cache::save_in_order(&cache_path, &cache_stamp, index.records()) {
            tracing::warn!("{e}; the next build reads every file again");
        }
        tracing::debug!(elapsed = ?started.elapsed(), "cache written");
    }
    phase(
        progress,
        started,
        format!(
            "wrote {}, {} unchanged, {} removed",
            count(report.written, "file", "files"),
            report.unchanged,
            report.removed
        ),
    );
    // Every build keeps the version it published of each article an
    // output it made carries, so that a later `run` finding it broken has
    // it; articles no output carries need none, their absence changes
    // nothing, and the articles of a feed kept as it was were kept when
    // it was made.
    let mut carried: Vec<usize> = generated
        .made_feeds
        .iter()
        .flat_map(|&f| specs[f].items.iter().copied())
        .collect();
    carried.sort_unstable();
    carried.dedup();
    let copied = {
        use rayon::prelude::*;
        let articles = carried.par_iter().map(|&i| {
            let k = &index.published()[i];
            (index.file(k).path(), index.stat(k))
        });
        super::last_good::keep(config, articles, carried.len())?
    };
    tracing::debug!(copied, elapsed = ?started.elapsed(), "last good versions kept");
    let hub = config.feeds.websub_hub.as_deref().map(|hub| {
        let changed: Vec<String> = report
            .changed
            .iter()
            .filter(|p| crate::websub::is_feed(p))
            .map(|p| format!("{}/{}", config.feeds.url, feeds::url_path(p)))
            .collect();
        crate::websub::notify(hub, &changed)
    });
    let summary = BuildSummary {
        columns: config.columns.len(),
        articles: stats.published,
        drafts: stats.drafts,
        scheduled: stats.scheduled,
        files: report,
        up_to_date: false,
        hub,
        left_out,
    };
    drop_later((index, specs, generated, carried));
    Ok(summary)
}

/// Frees `what` on a thread of its own. At a million articles the index
/// is millions of small allocations, and freeing them one by one takes
/// half a second that the command need not wait for: `run` goes on to the
/// digest meanwhile, and a process that exits first returns it all at
/// once. Without a thread to be had, `what` is freed here, as before.
fn drop_later<T: Send + 'static>(what: T) {
    let spawned = std::thread::Builder::new()
        .name("free".into())
        .spawn(move || drop(what));
    if let Err(e) = spawned {
        tracing::debug!("freeing the build's index in place: no thread ({e})");
    }
}

/// Where a build keeps what it read of each file for the next: beside the
/// state, as the last good versions are, and never in `output_dir`, which
/// is served and often copied to a web server whole (at a million
/// articles the cache is a hundred megabytes, and it names drafts).
fn cache_path(config: &Config) -> std::path::PathBuf {
    crate::fsio::beside(&config.site.state_path, cache::CACHE_SUFFIX)
}

/// What one pass of a build made: the index of the articles, the feeds
/// planned from it, the files made, and which feeds were made again.
struct Made<'a> {
    index: Index,
    specs: Vec<FeedSpec>,
    sink: BuildSink<'a>,
    generated: feeds::Generated,
}

/// What one pass of a build reads: the files (and the walk's errors),
/// the time, and how.
struct Inputs<'r> {
    files: Vec<SourceFile>,
    walk_errors: Vec<ContentError>,
    now: DateTime<FixedOffset>,
    read: &'r ReadOptions<'r>,
}

/// Reads the front matter of the files, plans the feeds and makes those
/// whose inputs changed, with every problem found in the articles read
/// (nothing made is written then).
fn make<'a>(
    config: &'a Config,
    inputs: Inputs<'_>,
    pages: &feeds::PageTemplates,
    previous: &'a Manifest,
    progress: &indicatif::ProgressBar,
    started: std::time::Instant,
) -> Result<(Made<'a>, Vec<ContentError>), Error> {
    let Inputs {
        files,
        walk_errors,
        now,
        read,
    } = inputs;
    let options = ReadOptions {
        unpublished: read.unpublished,
        earlier: read.earlier,
    };
    let (index, _, errors) = Index::read(config, files, walk_errors, now, options, |_| ());
    let specs = feeds::plan(config, &index);
    tracing::debug!(elapsed = ?started.elapsed(), "feeds planned");
    {
        let stats = &index.stats;
        phase(
            progress,
            started,
            format!(
                "read {} ({} published, {}, {} scheduled; {} read again, {} as the last build read them) for {}",
                count(stats.files, "article", "articles"),
                stats.published,
                count(stats.drafts, "draft", "drafts"),
                stats.scheduled,
                index.read_again,
                stats.files.saturating_sub(index.read_again),
                count(specs.len(), "feed", "feeds"),
            ),
        );
    }
    let sink = BuildSink {
        output_dir: &config.site.output_dir,
        previous,
        staging: {
            let staging = output::Staging::begin(&config.site.output_dir, previous)?;
            // Only a hub is told which files changed.
            match config.feeds.websub_hub {
                Some(_) => staging.list_changed(),
                None => staging,
            }
        },
        base: inputs_digest(config),
        digests: Default::default(),
    };
    if !errors.is_empty() {
        // The feeds are not made: nothing of them would be written.
        let generated = feeds::Generated::default();
        let made = Made {
            index,
            specs,
            sink,
            generated,
        };
        return Ok((made, errors));
    }
    let generated = feeds::generate(config, &index, &specs, pages, &sink)?;
    phase(
        progress,
        started,
        format!(
            "made {}, kept {}",
            count(generated.made_feeds.len(), "feed", "feeds"),
            generated.kept
        ),
    );
    let errors = generated.errors.clone();
    let made = Made {
        index,
        specs,
        sink,
        generated,
    };
    Ok((made, errors))
}

/// Where a build's files go: staged beside their places as they are made,
/// put in place all at once when every one of them is made.
struct BuildSink<'a> {
    output_dir: &'a std::path::Path,
    previous: &'a Manifest,
    staging: output::Staging,
    /// The digest of what every feed depends on (see [`inputs_digest`]).
    base: Sha256,
    /// Each feed's inputs, as [`feed_digest`] gives them: the next build
    /// makes again only the feeds whose digest changed.
    digests: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

impl BuildSink<'_> {
    fn commit(self, stamp: InputStamp) -> Result<WriteReport, Error> {
        let digests = self.digests.into_inner().unwrap_or_else(|e| e.into_inner());
        Ok(self.staging.commit(stamp, digests)?)
    }
}

impl feeds::Sink for BuildSink<'_> {
    fn is_current(&self, index: &Index, spec: &FeedSpec, files: &[String]) -> bool {
        let digest = feed_digest(self.base.clone(), index, spec);
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let current = self
            .previous
            .feed_is_current(&spec.dir, &digest, &files, self.output_dir);
        self.digests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(spec.dir.clone(), digest);
        current
    }

    fn keep(&self, path: &str) {
        // Kept only once `is_current` found it on disk as the manifest
        // says.
        self.staging
            .keep_as(path, self.previous.files.get(path).copied());
    }

    fn put(&self, path: &str, bytes: &[u8]) -> Result<(), Error> {
        Ok(self.staging.stage(path, bytes)?)
    }

    fn put_with(&self, path: &str, write: &mut crate::fsio::WriteWith<'_>) -> Result<(), Error> {
        Ok(self.staging.stage_with(path, write)?)
    }
}

/// What a feed's bytes depend on: everything every output depends on
/// (`base`), the feed's own titles, and each article it carries, by file
/// name and [`FileStat`] in feed order. Two builds giving one feed the same
/// digest give it the same bytes.
fn feed_digest(mut h: Sha256, index: &Index, spec: &FeedSpec) -> String {
    for part in [&spec.dir, &spec.title, &spec.description, &spec.home_url] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update([u8::from(spec.full)]);
    for &i in &spec.items {
        let k = &index.published()[i];
        h.update(index.file(k).display.as_bytes());
        h.update([0]);
        h.update(index.stat(k).to_bytes());
    }
    crate::names::hex(&h.finalize())
}

/// Reads everything again without the files `errors` name, putting in
/// the place of each the version an earlier build published, when there
/// is one. A kept version that is itself refused now (a column since
/// removed from the config, say) is left out too, in a last read with no
/// kept versions at all: that one has nothing left to refuse but problems
/// no file is to blame for, which fail the build. `read` is what a build
/// or a digest reads the files into, with the errors found.
fn leave_out_invalid<R>(
    config: &Config,
    files: Vec<SourceFile>,
    errors: Vec<ContentError>,
    read: impl Fn(Vec<SourceFile>) -> (R, Vec<ContentError>),
    index_of: impl Fn(&R) -> Option<&Index>,
) -> Result<(R, LeftOut), Error> {
    let bad: BTreeSet<String> = errors.iter().map(|e| e.location.path.clone()).collect();
    let problems = crate::diagnostic::sorted(errors);
    let (good, invalid): (Vec<SourceFile>, Vec<SourceFile>) =
        files.into_iter().partition(|f| !bad.contains(&f.display));
    let kept = super::last_good::Kept::open(config);
    let earlier: Vec<SourceFile> = invalid.iter().filter_map(|f| kept.version_of(f)).collect();
    let mut kept_earlier: Vec<String> = earlier.iter().map(|f| f.display.clone()).collect();
    let mut with_earlier = good.clone();
    with_earlier.extend(earlier);
    let (mut out, errors) = read(with_earlier);
    if !errors.is_empty() {
        tracing::warn!(
            "{} in the versions published before; leaving those articles out",
            count(errors.len(), "problem", "problems")
        );
        kept_earlier.clear();
        let (again, errors) = read(good);
        if !errors.is_empty() {
            return Err(ContentErrors::sorted(errors).into());
        }
        out = again;
    }
    // A kept version counts only if it was published again.
    let published: BTreeSet<&str> = index_of(&out)
        .map(|index| {
            index
                .published()
                .iter()
                .map(|k| index.file(k).display.as_str())
                .collect()
        })
        .unwrap_or_default();
    kept_earlier.retain(|f| published.contains(f.as_str()));
    kept_earlier.sort();
    Ok((
        out,
        LeftOut {
            problems,
            kept_earlier,
        },
    ))
}

/// The articles as `run` publishes them: every valid one, and in the
/// place of an invalid one the version an earlier build published, with
/// what was left out. For the digest step of `run`, and `status`, which
/// must see what the feeds carry. Only the articles `selection` wants are
/// read whole; the others are indexed, from what the last build read of
/// them where their files have not changed since.
pub(crate) fn published_catalog(
    config: &Config,
    now: DateTime<FixedOffset>,
    selection: &Selection,
) -> Result<(Catalog, LeftOut), Error> {
    let (files, walk_errors) = discover_content(config, true);
    let kept_files = files.clone();
    let (catalog, errors) = select_from(config, files, walk_errors, now, selection);
    if errors.is_empty() {
        return Ok((catalog, LeftOut::default()));
    }
    leave_out_invalid(
        config,
        kept_files,
        errors,
        |files| select_from(config, files, Vec::new(), now, selection),
        |c| Some(c.index()),
    )
}

/// The articles `selection` wants, read whole, and every other one
/// indexed (see [`Catalog::select`]), with every problem found. A strict
/// command fails on any.
pub(crate) fn selected_catalog(
    config: &Config,
    now: DateTime<FixedOffset>,
    selection: &Selection,
) -> (Catalog, Vec<ContentError>) {
    let (files, walk_errors) = discover_content(config, true);
    select_from(config, files, walk_errors, now, selection)
}

/// [`selected_catalog`] of the files a walk found.
fn select_from(
    config: &Config,
    files: Vec<SourceFile>,
    walk_errors: Vec<ContentError>,
    now: DateTime<FixedOffset>,
    selection: &Selection,
) -> (Catalog, Vec<ContentError>) {
    let cache: cache::FileCache<Record<'static>> =
        cache::FileCache::load(&cache_path(config), &cache_stamp(config));
    let earlier = |display: &str, stat: &FileStat| cache.get_as(display, stat);
    let read = ReadOptions {
        unpublished: false,
        earlier: &earlier,
    };
    Catalog::select(config, files, walk_errors, now, read, selection)
}

/// What a cache of records is trusted for: their shape and the
/// configuration they were read with.
fn cache_stamp(config: &Config) -> cache::CacheStamp {
    cache::CacheStamp::new(format!(
        "{}:{}",
        crate::content::index::RECORD_FORMAT,
        config.digest_of_sources
    ))
}

/// Whether the last build was made from these very inputs and `now` falls
/// in the window where it stays right: then every output would come out
/// byte for byte the same, and reading 100,000 articles again is waste.
fn is_current(
    previous: &Manifest,
    fingerprint: &str,
    now: DateTime<FixedOffset>,
    config: &Config,
) -> bool {
    let Some(inputs) = &previous.inputs else {
        return false;
    };
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
    };
    let after_start = match parse(&inputs.valid_from) {
        Some(from) => now >= from,
        None => inputs.valid_from.is_none(),
    };
    let before_end = match parse(&inputs.valid_until) {
        Some(until) => now < until,
        None => inputs.valid_until.is_none(),
    };
    inputs.fingerprint == fingerprint
        && after_start
        && before_end
        && previous.files_intact(&config.site.output_dir)
}

/// A digest of everything a build reads: the program's version, the
/// configuration (file and environment), the page templates, and each
/// content file's path and [`FileStat`] (size, mtime, ctime, inode).
fn fingerprint<'a>(config: &Config, files: impl Iterator<Item = (&'a str, FileStat)>) -> String {
    let mut h = inputs_digest(config);
    for (display, stat) in files {
        h.update([0]);
        h.update(display.as_bytes());
        h.update([0]);
        h.update(stat.to_bytes());
    }
    crate::names::hex(&h.finalize())
}

/// A digest of what every output depends on besides the articles: the
/// program's version, the configuration (file and environment) and the
/// page templates.
fn inputs_digest(config: &Config) -> Sha256 {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update([0]);
    h.update(config.digest_of_sources.as_bytes());
    // The page templates shape output too: the built-in ones (which change
    // with the program) and any override, by size and mtime.
    for name in feeds::pages::NAMES {
        h.update([0]);
        h.update(crate::templates::builtin(name).as_bytes());
        if let Some(m) = crate::templates::override_metadata(&config.site.templates_dir, name) {
            h.update(FileStat::of(&m).to_bytes());
        }
    }
    h
}
