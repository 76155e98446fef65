//! The routes. Every answer is a plain page with the right status; nothing
//! a visitor sends can make one panic or reveal whether an address is
//! subscribed.

use super::forms::Form;
use super::pages::{bi, Action, Bilingual, Notice};
use super::{mailer, Shared};
use crate::address::{Email, WebRefusal};
use crate::store::{
    ConfirmOutcome, NewSubscriber, SignupOutcome, SignupRequest, Subscriber, SubscriberStatus,
};
use crate::text::one_line;
use crate::token::{Purpose, TokenError};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::Duration;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};

/// How long a confirmation link works.
const CONFIRM_HOURS: i64 = 48;
/// How long a preferences link sent on request works.
const MANAGE_DAYS: i64 = 7;
/// The longest name kept, in characters.
const NAME_CHARS: usize = 100;

/// `?token=…`, read with [`Form`]: a query string that is not UTF-8, or
/// repeats `token`, is still answered with a page (the first `token`
/// counts), never with the framework's plain-text rejection.
#[derive(Debug)]
pub struct TokenQuery {
    token: Option<String>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TokenQuery {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<TokenQuery, Self::Rejection> {
        let token = parts
            .uri
            .query()
            .and_then(|q| Form::parse(q.as_bytes()).ok())
            .and_then(|f| f.get("token").map(str::to_owned));
        Ok(TokenQuery { token })
    }
}

/// A request body, or the page that says it is too large.
type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

fn read_body(state: &Shared, body: Body) -> Result<Bytes, Box<Response>> {
    body.map_err(|e| {
        Box::new({
            let status = e.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                simple(
                    state,
                    status,
                    bi("表格太大", "The form is too large"),
                    bi("請返回上一頁再試一次。", "Please go back and try again."),
                )
            } else {
                bad_form(state)
            }
        })
    })
}

// ---------------------------------------------------------------- helpers

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// A page, or a plain 500 when a (user-supplied) template fails.
fn page(status: StatusCode, rendered: Result<String, crate::templates::TemplateError>) -> Response {
    match rendered {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!("{e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown. 頁面無法顯示。\n",
            )
                .into_response()
        }
    }
}

fn notice(state: &Shared, status: StatusCode, n: &Notice<'_>) -> Response {
    page(status, state.pages.notice(&state.site, n))
}

fn simple(state: &Shared, status: StatusCode, heading: Bilingual, text: Bilingual) -> Response {
    notice(
        state,
        status,
        &Notice {
            heading,
            paragraphs: &[text],
            action: None,
            link: None,
        },
    )
}

/// Runs `f` on the state database off the async threads: on the writing
/// connection, or with `read_only` on one of the read-only ones, which
/// never wait behind a write.
async fn with_store<T: Send + 'static>(
    state: &Shared,
    read_only: bool,
    f: impl FnOnce(&mut crate::store::Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, Response> {
    let s = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        let connection = if read_only {
            let n = s
                .next_reader
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            &s.readers[n % s.readers.len()]
        } else {
            &s.store
        };
        let mut store = connection.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut store)
    })
    .await;
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => {
            tracing::error!("{e}");
            Err(unavailable(state))
        }
        Err(e) => {
            tracing::error!("a database task failed: {e}");
            Err(unavailable(state))
        }
    }
}

/// Unsubscribes waiting to be written, each with where its answer goes.
pub type UnsubscribeQueue =
    std::sync::Mutex<Vec<(i64, tokio::sync::oneshot::Sender<Result<bool, String>>)>>;

