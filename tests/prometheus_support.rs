//! Proves the test support (`tests/support/prometheus.rs`) end to end with real processes,
//! and runs the shipped rules and dashboards against a real Prometheus:
//!
//! - an always-firing rule travels Prometheus → Alertmanager → webhook receiver;
//! - a synthetic healthy agent (the metric contract served by hand, counters advancing every
//!   scrape) is scraped for a few seconds: every dashboard query returns at least one series,
//!   every rule evaluates without error, every recording rule records, and no alert is pending
//!   or firing.
//!
//! Needs `prometheus` and `prometheus-alertmanager` on PATH (`scripts/mailstack.sh install`).

mod support;

use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::http::Server;
use support::prometheus::{Alertmanager, Prometheus, WebhookReceiver};

#[test]
fn always_firing_rule_reaches_the_webhook() {
    let webhook = WebhookReceiver::start();
    let am = Alertmanager::start(&webhook.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("always.rules.yml");
    fs::write(
        &rules,
        "groups:\n  - name: plumbing\n    rules:\n      - alert: PlumbingAlwaysFiring\n        expr: vector(1)\n\
         \x20       labels: {severity: info}\n        annotations: {summary: Always firing.}\n",
    )
    .expect("write rule file");
    let started = Instant::now();
    let prom = Prometheus::start(&[], Duration::from_secs(1), &[rules], Some(&am.url()));
    // Prometheus scrapes itself: its own `up` proves the scrape path.
    prom.wait_for_series(r#"up{job="prometheus"} == 1"#, Duration::from_secs(30));
    let got = webhook.wait_for(
        |r| r.has_alert("PlumbingAlwaysFiring", "firing"),
        Duration::from_secs(60),
    );
    let Some(got) = got else {
        panic!(
            "no webhook for PlumbingAlwaysFiring within 60 s\nalertmanager alerts: {}\n--- prometheus log ---\n{}\n--- alertmanager log ---\n{}",
            am.alerts(),
            prom.log(),
            am.log()
        );
    };
    let alert = got
        .alerts()
        .into_iter()
        .find(|a| a["labels"]["alertname"] == "PlumbingAlwaysFiring")
        .cloned();
    assert_eq!(
        alert.expect("alert in payload")["labels"]["severity"],
        "info"
    );
    println!(
        "webhook received {:?} after start",
        got.at.duration_since(started)
    );
}

/// The metric contract as a healthy agent with one probe would export it after `n` cycles.
/// Failure counters are absent (an agent may create them at the first failure): the dashboards
/// must still draw.
fn healthy_exposition(n: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let l = r#"probe="demo",client="ios_mail",region="local""#;
    let mut s = String::new();
    let mut metric = |kind: &str, name: &str, lines: Vec<String>| {
        s.push_str(&format!("# TYPE {name} {kind}\n"));
        for line in lines {
            s.push_str(&line);
            s.push('\n');
        }
    };
    metric(
        "gauge",
        "mailcanary_probe_success",
        vec![format!("mailcanary_probe_success{{{l}}} 1")],
    );
    metric(
        "counter",
        "mailcanary_probe_cycles_total",
        vec![format!("mailcanary_probe_cycles_total{{{l}}} {n}")],
    );
    let histogram = |name: &str, extra: &str, bounds: &[f64], value: f64| -> Vec<String> {
        let mut lines: Vec<String> = bounds
            .iter()
            .map(|b| {
                format!(
                    "{name}_bucket{{{l}{extra},le=\"{b}\"}} {}",
                    if *b >= value { n } else { 0 }
                )
            })
            .collect();
        lines.push(format!("{name}_bucket{{{l}{extra},le=\"+Inf\"}} {n}"));
        lines.push(format!("{name}_sum{{{l}{extra}}} {}", value * n as f64));
        lines.push(format!("{name}_count{{{l}{extra}}} {n}"));
        lines
    };
    let delivery_bounds = [
        0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    ];
    metric(
        "histogram",
        "mailcanary_delivery_seconds",
        histogram("mailcanary_delivery_seconds", "", &delivery_bounds, 0.5),
    );
    let phase_bounds = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];
    let phases: Vec<String> = [
        "connect",
        "tls",
        "ehlo",
        "auth",
        "data",
        "imap_connect",
        "imap_login",
        "imap_fetch",
    ]
    .iter()
    .flat_map(|p| {
        histogram(
            "mailcanary_phase_seconds",
            &format!(",phase=\"{p}\""),
            &phase_bounds,
            0.005,
        )
    })
    .collect();
    metric("histogram", "mailcanary_phase_seconds", phases);
    metric(
        "gauge",
        "mailcanary_last_success_timestamp_seconds",
        vec![format!(
            "mailcanary_last_success_timestamp_seconds{{{l}}} {now}"
        )],
    );
    metric(
        "gauge",
        "mailcanary_canaries_in_flight",
        vec![format!("mailcanary_canaries_in_flight{{{l}}} 0")],
    );
    metric(
        "counter",
        "mailcanary_canaries_total",
        vec![format!(
            "mailcanary_canaries_total{{{l},outcome=\"on_time\"}} {n}"
        )],
    );
    metric(
        "gauge",
        "mailcanary_sentinel_intact",
        vec![format!("mailcanary_sentinel_intact{{{l}}} 1")],
    );
    metric(
        "gauge",
        "mailcanary_tls_cert_expiry_timestamp_seconds",
        vec![format!(
            "mailcanary_tls_cert_expiry_timestamp_seconds{{{l},endpoint=\"127.0.0.1:993\"}} {}",
            now + 90 * 86400
        )],
    );
    metric(
        "gauge",
        "mailcanary_config_last_reload_successful",
        vec!["mailcanary_config_last_reload_successful{region=\"local\"} 1".into()],
    );
    metric(
        "gauge",
        "mailcanary_build_info",
        vec!["mailcanary_build_info{version=\"0.1.0\",region=\"local\"} 1".into()],
    );
    s
}

fn rules_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("alerts/mailcanary.rules.yml")
}

