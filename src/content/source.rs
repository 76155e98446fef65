//! Finding content files and reading their parts.
//!
//! A build reads every file's front matter but only the bodies that some
//! output carries: with 100,000 articles and 50-item feeds, most bodies are
//! never needed, and reading them would cost more than the whole build.

use super::ContentError;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Articles larger than this are refused: no opinion piece comes near it,
/// and a runaway file must not exhaust memory.
pub const MAX_ARTICLE_BYTES: u64 = 4 * 1024 * 1024;

/// A Markdown file found under `content_dir`. Small, as an archive of a
/// million files holds a million of these: its name once, as messages show
/// it; the rest (where it is on disk, its column folder, its default slug)
/// is worked out from that name when it is asked for.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path relative to the configuration's folder, for messages.
    pub display: String,
    /// Where, in `display`, the path under `content_dir` starts.
    relative_at: u32,
    /// Whether `at` is the file itself, read instead of the one `display`
    /// names (the last good version of an invalid article, kept
    /// elsewhere), rather than `content_dir`.
    elsewhere: bool,
    /// `content_dir`, shared by every file of a walk; or the file itself.
    /// One field for both: a million of these are held at once.
    at: Arc<Path>,
    /// Its size and mtime, when the walk asked for them (see [`discover`]);
    /// otherwise they are read from the open file.
    pub stat: Option<FileStat>,
}

impl SourceFile {
    /// The file at `path`, by itself (no walk found it, so it has no column
    /// folder).
    pub(crate) fn alone(path: &Path) -> SourceFile {
        SourceFile {
            display: path.to_string_lossy().into_owned(),
            relative_at: 0,
            elsewhere: true,
            at: Arc::from(path),
            stat: None,
        }
    }

    /// This file, read from `path` instead, with its stat read from there.
    pub(crate) fn read_from(&self, path: PathBuf) -> SourceFile {
        SourceFile {
            elsewhere: true,
            at: Arc::from(path),
            stat: None,
            ..self.clone()
        }
    }

    /// Whether it is read from somewhere other than `content_dir`.
    pub(crate) fn is_elsewhere(&self) -> bool {
        self.elsewhere
    }

    /// The file on disk.
    pub fn path(&self) -> PathBuf {
        match self.elsewhere {
            true => self.at.to_path_buf(),
            false => self.at.join(self.relative()),
        }
    }

    /// The path under `content_dir`, with `/` separators.
    fn relative(&self) -> &str {
        self.display.get(self.relative_at as usize..).unwrap_or("")
    }

    /// The first folder under `content_dir`, when the file sits in one.
    pub fn column_dir(&self) -> Option<&str> {
        self.relative().split_once('/').map(|(column, _)| column)
    }

    /// The default slug: the file name without `.md` (or `.markdown`), or
    /// the folder's name for an `index.md`.
    pub fn default_slug(&self) -> &str {
        let shown = self.relative();
        let stem = shown
            .strip_suffix(".md")
            .or_else(|| shown.strip_suffix(".markdown"))
            .unwrap_or(shown);
        let name = stem.rsplit('/').next().unwrap_or(stem);
        if name != "index" {
            return name;
        }
        // A page bundle: the folder names the article.
        let parent = &stem[..stem.len() - name.len()];
        match parent.trim_end_matches('/').rsplit('/').next() {
            Some(folder) if !folder.is_empty() => folder,
            _ => name,
        }
    }

    /// A date the name starts with, as Jekyll and Zola name posts
    /// (`2013-05-06-title.md`, `2016-10-08_title.md`), with the rest of the
    /// name: the article's date and slug when its front matter has none.
    pub fn name_date(&self) -> Option<(chrono::NaiveDate, &str)> {
        name_date(self.default_slug())
    }
}

/// A file's size, modification and change times and inode number: what a
/// build compares to tell whether a content file, or a feed it wrote,
/// changed. The mtime alone misses an edit that keeps it (`cp -p`,
/// `rsync -t`, `touch -r`); the ctime cannot be set back by anyone, and a
/// file replaced by a rename has a new inode. All come from the one
/// metadata call a file costs anyway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStat {
    /// Size in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the epoch (0 if unknown):
    /// 64 bits last until 2554, and keep the stat of a million files 32
    /// megabytes smaller than 128 would.
    pub mtime_ns: u64,
    /// Status change time, nanoseconds since the epoch (0 if unknown).
    /// Absent from manifests older than it: they read as 0, which matches
    /// no file, so the first build after an upgrade rebuilds once.
    #[serde(default)]
    pub ctime_ns: u64,
    /// The inode number.
    #[serde(default)]
    pub ino: u64,
}

