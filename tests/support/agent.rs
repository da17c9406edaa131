//! A `mailcanary run` process under test: started on loopback port 0, so the system picks a port
//! no other process holds and the agent names it in its startup log line; scraped, signalled,
//! killed on drop. Its log goes to a file in the test's directory, printed when a wait fails.
#![allow(dead_code)]

use super::http;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct AgentProcess {
    child: Option<Child>,
    /// The port the agent listens on, once read from its log (see [`AgentProcess::port`]).
    port: OnceLock<u16>,
    pub log: PathBuf,
}

/// Log files of the agents this test process started, numbered.
static STARTED: AtomicUsize = AtomicUsize::new(0);

/// One sample of the exposition format.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mailcanary")
}

/// `target/test-output/<name>`, emptied: where a test keeps what is worth reading after it
/// ends (an agent's log, the pages it served), whether it passed or not.
pub fn output_dir(name: &str) -> PathBuf {
    // target/<profile>/mailcanary → target/test-output/<name>
    let target = Path::new(bin())
        .parent()
        .and_then(Path::parent)
        .expect("target dir");
    let dir = target.join("test-output").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("output dir");
    dir
}

/// `mailcanary report --since 1h` for `config`, as text or JSON; panics if it fails.
pub fn report(config: &Path, json: bool) -> String {
    let mut cmd = Command::new(bin());
    cmd.args(["report", "--since", "1h", "-c"]).arg(config);
    if json {
        cmd.arg("--json");
    }
    let out = cmd.output().expect("run mailcanary report");
    assert!(out.status.success(), "report failed: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 report")
}

impl AgentProcess {
    /// Starts the agent and waits until `/healthz` answers.
    pub fn start(config: &Path) -> AgentProcess {
        AgentProcess::start_with(config, &[])
    }

    /// Starts the agent with extra flags (e.g. `--web.enable-lifecycle`) and waits until
    /// `/healthz` answers over HTTP.
    pub fn start_with(config: &Path, args: &[&str]) -> AgentProcess {
        AgentProcess::spawn_with(config, args).healthy()
    }

    /// Waits until `/healthz` answers over HTTP.
    fn healthy(self) -> AgentProcess {
        self.wait_for("healthz", Duration::from_secs(20), |a| {
            http::get(&a.url("/healthz"), Duration::from_secs(2)).is_ok_and(|r| r.status == 200)
        });
        self
    }

    /// Starts the agent with `env` added to its environment, and waits until `/healthz` answers.
    pub fn start_with_env(config: &Path, env: &[(&str, &str)]) -> AgentProcess {
        AgentProcess::spawn_with_env(config, env).healthy()
    }

    /// Starts an agent that serves HTTPS (its web config asks for TLS) and waits until its port
    /// accepts connections.
    pub fn start_https(config: &Path, args: &[&str]) -> AgentProcess {
        let agent = AgentProcess::spawn_with(config, args);
        agent.wait_for("the agent to listen", Duration::from_secs(20), |a| {
            std::net::TcpStream::connect(("127.0.0.1", a.port())).is_ok()
        });
        agent
    }

    /// Starts the agent without waiting for it to be ready (to kill it while it starts).
    pub fn spawn(config: &Path) -> AgentProcess {
        AgentProcess::spawn_full(config, &[], &[])
    }

    /// [`AgentProcess::spawn`] with extra flags.
    pub fn spawn_with(config: &Path, args: &[&str]) -> AgentProcess {
        AgentProcess::spawn_full(config, args, &[])
    }

    fn spawn_with_env(config: &Path, env: &[(&str, &str)]) -> AgentProcess {
        AgentProcess::spawn_full(config, &[], env)
    }

    fn spawn_full(config: &Path, args: &[&str], env: &[(&str, &str)]) -> AgentProcess {
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = config.with_file_name(format!("agent-{}-{n}.log", std::process::id()));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin())
            .args(["run", "-c"])
            .arg(config)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.level",
                "debug",
            ])
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn mailcanary");
        AgentProcess {
            child: Some(child),
            port: OnceLock::new(),
            log,
        }
    }

    /// The port the agent listens on: read from its startup log line (`mailcanary agent started
    /// address=127.0.0.1:PORT`), waiting for it up to 20 s; panics with the log if it never comes.
    pub fn port(&self) -> u16 {
        *self.port.get_or_init(|| {
            let start = Instant::now();
            loop {
                let log = self.log_text();
                if let Some(port) = started_port(&log) {
                    return port;
                }
                if start.elapsed() > Duration::from_secs(20) {
                    panic!("the agent never logged the address it listens on:\n{log}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    /// `POST /-/reload` (the agent must run with `--web.enable-lifecycle`); panics if the
    /// request itself fails, whatever the status.
    pub fn post_reload(&self) -> http::Response {
        http::post(
            &self.url("/-/reload"),
            "text/plain",
            b"",
            Duration::from_secs(30),
        )
        .expect("POST /-/reload")
    }

    /// All samples of `/metrics` (empty if the scrape failed).
    pub fn scrape(&self) -> Vec<Sample> {
        match http::get(&self.url("/metrics"), Duration::from_secs(5)) {
            Ok(r) if r.status == 200 => parse(&r.text()),
            _ => Vec::new(),
        }
    }

    /// The value of the one sample of `name` whose labels include `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        find(&self.scrape(), name, labels)
    }

    /// Polls `cond` every 200 ms until it holds; panics with the agent log after `timeout`.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut(&Self) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            if cond(self) {
                return start.elapsed();
            }
            if start.elapsed() > timeout {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n--- agent log (last lines, newest first) ---\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends a signal (e.g. "TERM", "KILL", "HUP").
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status();
    }

    /// Waits for the process to exit; returns its exit code and how long it took.
    pub fn wait_exit(&mut self, timeout: Duration) -> (Option<i32>, Duration) {
        let start = Instant::now();
        let mut child = self.child.take().expect("running");
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return (st.code(), start.elapsed());
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("agent did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the agent's log that speak of a failure, oldest first: what a test
    /// prints when the agent counted a failure it did not expect.
    pub fn failure_lines(&self, n: usize) -> String {
        let log = self.log_text();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("fail")).collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The port of the agent's startup line in `log`, if it has been written.
fn started_port(log: &str) -> Option<u16> {
    let line = log
        .lines()
        .find(|l| l.contains("mailcanary agent started"))?;
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("address="))?;
    addr.rsplit_once(':')?.1.parse().ok()
}

/// Parses the text exposition format.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (head, value) = match line.rsplit_once(' ') {
            Some(x) => x,
            None => continue,
        };
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        let mut map = BTreeMap::new();
        for pair in split_labels(labels) {
            if let Some((k, v)) = pair.split_once('=') {
                map.insert(k.to_string(), v.trim_matches('"').to_string());
            }
        }
        if let Ok(v) = value.parse::<f64>() {
            out.push(Sample {
                name: name.to_string(),
                labels: map,
                value: v,
            });
        }
    }
    out
}

fn split_labels(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The value of the single sample named `name` whose labels include every pair in `labels`.
pub fn find(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

/// Sum over every sample named `name` whose labels include `labels`.
pub fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}
