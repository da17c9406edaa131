//! The fleet report: the reports of many agents (each its ledger's, fetched from its
//! `/api/report` by `fetch.rs`) merged into one, with the outage windows of every region and
//! client profile, what happened to the canaries sent during them, and totals per region, per
//! client profile and for the fleet. An agent that did not answer is named, in the text and in
//! the JSON, and makes the report incomplete: its instances are missing from every total.

use super::{outcomes_line, render_instances, time, InstanceReport, Outcomes, Report};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What an agent serves at `/api/report`: its region and version, and its ledger's report.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentReport {
    pub region: String,
    pub version: String,
    pub report: Report,
}

/// One agent asked: its URL as given on the command line (never with credentials, which the
/// command line does not accept in a URL), and its report or why there is none.
#[derive(Debug, Clone)]
pub struct Answer {
    pub agent: String,
    pub result: Result<AgentReport, String>,
}

/// How an agent answered, as the fleet report lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgentStatus {
    pub agent: String,
    pub answered: bool,
    pub region: Option<String>,
    pub version: Option<String>,
    pub instances: u64,
    /// Why there is no report from this agent.
    pub error: Option<String>,
}

/// An instance's report and the agent that sent it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetInstance {
    pub agent: String,
    #[serde(flatten)]
    pub instance: InstanceReport,
}

/// Totals over a set of instances.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Summary {
    pub instances: u64,
    pub cycles: u64,
    pub failed_cycles: u64,
    pub outages: u64,
    /// Every canary sent in the period.
    pub canaries: Outcomes,
    /// The canaries sent during an outage of their instance.
    pub during_outages: Outcomes,
}

impl Summary {
    fn add(&mut self, i: &InstanceReport) {
        self.instances = self.instances.saturating_add(1);
        self.cycles = self.cycles.saturating_add(i.cycles);
        self.failed_cycles = self.failed_cycles.saturating_add(i.failed_cycles);
        let outages = u64::try_from(i.outages.len()).unwrap_or(u64::MAX);
        self.outages = self.outages.saturating_add(outages);
        self.canaries.add(&i.canaries);
        for o in &i.outages {
            self.during_outages.add(&o.canaries);
        }
    }
}

/// The merged report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetReport {
    pub since: f64,
    pub until: f64,
    pub generated: f64,
    /// Every agent answered with a report.
    pub complete: bool,
    pub agents: Vec<AgentStatus>,
    /// Every instance of every agent that answered, by region, probe, client profile.
    pub instances: Vec<FleetInstance>,
    /// `probe/client/region` reported by more than one agent (two agents running the same
    /// shard, or the same agent listed twice): each copy is counted.
    pub overlaps: Vec<String>,
    pub regions: BTreeMap<String, Summary>,
    pub clients: BTreeMap<String, Summary>,
    pub totals: Summary,
}

/// Merges the agents' answers for the period `since` → `until`.
pub fn merge(since: f64, until: f64, generated: f64, answers: Vec<Answer>) -> FleetReport {
    let mut agents = Vec::new();
    let mut instances = Vec::new();
    for a in answers {
        match a.result {
            Ok(r) => {
                agents.push(AgentStatus {
                    agent: a.agent.clone(),
                    answered: true,
                    region: Some(r.region),
                    version: Some(r.version),
                    instances: u64::try_from(r.report.instances.len()).unwrap_or(u64::MAX),
                    error: None,
                });
                instances.extend(
                    r.report
                        .instances
                        .into_iter()
                        .map(|instance| FleetInstance {
                            agent: a.agent.clone(),
                            instance,
                        }),
                );
            }
            Err(e) => agents.push(AgentStatus {
                agent: a.agent,
                answered: false,
                region: None,
                version: None,
                instances: 0,
                error: Some(e),
            }),
        }
    }
    instances.sort_by(|a, b| {
        let key = |f: &FleetInstance| {
            let i = &f.instance;
            (i.region.clone(), i.probe.clone(), i.client.clone())
        };
        key(a).cmp(&key(b)).then_with(|| a.agent.cmp(&b.agent))
    });
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let (mut regions, mut clients) = (BTreeMap::new(), BTreeMap::new());
    let mut totals = Summary::default();
    for f in &instances {
        let i = &f.instance;
        let n = seen
            .entry(format!("{}/{}/{}", i.probe, i.client, i.region))
            .or_default();
        *n = n.saturating_add(1);
        regions
            .entry(i.region.clone())
            .or_insert_with(Summary::default)
            .add(i);
        clients
            .entry(i.client.clone())
            .or_insert_with(Summary::default)
            .add(i);
        totals.add(i);
    }
    FleetReport {
        since,
        until,
        generated,
        complete: agents.iter().all(|a| a.answered),
        agents,
        instances,
        overlaps: seen
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, _)| k)
            .collect(),
        regions,
        clients,
        totals,
    }
}

fn summary_line(s: &Summary) -> String {
    format!(
        "{} instances, {} cycles, {} failed, {} outages; canaries: {}; sent during outages: {}",
        s.instances,
        s.cycles,
        s.failed_cycles,
        s.outages,
        outcomes_line(&s.canaries),
        outcomes_line(&s.during_outages)
    )
}

/// The line that says which agents are missing, or `None` when every agent answered.
fn incomplete_line(r: &FleetReport) -> Option<String> {
    let missing: Vec<&str> = (r.agents.iter())
        .filter(|a| !a.answered)
        .map(|a| a.agent.as_str())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "INCOMPLETE: {} of {} agents did not answer ({}); every total leaves their instances out",
            missing.len(),
            r.agents.len(),
            missing.join(", ")
        )
    })
}

/// The fleet report as text for a terminal.
pub fn render_text(r: &FleetReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mailcanary fleet report: {} → {}, {} agents",
        time(r.since),
        time(r.until),
        r.agents.len()
    );
    for a in &r.agents {
        let _ = match &a.error {
            None => writeln!(
                out,
                "  agent {}: region {}, {} instances",
                a.agent,
                a.region.as_deref().unwrap_or("?"),
                a.instances
            ),
            Some(e) => writeln!(out, "  agent {}: DID NOT ANSWER: {e}", a.agent),
        };
    }
    if let Some(line) = incomplete_line(r) {
        let _ = writeln!(out, "{line}");
    }
    for o in &r.overlaps {
        let _ = writeln!(
            out,
            "note: {o} was reported by more than one agent (same shard twice?); each copy is counted"
        );
    }
    for (region, summary) in &r.regions {
        let _ = writeln!(out, "\n== region {region} ==");
        let of_region: Vec<InstanceReport> = (r.instances.iter())
            .filter(|f| &f.instance.region == region)
            .map(|f| f.instance.clone())
            .collect();
        render_instances(&mut out, &of_region, r.until);
        let _ = writeln!(out, "\nregion {region}: {}", summary_line(summary));
    }
    if !r.clients.is_empty() {
        let _ = writeln!(out, "\n== client profiles ==");
    }
    for (client, summary) in &r.clients {
        let _ = writeln!(out, "{client}: {}", summary_line(summary));
    }
    let _ = writeln!(out, "\n== fleet ==\n{}", summary_line(&r.totals));
    if let Some(line) = incomplete_line(r) {
        let _ = writeln!(out, "{line}");
    }
    out
}

#[cfg(test)]
#[path = "fleet_tests.rs"]
mod tests;
