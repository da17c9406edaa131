//! The rules and dashboards against the metric contract: the Grafana dashboards are importable
//! and use the `datasource` variable, every metric named in a rule, dashboard or runbook is one
//! the agent exports (metric contract v2, docs/metrics.md, hard-coded below as the contract) with
//! label values from the fixed sets, no rule or dashboard reads a series the agent only exports
//! when opted in, and no gauge of the last cycle is read as a counter.

mod support;

use support::{read, root};

use std::collections::BTreeSet;
use std::fs;

/// Metric contract v2 (docs/metrics.md). Histograms also export `_bucket`, `_sum` and `_count`.
/// Every metric of this list must be used by a rule, a dashboard or a runbook.
const CONTRACT_METRICS: &[&str] = &[
    "mailcanary_probe_success",
    "mailcanary_probe_cycles_total",
    "mailcanary_probe_failures_total",
    // Gauges of the last cycle: the whole cycle, and each phase (0 for a phase not reached).
    "mailcanary_probe_duration_seconds",
    "mailcanary_phase_duration_seconds",
    "mailcanary_last_success_timestamp_seconds",
    // What the availability alerts count: failed and successful cycles in a row, and when each
    // stage and reason last failed.
    "mailcanary_probe_consecutive_failures",
    "mailcanary_probe_consecutive_successes",
    "mailcanary_probe_last_failure_timestamp_seconds",
    "mailcanary_canaries_in_flight",
    "mailcanary_canaries_total",
    // Cycles that ended on a fault of the agent itself: not mail failures.
    "mailcanary_local_faults_total",
    "mailcanary_sentinel_intact",
    "mailcanary_tls_cert_expiry_timestamp_seconds",
    "mailcanary_config_last_reload_successful",
    "mailcanary_build_info",
    // Which shard of the probe set an agent runs (`1/1` without sharding).
    "mailcanary_shard_info",
    // The receiving side's verdict per authentication method and the spam score of the last
    // verified canary: created once a canary carried them.
    "mailcanary_auth_result",
    "mailcanary_spam_score",
];
/// `mailcanary_phase_seconds` is exported only with `[agent] phase_histograms = true`: docs may
/// name it, but no rule or dashboard may read it ([`OPT_IN_METRICS`]).
const CONTRACT_HISTOGRAMS: &[&str] = &["mailcanary_delivery_seconds", "mailcanary_phase_seconds"];
/// Series the agent exports only when the config opts in. A rule or dashboard query reading one
/// would be empty (or a dashboard panel blank) for every agent with the default config.
const OPT_IN_METRICS: &[&str] = &["mailcanary_phase_seconds"];
/// Gauges of the last cycle (contract v2): smoothed with `avg_over_time` / `max_over_time`, never
/// `rate()`d or `increase()`d like the v1 phase histogram they replace.
const LAST_CYCLE_GAUGES: &[&str] = &[
    "mailcanary_probe_duration_seconds",
    "mailcanary_phase_duration_seconds",
];

/// Fixed label value sets of the contract, space-separated.
const STAGES: &str =
    "dns connect tls greeting ehlo auth mail_from rcpt data delivery imap_connect \
    imap_tls imap_greeting imap_login imap_select imap_search imap_fetch pop3_connect pop3_tls \
    pop3_greeting pop3_login pop3_list pop3_retr verify cleanup";
const REASONS: &str = "timeout refused reset tls_handshake cert_invalid auth_rejected temp_fail \
    perm_fail protocol_error not_delivered junk corrupt auth_verdict internal";
const OUTCOMES: &str = "on_time late lost recovered duplicate corrupt junk";

const RULES: &str = "alerts/mailcanary.rules.yml";
/// The fleet rules: they read the recording rules of [`RULES`] and `up`, nothing of their own.
const FLEET_RULES: &str = "alerts/mailcanary-fleet.rules.yml";

fn recorded_names(rules: &str) -> BTreeSet<String> {
    let names = rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- record:"));
    names.map(|n| n.trim().to_string()).collect()
}

