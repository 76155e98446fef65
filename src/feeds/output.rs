//! Writing output: every file atomically (a temporary file in the same
//! folder, then a rename; a new folder whole, under a temporary name), the
//! whole set only once every file of it is written, a file whose bytes are
//! unchanged left alone with its mtime, and files broadsheet wrote before
//! but no longer produces removed. A manifest in `output_dir` remembers
//! what broadsheet wrote, so nothing else in that folder is ever touched.
//!
//! Files are handed to a [`Staging`] one at a time, from any thread, as
//! soon as each is made, and only the name of its temporary file is kept:
//! a build holds one file's bytes per thread, not the whole output.

use crate::content::FileStat;
use crate::fsio::{self, FsAction, FsError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// The manifest's file name in `output_dir`.
pub const MANIFEST: &str = ".broadsheet-manifest";

/// What the manifest was called while it was JSON, as earlier versions
/// wrote it: read when
/// there is no [`MANIFEST`] (the first build after an upgrade must still
/// know what the last one wrote, or it would never remove what it no
/// longer makes, and `serve` would serve nothing), and removed once a
/// build wrote the new one.
pub const OLD_MANIFEST: &str = ".broadsheet-manifest.json";

/// How a manifest begins: not text, so that nothing else is taken for one.
const MANIFEST_MAGIC: [u8; 8] = *b"\x89BSMANI\n";

/// The layout after the magic; raised whenever it changes. A manifest in
/// another format is no manifest (the next build writes every file whose
/// bytes differ, and removes nothing).
const MANIFEST_FORMAT: u32 = 1;

/// A manifest larger than this is not read: about 20 times that of a
/// 1,000,000-article archive with every author's feed, and a bound on what
/// a file found in the web root can make a build or `serve` take.
const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// One file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The path under `output_dir`, with `/` separators.
    pub path: String,
    /// The whole content.
    pub bytes: Vec<u8>,
}

impl OutputFile {
    /// A file at `path` (under `output_dir`) holding `bytes`.
    pub fn new(path: String, bytes: Vec<u8>) -> OutputFile {
        OutputFile { path, bytes }
    }
}

/// What a write did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// Files created or replaced.
    pub written: usize,
    /// Their paths, relative to `output_dir`, sorted: what a WebSub hub is
    /// told. Listed only when asked for ([`Staging::list_changed`]): a
    /// cold build of a million articles writes 372,000 files.
    pub changed: Vec<String>,
    /// Files whose bytes were already right, left untouched.
    pub unchanged: usize,
    /// Files of an earlier build no longer produced, removed.
    pub removed: usize,
}

/// What broadsheet knows of `output_dir` from its last build.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Every file written, with its size and times after the build.
    pub files: BTreeMap<String, FileStat>,
    /// What the build was made from; a build from the same inputs, inside
    /// the same window of time, would write the same bytes.
    pub inputs: Option<InputStamp>,
    /// For each feed's folder (`all`, a column slug, `authors/{slug}`), a
    /// digest of what its files were made from, as the build computed it: a
    /// feed whose digest is the same, and whose files are still as written,
    /// need not be made again (see [`Manifest::feed_is_current`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub feeds: BTreeMap<String, String>,
    /// Once [`Manifest::check_files`] ran: the files listed that were no
    /// longer on disk as written (edited, replaced or removed since).
    /// Never stored: it is what this build found.
    #[serde(skip)]
    pub not_as_written: Option<BTreeSet<String>>,
}

/// The inputs of a build.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputStamp {
    /// A digest of the configuration, the program's version and every
    /// content file's path, size, mtime, ctime and inode.
    pub fingerprint: String,
    /// The output holds for `now` at or after this (the newest publication
    /// time it includes)…
    pub valid_from: Option<String>,
    /// …and before this (the next scheduled article).
    pub valid_until: Option<String>,
    /// Articles published, drafts and scheduled articles, as counted then.
    pub counts: [usize; 3],
    /// What a build that kept going (`run`, `build --keep-going`) left
    /// out: a build from the same inputs would find the same problems, and
    /// says them again without reading anything.
    #[serde(default, skip_serializing_if = "LeftOut::is_empty")]
    pub left_out: LeftOut,
}

/// The articles a build left out because they are invalid: every problem
/// found in them, and which of them had an earlier version, published by
/// an earlier build, that this build published instead.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// Every problem, sorted by file and line.
    pub problems: Vec<crate::diagnostic::Diagnostic>,
    /// The files (as the problems name them) whose last good version was
    /// published in their place.
    pub kept_earlier: Vec<String>,
}

impl std::fmt::Display for LeftOut {
    /// Every problem, a line each, then what the build did about them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        let files = self.files();
        write!(
            f,
            "{files} invalid article{} left out of the build",
            if files == 1 { "" } else { "s" }
        )?;
        match self.kept_earlier.len() {
            0 => {}
            n if n == files => write!(f, "; the version published before is kept in its place")?,
            n => write!(f, "; for {n} of them the version published before is kept")?,
        }
        write!(f, "; fix and run again (`broadsheet check` lists them)")
    }
}

impl LeftOut {
    /// Whether nothing was left out.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// How many files were left out.
    pub fn files(&self) -> usize {
        let mut paths: Vec<&str> = self
            .problems
            .iter()
            .map(|p| p.location.path.as_str())
            .collect();
        paths.dedup();
        paths.len()
    }
}

impl Manifest {
    /// Reads the manifest of `output_dir`; a missing or unreadable one is an
    /// empty manifest (the next build writes everything and removes nothing).
    ///
    /// Anyone who can write the web root can write this file, so an entry
    /// that is not the path of a file broadsheet writes (see
    /// [`is_output_path`]) is dropped with a warning: otherwise a build
    /// would remove whatever `../broadsheet.db` or `/etc/…` names.
    ///
    /// With no manifest but one in the JSON of earlier versions
    /// ([`OLD_MANIFEST`]), that one is read.
    pub fn read(output_dir: &Path) -> Manifest {
        let (path, mut manifest) = match read_bounded(&output_dir.join(MANIFEST)) {
            Some(bytes) => (MANIFEST, Manifest::from_bytes(&bytes).unwrap_or_default()),
            None => {
                let old = read_bounded(&output_dir.join(OLD_MANIFEST));
                let manifest = old.and_then(|b| serde_json::from_slice(&b).ok());
                (OLD_MANIFEST, manifest.unwrap_or_default())
            }
        };
        let path = output_dir.join(path);
        manifest.files.retain(|entry, _| {
            let ok = is_output_path(entry);
            if !ok {
                tracing::warn!(
                    "{}: the entry {entry:?} is not a file broadsheet writes; it is ignored",
                    path.display()
                );
            }
            ok
        });
        manifest.feeds.retain(|dir, _| {
            let ok = is_feed_dir(dir);
            if !ok {
                tracing::warn!(
                    "{}: the feed {dir:?} is not a folder broadsheet writes; it is ignored",
                    path.display()
                );
            }
            ok
        });
        manifest
    }

