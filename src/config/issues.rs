//! What validation found: every problem, as a [`Diagnostic`] on the
//! configuration file with the key as its field, collected across all
//! sections so that one run reports them all; and the warnings, values
//! that work but are unwise.

use super::{ConfigError, BOUNDS};
use crate::diagnostic::{Diagnostic, Location};
use std::path::{Path, PathBuf};

/// Collects problems and warnings while the sections are validated.
pub(super) struct Issues {
    /// The configuration file, as the user named it.
    file: PathBuf,
    /// Every problem found so far.
    found: Vec<Diagnostic>,
    /// Warnings, as `key: why`.
    pub(super) warnings: Vec<String>,
}

impl Issues {
    /// Nothing found yet in `path`.
    pub(super) fn new(file: &Path) -> Issues {
        Issues {
            file: file.to_owned(),
            found: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// `key` is wrong: `message` says what was expected and what was found.
    pub(super) fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.found.push(Diagnostic::located(
            Location::file(self.file.display().to_string()).field(key),
            message,
        ));
    }

    /// The problems found, as one error, if there are any.
    pub(super) fn finish(&mut self) -> Result<(), ConfigError> {
        if self.found.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Invalid {
            path: self.file.clone(),
            issues: std::mem::take(&mut self.found),
        })
    }

    /// `value` if it lies in the range [`BOUNDS`] gives `key`; else an issue
    /// naming the key and the range, and `fallback` so validation goes on.
    pub(super) fn whole(&mut self, key: &str, value: i64, fallback: i64) -> i64 {
        let (_, min, max) = BOUNDS
            .iter()
            .find(|(k, _, _)| *k == key)
            .copied()
            .expect("every whole-number key has bounds");
        if (min..=max).contains(&value) {
            value
        } else {
            self.add(
                key,
                format!("expected a whole number from {min} to {max}, found {value}"),
            );
            fallback
        }
    }
}
