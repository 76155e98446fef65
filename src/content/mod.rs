//! Articles: Markdown files with TOML front matter under `content_dir`.
//!
//! [`source`] finds the files and reads each one's front matter (and only
//! that: a body is read when an output needs it), [`front_matter`] turns the
//! TOML into an [`Article`], [`Catalog`] holds the published ones in order,
//! and [`markdown`] renders a body to safe HTML. Pure apart from reading the
//! content files; the clock comes in as `now`.

mod article;
mod catalog;
mod front_matter;
mod html_depth;
pub mod markdown;
mod source;

pub use article::{Article, Author};
pub use catalog::{discover_content, Catalog, ContentStats};
pub use markdown::RenderedBody;
pub use source::{FileStat, SourceFile, MAX_ARTICLE_BYTES};

use std::fmt;

/// One thing wrong with one content file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    /// The file, relative to the configuration's folder.
    pub path: String,
    /// The 1-based line in the file, when one can be named.
    pub line: Option<usize>,
    /// The front matter field, when one can be named.
    pub field: Option<String>,
    /// What was expected and what was found.
    pub message: String,
}

impl ContentError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> ContentError {
        ContentError {
            path: path.to_owned(),
            line: None,
            field: None,
            message: message.into(),
        }
    }

    pub(crate) fn at(mut self, line: usize) -> ContentError {
        self.line = Some(line);
        self
    }

    pub(crate) fn field(mut self, field: impl Into<String>) -> ContentError {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every content error of a run, sorted by file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ContentErrors(pub Vec<ContentError>);

impl ContentErrors {
    pub(crate) fn sorted(mut errors: Vec<ContentError>) -> ContentErrors {
        errors.sort_by(|a, b| (&a.path, a.line).cmp(&(&b.path, b.line)));
        errors.dedup();
        ContentErrors(errors)
    }
}

impl fmt::Display for ContentErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        let n = self.0.len();
        write!(f, "{n} content error{}", if n == 1 { "" } else { "s" })
    }
}
