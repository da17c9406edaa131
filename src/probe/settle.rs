//! Settling what the watcher found: fetch, verify each message's tag, and record its outcome in
//! the ledger exactly once. Only verified canaries of this instance are queued for cleanup.

use super::canary::{self, Verdict};
use super::context::{CycleCtx, CycleReport, InstanceMemory, Landed};
use super::fault::local_fault;
use super::imap::ImapSession;
use super::recorder::Recorder;
use super::{Failure, Reason, Stage};
use crate::landing;
use crate::ledger::{self, LedgerError, Outcome, Owner};
use std::time::SystemTime;
use tokio::time::Instant;

/// Fetches and verifies copies of this cycle's canary, settling each. `Ok(true)` when a valid
/// copy was found.
#[allow(clippy::too_many_arguments)]
pub(super) async fn settle_found(
    ctx: &CycleCtx,
    s: &mut ImapSession,
    rec: &mut Recorder,
    owner: &Owner,
    uids: &[u32],
    seen: SystemTime,
    report: &mut CycleReport,
    to_delete: &mut Vec<u32>,
) -> Result<bool, Failure> {
    let fetched = s.fetch(rec, uids).await?;
    let mut valid = false;
    let mut corrupt = false;
    let began = Instant::now();
    for (uid, raw) in fetched {
        match examine(ctx, owner, uid, &raw, ledger::unix(seen), false, report).await? {
            Examined::Valid => {
                to_delete.push(uid);
                valid = true;
            }
            Examined::Corrupt => corrupt = true,
            Examined::Foreign => {}
        }
    }
    let result = if corrupt && !valid {
        Err(Failure::new(
            Stage::Verify,
            Reason::Corrupt,
            "canary tag or body digest does not verify",
        ))
    } else {
        Ok(String::new())
    };
    rec.record(Stage::Verify, began, Instant::now(), result.clone());
    result.map(|_| valid)
}

pub(super) enum Examined {
    /// One of ours, intact.
    Valid,
    /// One of ours (its id is in the ledger) that no longer verifies: kept for inspection,
    /// never deleted, since its tag no longer proves it is ours.
    Corrupt,
    /// Not ours: someone else's canary, a forgery, or not a canary.
    Foreign,
}

/// Verifies one message and settles it in the ledger. `uid` tells copies of one canary apart
/// (an IMAP UID; over POP3, [`crate::probe::pop3::poll`] derives one from the unique-id).
/// `junk`: the message was found in the account's Junk folder, not in the mailbox.
#[allow(clippy::too_many_arguments)]
pub(super) async fn examine(
    ctx: &CycleCtx,
    owner: &Owner,
    uid: u32,
    raw: &[u8],
    seen: f64,
    junk: bool,
    report: &mut CycleReport,
) -> Result<Examined, Failure> {
    let verdict = canary::verify(&ctx.keys, raw);
    let internal = |e: LedgerError| local_fault(Stage::Verify, e);
    match verdict {
        Verdict::Valid {
            id,
            instance,
            sent_ms,
        } if instance == owner.key() => {
            let lid = id.clone();
            let settled = ctx
                .ledger
                .run(move |l| {
                    let settled = l.settle_seen_in(&lid, uid, seen, junk)?;
                    Ok((settled, l.knows(&lid)?))
                })
                .await
                .map_err(internal)?;
            match settled {
                (Some(s), _) => {
                    if s.outcome != Outcome::Duplicate
                        && report.landed.as_ref().is_none_or(|l| l.sent_ms <= sent_ms)
                    {
                        report.landed = Some(Landed {
                            id: id.clone(),
                            sent_ms,
                            landing: landing::read(raw, s.accepted_at),
                        });
                    }
                    report.settled.push((id, s.outcome, s.delay));
                    Ok(Examined::Valid)
                }
                (None, true) => Ok(Examined::Valid),
                (None, false) => Ok(Examined::Foreign),
            }
        }
        Verdict::Forged { id: Some(id) } => {
            let lid = id.clone();
            let (known, counted) = ctx
                .ledger
                .run(move |l| Ok((l.knows(&lid)?, l.mark_corrupt(&lid, uid)?)))
                .await
                .map_err(internal)?;
            if counted {
                report.settled.push((id, Outcome::Corrupt, 0.0));
            }
            if known {
                Ok(Examined::Corrupt)
            } else {
                report.forged += 1;
                Ok(Examined::Foreign)
            }
        }
        _ => Ok(Examined::Foreign),
    }
}

/// Settles canaries of earlier cycles now in the mailbox (late arrivals, recoveries after an
/// outage, leftovers), and queues the verified ones for cleanup.
pub(super) async fn sweep(
    ctx: &CycleCtx,
    s: &mut ImapSession,
    rec: &mut Recorder,
    owner: &Owner,
    mem: &mut InstanceMemory,
    report: &mut CycleReport,
    to_delete: &mut Vec<u32>,
) -> Result<(), Failure> {
    let uids = s
        .search_header(rec, canary::PROBE_HEADER, &owner.key(), false)
        .await?;
    let fresh: Vec<u32> = uids
        .iter()
        .copied()
        .filter(|u| !mem.examined.contains(u))
        .collect();
    if fresh.is_empty() {
        return Ok(());
    }
    let fetched = s.fetch(rec, &fresh).await?;
    let seen = ledger::now();
    for (uid, raw) in fetched {
        if let Examined::Valid = examine(ctx, owner, uid, &raw, seen, false, report).await? {
            to_delete.push(uid);
        }
        mem.examined.insert(uid);
    }
    Ok(())
}
