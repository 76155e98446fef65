//! `/unsubscribe`: the page a digest's unsubscribe link opens, and RFC
//! 8058's one-click POST.

use crate::server::extract::{OneClick, TokenQuery};
use crate::server::links::{preferences_token, resolve};
use crate::server::pages::{bi, Action, Bilingual, Notice};
use crate::server::refusal::Refusal;
use crate::server::state::unsubscribe_grouped;
use crate::server::Shared;
use crate::store::SubscriberStatus;
use crate::token::Purpose;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

/// `GET /unsubscribe?token=…`: only a page with a button. Mail scanners
/// and link previews fetch every link; a GET never changes anything.
pub(crate) async fn page(State(state): State<Shared>, q: TokenQuery) -> Result<Response, Refusal> {
    let (subscriber, email) = resolve(&state, q.token.as_deref(), Purpose::Unsubscribe).await?;
    // The address is shown whole: the link was mailed to it, and a reader
    // with several must know which one this is.
    let address = &subscriber.email;
    if !matches!(
        subscriber.status,
        SubscriberStatus::Active | SubscriberStatus::Pending
    ) {
        return Ok(state.simple(
            StatusCode::OK,
            bi("已取消訂閱", "You are unsubscribed"),
            Bilingual::owned(
                format!("{address} 不會再收到每週精選。"),
                format!("{address} receives no more digests."),
            ),
        ));
    }
    let token = q.token.unwrap_or_default();
    let url = format!("unsubscribe?token={}", token.trim());
    // A reader who gets too much may want fewer columns rather than none:
    // their preferences page, on a link of its own purpose.
    let fewer = format!(
        "preferences?token={}",
        preferences_token(&state, subscriber.id, &email)
    );
    Ok(state.notice(
        StatusCode::OK,
        &Notice {
            heading: bi("取消訂閱", "Unsubscribe"),
            paragraphs: &[Bilingual::owned(
                format!("按下按鈕，{address} 即不會再收到每週精選。"),
                format!("Press the button and {address} will receive no more weekly digests."),
            )],
            action: Some(Action {
                id: "unsubscribe",
                url: &url,
                fields: &[("List-Unsubscribe", "One-Click")],
                button: bi("取消訂閱", "Unsubscribe"),
            }),
            link: Some((
                &fewer,
                bi(
                    "不想全部取消？改為只收部分欄目",
                    "Rather get fewer columns instead?",
                ),
            )),
        },
    ))
}

/// `POST /unsubscribe?token=…`: RFC 8058 one-click. The signed token is
/// the whole authority: no login, no cookie, no origin check (the POST
/// comes from the mailbox provider), and any body is accepted.
pub(crate) async fn post(
    State(state): State<Shared>,
    q: TokenQuery,
    body: OneClick,
) -> Result<Response, Refusal> {
    let token = q.token.or(body.token);
    let (subscriber, email) = resolve(&state, token.as_deref(), Purpose::Unsubscribe).await?;
    let id = subscriber.id;
    if unsubscribe_grouped(&state, id).await? {
        tracing::info!(subscriber = id, "unsubscribed");
    }
    let again = format!(
        "preferences?token={}",
        preferences_token(&state, subscriber.id, &email)
    );
    Ok(state.notice(
        StatusCode::OK,
        &Notice {
            heading: bi("已取消訂閱", "You are unsubscribed"),
            paragraphs: &[Bilingual::owned(
                format!("{} 不會再收到每週精選。", subscriber.email),
                format!("{} will receive no more digests.", subscriber.email),
            )],
            action: None,
            link: Some((
                &again,
                bi("改變主意？重新訂閱", "Changed your mind? Subscribe again"),
            )),
        },
    ))
}
