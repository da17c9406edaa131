//! Real Prometheus and Alertmanager processes for end-to-end tests (the webhook receiver that
//! records what Alertmanager sends lives in `http.rs` and is re-exported here).
//!
//! Each process runs on a free 127.0.0.1 port with its config and storage in its own tempdir,
//! and is killed on drop. Prometheus always scrapes itself (job `prometheus`) and the given
//! targets under job `mailcanary` (the documented job name the alert rules select on).
//! Binaries come from `PATH` (Debian: `prometheus`, `prometheus-alertmanager`); if one is
//! missing the test fails and says to run `scripts/mailstack.sh install`.
#![allow(dead_code)]

use super::http;
#[allow(unused_imports)] // each test binary uses its own part of the helpers
pub use super::webhook::{Received, WebhookReceiver};
use serde_json::Value;
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Timeout of every HTTP call the helpers make.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a process may take to answer `/-/ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What a Prometheus is started with. `Prometheus::start` fills it with evaluation interval =
/// scrape interval.
#[derive(Clone, Debug)]
pub struct PrometheusConfig {
    /// `host:port` targets scraped at `/metrics` under job `mailcanary`.
    pub scrape_targets: Vec<String>,
    pub scrape_interval: Duration,
    pub evaluation_interval: Duration,
    pub rule_files: Vec<PathBuf>,
    /// `http://127.0.0.1:PORT` of an Alertmanager (see [`Alertmanager::url`]).
    pub alertmanager: Option<String>,
    /// More keys of the `mailcanary` job, as YAML lines indented by 4 (e.g. `scheme: https`,
    /// `tls_config`, `basic_auth`); empty for plain HTTP.
    pub scrape_options: String,
}

pub struct Prometheus {
    pub(super) process: Process,
}

impl Prometheus {
    pub fn start(
        scrape_targets: &[String],
        scrape_interval: Duration,
        rule_files: &[PathBuf],
        alertmanager: Option<&str>,
    ) -> Prometheus {
        Prometheus::start_with(&PrometheusConfig {
            scrape_targets: scrape_targets.to_vec(),
            scrape_interval,
            evaluation_interval: scrape_interval,
            rule_files: rule_files.to_vec(),
            alertmanager: alertmanager.map(str::to_string),
            scrape_options: String::new(),
        })
    }

    pub fn start_with(config: &PrometheusConfig) -> Prometheus {
        let process = Process::start(
            &["prometheus"],
            "prometheus.yml",
            |port| prometheus_yml(config, port),
            |dir, port| {
                vec![
                    format!("--storage.tsdb.path={}", dir.join("data").display()),
                    format!("--web.listen-address=127.0.0.1:{port}"),
                    // Alerts evaluated before the Alertmanager target is discovered (up to 5 s)
                    // are dropped and by default re-sent only after 1 m.
                    "--rules.alert.resend-delay=1s".to_string(),
                ]
            },
        );
        Prometheus { process }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.process.url()
    }

    /// The directory holding prometheus.yml, data/ and process.log.
    pub fn dir(&self) -> &Path {
        self.process.dir.path()
    }

    /// Panics (with the log) unless `/-/ready` answers 200 within 30 s.
    pub fn wait_healthy(&mut self) {
        if !self.process.wait_ready() {
            panic!("prometheus on {} is not ready:\n{}", self.url(), self.log());
        }
    }

    /// Instant query (GET /api/v1/query); returns `data.result` and panics on an API error.
    pub fn query(&self, promql: &str) -> Value {
        let data = self.api(&format!("/api/v1/query?query={}", http::urlencode(promql)));
        data["result"].clone()
    }

    /// Instant query that reports instead of panicking: `Err` carries Prometheus' error (a
    /// PromQL parse or execution error) or the HTTP failure.
    pub fn try_query(&self, promql: &str) -> Result<Value, String> {
        let url = format!(
            "{}/api/v1/query?query={}",
            self.url(),
            http::urlencode(promql)
        );
        let resp = http::get(&url, HTTP_TIMEOUT).map_err(|e| format!("GET {url}: {e}"))?;
        let json: Value = serde_json::from_slice(&resp.body)
            .map_err(|e| format!("status {}, not JSON ({e}): {}", resp.status, resp.text()))?;
        if json["status"] == "success" {
            Ok(json["data"]["result"].clone())
        } else {
            Err(format!("{}: {}", json["errorType"], json["error"]))
        }
    }

    /// The alerts Prometheus holds now, pending or firing (GET /api/v1/alerts).
    pub fn alerts(&self) -> Vec<Value> {
        let alerts = self.api("/api/v1/alerts")["alerts"].clone();
        alerts.as_array().cloned().unwrap_or_default()
    }

