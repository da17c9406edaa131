//! The agent's current view of every probe instance, for the status page and `/api/status`.
//!
//! Updated once per cycle by [`crate::events`]; read by the web handlers. Holds a short history
//! per instance (delivery times for the sparkline, recent failures) and the start of the current
//! outage, so an on-call engineer sees "down since 02:14, 37 min" rather than a bare red cell.
//!
//! Beside the per-instance board there is one process-wide [`Notice`]: a banner above the page,
//! used by `mailcanary demo --scenario` to show which phase of the replay is running. It is
//! process-wide because the agent builds its own board inside [`crate::agent::run`], and the
//! scenario runs beside it in the same process.

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock};

/// Points kept per instance for the latency sparkline.
pub const HISTORY: usize = 60;
/// Failures kept per instance.
pub const RECENT_FAILURES: usize = 10;

/// State of one probe × client profile in this region.
#[derive(Debug, Clone, Serialize, Default)]
pub struct InstanceStatus {
    pub probe: String,
    pub client: String,
    pub region: String,
    /// `unknown` before the first cycle, then `up` or `down`.
    pub state: String,
    pub last_cycle: Option<f64>,
    pub last_success: Option<f64>,
    /// Seconds from SMTP accept to visible, last successful cycle.
    pub last_delivery_seconds: Option<f64>,
    /// Unix time the current outage began (start of the first failed cycle after a success).
    pub down_since: Option<f64>,
    /// Canaries accepted by SMTP, not yet seen, not yet declared lost (from the ledger).
    pub in_flight: i64,
    /// Canaries declared lost since the agent started.
    pub lost_total: u64,
    /// Canaries seen after their deadline since the agent started.
    pub late_total: u64,
    /// Canaries seen after having been declared lost, since the agent started.
    #[serde(default)]
    pub recovered_total: u64,
    /// (unix time, delivery seconds or null when the cycle failed), oldest first.
    pub history: VecDeque<(f64, Option<f64>)>,
    /// Most recent first.
    pub failures: VecDeque<FailureView>,
    /// Leaf certificate notAfter (unix seconds) per endpoint.
    pub certs: BTreeMap<String, i64>,
    /// Whether every sentinel was intact at the last check; `None` before any check (or when
    /// none are planted).
    pub sentinel: Option<bool>,
}

/// A failure as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FailureView {
    pub at: f64,
    pub stage: String,
    pub reason: String,
    /// Stage and reason in words.
    pub summary: String,
    /// The server's reply or the error, redacted. Attacker-controlled text: escape it.
    pub detail: String,
}

/// A banner shown above the status page: the phase of a demo scenario.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Notice {
    /// The scenario's name, e.g. `libero`.
    pub scenario: String,
    /// 1-based phase number; `phases + 1` once the scenario is over.
    pub phase: u32,
    pub phases: u32,
    /// Short name of the phase, e.g. `storage failure`.
    pub title: String,
    /// What the server is doing in this phase.
    pub detail: String,
    /// What to look at on the page during this phase.
    pub look_for: String,
    /// Unix time the phase began.
    pub since: f64,
}

static NOTICE: RwLock<Option<Notice>> = RwLock::new(None);

/// Shows `notice` above every status page this process serves (`None` removes it).
pub fn set_notice(notice: Option<Notice>) {
    if let Ok(mut n) = NOTICE.write() {
        *n = notice;
    }
}

/// The current notice, if any.
pub fn notice() -> Option<Notice> {
    NOTICE.read().ok().and_then(|n| n.clone())
}

/// Shared, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<RwLock<BTreeMap<String, InstanceStatus>>>,
}

impl StatusBoard {
    /// Ensures an entry exists for an instance (shown as `unknown` until its first cycle).
    pub fn register(&self, key: &str, probe: &str, client: &str, region: &str) {
        if let Ok(mut m) = self.inner.write() {
            m.entry(key.to_string()).or_insert_with(|| InstanceStatus {
                probe: probe.into(),
                client: client.into(),
                region: region.into(),
                state: "unknown".into(),
                ..Default::default()
            });
        }
    }

    /// Removes an instance no longer configured.
    pub fn remove(&self, key: &str) {
        if let Ok(mut m) = self.inner.write() {
            m.remove(key);
        }
    }

    /// Applies `f` to an instance's entry.
    pub fn update(&self, key: &str, f: impl FnOnce(&mut InstanceStatus)) {
        if let Ok(mut m) = self.inner.write() {
            if let Some(s) = m.get_mut(key) {
                f(s);
            }
        }
    }

    /// A copy of every entry, ordered by key.
    pub fn snapshot(&self) -> Vec<InstanceStatus> {
        self.inner
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_is_idempotent_and_update_reaches_the_entry() {
        let b = StatusBoard::default();
        b.register("p/c", "p", "c", "r");
        b.update("p/c", |s| s.state = "up".into());
        b.register("p/c", "p", "c", "r");
        let snap = b.snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].state, "up", "a second register keeps the entry");
        b.remove("p/c");
        assert!(b.snapshot().is_empty());
    }
}
