//! The series budget of the metric contract, on a real scrape: with the default settings, each
//! probe instance (probe × client profile × region) exports at most 50 series, counted on the
//! `/metrics` page of a `mailcanary run` agent that probes the real stack under the four preset
//! client profiles, after each has completed a successful cycle (so the certificate, phase and
//! delivery series all exist) and its canaries came back with the stack's rspamd verdicts and
//! spam score (so the count includes `mailcanary_auth_result` and `mailcanary_spam_score`).
//! The probe keeps the default deadline, hence the default delivery buckets. The counts are
//! printed.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::agent::{find, AgentProcess};
use support::stack::{self, ProbeSpec};

const PRESETS: [&str; 4] = ["ios_mail", "outlook", "thunderbird", "gmail_android"];
const BUDGET: usize = 50;

#[test]
fn each_instance_stays_within_fifty_series_by_default() {
    let _g = stack::shared();
    stack::require_up();
    let dir = tempfile::tempdir().unwrap();
    let spec = ProbeSpec {
        name: "budget",
        // A stack user no other test reads: this test shares the stack with them.
        user: "lena",
        clients: &PRESETS,
        interval: "5s",
        // The default deadline (and so the default lost_after and delivery buckets).
        deadline: "60s",
        extra: "",
    };
    let config = stack::write_config(dir.path(), &[spec], "");
    let agent = AgentProcess::start(&config);
    agent.wait_for(
        "every profile delivered once",
        Duration::from_secs(60),
        |a| {
            let s = a.scrape();
            PRESETS.iter().all(|c| {
                let l = [("probe", "budget"), ("client", c), ("region", "test")];
                find(&s, "mailcanary_probe_success", &l) == Some(1.0)
                    && find(&s, "mailcanary_delivery_seconds_count", &l).unwrap_or(0.0) >= 1.0
                    && find(&s, "mailcanary_spam_score", &l).is_some()
            })
        },
    );
    let page = support::http::get(&agent.url("/metrics"), Duration::from_secs(5)).expect("scrape");
    let page = String::from_utf8(page.body).expect("utf-8 page");
    let series: Vec<&str> = page
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    let mut per_instance: BTreeMap<&str, usize> = BTreeMap::new();
    for line in &series {
        for c in PRESETS {
            if line.contains("probe=\"budget\"") && line.contains(&format!("client=\"{c}\"")) {
                *per_instance.entry(c).or_default() += 1;
            }
        }
    }
    let instance_total: usize = per_instance.values().sum();
    println!(
        "one scrape: {} series in all, {} of them per instance ({:?}), {} for the agent itself",
        series.len(),
        instance_total,
        per_instance,
        series.len() - instance_total
    );
    for c in PRESETS {
        let n = per_instance.get(c).copied().unwrap_or(0);
        assert!(n > 0, "{c}: no series");
        let verdicts = series
            .iter()
            .filter(|l| {
                l.starts_with("mailcanary_auth_result{")
                    && l.contains("probe=\"budget\"")
                    && l.contains(&format!("client=\"{c}\""))
            })
            .count();
        assert!(
            verdicts >= 3,
            "{c}: spf, dkim and dmarc verdicts counted, saw {verdicts}"
        );
        assert!(n <= BUDGET, "{c}: {n} series, over the budget of {BUDGET}");
    }
}
