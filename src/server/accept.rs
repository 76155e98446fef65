//! The accept loop: hyper's HTTP/1 connections with a header timeout, a
//! bound on how long a reply may wait for its client, and a cap on how
//! many are open, none of which axum::serve offers; and the graceful stop.

use super::{conn, HEADER_TIMEOUT, MAX_CONNECTIONS, SHUTDOWN_GRACE};
use axum::extract::Request;
use axum::Router;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Serves `app` on `listener` until `shutdown` completes, then gives
/// requests in flight [`SHUTDOWN_GRACE`] to finish: hyper's HTTP/1
/// connections with [`HEADER_TIMEOUT`], replies bounded by
/// [`conn::WRITE_TIMEOUT`], at most [`MAX_CONNECTIONS`] of them.
pub(crate) async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let connections = Arc::new(Mutex::new(conn::Connections::default()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    tokio::pin!(shutdown);
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
            () = &mut shutdown => break,
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
    tracing::info!("shutting down: finishing requests in flight");
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
}

/// Completes on SIGTERM or SIGINT. The handlers are installed here, before
/// the service (or the preview) listens, so a signal that comes early
/// still stops it gracefully; must be called on the runtime. The error is
/// that SIGTERM cannot be listened for.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = interrupt.await;
        }
    })
}
