//! `broadsheet digest send`, `digest preview`, and the sending half of
//! `run`: decide which issue is due, write it and its deliveries to the
//! state, then send each delivery with its state committed around it.

use crate::config::{Config, ServiceUse};
use crate::content::{markdown, Article, Catalog, ContentErrors};
use crate::digest::message::{self, Letter, Sender};
use crate::digest::render::{RenderedDigest, Templates};
use crate::digest::schedule::{latest_slot, next_slot_after, Slot};
use crate::digest::{personalise, select, web_copy_path, Composer, IssueContent, Personal};
use crate::error::{DeliveryFailed, UsageError};
use crate::mail::{Outgoing, SendResult, Transport};
use crate::store::{
    DeliveryRow, DeliveryStatus, IssueRow, NewIssue, Outcome, Store, Subscriber, SubscriberStatus,
};
use crate::token::{Purpose, Signer};
use crate::Error;
use chrono::{DateTime, Duration, FixedOffset};
use lettre::message::Mailbox;
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How long unsubscribe links in a digest keep working.
const LINK_LIFETIME_DAYS: i64 = 365;
/// How long a digest's preferences link works: digests get forwarded, and
/// whoever holds one may change the reader's columns and name until then.
const PREFERENCES_LINK_DAYS: i64 = 30;
/// Renderings kept at once; deliveries come sorted by rendering, so only
/// the last few are ever wanted again.
const SHARED_CACHE: usize = 64;
/// Outcomes are committed in batches of at least this many…
const OUTCOME_BATCH: usize = 256;
/// …or at least this often (marks are committed at once, taking any
/// waiting outcomes along).
const OUTCOME_FLUSH: std::time::Duration = std::time::Duration::from_millis(100);

/// Options of `digest send`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions {
    /// Send an issue now, whatever the schedule says.
    pub force: bool,
    /// Send again the deliveries whose outcome is unknown.
    pub retry_unknown: bool,
}

/// What a send did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendSummary {
    /// Another run holds the lock; nothing was done.
    pub locked: bool,
    /// Who holds it, as far as the lock file says.
    pub holder: crate::store::LockHolder,
    /// The issue written this run, if any.
    pub created: Option<String>,
    /// Scheduled slots that passed with no issue, folded into this one.
    pub missed_slots: usize,
    /// The next scheduled issue, when none was due.
    pub next_due: Option<DateTime<FixedOffset>>,
    /// Issues worked on (new or resumed).
    pub issues: Vec<String>,
    /// Accepted by the server (or written to the outbox).
    pub sent: usize,
    /// Refused for now; the next run tries again.
    pub deferred: usize,
    /// Refused for good.
    pub failed: usize,
    /// Active subscribers with nothing new in the columns they follow.
    pub skipped: usize,
    /// Deliveries a dead run left in flight, now marked unknown.
    pub unknown_found: usize,
    /// Deliveries whose outcome this run could not learn (the relay did
    /// not answer the end of the message), now marked unknown.
    pub unknown_now: usize,
    /// Deliveries with an unknown outcome, in every issue.
    pub unknown: usize,
    /// Unknown deliveries queued again (`--retry-unknown`).
    pub requeued: usize,
    /// What stopped the run early, if something did.
    pub fatal: Option<String>,
    /// Why the last deferred delivery was deferred, addresses left out.
    pub last_deferral: Option<String>,
}

impl SendSummary {
    /// Whether anything failed or was left for later.
    pub fn has_failures(&self) -> bool {
        self.deferred > 0 || self.failed > 0 || self.unknown_now > 0 || self.fatal.is_some()
    }
}

/// Everything sending needs that comes from the config, checked up front.
struct Prepared {
    sender: Sender,
    signer: Signer,
    public_url: String,
    templates: Templates,
}

