//! The alerting session of tests/e2e_alerts.rs, everything real on loopback: the `mailcanary
//! run` agent probing the mail stack, Prometheus loading `alerts/mailcanary.rules.yml` and
//! scraping it, Alertmanager sending to a webhook receiver the test runs. Plus the checks made
//! while the agent is healthy: every dashboard query returns series, every rule evaluates, no
//! alert is even pending.
#![allow(dead_code)]

use super::agent::{find, AgentProcess};
use super::prometheus::{Alertmanager, Prometheus, WebhookReceiver};
use super::stack::{self, ProbeSpec};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Metrics of the contract the agent does not export yet, and why. A dashboard panel reading one
/// may return no series, but only while the agent's `/metrics` lacks that metric: once the agent
/// exports it, its panels must return series like every other (the test tightens by itself).
const NOT_EXPORTED_YET: &[(&str, &str)] = &[
    // Sentinel messages (planted once, checked every cycle) are future work: the agent
    // registers the gauge but creates no series until it plants sentinels.
    (
        "mailcanary_sentinel_intact",
        "sentinels are not implemented yet",
    ),
];

/// Recording rules that have no series for an agent that never failed: the agent creates
/// `mailcanary_probe_failures_total{stage,reason}` series at the first failure.
const EMPTY_WHILE_HEALTHY: &[&str] = &[
    "probe_client_region_stage_reason:mailcanary_probe_failures:rate5m",
    "probe_client_region_stage_reason:mailcanary_probe_last_failure_timestamp_seconds:latest",
];

pub struct Session {
    pub agent: AgentProcess,
    pub prom: Prometheus,
    pub am: Alertmanager,
    pub webhook: WebhookReceiver,
}

impl Session {
    /// The agent first; Prometheus (scrape and evaluation every `scrape`) only once every
    /// client profile has delivered, so it never scrapes the 0 that `mailcanary_probe_success`
    /// has before the first cycle ends.
    pub fn start(dir: &Path, spec: ProbeSpec, scrape: Duration) -> Session {
        let (probe, clients) = (spec.name, spec.clients);
        let config = stack::write_config(dir, &[spec], "");
        let agent = AgentProcess::start(&config);
        let delivering = |a: &AgentProcess| {
            let s = a.scrape();
            clients.iter().all(|c| {
                let l = [("probe", probe), ("client", c), ("region", "test")];
                find(&s, "mailcanary_probe_success", &l) == Some(1.0)
            })
        };
        agent.wait_for("all delivering", Duration::from_secs(60), delivering);
        let webhook = WebhookReceiver::start();
        let am = Alertmanager::start(&webhook.url());
        let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("alerts/mailcanary.rules.yml");
        let target = format!("127.0.0.1:{}", agent.port());
        let prom = Prometheus::start(&[target], scrape, &[rules], Some(&am.url()));
        Session {
            agent,
            prom,
            am,
            webhook,
        }
    }

    /// What to read when a wait fails: alerts on both sides, notifications, the agent's log.
    pub fn diagnostics(&self) -> String {
        let got: Vec<String> = (self.webhook.received().iter())
            .flat_map(|r| {
                let ago = r.at.elapsed();
                (r.alerts().into_iter())
                    .map(move |a| format!("{ago:?} ago: {} {}", a["status"], a["labels"]))
            })
            .collect();
        let log = self.agent.log_text();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        format!(
            "prometheus alerts: {:?}\nalertmanager alerts: {}\nwebhook:\n{}\n--- agent log, newest first ---\n{}",
            self.prom.alerts(),
            self.am.alerts(),
            got.join("\n"),
            tail.join("\n")
        )
    }

    /// Series of `promql` now; panics on a query error.
    pub fn series(&self, promql: &str) -> Vec<Value> {
        let result = self.prom.query(promql);
        result.as_array().cloned().unwrap_or_default()
    }

