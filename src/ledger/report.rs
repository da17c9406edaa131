//! The incident report's data, built from the ledger's cycles and canaries: for each probe ×
//! client × region in a period, how many cycles failed, the outage windows (consecutive failed
//! cycles) with the stage and reason that dominated them, and what happened to every canary sent
//! during each window. `mailcanary report` renders it; the agent serves it at `/api/report` for
//! the fleet report, which merges the reports of many agents.
//!
//! It lives with the ledger because it is a reading of the ledger's own records: the HTTP side
//! may serve it, and neither depends on the command that prints it.

use super::{LedgerError, Result};
use crate::vocab::Reason;
use rusqlite::{params, Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The last second a report can name: 9999-12-31T23:59:59Z (RFC 3339 has four-digit years).
pub const LAST_TIME: f64 = 253_402_300_799.0;

/// Canary counts by final state.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Outcomes {
    pub sent: u64,
    pub on_time: u64,
    pub late: u64,
    pub lost: u64,
    pub recovered: u64,
    pub corrupt: u64,
    /// Found in the account's Junk folder instead of the mailbox (absent in reports of agents
    /// that predate the outcome: zero).
    #[serde(default)]
    pub junk: u64,
    /// Accepted, not yet seen, not yet declared lost.
    pub in_flight: u64,
    /// Refused by the server (never in flight).
    pub rejected: u64,
    /// The agent stopped before the server's answer to DATA and the canary never arrived.
    pub unconfirmed: u64,
    /// Longest accepted → seen delay, seconds.
    pub worst_delay_seconds: Option<f64>,
}

impl Outcomes {
    /// Adds `other`'s counts to these (saturating: counts from other agents are not trusted to
    /// be small); the worst delay is the larger of the two.
    pub fn add(&mut self, other: &Outcomes) {
        let pairs = [
            (&mut self.sent, other.sent),
            (&mut self.on_time, other.on_time),
            (&mut self.late, other.late),
            (&mut self.lost, other.lost),
            (&mut self.recovered, other.recovered),
            (&mut self.corrupt, other.corrupt),
            (&mut self.junk, other.junk),
            (&mut self.in_flight, other.in_flight),
            (&mut self.rejected, other.rejected),
            (&mut self.unconfirmed, other.unconfirmed),
        ];
        for (mine, theirs) in pairs {
            *mine = mine.saturating_add(theirs);
        }
        if let Some(d) = other.worst_delay_seconds.filter(|d| d.is_finite()) {
            self.worst_delay_seconds = Some(self.worst_delay_seconds.map_or(d, |w| w.max(d)));
        }
    }
}

/// A run of consecutive failed cycles.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub since: f64,
    /// End of the period (exclusive); `None`: up to when it was generated.
    #[serde(default)]
    pub until: Option<f64>,
    pub generated: f64,
    pub instances: Vec<InstanceReport>,
}

type Key = (String, String, String);

/// Builds the report for everything since `since` and before `until` (unix seconds; `None`:
/// no end).
pub fn build(ledger: &super::Ledger, since: f64, until: Option<f64>) -> Result<Report> {
    ledger.query(|db| build_on(db, since, until))
}

/// [`build`] on a connection of its own, opened read-only: the agent's HTTP side reads the
/// ledger this way, so a long report never holds the connection the probes write through
/// (SQLite in WAL mode lets readers and the writer run at once).
pub fn read(path: &Path, since: f64, until: Option<f64>) -> Result<Report> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| LedgerError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    db.busy_timeout(Duration::from_secs(5))
        .map_err(LedgerError::sql("report: set busy timeout"))?;
    build_on(&db, since, until).map_err(LedgerError::sql("report"))
}

fn build_on(db: &Connection, since: f64, until: Option<f64>) -> rusqlite::Result<Report> {
    let now = super::now();
    let end = until.unwrap_or(f64::INFINITY);
    let mut st = db.prepare(
        "SELECT probe, client, region, started_at, ok, coalesce(stage, ''), coalesce(reason, '')
         FROM cycles WHERE started_at >= ?1 AND started_at < ?2
         ORDER BY probe, client, region, started_at",
    )?;
    let cycles: Vec<(Key, f64, bool, String, String)> = st
        .query_map(params![since, end], |r| {
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
         WHERE sent_at >= ?1 AND sent_at < ?2 ORDER BY sent_at",
    )?;
    let canaries: Vec<(Key, f64, String, Option<f64>)> = st
        .query_map(params![since, end], |r| {
            Ok((
                (r.get(0)?, r.get(1)?, r.get(2)?),
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;

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
        until,
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
        "junk" => o.junk += 1,
        "sending" | "in_flight" => o.in_flight += 1,
        "rejected" => o.rejected += 1,
        "unconfirmed" => o.unconfirmed += 1,
        _ => {}
    }
    if let Some(d) = delay {
        o.worst_delay_seconds = Some(o.worst_delay_seconds.map_or(d, |w| w.max(d)));
    }
}