    /// Every rule of every loaded group, with its `health` and `lastError` (GET /api/v1/rules).
    pub fn rules(&self) -> Vec<Value> {
        let groups = self.api("/api/v1/rules")["groups"].clone();
        let groups = groups.as_array().cloned().unwrap_or_default();
        groups
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// GET an API path (`/api/v1/...`) and return its `data`, panicking unless status is success.
    pub fn api(&self, path_and_query: &str) -> Value {
        let json = get_json(&format!("{}{}", self.url(), path_and_query));
        assert_eq!(
            json["status"], "success",
            "GET {path_and_query} answered {json}"
        );
        json["data"].clone()
    }

    /// Polls `promql` until it returns at least one series, or panics after `timeout`.
    pub fn wait_for_series(&self, promql: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let result = self.query(promql);
            if result.as_array().is_some_and(|a| !a.is_empty()) {
                return result;
            }
            assert!(
                Instant::now() < deadline,
                "no series for {promql} within {timeout:?}"
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// The process' stdout and stderr so far.
    pub fn log(&self) -> String {
        self.process.log()
    }
}

fn prometheus_yml(c: &PrometheusConfig, own_port: u16) -> String {
    let mut y = format!(
        "global:\n  scrape_interval: {si}\n  scrape_timeout: {st}\n  evaluation_interval: {ei}\n",
        si = prom_duration(c.scrape_interval),
        st = prom_duration(c.scrape_interval.min(Duration::from_secs(10))),
        ei = prom_duration(c.evaluation_interval),
    );
    y.push_str("rule_files:\n");
    for f in &c.rule_files {
        let abs = fs::canonicalize(f).unwrap_or_else(|e| panic!("rule file {}: {e}", f.display()));
        y.push_str(&format!("  - {}\n", quote(&abs.display().to_string())));
    }
    if let Some(am) = &c.alertmanager {
        let target = am.trim_start_matches("http://").trim_end_matches('/');
        y.push_str(&format!(
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [{}]\n",
            quote(target)
        ));
    }
    y.push_str("scrape_configs:\n");
    y.push_str(&format!("  - job_name: prometheus\n    static_configs:\n      - targets: [\"127.0.0.1:{own_port}\"]\n"));
    if !c.scrape_targets.is_empty() {
        let targets: Vec<String> = c.scrape_targets.iter().map(|t| quote(t)).collect();
        y.push_str(&format!(
            "  - job_name: mailcanary\n    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ));
        y.push_str(&c.scrape_options);
    }
    y
}

/// Prometheus' duration syntax: whole seconds as `15s`, anything else in milliseconds.
fn prom_duration(d: Duration) -> String {
    let ms = d.as_millis().max(1);
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A YAML double-quoted scalar.
pub(super) fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub struct Alertmanager {
    pub(super) process: Process,
}

impl Alertmanager {
    /// Single node, one route to `webhook_url`: group_wait 1s, group_interval 1s,
    /// repeat_interval 1h, send_resolved true, no grouping (every alert its own group).
    pub fn start(webhook_url: &str) -> Alertmanager {
        let yml = format!(
            "route:
  receiver: webhook
  group_by: ['...']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: webhook
    webhook_configs:
      - url: {}
        send_resolved: true
",
            quote(webhook_url)
        );
        let names = ["prometheus-alertmanager", "alertmanager"];
        let process = Process::start(
            &names,
            "alertmanager.yml",
            |_| yml.clone(),
            |dir, port| {
                vec![
                    format!("--storage.path={}", dir.join("data").display()),
                    format!("--web.listen-address=127.0.0.1:{port}"),
                    "--cluster.listen-address=".to_string(),
                ]
            },
        );
        Alertmanager { process }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.process.url()
    }

    /// The alerts Alertmanager currently holds (GET /api/v2/alerts).
    pub fn alerts(&self) -> Value {
        get_json(&format!("{}/api/v2/alerts", self.url()))
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// A server process on a free 127.0.0.1 port with its config, data and log in a tempdir.
/// Killed on drop.
pub(super) struct Process {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Process {
    /// Writes `config(port)` to `dir/config_name`, runs the first of `names` found with
    /// `--config.file` plus `args(dir, port)`, and waits for `/-/ready`. A port picked free can
    /// be taken before the process binds it: that is retried twice.
    pub(super) fn start(
        names: &[&str],
        config_name: &str,
        config: impl Fn(u16) -> String,
        args: impl Fn(&Path, u16) -> Vec<String>,
    ) -> Process {
        let binary = find_binary(names);
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("tempdir");
            let port = free_port();
            let text = config(port);
            let config_file = dir.path().join(config_name);
            fs::write(&config_file, &text).unwrap_or_else(|e| panic!("write {config_name}: {e}"));
            let log = fs::File::create(dir.path().join("process.log")).expect("process.log");
            let child = Command::new(&binary)
                .arg(format!("--config.file={}", config_file.display()))
                .args(args(dir.path(), port))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone().expect("process.log")))
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
            let mut p = Process { child, port, dir };
            if p.wait_ready() {
                return p;
            }
            let log = p.log();
            if !log.contains("address already in use") {
                panic!(
                    "{} not ready on port {port}:\n{text}\n--- log ---\n{log}",
                    binary.display()
                );
            }
        }
        panic!("{}: no free port after 3 attempts", binary.display());
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("process.log")).unwrap_or_default()
    }

    /// Polls `/-/ready` until 200 within [`READY_TIMEOUT`]; false if the process exits first.
    fn wait_ready(&mut self) -> bool {
        let url = format!("{}/-/ready", self.url());
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if http::get(&url, Duration::from_secs(2)).is_ok_and(|r| r.status == 200) {
                return true;
            }
            thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Process {
    /// Kills the process now (SIGKILL) and reaps it.
    pub(super) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get_json(url: &str) -> Value {
    let resp = http::get(url, HTTP_TIMEOUT).unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_slice(&resp.body).unwrap_or_else(|e| {
        panic!(
            "GET {url}: status {}, not JSON ({e}): {}",
            resp.status,
            resp.text()
        )
    })
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn find_binary(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain([PathBuf::from("/usr/bin")]) {
        for name in names {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!("{} not found on PATH: run `scripts/mailstack.sh install` (installs prometheus and prometheus-alertmanager)", names.join(" / "));
}