    /// Panics unless no alert matching the `ALERTS` selector `matcher` (e.g.
    /// `alertname="X"`) was pending or firing at any evaluation since `since` (whole seconds,
    /// rounded down: no sample before `since`).
    pub fn never_alerted(&self, matcher: &str, since: Instant, what: &str) {
        let secs = since.elapsed().as_secs().max(1);
        let q = format!(r#"max_over_time(ALERTS{{{matcher}}}[{secs}s])"#);
        let got = self.series(&q);
        assert!(
            got.is_empty(),
            "{matcher} {what}: {got:?}\n--- the agent's failed cycles, oldest first ---\n{}",
            self.agent.failure_lines(40)
        );
    }
}

/// One dashboard query against Prometheus: `Ok(None)` with series, `Ok(Some(why))` without
/// series but allowed, `Err` otherwise.
fn check_panel_query(
    s: &Session,
    promql: &str,
    exported: &BTreeSet<String>,
) -> Result<Option<String>, String> {
    match s.prom.try_query(promql) {
        Err(e) => Err(format!("error: {e}")),
        Ok(r) if r.as_array().is_some_and(|a| !a.is_empty()) => Ok(None),
        Ok(_) => {
            let missing = |m: &&(&str, &str)| {
                promql.contains(m.0) && !exported.iter().any(|e| e.starts_with(m.0))
            };
            match NOT_EXPORTED_YET.iter().find(missing) {
                Some((m, why)) => Ok(Some(format!("the agent does not export {m} ({why})"))),
                None => Err("no series".to_string()),
            }
        }
    }
}

/// Every dashboard panel returns series: polls until every panel has its series (or 150 s),
/// then reports every panel without one, and why.
pub fn dashboards_return_series_for_the_real_agent(s: &Session) {
    let started = Instant::now();
    let (failed, allowed) = loop {
        let exported: BTreeSet<String> = s.agent.scrape().into_iter().map(|x| x.name).collect();
        let (mut failed, mut allowed) = (Vec::new(), Vec::new());
        for (file, dashboard) in super::load_dashboards() {
            let file = file.rsplit('/').next().unwrap_or_default().to_string();
            // `$__range` is the dashboard's default time range (`now-6h` → 6h);
            // `$__rate_interval` is 1m, what Grafana makes of the documented 15 s scrape (4 ×
            // the scrape interval), and at least 4 samples at any shorter scrape.
            let range = dashboard["time"]["from"].as_str().unwrap_or("now-6h");
            let range = range.trim_start_matches("now-");
            for (title, expr) in super::dashboard_queries(&dashboard) {
                let expr = expr.replace("$__range", range);
                let promql = super::substitute_grafana_variables(&expr, "1m");
                let what = format!("{file}: panel {title:?}: {promql}");
                match check_panel_query(s, &promql, &exported) {
                    Ok(None) => {}
                    Ok(Some(why)) => allowed.push(format!("{what}\n    no series: {why}")),
                    Err(e) => failed.push(format!("{what}\n    {e}")),
                }
            }
        }
        if failed.is_empty() || started.elapsed() > Duration::from_secs(150) {
            break (failed, allowed);
        }
        sleep(Duration::from_secs(5));
    };
    let n = allowed.len();
    println!(
        "dashboards: queried after {:?} of scraping; {n} allowed without series:",
        started.elapsed()
    );
    allowed.iter().for_each(|a| println!("  {a}"));
    for (metric, _) in NOT_EXPORTED_YET {
        if !allowed.iter().any(|a| a.contains(metric)) {
            println!("  note: no panel needs the allow-list entry for {metric} any more: drop it");
        }
    }
    let failed = failed.join("\n");
    assert!(failed.is_empty(), "dashboard queries failing:\n{failed}");
}

/// A healthy agent: every rule evaluates without error, every recording rule records (except
/// those fed by failure series the agent has not created yet), and no alert is even pending.
pub fn rules_are_quiet_for_a_healthy_agent(s: &Session) {
    let started = Instant::now();
    let (rules, silent) = loop {
        let rules = s.prom.rules();
        let recording = rules.iter().filter(|r| r["type"] == "recording");
        let silent: Vec<String> = recording
            .filter_map(|r| r["name"].as_str())
            .filter(|n| !EMPTY_WHILE_HEALTHY.contains(n) && s.series(n).is_empty())
            .map(str::to_string)
            .collect();
        let evaluated = rules.iter().all(|r| r["health"] != "unknown");
        let quiet = s.prom.alerts().is_empty();
        if evaluated && silent.is_empty() && quiet || started.elapsed() > Duration::from_secs(60) {
            break (rules, silent);
        }
        sleep(Duration::from_secs(3));
    };
    assert!(rules.len() >= 30, "only {} rules loaded", rules.len());
    for r in &rules {
        let (name, err) = (&r["name"], &r["lastError"]);
        assert_eq!(r["health"], "ok", "rule {name} unhealthy: {err}");
    }
    assert!(silent.is_empty(), "recording rules, no series: {silent:?}");
    let alerts = s.prom.alerts();
    assert!(alerts.is_empty(), "alerts for a healthy agent: {alerts:?}");
    let n = rules.len();
    println!("rules: {n} rules evaluate, no alert for a healthy agent");
}
