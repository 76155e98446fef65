//! `/feeds/…`: the files `build` wrote (see `server::files` for which).

use crate::server::Shared;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;

/// `GET /feeds/`.
pub(crate) async fn root(
    State(state): State<Shared>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    state.feed_files.serve("", &method, &headers).await
}

/// `GET /feeds/<path>`.
pub(crate) async fn file(
    State(state): State<Shared>,
    Path(path): Path<String>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    state.feed_files.serve(&path, &method, &headers).await
}
