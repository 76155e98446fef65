//! Signed links: making them for emails and pages, and finding the
//! subscriber (and sign-up request) a link names, checked for its purpose.

use super::refusal::{Reason, Refusal};
use super::state::db_read;
use super::Shared;
use crate::address::Email;
use crate::store::{SignupRequest, Subscriber};
use crate::token::{Purpose, TokenError};
use chrono::Duration;

/// How long a confirmation link works.
pub(crate) const CONFIRM_HOURS: i64 = 48;
/// How long a preferences link sent on request works.
pub(crate) const MANAGE_DAYS: i64 = 7;

/// How long the preferences link in a welcome email works: as long as a
/// digest's, since it is kept like one.
const WELCOME_PREFERENCES_DAYS: i64 = 30;
/// How long its unsubscribe link works: as long as a digest's.
const WELCOME_UNSUBSCRIBE_DAYS: i64 = 365;

/// `{public_url}/{page}?token={token}`.
pub(crate) fn link(state: &Shared, page: &str, token: &str) -> String {
    format!("{}/{page}?token={token}", state.public_url)
}

/// A preferences token for subscriber `id`: the link mailed on request,
/// and the one the confirmation and unsubscribe pages offer.
pub(crate) fn preferences_token(state: &Shared, id: i64, email: &Email) -> String {
    state.signer.sign(
        id,
        email.key(),
        Purpose::Preferences,
        state.clock.now() + Duration::days(MANAGE_DAYS),
    )
}

/// The preferences and unsubscribe links of subscriber `id`'s welcome
/// email.
pub(crate) fn welcome_links(state: &Shared, id: i64, email: &Email) -> (String, String) {
    let now = state.clock.now();
    let preferences = state.signer.sign(
        id,
        email.key(),
        Purpose::Preferences,
        now + Duration::days(WELCOME_PREFERENCES_DAYS),
    );
    let unsubscribe = state.signer.sign(
        id,
        email.key(),
        Purpose::Unsubscribe,
        now + Duration::days(WELCOME_UNSUBSCRIBE_DAYS),
    );
    (
        link(state, "preferences", &preferences),
        link(state, "unsubscribe", &unsubscribe),
    )
}

/// The token of sign-up request `request`'s confirmation link: it names
/// the request, so confirming applies exactly what was chosen with it.
pub(crate) fn confirm_token(state: &Shared, request: i64, email: &Email) -> String {
    state.signer.sign(
        request,
        email.key(),
        Purpose::Confirm,
        state.clock.now() + Duration::hours(CONFIRM_HOURS),
    )
}

/// The subscriber a token names, checked for `purpose`; or the refusal
/// that says what is wrong with the link.
pub(crate) async fn resolve(
    state: &Shared,
    token: Option<&str>,
    purpose: Purpose,
) -> Result<(Subscriber, Email), Refusal> {
    resolve_with_request(state, token, purpose)
        .await
        .map(|(s, e, _)| (s, e))
}

/// [`resolve`], and for a confirmation link of the current format the
/// sign-up request it names (the first format named the subscriber).
pub(crate) async fn resolve_with_request(
    state: &Shared,
    token: Option<&str>,
    purpose: Purpose,
) -> Result<(Subscriber, Email, Option<SignupRequest>), Refusal> {
    let refuse = |e: TokenError| state.refuse(Reason::BadLink(e, purpose));
    let token = token.unwrap_or("").trim().to_owned();
    let (claims, named) = state.signer.peek(&token).map_err(refuse)?;
    let by_request = named == Purpose::Confirm && !claims.legacy;
    let number = claims.subscriber_id;
    let found = db_read(state, move |s| {
        if by_request {
            let Some(r) = s.signup_request(number)? else {
                return Ok(None);
            };
            Ok(s.subscriber_by_id(r.subscriber_id)?.map(|s| (s, Some(r))))
        } else {
            Ok(s.subscriber_by_id(number)?.map(|s| (s, None)))
        }
    })
    .await?;
    let Some((subscriber, request)) = found else {
        return Err(refuse(TokenError::BadSignature));
    };
    let Ok(email) = Email::parse(&subscriber.email) else {
        return Err(refuse(TokenError::BadSignature));
    };
    state
        .signer
        .verify(&token, email.key(), purpose, state.clock.now())
        .map_err(refuse)?;
    Ok((subscriber, email, request))
}
