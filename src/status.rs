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

use crate::landing::{AuthHeader, Hop};
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
    /// Canaries found in the account's Junk folder since the agent started.
    #[serde(default)]
    pub junk_total: u64,
    /// (unix time, delivery seconds or null when the cycle failed), oldest first.
    pub history: VecDeque<(f64, Option<f64>)>,
    /// Most recent first.
    pub failures: VecDeque<FailureView>,
    /// Leaf certificate notAfter (unix seconds) per endpoint.
    pub certs: BTreeMap<String, i64>,
    /// Whether every sentinel was intact at the last check; `None` before any check (or when
    /// none are planted).
    pub sentinel: Option<bool>,
    /// Where the last verified canary landed; `None` before one was verified.
    #[serde(default)]
    pub landed: Option<LandedView>,
}

/// Where the last verified canary landed, as the instance detail shows it. Every string in it
/// is server text (sanitised and bounded by [`crate::landing`]): escape it anyway.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LandedView {
    pub canary: String,
    /// When the cycle that verified it ended (unix seconds).
    pub at: f64,
    /// The trusted `Authentication-Results` field (authserv-id and results), if any.
    pub trusted: Option<AuthHeader>,
    pub spam_score: Option<f64>,
    /// The `Received` trail, oldest first.
    pub hops: Vec<Hop>,
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

/// The sentinels of every instance at their last check, as the status page and `/api/status`
/// show them: `state` is `not_configured` (no instance has checked any), `intact` (every
/// instance that checked found them all) or `broken`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SentinelSummary {
    pub state: &'static str,
    /// Instances whose sentinels were checked.
    pub checking: usize,
    /// The instances that found a sentinel missing or changed, with what they found.
    pub broken: Vec<BrokenSentinels>,
}

/// An instance whose last sentinel check failed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BrokenSentinels {
    pub probe: String,
    pub client: String,
    pub region: String,
    /// What the check found (its latest `verify` failure), redacted as every failure detail.
    pub detail: String,
}

impl SentinelSummary {
    /// The summary of `instances` (a [`StatusBoard::snapshot`]).
    pub fn of(instances: &[InstanceStatus]) -> SentinelSummary {
        let checked = instances.iter().filter(|i| i.sentinel.is_some());
        let broken: Vec<BrokenSentinels> = checked
            .clone()
            .filter(|i| i.sentinel == Some(false))
            .map(|i| BrokenSentinels {
                probe: i.probe.clone(),
                client: i.client.clone(),
                region: i.region.clone(),
                detail: i
                    .failures
                    .iter()
                    .find(|f| f.stage == "verify")
                    .map(|f| f.detail.clone())
                    .unwrap_or_default(),
            })
            .collect();
        let checking = checked.count();
        let state = match (checking, broken.is_empty()) {
            (0, _) => "not_configured",
            (_, true) => "intact",
            (_, false) => "broken",
        };
        SentinelSummary {
            state,
            checking,
            broken,
        }
    }
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

    #[test]
    fn sentinel_summary_is_not_configured_intact_or_broken() {
        let inst = |client: &str, sentinel: Option<bool>| InstanceStatus {
            probe: "p".into(),
            client: client.into(),
            region: "r".into(),
            sentinel,
            failures: VecDeque::from([FailureView {
                at: 1.0,
                stage: "verify".into(),
                reason: "corrupt".into(),
                summary: String::new(),
                detail: "sentinel p/1 is missing".into(),
            }]),
            ..InstanceStatus::default()
        };
        let none = SentinelSummary::of(&[inst("a", None)]);
        assert_eq!((none.state, none.checking), ("not_configured", 0));
        let ok = SentinelSummary::of(&[inst("a", Some(true)), inst("b", None)]);
        assert_eq!((ok.state, ok.checking), ("intact", 1));
        let bad = SentinelSummary::of(&[inst("a", Some(true)), inst("b", Some(false))]);
        assert_eq!((bad.state, bad.checking), ("broken", 2));
        assert_eq!(bad.broken.len(), 1);
        assert_eq!(bad.broken[0].client, "b");
        assert_eq!(bad.broken[0].detail, "sentinel p/1 is missing");
    }
}
