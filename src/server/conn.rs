//! The service's open connections: which ones may be closed to make room
//! for a new one, and a bound on how long a reply may sit unwritten.
//!
//! A client that sends requests and never reads the replies leaves hyper
//! waiting on a write that makes no progress; nothing in hyper bounds that
//! wait. [`Bounded`] fails such a write after [`WRITE_TIMEOUT`], and
//! [`Connections::make_room`] closes the longest-stalled writer when every
//! slot is taken, so those clients can neither hold a slot for long nor
//! keep a reader's one-click unsubscribe out.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long writing a reply may go without the client taking a byte
/// before the connection is closed: as long as a request may take.
pub(super) const WRITE_TIMEOUT: Duration = super::REQUEST_TIMEOUT;

/// What the accept loop knows of one connection.
#[derive(Default)]
pub(super) struct Status {
    /// Whether it has sent a request yet.
    spoke: AtomicBool,
    /// When the write now waiting began to wait ([`stamp`]); 0 while no
    /// write waits.
    stalled_since: AtomicU64,
}

impl Status {
    /// Notes that the connection sent a request.
    pub(super) fn spoke(&self) {
        self.spoke.store(true, Ordering::Relaxed);
    }
}

/// The instant the stall stamps count from.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// Milliseconds since [`EPOCH`], plus one so that no stamp is 0.
fn stamp() -> u64 {
    u64::try_from(EPOCH.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// Connections open now, oldest first, each with its [`Status`] and how
/// to close it.
#[derive(Default)]
pub(super) struct Connections {
    next: u64,
    open: std::collections::BTreeMap<u64, (Arc<Status>, tokio::task::AbortHandle)>,
}

impl Connections {
    /// How many are open.
    pub(super) fn len(&self) -> usize {
        self.open.len()
    }

    /// The number the next connection is listed under.
    pub(super) fn next_id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Lists a connection's task under `id`.
    pub(super) fn insert(&mut self, id: u64, status: Arc<Status>, task: tokio::task::AbortHandle) {
        self.open.insert(id, (status, task));
    }

    /// Takes out, and returns how to close, the connection that can best
    /// be spared: the oldest that has not sent a request, else the one
    /// whose reply has waited longest for its client to read. `None` when
    /// every connection is busy with a request or moving its reply along.
    pub(super) fn make_room(&mut self) -> Option<tokio::task::AbortHandle> {
        let silent = self
            .open
            .iter()
            .find(|(_, (status, _))| !status.spoke.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        let stalled = || {
            self.open
                .iter()
                .map(|(id, (status, _))| (status.stalled_since.load(Ordering::Relaxed), *id))
                .filter(|(since, _)| *since != 0)
                .min()
                .map(|(_, id)| id)
        };
        let id = silent.or_else(stalled)?;
        self.open.remove(&id).map(|(_, task)| task)
    }

    /// Takes every connection out, to close them all.
    pub(super) fn take_all(&mut self) -> Vec<tokio::task::AbortHandle> {
        std::mem::take(&mut self.open)
            .into_values()
            .map(|(_, task)| task)
            .collect()
    }
}

/// Takes a connection out of [`Connections`] when its task ends, however
/// it ends (finished, failed or closed to make room).
pub(super) struct Leaving(pub Arc<Mutex<Connections>>, pub u64);

impl Drop for Leaving {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .open
            .remove(&self.1);
    }
}

/// A connection whose writes fail with [`io::ErrorKind::TimedOut`] once
/// one has waited [`WRITE_TIMEOUT`] without the client taking a byte.
/// Reads pass through: hyper bounds those itself (the header timeout).
pub(super) struct Bounded<S> {
    inner: S,
    bound: Duration,
    status: Arc<Status>,
    /// Running while a write waits; none while writes go through.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> Bounded<S> {
    /// `inner`, its writes bounded by `bound`, its stalls noted in `status`.
    pub(super) fn new(inner: S, bound: Duration, status: Arc<Status>) -> Bounded<S> {
        Bounded {
            inner,
            bound,
            status,
            stall: None,
        }
    }

    /// The client took something (or the write failed): no stall now.
    fn moved(&mut self) {
        if self.stall.take().is_some() {
            self.status.stalled_since.store(0, Ordering::Relaxed);
        }
    }

    /// The write waits: starts the clock if it is not running, and fails
    /// once it has run out.
    fn waiting<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let bound = self.bound;
        let status = &self.status;
        let stall = self.stall.get_or_insert_with(|| {
            status.stalled_since.store(stamp(), Ordering::Relaxed);
            Box::pin(tokio::time::sleep(bound))
        });
        match stall.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the client took no byte of the reply for {} s",
                    bound.as_secs_f64()
                ),
            ))),
        }
    }

    /// What a write (or flush) of the inner stream gave, bounded.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Ready(r) => {
                self.moved();
                Poll::Ready(r)
            }
            Poll::Pending => self.waiting(cx),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.bounded(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.bounded(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.bounded(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.bounded(cx, polled)
    }
}

/// Whether a connection ended because its client stopped reading.
pub(super) fn stalled(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(e) = source {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut)
        {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn room_is_made_from_the_silent_then_the_longest_stalled() {
        runtime().block_on(async {
            let table = Arc::new(Mutex::new(Connections::default()));
            let mut statuses = Vec::new();
            let mut tasks = Vec::new();
            for _ in 0..4 {
                let status = Arc::new(Status::default());
                let task = tokio::spawn(std::future::pending::<()>());
                let mut t = table.lock().unwrap();
                let id = t.next_id();
                t.insert(id, status.clone(), task.abort_handle());
                statuses.push(status);
                tasks.push(task);
            }
            // 0: busy with a request; 1: stalled since 20; 2: stalled
            // since 10; 3: has said nothing.
            for s in &statuses[..3] {
                s.spoke();
            }
            statuses[1].stalled_since.store(20, Ordering::Relaxed);
            statuses[2].stalled_since.store(10, Ordering::Relaxed);
            let mut t = table.lock().unwrap();
            let ended = |t: &mut Connections| {
                let task = t.make_room()?;
                Some(tasks.iter().position(|k| k.id() == task.id()).unwrap())
            };
            assert_eq!(ended(&mut t), Some(3));
            assert_eq!(ended(&mut t), Some(2));
            assert_eq!(ended(&mut t), Some(1));
            assert_eq!(ended(&mut t), None, "one busy with a request stays");
            assert_eq!(t.len(), 1);
        });
    }

    /// Writes all of `bytes`, as hyper would: poll until it is taken.
    async fn write_all<S: AsyncWrite + Unpin>(to: &mut S, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let n = std::future::poll_fn(|cx| Pin::new(&mut *to).poll_write(cx, bytes)).await?;
            bytes = &bytes[n..];
        }
        Ok(())
    }

    /// A loopback connection with small buffers, so a write waits as soon
    /// as the far end stops reading: (near, far).
    async fn small_pipe() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
        let listening = tokio::net::TcpSocket::new_v4().unwrap();
        listening.set_recv_buffer_size(4096).unwrap();
        listening.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = listening.listen(1).unwrap();
        let near = tokio::net::TcpSocket::new_v4().unwrap();
        near.set_send_buffer_size(4096).unwrap();
        let near = near.connect(listener.local_addr().unwrap()).await.unwrap();
        let (far, _) = listener.accept().await.unwrap();
        (near, far)
    }

    #[test]
    fn a_write_no_one_reads_fails_after_the_bound_and_a_slow_read_is_waited_for() {
        runtime().block_on(async {
            let (near, far) = small_pipe().await;
            let status = Arc::new(Status::default());
            let mut bounded = Bounded::new(near, Duration::from_millis(200), status.clone());
            let reply = vec![7u8; 256 * 1024];
            // Read a little at a time, the reply takes longer than the
            // bound in all, and goes through.
            let total = reply.len();
            let reader = tokio::spawn(async move {
                let mut got = 0;
                let mut buf = [0u8; 4096];
                while got < total {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    far.readable().await.unwrap();
                    match far.try_read(&mut buf) {
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                far
            });
            write_all(&mut bounded, &reply).await.unwrap();
            let _far = reader.await.unwrap();
            assert_eq!(status.stalled_since.load(Ordering::Relaxed), 0);
            // Unread, a write fails once the bound has passed, and says why.
            let e = write_all(&mut bounded, &reply).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            assert_eq!(
                e.to_string(),
                "the client took no byte of the reply for 0.2 s"
            );
            assert_ne!(status.stalled_since.load(Ordering::Relaxed), 0);
            assert!(stalled(&e));
        });
    }
}
