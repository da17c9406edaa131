//! TCP connect, TLS upgrade, and the classification of network errors they share.
//!
//! [`Conn`] is a connection that is either plain or TLS, so one session type serves every TLS
//! mode; [`SharedConn`] lets the SMTP client's connection be upgraded in place by STARTTLS while
//! the SMTP library holds it. Every socket gets TCP_NODELAY: without it, small protocol writes
//! wait for delayed ACKs and the latency exported would measure the kernel, not the server.

use super::recorder::Recorder;
use super::{Failure, Reason, Stage};
use crate::config::profiles::ProtoProfile;
use crate::config::{Endpoint, TlsMode};
use crate::tls::TlsContext;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

pub use crate::vocab::classify_io;

/// Resolves `host` (an address needs no lookup) into socket addresses.
pub async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, Failure> {
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Failure::new(Stage::Dns, Reason::TempFail, format!("{host}: {e}")))?
        .collect();
    super::dns::with_address(host, addrs)
}

/// Whether `host` needs a DNS lookup.
pub fn needs_dns(host: &str) -> bool {
    host.trim_matches(['[', ']']).parse::<IpAddr>().is_err()
}

/// Connects to the first address that answers, with TCP_NODELAY set (best effort: a socket
/// the server has already reset refuses the option, and the reset then shows on first read).
pub async fn connect(addrs: &[SocketAddr], stage: Stage) -> Result<TcpStream, Failure> {
    let mut last = Failure::new(stage, Reason::Internal, "no address to connect to");
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Failure::new(stage, classify_io(&e), format!("{addr}: {e}")),
        }
    }
    Err(last)
}

/// Connects as step `stage` (`connect` or `imap_connect`), under the step deadline.
///
/// A reset reported by `connect()` itself means the TCP handshake completed and the server
/// reset the connection before we read from it (a SYN that meets a closed port is *refused*,
/// never reset). Whether the kernel reports that reset to `connect()` or to the first read is a
/// race, so it is recorded the same way in both cases: `stage` succeeded and `next` (the
/// greeting, or the TLS handshake for implicit TLS) failed with `reset`.
pub async fn connect_step(
    rec: &mut Recorder,
    addrs: &[SocketAddr],
    stage: Stage,
    next: Stage,
) -> Result<TcpStream, Failure> {
    let res = rec
        .step(stage, async {
            match connect(addrs, stage).await {
                Ok(s) => Ok(Ok(s)),
                Err(f) if f.reason == Reason::Reset => Ok(Err(f.detail)),
                Err(f) => Err(f),
            }
        })
        .await?;
    match res {
        Ok(s) => Ok(s),
        Err(detail) => {
            let failure = rec.clean(Failure::new(next, Reason::Reset, detail));
            let now = tokio::time::Instant::now();
            rec.record(next, now, now, Err(failure.clone()));
            Err(failure)
        }
    }
}

/// The stages of one protocol's connection set-up.
#[derive(Debug, Clone, Copy)]
pub struct OpenStages {
    pub connect: Stage,
    pub tls: Stage,
    pub greeting: Stage,
}

/// Where a connection went: its port and the name its certificate must carry (the endpoint's
/// `tls_server_name`, else its host, else — found by MX — the MX host).
#[derive(Debug, Clone)]
pub struct Target {
    pub port: u16,
    pub server_name: String,
}

