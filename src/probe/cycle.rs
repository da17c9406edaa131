//! One probe cycle, end to end, and the settling of canary outcomes in the ledger.
//!
//! ```text
//! IMAP: connect → tls → greeting → login → select → sweep (earlier canaries) → arm IDLE
//! SMTP: connect → tls → greeting → ehlo → auth → mail_from → rcpt → [ledger: sending] → data
//!                                                              [ledger: in_flight] ◄─┘
//! watch: IDLE push or poll → search by id → fetch → verify → [ledger: on_time/late] → cleanup
//! ```
//!
//! The IMAP session is opened first so that IDLE is armed before the canary can arrive. The
//! SMTP send happens even when IMAP is down: a canary accepted during an IMAP outage is exactly
//! the evidence the incident report needs, and a later cycle's sweep settles it (late, or
//! recovered after being declared lost). When several steps fail, the cycle reports the first to
//! fail, in the order the cycle ran them (IMAP session, then SMTP, then the watch); a fault of
//! the agent itself (its ledger, its credentials) only when no step of the mail service failed.

use super::canary;
pub use super::context::{CycleCtx, CycleReport, InstanceMemory};
use super::fault::{local_fault, LocalFault};
use super::imap::{ImapLogin, ImapSession};
use super::recorder::{later, Recorder};
use super::settle::{settle_found, sweep};
use super::smtp::{self, Accepted, SmtpSession};
use super::watch::{sweep_due, watch};
use super::{Failure, Reason, Stage};
use crate::config::{AuthMech, Endpoint, Instance, Watch};
use crate::ledger::{self, NewCanary, Outcome, Owner};
use crate::secret::Secret;
use std::time::SystemTime;
use tokio::time::Instant;

/// Cycles that reuse the capabilities the server last announced before asking it again.
const CAPS_ASKED_EVERY: u64 = 100;

/// Who a canary of `i` belongs to in the ledger.
pub(crate) fn owner(i: &Instance) -> Owner {
    Owner {
        probe: i.probe.name.clone(),
        client: i.client.name.clone(),
        region: i.region.clone(),
    }
}

pub(crate) fn load_login(
    ep: &Endpoint,
    mech: AuthMech,
    stage: Stage,
) -> Result<Option<(String, Secret)>, Failure> {
    let source = match mech {
        AuthMech::None => return Ok(None),
        m if m.is_oauth() => ep.oauth_token.as_ref(),
        _ => ep.password.as_ref(),
    };
    let source = source.ok_or_else(|| local_fault(stage, LocalFault::NoCredential))?;
    let secret = source.load().map_err(|e| local_fault(stage, e))?;
    Ok(Some((ep.username.clone(), secret)))
}

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
    let started = report.started;
    let began = Instant::now();
    let mut failures: Vec<Failure> = Vec::new();
    let owner = owner(inst);
    let p = &inst.probe;
    let c = &inst.client;

    // IMAP first, so IDLE is armed before the canary can arrive.
    let mut imap = match load_login(&p.imap, c.imap.auth, Stage::ImapLogin) {
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
                &p.imap,
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
                    failures.push(f);
                    None
                }
            }
        }
        Ok(None) => None,
        Err(f) => {
            failures.push(f);
            None
        }
    };
    let mut to_delete: Vec<u32> = Vec::new();
    if let Some(s) = imap.as_mut() {
        if sweep_due(mem) {
            mem.since_sweep = 0;
            if let Err(f) = sweep(ctx, s, rec, &owner, mem, report, &mut to_delete).await {
                failures.push(f);
                imap = None;
            }
        } else {
            mem.since_sweep += 1;
        }
    }
    let watch_idle = matches!(c.watch, Watch::Idle);
    if let Some(s) = imap.as_mut().filter(|s| watch_idle && s.idle) {
        if let Err(f) = s.start_idle(rec).await {
            failures.push(f);
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
            failures.push(f);
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
            failures.push(f);
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
                    Ok(true) => report.delivery = Some(seen.saturating_duration_since(acc.at)),
                    Ok(false) => {}
                    Err(f) => failures.push(f),
                }
                mem.examined.extend(uids);
            }
            Ok(None) => failures.push(Failure::new(
                Stage::Delivery,
                Reason::NotDelivered,
                format!(
                    "not visible within {}",
                    humantime::format_duration(p.deadline)
                ),
            )),
            Err(f) => failures.push(f),
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
                Err(f) => failures.push(f),
            }
        }
        let checked = super::sentinel::check(ctx, &mut s, rec, inst, mem).await;
        report.sentinel = checked.intact;
        failures.extend(checked.failure);
        s.close(rec.budget());
    }

    // One transaction: declare lost what is overdue, record this cycle, count what is open.
    let first = reported(&failures).map(|f| (f.stage.as_str(), f.reason.as_str()));
    let (ledger, o) = (ctx.ledger.clone(), owner.clone());
    let (now, started_at) = (ledger::now(), ledger::unix(started));
    let end = ledger
        .run(move |l| l.end_cycle(&o, now, started_at, first))
        .await;
    match end {
        Ok(end) => {
            report
                .settled
                .extend(end.lost.into_iter().map(|id| (id, Outcome::Lost, 0.0)));
            report.in_flight = Some(end.in_flight);
            mem.open = Some(end.open);
        }
        Err(e) => {
            mem.open = None;
            failures.push(local_fault(Stage::Delivery, e))
        }
    }
    report.recorded = true;
    report.failure = reported(&failures).cloned();
    if report.failure.is_some() {
        // Whatever went wrong, the next cycle asks the server what it offers.
        mem.caps = None;
    }
    report.steps = std::mem::take(&mut rec.steps);
    report.certs = std::mem::take(&mut rec.certs);
    report.duration = began.elapsed();
}