    /// The manifest as it is stored: [`MANIFEST_MAGIC`], the format (4
    /// bytes, little-endian), then the manifest in postcard, its files in
    /// path order. Binary, because every build reads it and writes it
    /// again, and at tens of thousands of files JSON was megabytes of field
    /// names to write and to parse (a third of the size, and several times
    /// faster to read).
    pub fn to_bytes(&self) -> Vec<u8> {
        // About what each entry takes, so that the buffer rarely grows.
        let guess = MANIFEST_MAGIC.len() + 4 + self.files.len() * 48 + self.feeds.len() * 96;
        let mut bytes = Vec::with_capacity(guess);
        let files = self.files.iter().map(|(p, s)| (p.as_str(), *s));
        encode_into(files, self.inputs.as_ref(), &self.feeds, &mut bytes)
            .expect("a manifest always serialises");
        bytes
    }

    /// A manifest from what [`Manifest::to_bytes`] wrote; `None` for
    /// anything else (another format, a truncated or damaged file). No
    /// entry is checked here: [`Manifest::read`] does that.
    pub fn from_bytes(bytes: &[u8]) -> Option<Manifest> {
        let body = bytes.strip_prefix(&MANIFEST_MAGIC)?;
        let (format, body) = body.split_first_chunk::<4>()?;
        if u32::from_le_bytes(*format) != MANIFEST_FORMAT {
            return None;
        }
        let stored: Stored = match postcard::take_from_bytes(body) {
            Ok((stored, [])) => stored,
            _ => return None,
        };
        let inputs = match stored.inputs {
            None => None,
            Some(i) => Some(InputStamp {
                fingerprint: i.fingerprint.to_owned(),
                valid_from: i.valid_from.map(str::to_owned),
                valid_until: i.valid_until.map(str::to_owned),
                counts: i.counts.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                left_out: match i.left_out.is_empty() {
                    true => LeftOut::default(),
                    false => serde_json::from_str(&i.left_out).ok()?,
                },
            }),
        };
        // Written in path order, so the maps are built in one pass.
        Some(Manifest {
            files: stored
                .files
                .into_iter()
                .map(|(p, s)| (p.to_owned(), s))
                .collect(),
            inputs,
            feeds: stored
                .feeds
                .into_iter()
                .map(|(d, h)| (d.to_owned(), h.to_owned()))
                .collect(),
            not_as_written: None,
        })
    }

    /// Whether the feed in `dir` was last made from inputs with this
    /// `digest` and each of its `files` (paths under `output_dir`) is still
    /// on disk as that build wrote it: a feed file edited or removed by hand
    /// makes the feed be made again. After [`Manifest::check_files`], what
    /// that check found is the answer, and nothing is looked up again.
    pub fn feed_is_current(
        &self,
        dir: &str,
        digest: &str,
        files: &[&str],
        output_dir: &Path,
    ) -> bool {
        self.feeds.get(dir).is_some_and(|d| d == digest)
            && files.iter().all(|f| {
                self.files
                    .get(*f)
                    .is_some_and(|stamp| match &self.not_as_written {
                        Some(changed) => !changed.contains(*f),
                        None => stamp_of(&output_dir.join(f)).is_some_and(|s| s == *stamp),
                    })
            })
    }

    /// Whether every file listed is still on disk as it was written (as
    /// [`Manifest::check_files`] found, once it ran).
    pub fn files_intact(&self, output_dir: &Path) -> bool {
        match &self.not_as_written {
            Some(changed) => changed.is_empty(),
            None => self.changed_files(output_dir).is_empty(),
        }
    }

    /// Looks at every file listed, once, on every core, and keeps which of
    /// them are no longer as written: [`Manifest::files_intact`] and
    /// [`Manifest::feed_is_current`] answer from that. A build runs it
    /// while it lists the content files, rather than looking each output
    /// file up as it comes to its feed: the same lookups, but beside work
    /// that leaves a core waiting, and done once for both questions.
    pub fn check_files(&mut self, output_dir: &Path) {
        self.not_as_written = Some(self.changed_files(output_dir));
    }

    /// The files listed that are not on disk as written.
    fn changed_files(&self, output_dir: &Path) -> BTreeSet<String> {
        use rayon::prelude::*;
        // Tens of thousands of lookups, on every core.
        let files: Vec<(&String, &FileStat)> = self.files.iter().collect();
        files
            .par_iter()
            .filter(|(p, stamp)| stamp_of(&output_dir.join(p)).is_none_or(|s| s != **stamp))
            .map(|(p, _)| (*p).clone())
            .collect::<Vec<String>>()
            .into_iter()
            .collect()
    }
}

/// The manifest as postcard stores it (postcard names no fields, so this
/// layout is [`MANIFEST_FORMAT`]: any change to it raises that).
#[derive(Serialize, Deserialize)]
struct Stored<'a> {
    #[serde(borrow)]
    files: Vec<(&'a str, FileStat)>,
    #[serde(borrow)]
    inputs: Option<StoredInputs<'a>>,
    #[serde(borrow)]
    feeds: Vec<(&'a str, &'a str)>,
}

/// [`Stored`] as it is written: the same fields in the same order, each
/// list serialised from an iterator, which postcard writes as it writes a
/// `Vec` of the same items (its length, then each item).
#[derive(Serialize)]
#[serde(bound(serialize = "SeqOf<F>: Serialize, SeqOf<D>: Serialize"))]
struct StoredOut<'a, F, D> {
    files: SeqOf<F>,
    inputs: Option<StoredInputs<'a>>,
    feeds: SeqOf<D>,
}

/// A manifest's bytes (see [`Manifest::to_bytes`]), from its files in
/// path order, its inputs and its feeds' digests, written into `out` as
/// they are made: serialised from them as they are, with no copy of a
/// list, and a build writes its manifest straight to the file, which at a
/// million articles is 25 MB that need not be held at once.
fn encode_into<'a, F>(
    files: F,
    inputs: Option<&InputStamp>,
    feeds: &BTreeMap<String, String>,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()>
