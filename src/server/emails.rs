//! The emails a page promises: rendered from the service's templates,
//! built by `mail::message` (as the digest is), committed to the state
//! before the page answers, sent by the mailer.

use super::links::{self, CONFIRM_HOURS, MANAGE_DAYS};
use super::refusal::{Reason, Refusal};
use super::state::db;
use super::{mailer, when, Shared};
use crate::address::Email;
use crate::mail::message::{self, Letter};
use crate::mail::{Outgoing, Sender};
use crate::text::one_line;
use chrono::{DateTime, Duration, FixedOffset};
use lettre::message::Mailbox;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::str::FromStr;

/// Which email the service sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EmailKind {
    /// The link that confirms a sign-up request.
    Confirm,
    /// A preferences link, sent on request.
    Manage,
    /// After a sign-up is confirmed: what comes and when, with the links
    /// to change or stop it (`server.welcome_email`).
    Welcome,
}

impl EmailKind {
    /// Its name in the state's queue and in its Message-ID.
    fn name(self) -> &'static str {
        match self {
            EmailKind::Confirm => "confirm",
            EmailKind::Manage => "manage",
            EmailKind::Welcome => "welcome",
        }
    }

    /// The template it is rendered from (`.html` and `.txt`).
    fn template(self) -> &'static str {
        match self {
            EmailKind::Confirm => "email-confirm",
            EmailKind::Manage => "email-manage",
            EmailKind::Welcome => "email-welcome",
        }
    }

    /// Its subject on the site titled `title`.
    fn subject(self, title: &str) -> String {
        match self {
            EmailKind::Confirm => format!("請確認訂閱 Confirm your subscription · {title}"),
            EmailKind::Manage => format!("你的訂閱設定 Your subscription · {title}"),
            EmailKind::Welcome => format!("歡迎訂閱 Welcome · {title}"),
        }
    }

    /// How long its link works: past that, an email the relay kept
    /// refusing is no use sending.
    fn link_lifetime(self) -> Duration {
        match self {
            EmailKind::Confirm => Duration::hours(CONFIRM_HOURS),
            // A welcome a week late is no use either (its own links work
            // far longer).
            EmailKind::Manage | EmailKind::Welcome => Duration::days(MANAGE_DAYS),
        }
    }
}

/// Queues an email of `kind` to `email` in the state, its link `url`, and
/// wakes the mailer. The page promising the email is answered only once
/// it is committed: a restart cannot lose it.
pub(crate) async fn queue(
    state: &Shared,
    id: i64,
    email: &Email,
    kind: EmailKind,
    url: &str,
) -> Result<(), Refusal> {
    queue_with(state, id, email, kind, url, json!({ "link": url })).await
}

/// [`queue`] with the templates given `data`; `url` is the link that
/// makes this email differ from another of its kind.
async fn queue_with(
    state: &Shared,
    id: i64,
    email: &Email,
    kind: EmailKind,
    url: &str,
    data: Value,
) -> Result<(), Refusal> {
    let Some(m) = build(state, id, email, kind, url, data) else {
        return Err(state.refuse(Reason::Unavailable));
    };
    let row = mailer::queued(&m, kind.name(), kind.link_lifetime());
    let now = state.clock.now();
    db(state, move |s| mailer::store_email(s, &row, now)).await?;
    state.mailer.wake();
    Ok(())
}

/// Queues the welcome email to subscriber `id`, who has just confirmed
/// and follows `columns` (none: every column): what they will get, when
/// the first issue comes, and the links to change or stop it, which work
/// as long as a digest's do.
pub(crate) async fn queue_welcome(
    state: &Shared,
    id: i64,
    email: &Email,
    columns: &[String],
) -> Result<(), Refusal> {
    let (preferences, unsubscribe) = links::welcome_links(state, id, email);
    let now = state.clock.now();
    let first = when::date_time(when::first_issue(&state.config, now), now);
    let titles: Vec<&str> = columns
        .iter()
        .filter_map(|c| state.config.column(c).map(|c| c.title.as_str()))
        .collect();
    let data = json!({
        "every_column": columns.is_empty(),
        "columns": titles,
        "schedule": when::weekly(&state.config.digest.schedule).json(),
        "first_issue": first.json(),
        "preferences": preferences,
        "unsubscribe": unsubscribe,
    });
    queue_with(state, id, email, EmailKind::Welcome, &preferences, data).await
}

/// Queues the confirmation email of sign-up request `request`, made by
/// subscriber `id`.
pub(crate) async fn queue_confirmation(
    state: &Shared,
    id: i64,
    request: i64,
    email: &Email,
) -> Result<(), Refusal> {
    let token = links::confirm_token(state, request, email);
    let url = links::link(state, "confirm", &token);
    queue(state, id, email, EmailKind::Confirm, &url).await
}

