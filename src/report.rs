//! `mailcanary report`: the incident report from the ledger. For each probe × client × region
//! since a point in time: how many cycles failed, the outage windows (consecutive failed cycles)
//! with the stage and reason that dominated them, and what happened to every canary sent during
//! each window — on time, late (with the worst delay), lost, recovered, corrupt, still open.
//!
//! It answers the question users asked after the January 2023 outage: "what happened to the
//! mail sent to us while it was down?"

use crate::ledger::{Ledger, LedgerError};
use crate::vocab::Reason;

mod error;
pub use error::ReportError;
use rusqlite::params;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Canary counts by final state.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Outcomes {
    pub sent: u64,
    pub on_time: u64,
    pub late: u64,
    pub lost: u64,
    pub recovered: u64,
    pub corrupt: u64,
    /// Accepted, not yet seen, not yet declared lost.
    pub in_flight: u64,
    /// Refused by the server (never in flight).
    pub rejected: u64,
    /// The agent stopped before the server's answer to DATA and the canary never arrived.
    pub unconfirmed: u64,
    /// Longest accepted → seen delay, seconds.
    pub worst_delay_seconds: Option<f64>,
}

/// A run of consecutive failed cycles.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Outage {
    pub start: f64,
    /// Start of the first successful cycle after it; `None` while still down.
    pub end: Option<f64>,
    pub failed_cycles: u64,
    /// The most frequent `stage/reason` of its failed cycles.
    pub stage: String,
    pub reason: String,
    /// Canaries sent between `start` and `end`.
    pub canaries: Outcomes,
}

/// One probe instance's part of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InstanceReport {
    pub probe: String,
    pub client: String,
    pub region: String,
    pub cycles: u64,
    pub failed_cycles: u64,
    pub canaries: Outcomes,
    pub outages: Vec<Outage>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub since: f64,
    pub generated: f64,
    pub instances: Vec<InstanceReport>,
}

type Key = (String, String, String);

/// Builds the report for everything since `since` (unix seconds).
pub fn build(ledger: &Ledger, since: f64) -> Result<Report, LedgerError> {
    let now = crate::ledger::now();
    let (cycles, canaries) = ledger.query(|db| {
        let mut st = db.prepare(
            "SELECT probe, client, region, started_at, ok, coalesce(stage, ''), coalesce(reason, '')
             FROM cycles WHERE started_at >= ?1 ORDER BY probe, client, region, started_at",
        )?;
        let cycles: Vec<(Key, f64, bool, String, String)> = st
            .query_map(params![since], |r| {
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?),
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut st = db.prepare(
            "SELECT probe, client, region, sent_at, state, delay_s FROM canaries
             WHERE sent_at >= ?1 ORDER BY sent_at",
        )?;
        let canaries: Vec<(Key, f64, String, Option<f64>)> = st
            .query_map(params![since], |r| {
                Ok((
                    (r.get(0)?, r.get(1)?, r.get(2)?),
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((cycles, canaries))
    })?;

    let mut by_key: BTreeMap<Key, InstanceReport> = BTreeMap::new();
    // Causes of the open outage of each instance: (stage, reason) → failed cycles.
    let mut causes: BTreeMap<Key, BTreeMap<(String, String), u64>> = BTreeMap::new();
    for (k, at, ok, stage, reason) in &cycles {
        let r = by_key.entry(k.clone()).or_insert_with(|| empty(k));
        r.cycles += 1;
        // A cycle that failed on a fault of the agent itself (reason `internal`: its ledger, a
        // credential) says nothing about mail: it neither opens, extends nor ends an outage.
        if !ok && reason == Reason::Internal.as_str() {
            continue;
        }
        let open = r.outages.last_mut().filter(|o| o.end.is_none());
        match (ok, open) {
            (true, Some(o)) => o.end = Some(*at),
            (true, None) => {}
            (false, open) => {
                r.failed_cycles += 1;
                match open {
                    Some(o) => o.failed_cycles += 1,
                    None => {
                        causes.remove(k);
                        r.outages.push(Outage {
                            start: *at,
                            end: None,
                            failed_cycles: 1,
                            stage: String::new(),
                            reason: String::new(),
                            canaries: Outcomes::default(),
                        });
                    }
                }
                let c = causes.entry(k.clone()).or_default();
                *c.entry((stage.clone(), reason.clone())).or_default() += 1;
                if let (Some(o), Some(((s, r), _))) =
                    (r.outages.last_mut(), c.iter().max_by_key(|(_, n)| **n))
                {
                    o.stage = s.clone();
                    o.reason = r.clone();
                }
            }
        }
    }
    for (k, sent_at, state, delay) in &canaries {
        let r = by_key.entry(k.clone()).or_insert_with(|| empty(k));
        count(&mut r.canaries, state, *delay);
        for o in &mut r.outages {
            if *sent_at >= o.start && o.end.is_none_or(|e| *sent_at < e) {
                count(&mut o.canaries, state, *delay);
            }
        }
    }
    Ok(Report {
        since,
        generated: now,
        instances: by_key.into_values().collect(),
    })
}

fn empty(k: &Key) -> InstanceReport {
    InstanceReport {
        probe: k.0.clone(),
        client: k.1.clone(),
        region: k.2.clone(),
        cycles: 0,
        failed_cycles: 0,
        canaries: Outcomes::default(),
        outages: Vec::new(),
    }
}

fn count(o: &mut Outcomes, state: &str, delay: Option<f64>) {
    o.sent += 1;
    match state {
        "on_time" => o.on_time += 1,
        "late" => o.late += 1,
        "lost" => o.lost += 1,
        "recovered" => o.recovered += 1,
        "corrupt" => o.corrupt += 1,
        "sending" | "in_flight" => o.in_flight += 1,
        "rejected" => o.rejected += 1,
        "unconfirmed" => o.unconfirmed += 1,
        _ => {}
    }
    if let Some(d) = delay {
        o.worst_delay_seconds = Some(o.worst_delay_seconds.map_or(d, |w| w.max(d)));
    }
}

/// The last second a report can name: 9999-12-31T23:59:59Z (RFC 3339 has four-digit years).
pub const LAST_TIME: f64 = 253_402_300_799.0;

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
        time(r.generated)
    );
    if r.instances.is_empty() {
        let _ = writeln!(out, "\nno cycles or canaries recorded in this period");
    }
    for i in &r.instances {
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
            let end = match o.end {
                Some(e) => format!("{} ({})", time(e), dur(e - o.start)),
                None => format!("still down ({} so far)", dur(r.generated - o.start)),
            };
            let _ = writeln!(
                out,
                "  outage {} → {}: {} failed cycles, mostly {}/{}\n    canaries sent during it: {}",
                time(o.start),
                end,
                o.failed_cycles,
                o.stage,
                o.reason,
                outcomes_line(&o.canaries)
            );
        }
    }
    out
}

/// `mailcanary report`: reads the ledger named by the config and prints the report.
pub fn command(config: &std::path::Path, since: &str, json: bool) -> Result<(), ReportError> {
    let config = crate::agent::load(config)?;
    let path = &config.agent.ledger_path;
    if !path.exists() {
        return Err(ReportError::NoLedger(path.clone()));
    }
    let ledger = Ledger::open(path)?;
    let report = build(&ledger, parse_since(since, crate::ledger::now())?)?;
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(ReportError::Json)?;
        println!("{text}");
    } else {
        print!("{}", render_text(&report));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
