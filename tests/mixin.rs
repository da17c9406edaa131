//! The monitoring mixin (mixin/): the shipped rules and dashboards are what it generates, and its
//! `_config.jobSelector` reaches every query that reads an agent's series (in the fleet rules of
//! the global Prometheus, `_config.federateJobSelector` reaches every `up` of its federation
//! job). What the shipped files mean is checked by tests/alert_rules.rs, tests/contract_use.rs
//! and the real-Prometheus tests; these tests make sure those checks look at what the mixin
//! produces.
//!
//! Needs `jsonnet` (Debian package `jsonnet`, installed by scripts/test.sh): when it is missing
//! these tests fail and say how to install it; they never skip.

mod support;

use support::root;

use serde_json::Value;
use std::process::{Command, Output};

/// The job selector of the override: no shipped file names it.
const OTHER_JOB: &str = r#"job="mc-test""#;
/// The default job selector (mixin/config.libsonnet).
const DEFAULT_JOB: &str = r#"job="mailcanary""#;
/// The federation job's selector of the override, and its default.
const OTHER_FEDERATE: &str = r#"job="mc-federate-test""#;
const DEFAULT_FEDERATE: &str = r#"job="mailcanary-federate""#;

/// The job matcher a query of `what` must carry: the fleet rules read only recorded series and
/// the federation job's `up`.
fn expected_job<'a>(what: &str, agent: &'a str, federate: &'a str) -> &'a str {
    if what.starts_with("mailcanary.fleet") {
        federate
    } else {
        agent
    }
}

/// Runs `program` in the project's root; panics with install instructions when it cannot start.
fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(root())
        .output();
    out.unwrap_or_else(|e| {
        panic!(
            "cannot run {program} ({e}): jsonnet comes with the Debian package `jsonnet`; \
             install it (`apt-get install jsonnet`, as root; scripts/test.sh does) and try again"
        )
    })
}

fn text(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    format!("{stdout}{}", String::from_utf8_lossy(&out.stderr))
}

#[test]
fn shipped_rules_and_dashboards_are_what_the_mixin_generates() {
    run("jsonnet", &["--version"]);
    let out = run("scripts/mixin.sh", &["--check"]);
    assert!(
        out.status.success(),
        "alerts/ or dashboards/ differ from what mixin/ generates: edit mixin/ (never the \
         generated files) and run `scripts/mixin.sh`, then commit both.\n{}",
        text(&out)
    );
}

/// The mixin's three fields, evaluated with `overrides` added to `_config`, as JSON.
fn mixin_with(overrides: &str) -> Value {
    let program = format!(
        "local m = (import 'mixin/mixin.libsonnet') + {{ _config+:: {{ {overrides} }} }};\n\
         {{ alerts: m.prometheusAlerts, rules: m.prometheusRules, fleet: m.prometheusFleetAlerts,\n\
            dashboards: m.grafanaDashboards }}"
    );
    let out = run("jsonnet", &["-J", ".", "-e", &program]);
    assert!(out.status.success(), "jsonnet failed:\n{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("jsonnet output: {e}"))
}

/// (where, PromQL) for every rule expression, every query inside an annotation's template
/// (`printf "..."`, printf `...`, `query "..."`), every dashboard target and template variable.
fn queries(mixin: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for field in ["alerts", "rules", "fleet"] {
        for g in mixin[field]["groups"].as_array().into_iter().flatten() {
            for r in g["rules"].as_array().into_iter().flatten() {
                let name = r["alert"].as_str().or(r["record"].as_str()).unwrap_or("?");
                let what = format!("{} / {name}", g["name"].as_str().unwrap_or("?"));
                out.push((what.clone(), r["expr"].as_str().unwrap_or("").to_string()));
                let annotations = r["annotations"].as_object().into_iter().flatten();
                for (key, value) in annotations {
                    for q in template_queries(value.as_str().unwrap_or("")) {
                        out.push((format!("{what} annotation {key}"), q));
                    }
                }
            }
        }
    }
    for (file, d) in mixin["dashboards"].as_object().into_iter().flatten() {
        for (title, expr) in support::dashboard_queries(d) {
            out.push((format!("{file}: {title}"), expr));
        }
        for v in d["templating"]["list"].as_array().into_iter().flatten() {
            let name = v["name"].as_str().unwrap_or("?");
            for q in [&v["definition"], &v["query"]["query"]] {
                out.push((
                    format!("{file}: variable {name}"),
                    q.as_str().unwrap_or("").into(),
                ));
            }
        }
    }
    out
}

/// The string arguments of `printf` and `query` in a Go template text.
fn template_queries(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in ["printf ", "query "] {
        for (i, _) in text.match_indices(word) {
            let rest = &text[i + word.len()..];
            let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '`') else {
                continue;
            };
            if let Some(end) = rest[1..].find(quote) {
                out.push(rest[1..1 + end].to_string());
            }
        }
    }
    out
}

