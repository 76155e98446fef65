//! Which articles an issue carries, and which of them each subscriber gets.

use super::schedule::{next_slot_after, slot_at_or_after, Slot};
use crate::config::Config;
use crate::content::{Article, Catalog};
use chrono::{DateTime, Duration, FixedOffset};

/// The articles an issue at `slot` may carry: every published article up
/// to the cutoff (the caller drops those an earlier issue carried), except
/// those that were older
/// than `digest.max_age_days` at the slot that would first have carried
/// them. After missed weeks that slot is the first one after the last
/// issue, so the one issue sent carries what the missed ones would have.
/// Newest first.
pub fn articles_for_issue<'a>(
    config: &Config,
    catalog: &'a Catalog,
    slot: &Slot,
    last_cutoff: Option<DateTime<FixedOffset>>,
) -> Vec<&'a Article> {
    let tz = config.site.timezone;
    let schedule = &config.digest.schedule;
    let max_age = Duration::days(i64::from(config.digest.max_age_days));
    let first = first_slot(config, slot, last_cutoff);
    let oldest = first - max_age;
    catalog
        .articles()
        .iter()
        .filter(|a| a.published <= slot.cutoff)
        .take_while(|a| a.published >= oldest)
        .filter(|a| {
            // The slot that would first have carried it.
            let due = slot_at_or_after(schedule, tz, a.published)
                .cutoff
                .max(first)
                .min(slot.cutoff);
            due - a.published <= max_age
        })
        .collect()
}

/// The cutoff of the first slot an issue at `slot` stands for: after
/// missed weeks, the first one after the last issue.
fn first_slot(
    config: &Config,
    slot: &Slot,
    last_cutoff: Option<DateTime<FixedOffset>>,
) -> DateTime<FixedOffset> {
    let tz = config.site.timezone;
    match last_cutoff {
        Some(last) => next_slot_after(&config.digest.schedule, tz, last)
            .cutoff
            .min(slot.cutoff),
        None => slot.cutoff,
    }
}

/// The oldest publication time [`articles_for_issue`] may carry: an
/// index can pick out the articles a digest needs from this bound alone.
pub fn oldest_for_issue(
    config: &Config,
    slot: &Slot,
    last_cutoff: Option<DateTime<FixedOffset>>,
) -> DateTime<FixedOffset> {
    first_slot(config, slot, last_cutoff) - Duration::days(i64::from(config.digest.max_age_days))
}

/// Published articles carrying a correction made by the issue's cutoff,
/// newest correction first. The caller keeps those an earlier issue
/// carried and no issue has listed yet.
pub fn corrections_up_to<'a>(catalog: &'a Catalog, slot: &Slot) -> Vec<&'a Article> {
    let mut out: Vec<&Article> = catalog
        .articles()
        .iter()
        .filter(|a| a.correction.is_some() && a.updated.is_some_and(|u| u <= slot.cutoff))
        .collect();
    out.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
    out
}
