//! Subscribers: added from the command line, a CSV import or the web
//! service; compared by address with the domain lower-cased.

use super::{Backend, Store, StoreError};
use crate::address::Email;
use chrono::{DateTime, FixedOffset};

/// Where a subscriber stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberStatus {
    /// Receives the digest.
    Active,
    /// Signed up; has not confirmed yet.
    Pending,
    /// Asked to stop.
    Unsubscribed,
    /// Their server refused mail for good: repeatedly during the SMTP
    /// session, or once in a bounce report that came later.
    Bounced,
    /// They reported the digest as spam: unsubscribed at once, and never
    /// brought back by an import.
    Complained,
}

impl SubscriberStatus {
    /// The stored and printed name.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberStatus::Active => "active",
            SubscriberStatus::Pending => "pending",
            SubscriberStatus::Unsubscribed => "unsubscribed",
            SubscriberStatus::Bounced => "bounced",
            SubscriberStatus::Complained => "complained",
        }
    }

    /// Reads a status name.
    pub fn parse(s: &str) -> Option<SubscriberStatus> {
        Some(match s {
            "active" => SubscriberStatus::Active,
            "pending" => SubscriberStatus::Pending,
            "unsubscribed" => SubscriberStatus::Unsubscribed,
            "bounced" => SubscriberStatus::Bounced,
            "complained" => SubscriberStatus::Complained,
            _ => return None,
        })
    }
}

/// A subscriber as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// Its key.
    pub id: i64,
    /// The address as given.
    pub email: String,
    /// The name to greet them by; may be empty.
    pub name: String,
    /// Column slugs followed; empty: every column.
    pub columns: Vec<String>,
    /// Where they stand.
    pub status: SubscriberStatus,
}

impl Subscriber {
    /// Whether they follow `column`.
    pub fn follows(&self, column: &str) -> bool {
        self.columns.is_empty() || self.columns.iter().any(|c| c == column)
    }

    /// The columns as stored and exported: `;`-separated.
    pub fn columns_text(&self) -> String {
        self.columns.join(";")
    }
}

/// A subscriber to add or update with every field given, as an import
/// row or a sign-up gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscriber {
    /// The address.
    pub email: Email,
    /// A name; may be empty.
    pub name: String,
    /// Column slugs; empty: every column.
    pub columns: Vec<String>,
}

/// A subscriber to add, or what to change of the one with this address:
/// a field that is `None` was not given and is left as it is, so adding
/// an address again with only `--columns` keeps the name it is greeted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberUpdate {
    /// The address.
    pub email: Email,
    /// A new name (empty clears it); `None`: keep the name.
    pub name: Option<String>,
    /// New column slugs (empty: every column); `None`: keep the columns.
    pub columns: Option<Vec<String>>,
}

/// What adding a subscriber did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// A new active subscriber.
    Added,
    /// An existing subscriber's name, columns or status changed.
    Updated,
    /// Nothing to change.
    Unchanged,
    /// They had unsubscribed (or bounced) and stay so.
    KeptUnsubscribed,
    /// They reported the digest as spam: never brought back by an add or
    /// an import, even with `--resubscribe` (only their own confirmed
    /// sign-up does).
    KeptComplained,
    /// They had unsubscribed or bounced, and `--resubscribe` made them
    /// active again.
    Resubscribed,
}

/// What a sign-up on the web did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupOutcome {
    /// The address needs a confirmation email: new (now pending, with no
    /// name or columns yet), pending already, or unsubscribed (which it
    /// stays until it confirms). What the form chose is kept as
    /// `request`, applied only when that request's link is confirmed.
    Pending {
        /// The subscriber.
        id: i64,
        /// The sign-up request the confirmation link names.
        request: i64,
    },
    /// The address already receives the digest; nothing was changed, since
    /// whoever filled the form has not shown they own it.
    AlreadyActive(i64),
    /// Mail to the address was refused for good: nothing is sent to it.
    Bounced(i64),
}

