//! A cycle of a client profile that reads over POP3.
//!
//! ```text
//! [sweep session, when due] → SMTP send → [ledger: in_flight] → poll sessions until the canary
//! is listed or the deadline → conclude
//! ```
//!
//! Every session ([`Reader::session`]) does the same: log in, `UIDL`, read the headers (`TOP n 0`)
//! of what it has not read before, `RETR` those that name this instance, verify and settle each
//! through the ledger exactly as the IMAP path does (late, recovered, duplicate, corrupt), `DELE`
//! this instance's verified canaries and nothing else, and `QUIT` to commit. A session before the
//! send settles canaries of earlier cycles (the sweep, due on the same rule as over IMAP); the
//! polls after it settle this cycle's canary, and whatever else of ours shows up.
//!
//! A POP3 session sees the maildrop as it was at login, so each poll is a new connection, TLS
//! handshake and login: a poll costs a login's round trips and server work, and the delivery
//! time is known to within a poll interval plus that set-up.

use super::{Listed, Pop3Login, Pop3Session};
use crate::config::profiles::ProtoProfile;
use crate::config::{Endpoint, Instance, Watch};
use crate::ledger::{self, Owner};
use crate::probe::canary;
use crate::probe::conclude::{conclude, load_login, mark_accepted, owner, send};
use crate::probe::context::{CycleCtx, CycleReport, InstanceMemory};
use crate::probe::recorder::{later, Recorder};
use crate::probe::settle::{examine, Examined};
use crate::probe::watch::{last_look_at, sweep_due};
use crate::probe::{Failure, Reason, Stage};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;

/// Runs one cycle of `inst` (a profile that reads over POP3); see the module doc.
pub(crate) async fn run(
    ctx: &CycleCtx,
    inst: &Instance,
    mem: &mut InstanceMemory,
    rec: &mut Recorder,
    report: &mut CycleReport,
) {
    let began = Instant::now();
    let owner = owner(inst);
    let p = &inst.probe;
    let Some((ep, side)) = p.reader(&inst.client) else {
        // Validation requires [pop3] for a profile that reads over POP3.
        let f = Failure::new(Stage::Pop3Connect, Reason::Internal, "no [pop3] endpoint");
        report.met.push(f);
        return conclude(ctx, &owner, mem, rec, report, began).await;
    };
    let creds = match load_login(ep, side.auth, Stage::Pop3Login) {
        Ok(c) => c,
        Err(f) => {
            report.met.push(f);
            None
        }
    };
    let reader = creds.as_ref().map(|(user, secret)| Reader {
        ctx,
        ep,
        side,
        login: Pop3Login {
            mech: side.auth,
            user,
            secret,
        },
        owner: &owner,
        max_message: p.imap_max_literal,
        cleanup: p.cleanup,
    });
    let mut reading = reader.is_some();
    if let Some(r) = reader.as_ref() {
        if sweep_due(mem) {
            mem.since_sweep = 0;
            if let Err(f) = r.session(rec, mem, report, None).await {
                report.met.push(f);
                reading = false;
            }
        } else {
            mem.since_sweep += 1;
        }
    }

    let canary = canary::build(
        &ctx.keys.current(),
        &owner.key(),
        &p.from,
        &p.to,
        std::time::SystemTime::now(),
    );
    report.canary_id = Some(canary.id.clone());
    let accepted = match send(ctx, inst, &owner, &canary, rec).await {
        Ok(a) => Some(a),
        Err(f) => {
            report.met.push(f);
            None
        }
    };
    report.accepted = accepted.clone();
    if let Some(acc) = accepted.as_ref() {
        // Settling needs the acceptance on record (the delay counts from it), so it is
        // recorded before the first poll; when it cannot be, a later sweep settles the canary.
        match mark_accepted(ctx, &canary.id, acc).await {
            Err(f) => report.met.push(f),
            Ok(()) => {
                if let Some(r) = reader.as_ref().filter(|_| reading) {
                    let interval = match inst.client.watch {
                        Watch::Poll(i) => i,
                        Watch::Idle => Duration::from_secs(1),
                    };
                    let until = later(acc.at, p.deadline);
                    match r.watch(rec, mem, report, &canary.id, until, interval).await {
                        Ok(Some(seen)) => report.seen(seen.saturating_duration_since(acc.at)),
                        Ok(None) => report.met.push(Failure::new(
                            Stage::Delivery,
                            Reason::NotDelivered,
                            format!(
                                "not listed over POP3 within {}",
                                humantime::format_duration(p.deadline)
                            ),
                        )),
                        Err(f) => report.met.push(f),
                    }
                }
            }
        }
    }
    report
        .met
        .extend(crate::probe::verdicts::expected(&inst.probe, report));
    conclude(ctx, &owner, mem, rec, report, began).await;
}

