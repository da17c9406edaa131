//! The series of each configured instance: created up front when it is registered, removed
//! when a reload drops it, and never written again after that. A dropped instance's cycle that
//! is still under way finishes (its canary is seen and removed), but whatever it reports goes
//! through [`Metrics::if_live`], which holds a read lock that [`Metrics::forget_instance`]'s
//! write lock excludes: a scrape after the reload never sees the dropped instance's series
//! come back.

use super::{common, endpoints, phases, Metrics};
use crate::config::Instance;
use crate::vocab::{Outcome, Reason, Stage};
use std::collections::HashSet;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Keys (`probe/client/region`) of the instances whose series may be written.
#[derive(Default)]
pub(super) struct Live(RwLock<HashSet<String>>);

impl Live {
    // A panic while the lock was held left the set itself intact: keep using it.
    fn read(&self) -> RwLockReadGuard<'_, HashSet<String>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, HashSet<String>> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Metrics {
    /// Runs `write` (which writes the instance's series) only while the instance is registered,
    /// and keeps it from being removed meanwhile. `None` when it was not run.
    pub fn if_live<R>(&self, i: &Instance, write: impl FnOnce() -> R) -> Option<R> {
        let live = self.live.read();
        live.contains(&i.key()).then(write)
    }

    /// Creates the series an instance always has, so dashboards and `rate()` see them from the
    /// first scrape.
    pub fn register_instance(&self, i: &Instance) {
        let mut live = self.live.write();
        live.insert(i.key());
        let l = common(i);
        let l = [l[0], l[1], l[2]];
        self.success.with_label_values(&l);
        self.cycles.with_label_values(&l);
        self.local_faults.with_label_values(&l);
        self.probe_duration.with_label_values(&l);
        self.consecutive_failures.with_label_values(&l);
        self.consecutive_successes.with_label_values(&l);
        self.delivery.with_label_values(&l);
        self.in_flight.with_label_values(&l);
        for o in Outcome::ALL {
            self.canaries
                .with_label_values(&[l[0], l[1], l[2], o.as_str()]);
        }
        for p in phases(i) {
            let pl = [l[0], l[1], l[2], p.as_str()];
            self.phase.with_label_values(&pl);
            if let Some(h) = &self.phase_histogram {
                h.with_label_values(&pl);
            }
        }
    }

    /// Removes every series of an instance that is no longer configured. Until it is
    /// registered again, [`Metrics::if_live`] writes none of them back.
    pub fn forget_instance(&self, i: &Instance) {
        let mut live = self.live.write();
        live.remove(&i.key());
        let l = common(i);
        let l = [l[0], l[1], l[2]];
        let _ = self.success.remove_label_values(&l);
        let _ = self.cycles.remove_label_values(&l);
        let _ = self.local_faults.remove_label_values(&l);
        let _ = self.probe_duration.remove_label_values(&l);
        let _ = self.delivery.remove_label_values(&l);
        let _ = self.in_flight.remove_label_values(&l);
        let _ = self.last_success.remove_label_values(&l);
        let _ = self.consecutive_failures.remove_label_values(&l);
        let _ = self.consecutive_successes.remove_label_values(&l);
        let _ = self.sentinel_intact.remove_label_values(&l);
        self.landing.forget(l);
        for s in Stage::ALL {
            let pl = [l[0], l[1], l[2], s.as_str()];
            let _ = self.phase.remove_label_values(&pl);
            if let Some(h) = &self.phase_histogram {
                let _ = h.remove_label_values(&pl);
            }
            for r in Reason::ALL {
                let fl = [l[0], l[1], l[2], s.as_str(), r.as_str()];
                let _ = self.failures.remove_label_values(&fl);
                let _ = self.last_failure.remove_label_values(&fl);
            }
        }
        for o in Outcome::ALL {
            let _ = self
                .canaries
                .remove_label_values(&[l[0], l[1], l[2], o.as_str()]);
        }
        for e in endpoints(i) {
            let _ = self
                .cert_expiry
                .remove_label_values(&[l[0], l[1], l[2], &e]);
        }
    }
}
