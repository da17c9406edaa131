//! One accepted connection, plain or TLS, with everything the protocol sessions need from the
//! socket: reads and writes under timeouts and the shutdown signal, line reading with a
//! length cap, STARTTLS upgrade, and the socket-level fault behaviours (drip, garbage, flood,
//! RST via SO_LINGER 0, FIN close, stall).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_rustls::server::TlsStream;

/// Bytes sent by the `Garbage` action: not SMTP, not IMAP, not even text.
pub(crate) const GARBAGE: &[u8] =
    b"\x00\xff\xfe\x16\x03GARBAGE\x7f\x80 not a mail protocol reply \x01\x02\r\n";

/// What a protocol session does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// Close cleanly (FIN).
    Close,
    /// Abort with RST.
    Abort,
}

/// A protocol's last words to a client when its session ends on an error.
pub(crate) struct Farewell {
    /// Sent when the server is shutting down.
    pub shutdown: &'static [u8],
    /// Sent when the client stayed silent past the I/O timeout.
    pub idle: &'static [u8],
}

/// Reply text from a fault's configuration, on one line and never empty.
pub(crate) fn one_line(text: &str) -> String {
    let t: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    if t.is_empty() {
        "Error".to_string()
    } else {
        t
    }
}

/// A plain TCP stream or a server-side TLS stream over one.
pub(crate) type IoStream = crate::stream::MaybeTls<TlsStream<TcpStream>>;

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

fn shutting_down() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "server shutting down")
}

/// Outcome of reading one line.
pub(crate) enum Line {
    /// The line including its terminating LF.
    Full(Vec<u8>),
    /// The line exceeded the cap; it was discarded up to and including its LF.
    TooLong,
    /// The peer closed the connection.
    Eof,
}

/// An accepted connection with a read buffer and its timeouts.
pub(crate) struct Conn {
    stream: IoStream,
    /// Bytes read but not yet consumed (SMTP line/data reading).
    pub buf: Vec<u8>,
    pub io_timeout: Duration,
    shutdown: watch::Receiver<bool>,
}

