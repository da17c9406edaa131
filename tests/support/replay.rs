//! The machinery of the on-call replay (tests/e2e_alerts.rs): the phases of a scripted outage,
//! and the alert episodes Alertmanager notified, each placed in the phase where it fired and
//! the phase where it resolved, printed as a table.
//!
//! An episode is one firing of one alert (one label set) as the webhook received it: when the
//! firing notification arrived, Prometheus' evaluation time at which it fired (`startsAt`), and
//! the same for its resolution (`endsAt`). Arrival times are what on-call sees; evaluation times
//! order alerts that fired in the same evaluation.
#![allow(dead_code)]

use super::webhook::{Received, WebhookReceiver};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::{Duration, Instant, SystemTime};

/// A phase of the replay: from `started` to the next phase's start.
#[derive(Clone, Debug)]
pub struct Phase {
    pub name: &'static str,
    pub started: Instant,
    pub wall: SystemTime,
}

/// The phases so far, in order.
#[derive(Default)]
pub struct Timeline {
    pub phases: Vec<Phase>,
}

impl Timeline {
    /// Starts phase `name` now; returns its start.
    pub fn begin(&mut self, name: &'static str) -> Instant {
        let started = Instant::now();
        let wall = SystemTime::now();
        self.phases.push(Phase {
            name,
            started,
            wall,
        });
        started
    }

    pub fn current(&self) -> &Phase {
        self.phases.last().expect("a phase has begun")
    }

    /// The phase `at` falls in (the first one if before every phase).
    pub fn phase_at(&self, at: Instant) -> &Phase {
        let later = |p: &&Phase| p.started <= at;
        let found = self.phases.iter().rev().find(later);
        found.unwrap_or(&self.phases[0])
    }

    /// Same for a wall-clock time (an evaluation time from Prometheus).
    pub fn phase_at_wall(&self, at: SystemTime) -> &Phase {
        let later = |p: &&Phase| p.wall <= at;
        let found = self.phases.iter().rev().find(later);
        found.unwrap_or(&self.phases[0])
    }
}

/// One firing of one alert, with its resolution if it came.
#[derive(Clone, Debug)]
pub struct Episode {
    pub alertname: String,
    pub labels: BTreeMap<String, String>,
    pub description: String,
    /// Evaluation at which it fired (`startsAt`).
    pub fired_eval: SystemTime,
    /// Arrival of the first firing notification.
    pub fired: Instant,
    /// Evaluation at which it resolved (`endsAt`) and arrival of the resolution.
    pub resolved_eval: Option<SystemTime>,
    pub resolved: Option<Instant>,
}

impl Episode {
    pub fn client(&self) -> &str {
        self.labels.get("client").map_or("-", String::as_str)
    }

    /// Seconds from `phase` start to the firing notification.
    pub fn fired_after(&self, phase: &Phase) -> Duration {
        self.fired.saturating_duration_since(phase.started)
    }

    pub fn resolved_after(&self, phase: &Phase) -> Option<Duration> {
        (self.resolved).map(|r| r.saturating_duration_since(phase.started))
    }
}

fn label_map(alert: &Value) -> BTreeMap<String, String> {
    let map = alert["labels"].as_object().cloned().unwrap_or_default();
    map.into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
        .collect()
}

fn rfc3339(alert: &Value, field: &str) -> Option<SystemTime> {
    let text = alert[field].as_str()?;
    humantime::parse_rfc3339_weak(text).ok()
}

/// Every episode in the notifications received so far, in the order they fired.
pub fn episodes(webhook: &WebhookReceiver) -> Vec<Episode> {
    episodes_of(&webhook.received())
}

pub fn episodes_of(received: &[Received]) -> Vec<Episode> {
    let mut out: Vec<Episode> = Vec::new();
    for r in received {
        for a in r.alerts() {
            let labels = label_map(a);
            let Some(starts) = rfc3339(a, "startsAt") else {
                continue;
            };
            let same = |e: &&mut Episode| e.labels == labels && e.fired_eval == starts;
            let found = out.iter_mut().find(same);
            match (a["status"].as_str(), found) {
                (Some("firing"), None) => out.push(Episode {
                    alertname: labels.get("alertname").cloned().unwrap_or_default(),
                    description: a["annotations"]["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    labels,
                    fired_eval: starts,
                    fired: r.at,
                    resolved_eval: None,
                    resolved: None,
                }),
                (Some("resolved"), Some(e)) if e.resolved.is_none() => {
                    e.resolved_eval = rfc3339(a, "endsAt");
                    e.resolved = Some(r.at);
                }
                _ => {}
            }
        }
    }
    out
}

/// The table: one row per episode, with the phase and the seconds after that phase's start at
/// which its firing and its resolution reached the webhook.
pub fn table(timeline: &Timeline, episodes: &[Episode], origin: Instant) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "phases (start, seconds after the session started):");
    for p in &timeline.phases {
        let at = p.started.saturating_duration_since(origin).as_secs();
        let _ = writeln!(t, "  {:>5}s  {}", at, p.name);
    }
    let _ = writeln!(
        t,
        "\n| alert | client | fired (phase +s) | resolved (phase +s) |\n| --- | --- | --- | --- |"
    );
    for e in episodes {
        let fp = timeline.phase_at(e.fired);
        let fired = format!("{} +{}", fp.name, e.fired_after(fp).as_secs());
        let resolved = match e.resolved {
            Some(r) => {
                let rp = timeline.phase_at(r);
                let after = e.resolved_after(rp).unwrap_or_default().as_secs();
                format!("{} +{after}", rp.name)
            }
            None => "still firing".to_string(),
        };
        let (name, client) = (&e.alertname, e.client());
        let _ = writeln!(t, "| {name} | {client} | {fired} | {resolved} |");
    }
    t
}
