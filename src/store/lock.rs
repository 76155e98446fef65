//! The run lock and the build lock: files beside `site.state_path`, held
//! with `flock` for as long as the process lives. They belong to the
//! state's folder, not to the database, so they stay as they are whatever
//! backend holds the rows.

use super::{Store, StoreError};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Held while a run may send (or, for [`Store::lock_build`], build): a
/// second run finds it taken and stands down. The file says who holds it.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// What a lock file says of the process holding it (nothing, when the
/// file says nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockHolder {
    /// Its process id, when the file names one.
    pub pid: Option<u32>,
    /// The command it runs (`run`, `digest send`, `build`).
    pub command: String,
    /// When it took the lock: from the file, else the file's mtime.
    pub since: Option<std::time::SystemTime>,
}

impl LockHolder {
    /// How long it has held the lock, by the system clock.
    pub fn held_for(&self) -> Option<Duration> {
        self.since
            .and_then(|t| std::time::SystemTime::now().duration_since(t).ok())
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let command = if self.command.is_empty() {
            "broadsheet"
        } else {
            &self.command
        };
        write!(f, "`{command}`")?;
        if let Some(pid) = self.pid {
            write!(f, " (pid {pid})")?;
        }
        if let Some(d) = self.held_for() {
            write!(f, ", for {}", human_duration(d))?;
        }
        Ok(())
    }
}

/// "3 h 20 min", "12 min", "40 s".
fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// `<state_path>.<suffix>`.
fn lock_path(state_path: &Path, suffix: &str) -> PathBuf {
    crate::fsio::beside(state_path, &format!(".{suffix}"))
}

/// Takes the lock at `path`, writing who holds it into the file.
fn take_lock(path: &Path) -> Result<Option<RunLock>, StoreError> {
    use std::io::Write;
    let lock_err = |source| StoreError::Lock {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(lock_err)?;
    }
    let mut file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(lock_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(e)) => return Err(lock_err(e)),
    }
    // Who holds it, for the run that finds it taken. Best effort: the lock
    // itself is the flock, not these lines.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    // The command words only: options and their values (`--config PATH`,
    // `--now TIME`) say nothing of what the process is doing.
    let mut command = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if matches!(a.as_str(), "--config" | "--now" | "--log-format") {
            args.next();
        } else if !a.starts_with('-') && command.len() < 2 {
            command.push(a);
        }
    }
    let _ = file.set_len(0);
    let _ = write!(
        file,
        "pid {}\nsince {since}\ncommand {}\n",
        std::process::id(),
        command.join(" ")
    );
    let _ = file.flush();
    Ok(Some(RunLock { _file: file }))
}

/// What the lock file at `path` says, when the lock is held.
fn holder_of(path: &Path) -> Option<LockHolder> {
    let file = File::open(path).ok()?;
    match file.try_lock_shared() {
        Err(std::fs::TryLockError::WouldBlock) => {}
        // Nobody holds it, or it cannot be asked.
        Ok(()) | Err(std::fs::TryLockError::Error(_)) => return None,
    }
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(str::trim)
    };
    let since = field("since")
        .and_then(|s| s.parse::<u64>().ok())
        .map(|s| std::time::UNIX_EPOCH + Duration::from_secs(s))
        .or_else(|| std::fs::metadata(path).and_then(|m| m.modified()).ok());
    Some(LockHolder {
        pid: field("pid").and_then(|p| p.parse().ok()),
        command: field("command").unwrap_or("").to_owned(),
        since,
    })
}

impl Store {
    /// Takes the run lock beside the database, or `None` when another run
    /// holds it. The lock goes with the process, however it ends; while it
    /// is held the file says which process holds it and since when.
    pub fn try_lock(state_path: &Path) -> Result<Option<RunLock>, StoreError> {
        take_lock(&lock_path(state_path, "lock"))
    }

    /// Who holds the run lock of `state_path`, when someone does.
    pub fn lock_holder(state_path: &Path) -> Option<LockHolder> {
        holder_of(&lock_path(state_path, "lock"))
    }

    /// Takes the build lock beside the database, waiting up to `wait` for
    /// another build to finish: two builds writing the same folder at once
    /// could each remove what the other wrote. `Err(holder)` when the wait
    /// ran out.
    pub fn lock_build(
        state_path: &Path,
        wait: Duration,
    ) -> Result<Result<RunLock, LockHolder>, StoreError> {
        let path = lock_path(state_path, "build-lock");
        let started = std::time::Instant::now();
        loop {
            if let Some(lock) = take_lock(&path)? {
                return Ok(Ok(lock));
            }
            if started.elapsed() >= wait {
                return Ok(Err(holder_of(&path).unwrap_or_default()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_names_its_holder_and_a_free_one_names_none() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        assert_eq!(Store::lock_holder(&db), None);
        let lock = Store::try_lock(&db).unwrap().expect("free");
        let holder = Store::lock_holder(&db).expect("held");
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(holder.held_for().unwrap() < Duration::from_secs(60));
        assert!(Store::try_lock(&db).unwrap().is_none());
        drop(lock);
        assert_eq!(Store::lock_holder(&db), None);
        assert!(Store::try_lock(&db).unwrap().is_some());
    }

    #[test]
    fn a_build_waits_for_another_and_then_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("s.db");
        let first = Store::lock_build(&db, Duration::ZERO).unwrap().unwrap();
        let second = Store::lock_build(&db, Duration::from_millis(60)).unwrap();
        assert_eq!(second.unwrap_err().pid, Some(std::process::id()));
        drop(first);
        assert!(Store::lock_build(&db, Duration::ZERO).unwrap().is_ok());
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(Duration::from_secs(40)), "40 s");
        assert_eq!(human_duration(Duration::from_secs(12 * 60)), "12 min");
        assert_eq!(
            human_duration(Duration::from_secs(3 * 3600 + 20 * 60)),
            "3 h 20 min"
        );
    }
}
