//! Writing output: every file atomically (a temporary file in the same
//! folder, then a rename), the whole set only once every file of it is
//! written, a file whose bytes are unchanged left alone with its mtime, and
//! files broadsheet wrote before but no longer produces removed. A manifest in `output_dir` remembers what broadsheet wrote, so
//! nothing else in that folder is ever touched.

use crate::content::FileStat;
use crate::fsio::{self, FsAction, FsError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The manifest's file name in `output_dir`.
pub const MANIFEST: &str = ".broadsheet-manifest.json";

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
    /// Their paths, relative to `output_dir`: what a WebSub hub is told.
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
    pub fn read(output_dir: &Path) -> Manifest {
        let mut manifest: Manifest = std::fs::read(output_dir.join(MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        manifest.files.retain(|path, _| {
            let ok = is_output_path(path);
            if !ok {
                tracing::warn!(
                    "{}: the entry {path:?} is not a file broadsheet writes; it is ignored",
                    output_dir.join(MANIFEST).display()
                );
            }
            ok
        });
        manifest
    }

    /// Whether every file listed is still on disk as it was written.
    pub fn files_intact(&self, output_dir: &Path) -> bool {
        self.files
            .iter()
            .all(|(p, stamp)| stamp_of(&output_dir.join(p)).is_some_and(|s| s == *stamp))
    }
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

/// Writes `files` under `output_dir`, skipping unchanged ones, removing
/// what the previous build wrote (`previous`, read at its start) and this
/// one did not, and records the result with `inputs` in the manifest.
pub fn write_all(
    output_dir: &Path,
    files: &[OutputFile],
    inputs: InputStamp,
    previous: &Manifest,
) -> Result<WriteReport, FsError> {
    fsio::create_dir(output_dir)?;
    let mut report = WriteReport::default();
    let mut manifest = Manifest {
        files: BTreeMap::new(),
        inputs: Some(inputs),
    };
    // Two steps, so that a failure part way (a full disk, a file in the way
    // of a folder) leaves the previous set exactly as it was, rather than a
    // mix of old and new feeds: first every changed file is written to a
    // temporary file beside its target; only when all of them are, each is
    // renamed into place. A rename needs no space and replaces the target
    // atomically. Files are independent: both steps run on every core.
    use rayon::prelude::*;
    // Nothing is written through a folder that is a symbolic link: whoever
    // can write the web root could point one anywhere. Each folder is
    // looked at once, however many files go in it.
    let folders: std::collections::BTreeSet<&Path> = files
        .iter()
        .filter_map(|f| Path::new(&f.path).parent())
        .collect();
    for folder in folders {
        let inside = output_dir.join(folder).join("_");
        if through_a_link(output_dir, &inside) {
            return Err(FsError::new(
                &output_dir.join(folder),
                FsAction::Write,
                std::io::Error::other(
                    "a folder on the way is a symbolic link; broadsheet writes nothing outside output_dir through one (remove the link)",
                ),
            ));
        }
    }
    let staged: Vec<Result<Option<tempfile::TempPath>, FsError>> = files
        .par_iter()
        .map(|file| fsio::stage(&output_dir.join(&file.path), &file.bytes))
        .collect();
    // On an error the temporary files written so far are dropped, and a
    // dropped `TempPath` removes its file.
    let staged: Vec<Option<tempfile::TempPath>> = staged.into_iter().collect::<Result<_, _>>()?;
    let results: Vec<Result<(bool, FileStat), FsError>> = files
        .par_iter()
        .zip(staged.into_par_iter())
        .map(|(file, tmp)| {
            let path = output_dir.join(&file.path);
            let written = match tmp {
                Some(tmp) => {
                    fsio::persist(tmp, &path)?;
                    true
                }
                None => false,
            };
            Ok((written, stamp_of(&path).unwrap_or_default()))
        })
        .collect();
    for (file, result) in files.iter().zip(results) {
        let (written, stamp) = result?;
        if written {
            report.written += 1;
            report.changed.push(file.path.clone());
        } else {
            report.unchanged += 1;
        }
        manifest.files.insert(file.path.clone(), stamp);
    }
    for old in previous.files.keys() {
        if manifest.files.contains_key(old) {
            continue;
        }
        let path = output_dir.join(old);
        if through_a_link(output_dir, &path) {
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
    let bytes = serde_json::to_vec_pretty(&manifest).expect("a manifest always serialises");
    fsio::write_if_changed(&output_dir.join(MANIFEST), &bytes)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
