//! Faults of the agent itself met during a cycle: its ledger failing, a credential it cannot
//! read. The cycle reports them as a [`Failure`] like everything else, but such a failure must
//! never read as the mail service failing, so this is the one place that makes one: always of
//! reason `internal`, at the stage of the cycle that needed the ledger or the credential.

use crate::ledger::LedgerError;
use crate::secret::SecretError;
use crate::vocab::{Failure, Reason, Stage};

/// A fault local to the agent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LocalFault {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The endpoint's auth mechanism needs a credential the config does not name.
    #[error("no credential configured")]
    NoCredential,
}

/// The failure a local fault makes at `stage`: reason `internal`, the fault in words.
pub(crate) fn local_fault(stage: Stage, fault: impl Into<LocalFault>) -> Failure {
    Failure::new(stage, Reason::Internal, fault.into().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_fault_is_internal_at_the_stage_given() {
        let f = local_fault(Stage::Data, LedgerError::Stopped);
        assert_eq!(
            (f.stage, f.reason, f.detail.as_str()),
            (Stage::Data, Reason::Internal, "ledger thread stopped")
        );
        let f = local_fault(Stage::Auth, SecretError::EnvUnset("SMTP_PW".into()));
        assert_eq!((f.stage, f.reason), (Stage::Auth, Reason::Internal));
        assert!(f.detail.contains("SMTP_PW"), "{}", f.detail);
    }
}
