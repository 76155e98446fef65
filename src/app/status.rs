//! `broadsheet status`: what an operator or a monitor asks, read without
//! writing anything. The JSON form is a documented, versioned contract
//! (README, "status --json"); fields are only ever added.

use crate::config::Config;
use crate::content::Selection;
use crate::digest::schedule::{latest_slot, next_slot_after};
use crate::digest::select::{articles_for_issue, oldest_for_issue};
use crate::feeds::output::{MANIFEST, OLD_MANIFEST};
use crate::store::{Store, SubscriberStatus};
use crate::text::count;
use crate::Error;
use chrono::{DateTime, Duration, FixedOffset, SecondsFormat};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The version of the JSON shape.
pub const STATUS_SCHEMA: u32 = 1;

/// Everything `status` reports.
#[derive(Debug, Serialize)]
pub struct Status {
    /// [`STATUS_SCHEMA`].
    pub schema: u32,
    /// The time the report was made for (`--now` or the clock).
    pub now: String,
    /// False when the last issue left failures, or deliveries have been
    /// deferred for over a day; the command then exits 1.
    pub healthy: bool,
    /// Why it is not healthy, or what else needs a look; one sentence each.
    pub problems: Vec<String>,
    /// Articles by state.
    pub articles: ArticleCounts,
    /// One entry per configured column, in config order.
    pub columns: Vec<ColumnStatus>,
    /// The last build that changed the feeds, if any.
    pub last_build: Option<BuildStatus>,
    /// Subscribers by status: active, pending, unsubscribed, bounced.
    pub subscribers: BTreeMap<&'static str, usize>,
    /// The newest issue.
    pub last_issue: Option<IssueStatus>,
    /// The next issue, as things stand.
    pub next_issue: NextIssue,
    /// Deliveries deferred and not retried for over a day.
    pub stale_deferred: usize,
    /// Where the state is.
    pub state: StateStatus,
    /// Bounce and complaint rates, for the last issue and the last 30
    /// days, against `bounces.max_bounce_rate` and `max_complaint_rate`.
    pub bounces: BounceStatus,
}

/// Bounce and complaint rates an operator watches.
#[derive(Debug, Serialize)]
pub struct BounceStatus {
    /// Of the newest issue's deliveries.
    pub last_issue: Option<BounceRates>,
    /// Of the deliveries sent in the last 30 days, and the reports taken
    /// in them.
    pub last_30_days: BounceRates,
    /// `bounces.max_bounce_rate`.
    pub max_bounce_rate: f64,
    /// `bounces.max_complaint_rate`.
    pub max_complaint_rate: f64,
}

/// Counts and rates over some deliveries.
#[derive(Debug, Serialize)]
pub struct BounceRates {
    /// Deliveries the relay accepted.
    pub sent: usize,
    /// Subscribers with a hard bounce.
    pub hard: usize,
    /// Subscribers with a soft bounce.
    pub soft: usize,
    /// Subscribers who complained.
    pub complaints: usize,
    /// `hard / sent`.
    pub hard_rate: f64,
    /// `soft / sent`.
    pub soft_rate: f64,
    /// `complaints / sent`.
    pub complaint_rate: f64,
}

impl From<crate::store::BounceCounts> for BounceRates {
    fn from(c: crate::store::BounceCounts) -> BounceRates {
        BounceRates {
            sent: c.sent,
            hard: c.hard,
            soft: c.soft,
            complaints: c.complaints,
            hard_rate: c.rate(c.hard),
            soft_rate: c.rate(c.soft),
            complaint_rate: c.rate(c.complaints),
        }
    }
}

/// A rate as people read it: `0.3%`, `12.5%`, `2%`.
fn percent(rate: f64) -> String {
    let p = format!("{:.2}", rate * 100.0);
    format!("{}%", p.trim_end_matches('0').trim_end_matches('.'))
}

