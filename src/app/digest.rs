//! `broadsheet digest send`, `digest preview`, and the sending half of
//! `run`: decide which issue is due, write it and its deliveries to the
//! state, then send each delivery with its state committed around it.

use super::issue::{content, create_issue, group_key};
use crate::config::{Config, ServiceUse};
use crate::content::{Article, Selection};
use crate::digest::assemble::Assembler;
use crate::digest::render::{RenderedDigest, Templates};
use crate::digest::schedule::{latest_slot, next_slot_after, Slot};
use crate::digest::select;
use crate::digest::{personalise, Composer, IssueContent, Personal};
use crate::error::DeliveryFailed;
use crate::mail::deliver::{self, Built, Messages, Policy, Setup};
use crate::mail::message::{self, Letter};
use crate::mail::{Outgoing, Sender, Transport};
use crate::store::{Claimer, DeliveryRow, IssueRow, Store, Subscriber};
use crate::token::{Purpose, Signer};
use crate::Error;
use chrono::{DateTime, Duration, FixedOffset, SubsecRound};
use lettre::message::Mailbox;
use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// How long unsubscribe links in a digest keep working.
const LINK_LIFETIME_DAYS: i64 = 365;
/// How long a digest's preferences link works: digests get forwarded, and
/// whoever holds one may change the reader's columns and name until then.
const PREFERENCES_LINK_DAYS: i64 = 30;
/// Whole renderings kept at once, for templates of one's own; readers
/// come sorted by rendering, so only the last few are wanted again.
const SHARED_CACHE: usize = 64;

/// Options of `digest send`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions {
    /// Send an issue now, whatever the schedule says.
    pub force: bool,
    /// Send again the deliveries whose outcome is unknown.
    pub retry_unknown: bool,
    /// Carry what `run`'s build published when an article is invalid:
    /// every valid article, and an invalid one's earlier version; by hand
    /// (`digest send`) an invalid article stops the send.
    pub keep_going: bool,
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

    /// The error cron must hear of: sending stopped, or something was
    /// deferred, refused or left unknown. None after a send that another
    /// process's lock kept from starting.
    pub fn failure(&self) -> Option<DeliveryFailed> {
        if self.locked {
            return None;
        }
        if let Some(f) = &self.fatal {
            return Some(DeliveryFailed::Stopped { reason: f.clone() });
        }
        self.has_failures().then(|| DeliveryFailed::Incomplete {
            deferred: self.deferred,
            failed: self.failed,
            unknown: self.unknown_now,
            last_deferral: self.last_deferral.clone(),
        })
    }
}

/// Everything sending needs that comes from the config, checked up front.
pub(super) struct Prepared {
    pub(super) sender: Sender,
    pub(super) signer: Signer,
    pub(super) public_url: String,
    pub(super) templates: Templates,
}

