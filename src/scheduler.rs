//! The scheduler owns time: one task per probe instance, each running its cycles one after the
//! other at the probe's interval with jitter, each cycle under a hard deadline.
//!
//! Cycles of one instance never overlap: the next starts at `start + interval ± jitter`, or at
//! once if the previous overran, so a slow server cannot make cycles pile up. The first cycles
//! of the instances started together are spread over their interval ([`first_delay`]), plus a
//! random delay up to the jitter, so that ten thousand instances do not all connect in the same
//! second and stay bunched ever after. The cycle itself (protocol) lives in
//! [`crate::probe::cycle`]; this module only starts, bounds and stops it.

use crate::config::Instance;
use crate::events;
use crate::metrics::Metrics;
use crate::probe::cycle::{self, CycleCtx, CycleReport, InstanceMemory};
use crate::probe::recorder::Recorder;
use crate::probe::{Failure, Reason, Stage};
use crate::status::StatusBoard;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What every instance task shares.
#[derive(Clone)]
pub struct Shared {
    pub ctx: CycleCtx,
    pub metrics: Arc<Metrics>,
    pub status: StatusBoard,
}

/// The least time between the first cycles of instances started together: a small agent
/// starts all its instances within a second or so, a large one ramps up at this rate until its
/// instances are spread evenly over their interval.
const START_SPACING: Duration = Duration::from_millis(50);

/// When the `k`-th of `n` instances started together runs its first cycle (before jitter):
/// `k` times [`START_SPACING`], or `k / n` of its interval when that is shorter, so that a large
/// set runs as many cycles in every part of the interval and a small one starts at once.
pub fn first_delay(k: usize, n: usize, interval: Duration) -> Duration {
    if n == 0 {
        return Duration::ZERO;
    }
    let k = k.min(n) as f64;
    let ramp = START_SPACING.as_secs_f64() * k;
    let even = interval.as_secs_f64() * k / n as f64;
    Duration::try_from_secs_f64(ramp.min(even)).unwrap_or(Duration::ZERO)
}

/// The hard deadline of one cycle: the delivery deadline plus room for the protocol steps
/// around it (each step is also bounded by the per-step timeout).
pub fn cycle_budget(inst: &Instance) -> Duration {
    inst.probe.deadline + inst.probe.timeout * 4
}

struct Task {
    inst: Instance,
    stop: watch::Sender<Stop>,
    join: JoinHandle<()>,
}

/// The running instance tasks.
pub struct Scheduler {
    shared: Shared,
    tasks: BTreeMap<String, Task>,
}

impl Scheduler {
    pub fn new(shared: Shared) -> Self {
        Scheduler {
            shared,
            tasks: BTreeMap::new(),
        }
    }

    /// Makes the running set equal `instances`: unchanged instances keep running (and keep
    /// their metric series), changed ones restart, removed ones stop and lose their series.
    pub fn apply(&mut self, instances: Vec<Instance>, ctx: Option<CycleCtx>) {
        let ctx_changed = ctx.is_some();
        if let Some(ctx) = ctx {
            self.shared.ctx = ctx;
        }
        let wanted: BTreeMap<String, Instance> =
            instances.into_iter().map(|i| (i.key(), i)).collect();
        let keys: Vec<String> = self.tasks.keys().cloned().collect();
        for key in keys {
            let keep = !ctx_changed
                && wanted
                    .get(&key)
                    .is_some_and(|w| same(w, &self.tasks[&key].inst));
            if !keep {
                if let Some(t) = self.tasks.remove(&key) {
                    let removed = !wanted.contains_key(&key);
                    let _ = t
                        .stop
                        .send(if removed { Stop::Discard } else { Stop::Finish });
                    if removed {
                        self.shared.metrics.forget_instance(&t.inst);
                        self.shared.status.remove(&key);
                    }
                }
            }
        }
        let new: Vec<(String, Instance)> = wanted
            .into_iter()
            .filter(|(key, _)| !self.tasks.contains_key(key))
            .collect();
        let n = new.len();
        for (k, (key, inst)) in new.into_iter().enumerate() {
            let spread = first_delay(k, n, inst.probe.interval);
            self.shared.metrics.register_instance(&inst);
            self.shared
                .status
                .register(&key, &inst.probe.name, &inst.client.name, &inst.region);
            let (stop, rx) = watch::channel(Stop::Running);
            let join = tokio::spawn(run_instance(self.shared.clone(), inst.clone(), spread, rx));
            self.tasks.insert(key, Task { inst, stop, join });
        }
    }

    /// The ledger the tasks write to.
    pub fn ledger(&self) -> crate::ledger::Ledger {
        self.shared.ctx.ledger.clone()
    }

    /// Number of running instance tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Stops every task: idle tasks exit at once, a task in a cycle finishes it; tasks still
    /// running after `grace` are aborted (the ledger is consistent after every step, so an
    /// aborted cycle loses no accounting: its canary is resumed by the next run).
    pub async fn shutdown(self, grace: Duration) {
        for t in self.tasks.values() {
            let _ = t.stop.send(Stop::Finish);
        }
        let deadline = Instant::now() + grace;
        for (_, t) in self.tasks {
            let mut join = t.join;
            if tokio::time::timeout_at(deadline, &mut join).await.is_err() {
                join.abort();
            }
        }
    }
}

