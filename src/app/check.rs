//! `broadsheet check`: validate config and every article, bodies included;
//! write nothing.

use crate::config::Config;
use crate::content::{markdown, Catalog, ContentErrors};
use crate::Error;
use chrono::{DateTime, FixedOffset};
use rayon::prelude::*;

/// What a check looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSummary {
    /// Columns in the configuration.
    pub columns: usize,
    /// Articles published at `now`.
    pub articles: usize,
    /// Drafts (checked, not published).
    pub drafts: usize,
    /// Articles scheduled after `now` (checked, not published).
    pub scheduled: usize,
}

/// Validates every article and renders every body, drafts and scheduled
/// articles included, reporting all problems at once.
pub fn check(config: &Config, now: DateTime<FixedOffset>) -> Result<CheckSummary, Error> {
    let (catalog, mut errors) = Catalog::load_lenient(config, now);
    let body_errors: Vec<_> = catalog
        .articles()
        .par_iter()
        .chain(catalog.unpublished().par_iter())
        .filter_map(|a| markdown::render(a, config.feeds.summary_chars).err())
        .collect();
    errors.extend(body_errors);
    if !errors.is_empty() {
        return Err(ContentErrors::sorted(errors).into());
    }
    Ok(CheckSummary {
        columns: config.columns.len(),
        articles: catalog.stats.published,
        drafts: catalog.stats.drafts,
        scheduled: catalog.stats.scheduled,
    })
}
