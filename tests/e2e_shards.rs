//! Sharding through the binary: `mailcanary check --shard i/n` lists each shard's instances
//! (disjoint, every instance in one), the flag overrides `[agent] shard`, and agents started
//! with `--shard 1/2` and `--shard 2/2` on the same config each probe exactly their own
//! instances against the embedded mail server, say their shard in `mailcanary_shard_info`, and
//! keep to their shard when a reload adds probes; a reload that changes `[agent] shard` moves
//! the agent to the new shard.

mod support;

use mailcanary::config::Shard;
use mailcanary::demo::command::DemoProbe;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::agent::{bin, AgentProcess};
use support::demo::{probe, DemoBackend};

const CLIENTS: [&str; 2] = ["outlook", "thunderbird"];

fn probes(count: usize) -> Vec<DemoProbe> {
    (0..count)
        .map(|i| probe(&format!("p{i:02}"), &CLIENTS, 1000, 3000))
        .collect()
}

/// Every `probe/client` of `probes`, and those of them in `shard`.
fn keys(probes: &[DemoProbe], shard: Option<Shard>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in probes {
        for c in &p.clients {
            if shard.is_none_or(|s| s.contains(&p.name, c)) {
                out.insert(format!("{}/{c}", p.name));
            }
        }
    }
    out
}

fn shard(s: &str) -> Shard {
    s.parse().unwrap()
}

/// `mailcanary check -c config` with `args`: its exit code and stdout.
fn check(config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(bin())
        .args(["check", "-c"])
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The instances check's summary lists (first word of each indented line before the shard
/// section), and those of its shard section (`None` when there is none).
fn listed(out: &str) -> (BTreeSet<String>, Option<BTreeSet<String>>) {
    let mut all = BTreeSet::new();
    let mut shard: Option<BTreeSet<String>> = None;
    for line in out.lines() {
        if line.starts_with("shard ") {
            shard = Some(BTreeSet::new());
        } else if let Some(rest) = line.strip_prefix("  ") {
            let key = rest.split_whitespace().next().unwrap_or("").to_string();
            match &mut shard {
                Some(s) => {
                    s.insert(key);
                }
                None if key.contains('/') => {
                    all.insert(key);
                }
                None => {}
            }
        }
    }
    (all, shard)
}

/// Adds `shard = "VALUE"` under `[agent]` of the main file, or replaces it.
fn set_config_shard(config: &Path, value: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("shard =")).collect();
    let text = kept
        .join("\n")
        .replacen("[agent]", &format!("[agent]\nshard = \"{value}\""), 1);
    std::fs::write(config, text + "\n").unwrap();
}

#[test]
fn check_lists_disjoint_shards_whose_union_is_every_instance() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let set = probes(40);
    let config = be.config(dir.path(), &set);
    let every = keys(&set, None);

    let (code, plain) = check(&config, &[]);
    assert_eq!(code, Some(0), "{plain}");
    let (all, none) = listed(&plain);
    assert_eq!(all, every, "{plain}");
    assert_eq!(none, None, "no shard section without a shard: {plain}");

    let (code, one) = check(&config, &["--shard", "1/2"]);
    assert_eq!(code, Some(0), "{one}");
    assert!(
        one.starts_with(&plain),
        "the usual output comes first: {one}"
    );
    let first = listed(&one).1.expect("a shard section");
    let (_, two) = check(&config, &["--shard", "2/2"]);
    let second = listed(&two).1.expect("a shard section");
    assert!(!first.is_empty() && !second.is_empty(), "{one}\n{two}");
    assert!(first.is_disjoint(&second), "{one}\n{two}");
    let union: BTreeSet<String> = first.union(&second).cloned().collect();
    assert_eq!(union, every);
    assert_eq!(first, keys(&set, Some(shard("1/2"))));
    assert!(
        one.contains(&format!(
            "shard 1/2: {} of {} instance(s)",
            first.len(),
            every.len()
        )),
        "{one}"
    );

    // With `[agent] shard`, check lists that shard; `--shard` overrides it.
    set_config_shard(&config, "2/2");
    assert_eq!(listed(&check(&config, &[]).1).1, Some(second.clone()));
    assert_eq!(
        listed(&check(&config, &["--shard", "1/2"]).1).1,
        Some(first)
    );

    // A bad flag is refused by name before anything is read.
    let out = Command::new(bin())
        .args(["check", "--shard", "3/2", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("invalid value '3/2' for '--shard <i/n>'")
            && err.contains("must be from 1 to 2"),
        "{err}"
    );
}