#[test]
fn dashboards_and_rules_work_against_a_healthy_agent() {
    let scrapes = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&scrapes);
    let agent = Server::start(move |req| {
        if req.path != "/metrics" {
            return (404, "text/plain", b"not found\n".to_vec());
        }
        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
        (
            200,
            "text/plain; version=0.0.4",
            healthy_exposition(n).into_bytes(),
        )
    });
    let target = format!("127.0.0.1:{}", agent.port());
    let prom = Prometheus::start(&[target], Duration::from_secs(1), &[rules_file()], None);
    prom.wait_for_series(
        r#"count_over_time(mailcanary_probe_cycles_total[1m]) >= 6"#,
        Duration::from_secs(60),
    );

    let mut empty = Vec::new();
    for (file, dashboard) in support::load_dashboards() {
        for (title, expr) in support::dashboard_queries(&dashboard) {
            let promql = support::substitute_grafana_variables(&expr, "1m");
            let result = prom.query(&promql);
            if result.as_array().is_none_or(|a| a.is_empty()) {
                empty.push(format!("{file}: {title}: {promql}"));
            }
        }
    }
    assert!(
        empty.is_empty(),
        "dashboard queries without a series for a healthy agent:\n{}",
        empty.join("\n")
    );

    // Every rule has been evaluated at least once without error.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rules = loop {
        let groups = prom.api("/api/v1/rules")["groups"].clone();
        let rules: Vec<Value> = groups
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        if !rules.is_empty() && rules.iter().all(|r| r["health"] != "unknown")
            || Instant::now() > deadline
        {
            break rules;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(rules.len() >= 30, "only {} rules loaded", rules.len());
    for r in &rules {
        assert_eq!(
            r["health"], "ok",
            "rule {} unhealthy: {}",
            r["name"], r["lastError"]
        );
    }
    // Recording rules record. The failure ones stay empty until a first failure is counted.
    for r in rules.iter().filter(|r| r["type"] == "recording") {
        let name = r["name"].as_str().expect("rule name");
        if name.contains("failures") {
            continue;
        }
        let result = prom.query(name);
        assert!(
            result.as_array().is_some_and(|a| !a.is_empty()),
            "recording rule {name} has no series"
        );
    }
    // A healthy agent pages nobody: no alert even pending.
    let alerts = prom.api("/api/v1/alerts")["alerts"].clone();
    assert_eq!(
        alerts.as_array().map(Vec::len),
        Some(0),
        "alerts for a healthy agent: {alerts}"
    );
}
