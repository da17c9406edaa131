//! A fleet on loopback, everything real, for tests/e2e_fleet.rs: region `a`'s probes split over
//! two shard agents, region `b` one agent reaching the mail stack through a [`Proxy`] the test
//! can stop; one Prometheus per region (`external_labels` region, scraping its agents, the
//! per-region rules, dropping its own mail-down alerts as docs/scale.md says); a global
//! Prometheus federating both and evaluating the fleet rules; two Alertmanagers in a cluster
//! (gossip on loopback ports), every Prometheus sending to both; a webhook receiver.
//!
//! Intervals are short so the whole test takes a few minutes: probes every 2 s, scrapes and
//! evaluations every second.
#![allow(dead_code)]

use super::agent::{find, AgentProcess};
use super::prometheus::{free_port, quote, Alertmanager, Prometheus, WebhookReceiver};
use super::proxy::Proxy;
use super::stack::{self, ProbeSpec};
use mailcanary::config::Shard;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The probes every region runs, with the stack user each watches.
pub const PROBES: [(&str, &str); 2] = [("mxa", "henry"), ("mxb", "ivan")];
pub const CLIENTS: [&str; 2] = ["ios_mail", "outlook"];
/// The federated series the fleet rules read.
pub const FEDERATED: [&str; 2] = [
    "probe_region:mailcanary_probe_consecutive_failures:min",
    "probe_region:mailcanary_probe_consecutive_successes:max",
];

pub struct FleetAgent {
    pub name: &'static str,
    pub region: &'static str,
    pub shard: Option<&'static str>,
    pub config: PathBuf,
    pub process: AgentProcess,
}

impl FleetAgent {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.process.port())
    }

    /// `probe/client` of the instances this agent runs.
    pub fn instances(&self) -> Vec<(String, String)> {
        let shard: Option<Shard> = self.shard.map(|s| s.parse().expect("shard"));
        let mut out = Vec::new();
        for (p, _) in PROBES {
            for c in CLIENTS {
                if shard.is_none_or(|s| s.contains(p, c)) {
                    out.push((p.to_string(), c.to_string()));
                }
            }
        }
        out
    }
}

pub struct Topology {
    pub dir: tempfile::TempDir,
    pub proxy: Proxy,
    pub agents: Vec<FleetAgent>,
    pub webhook: WebhookReceiver,
    pub ams: Vec<Alertmanager>,
    /// (region, its Prometheus).
    pub regional: Vec<(&'static str, Prometheus)>,
    pub global: Prometheus,
}

/// An agent's config in `dir` for `region`; through `proxy` when given.
fn write_agent(dir: &Path, region: &str, proxy: Option<&Proxy>) -> PathBuf {
    let specs: Vec<ProbeSpec> = PROBES
        .iter()
        .map(|(name, user)| ProbeSpec {
            name,
            user,
            clients: &CLIENTS,
            interval: "2s",
            deadline: "4s",
            extra: "",
        })
        .collect();
    let main = stack::write_config(dir, &specs, "");
    let text = std::fs::read_to_string(&main).expect("config");
    let text = text.replace("region = \"test\"", &format!("region = \"{region}\""));
    std::fs::write(&main, text).expect("config");
    if let Some(proxy) = proxy {
        for (name, _) in PROBES {
            let f = dir.join(format!("probes/{name}.toml"));
            let text = std::fs::read_to_string(&f).expect("probe file");
            let host = "host = \"127.0.0.1\"\n";
            let text = text
                .replacen(
                    &format!("[smtp]\n{host}"),
                    &format!("[smtp]\n{host}{}", proxy.endpoint_ports(true)),
                    1,
                )
                .replacen(
                    &format!("[imap]\n{host}"),
                    &format!("[imap]\n{host}{}", proxy.endpoint_ports(false)),
                    1,
                );
            std::fs::write(&f, text).expect("probe file");
        }
    }
    main
}

/// prometheus.yml of a regional Prometheus.
fn regional_yml(region: &str, agents: &[String], ams: &[String]) -> String {
    let rules = super::root().join("alerts/mailcanary.rules.yml");
    let q = |v: &[String]| v.iter().map(|t| quote(t)).collect::<Vec<_>>().join(", ");
    format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n  \
         external_labels:\n    region: {region}\n\
         rule_files:\n  - {rules}\n\
         alerting:\n  alert_relabel_configs:\n    - source_labels: [alertname]\n      \
         regex: MailCanaryProbeDown|MailCanaryProbeDownGlobally\n      action: drop\n  \
         alertmanagers:\n    - static_configs:\n        - targets: [{ams}]\n\
         scrape_configs:\n  - job_name: mailcanary\n    static_configs:\n      - targets: [{agents}]\n",
        rules = quote(&rules.display().to_string()),
        ams = q(ams),
        agents = q(agents),
    )
}

