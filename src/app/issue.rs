//! A new digest issue: which articles and corrections it carries (never one
//! an earlier issue carried), their summaries, and the rows that record it
//! with one queued delivery for each reader who has something new.

use super::digest::{message_id, Prepared, SendSummary};
use crate::config::Config;
use crate::content::{markdown, Article, Catalog, ContentErrors};
use crate::digest::schedule::Slot;
use crate::digest::{select, web_copy_path, Composer, IssueContent, PastIssue, ARCHIVE_PATH};
use crate::store::{IssueRow, NewIssue, Store, Subscriber};
use crate::Error;
use chrono::{DateTime, FixedOffset};
use std::cell::Cell;
use std::collections::BTreeSet;

/// The articles of an issue with their summaries.
pub(super) fn content<'a>(
    config: &Config,
    slot: Slot,
    articles: Vec<&'a Article>,
    corrections: Vec<&'a Article>,
) -> Result<IssueContent<'a>, Error> {
    let mut out = Vec::with_capacity(articles.len());
    let mut errors = Vec::new();
    for a in articles {
        match markdown::render(a, config.feeds.summary_chars) {
            Ok(body) => out.push((a, body.summary)),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ContentErrors(errors).into());
    }
    Ok(IssueContent {
        slot,
        articles: out,
        corrections,
    })
}

/// Whether an issue with news in `columns_with_news` has any for `s`: who
/// gets it, and who `status` counts it will reach.
pub(super) fn has_news(s: &Subscriber, columns_with_news: &BTreeSet<&str>) -> bool {
    columns_with_news.iter().any(|c| s.follows(c))
}

/// The columns of `s` that have something new in `columns_with_news`,
/// as the key readers share a rendering by.
pub(super) fn group_key(s: &Subscriber, columns_with_news: &BTreeSet<&str>) -> Vec<String> {
    columns_with_news
        .iter()
        .filter(|c| s.follows(c))
        .map(|c| (*c).to_owned())
        .collect()
}

/// `articles` less those an earlier issue carried.
pub(super) fn uncarried<'a>(
    store: &Store,
    mut articles: Vec<&'a Article>,
) -> Result<Vec<&'a Article>, Error> {
    let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
    let carried = store.carried(&ids)?;
    articles.retain(|a| !carried.contains(&a.id));
    Ok(articles)
}

/// Corrections an issue at `slot` lists: to articles an earlier issue
/// carried (not to those this one carries), not listed by any issue yet.
pub(crate) fn new_corrections<'a>(
    store: &Store,
    catalog: &'a Catalog,
    slot: &Slot,
    carried_now: &[&Article],
) -> Result<Vec<&'a Article>, Error> {
    let mut found = select::corrections_up_to(catalog, slot);
    found.retain(|a| !carried_now.iter().any(|c| c.id == a.id));
    let ids: Vec<&str> = found.iter().map(|a| a.id.as_str()).collect();
    let carried = store.carried(&ids)?;
    found.retain(|a| carried.contains(&a.id));
    let pairs: Vec<(&str, DateTime<FixedOffset>)> = found
        .iter()
        .filter_map(|a| Some((a.id.as_str(), a.updated?)))
        .collect();
    let listed = store.corrections_listed(&pairs)?;
    found.retain(|a| !listed.contains(&a.id));
    Ok(found)
}