/// The failure a cycle reports: the first failure of the mail service, in the order the cycle
/// met them; only when there is none, the first fault of the agent itself (reason `internal`),
/// which is then not counted as a failed cycle (see `events`).
fn reported(failures: &[Failure]) -> Option<&Failure> {
    failures
        .iter()
        .find(|f| f.reason != Reason::Internal)
        .or_else(|| failures.first())
}

/// Sends the canary, recording it in the ledger before DATA (the caller records the 250, see
/// [`mark_accepted`]).
async fn send(
    ctx: &CycleCtx,
    inst: &Instance,
    owner: &Owner,
    canary: &canary::Canary,
    rec: &mut Recorder,
) -> Result<Accepted, Failure> {
    let p = &inst.probe;
    let login = match load_login(&p.smtp, inst.client.smtp.auth, Stage::Auth)? {
        Some((u, s)) if inst.client.smtp.auth.is_oauth() => smtp::Login::Token(u, s),
        Some((u, s)) => smtp::Login::Password(u, s),
        None => smtp::Login::None,
    };
    if let smtp::Login::Password(_, s) | smtp::Login::Token(_, s) = &login {
        rec.add_secret(s.expose());
    }
    let session = SmtpSession::open(
        rec,
        &ctx.tls,
        &p.smtp,
        &inst.client.smtp,
        &login,
        &p.from,
        &p.to,
    )
    .await?;
    let entry = NewCanary {
        id: canary.id.clone(),
        owner: owner.clone(),
        sent_at: ledger::now(),
        deadline: p.deadline,
        lost_after: p.lost_after,
    };
    ctx.ledger
        .run(move |l| l.record_sending(&entry))
        .await
        .map_err(|e| local_fault(Stage::Data, e))?;
    let id = canary.id.clone();
    let sent = session.data(rec, &canary.message).await;
    if let Err(f) = &sent {
        // A reply that refused the message means it was never in flight; a timeout or a reset
        // leaves it open: the server may have taken it.
        if matches!(f.reason, Reason::TempFail | Reason::PermFail) {
            let _ = ctx.ledger.run(move |l| l.mark_rejected(&id)).await;
        }
    }
    sent
}

/// Records in the ledger that the server accepted canary `id` (in flight from then on).
async fn mark_accepted(ctx: &CycleCtx, id: &str, acc: &Accepted) -> Result<(), Failure> {
    let (id, at, q) = (
        id.to_string(),
        ledger::unix(acc.at_wall),
        acc.queue_id.clone(),
    );
    ctx.ledger
        .run(move |l| l.mark_accepted(&id, at, q.as_deref()))
        .await
        .map_err(|e| local_fault(Stage::Data, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mail_failure_is_reported_before_a_fault_of_the_agent() {
        let local = local_fault(Stage::Data, crate::ledger::LedgerError::Stopped);
        let mail = Failure::new(Stage::ImapSearch, Reason::Timeout, "no answer");
        let both = [local.clone(), mail.clone()];
        assert_eq!(reported(&both).map(|f| f.stage), Some(Stage::ImapSearch));
        let only_local = [local];
        assert_eq!(
            reported(&only_local).map(|f| f.reason),
            Some(Reason::Internal)
        );
        assert!(reported(&[]).is_none());
    }
}