#[test]
fn dashboards_are_importable_and_use_the_datasource_variable() {
    for (f, d) in support::load_dashboards() {
        assert!(d.get("__inputs").is_none(), "{f}: must not need __inputs");
        let schema = d["schemaVersion"].as_u64().unwrap_or(0);
        assert!((36..=41).contains(&schema), "{f}: schemaVersion {schema}");
        assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()), "{f}: uid");
        let vars = d["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let var = |name: &str| {
            let v = vars.iter().find(|v| v["name"] == name);
            v.cloned()
                .unwrap_or_else(|| panic!("{f}: no variable {name}"))
        };
        let ds = var("datasource");
        assert!(
            ds["type"] == "datasource" && ds["query"] == "prometheus",
            "{f}: {ds}"
        );
        for name in ["region", "probe", "client"] {
            let v = var(name);
            assert_eq!(v["type"], "query", "{f}: variable {name}");
            assert!(
                support::is_datasource_variable(&v["datasource"]),
                "{f}: {name} datasource"
            );
            let all = v["multi"] == true && v["includeAll"] == true;
            assert!(all, "{f}: variable {name} must be multi + includeAll");
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap_or("");
            let label_values = q.starts_with("label_values(mailcanary_probe_success")
                && q.ends_with(&format!(",{name})"));
            assert!(label_values, "{f}: variable {name} query {q}");
        }
        let panels = support::panels(&d);
        assert!(panels.len() > 5, "{f}: too few panels");
        let mut ids = BTreeSet::new();
        for p in panels {
            let title = p["title"].as_str().unwrap_or("?");
            let id = p["id"]
                .as_u64()
                .unwrap_or_else(|| panic!("{f}: {title}: no id"));
            assert!(ids.insert(id), "{f}: duplicate id at {title}");
            assert!(
                p["gridPos"]["w"].is_u64() && p["gridPos"]["h"].is_u64(),
                "{f}: {title}"
            );
            let ds = &p["datasource"];
            assert!(
                support::is_datasource_variable(ds),
                "{f}: {title}: datasource {ds}"
            );
            if p["type"] == "row" {
                continue;
            }
            let targets = p["targets"].as_array().filter(|t| !t.is_empty());
            for t in targets.unwrap_or_else(|| panic!("{f}: panel {title} has no targets")) {
                let expr = t["expr"].as_str().unwrap_or("");
                assert!(!expr.trim().is_empty(), "{f}: {title}: target without expr");
                assert!(
                    support::is_datasource_variable(&t["datasource"]),
                    "{f}: {title}: target ds"
                );
            }
        }
        for (title, expr) in support::dashboard_queries(&d) {
            support::check_grafana_expr(&format!("{f}: {title}"), &expr);
        }
    }
}

/// Maximal runs of metric-name characters.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    text.split(move |c: char| !name_char(c))
        .filter(|t| !t.is_empty())
}

#[test]
fn every_metric_named_is_in_the_contract() {
    let rules = read(&root().join(RULES));
    let recorded = recorded_names(&rules);
    let mut known: BTreeSet<String> = CONTRACT_METRICS.iter().map(|m| m.to_string()).collect();
    for h in CONTRACT_HISTOGRAMS {
        known.extend(["", "_bucket", "_sum", "_count"].map(|suffix| format!("{h}{suffix}")));
    }
    let promql = promql_sources();
    // Metric names in the rules file's comments are checked too, and in the comments of the
    // mixin it is generated from; runbooks cite metrics.
    let mut sources = promql.clone();
    sources[0].1 = rules.clone();
    sources.extend(mixin_comments());
    for entry in fs::read_dir(root().join("docs/runbooks")).expect("docs/runbooks") {
        let p = entry.expect("runbook entry").path();
        sources.push((p.display().to_string(), read(&p)));
    }
    let mut seen = BTreeSet::new();
    for (source, text) in &sources {
        for tok in tokens(text).filter(|t| t.contains("mailcanary_")) {
            if tok.contains(':') {
                let recording = recorded.contains(tok);
                assert!(
                    recording,
                    "{source}: {tok} is not a recording rule of {RULES}"
                );
                let levels = tok.split(':').filter(|part| !part.is_empty()).count();
                assert_eq!(levels, 3, "{source}: {tok} is not level:metric:operations");
            } else {
                let ok = known.contains(tok);
                assert!(
                    ok,
                    "{source}: {tok} is not in the metric contract (docs/metrics.md)"
                );
                seen.insert(tok.to_string());
            }
        }
    }
    for m in CONTRACT_METRICS {
        assert!(
            seen.contains(*m),
            "contract metric {m} is used by no rule, dashboard or runbook"
        );
    }
    for (source, text) in &promql {
        check_label_values(text, source);
    }
}

