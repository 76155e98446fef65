//! `broadsheet init` and `broadsheet templates export`: a new publication
//! that builds at once, and the built-in templates copied out for editing.
//!
//! `init` writes no template: a file in `templates/` replaces the built-in
//! one for good, so copies made at `init` would keep every later fix of a
//! built-in template from reaching the publication. Whoever wants to edit
//! one copies it out with `templates export`.

use crate::error::UsageError;
use crate::fsio::{FsAction, FsError};
use crate::Error;
use chrono::{DateTime, FixedOffset, SecondsFormat, Timelike};
use std::path::{Path, PathBuf};

const CONFIG: &str = include_str!("init/config.toml");
const ARTICLE: &str = include_str!("init/welcome.md");
const GITIGNORE: &str = include_str!("init/gitignore");

/// What `init` wrote.
#[derive(Debug)]
pub struct InitSummary {
    /// The publication's folder.
    pub dir: PathBuf,
    /// The files, relative to it.
    pub files: Vec<String>,
}

fn write_new(path: &Path, text: &str) -> Result<(), Error> {
    Ok(crate::fsio::create_new(path, text.as_bytes())?)
}

/// Writes a new publication into `dir`, which must be empty or absent.
/// The sample article is dated `now` so the first build publishes it.
pub fn init(dir: &Path, now: DateTime<FixedOffset>) -> Result<InitSummary, Error> {
    if dir.is_file() {
        return Err(UsageError::NotAFolder {
            dir: dir.to_owned(),
        }
        .into());
    }
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(UsageError::NotEmpty {
                    dir: dir.to_owned(),
                }
                .into());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(FsError::new(dir, FsAction::Read, e).into());
        }
    }
    let tz: chrono_tz::Tz = chrono_tz::Asia::Hong_Kong;
    let published = now
        .with_timezone(&tz)
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or_else(|| now.with_timezone(&tz))
        .fixed_offset()
        .to_rfc3339_opts(SecondsFormat::Secs, false);
    let files: Vec<(String, String)> = vec![
        ("config.toml".into(), CONFIG.to_owned()),
        (".gitignore".into(), GITIGNORE.to_owned()),
        (
            "content/opinion/welcome.md".into(),
            ARTICLE.replace("{published}", &published),
        ),
    ];
    for (name, text) in &files {
        write_new(&dir.join(name), text)?;
    }
    Ok(InitSummary {
        dir: dir.to_owned(),
        files: files.into_iter().map(|(n, _)| n).collect(),
    })
}

/// Copies the built-in templates into `dir`. Files already there are left
/// alone and listed as skipped, unless `force`.
pub fn export_templates(dir: &Path, force: bool) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Error> {
    let mut written = Vec::new();
    let mut skipped = Vec::new();
    for (name, text) in crate::templates::BUILTIN {
        let path = dir.join(name);
        if path.exists() && !force {
            skipped.push(path);
            continue;
        }
        if force {
            crate::fsio::write_if_changed(&path, text.as_bytes())?;
        } else {
            write_new(&path, text)?;
        }
        written.push(path);
    }
    Ok((written, skipped))
}
