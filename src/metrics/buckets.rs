//! Bucket bounds of the agent's histograms: delivery (reaching the longest `lost_after`) and the
//! opt-in per-phase ones.

use std::time::Duration;

/// Bounds of the delivery histogram, cut after the first one that reaches the longest
/// `lost_after` ([`delivery_buckets`]). 60 s, the default SLO threshold, is always one. The
/// first is 1 s: mail delivery is judged in seconds, and sub-second buckets would cost three
/// series per instance that the series budget keeps for the receiving side's verdicts.
const DELIVERY_BOUNDS: &[f64] = &[
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
    604800.0,
];
/// Few buckets: the opt-in per-phase histograms multiply by phases.
pub(super) const PHASE_BUCKETS: &[f64] = &[0.005, 0.025, 0.1, 0.5, 2.5, 10.0];
/// The delivery histogram's bounds: up to and including the first bound at or past
/// `longest_lost_after` (a canary settles no later than that), never fewer than up to 60 s.
pub fn delivery_buckets(longest_lost_after: Duration) -> Vec<f64> {
    let reach = longest_lost_after.as_secs_f64().max(60.0);
    let cut = DELIVERY_BOUNDS
        .iter()
        .position(|b| *b >= reach)
        .unwrap_or(DELIVERY_BOUNDS.len() - 1);
    DELIVERY_BOUNDS[..=cut].to_vec()
}

#[cfg(test)]
mod tests {
    use super::delivery_buckets;
    use std::time::Duration;

    #[test]
    fn delivery_buckets_reach_the_longest_lost_after() {
        let secs = Duration::from_secs;
        // The default lost_after: 10 deadlines of 60 s.
        assert_eq!(delivery_buckets(secs(600)).last(), Some(&600.0));
        assert_eq!(delivery_buckets(secs(601)).last(), Some(&1800.0));
        // Never short of the SLO threshold, nor past a week (later is +Inf).
        assert_eq!(delivery_buckets(secs(1)).last(), Some(&60.0));
        assert_eq!(delivery_buckets(Duration::MAX).last(), Some(&604800.0));
        for b in [secs(0), secs(90), secs(86_400 * 365)] {
            assert!(delivery_buckets(b).contains(&60.0));
        }
    }
}