where
    F: ExactSizeIterator<Item = (&'a str, FileStat)> + Clone,
{
    let stored = StoredOut {
        files: SeqOf(files),
        inputs: inputs.map(|i| StoredInputs {
            fingerprint: &i.fingerprint,
            valid_from: i.valid_from.as_deref(),
            valid_until: i.valid_until.as_deref(),
            counts: i.counts.map(|n| n as u64),
            // Rare and small, and shaped by the diagnostics: as JSON,
            // which names its fields, it needs no postcard layout of
            // its own.
            left_out: match i.left_out.is_empty() {
                true => String::new(),
                false => serde_json::to_string(&i.left_out).expect("a list of problems serialises"),
            },
        }),
        feeds: SeqOf(feeds.iter().map(|(d, h)| (d.as_str(), h.as_str()))),
    };
    out.write_all(&MANIFEST_MAGIC)?;
    out.write_all(&MANIFEST_FORMAT.to_le_bytes())?;
    postcard::to_io(&stored, out).map_err(std::io::Error::other)?;
    Ok(())
}

/// A list serialised from an iterator that knows its length.
struct SeqOf<I>(I);

impl<I> Serialize for SeqOf<I>
where
    I: ExactSizeIterator + Clone,
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.clone())
    }
}

/// [`InputStamp`] as postcard stores it.
#[derive(Serialize, Deserialize)]
struct StoredInputs<'a> {
    fingerprint: &'a str,
    valid_from: Option<&'a str>,
    valid_until: Option<&'a str>,
    counts: [u64; 3],
    /// [`LeftOut`] as JSON, empty when nothing was left out.
    left_out: String,
}

/// The bytes of the file at `path`, if it is a regular file of at most
/// [`MAX_MANIFEST_BYTES`]: a named pipe put there would make a read wait,
/// and a device give bytes without end.
fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_MANIFEST_BYTES {
        return None;
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    std::fs::File::open(path)
        .ok()?
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// Whether `path` (relative to `output_dir`, `/`-separated) has the shape
/// of a file a build writes: `index.html`, `index.opml`, `authors.opml`, and the feeds and
/// page of a column, of `all` or of an author. Nothing absolute, nothing
/// with `..` or a hidden segment, nothing else.
pub fn is_output_path(path: &str) -> bool {
    const FEED_FILES: &[&str] = &["rss.xml", "atom.xml", "feed.json", "index.html"];
    let segments: Vec<&str> = path.split('/').collect();
    let plain = |s: &&str| !s.is_empty() && !s.starts_with('.') && !s.contains(['\\', '\0', ':']);
    if !segments.iter().all(plain) {
        return false;
    }
    match segments.as_slice() {
        ["index.html" | "index.opml" | "authors.opml"] => true,
        [dir, file] => {
            FEED_FILES.contains(file)
                && !matches!(*dir, super::AUTHORS | "digests" | "index")
                && (*dir == super::ALL || crate::names::ColumnSlug::parse(dir).is_ok())
        }
        [authors, slug, file] => {
            *authors == super::AUTHORS
                && crate::names::is_author_slug(slug)
                && FEED_FILES.contains(file)
        }
        _ => false,
    }
}

/// Whether `dir` has the shape of a feed's folder: `all`, a column slug or
/// `authors/{slug}`.
fn is_feed_dir(dir: &str) -> bool {
    is_output_path(&format!("{dir}/rss.xml"))
}

/// Whether a folder between `output_dir` and `path` is a symbolic link:
/// removing through one would remove a file outside `output_dir`.
fn through_a_link(output_dir: &Path, path: &Path) -> bool {
    let mut dir = path.parent();
    while let Some(d) = dir.filter(|d| *d != output_dir && d.starts_with(output_dir)) {
        if std::fs::symlink_metadata(d).is_ok_and(|m| m.file_type().is_symlink()) {
            return true;
        }
        dir = d.parent();
    }
    false
}

fn stamp_of(path: &Path) -> Option<FileStat> {
    std::fs::metadata(path).ok().map(|m| FileStat::of(&m))
}

/// The error for a folder that is a symbolic link.
fn link_error(folder: &Path) -> FsError {
    FsError::new(
        folder,
        FsAction::Write,
        std::io::Error::other(
            "a folder on the way is a symbolic link; broadsheet writes nothing outside output_dir through one (remove the link)",
        ),
    )
}

/// A lock whose holder panicked still guards consistent data here: each
/// change under it is a single insert.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the files of one folder under `output_dir` go while staging.
#[derive(Debug, Clone)]
struct Folder {
    /// The folder itself, or, for a folder this build makes, where it is
    /// until the commit.
    at: PathBuf,
    /// Made by this build: nothing else can be in it, so a file is written
    /// under its own name, without a look for what is there.
    fresh: bool,
}

/// What staging knows of a folder it has looked at. A first build of a
/// million articles makes 124,000 author folders, each inside the one it
/// makes for `authors`: those hold no path of their own.
#[derive(Debug)]
enum Known {
    /// There already, at its own place.
    There,
    /// Made by this build under a temporary name beside its place: here.
    Made(PathBuf),
    /// Made by this build inside the folder above it, which it made too.
    Inside,
}

/// What staging did with one file.
#[derive(Debug)]
enum Staged {
    /// Its bytes were already on disk; its stamp then.
    Unchanged(FileStat),
    /// Written to a temporary file beside it, to be renamed into place.
    Replaced(tempfile::TempPath),
    /// Written in a folder this build makes; its stamp once written.
    Fresh(FileStat),
    /// Not made again, its inputs being unchanged; its stamp then.
    Kept(FileStat),
}

/// The first step of a write: files staged one at a time, from any
/// thread, none of them visible until [`Staging::commit`]. Dropped without
/// a commit (an error part way), it removes every temporary file and
/// folder it made, and the previous files are exactly as they were.
#[derive(Debug)]
pub struct Staging {
    output_dir: PathBuf,
    /// The files the previous build wrote: those not produced again are
    /// removed at the commit.
    previous: Vec<String>,
    /// Each folder looked at (under `output_dir`, `/`-separated; `""` is
    /// `output_dir`): a folder is checked for a link, or made, once however
    /// many files go in it.
    folders: Mutex<HashMap<String, Known>>,
    /// The folders this build makes whose parent was already there, each
    /// under a temporary name, with where it goes. Dropped, a temporary
    /// folder is removed with all it holds.
    new_folders: Mutex<Vec<(tempfile::TempDir, PathBuf)>>,
    /// Every file of the build, by path: what the manifest lists.
    files: Mutex<BTreeMap<String, Staged>>,
    /// The first mistake in a call of [`Staging::keep`], reported by the
    /// commit.
    mistake: Mutex<Option<FsError>>,
    /// Whether the commit lists the files it wrote
    /// ([`WriteReport::changed`]).
    list_changed: bool,
    /// `output_dir`, when this build made it: removed again, if still
    /// empty, unless the build commits. Last, so that the temporary
    /// folders above are gone when it goes.
    made_output_dir: MadeFolder,
}

/// A folder made for a build that may fail: removed when dropped, if it
/// is empty, unless [`MadeFolder::keep`] was called.
#[derive(Debug)]
struct MadeFolder(Option<PathBuf>);

impl MadeFolder {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for MadeFolder {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            // Fails, as it should, if anything is in it.
            let _ = std::fs::remove_dir(dir);
        }
    }
}

