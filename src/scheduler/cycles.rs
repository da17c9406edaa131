//! What the scheduler runs at each tick: one cycle of an instance. The agent runs the probe
//! (`CycleCtx`: TLS roots, ledger, key); the scheduler's tests run scripted cycles on a paused
//! clock, so its timing is tested without a mail server.

use crate::config::Instance;
use crate::ledger;
use crate::probe::cycle::{self, CycleCtx, CycleReport, InstanceMemory};
use crate::probe::recorder::Recorder;
use futures::future::{BoxFuture, FutureExt};

/// One cycle of an instance, and the record of a cycle cut off by its hard deadline.
pub trait Cycles: Send + Sync {
    /// Runs one cycle, filling `report` as it goes: whatever it holds when the scheduler cuts
    /// the cycle off is kept.
    fn run<'a>(
        &'a self,
        inst: &'a Instance,
        mem: &'a mut InstanceMemory,
        rec: &'a mut Recorder,
        report: &'a mut CycleReport,
    ) -> BoxFuture<'a, ()>;

    /// Records a cycle the scheduler cut off before it recorded itself.
    fn record_cut_off<'a>(
        &'a self,
        inst: &'a Instance,
        report: &'a CycleReport,
    ) -> BoxFuture<'a, ()>;
}

impl Cycles for CycleCtx {
    fn run<'a>(
        &'a self,
        inst: &'a Instance,
        mem: &'a mut InstanceMemory,
        rec: &'a mut Recorder,
        report: &'a mut CycleReport,
    ) -> BoxFuture<'a, ()> {
        cycle::run(self, inst, mem, rec, report).boxed()
    }

    fn record_cut_off<'a>(
        &'a self,
        inst: &'a Instance,
        report: &'a CycleReport,
    ) -> BoxFuture<'a, ()> {
        let owner = cycle::owner(inst);
        let failure = report
            .failure()
            .map(|f| (f.stage.as_str(), f.reason.as_str()));
        let started_at = ledger::unix(report.started);
        let ledger = self.ledger.clone();
        async move {
            if let Err(e) = ledger
                .run(move |l| l.record_cycle(&owner, started_at, failure))
                .await
            {
                tracing::error!(error = %e, "cannot record the cycle in the ledger");
            }
        }
        .boxed()
    }
}
