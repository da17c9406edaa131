//! The values the ledger records and returns.

use std::time::Duration;

/// How a canary ended, as counted in `mailcanary_canaries_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    OnTime,
    Late,
    Lost,
    Recovered,
    Duplicate,
    Corrupt,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::OnTime,
        Outcome::Late,
        Outcome::Lost,
        Outcome::Recovered,
        Outcome::Duplicate,
        Outcome::Corrupt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::OnTime => "on_time",
            Outcome::Late => "late",
            Outcome::Lost => "lost",
            Outcome::Recovered => "recovered",
            Outcome::Duplicate => "duplicate",
            Outcome::Corrupt => "corrupt",
        }
    }
}

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
}
