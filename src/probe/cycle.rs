//! One probe cycle, end to end, and the settling of canary outcomes in the ledger.
//!
//! ```text
//! IMAP: connect → tls → greeting → login → select → sweep (earlier canaries) → arm IDLE
//! SMTP: connect → tls → greeting → ehlo → auth → mail_from → rcpt → [ledger: sending] → data
//!                                                              [ledger: in_flight] ◄─┘
//! watch: IDLE push or poll → search by id → fetch → verify → [ledger: on_time/late] → cleanup
//! not seen by the deadline, or a sweep: Junk folder → search → verify → [ledger: junk] → cleanup
//! ```
//!
//! The IMAP session is opened first so that IDLE is armed before the canary can arrive. The
//! SMTP send happens even when IMAP is down: a canary accepted during an IMAP outage is exactly
//! the evidence the incident report needs, and a later cycle's sweep settles it (late, or
//! recovered after being declared lost). When several steps fail, the cycle reports the first to
//! fail, in the order the cycle ran them (IMAP session, then SMTP, then the watch); a fault of
//! the agent itself (its ledger, its credentials) only when no step of the mail service failed.
//!
//! A profile that reads over POP3 runs [`super::pop3::poll`] instead: its own sessions, the same
//! SMTP send and the same conclusion of the cycle (`conclude.rs`).

use super::canary;
use super::conclude::{conclude, mark_accepted, send};
pub(crate) use super::conclude::{load_login, owner};
pub use super::context::{CycleCtx, CycleReport, InstanceMemory, Landed};
use super::imap::{ImapLogin, ImapSession};
use super::junk;
use super::recorder::{later, Recorder};
use super::settle::{settle_found, sweep};
use super::watch::{sweep_due, watch};
use super::{Failure, Reason, Stage};
use crate::config::{Instance, Watch};
use std::time::SystemTime;
use tokio::time::Instant;

/// Cycles that reuse the capabilities the server last announced before asking it again.
const CAPS_ASKED_EVERY: u64 = 100;

