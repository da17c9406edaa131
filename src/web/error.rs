//! Errors of the HTTP side: setting it up (web config file, basic auth, HTTPS).

use crate::secret::SecretError;
use std::fmt;
use std::path::PathBuf;

/// The HTTP side could not be set up, or stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("web basic auth password: {0}")]
    BasicAuthPassword(SecretError),
    #[error("web TLS certificate {}: {source}", .path.display())]
    Certificate {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("web TLS key {}: {source}", .path.display())]
    Key {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("web TLS: {0}")]
    Tls(rustls::Error),
    #[error("web TLS client CA {}: {message}", .path.display())]
    ClientCa { path: PathBuf, message: String },
    /// The web config file (`--web.config.file`) cannot be read or is invalid.
    #[error("web config {}: {message}", .path.display())]
    Config { path: PathBuf, message: String },
    #[error(
        "both --web.config.file and the [web] section of the config are set: keep only the \
         web config file (the [web] section is deprecated)"
    )]
    BothWebConfigs,
}

/// Why the agent refused a reload, for `POST /-/reload` to show. The agent's error type sits in
/// a layer above this one, so it crosses the reload channel as the error it is, unnamed; the
/// endpoint only displays it.
#[derive(Debug)]
pub struct ReloadRejected(Box<dyn std::error::Error + Send + Sync>);

impl ReloadRejected {
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ReloadRejected(Box::new(e))
    }
}

impl fmt::Display for ReloadRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ReloadRejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