impl Staging {
    /// Starts writing into `output_dir` (made if missing), over what the
    /// `previous` build wrote (its manifest, read at the start of the build).
    pub fn begin(output_dir: &Path, previous: &Manifest) -> Result<Staging, FsError> {
        let made = !output_dir.exists();
        fsio::create_dir(output_dir)?;
        Ok(Staging {
            output_dir: output_dir.to_owned(),
            previous: previous.files.keys().cloned().collect(),
            folders: Mutex::new(HashMap::new()),
            new_folders: Mutex::new(Vec::new()),
            files: Mutex::new(BTreeMap::new()),
            mistake: Mutex::new(None),
            list_changed: false,
            made_output_dir: MadeFolder(made.then(|| output_dir.to_owned())),
        })
    }

    /// Makes the commit list the files it writes, in
    /// [`WriteReport::changed`].
    pub fn list_changed(mut self) -> Staging {
        self.list_changed = true;
        self
    }

    /// Stages the file at `path` (under `output_dir`, `/`-separated) with
    /// `bytes`: nothing when the file already holds them, else a temporary
    /// file beside it (or the file itself, in a folder this build makes).
    /// The bytes are not kept. Safe to call from many threads at once.
    pub fn stage(&self, path: &str, bytes: &[u8]) -> Result<(), FsError> {
        let (target, fresh) = self.place(path)?;
        let staged = if let Some(at) = fresh {
            fresh_file(&target, &at, &mut |w| w.write_all(bytes))?
        } else {
            match fsio::holds(&target, bytes)? {
                Some(meta) => Staged::Unchanged(FileStat::of(&meta)),
                None => Staged::Replaced(fsio::stage_beside(&target, bytes)?),
            }
        };
        self.record(path, &target, staged)
    }

    /// [`Staging::stage`] for a file whose bytes `write` writes as they
    /// are made, never held whole: a file that already holds them is told
    /// by reading both a piece at a time.
    pub fn stage_with(&self, path: &str, write: &mut fsio::WriteWith<'_>) -> Result<(), FsError> {
        let (target, fresh) = self.place(path)?;
        let staged = if let Some(at) = fresh {
            fresh_file(&target, &at, &mut fsio::buffered(write))?
        } else {
            let tmp = fsio::stage_beside_with(&target, &mut fsio::buffered(write))?;
            match fsio::holds_file(&target, &tmp)? {
                // Dropped, the temporary file is removed.
                Some(meta) => Staged::Unchanged(FileStat::of(&meta)),
                None => Staged::Replaced(tmp),
            }
        };
        self.record(path, &target, staged)
    }

    /// Where the file at `path` goes: its place under `output_dir`, and,
    /// when its folder is one this build makes, where it is written now.
    fn place(&self, path: &str) -> Result<(PathBuf, Option<PathBuf>), FsError> {
        let target = self.output_dir.join(path);
        if !is_output_path(path) {
            return Err(not_an_output(&target));
        }
        let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
        let folder = self.folder(dir, &target)?;
        let fresh = folder.fresh.then(|| folder.at.join(name));
        Ok((target, fresh))
    }