/// Queues a preferences link for subscriber `id`.
pub(crate) async fn queue_preferences(
    state: &Shared,
    id: i64,
    email: &Email,
) -> Result<(), Refusal> {
    let token = links::preferences_token(state, id, email);
    let url = links::link(state, "preferences", &token);
    queue(state, id, email, EmailKind::Manage, &url).await
}

/// Does the work of an email without sending it, where none is due: the
/// answer then takes as long as when one is, so timing tells no one
/// whether an address is known.
pub(crate) async fn build_for_nobody(state: &Shared, email: &Email, kind: EmailKind) {
    let token = links::preferences_token(state, 0, email);
    let url = links::link(state, "preferences", &token);
    if let Some(m) = build(state, 0, email, kind, &url, json!({ "link": url })) {
        let row = mailer::queued(&m, kind.name(), kind.link_lifetime());
        let now = state.clock.now();
        // A failure is logged where it happens; nothing waits on this.
        let _ = db(state, move |s| s.queue_nothing(&row, now)).await;
    }
}

/// The Message-ID of the `kind` email to `to` carrying `link`, made at
/// `now`: what the email is, so the same email built twice is the same
/// message (and golden files stay stable), while two emails differ
/// whenever their links do (a link names its sign-up request or
/// subscriber, and expires a set time after `now`). The link's token is
/// signed with the service's secret, so no one without it can work the
/// digest out; and only a digest of it is shown, never the address.
fn message_id(
    sender: &Sender,
    kind: EmailKind,
    to: &Email,
    now: DateTime<FixedOffset>,
    link: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [kind.name(), to.key(), &now.to_rfc3339(), link] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    sender.message_id(&[
        kind.name(),
        &now.timestamp().to_string(),
        &crate::names::hex(&h.finalize()[..12]),
    ])
}

/// The `kind` email to `email` (subscriber `id`) rendered with `data`,
/// `url` its link, dated by the service's clock; `None`, logged, when it
/// cannot be made.
fn build(
    state: &Shared,
    id: i64,
    email: &Email,
    kind: EmailKind,
    url: &str,
    mut data: Value,
) -> Option<Outgoing> {
    // Every email ends with who sends it and from where, as a digest does.
    if let Value::Object(fields) = &mut data {
        fields.insert(
            "sender".to_owned(),
            json!(crate::digest::sender(&state.config)),
        );
    }
    let subject = one_line(&kind.subject(&state.config.site.title));
    let text = state.pages.text(kind.template(), &state.site, data.clone());
    let html = state.pages.html(kind.template(), &state.site, data);
    let (text, html) = match (text, html) {
        (Ok(t), Ok(h)) => (t, h),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("{e}");
            return None;
        }
    };
    let address = match lettre::Address::from_str(email.as_str()) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(subscriber = id, "cannot build the email: {e}");
            return None;
        }
    };
    let now = state.clock.now();
    let message_id = message_id(&state.sender, kind, email, now, url);
    // Issue 0 in the token: a bounce of a confirmation marks the address
    // bounced as a digest's would, before any digest.
    let token = (id > 0)
        .then(|| state.sender.delivery_token(&state.signer, 0, id))
        .flatten();
    let built = message::build(
        &state.sender,
        &Letter {
            // No display name: the one typed into the form is not echoed
            // anywhere, so the form cannot carry a spammer's text.
            to: Mailbox::new(None, address),
            subject: &subject,
            html: &html,
            text: &text,
            // In the site's zone, as a digest's: a reader in Hong Kong
            // sees +0800 whatever zone the server's clock is in.
            date: now
                .with_timezone(&state.config.site.timezone)
                .fixed_offset(),
            message_id: &message_id,
            list_unsubscribe: None,
            feedback_id: Some(&state.sender.feedback_id(kind.name(), "service")),
            token: token.as_deref(),
        },
    );
    match built {
        Ok(m) => Some(
            Outgoing::new(0, id, &m, &message_id)
                .with_envelope_sender(state.sender.envelope_sender(token.as_deref())),
        ),
        Err(e) => {
            tracing::error!(subscriber = id, "cannot build the email: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_email_keeps_its_name_template_subject_and_lifetime() {
        let facts = |k: EmailKind| (k.name(), k.template(), k.subject("論壇"), k.link_lifetime());
        let expected = [
            (
                EmailKind::Confirm,
                "confirm",
                "email-confirm",
                "請確認訂閱 Confirm your subscription · 論壇",
                Duration::hours(48),
            ),
            (
                EmailKind::Manage,
                "manage",
                "email-manage",
                "你的訂閱設定 Your subscription · 論壇",
                Duration::days(7),
            ),
            (
                EmailKind::Welcome,
                "welcome",
                "email-welcome",
                "歡迎訂閱 Welcome · 論壇",
                Duration::days(7),
            ),
        ];
        for (kind, name, template, subject, lifetime) in expected {
            assert_eq!(facts(kind), (name, template, subject.to_owned(), lifetime));
        }
    }
}
