//! The life of one HTTP connection under the server's limits: how long it may sit idle, how
//! long a request's headers may take to arrive, how long a response may wait on a client that
//! does not read, and how many connections may be open at once.
//!
//! hyper's own header-read timer starts when it waits for the next request, so it cannot tell
//! an idle keep-alive connection (fine for a minute) from a client dribbling headers (not fine
//! for long). Here every socket is wrapped in [`TimedIo`], which notes when bytes last moved
//! and when the current request's first byte came; a watchdog per connection closes it when
//! one of the [`Limits`] is passed. The [`Table`] holds every open connection: when it is
//! full, a new connection evicts the connection that has been idle longest (no request being
//! answered), so idle or half-open connections can never lock a scraper out; only when every
//! slot is answering a request is the new connection closed at once.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    fn new(epoch: Instant) -> State {
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
    fn evictable(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0
    }
}

fn ms_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
}

/// Every open connection, bounded by [`Limits::max_connections`].
pub struct Table {
    limits: Limits,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<Vec<(u64, Arc<State>)>>,
}

/// A connection's place in the [`Table`]; freed on drop.
pub struct Slot {
    table: Arc<Table>,
    id: u64,
    pub state: Arc<State>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.table.open.lock() {
            open.retain(|(id, _)| *id != self.id);
        }
    }
}

/// What [`Table::admit`] decided for a new connection.
pub enum Admission {
    Admitted(Slot),
    /// Every slot is answering a request: the new connection is closed.
    Full,
}

impl Table {
    pub fn new(limits: Limits) -> Arc<Table> {
        Arc::new(Table {
            limits,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(Vec::new()),
        })
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.open.lock().map(|o| o.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Admits a new connection, evicting the longest-idle one when the table is full.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let Ok(mut open) = self.open.lock() else {
            return Admission::Full;
        };
        if open.len() >= self.limits.max_connections.max(1) {
            let victim = open
                .iter()
                .enumerate()
                .filter(|(_, (_, s))| s.evictable())
                .min_by_key(|(_, (_, s))| s.last_activity.load(Ordering::SeqCst))
                .map(|(i, _)| i);
            let Some(i) = victim else {
                return Admission::Full;
            };
            let (_, state) = open.swap_remove(i);
            state.close.notify_one();
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let state = Arc::new(State::new(self.epoch));
        open.push((id, state.clone()));
        Admission::Admitted(Slot {
            table: self.clone(),
            id,
            state,
        })
    }
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

    fn limits(max: usize) -> Limits {
        Limits {
            read_header_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(5),
            max_connections: max,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_closes_after_the_header_timeout() {
        let table = Table::new(limits(4));
        let Admission::Admitted(slot) = table.admit() else {
            panic!("admitted")
        };
        let start = Instant::now();
        watchdog(slot.state.clone(), *table.limits()).await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(2) && waited < Duration::from_millis(2100));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_request_the_idle_timeout_applies() {
        let table = Table::new(limits(4));
        let Admission::Admitted(slot) = table.admit() else {
            panic!("admitted")
        };
        slot.state.request_started();
        slot.state.request_ended();
        let start = Instant::now();
        watchdog(slot.state.clone(), *table.limits()).await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_secs(5) && waited < Duration::from_millis(5100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_being_answered_is_not_timed_out_by_the_read_limits() {
        let table = Table::new(limits(4));
        let Admission::Admitted(slot) = table.admit() else {
            panic!("admitted")
        };
        slot.state.request_started();
        let dog = tokio::spawn(watchdog(slot.state.clone(), *table.limits()));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!dog.is_finished());
        dog.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_with_nothing_to_send_do_not_keep_a_connection_alive() {
        use tokio::io::AsyncWriteExt;
        let table = Table::new(limits(4));
        let Admission::Admitted(slot) = table.admit() else {
            panic!("admitted")
        };
        let (a, _b) = tokio::io::duplex(64);
        let mut io = TimedIo::new(a, slot.state.clone());
        let dog = tokio::spawn(watchdog(slot.state.clone(), *table.limits()));
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

    #[test]
    fn a_full_table_evicts_the_longest_idle_and_refuses_when_all_are_busy() {
        let table = Table::new(limits(2));
        let Admission::Admitted(a) = table.admit() else {
            panic!("a")
        };
        let Admission::Admitted(b) = table.admit() else {
            panic!("b")
        };
        b.state.request_started();
        // a is idle: it makes room for c.
        let Admission::Admitted(c) = table.admit() else {
            panic!("c")
        };
        assert_eq!(table.len(), 2);
        drop(a);
        assert_eq!(table.len(), 2, "a was already out of the table");
        c.state.request_started();
        assert!(matches!(table.admit(), Admission::Full));
        drop((b, c));
        assert_eq!(table.len(), 0);
    }
}
