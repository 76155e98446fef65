//! Articles: Markdown files with TOML front matter under `content_dir`.
//!
//! [`source`] finds the files and reads each one's front matter (and only
//! that: a body is read when an output needs it), [`front_matter`] turns the
//! TOML into an [`Article`], [`Catalog`] holds the published ones in order,
//! and [`markdown`] renders a body to safe HTML. Pure apart from reading the
//! content files; the clock comes in as `now`.

mod article;
pub mod cache;
mod catalog;
mod front_matter;
mod html_depth;
pub mod index;
pub mod markdown;
mod source;

pub use article::{Article, Author};
pub use catalog::{discover_content, Catalog, ContentStats, Selection};
pub(crate) use front_matter::section_text;
pub use index::Index;
pub use markdown::RenderedBody;
pub use source::{FileStat, SourceFile, MAX_ARTICLE_BYTES};

use std::fmt;

/// One thing wrong with one content file: the file (relative to the
/// configuration's folder), the line and front-matter field when they can
/// be named, and what was expected.
pub type ContentError = crate::diagnostic::Diagnostic;

/// Every content error of a run, sorted by file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ContentErrors(pub Vec<ContentError>);

impl ContentErrors {
    pub(crate) fn sorted(errors: Vec<ContentError>) -> ContentErrors {
        ContentErrors(crate::diagnostic::sorted(errors))
    }
}

impl fmt::Display for ContentErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::diagnostic::write_all(f, &self.0, "content")
    }
}
