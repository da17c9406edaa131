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
use crate::probe::cycle::{CycleReport, InstanceMemory};
use crate::probe::recorder::{later, Recorder};
use crate::probe::{Failure, Reason, Stage};
use crate::status::StatusBoard;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

mod cycles;
pub use cycles::Cycles;

/// What every instance task shares.
#[derive(Clone)]
pub struct Shared {
    /// What runs a cycle: the probe with the agent's context (`CycleCtx`), or a script in tests.
    pub cycles: Arc<dyn Cycles>,
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

/// The time from one cycle's start to the next: `interval` moved by `spread` × `jitter`
/// (`spread` in -1..=1, clamped there; not a number counts as 0), never below zero.
pub fn jittered(interval: Duration, jitter: Duration, spread: f64) -> Duration {
    let spread = if spread.is_nan() {
        0.0
    } else {
        spread.clamp(-1.0, 1.0)
    };
    let secs = interval.as_secs_f64() + jitter.as_secs_f64() * spread;
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(interval)
}

/// The hard deadline of one cycle: the delivery deadline plus room for the protocol steps
/// around it (each step is also bounded by the per-step timeout).
pub fn cycle_budget(inst: &Instance) -> Duration {
    inst.probe
        .deadline
        .saturating_add(inst.probe.timeout.saturating_mul(4))
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
    /// With `cycles`, every instance restarts with the new ones (the TLS roots or the key
    /// changed).
    pub fn apply(&mut self, instances: Vec<Instance>, cycles: Option<Arc<dyn Cycles>>) {
        let ctx_changed = cycles.is_some();
        if let Some(cycles) = cycles {
            self.shared.cycles = cycles;
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

    /// Number of running instance tasks.
    pub fn running(&self) -> usize {
        self.tasks.len()
    }

    /// Stops every task: idle tasks exit at once, a task in a cycle finishes it; tasks still
    /// running after `grace` are aborted (the ledger is consistent after every step, so an
    /// aborted cycle loses no accounting: its canary is resumed by the next run).
    pub async fn shutdown(self, grace: Duration) {
        for t in self.tasks.values() {
            let _ = t.stop.send(Stop::Finish);
        }
        let deadline = later(Instant::now(), grace);
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
    let first = spread.saturating_add(rand::rng().random_range(Duration::ZERO..=p.jitter));
    let mut next = later(Instant::now(), first);
    let mut mem = InstanceMemory::default();
    loop {
        // A stop that arrived by the time the next cycle is due wins: a removed or replaced
        // instance starts no new cycle (unbiased, select! would pick either half the time).
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s != Stop::Running) => return,
            _ = tokio::time::sleep_until(next) => {}
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
        let interval = jittered(p.interval, p.jitter, rand::rng().random_range(-1.0..=1.0));
        next = later(started, interval).max(Instant::now());
    }
}

/// Runs one cycle under its hard deadline. A cycle cut off by that deadline is a `timeout` at
/// the stage it was in, unless it had met a failure before (the first one met is reported, as
/// at any end of a cycle), and keeps what it had found: the outcomes it settled are in the
/// ledger already, so they are counted like those of any other cycle.
pub async fn run_cycle(shared: &Shared, inst: &Instance, mem: &mut InstanceMemory) -> CycleReport {
    events::cycle_started(&shared.metrics, inst);
    let budget = cycle_budget(inst);
    let mut rec = Recorder::new(inst.probe.timeout, budget);
    let mut report = CycleReport::new(SystemTime::now());
    let began = Instant::now();
    // Steps are bounded by the recorder; this outer bound is a guard against a bug, with a
    // second of grace so the recorder's own timeout is the one that normally fires.
    let outcome = tokio::time::timeout(
        budget.saturating_add(Duration::from_secs(1)),
        shared.cycles.run(inst, mem, &mut rec, &mut report),
    )
    .await;
    if outcome.is_err() {
        let stage = rec.current.unwrap_or(Stage::Delivery);
        // A failure met before the cut-off comes first, as in a cycle that ends by itself:
        // IMAP refused, then SMTP stuck past the deadline, is an IMAP failure.
        report.met.push(Failure::new(
            stage,
            Reason::Timeout,
            "cycle deadline exceeded",
        ));
        report.duration = began.elapsed();
        report.steps = std::mem::take(&mut rec.steps);
        report.certs = std::mem::take(&mut rec.certs);
        // Cut off before it could record itself.
        if !report.recorded {
            shared.cycles.record_cut_off(inst, &report).await;
        }
    }
    report
}

#[cfg(test)]
mod tests;
