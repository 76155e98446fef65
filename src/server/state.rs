//! What every request handler shares: the settings, the templates, the
//! state database's connections (used from `spawn_blocking` only, never
//! on an async thread), the signer, the limits and the mailer.

use super::pages::{Bilingual, Notice, Pages};
use super::refusal::{Reason, Refusal};
use super::{files, limits, mailer, origin_of, Clock, Shared};
use crate::config::Config;
use crate::mail::Sender;
use crate::mail::Transport;
use crate::store::{Store, StoreError};
use crate::templates::TemplateError;
use crate::token::Signer;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The state database's connections.
pub(crate) struct Stores {
    /// The one the pages write on.
    pub(crate) writer: Store,
    /// The mailer's own writing connection.
    pub(crate) mailer: Store,
    /// Read-only ones.
    pub(crate) readers: Vec<Mutex<Store>>,
}

/// Everything [`super::bind`] prepared, for the service to start with.
pub(crate) struct Parts {
    pub(crate) config: Config,
    pub(crate) clock: Clock,
    pub(crate) pages: Pages,
    pub(crate) sender: Sender,
    pub(crate) transport: Transport,
    pub(crate) stores: Stores,
    pub(crate) public_url: String,
}

/// What every request handler shares.
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) site: serde_json::Value,
    /// The sign-up form's privacy notice, for its template.
    pub(crate) privacy: serde_json::Value,
    pub(crate) pages: Pages,
    pub(crate) signer: Signer,
    /// The one connection that writes.
    store: Mutex<Store>,
    /// Read-only connections: looking a token's subscriber up never waits
    /// behind a write (WAL lets readers go on while a digest run writes).
    readers: Vec<Mutex<Store>>,
    next_reader: AtomicUsize,
    /// One-click unsubscribes waiting for the writing connection; whoever
    /// gets it next commits them all at once.
    unsubscribes: UnsubscribeQueue,
    pub(crate) sender: Sender,
    pub(crate) mailer: mailer::Mailer,
    pub(crate) clock: Clock,
    pub(crate) per_address: limits::Limiter,
    pub(crate) per_client: limits::Limiter,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) public_url: String,
    /// What `/feeds/…` may hand out.
    pub(crate) feed_files: files::Published,
}

/// Unsubscribes waiting to be written, each with where its answer goes.
type UnsubscribeQueue = Mutex<Vec<(i64, tokio::sync::oneshot::Sender<Result<bool, String>>)>>;

impl Parts {
    /// Starts the mailer's task (on the runtime this is called on) and
    /// makes the handlers' state.
    pub(crate) fn start(self) -> (Shared, mailer::MailerTask) {
        let Parts {
            config,
            clock,
            pages,
            sender,
            transport,
            stores,
            public_url,
        } = self;
        let (mailer, mail_task) = mailer::Mailer::start(transport, stores.mailer, clock);
        let mut allowed_origins: Vec<String> = [
            public_url.as_str(),
            config.site.base_url.as_str(),
            config.feeds.url.as_str(),
        ]
        .into_iter()
        .filter_map(origin_of)
        .collect();
        allowed_origins.dedup();
        let signer = Signer::new(config.server.secret.expose());
        let state = Arc::new(AppState {
            site: super::pages::site_data(&config),
            privacy: super::pages::privacy_data(&config),
            feed_files: files::Published::new(&config.site.output_dir),
            per_address: limits::Limiter::new(
                "to",
                config.server.emails_per_address_per_day,
                86_400,
            ),
            per_client: limits::Limiter::new(
                "client",
                config.server.emails_per_client_per_hour,
                3_600,
            ),
            config,
            pages,
            signer,
            store: Mutex::new(stores.writer),
            readers: stores.readers,
            next_reader: AtomicUsize::new(0),
            unsubscribes: UnsubscribeQueue::default(),
            sender,
            mailer,
            clock,
            allowed_origins,
            public_url,
        });
        (state, mail_task)
    }
}

impl AppState {
    /// The refusal for `reason`, rendered with this service's templates.
    pub(crate) fn refuse(self: &Arc<Self>, reason: Reason) -> Refusal {
        Refusal::new(self.clone(), reason)
    }

    /// A page, or a plain 500 when a (user-supplied) template fails.
    pub(crate) fn page(
        &self,
        status: StatusCode,
        rendered: Result<String, TemplateError>,
    ) -> Response {
        match rendered {
            Ok(body) => (status, Html(body)).into_response(),
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

    /// A notice page.
    pub(crate) fn notice(&self, status: StatusCode, n: &Notice<'_>) -> Response {
        self.page(status, self.pages.notice(&self.site, n))
    }

    /// A notice page with a heading and one paragraph.
    pub(crate) fn simple(
        &self,
        status: StatusCode,
        heading: Bilingual,
        text: Bilingual,
    ) -> Response {
        self.notice(
            status,
            &Notice {
                heading,
                paragraphs: &[text],
                action: None,
                link: None,
            },
        )
    }
}

/// Runs `f` on the state database off the async threads: on the writing
/// connection, or with `read_only` on one of the read-only ones, which
/// never wait behind a write.
async fn with_store<T: Send + 'static>(
    state: &Shared,
    read_only: bool,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Refusal> {
    let s = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        let connection = if read_only {
            let n = s.next_reader.fetch_add(1, Ordering::Relaxed);
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
            Err(state.refuse(Reason::Unavailable))
        }
        Err(e) => {
            tracing::error!("a database task failed: {e}");
            Err(state.refuse(Reason::Unavailable))
        }
    }
}

/// A write.
pub(crate) async fn db<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Refusal> {
    with_store(state, false, f).await
}

/// A read.
pub(crate) async fn db_read<T: Send + 'static>(
    state: &Shared,
    f: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Refusal> {
    with_store(state, true, f).await
}

/// Unsubscribes `id`, committed together with every other unsubscribe that
/// is waiting: under a flood of one-click requests (a digest just went out)
/// each waits for one commit, not for all those queued before it.
pub(crate) async fn unsubscribe_grouped(state: &Shared, id: i64) -> Result<bool, Refusal> {
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
            Err(state.refuse(Reason::Unavailable))
        }
        Err(_) => {
            tracing::error!("an unsubscribe was lost before it was written");
            Err(state.refuse(Reason::Unavailable))
        }
    }
}
