//! `broadsheet serve`: the subscriber-facing web service. Sign-up with
//! double opt-in, one-click unsubscribe (RFC 8058), preferences, and the
//! feed files over HTTP.
//!
//! It shares the SQLite state with cron runs: every write is one short
//! IMMEDIATE transaction, so a `run` sending the digest and the service
//! wait for each other briefly instead of failing.

mod conn;
mod files;
mod forms;
mod handlers;
mod limits;
mod mailer;
mod pages;

use crate::config::{Config, ServiceUse};
use crate::digest::message::Sender;
use crate::store::Store;
use crate::token::Signer;
use crate::Error;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, FixedOffset, Utc};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The largest request body read: a sign-up form is well under 2 KB.
const BODY_LIMIT: usize = 16 * 1024;
/// How long a request may take before it is answered 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Read-only database connections.
const READERS: usize = 4;
/// How long, after SIGTERM, requests in flight get to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a client has to send a request's head, from connecting or
/// from the end of its last request: a connection that sends nothing is
/// closed after this, so idle sockets cannot pile up.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once: well under systemd's default soft limit of
/// 1,024 open files, leaving room for the database and the relay. Past it
/// the oldest connection that has not sent a request yet is closed to
/// make room, else the one whose reply has waited longest for its client
/// to read it, so neither a flood of silent sockets nor one of clients
/// that never read stops the service from answering a real request.
pub const MAX_CONNECTIONS: usize = 768;

/// Where the service's time comes from.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system clock.
    System,
    /// Always this instant (`--now`): for tests and demonstrations.
    Fixed(DateTime<FixedOffset>),
}

impl Clock {
    /// The time now.
    pub fn now(self) -> DateTime<FixedOffset> {
        match self {
            Clock::System => Utc::now().fixed_offset(),
            Clock::Fixed(t) => t,
        }
    }
}

/// What every request handler shares.
struct AppState {
    config: Config,
    site: serde_json::Value,
    pages: pages::Pages,
    signer: Signer,
    /// The one connection that writes.
    store: Mutex<Store>,
    /// Read-only connections: looking a token's subscriber up never waits
    /// behind a write (WAL lets readers go on while a digest run writes).
    readers: Vec<Mutex<Store>>,
    next_reader: std::sync::atomic::AtomicUsize,
    /// One-click unsubscribes waiting for the writing connection; whoever
    /// gets it next commits them all at once.
    unsubscribes: handlers::UnsubscribeQueue,
    sender: Sender,
    mailer: mailer::Mailer,
    clock: Clock,
    per_address: limits::Limiter,
    per_client: limits::Limiter,
    allowed_origins: Vec<String>,
    public_url: String,
    /// What `/feeds/…` may hand out.
    feed_files: files::Published,
}

type Shared = Arc<AppState>;

pub use pages::check as check_pages;

fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization())
}

/// Runs the service on `server.bind` until SIGTERM or SIGINT; requests in
/// flight are finished, and queued emails sent for up to
/// `server.shutdown_email_seconds`, before it returns. Emails still queued
/// then stay in the state and are sent when the service next starts.
pub fn serve(config: Config, clock: Clock) -> Result<(), Error> {
    let public_url = config.service(ServiceUse::Serve)?.public_url;
    let pages = pages::Pages::load(&config)?;
    let sender = crate::app::digest::sender(&config)?;
    let transport = crate::app::digest::transport(&config)?;
    let store = Store::open(&config.site.state_path)?;
    // The mailer writes on a connection of its own, so sending never waits
    // behind a page's write nor a page behind the mailer's.
    let mail_store = Store::open(&config.site.state_path)?;
    let readers = (0..READERS)
        .map(|_| Store::open_read_only(&config.site.state_path).map(Mutex::new))
        .collect::<Result<Vec<_>, _>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("broadsheet-serve")
        .build()
        .map_err(|source| Error::Start {
            what: "the runtime".into(),
            source,
        })?;
    runtime.block_on(async move {
        let bind = config.server.bind;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| Error::Start {
                what: format!("listening on {bind} (server.bind)"),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| Error::Start {
                what: format!("listening on {bind} (server.bind)"),
                source,
            })?;
        let (mailer, mail_task) = mailer::Mailer::start(transport, mail_store, clock);
        let drain = Duration::from_secs(config.server.shutdown_email_seconds);
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
            site: pages::site_data(&config),
            feed_files: files::Published::new(&config.site.output_dir),
            per_address: limits::Limiter::new(config.server.emails_per_address_per_day, 86_400),
            per_client: limits::Limiter::new(config.server.emails_per_client_per_hour, 3_600),
            config,
            pages,
            signer,
            store: Mutex::new(store),
            readers,
            next_reader: std::sync::atomic::AtomicUsize::new(0),
            unsubscribes: handlers::UnsubscribeQueue::default(),
            sender,
            mailer,
            clock,
            allowed_origins,
            public_url,
        });
        let app = router(state.clone());
        tracing::info!("listening on http://{addr}");
        accept_loop(listener, app).await?;
        // Connections cut off above may still hold the state; the mailer
        // is told here rather than when the last of them lets go.
        state.mailer.close();
        drop(state);
        let left = mail_task.drain(drain).await;
        if left > 0 {
            tracing::warn!(
                queued = left,
                "{left} emails not sent before shutdown stay queued in the state; they are sent when the service next starts"
            );
        }
        tracing::info!("stopped");
        Ok(())
    })
}