/// Compiles the templates and checks what a digest needs from the config.
fn prepare(config: &Config, for_real: bool) -> Result<Prepared, Error> {
    let display = |p: &std::path::Path| config.display_path(p).into_owned();
    let templates = Templates::load(&config.site.templates_dir, &config.digest.subject, &display)?;
    let (public_url, secret) = if for_real {
        let service = config.service(ServiceUse::DigestSend)?;
        (service.public_url, service.secret)
    } else {
        // A preview signs nothing anyone can use, and links to where the
        // service would be.
        let public_url = config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{}/newsletter", config.site.base_url));
        (public_url, config.server.secret.clone())
    };
    Ok(Prepared {
        sender: Sender::from_config(config)?,
        signer: Signer::new(secret.expose()),
        public_url,
        templates,
    })
}

/// From, Reply-To, List-Id and DKIM: what every message broadsheet sends
/// carries, the digest and the subscriber service's emails alike.
pub(crate) fn sender(config: &Config) -> Result<Sender, Error> {
    Ok(Sender::from_config(config)?)
}

/// The relay, or the outbox.
pub(crate) fn transport(config: &Config) -> Result<Transport, Error> {
    Ok(Transport::from_config(config)?)
}

/// The articles of an issue with their summaries.
fn content<'a>(
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

/// The columns of `s` that have something new in `columns_with_news`,
/// as the key readers share a rendering by.
fn group_key(s: &Subscriber, columns_with_news: &BTreeSet<&str>) -> Vec<String> {
    columns_with_news
        .iter()
        .filter(|c| s.follows(c))
        .map(|c| (*c).to_owned())
        .collect()
}

/// Sends the digest now due (or forced), resuming unfinished issues first.
pub fn send(
    config: &Config,
    now: DateTime<FixedOffset>,
    options: SendOptions,
    progress: &indicatif::ProgressBar,
) -> Result<SendSummary, Error> {
    let _lock = match super::run::take_run_lock(config)? {
        Ok(lock) => lock,
        Err(holder) => {
            return Ok(SendSummary {
                locked: true,
                holder,
                ..SendSummary::default()
            })
        }
    };
    send_locked(config, now, options, progress)
}

