//! Config limits through the binary: an extreme duration is an error with file, line and field
//! for `check` and at start (never a panic), a reload carrying one is rejected while the old
//! config keeps running, and a profile that logs in without TLS runs only with
//! `allow_plaintext_auth = true`, named in a warning at start.

mod support;

use mailcanary::demo::{DemoServer, ServerOptions};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::agent::{bin, AgentProcess};
use support::demo::{probe, DemoBackend};

/// The deadline that made `check`, start and reload panic (overflow of 10 × deadline).
const EXTREME: &str = "2000000000000000000s";

fn run(args: &[&str], config: &Path) -> (Option<i32>, String) {
    let out = Command::new(bin()).args(args).arg(config).output().unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Sets `key` of the probe file `name` (adding the line at the top when it is not there).
fn set_key(dir: &Path, name: &str, key: &str, value: &str) -> std::path::PathBuf {
    let path = dir.join(format!("probes/{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let line = format!("{key} = \"{value}\"");
    let mut found = false;
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key} =")) {
                found = true;
                line.clone()
            } else {
                l.to_string()
            }
        })
        .collect();
    if !found {
        lines.insert(0, line);
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

/// The 1-based line of `needle` in `file`.
fn line_of(file: &Path, needle: &str) -> usize {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

#[test]
fn an_extreme_deadline_is_an_error_for_check_and_at_start_not_a_panic() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(dir.path(), &[probe("alpha", &["outlook"], 1000, 1500)]);
    let file = set_key(dir.path(), "alpha", "deadline", EXTREME);
    let at = format!(
        "{}:{}:12: deadline: must be at most 365d",
        file.display(),
        line_of(&file, EXTREME)
    );

    let (code, out) = run(&["check", "-c"], &config);
    assert_eq!(code, Some(1), "an error, not a panic (101): {out}");
    assert!(out.contains(&at), "{out}");

    let (code, out) = run(
        &["run", "--web.listen-address", "127.0.0.1:0", "-c"],
        &config,
    );
    assert_eq!(
        code,
        Some(1),
        "the agent refuses to start, without a panic: {out}"
    );
    assert!(out.contains(&at), "{out}");
}

#[test]
fn a_reload_with_an_extreme_value_is_rejected_and_the_old_config_keeps_running() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(dir.path(), &[probe("alpha", &["outlook"], 1000, 1500)]);
    let agent = AgentProcess::start_with(&config, &["--web.enable-lifecycle"]);
    let cycles = |a: &AgentProcess| {
        a.value("mailcanary_probe_cycles_total", &[("probe", "alpha")])
            .unwrap_or(0.0)
    };
    agent.wait_for("alpha cycling", Duration::from_secs(30), |a| {
        cycles(a) >= 1.0
    });

    // Over HTTP: 400, the error names file, line and field.
    let file = set_key(dir.path(), "alpha", "deadline", EXTREME);
    let r = agent.post_reload();
    assert_eq!(r.status, 400, "{}", r.text());
    let at = format!("alpha.toml:{}:12: deadline:", line_of(&file, EXTREME));
    assert!(r.text().contains(&at), "{}", r.text());
    assert_eq!(
        agent.value("mailcanary_config_last_reload_successful", &[]),
        Some(0.0)
    );

    // By SIGHUP, another extreme value: the agent stays up and keeps the old probe running.
    be.config(dir.path(), &[probe("alpha", &["outlook"], 1000, 1500)]);
    set_key(dir.path(), "alpha", "interval", "18446744073709551615s");
    let before = cycles(&agent);
    agent.signal("HUP");
    agent.wait_for(
        "the second rejection logged",
        Duration::from_secs(15),
        |a| {
            a.log_text()
                .matches("config reload rejected, old config kept")
                .count()
                >= 2
        },
    );
    agent.wait_for("alpha still cycling", Duration::from_secs(15), |a| {
        cycles(a) >= before + 2.0
    });
    assert!(
        !agent.log_text().contains("panicked"),
        "{}",
        agent.log_text()
    );
}

/// The demo server with plaintext logins allowed, as a test server without TLS would be.
fn plaintext_backend() -> DemoBackend {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(DemoServer::start(ServerOptions {
            allow_plaintext_auth: true,
            ..ServerOptions::default()
        }))
        .unwrap();
    DemoBackend {
        rt,
        server: Some(server),
    }
}

#[test]
fn plaintext_auth_is_refused_unless_the_profile_allows_it_and_then_runs_with_a_warning() {
    let be = plaintext_backend();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(dir.path(), &[probe("clear", &["bare"], 1000, 1500)]);
    let main = std::fs::read_to_string(&config).unwrap();
    let profile =
        "\n[clients.bare]\npreset = \"outlook\"\nimap_tls = \"none\"\nsmtp_tls = \"none\"\n";
    std::fs::write(&config, format!("{main}{profile}")).unwrap();

    let (code, out) = run(&["check", "-c"], &config);
    assert_eq!(code, Some(1), "{out}");
    for side in ["imap", "smtp"] {
        assert!(
            out.contains(&format!(
                "clients.bare.{side}_tls: {side}_tls = \"none\" with {side}_auth = \"login\" sends the password in clear text"
            )),
            "{out}"
        );
    }

    std::fs::write(
        &config,
        format!("{main}{profile}allow_plaintext_auth = true\n"),
    )
    .unwrap();
    let (code, out) = run(&["check", "-c"], &config);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("imap and smtp login without TLS"), "{out}");

    let agent = AgentProcess::start(&config);
    agent.wait_for(
        "a plaintext cycle succeeding",
        Duration::from_secs(30),
        |a| {
            a.value(
                "mailcanary_probe_success",
                &[("probe", "clear"), ("client", "bare")],
            ) == Some(1.0)
        },
    );
    let log = agent.log_text();
    let warning = log
        .lines()
        .find(|l| l.contains("credentials sent in clear text"))
        .unwrap_or_else(|| panic!("no warning at start:\n{log}"));
    assert!(
        warning.contains("probe=clear") && warning.contains("client=bare"),
        "{warning}"
    );
    assert!(
        !log.contains(mailcanary::demo::command::PASSWORD),
        "the password stays out of the log"
    );
}

#[test]
fn demo_flags_of_any_size_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let demo = |extra: &[&str]| {
        let out = Command::new(bin())
            .args(["demo", "--web.listen-address", "127.0.0.1:0", "--dir"])
            .arg(dir.path())
            .args(extra)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    for interval in ["0s", "99ms", EXTREME, "18446744073709551615s"] {
        let (code, err) = demo(&["--interval", interval]);
        assert_eq!(code, Some(1), "{interval}: {err}");
        assert!(
            err.contains("--interval must be between 100ms and 365d"),
            "{err}"
        );
    }
    for speed in ["inf", "NaN", "1e309", "0", "-1", "1e-300"] {
        let (code, err) = demo(&["--scenario", "libero", &format!("--scenario-speed={speed}")]);
        assert_eq!(code, Some(1), "{speed}: {err}");
        assert!(err.contains("--scenario-speed must be between"), "{err}");
    }
    assert!(
        !dir.path().join("mailcanary.toml").exists(),
        "refused before writing a config"
    );
}
