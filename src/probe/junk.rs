//! Looking in the account's Junk folder for canaries the mailbox does not hold: a receiving
//! side that files the canary as spam delivered it, but not where the user reads mail.
//!
//! The folder is the probe's `junk_folder`, or else the one the server marks `\Junk` (RFC 6154
//! SPECIAL-USE); with neither, nothing is looked up. A verified canary of this instance found
//! there settles `junk` in the ledger (once: a copy moved back to the mailbox later is not
//! counted again) and is removed from Junk like any other verified canary. IMAP only: POP3
//! reads nothing but the inbox.

use super::canary;
use super::context::{CycleCtx, CycleReport};
use super::imap::ImapSession;
use super::recorder::Recorder;
use super::settle::{examine, Examined};
use super::Failure;
use crate::config::Instance;
use crate::ledger::{self, Outcome, Owner};

/// What a look in Junk found.
#[derive(Debug, Default)]
pub(super) struct InJunk {
    /// The folder looked in.
    pub folder: String,
    /// Ids of the canaries settled `junk` by this look.
    pub settled: Vec<String>,
}

/// Looks in the Junk folder for every canary of this instance, settles the verified ones
/// `junk` and, with `cleanup`, removes them. Leaves the session with the Junk folder selected
/// (the caller's next step opens its own folder or logs out). `Ok` with nothing settled when
/// the account has no Junk folder.
pub(super) async fn look(
    ctx: &CycleCtx,
    s: &mut ImapSession,
    rec: &mut Recorder,
    inst: &Instance,
    owner: &Owner,
    report: &mut CycleReport,
) -> Result<InJunk, Failure> {
    let p = &inst.probe;
    let folder = match &p.junk_folder {
        Some(f) => Some(f.clone()),
        None => s.find_junk(rec).await?,
    };
    let Some(folder) = folder.filter(|f| *f != p.mailbox) else {
        return Ok(InJunk::default());
    };
    let nothing = InJunk {
        folder: folder.clone(),
        settled: Vec::new(),
    };
    s.select(rec, &folder).await?;
    let uids = s
        .search_header(rec, canary::PROBE_HEADER, &owner.key(), false)
        .await?;
    if uids.is_empty() {
        return Ok(nothing);
    }
    let fetched = s.fetch(rec, &uids).await?;
    let seen = ledger::now();
    let before = report.settled.len();
    let mut to_delete = Vec::new();
    for (uid, raw) in fetched {
        // Only a verified canary of this instance is ever removed.
        if let Examined::Valid = examine(ctx, owner, uid, &raw, seen, true, report).await? {
            to_delete.push(uid);
        }
    }
    let settled = report.settled[before..]
        .iter()
        .filter(|(_, o, _)| *o == Outcome::Junk)
        .map(|(id, _, _)| id.clone())
        .collect();
    if p.cleanup && !to_delete.is_empty() {
        to_delete.sort_unstable();
        to_delete.dedup();
        s.delete(rec, &to_delete).await?;
    }
    Ok(InJunk { settled, ..nothing })
}
