//! Proves the test support (`tests/support/prometheus.rs`, `tests/support/http.rs`) with real
//! processes and nothing else: an always-firing rule travels Prometheus → Alertmanager → webhook
//! receiver. It runs in seconds and needs no mail stack, so when tests/e2e_alerts.rs (the shipped
//! rules and dashboards against the real agent, Postfix and Dovecot) fails, this one says whether
//! the plumbing or the product is at fault.
//!
//! Needs `prometheus` and `prometheus-alertmanager` on PATH (`scripts/mailstack.sh install`).

mod support;

use std::fs;
use std::time::{Duration, Instant};
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
