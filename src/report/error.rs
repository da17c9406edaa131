//! Why `mailcanary report` could not produce a report.

use crate::config::ConfigErrors;
use crate::ledger::LedgerError;
use std::path::PathBuf;

/// A report that could not be built or printed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("no ledger at {} (has the agent run?)", .0.display())]
    NoLedger(PathBuf),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// `--since` as given.
    #[error(
        "--since {0:?}: expected a duration (6h, 2days), a time (2023-01-22T00:00:00Z) or unix seconds (0 to 253402300799)"
    )]
    Since(String),
    /// `--until` as given.
    #[error(
        "--until {0:?}: expected a duration back from now (10m), a time (2023-01-22T00:00:00Z) or unix seconds (0 to 253402300799)"
    )]
    Until(String),
    /// An `--agent` URL that cannot be used (shown without credentials).
    #[error("--agent {url}: {why}")]
    AgentUrl { url: String, why: String },
    /// `--agent.user` without a password, a password without `--agent.user`, an unreadable
    /// password, or an unusable `--agent.ca-file`.
    #[error("{0}")]
    AgentOptions(String),
    /// Some agents did not answer; the report was printed without them.
    #[error("report incomplete: {missing} of {agents} agents did not answer")]
    Incomplete { missing: usize, agents: usize },
    #[error("cannot encode the report as JSON: {0}")]
    Json(serde_json::Error),
}
