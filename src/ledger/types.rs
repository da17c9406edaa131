//! The values the ledger records and returns.

pub use crate::vocab::Outcome;
use std::time::Duration;

/// Which probe instance a canary belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner {
    pub probe: String,
    pub client: String,
    pub region: String,
}

impl Owner {
    /// `probe/client/region`, as carried in the canary's header.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.probe, self.client, self.region)
    }
}

/// A canary about to be sent.
#[derive(Debug, Clone)]
pub struct NewCanary {
    pub id: String,
    pub owner: Owner,
    pub sent_at: f64,
    pub deadline: Duration,
    pub lost_after: Duration,
}

/// A canary still being watched for.
#[derive(Debug, Clone, PartialEq)]
pub struct Open {
    pub id: String,
    pub state: String,
    pub sent_at: f64,
    pub accepted_at: Option<f64>,
    pub uids: Vec<u32>,
}

/// What a sighting did to the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub outcome: Outcome,
    /// Accepted (or sent, if acceptance was never recorded) → seen.
    pub delay: f64,
    /// When SMTP accepted it (or it was sent, if acceptance was never recorded), unix seconds.
    pub accepted_at: f64,
}

/// A sentinel as recorded when planted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    /// `probe/n`, the value of the sentinel header.
    pub name: String,
    /// Hex SHA-256 of the message bytes as the server returned them after APPEND.
    pub sha256: String,
    pub size: usize,
    /// Flags it was planted with, sorted (system flags like `\Seen`).
    pub flags: Vec<String>,
}
