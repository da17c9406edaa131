//! A connection that bounds what the server may make the probe read.
//!
//! The protocol libraries buffer a reply until it is complete: lettre reads an SMTP line to its
//! end before it looks at its length, and async-imap reserves room for a literal as soon as
//! `{N}` is announced. [`Bounded`] sits between them and the socket and shows every byte read
//! to a [`Scan`] (one per protocol), which follows the reply structure and says when a limit is
//! crossed. The read that crosses it fails at once with an [`OverLimit`] error (kind
//! `InvalidData`, so it classifies as `protocol_error`), the offending bytes are never handed
//! on, and every later read fails the same way: the library never holds more than the limits.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Follows what a server sends and enforces the protocol's limits on it.
pub trait Scan: Unpin {
    /// Takes the bytes just read; `Err` names the limit they cross.
    fn read(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// The client wrote a command: what follows answers it.
    fn wrote(&mut self) {}
}

/// The error a read returns once the server went over a limit; its text names the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimit(pub String);

impl fmt::Display for OverLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OverLimit {}

impl OverLimit {
    /// The limit `e` reports, when `e` (or an error it wraps) is an [`OverLimit`].
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a OverLimit> {
        let mut cur = Some(e);
        while let Some(err) = cur {
            if let Some(o) = err.downcast_ref::<OverLimit>() {
                return Some(o);
            }
            if let Some(o) = err
                .downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<OverLimit>())
            {
                return Some(o);
            }
            cur = err.source();
        }
        None
    }

    fn io(&self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self.clone())
    }
}

/// A stream whose reads are checked by `S`.
#[derive(Debug)]
pub struct Bounded<T, S> {
    inner: T,
    scan: S,
    /// Set once a limit was crossed: every later read fails with it.
    over: Option<OverLimit>,
}

impl<T, S> Bounded<T, S> {
    pub fn new(inner: T, scan: S) -> Self {
        Bounded {
            inner,
            scan,
            over: None,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The stream underneath (e.g. for a TLS upgrade); the scan state is dropped with it.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin, S: Scan> AsyncRead for Bounded<T, S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(over) = &this.over {
            return Poll::Ready(Err(over.io()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = buf.filled().get(before..).unwrap_or_default();
                match this.scan.read(new) {
                    Ok(()) => Poll::Ready(Ok(())),
                    Err(limit) => {
                        // The bytes over the limit are not handed on.
                        buf.set_filled(before);
                        let over = OverLimit(limit);
                        let e = over.io();
                        this.over = Some(over);
                        Poll::Ready(Err(e))
                    }
                }
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin, S: Scan> AsyncWrite for Bounded<T, S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_write(cx, b);
        if matches!(res, Poll::Ready(Ok(n)) if n > 0) {
            this.scan.wrote();
        }
        res
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Fails once more than `max` bytes were read since the last write.
    #[derive(Debug)]
    struct AtMost {
        max: usize,
        seen: usize,
    }

    impl Scan for AtMost {
        fn read(&mut self, bytes: &[u8]) -> Result<(), String> {
            self.seen += bytes.len();
            if self.seen > self.max {
                return Err(format!("more than {} bytes", self.max));
            }
            Ok(())
        }
        fn wrote(&mut self) {
            self.seen = 0;
        }
    }

    #[tokio::test]
    async fn the_read_over_the_limit_fails_and_hands_nothing_on() {
        let (mut server, client) = tokio::io::duplex(1024);
        let mut b = Bounded::new(client, AtMost { max: 10, seen: 0 });
        server.write_all(b"12345").await.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(b.read(&mut buf).await.unwrap(), 5);
        b.write_all(b"cmd").await.unwrap();
        server.write_all(b"1234567890").await.unwrap();
        assert_eq!(
            b.read(&mut buf).await.unwrap(),
            10,
            "the write reset the count"
        );
        server.write_all(b"x").await.unwrap();
        let mut buf = ReadBuf::new(&mut buf);
        let e = std::future::poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert_eq!(buf.filled().len(), 0, "nothing past the limit is handed on");
        assert_eq!(
            OverLimit::find(&e).map(|o| o.0.as_str()),
            Some("more than 10 bytes")
        );
        // And it stays failed.
        let e = b.read(&mut [0u8; 8]).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