impl FileStat {
    /// What `meta` gives (a time before 1970 or unknown counts as 0).
    pub fn of(meta: &std::fs::Metadata) -> FileStat {
        use std::os::unix::fs::MetadataExt;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .unwrap_or(0);
        let ctime_ns = u64::try_from(meta.ctime())
            .ok()
            .zip(u64::try_from(meta.ctime_nsec()).ok())
            .and_then(|(s, ns)| s.checked_mul(1_000_000_000)?.checked_add(ns))
            .unwrap_or(0);
        FileStat {
            len: meta.len(),
            mtime_ns,
            ctime_ns,
            ino: meta.ino(),
        }
    }

    /// The stat as bytes, for a fingerprint.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&self.len.to_le_bytes());
        out[8..16].copy_from_slice(&self.mtime_ns.to_le_bytes());
        out[16..24].copy_from_slice(&self.ctime_ns.to_le_bytes());
        out[24..].copy_from_slice(&self.ino.to_le_bytes());
        out
    }
}

/// Walks `content_dir`: every `.md` or `.markdown` file but a section's
/// `_index.md`, sorted by path. Hidden files and
/// folders (a leading `.`) and Jekyll's `_drafts` are skipped; symlinks are followed and loops
/// reported. A symlink that leads outside `content_dir` is reported and not
/// followed unless `follow_external` is set (`site.follow_external_symlinks`):
/// whoever can write the content folder must not be able to publish any
/// file the build can read. The folders under `content_dir` are walked in parallel: on a
/// large archive, asking the file system for each file's size and mtime is
/// most of the cost of a build that finds nothing changed.
///
/// With `stat_files` false, Markdown files are taken from the folder
/// listing alone, and their size and mtime are read when they are opened:
/// a build with no earlier output to compare with saves a lookup per file.
pub(super) fn discover(
    content_dir: &Path,
    display: &(dyn Fn(&Path) -> String + Sync),
    stat_files: bool,
    follow_external: bool,
) -> (Vec<SourceFile>, Vec<ContentError>) {
    use rayon::prelude::*;
    if !content_dir.is_dir() {
        let e = ContentError::new(
            &display(content_dir),
            "the content folder does not exist (site.content_dir)",
        );
        return (Vec::new(), vec![e]);
    }
    let top = match std::fs::read_dir(content_dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_symlink())))
            .filter(|(p, _)| !hidden(p))
            .collect::<Vec<_>>(),
        Err(e) => {
            let e = ContentError::new(&display(content_dir), format!("cannot read: {e}"));
            return (Vec::new(), vec![e]);
        }
    };
    let root = content_dir
        .canonicalize()
        .unwrap_or_else(|_| content_dir.to_owned());
    let shared_root: Arc<Path> = Arc::from(content_dir);
    // Each walk sorts what it found, by the relative path as text (comparing
    // `Path`s component by component costs more than the walk itself on a
    // large archive). Two walks' paths differ within the name of the entry
    // each started from, so putting whole walks in order by their first
    // path sorts everything.
    let mut walks: Vec<(Vec<SourceFile>, Vec<ContentError>)> = top
        .par_iter()
        .map(|(start, link)| {
            let options = WalkOptions {
                shared_root: shared_root.clone(),
                stat_files,
                follow_external,
            };
            let (mut files, errors) = walk(content_dir, &root, start, *link, display, options);
            files.sort_unstable_by(|a, b| a.display.cmp(&b.display));
            (files, errors)
        })
        .collect();
    fn first(files: &[SourceFile]) -> Option<&str> {
        files.first().map(|f| f.display.as_str())
    }
    walks.sort_unstable_by(|(a, _), (b, _)| first(a).cmp(&first(b)));
    let mut files = Vec::with_capacity(walks.iter().map(|(f, _)| f.len()).sum());
    let mut errors = Vec::new();
    for (f, e) in walks {
        files.extend(f);
        errors.extend(e);
    }
    (files, errors)
}

fn hidden(p: &Path) -> bool {
    p.file_name().is_some_and(|n| skipped(&n.to_string_lossy()))
}