/// A sign-up waiting for its confirmation link: the choices made with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupRequest {
    /// Its row.
    pub id: i64,
    /// The subscriber it is for.
    pub subscriber_id: i64,
    /// The name chosen; may be empty.
    pub name: String,
    /// Column slugs chosen; empty: every column.
    pub columns: Vec<String>,
    /// Whether its link was confirmed already.
    pub confirmed: bool,
}

/// What confirming did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    /// The subscriber is active from now on.
    Activated,
    /// They were active already.
    AlreadyActive,
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// New subscribers.
    pub added: usize,
    /// Subscribers changed.
    pub updated: usize,
    /// Rows that changed nothing.
    pub unchanged: usize,
    /// Rows for addresses that unsubscribed, left as they are.
    pub kept_unsubscribed: usize,
    /// Rows for addresses that reported the digest as spam, left as
    /// they are.
    pub kept_complained: usize,
    /// Rows for addresses that had unsubscribed or bounced, made active
    /// again by `--resubscribe`.
    pub resubscribed: usize,
}

impl ImportReport {
    /// Counts what one row did.
    pub(crate) fn count(&mut self, outcome: UpsertOutcome) {
        match outcome {
            UpsertOutcome::Added => self.added += 1,
            UpsertOutcome::Updated => self.updated += 1,
            UpsertOutcome::Unchanged => self.unchanged += 1,
            UpsertOutcome::KeptUnsubscribed => self.kept_unsubscribed += 1,
            UpsertOutcome::KeptComplained => self.kept_complained += 1,
            UpsertOutcome::Resubscribed => self.resubscribed += 1,
        }
    }
}

/// Where an import's rows come from, read while they are written so that
/// a file of a million never sits in memory: each call appends up to the
/// given number of rows, in file order, and appends none at the end. An
/// `Err` ends the import with nothing written.
pub type ImportRows<'a, E> = dyn FnMut(&mut Vec<NewSubscriber>, usize) -> Result<(), E> + 'a;

/// Hands `write` each batch `rows` gives, until it gives none: the loop
/// both backends' imports run inside their transaction. The inner `Err`
/// is the source's, which the caller rolls back on.
pub(crate) fn each_batch<E, D>(
    rows: &mut ImportRows<'_, E>,
    mut write: impl FnMut(&[NewSubscriber]) -> Result<(), D>,
) -> Result<Result<(), E>, D> {
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    loop {
        batch.clear();
        if let Err(e) = rows(&mut batch, IMPORT_BATCH) {
            return Ok(Err(e));
        }
        if batch.is_empty() {
            return Ok(Ok(()));
        }
        write(&batch)?;
    }
}

/// How many rows an import asks its source for at a time: on PostgreSQL,
/// one batch is three statements whatever its size (a handful in tests,
/// so that imports cross batches).
pub(crate) const IMPORT_BATCH: usize = if cfg!(test) { 7 } else { 5_000 };

/// The row an address has already, as an add or an import finds it.
pub(crate) struct StoredRow {
    pub id: i64,
    pub name: String,
    /// `;`-separated, as stored.
    pub columns: String,
    pub status: String,
}

/// What adding an address that has a row does to that row.
pub(crate) enum RowChange {
    /// Nothing: it is as asked already, or they left and stay away.
    Keep(UpsertOutcome),
    /// Set these (display name, stored columns) and make the row active;
    /// `outcome` says whether that brings back one who had left.
    Set {
        name: String,
        columns: String,
        outcome: UpsertOutcome,
    },
}

/// Decides what adding `name` and `columns` (`None`: keep the field)
/// does to `row`. One rule for both backends and for single adds and
/// imports alike: an address that unsubscribed or bounced stays so
/// unless `resubscribe`, and one that complained stays so whatever is
/// asked.
pub(crate) fn change_of(
    row: &StoredRow,
    name: Option<&str>,
    columns: Option<&str>,
    resubscribe: bool,
) -> RowChange {
    if row.status == "complained" {
        return RowChange::Keep(UpsertOutcome::KeptComplained);
    }
    let left = row.status == "unsubscribed" || row.status == "bounced";
    if left && !resubscribe {
        return RowChange::Keep(UpsertOutcome::KeptUnsubscribed);
    }
    let name = name.unwrap_or(&row.name);
    let columns = columns.unwrap_or(&row.columns);
    if row.name == name && row.columns == columns && row.status == "active" {
        return RowChange::Keep(UpsertOutcome::Unchanged);
    }
    RowChange::Set {
        name: name.to_owned(),
        columns: columns.to_owned(),
        outcome: if left {
            UpsertOutcome::Resubscribed
        } else {
            UpsertOutcome::Updated
        },
    }
}

