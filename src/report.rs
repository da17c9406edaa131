//! `mailcanary report`: the incident report from the ledger. For each probe × client × region
//! since a point in time: how many cycles failed, the outage windows (consecutive failed cycles)
//! with the stage and reason that dominated them, and what happened to every canary sent during
//! each window — on time, late (with the worst delay), lost, recovered, corrupt, in Junk, still open.
//!
//! It answers the question users asked after the January 2023 outage: "what happened to the
//! mail sent to us while it was down?"
//!
//! The report's data and how it is read from the ledger are `ledger::report` (the agent serves
//! them at `/api/report`); here they are printed. With `--agent URL ...` the question goes to
//! the whole fleet: `remote.rs` asks every agent (`fetch.rs`) and `fleet.rs` merges the answers.

use crate::ledger::{Ledger, LedgerError};

mod error;
pub mod fetch;
pub mod fleet;
pub mod remote;
pub use crate::ledger::report::{InstanceReport, Outage, Outcomes, Report, LAST_TIME};
pub use error::ReportError;
use std::fmt::Write;

/// Builds the report for everything since `since` (unix seconds).
pub fn build(ledger: &Ledger, since: f64) -> Result<Report, LedgerError> {
    crate::ledger::report::build(ledger, since, None)
}

/// Parses `--since`: a duration back from now (`6h`, `2days`; one reaching before 1970 means
/// everything), an RFC 3339 time (`2023-01-22T00:00:00Z`), or unix seconds from 0 to
/// [`LAST_TIME`]. Always a finite time in that range.
pub fn parse_since(s: &str, now: f64) -> Result<f64, ReportError> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok((now - d.as_secs_f64()).clamp(0.0, LAST_TIME));
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(crate::ledger::unix(t).clamp(0.0, LAST_TIME));
    }
    match s.parse::<f64>() {
        Ok(t) if (0.0..=LAST_TIME).contains(&t) => Ok(t),
        _ => Err(ReportError::Since(s.to_string())),
    }
}

/// `t` (unix seconds) in RFC 3339, clamped to what that can write.
fn time(t: f64) -> String {
    let secs = if t.is_nan() {
        0.0
    } else {
        t.clamp(0.0, LAST_TIME)
    };
    let st = std::time::UNIX_EPOCH
        .checked_add(std::time::Duration::from_secs(secs as u64))
        .unwrap_or(std::time::UNIX_EPOCH);
    humantime::format_rfc3339_seconds(st).to_string()
}

fn dur(s: f64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(s.max(0.0).round() as u64))
        .to_string()
}

/// "N sent, N on time, N late, N lost" always (a zero is an answer: "0 lost" is what a user
/// asks after an outage), then the rarer outcomes only when they occurred.
fn outcomes_line(o: &Outcomes) -> String {
    let mut parts = vec![
        format!("{} sent", o.sent),
        format!("{} on time", o.on_time),
        format!("{} late", o.late),
        format!("{} lost", o.lost),
    ];
    for (n, what) in [
        (o.recovered, "recovered after being declared lost"),
        (o.corrupt, "corrupt"),
        (o.junk, "in Junk"),
        (o.in_flight, "still in flight"),
        (o.rejected, "refused by the server"),
        (o.unconfirmed, "unconfirmed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    if let Some(w) = o.worst_delay_seconds {
        parts.push(format!("worst delay {}", dur(w)));
    }
    parts.join(", ")
}

/// The report as text for a terminal.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mailcanary report: {} → {}",
        time(r.since),
        time(r.until.unwrap_or(r.generated))
    );
    if r.instances.is_empty() {
        let _ = writeln!(out, "\nno cycles or canaries recorded in this period");
    }
    render_instances(&mut out, &r.instances, r.until.unwrap_or(r.generated));
    out
}

/// Each instance's line, then its outages; an outage still open is "still down" as of `end`.
fn render_instances(out: &mut String, instances: &[InstanceReport], end: f64) {
    for i in instances {
        let _ = writeln!(
            out,
            "\n{}/{}/{}: {} cycles, {} failed; canaries: {}",
            i.probe,
            i.client,
            i.region,
            i.cycles,
            i.failed_cycles,
            outcomes_line(&i.canaries)
        );
        for o in &i.outages {
            let until = match o.end {
                Some(e) => format!("{} ({})", time(e), dur(e - o.start)),
                None => format!("still down ({} so far)", dur(end - o.start)),
            };
            let _ = writeln!(
                out,
                "  outage {} → {}: {} failed cycles, mostly {}/{}\n    canaries sent during it: {}",
                time(o.start),
                until,
                o.failed_cycles,
                o.stage,
                o.reason,
                outcomes_line(&o.canaries)
            );
        }
    }
}

/// `mailcanary report`: reads the ledger named by the config and prints the report.
pub fn command(config: &std::path::Path, since: &str, json: bool) -> Result<(), ReportError> {
    local(config, since, None, json)
}

/// `mailcanary report -c FILE`: the report of the ledger named by the config, from `since` to
/// `until` (the same forms as `--since`; `None`: up to now), printed as text or JSON.
pub fn local(
    config: &std::path::Path,
    since: &str,
    until: Option<&str>,
    json: bool,
) -> Result<(), ReportError> {
    let config = crate::agent::load(config)?;
    let path = &config.agent.ledger_path;
    if !path.exists() {
        return Err(ReportError::NoLedger(path.clone()));
    }
    let now = crate::ledger::now();
    let since = parse_since(since, now)?;
    let until = until.map(|u| parse_until(u, now)).transpose()?;
    let ledger = Ledger::open(path)?;
    let report = crate::ledger::report::build(&ledger, since, until)?;
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(ReportError::Json)?;
        println!("{text}");
    } else {
        print!("{}", render_text(&report));
    }
    Ok(())
}

/// Parses `--until`: the forms of `--since` (a duration back from now, a time, unix seconds).
pub fn parse_until(s: &str, now: f64) -> Result<f64, ReportError> {
    parse_since(s, now).map_err(|_| ReportError::Until(s.to_string()))
}

#[cfg(test)]
mod tests;
