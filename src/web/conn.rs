//! The life of one HTTP connection under the server's limits: how long it may sit idle, how
//! long a request's headers may take to arrive, how long a response may wait on a client that
//! does not read, and how many connections may be open at once.
//!
//! hyper's own header-read timer starts when it waits for the next request, so it cannot tell
//! an idle keep-alive connection (fine for a minute) from a client dribbling headers (not fine
//! for long). Here every socket is wrapped in [`TimedIo`], which notes when bytes last moved
//! and when the current request's first byte came; a watchdog per connection closes it when
//! one of the [`Limits`] is passed. How many may be open at once is `table.rs`'s business.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The bounds every connection lives under (flags `--web.read-header-timeout`,
/// `--web.idle-timeout`, `--web.max-connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From a connection's first byte of a request (or its accept, for the first request, TLS
    /// handshake included) to the end of that request's headers.
    pub read_header_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request; also how long a
    /// response may wait on a client that does not read it.
    pub idle_timeout: Duration,
    /// Connections open at once; past it the longest-idle one is closed to make room.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

/// "Not set" in the millisecond fields of [`State`].
const NONE: u64 = u64::MAX;

/// What the watchdog and the table read about one connection; times are milliseconds since the
/// table's epoch.
pub struct State {
    /// Requests being answered now.
    in_flight: AtomicU32,
    /// Requests answered so far (0: still waiting for the first one).
    served: AtomicU32,
    /// Last time bytes were read or written, or a request ended.
    last_activity: AtomicU64,
    /// When the first byte of a request not yet dispatched arrived ([`NONE`] between requests).
    head_started: AtomicU64,
    /// Since when a write has been waiting on the client ([`NONE`] when not blocked).
    write_blocked: AtomicU64,
    /// Told to close (evicted to make room).
    close: Notify,
    epoch: Instant,
}

impl State {
    pub(super) fn new(epoch: Instant) -> State {
        let now = ms_since(epoch);
        State {
            in_flight: AtomicU32::new(0),
            served: AtomicU32::new(0),
            last_activity: AtomicU64::new(now),
            head_started: AtomicU64::new(NONE),
            write_blocked: AtomicU64::new(NONE),
            close: Notify::new(),
            epoch,
        }
    }

    fn now(&self) -> u64 {
        ms_since(self.epoch)
    }

    /// A request's headers were parsed and it is being answered.
    pub fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.head_started.store(NONE, Ordering::SeqCst);
    }

    /// The request's handler returned (its body is then written under the write-stall limit).
    pub fn request_ended(&self) {
        self.served.fetch_add(1, Ordering::SeqCst);
        self.last_activity.store(self.now(), Ordering::SeqCst);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
    }

    /// How long until a limit is passed, or `None` if one already is.
    fn remaining(&self, limits: &Limits) -> Option<Duration> {
        let now = self.now();
        let left = |since: u64, limit: Duration| {
            let limit = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
            let spent = now.saturating_sub(since);
            (spent < limit).then(|| Duration::from_millis(limit - spent))
        };
        let blocked = self.write_blocked.load(Ordering::SeqCst);
        let write_left = if blocked == NONE {
            Some(limits.idle_timeout)
        } else {
            left(blocked, limits.idle_timeout)
        };
        let write_left = write_left?;
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Some(write_left);
        }
        let head = self.head_started.load(Ordering::SeqCst);
        let read_left = if head != NONE {
            left(head, limits.read_header_timeout)
        } else if self.served.load(Ordering::SeqCst) == 0 {
            // A client that connects is expected to send its request at once.
            left(
                self.last_activity.load(Ordering::SeqCst),
                limits.read_header_timeout,
            )
        } else {
            left(
                self.last_activity.load(Ordering::SeqCst),
                limits.idle_timeout,
            )
        };
        Some(read_left?.min(write_left))
    }

    /// Whether the connection may be closed to make room: no request is being answered.
    pub(super) fn evictable(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }

    /// Whether the client never sent a byte.
    pub(super) fn silent(&self) -> bool {
        self.served.load(Ordering::SeqCst) == 0
            && self.in_flight.load(Ordering::SeqCst) == 0
            && self.head_started.load(Ordering::SeqCst) == NONE
    }

    /// When bytes last moved or a request ended (milliseconds since the epoch).
    pub(super) fn last_activity(&self) -> u64 {
        self.last_activity.load(Ordering::SeqCst)
    }

    /// Tells the connection's watchdog to close it now.
    pub(super) fn close(&self) {
        self.close.notify_one();
    }
}

fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
}

/// Resolves when the connection must close: a limit passed, or it was evicted.
pub async fn watchdog(state: Arc<State>, limits: Limits) {
    loop {
        let Some(left) = state.remaining(&limits) else {
            return;
        };
        // Wake at the earliest deadline (at least 10 ms on, so a deadline that moves keeps the
        // loop from spinning) and look again: activity may have moved it.
        let wake = left.max(Duration::from_millis(10));
        tokio::select! {
            _ = tokio::time::sleep(wake) => {}
            _ = state.close.notified() => return,
        }
    }
}

/// A socket that tells its connection's [`State`] when bytes move.
pub struct TimedIo<T> {
    inner: T,
    state: Arc<State>,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, state: Arc<State>) -> Self {
        TimedIo { inner, state }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            let s = &self.state;
            let now = s.now();
            s.last_activity.store(now, Ordering::SeqCst);
            if s.in_flight.load(Ordering::SeqCst) == 0 {
                // Bytes of a request that is not being answered yet: its headers are on the
                // way, and the header-read clock starts with the first of them.
                let _ =
                    s.head_started
                        .compare_exchange(NONE, now, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> TimedIo<T> {
    /// Notes a write's outcome: blocked on the client, or done (`moved`: bytes went out). A
    /// flush with nothing to send is not activity: hyper flushes whenever its connection is
    /// polled, and counting that would let any wake-up keep an idle connection alive.
    fn wrote<R>(&self, polled: &Poll<io::Result<R>>, moved: impl FnOnce(&R) -> bool) {
        let s = &self.state;
        match polled {
            Poll::Pending => {
                let _ = s.write_blocked.compare_exchange(
                    NONE,
                    s.now(),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
            }
            Poll::Ready(r) => {
                s.write_blocked.store(NONE, Ordering::SeqCst);
                if r.as_ref().is_ok_and(moved) {
                    s.last_activity.store(s.now(), Ordering::SeqCst);
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&polled, |n| *n > 0);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&polled, |n| *n > 0);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.wrote(&polled, |_| false);
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            read_header_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(5),
            max_connections: 4,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_closes_after_the_header_timeout() {
        let state = Arc::new(State::new(Instant::now()));
        let start = Instant::now();
        watchdog(state.clone(), limits()).await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(2) && waited < Duration::from_millis(2100));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_request_the_idle_timeout_applies() {
        let state = Arc::new(State::new(Instant::now()));
        state.request_started();
        state.request_ended();
        let start = Instant::now();
        watchdog(state.clone(), limits()).await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(5) && waited < Duration::from_millis(5100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_being_answered_is_not_timed_out_by_the_read_limits() {
        let state = Arc::new(State::new(Instant::now()));
        state.request_started();
        let dog = tokio::spawn(watchdog(state.clone(), limits()));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!dog.is_finished());
        dog.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_its_response_is_cut_after_the_idle_timeout() {
        use tokio::io::AsyncWriteExt;
        let state = Arc::new(State::new(Instant::now()));
        state.request_started();
        // The client reads nothing: the 16-byte pipe fills and the write waits on it.
        let (a, _client) = tokio::io::duplex(16);
        let mut io = TimedIo::new(a, state.clone());
        let writer = tokio::spawn(async move { io.write_all(&[0u8; 1024]).await });
        let start = Instant::now();
        let cut = tokio::time::timeout(Duration::from_secs(60), watchdog(state.clone(), limits()));
        assert!(cut.await.is_ok(), "the stalled write is cut");
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(5) && waited < Duration::from_millis(5100));
        assert!(!writer.is_finished());
        writer.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_with_nothing_to_send_do_not_keep_a_connection_alive() {
        use tokio::io::AsyncWriteExt;
        let state = Arc::new(State::new(Instant::now()));
        let (a, _b) = tokio::io::duplex(64);
        let mut io = TimedIo::new(a, state.clone());
        let dog = tokio::spawn(watchdog(state.clone(), limits()));
        let start = Instant::now();
        while !dog.is_finished() && start.elapsed() < Duration::from_secs(10) {
            io.flush().await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(dog.is_finished());
        assert!(
            start.elapsed() < Duration::from_millis(2200),
            "{:?}",
            start.elapsed()
        );
        io.write_all(b"x").await.unwrap();
    }
}
