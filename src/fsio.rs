//! Files on disk: written whole or not at all, and every failure naming
//! the path and what was being done to it. Feeds, digest web copies, the
//! outbox, `init` and previews all write through here, so there is one
//! place that decides what "written" means.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What was being done to a path when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsAction {
    /// Reading a file.
    Read,
    /// Writing a file (through a temporary file and a rename).
    Write,
    /// Creating a file that must not exist yet, or a folder.
    Create,
    /// Removing a file.
    Remove,
}

impl fmt::Display for FsAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FsAction::Read => "read",
            FsAction::Write => "write",
            FsAction::Create => "create",
            FsAction::Remove => "remove",
        })
    }
}

/// A file or folder could not be read, written, created or removed.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot {action}: {source}", path.display())]
pub struct FsError {
    /// The file or folder.
    pub path: PathBuf,
    /// What was being done.
    pub action: FsAction,
    /// Why it failed.
    pub source: std::io::Error,
}

impl FsError {
    /// A failure to `action` `path`.
    pub fn new(path: &Path, action: FsAction, source: std::io::Error) -> FsError {
        FsError {
            path: path.to_owned(),
            action,
            source,
        }
    }

    /// A closure for `map_err`: the failure to `action` `path`.
    pub fn at(path: &Path, action: FsAction) -> impl FnOnce(std::io::Error) -> FsError + '_ {
        move |source| FsError::new(path, action, source)
    }
}

/// `path` with `suffix` added to its name (`broadsheet.db` and
/// `.build-cache` give `broadsheet.db.build-cache`): where what belongs
/// to a file is kept beside it.
pub fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates `dir` and every folder above it that is missing.
pub fn create_dir(dir: &Path) -> Result<(), FsError> {
    std::fs::create_dir_all(dir).map_err(|e| {
        // "File exists" says less than what is wrong.
        let e = match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                std::io::Error::other("a file is where this folder goes")
            }
            _ => e,
        };
        FsError::new(dir, FsAction::Create, e)
    })
}

/// Writes `text` to `path`, which must not exist yet: never replaces a
/// file, even one that appeared since it was looked for.
pub fn create_new(path: &Path, bytes: &[u8]) -> Result<(), FsError> {
    if let Some(parent) = path.parent() {
        create_dir(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(FsError::at(path, FsAction::Create))?;
    f.write_all(bytes)
        .map_err(FsError::at(path, FsAction::Write))
}

/// Writes `bytes` to `path` through a temporary file and a rename, unless
/// the file already holds exactly these bytes. Returns whether it wrote.
pub fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<bool, FsError> {
    match stage(path, bytes)? {
        None => Ok(false),
        Some(tmp) => {
            persist(tmp, path)?;
            Ok(true)
        }
    }
}

/// [`write_if_changed`] for a file whose bytes `write` writes as they are
/// made, never held whole.
pub fn write_if_changed_with(path: &Path, write: &mut WriteWith<'_>) -> Result<bool, FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(FsError::at(path, FsAction::Write))?;
    let tmp = stage_beside_with(path, &mut buffered(write))?;
    if holds_file(path, &tmp)?.is_some() {
        // Dropped, the temporary file is removed.
        return Ok(false);
    }
    persist(tmp, path)?;
    Ok(true)
}

/// Renames a staged file into place.
pub fn persist(tmp: tempfile::TempPath, path: &Path) -> Result<(), FsError> {
    tmp.persist(path)
        .map_err(|e| FsError::new(path, FsAction::Write, e.error))
}

/// Writes `bytes` to a temporary file beside `path`, to be renamed into
/// place; `None` when `path` already holds exactly these bytes. The file is
/// closed (a build writes thousands, more than a process may hold open)
/// and removed again if the returned path is dropped.
pub fn stage(path: &Path, bytes: &[u8]) -> Result<Option<tempfile::TempPath>, FsError> {
    if holds(path, bytes)?.is_some() {
        return Ok(None);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(FsError::at(path, FsAction::Write))?;
    stage_beside(path, bytes).map(Some)
}

/// The metadata of `path` when it already holds exactly `bytes`; `None`
/// when it is missing or holds anything else; an error when a folder is
/// where it goes, found now, before anything is renamed, rather than by a
/// rename that fails with half the new set in place.
pub fn holds(path: &Path, bytes: &[u8]) -> Result<Option<std::fs::Metadata>, FsError> {
    let Some(meta) = existing(path)? else {
        return Ok(None);
    };
    let same =
        meta.len() == bytes.len() as u64 && std::fs::read(path).is_ok_and(|old| old == bytes);
    Ok(same.then_some(meta))
}

/// The metadata of the file at `path`, if there is one; an error when a
/// folder is there instead (see [`holds`]).
fn existing(path: &Path) -> Result<Option<std::fs::Metadata>, FsError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(FsError::new(
            path,
            FsAction::Write,
            std::io::Error::other("a folder is where this file goes"),
        )),
        Ok(meta) => Ok(Some(meta)),
        Err(_) => Ok(None),
    }
}

/// The metadata of `path` when it holds exactly what the file `staged`
/// holds, as [`holds`] says of bytes in memory: both are read a piece at a
/// time, so neither is ever held whole.
pub fn holds_file(path: &Path, staged: &Path) -> Result<Option<std::fs::Metadata>, FsError> {
    use std::io::Read;
    let Some(meta) = existing(path)? else {
        return Ok(None);
    };
    let new = std::fs::File::open(staged).map_err(FsError::at(staged, FsAction::Read))?;
    let new_len = new
        .metadata()
        .map_err(FsError::at(staged, FsAction::Read))?
        .len();
    if new_len != meta.len() {
        return Ok(None);
    }
    // An old file that cannot be read is one to replace, as for `holds`.
    let Ok(old) = std::fs::File::open(path) else {
        return Ok(None);
    };
    let (mut old, mut new) = (old.take(new_len), new.take(new_len));
    let (mut a, mut b) = (vec![0; WRITE_BUFFER], vec![0; WRITE_BUFFER]);
    loop {
        let n = match old.read(&mut a) {
            Ok(0) => return Ok(Some(meta)),
            Ok(n) => n,
            Err(_) => return Ok(None),
        };
        if new.read_exact(&mut b[..n]).is_err() || a[..n] != b[..n] {
            return Ok(None);
        }
    }
}

/// Writes `bytes` to a temporary file in the folder of `path`, which must
/// exist, to be renamed onto `path`; the file is removed again if the
/// returned path is dropped.
pub fn stage_beside(path: &Path, bytes: &[u8]) -> Result<tempfile::TempPath, FsError> {
    stage_beside_with(path, &mut |w| w.write_all(bytes))
}

/// What writes a file's bytes as they are made, into what it is given: for
/// a file too large to hold whole first.
pub type WriteWith<'a> = dyn FnMut(&mut dyn Write) -> std::io::Result<()> + 'a;

/// How much of a file written with [`WriteWith`] is held before it goes
/// to the file.
const WRITE_BUFFER: usize = 64 * 1024;

/// `write` with what it writes gathered into [`WRITE_BUFFER`]s: for a
/// file made a piece at a time. A file whose bytes are held whole goes in
/// one write, with no buffer between: a first build writes tens of
/// thousands, and a buffer for each cost more than its file.
pub fn buffered<'a, 'w>(
    write: &'a mut WriteWith<'w>,
) -> impl FnMut(&mut dyn Write) -> std::io::Result<()> + use<'a, 'w> {
    move |w| {
        let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER, w);
        write(&mut out)?;
        out.flush()
    }
}

