//! Series of one probe × client profile of an agent in the `test` region, and a scrape loop
//! that checks an invariant on the way to a condition: for the profile tests.

use super::agent::{find, AgentProcess, Sample};
use std::time::Duration;

pub fn labels<'a>(probe: &'a str, client: &'a str) -> [(&'a str, &'a str); 3] {
    [("probe", probe), ("client", client), ("region", "test")]
}

pub fn success(s: &[Sample], probe: &str, client: &str) -> Option<f64> {
    find(s, "mailcanary_probe_success", &labels(probe, client))
}

pub fn cycles(s: &[Sample], probe: &str, client: &str) -> f64 {
    find(s, "mailcanary_probe_cycles_total", &labels(probe, client)).unwrap_or(0.0)
}

pub fn failures(s: &[Sample], probe: &str, client: &str, stage: &str, reason: &str) -> f64 {
    let mut l = labels(probe, client).to_vec();
    l.extend([("stage", stage), ("reason", reason)]);
    find(s, "mailcanary_probe_failures_total", &l).unwrap_or(0.0)
}

/// Scrapes until `done` holds, asserting `invariant` on every scrape on the way.
pub fn watch(
    agent: &AgentProcess,
    what: &str,
    timeout: Duration,
    mut invariant: impl FnMut(&[Sample]),
    mut done: impl FnMut(&[Sample]) -> bool,
) -> Duration {
    agent.wait_for(what, timeout, |a| {
        let s = a.scrape();
        if s.is_empty() {
            return false;
        }
        invariant(&s);
        done(&s)
    })
}
