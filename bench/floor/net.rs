//! The floor's two kinds of I/O, behind one interface so the cycle is written once: blocking
//! sockets (a thread per instance, each wait one blocking `recv`) and tokio's (the agent's
//! runtime, reactor and TLS adapter).

use rustls::pki_types::ServerName;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Connecting and securing connections to 127.0.0.1.
pub trait Net {
    type Plain: AsyncRead + AsyncWrite + Unpin;
    type Tls: AsyncRead + AsyncWrite + Unpin;
    async fn connect(&self, port: u16) -> Result<Self::Plain, String>;
    async fn tls(&self, plain: Self::Plain) -> Result<Self::Tls, String>;
}

fn server_name() -> Result<ServerName<'static>, String> {
    ServerName::try_from("mail.example.test").map_err(|e| e.to_string())
}

/// Blocking sockets, presented as always-ready async I/O: every poll blocks in its syscall, so
/// a cycle driven by `futures::executor::block_on` makes the same syscalls a blocking client does.
pub struct Blocking(pub Arc<rustls::ClientConfig>);

pub struct Ready<T>(T);

impl<T: Read + Unpin> AsyncRead for Ready<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.0.read(buf.initialize_unfilled())?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: Write + Unpin> AsyncWrite for Ready<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.0.write(buf))
    }
    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.0.flush())
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

type BlockingTls = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

impl Net for Blocking {
    type Plain = Ready<std::net::TcpStream>;
    type Tls = Ready<BlockingTls>;

    async fn connect(&self, port: u16) -> Result<Self::Plain, String> {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("connect {port}: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        Ok(Ready(tcp))
    }

    async fn tls(&self, plain: Self::Plain) -> Result<Self::Tls, String> {
        let conn = rustls::ClientConnection::new(self.0.clone(), server_name()?)
            .map_err(|e| e.to_string())?;
        let mut s = rustls::StreamOwned::new(conn, plain.0);
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| format!("handshake: {e}"))?;
        }
        Ok(Ready(s))
    }
}

/// tokio's sockets and tokio-rustls, on the runtime the caller runs.
pub struct Tokio(pub tokio_rustls::TlsConnector);

impl Net for Tokio {
    type Plain = tokio::net::TcpStream;
    type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

    async fn connect(&self, port: u16) -> Result<Self::Plain, String> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map_err(|e| format!("connect {port}: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(tcp)
    }

    async fn tls(&self, plain: Self::Plain) -> Result<Self::Tls, String> {
        self.0
            .connect(server_name()?, plain)
            .await
            .map_err(|e| format!("handshake: {e}"))
    }
}