/// What a POP3 session of this instance needs.
struct Reader<'a> {
    ctx: &'a CycleCtx,
    ep: &'a Endpoint,
    side: &'a ProtoProfile,
    login: Pop3Login<'a>,
    owner: &'a Owner,
    max_message: u64,
    cleanup: bool,
}

/// The key under which the ledger tells copies of a canary apart, from a POP3 unique-id: the
/// first four bytes of its SHA-256 (the ledger keeps IMAP UIDs there; two copies of one canary
/// colliding would only make the second count as the first).
pub fn uid_key(uid: &str) -> u32 {
    let d = Sha256::digest(uid.as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The header block of a message: up to and including the line break before the first empty
/// line (all of it when there is none).
fn head_of(raw: &[u8]) -> &[u8] {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .and_then(|i| raw.get(..i.saturating_add(2)))
        .unwrap_or(raw)
}

/// What one session saw: when the wanted canary was listed, if it was, and how long the session
/// took from connecting to the list (what a last look before the deadline allows for; reading
/// and deleting come after the canary was seen).
struct Look {
    found: Option<Instant>,
    listing: Duration,
}

impl Reader<'_> {
    /// Polls with a fresh session every `interval` until canary `id` is listed and verified,
    /// or `until`. Returns when it was listed.
    async fn watch(
        &self,
        rec: &mut Recorder,
        mem: &mut InstanceMemory,
        report: &mut CycleReport,
        id: &str,
        until: Instant,
        interval: Duration,
    ) -> Result<Option<Instant>, Failure> {
        loop {
            let polled = Instant::now();
            let look = self.session(rec, mem, report, Some(id)).await?;
            if look.found.is_some() {
                return Ok(look.found);
            }
            let next = later(polled, interval);
            let last = last_look_at(until, look.listing);
            if next >= last || rec.remaining() < interval {
                // One last look, ending by the deadline, as the IMAP poll does.
                let rest = last
                    .saturating_duration_since(Instant::now())
                    .min(rec.remaining());
                tokio::time::sleep(rest).await;
                return Ok(self.session(rec, mem, report, Some(id)).await?.found);
            }
            tokio::time::sleep_until(next).await;
        }
    }

    /// One session: list, read what is new, settle ours, delete the verified, commit. With
    /// `want`, says when that canary was listed (verified and settled).
    async fn session(
        &self,
        rec: &mut Recorder,
        mem: &mut InstanceMemory,
        report: &mut CycleReport,
        want: Option<&str>,
    ) -> Result<Look, Failure> {
        let opened = Instant::now();
        let mut s = Pop3Session::open(
            rec,
            &self.ctx.tls,
            self.ep,
            self.side,
            &self.login,
            self.max_message,
        )
        .await?;
        let listed = s.uidl(rec).await?;
        let (listed_at, seen_wall) = (Instant::now(), ledger::now());
        rec.note(&format!("{} messages", listed.len()));
        let present: HashSet<&str> = listed.iter().map(|l| l.uid.as_str()).collect();
        mem.pop3_seen.retain(|u| present.contains(u.as_str()));
        let fresh: Vec<&Listed> = listed
            .iter()
            .filter(|l| !mem.pop3_seen.contains(&l.uid))
            .collect();
        let ours = self.ours(rec, &mut s, mem, &fresh).await?;
        let mut to_delete: Vec<&Listed> = Vec::new();
        let mut found = None;
        let began = Instant::now();
        let mut verify: Result<String, Failure> = Ok(String::new());
        for (l, raw) in &ours {
            let examined = examine(
                self.ctx,
                self.owner,
                uid_key(&l.uid),
                raw,
                seen_wall,
                false,
                report,
            )
            .await
            .map_err(|f| rec.clean(f))?;
            let wanted = want.is_some()
                && canary::header(head_of(raw), canary::ID_HEADER).as_deref() == want;
            match examined {
                Examined::Valid => {
                    if wanted {
                        found = Some(listed_at);
                    }
                    if self.cleanup {
                        to_delete.push(l);
                    } else {
                        mem.pop3_seen.insert(l.uid.clone());
                    }
                }
                Examined::Corrupt if wanted => {
                    mem.pop3_seen.insert(l.uid.clone());
                    verify = Err(Failure::new(
                        Stage::Verify,
                        Reason::Corrupt,
                        "canary tag or body digest does not verify",
                    ));
                }
                Examined::Corrupt | Examined::Foreign => {
                    mem.pop3_seen.insert(l.uid.clone());
                }
            }
        }
        if !ours.is_empty() {
            rec.record(Stage::Verify, began, Instant::now(), verify.clone());
        }
        if !to_delete.is_empty() {
            let step = rec.step_timeout();
            rec.step_within(Stage::Cleanup, rec.remaining(), async {
                for l in &to_delete {
                    s.dele(l.n, step).await?;
                }
                Ok(())
            })
            .await?;
        }
        // Deletions happen here or not at all: until QUIT's +OK, every message stays.
        s.quit(rec).await?;
        verify?;
        Ok(Look {
            found,
            listing: listed_at.saturating_duration_since(opened),
        })
    }

    /// Reads the headers of each `fresh` message (`TOP n 0`; `RETR` when the server has no
    /// TOP) and returns those that name this instance, whole. The others are remembered as
    /// read. One `pop3_retr` step for all of them, each command under the step timeout.
    async fn ours(
        &self,
        rec: &mut Recorder,
        s: &mut Pop3Session,
        mem: &mut InstanceMemory,
        fresh: &[&Listed],
    ) -> Result<Vec<(Listed, Vec<u8>)>, Failure> {
        if fresh.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.owner.key();
        let whole = s.caps.top == Some(false);
        let step = rec.step_timeout();
        rec.step_within(Stage::Pop3Retr, rec.remaining(), async {
            let mut out = Vec::new();
            for l in fresh {
                // A message another session expunged since the listing is skipped: it is no
                // longer in the mailbox to read.
                let Some(head) = s.read(l.n, whole, step).await? else {
                    continue;
                };
                let mine = canary::header(head_of(&head), canary::PROBE_HEADER).as_deref()
                    == Some(key.as_str());
                if !mine {
                    mem.pop3_seen.insert(l.uid.clone());
                    continue;
                }
                let raw = if whole {
                    head
                } else {
                    match s.read(l.n, true, step).await? {
                        Some(raw) => raw,
                        None => continue,
                    }
                };
                out.push(((*l).clone(), raw));
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_block_ends_at_the_first_empty_line() {
        assert_eq!(
            head_of(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\n"),
            b"A: 1\r\nB: 2\r\n"
        );
        assert_eq!(head_of(b"A: 1\r\n"), b"A: 1\r\n");
        assert_eq!(head_of(b""), b"");
    }

    #[test]
    fn a_unique_id_gives_a_stable_key() {
        assert_eq!(uid_key("000000017a2b"), uid_key("000000017a2b"));
        assert_ne!(uid_key("000000017a2b"), uid_key("000000017a2c"));
    }
}
