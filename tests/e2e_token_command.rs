//! An OAuth token command run by the agent process (against the embedded mail server) sees a
//! small environment: PATH and the like, and the variables the config names in
//! `oauth_token_command_env`, never the rest of the agent's environment (which may hold other
//! secrets).

mod support;

use mailcanary::demo::command::TOKEN;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::agent::{find, AgentProcess};
use support::demo::{probe, DemoBackend};

/// A demo config whose probe `tok` logs in on both protocols with the token `command` prints
/// (TOML lines for the endpoint); returns the main file.
fn token_config(be: &DemoBackend, dir: &Path, command: &str) -> PathBuf {
    let config = be.config(dir, &[probe("tok", &["tok"], 1000, 3000)]);
    let mut main = std::fs::read_to_string(&config).unwrap();
    main.push_str(
        "\n[clients.tok]\npreset = \"thunderbird\"\nimap_auth = \"xoauth2\"\nsmtp_auth = \"oauthbearer\"\n",
    );
    std::fs::write(&config, main).unwrap();
    let probe_file = dir.join("probes/tok.toml");
    let text = std::fs::read_to_string(&probe_file).unwrap();
    assert!(text.contains("oauth_token_file = \"../secrets/token\""));
    std::fs::write(
        &probe_file,
        text.replace("oauth_token_file = \"../secrets/token\"", command),
    )
    .unwrap();
    config
}

#[test]
fn the_token_command_does_not_see_the_agents_other_variables() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("command-env");
    let command = format!(
        "oauth_token_command = [\"sh\", \"-c\", \"env > '{}'; echo {TOKEN}\"]\n\
         oauth_token_command_env = [\"MAILCANARY_TEST_NAMED\"]",
        env_file.display()
    );
    let config = token_config(&be, dir.path(), &command);

    let agent = AgentProcess::start_with_env(
        &config,
        &[
            ("MAILCANARY_TEST_SECRET", "must-not-reach-the-command"),
            ("MAILCANARY_TEST_NAMED", "named-in-the-config"),
        ],
    );
    agent.wait_for(
        "a cycle logged in with the command's token",
        Duration::from_secs(30),
        |a| find(&a.scrape(), "mailcanary_probe_success", &[("probe", "tok")]) == Some(1.0),
    );
    let env = std::fs::read_to_string(&env_file).unwrap();
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(
        !env.contains("MAILCANARY_TEST_SECRET") && !env.contains("must-not-reach-the-command"),
        "{names:?}"
    );
    assert!(
        env.contains("MAILCANARY_TEST_NAMED=named-in-the-config"),
        "{names:?}"
    );
    assert!(names.contains(&"PATH"), "{names:?}");
}

#[test]
fn a_token_command_that_hangs_is_killed_with_its_child_and_is_a_local_fault() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    // The command starts a child that sleeps for ever holding its stdout, then waits for it.
    // Every run appends its child's pid as one line: the next cycle runs the command again, and
    // must not overwrite (or, between truncating and writing, empty) the first run's line.
    let command = format!(
        "oauth_token_command = [\"sh\", \"-c\", \"sleep 1000 & echo $! >> '{}'; wait\"]",
        pid_file.display()
    );
    let config = token_config(&be, dir.path(), &command);
    let agent = AgentProcess::start(&config);
    let labels = [("probe", "tok")];
    agent.wait_for(
        "a cycle ended on the command's timeout",
        Duration::from_secs(30),
        |a| {
            a.value("mailcanary_local_faults_total", &labels)
                .unwrap_or(0.0)
                >= 1.0
        },
    );
    // The first run's child: that run timed out, so its process group was killed.
    let pids = std::fs::read_to_string(&pid_file).unwrap();
    let first = pids.lines().next().unwrap_or_default();
    let pid: u32 = first
        .parse()
        .unwrap_or_else(|e| panic!("first line {first:?} of {pids:?}: {e}"));
    // Killed with the command's process group: gone, or a zombie until init reaps it.
    let alive = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
            .unwrap_or(false)
    };
    agent.wait_for("the command's child gone", Duration::from_secs(5), |_| {
        !alive()
    });
    assert!(
        agent.log_text().contains("timed out after"),
        "the timeout is what the log says"
    );
    // The agent's own fault: no mail stage failed.
    let s = agent.scrape();
    assert_eq!(
        support::agent::sum(&s, "mailcanary_probe_failures_total", &labels),
        0.0
    );
    // Stopped gracefully, so a command started by the last cycle is killed at its timeout too
    // (a killed agent could not).
    let mut agent = agent;
    agent.signal("TERM");
    agent.wait_exit(Duration::from_secs(30));
}
