//! Waiting for a canary: the IDLE push or the poll that finds it, and whether a cycle sweeps
//! for earlier canaries at all.

use super::canary;
use super::context::InstanceMemory;
use super::imap::ImapSession;
use super::recorder::{later, Recorder};
use super::Failure;
use crate::config::Watch;
use std::time::Duration;
use tokio::time::Instant;

/// How late the last look may begin after its instant: the timer rounds up to the millisecond,
/// and on a busy host the worker that makes the look is scheduled later still.
const WAKE_SLACK: Duration = Duration::from_millis(25);

/// When a poll's last look before the deadline `until` starts, given that the look before took
/// `took`: early enough to end by the deadline (twice that time, plus [`WAKE_SLACK`]), so that
/// a canary visible at the deadline is found on time. A look that still ends past the deadline
/// finds the canary late: the ledger settles it so, and the cycle fails as the ledger counts
/// (see [`super::context::CycleReport::seen`]).
pub(super) fn last_look_at(until: Instant, took: Duration) -> Instant {
    let margin = took.saturating_mul(2).saturating_add(WAKE_SLACK);
    until.checked_sub(margin).unwrap_or_else(Instant::now)
}

/// A cycle with nothing open still sweeps this often, so a copy that comes after its canary
/// was settled (a duplicate) or a verified canary whose removal failed is still found.
const SWEEP_AT_LEAST_EVERY: u64 = 10;

/// Whether this cycle sweeps for earlier canaries: when the ledger left any open (or could not
/// say, as before the first cycle), and at least every [`SWEEP_AT_LEAST_EVERY`] cycles. A sweep
/// with nothing open would only search and find nothing to settle: skipping it saves a round
/// trip without dropping any phase of the cycle.
pub(super) fn sweep_due(mem: &InstanceMemory) -> bool {
    mem.open != Some(0) || mem.since_sweep + 1 >= SWEEP_AT_LEAST_EVERY
}

/// Waits until the canary is visible or `until`. Returns when it was seen and its UIDs.
pub(super) async fn watch(
    s: &mut ImapSession,
    rec: &mut Recorder,
    id: &str,
    until: Instant,
    mode: Watch,
) -> Result<Option<(Instant, Vec<u32>)>, Failure> {
    loop {
        if s.idling() {
            let Some(mut seen) = s.wait_push(rec, until).await? else {
                return Ok(None);
            };
            let mut uids = s.search_header(rec, canary::ID_HEADER, id, false).await?;
            // The push may be for another message (profiles sharing the mailbox) and ours may
            // arrive while the server searches: it is then announced in the SEARCH's response,
            // not pushed once IDLE is armed again. Search again until a search announces
            // nothing new; the canary was seen when its announcement came.
            while uids.is_empty() && s.take_announced() && Instant::now() < until {
                seen = Instant::now();
                uids = s.search_header(rec, canary::ID_HEADER, id, false).await?;
            }
            if !uids.is_empty() {
                return Ok(Some((seen, uids)));
            }
            s.start_idle(rec).await?;
        } else {
            let asked = Instant::now();
            let uids = s.search_header(rec, canary::ID_HEADER, id, true).await?;
            let seen = Instant::now();
            if !uids.is_empty() {
                return Ok(Some((seen, uids)));
            }
            let interval = match mode {
                Watch::Poll(i) => i,
                // The server lacks IDLE: poll at a resolution fine enough for a deadline.
                Watch::Idle => Duration::from_secs(1),
            };
            let last = last_look_at(until, seen.saturating_duration_since(asked));
            if later(seen, interval) > last || rec.remaining() < interval {
                let rest = last
                    .saturating_duration_since(Instant::now())
                    .min(rec.remaining());
                tokio::time::sleep(rest).await;
                let uids = s.search_header(rec, canary::ID_HEADER, id, true).await?;
                return Ok((!uids.is_empty()).then(|| (Instant::now(), uids)));
            }
            tokio::time::sleep(interval).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{last_look_at, sweep_due, SWEEP_AT_LEAST_EVERY, WAKE_SLACK};
    use crate::probe::context::InstanceMemory;
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn the_last_look_starts_early_enough_to_end_by_the_deadline() {
        let now = Instant::now();
        let until = now + Duration::from_secs(3);
        let at = last_look_at(until, Duration::from_millis(4));
        assert_eq!(
            until - at,
            Duration::from_millis(33),
            "twice 4 ms, plus 25 ms"
        );
        assert_eq!(last_look_at(until, Duration::ZERO), until - WAKE_SLACK);
        // A look longer than the time left starts at once, and no duration overflows.
        assert!(last_look_at(until, Duration::from_secs(10)) <= now);
        assert!(last_look_at(until, Duration::MAX) <= Instant::now());
    }

    #[test]
    fn sweeps_when_anything_is_open_or_unknown_and_at_least_every_tenth_cycle() {
        let mut m = InstanceMemory::default();
        assert!(sweep_due(&m), "first cycle: the ledger has not said yet");
        m.open = Some(2);
        assert!(sweep_due(&m));
        m.open = Some(0);
        let mut skipped = 0;
        while !sweep_due(&m) {
            m.since_sweep += 1;
            skipped += 1;
        }
        assert_eq!(skipped, SWEEP_AT_LEAST_EVERY - 1);
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod idle_tests;
