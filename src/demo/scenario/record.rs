//! What the Libero replay records in `scenario.json`: phase times, the windows in which logins
//! failed and mail was swallowed, and every delivery of both servers, so a test can recompute
//! which canaries were late or lost and compare with `mailcanary report`.

use serde::Serialize;

/// What the scenario did, written to `scenario.json`. Times are unix seconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Record {
    pub scenario: String,
    pub speed: f64,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    pub interval_s: f64,
    pub deadline_s: f64,
    pub lost_after_s: f64,
    /// Start of each phase reached so far.
    pub phases: Vec<PhaseRecord>,
    /// Mail accepted in `[from, until)` is never delivered (either server).
    pub swallowing: Window,
    pub servers: Vec<ServerRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PhaseRecord {
    pub number: u32,
    pub title: String,
    pub started_at: f64,
}

/// A time window; `until` is `None` while open.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Window {
    pub from: Option<f64>,
    pub until: Option<f64>,
}

/// One embedded server: the client profiles routed to it and what it delivered.
#[derive(Debug, Clone, Serialize)]
pub struct ServerRecord {
    pub name: String,
    pub clients: Vec<String>,
    /// IMAP logins fail with `NO [UNAVAILABLE]` (POP3 logins with `-ERR [SYS/TEMP]`) in this
    /// window.
    pub login_broken: Window,
    /// Messages delivered from the queue at the restore.
    pub released: usize,
    pub deliveries: Vec<DeliveryRecord>,
}

/// One delivery from the server's log.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRecord {
    /// The canary id (`X-Mailcanary-Id`).
    pub tracking_id: Option<String>,
    pub queue_id: String,
    pub accepted_at: f64,
    pub visible_at: f64,
}

/// The record could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot encode the scenario record: {0}")]
    Encode(serde_json::Error),
    #[error("cannot write the scenario record {}: {source}", .path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}
