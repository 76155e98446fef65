//! What a handler is given from the request, each read and checked once:
//! the token in the query, the client's address, and a posted form
//! (its origin checked, its body held to the limit, decoded strictly).

use super::forms::Form;
use super::refusal::{Reason, Refusal};
use super::Shared;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use std::net::{IpAddr, SocketAddr};

/// `?token=…`, read with [`Form`]: a query string that is not UTF-8, or
/// repeats `token`, is still answered with a page (the first `token`
/// counts), never with the framework's plain-text rejection.
#[derive(Debug)]
pub(crate) struct TokenQuery {
    /// The token, as given.
    pub(crate) token: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for TokenQuery {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<TokenQuery, Self::Rejection> {
        let token = parts
            .uri
            .query()
            .and_then(|q| Form::parse(q.as_bytes()).ok())
            .and_then(|f| f.get("token").map(str::to_owned));
        Ok(TokenQuery { token })
    }
}

/// The client's address: the peer, or behind a trusted proxy the last
/// `X-Forwarded-For` entry (the one the proxy itself added).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Client(pub(crate) IpAddr);

impl FromRequestParts<Shared> for Client {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Client, Refusal> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            // The accept loop gives every request its peer; without it the
            // limits could not be kept.
            tracing::error!("a request without its peer's address");
            return Err(state.refuse(Reason::Unavailable));
        };
        if state.config.server.trust_forwarded_for {
            if let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok())
            {
                return Ok(Client(ip));
            }
        }
        Ok(Client(peer.ip()))
    }
}

/// What a handler reads out of a decoded form.
pub(crate) trait FromForm {
    /// The fields this handler uses; a missing one reads as empty.
    fn from_form(form: &Form) -> Self;
}

/// A form posted from one of the service's own pages: the origin checked,
/// the body read within the limit, decoded, then read as `T`. Each of those
/// failing is answered with its page, before the handler runs.
#[derive(Debug)]
pub(crate) struct PostedForm<T>(pub(crate) T);

impl<T: FromForm> FromRequest<Shared> for PostedForm<T> {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &Shared) -> Result<Self, Refusal> {
        same_site(state, request.headers())?;
        let body = within_limit(state, Bytes::from_request(request, state).await)?;
        let form = Form::parse(&body).map_err(|_| state.refuse(Reason::BadForm))?;
        Ok(PostedForm(T::from_form(&form)))
    }
}

/// The body of a one-click unsubscribe: any body within the limit, since
/// mailbox providers send `List-Unsubscribe=One-Click` as multipart or
/// urlencoded; a `token` field in it when it is a form that has one.
#[derive(Debug)]
pub(crate) struct OneClick {
    /// The token in the body.
    pub(crate) token: Option<String>,
}

impl FromRequest<Shared> for OneClick {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &Shared) -> Result<Self, Refusal> {
        let body = within_limit(state, Bytes::from_request(request, state).await)?;
        let token = Form::parse(&body)
            .ok()
            .and_then(|f| f.get("token").map(str::to_owned));
        Ok(OneClick { token })
    }
}

/// A request body, or the refusal saying it is too large (or unreadable).
fn within_limit(state: &Shared, body: Result<Bytes, BytesRejection>) -> Result<Bytes, Refusal> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            state.refuse(Reason::TooLarge)
        } else {
            state.refuse(Reason::BadForm)
        }
    })
}

/// Refuses a form posted from a page of another site. Browsers send
/// `Origin` with every POST; a request without one is not a browser's
/// cross-site post.
fn same_site(state: &Shared, headers: &HeaderMap) -> Result<(), Refusal> {
    let refuse = || Err(state.refuse(Reason::CrossSite));
    let Some(origin) = headers.get(header::ORIGIN) else {
        return match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
            Some(b"cross-site") => refuse(),
            _ => Ok(()),
        };
    };
    let Ok(origin) = origin.to_str() else {
        return refuse();
    };
    // A privacy setting can make a browser send `Origin: null` even for
    // its own site's form; it still says where the request came from.
    if origin == "null" {
        return match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
            Some(b"same-origin") => Ok(()),
            _ => refuse(),
        };
    }
    // Only the configured origins: `Host` is whatever the client says, so
    // a page on a name the attacker points at this machine (DNS
    // rebinding) would otherwise pass as the service's own.
    if state.allowed_origins.iter().any(|o| o == origin) {
        Ok(())
    } else {
        refuse()
    }
}