/// Unsubscribes `id`, committed together with every other unsubscribe that
/// is waiting: under a flood of one-click requests (a digest just went out)
/// each waits for one commit, not for all those queued before it.
async fn unsubscribe_grouped(state: &Shared, id: i64) -> Result<bool, Response> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    state
        .unsubscribes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((id, tx));
    let s = state.clone();
    tokio::task::spawn_blocking(move || {
        let mut store = s.store.lock().unwrap_or_else(|p| p.into_inner());
        let batch = std::mem::take(&mut *s.unsubscribes.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return; // an earlier task committed this one with its own
        }
        let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
        match store.unsubscribe_all(&ids, s.clock.now()) {
            Ok(changed) => {
                for ((_, reply), c) in batch.into_iter().zip(changed) {
                    let _ = reply.send(Ok(c));
                }
            }
            Err(e) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
    });
    match rx.await {
        Ok(Ok(changed)) => Ok(changed),
        Ok(Err(e)) => {
            tracing::error!("{e}");
            Err(unavailable(state))
        }
        Err(_) => {
            tracing::error!("an unsubscribe was lost before it was written");
            Err(unavailable(state))
        }
    }
}

/// A write.
async fn db<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&mut crate::store::Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, Response> {
    with_store(state, false, f).await
}

/// A read.
async fn db_read<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&mut crate::store::Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, Response> {
    with_store(state, true, f).await
}

fn unavailable(state: &Shared) -> Response {
    simple(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        bi("暫時無法處理", "Please try again later"),
        bi(
            "系統暫時未能處理你的要求，請稍後再試。",
            "We could not handle your request just now. Please try again in a few minutes.",
        ),
    )
}

fn bad_form(state: &Shared) -> Response {
    simple(
        state,
        StatusCode::BAD_REQUEST,
        bi("表格無法讀取", "The form could not be read"),
        bi("請返回上一頁再試一次。", "Please go back and try again."),
    )
}

/// The refusal of a form posted from a page of another site. Browsers send
/// `Origin` with every POST; a request without one is not a browser's
/// cross-site post.
fn refused_origin(state: &Shared, headers: &HeaderMap) -> Option<Response> {
    let refuse = || {
        Some(simple(
            state,
            StatusCode::FORBIDDEN,
            bi("無法接受這個表格", "This form was not accepted"),
            bi(
                "表格必須從本站的頁面送出。",
                "The form must be sent from this site's own page.",
            ),
        ))
    };
    let Some(origin) = headers.get(header::ORIGIN) else {
        return match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
            Some(b"cross-site") => refuse(),
            _ => None,
        };
    };
    let Ok(origin) = origin.to_str() else {
        return refuse();
    };
    // A privacy setting can make a browser send `Origin: null` even for
    // its own site's form; it still says where the request came from.
    if origin == "null" {
        return match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
            Some(b"same-origin") => None,
            _ => refuse(),
        };
    }
    // Only the configured origins: `Host` is whatever the client says, so
    // a page on a name the attacker points at this machine (DNS
    // rebinding) would otherwise pass as the service's own.
    if state.allowed_origins.iter().any(|o| o == origin) {
        None
    } else {
        refuse()
    }
}

/// The client's address: the peer, or behind a trusted proxy the last
/// `X-Forwarded-For` entry (the one the proxy itself added).
fn client_ip(state: &Shared, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if state.config.server.trust_forwarded_for {
        if let Some(ip) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
    }
    peer.ip()
}

fn columns_data(state: &Shared, ticked: &[String]) -> Value {
    state
        .config
        .columns
        .iter()
        .map(|c| {
            json!({
                "slug": c.slug.as_str(),
                "title": c.title,
                "description": c.description,
                "checked": ticked.iter().any(|t| t == c.slug.as_str()),
            })
        })
        .collect()
}

/// Name and columns from a form, checked.
fn read_choices(state: &Shared, form: &Form) -> Result<(String, Vec<String>), Bilingual> {
    let name = crate::address::display_name(form.get("name").unwrap_or(""));
    if name.chars().count() > NAME_CHARS {
        return Err(bi(
            "稱呼太長（最多 100 字）。",
            "The name is too long (100 characters at most).",
        ));
    }
    let mut columns: Vec<String> = Vec::new();
    for c in form.all("columns") {
        if state.config.column(c).is_none() {
            return Err(bi("沒有這個欄目。", "There is no such column."));
        }
        if !columns.iter().any(|x| x == c) {
            columns.push(c.to_owned());
        }
    }
    // Every column ticked is the same as none: follow all, new ones too.
    if columns.len() == state.config.columns.len() {
        columns.clear();
    }
    Ok((name, columns))
}

