//! `/manage`: asking for a preferences link by address.

use super::{neutral_check_inbox, web_email, within_limits};
use crate::server::emails::{self, EmailKind};
use crate::server::extract::{Client, FromForm, PostedForm};
use crate::server::forms::Form;
use crate::server::pages::Bilingual;
use crate::server::refusal::Refusal;
use crate::server::state::db_read;
use crate::server::Shared;
use crate::store::SubscriberStatus;
use crate::text::one_line;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

/// The form's one field.
pub(crate) struct AskForLink {
    email: String,
}

impl FromForm for AskForLink {
    fn from_form(form: &Form) -> AskForLink {
        AskForLink {
            email: form.get("email").unwrap_or("").to_owned(),
        }
    }
}

fn form_page(
    state: &Shared,
    status: StatusCode,
    error: Option<Bilingual>,
    email: &str,
) -> Response {
    state.page(
        status,
        state.pages.html(
            "page-manage",
            &state.site,
            json!({
                "title": "管理訂閱 Manage",
                "error": error.as_ref().map(Bilingual::json),
                "form": { "email": email },
            }),
        ),
    )
}

/// `GET /manage`.
pub(crate) async fn page(State(state): State<Shared>) -> Response {
    form_page(&state, StatusCode::OK, None, "")
}

/// `POST /manage`: emails a preferences link to a known address; the same
/// answer either way.
pub(crate) async fn post(
    State(state): State<Shared>,
    Client(ip): Client,
    PostedForm(form): PostedForm<AskForLink>,
) -> Result<Response, Refusal> {
    let email = match web_email(&form.email) {
        Ok(e) => e,
        Err(msg) => {
            return Ok(form_page(
                &state,
                StatusCode::BAD_REQUEST,
                Some(msg),
                &one_line(&form.email),
            ))
        }
    };
    within_limits(&state, ip, &email).await?;
    let lookup = email.clone();
    let found = db_read(&state, move |s| s.subscriber(&lookup)).await?;
    match found.filter(|s| s.status != SubscriberStatus::Bounced) {
        Some(s) => emails::queue_preferences(&state, s.id, &email).await?,
        None => emails::build_for_nobody(&state, &email, EmailKind::Manage).await,
    }
    Ok(neutral_check_inbox(&state))
}
