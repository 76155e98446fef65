//! Why a request is turned away, and the page that says so: each reason
//! has its status and its notice in both languages, so a handler returns
//! `Err` with `?` and every refusal reads the same wherever it arises.

use super::pages::{bi, Notice};
use super::Shared;
use crate::token::{Purpose, TokenError};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// A body that cannot be read as a form (not UTF-8 once decoded, cut
    /// off): 400.
    BadForm,
    /// A body over the limit: 413.
    TooLarge,
    /// A form posted from a page of another site: 403.
    CrossSite,
    /// A link whose token does not work, on a page for `Purpose`: 400 when
    /// it is incomplete, 410 when it has expired, 403 otherwise.
    BadLink(TokenError, Purpose),
    /// An address or a client that asked for too many emails: 429.
    TooMany,
    /// The state database did not answer, or an email could not be made:
    /// 503.
    Unavailable,
    /// A path the service does not have: 404.
    NotFound,
    /// A route asked with a method it does not take: 405.
    WrongMethod,
}

/// A refusal, with the service it is rendered by.
pub(crate) struct Refusal {
    reason: Reason,
    state: Shared,
}

impl std::fmt::Debug for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Refusal").field(&self.reason).finish()
    }
}

impl Refusal {
    /// The refusal for `reason`, rendered with `state`'s templates.
    pub(crate) fn new(state: Shared, reason: Reason) -> Refusal {
        Refusal { reason, state }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let s = &self.state;
        match self.reason {
            Reason::BadForm => s.simple(
                StatusCode::BAD_REQUEST,
                bi("表格無法讀取", "The form could not be read"),
                bi("請返回上一頁再試一次。", "Please go back and try again."),
            ),
            Reason::TooLarge => s.simple(
                StatusCode::PAYLOAD_TOO_LARGE,
                bi("表格太大", "The form is too large"),
                bi("請返回上一頁再試一次。", "Please go back and try again."),
            ),
            Reason::CrossSite => s.simple(
                StatusCode::FORBIDDEN,
                bi("無法接受這個表格", "This form was not accepted"),
                bi(
                    "表格必須從本站的頁面送出。",
                    "The form must be sent from this site's own page.",
                ),
            ),
            Reason::BadLink(e, purpose) => bad_link(s, e, purpose),
            Reason::TooMany => {
                let mut r = s.simple(
                    StatusCode::TOO_MANY_REQUESTS,
                    bi("要求太多", "Too many requests"),
                    bi(
                        "這個地址或網絡最近已收到太多電郵，請稍後再試。",
                        "Too many emails were asked for this address or network recently. Please try again later.",
                    ),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("3600"));
                r
            }
            Reason::Unavailable => s.simple(
                StatusCode::SERVICE_UNAVAILABLE,
                bi("暫時無法處理", "Please try again later"),
                bi(
                    "系統暫時未能處理你的要求，請稍後再試。",
                    "We could not handle your request just now. Please try again in a few minutes.",
                ),
            ),
            Reason::NotFound => s.simple(
                StatusCode::NOT_FOUND,
                bi("找不到這一頁", "Page not found"),
                bi("請檢查網址。", "Please check the address."),
            ),
            Reason::WrongMethod => s.simple(
                StatusCode::METHOD_NOT_ALLOWED,
                bi("無法處理這個要求", "This request cannot be handled"),
                bi(
                    "請從本站的頁面開始。",
                    "Please start from this site's own pages.",
                ),
            ),
        }
    }
}

/// A friendly page for a link that does not work, never an error dump.
fn bad_link(state: &Shared, e: TokenError, purpose: Purpose) -> Response {
    let again = match purpose {
        Purpose::Confirm => ("./", bi("重新訂閱", "Subscribe again")),
        _ => ("manage", bi("索取新連結", "Get a new link")),
    };
    let (status, heading, text) = match e {
        TokenError::Malformed => (
            StatusCode::BAD_REQUEST,
            bi("連結不完整", "This link is incomplete"),
            bi(
                "連結可能在複製時被截斷了。請從電郵中完整複製，或索取新連結。",
                "Part of the link may have been lost when it was copied. Copy all of it from the email, or ask for a new one.",
            ),
        ),
        TokenError::Expired => (
            StatusCode::GONE,
            bi("連結已過期", "This link has expired"),
            bi(
                "為保障你的帳戶，連結只在一段時間內有效。請索取新連結。",
                "To keep your subscription safe, links work for a limited time. Please ask for a new one.",
            ),
        ),
        TokenError::WrongPurpose | TokenError::BadSignature => (
            StatusCode::FORBIDDEN,
            bi("連結無效", "This link does not work"),
            bi(
                "這條連結已失效，可能已被新連結取代。請索取新連結。",
                "This link no longer works; a newer one may have replaced it. Please ask for a new one.",
            ),
        ),
    };
    state.notice(
        status,
        &Notice {
            heading,
            paragraphs: &[text],
            action: None,
            link: Some(again),
        },
    )
}