/// Problems for rates past their limits, one sentence each.
fn rate_problems(what: &str, r: &BounceRates, config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let b = &config.bounces;
    if r.hard_rate > b.max_bounce_rate {
        out.push(format!(
            "{what}: {} of {} deliveries bounced hard ({}), above bounces.max_bounce_rate ({}): mailbox providers slow or refuse a sender that mails dead addresses",
            r.hard, r.sent, percent(r.hard_rate), percent(b.max_bounce_rate)
        ));
    }
    if r.complaint_rate > b.max_complaint_rate {
        out.push(format!(
            "{what}: {} of {} readers reported the digest as spam ({}), above bounces.max_complaint_rate ({}): Gmail and Yahoo throttle or refuse senders past 0.3%",
            r.complaints, r.sent, percent(r.complaint_rate), percent(b.max_complaint_rate)
        ));
    }
    out
}

/// Where the state is kept.
#[derive(Debug, Serialize)]
pub struct StateStatus {
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    /// The SQLite file, or the database as `postgres://user@host:port/db`
    /// (never its password).
    pub location: String,
}

impl Status {
    /// The error `status` exits 1 with, when it found something wrong.
    pub fn unhealthy(&self) -> Option<crate::error::Unhealthy> {
        (!self.healthy).then(|| crate::error::Unhealthy {
            problems: self.problems.clone(),
        })
    }
}

/// Article counts.
#[derive(Debug, Serialize)]
pub struct ArticleCounts {
    /// Published (dated at or before now, not drafts).
    pub published: usize,
    /// Drafts.
    pub drafts: usize,
    /// Dated after now.
    pub scheduled: usize,
    /// Files that could not be read as articles (`check` lists them).
    pub invalid: usize,
}

/// One column.
#[derive(Debug, Serialize)]
pub struct ColumnStatus {
    /// Its slug.
    pub slug: String,
    /// Its title.
    pub title: String,
    /// Published articles.
    pub articles: usize,
    /// The newest of them.
    pub newest: Option<ArticleRef>,
}

/// An article, briefly.
#[derive(Debug, Serialize)]
pub struct ArticleRef {
    /// Its title.
    pub title: String,
    /// Its permalink.
    pub url: String,
    /// When it was published (RFC 3339).
    pub published: String,
}

/// The last build.
#[derive(Debug, Serialize)]
pub struct BuildStatus {
    /// When it finished (RFC 3339, UTC), from the manifest's mtime.
    pub at: String,
    /// Files it keeps in `output_dir`.
    pub files: usize,
}

/// The newest issue.
#[derive(Debug, Serialize)]
pub struct IssueStatus {
    /// ISO week, e.g. `2026-W24`.
    pub label: String,
    /// Its scheduled time (RFC 3339).
    pub scheduled: String,
    /// Whether every delivery has an outcome.
    pub finished: bool,
    /// When its last delivery was settled.
    pub finished_at: Option<String>,
    /// Articles it carries.
    pub articles: usize,
    /// Deliveries by status: queued, sending, sent, deferred, failed, unknown.
    pub deliveries: BTreeMap<&'static str, usize>,
}

/// The next issue.
#[derive(Debug, Serialize)]
pub struct NextIssue {
    /// ISO week.
    pub label: String,
    /// When it is due (RFC 3339); at or before `now` means the next `run`
    /// sends it.
    pub at: String,
    /// Its slot has passed (at or before `now`): the next `run` or
    /// `digest send` sends it.
    pub due_now: bool,
    /// Articles it would carry if it went now.
    pub articles: usize,
    /// Active subscribers following a column it has news in.
    pub subscribers: usize,
}

