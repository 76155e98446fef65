//! The last good version of every published article, for a build that
//! keeps going past a bad one (`run`, `build --keep-going`).
//!
//! A writer's typo in an article that is already out must not take it off
//! every feed until someone fixes it: the build publishes the version it
//! published before. That version has to be kept somewhere, since the
//! file on disk is now the broken one; it is kept as a copy of the source,
//! beside the state (`<state_path>.last-good/`, mirroring `content_dir`),
//! never in `output_dir`, which is served and often synced to a web server
//! whole. Every build that writes copies the articles some output carries
//! (one no output carries is not missed when it is left out), after the
//! feeds were written, and only when the source's size or mtime differ
//! from the copy's: a build where nothing changed copies nothing.

use crate::config::Config;
use crate::content::{FileStat, SourceFile};
use crate::fsio::{FsAction, FsError};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// Where the copies are kept.
pub(super) fn dir(config: &Config) -> PathBuf {
    crate::fsio::beside(&config.site.state_path, ".last-good")
}

/// The copy of `path` (a file under `content_dir`), when it lies under it.
fn copy_of(config: &Config, path: &Path) -> Option<PathBuf> {
    let relative = path.strip_prefix(&config.site.content_dir).ok()?;
    Some(dir(config).join(relative))
}

/// The last good version of `file`, as a file to read in its place: the
/// same name, slug and column, read from the copy. None when no build
/// published it.
pub(super) fn version_of(config: &Config, file: &SourceFile) -> Option<SourceFile> {
    let copy = copy_of(config, &file.path())?;
    copy.is_file().then(|| file.read_from(copy))
}

/// Copies each of `articles` read from its own file (not from a copy)
/// whose copy is missing or differs in size or mtime. Returns how many
/// were copied.
/// The articles come as an iterator of their paths and stats, made as
/// they are copied: at a million articles the feeds carry 400,000, and a
/// list of their paths was 50 MB more when a build's memory peaks.
pub(super) fn keep(
    config: &Config,
    articles: impl ParallelIterator<Item = (PathBuf, FileStat)>,
) -> Result<usize, FsError> {
    let base = dir(config);
    articles
        .filter(|(path, _)| !path.starts_with(&base))
        .filter_map(|(path, stat)| copy_of(config, &path).map(|copy| (path, stat, copy)))
        .map(|(path, stat, copy)| keep_one(&path, stat, &copy).map(usize::from))
        .try_reduce(|| 0, |a, b| Ok(a + b))
}

fn keep_one(source: &Path, stat: FileStat, copy: &Path) -> Result<bool, FsError> {
    let mtime = UNIX_EPOCH + Duration::from_nanos(stat.mtime_ns);
    if let Ok(meta) = std::fs::metadata(copy) {
        if meta.len() == stat.len && meta.modified().ok() == Some(mtime) {
            return Ok(false);
        }
    }
    let fail = |action: FsAction, path: &Path| {
        let path = path.to_path_buf();
        move |source| FsError {
            path,
            action,
            source,
        }
    };
    if let Some(parent) = copy.parent() {
        std::fs::create_dir_all(parent).map_err(fail(FsAction::Create, parent))?;
    }
    let mut tmp = copy.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::copy(source, &tmp).map_err(fail(FsAction::Write, &tmp))?;
    let file = std::fs::File::options()
        .write(true)
        .open(&tmp)
        .map_err(fail(FsAction::Write, &tmp))?;
    file.set_modified(mtime)
        .map_err(fail(FsAction::Write, &tmp))?;
    drop(file);
    // The source may have changed since the build read it: a copy is only
    // kept of the very version that was validated.
    let now = std::fs::metadata(source).map(|m| FileStat::of(&m));
    if now.ok() != Some(stat) {
        let _ = std::fs::remove_file(&tmp);
        return Ok(false);
    }
    std::fs::rename(&tmp, copy).map_err(fail(FsAction::Write, copy))?;
    Ok(true)
}