/// Resolves (a timed `dns` step for a name, or the MX lookup for `mx_domain`), connects, and
/// for implicit TLS does the handshake, recording the certificate's expiry.
pub async fn open(
    rec: &mut Recorder,
    tls: &TlsContext,
    ep: &Endpoint,
    proto: &ProtoProfile,
    stages: OpenStages,
) -> Result<(Conn, Target), Failure> {
    let port = ep.port(proto.tls, proto.port);
    let (addrs, server_name) = if let Some(domain) = &ep.mx_domain {
        let budget = rec.budget();
        let (host, addrs) = rec
            .step(
                Stage::Dns,
                super::dns::resolve_mx(domain, &ep.dns_servers, port, budget),
            )
            .await?;
        rec.note(&format!(
            "MX {domain} → {host} ({} address(es))",
            addrs.len()
        ));
        let name = ep.tls_server_name.clone().unwrap_or(host);
        (addrs, name)
    } else if needs_dns(&ep.host) {
        (
            rec.step(Stage::Dns, resolve(&ep.host, port)).await?,
            ep.server_name().to_string(),
        )
    } else {
        (resolve(&ep.host, port).await?, ep.server_name().to_string())
    };
    let target = Target { port, server_name };
    let implicit = proto.tls == TlsMode::Implicit;
    let next = if implicit {
        stages.tls
    } else {
        stages.greeting
    };
    let tcp = connect_step(rec, &addrs, stages.connect, next).await?;
    if !implicit {
        return Ok((Conn::Plain(tcp), target));
    }
    let (s, expiry) = rec
        .step(
            stages.tls,
            handshake(tls, tcp, &target.server_name, stages.tls),
        )
        .await?;
    record_cert(rec, ep, port, expiry);
    Ok((Conn::Tls(Box::new(s)), target))
}

/// Notes the leaf certificate's notAfter for the `endpoint` label (`host:port`).
pub fn record_cert(rec: &mut Recorder, ep: &Endpoint, port: u16, not_after: Option<i64>) {
    if let Some(t) = not_after {
        rec.certs.push((format!("{}:{port}", ep.host), t));
    }
}

/// TLS handshake as step `stage`; returns the stream and the leaf certificate's notAfter.
pub async fn handshake(
    tls: &TlsContext,
    tcp: TcpStream,
    server_name: &str,
    stage: Stage,
) -> Result<(TlsStream<TcpStream>, Option<i64>), Failure> {
    tls.handshake(tcp, server_name)
        .await
        .map_err(|(reason, detail)| Failure::new(stage, reason, detail))
}

/// A client connection, plain or TLS.
pub type Conn = crate::stream::MaybeTls<TlsStream<TcpStream>>;

/// A [`Conn`] shared between the SMTP library, which reads and writes it, and the probe, which
/// swaps a plain connection for a TLS one after STARTTLS. Also notes when the first byte was
/// written, which separates the wait for the greeting from the EHLO exchange.
#[derive(Debug, Clone)]
pub struct SharedConn {
    inner: Arc<Mutex<Conn>>,
    first_write: Arc<Mutex<Option<tokio::time::Instant>>>,
}

impl SharedConn {
    pub fn new(conn: Conn) -> Self {
        SharedConn {
            inner: Arc::new(Mutex::new(conn)),
            first_write: Arc::new(Mutex::new(None)),
        }
    }

    /// When the client first wrote to this connection (i.e. when the greeting had been read).
    pub fn first_write(&self) -> Option<tokio::time::Instant> {
        self.first_write.lock().ok().and_then(|g| *g)
    }

    /// Takes the plain TCP stream out for a TLS handshake; `None` if it is not plain.
    pub fn take_plain(&self) -> Option<TcpStream> {
        let mut guard = self.inner.lock().ok()?;
        match std::mem::replace(&mut *guard, Conn::Gone) {
            Conn::Plain(s) => Some(s),
            other => {
                *guard = other;
                None
            }
        }
    }

    /// Puts the upgraded stream back.
    pub fn put_tls(&self, tls: TlsStream<TcpStream>) {
        if let Ok(mut guard) = self.inner.lock() {
            *guard = Conn::Tls(Box::new(tls));
        }
    }

    fn with<R>(
        &self,
        f: impl FnOnce(Pin<&mut Conn>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match self.inner.lock() {
            Ok(mut guard) => f(Pin::new(&mut *guard)),
            Err(_) => Poll::Ready(Err(io::Error::other("connection lock poisoned"))),
        }
    }
}

impl AsyncRead for SharedConn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(|c| c.poll_read(cx, buf))
    }
}

impl AsyncWrite for SharedConn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        if let Ok(mut fw) = self.first_write.lock() {
            fw.get_or_insert_with(tokio::time::Instant::now);
        }
        self.with(|c| c.poll_write(cx, b))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|c| c.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|c| c.poll_shutdown(cx))
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for SharedConn {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner
            .lock()
            .map_err(|_| io::Error::other("connection lock poisoned"))?
            .peer_addr()
    }
}
