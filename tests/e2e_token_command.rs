//! An OAuth token command run by the agent process (against the embedded mail server) sees a
//! small environment: PATH and the like, and the variables the config names in
//! `oauth_token_command_env`, never the rest of the agent's environment (which may hold other
//! secrets).

mod support;

use mailcanary::demo::command::TOKEN;
use std::time::Duration;
use support::agent::{find, AgentProcess};
use support::demo::{probe, DemoBackend};

#[test]
fn the_token_command_does_not_see_the_agents_other_variables() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(dir.path(), &[probe("tok", &["tok"], 1000, 3000)]);
    // A client profile that logs in with the token on both protocols.
    let mut main = std::fs::read_to_string(&config).unwrap();
    main.push_str(
        "\n[clients.tok]\npreset = \"thunderbird\"\nimap_auth = \"xoauth2\"\nsmtp_auth = \"oauthbearer\"\n",
    );
    std::fs::write(&config, main).unwrap();
    let env_file = dir.path().join("command-env");
    let probe_file = dir.path().join("probes/tok.toml");
    let command = format!(
        "oauth_token_command = [\"sh\", \"-c\", \"env > '{}'; echo {TOKEN}\"]\n\
         oauth_token_command_env = [\"MAILCANARY_TEST_NAMED\"]",
        env_file.display()
    );
    let text = std::fs::read_to_string(&probe_file).unwrap();
    assert!(text.contains("oauth_token_file = \"../secrets/token\""));
    std::fs::write(
        &probe_file,
        text.replace("oauth_token_file = \"../secrets/token\"", &command),
    )
    .unwrap();

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
