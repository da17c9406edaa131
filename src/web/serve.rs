//! Serving the router over HTTP/1.1, or HTTPS when the web config asks for it, every connection
//! under the [`Limits`] of `conn.rs`: a bounded number open at once, each closed when it idles,
//! dribbles its headers or stops reading its response; requests bounded in size.

use super::conn::{watchdog, Limits, State, TimedIo};
use super::security::Security;
use super::table::{Admission, Table};
use super::WebError;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The read buffer of a connection, which bounds a request's line and headers (hyper answers
/// 431 past it); hyper's smallest allowed value.
pub const MAX_HEADER_BYTES: usize = 8192;
/// Headers in one request, at most (431 past it).
pub const MAX_HEADERS: usize = 64;
/// A request body larger than this is refused (413); no endpoint reads a body.
pub const MAX_BODY_BYTES: u64 = 64 * 1024;
/// How often a connection refused for want of a free slot is logged, at most.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// Refuses (413) a request announcing a body larger than [`MAX_BODY_BYTES`]. Bodies sent
/// without a length are never read by any handler.
pub async fn limit_body(req: Request, next: Next) -> Response {
    let too_big = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES);
    if too_big {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response();
    }
    next.run(req).await
}

/// Serves `app` on `listener` until `shutdown` resolves; then lets open requests finish (the
/// caller bounds how long it waits).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    security: Arc<Security>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let table = Table::new(limits);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut refused: (u64, Option<tokio::time::Instant>) = (0, None);
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of descriptors, typically: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match table.admit() {
            Admission::Admitted(slot) => slot,
            Admission::Full => {
                drop(tcp);
                refused.0 = refused.0.saturating_add(1);
                let due = refused.1.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY);
                if due {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        refused = refused.0,
                        "every HTTP connection slot is answering a request: new connections closed"
                    );
                    refused = (0, Some(tokio::time::Instant::now()));
                }
                continue;
            }
        };
        let (app, security, stop) = (app.clone(), security.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let state = slot.state.clone();
            connection(tcp, state, app, security, limits, stop).await;
            drop(slot);
        });
        // Let the connection read its request before the next accept: under a flood of
        // connections the accept loop would otherwise run on, and a scraper's connection could be
        // evicted as idle before its request, already sent, was ever read.
        tokio::task::yield_now().await;
    }
    let _ = stop_tx.send(true);
    while !table.is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// One connection: the TLS handshake when configured, then HTTP/1.1 until the client leaves,
/// a limit is passed, or the server stops.
async fn connection(
    tcp: TcpStream,
    state: Arc<State>,
    app: Router,
    security: Arc<Security>,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let io = TimedIo::new(tcp, state.clone());
    let dog = watchdog(state.clone(), limits);
    tokio::pin!(dog);
    let Some(active) = security.active() else {
        return;
    };
    match &active.tls {
        None => http(io, state, app, dog, stop).await,
        Some(acceptor) => {
            let tls = tokio::select! {
                _ = &mut dog => return,
                tls = acceptor.accept(io) => tls,
            };
            if let Ok(tls) = tls {
                http(tls, state, app, dog, stop).await;
            }
        }
    }
}

async fn http<I>(
    io: I,
    state: Arc<State>,
    app: Router,
    mut dog: Pin<&mut impl Future<Output = ()>>,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = Tracked {
        inner: hyper_util::service::TowerToHyperService::new(app),
        state,
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The watchdog times headers and idleness apart; hyper's timer would cut both at once.
        .header_read_timeout(None)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = &mut dog => {}
        _ = async { stop.wait_for(|s| *s).await.is_ok() } => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = &mut dog => {}
            }
        }
    }
}

/// The router as a hyper service that tells the connection's [`State`] when a request is
/// being answered (the watchdog's read limits do not apply then).
struct Tracked<S> {
    inner: S,
    state: Arc<State>,
}

/// Marks a request answered when dropped, whether its future finished or was cancelled.
struct InFlight(Arc<State>);

impl InFlight {
    fn new(state: Arc<State>) -> InFlight {
        state.request_started();
        InFlight(state)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for Tracked<S>
where
    S: hyper::service::Service<hyper::Request<Incoming>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let guard = InFlight::new(self.state.clone());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let _guard = guard;
            fut.await
        })
    }
}
