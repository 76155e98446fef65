//! The delivery engine: sends one issue's pending deliveries through a
//! [`Transport`], each with its state committed around it.
//!
//! [`run`] is the whole of it: builder threads ask the caller's
//! [`Messages`] for each delivery's message and put it into a bounded
//! channel; async workers, one per connection, take messages from it and
//! make one [`Engine::step`] each: wait for the pace
//! (`smtp.rate_limit_per_second`), have the delivery marked `sending` by
//! the state-writing thread, send it with retries and backoff, and hand
//! the outcome back to that thread, which commits outcomes in batches.
//!
//! Whatever stops the run early (a transport that cannot go on, a failed
//! write to the state, a message that cannot be built) closes the channel,
//! so builders waiting for room stop too and the run ends at once; what
//! was never marked stays queued for the next run. A test drives the same
//! steps one at a time through [`Engine`].
//!
//! The engine knows nothing of digests: what a message says is the
//! caller's, through [`Messages`].

mod error;
mod pace;
mod state;

pub use error::DeliveryError;

use super::{Answer, Outgoing, Transport};
use crate::backoff::{self, Backoff};
use crate::store::{Claimer, DeliveryRow, DeliveryStatus, IssueRow, Outcome, Store};
use chrono::{DateTime, FixedOffset};
use pace::RateLimit;
use state::{StateStep, Tally};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Unknown outcomes in a row (no message accepted between them) after
/// which a run stops: a relay that takes messages and never answers would
/// otherwise hold each connection for the final-reply wait, message after
/// message.
const UNKNOWN_IN_A_ROW: usize = 3;

/// What building one delivery's message gave.
pub(crate) enum Built {
    /// The message.
    Message(Outgoing),
    /// Nothing: the reader has nothing new.
    Nothing,
    /// No message can be built for this address; the delivery fails, the
    /// others go on. The reason goes to the state, never to the log (it
    /// may name the address).
    Unsendable(String),
}

/// The messages of one issue, as the engine asks for them.
pub(crate) trait Messages: Sync {
    /// What stops every message from being built (a template that does
    /// not render); the engine's own errors become it too.
    type Error: From<DeliveryError> + Send;

    /// Puts the pending deliveries in the order their messages are best
    /// built in; by default, as the state lists them.
    fn arrange(&self, _pending: &mut [DeliveryRow]) {}

    /// One delivery's message.
    fn build(&self, delivery: &DeliveryRow) -> Result<Built, Self::Error>;
}

/// How the engine paces and retries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Further attempts at a message refused for now, in one run.
    pub retries: u32,
    /// The waits between those attempts.
    pub backoff: Backoff,
    /// Messages a second at most over all workers; 0: no limit.
    pub rate_limit_per_second: f64,
}

impl Policy {
    /// The policy `[smtp]` sets: `retries`, `retry_backoff_ms` (doubled
    /// each time, and up to half as long again so that retries from many
    /// workers spread out) and `rate_limit_per_second`.
    pub(crate) fn from_config(smtp: &crate::config::Smtp) -> Policy {
        Policy {
            retries: smtp.retries,
            backoff: Backoff::new(Duration::from_millis(smtp.retry_backoff_ms))
                .with_jitter(0.5, backoff::keyed),
            rate_limit_per_second: smtp.rate_limit_per_second,
        }
    }
}

/// What a run of the engine came to.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Accepted by the server (or written to the outbox).
    pub sent: usize,
    /// Refused for now; the next run tries again.
    pub deferred: usize,
    /// Refused for good, or no message could be built.
    pub failed: usize,
    /// Outcomes that could not be learnt; not sent again unless asked.
    pub unknown: usize,
    /// Why the last deferred delivery was deferred, addresses left out.
    pub last_deferral: Option<String>,
    /// What stopped the run early, if something did; what was not marked
    /// stays queued.
    pub stopped: Option<DeliveryError>,
}

/// What one [`Engine::step`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Marked, attempted, and this outcome handed to the state writer.
    Recorded(DeliveryStatus),
    /// Not sent: the reader unsubscribed since the issue began, and the
    /// delivery is gone.
    Unsubscribed,
    /// Not sent: the mark could not be written, so the run is stopping.
    Stopped,
}

