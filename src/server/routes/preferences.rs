//! `/preferences`: a subscriber's name and columns, unsubscribing, and
//! for one who left, asking for a fresh confirmation.

use super::{columns_data, columns_of, read_choices, shows_every, within_limits};
use crate::server::emails;
use crate::server::extract::{Client, FromForm, PostedForm, TokenQuery};
use crate::server::forms::Form;
use crate::server::links::resolve;
use crate::server::pages::{bi, Bilingual};
use crate::server::refusal::Refusal;
use crate::server::state::db;
use crate::server::Shared;
use crate::store::{Subscriber, SubscriberStatus};
use crate::token::Purpose;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

/// The preferences form's fields.
pub(crate) struct Choices {
    token: Option<String>,
    /// `save`, `unsubscribe` or `resubscribe`; anything but `unsubscribe`
    /// saves (or, for a reader who left, asks for a confirmation).
    action: String,
    name: String,
    /// `all` (every column) or `some` (the boxes ticked).
    scope: Option<String>,
    columns: Vec<String>,
}

impl FromForm for Choices {
    fn from_form(form: &Form) -> Choices {
        Choices {
            token: form.get("token").map(str::to_owned),
            action: form.get("action").unwrap_or("").to_owned(),
            name: form.get("name").unwrap_or("").to_owned(),
            scope: form.get("scope").map(str::to_owned),
            columns: form.all("columns").map(str::to_owned).collect(),
        }
    }
}

fn form_page(
    state: &Shared,
    status: StatusCode,
    subscriber: &Subscriber,
    token: &str,
    saved: bool,
    error: Option<Bilingual>,
    shown: Option<(bool, &[String])>,
) -> Response {
    // The boxes as stored, unless a refused form is shown again as sent.
    let (every_column, ticked) = match shown {
        Some((every, ticked)) => (every, ticked.to_vec()),
        None => columns_of(state, &subscriber.columns),
    };
    state.page(
        status,
        state.pages.html(
            "page-preferences",
            &state.site,
            json!({
                "title": "訂閱設定 Your subscription",
                "saved": saved,
                "error": error.as_ref().map(Bilingual::json),
                // Not receiving the digest: the page offers a fresh
                // confirmation instead of a save that would bring them back.
                "unsubscribed": subscriber.status != SubscriberStatus::Active,
                "token": token,
                // The address these settings are for: the link is theirs,
                // so it is shown whole (escaped like every value).
                "email": subscriber.email,
                "form": { "name": subscriber.name },
                "every_column": every_column,
                "columns": columns_data(state, &ticked),
            }),
        ),
    )
}

/// `GET /preferences?token=…`.
pub(crate) async fn page(State(state): State<Shared>, q: TokenQuery) -> Result<Response, Refusal> {
    let (subscriber, _) = resolve(&state, q.token.as_deref(), Purpose::Preferences).await?;
    let token = q.token.unwrap_or_default();
    Ok(form_page(
        &state,
        StatusCode::OK,
        &subscriber,
        token.trim(),
        false,
        None,
        None,
    ))
}

/// `POST /preferences`: save name and columns, or unsubscribe; for a
/// reader who is not receiving the digest, ask for a fresh confirmation.
pub(crate) async fn post(
    State(state): State<Shared>,
    Client(ip): Client,
    q: TokenQuery,
    PostedForm(form): PostedForm<Choices>,
) -> Result<Response, Refusal> {
    let token = form.token.or(q.token).unwrap_or_default();
    let (mut subscriber, email) = resolve(&state, Some(&token), Purpose::Preferences).await?;
    let now = state.clock.now();
    let id = subscriber.id;
    if form.action == "unsubscribe" {
        db(&state, move |s| s.unsubscribe(id, now)).await?;
        tracing::info!(subscriber = id, "unsubscribed from the preferences page");
        return Ok(state.simple(
            StatusCode::OK,
            bi("已取消訂閱", "You are unsubscribed"),
            Bilingual::owned(
                format!("{} 不會再收到每週精選。", subscriber.email),
                format!("{} will receive no more digests.", subscriber.email),
            ),
        ));
    }
    let scope = form.scope.as_deref();
    let (name, columns) = match read_choices(&state, &form.name, scope, &form.columns) {
        Ok(c) => c,
        Err(msg) => {
            return Ok(form_page(
                &state,
                StatusCode::BAD_REQUEST,
                &subscriber,
                &token,
                false,
                Some(msg),
                Some((shows_every(scope, &form.columns), &form.columns)),
            ))
        }
    };
    if subscriber.status != SubscriberStatus::Active {
        // A preferences link travels in every digest, and a forwarded one
        // must not bring back a reader who left: coming back takes a fresh
        // confirmation, mailed to the address, applying these choices.
        within_limits(&state, ip, &email).await?;
        let (n, c) = (name, columns);
        let request = db(&state, move |s| s.request_resubscribe(id, &n, &c, now)).await?;
        tracing::info!(
            subscriber = id,
            "fresh confirmation asked for from the preferences page"
        );
        emails::queue_confirmation(&state, id, request, &email).await?;
        return Ok(state.simple(
            StatusCode::OK,
            bi("請查看你的電郵", "Check your inbox"),
            bi(
                "我們已寄出一封確認電郵；按其中的連結，即重新訂閱。",
                "We have sent a confirmation email: follow its link to subscribe again.",
            ),
        ));
    }
    let (n, c) = (name.clone(), columns.clone());
    db(&state, move |s| s.update_preferences(id, &n, &c, now)).await?;
    tracing::info!(subscriber = id, "preferences saved");
    subscriber.name = name;
    subscriber.columns = columns;
    Ok(form_page(
        &state,
        StatusCode::OK,
        &subscriber,
        &token,
        true,
        None,
        None,
    ))
}
