//! `/-/reload` with Debian's curl against the agent binary: without `--web.enable-lifecycle` a
//! POST answers 403 and a changed config is not applied (SIGHUP still applies it); with the
//! flag a POST applies it, a cross-site POST (as a browser page would send) is refused, and a
//! GET answers 405 either way.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::agent::AgentProcess;
use support::demo::{probe, DemoBackend};

/// `curl -X METHOD url` with extra arguments; returns the HTTP status and the body.
fn curl(method: &str, url: &str, extra: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-X",
            method,
            "-w",
            "\n%{http_code}",
        ])
        .args(extra)
        .arg(url)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Whether the agent runs probe `name` (it has series for it).
fn runs(agent: &AgentProcess, name: &str) -> bool {
    agent
        .value("mailcanary_probe_cycles_total", &[("probe", name)])
        .is_some()
}

/// Starts an agent running probe `alpha`, then adds probe `beta` to its config files.
fn agent_with_pending_change(be: &DemoBackend, dir: &Path, args: &[&str]) -> AgentProcess {
    let alpha = probe("alpha", &["ios_mail"], 1000, 3000);
    let config = be.config(dir, std::slice::from_ref(&alpha));
    let agent = AgentProcess::start_with(&config, args);
    agent.wait_for("alpha running", Duration::from_secs(20), |a| {
        runs(a, "alpha")
    });
    be.config(dir, &[alpha, probe("beta", &["outlook"], 1000, 3000)]);
    agent
}

#[test]
fn reload_endpoint_is_off_without_the_lifecycle_flag_and_sighup_still_reloads() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_with_pending_change(&be, dir.path(), &[]);
    let url = agent.url("/-/reload");

    let (code, body) = curl("POST", &url, &[]);
    println!("POST /-/reload without the flag: {code} {body}");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("--web.enable-lifecycle"), "{body}");
    let (code, _) = curl("GET", &url, &[]);
    assert_eq!(code, 405);
    assert!(!runs(&agent, "beta"), "the changed config was not applied");
    assert!(!agent.log_text().contains("config reloaded"));

    agent.signal("HUP");
    agent.wait_for("beta applied by SIGHUP", Duration::from_secs(15), |a| {
        runs(a, "beta")
    });
    assert!(agent.log_text().contains("config reloaded"));
}

#[test]
fn reload_endpoint_works_with_the_lifecycle_flag_and_refuses_cross_site_posts() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let agent = agent_with_pending_change(&be, dir.path(), &["--web.enable-lifecycle"]);
    let url = agent.url("/-/reload");

    let (code, _) = curl("GET", &url, &[]);
    assert_eq!(code, 405);
    // What a form on another site makes a browser send.
    let (code, body) = curl(
        "POST",
        &url,
        &[
            "-H",
            "Origin: http://attacker.example",
            "-H",
            "Sec-Fetch-Site: cross-site",
        ],
    );
    println!("cross-site POST /-/reload: {code} {body}");
    assert_eq!(code, 403, "{body}");
    assert!(!runs(&agent, "beta"), "a cross-site POST applied nothing");

    let (code, body) = curl("POST", &url, &[]);
    println!("POST /-/reload with the flag: {code} {body}");
    assert_eq!(code, 200, "{body}");
    assert!(runs(&agent, "beta"), "the changed config is applied");
    assert_eq!(
        agent.value("mailcanary_config_last_reload_successful", &[]),
        Some(1.0)
    );
}