/// Compiles the templates and checks what a digest needs from the config.
pub(super) fn prepare(config: &Config, for_real: bool) -> Result<Prepared, Error> {
    let templates = Templates::load(config)?;
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

/// The Message-ID of an issue's email to subscriber `id`: the same on
/// every attempt, so a receiving system can tell a retry from a new
/// message. The reader is named without their number (see
/// `Signer::opaque_id`): every reader sees this header.
pub(super) fn message_id(prepared: &Prepared, slot: &Slot, id: i64) -> String {
    prepared.sender.message_id(&[
        &slot.label,
        &slot.cutoff.timestamp().to_string(),
        &prepared.signer.opaque_id(id),
    ])
}

/// Sends the digest now due (or forced), resuming unfinished issues first.
pub fn send(
    config: &Config,
    now: DateTime<FixedOffset>,
    options: SendOptions,
    progress: &indicatif::ProgressBar,
) -> Result<SendSummary, Error> {
    // On a shared state (PostgreSQL) senders cooperate through their
    // claims, on this machine as on others: a second one joins the issue
    // instead of standing down.
    if config.state_location().is_shared() {
        return send_locked(config, now, options, progress);
    }
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

/// The slot an issue made now would have: the scheduled one, or with
/// `--force` this very second.
fn slot_now(
    config: &Config,
    latest: Option<&IssueRow>,
    options: &SendOptions,
    now: DateTime<FixedOffset>,
) -> Slot {
    let tz = config.site.timezone;
    if options.force {
        // `--force` ignores the schedule: an issue now, whatever the time
        // of the last one. Times are kept to the second and no two issues
        // share one, so when the last issue has this second or a later
        // one (a second forced send, or `--now` no later than it), the new
        // one takes the second after it: it is the newest, and carries
        // what no issue has.
        let at = now.trunc_subsecs(0);
        match latest {
            Some(l) if l.cutoff >= at => Slot::at(l.cutoff + Duration::seconds(1), tz),
            _ => Slot::at(at, tz),
        }
    } else {
        latest_slot(&config.digest.schedule, tz, now)
    }
}

/// The articles a send may need whole: those an issue due now could
/// carry, every corrected one, and those of the issues still being sent.
/// The rest of the archive is only indexed.
fn wanted(
    config: &Config,
    store: &Store,
    slot: &Slot,
    last_cutoff: Option<DateTime<FixedOffset>>,
) -> Result<Selection, Error> {
    let mut ids = std::collections::HashSet::new();
    for issue in store.unfinished_issues()? {
        ids.extend(
            store
                .issue_articles(issue.id)?
                .into_iter()
                .map(|(id, _)| id),
        );
        ids.extend(store.issue_corrections(issue.id)?);
    }
    Ok(Selection {
        since: Some(select::oldest_for_issue(config, slot, last_cutoff)),
        corrected: true,
        ids,
        ..Selection::default()
    })
}

/// [`send`] for a caller that holds the run lock already, or needs none
/// (a shared state).
pub fn send_locked(
    config: &Config,
    now: DateTime<FixedOffset>,
    options: SendOptions,
    progress: &indicatif::ProgressBar,
) -> Result<SendSummary, Error> {
    let prepared = prepare(config, true)?;
    // lettre's connection pools belong to a runtime from creation to drop.
    let runtime = deliver::runtime()?;
    let _entered = runtime.enter();
    let transport = Transport::from_config(config)?;
    let location = config.state_location();
    let mut store = Store::connect(&location)?;
    // Without a shared state the run lock is held: no other sender is
    // alive, and whatever claims an earlier one left are over.
    let claimer = Claimer::new(
        std::time::Duration::from_secs(config.state.lease_seconds.into()),
        !location.is_shared(),
    );
    // The issue due now, if one is: what it could carry is what is read
    // whole. Recovering and requeueing deliveries below leave issues as
    // they are.
    let latest = store.latest_issue()?;
    let slot = slot_now(config, latest.as_ref(), &options, now);
    let selection = wanted(config, &store, &slot, latest.as_ref().map(|l| l.cutoff))?;
    let catalog = match options.keep_going {
        true => super::build::published_catalog(config, now, &selection)?.0,
        false => {
            let (catalog, errors) = super::build::selected_catalog(config, now, &selection);
            if !errors.is_empty() {
                return Err(crate::content::ContentErrors::sorted(errors).into());
            }
            catalog
        }
    };
    let mut summary = SendSummary {
        unknown_found: deliver::recover(&mut store, &claimer, now)?,
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
    let due = latest.as_ref().is_none_or(|l| l.cutoff < slot.cutoff);
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
    let store = Arc::new(Mutex::new(store));
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
            &claimer,
            progress,
            &mut summary,
        )?;
        if summary.fatal.is_some() {
            break;
        }
    }
    summary.unknown = store.lock().expect("store lock").unknown_deliveries()?;
    Ok(summary)
}

/// Renderings shared by readers of the same columns (and whether they
/// have a name), rendered on first use.
type SharedCache = Mutex<HashMap<(Vec<String>, bool), Arc<Option<RenderedDigest>>>>;

/// Builds one delivery's message.
///
/// With the built-in digest templates each email is put together from
/// parts rendered once per issue ([`Assembler`]): as cheap for the first
/// reader of a set of columns as for the next, however the deliveries
/// come. With templates of one's own each set of columns is rendered
/// whole, and readers of the same set share it through a small cache.
pub(super) struct Builder<'a> {
    prepared: &'a Prepared,
    composer: Composer<'a>,
    assembler: Option<Assembler<'a>>,
    columns_with_news: BTreeSet<&'a str>,
    shared: SharedCache,
    cutoff: DateTime<FixedOffset>,
    now: DateTime<FixedOffset>,
    tz: chrono_tz::Tz,
    /// The issue being sent, with its Feedback-ID; `None` for a preview,
    /// which is no issue yet and goes to no one.
    issue: Option<(i64, String)>,
}

