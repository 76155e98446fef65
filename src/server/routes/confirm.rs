//! `/confirm`: the page a confirmation link opens, and its button.

use crate::server::emails;
use crate::server::extract::{FromForm, PostedForm, TokenQuery};
use crate::server::forms::Form;
use crate::server::links::{preferences_token, resolve_with_request};
use crate::server::pages::{bi, Action, Bilingual, Notice};
use crate::server::refusal::Refusal;
use crate::server::state::db;
use crate::server::{when, Shared};
use crate::store::{ConfirmOutcome, SignupRequest, SubscriberStatus};
use crate::token::Purpose;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

/// A form whose one field is the link's token.
pub(crate) struct TokenForm {
    /// The token, when the form has one.
    pub(crate) token: Option<String>,
}

impl FromForm for TokenForm {
    fn from_form(form: &Form) -> TokenForm {
        TokenForm {
            token: form.get("token").map(str::to_owned),
        }
    }
}

/// The name and column titles a sign-up request chose, for the
/// confirmation page to show what pressing its button applies.
fn request_summary(state: &Shared, r: &SignupRequest) -> [Bilingual; 2] {
    let name = if r.name.is_empty() {
        bi("稱呼：（不填）", "Name: (none)")
    } else {
        Bilingual::owned(format!("稱呼：{}", r.name), format!("Name: {}", r.name))
    };
    let columns = if r.columns.is_empty() {
        bi("欄目：全部", "Columns: every column")
    } else {
        let titles: Vec<&str> = r
            .columns
            .iter()
            .filter_map(|c| state.config.column(c).map(|c| c.title.as_str()))
            .collect();
        Bilingual::owned(
            format!("欄目：{}", titles.join("、")),
            format!("Columns: {}", titles.join(", ")),
        )
    };
    [name, columns]
}

/// `GET /confirm?token=…`: a button, since mail scanners open links.
pub(crate) async fn page(State(state): State<Shared>, q: TokenQuery) -> Result<Response, Refusal> {
    let (subscriber, _, request) =
        resolve_with_request(&state, q.token.as_deref(), Purpose::Confirm).await?;
    let done = match &request {
        Some(r) => r.confirmed,
        None => subscriber.status == SubscriberStatus::Active,
    };
    if done {
        return Ok(state.simple(
            StatusCode::OK,
            bi("已確認", "Already confirmed"),
            bi("你的訂閱已經生效。", "Your subscription is already active."),
        ));
    }
    let token = q.token.unwrap_or_default();
    let mut paragraphs = vec![bi(
        "按下按鈕，即開始每週收到精選。",
        "Press the button to start receiving the weekly digest.",
    )];
    if let Some(r) = &request {
        paragraphs.push(bi(
            "確認後的設定如下（之後可隨時更改）：",
            "These settings are what you confirm (you can change them at any time):",
        ));
        paragraphs.extend(request_summary(&state, r));
    }
    Ok(state.notice(
        StatusCode::OK,
        &Notice {
            heading: bi("確認訂閱", "Confirm your subscription"),
            paragraphs: &paragraphs,
            action: Some(Action {
                id: "confirm",
                url: "confirm",
                fields: &[("token", token.trim())],
                button: bi("確認訂閱", "Confirm"),
            }),
            // A sign-up from a column page's short form met no statement
            // before it was sent: it is one click away before confirming.
            link: Some((
                "./#privacy",
                bi(
                    "個人資料收集聲明：我們如何使用你的資料",
                    "Personal Information Collection Statement: how we use your data",
                ),
            )),
        },
    ))
}

/// `POST /confirm`.
pub(crate) async fn post(
    State(state): State<Shared>,
    q: TokenQuery,
    PostedForm(form): PostedForm<TokenForm>,
) -> Result<Response, Refusal> {
    let token = form.token.or(q.token);
    let (subscriber, email, request) =
        resolve_with_request(&state, token.as_deref(), Purpose::Confirm).await?;
    let now = state.clock.now();
    let id = subscriber.id;
    // What the subscriber follows once confirmed: what this sign-up chose
    // (a link of the first format confirms the record as it stands).
    let columns = request
        .as_ref()
        .map_or_else(|| subscriber.columns.clone(), |r| r.columns.clone());
    let request = request.map(|r| r.id);
    let outcome = db(&state, move |s| match request {
        Some(r) => s.confirm_request(r, now),
        None => s.confirm_subscriber(id, now),
    })
    .await?;
    let welcome = outcome == ConfirmOutcome::Activated && state.config.server.welcome_email;
    if outcome == ConfirmOutcome::Activated {
        tracing::info!(subscriber = id, "subscription confirmed");
    }
    if welcome {
        emails::queue_welcome(&state, id, &email, &columns).await?;
    }
    let manage = format!(
        "preferences?token={}",
        preferences_token(&state, subscriber.id, &email)
    );
    let first = when::date_time(when::first_issue(&state.config, now), now);
    let mut paragraphs = vec![bi(
        "多謝訂閱。每週精選會寄到你的電郵地址；每一封都附有取消訂閱的連結。",
        "Thank you. The weekly digest will come to your inbox; every issue carries a link to unsubscribe.",
    )];
    if outcome == ConfirmOutcome::Activated {
        // Only for a reader who starts now: to one who pressed again, the
        // "first" issue may have come weeks ago.
        paragraphs.push(Bilingual::owned(
            format!(
                "第一期預計在{}寄出（如你關注的欄目那一週有新文章）。",
                first.zh
            ),
            format!(
                "The first issue is due on {} (if the columns you follow have new articles that week).",
                first.en
            ),
        ));
    }
    if welcome {
        paragraphs.push(bi(
            "我們亦已寄出一封歡迎電郵，附有更改設定及取消訂閱的連結。",
            "We have also sent you a welcome email with links to change your settings or unsubscribe.",
        ));
    }
    Ok(state.notice(
        StatusCode::OK,
        &Notice {
            heading: bi("訂閱成功", "You are subscribed"),
            paragraphs: &paragraphs,
            action: None,
            link: Some((&manage, bi("更改訂閱設定", "Change your settings"))),
        },
    ))
}
