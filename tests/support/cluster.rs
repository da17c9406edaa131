//! The servers of a fleet on loopback, for tests/e2e_fleet.rs: a Prometheus from a whole
//! prometheus.yml (external labels, federation, alert relabelling, several Alertmanagers), an
//! Alertmanager that is one peer of a cluster gossiping on loopback ports, and killing either
//! mid-test. Built on the processes of `prometheus.rs`.
#![allow(dead_code)]

use super::http;
use super::prometheus::{quote, Alertmanager, Process, Prometheus};
use serde_json::Value;
use std::time::Duration;

impl Prometheus {
    /// A Prometheus whose prometheus.yml is `yml(own port)`; waits for `/-/ready`.
    pub fn start_yml(yml: impl Fn(u16) -> String) -> Prometheus {
        let process = Process::start(&["prometheus"], "prometheus.yml", yml, |dir, port| {
            vec![
                format!("--storage.tsdb.path={}", dir.join("data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                // Alerts evaluated before an Alertmanager is discovered are re-sent after 1 s,
                // not the default 1 m.
                "--rules.alert.resend-delay=1s".to_string(),
            ]
        });
        Prometheus { process }
    }

    /// Kills it (SIGKILL): its targets see no more scrapes, the federation scrape of it fails.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}

/// Gossip settings of the test cluster: a peer waits `PEER_TIMEOUT` × its position before it
/// notifies, by which time the first peer's notification log entry has reached it.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(2);

impl Alertmanager {
    /// One peer of a cluster: gossip on 127.0.0.1:`cluster_port`, joining the peers on
    /// `peer_ports`. One route to `webhook_url` as [`Alertmanager::start`]: group_wait and
    /// group_interval 1 s, repeat_interval 1 h, every alert its own group, resolved sent too.
    pub fn start_peer(webhook_url: &str, cluster_port: u16, peer_ports: &[u16]) -> Alertmanager {
        let yml = format!(
            "route:\n  receiver: webhook\n  group_by: ['...']\n  group_wait: 1s\n  group_interval: 1s\n  \
             repeat_interval: 1h\nreceivers:\n  - name: webhook\n    webhook_configs:\n      - url: {}\n        \
             send_resolved: true\n",
            quote(webhook_url)
        );
        let peers: Vec<String> = (peer_ports.iter())
            .map(|p| format!("--cluster.peer=127.0.0.1:{p}"))
            .collect();
        let names = ["prometheus-alertmanager", "alertmanager"];
        let process = Process::start(
            &names,
            "alertmanager.yml",
            |_| yml.clone(),
            |dir, port| {
                let mut args = vec![
                    format!("--storage.path={}", dir.join("data").display()),
                    format!("--web.listen-address=127.0.0.1:{port}"),
                    format!("--cluster.listen-address=127.0.0.1:{cluster_port}"),
                    format!("--cluster.advertise-address=127.0.0.1:{cluster_port}"),
                    format!("--cluster.peer-timeout={}s", PEER_TIMEOUT.as_secs()),
                    "--cluster.gossip-interval=100ms".to_string(),
                    "--cluster.pushpull-interval=2s".to_string(),
                    "--cluster.settle-timeout=5s".to_string(),
                ];
                args.extend(peers.iter().cloned());
                args
            },
        );
        Alertmanager { process }
    }

    /// The number of cluster members this peer knows (GET /api/v2/status).
    pub fn cluster_size(&self) -> usize {
        let url = format!("{}/api/v2/status", self.url());
        http::get(&url, Duration::from_secs(5))
            .ok()
            .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .and_then(|v| v["cluster"]["peers"].as_array().map(Vec::len))
            .unwrap_or(0)
    }

    /// Whether it holds an active alert named `alertname`.
    pub fn holds(&self, alertname: &str) -> bool {
        let url = format!("{}/api/v2/alerts", self.url());
        http::get(&url, Duration::from_secs(5))
            .ok()
            .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|a| a.iter().any(|x| x["labels"]["alertname"] == alertname))
    }

    /// Kills it (SIGKILL) mid-test.
    pub fn kill(&mut self) {
        self.process.kill();
    }
}