fn same(a: &Instance, b: &Instance) -> bool {
    a.probe == b.probe && a.client == b.client && a.region == b.region
}

/// What a stopped task does with the cycle it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Running,
    /// Finish the current cycle and report it, then exit (shutdown, changed config).
    Finish,
    /// Finish the current cycle without reporting it (instance removed from the config).
    Discard,
}

async fn run_instance(
    shared: Shared,
    inst: Instance,
    spread: Duration,
    mut stop: watch::Receiver<Stop>,
) {
    let p = &inst.probe;
    let first = spread + rand::rng().random_range(Duration::ZERO..=p.jitter);
    let mut next = Instant::now() + first;
    let mut mem = InstanceMemory::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = stop.wait_for(|s| *s != Stop::Running) => return,
        }
        let started = Instant::now();
        // A cycle under way is finished even when a stop arrives: its canary is then seen and
        // removed rather than left for the next run. Shutdown bounds this with a grace period.
        let report = run_cycle(&shared, &inst, &mut mem).await;
        if *stop.borrow() == Stop::Discard {
            return;
        }
        events::cycle_finished(&shared.metrics, &shared.status, &inst, &report);
        if *stop.borrow() != Stop::Running {
            return;
        }
        let j = p.jitter.as_secs_f64();
        let offset = if j > 0.0 {
            rand::rng().random_range(-j..=j)
        } else {
            0.0
        };
        let interval = Duration::from_secs_f64((p.interval.as_secs_f64() + offset).max(0.0));
        next = (started + interval).max(Instant::now());
    }
}

/// Runs one cycle under its hard deadline. A cycle cut off by that deadline is a `timeout` at
/// the stage it was in.
pub async fn run_cycle(shared: &Shared, inst: &Instance, mem: &mut InstanceMemory) -> CycleReport {
    events::cycle_started(&shared.metrics, inst);
    let budget = cycle_budget(inst);
    let mut rec = Recorder::new(inst.probe.timeout, budget);
    let started = SystemTime::now();
    let began = tokio::time::Instant::now();
    // Steps are bounded by the recorder; this outer bound is a guard against a bug, with a
    // second of grace so the recorder's own timeout is the one that normally fires.
    let outcome = tokio::time::timeout(
        budget + Duration::from_secs(1),
        cycle::run(&shared.ctx, inst, mem, &mut rec),
    )
    .await;
    let report = match outcome {
        Ok(report) => report,
        Err(_) => {
            let stage = rec.current.unwrap_or(Stage::Delivery);
            CycleReport {
                started,
                duration: began.elapsed(),
                steps: std::mem::take(&mut rec.steps),
                failure: Some(Failure::new(
                    stage,
                    Reason::Timeout,
                    "cycle deadline exceeded",
                )),
                canary_id: None,
                accepted: None,
                delivery: None,
                settled: Vec::new(),
                forged: 0,
                certs: Vec::new(),
                in_flight: None,
                sentinel: None,
                recorded: false,
            }
        }
    };
    if report.recorded {
        return report;
    }
    // Cut off by the hard deadline before it could record itself.
    let owner = crate::ledger::Owner {
        probe: inst.probe.name.clone(),
        client: inst.client.name.clone(),
        region: inst.region.clone(),
    };
    let failure = report
        .failure
        .as_ref()
        .map(|f| (f.stage.as_str(), f.reason.as_str()));
    let started_at = crate::ledger::unix(report.started);
    if let Err(e) = shared
        .ctx
        .ledger
        .run(move |l| l.record_cycle(&owner, started_at, failure))
        .await
    {
        tracing::error!(error = %e, "cannot record the cycle in the ledger");
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_small_set_starts_within_a_second() {
        let last = first_delay(9, 10, MINUTE);
        assert_eq!(first_delay(0, 10, MINUTE), Duration::ZERO);
        assert_eq!(last, START_SPACING * 9);
        assert!(last < Duration::from_secs(1));
    }

    #[test]
    fn a_large_set_is_spread_evenly_over_its_interval() {
        let n = 10_000;
        let delays: Vec<Duration> = (0..n).map(|k| first_delay(k, n, MINUTE)).collect();
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert!(delays[n - 1] < MINUTE);
        // As many first cycles in every second of the minute, give or take rounding.
        let mut per_second = [0usize; 60];
        for d in &delays {
            per_second[d.as_secs() as usize] += 1;
        }
        let (lo, hi) = (per_second.iter().min(), per_second.iter().max());
        assert!(lo >= Some(&166) && hi <= Some(&167), "{per_second:?}");
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert_eq!(first_delay(0, 0, MINUTE), Duration::ZERO);
        assert!(first_delay(5, 1, MINUTE) < MINUTE);
        assert_eq!(first_delay(3, 4, Duration::ZERO), Duration::ZERO);
        assert!(first_delay(usize::MAX - 1, usize::MAX, Duration::MAX) <= Duration::MAX);
    }
}