/// The comment lines of the monitoring mixin's jsonnet (mixin/ and its subdirectories), which
/// explain the rules: (file, comments).
fn mixin_comments() -> Vec<(String, String)> {
    let mut dirs = vec![root().join("mixin")];
    let mut out = Vec::new();
    while let Some(dir) = dirs.pop() {
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let p = entry.expect("mixin entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p
                .extension()
                .is_some_and(|e| e == "libsonnet" || e == "jsonnet")
            {
                let text = read(&p);
                let comments = text.lines().filter(|l| l.trim_start().starts_with("//"));
                let comments = comments.collect::<Vec<_>>().join("\n");
                out.push((p.display().to_string(), comments));
            }
        }
    }
    assert!(!out.is_empty(), "no jsonnet in mixin/");
    out
}

/// The PromQL the product runs: the rules file without its comments, and each dashboard's
/// queries and template variables.
fn promql_sources() -> Vec<(String, String)> {
    let rules = read(&root().join(RULES));
    let code = rules.lines().filter(|l| !l.trim_start().starts_with('#'));
    let rules = code.collect::<Vec<_>>().join("\n");
    let mut promql: Vec<(String, String)> = vec![(RULES.to_string(), rules)];
    let fleet = read(&root().join(FLEET_RULES));
    let code = fleet.lines().filter(|l| !l.trim_start().starts_with('#'));
    promql.push((FLEET_RULES.to_string(), code.collect::<Vec<_>>().join("\n")));
    for (name, d) in support::load_dashboards() {
        let mut text = d["templating"].to_string();
        support::dashboard_queries(&d)
            .into_iter()
            .for_each(|(_, e)| text += &format!("\n{e}"));
        promql.push((name, text));
    }
    promql
}

/// A rule or dashboard reading a series that exists only when an agent opts in would be empty
/// for every agent with the default config: the per-phase histogram is for users' own queries.
#[test]
fn no_rule_or_dashboard_reads_an_opt_in_series() {
    for (source, text) in promql_sources() {
        for tok in tokens(&text) {
            let opt_in = OPT_IN_METRICS.iter().find(|m| tok.starts_with(**m));
            assert!(
                opt_in.is_none(),
                "{source}: {tok} exists only when an agent opts in (`[agent] phase_histograms`)"
            );
        }
    }
}

/// The last-cycle gauges are read as gauges (`avg_over_time`, `max_over_time`), not as counters.
#[test]
fn last_cycle_gauges_are_not_read_as_counters() {
    for (source, text) in promql_sources() {
        for g in LAST_CYCLE_GAUGES {
            for f in ["rate(", "increase("] {
                let counter = text.contains(&format!("{f}{g}"));
                let why = "a gauge of the last cycle: use avg_over_time or max_over_time";
                assert!(!counter, "{source}: {f}{g}...): {g} is {why}");
            }
        }
    }
}

/// `stage`, `reason`, `outcome`, `phase` matchers only name values of the contract's fixed sets
/// (an alternative such as `imap_.*` must match at least one). A phase is named like the stage
/// it times.
fn check_label_values(text: &str, source: &str) {
    for (label, set) in [
        ("stage", STAGES),
        ("reason", REASONS),
        ("outcome", OUTCOMES),
        ("phase", STAGES),
    ] {
        let allowed: Vec<&str> = set.split_whitespace().collect();
        for op in ["=\"", "=~\""] {
            let pat = format!("{label}{op}");
            for (i, _) in text.match_indices(&pat) {
                if text[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                    continue; // a longer label name ending in `stage` etc.
                }
                let start = i + pat.len();
                let Some(len) = text[start..].find(['"', '\\']) else {
                    continue;
                };
                let value = &text[start..start + len];
                let regex = op == "=~\"";
                let alternatives = if regex {
                    value.split('|').collect()
                } else {
                    vec![value]
                };
                for alt in alternatives {
                    let ok = match alt.strip_suffix(".*") {
                        Some(prefix) => allowed.iter().any(|v| v.starts_with(prefix)),
                        None => allowed.contains(&alt),
                    };
                    assert!(ok, "{source}: {label} value {alt:?} is not in {allowed:?}");
                }
            }
        }
    }
}