/// Runs one cycle of `inst`, filling `report` (made by [`CycleReport::new`]) as it goes: a cycle
/// cut off from outside leaves in it what it had found, the outcomes it settled among them.
/// Never panics on server input; every step is bounded by `rec`.
pub async fn run(
    ctx: &CycleCtx,
    inst: &Instance,
    mem: &mut InstanceMemory,
    rec: &mut Recorder,
    report: &mut CycleReport,
) {
    if inst.client.reads_pop3() {
        return super::pop3::poll::run(ctx, inst, mem, rec, report).await;
    }
    let began = Instant::now();
    let owner = owner(inst);
    let p = &inst.probe;
    let c = &inst.client;
    let Some(imap_ep) = p.imap.as_ref() else {
        // Validation requires [imap] for a profile that reads over IMAP.
        let f = Failure::new(Stage::ImapConnect, Reason::Internal, "no [imap] endpoint");
        report.met.push(f);
        return conclude(ctx, &owner, mem, rec, report, began).await;
    };

    // IMAP first, so IDLE is armed before the canary can arrive.
    let mut imap = match load_login(imap_ep, c.imap.auth, Stage::ImapLogin) {
        Ok(Some((user, secret))) => {
            rec.add_secret(secret.expose());
            let login = ImapLogin {
                mech: c.imap.auth,
                user: &user,
                secret: &secret,
                id: &c.id,
            };
            // Capabilities learnt in an earlier cycle, unless it is time to ask again.
            let known = mem.caps.filter(|_| mem.caps_age < CAPS_ASKED_EVERY);
            let opened = ImapSession::open(
                rec,
                &ctx.tls,
                imap_ep,
                &c.imap,
                &login,
                &p.mailbox,
                known,
                p.imap_max_literal,
            )
            .await;
            match opened {
                Ok(s) => {
                    if known.is_some() {
                        mem.caps_age += 1;
                    } else {
                        (mem.caps, mem.caps_age) = (Some(s.caps()), 0);
                    }
                    Some(s)
                }
                Err(f) => {
                    report.met.push(f);
                    None
                }
            }
        }
        Ok(None) => None,
        Err(f) => {
            report.met.push(f);
            None
        }
    };
    let mut to_delete: Vec<u32> = Vec::new();
    let mut swept = false;
    if let Some(s) = imap.as_mut() {
        if sweep_due(mem) {
            mem.since_sweep = 0;
            swept = true;
            if let Err(f) = sweep(ctx, s, rec, &owner, mem, report, &mut to_delete).await {
                report.met.push(f);
                imap = None;
            }
        } else {
            mem.since_sweep += 1;
        }
    }
    let watch_idle = matches!(c.watch, Watch::Idle);
    if let Some(s) = imap.as_mut().filter(|s| watch_idle && s.caps.idle) {
        if let Err(f) = s.start_idle(rec).await {
            report.met.push(f);
            imap = None;
        }
    }

    // SMTP: the canary goes into the ledger before DATA.
    let canary = canary::build(
        &ctx.keys.current(),
        &owner.key(),
        &p.from,
        &p.to,
        SystemTime::now(),
    );
    report.canary_id = Some(canary.id.clone());
    let accepted = send(ctx, inst, &owner, &canary, rec).await;
    let accepted = match accepted {
        Ok(a) => Some(a),
        Err(f) => {
            report.met.push(f);
            None
        }
    };
    report.accepted = accepted.clone();

    // Watch for this cycle's canary while the ledger records it as accepted: the watch starts
    // reading at once, so a push that arrives during the ledger's commit is timed when it
    // arrives, not after our own bookkeeping.
    let watched = async {
        match (imap.as_mut(), accepted.as_ref()) {
            (Some(s), Some(acc)) => {
                Some(watch(s, rec, &canary.id, later(acc.at, p.deadline), c.watch).await)
            }
            _ => None,
        }
    };
    let marked = async {
        match accepted.as_ref() {
            Some(acc) => mark_accepted(ctx, &canary.id, acc).await,
            None => Ok(()),
        }
    };
    let (watched, marked) = tokio::join!(watched, marked);
    // Settling needs the acceptance on record (the delay counts from it): when the ledger could
    // not record it, a later cycle's sweep settles the canary instead.
    let watched = match marked {
        Ok(()) => watched,
        Err(f) => {
            report.met.push(f);
            None
        }
    };
    if let (Some(watched), Some(s), Some(acc)) = (watched, imap.as_mut(), accepted.as_ref()) {
        match watched {
            Ok(Some((seen, uids))) => {
                let seen_wall = acc.at_wall + seen.saturating_duration_since(acc.at);
                match settle_found(
                    ctx,
                    s,
                    rec,
                    &owner,
                    &uids,
                    seen_wall,
                    report,
                    &mut to_delete,
                )
                .await
                {
                    Ok(true) => report.seen(seen.saturating_duration_since(acc.at)),
                    Ok(false) => {}
                    Err(f) => report.met.push(f),
                }
                mem.examined.extend(uids);
            }
            Ok(None) => report.met.push(Failure::new(
                Stage::Delivery,
                Reason::NotDelivered,
                format!(
                    "not visible within {}",
                    humantime::format_duration(p.deadline)
                ),
            )),
            Err(f) => report.met.push(f),
        }
    }
    if let Some(mut s) = imap.take() {
        if p.cleanup && !to_delete.is_empty() {
            to_delete.sort_unstable();
            to_delete.dedup();
            match s.delete(rec, &to_delete).await {
                Ok(()) => to_delete.iter().for_each(|u| {
                    mem.examined.remove(u);
                }),
                Err(f) => report.met.push(f),
            }
        }
        // Not in the mailbox by the deadline (not seen at all: one seen late is in the mailbox),
        // or a sweep of earlier canaries: look in Junk.
        let missing = (report.met.iter())
            .position(|f| f.stage == Stage::Delivery && f.reason == Reason::NotDelivered)
            .filter(|_| report.delivery.is_none());
        if missing.is_some() || swept {
            match junk::look(ctx, &mut s, rec, inst, &owner, report).await {
                Ok(found) => {
                    let this_one = report
                        .canary_id
                        .as_ref()
                        .is_some_and(|id| found.settled.contains(id));
                    if let (Some(i), true) = (missing, this_one) {
                        report.met[i] = Failure::new(
                            Stage::Delivery,
                            Reason::Junk,
                            format!("filed into {} instead of {}", found.folder, p.mailbox),
                        );
                    }
                }
                Err(f) => report.met.push(f),
            }
        }
        let checked = super::sentinel::check(ctx, &mut s, rec, inst, mem).await;
        report.sentinel = checked.intact;
        report.met.extend(checked.failure);
        s.close(rec.budget());
    }

    report.met.extend(super::verdicts::expected(p, report));
    conclude(ctx, &owner, mem, rec, report, began).await;
}