/// prometheus.yml of the global Prometheus: `/federate` of each region, the fleet rules.
fn global_yml(regions: &[(&str, String)], ams: &[String]) -> String {
    let rules = super::root().join("alerts/mailcanary-fleet.rules.yml");
    let q = |v: &[String]| v.iter().map(|t| quote(t)).collect::<Vec<_>>().join(", ");
    let mut y = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {rules}\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [{ams}]\n\
         scrape_configs:\n  - job_name: mailcanary-federate\n    honor_labels: true\n    \
         metrics_path: /federate\n    params:\n      'match[]':\n",
        rules = quote(&rules.display().to_string()),
        ams = q(ams),
    );
    for m in FEDERATED {
        y.push_str(&format!("        - {}\n", quote(m)));
    }
    y.push_str("    static_configs:\n");
    for (region, target) in regions {
        y.push_str(&format!(
            "      - targets: [{}]\n        labels:\n          region: {region}\n",
            quote(target)
        ));
    }
    y
}

impl Topology {
    /// Everything up, every agent delivering, the global Prometheus seeing both regions.
    pub fn up() -> Topology {
        let dir = tempfile::tempdir().expect("tempdir");
        let proxy = Proxy::start();
        let mut agents = Vec::new();
        let specs: [(&'static str, &'static str, Option<&'static str>); 3] = [
            ("a1", "a", Some("1/2")),
            ("a2", "a", Some("2/2")),
            ("b1", "b", None),
        ];
        for (name, region, shard) in specs {
            let d = dir.path().join(name);
            let via = (region == "b").then_some(&proxy);
            let config = write_agent(&d, region, via);
            let args: Vec<String> = shard
                .map(|s| vec!["--shard".into(), s.into()])
                .unwrap_or_default();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let process = AgentProcess::start_with(&config, &args);
            agents.push(FleetAgent {
                name,
                region,
                shard,
                config,
                process,
            });
        }
        for a in &agents {
            let want = a.instances();
            assert!(!want.is_empty(), "agent {} has no instance", a.name);
            a.process.wait_for(
                &format!("agent {} delivering", a.name),
                Duration::from_secs(60),
                |p| {
                    let s = p.scrape();
                    want.iter().all(|(probe, client)| {
                        let l = [("probe", probe.as_str()), ("client", client.as_str())];
                        find(&s, "mailcanary_probe_success", &l) == Some(1.0)
                    })
                },
            );
        }
        let webhook = WebhookReceiver::start();
        let gossip = [free_port(), free_port()];
        let ams = vec![
            Alertmanager::start_peer(&webhook.url(), gossip[0], &[gossip[1]]),
            Alertmanager::start_peer(&webhook.url(), gossip[1], &[gossip[0]]),
        ];
        let am_targets: Vec<String> = (ams.iter())
            .map(|a| a.url().trim_start_matches("http://").to_string())
            .collect();
        let mut regional = Vec::new();
        for region in ["a", "b"] {
            let targets: Vec<String> = (agents.iter())
                .filter(|a| a.region == region)
                .map(|a| format!("127.0.0.1:{}", a.process.port()))
                .collect();
            let yml = regional_yml(region, &targets, &am_targets);
            regional.push((region, Prometheus::start_yml(|_| yml.clone())));
        }
        let feds: Vec<(&str, String)> = (regional.iter())
            .map(|(r, p)| (*r, p.url().trim_start_matches("http://").to_string()))
            .collect();
        let yml = global_yml(&feds, &am_targets);
        let global = Prometheus::start_yml(|_| yml.clone());
        let t = Topology {
            dir,
            proxy,
            agents,
            webhook,
            ams,
            regional,
            global,
        };
        let every = PROBES.len() * 2;
        let q = format!("count({}) == {every}", FEDERATED[0]);
        t.global.wait_for_series(&q, Duration::from_secs(60));
        let start = std::time::Instant::now();
        while t.ams.iter().any(|a| a.cluster_size() < 2) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the Alertmanagers did not form a cluster of 2"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        t
    }

    pub fn agent(&self, name: &str) -> &FleetAgent {
        (self.agents.iter())
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no agent {name}"))
    }

    pub fn regional(&mut self, region: &str) -> &mut Prometheus {
        (self.regional.iter_mut())
            .find(|(r, _)| *r == region)
            .map(|(_, p)| p)
            .unwrap_or_else(|| panic!("no region {region}"))
    }
}