/// Sign-up requests older than this are deleted when a new one is
/// stored: their links (48 hours) expired long ago.
pub(crate) const REQUEST_KEEP_DAYS: i64 = 7;

/// The `;`-separated slugs a row stores, as a list.
pub(crate) fn split_columns(s: &str) -> Vec<String> {
    s.split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Store {
    /// Adds an active subscriber, or sets every field of the one with this
    /// address. An address that unsubscribed stays unsubscribed unless `resubscribe`.
    pub fn add_subscriber(
        &mut self,
        s: &NewSubscriber,
        now: DateTime<FixedOffset>,
        resubscribe: bool,
    ) -> Result<UpsertOutcome, StoreError> {
        // Every field given: one path through the backend for both.
        let update = SubscriberUpdate {
            email: s.email.clone(),
            name: Some(s.name.clone()),
            columns: Some(s.columns.clone()),
        };
        self.add_or_update_subscriber(&update, now, resubscribe)
    }

    /// Adds an active subscriber, or changes only the fields given of the
    /// one with this address (a new one gets no name and every column for
    /// what is not given). An address that unsubscribed stays unsubscribed
    /// unless `resubscribe`.
    pub fn add_or_update_subscriber(
        &mut self,
        s: &SubscriberUpdate,
        now: DateTime<FixedOffset>,
        resubscribe: bool,
    ) -> Result<UpsertOutcome, StoreError> {
        on_backend_mut!(self, db => db.add_or_update_subscriber(s, now, resubscribe))
    }

    /// Adds or updates every subscriber `rows` gives, in one transaction:
    /// all or none. The inner `Err` is the source's, which ended the
    /// import with nothing written.
    pub fn import_subscribers<E>(
        &mut self,
        rows: &mut ImportRows<'_, E>,
        now: DateTime<FixedOffset>,
        resubscribe: bool,
    ) -> Result<Result<ImportReport, E>, StoreError> {
        on_backend_mut!(self, db => db.import_subscribers(rows, now, resubscribe))
    }

    /// Subscribers, by address; only those of `status` when given.
    pub fn subscribers(
        &self,
        status: Option<SubscriberStatus>,
    ) -> Result<Vec<Subscriber>, StoreError> {
        on_backend!(self, db => db.subscribers(status))
    }

    /// Calls `visit` with each subscriber of `status`, in the order of
    /// their ids, holding only one at a time: for counts over every
    /// reader, which a million of would not fit in a `Vec` cheaply.
    pub fn each_subscriber(
        &self,
        status: SubscriberStatus,
        visit: &mut dyn FnMut(Subscriber),
    ) -> Result<(), StoreError> {
        on_backend!(self, db => db.each_subscriber(status, visit))
    }

    /// The earliest added subscriber of `status` (the lowest id): the one
    /// a preview shows when no address is named, so adding someone whose
    /// address sorts first does not change whom the preview is for.
    pub fn first_subscriber(
        &self,
        status: SubscriberStatus,
    ) -> Result<Option<Subscriber>, StoreError> {
        on_backend!(self, db => db.first_subscriber(status))
    }

    /// The subscriber with this address.
    pub fn subscriber(&self, email: &Email) -> Result<Option<Subscriber>, StoreError> {
        on_backend!(self, db => db.subscriber(email))
    }

    /// Sets a subscriber's status.
    pub fn set_subscriber_status(
        &mut self,
        id: i64,
        status: SubscriberStatus,
        now: DateTime<FixedOffset>,
    ) -> Result<bool, StoreError> {
        on_backend_mut!(self, db => db.set_subscriber_status(id, status, now))
    }

    /// Removes a subscriber and their delivery history. Returns whether
    /// there was one.
    pub fn remove_subscriber(&mut self, email: &Email) -> Result<bool, StoreError> {
        on_backend_mut!(self, db => db.remove_subscriber(email))
    }

    /// The subscriber with this id.
    pub fn subscriber_by_id(&self, id: i64) -> Result<Option<Subscriber>, StoreError> {
        on_backend!(self, db => db.subscriber_by_id(id))
    }

    /// Records a sign-up from the web. A new address becomes pending with
    /// no name and no columns; a known one is left exactly as it is. The
    /// name and columns the form chose are stored as a request of their
    /// own, which only its confirmation link applies, so whoever filled
    /// the form first cannot choose what the owner is greeted by.
    pub fn request_signup(
        &mut self,
        s: &NewSubscriber,
        now: DateTime<FixedOffset>,
    ) -> Result<SignupOutcome, StoreError> {
        on_backend_mut!(self, db => db.request_signup(s, now))
    }

    /// Records that subscriber `id`, who left or bounced, asked from their
    /// preferences page to come back with this name and columns; returns
    /// the request a fresh confirmation link names.
    pub fn request_resubscribe(
        &mut self,
        id: i64,
        name: &str,
        columns: &[String],
        now: DateTime<FixedOffset>,
    ) -> Result<i64, StoreError> {
        on_backend_mut!(self, db => db.request_resubscribe(id, name, columns, now))
    }

    /// The sign-up request with this id.
    pub fn signup_request(&self, id: i64) -> Result<Option<SignupRequest>, StoreError> {
        on_backend!(self, db => db.signup_request(id))
    }

    /// Confirms a sign-up request: its subscriber becomes active with
    /// exactly the name and columns of that request. A request confirmed
    /// before changes nothing the second time.
    pub fn confirm_request(
        &mut self,
        request: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<ConfirmOutcome, StoreError> {
        on_backend_mut!(self, db => db.confirm_request(request, now))
    }

    /// Activates a subscriber who followed a confirmation link of the
    /// first token format, which names the subscriber rather than a
    /// request (such links were mailed before requests were kept).
    pub fn confirm_subscriber(
        &mut self,
        id: i64,
        now: DateTime<FixedOffset>,
    ) -> Result<ConfirmOutcome, StoreError> {
        on_backend_mut!(self, db => db.confirm_subscriber(id, now))
    }

    /// Unsubscribes a subscriber; returns whether anything changed, so a
    /// second one-click request is answered the same and writes nothing.
    pub fn unsubscribe(&mut self, id: i64, now: DateTime<FixedOffset>) -> Result<bool, StoreError> {
        Ok(self.unsubscribe_all(&[id], now)?[0])
    }

    /// Unsubscribes each of `ids` in one transaction; says for each whether
    /// anything changed. One commit for many one-click requests that
    /// arrive together keeps each of them short of waiting its turn.
    pub fn unsubscribe_all(
        &mut self,
        ids: &[i64],
        now: DateTime<FixedOffset>,
    ) -> Result<Vec<bool>, StoreError> {
        on_backend_mut!(self, db => db.unsubscribe_all(ids, now))
    }

    /// Sets a subscriber's name and columns from their preferences page.
    /// Their status stays as it is: a preferences link travels in every
    /// digest, and whoever holds a forwarded one must not bring back a
    /// reader who left (coming back takes a fresh confirmation).
    pub fn update_preferences(
        &mut self,
        id: i64,
        name: &str,
        columns: &[String],
        now: DateTime<FixedOffset>,
    ) -> Result<(), StoreError> {
        on_backend_mut!(self, db => db.update_preferences(id, name, columns, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-06-08T07:00:00+08:00").unwrap()
    }

    fn reader(name: &str, columns: &[&str]) -> NewSubscriber {
        NewSubscriber {
            email: Email::parse("reader@Example.COM").unwrap(),
            name: name.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn adding_an_address_again_changes_only_what_differs_and_one_who_left_stays_away() {
        for fresh in crate::store::testing::fresh_stores() {
            let mut store = fresh.open();
            let add = |store: &mut Store, s: &NewSubscriber, resubscribe| {
                store.add_subscriber(s, now(), resubscribe).unwrap()
            };
            assert_eq!(
                add(&mut store, &reader("", &[]), false),
                UpsertOutcome::Added
            );
            assert_eq!(
                add(&mut store, &reader("", &[]), false),
                UpsertOutcome::Unchanged
            );
            assert_eq!(
                add(&mut store, &reader("甲", &["ai"]), false),
                UpsertOutcome::Updated
            );
            let found = store
                .subscriber(&Email::parse("reader@example.com").unwrap())
                .unwrap()
                .expect("the domain is compared lower-cased");
            assert_eq!(
                (found.name.as_str(), found.columns_text(), found.status),
                ("甲", "ai".to_owned(), SubscriberStatus::Active)
            );
            assert!(found.follows("ai") && !found.follows("law"));

            assert!(store.unsubscribe(found.id, now()).unwrap());
            assert!(!store.unsubscribe(found.id, now()).unwrap(), "once");
            assert_eq!(
                add(&mut store, &reader("甲", &["ai"]), false),
                UpsertOutcome::KeptUnsubscribed
            );
            assert_eq!(
                store.subscriber_by_id(found.id).unwrap().unwrap().status,
                SubscriberStatus::Unsubscribed
            );
            assert_eq!(
                add(&mut store, &reader("甲", &["ai"]), true),
                UpsertOutcome::Resubscribed
            );
            assert_eq!(
                store.subscriber_by_id(found.id).unwrap().unwrap().status,
                SubscriberStatus::Active
            );
        }
    }

    #[test]
    fn one_who_reported_the_digest_as_spam_is_never_brought_back() {
        for fresh in crate::store::testing::fresh_stores() {
            let mut store = fresh.open();
            let s = reader("甲", &["ai"]);
            store.add_subscriber(&s, now(), false).unwrap();
            let id = store.subscriber(&s.email).unwrap().unwrap().id;
            store
                .set_subscriber_status(id, SubscriberStatus::Complained, now())
                .unwrap();
            for resubscribe in [false, true] {
                assert_eq!(
                    store.add_subscriber(&s, now(), resubscribe).unwrap(),
                    UpsertOutcome::KeptComplained,
                    "{} resubscribe={resubscribe}",
                    fresh.backend
                );
            }
            assert_eq!(
                store.subscriber_by_id(id).unwrap().unwrap().status,
                SubscriberStatus::Complained
            );
        }
    }

    #[test]
    fn an_update_changes_only_the_fields_it_gives_and_the_first_added_is_found() {
        for fresh in crate::store::testing::fresh_stores() {
            let mut store = fresh.open();
            let email = Email::parse("reader@example.com").unwrap();
            let update = |name: Option<&str>, columns: Option<&[&str]>| SubscriberUpdate {
                email: email.clone(),
                name: name.map(str::to_owned),
                columns: columns.map(|c| c.iter().map(|c| (*c).to_owned()).collect()),
            };
            let mut apply =
                |u: SubscriberUpdate| store.add_or_update_subscriber(&u, now(), false).unwrap();
            assert_eq!(
                apply(update(Some("甲"), Some(&["ai"]))),
                UpsertOutcome::Added
            );
            assert_eq!(apply(update(None, Some(&["city"]))), UpsertOutcome::Updated);
            assert_eq!(apply(update(Some("乙"), None)), UpsertOutcome::Updated);
            assert_eq!(apply(update(None, None)), UpsertOutcome::Unchanged);
            let found = store.subscriber(&email).unwrap().unwrap();
            assert_eq!(
                (found.name.as_str(), found.columns_text()),
                ("乙", "city".to_owned())
            );
            // Added later, though its address sorts first.
            store
                .add_subscriber(
                    &NewSubscriber {
                        email: Email::parse("a@example.com").unwrap(),
                        name: String::new(),
                        columns: Vec::new(),
                    },
                    now(),
                    false,
                )
                .unwrap();
            let first = store
                .first_subscriber(SubscriberStatus::Active)
                .unwrap()
                .unwrap();
            assert_eq!(first.email, "reader@example.com");
        }
    }

    #[test]
    fn a_sign_up_takes_its_choices_from_its_own_confirmed_request_only() {
        for fresh in crate::store::testing::fresh_stores() {
            let mut store = fresh.open();
            let SignupOutcome::Pending { id, request: owner } =
                store.request_signup(&reader("甲", &["ai"]), now()).unwrap()
            else {
                panic!("a new address waits for its confirmation");
            };
            let pending = store.subscriber_by_id(id).unwrap().unwrap();
            assert_eq!(pending.status, SubscriberStatus::Pending);
            assert_eq!(pending.name, "", "nothing chosen is applied yet");
            // Someone else fills the form for the same address.
            let SignupOutcome::Pending {
                id: same,
                request: stranger,
            } = store.request_signup(&reader("乙", &[]), now()).unwrap()
            else {
                panic!("still pending");
            };
            assert_eq!(same, id);
            assert_ne!(stranger, owner);

            assert_eq!(
                store.confirm_request(owner, now()).unwrap(),
                ConfirmOutcome::Activated
            );
            let active = store.subscriber_by_id(id).unwrap().unwrap();
            assert_eq!(
                (
                    active.name.as_str(),
                    active.columns.as_slice(),
                    active.status
                ),
                ("甲", ["ai".to_owned()].as_slice(), SubscriberStatus::Active)
            );
            assert_eq!(
                store.confirm_request(owner, now()).unwrap(),
                ConfirmOutcome::AlreadyActive
            );
            assert!(store.signup_request(owner).unwrap().unwrap().confirmed);
            assert!(!store.signup_request(stranger).unwrap().unwrap().confirmed);
            assert_eq!(
                store.request_signup(&reader("乙", &[]), now()).unwrap(),
                SignupOutcome::AlreadyActive(id)
            );
        }
    }

    #[test]
    fn an_import_does_to_each_row_what_adding_it_alone_would_and_a_failing_source_writes_nothing() {
        for fresh in crate::store::testing::fresh_stores() {
            let mut store = fresh.open();
            let row = |i: usize, name: &str, columns: &[&str]| NewSubscriber {
                email: Email::parse(&format!("reader{i}@Example.COM")).unwrap(),
                name: name.into(),
                columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            };
            // Before the import: 0-9 active, 10-11 unsubscribed, 12 bounced, 13 pending.
            for i in 0..14 {
                store
                    .add_subscriber(&row(i, "舊", &["ai"]), now(), false)
                    .unwrap();
            }
            let id = |store: &Store, i: usize| {
                let email = Email::parse(&format!("reader{i}@example.com")).unwrap();
                store.subscriber(&email).unwrap().unwrap().id
            };
            for i in [10, 11] {
                store.unsubscribe(id(&store, i), now()).unwrap();
            }
            let bounced = id(&store, 12);
            store
                .set_subscriber_status(bounced, SubscriberStatus::Bounced, now())
                .unwrap();
            let pending = id(&store, 13);
            store
                .set_subscriber_status(pending, SubscriberStatus::Pending, now())
                .unwrap();

            // Across batches of IMPORT_BATCH: 0-4 as they are, 5-9 renamed,
            // 10-12 kept away, 13 made active, 14-29 new.
            let rows: Vec<NewSubscriber> = (0..30)
                .map(|i| match i {
                    0..5 => row(i, "舊", &["ai"]),
                    5..10 => row(i, "新", &["ai", "law"]),
                    _ => row(i, "新", &["law"]),
                })
                .collect();
            assert!(rows.len() > 2 * IMPORT_BATCH);
            let before = store.subscribers(None).unwrap();

            // A source failing after two batches: nothing of them stays.
            let mut given = crate::store::testing::rows_of(&rows);
            let mut calls = 0;
            let mut failing = |into: &mut Vec<NewSubscriber>, n: usize| {
                calls += 1;
                if calls == 3 {
                    return Err("the file could not be read further");
                }
                let Ok(()) = given(into, n);
                Ok(())
            };
            let failed = store
                .import_subscribers(&mut failing, now(), false)
                .unwrap();
            assert_eq!(
                failed,
                Err("the file could not be read further"),
                "{}",
                fresh.backend
            );
            assert_eq!(
                store.subscribers(None).unwrap(),
                before,
                "{}",
                fresh.backend
            );

            let Ok(report) = store
                .import_subscribers(&mut crate::store::testing::rows_of(&rows), now(), false)
                .unwrap();
            assert_eq!(
                report,
                ImportReport {
                    added: 16,
                    updated: 6,
                    unchanged: 5,
                    kept_unsubscribed: 3,
                    kept_complained: 0,
                    resubscribed: 0
                },
                "{}",
                fresh.backend
            );
            let after = store.subscribers(None).unwrap();
            let find = |i: usize| {
                let email = format!("reader{i}@example.com");
                after
                    .iter()
                    .find(|s| s.email.to_lowercase() == email)
                    .unwrap()
            };
            for i in 0..30 {
                let s = find(i);
                let expected = match i {
                    0..5 => ("舊", "ai", SubscriberStatus::Active),
                    5..10 => ("新", "ai;law", SubscriberStatus::Active),
                    10 | 11 => ("舊", "ai", SubscriberStatus::Unsubscribed),
                    12 => ("舊", "ai", SubscriberStatus::Bounced),
                    _ => ("新", "law", SubscriberStatus::Active),
                };
                assert_eq!(
                    (s.name.as_str(), s.columns_text().as_str(), s.status),
                    expected,
                    "{} reader{i}",
                    fresh.backend
                );
            }
            // New rows take ids in the order of the file.
            let new_ids: Vec<i64> = (14..30).map(|i| find(i).id).collect();
            assert!(new_ids.windows(2).all(|w| w[0] < w[1]), "{new_ids:?}");
        }
    }

    #[test]
    fn two_imports_at_once_with_the_same_new_addresses_in_other_orders_both_succeed() {
        use std::sync::mpsc;
        use std::time::Duration;
        for fresh in crate::store::testing::fresh_stores() {
            let rows = crate::store::testing::readers(40);
            let reversed: Vec<NewSubscriber> = rows.iter().rev().cloned().collect();
            // Each import, after its first batch is written, waits (a
            // while, not for ever) for the other to have written one too:
            // where both can, they then insert what the other holds.
            let (to_second, at_second) = mpsc::channel();
            let (to_first, at_first) = mpsc::channel();
            let run = |rows: &[NewSubscriber], tell: mpsc::Sender<()>, wait: mpsc::Receiver<()>| {
                let mut store = fresh.open();
                let mut given = crate::store::testing::rows_of(rows);
                let mut calls = 0;
                let mut source = |into: &mut Vec<NewSubscriber>, n: usize| {
                    calls += 1;
                    if calls == 2 {
                        let _ = tell.send(());
                        let _ = wait.recv_timeout(Duration::from_secs(2));
                    }
                    let Ok(()) = given(into, n);
                    Ok::<(), ()>(())
                };
                store.import_subscribers(&mut source, now(), false)
            };
            let (run, rows, reversed) = (&run, &rows, &reversed);
            let report = std::thread::scope(|scope| {
                let first = scope.spawn(move || run(rows, to_second, at_first));
                let second = scope.spawn(move || run(reversed, to_first, at_second));
                [first.join().unwrap(), second.join().unwrap()]
            });
            let [first, second] = report.map(|r| {
                r.unwrap_or_else(|e| panic!("{}: {e}", fresh.backend))
                    .unwrap()
            });
            assert_eq!(first.added + second.added, 40, "{}", fresh.backend);
            assert_eq!(first.unchanged + second.unchanged, 40, "{}", fresh.backend);
            assert_eq!(fresh.open().subscribers(None).unwrap().len(), 40);
        }
    }
}
