//! Serving the router: plain HTTP by default, HTTPS when `[web]` names a certificate and key,
//! and HTTP basic auth (every endpoint but `/healthz`) when it names a user.

use super::WebError;
use crate::config::Web;
use crate::secret::Secret;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A TLS handshake from a client may take this long before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Wraps `protected` in basic auth when configured; `open` routes stay open.
pub fn with_auth(protected: Router, open: Router, web: &Web) -> Result<Router, WebError> {
    let Some((user, source)) = &web.basic_auth else {
        return Ok(protected.merge(open));
    };
    let password = source.load().map_err(WebError::BasicAuthPassword)?;
    let creds = Arc::new((user.clone(), password));
    Ok(protected
        .layer(middleware::from_fn_with_state(creds, basic_auth))
        .merge(open))
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

/// Compares in constant time (over fixed-length digests).
fn same(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (digest(a), digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

async fn basic_auth(
    State(creds): State<Arc<(String, Secret)>>,
    req: Request,
    next: Next,
) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok());
    let ok = given
        .as_deref()
        .and_then(|g| g.split_once(':'))
        .is_some_and(|(u, p)| {
            // Both compared, always, so the timing does not tell which one was wrong.
            let user_ok = same(u.as_bytes(), creds.0.as_bytes());
            let pass_ok = same(p.as_bytes(), creds.1.expose().as_bytes());
            user_ok & pass_ok
        });
    if ok {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"mailcanary\"")],
            "unauthorized\n",
        )
            .into_response()
    }
}

/// Builds the TLS acceptor when `[web]` asks for HTTPS, so a bad certificate stops start-up.
pub fn acceptor(web: &Web) -> Result<Option<tokio_rustls::TlsAcceptor>, WebError> {
    let Some((cert, key)) = &web.tls else {
        return Ok(None);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|source| WebError::Certificate {
            path: cert.clone(),
            source,
        })?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|source| WebError::Key {
        path: key.clone(),
        source,
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
    .map_err(WebError::Tls)?;
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}

/// Serves `app` on `listener` (over TLS with `acceptor`) until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let Some(acceptor) = acceptor else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(WebError::Serve);
    };
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_compare() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"abcd"));
    }
}
