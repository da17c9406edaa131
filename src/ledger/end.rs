//! The end of a cycle in one transaction: canaries past `lost_after` declared lost, the cycle's
//! result recorded, and what is still in flight or open counted. One commit and one trip to the
//! ledger's thread instead of three.

use super::sql::{exec, query_row};
use super::{Ledger, Owner, Result};
use rusqlite::{params, Connection};

/// What the ledger says at the end of a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleEnd {
    /// Canaries declared lost now.
    pub lost: Vec<String>,
    /// Canaries accepted and not yet seen nor declared lost.
    pub in_flight: i64,
    /// Canaries a later sweep may still settle: not yet seen (sending, in flight) or lost (a
    /// late arrival is then `recovered`).
    pub open: i64,
}

impl Ledger {
    /// Declares lost what is past `lost_after` at `at`, records the cycle that started at
    /// `started_at` with its first failure, and counts what is left open: one transaction.
    pub fn end_cycle(
        &self,
        owner: &Owner,
        at: f64,
        started_at: f64,
        failure: Option<(&str, &str)>,
    ) -> Result<CycleEnd> {
        self.with("end a cycle", |db| {
            let tx = db.unchecked_transaction()?;
            let lost = declare_lost_in(&tx, owner, at)?;
            record_cycle_in(&tx, owner, started_at, failure)?;
            let in_flight = in_flight_in(&tx, owner)?;
            let open = query_row(
                &tx,
                "SELECT count(*) FROM canaries WHERE probe = ?1 AND client = ?2 AND region = ?3
                   AND state IN ('sending', 'in_flight', 'lost')",
                params![owner.probe, owner.client, owner.region],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(CycleEnd {
                lost,
                in_flight,
                open,
            })
        })
    }
}

/// Canaries of `owner` in flight past their `lost_after` become `lost` (returned); ones still
/// `sending` past it (the agent died between DATA and the reply, and no copy ever came) become
/// `unconfirmed`.
pub(super) fn declare_lost_in(
    db: &Connection,
    owner: &Owner,
    at: f64,
) -> rusqlite::Result<Vec<String>> {
    let lost: Vec<String> = {
        let mut st = db.prepare_cached(
            "UPDATE canaries SET state = 'lost', lost_at = ?4, updated_at = ?4
             WHERE probe = ?1 AND client = ?2 AND region = ?3 AND state = 'in_flight'
               AND accepted_at + lost_after_s < ?4
             RETURNING id",
        )?;
        let rows = st.query_map(params![owner.probe, owner.client, owner.region, at], |r| {
            r.get(0)
        })?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    exec(
        db,
        "UPDATE canaries SET state = 'unconfirmed', updated_at = ?4
         WHERE probe = ?1 AND client = ?2 AND region = ?3 AND state = 'sending'
           AND sent_at + lost_after_s < ?4",
        params![owner.probe, owner.client, owner.region, at],
    )?;
    Ok(lost)
}

pub(super) fn in_flight_in(db: &Connection, owner: &Owner) -> rusqlite::Result<i64> {
    query_row(
        db,
        "SELECT count(*) FROM canaries WHERE probe = ?1 AND client = ?2 AND region = ?3
           AND state IN ('sending', 'in_flight')",
        params![owner.probe, owner.client, owner.region],
        |r| r.get(0),
    )
}

pub(super) fn record_cycle_in(
    db: &Connection,
    owner: &Owner,
    started_at: f64,
    failure: Option<(&str, &str)>,
) -> rusqlite::Result<()> {
    exec(
        db,
        "INSERT INTO cycles (probe, client, region, started_at, ok, stage, reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            owner.probe,
            owner.client,
            owner.region,
            started_at,
            failure.is_none(),
            failure.map(|f| f.0),
            failure.map(|f| f.1)
        ],
    )
    .map(|_| ())
}
