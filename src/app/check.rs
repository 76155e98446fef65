//! `broadsheet check`: validate config and every article, bodies included;
//! write nothing. Loading the config has checked every value (addresses,
//! the DKIM key, the CA file, the secret's length); what is left is the
//! relay's TLS setup, which `check` makes as a send would, and the content
//! and templates.

use crate::config::Config;
use crate::content::index::ReadOptions;
use crate::content::{
    discover_content, markdown, Article, Catalog, ContentErrors, Index, Selection,
};
use crate::digest::render::Templates;
use crate::digest::schedule::latest_slot;
use crate::digest::{Composer, IssueContent};
use crate::mail::Transport;
use crate::Error;
use chrono::{DateTime, FixedOffset};

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
    // Made and dropped: nothing connects until a message is sent.
    Transport::from_config(config)?;
    // Each body is rendered as its file is read, and only its problems
    // are kept: at a million articles, holding every article until all
    // were read would take gigabytes.
    let (files, walk_errors) = discover_content(config, false);
    let render = |a: Article| markdown::render(&a, config.feeds.summary_chars).err();
    let read = ReadOptions::default();
    let (index, body_errors, mut errors) =
        Index::read(config, files, walk_errors, now, read, render);
    errors.extend(body_errors.into_iter().flatten());
    if !errors.is_empty() {
        return Err(ContentErrors::sorted(errors).into());
    }
    // The templates are tried on the newest articles and a corrected one.
    let selection = Selection {
        corrected: true,
        newest: 3,
        ..Selection::default()
    };
    let (catalog, errors) = Catalog::from_index(config, index, Vec::new(), &selection);
    if !errors.is_empty() {
        return Err(ContentErrors::sorted(errors).into());
    }
    check_templates(config, &catalog, now)?;
    Ok(CheckSummary {
        columns: config.columns.len(),
        articles: catalog.stats().published,
        drafts: catalog.stats().drafts,
        scheduled: catalog.stats().scheduled,
    })
}

/// Compiles the digest templates and renders them in strict mode against
/// the newest articles, so a field a template names but the data lacks is
/// found now, not in the middle of a send.
fn check_templates(
    config: &Config,
    catalog: &Catalog,
    now: DateTime<FixedOffset>,
) -> Result<(), Error> {
    let templates = Templates::load(config)?;
    let articles = catalog
        .articles()
        .iter()
        .take(3)
        .map(|a| (a, a.summary.clone().unwrap_or_else(|| a.title.clone())))
        .collect();
    // One corrected article (or any, if none is) checks the corrections
    // section of the templates too.
    let corrections = catalog
        .articles()
        .iter()
        .find(|a| a.correction.is_some())
        .or(catalog.articles().first())
        .into_iter()
        .collect();
    let content = IssueContent {
        slot: latest_slot(&config.digest.schedule, config.site.timezone, now),
        articles,
        corrections,
    };
    let composer = Composer::new(config, &templates, &content);
    composer.shared(&[], true)?;
    composer.shared(&[], false)?;
    let public_url = format!("{}/newsletter", config.site.base_url);
    composer.web_copy(&public_url)?;
    let past = crate::digest::PastIssue {
        label: content.slot.label.clone(),
        cutoff: content.slot.cutoff,
        articles: content.articles.len(),
        corrections: content.corrections.len(),
    };
    crate::digest::archive(config, &templates, vec![past], &public_url)?;
    // Mail that goes through a relay reaches people: their law wants the
    // sender named with a postal address (an outbox alone reaches no one).
    if config.digest.from.is_some()
        && config.smtp.host.is_some()
        && config.digest.sender_address.is_none()
    {
        tracing::warn!(
            "{}: digest.sender_address is not set: CAN-SPAM and Hong Kong's Unsolicited Electronic Messages Ordinance expect a sender's postal address in every digest; the footer shows only the site's title",
            config.display_path(&config.path)
        );
    }
    // DMARC alignment of the From, DKIM and Return-Path domains: mail
    // that fails DMARC is refused in bulk by Gmail and Yahoo.
    for w in super::alignment_warnings(config) {
        tracing::warn!("{}: {w}", config.display_path(&config.path));
    }
    crate::server::check_pages(config)?;
    crate::feeds::pages::check(config, catalog)?;
    Ok(())
}