/// The `probe/client` of every `mailcanary_probe_cycles_total` series the agent exports, and
/// whether each has counted a cycle.
fn cycling(agent: &AgentProcess) -> (BTreeSet<String>, bool) {
    let samples = agent.scrape();
    let series: Vec<_> = samples
        .iter()
        .filter(|s| s.name == "mailcanary_probe_cycles_total")
        .collect();
    let keys = series
        .iter()
        .map(|s| format!("{}/{}", s.labels["probe"], s.labels["client"]))
        .collect();
    (
        keys,
        !series.is_empty() && series.iter().all(|s| s.value >= 1.0),
    )
}

/// The `shard` label of every `mailcanary_shard_info` series whose value is 1.
fn shard_info(agent: &AgentProcess) -> Vec<String> {
    agent
        .scrape()
        .iter()
        .filter(|s| s.name == "mailcanary_shard_info" && s.value == 1.0)
        .map(|s| s.labels["shard"].clone())
        .collect()
}

/// Waits until `agent` exports cycle series for exactly `want`, each with a cycle counted.
fn wait_cycling(agent: &AgentProcess, what: &str, want: &BTreeSet<String>) {
    agent.wait_for(what, Duration::from_secs(60), |a| {
        let (have, all_cycled) = cycling(a);
        &have == want && all_cycled
    });
}

#[test]
fn two_agents_on_one_config_each_probe_their_own_shard_across_a_reload() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let set = probes(6);
    let config = be.config(dir.path(), &set);
    let (one, two) = (shard("1/2"), shard("2/2"));
    let (mine_1, mine_2) = (keys(&set, Some(one)), keys(&set, Some(two)));
    assert!(
        !mine_1.is_empty() && !mine_2.is_empty(),
        "both shards hold instances"
    );

    let a = AgentProcess::start_with(&config, &["--shard", "1/2", "--web.enable-lifecycle"]);
    let b = AgentProcess::start_with(&config, &["--shard", "2/2", "--web.enable-lifecycle"]);
    wait_cycling(&a, "agent 1/2 cycling its shard", &mine_1);
    wait_cycling(&b, "agent 2/2 cycling its shard", &mine_2);
    assert_eq!(shard_info(&a), ["1/2"]);
    assert_eq!(shard_info(&b), ["2/2"]);

    // A reload adds probes and sets `[agent] shard = "2/2"`: the flags stay over the config,
    // and each agent takes on its own shard of the new probes, and only those.
    let more = probes(12);
    be.config(dir.path(), &more);
    set_config_shard(&config, "2/2");
    for agent in [&a, &b] {
        let r = agent.post_reload();
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let (more_1, more_2) = (keys(&more, Some(one)), keys(&more, Some(two)));
    assert!(more_1.len() > mine_1.len() && more_2.len() > mine_2.len());
    wait_cycling(&a, "agent 1/2 cycling its shard of the new set", &more_1);
    wait_cycling(&b, "agent 2/2 cycling its shard of the new set", &more_2);
    assert_eq!(shard_info(&a), ["1/2"]);
}

#[test]
fn a_reload_that_changes_the_config_shard_moves_the_agent_to_it() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let set = probes(4);
    let config = be.config(dir.path(), &set);
    let agent = AgentProcess::start_with(&config, &["--web.enable-lifecycle"]);
    wait_cycling(&agent, "every instance cycling", &keys(&set, None));
    assert_eq!(
        shard_info(&agent),
        ["1/1"],
        "an agent without a shard is 1/1"
    );

    set_config_shard(&config, "2/2");
    let r = agent.post_reload();
    assert_eq!(r.status, 200, "{}", r.text());
    let theirs = keys(&set, Some(shard("2/2")));
    assert!(!theirs.is_empty());
    wait_cycling(&agent, "shard 2/2 cycling alone", &theirs);
    assert_eq!(shard_info(&agent), ["2/2"], "one series, the new shard");

    // A bad value at reload is rejected with file, line and field; the shard stays.
    set_config_shard(&config, "0/2");
    let r = agent.post_reload();
    assert_eq!(r.status, 400, "{}", r.text());
    let text = std::fs::read_to_string(&config).unwrap();
    let line = 1 + text.lines().position(|l| l.starts_with("shard =")).unwrap();
    let at = format!("mailcanary.toml:{line}:9: agent.shard: \"0/2\": the shard index");
    assert!(r.text().contains(&at), "{}", r.text());
    assert_eq!(shard_info(&agent), ["2/2"]);
    assert_eq!(cycling(&agent).0, theirs);
}