/// [`send`] for a caller that holds the run lock already.
pub fn send_locked(
    config: &Config,
    now: DateTime<FixedOffset>,
    options: SendOptions,
    progress: &indicatif::ProgressBar,
) -> Result<SendSummary, Error> {
    let prepared = prepare(config, true)?;
    // lettre's connection pools belong to a runtime from creation to drop.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Start {
            what: "the sender".into(),
            source,
        })?;
    let _entered = runtime.enter();
    let transport = transport(config)?;
    let catalog = Catalog::load(config, now)?;
    let mut store = Store::open(&config.site.state_path)?;
    store.make_durable()?;
    let mut summary = SendSummary {
        unknown_found: store.mark_in_flight_unknown(now)?,
        ..SendSummary::default()
    };
    if summary.unknown_found > 0 {
        tracing::warn!(
            "{} deliveries were in flight when an earlier run stopped; their outcome is unknown, so they are not sent again (use --retry-unknown to send them anyway)",
            summary.unknown_found
        );
    }
    if options.retry_unknown {
        summary.requeued = store.requeue_unknown(now)?;
    }

    // A new issue, if one is due.
    let tz = config.site.timezone;
    let slot = if options.force {
        Slot::at(now, tz)
    } else {
        latest_slot(&config.digest.schedule, tz, now)
    };
    let latest = store.latest_issue()?;
    let due = match &latest {
        None => true,
        Some(l) if options.force => l.cutoff < slot.cutoff,
        Some(l) => l.cutoff < slot.cutoff,
    };
    if due {
        if let Some(l) = &latest {
            let mut missed = 0;
            let mut s = next_slot_after(&config.digest.schedule, tz, l.cutoff);
            while s.cutoff < slot.cutoff {
                missed += 1;
                s = next_slot_after(&config.digest.schedule, tz, s.cutoff);
            }
            if missed > 0 && !options.force {
                tracing::warn!(
                    "{missed} scheduled issue(s) since {} were not sent; issue {} carries their articles",
                    l.label,
                    slot.label
                );
            }
            summary.missed_slots = missed;
        }
        let issue = create_issue(
            config,
            &catalog,
            &mut store,
            &prepared,
            slot.clone(),
            latest.as_ref().map(|l| l.cutoff),
            now,
            &mut summary,
        )?;
        summary.created = Some(issue.label.clone());
    } else {
        summary.next_due = Some(next_slot_after(&config.digest.schedule, tz, now).cutoff);
    }

    // Send every unfinished issue, oldest first.
    let store = Mutex::new(store);
    let unfinished = store.lock().expect("store lock").unfinished_issues()?;
    for issue in unfinished {
        summary.issues.push(issue.label.clone());
        let ids = store.lock().expect("store lock").issue_articles(issue.id)?;
        let by_id: HashMap<&str, &Article> = catalog
            .articles()
            .iter()
            .map(|a| (a.id.as_str(), a))
            .collect();
        let mut articles: Vec<&Article> = ids
            .iter()
            .filter_map(|(id, _)| by_id.get(id.as_str()).copied())
            .collect();
        articles.sort_by(|a, b| b.published.cmp(&a.published).then_with(|| a.id.cmp(&b.id)));
        let corrected = store
            .lock()
            .expect("store lock")
            .issue_corrections(issue.id)?;
        // The issue's own corrected articles are recorded as corrected too
        // (so no later issue lists them), but they go out as articles.
        let mut corrections: Vec<&Article> = corrected
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).copied())
            .filter(|a| !articles.iter().any(|carried| carried.id == a.id))
            .collect();
        corrections.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.id.cmp(&b.id)));
        let content = content(
            config,
            Slot {
                cutoff: issue.cutoff,
                label: issue.label.clone(),
            },
            articles,
            corrections,
        )?;
        deliver_issue(
            config,
            &runtime,
            &store,
            &prepared,
            &transport,
            &content,
            &issue,
            now,
            progress,
            &mut summary,
        )?;
        if summary.fatal.is_some() {
            break;
        }
    }
    let store = store.into_inner().expect("store lock");
    summary.unknown = store.unknown_deliveries()?;
    Ok(summary)
}

/// `articles` less those an earlier issue carried.
fn uncarried<'a>(store: &Store, mut articles: Vec<&'a Article>) -> Result<Vec<&'a Article>, Error> {
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
fn create_issue(
    config: &Config,
    catalog: &Catalog,
    store: &mut Store,
    prepared: &Prepared,
    slot: Slot,
    last_cutoff: Option<DateTime<FixedOffset>>,
    now: DateTime<FixedOffset>,
    summary: &mut SendSummary,
) -> Result<IssueRow, Error> {
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
    let domain = prepared.sender.from.email.domain().to_owned();
    let mut deliveries = Vec::new();
    for s in store.subscribers(Some(SubscriberStatus::Active))? {
        if group_key(&s, &columns_with_news).is_empty() {
            summary.skipped += 1;
            continue;
        }
        deliveries.push((
            s.id,
            message::message_id(
                &slot.label,
                slot.cutoff,
                &prepared.signer.opaque_id(s.id),
                &domain,
            ),
        ));
    }
    let content = content(config, slot.clone(), articles.clone(), corrections.clone())?;
    if !articles.is_empty() || !corrections.is_empty() {
        // The web copy goes up before any email links to it.
        let html =
            Composer::new(config, &prepared.templates, &content).web_copy(&prepared.public_url)?;
        let path = config.site.output_dir.join(web_copy_path(&slot.label));
        crate::fsio::write_if_changed(&path, html.as_bytes())?;
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
    let issue = store.create_issue(
        &NewIssue {
            label: &slot.label,
            cutoff: slot.cutoff,
            articles: &rows,
            deliveries: &deliveries,
            corrections: &correction_rows,
        },
        now,
    )?;
    tracing::info!(
        issue = %issue.label,
        articles = rows.len(),
        recipients = deliveries.len(),
        "issue written"
    );
    Ok(issue)
}

/// Renderings shared by readers of the same columns (and whether they
/// have a name), rendered on first use.
type SharedCache = Mutex<HashMap<(Vec<String>, bool), Arc<Option<RenderedDigest>>>>;

/// Builds one delivery's message.
struct Builder<'a> {
    prepared: &'a Prepared,
    composer: Composer<'a>,
    columns_with_news: BTreeSet<&'a str>,
    shared: SharedCache,
    cutoff: DateTime<FixedOffset>,
    now: DateTime<FixedOffset>,
}

