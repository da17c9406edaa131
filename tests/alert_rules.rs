//! The alert rules checked as a product: `alerts/mailcanary.rules.yml` (per region) and
//! `alerts/mailcanary-fleet.rules.yml` (the global Prometheus of a fleet) pass `promtool check
//! rules` and their unit tests (the timings of the on-call replay included), and every alert is
//! tested firing and has its labels, annotations and runbook. (That rules and dashboards read
//! only the metric contract: tests/contract_use.rs.)
//!
//! Needs `promtool` (Debian package `prometheus`): when it is missing these tests fail and say
//! how to install it; they never skip.

mod support;

use support::{read, root};

use std::collections::BTreeSet;
use std::process::Command;

const RUNBOOK_BASE: &str = "https://github.com/mailcanary/mailcanary/blob/main/docs/runbooks/";
const RULES: &str = "alerts/mailcanary.rules.yml";
const RULES_TEST: &str = "alerts/mailcanary.rules_test.yml";
/// The on-call timings: 10 s probe interval, 5 s scrape and evaluation (tests/e2e_alerts.rs).
const RULES_TIMING_TEST: &str = "alerts/mailcanary.rules_timing_test.yml";
/// The fleet rules, evaluated by the global Prometheus (docs/scale.md).
const FLEET_RULES: &str = "alerts/mailcanary-fleet.rules.yml";
const FLEET_RULES_TEST: &str = "alerts/mailcanary-fleet.rules_test.yml";