/// Each series selector in `promql`: (name, matchers between the braces, or None without).
fn selectors(promql: &str) -> Vec<(String, Option<String>)> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut rest = promql;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
        let len = rest[start..]
            .find(|c| !name_char(c))
            .unwrap_or(rest.len() - start);
        let name = &rest[start..start + len];
        let after = &rest[start + len..];
        // Inside a matcher list, `job="..."`: not a series name.
        let is_series = name.starts_with("mailcanary_") || name.contains(':') || name == "up";
        let matchers = after
            .strip_prefix('{')
            .and_then(|m| m.find('}').map(|end| m[..end].to_string()));
        if is_series && !after.starts_with('=') {
            out.push((name.to_string(), matchers.clone()));
        }
        let skip = start + len + matchers.map_or(0, |m| m.len() + 2);
        rest = &rest[skip.min(rest.len())..];
    }
    out
}

#[test]
fn a_job_selector_override_reaches_every_query_of_an_agent_metric() {
    let mixin = mixin_with(&format!(
        "jobSelector: '{OTHER_JOB}', federateJobSelector: '{OTHER_FEDERATE}'"
    ));
    // Anywhere at all (a label, a link, a query the parser below would miss).
    let all = mixin.to_string();
    for default in [DEFAULT_JOB, DEFAULT_FEDERATE] {
        if let Some(i) = all.find(&default.replace('"', "\\\"")) {
            // Byte offsets moved to character boundaries (the dashboards hold × and →).
            let boundary = |mut j: usize| {
                while !all.is_char_boundary(j) {
                    j -= 1;
                }
                j
            };
            let around = &all[boundary(i.saturating_sub(200))..boundary((i + 100).min(all.len()))];
            panic!("the default {default} survives the override, in ...{around}...");
        }
    }
    let (mut agent, mut recorded) = (0, 0);
    for (what, promql) in queries(&mixin) {
        for (name, matchers) in selectors(&promql) {
            let matchers = matchers.unwrap_or_default();
            let job = expected_job(&what, OTHER_JOB, OTHER_FEDERATE);
            let has_job = matchers.split(',').any(|m| m.trim() == job);
            if name.contains(':') {
                // A recording rule's series: aggregated without `job`, so no job matcher.
                recorded += 1;
                let job = matchers.contains("job");
                assert!(
                    !job,
                    "{what}: recorded series {name}{{{matchers}}} in {promql}"
                );
            } else {
                agent += 1;
                assert!(has_job, "{what}: {name} read without {job}: {promql}");
            }
        }
    }
    println!("{agent} selectors of agent metrics carry {OTHER_JOB}; {recorded} of recorded series carry none");
    assert!(
        agent > 0 && recorded > 0,
        "no selector found: the parser is broken"
    );
}

#[test]
fn the_default_job_selector_is_the_shipped_one() {
    let mixin = mixin_with("");
    let mut agent = 0;
    for (what, promql) in queries(&mixin) {
        for (name, matchers) in selectors(&promql)
            .into_iter()
            .filter(|s| !s.0.contains(':'))
        {
            agent += 1;
            let matchers = matchers.unwrap_or_default();
            let job = expected_job(&what, DEFAULT_JOB, DEFAULT_FEDERATE);
            let ok = matchers.split(',').any(|m| m.trim() == job);
            assert!(ok, "{what}: {name} read without {job}: {promql}");
        }
    }
    assert!(agent > 0, "no selector found: the parser is broken");
}
