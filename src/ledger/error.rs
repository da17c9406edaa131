//! What can go wrong with the ledger: all of it local to the agent (disk, SQLite, the ledger's
//! own thread), never the mail service. Probe code turns these into a failure of kind
//! `internal` in one place (`probe::fault`).

use std::path::PathBuf;

/// A ledger operation that failed, and what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot create ledger directory {}: {source}", .dir.display())]
    CreateDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open ledger {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A statement failed; `doing` says which ledger operation it belonged to.
    #[error("ledger: {doing}: {source}")]
    Sql {
        doing: &'static str,
        source: rusqlite::Error,
    },
    #[error("ledger thread: {0}")]
    Thread(std::io::Error),
    #[error("ledger lock poisoned")]
    Poisoned,
    #[error("ledger thread stopped")]
    Stopped,
}

impl LedgerError {
    /// A failed statement of the operation `doing`, for `map_err`.
    pub(super) fn sql(doing: &'static str) -> impl FnOnce(rusqlite::Error) -> LedgerError {
        move |source| LedgerError::Sql { doing, source }
    }
}
