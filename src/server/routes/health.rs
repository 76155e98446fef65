//! `/healthz`, and the answers to a path or a method the service does not
//! have.

use crate::server::refusal::{Reason, Refusal};
use crate::server::state::db_read;
use crate::server::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `GET /healthz`: the database answers. Plain text, for monitors.
pub(crate) async fn healthz(State(state): State<Shared>) -> Response {
    match db_read(&state, |s| s.subscriber_by_id(0)).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response(),
    }
}

/// A route asked with a method it does not take.
pub(crate) async fn method_not_allowed(State(state): State<Shared>) -> Refusal {
    state.refuse(Reason::WrongMethod)
}

/// Anything else.
pub(crate) async fn not_found(State(state): State<Shared>) -> Refusal {
    state.refuse(Reason::NotFound)
}
