//! What a cycle works with and what it reports: the agent's shared context, the memory an
//! instance keeps between its cycles, and the report of one cycle. Its own file so the parts of
//! a cycle (watch, settle, sentinel check) and the cycle that runs them all read these types
//! without importing each other.

use super::imap::Caps;
use super::recorder::StepRecord;
use super::smtp::Accepted;
use super::{Failure, Reason, Stage};
use crate::landing::Landing;
use crate::ledger::{Ledger, Outcome};
use crate::secret::KeyRing;
use crate::tls::TlsContext;
use std::collections::HashSet;
use std::time::{Duration, SystemTime};

/// What a cycle needs from the agent.
#[derive(Clone)]
pub struct CycleCtx {
    pub tls: TlsContext,
    pub ledger: Ledger,
    /// The key that signs new canaries and the retired ones that still verify old ones.
    pub keys: KeyRing,
}

/// Per-instance memory between cycles.
#[derive(Debug, Default)]
pub struct InstanceMemory {
    /// UIDs already examined, so leftovers (cleanup off) are not fetched again every cycle.
    pub examined: HashSet<u32>,
    /// Cycles run, for checks done every Nth cycle (sentinels).
    pub cycles: u64,
    /// Canaries a sweep may still settle (sending, in flight or lost) after the last cycle, as
    /// the ledger counted them; `None` before the first cycle or when it could not say.
    pub open: Option<i64>,
    /// Cycles since the last sweep.
    pub since_sweep: u64,
    /// The server's capabilities after login, as last asked, and cycles since.
    pub caps: Option<Caps>,
    pub caps_age: u64,
    /// POP3 unique-ids already read and not to be read again (not this instance's, or kept
    /// with cleanup off); only those still listed are kept.
    pub pop3_seen: HashSet<String>,
}

/// Everything a cycle observed.
#[derive(Debug, Clone)]
pub struct CycleReport {
    pub started: SystemTime,
    /// How long the cycle took, start to end.
    pub duration: Duration,
    pub steps: Vec<StepRecord>,
    /// Every failure met so far, in the order the cycle met them: what
    /// [`CycleReport::failure`] is chosen from, at the cycle's end or when it is cut off.
    pub met: Vec<Failure>,
    pub canary_id: Option<String>,
    pub accepted: Option<Accepted>,
    /// This cycle's canary: SMTP accepted → visible.
    pub delivery: Option<Duration>,
    /// Outcomes settled during this cycle (this canary and earlier ones), with their delays.
    pub settled: Vec<(String, Outcome, f64)>,
    /// Messages with canary headers whose tag did not verify and that are not ours.
    pub forged: usize,
    pub certs: Vec<(String, i64)>,
    /// Canaries of this instance in flight after the cycle, when the ledger could say.
    pub in_flight: Option<i64>,
    /// Whether every sentinel was intact, when they were checked this cycle.
    pub sentinel: Option<bool>,
    /// Whether the cycle recorded itself in the ledger (a cycle cut off by its hard deadline
    /// did not: the scheduler records it).
    pub recorded: bool,
    /// Where the newest canary verified in this cycle landed (its verdicts, spam score, hops).
    pub landed: Option<Landed>,
}

/// A verified canary's header facts: which canary, and what its headers say.
#[derive(Debug, Clone, PartialEq)]
pub struct Landed {
    pub id: String,
    /// When it was sent (unix milliseconds, from its signed header): the newest wins.
    pub sent_ms: i64,
    pub landing: Landing,
}

impl CycleReport {
    /// The report of a cycle starting now, before it has found anything.
    pub fn new(started: SystemTime) -> Self {
        CycleReport {
            started,
            duration: Duration::ZERO,
            steps: Vec::new(),
            met: Vec::new(),
            canary_id: None,
            accepted: None,
            delivery: None,
            settled: Vec::new(),
            forged: 0,
            certs: Vec::new(),
            in_flight: None,
            sentinel: None,
            recorded: false,
            landed: None,
        }
    }

    /// The failure the cycle reports: the first failure of the mail service it met, else the
    /// first fault of the agent itself (see [`reported`]); `None` means success.
    pub fn failure(&self) -> Option<&Failure> {
        reported(&self.met)
    }

    pub fn success(&self) -> bool {
        self.failure().is_none()
    }

    /// This cycle's canary was seen `delivery` after its acceptance (and settled): records the
    /// delivery time and, when the ledger settled it `late`, the failure that says so, so that
    /// the cycle and the ledger agree.
    pub fn seen(&mut self, delivery: Duration) {
        self.delivery = Some(delivery);
        self.met.extend(self.seen_late());
    }

    /// The failure for this cycle's own canary when the ledger settled it `late`: it was seen,
    /// but only past its deadline (a poll's last look, timed to end by the deadline, ended after
    /// it). The cycle fails as the SLI counts the canary, not as a delivery in time.
    fn seen_late(&self) -> Option<Failure> {
        let id = self.canary_id.as_deref()?;
        let (_, _, delay) =
            (self.settled.iter()).find(|(s, o, _)| s == id && *o == Outcome::Late)?;
        Some(Failure::new(
            Stage::Delivery,
            Reason::NotDelivered,
            format!("visible only {delay:.3} s after acceptance, past its deadline"),
        ))
    }
}

/// The failure a cycle reports: the first failure of the mail service, in the order the cycle
/// met them; only when there is none, the first fault of the agent itself (reason `internal`),
/// which is then not counted as a failed cycle (see `events`).
pub(crate) fn reported(failures: &[Failure]) -> Option<&Failure> {
    failures
        .iter()
        .find(|f| f.reason != Reason::Internal)
        .or_else(|| failures.first())
}

#[cfg(test)]
mod tests {
    use super::CycleReport;
    use crate::ledger::Outcome;
    use std::time::SystemTime;

    #[test]
    fn only_this_cycles_own_canary_settled_late_fails_the_cycle() {
        let mut r = CycleReport::new(SystemTime::now());
        r.canary_id = Some("mine".into());
        r.settled.push(("earlier".into(), Outcome::Late, 400.0));
        assert!(r.seen_late().is_none(), "an earlier canary's late arrival");
        r.settled.push(("mine".into(), Outcome::OnTime, 2.5));
        assert!(r.seen_late().is_none(), "on time");
        r.settled[1].1 = Outcome::Late;
        let f = r.seen_late().expect("this cycle's canary, late");
        assert_eq!(
            (f.stage.as_str(), f.reason.as_str()),
            ("delivery", "not_delivered")
        );
        assert!(f.detail.contains("2.500 s"), "{}", f.detail);
        r.canary_id = None;
        assert!(r.seen_late().is_none(), "no canary sent");
    }
}
