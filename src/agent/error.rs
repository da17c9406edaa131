//! Why the agent could not start, or refused a reload. All of it is local to the agent (its
//! config, its files, its port); none of it is a failure of the mail service.

use crate::config::ConfigErrors;
use crate::ledger::LedgerError;
use crate::secret::SecretError;
use crate::tls::TlsSetupError;
use crate::web::WebError;
use std::net::SocketAddr;

/// A fault that stops the agent starting, or a reload being applied.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The config has errors; rendered one per line, as `mailcanary check` prints them.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("canary HMAC key: {0}")]
    HmacKey(SecretError),
    #[error("metrics: {0}")]
    Metrics(prometheus::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Web(#[from] WebError),
    #[error("cannot install signal handler: {0}")]
    Signal(std::io::Error),
    /// A reload that changes what is fixed for the life of the process.
    #[error("region, listen_address and ledger_path only change with a restart")]
    RestartOnly,
}
