//! `POST /webhooks/{ses,sendgrid,postmark,mailgun}`: bounce and complaint
//! events from sending services. Each request is verified first
//! (`bounces::webhooks`); one that fails changes nothing and is logged
//! without its body. Verified reports are recorded once each, with the
//! payload as evidence; the provider's address for the recipient is
//! believed, since the provider signed it.

use crate::bounces::webhooks::{self, Provider, Verdict};
use crate::bounces::{Recorded, Recorder, Trust};
use crate::server::state::db;
use crate::server::Shared;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// The largest webhook body taken: SNS messages reach 256 KiB, SendGrid
/// batches of events more; beyond this a request is refused (413).
pub(crate) const WEBHOOK_BODY_LIMIT: usize = 4 << 20;

/// `POST /webhooks/{provider}`.
pub(crate) async fn post(
    State(state): State<Shared>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = Provider::from_route(&provider) else {
        return (StatusCode::NOT_FOUND, "no such webhook\n").into_response();
    };
    let name = provider.as_str();
    let now = state.clock.now();
    let verdict = match webhooks::read(provider, &headers, &body, &state.config.webhooks.keys, now)
    {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(provider = name, "webhook refused, nothing changed: {e}");
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return (status, format!("{e}\n")).into_response();
        }
    };
    let reports = match verdict {
        Verdict::SnsConfirmation {
            kind,
            topic_arn,
            url,
        } => {
            // Never fetched from here: a URL in a request is not ours to
            // visit. The operator confirms by opening it.
            tracing::warn!(
                provider = name,
                topic = topic_arn.as_str(),
                "SNS {kind}: to confirm, open {url}"
            );
            return (StatusCode::OK, "noted\n").into_response();
        }
        Verdict::Reports(r) => r,
    };
    if reports.is_empty() {
        return (StatusCode::OK, "nothing to record\n").into_response();
    }
    let signer = state.signer.clone();
    let policy = state.config.bounces.policy;
    let evidence = body;
    let result = db(&state, move |store| {
        let recorder = Recorder {
            signer: Some(&signer),
            policy,
            now,
        };
        reports
            .iter()
            .map(|r| recorder.record(store, r, name, Trust::Signed, &evidence))
            .collect::<Result<Vec<Recorded>, _>>()
    })
    .await;
    match result {
        Ok(recorded) => {
            for r in &recorded {
                match r {
                    Recorded::Matched {
                        subscriber_id,
                        became,
                        ..
                    } => tracing::info!(
                        provider = name,
                        subscriber = subscriber_id,
                        "recorded; status {}",
                        became.map_or("unchanged", |s| s.as_str())
                    ),
                    Recorded::Duplicate => {
                        tracing::info!(provider = name, "recorded before: nothing changed")
                    }
                    Recorded::Unmatched => tracing::warn!(
                        provider = name,
                        "names no subscriber of ours: kept as unmatched"
                    ),
                }
            }
            (StatusCode::OK, "recorded\n").into_response()
        }
        // The provider retries on a 5xx: nothing is lost while the state
        // is busy or down.
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the state cannot be written now; try again\n",
        )
            .into_response(),
    }
}
