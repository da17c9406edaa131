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
    #[error("cannot encode the report as JSON: {0}")]
    Json(serde_json::Error),
}
