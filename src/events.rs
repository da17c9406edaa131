//! The one place where what a cycle observed becomes metrics, log lines and status, so the three
//! never disagree.

use crate::config::Instance;
use crate::ledger::{self, Outcome};
use crate::metrics::{common, phases, InstanceMetrics, Metrics, NO_LABELS};
use crate::probe::cycle::CycleReport;
use crate::probe::recorder::fmt_duration;
use crate::probe::{Reason, Stage};
use crate::status::{FailureView, LandedView, StatusBoard, HISTORY, RECENT_FAILURES};
use std::collections::BTreeMap;

/// A cycle began.
pub fn cycle_started(metrics: &Metrics, inst: &Instance) {
    metrics.if_live(inst, |m| m.cycles.inc());
}

/// A cycle ended: export it, log it, show it. Nothing for an instance a reload has removed
/// meanwhile: its series and its status entry are gone and stay gone.
pub fn cycle_finished(metrics: &Metrics, status: &StatusBoard, inst: &Instance, r: &CycleReport) {
    metrics.if_live(inst, |m| report(m, status, inst, r));
}

fn report(metrics: &InstanceMetrics, status: &StatusBoard, inst: &Instance, r: &CycleReport) {
    let l = common(inst);

    // Phase durations of this cycle, summed per stage (a stage may run several commands). Every
    // phase of the profile is set, so a phase the cycle did not reach reads 0, not an older
    // cycle's time.
    let mut reached: BTreeMap<Stage, f64> = BTreeMap::new();
    for s in r
        .steps
        .iter()
        .filter(|s| s.result.is_ok() && s.stage != Stage::Verify)
    {
        *reached.entry(s.stage).or_default() += s.duration.as_secs_f64();
    }
    for stage in phases(inst) {
        if !reached.contains_key(&stage) {
            metrics.phase.with_label_values(&[stage.as_str()]).set(0.0);
        }
    }
    for (stage, secs) in &reached {
        let pl = [stage.as_str()];
        metrics.phase.with_label_values(&pl).set(*secs);
        if let Some(h) = &metrics.phase_histogram {
            h.with_label_values(&pl).observe(*secs);
        }
    }
    metrics.probe_duration.set(r.duration.as_secs_f64());
    for (endpoint, not_after) in &r.certs {
        metrics
            .cert_expiry
            .with_label_values(&[endpoint])
            .set(*not_after as f64);
    }
    for (id, outcome, delay) in &r.settled {
        metrics
            .canaries
            .with_label_values(&[outcome.as_str()])
            .inc();
        // Every canary that arrived, once, with its true delay: on time, late (settled by a
        // later cycle, maybe after a restart) or recovered after being declared lost.
        if matches!(
            outcome,
            Outcome::OnTime | Outcome::Late | Outcome::Recovered
        ) {
            metrics.delivery.observe(*delay);
        }
        match outcome {
            Outcome::OnTime => {}
            Outcome::Lost => {
                tracing::warn!(probe = l[0], client = l[1], region = l[2], canary = %id, "canary declared lost")
            }
            _ => tracing::warn!(probe = l[0], client = l[1], region = l[2], canary = %id,
                outcome = outcome.as_str(), delay_seconds = delay, "canary settled"),
        }
    }
    // Where the newest verified canary landed: its trusted verdicts and its score.
    let landed = r.landed.as_ref().map(|landed| {
        let trusted = landed.landing.trusted(inst.probe.authserv_id.as_deref());
        metrics.landing.record(trusted, landed.landing.spam_score);
        LandedView {
            canary: landed.id.clone(),
            at: ledger::now(),
            trusted: trusted.cloned(),
            spam_score: landed.landing.spam_score,
            hops: landed.landing.hops.clone(),
        }
    });
    if let Some(n) = r.in_flight {
        metrics.in_flight.set(n);
    }
    if let Some(intact) = r.sentinel {
        metrics
            .sentinel_intact
            .with_label_values(NO_LABELS)
            .set(i64::from(intact));
    }
    if r.forged > 0 {
        tracing::warn!(
            probe = l[0],
            client = l[1],
            region = l[2],
            count = r.forged,
            "messages with canary headers whose tag does not verify were left in place"
        );
    }

    let now = ledger::now();
    // A cycle that failed only on a fault of the agent itself (reason `internal`: its ledger, a
    // credential it cannot read) says nothing about the mail service: it is counted as a local
    // fault, and neither as a failed cycle (no failure counter, no consecutive failure, so no
    // availability alert) nor as a successful one. The cycle picks a mail failure over a local
    // one when it has both.
    let failure = r.failure();
    let local = failure.filter(|f| f.reason == Reason::Internal);
    match (failure, local) {
        (_, Some(f)) => {
            metrics.local_faults.inc();
            tracing::error!(probe = l[0], client = l[1], region = l[2], stage = %f.stage,
                detail = %f.detail,
                "cycle could not conclude: a fault of the agent itself, not of the mail service");
        }
        (None, _) => {
            metrics.success.set(1);
            metrics.last_success.with_label_values(NO_LABELS).set(now);
            metrics.consecutive_failures.set(0);
            metrics.consecutive_successes.inc();
            tracing::info!(probe = l[0], client = l[1], region = l[2],
                delivery = %r.delivery.map(fmt_duration).unwrap_or_default(), "cycle ok");
        }
        (Some(f), None) => {
            metrics.success.set(0);
            metrics.consecutive_failures.inc();
            metrics.consecutive_successes.set(0);
            let fl = [f.stage.as_str(), f.reason.as_str()];
            metrics.failures.with_label_values(&fl).inc();
            metrics.last_failure.with_label_values(&fl).set(now);
            tracing::warn!(probe = l[0], client = l[1], region = l[2], stage = %f.stage,
                reason = %f.reason, detail = %f.detail, "cycle failed: {} ({})",
                f.stage.describe(), f.reason.describe());
        }
    }

    status.update(&inst.key(), |s| {
        s.last_cycle = Some(now);
        if let Some(n) = r.in_flight {
            s.in_flight = n;
        }
        if r.sentinel.is_some() {
            s.sentinel = r.sentinel;
        }
        if landed.is_some() {
            s.landed = landed;
        }
        for (_, o, _) in &r.settled {
            match o {
                Outcome::Lost => s.lost_total += 1,
                Outcome::Late => s.late_total += 1,
                Outcome::Recovered => s.recovered_total += 1,
                Outcome::Junk => s.junk_total += 1,
                _ => {}
            }
        }
        for (e, t) in &r.certs {
            s.certs.insert(e.clone(), *t);
        }
        let delivery = r.delivery.map(|d| d.as_secs_f64());
        if local.is_none() {
            s.history
                .push_back((now, delivery.filter(|_| failure.is_none())));
            while s.history.len() > HISTORY {
                s.history.pop_front();
            }
        }
        match failure {
            Some(f) if f.reason == Reason::Internal => {
                // The instance keeps its state: the cycle could not tell either way.
                s.failures.push_front(FailureView {
                    at: now,
                    stage: f.stage.as_str().into(),
                    reason: f.reason.as_str().into(),
                    summary: format!(
                        "the agent's own fault, not the mail service's: {}",
                        f.reason.describe()
                    ),
                    detail: f.detail.clone(),
                });
                s.failures.truncate(RECENT_FAILURES);
            }
            None => {
                s.state = "up".into();
                s.last_success = Some(now);
                s.last_delivery_seconds = delivery;
                s.down_since = None;
            }
            Some(f) => {
                if s.state != "down" {
                    s.down_since = Some(ledger::unix(r.started));
                }
                s.state = "down".into();
                s.failures.push_front(FailureView {
                    at: now,
                    stage: f.stage.as_str().into(),
                    reason: f.reason.as_str().into(),
                    summary: format!("{} failed: {}", f.stage.describe(), f.reason.describe()),
                    detail: f.detail.clone(),
                });
                s.failures.truncate(RECENT_FAILURES);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricsOptions;
    use std::time::SystemTime;

    fn has_series(m: &Metrics) -> bool {
        m.render()
            .lines()
            .any(|l| !l.starts_with('#') && l.contains("probe=\"p\""))
    }

    #[test]
    fn a_cycle_finishing_after_its_instance_was_removed_writes_nothing_back() {
        let i = crate::config::testing::one_instance("");
        let m = Metrics::new("r", MetricsOptions::default()).expect("metrics");
        let status = StatusBoard::default();
        m.register_instance(&i);
        status.register(&i.key(), "p", &i.client.name, "r");
        cycle_started(&m, &i);
        assert!(has_series(&m));
        // A reload drops the instance while one of its cycles is under way.
        m.forget_instance(&i);
        status.remove(&i.key());
        assert!(!has_series(&m), "{}", m.render());
        cycle_started(&m, &i);
        cycle_finished(&m, &status, &i, &CycleReport::new(SystemTime::now()));
        assert!(!has_series(&m), "series came back:\n{}", m.render());
        assert!(status.snapshot().is_empty(), "its status came back");
        // Registered again (the probe is back in the config): written as before.
        m.register_instance(&i);
        cycle_started(&m, &i);
        assert!(has_series(&m));
    }
}