fn link(state: &Shared, page: &str, token: &str) -> String {
    format!("{}/{page}?token={token}", state.public_url)
}

/// A preferences token for subscriber `id`: the link mailed on request,
/// and the one the confirmation and unsubscribe pages offer.
fn preferences_token(state: &Shared, id: i64, email: &Email) -> String {
    state.signer.sign(
        id,
        email.key(),
        Purpose::Preferences,
        state.clock.now() + Duration::days(MANAGE_DAYS),
    )
}

/// How long the link in an email of `kind` works: past that, an email
/// the relay kept refusing is no use sending.
fn link_lifetime(kind: &str) -> Duration {
    match kind {
        "confirm" => Duration::hours(CONFIRM_HOURS),
        _ => Duration::days(MANAGE_DAYS),
    }
}

/// Queues an email to `email` in the state and wakes the mailer; `kind`
/// is `confirm` or `manage`. The page promising the email is answered
/// only once it is committed: a restart cannot lose it.
async fn queue_email(
    state: &Shared,
    id: i64,
    email: &Email,
    kind: &str,
    url: &str,
) -> Result<(), Response> {
    let Some(m) = build_email(state, id, email, kind, url) else {
        return Err(unavailable(state));
    };
    let row = mailer::queued(&m, kind, link_lifetime(kind));
    let now = state.clock.now();
    db(state, move |s| mailer::store_email(s, &row, now)).await?;
    state.mailer.wake();
    Ok(())
}

/// Does the work of an email without sending it, where none is due: the
/// answer then takes as long as when one is, so timing tells no one
/// whether an address is known.
async fn build_email_for_nobody(state: &Shared, email: &Email, kind: &str) {
    let token = preferences_token(state, 0, email);
    if let Some(m) = build_email(state, 0, email, kind, &link(state, "preferences", &token)) {
        let row = mailer::queued(&m, kind, link_lifetime(kind));
        let now = state.clock.now();
        let _ = db(state, move |s| s.queue_nothing(&row, now)).await;
    }
}

fn build_email(
    state: &Shared,
    id: i64,
    email: &Email,
    kind: &str,
    url: &str,
) -> Option<crate::mail::Outgoing> {
    let (subject, template) = match kind {
        "confirm" => (
            format!(
                "請確認訂閱 Confirm your subscription · {}",
                state.config.site.title
            ),
            "email-confirm",
        ),
        _ => (
            format!(
                "你的訂閱設定 Your subscription · {}",
                state.config.site.title
            ),
            "email-manage",
        ),
    };
    let data = json!({ "link": url });
    let text = state.pages.text(template, &state.site, data.clone());
    let body = state.pages.html(template, &state.site, data);
    let (text, body) = match (text, body) {
        (Ok(t), Ok(h)) => (t, h),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("{e}");
            return None;
        }
    };
    let built = mailer::build(
        &state.sender,
        &mailer::Notice {
            subscriber_id: id,
            to: email,
            subject: &one_line(&subject),
            text: &text,
            html: &body,
            date: state.clock.now(),
            kind,
        },
    );
    match built {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(subscriber = id, "cannot build the email: {e}");
            None
        }
    }
}

/// The subscriber a token names, checked for `purpose`; or the page that
/// says what is wrong with the link.
async fn resolve(
    state: &Shared,
    token: Option<&str>,
    purpose: Purpose,
) -> Result<(Subscriber, Email), Response> {
    resolve_with_request(state, token, purpose)
        .await
        .map(|(s, e, _)| (s, e))
}