/// Serves `app` on `listener` until SIGTERM or SIGINT, then gives requests
/// in flight [`SHUTDOWN_GRACE`] to finish. axum::serve has neither a
/// header timeout nor a cap on connections, hence this loop: hyper's
/// HTTP/1 connections with [`HEADER_TIMEOUT`], replies bounded by
/// [`conn::WRITE_TIMEOUT`], at most [`MAX_CONNECTIONS`] of them.
async fn accept_loop(listener: tokio::net::TcpListener, app: Router) -> Result<(), Error> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connections = Arc::new(Mutex::new(conn::Connections::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset
                    // before it was taken: wait a moment rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let mut open = connections.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= MAX_CONNECTIONS {
            match open.make_room() {
                Some(task) => task.abort(),
                None => {
                    tracing::warn!("{MAX_CONNECTIONS} connections are busy; one more was closed");
                    continue;
                }
            }
        }
        let status = Arc::new(conn::Status::default());
        let router = app.clone();
        let heard = status.clone();
        let service =
            hyper::service::service_fn(move |mut request: Request<hyper::body::Incoming>| {
                heard.spoke();
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let mut router = router.clone();
                async move { tower_service::Service::call(&mut router, request).await }
            });
        let io = TokioIo::new(conn::Bounded::new(
            stream,
            conn::WRITE_TIMEOUT,
            status.clone(),
        ));
        let connection = graceful.watch(builder.serve_connection(io, service));
        let id = open.next_id();
        let leaving = conn::Leaving(connections.clone(), id);
        // The lock is held until the task is listed, so a task that ends
        // at once still finds itself to take out.
        let task = tokio::spawn(async move {
            let _leaving = leaving;
            // A client that goes away or times out is nothing to report;
            // one that stopped reading is worth a line when debugging.
            if let Err(e) = connection.await {
                if conn::stalled(&e) {
                    tracing::debug!(
                        "closed a connection whose client took no byte of its reply for {} s",
                        conn::WRITE_TIMEOUT.as_secs()
                    );
                }
            }
        });
        open.insert(id, status, task.abort_handle());
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open {}s after the signal were dropped",
            SHUTDOWN_GRACE.as_secs()
        );
        let open = connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_all();
        for task in open {
            task.abort();
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down: finishing requests in flight");
}

fn router(state: Shared) -> Router {
    use axum::routing::post;
    let feeds = Router::new()
        .route(
            "/feeds",
            get(|| async { axum::response::Redirect::permanent("feeds/") }),
        )
        .route("/feeds/", get(handlers::feed_root))
        .route("/feeds/{*path}", get(handlers::feed_file))
        .layer(tower_http::compression::CompressionLayer::new().gzip(true));
    Router::new()
        .route("/", get(handlers::subscribe_page))
        .route("/subscribe", post(handlers::subscribe))
        .route(
            "/confirm",
            get(handlers::confirm_page).post(handlers::confirm),
        )
        .route("/manage", get(handlers::manage_page).post(handlers::manage))
        .route(
            "/unsubscribe",
            get(handlers::unsubscribe_page).post(handlers::unsubscribe),
        )
        .route(
            "/preferences",
            get(handlers::preferences_page).post(handlers::preferences),
        )
        .route("/healthz", get(handlers::healthz))
        .merge(feeds)
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
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
