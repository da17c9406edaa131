//! The configured instances and their series: created up front when an instance is registered,
//! dropped when a reload removes it, and never written again after that. A dropped instance's
//! cycle that is still under way finishes (its canary is seen and removed), but whatever it
//! reports goes through [`Metrics::if_live`], which holds a read lock that
//! [`Metrics::forget_instance`]'s write lock excludes: a scrape after the reload never sees the
//! dropped instance's series come back. `if_live` is also the one gate every write of an
//! instance's series passes, so it marks the instance changed for the next scrape.

use super::instance::InstanceMetrics;
use super::{common, phases, Metrics};
use crate::config::Instance;
use crate::vocab::Outcome;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The instances whose series may be written (registered and not removed since), by key
/// (`probe/client`), in key order.
#[derive(Default)]
pub(super) struct Live(RwLock<BTreeMap<String, Arc<InstanceMetrics>>>);

impl Live {
    // A panic while the lock was held left the map itself intact: keep using it.
    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<String, Arc<InstanceMetrics>>> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, BTreeMap<String, Arc<InstanceMetrics>>> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every live instance now, in key order: what one scrape encodes.
    pub(super) fn snapshot(&self) -> Vec<Arc<InstanceMetrics>> {
        self.read().values().cloned().collect()
    }
}

impl Metrics {
    /// Runs `write` on the instance's series only while the instance is registered, and keeps
    /// it from being removed meanwhile; then marks the instance changed, so the next scrape
    /// encodes it again. `None` when it was not run. Every write of an instance's series goes
    /// through here: one written any other way may not show before the instance's next write.
    pub fn if_live<R>(&self, i: &Instance, write: impl FnOnce(&InstanceMetrics) -> R) -> Option<R> {
        let live = self.live.read();
        let m = live.get(&i.key())?;
        let r = write(m);
        // After the write: a scrape that clears the mark before the write lands sees it marked
        // again; one that clears it after reads the written value.
        m.dirty.store(true, Ordering::Release);
        Some(r)
    }

    /// The series of the registered instance whose key ([`Instance::key`]) is `key`, to read.
    /// Write through [`Metrics::if_live`].
    pub fn instance(&self, key: &str) -> Option<Arc<InstanceMetrics>> {
        self.live.read().get(key).cloned()
    }

    /// Creates the series an instance always has, so dashboards and `rate()` see them from the
    /// first scrape. An instance registered already keeps its series (a reload that restarts
    /// it): only the phases its new profile goes through are added.
    pub fn register_instance(&self, i: &Instance) {
        let mut live = self.live.write();
        let m = (live.entry(i.key()))
            .or_insert_with(|| Arc::new(InstanceMetrics::new(&self.families, common(i))))
            .clone();
        for o in Outcome::ALL {
            m.canaries.with_label_values(&[o.as_str()]);
        }
        for p in phases(i) {
            m.phase.with_label_values(&[p.as_str()]);
            if let Some(h) = &m.phase_histogram {
                h.with_label_values(&[p.as_str()]);
            }
        }
        m.dirty.store(true, Ordering::Release);
    }

    /// Drops every series of an instance that is no longer configured. Until it is registered
    /// again (with series from zero), [`Metrics::if_live`] writes none of them back.
    pub fn forget_instance(&self, i: &Instance) {
        let mut live = self.live.write();
        if let Some(m) = live.remove(&i.key()) {
            m.forget(&self.families);
        }
    }
}