impl<'a> Builder<'a> {
    pub(super) fn new(
        config: &'a Config,
        prepared: &'a Prepared,
        content: &'a IssueContent<'a>,
        cutoff: DateTime<FixedOffset>,
        now: DateTime<FixedOffset>,
        issue_id: Option<i64>,
    ) -> Result<Builder<'a>, Error> {
        let composer = Composer::new(config, &prepared.templates, content);
        Ok(Builder {
            prepared,
            composer,
            assembler: Assembler::new(composer)?,
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
            issue: issue_id.map(|id| {
                (
                    id,
                    prepared
                        .sender
                        .feedback_id(&format!("issue-{id}"), "digest"),
                )
            }),
            tz: config.site.timezone,
        })
    }

    /// One reader's subject, HTML and text, with their signed links;
    /// `None` when the columns they follow have nothing new.
    pub(super) fn personal(
        &self,
        s: &Subscriber,
        email: &crate::address::Email,
    ) -> Result<Option<(RenderedDigest, String)>, Error> {
        let key = (group_key(s, &self.columns_with_news), !s.name.is_empty());
        // No followed column has news: a send skips this reader, and the
        // preview must not show them every column instead (to the
        // renderer, no columns means all of them).
        if key.0.is_empty() {
            return Ok(None);
        }
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
        let personal = Personal {
            name: &s.name,
            email: &s.email,
            unsubscribe_url: &unsubscribe_url,
            preferences_url: &preferences_url,
        };
        // A followed column has news, so there is an email to fill.
        let body = match &self.assembler {
            Some(assembler) => assembler.email(&key.0, key.1, &personal)?,
            None => (*self.shared(&key)?)
                .as_ref()
                .map(|shared| personalise(shared, &personal)),
        };
        let Some(body) = body else {
            return Ok(None);
        };
        Ok(Some((body, unsubscribe_url)))
    }

    /// The whole rendering for readers of `key`, from the cache or
    /// rendered now.
    fn shared(&self, key: &(Vec<String>, bool)) -> Result<Arc<Option<RenderedDigest>>, Error> {
        let cached = self.shared.lock().expect("cache lock").get(key).cloned();
        Ok(match cached {
            Some(r) => r,
            None => {
                let r = Arc::new(self.composer.shared(&key.0, key.1)?);
                let mut cache = self.shared.lock().expect("cache lock");
                if cache.len() >= SHARED_CACHE {
                    cache.clear();
                }
                cache.insert(key.clone(), r.clone());
                r
            }
        })
    }

    pub(super) fn message(
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
        let token = self.issue.as_ref().and_then(|(issue, _)| {
            self.prepared
                .sender
                .delivery_token(&self.prepared.signer, *issue, s.id)
        });
        let message = message::build(
            &self.prepared.sender,
            &Letter {
                to,
                subject: &body.subject,
                html: &body.html,
                text: &body.text,
                // In the site's zone: the reader's client may show it as is.
                date: self.now.with_timezone(&self.tz).fixed_offset(),
                message_id: &d.message_id,
                list_unsubscribe: Some(unsubscribe_url),
                feedback_id: self.issue.as_ref().map(|(_, f)| f.as_str()),
                token: token.as_deref(),
            },
        )
        .map_err(|e| DeliveryFailed::Message {
            to: s.email.clone(),
            reason: e.to_string(),
        })?;
        let envelope_sender = self.prepared.sender.envelope_sender(token.as_deref());
        Ok(
            Outgoing::new(d.id, s.id, &message, &d.message_id)
                .with_envelope_sender(envelope_sender),
        )
    }
}

impl Messages for Builder<'_> {
    type Error = Error;

    /// Readers who share a rendering go one after another, so the cache
    /// of renderings can stay small however many combinations of columns
    /// there are.
    fn arrange(&self, pending: &mut [DeliveryRow]) {
        pending.sort_by_cached_key(|d| {
            (
                group_key(&d.subscriber, &self.columns_with_news),
                d.subscriber.name.is_empty(),
                d.id,
            )
        });
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
}

/// Sends the pending deliveries of one issue through the delivery engine
/// (`mail::deliver`), with this issue's messages, and adds what it did to
/// `summary`.
#[allow(clippy::too_many_arguments)]
fn deliver_issue(
    config: &Config,
    runtime: &tokio::runtime::Runtime,
    store: &Arc<Mutex<Store>>,
    prepared: &Prepared,
    transport: &Transport,
    content: &IssueContent<'_>,
    issue: &IssueRow,
    now: DateTime<FixedOffset>,
    claimer: &Claimer,
    progress: &indicatif::ProgressBar,
    summary: &mut SendSummary,
) -> Result<(), Error> {
    let builder = Builder::new(config, prepared, content, issue.cutoff, now, Some(issue.id))?;
    let setup = Setup {
        store,
        transport,
        claimer,
        policy: Policy::from_config(&config.smtp),
        now,
        progress,
    };
    let report = deliver::run(runtime, &setup, &builder, issue)?;
    summary.sent += report.sent;
    summary.deferred += report.deferred;
    summary.failed += report.failed;
    summary.unknown_now += report.unknown;
    if report.last_deferral.is_some() {
        summary.last_deferral = report.last_deferral;
    }
    if let Some(f) = report.stopped {
        summary.fatal = Some(f.to_string());
    }
    Ok(())
}