/// Everything a run works with.
pub(crate) struct Setup<'a> {
    /// The state; the engine's writer thread takes it for each commit.
    pub store: &'a Arc<Mutex<Store>>,
    /// Where messages go.
    pub transport: &'a Transport,
    /// Pacing and retries.
    pub policy: Policy,
    /// This sender, on every row it claims.
    pub claimer: &'a Claimer,
    /// The time written into the state.
    pub now: DateTime<FixedOffset>,
    /// Counts every outcome committed.
    pub progress: &'a indicatif::ProgressBar,
}

/// A runtime for the transports: lettre's connections belong to the
/// runtime they were made in, from creation to drop, and one thread is
/// all the workers need (they wait on the network, not the processor).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, DeliveryError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(DeliveryError::Runtime)
}

/// Deliveries left `sending` by a run that died become `unknown`, since
/// nobody knows whether those messages arrived; and the store's marks are
/// made durable before any message they guard leaves, by statements
/// planned once. Returns how many
/// became unknown. A run calls this once, before [`run`].
pub(crate) fn recover(
    store: &mut Store,
    claimer: &Claimer,
    now: DateTime<FixedOffset>,
) -> Result<usize, DeliveryError> {
    store.make_durable()?;
    store.plan_once()?;
    Ok(store.mark_in_flight_unknown(claimer, now)?)
}

/// Deliveries are claimed at most this many at a time: few enough that
/// the renderings a batch's readers share stay in the cache; enough that
/// claiming costs little.
const CLAIM_BATCH: usize = 512;

/// How many deliveries to claim at a time: [`CLAIM_BATCH`], or fewer when
/// `smtp.rate_limit_per_second` would make a batch outlast half its lease
/// (the lease is not renewed while a batch is sent; a batch that outlived
/// it would be taken, safely but for nothing, by the other senders).
fn claim_batch(rate_limit_per_second: f64, lease: Duration) -> usize {
    if rate_limit_per_second <= 0.0 {
        return CLAIM_BATCH;
    }
    let in_half_a_lease = rate_limit_per_second * lease.as_secs_f64() / 2.0;
    (in_half_a_lease.floor() as usize).clamp(1, CLAIM_BATCH)
}

/// The next deliveries to build, claimed from the state a batch at a
/// time, so a run holds one batch of its issue in memory, never all of
/// it, and senders on other machines take other batches.
struct Claims<'s> {
    store: &'s Arc<Mutex<Store>>,
    claimer: &'s Claimer,
    issue: i64,
    state: Mutex<ClaimState>,
}

#[derive(Default)]
struct ClaimState {
    rows: std::collections::VecDeque<DeliveryRow>,
    /// The highest id claimed: the next claim starts above it.
    after: i64,
    /// Whether the last claim from the start found nothing new.
    rescanned: bool,
    done: bool,
}

impl Claims<'_> {
    /// The next delivery to build, or `None` when nothing is left that
    /// this sender may take. When other senders hold claims, it waits for
    /// them to end (each wait bounded by a lease): a sender that died
    /// leaves its rows to the others.
    fn next<M: Messages>(
        &self,
        engine: &Engine<'_>,
        messages: &M,
    ) -> Result<Option<DeliveryRow>, DeliveryError> {
        let mut st = self.state.lock().expect("claims lock");
        loop {
            if engine.stopping() {
                return Ok(None);
            }
            if let Some(d) = st.rows.pop_front() {
                return Ok(Some(d));
            }
            if st.done {
                return Ok(None);
            }
            let mut got = self.store.lock().expect("store lock").claim_deliveries(
                self.issue,
                self.claimer,
                st.after,
                claim_batch(engine.policy.rate_limit_per_second, self.claimer.lease),
            )?;
            if let Some(last) = got.last() {
                st.after = last.id;
                st.rescanned = false;
                messages.arrange(&mut got);
                st.rows.extend(got);
                continue;
            }
            // Nothing above the last claim: rows below it may have come
            // free since (a claim whose sender died).
            if st.after > 0 && !st.rescanned {
                st.after = 0;
                st.rescanned = true;
                continue;
            }
            let held = self
                .store
                .lock()
                .expect("store lock")
                .others_claims(self.issue, self.claimer)?;
            match held {
                Some(until) => {
                    let left = (until - Claimer::clock_ms()).clamp(50, 1_000);
                    tracing::debug!("waiting for other senders' claims on this issue");
                    std::thread::sleep(Duration::from_millis(left as u64));
                    st.after = 0;
                    st.rescanned = true;
                }
                None => {
                    st.done = true;
                    return Ok(None);
                }
            }
        }
    }
}