/// Names the walk passes over: hidden ones (a leading `.`), and Jekyll's
/// `_drafts` folder, whose posts Jekyll never publishes either.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name == "_drafts"
}

/// A folder on the way down, for finding symlink loops.
struct Ancestor {
    dev: u64,
    ino: u64,
    path: PathBuf,
}

/// Walks one entry of `content_dir` (a file or a folder, perhaps through a
/// symlink).
///
/// Written on `std::fs::read_dir` rather than walkdir: a `DirEntry`'s
/// metadata comes from `fstatat` on the open folder, where walkdir asks for
/// each file by its full path, which on an archive of 100,000 files is
/// most of the time a build with nothing to do takes. Paths for messages
/// are built up as text on the way down for the same reason.
fn walk(
    content_dir: &Path,
    root: &Path,
    start: &Path,
    start_is_link: bool,
    display: &(dyn Fn(&Path) -> String + Sync),
    options: WalkOptions,
) -> (Vec<SourceFile>, Vec<ContentError>) {
    use std::os::unix::fs::MetadataExt;
    let mut walker = Walker {
        content_dir,
        shared_root: options.shared_root.clone(),
        root,
        display,
        stat_files: options.stat_files,
        follow_external: options.follow_external,
        stack: Vec::new(),
        files: Vec::new(),
        errors: Vec::new(),
    };
    if let Ok(m) = std::fs::metadata(root) {
        walker.stack.push(Ancestor {
            dev: m.dev(),
            ino: m.ino(),
            path: content_dir.to_owned(),
        });
    }
    let shown = display(start);
    match std::fs::metadata(start) {
        Ok(meta) => {
            if !(start_is_link && walker.leads_out(start, &shown, &meta)) {
                walker.visit(start, shown, meta);
            }
        }
        Err(e) => walker
            .errors
            .push(ContentError::new(&shown, format!("cannot read: {e}"))),
    }
    (walker.files, walker.errors)
}

/// What a walk is asked to do, besides where.
#[derive(Clone)]
struct WalkOptions {
    shared_root: Arc<Path>,
    stat_files: bool,
    follow_external: bool,
}

struct Walker<'a> {
    content_dir: &'a Path,
    /// `content_dir`, for each file found to share.
    shared_root: Arc<Path>,
    /// `content_dir` with every link resolved.
    root: &'a Path,
    display: &'a (dyn Fn(&Path) -> String + Sync),
    stat_files: bool,
    follow_external: bool,
    stack: Vec<Ancestor>,
    files: Vec<SourceFile>,
    errors: Vec<ContentError>,
}

