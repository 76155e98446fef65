//! `broadsheet serve`: the subscriber-facing web service. Sign-up with
//! double opt-in, one-click unsubscribe (RFC 8058), preferences, and the
//! feed files over HTTP.
//!
//! It shares the SQLite state with cron runs: every write is one short
//! IMMEDIATE transaction, so a `run` sending the digest and the service
//! wait for each other briefly instead of failing.
//!
//! [`bind`] checks the settings, opens the state and takes the address;
//! [`Bound::serve_until`] answers on it until told to stop. [`serve`] does
//! both for `broadsheet serve`, stopping on SIGTERM or SIGINT. The mail
//! settings arrive built, as a [`Sender`] and a [`Transport`]: the service
//! sends with them and does not read them from the configuration itself.

mod accept;
pub use accept::shutdown_signal;
mod conn;
mod emails;
mod extract;
mod files;
mod forms;
mod limits;
mod links;
mod mailer;
mod pages;
mod refusal;
mod routes;
mod state;
mod when;

use crate::config::{Config, ConfigError, ServiceUse};
use crate::mail::Sender;
use crate::mail::Transport;
use crate::store::{Location, Store, StoreError};
use crate::templates::TemplateError;
use chrono::{DateTime, FixedOffset, Utc};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use pages::check as check_pages;

/// The largest request body read: a sign-up form is well under 2 KB.
const BODY_LIMIT: usize = 16 * 1024;
/// How long a request may take before it is answered 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Read-only database connections.
const READERS: usize = 4;
/// How long, after the signal to stop, requests in flight get to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a client has to send a request's head, from connecting or
/// from the end of its last request: a connection that sends nothing is
/// closed after this, so idle sockets cannot pile up.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once: well under systemd's default soft limit of
/// 1,024 open files, leaving room for the database and the relay. Past it
/// the oldest connection that has not sent a request yet is closed to
/// make room, else the one whose reply has waited longest for its client
/// to read it, so neither a flood of silent sockets nor one of clients
/// that never read stops the service from answering a real request.
pub(crate) const MAX_CONNECTIONS: usize = 768;

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

/// Why the service could not start, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// `server.bind` cannot be listened on (in use, not this machine's,
    /// a port below 1024 without the right to it).
    #[error("server.bind: cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// The service's threads, or its wait for SIGTERM, could not be set
    /// up.
    #[error("{what}: {source}")]
    Runtime {
        /// What could not be done.
        what: &'static str,
        /// What the system said.
        source: std::io::Error,
    },
    /// The state database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A page or email template does not compile.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A setting the service needs is missing or unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The service with its address taken, not answering yet.
pub struct Bound {
    /// The address it listens on; with port 0 in `server.bind`, the port
    /// the system chose.
    pub addr: SocketAddr,
    listener: tokio::net::TcpListener,
    parts: state::Parts,
}

/// Checks the settings the service needs, compiles its templates, opens
/// the state and listens on `server.bind`; emails go out from `sender`
/// over `transport`. Call it on a tokio runtime, the one
/// [`Bound::serve_until`] is then run on.
pub async fn bind(
    config: Config,
    clock: Clock,
    sender: Sender,
    transport: Transport,
) -> Result<Bound, ServerError> {
    let public_url = config.service(ServiceUse::Serve)?.public_url;
    let pages = pages::Pages::load(&config)?;
    let location = config.state_location();
    let readers = match location.is_shared() {
        true => config.state.pool_size as usize,
        false => READERS,
    };
    // Opening runs the migrations: blocking work, kept off the async
    // threads like every other use of the state.
    let stores = tokio::task::spawn_blocking(move || open_stores(&location, readers))
        .await
        .map_err(|e| ServerError::Runtime {
            what: "cannot open the state",
            source: std::io::Error::other(e),
        })??;
    let addr = config.server.bind;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    Ok(Bound {
        addr,
        listener,
        parts: state::Parts {
            config,
            clock,
            pages,
            sender,
            transport,
            stores,
            public_url,
        },
    })
}

/// The service's connections: one for writes, one for the mailer, and
/// `readers` for pages that only read (on PostgreSQL,
/// `state.pool_size`). A connection the server closes (a restart, a
/// failover) is made again on its next use.
fn open_stores(location: &Location, readers: usize) -> Result<state::Stores, StoreError> {
    let writer = Store::connect(location)?;
    // The mailer writes on a connection of its own, so sending never waits
    // behind a page's write nor a page behind the mailer's.
    let mailer = Store::connect(location)?;
    let readers = (0..readers)
        .map(|_| Store::connect_read_only(location).map(Mutex::new))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(state::Stores {
        writer,
        mailer,
        readers,
    })
}

impl Bound {
    /// Answers requests until `shutdown` completes; then requests in
    /// flight are finished, and queued emails sent for up to
    /// `server.shutdown_email_seconds`, before it returns. Emails still
    /// queued then stay in the state and are sent when the service next
    /// starts.
    pub async fn serve_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServerError> {
        let drain = Duration::from_secs(self.parts.config.server.shutdown_email_seconds);
        let (state, mail_task) = self.parts.start();
        let app = routes::router(state.clone());
        accept::accept_loop(self.listener, app, shutdown).await;
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
    }
}

/// Runs the service on `server.bind` until SIGTERM or SIGINT: `broadsheet
/// serve`. See [`bind`] and [`Bound::serve_until`].
pub fn serve(
    config: Config,
    clock: Clock,
    sender: Sender,
    transport: Transport,
) -> Result<(), ServerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("broadsheet-serve")
        .build()
        .map_err(|source| ServerError::Runtime {
            what: "cannot start the runtime",
            source,
        })?;
    runtime.block_on(async move {
        let signal = accept::shutdown_signal().map_err(|source| ServerError::Runtime {
            what: "cannot listen for SIGTERM",
            source,
        })?;
        let bound = bind(config, clock, sender, transport).await?;
        tracing::info!("listening on http://{}", bound.addr);
        bound.serve_until(signal).await
    })
}

/// The origin (`scheme://host[:port]`) of `url`, as a browser sends it.
fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization())
}

/// What every request handler shares.
type Shared = Arc<state::AppState>;
