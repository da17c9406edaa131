//! The six listeners (SMTP plain+STARTTLS, SMTPS, IMAP plain+STARTTLS, IMAPS, POP3 plain+STLS,
//! POP3S): binding on
//! loopback, the accept loop, and the `Refuse` fault, which closes a protocol's listeners so
//! connects get ECONNREFUSED, and rebinds them on the same port when the fault is cleared.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::demo::faults::Proto;
use crate::demo::{imap, pop3, smtp, Shared};

/// Which listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Smtp,
    Smtps,
    Imap,
    Imaps,
    Pop3,
    Pop3s,
}

impl Kind {
    pub fn proto(self) -> Proto {
        match self {
            Kind::Smtp | Kind::Smtps => Proto::Smtp,
            Kind::Imap | Kind::Imaps => Proto::Imap,
            Kind::Pop3 | Kind::Pop3s => Proto::Pop3,
        }
    }

    pub fn implicit_tls(self) -> bool {
        matches!(self, Kind::Smtps | Kind::Imaps | Kind::Pop3s)
    }
}

/// Bind a listener with SO_REUSEADDR (so a port can be rebound while old connections to it
/// are in TIME_WAIT).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

async fn accept(listener: &Option<TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Accept loop of one listener until shutdown.
pub(crate) async fn run(shared: Arc<Shared>, kind: Kind, listener: TcpListener, addr: SocketAddr) {
    let mut listener = Some(listener);
    let mut faults = shared.faults.subscribe();
    let mut shutdown = shared.shutdown.clone();
    loop {
        if shared.faults.refused(kind.proto()) {
            if listener.take().is_some() {
                tracing::debug!(?kind, %addr, "listener closed (Refuse fault)");
            }
        } else if listener.is_none() {
            match bind(addr) {
                Ok(l) => {
                    tracing::debug!(?kind, %addr, "listener reopened");
                    listener = Some(l);
                }
                Err(e) => {
                    tracing::warn!(?kind, %addr, error = %e, "rebinding listener failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
                        _ = crate::demo::stopped(&mut shutdown) => return,
                    }
                }
            }
        }
        tokio::select! {
            _ = crate::demo::stopped(&mut shutdown) => return,
            changed = faults.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            accepted = accept(&listener) => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    tracing::trace!(?kind, %peer, "accepted");
                    let conn_shared = shared.clone();
                    shared.spawn(async move {
                        match kind.proto() {
                            Proto::Smtp => smtp::serve(conn_shared, tcp, kind.implicit_tls()).await,
                            Proto::Imap => imap::serve(conn_shared, tcp, kind.implicit_tls()).await,
                            Proto::Pop3 => pop3::serve(conn_shared, tcp, kind.implicit_tls()).await,
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(?kind, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
}