/// Writes a new issue: its articles, its web copy, and one queued delivery
/// for every active subscriber with something new.
#[allow(clippy::too_many_arguments)]
pub(super) fn create_issue(
    config: &Config,
    catalog: &Catalog,
    store: &mut Store,
    prepared: &Prepared,
    slot: Slot,
    last_cutoff: Option<DateTime<FixedOffset>>,
    now: DateTime<FixedOffset>,
    summary: &mut SendSummary,
) -> Result<IssueRow, Error> {
    let slot = Slot {
        label: unused_label(store, &slot.label)?,
        ..slot
    };
    let articles = uncarried(
        store,
        select::articles_for_issue(config, catalog, &slot, last_cutoff),
    )?;
    let corrections = new_corrections(store, catalog, &slot, &articles)?;
    // A correction is news to the readers of its column.
    let columns_with_news: BTreeSet<&str> = articles
        .iter()
        .chain(corrections.iter())
        .map(|a| a.column.as_str())
        .collect();
    let content = content(config, slot.clone(), articles.clone(), corrections.clone())?;
    if !articles.is_empty() || !corrections.is_empty() {
        // The web copy goes up before any email links to it.
        let html =
            Composer::new(config, &prepared.templates, &content).web_copy(&prepared.public_url)?;
        let path = config.site.output_dir.join(web_copy_path(&slot.label));
        crate::fsio::write_if_changed(&path, html.as_bytes())?;
        // Before the issue is stored, like the web copy: a failed write
        // leaves the issue due, and the next run writes both.
        write_archive(
            config,
            store,
            prepared,
            PastIssue {
                label: slot.label.clone(),
                cutoff: slot.cutoff,
                articles: articles.len(),
                corrections: corrections.len(),
            },
        )?;
    }
    let rows: Vec<(String, String, DateTime<FixedOffset>)> = articles
        .iter()
        .map(|a| (a.id.clone(), a.column.to_string(), a.published))
        .collect();
    // Corrections listed now, and those already in the articles carried
    // now: neither is listed again.
    let correction_rows: Vec<(String, DateTime<FixedOffset>)> = corrections
        .iter()
        .chain(articles.iter().filter(|a| a.correction.is_some()))
        .filter_map(|a| Some((a.id.clone(), a.updated?)))
        .collect();
    // Counted as the store asks; when another sender made the issue
    // first, it asks no one and this run joins that issue.
    let (recipients, skipped) = (Cell::new(0usize), Cell::new(0usize));
    let pick = |s: &Subscriber| {
        if has_news(s, &columns_with_news) {
            recipients.set(recipients.get() + 1);
            Some(message_id(prepared, &slot, s.id))
        } else {
            skipped.set(skipped.get() + 1);
            None
        }
    };
    let issue = store.create_issue(
        &NewIssue {
            label: &slot.label,
            cutoff: slot.cutoff,
            articles: &rows,
            recipients: &pick,
            corrections: &correction_rows,
        },
        now,
    )?;
    summary.skipped += skipped.get();
    tracing::info!(
        issue = %issue.label,
        articles = rows.len(),
        recipients = recipients.get(),
        "issue written"
    );
    Ok(issue)
}

/// `week` (an ISO week label), or `week-2`, `week-3`… when an issue of
/// that week exists already (a forced send after the week's issue): the
/// label names the issue's web copy, which emails already sent link to,
/// so no two issues may share one.
fn unused_label(store: &Store, week: &str) -> Result<String, Error> {
    let taken: BTreeSet<String> = store.all_issues()?.into_iter().map(|i| i.label).collect();
    Ok(std::iter::once(week.to_owned())
        .chain((2..).map(|n| format!("{week}-{n}")))
        .find(|l| !taken.contains(l))
        .expect("an unbounded sequence has a free label"))
}

/// Writes `digests/index.html`: `new` and every stored issue whose web copy
/// is in `output_dir` (an issue that carried nothing has none), newest
/// first. Read from the state each time, so it is the same bytes for the
/// same issues whichever run writes it.
fn write_archive(
    config: &Config,
    store: &Store,
    prepared: &Prepared,
    new: PastIssue,
) -> Result<(), Error> {
    let out = &config.site.output_dir;
    let mut issues = vec![];
    for row in store.all_issues()? {
        if row.label == new.label || !out.join(web_copy_path(&row.label)).is_file() {
            continue;
        }
        let carried: BTreeSet<String> = store
            .issue_articles(row.id)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        // An article carried with its correction is recorded as corrected
        // too, but it went out as an article.
        let corrections = store
            .issue_corrections(row.id)?
            .iter()
            .filter(|id| !carried.contains(*id))
            .count();
        issues.push(PastIssue {
            label: row.label,
            cutoff: row.cutoff,
            articles: carried.len(),
            corrections,
        });
    }
    issues.push(new);
    let html = crate::digest::archive(config, &prepared.templates, issues, &prepared.public_url)?;
    crate::fsio::write_if_changed(&out.join(ARCHIVE_PATH), html.as_bytes())?;
    Ok(())
}