impl Walker<'_> {
    fn visit(&mut self, path: &Path, shown: String, meta: std::fs::Metadata) {
        use std::os::unix::fs::MetadataExt;
        if meta.is_file() {
            self.file(path, shown, Some(FileStat::of(&meta)));
            return;
        }
        if !meta.is_dir() {
            return;
        }
        if let Some(a) = self
            .stack
            .iter()
            .find(|a| a.dev == meta.dev() && a.ino == meta.ino())
        {
            let message = format!(
                "symlink loop: this folder leads back to {}; the loop is skipped",
                (self.display)(&a.path)
            );
            self.errors.push(ContentError::new(&shown, message));
            return;
        }
        let entries = match std::fs::read_dir(path) {
            Ok(rd) => rd,
            Err(e) => {
                self.errors
                    .push(ContentError::new(&shown, format!("cannot read: {e}")));
                return;
            }
        };
        self.stack.push(Ancestor {
            dev: meta.dev(),
            ino: meta.ino(),
            path: path.to_owned(),
        });
        // Where the path under content_dir starts in the names shown of
        // this folder's files, found once for all of them: their names
        // add the same `/{name}` to the folder's path and to its name shown.
        let files_at = self.relative_at(path, &shown);
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.errors
                        .push(ContentError::new(&shown, format!("cannot read: {e}")));
                    continue;
                }
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if skipped(&name) {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            // Files need their size and mtime; only Markdown files are looked at.
            if kind.is_file() && !is_article_name(&name) {
                continue;
            }
            let child_shown = format!("{shown}/{name}");
            if kind.is_file() {
                // The common case, a hundred thousand times on an archive:
                // no path made, the stat asked of the open folder.
                let stat = match self.stat_files {
                    false => None,
                    true => match entry.metadata() {
                        Ok(m) => Some(FileStat::of(&m)),
                        Err(e) => {
                            let e = ContentError::new(&child_shown, format!("cannot read: {e}"));
                            self.errors.push(e);
                            continue;
                        }
                    },
                };
                match files_at {
                    Some(relative_at) => self.files.push(SourceFile {
                        display: child_shown,
                        relative_at,
                        elsewhere: false,
                        at: self.shared_root.clone(),
                        stat,
                    }),
                    None => self.file(&entry.path(), child_shown, stat),
                }
                continue;
            }
            let child = entry.path();
            let meta = if kind.is_symlink() {
                std::fs::metadata(&child)
            } else {
                entry.metadata()
            };
            match meta {
                Ok(m) if kind.is_symlink() && self.leads_out(&child, &child_shown, &m) => {}
                Ok(m) => self.visit(&child, child_shown, m),
                Err(e) => self
                    .errors
                    .push(ContentError::new(&child_shown, format!("cannot read: {e}"))),
            }
        }
        self.stack.pop();
    }

    /// Whether the symlink at `path` (whose target's metadata is `meta`)
    /// must not be followed because it leads outside `content_dir`; if so,
    /// says so in an error. Only links pay for the lookup.
    fn leads_out(&mut self, path: &Path, shown: &str, meta: &std::fs::Metadata) -> bool {
        if self.follow_external || (meta.is_file() && !is_article_name(shown)) {
            return false;
        }
        match path.canonicalize() {
            Ok(target) if target.starts_with(self.root) => false,
            Ok(target) => {
                let message = format!(
                    "a symbolic link to {}, outside site.content_dir; it is not read (set site.follow_external_symlinks = true to read such links)",
                    target.display()
                );
                self.errors.push(ContentError::new(shown, message));
                true
            }
            Err(e) => {
                self.errors
                    .push(ContentError::new(shown, format!("cannot read: {e}")));
                true
            }
        }
    }

    /// Where the path of `path` under content_dir starts in `shown`, which
    /// it ends: all a file needs to find itself again. `None` when it does
    /// not end it (or `path` is content_dir itself).
    fn relative_at(&self, path: &Path, shown: &str) -> Option<u32> {
        let r = path.strip_prefix(self.content_dir).ok()?.to_string_lossy();
        (shown.ends_with(&*r) && !r.is_empty())
            .then(|| u32::try_from(shown.len() - r.len()).unwrap_or(0))
    }

    /// Lists a file if it is Markdown.
    fn file(&mut self, path: &Path, shown: String, stat: Option<FileStat>) {
        if !is_article_name(&shown) {
            return;
        }
        let (relative_at, elsewhere, at) = match self.relative_at(path, &shown) {
            Some(relative_at) => (relative_at, false, self.shared_root.clone()),
            None => (0, true, Arc::from(path)),
        };
        self.files.push(SourceFile {
            display: shown,
            relative_at,
            elsewhere,
            at,
            stat,
        });
    }
}

/// Whether a file name (or a path ending in one) is an article's: Markdown
/// by either extension Hugo, Zola and Jekyll use, and not `_index.md`,
/// which in Hugo and Zola describes a section (a column), not an article.
fn is_article_name(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    let Some(stem) = file
        .strip_suffix(".md")
        .or_else(|| file.strip_suffix(".markdown"))
    else {
        return false;
    };
    stem != "_index"
}

/// The date a name starts with (`2013-05-06-` or `2016-10-08_`, as Jekyll
/// and Zola write them) and the rest of the name, which must not be empty.
fn name_date(name: &str) -> Option<(chrono::NaiveDate, &str)> {
    // Ten ASCII characters: safe to cut by bytes once they are checked.
    let head = name.get(..10)?;
    let sep = name.get(10..11)?;
    let rest = name.get(11..)?;
    if !matches!(sep, "-" | "_") || rest.is_empty() || !head.is_ascii() {
        return None;
    }
    let date = chrono::NaiveDate::parse_from_str(head, "%Y-%m-%d").ok()?;
    Some((date, rest))
}

/// How the front matter is written, told by its opening line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// TOML between `+++` lines (Zola, Hugo, broadsheet).
    Toml,
    /// YAML between `---` lines (Jekyll, Hugo).
    Yaml,
}

impl Format {
    fn delimiter(self) -> &'static str {
        match self {
            Format::Toml => "+++",
            Format::Yaml => "---",
        }
    }
}