/// Runs promtool; fails the test with promtool's output unless it exits 0.
fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(root())
        .output();
    let out = out.unwrap_or_else(|e| {
        panic!(
            "cannot run promtool ({e}): it comes with the Debian package `prometheus`; \
             run `scripts/mailstack.sh install` (as root) and try again"
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let cmd = args.join(" ");
    assert!(
        out.status.success(),
        "promtool {cmd} failed ({}):\n{text}",
        out.status
    );
    println!("promtool {cmd}:\n{text}");
}

#[test]
fn promtool_check_rules_passes() {
    promtool(&["check", "rules", RULES]);
    promtool(&["check", "rules", FLEET_RULES]);
}

#[test]
fn promtool_unit_tests_pass() {
    promtool(&["test", "rules", RULES_TEST]);
    promtool(&["test", "rules", FLEET_RULES_TEST]);
}

#[test]
fn promtool_timing_tests_pass() {
    promtool(&["test", "rules", RULES_TIMING_TEST]);
}

/// One `- alert:` entry of the rules file: its name and the trimmed lines of its block.
struct AlertBlock {
    name: String,
    lines: Vec<String>,
}

impl AlertBlock {
    /// The value after `key` on the first line starting with it, e.g. `severity:`.
    fn value(&self, key: &str) -> String {
        let found = self.lines.iter().find_map(|l| l.strip_prefix(key));
        found
            .unwrap_or_else(|| panic!("{}: no {key}", self.name))
            .trim()
            .to_string()
    }
}

/// Splits the rules file into alert blocks. The file is ours and keeps one layout: each rule
/// starts with `- alert:` or `- record:`, each group with `- name:`.
fn alert_blocks(rules: &str) -> Vec<AlertBlock> {
    let mut blocks: Vec<AlertBlock> = Vec::new();
    let mut in_alert = false;
    for line in rules.lines().map(str::trim_start) {
        if let Some(name) = line.strip_prefix("- alert:") {
            let name = name.trim().to_string();
            blocks.push(AlertBlock {
                name,
                lines: Vec::new(),
            });
            in_alert = true;
        } else if line.starts_with("- record:") || line.starts_with("- name:") {
            in_alert = false;
        } else if let Some(b) = blocks.last_mut().filter(|_| in_alert) {
            b.lines.push(line.to_string());
        }
    }
    blocks
}

#[test]
fn every_alert_has_severity_annotations_and_a_runbook() {
    let blocks = alert_blocks(&read(&root().join(RULES)));
    assert!(
        blocks.len() >= 15,
        "expected the full alert set, found {}",
        blocks.len()
    );
    let fleet = alert_blocks(&read(&root().join(FLEET_RULES)));
    assert!(
        fleet.len() >= 4,
        "expected the fleet alerts, found {}",
        fleet.len()
    );
    let names = |b: &[AlertBlock]| b.iter().map(|b| b.name.clone()).collect::<BTreeSet<_>>();
    let both: Vec<_> = names(&blocks)
        .intersection(&names(&fleet))
        .cloned()
        .collect();
    assert!(both.is_empty(), "alerts in both rule files: {both:?}");
    let blocks: Vec<AlertBlock> = blocks.into_iter().chain(fleet).collect();
    let readme = read(&root().join("docs/runbooks/README.md"));
    for b in &blocks {
        let n = &b.name;
        let camel = n.starts_with("MailCanary") && n.chars().all(|c| c.is_ascii_alphanumeric());
        assert!(camel, "{n}: CamelCase with prefix MailCanary");
        let severity = b.value("severity:");
        let known = ["critical", "warning", "info"].contains(&severity.as_str());
        assert!(known, "{n}: severity {severity}");
        let summary = b.value("summary:");
        assert!(
            !summary.is_empty() && !summary.contains("{{"),
            "{n}: summary must be fixed"
        );
        b.value("description:");
        let mut description = b
            .lines
            .iter()
            .skip_while(|l| !l.starts_with("description:"));
        let templated = description
            .by_ref()
            .take_while(|l| !l.starts_with("runbook_url:"))
            .any(|l| l.contains("$labels"));
        assert!(templated, "{n}: description is not templated with $labels");
        assert_eq!(
            b.value("runbook_url:"),
            format!("{RUNBOOK_BASE}{n}.md"),
            "{n}: runbook_url"
        );
        let runbook = root().join(format!("docs/runbooks/{n}.md"));
        assert!(
            runbook.is_file(),
            "{n}: missing runbook {}",
            runbook.display()
        );
        let titled = read(&runbook).starts_with(&format!("# {n}\n"));
        assert!(titled, "{n}: runbook must start with its title");
        let indexed = readme.contains(&format!("[{n}]({n}.md)"));
        assert!(indexed, "{n}: not indexed in docs/runbooks/README.md");
    }
}

#[test]
fn every_alert_has_a_promtool_case_where_it_fires() {
    firing_cases(RULES, RULES_TEST);
    firing_cases(FLEET_RULES, FLEET_RULES_TEST);
}

/// Every alert of `rules` has a case of `tests` asserting it firing; `tests` names no other.
fn firing_cases(rules: &str, tests: &str) {
    let tests = read(&root().join(tests));
    let lines: Vec<&str> = tests.lines().map(str::trim).collect();
    // A firing case is block style: `alertname: X` followed by `exp_alerts:` and a list.
    let mut firing = BTreeSet::new();
    let mut mentioned = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        for (pos, _) in line.match_indices("alertname:") {
            let rest = line[pos + "alertname:".len()..].trim_start();
            let name: String = rest
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            mentioned.insert(name.clone());
            if pos == 0 && lines.get(i + 1) == Some(&"exp_alerts:") {
                firing.insert(name);
            }
        }
    }
    let blocks = alert_blocks(&read(&root().join(rules)));
    let alerts: BTreeSet<String> = blocks.into_iter().map(|b| b.name).collect();
    let untested: Vec<_> = alerts.difference(&firing).collect();
    assert!(
        untested.is_empty(),
        "alerts with no promtool case asserting them firing: {untested:?}"
    );
    let unknown: Vec<_> = mentioned.difference(&alerts).collect();
    assert!(
        unknown.is_empty(),
        "test cases for alerts that do not exist: {unknown:?}"
    );
}
