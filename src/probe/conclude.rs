//! What every cycle shares whichever protocol reads the mailbox: who owns its canaries, the
//! credentials of a step, sending the canary over SMTP with its ledger entries, and concluding
//! the cycle (lost canaries, the cycle's record, the failure it reports).

use super::canary;
use super::context::{reported, CycleCtx, CycleReport, InstanceMemory};
use super::fault::{local_fault, LocalFault};
use super::recorder::Recorder;
use super::smtp::{self, Accepted, SmtpSession};
use super::{Failure, Reason, Stage};
use crate::config::{AuthMech, Endpoint, Instance};
use crate::ledger::{self, NewCanary, Outcome, Owner};
use crate::secret::Secret;
use tokio::time::Instant;

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

/// Ends a cycle that began at `began` with the failures in `report.met`: one ledger
/// transaction declares lost what is overdue, records this cycle and counts what is open; then
/// the report gets its failure, transcript and duration.
pub(crate) async fn conclude(
    ctx: &CycleCtx,
    owner: &Owner,
    mem: &mut InstanceMemory,
    rec: &mut Recorder,
    report: &mut CycleReport,
    began: Instant,
) {
    let started = report.started;
    // One transaction: declare lost what is overdue, record this cycle, count what is open.
    let first = reported(&report.met).map(|f| (f.stage.as_str(), f.reason.as_str()));
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
            report.met.push(local_fault(Stage::Delivery, e))
        }
    }
    report.recorded = true;
    if report.failure().is_some() {
        // Whatever went wrong, the next cycle asks the server what it offers.
        mem.caps = None;
    }
    report.steps = std::mem::take(&mut rec.steps);
    report.certs = std::mem::take(&mut rec.certs);
    report.duration = began.elapsed();
}

/// Sends the canary, recording it in the ledger before DATA (the caller records the 250, see
/// [`mark_accepted`]).
pub(crate) async fn send(
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
pub(crate) async fn mark_accepted(ctx: &CycleCtx, id: &str, acc: &Accepted) -> Result<(), Failure> {
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