fn rfc3339(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Reads the publication and the state; writes nothing.
pub fn status(config: &Config, now: DateTime<FixedOffset>) -> Result<Status, Error> {
    // A publication no one has subscribed to yet has no state: that is a
    // normal answer (nothing sent, no subscribers yet), not an error.
    let location = config.state_location();
    let store = match location.exists() {
        true => Some(Store::connect_snapshot(&location)?),
        false => None,
    };
    let tz = config.site.timezone;
    let last = match &store {
        Some(store) => store.latest_issue_counts()?,
        None => None,
    };
    let latest = latest_slot(&config.digest.schedule, tz, now);
    let next = match &last {
        Some(i) if i.cutoff >= latest.cutoff => next_slot_after(&config.digest.schedule, tz, now),
        _ => latest,
    };
    let last_cutoff = last.as_ref().map(|i| i.cutoff);
    // Whole, only what the next issue could carry and the corrections it
    // could list.
    let selection = Selection {
        since: Some(oldest_for_issue(config, &next, last_cutoff)),
        corrected: true,
        ..Selection::default()
    };
    // What `run` publishes: an invalid article's earlier version counts.
    let (catalog, left) = match super::build::published_catalog(config, now, &selection) {
        Ok(read) => read,
        Err(_) => {
            let (catalog, errors) = super::build::selected_catalog(config, now, &selection);
            let left = crate::feeds::output::LeftOut {
                problems: errors,
                kept_earlier: Vec::new(),
            };
            (catalog, left)
        }
    };
    let errors = &left.problems;
    let mut problems = Vec::new();
    let mut healthy = true;
    if !left.is_empty() {
        // Published around, but an operator must fix them: unhealthy, and
        // each named, until they are valid.
        healthy = false;
        let kept = match left.kept_earlier.len() {
            0 => String::new(),
            n => format!(" ({n} kept in the version published before)"),
        };
        problems.push(format!(
            "{} left out of the feeds{kept}; fix and run again",
            count(left.files(), "invalid article", "invalid articles")
        ));
        const SHOWN: usize = 20;
        problems.extend(
            left.problems
                .iter()
                .take(SHOWN)
                .map(|p| format!("invalid: {p}")),
        );
        if left.problems.len() > SHOWN {
            problems.push(format!(
                "… and {} more: `broadsheet check` lists them all",
                left.problems.len() - SHOWN
            ));
        }
    }
    let columns = config
        .columns
        .iter()
        .map(|c| {
            // A catalog holds every column's newest article.
            let indices = catalog.column_indices(&c.slug);
            ColumnStatus {
                slug: c.slug.to_string(),
                title: c.title.clone(),
                articles: catalog.column_count(&c.slug),
                newest: indices.first().map(|&i| {
                    let a = &catalog.articles()[i];
                    ArticleRef {
                        title: a.title.clone(),
                        url: a.url.clone(),
                        published: rfc3339(a.published),
                    }
                }),
            }
        })
        .collect();
    let stats = catalog.stats();
    // The newest file a build wrote: the manifest itself is rewritten by
    // builds whose inputs changed even when no feed did.
    let manifest = crate::feeds::output::Manifest::read(&config.site.output_dir);
    let last_build = manifest
        .files
        .values()
        .map(|f| f.mtime_ns)
        .max()
        // The JSON manifest of an earlier version counts until a build
        // replaces it.
        .filter(|_| {
            let out = &config.site.output_dir;
            out.join(MANIFEST).exists() || out.join(OLD_MANIFEST).exists()
        })
        .map(|ns| BuildStatus {
            at: chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(
                i64::try_from(ns).unwrap_or(i64::MAX),
            )
            .to_rfc3339_opts(SecondsFormat::Secs, true),
            files: manifest.files.len(),
        });

    let articles = articles_for_issue(config, &catalog, &next, last_cutoff);
    let ids: Vec<&str> = articles.iter().map(|a| a.id.as_str()).collect();
    let carried = match &store {
        Some(store) => store.carried(&ids)?,
        None => Default::default(),
    };
    let news: Vec<_> = articles
        .into_iter()
        .filter(|a| !carried.contains(&a.id))
        .collect();
    // A correction is news to its column's readers, as `digest send` counts it.
    let corrections = match &store {
        Some(store) => super::issue::new_corrections(store, &catalog, &next, &news)?,
        None => Vec::new(),
    };
    let columns_with_news: BTreeSet<&str> = news
        .iter()
        .chain(corrections.iter())
        .map(|a| a.column.as_str())
        .collect();
    let mut reach = 0;
    if let Some(store) = &store {
        store.each_subscriber(SubscriberStatus::Active, &mut |s| {
            if super::issue::has_news(&s, &columns_with_news) {
                reach += 1;
            }
        })?;
    }

    let stale_deferred = match &store {
        Some(store) => store.deferred_since(now - Duration::days(1))?,
        None => 0,
    };
    if let Some(i) = &last {
        let failed = i.deliveries.get("failed").copied().unwrap_or(0);
        if failed > 0 {
            healthy = false;
            problems.push(format!("issue {} left {failed} failed deliveries", i.label));
        }
        let unknown = i.deliveries.get("unknown").copied().unwrap_or(0);
        if unknown > 0 {
            problems.push(format!(
                "issue {} has {unknown} deliveries of unknown outcome (see `digest send --retry-unknown`)",
                i.label
            ));
        }
    }
    let bounces = {
        let last_issue = match (&store, &last) {
            (Some(store), Some(i)) => Some(BounceRates::from(store.issue_bounce_counts(i.id)?)),
            _ => None,
        };
        let last_30_days = BounceRates::from(match &store {
            Some(store) => store.bounce_counts_since(now - Duration::days(30))?,
            None => Default::default(),
        });
        let mut found = Vec::new();
        if let (Some(r), Some(i)) = (&last_issue, &last) {
            found.extend(rate_problems(&format!("issue {}", i.label), r, config));
        }
        found.extend(rate_problems("the last 30 days", &last_30_days, config));
        if !found.is_empty() {
            healthy = false;
            problems.extend(found);
        }
        BounceStatus {
            last_issue,
            last_30_days,
            max_bounce_rate: config.bounces.max_bounce_rate,
            max_complaint_rate: config.bounces.max_complaint_rate,
        }
    };
    if stale_deferred > 0 {
        healthy = false;
        problems.push(format!(
            "{stale_deferred} deliveries deferred and not retried for over a day"
        ));
    }
    Ok(Status {
        schema: STATUS_SCHEMA,
        now: rfc3339(now.with_timezone(&tz).fixed_offset()),
        healthy,
        problems,
        articles: ArticleCounts {
            published: stats.published,
            drafts: stats.drafts,
            scheduled: stats.scheduled,
            invalid: errors
                .iter()
                .map(|e| e.location.path.as_str())
                .collect::<BTreeSet<_>>()
                .len(),
        },
        columns,
        last_build,
        subscribers: match &store {
            Some(store) => store.subscriber_counts()?,
            None => crate::store::no_subscriber_counts(),
        },
        last_issue: last.map(|i| IssueStatus {
            label: i.label,
            scheduled: rfc3339(i.cutoff.with_timezone(&tz).fixed_offset()),
            finished: i.finished_at.is_some(),
            finished_at: i
                .finished_at
                .map(|t| rfc3339(t.with_timezone(&tz).fixed_offset())),
            articles: i.articles,
            deliveries: i.deliveries,
        }),
        next_issue: NextIssue {
            label: next.label.clone(),
            at: rfc3339(next.cutoff.with_timezone(&tz).fixed_offset()),
            due_now: next.cutoff <= now,
            articles: news.len(),
            subscribers: reach,
        },
        stale_deferred,
        bounces,
        state: StateStatus {
            backend: location.backend(),
            location: match &location {
                crate::store::Location::Sqlite(p) => config.display_path(p).into_owned(),
                crate::store::Location::Postgres(t) => t.shown().to_owned(),
            },
        },
    })
}

#[cfg(test)]
mod rate_tests {
    use super::percent;

    #[test]
    fn a_rate_reads_as_a_short_percentage() {
        assert_eq!(percent(0.003), "0.3%");
        assert_eq!(percent(0.02), "2%");
        assert_eq!(percent(0.125), "12.5%");
        assert_eq!(percent(1.0 / 3.0), "33.33%");
        assert_eq!(percent(0.0), "0%");
    }
}