/// One issue's sending: the state writer's thread and what the workers
/// share. [`run`] makes one; a test can make its own and call
/// [`Engine::step`] itself.
pub(crate) struct Engine<'a> {
    transport: &'a Transport,
    policy: Policy,
    limit: RateLimit,
    state: std::sync::mpsc::Sender<StateStep>,
    writer: std::thread::JoinHandle<(Tally, Result<(), DeliveryError>)>,
    unknown_in_a_row: AtomicUsize,
    abort: AtomicBool,
    stopped: Mutex<Option<DeliveryError>>,
}

impl<'a> Engine<'a> {
    /// Starts the state writer.
    pub(crate) fn start(setup: &Setup<'a>) -> Engine<'a> {
        let (state, steps) = std::sync::mpsc::channel();
        let store = Arc::clone(setup.store);
        let (now, progress) = (setup.now, setup.progress.clone());
        let claimer = setup.claimer.clone();
        let writer = std::thread::Builder::new()
            .name("state writer".into())
            .spawn(move || state::write_state(&store, &claimer, steps, now, &progress))
            .expect("a thread can be started");
        Engine {
            transport: setup.transport,
            policy: setup.policy,
            limit: RateLimit::new(setup.policy.rate_limit_per_second),
            state,
            writer,
            unknown_in_a_row: AtomicUsize::new(0),
            abort: AtomicBool::new(false),
            stopped: Mutex::new(None),
        }
    }

    /// Whether the run is stopping.
    pub(crate) fn stopping(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    /// Stops the run for `why`; the first reason is the one reported.
    fn stop(&self, why: DeliveryError) {
        let mut stopped = self.stopped.lock().expect("stop lock");
        if stopped.is_none() {
            *stopped = Some(why);
        }
        self.abort.store(true, Ordering::Relaxed);
    }

    /// Has delivery `id` marked `sending`, durably, and waits for that.
    /// False: its reader is no longer subscribed (and the delivery is
    /// gone).
    pub(crate) async fn mark(&self, id: i64) -> Result<bool, DeliveryError> {
        let (answer, marked) = tokio::sync::oneshot::channel();
        self.state
            .send(StateStep::Mark(id, answer))
            .map_err(|_| DeliveryError::StateWriter)?;
        marked
            .await
            .ok()
            .flatten()
            .ok_or(DeliveryError::StateWriter)
    }

    /// Hands an outcome to the state writer, which commits it with the
    /// next batch.
    pub(crate) fn record(&self, outcome: Outcome) {
        // A writer that is gone has failed, and says so from `finish`.
        let _ = self.state.send(StateStep::Outcome(outcome));
    }

    /// One delivery: wait for the pace, mark it, send it over worker
    /// `worker`'s connection (retrying what is refused for now), and hand
    /// its outcome over.
    pub(crate) async fn step(&self, worker: usize, m: &Outgoing) -> Step {
        self.limit.wait().await;
        match self.mark(m.delivery_id).await {
            Ok(true) => {}
            Ok(false) => return Step::Unsubscribed,
            Err(e) => {
                self.stop(e);
                return Step::Stopped;
            }
        }
        let result = self.send(worker, m).await;
        let (status, reply, hard_bounce) = self.judge(m, result);
        self.record(Outcome {
            delivery_id: m.delivery_id,
            subscriber_id: m.subscriber_id,
            status,
            reply: Some(reply),
            hard_bounce,
        });
        Step::Recorded(status)
    }

    /// Sends `m`, again after a wait while it is refused for now and
    /// retries are left. Each attempt is bounded as a whole (see
    /// [`Transport::attempt_limit`]): one that has not ended by then has
    /// hung somewhere no bound of the transport's own reaches, and may
    /// have got as far as the end of the message, so its outcome is
    /// unknown.
    async fn send(&self, worker: usize, m: &Outgoing) -> Result<Answer, DeliveryError> {
        let bound = self.transport.attempt_limit(m);
        let mut attempt = 0;
        loop {
            let r = match tokio::time::timeout(bound, self.transport.attempt(worker, m)).await {
                Ok(r) => r,
                Err(_) => Ok(Answer::Unknown(format!(
                    "no outcome within {} of the attempt's start; the relay may have kept the message",
                    span(bound)
                ))),
            };
            match r {
                // A relay out of reach has had its one fresh connection
                // already (in the transport): waiting on it would only
                // hold the run.
                Ok(Answer::Transient(_)) if attempt < self.policy.retries && !self.stopping() => {
                    let key = m.delivery_id.unsigned_abs();
                    tokio::time::sleep(self.policy.backoff.delay(attempt, key)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// What an attempt's end means for the delivery, and for the run.
    fn judge(
        &self,
        m: &Outgoing,
        result: Result<Answer, DeliveryError>,
    ) -> (DeliveryStatus, String, bool) {
        match result {
            Ok(Answer::Sent(r)) => {
                self.unknown_in_a_row.store(0, Ordering::Relaxed);
                (DeliveryStatus::Sent, r, false)
            }
            Ok(Answer::Transient(r)) => (DeliveryStatus::Deferred, r, false),
            Ok(Answer::Permanent { reply, hard_bounce }) => {
                (DeliveryStatus::Failed, reply, hard_bounce)
            }
            Ok(Answer::Unknown(r)) => {
                tracing::warn!(
                    delivery = m.delivery_id,
                    "{r}; not sent again (`digest send --retry-unknown` would)"
                );
                if self.unknown_in_a_row.fetch_add(1, Ordering::Relaxed) + 1 >= UNKNOWN_IN_A_ROW {
                    self.stop(DeliveryError::Unanswered {
                        last: r.clone(),
                        times: UNKNOWN_IN_A_ROW,
                    });
                }
                (DeliveryStatus::Unknown, r, false)
            }
            Err(e) => {
                let r = e.to_string();
                self.stop(e);
                // Nothing reached the server: it can go again.
                (DeliveryStatus::Deferred, r, false)
            }
        }
    }

    /// Waits for the state writer to commit everything handed to it, and
    /// says what was recorded. An error: the state could not be written.
    pub(crate) fn finish(self) -> Result<Report, DeliveryError> {
        drop(self.state);
        let (tally, recorded) = self.writer.join().expect("the state writer does not panic");
        recorded?;
        Ok(Report {
            sent: tally.sent,
            deferred: tally.deferred,
            failed: tally.failed,
            unknown: tally.unknown,
            last_deferral: tally.last_deferral,
            stopped: self.stopped.into_inner().expect("stop lock"),
        })
    }
}

/// A bound as people read it: whole seconds, or milliseconds below one.
fn span(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Sends the pending deliveries of `issue`, and closes the issue when
/// none is left to try. See the module's documentation.
pub(crate) fn run<M: Messages>(
    runtime: &tokio::runtime::Runtime,
    setup: &Setup<'_>,
    messages: &M,
    issue: &IssueRow,
) -> Result<Report, M::Error> {
    let store = setup.store;
    let pending = store
        .lock()
        .expect("store lock")
        .pending_count(issue.id)
        .map_err(DeliveryError::Store)?;
    if pending == 0 {
        store
            .lock()
            .expect("store lock")
            .finish_issue_if_complete(issue.id, setup.now)
            .map_err(DeliveryError::Store)?;
        return Ok(Report::default());
    }
    let progress = setup.progress;
    progress.set_length(progress.length().unwrap_or(0) + pending as u64);
    let claims = Claims {
        store,
        claimer: setup.claimer,
        issue: issue.id,
        state: Mutex::new(ClaimState::default()),
    };

    let engine = Engine::start(setup);
    let build_error: Mutex<Option<M::Error>> = Mutex::new(None);
    let workers = setup.transport.concurrency();
    let (tx, rx) = tokio::sync::mpsc::channel::<Outgoing>(workers * 4);
    let rx = tokio::sync::Mutex::new(rx);
    let builders = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1);

    std::thread::scope(|scope| {
        for _ in 0..builders {
            let tx = tx.clone();
            let (engine, claims, build_error) = (&engine, &claims, &build_error);
            scope.spawn(move || loop {
                let d = match claims.next(engine, messages) {
                    Ok(Some(d)) => d,
                    Ok(None) => break,
                    Err(e) => {
                        engine.stop(e);
                        break;
                    }
                };
                match messages.build(&d) {
                    Ok(Built::Message(m)) => {
                        // Fails once the workers have closed the channel.
                        if tx.blocking_send(m).is_err() {
                            break;
                        }
                    }
                    Ok(Built::Nothing) => {}
                    Ok(Built::Unsendable(why)) => {
                        tracing::warn!(
                            delivery = d.id,
                            "no message can be addressed to one subscriber; that delivery failed"
                        );
                        engine.record(Outcome {
                            delivery_id: d.id,
                            subscriber_id: d.subscriber.id,
                            status: DeliveryStatus::Failed,
                            reply: Some(why),
                            hard_bounce: false,
                        });
                    }
                    Err(e) => {
                        engine.abort.store(true, Ordering::Relaxed);
                        *build_error.lock().expect("error lock") = Some(e);
                        break;
                    }
                }
            });
        }
        drop(tx);

        runtime.block_on(async {
            let worker = |w: usize| {
                let (rx, engine) = (&rx, &engine);
                async move {
                    loop {
                        if engine.stopping() {
                            break;
                        }
                        let Some(m) = rx.lock().await.recv().await else {
                            break;
                        };
                        if engine.step(w, &m).await == Step::Stopped {
                            break;
                        }
                    }
                }
            };
            futures::future::join_all((0..workers).map(worker)).await;
            // No worker takes anything more: builders waiting for room in
            // the channel must not wait for ever.
            rx.lock().await.close();
        });
    });

    let finished = engine.finish();
    // What this sender claimed and never tried is free for others at
    // once, not when its lease ends.
    store
        .lock()
        .expect("store lock")
        .release_claims(issue.id, setup.claimer)
        .map_err(DeliveryError::Store)?;
    if let Some(e) = build_error.into_inner().expect("error lock") {
        return Err(e);
    }
    let report = finished?;
    store
        .lock()
        .expect("store lock")
        .finish_issue_if_complete(issue.id, setup.now)
        .map_err(DeliveryError::Store)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Email;
    use crate::mail::stub::{Reply, StubTransport};
    use crate::store::{NewIssue, NewSubscriber, SubscriberStatus};

    fn now() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-11-30T09:00:00+08:00").unwrap()
    }

    #[test]
    fn a_slow_rate_claims_no_more_than_half_a_lease_can_send() {
        let lease = Duration::from_secs(300);
        assert_eq!(claim_batch(0.0, lease), CLAIM_BATCH);
        assert_eq!(claim_batch(100.0, lease), CLAIM_BATCH);
        assert_eq!(claim_batch(2.0, lease), 300);
        assert_eq!(claim_batch(0.5, lease), 75);
        assert_eq!(claim_batch(0.001, lease), 1);
        assert_eq!(claim_batch(2.0, Duration::from_secs(30)), 30);
    }

    /// A real state in a temporary folder, with one active reader per
    /// address.
    struct State {
        dir: tempfile::TempDir,
        store: Arc<Mutex<Store>>,
    }

    fn state(readers: &[&str]) -> State {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("state.db")).unwrap();
        for r in readers {
            let reader = NewSubscriber {
                email: Email::parse(r).unwrap(),
                name: String::new(),
                columns: Vec::new(),
            };
            store.add_subscriber(&reader, now(), false).unwrap();
        }
        State {
            dir,
            store: Arc::new(Mutex::new(store)),
        }
    }

    impl State {
        /// Issue `n` (a week after issue `n - 1`), with one queued delivery
        /// per reader active now.
        fn issue(&self, n: i64) -> IssueRow {
            let mut store = self.store.lock().unwrap();
            let label = format!("2026-W{n:02}");
            store
                .create_issue(
                    &NewIssue {
                        label: &label,
                        cutoff: now() + chrono::Duration::weeks(n),
                        articles: &[],
                        recipients: &|s| Some(format!("<issue{n}.{}@news.example.com>", s.id)),
                        corrections: &[],
                    },
                    now(),
                )
                .unwrap()
        }

        /// The status of `reader`'s delivery of `issue`, as stored.
        fn delivery(&self, issue: &IssueRow, reader: &str) -> (String, String) {
            let db = rusqlite::Connection::open(self.dir.path().join("state.db")).unwrap();
            db.query_row(
                "SELECT d.status, coalesce(d.last_reply, '') FROM deliveries d
                 JOIN subscribers s ON s.id = d.subscriber_id
                 WHERE d.issue_id = ?1 AND s.email = ?2",
                rusqlite::params![issue.id, reader],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        }

        fn status(&self, issue: &IssueRow, reader: &str) -> String {
            self.delivery(issue, reader).0
        }

        fn reader(&self, reader: &str) -> SubscriberStatus {
            let store = self.store.lock().unwrap();
            let s = store.subscriber(&Email::parse(reader).unwrap()).unwrap();
            s.unwrap().status
        }

        fn setup<'a>(
            &'a self,
            transport: &'a Transport,
            retries: u32,
            progress: &'a indicatif::ProgressBar,
            claimer: &'a Claimer,
        ) -> Setup<'a> {
            Setup {
                store: &self.store,
                transport,
                claimer,
                policy: Policy {
                    retries,
                    // A jitter source of our own: the same waits every time.
                    backoff: Backoff::new(Duration::from_millis(1)).with_jitter(0.5, |_, _| 0.0),
                    rate_limit_per_second: 0.0,
                },
                now: now(),
                progress,
            }
        }

        /// One run of the engine over `issue`.
        fn send(&self, transport: &Transport, issue: &IssueRow, retries: u32) -> Report {
            let progress = indicatif::ProgressBar::hidden();
            // Each run is a sender of its own, as each process is.
            let claimer = Claimer::new(Duration::from_secs(300), true);
            let setup = self.setup(transport, retries, &progress, &claimer);
            run(&runtime().unwrap(), &setup, &Plain, issue).unwrap()
        }
    }

    /// Messages that are nothing but their headers' worth.
    struct Plain;

    impl Messages for Plain {
        type Error = DeliveryError;

        fn build(&self, d: &DeliveryRow) -> Result<Built, DeliveryError> {
            Ok(Built::Message(message(d)))
        }
    }

    fn message(d: &DeliveryRow) -> Outgoing {
        let to: lettre::Address = d.subscriber.email.parse().unwrap();
        let from: lettre::Address = "digest@news.example.com".parse().unwrap();
        Outgoing {
            delivery_id: d.id,
            subscriber_id: d.subscriber.id,
            envelope: lettre::address::Envelope::new(Some(from), vec![to]).unwrap(),
            bytes: format!("Message-ID: {}\r\n\r\nhello\r\n", d.message_id).into_bytes(),
            file_name: crate::mail::outbox_file_name(&d.message_id),
        }
    }

    fn stub(s: StubTransport) -> Transport {
        Transport::Stub(s)
    }

    fn the_stub(t: &Transport) -> &StubTransport {
        match t {
            Transport::Stub(s) => s,
            _ => unreachable!("a stub"),
        }
    }

    /// The one pending delivery of `issue`, as a message.
    fn pending_message(state: &State, issue: &IssueRow, claimer: &Claimer) -> Outgoing {
        let pending = state
            .store
            .lock()
            .unwrap()
            .claim_deliveries(issue.id, claimer, 0, 10)
            .unwrap();
        assert_eq!(pending.len(), 1);
        message(&pending[0])
    }

    #[test]
    fn a_451_defers_the_delivery_and_the_next_run_sends_one_copy() {
        let s = state(&["a@example.com"]);
        let t = stub(StubTransport::new().script("a@example.com", [Reply::Defer]));
        let issue = s.issue(1);

        let first = s.send(&t, &issue, 0);
        assert_eq!((first.sent, first.deferred), (0, 1));
        assert_eq!(
            first.last_deferral.as_deref(),
            Some("451 4.3.0 <stub> try again later")
        );
        assert_eq!(s.status(&issue, "a@example.com"), "deferred");

        let second = s.send(&t, &issue, 0);
        assert_eq!((second.sent, second.deferred), (1, 0));
        assert_eq!(s.status(&issue, "a@example.com"), "sent");
        assert_eq!(the_stub(&t).attempts("a@example.com"), 2);
        assert_eq!(the_stub(&t).copies("a@example.com"), 1);
        let third = s.send(&t, &issue, 0);
        assert_eq!(third.sent, 0, "the issue is done");
    }

    #[test]
    fn a_451_is_tried_again_within_the_run_when_retries_are_left() {
        let s = state(&["a@example.com"]);
        let t = stub(StubTransport::new().script("a@example.com", [Reply::Defer, Reply::Defer]));
        let issue = s.issue(1);
        let report = s.send(&t, &issue, 2);
        assert_eq!((report.sent, report.deferred), (1, 0));
        assert_eq!(the_stub(&t).attempts("a@example.com"), 3);
        assert_eq!(the_stub(&t).copies("a@example.com"), 1);
    }

    #[test]
    fn three_550s_across_three_runs_mark_the_reader_bounced() {
        let s = state(&["a@example.com", "b@example.com"]);
        let t = stub(StubTransport::new().script("a@example.com", [Reply::Refuse; 3]));
        for n in 1..=3 {
            assert_eq!(
                s.reader("a@example.com"),
                SubscriberStatus::Active,
                "before run {n}"
            );
            let issue = s.issue(n);
            let report = s.send(&t, &issue, 3);
            assert_eq!((report.sent, report.failed), (1, 1), "run {n}");
            let (status, reply) = s.delivery(&issue, "a@example.com");
            assert_eq!(status, "failed");
            assert!(reply.starts_with("550 5.1.1"), "{reply}");
        }
        assert_eq!(s.reader("a@example.com"), SubscriberStatus::Bounced);
        assert_eq!(s.reader("b@example.com"), SubscriberStatus::Active);
        // A refusal for good is never tried again in the run.
        assert_eq!(the_stub(&t).attempts("a@example.com"), 3);
        let fourth = s.issue(4);
        assert_eq!(s.send(&t, &fourth, 3).sent, 1, "only b is left");
    }

    #[test]
    fn a_connection_lost_before_the_final_reply_is_unknown_and_not_sent_again_unless_asked() {
        let s = state(&["a@example.com"]);
        let t = stub(StubTransport::new().script("a@example.com", [Reply::Drop]));
        let issue = s.issue(1);
        let first = s.send(&t, &issue, 3);
        assert_eq!((first.sent, first.unknown), (0, 1));
        assert!(first.stopped.is_none(), "one unknown does not stop a run");
        assert_eq!(s.status(&issue, "a@example.com"), "unknown");

        let second = s.send(&t, &issue, 3);
        assert_eq!((second.sent, second.unknown), (0, 0));
        assert_eq!(the_stub(&t).attempts("a@example.com"), 1, "not resent");

        // `--retry-unknown`: the operator takes the risk of a second copy.
        assert_eq!(s.store.lock().unwrap().requeue_unknown(now()).unwrap(), 1);
        assert_eq!(s.send(&t, &issue, 3).sent, 1);
        assert_eq!(the_stub(&t).copies("a@example.com"), 2);
    }

    #[test]
    fn three_unknowns_in_a_row_stop_the_run() {
        let readers = [
            "a@example.com",
            "b@example.com",
            "c@example.com",
            "d@example.com",
        ];
        let s = state(&readers);
        let t = readers
            .iter()
            .fold(StubTransport::new(), |t, r| t.script(r, [Reply::Drop]));
        let t = stub(t);
        let issue = s.issue(1);
        let report = s.send(&t, &issue, 0);
        assert_eq!(report.unknown, 3);
        let stopped = report.stopped.expect("stopped").to_string();
        assert!(stopped.ends_with(", 3 times in a row"), "{stopped}");
        assert_eq!(s.status(&issue, "d@example.com"), "queued");
    }

    #[test]
    fn a_relay_that_never_answers_is_given_up_at_the_bound_as_unknown() {
        let s = state(&["a@example.com"]);
        let t = stub(
            StubTransport::new()
                .with_limit(Duration::from_millis(200))
                .script("a@example.com", [Reply::Hang]),
        );
        let issue = s.issue(1);
        let claimer = Claimer::new(Duration::from_secs(300), true);
        let m = pending_message(&s, &issue, &claimer);
        let progress = indicatif::ProgressBar::hidden();
        let setup = s.setup(&t, 3, &progress, &claimer);
        let engine = Engine::start(&setup);
        let step = runtime().unwrap().block_on(async {
            // A guard for the test itself: a hang must not hang it.
            tokio::time::timeout(Duration::from_secs(20), engine.step(0, &m)).await
        });
        assert_eq!(step, Ok(Step::Recorded(DeliveryStatus::Unknown)));
        let report = engine.finish().unwrap();
        assert_eq!(report.unknown, 1);
        let (status, reply) = s.delivery(&issue, "a@example.com");
        assert_eq!(status, "unknown");
        assert!(
            reply.starts_with("no outcome within 200 ms of the attempt's start"),
            "{reply}"
        );
        assert_eq!(the_stub(&t).attempts("a@example.com"), 1, "not retried");
    }

    #[test]
    fn a_run_killed_between_the_mark_and_the_outcome_leaves_an_unknown_the_next_run_does_not_resend(
    ) {
        let s = state(&["a@example.com"]);
        let t = stub(StubTransport::new());
        let issue = s.issue(1);
        let claimer = Claimer::new(Duration::from_secs(300), true);
        let m = pending_message(&s, &issue, &claimer);
        let progress = indicatif::ProgressBar::hidden();
        let setup = s.setup(&t, 3, &progress, &claimer);
        let engine = Engine::start(&setup);
        let marked = runtime()
            .unwrap()
            .block_on(engine.mark(m.delivery_id))
            .unwrap();
        assert!(marked);
        // Killed: no outcome, no finish.
        drop(engine);
        assert_eq!(s.status(&issue, "a@example.com"), "sending");

        // The next run.
        let found = recover(
            &mut s.store.lock().unwrap(),
            &Claimer::new(Duration::from_secs(300), true),
            now(),
        )
        .unwrap();
        assert_eq!(found, 1);
        let report = s.send(&t, &issue, 3);
        assert_eq!(report.sent, 0);
        assert_eq!(s.status(&issue, "a@example.com"), "unknown");
        assert_eq!(the_stub(&t).attempts("a@example.com"), 0);
    }

    #[test]
    fn a_relay_out_of_reach_stops_the_run_and_what_was_not_tried_stays_queued() {
        let readers = ["a@example.com", "b@example.com", "c@example.com"];
        let s = state(&readers);
        let t = stub(StubTransport::new().script("a@example.com", [Reply::Down]));
        let issue = s.issue(1);
        let report = s.send(&t, &issue, 3);
        let stopped = report.stopped.expect("stopped");
        assert!(stopped.is_unreachable());
        assert_eq!(
            stopped.to_string(),
            "cannot reach stub:25: Connection refused"
        );
        assert_eq!((report.sent, report.deferred), (0, 1));
        assert_eq!(s.status(&issue, "a@example.com"), "deferred");
        assert_eq!(s.status(&issue, "b@example.com"), "queued");
        assert_eq!(
            the_stub(&t).attempts("a@example.com"),
            1,
            "no waiting on it"
        );

        let next = s.send(&t, &issue, 3);
        assert_eq!(next.sent, 3);
        for r in readers {
            assert_eq!(the_stub(&t).copies(r), 1, "{r}");
        }
    }

    #[test]
    fn a_reader_who_left_since_the_issue_began_is_not_sent_it() {
        let s = state(&["a@example.com"]);
        let t = stub(StubTransport::new());
        let issue = s.issue(1);
        let claimer = Claimer::new(Duration::from_secs(300), true);
        let m = pending_message(&s, &issue, &claimer);
        {
            let mut store = s.store.lock().unwrap();
            store
                .set_subscriber_status(m.subscriber_id, SubscriberStatus::Unsubscribed, now())
                .unwrap();
        }
        let progress = indicatif::ProgressBar::hidden();
        let setup = s.setup(&t, 3, &progress, &claimer);
        let engine = Engine::start(&setup);
        let step = runtime().unwrap().block_on(engine.step(0, &m));
        assert_eq!(step, Step::Unsubscribed);
        assert_eq!(engine.finish().unwrap().sent, 0);
        assert_eq!(the_stub(&t).attempts("a@example.com"), 0);
    }
}
