//! `/` and `/subscribe`: the sign-up form, and what posting it does.

use super::{
    columns_data, neutral_check_inbox, read_choices, shows_every, web_email, within_limits,
};
use crate::server::emails::{self, EmailKind};
use crate::server::extract::{Client, FromForm, PostedForm};
use crate::server::forms::Form;
use crate::server::pages::Bilingual;
use crate::server::refusal::Refusal;
use crate::server::state::db;
use crate::server::Shared;
use crate::store::{NewSubscriber, SignupOutcome};
use crate::text::one_line;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

/// The sign-up form's fields.
pub(crate) struct SignUp {
    email: String,
    name: String,
    /// `all` (every column) or `some` (the boxes ticked); absent on a
    /// column page's form.
    scope: Option<String>,
    columns: Vec<String>,
    /// The field people cannot see: a robot fills it.
    website: String,
}

impl FromForm for SignUp {
    fn from_form(form: &Form) -> SignUp {
        SignUp {
            email: form.get("email").unwrap_or("").to_owned(),
            name: form.get("name").unwrap_or("").to_owned(),
            scope: form.get("scope").map(str::to_owned),
            columns: form.all("columns").map(str::to_owned).collect(),
            website: form.get("website").unwrap_or("").to_owned(),
        }
    }
}

fn form_page(
    state: &Shared,
    status: StatusCode,
    error: Option<Bilingual>,
    email: &str,
    name: &str,
    every_column: bool,
    ticked: &[String],
) -> Response {
    state.page(
        status,
        state.pages.html(
            "page-subscribe",
            &state.site,
            json!({
                "title": "訂閱 Subscribe",
                "error": error.as_ref().map(Bilingual::json),
                "form": { "email": email, "name": name },
                "every_column": every_column,
                "columns": columns_data(state, ticked),
                "privacy": state.privacy,
            }),
        ),
    )
}

/// `GET /`: the sign-up form.
pub(crate) async fn page(State(state): State<Shared>) -> Response {
    form_page(&state, StatusCode::OK, None, "", "", true, &[])
}

/// `POST /subscribe`.
pub(crate) async fn post(
    State(state): State<Shared>,
    Client(ip): Client,
    PostedForm(form): PostedForm<SignUp>,
) -> Result<Response, Refusal> {
    if !form.website.is_empty() {
        // A robot filled the field people cannot see: answer as if it
        // worked, do nothing.
        tracing::info!("sign-up with the honeypot filled: ignored");
        return Ok(neutral_check_inbox(&state));
    }
    let shown_email = one_line(&form.email);
    let scope = form.scope.as_deref();
    let every = shows_every(scope, &form.columns);
    let (name, columns) = match read_choices(&state, &form.name, scope, &form.columns) {
        Ok(c) => c,
        Err(msg) => {
            return Ok(form_page(
                &state,
                StatusCode::BAD_REQUEST,
                Some(msg),
                &shown_email,
                "",
                every,
                &form.columns,
            ));
        }
    };
    let email = match web_email(&form.email) {
        Ok(e) => e,
        Err(msg) => {
            return Ok(form_page(
                &state,
                StatusCode::BAD_REQUEST,
                Some(msg),
                &shown_email,
                &name,
                every,
                &form.columns,
            ))
        }
    };
    within_limits(&state, ip, &email).await?;
    let now = state.clock.now();
    let new = NewSubscriber {
        email: email.clone(),
        name,
        columns,
    };
    match db(&state, move |s| s.request_signup(&new, now)).await? {
        SignupOutcome::Pending { id, request } => {
            emails::queue_confirmation(&state, id, request, &email).await?;
        }
        SignupOutcome::Bounced(id) => {
            tracing::info!(
                subscriber = id,
                "sign-up for a bounced address: nothing sent"
            );
            emails::build_for_nobody(&state, &email, EmailKind::Confirm).await;
        }
        SignupOutcome::AlreadyActive(id) => {
            // Nothing changes for an active address; its owner gets their
            // settings link, and the form learns nothing.
            emails::queue_preferences(&state, id, &email).await?;
        }
    }
    Ok(neutral_check_inbox(&state))
}