impl<'a> Builder<'a> {
    fn new(
        config: &'a Config,
        prepared: &'a Prepared,
        content: &'a IssueContent<'a>,
        cutoff: DateTime<FixedOffset>,
        now: DateTime<FixedOffset>,
    ) -> Builder<'a> {
        Builder {
            prepared,
            composer: Composer::new(config, &prepared.templates, content),
            columns_with_news: content
                .articles
                .iter()
                .map(|(a, _)| a)
                .chain(content.corrections.iter())
                .map(|a| a.column.as_str())
                .collect(),
            shared: Mutex::new(HashMap::new()),
            cutoff,
            now,
        }
    }

    /// One reader's subject, HTML and text, with their signed links;
    /// `None` when the columns they follow have nothing new.
    fn personal(
        &self,
        s: &Subscriber,
        email: &crate::address::Email,
    ) -> Result<Option<(RenderedDigest, String)>, Error> {
        let key = (group_key(s, &self.columns_with_news), !s.name.is_empty());
        let cached = self.shared.lock().expect("cache lock").get(&key).cloned();
        let shared = match cached {
            Some(r) => r,
            None => {
                let r = Arc::new(self.composer.shared(&key.0, key.1)?);
                let mut cache = self.shared.lock().expect("cache lock");
                if cache.len() >= SHARED_CACHE {
                    cache.clear();
                }
                cache.insert(key, r.clone());
                r
            }
        };
        let Some(shared) = shared.as_ref() else {
            return Ok(None);
        };
        let signer = &self.prepared.signer;
        let link = |page: &str, purpose: Purpose, days: i64| {
            format!(
                "{}/{page}?token={}",
                self.prepared.public_url,
                signer.sign(
                    s.id,
                    email.key(),
                    purpose,
                    self.cutoff + Duration::days(days)
                )
            )
        };
        let unsubscribe_url = link("unsubscribe", Purpose::Unsubscribe, LINK_LIFETIME_DAYS);
        let preferences_url = link("preferences", Purpose::Preferences, PREFERENCES_LINK_DAYS);
        let body = personalise(
            shared,
            &Personal {
                name: &s.name,
                email: &s.email,
                unsubscribe_url: &unsubscribe_url,
                preferences_url: &preferences_url,
            },
        );
        Ok(Some((body, unsubscribe_url)))
    }

    /// One delivery's message. An error is one no delivery can get past
    /// (a template that does not render); an address no message can be
    /// built for is [`Built::Unsendable`], that delivery's failure only.
    fn build(&self, d: &DeliveryRow) -> Result<Built, Error> {
        let s = &d.subscriber;
        // `Email::parse` takes only what a message header can carry.
        let email = match crate::address::Email::parse(&s.email) {
            Ok(email) => email,
            Err(why) => {
                return Ok(Built::Unsendable(format!(
                    "no message can be addressed to this subscriber: {why}"
                )))
            }
        };
        let Some((body, unsubscribe_url)) = self.personal(s, &email)? else {
            return Ok(Built::Nothing);
        };
        match self.message(d, &body, &unsubscribe_url) {
            Ok(m) => Ok(Built::Message(m)),
            Err(e) => Ok(Built::Unsendable(e.to_string())),
        }
    }

    fn message(
        &self,
        d: &DeliveryRow,
        body: &RenderedDigest,
        unsubscribe_url: &str,
    ) -> Result<Outgoing, Error> {
        let s = &d.subscriber;
        let address = lettre::Address::from_str(&s.email).map_err(|e| DeliveryFailed::Message {
            to: s.email.clone(),
            reason: e.to_string(),
        })?;
        // Names are cleaned when stored; cleaned again here, where a hidden
        // direction mark would reorder what the reader sees in `To`.
        let name = crate::address::display_name(&s.name);
        let to = Mailbox::new((!name.is_empty()).then_some(name), address);
        let message = message::build(
            &self.prepared.sender,
            &Letter {
                to,
                body,
                date: self.now,
                message_id: &d.message_id,
                unsubscribe_url,
            },
        )
        .map_err(|e| DeliveryFailed::Message {
            to: s.email.clone(),
            reason: e.to_string(),
        })?;
        Ok(Outgoing {
            delivery_id: d.id,
            subscriber_id: s.id,
            envelope: message.envelope().clone(),
            bytes: message.formatted(),
            file_name: crate::mail::outbox_file_name(&d.message_id),
        })
    }
}

