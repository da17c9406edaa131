//! TLS client setup shared by the SMTP and IMAP sides.
//!
//! One rustls `ClientConfig` per agent, built with the `ring` provider explicitly (never the
//! process default, so two TLS stacks in one binary cannot disagree), trusting the web PKI roots
//! plus the operator's own CA file for private servers. Handshake errors are classified here:
//! a certificate problem (expired, wrong name, untrusted) is `cert_invalid`, anything else in
//! the handshake is `tls_handshake`.

use crate::vocab::{classify_io, Reason};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Why the TLS client configuration could not be built: the operator's CA file, mostly.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA file {}: {source}", .path.display())]
    CaUnreadable {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("bad PEM in CA file {}: {source}", .path.display())]
    BadPem {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("bad certificate in CA file {}: {source}", .path.display())]
    BadCertificate {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("CA file {} holds no certificate", .0.display())]
    NoCertificate(PathBuf),
    #[error("TLS setup: {0}")]
    Provider(rustls::Error),
}

/// The agent's TLS client configuration.
#[derive(Clone)]
pub struct TlsContext {
    connector: TlsConnector,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsContext")
    }
}

impl TlsContext {
    /// Web PKI roots, plus every certificate in `ca_file` when given.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, TlsSetupError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let certs = CertificateDer::pem_file_iter(path).map_err(|source| {
                TlsSetupError::CaUnreadable {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            let mut added = 0;
            for cert in certs {
                let cert = cert.map_err(|source| TlsSetupError::BadPem {
                    path: path.to_path_buf(),
                    source,
                })?;
                roots
                    .add(cert)
                    .map_err(|source| TlsSetupError::BadCertificate {
                        path: path.to_path_buf(),
                        source,
                    })?;
                added += 1;
            }
            if added == 0 {
                return Err(TlsSetupError::NoCertificate(path.to_path_buf()));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsSetupError::Provider)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsContext {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// The client configuration every handshake of the agent uses (the benchmarks' floor
    /// client uses it too, so both verify and negotiate alike).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.connector.config().clone()
    }

    /// Performs the client handshake over `tcp`, verifying the certificate for `server_name`.
    /// On success also returns the leaf certificate's notAfter (unix seconds) when readable.
    pub async fn handshake(
        &self,
        tcp: TcpStream,
        server_name: &str,
    ) -> Result<(TlsStream<TcpStream>, Option<i64>), (Reason, String)> {
        let name = ServerName::try_from(server_name.to_string()).map_err(|_| {
            (
                Reason::Internal,
                format!("{server_name:?} is not a valid TLS server name"),
            )
        })?;
        let stream = self
            .connector
            .connect(name, tcp)
            .await
            .map_err(|e| classify_handshake(&e))?;
        let expiry = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|leaf| not_after(leaf.as_ref()));
        Ok((stream, expiry))
    }
}

/// notAfter of a DER certificate, as unix seconds.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// Classifies an error from a TLS handshake.
pub fn classify_handshake(e: &std::io::Error) -> (Reason, String) {
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        let reason = match tls {
            rustls::Error::InvalidCertificate(_) => Reason::CertInvalid,
            _ => Reason::TlsHandshake,
        };
        return (reason, tls.to_string());
    }
    let reason = match classify_io(e) {
        Reason::Timeout => Reason::Timeout,
        Reason::Reset => Reason::Reset,
        _ => Reason::TlsHandshake,
    };
    (reason, e.to_string())
}

/// Whether an error (anywhere in its source chain) is a rustls certificate rejection.
pub fn find_tls_error(e: &(dyn std::error::Error + 'static)) -> Option<Reason> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(match tls {
                rustls::Error::InvalidCertificate(_) => Reason::CertInvalid,
                _ => Reason::TlsHandshake,
            });
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                cur = Some(inner);
                continue;
            }
        }
        cur = err.source();
    }
    None
}