/// [`resolve`], and for a confirmation link of the current format the
/// sign-up request it names (the first format named the subscriber).
async fn resolve_with_request(
    state: &Shared,
    token: Option<&str>,
    purpose: Purpose,
) -> Result<(Subscriber, Email, Option<SignupRequest>), Response> {
    let token = token.unwrap_or("").trim().to_owned();
    let claims = state
        .signer
        .peek(&token)
        .map_err(|e| token_page(state, e, purpose));
    let (claims, named) = claims?;
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
        return Err(token_page(state, TokenError::BadSignature, purpose));
    };
    let Ok(email) = Email::parse(&subscriber.email) else {
        return Err(token_page(state, TokenError::BadSignature, purpose));
    };
    state
        .signer
        .verify(&token, email.key(), purpose, state.clock.now())
        .map_err(|e| token_page(state, e, purpose))?;
    Ok((subscriber, email, request))
}

/// A friendly page for a link that does not work, never an error dump.
fn token_page(state: &Shared, e: TokenError, purpose: Purpose) -> Response {
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
    notice(
        state,
        status,
        &Notice {
            heading,
            paragraphs: &[text],
            action: None,
            link: Some(again),
        },
    )
}

fn neutral_check_inbox(state: &Shared) -> Response {
    simple(
        state,
        StatusCode::OK,
        bi("請查看你的電郵", "Check your inbox"),
        bi(
            "如果這個地址可以訂閱，我們已寄出一封電郵，請按其中的連結繼續。幾分鐘內未收到，請查看垃圾郵件。",
            "If this address can subscribe, we have sent it an email: follow its link to go on. If nothing arrives in a few minutes, look in your spam folder.",
        ),
    )
}

fn too_many(state: &Shared) -> Response {
    let mut r = simple(
        state,
        StatusCode::TOO_MANY_REQUESTS,
        bi("要求太多", "Too many requests"),
        bi(
            "這個地址或網絡最近已收到太多電郵，請稍後再試。",
            "Too many emails were asked for this address or network recently. Please try again later.",
        ),
    );
    r.headers_mut().insert(
        header::RETRY_AFTER,
        header::HeaderValue::from_static("3600"),
    );
    r
}

/// Counts an email against both limits; false when either is reached.
fn within_limits(state: &Shared, ip: IpAddr, email: &Email) -> bool {
    let now = state.clock.now().timestamp();
    // An IPv6 client usually holds a whole /64: count that, not each
    // address in it.
    let client = match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("ip6:{:x}:{:x}:{:x}:{:x}", s[0], s[1], s[2], s[3])
        }
        IpAddr::V4(v4) => format!("ip:{v4}"),
    };
    if !state.per_client.allow(&client, now) {
        tracing::warn!(client = %ip, "email limit reached for a client");
        return false;
    }
    // Counted per mailbox: lower-cased, without a `+tag`, the domain in
    // its ASCII form. Most mailboxes ignore case and deliver sub-addresses
    // to the same inbox, and each spelling must not get a limit of its own.
    if !state
        .per_address
        .allow(&format!("to:{}", email.mailbox()), now)
    {
        tracing::warn!("email limit reached for an address");
        return false;
    }
    true
}

// ---------------------------------------------------------------- routes

/// `GET /healthz`: the database answers.
pub async fn healthz(State(state): State<Shared>) -> Response {
    match db_read(&state, |s| s.subscriber_by_id(0)).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response(),
    }
}

/// A route asked with a method it does not take.
pub async fn method_not_allowed(State(state): State<Shared>) -> Response {
    simple(
        &state,
        StatusCode::METHOD_NOT_ALLOWED,
        bi("無法處理這個要求", "This request cannot be handled"),
        bi(
            "請從本站的頁面開始。",
            "Please start from this site's own pages.",
        ),
    )
}

/// Anything else.
pub async fn not_found(State(state): State<Shared>) -> Response {
    simple(
        &state,
        StatusCode::NOT_FOUND,
        bi("找不到這一頁", "Page not found"),
        bi("請檢查網址。", "Please check the address."),
    )
}

