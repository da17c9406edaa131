//! The fleet report from the test's side: `mailcanary report --agent ...` run as a process,
//! each agent's own ledger read by the local `mailcanary report -c`, and their totals summed
//! the same way for comparison.
#![allow(dead_code)]

use super::agent::bin;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// What one run of the fleet report gave.
pub struct FleetRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl FleetRun {
    /// The JSON report on stdout; panics with both streams if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "fleet report is not JSON ({e}); exit {:?}\n{}\n{}",
                self.code, self.stdout, self.stderr
            )
        })
    }
}

/// `mailcanary report --agent A --agent B ... --since S --until U` plus `extra` flags.
pub fn fleet_report(agents: &[String], since: f64, until: f64, extra: &[&str]) -> FleetRun {
    let mut cmd = Command::new(bin());
    cmd.arg("report");
    for a in agents {
        cmd.args(["--agent", a]);
    }
    cmd.args(["--since", &since.to_string(), "--until", &until.to_string()]);
    cmd.args(extra);
    let out = cmd.output().expect("run mailcanary report --agent");
    FleetRun {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `mailcanary report -c config --since S --until U --json`: one agent's ledger, read from its
/// file.
pub fn local_report(config: &Path, since: f64, until: f64) -> Value {
    let out = Command::new(bin())
        .args(["report", "--json", "-c"])
        .arg(config)
        .args(["--since", &since.to_string(), "--until", &until.to_string()])
        .output()
        .expect("run mailcanary report -c");
    assert!(out.status.success(), "local report failed: {out:?}");
    serde_json::from_slice(&out.stdout).expect("local report JSON")
}

/// The canary outcome counts a total is compared on.
pub const OUTCOMES: [&str; 9] = [
    "sent",
    "on_time",
    "late",
    "lost",
    "recovered",
    "corrupt",
    "in_flight",
    "rejected",
    "unconfirmed",
];

/// Totals of local reports, in the shape of the fleet report's `totals`: instances, cycles,
/// failed cycles, outages, `canaries` and `during_outages` by outcome.
pub fn sum_of(reports: &[Value]) -> Value {
    let (mut instances, mut cycles, mut failed, mut outages) = (0u64, 0u64, 0u64, 0u64);
    let mut canaries = serde_json::Map::new();
    let mut during = serde_json::Map::new();
    let add = |m: &mut serde_json::Map<String, Value>, o: &Value| {
        for k in OUTCOMES {
            let n = m.get(k).and_then(Value::as_u64).unwrap_or(0) + o[k].as_u64().unwrap_or(0);
            m.insert(k.to_string(), n.into());
        }
    };
    for r in reports {
        for i in r["instances"].as_array().expect("instances") {
            instances += 1;
            cycles += i["cycles"].as_u64().unwrap();
            failed += i["failed_cycles"].as_u64().unwrap();
            add(&mut canaries, &i["canaries"]);
            for o in i["outages"].as_array().unwrap() {
                outages += 1;
                add(&mut during, &o["canaries"]);
            }
        }
    }
    serde_json::json!({
        "instances": instances, "cycles": cycles, "failed_cycles": failed, "outages": outages,
        "canaries": canaries, "during_outages": during,
    })
}

/// The fleet report's `totals` without the worst delays, in the shape of [`sum_of`].
pub fn totals(fleet: &Value) -> Value {
    let t = &fleet["totals"];
    let pick = |o: &Value| {
        let m: serde_json::Map<String, Value> = OUTCOMES
            .iter()
            .map(|k| (k.to_string(), o[*k].clone()))
            .collect();
        Value::Object(m)
    };
    serde_json::json!({
        "instances": t["instances"], "cycles": t["cycles"], "failed_cycles": t["failed_cycles"],
        "outages": t["outages"], "canaries": pick(&t["canaries"]),
        "during_outages": pick(&t["during_outages"]),
    })
}