    /// Lists a staged file, once.
    fn record(&self, path: &str, target: &Path, staged: Staged) -> Result<(), FsError> {
        match lock(&self.files).entry(path.to_owned()) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(staged);
                Ok(())
            }
            std::collections::btree_map::Entry::Occupied(_) => Err(twice(target)),
        }
    }

    /// Records the file at `path` as produced by this build but not made
    /// again, its inputs being unchanged (the caller checked, with
    /// [`Manifest::feed_is_current`]): it stays as it is, is listed in the
    /// new manifest with its stamp now, and counts as unchanged.
    pub fn keep(&self, path: &str) {
        self.keep_as(path, None)
    }

    /// [`Staging::keep`] for a file the caller has just found on disk with
    /// the stamp `known` (as [`Manifest::feed_is_current`] does): it is
    /// not looked up again.
    pub fn keep_as(&self, path: &str, known: Option<FileStat>) {
        // A build keeps tens of thousands of files: the path on disk is
        // made only for a file not already looked at, or for an error.
        let target = || self.output_dir.join(path);
        let mistake = if !is_output_path(path) {
            Some(not_an_output(&target()))
        } else {
            let stamp = known.unwrap_or_else(|| stamp_of(&target()).unwrap_or_default());
            match lock(&self.files).entry(path.to_owned()) {
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(Staged::Kept(stamp));
                    None
                }
                std::collections::btree_map::Entry::Occupied(_) => Some(twice(&target())),
            }
        };
        if let Some(m) = mistake {
            lock(&self.mistake).get_or_insert(m);
        }
    }

    /// Where the files of `dir` go: checked (never through a link, never
    /// where a file is) and, when missing, made, once per folder. A folder
    /// whose parent is there is made under a temporary name beside it, and
    /// any folder under that one inside it, so that nothing of it is seen
    /// before the commit and all of it goes if the build fails. `file` is
    /// the file on whose way the folder is, for the error.
    ///
    /// The list of folders is locked only to look in it and add to it: a
    /// first build makes an author's folder for every author, and with the
    /// lock held across each `mkdir` the other threads, which look up a
    /// folder for every file they write, waited on it.
    fn folder(&self, dir: &str, file: &Path) -> Result<Folder, FsError> {
        if dir.is_empty() {
            return Ok(Folder {
                at: self.output_dir.clone(),
                fresh: false,
            });
        }
        {
            let known = lock(&self.folders);
            if known.contains_key(dir) {
                return Ok(self.resolve(&known, dir));
            }
        }
        let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
        let up = self.folder(parent, file)?;
        // Where it goes, for an error, and for a folder not inside one this
        // build made: a first build makes 12,401 author folders in one.
        let place = || self.output_dir.join(dir);
        let a_file_is_there = |place: &Path| {
            FsError::new(
                file,
                FsAction::Write,
                std::io::Error::other(format!(
                    "a file stands where its folder {} goes",
                    place.display()
                )),
            )
        };
        if up.fresh {
            let at = up.at.join(name);
            match std::fs::create_dir(&at) {
                Ok(()) => {}
                // Nothing but this build writes in a folder it made: a
                // folder there is one another thread made a moment ago.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    match std::fs::symlink_metadata(&at) {
                        Ok(m) if m.is_dir() => {}
                        _ => return Err(a_file_is_there(&place())),
                    }
                }
                Err(e) => return Err(FsError::new(&place(), FsAction::Create, e)),
            }
            lock(&self.folders).insert(dir.to_owned(), Known::Inside);
            return Ok(Folder { at, fresh: true });
        }
        let place = place();
        let there = match std::fs::symlink_metadata(&place) {
            Ok(m) if m.file_type().is_symlink() => return Err(link_error(&place)),
            Ok(m) if m.is_dir() => true,
            Ok(_) => return Err(a_file_is_there(&place)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
            Err(e) => return Err(FsError::new(&place, FsAction::Create, e)),
        };
        let mut known = lock(&self.folders);
        if there {
            known.insert(dir.to_owned(), Known::There);
            return Ok(Folder {
                at: place,
                fresh: false,
            });
        }
        // Two threads may both have found it missing: the folder is made
        // (under a name of its own) once, by whichever takes the lock
        // first.
        if known.contains_key(dir) {
            return Ok(self.resolve(&known, dir));
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix(".broadsheet-").suffix(".tmp");
        // A published folder's usual permissions (as `create_dir_all`
        // gives), not the 0700 of a temporary one.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o777));
        }
        let tmp = builder
            .tempdir_in(&up.at)
            .map_err(FsError::at(&place, FsAction::Create))?;
        let at = tmp.path().to_owned();
        lock(&self.new_folders).push((tmp, place));
        known.insert(dir.to_owned(), Known::Made(at.clone()));
        Ok(Folder { at, fresh: true })
    }

    /// Where the files of `dir`, a folder looked at already (or `""`),
    /// go.
    fn resolve(&self, known: &HashMap<String, Known>, dir: &str) -> Folder {
        match known.get(dir) {
            Some(Known::Made(at)) => Folder {
                at: at.clone(),
                fresh: true,
            },
            Some(Known::Inside) => {
                let (parent, name) = dir.rsplit_once('/').unwrap_or(("", dir));
                Folder {
                    at: self.resolve(known, parent).at.join(name),
                    fresh: true,
                }
            }
            Some(Known::There) | None => Folder {
                at: self.output_dir.join(dir),
                fresh: false,
            },
        }
    }

    /// The second step: every staged file and new folder renamed into
    /// place, the previous build's files this one did not produce removed,
    /// and the manifest written with `inputs` and each feed's digest
    /// (`feeds`, by folder). `changed` in the report is sorted.
    pub fn commit(
        self,
        inputs: InputStamp,
        feeds: BTreeMap<String, String>,
    ) -> Result<WriteReport, FsError> {
        use rayon::prelude::*;
        let Staging {
            output_dir,
            previous,
            folders: _,
            new_folders,
            files,
            mistake,
            list_changed,
            made_output_dir,
        } = self;
        made_output_dir.keep();
        if let Some(m) = mistake
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            return Err(m);
        }
        let files = files
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let new_folders = new_folders
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A rename needs no space and replaces its target atomically. On an
        // error the temporary files and folders not yet renamed are
        // dropped, and each removes itself.
        // Done in place, in the map: at a million articles a list of its
        // 372,000 files is 24 MB more at the moment a build's memory peaks.
        // A file renamed is `Fresh` after, with its stamp then: both are
        // files this build wrote.
        let mut files = files;
        files.par_iter_mut().try_for_each(|(path, staged)| {
            if matches!(staged, Staged::Replaced(_)) {
                let written = Staged::Fresh(FileStat::default());
                if let Staged::Replaced(tmp) = std::mem::replace(staged, written) {
                    let place = output_dir.join(path);
                    fsio::persist(tmp, &place)?;
                    // A rename changes the file's ctime: looked at after.
                    *staged = Staged::Fresh(stamp_of(&place).unwrap_or_default());
                }
            }
            Ok::<(), FsError>(())
        })?;
        // A file's stamp does not change when a folder above it is renamed.
        new_folders
            .into_par_iter()
            .try_for_each(|(mut tmp, place)| {
                std::fs::rename(tmp.path(), &place)
                    .map_err(FsError::at(&place, FsAction::Create))?;
                // Renamed: nothing left to remove.
                tmp.disable_cleanup(true);
                Ok::<(), FsError>(())
            })?;
        let mut report = WriteReport::default();
        for (path, staged) in files.iter() {
            if matches!(staged, Staged::Fresh(_)) {
                report.written += 1;
                if list_changed {
                    report.changed.push(path.clone());
                }
            } else {
                report.unchanged += 1;
            }
        }
        for old in &previous {
            if files.contains_key(old) {
                continue;
            }
            let path = output_dir.join(old);
            if through_a_link(&output_dir, &path) {
                tracing::warn!(
                    "{}: not removed, since a folder on the way is a symbolic link",
                    path.display()
                );
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    report.removed += 1;
                    // Folders left empty go too; one holding anything else stays.
                    let mut dir = path.parent();
                    while let Some(d) = dir.filter(|d| *d != output_dir) {
                        if std::fs::remove_dir(d).is_err() {
                            break;
                        }
                        dir = d.parent();
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(FsError::new(&path, FsAction::Remove, e)),
            }
        }
        let stamps = files.iter().map(|(path, staged)| {
            let stamp = match staged {
                Staged::Fresh(s) | Staged::Unchanged(s) | Staged::Kept(s) => *s,
                // All renamed above.
                Staged::Replaced(_) => FileStat::default(),
            };
            (path.as_str(), stamp)
        });
        fsio::write_if_changed_with(&output_dir.join(MANIFEST), &mut |out| {
            encode_into(stamps.clone(), Some(&inputs), &feeds, out)
        })?;
        // The JSON manifest of an earlier version, read at the start if
        // there was no other: the one just written replaces it.
        match std::fs::remove_file(output_dir.join(OLD_MANIFEST)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(FsError::new(
                    &output_dir.join(OLD_MANIFEST),
                    FsAction::Remove,
                    e,
                ))
            }
            _ => {}
        }
        Ok(report)
    }
}

/// The file `target` written at `at`, in a folder the build makes, where
/// nothing else can be: errors name the place it goes.
fn fresh_file(
    target: &Path,
    at: &Path,
    write: &mut fsio::WriteWith<'_>,
) -> Result<Staged, FsError> {
    let meta = fsio::create_written_with(at, write).map_err(|e| FsError {
        path: target.to_owned(),
        ..e
    })?;
    Ok(Staged::Fresh(FileStat::of(&meta)))
}

/// The error for a path that is not one a build writes.
fn not_an_output(path: &Path) -> FsError {
    FsError::new(
        path,
        FsAction::Write,
        std::io::Error::other("not the path of a file broadsheet writes"),
    )
}