/// [`stage_beside`] for a file whose bytes `write` writes, unbuffered
/// (see [`buffered`]).
pub fn stage_beside_with(
    path: &Path,
    write: &mut WriteWith<'_>,
) -> Result<tempfile::TempPath, FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".broadsheet-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(FsError::at(path, FsAction::Write))?;
    write(tmp.as_file_mut()).map_err(FsError::at(path, FsAction::Write))?;
    // Readers poll feeds over HTTP; the usual permissions of a published
    // file, not the 0600 of a temporary one.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(FsError::at(path, FsAction::Write))?;
    }
    Ok(tmp.into_temp_path())
}

/// Writes the bytes `write` makes to `path`, which must not exist yet, with
/// the permissions of a published file, and returns its metadata once
/// written. For a folder made by the same build, in which nothing else can
/// be: no temporary name, no rename, no second look at the file. What
/// `write` writes goes to the file as it is written (see [`buffered`]).
pub fn create_written_with(
    path: &Path,
    write: &mut WriteWith<'_>,
) -> Result<std::fs::Metadata, FsError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o644);
    let mut f = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => FsError::new(
            path,
            FsAction::Write,
            std::io::Error::other("this build already put a file or folder where this file goes"),
        ),
        _ => FsError::new(path, FsAction::Write, e),
    })?;
    write(&mut f).map_err(FsError::at(path, FsAction::Write))?;
    let meta = f.metadata().map_err(FsError::at(path, FsAction::Write))?;
    // The mode asked for at open is narrowed by the umask; only then is a
    // second call needed, as it is for every temporary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o777 != 0o644 {
            f.set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(FsError::at(path, FsAction::Write))?;
            return f.metadata().map_err(FsError::at(path, FsAction::Write));
        }
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_file_is_not_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.txt");
        assert!(write_if_changed(&path, b"x").unwrap());
        assert!(!write_if_changed(&path, b"x").unwrap());
        assert!(write_if_changed(&path, b"y").unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"y");
    }

    #[test]
    fn a_folder_in_the_way_names_the_path_and_the_action() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_if_changed(dir.path(), b"x").unwrap_err();
        assert_eq!(e.action, FsAction::Write);
        assert!(e
            .to_string()
            .starts_with(&format!("{}: cannot write: a folder", dir.path().display())));
    }

    #[test]
    fn create_new_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.md");
        create_new(&path, b"1").unwrap();
        let e = create_new(&path, b"2").unwrap_err();
        assert_eq!(e.action, FsAction::Create);
        assert_eq!(std::fs::read(&path).unwrap(), b"1");
    }
}
