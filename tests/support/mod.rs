//! Shared helpers for the integration tests: an HTTP client/server and webhook receiver on std
//! (`http`), real Prometheus / Alertmanager processes (`prometheus`), and here the shipped
//! Grafana dashboards: loading them, walking their panels and queries, and checking a query's
//! use of Grafana variables.
#![allow(dead_code)]

pub mod agent;
pub mod alerting;
pub mod backend;
pub mod cluster;
pub mod demo;
pub mod fleet;
pub mod http;
pub mod ledger;
pub mod mailbox;
pub mod netns;
pub mod oauth;
pub mod profiles;
pub mod prometheus;
pub mod proxy;
pub mod replay;
pub mod stack;
pub mod topology;
pub mod webhook;

use serde_json::Value;
use std::path::{Path, PathBuf};

/// The project's root, where the shipped files (rules, dashboards, docs) are.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A shipped file's text: a test that cannot read what it checks fails, naming the file.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The dashboards shipped in `dashboards/`.
pub fn dashboard_files() -> Vec<PathBuf> {
    let dir = root().join("dashboards");
    ["mailcanary-overview.json", "mailcanary-probe.json"]
        .iter()
        .map(|f| dir.join(f))
        .collect()
}

/// Every panel of a dashboard, including panels nested in collapsed rows.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// (panel title, expr) for every target of every panel; a target without `expr` gives "".
pub fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(dashboard) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            out.push((title, t["expr"].as_str().unwrap_or("").to_string()));
        }
    }
    out
}

/// Grafana's variables replaced the way Grafana would for "All" selections and a 15 s scrape.
pub fn substitute_grafana_variables(expr: &str, rate_interval: &str) -> String {
    expr.replace("$__rate_interval", rate_interval)
        .replace("$__range", "1h")
        .replace("$__interval", "15s")
        .replace("$region", ".*")
        .replace("$probe", ".*")
        .replace("$client", ".*")
}

/// Each dashboard file with its parsed JSON; panics on invalid JSON.
pub fn load_dashboards() -> Vec<(String, Value)> {
    let parse = |p: PathBuf| {
        let name = p.display().to_string();
        let v = serde_json::from_str(
            &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {name}: {e}")),
        )
        .unwrap_or_else(|e| panic!("{name}: bad JSON: {e}"));
        (name, v)
    };
    dashboard_files().into_iter().map(parse).collect()
}

/// `{"type": "prometheus", "uid": "${datasource}"}`: the dashboard's datasource variable.
pub fn is_datasource_variable(ds: &Value) -> bool {
    ds["uid"] == "${datasource}" && ds["type"] == "prometheus"
}

/// Variables only inside `=~"$var"` matchers; range selectors are `[$__rate_interval]` or
/// `[$__range]`; parentheses and quotes balance. Panics naming `what` otherwise. (The PromQL
/// itself is run against a real Prometheus with the real agent in tests/e2e_alerts.rs.)
pub fn check_grafana_expr(what: &str, expr: &str) {
    for var in ["$region", "$probe", "$client"] {
        let matchers = expr.matches(&format!("=~\"{var}\"")).count();
        assert_eq!(
            expr.matches(var).count(),
            matchers,
            "{what}: {var} outside =~: {expr}"
        );
    }
    for (i, _) in expr.match_indices('[') {
        let end = expr[i..].find(']').map_or(expr.len(), |j| i + j + 1);
        let range = &expr[i..end];
        let ok = range == "[$__rate_interval]" || range == "[$__range]";
        assert!(ok, "{what}: range {range} in {expr}");
    }
    let balanced = expr.matches('(').count() == expr.matches(')').count();
    assert!(balanced, "{what}: parentheses in {expr}");
    assert_eq!(expr.matches('"').count() % 2, 0, "{what}: quotes in {expr}");
    let substituted = substitute_grafana_variables(expr, "1m");
    assert!(
        !substituted.contains('$'),
        "{what}: unknown variable in {expr}"
    );
}