/// The error for a file a build produces twice.
fn twice(path: &Path) -> FsError {
    FsError::new(
        path,
        FsAction::Write,
        std::io::Error::other("the build produced this file twice"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `files` under `output_dir` through a [`Staging`], as a build does, skipping unchanged ones, removing
    /// what the previous build wrote (`previous`, read at its start) and this
    /// one did not, and records the result with `inputs` in the manifest.
    fn write_all(
        output_dir: &Path,
        files: &[OutputFile],
        inputs: InputStamp,
        previous: &Manifest,
    ) -> Result<WriteReport, FsError> {
        use rayon::prelude::*;
        let staging = Staging::begin(output_dir, previous)?;
        files
            .par_iter()
            .try_for_each(|f| staging.stage(&f.path, &f.bytes))?;
        staging.commit(inputs, BTreeMap::new())
    }

    #[test]
    fn only_paths_a_build_writes_are_taken_from_a_manifest() {
        for ok in [
            "index.html",
            "index.opml",
            "authors.opml",
            "ai/rss.xml",
            "all/feed.json",
            "city/index.html",
            "authors/陳大文/atom.xml",
        ] {
            assert!(is_output_path(ok), "{ok}");
        }
        for bad in [
            "../broadsheet.db",
            "/etc/passwd",
            "ai/../../config.toml",
            "./index.html",
            ".broadsheet-manifest.json",
            "ai/.rss.xml",
            "ai/notes.txt",
            "config.toml",
            "digests/2026-W25/index.html",
            "authors/rss.xml",
            "authors/a/b/rss.xml",
            "ai//rss.xml",
            "ai\\..\\rss.xml",
            "C:/x/rss.xml",
            "",
        ] {
            assert!(!is_output_path(bad), "{bad}");
        }
    }

    /// Every entry under `dir`, hidden ones too, with a file's bytes.
    fn tree(dir: &Path) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        let mut todo = vec![dir.to_owned()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                if p.is_dir() {
                    todo.push(p);
                    out.insert(rel, None);
                } else {
                    out.insert(
                        rel,
                        Some(String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned()),
                    );
                }
            }
        }
        out
    }

    fn file(path: &str, text: &str) -> OutputFile {
        OutputFile::new(path.to_owned(), text.as_bytes().to_vec())
    }

    fn stamp(inputs: &str) -> InputStamp {
        InputStamp {
            fingerprint: inputs.to_owned(),
            ..InputStamp::default()
        }
    }

    #[test]
    fn staging_from_many_threads_gives_what_staging_one_at_a_time_gives() {
        use rayon::prelude::*;
        let before = vec![
            file("index.html", "<html>1</html>"),
            file("ai/rss.xml", "<rss>1</rss>"),
            file("ai/atom.xml", "<feed/>"),
            file("gone/rss.xml", "<rss>old</rss>"),
        ];
        let mut after = vec![
            file("index.html", "<html>2</html>"),
            file("ai/rss.xml", "<rss>1</rss>"),
            file("ai/atom.xml", "<feed>2</feed>"),
            file("all/rss.xml", "<rss>all</rss>"),
        ];
        for i in 0..200 {
            for f in ["rss.xml", "atom.xml", "feed.json"] {
                after.push(file(
                    &format!("authors/作者{i:03}/{f}"),
                    &format!("{i} {f}"),
                ));
            }
        }
        // Given in an order that is not the sorted one.
        after.reverse();
        let mut results = Vec::new();
        for parallel in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("feeds");
            write_all(&out, &before, stamp("1"), &Manifest::default()).unwrap();
            let previous = Manifest::read(&out);
            let staging = Staging::begin(&out, &previous).unwrap().list_changed();
            if parallel {
                after
                    .par_iter()
                    .try_for_each(|f| staging.stage(&f.path, &f.bytes))
                    .unwrap();
            } else {
                for f in &after {
                    staging.stage(&f.path, &f.bytes).unwrap();
                }
            }
            let report = staging.commit(stamp("2"), BTreeMap::new()).unwrap();
            let manifest = Manifest::read(&out);
            assert!(manifest.files_intact(&out));
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = |p: &str| std::fs::metadata(out.join(p)).unwrap().permissions().mode();
                assert_eq!(mode("authors/作者007/rss.xml") & 0o777, 0o644);
                assert_eq!(mode("index.html") & 0o777, 0o644);
                assert_eq!(mode("authors") & 0o700, 0o700);
            }
            let files: Vec<String> = manifest.files.keys().cloned().collect();
            // The manifest holds each file's inode and times: not compared.
            let mut tree = tree(&out);
            assert!(tree.remove(MANIFEST).is_some());
            results.push((report, files, tree, dir));
        }
        let (par, seq) = (&results[0], &results[1]);
        assert_eq!(par.0, seq.0);
        assert_eq!(par.1, seq.1);
        assert_eq!(par.2, seq.2);
        let mut changed: Vec<String> = after
            .iter()
            .filter(|f| f.path != "ai/rss.xml")
            .map(|f| f.path.clone())
            .collect();
        changed.sort();
        assert_eq!(par.0.changed, changed, "sorted, whatever the order given");
        assert_eq!((par.0.written, par.0.unchanged, par.0.removed), (603, 1, 1));
        assert!(
            !par.2.keys().any(|p| p.contains(".broadsheet-")),
            "{:?}",
            par.2.keys()
        );
        assert!(!par.2.contains_key("gone"), "an emptied folder goes");
    }

    #[test]
    fn two_threads_making_the_same_new_folders_at_once_each_write_their_files() {
        // Each thread writes one file in each of the same folders, in the
        // same order: both find `authors` missing, and then, folder after
        // folder, both want the same one made at the same moment.
        for round in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("feeds");
            let staging = Staging::begin(&out, &Manifest::default()).unwrap();
            let start = std::sync::Barrier::new(2);
            std::thread::scope(|s| {
                for name in ["rss.xml", "atom.xml"] {
                    let (staging, start) = (&staging, &start);
                    s.spawn(move || {
                        start.wait();
                        for i in 0..300 {
                            let path = format!("authors/作者{i:03}/{name}");
                            staging.stage(&path, path.as_bytes()).unwrap();
                        }
                    });
                }
            });
            let report = staging.commit(stamp("1"), BTreeMap::new()).unwrap();
            assert_eq!(report.written, 600, "round {round}");
            for i in 0..300 {
                for name in ["rss.xml", "atom.xml"] {
                    let path = format!("authors/作者{i:03}/{name}");
                    assert_eq!(std::fs::read_to_string(out.join(&path)).unwrap(), path);
                }
            }
            let left: Vec<String> = tree(dir.path())
                .into_keys()
                .filter(|p| p.ends_with(".tmp"))
                .collect();
            assert!(left.is_empty(), "round {round}: {left:?}");
        }
    }

    #[test]
    fn an_error_part_way_leaves_no_temporary_file_and_the_previous_files_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("feeds");
        let before = [
            file("ai/rss.xml", "<rss>1</rss>"),
            file("ai/atom.xml", "<feed>1</feed>"),
            file("all/rss.xml", "<rss>all</rss>"),
        ];
        write_all(&out, &before, stamp("1"), &Manifest::default()).unwrap();
        std::fs::remove_file(out.join("ai/atom.xml")).unwrap();
        std::fs::create_dir_all(out.join("ai/atom.xml/x")).unwrap();
        let previous = Manifest::read(&out);
        let was = tree(&out);
        {
            let staging = Staging::begin(&out, &previous).unwrap();
            staging.stage("ai/rss.xml", b"<rss>2</rss>").unwrap();
            staging.stage("authors/a/rss.xml", b"<rss>a</rss>").unwrap();
            staging.stage("city/rss.xml", b"<rss>city</rss>").unwrap();
            let e = staging.stage("ai/atom.xml", b"<feed>2</feed>").unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "{}: cannot write: a folder is where this file goes",
                    out.join("ai/atom.xml").display()
                )
            );
            assert_ne!(tree(&out), was, "staged files are on disk until dropped");
        }
        assert_eq!(tree(&out), was);
    }

    #[test]
    fn a_file_where_a_new_folder_goes_fails_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("feeds");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("city"), "not a folder").unwrap();
        let was = tree(&out);
        let staging = Staging::begin(&out, &Manifest::default()).unwrap();
        staging.stage("authors/a/rss.xml", b"<rss/>").unwrap();
        let e = staging.stage("city/rss.xml", b"<rss/>").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: cannot write: a file stands where its folder {} goes",
                out.join("city/rss.xml").display(),
                out.join("city").display()
            )
        );
        drop(staging);
        assert_eq!(tree(&out), was);
    }

    #[test]
    fn a_kept_file_stays_as_it_is_with_its_stamp_in_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("feeds");
        let before = [
            file("ai/rss.xml", "<rss>1</rss>"),
            file("ai/atom.xml", "<feed>1</feed>"),
        ];
        write_all(&out, &before, stamp("1"), &Manifest::default()).unwrap();
        let previous = Manifest::read(&out);
        let staging = Staging::begin(&out, &previous).unwrap().list_changed();
        staging.keep("ai/rss.xml");
        staging.stage("ai/atom.xml", b"<feed>2</feed>").unwrap();
        let report = staging.commit(stamp("2"), BTreeMap::new()).unwrap();
        assert_eq!(
            (report.written, report.unchanged, report.removed),
            (1, 1, 0)
        );
        assert_eq!(report.changed, ["ai/atom.xml"]);
        assert_eq!(
            std::fs::read(out.join("ai/rss.xml")).unwrap(),
            b"<rss>1</rss>"
        );
        let manifest = Manifest::read(&out);
        assert_eq!(
            manifest.files.get("ai/rss.xml"),
            stamp_of(&out.join("ai/rss.xml")).as_ref()
        );
        assert_eq!(
            manifest.files.get("ai/rss.xml"),
            previous.files.get("ai/rss.xml")
        );
    }

    #[test]
    fn keeping_a_path_no_build_writes_fails_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("feeds");
        let staging = Staging::begin(&out, &Manifest::default()).unwrap();
        staging.keep("../broadsheet.db");
        let e = staging.commit(stamp("1"), BTreeMap::new()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}: cannot write: not the path of a file broadsheet writes",
                out.join("../broadsheet.db").display()
            )
        );
    }

    #[test]
    fn a_file_staged_as_it_is_written_is_compared_with_the_one_there_and_kept_when_the_same() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("feeds");
        // Larger than the piece compared at a time, with the one byte that
        // differs in the last piece.
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut other = big.clone();
        *other.last_mut().unwrap() ^= 1;
        let write = |bytes: &[u8]| {
            let bytes = bytes.to_vec();
            move |w: &mut dyn Write| {
                // In pieces, as a writer of outlines gives them.
                bytes.chunks(1000).try_for_each(|c| w.write_all(c))
            }
        };
        let commit = |bytes: &[u8]| {
            let previous = Manifest::read(&out);
            let staging = Staging::begin(&out, &previous).unwrap();
            staging
                .stage_with("authors.opml", &mut write(bytes))
                .unwrap();
            staging.stage_with("ai/rss.xml", &mut write(b"x")).unwrap();
            staging.commit(stamp("1"), BTreeMap::new()).unwrap()
        };
        let first = commit(&big);
        assert_eq!((first.written, first.unchanged), (2, 0));
        assert_eq!(std::fs::read(out.join("authors.opml")).unwrap(), big);
        assert_eq!(std::fs::read(out.join("ai/rss.xml")).unwrap(), b"x");
        let again = commit(&big);
        assert_eq!((again.written, again.unchanged), (0, 2));
        let changed = commit(&other);
        assert_eq!((changed.written, changed.unchanged), (1, 1));
        assert_eq!(std::fs::read(out.join("authors.opml")).unwrap(), other);
        let shorter = commit(&other[..other.len() - 1]);
        assert_eq!(shorter.written, 1);
        // No temporary file is left beside them.
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [MANIFEST, "ai", "authors.opml"]);
    }

    #[test]
    fn a_feed_is_current_only_from_the_same_digest_with_its_files_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("feeds");
        let staging = Staging::begin(&out, &Manifest::default()).unwrap();
        staging.stage("ai/rss.xml", b"<rss/>").unwrap();
        staging.stage("ai/atom.xml", b"<feed/>").unwrap();
        let feeds = BTreeMap::from([("ai".to_owned(), "d1".to_owned())]);
        staging.commit(stamp("1"), feeds).unwrap();
        let m = Manifest::read(&out);
        let files = ["ai/rss.xml", "ai/atom.xml"];
        assert!(m.feed_is_current("ai", "d1", &files, &out));
        assert!(
            !m.feed_is_current("ai", "d2", &files, &out),
            "another digest"
        );
        assert!(
            !m.feed_is_current("city", "d1", &files, &out),
            "another feed"
        );
        assert!(
            !m.feed_is_current("ai", "d1", &["ai/rss.xml", "ai/feed.json"], &out),
            "a file the build did not write"
        );
        std::fs::write(out.join("ai/atom.xml"), "<feed>edited by hand</feed>").unwrap();
        assert!(
            !m.feed_is_current("ai", "d1", &files, &out),
            "a file edited by hand"
        );
        assert!(m.feed_is_current("ai", "d1", &["ai/rss.xml"], &out));
        std::fs::remove_file(out.join("ai/rss.xml")).unwrap();
        assert!(
            !m.feed_is_current("ai", "d1", &["ai/rss.xml"], &out),
            "a file removed"
        );
    }

    #[test]
    fn a_check_of_the_files_finds_those_edited_or_removed_and_answers_for_them() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("feeds");
        let staging = Staging::begin(&out, &Manifest::default()).unwrap();
        for f in ["ai/rss.xml", "ai/atom.xml", "city/rss.xml", "all/rss.xml"] {
            staging.stage(f, b"<rss/>").unwrap();
        }
        let feeds = BTreeMap::from([
            ("ai".to_owned(), "d1".to_owned()),
            ("city".to_owned(), "d2".to_owned()),
            ("all".to_owned(), "d3".to_owned()),
        ]);
        staging.commit(stamp("1"), feeds).unwrap();
        let mut m = Manifest::read(&out);
        m.check_files(&out);
        assert!(m.files_intact(&out));
        assert_eq!(m.not_as_written, Some(BTreeSet::new()));
        std::fs::write(out.join("ai/atom.xml"), "<feed>edited by hand</feed>").unwrap();
        std::fs::remove_file(out.join("city/rss.xml")).unwrap();
        let mut m = Manifest::read(&out);
        m.check_files(&out);
        assert!(!m.files_intact(&out));
        let changed: Vec<&str> = m
            .not_as_written
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        assert_eq!(changed, ["ai/atom.xml", "city/rss.xml"]);
        assert!(!m.feed_is_current("ai", "d1", &["ai/rss.xml", "ai/atom.xml"], &out));
        assert!(!m.feed_is_current("city", "d2", &["city/rss.xml"], &out));
        assert!(m.feed_is_current("all", "d3", &["all/rss.xml"], &out));
        // What the check found is the answer: a file put right after it
        // is still one the build makes again.
        std::fs::write(out.join("city/rss.xml"), "<rss/>").unwrap();
        assert!(!m.feed_is_current("city", "d2", &["city/rss.xml"], &out));
    }

    #[test]
    fn a_manifest_reads_back_as_written_and_anything_else_reads_as_none() {
        let stat = |n: u64| FileStat {
            len: n,
            mtime_ns: n << 40,
            ctime_ns: (n << 40) + 7,
            ino: n.wrapping_mul(3),
        };
        let problem = crate::diagnostic::Diagnostic::new("content/ai/x.md", "無效").at(3);
        let m = Manifest {
            files: BTreeMap::from([
                ("ai/rss.xml".to_owned(), stat(1)),
                ("authors/陳大文/atom.xml".to_owned(), stat(u64::MAX >> 1)),
            ]),
            inputs: Some(InputStamp {
                fingerprint: "f".repeat(64),
                valid_from: Some("2026-11-20T07:00:00+08:00".to_owned()),
                valid_until: None,
                counts: [5, 1, 0],
                left_out: LeftOut {
                    problems: vec![problem],
                    kept_earlier: vec!["content/ai/x.md".to_owned()],
                },
            }),
            feeds: BTreeMap::from([("ai".to_owned(), "d".repeat(64))]),
            not_as_written: None,
        };
        let bytes = m.to_bytes();
        assert_eq!(Manifest::from_bytes(&bytes), Some(m.clone()));
        // Written from the maps, the bytes are those the lists gave (so a
        // manifest written before that still reads).
        let i = m.inputs.as_ref().unwrap();
        let as_lists = Stored {
            files: m.files.iter().map(|(p, s)| (p.as_str(), *s)).collect(),
            inputs: Some(StoredInputs {
                fingerprint: &i.fingerprint,
                valid_from: i.valid_from.as_deref(),
                valid_until: i.valid_until.as_deref(),
                counts: i.counts.map(|n| n as u64),
                left_out: serde_json::to_string(&i.left_out).unwrap(),
            }),
            feeds: m
                .feeds
                .iter()
                .map(|(d, h)| (d.as_str(), h.as_str()))
                .collect(),
        };
        assert_eq!(
            bytes[MANIFEST_MAGIC.len() + 4..],
            postcard::to_allocvec(&as_lists).unwrap()[..]
        );
        let bare = Manifest::default();
        assert_eq!(Manifest::from_bytes(&bare.to_bytes()), Some(bare));
        for cut in [0, 4, 12, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(Manifest::from_bytes(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Manifest::from_bytes(&longer), None);
        let mut other_format = bytes.clone();
        other_format[8] += 1;
        assert_eq!(Manifest::from_bytes(&other_format), None);
        assert_eq!(Manifest::from_bytes(&serde_json::to_vec(&m).unwrap()), None);
    }

    #[test]
    fn with_no_manifest_the_json_one_of_earlier_versions_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("feeds");
        write_all(
            &out,
            &[file("ai/rss.xml", "<rss/>")],
            stamp("1"),
            &Manifest::default(),
        )
        .unwrap();
        let m = Manifest::read(&out);
        assert_eq!(m.files.len(), 1);
        std::fs::write(out.join(OLD_MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
        std::fs::remove_file(out.join(MANIFEST)).unwrap();
        assert_eq!(Manifest::read(&out), m);
        // Once a build wrote its own, the JSON one is gone, and would not
        // be read beside it anyway.
        let previous = Manifest::read(&out);
        write_all(
            &out,
            &[file("city/rss.xml", "<rss/>")],
            stamp("2"),
            &previous,
        )
        .unwrap();
        assert!(!out.join(OLD_MANIFEST).exists());
        let files: Vec<String> = Manifest::read(&out).files.into_keys().collect();
        assert_eq!(files, ["city/rss.xml"]);
        assert!(
            !out.join("ai/rss.xml").exists(),
            "removed, as the JSON one listed it"
        );
    }

    #[test]
    fn a_manifest_feed_outside_the_feed_folders_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let feeds: BTreeMap<String, String> = [
            "../x",
            "ai",
            "all",
            "authors",
            "authors/陳大文",
            "authors/../../x",
            ".hidden",
            "/etc",
            "digests",
            "",
        ]
        .iter()
        .map(|k| ((*k).to_owned(), "d".to_owned()))
        .collect();
        let m = Manifest {
            feeds,
            ..Manifest::default()
        };
        std::fs::write(dir.path().join(MANIFEST), m.to_bytes()).unwrap();
        let read = Manifest::read(dir.path());
        let kept: Vec<&str> = read.feeds.keys().map(String::as_str).collect();
        assert_eq!(kept, ["ai", "all", "authors/陳大文"]);
    }
}