fn subscribe_form(
    state: &Shared,
    status: StatusCode,
    error: Option<Bilingual>,
    email: &str,
    name: &str,
    ticked: &[String],
) -> Response {
    page(
        status,
        state.pages.html(
            "page-subscribe",
            &state.site,
            json!({
                "title": "訂閱 Subscribe",
                "error": error.as_ref().map(Bilingual::json),
                "form": { "email": email, "name": name },
                "columns": columns_data(state, ticked),
            }),
        ),
    )
}

/// `GET /`: the sign-up form.
pub async fn subscribe_page(State(state): State<Shared>) -> Response {
    subscribe_form(&state, StatusCode::OK, None, "", "", &[])
}

/// `POST /subscribe`.
pub async fn subscribe(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(r) = refused_origin(&state, &headers) {
        return r;
    }
    let body = match read_body(&state, body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Ok(form) = Form::parse(&body) else {
        return bad_form(&state);
    };
    if form.get("website").is_some_and(|v| !v.is_empty()) {
        // A robot filled the field people cannot see: answer as if it
        // worked, do nothing.
        tracing::info!("sign-up with the honeypot filled: ignored");
        return neutral_check_inbox(&state);
    }
    let typed = form.get("email").unwrap_or("");
    let shown_email = one_line(typed);
    let (name, columns) = match read_choices(&state, &form) {
        Ok(c) => c,
        Err(msg) => {
            let ticked: Vec<String> = form.all("columns").map(str::to_owned).collect();
            return subscribe_form(
                &state,
                StatusCode::BAD_REQUEST,
                Some(msg),
                &shown_email,
                "",
                &ticked,
            );
        }
    };
    let email = match web_email(typed) {
        Ok(e) => e,
        Err(msg) => {
            return subscribe_form(
                &state,
                StatusCode::BAD_REQUEST,
                Some(msg),
                &shown_email,
                &name,
                &columns,
            )
        }
    };
    if !within_limits(&state, client_ip(&state, peer, &headers), &email) {
        return too_many(&state);
    }
    let now = state.clock.now();
    let new = NewSubscriber {
        email: email.clone(),
        name,
        columns,
    };
    let outcome = match db(&state, move |s| s.request_signup(&new, now)).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let queued = match outcome {
        SignupOutcome::Pending { id, request } => {
            queue_confirmation(&state, id, request, &email).await
        }
        SignupOutcome::Bounced(id) => {
            tracing::info!(
                subscriber = id,
                "sign-up for a bounced address: nothing sent"
            );
            build_email_for_nobody(&state, &email, "confirm").await;
            Ok(())
        }
        SignupOutcome::AlreadyActive(id) => {
            // Nothing changes for an active address; its owner gets their
            // settings link, and the form learns nothing.
            let token = preferences_token(&state, id, &email);
            queue_email(
                &state,
                id,
                &email,
                "manage",
                &link(&state, "preferences", &token),
            )
            .await
        }
    };
    match queued {
        Ok(()) => neutral_check_inbox(&state),
        Err(r) => r,
    }
}

/// Queues the confirmation email of sign-up request `request`: its link
/// names the request, so confirming applies exactly what was chosen with
/// it.
async fn queue_confirmation(
    state: &Shared,
    id: i64,
    request: i64,
    email: &Email,
) -> Result<(), Response> {
    let token = state.signer.sign(
        request,
        email.key(),
        Purpose::Confirm,
        state.clock.now() + Duration::hours(CONFIRM_HOURS),
    );
    queue_email(state, id, email, "confirm", &link(state, "confirm", &token)).await
}

/// An address typed into a form, or the sentence saying why it is
/// refused.
fn web_email(typed: &str) -> Result<Email, Bilingual> {
    let email = Email::parse(typed).map_err(|_| {
        if crate::address::is_address_literal(typed) {
            bi(
                "請輸入以網域名稱結尾的地址，不可用 [IP 位址]。",
                "Please give an address ending in a domain name, not an [IP address].",
            )
        } else {
            bi(
                "請輸入有效的電郵地址，例如 reader@example.com。",
                "Please enter a valid email address, such as reader@example.com.",
            )
        }
    })?;
    match email.web_refusal() {
        None => Ok(email),
        Some(WebRefusal::SourceRoute) => Err(bi(
            "電郵地址不可含有「%」或「!」。",
            "An email address here may not contain % or !.",
        )),
        Some(WebRefusal::IpAddress) => Err(bi(
            "請輸入以網域名稱結尾的地址，不可用 IP 位址。",
            "Please give an address ending in a domain name, not an IP address.",
        )),
        Some(WebRefusal::NotAHostName) => Err(bi(
            "「@」之後須是網域名稱，例如 example.com：只可用字母、數字、連字號及點。",
            "After the @ there must be a domain name such as example.com: letters, digits, hyphens and dots only.",
        )),
        Some(WebRefusal::InternationalLocalPart) => Err(bi(
            "「@」之前只可用英文字母、數字及標點；網域可以是中文。",
            "Before the @ only Latin letters, digits and punctuation can be used; the domain may be in any script.",
        )),
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
pub async fn confirm_page(State(state): State<Shared>, q: TokenQuery) -> Response {
    let (subscriber, _, request) =
        match resolve_with_request(&state, q.token.as_deref(), Purpose::Confirm).await {
            Ok(s) => s,
            Err(r) => return r,
        };
    let done = match &request {
        Some(r) => r.confirmed,
        None => subscriber.status == SubscriberStatus::Active,
    };
    if done {
        return simple(
            &state,
            StatusCode::OK,
            bi("已確認", "Already confirmed"),
            bi("你的訂閱已經生效。", "Your subscription is already active."),
        );
    }
    let token = q.token.unwrap_or_default();
    let mut paragraphs = vec![bi(
        "按下按鈕，即開始每週收到摘要。",
        "Press the button to start receiving the weekly digest.",
    )];
    if let Some(r) = &request {
        paragraphs.push(bi(
            "確認後的設定如下（之後可隨時更改）：",
            "These settings are what you confirm (you can change them at any time):",
        ));
        paragraphs.extend(request_summary(&state, r));
    }
    notice(
        &state,
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
            link: None,
        },
    )
}

/// `POST /confirm`.
pub async fn confirm(
    State(state): State<Shared>,
    q: TokenQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(r) = refused_origin(&state, &headers) {
        return r;
    }
    let body = match read_body(&state, body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Ok(form) = Form::parse(&body) else {
        return bad_form(&state);
    };
    let token = form.get("token").map(str::to_owned).or(q.token);
    let (subscriber, email, request) =
        match resolve_with_request(&state, token.as_deref(), Purpose::Confirm).await {
            Ok(s) => s,
            Err(r) => return r,
        };
    let now = state.clock.now();
    let id = subscriber.id;
    let request = request.map(|r| r.id);
    let outcome = match db(&state, move |s| match request {
        Some(r) => s.confirm_request(r, now),
        None => s.confirm_subscriber(id, now),
    })
    .await
    {
        Ok(o) => o,
        Err(r) => return r,
    };
    if outcome == ConfirmOutcome::Activated {
        tracing::info!(subscriber = id, "subscription confirmed");
    }
    let manage = format!(
        "preferences?token={}",
        preferences_token(&state, subscriber.id, &email)
    );
    notice(
        &state,
        StatusCode::OK,
        &Notice {
            heading: bi("訂閱成功", "You are subscribed"),
            paragraphs: &[bi(
                "多謝訂閱。每週摘要會寄到你的電郵地址；每一封都附有取消訂閱的連結。",
                "Thank you. The weekly digest will come to your inbox; every issue carries a link to unsubscribe.",
            )],
            action: None,
            link: Some((&manage, bi("更改訂閱設定", "Change your settings"))),
        },
    )
}

fn manage_form(
    state: &Shared,
    status: StatusCode,
    error: Option<Bilingual>,
    email: &str,
) -> Response {
    page(
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
pub async fn manage_page(State(state): State<Shared>) -> Response {
    manage_form(&state, StatusCode::OK, None, "")
}

/// `POST /manage`: emails a preferences link to a known address; the same
/// answer either way.
pub async fn manage(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(r) = refused_origin(&state, &headers) {
        return r;
    }
    let body = match read_body(&state, body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Ok(form) = Form::parse(&body) else {
        return bad_form(&state);
    };
    let typed = form.get("email").unwrap_or("");
    let email = match web_email(typed) {
        Ok(e) => e,
        Err(msg) => {
            return manage_form(&state, StatusCode::BAD_REQUEST, Some(msg), &one_line(typed))
        }
    };
    if !within_limits(&state, client_ip(&state, peer, &headers), &email) {
        return too_many(&state);
    }
    let lookup = email.clone();
    let found = match db_read(&state, move |s| s.subscriber(&lookup)).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(s) = found.filter(|s| s.status != SubscriberStatus::Bounced) else {
        build_email_for_nobody(&state, &email, "manage").await;
        return neutral_check_inbox(&state);
    };
    let token = preferences_token(&state, s.id, &email);
    match queue_email(
        &state,
        s.id,
        &email,
        "manage",
        &link(&state, "preferences", &token),
    )
    .await
    {
        Ok(()) => neutral_check_inbox(&state),
        Err(r) => r,
    }
}

/// `GET /unsubscribe?token=…`: only a page with a button. Mail scanners
/// and link previews fetch every link; a GET never changes anything.
pub async fn unsubscribe_page(State(state): State<Shared>, q: TokenQuery) -> Response {
    let (subscriber, _) = match resolve(&state, q.token.as_deref(), Purpose::Unsubscribe).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !matches!(
        subscriber.status,
        SubscriberStatus::Active | SubscriberStatus::Pending
    ) {
        return simple(
            &state,
            StatusCode::OK,
            bi("已取消訂閱", "You are unsubscribed"),
            bi(
                "這個地址不會再收到摘要。",
                "This address receives no more digests.",
            ),
        );
    }
    let token = q.token.unwrap_or_default();
    let url = format!("unsubscribe?token={}", token.trim());
    notice(
        &state,
        StatusCode::OK,
        &Notice {
            heading: bi("取消訂閱", "Unsubscribe"),
            paragraphs: &[bi(
                "按下按鈕，即不會再收到每週摘要。",
                "Press the button and you will receive no more weekly digests.",
            )],
            action: Some(Action {
                id: "unsubscribe",
                url: &url,
                fields: &[("List-Unsubscribe", "One-Click")],
                button: bi("取消訂閱", "Unsubscribe"),
            }),
            link: None,
        },
    )
}

/// `POST /unsubscribe?token=…`: RFC 8058 one-click. The signed token is
/// the whole authority: no login, no cookie, no origin check (the POST
/// comes from the mailbox provider), and any body is accepted, since
/// providers send `List-Unsubscribe=One-Click` as multipart or urlencoded.
pub async fn unsubscribe(State(state): State<Shared>, q: TokenQuery, body: Body) -> Response {
    let body = match read_body(&state, body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let from_body = Form::parse(&body)
        .ok()
        .and_then(|f| f.get("token").map(str::to_owned));
    let token = q.token.or(from_body);
    let (subscriber, email) = match resolve(&state, token.as_deref(), Purpose::Unsubscribe).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id = subscriber.id;
    let changed = match unsubscribe_grouped(&state, id).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if changed {
        tracing::info!(subscriber = id, "unsubscribed");
    }
    let again = format!(
        "preferences?token={}",
        preferences_token(&state, subscriber.id, &email)
    );
    notice(
        &state,
        StatusCode::OK,
        &Notice {
            heading: bi("已取消訂閱", "You are unsubscribed"),
            paragraphs: &[bi(
                "這個地址不會再收到摘要。",
                "This address will receive no more digests.",
            )],
            action: None,
            link: Some((
                &again,
                bi("改變主意？重新訂閱", "Changed your mind? Subscribe again"),
            )),
        },
    )
}

fn preferences_form(
    state: &Shared,
    status: StatusCode,
    subscriber: &Subscriber,
    token: &str,
    saved: bool,
    error: Option<Bilingual>,
) -> Response {
    page(
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
                "form": { "name": subscriber.name },
                "columns": columns_data(state, &subscriber.columns),
            }),
        ),
    )
}

/// `GET /preferences?token=…`.
pub async fn preferences_page(State(state): State<Shared>, q: TokenQuery) -> Response {
    let (subscriber, _) = match resolve(&state, q.token.as_deref(), Purpose::Preferences).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let token = q.token.unwrap_or_default();
    preferences_form(
        &state,
        StatusCode::OK,
        &subscriber,
        token.trim(),
        false,
        None,
    )
}

/// `POST /preferences`: save name and columns, or unsubscribe; for a
/// reader who is not receiving the digest, ask for a fresh confirmation.
pub async fn preferences(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    q: TokenQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Some(r) = refused_origin(&state, &headers) {
        return r;
    }
    let body = match read_body(&state, body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Ok(form) = Form::parse(&body) else {
        return bad_form(&state);
    };
    let token = form
        .get("token")
        .map(str::to_owned)
        .or(q.token)
        .unwrap_or_default();
    let (mut subscriber, email) = match resolve(&state, Some(&token), Purpose::Preferences).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = state.clock.now();
    let id = subscriber.id;
    if form.get("action") == Some("unsubscribe") {
        if let Err(r) = db(&state, move |s| s.unsubscribe(id, now)).await {
            return r;
        }
        tracing::info!(subscriber = id, "unsubscribed from the preferences page");
        return simple(
            &state,
            StatusCode::OK,
            bi("已取消訂閱", "You are unsubscribed"),
            bi(
                "這個地址不會再收到摘要。",
                "This address will receive no more digests.",
            ),
        );
    }
    let (name, columns) = match read_choices(&state, &form) {
        Ok(c) => c,
        Err(msg) => {
            return preferences_form(
                &state,
                StatusCode::BAD_REQUEST,
                &subscriber,
                &token,
                false,
                Some(msg),
            )
        }
    };
    if subscriber.status != SubscriberStatus::Active {
        // A preferences link travels in every digest, and a forwarded one
        // must not bring back a reader who left: coming back takes a fresh
        // confirmation, mailed to the address, applying these choices.
        let peer_ip = client_ip(&state, peer, &headers);
        if !within_limits(&state, peer_ip, &email) {
            return too_many(&state);
        }
        let (n, c) = (name, columns);
        let request = match db(&state, move |s| s.request_resubscribe(id, &n, &c, now)).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        tracing::info!(
            subscriber = id,
            "fresh confirmation asked for from the preferences page"
        );
        if let Err(r) = queue_confirmation(&state, id, request, &email).await {
            return r;
        }
        return simple(
            &state,
            StatusCode::OK,
            bi("請查看你的電郵", "Check your inbox"),
            bi(
                "我們已寄出一封確認電郵；按其中的連結，即重新訂閱。",
                "We have sent a confirmation email: follow its link to subscribe again.",
            ),
        );
    }
    let (n, c) = (name.clone(), columns.clone());
    if let Err(r) = db(&state, move |s| s.update_preferences(id, &n, &c, now)).await {
        return r;
    }
    tracing::info!(subscriber = id, "preferences saved");
    subscriber.name = name;
    subscriber.columns = columns;
    preferences_form(&state, StatusCode::OK, &subscriber, &token, true, None)
}

/// `GET /feeds` and `/feeds/`.
pub async fn feed_root(
    State(state): State<Shared>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    state.feed_files.serve("", &method, &headers).await
}

/// `GET /feeds/<path>`.
pub async fn feed_file(
    State(state): State<Shared>,
    Path(path): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    state.feed_files.serve(&path, &method, &headers).await
}