/// The front matter of a file, and where its body starts.
#[derive(Debug)]
pub(super) struct Head {
    /// The text between the `+++` (or `---`) lines.
    pub front_matter: String,
    /// TOML or YAML.
    pub format: Format,
    /// The 1-based line of the file the TOML starts on.
    pub first_line: usize,
    /// The byte offset of the body.
    pub body_offset: u64,
    /// The 1-based line the body starts on.
    pub body_line: usize,
    /// The file's size and mtime: the walk's, or read from the open file.
    pub stat: FileStat,
}

const BOM: &[u8] = "\u{feff}".as_bytes();

thread_local! {
    /// What was read of the head of the last file on this thread: reused,
    /// not allocated per article.
    static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads the front matter of `file`: a `+++` line, TOML, a `+++` line, or
/// a `---` line, YAML, a `---` line. A UTF-8 byte order mark and CRLF line
/// ends are accepted.
pub(super) fn read_head(file: &SourceFile) -> Result<Head, ContentError> {
    let err = |m: String| ContentError::new(&file.display, m);
    let mut f = File::open(file.path()).map_err(|e| err(format!("cannot read: {e}")))?;
    let stat = match file.stat {
        Some(stat) => stat,
        None => FileStat::of(&f.metadata().map_err(|e| err(format!("cannot read: {e}")))?),
    };
    if stat.len > MAX_ARTICLE_BYTES {
        return Err(err(format!(
            "the file is {} bytes; articles are limited to {} MiB",
            stat.len,
            MAX_ARTICLE_BYTES / (1024 * 1024)
        )));
    }
    if stat.len == 0 {
        return Err(err(
            "the file is empty; expected front matter between +++ lines".into(),
        ));
    }
    BUF.with_borrow_mut(|buf| {
        buf.clear();
        scan_head(&mut f, buf, &err, stat)
    })
}

/// The head of `file` read again, if the file still has the size and
/// times it was indexed with: the stat is asked of the open file, after
/// the read, so an edit during it is seen.
pub(super) fn read_head_again(file: &SourceFile) -> Result<Head, ContentError> {
    let err = |m: String| ContentError::new(&file.display, m);
    let mut f = File::open(file.path()).map_err(|e| err(format!("cannot read: {e}")))?;
    let stat = file.stat.unwrap_or_default();
    let head = BUF.with_borrow_mut(|buf| {
        buf.clear();
        scan_head(&mut f, buf, &err, stat)
    })?;
    unchanged(file, &f)?;
    Ok(head)
}

/// The stat of `f`, the open `file`, if it is the one `file` was indexed
/// with; otherwise the error that says the file changed.
fn unchanged(file: &SourceFile, f: &File) -> Result<FileStat, ContentError> {
    let err = |m: String| ContentError::new(&file.display, m);
    let now = FileStat::of(&f.metadata().map_err(|e| err(format!("cannot read: {e}")))?);
    if Some(now) != file.stat {
        return Err(err(
            "changed while the build was running; run it again".into()
        ));
    }
    Ok(now)
}

/// Reads `f` into `buf` up to the `+++` line closing the front matter.
fn scan_head(
    f: &mut impl Read,
    buf: &mut Vec<u8>,
    err: &dyn Fn(String) -> ContentError,
    stat: FileStat,
) -> Result<Head, ContentError> {
    // Front matter is a few hundred bytes: read a little at a time rather
    // than a page per file, which across 100,000 files is memory churn.
    let mut chunk = [0u8; 1024];
    let mut scanned_lines = 0usize; // complete lines looked at so far
    let mut line_start = 0usize; // byte offset of the next line to look at
    let mut opened_at: Option<(usize, Format)> = None; // byte offset just after the opening line
                                                       // The first line in TOML front matter that reads `---`: named if the
                                                       // front matter is never closed, as a file begun in TOML, ended in YAML.
    let mut yaml_line_in_toml: Option<usize> = None;
    loop {
        let n = f
            .read(&mut chunk)
            .map_err(|e| err(format!("cannot read: {e}")))?;
        buf.extend_from_slice(&chunk[..n]);
        let eof = n == 0 || buf.len() as u64 > MAX_ARTICLE_BYTES;
        // Look at every complete line (and the last one at end of file).
        while line_start < buf.len() {
            let end = match buf[line_start..].iter().position(|&b| b == b'\n') {
                Some(p) => line_start + p + 1,
                None if eof => buf.len(),
                None => break,
            };
            let mut line = &buf[line_start..end];
            if scanned_lines == 0 && line.starts_with(BOM) {
                line = &line[BOM.len()..];
            }
            let delimiter = match line.trim_ascii() {
                b"+++" => Some(Format::Toml),
                b"---" => Some(Format::Yaml),
                _ => None,
            };
            scanned_lines += 1;
            match opened_at {
                None if delimiter.is_some() => {
                    opened_at = delimiter.map(|d| (end, d));
                }
                None => {
                    return Err(err(
                        "expected the file to open with a +++ line starting the TOML front matter"
                            .into(),
                    )
                    .at(scanned_lines))
                }
                // A `+++` line in YAML front matter: a file that mixes the two.
                // (A `---` line in TOML may sit in a multi-line string.)
                Some((_, Format::Yaml)) if delimiter == Some(Format::Toml) => {
                    return Err(err(mixed_message(Format::Yaml, scanned_lines)).at(scanned_lines));
                }
                Some((_, Format::Toml)) if delimiter == Some(Format::Yaml) => {
                    yaml_line_in_toml.get_or_insert(scanned_lines);
                }
                Some((start, format)) if delimiter == Some(format) => {
                    let toml = &buf[start..line_start];
                    let front_matter = match std::str::from_utf8(toml) {
                        Ok(s) => s.to_owned(),
                        Err(e) => {
                            let valid =
                                std::str::from_utf8(&toml[..e.valid_up_to()]).unwrap_or_default();
                            let line = 2 + count_lines(valid.as_bytes());
                            let mut error =
                                err("invalid UTF-8; expected UTF-8 text".into()).at(line);
                            // The bad bytes usually sit in a value: name its key.
                            if let Some(key) = super::front_matter::key_on_line(valid, valid.len())
                            {
                                error = error.field(key);
                            }
                            return Err(error);
                        }
                    };
                    return Ok(Head {
                        front_matter,
                        format,
                        first_line: 2,
                        body_offset: end as u64,
                        body_line: scanned_lines + 1,
                        stat,
                    });
                }
                Some(_) => {}
            }
            line_start = end;
        }
        if eof {
            if let Some(line) = yaml_line_in_toml {
                return Err(err(mixed_message(Format::Toml, line)).at(line));
            }
            let delimiter = opened_at.map_or("+++", |(_, f)| f.delimiter());
            return Err(err(format!(
                "the front matter opened on line 1 is never closed with a {delimiter} line"
            ))
            .at(1));
        }
    }
}

/// A file whose front matter opens as `opened` and has the other kind's
/// delimiter on `line`.
fn mixed_message(opened: Format, line: usize) -> String {
    let (this, other) = match opened {
        Format::Toml => ("+++ (TOML)", "---"),
        Format::Yaml => ("--- (YAML)", "+++"),
    };
    format!(
        "the front matter opened with {this} on line 1 meets a {other} line on line {line}; \
         expected it closed as it was opened: --- lines around YAML, +++ lines around TOML"
    )
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// Reads the body of a file whose head was read before.
pub(super) fn read_body(
    path: &Path,
    display: &str,
    offset: u64,
    first_line: usize,
) -> Result<String, ContentError> {
    let err = |m: String| ContentError::new(display, m);
    let mut f = File::open(path).map_err(|e| err(format!("cannot read: {e}")))?;
    WHOLE.with_borrow_mut(|bytes| {
        read_all(&mut f, bytes, &err, None)?;
        body_text(bytes, offset, first_line, &err)
    })
}

thread_local! {
    /// The whole of the last file read on this thread: reused, as feeds
    /// read tens of thousands of files again, and growing a new buffer to
    /// each one's size costs more than reading it.
    static WHOLE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Reads all of `f` into `bytes` (emptied first), refusing a file over the
/// limit. A file `expected` to be so many bytes long (its size when it was
/// indexed) is read that far, in one read mostly, and no further: the
/// caller then finds it changed, by its stat, if it has grown or shrunk
/// since. Tens of thousands of articles are read again in a build, and
/// reading to the end in pieces of 8 KiB took three reads each.
fn read_all(
    f: &mut File,
    bytes: &mut Vec<u8>,
    err: &dyn Fn(String) -> ContentError,
    expected: Option<u64>,
) -> Result<(), ContentError> {
    bytes.clear();
    if let Some(len) = expected.filter(|&l| l <= MAX_ARTICLE_BYTES) {
        bytes.resize(len as usize, 0);
        let mut filled = 0;
        while filled < bytes.len() {
            match f.read(&mut bytes[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(err(format!("cannot read: {e}"))),
            }
        }
        bytes.truncate(filled);
        return Ok(());
    }
    // At most one byte past the limit: the file may have grown since its
    // head was read, and must still not exhaust memory.
    f.take(MAX_ARTICLE_BYTES + 1)
        .read_to_end(bytes)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_ARTICLE_BYTES {
        let len = f.metadata().map_or(bytes.len() as u64, |m| m.len());
        return Err(err(format!(
            "the file is {len} bytes; articles are limited to {} MiB",
            MAX_ARTICLE_BYTES / (1024 * 1024)
        )));
    }
    Ok(())
}

/// The body of a file read whole into `bytes`, from `offset`, as text:
/// checked as UTF-8 once, and with the characters XML cannot carry taken
/// out (they never reach a feed).
fn body_text(
    bytes: &[u8],
    offset: u64,
    first_line: usize,
    err: &dyn Fn(String) -> ContentError,
) -> Result<String, ContentError> {
    let body = bytes.get(offset as usize..).unwrap_or_default();
    match crate::text::utf8(body) {
        Ok(text) => Ok(crate::text::strip_control_chars(text)),
        Err(valid) => {
            let line = first_line + count_lines(&body[..valid]);
            Err(err("invalid UTF-8; expected UTF-8 text".into()).at(line))
        }
    }
}

/// A file read again, whole, with one open: its front matter and its body.
pub(super) struct Whole {
    /// The front matter, as [`read_head`] gives it.
    pub head: Head,
    /// The body, or why it cannot be used; looked at after the front
    /// matter, whose errors come first.
    pub body: Result<String, ContentError>,
}

/// Reads `file` again, whole, if it still has the size and times it was
/// indexed with (`file.stat`); one changed since (by an editor saving
/// while the build runs) is an error. The stat is taken from the open file
/// once it is read: an edit before the open shows in it (a file replaced
/// by a rename has another inode), and so does one during the read.
pub(super) fn read_whole(file: &SourceFile) -> Result<Whole, ContentError> {
    let err = |m: String| ContentError::new(&file.display, m);
    let mut f = File::open(file.path()).map_err(|e| err(format!("cannot read: {e}")))?;
    WHOLE.with_borrow_mut(|bytes| {
        read_all(&mut f, bytes, &err, file.stat.map(|s| s.len))?;
        let now = unchanged(file, &f)?;
        if now.len == 0 {
            return Err(err(
                "the file is empty; expected front matter between +++ lines".into(),
            ));
        }
        thread_local! {
            static HEAD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let head = HEAD.with_borrow_mut(|buf| {
            buf.clear();
            scan_head(&mut &bytes[..], buf, &err, now)
        })?;
        let body = body_text(bytes, head.body_offset, head.body_line, &err);
        Ok(Whole { head, body })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_at_the_start_of_a_name_is_read_with_the_rest() {
        let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(
            name_date("2013-05-06-title"),
            Some((d(2013, 5, 6), "title"))
        );
        assert_eq!(
            name_date("2016-10-08_第一篇"),
            Some((d(2016, 10, 8), "第一篇"))
        );
        for not in [
            "2013-05-06",
            "2013-05-06-",
            "2013-13-06-x",
            "2013-05-06x",
            "title",
            "算力擴容與新型工業化",
        ] {
            assert_eq!(name_date(not), None, "{not}");
        }
    }

    #[test]
    fn markdown_by_either_extension_is_an_article_but_a_section_file_is_not() {
        for yes in [
            "a.md",
            "content/ai/a.markdown",
            "index.md",
            "x/_posts/2013-05-06-a.md",
        ] {
            assert!(is_article_name(yes), "{yes}");
        }
        for no in [
            "_index.md",
            "content/ai/_index.markdown",
            "a.html",
            "a.md.bak",
            "a.mdx",
        ] {
            assert!(!is_article_name(no), "{no}");
        }
    }

    #[test]
    fn yaml_and_toml_front_matter_are_told_by_the_opening_line() {
        let dir = tempfile::tempdir().unwrap();
        let head = |text: &str| {
            let path = dir.path().join("x.md");
            std::fs::write(&path, text).unwrap();
            let mut file = SourceFile::alone(&path);
            file.display = "x.md".into();
            read_head(&file)
        };
        let yaml = head("\u{feff}---\r\ntitle: t\r\n---\r\nbody\n").unwrap();
        assert_eq!(
            (yaml.format, yaml.front_matter.as_str(), yaml.body_line),
            (Format::Yaml, "title: t\r\n", 4)
        );
        let toml = head("+++\ntitle = \"t\"\n+++\nbody\n").unwrap();
        assert_eq!(toml.format, Format::Toml);
        let open = head("---\ntitle: t\n").unwrap_err();
        assert_eq!(
            (open.location.to_string(), open.message.as_str()),
            (
                "x.md:1".into(),
                "the front matter opened on line 1 is never closed with a --- line"
            )
        );
    }

    #[test]
    fn a_file_read_again_whole_must_be_as_it_was_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.md");
        let text = "+++\ntitle = \"t\"\n+++\n第一段。\n";
        std::fs::write(&path, text).unwrap();
        let mut file = SourceFile::alone(&path);
        file.display = "x.md".into();
        file.stat = Some(read_head(&file).unwrap().stat);
        let whole = read_whole(&file).unwrap();
        assert_eq!(
            (
                whole.head.front_matter.as_str(),
                whole.body.unwrap().as_str()
            ),
            ("title = \"t\"\n", "第一段。\n")
        );
        let changed = |file: &SourceFile| {
            let e = read_whole(file).err().expect("an error");
            (e.location.to_string(), e.message)
        };
        let expected = (
            "x.md".to_string(),
            "changed while the build was running; run it again".to_string(),
        );
        // Saved again in place, or replaced by a rename with the same bytes.
        std::fs::write(&path, format!("{text}第二段。\n")).unwrap();
        assert_eq!(changed(&file), expected);
        let other = dir.path().join("y.md");
        std::fs::write(&other, text).unwrap();
        file.stat = None;
        file.stat = Some(read_head(&file).unwrap().stat);
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(changed(&file), expected);
    }

    #[test]
    fn a_long_file_read_again_comes_whole_and_one_cut_short_since_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.md");
        // Longer than any one read the standard library makes by itself.
        let body = "長文一段，再一段。\n".repeat(8_000);
        let text = format!("+++\ntitle = \"t\"\n+++\n{body}");
        std::fs::write(&path, &text).unwrap();
        let mut file = SourceFile::alone(&path);
        file.display = "x.md".into();
        file.stat = Some(read_head(&file).unwrap().stat);
        assert_eq!(read_whole(&file).unwrap().body.unwrap(), body);
        // Cut short in place: fewer bytes than indexed.
        std::fs::write(&path, &text.as_bytes()[..text.len() / 2]).unwrap();
        let e = read_whole(&file).err().expect("an error");
        assert_eq!(
            e.message,
            "changed while the build was running; run it again"
        );
    }

    /// Folders whose names prefix one another, files beside folders of
    /// nearly the same name, and nesting: the list comes out sorted by the
    /// relative path as text, whatever order the walks finish in.
    #[test]
    fn files_are_listed_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let content = dir.path().join("content");
        for rel in [
            "a/x.md",
            "a-b/y.md",
            "a.md",
            "a/deeper/z.md",
            "b/1.md",
            "a0/index.md",
            "c.md",
            "b/0.md",
        ] {
            let path = content.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "+++\n+++\n").unwrap();
        }
        let display = |p: &Path| {
            p.strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        for stat_files in [true, false] {
            let (files, errors) = discover(&content, &display, stat_files, false);
            assert!(errors.is_empty(), "{errors:?}");
            let listed: Vec<&str> = files.iter().map(|f| f.display.as_str()).collect();
            let mut sorted = listed.clone();
            sorted.sort_unstable();
            assert_eq!(listed, sorted);
            assert_eq!(listed.len(), 8);
            // Sizes come from the walk, or from the open file: the same.
            for f in &files {
                // Entries right under content/ are looked at anyway.
                let nested = f.display.matches('/').count() > 1;
                assert_eq!(f.stat.is_some(), stat_files || !nested, "{}", f.display);
                assert_eq!(read_head(f).unwrap().stat.len, 8, "{}", f.display);
            }
        }
    }
}