/// What building one delivery's message gave.
enum Built {
    /// The message.
    Message(Outgoing),
    /// Nothing: the reader has nothing new.
    Nothing,
    /// No message can be built for this address; the delivery fails, the
    /// others go on.
    Unsendable(String),
}

/// Waits between messages to keep under `smtp.rate_limit_per_second`.
struct RateLimit {
    interval: Option<std::time::Duration>,
    next: tokio::sync::Mutex<tokio::time::Instant>,
}

impl RateLimit {
    fn new(per_second: f64) -> RateLimit {
        RateLimit {
            interval: (per_second > 0.0)
                .then(|| std::time::Duration::from_secs_f64(1.0 / per_second)),
            next: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(tokio::time::Instant::now());
            *next = at + interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// Unknown outcomes in a row (no message accepted between them) after
/// which a run stops: a relay that takes messages and never answers would
/// otherwise hold each connection for the final-reply wait, message after
/// message.
const UNKNOWN_IN_A_ROW: usize = 3;

/// What the sender's workers ask of the state-writing thread.
enum StateStep {
    /// Mark a delivery `sending`, durably, before its attempt; the answer
    /// says whether its reader is still subscribed.
    Mark(i64, tokio::sync::oneshot::Sender<Result<bool, String>>),
    /// Record how an attempt ended.
    Outcome(Outcome),
}

/// Counts of the outcomes recorded.
#[derive(Debug, Default, Clone)]
struct Tally {
    sent: usize,
    deferred: usize,
    failed: usize,
    unknown: usize,
    last_deferral: Option<String>,
}

/// A relay's reply with anything that looks like an address taken out:
/// relays often repeat the recipient, and broadsheet's output never shows
/// one.
fn without_addresses(reply: &str) -> String {
    reply
        .split_whitespace()
        .map(|w| if w.contains('@') { "<address>" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one thread that writes the sender's state. It commits whatever the
/// workers asked for since its last commit in one transaction: marks must
/// be durable before their attempts, and a sync per group rather than per
/// message keeps that cheap (a group commit). Outcomes ride along, or go
/// on their own once [`OUTCOME_BATCH`] are waiting or [`OUTCOME_FLUSH`]
/// has passed. Never blocks the async workers: they wait on their answer.
fn write_state(
    store: &Mutex<Store>,
    steps: std::sync::mpsc::Receiver<StateStep>,
    now: DateTime<FixedOffset>,
    progress: &indicatif::ProgressBar,
) -> (Tally, Result<(), Error>) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut tally = Tally::default();
    let mut result: Result<(), Error> = Ok(());
    let mut marks: Vec<(i64, tokio::sync::oneshot::Sender<Result<bool, String>>)> = Vec::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut oldest_outcome: Option<std::time::Instant> = None;
    let mut open = true;
    while open || !marks.is_empty() || !outcomes.is_empty() {
        if open && marks.is_empty() {
            let wait =
                oldest_outcome.map_or(OUTCOME_FLUSH, |t| OUTCOME_FLUSH.saturating_sub(t.elapsed()));
            match steps.recv_timeout(wait) {
                Ok(step) => take(step, &mut marks, &mut outcomes, &mut oldest_outcome),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        // Everything else already asked for joins this commit.
        while marks.len() + outcomes.len() < 4 * OUTCOME_BATCH {
            match steps.try_recv() {
                Ok(step) => take(step, &mut marks, &mut outcomes, &mut oldest_outcome),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let due = !marks.is_empty()
            || outcomes.len() >= OUTCOME_BATCH
            || !open
            || oldest_outcome.is_some_and(|t| t.elapsed() >= OUTCOME_FLUSH);
        if !due || (marks.is_empty() && outcomes.is_empty()) {
            continue;
        }
        let ids: Vec<i64> = marks.iter().map(|(id, _)| *id).collect();
        let settled = match &result {
            // After a failed write nothing more is marked: the run is
            // stopping, and what is not marked stays queued.
            Err(e) => Err(e.to_string()),
            Ok(()) => store
                .lock()
                .expect("store lock")
                .settle(&ids, &outcomes, now)
                .map_err(|e| e.to_string()),
        };
        match settled {
            Ok(marked) => {
                for o in &outcomes {
                    match o.status {
                        DeliveryStatus::Sent => tally.sent += 1,
                        DeliveryStatus::Deferred => {
                            tally.deferred += 1;
                            tally.last_deferral = o.reply.as_deref().map(without_addresses);
                        }
                        DeliveryStatus::Unknown => tally.unknown += 1,
                        _ => tally.failed += 1,
                    }
                }
                progress.inc(outcomes.len() as u64);
                for ((_, answer), ok) in marks.drain(..).zip(marked) {
                    let _ = answer.send(Ok(ok));
                }
            }
            Err(message) => {
                if result.is_ok() {
                    result = Err(DeliveryFailed::Stopped {
                        reason: format!("cannot record deliveries in the state: {message}"),
                    }
                    .into());
                }
                for (_, answer) in marks.drain(..) {
                    let _ = answer.send(Err(message.clone()));
                }
            }
        }
        outcomes.clear();
        oldest_outcome = None;
    }
    (tally, result)
}

fn take(
    step: StateStep,
    marks: &mut Vec<(i64, tokio::sync::oneshot::Sender<Result<bool, String>>)>,
    outcomes: &mut Vec<Outcome>,
    oldest_outcome: &mut Option<std::time::Instant>,
) {
    match step {
        StateStep::Mark(id, answer) => marks.push((id, answer)),
        StateStep::Outcome(o) => {
            oldest_outcome.get_or_insert_with(std::time::Instant::now);
            outcomes.push(o);
        }
    }
}

/// Sends the pending deliveries of one issue.
///
/// Builder threads render messages into a bounded channel; async workers,
/// one per connection, take them, have each marked `sending` by the
/// state-writing thread, send it (with retries) and hand its outcome back
/// to that thread. Whatever stops the run early (a fatal transport error,
/// a failed write to the state, a message that cannot be built) closes the
/// channel, so builders waiting for room stop too and the run ends at once;
/// what was never marked stays queued for the next run.
#[allow(clippy::too_many_arguments)]
fn deliver_issue(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    store: &Mutex<Store>,
    prepared: &Prepared,
    transport: &Transport,
    content: &IssueContent<'_>,
    issue: &IssueRow,
    now: DateTime<FixedOffset>,
    progress: &indicatif::ProgressBar,
    summary: &mut SendSummary,
) -> Result<(), Error> {
    let mut pending = store
        .lock()
        .expect("store lock")
        .pending_deliveries(issue.id)?;
    if pending.is_empty() {
        store
            .lock()
            .expect("store lock")
            .finish_issue_if_complete(issue.id, now)?;
        return Ok(());
    }
    progress.set_length(progress.length().unwrap_or(0) + pending.len() as u64);
    let builder = Builder::new(config, prepared, content, issue.cutoff, now);
    // Readers who share a rendering go one after another, so the cache of
    // renderings can stay small however many combinations of columns
    // there are.
    pending.sort_by_cached_key(|d| {
        (
            group_key(&d.subscriber, &builder.columns_with_news),
            d.subscriber.name.is_empty(),
            d.id,
        )
    });
    let abort = AtomicBool::new(false);
    let fatal: Mutex<Option<String>> = Mutex::new(None);
    let stop = |why: String| {
        let mut f = fatal.lock().expect("fatal lock");
        if f.is_none() {
            *f = Some(why);
        }
        abort.store(true, Ordering::Relaxed);
    };
    let build_error: Mutex<Option<Error>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    let unknown_in_a_row = AtomicUsize::new(0);
    let workers = transport.concurrency();
    let (tx, rx) = tokio::sync::mpsc::channel::<Outgoing>(workers * 4);
    let rx = tokio::sync::Mutex::new(rx);
    let (state_tx, state_rx) = std::sync::mpsc::channel::<StateStep>();
    let limit = RateLimit::new(config.smtp.rate_limit_per_second);
    let retries = config.smtp.retries;
    let backoff = std::time::Duration::from_millis(config.smtp.retry_backoff_ms);
    let builders = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1);

    let (tally, recorded) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| write_state(store, state_rx, now, progress));
        for _ in 0..builders {
            let tx = tx.clone();
            let state_tx = state_tx.clone();
            let (builder, pending, next, abort, build_error) =
                (&builder, &pending, &next, &abort, &build_error);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pending.len() || abort.load(Ordering::Relaxed) {
                    break;
                }
                match builder.build(&pending[i]) {
                    Ok(Built::Message(m)) => {
                        // Fails once the workers have closed the channel.
                        if tx.blocking_send(m).is_err() {
                            break;
                        }
                    }
                    Ok(Built::Nothing) => {}
                    Ok(Built::Unsendable(why)) => {
                        // The reason names the address: it goes to the
                        // state, not the log.
                        tracing::warn!(
                            delivery = pending[i].id,
                            "no message can be addressed to one subscriber; that delivery failed"
                        );
                        let _ = state_tx.send(StateStep::Outcome(Outcome {
                            delivery_id: pending[i].id,
                            subscriber_id: pending[i].subscriber.id,
                            status: DeliveryStatus::Failed,
                            reply: Some(why),
                            hard_bounce: false,
                        }));
                    }
                    Err(e) => {
                        abort.store(true, Ordering::Relaxed);
                        *build_error.lock().expect("error lock") = Some(e);
                        break;
                    }
                }
            });
        }
        drop(tx);

        runtime.block_on(async {
            let worker = |w: usize| {
                let (rx, state_tx, abort, limit, stop, unknown_in_a_row) = (
                    &rx,
                    state_tx.clone(),
                    &abort,
                    &limit,
                    &stop,
                    &unknown_in_a_row,
                );
                async move {
                    loop {
                        if abort.load(Ordering::Relaxed) {
                            break;
                        }
                        let Some(m) = rx.lock().await.recv().await else {
                            break;
                        };
                        limit.wait().await;
                        let (answer, marked) = tokio::sync::oneshot::channel();
                        if state_tx
                            .send(StateStep::Mark(m.delivery_id, answer))
                            .is_err()
                        {
                            stop("the state writer stopped".into());
                            break;
                        }
                        match marked.await {
                            Ok(Ok(true)) => {}
                            // Unsubscribed since the issue began.
                            Ok(Ok(false)) => continue,
                            Ok(Err(e)) => {
                                stop(e);
                                break;
                            }
                            Err(_) => {
                                stop("the state writer stopped".into());
                                break;
                            }
                        }
                        let mut attempt = 0;
                        let result = loop {
                            let r = transport.send(w, &m).await;
                            match r {
                                // A relay out of reach has had its one
                                // fresh connection already (in `send`):
                                // waiting on it would only hold the run.
                                SendResult::Transient(_)
                                    if attempt < retries && !abort.load(Ordering::Relaxed) =>
                                {
                                    // Exponential backoff with jitter, so
                                    // retries from many workers spread out.
                                    let jitter = 1.0
                                        + ((m.delivery_id.unsigned_abs() * 7919
                                            + u64::from(attempt))
                                            % 100) as f64
                                            / 200.0;
                                    tokio::time::sleep(
                                        backoff.mul_f64(2f64.powi(attempt as i32) * jitter),
                                    )
                                    .await;
                                    attempt += 1;
                                }
                                other => break other,
                            }
                        };
                        let (status, reply, hard_bounce) = match result {
                            SendResult::Sent(r) => {
                                unknown_in_a_row.store(0, Ordering::Relaxed);
                                (DeliveryStatus::Sent, r, false)
                            }
                            SendResult::Transient(r) => (DeliveryStatus::Deferred, r, false),
                            SendResult::Permanent { reply, hard_bounce } => {
                                (DeliveryStatus::Failed, reply, hard_bounce)
                            }
                            SendResult::Unknown(r) => {
                                tracing::warn!(
                                    delivery = m.delivery_id,
                                    "{r}; not sent again (`digest send --retry-unknown` would)"
                                );
                                if unknown_in_a_row.fetch_add(1, Ordering::Relaxed) + 1
                                    >= UNKNOWN_IN_A_ROW
                                {
                                    stop(format!("{r}, {UNKNOWN_IN_A_ROW} times in a row"));
                                }
                                (DeliveryStatus::Unknown, r, false)
                            }
                            SendResult::Fatal(r) | SendResult::Unreachable(r) => {
                                stop(r.clone());
                                // Nothing reached the server: it can go again.
                                (DeliveryStatus::Deferred, r, false)
                            }
                        };
                        let _ = state_tx.send(StateStep::Outcome(Outcome {
                            delivery_id: m.delivery_id,
                            subscriber_id: m.subscriber_id,
                            status,
                            reply: Some(reply),
                            hard_bounce,
                        }));
                    }
                }
            };
            futures::future::join_all((0..workers).map(worker)).await;
            // No worker takes anything more: builders waiting for room in
            // the channel must not wait for ever.
            rx.lock().await.close();
        });
        drop(state_tx);
        writer.join().expect("the state writer does not panic")
    });

    if let Some(e) = build_error.into_inner().expect("error lock") {
        return Err(e);
    }
    summary.sent += tally.sent;
    summary.deferred += tally.deferred;
    summary.failed += tally.failed;
    summary.unknown_now += tally.unknown;
    if tally.last_deferral.is_some() {
        summary.last_deferral = tally.last_deferral;
    }
    if let Some(f) = fatal.into_inner().expect("fatal lock") {
        summary.fatal = Some(f);
    }
    recorded?;
    store
        .lock()
        .expect("store lock")
        .finish_issue_if_complete(issue.id, now)?;
    Ok(())
}

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
    let store = if config.site.state_path.exists() {
        Some(Store::open(&config.site.state_path)?)
    } else {
        None
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
            (None, Some(s)) => s
                .subscribers(Some(SubscriberStatus::Active))?
                .into_iter()
                .next(),
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
    let domain = prepared.sender.from.email.domain().to_owned();
    let builder = Builder::new(config, &prepared, &content, slot.cutoff, now);
    let row = DeliveryRow {
        id: 0,
        message_id: message::message_id(
            &slot.label,
            slot.cutoff,
            &prepared.signer.opaque_id(reader.id),
            &domain,
        ),
        subscriber: reader.clone(),
    };
    let mut files = Vec::new();
    let email =
        crate::address::Email::parse(&reader.email).map_err(UsageError::argument("--to"))?;
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
