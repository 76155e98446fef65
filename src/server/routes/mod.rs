//! The routes, one file for each thing the service serves. Every answer
//! is a plain page with the right status; nothing a visitor sends can make
//! one panic or reveal whether an address is subscribed.

mod confirm;
mod feeds;
mod health;
mod manage;
mod preferences;
mod subscribe;
mod unsubscribe;
mod webhooks;

use super::pages::{bi, Bilingual};
use super::refusal::{Reason, Refusal};
use super::state::db;
use super::{Shared, BODY_LIMIT, REQUEST_TIMEOUT};
use crate::address::{Email, WebRefusal};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::net::IpAddr;

/// The longest name kept, in characters.
const NAME_CHARS: usize = 100;

/// Every route, with the body limit, the request timeout and the access
/// log around them.
pub(crate) fn router(state: Shared) -> Router {
    let feeds = Router::new()
        .route(
            "/feeds",
            get(|| async { axum::response::Redirect::permanent("feeds/") }),
        )
        .route("/feeds/", get(feeds::root))
        .route("/feeds/{*path}", get(feeds::file))
        .layer(tower_http::compression::CompressionLayer::new().gzip(true));
    Router::new()
        .route("/", get(subscribe::page))
        .route("/subscribe", post(subscribe::post))
        .route("/confirm", get(confirm::page).post(confirm::post))
        .route("/manage", get(manage::page).post(manage::post))
        .route(
            "/unsubscribe",
            get(unsubscribe::page).post(unsubscribe::post),
        )
        .route(
            "/preferences",
            get(preferences::page).post(preferences::post),
        )
        .route("/healthz", get(health::healthz))
        .route(
            "/webhooks/{provider}",
            post(webhooks::post).layer(DefaultBodyLimit::max(webhooks::WEBHOOK_BODY_LIMIT)),
        )
        .merge(feeds)
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::middleware::from_fn(access_log))
        .with_state(state)
}

/// One line per request: method, path, status, time. Never the query
/// (tokens travel there) and never a body (addresses travel there).
async fn access_log(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // same-origin, not no-referrer: tokens in page URLs still never reach
    // another site, but the browser keeps sending a real `Origin` with
    // our own forms (under no-referrer it sends `Origin: null`).
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    let is_html = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if is_html && !path.starts_with("/feeds") {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    tracing::info!(
        target: "broadsheet::access",
        %method,
        %path,
        status = response.status().as_u16(),
        ms = format_args!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
    );
    response
}

// ------------------------------------------------- shared by the forms

/// The columns for a form's checkboxes, `ticked` ones checked. The form
/// is also given `every_column`: whether "every column" is chosen rather
/// than "only these".
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

/// The form's `scope` field: `all` for every column, `some` for the boxes
/// ticked. Forms without it (a column page's, which names its column in a
/// hidden field, or an older override) keep the first rule: the boxes
/// ticked, none meaning every column.
fn read_scope(scope: Option<&str>, ticked: &[String]) -> Result<Option<&'static str>, Bilingual> {
    match scope {
        Some("all") => Ok(Some("all")),
        Some("some") if ticked.is_empty() => Err(bi(
            "請至少選一個欄目，或選「全部欄目」。",
            "Tick at least one column, or choose every column.",
        )),
        Some("some") => Ok(Some("some")),
        None => Ok(None),
        Some(_) => Err(bi(
            "請選「全部欄目」或「只收以下欄目」。",
            "Choose every column, or only the columns ticked.",
        )),
    }
}

/// The form as a subscriber's `columns` are: `every_column` and the
/// boxes ticked. A reader of every column (stored as none) sees "every
/// column" chosen and every box ticked, as things are, rather than
/// nothing; anyone else "only these" with theirs.
fn columns_of(state: &Shared, columns: &[String]) -> (bool, Vec<String>) {
    if columns.is_empty() {
        let all = state
            .config
            .columns
            .iter()
            .map(|c| c.slug.as_str().to_owned())
            .collect();
        (true, all)
    } else {
        (false, columns.to_vec())
    }
}

/// Whether a form posted with `scope` and `ticked` is shown again with
/// "every column" chosen.
fn shows_every(scope: Option<&str>, ticked: &[String]) -> bool {
    match scope {
        Some("all") => true,
        Some(_) => false,
        None => ticked.is_empty(),
    }
}

/// The name and columns a form chose, checked: the name cleaned and at
/// most [`NAME_CHARS`] long; "every column" (`scope = all`) kept as no
/// columns (follow all, new ones too), whatever boxes are ticked with it;
/// otherwise every column one the site has, repeats dropped, and every
/// column ticked kept as none too.
fn read_choices(
    state: &Shared,
    name: &str,
    scope: Option<&str>,
    ticked: &[String],
) -> Result<(String, Vec<String>), Bilingual> {
    let name = crate::address::display_name(name);
    if name.chars().count() > NAME_CHARS {
        return Err(bi(
            "稱呼太長（最多 100 字）。",
            "The name is too long (100 characters at most).",
        ));
    }
    if read_scope(scope, ticked)? == Some("all") {
        return Ok((name, Vec::new()));
    }
    let mut columns: Vec<String> = Vec::new();
    for c in ticked {
        if state.config.column(c).is_none() {
            return Err(bi("沒有這個欄目。", "There is no such column."));
        }
        if !columns.contains(c) {
            columns.push(c.clone());
        }
    }
    if columns.len() == state.config.columns.len() {
        columns.clear();
    }
    Ok((name, columns))
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

/// Counts an email against both limits, in the state; refused when either
/// is reached.
async fn within_limits(state: &Shared, ip: IpAddr, email: &Email) -> Result<(), Refusal> {
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
    let limit = &state.per_client;
    let (key, window, max) = (limit.key(&client), limit.window_seconds, limit.max);
    if !db(state, move |s| s.count_email(&key, now, window, max)).await? {
        tracing::warn!(client = %ip, "email limit reached for a client");
        return Err(state.refuse(Reason::TooMany));
    }
    // Counted per mailbox: lower-cased, without a `+tag`, the domain in
    // its ASCII form. Most mailboxes ignore case and deliver sub-addresses
    // to the same inbox, and each spelling must not get a limit of its own.
    let limit = &state.per_address;
    let key = limit.key(&format!("to:{}", email.mailbox()));
    let (window, max) = (limit.window_seconds, limit.max);
    if !db(state, move |s| s.count_email(&key, now, window, max)).await? {
        tracing::warn!("email limit reached for an address");
        return Err(state.refuse(Reason::TooMany));
    }
    Ok(())
}

/// The answer to a request for an email, whether one was sent or not.
fn neutral_check_inbox(state: &Shared) -> Response {
    state.simple(
        StatusCode::OK,
        bi("請查看你的電郵", "Check your inbox"),
        bi(
            "如果這個地址可以訂閱，我們已寄出一封電郵，請按其中的連結繼續。幾分鐘內未收到，請查看垃圾郵件。",
            "If this address can subscribe, we have sent it an email: follow its link to go on. If nothing arrives in a few minutes, look in your spam folder.",
        ),
    )
}
