//! `digest preview`: the issue now due, rendered for one reader as the
//! `.eml` a send would deliver and its HTML, with nothing sent and the
//! state left as it is.

use super::digest::{message_id, prepare, Builder};
use super::issue::{content, new_corrections, uncarried};
use crate::config::Config;
use crate::content::{Article, Catalog};
use crate::digest::schedule::latest_slot;
use crate::digest::select;
use crate::error::{DeliveryFailed, UsageError};
use crate::store::{DeliveryRow, Store, Subscriber, SubscriberStatus};
use crate::Error;
use chrono::{DateTime, FixedOffset};
use std::collections::BTreeSet;

/// Where `digest preview` wrote its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewSummary {
    /// The issue previewed.
    pub label: String,
    /// The recipient shown.
    pub to: String,
    /// The files written; empty when the reader has nothing new.
    pub files: Vec<std::path::PathBuf>,
    /// Articles in the issue.
    pub articles: usize,
}

/// Renders the issue now due for one reader as `.eml` and `.html` files,
/// without sending anything or changing the state.
pub fn preview(
    config: &Config,
    now: DateTime<FixedOffset>,
    to: Option<&str>,
    out: &std::path::Path,
) -> Result<PreviewSummary, Error> {
    let prepared = prepare(config, false)?;
    let catalog = Catalog::load(config, now)?;
    let tz = config.site.timezone;
    let slot = latest_slot(&config.digest.schedule, tz, now);
    // The state is read if there is one, and never created or changed.
    let location = config.state_location();
    let store = if !location.exists() {
        None
    } else if location.is_shared() {
        Some(Store::connect_read_only(&location)?)
    } else {
        Some(Store::open(&config.site.state_path)?)
    };
    let (articles, reader) = {
        let latest = match &store {
            Some(s) => s.latest_issue()?,
            None => None,
        };
        let articles: Vec<&Article> = match (&store, &latest) {
            (Some(s), Some(l)) if l.cutoff == slot.cutoff => {
                let ids: BTreeSet<String> = s
                    .issue_articles(l.id)?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                catalog
                    .articles()
                    .iter()
                    .filter(|a| ids.contains(&a.id))
                    .collect()
            }
            _ => {
                let last = latest.as_ref().map(|l| l.cutoff);
                let articles = select::articles_for_issue(config, &catalog, &slot, last);
                match &store {
                    Some(s) => uncarried(s, articles)?,
                    None => articles,
                }
            }
        };
        let found = match (to, &store) {
            (Some(addr), Some(s)) => {
                let email =
                    crate::address::Email::parse(addr).map_err(UsageError::argument("--to"))?;
                s.subscriber(&email)?
            }
            // The earliest added, not the first by address: whom a preview
            // is for stays put as subscribers come.
            (None, Some(s)) => s.first_subscriber(SubscriberStatus::Active)?,
            _ => None,
        };
        let reader = match (found, to) {
            (Some(s), _) => s,
            (None, addr) => {
                let email = addr.unwrap_or("reader@example.com");
                crate::address::Email::parse(email).map_err(UsageError::argument("--to"))?;
                Subscriber {
                    id: 0,
                    email: email.to_owned(),
                    name: String::new(),
                    columns: Vec::new(),
                    status: SubscriberStatus::Active,
                }
            }
        };
        (articles, reader)
    };
    let corrections = match &store {
        Some(s) => match s.latest_issue()? {
            Some(l) if l.cutoff == slot.cutoff => {
                let ids: BTreeSet<String> = s.issue_corrections(l.id)?.into_iter().collect();
                catalog
                    .articles()
                    .iter()
                    .filter(|a| ids.contains(&a.id))
                    .filter(|a| !articles.iter().any(|carried| carried.id == a.id))
                    .collect()
            }
            _ => new_corrections(s, &catalog, &slot, &articles)?,
        },
        None => Vec::new(),
    };
    let content = content(config, slot.clone(), articles, corrections)?;
    let builder = Builder::new(config, &prepared, &content, slot.cutoff, now, None)?;
    let row = DeliveryRow {
        id: 0,
        message_id: message_id(&prepared, &slot, reader.id),
        subscriber: reader.clone(),
    };
    let mut files = Vec::new();
    // An address given with --to was checked above; one from the state
    // that no longer parses is the state's, not the command line's.
    let email =
        crate::address::Email::parse(&reader.email).map_err(|reason| DeliveryFailed::Message {
            to: reader.email.clone(),
            reason,
        })?;
    if let Some((body, unsubscribe_url)) = builder.personal(&reader, &email)? {
        let m = builder.message(&row, &body, &unsubscribe_url)?;
        crate::fsio::create_dir(out)?;
        let stem = format!(
            "{}-{}",
            slot.label,
            reader.email.replace(['@', '/', '\\'], "_")
        );
        let eml = out.join(format!("{stem}.eml"));
        crate::fsio::write_if_changed(&eml, &m.bytes)?;
        let html = out.join(format!("{stem}.html"));
        crate::fsio::write_if_changed(&html, body.html.as_bytes())?;
        files = vec![eml, html];
    }
    Ok(PreviewSummary {
        label: slot.label,
        to: reader.email,
        files,
        articles: content.articles.len(),
    })
}