impl Conn {
    pub fn new(stream: IoStream, io_timeout: Duration, shutdown: watch::Receiver<bool>) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
            io_timeout,
            shutdown,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, IoStream::Tls(_))
    }

    /// TLS handshake on an accepted TCP stream, under `io_timeout`.
    pub async fn accept_tls(
        tcp: TcpStream,
        config: Arc<rustls::ServerConfig>,
        io_timeout: Duration,
    ) -> io::Result<IoStream> {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        match timeout(io_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Ok(IoStream::Tls(Box::new(tls))),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(timed_out("TLS handshake")),
        }
    }

    /// STARTTLS: handshake over the plain stream; buffered plaintext input is discarded (a
    /// client must not pipeline past STARTTLS, and keeping it would allow command injection).
    /// Also used for implicit TLS right after accept.
    pub async fn upgrade(&mut self, config: Arc<rustls::ServerConfig>) -> io::Result<()> {
        self.buf.clear();
        match std::mem::replace(&mut self.stream, IoStream::Gone) {
            IoStream::Plain(tcp) => {
                self.stream = Conn::accept_tls(tcp, config, self.io_timeout).await?;
                Ok(())
            }
            other => {
                self.stream = other;
                Err(io::Error::other("not a plain connection"))
            }
        }
    }

    /// Read once (appending to `buf`) with the given timeout. Ok(0) means EOF.
    pub async fn read_some_for(&mut self, limit: Duration) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            r = timeout(limit, self.stream.read(&mut chunk)) => match r {
                Ok(Ok(n)) => { self.buf.extend_from_slice(&chunk[..n]); Ok(n) }
                Ok(Err(e)) => Err(e),
                Err(_) => Err(timed_out("read")),
            },
            _ = crate::demo::stopped(&mut shutdown) => Err(shutting_down()),
        }
    }

    /// Read once with the normal I/O timeout.
    pub async fn read_some(&mut self) -> io::Result<usize> {
        self.read_some_for(self.io_timeout).await
    }

    /// Read one line (up to LF) of at most `max` bytes.
    pub async fn read_line(&mut self, max: usize) -> io::Result<Line> {
        let mut too_long = false;
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Ok(if too_long || line.len() > max {
                    Line::TooLong
                } else {
                    Line::Full(line)
                });
            }
            if self.buf.len() > max {
                too_long = true;
                self.buf.clear();
            }
            if self.read_some().await? == 0 {
                return Ok(Line::Eof);
            }
        }
    }

    /// Write all bytes (and flush) under the I/O timeout.
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut shutdown = self.shutdown.clone();
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        tokio::select! {
            r = timeout(self.io_timeout, write) => r.map_err(|_| timed_out("write"))?,
            _ = crate::demo::stopped(&mut shutdown) => Err(shutting_down()),
        }
    }

    /// Best-effort last words at shutdown: ignores the shutdown signal, 1 s timeout.
    pub async fn write_final(&mut self, bytes: &[u8]) {
        let write = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        let _ = timeout(Duration::from_secs(1), write).await;
    }

    /// True once the server is shutting down.
    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Write one byte per `interval`.
    pub async fn write_dripped(&mut self, bytes: &[u8], interval: Duration) -> io::Result<()> {
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 {
                let mut shutdown = self.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = crate::demo::stopped(&mut shutdown) => return Err(shutting_down()),
                }
            }
            self.write_all(std::slice::from_ref(b)).await?;
        }
        Ok(())
    }

    /// Write normally, or dripped when `drip` is set.
    pub async fn send(&mut self, bytes: &[u8], drip: Option<Duration>) -> io::Result<()> {
        match drip {
            Some(interval) => self.write_dripped(bytes, interval).await,
            None => self.write_all(bytes).await,
        }
    }

    /// Sends `head`, then `fill` repeated up to `total` bytes (`None`: until the client hangs
    /// up), then `tail`, from one 64 KiB buffer so the server's memory stays flat. The client
    /// hanging up mid-way is what a flood expects: that ends it, and is not an error.
    pub async fn flood(
        &mut self,
        head: &[u8],
        fill: &[u8],
        total: Option<u64>,
        tail: &[u8],
    ) -> io::Result<()> {
        const CHUNK: usize = 64 * 1024;
        if fill.is_empty() {
            return Err(io::Error::other("flood: empty fill"));
        }
        let mut chunk = Vec::with_capacity(CHUNK + fill.len());
        while chunk.len() < CHUNK {
            chunk.extend_from_slice(fill);
        }
        if self.write_all(head).await.is_err() {
            return Ok(());
        }
        let mut left = total;
        loop {
            let n = match left {
                Some(0) => break,
                Some(l) => usize::try_from(l).unwrap_or(usize::MAX).min(chunk.len()),
                None => chunk.len(),
            };
            if self.write_all(&chunk[..n]).await.is_err() {
                return Ok(());
            }
            left = left.map(|l| l.saturating_sub(n as u64));
        }
        let _ = self.write_all(tail).await;
        Ok(())
    }

    /// Arm a TCP RST: SO_LINGER 0, so that dropping the connection sends RST, not FIN.
    /// The caller must drop the `Conn` next (and must not `close` it).
    pub fn arm_reset(&mut self) {
        if let Some(tcp) = self.stream.tcp() {
            let _ = socket2::SockRef::from(tcp).set_linger(Some(Duration::ZERO));
        }
    }

    /// Ends a `protocol` session with what its command loop returned: after an error, the
    /// farewell that fits (shutdown or inactivity; none for other errors); then an RST for
    /// [`Flow::Abort`], a clean close otherwise.
    pub async fn end(&mut self, ended: io::Result<Flow>, protocol: &str, farewell: Farewell) {
        let flow = match ended {
            Ok(flow) => flow,
            Err(e) => {
                tracing::debug!(error = %e, protocol, "session ended");
                if self.shutting_down() {
                    self.write_final(farewell.shutdown).await;
                } else if e.kind() == io::ErrorKind::TimedOut {
                    self.write_final(farewell.idle).await;
                }
                Flow::Close
            }
        };
        match flow {
            Flow::Abort => self.arm_reset(),
            Flow::Close | Flow::Continue => self.close().await,
        }
    }

    /// Close cleanly (TLS close_notify if TLS, then FIN), without waiting long.
    pub async fn close(&mut self) {
        let _ = timeout(Duration::from_secs(1), self.stream.shutdown()).await;
    }

    /// Never answer: read and discard until EOF, error, I/O timeout or shutdown.
    pub async fn stall(&mut self) {
        loop {
            self.buf.clear();
            match self.read_some().await {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
    }
}
