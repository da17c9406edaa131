//! The series of one probe instance: its children of the agent's metric vectors
//! (`families`), held together so that `/metrics` can collect and encode one instance at a time
//! and keep its lines until it changes (`page`), and so that a reload removing the instance
//! removes exactly the series it has. The series stay children of the agent's vectors (one
//! description per family, not per instance), which keeps an instance's memory what it was.

use super::families::Families;
use prometheus::core::{Metric, MetricVec, MetricVecBuilder};
use prometheus::proto;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};

/// The label values of a series with no label of its own:
/// `last_success.with_label_values(NO_LABELS)`.
pub const NO_LABELS: &[&str] = &[];

/// A metric vector of the agent, as [`Series`] uses it.
pub trait Children {
    type M: Metric + Clone;
    fn child(&self, values: &[&str]) -> Self::M;
    fn drop_child(&self, values: &[&str]);
}

impl<B: MetricVecBuilder> Children for MetricVec<B> {
    type M = B::M;
    fn child(&self, values: &[&str]) -> B::M {
        self.with_label_values(values)
    }
    fn drop_child(&self, values: &[&str]) {
        let _ = self.remove_label_values(values);
    }
}

/// The series of one instance in a family with labels of its own (or with series that exist
/// only once written): children of the agent's vector, found by the values of the family's own
/// labels.
pub struct Series<V: Children> {
    vec: V,
    labels: Arc<[String; 3]>,
    /// (own label values joined by `\u{1}`, the child).
    children: Mutex<Vec<(Box<str>, V::M)>>,
}

impl<V: Children> Series<V> {
    fn new(vec: &V, labels: &Arc<[String; 3]>) -> Series<V>
    where
        V: Clone,
    {
        Series {
            vec: vec.clone(),
            labels: labels.clone(),
            children: Mutex::default(),
        }
    }

    fn values<'a>(&'a self, own: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
        self.labels.iter().map(String::as_str).chain(own).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Box<str>, V::M)>> {
        self.children.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The series with these values of the family's own labels, created if new.
    pub fn with_label_values(&self, own: &[&str]) -> V::M {
        let key = own.join("\u{1}");
        let mut children = self.lock();
        if let Some((_, m)) = children.iter().find(|(k, _)| **k == *key) {
            return m.clone();
        }
        let m = self.vec.child(&self.values(own.iter().copied()));
        children.push((key.into(), m.clone()));
        m
    }

    /// Removes the series with these values of the family's own labels, if there is one.
    pub fn remove_label_values(&self, own: &[&str]) {
        let key = own.join("\u{1}");
        let mut children = self.lock();
        if let Some(at) = children.iter().position(|(k, _)| **k == *key) {
            children.swap_remove(at);
            self.vec.drop_child(&self.values(own.iter().copied()));
        }
    }

    fn collect(&self) -> Vec<proto::Metric> {
        self.lock().iter().map(|(_, m)| m.metric()).collect()
    }

    /// Removes every series of the instance in this family.
    fn forget(&self) {
        for (key, _) in self.lock().drain(..) {
            let own = key.split('\u{1}').filter(|_| !key.is_empty());
            self.vec.drop_child(&self.values(own));
        }
    }
}

/// Every series of one instance. Written only through [`super::Metrics::if_live`], which marks
/// the instance changed for the next scrape; read freely.
pub struct InstanceMetrics {
    pub success: IntGauge,
    pub cycles: IntCounter,
    /// `stage`, `reason`.
    pub failures: Series<IntCounterVec>,
    /// Cycles that ended on a fault of the agent itself (ledger, credentials): never a failure.
    pub local_faults: IntCounter,
    pub delivery: Histogram,
    /// Seconds each phase took in the last cycle (0 for a phase it did not reach); `phase`.
    pub phase: Series<GaugeVec>,
    /// Per-phase histograms, only when the options ask for them; `phase`.
    pub phase_histogram: Option<Series<HistogramVec>>,
    /// How long the last cycle took.
    pub probe_duration: Gauge,
    /// Exists once a cycle succeeded.
    pub last_success: Series<GaugeVec>,
    /// Failed cycles since the last successful one: what alerts count instead of a time window,
    /// so they follow the probe interval.
    pub consecutive_failures: IntGauge,
    /// Successful cycles since the last failed one: "the other client profiles still work".
    pub consecutive_successes: IntGauge,
    /// Unix time of the last cycle that failed; `stage`, `reason`.
    pub last_failure: Series<GaugeVec>,
    pub in_flight: IntGauge,
    /// `outcome`.
    pub canaries: Series<IntCounterVec>,
    /// Exists once sentinels were checked.
    pub sentinel_intact: Series<IntGaugeVec>,
    /// `endpoint`.
    pub cert_expiry: Series<GaugeVec>,
    /// The last verified canary's verdicts and spam score, once seen.
    pub landing: super::LandingMetrics,
    labels: Arc<[String; 3]>,
    /// Written since the instance's lines were last encoded (set after every write).
    pub(super) dirty: AtomicBool,
    /// The instance's lines as last encoded.
    pub(super) encoded: Mutex<Encoded>,
}

impl InstanceMetrics {
    /// The series of the instance labelled `l` (`[probe, client, region]`): those without
    /// labels of their own created, the others not yet.
    pub(super) fn new(f: &Families, l: [&str; 3]) -> InstanceMetrics {
        let labels = Arc::new(l.map(String::from));
        InstanceMetrics {
            success: f.success.with_label_values(&l),
            cycles: f.cycles.with_label_values(&l),
            failures: Series::new(&f.failures, &labels),
            local_faults: f.local_faults.with_label_values(&l),
            delivery: f.delivery.with_label_values(&l),
            phase: Series::new(&f.phase, &labels),
            phase_histogram: f.phase_histogram.as_ref().map(|h| Series::new(h, &labels)),
            probe_duration: f.probe_duration.with_label_values(&l),
            last_success: Series::new(&f.last_success, &labels),
            consecutive_failures: f.consecutive_failures.with_label_values(&l),
            consecutive_successes: f.consecutive_successes.with_label_values(&l),
            last_failure: Series::new(&f.last_failure, &labels),
            in_flight: f.in_flight.with_label_values(&l),
            canaries: Series::new(&f.canaries, &labels),
            sentinel_intact: Series::new(&f.sentinel_intact, &labels),
            cert_expiry: Series::new(&f.cert_expiry, &labels),
            landing: super::LandingMetrics {
                auth_result: Series::new(&f.auth_result, &labels),
                spam_score: Series::new(&f.spam_score, &labels),
            },
            labels,
            dirty: AtomicBool::new(true),
            encoded: Mutex::default(),
        }
    }

    /// The instance's series of each family, in the order of [`Families::slots`].
    pub(super) fn collect(&self) -> Vec<Vec<proto::Metric>> {
        let mut all = vec![
            vec![self.success.metric()],
            vec![self.cycles.metric()],
            self.failures.collect(),
            vec![self.local_faults.metric()],
            vec![self.delivery.metric()],
            self.phase.collect(),
            vec![self.probe_duration.metric()],
            self.last_success.collect(),
            vec![self.consecutive_failures.metric()],
            vec![self.consecutive_successes.metric()],
            self.last_failure.collect(),
            vec![self.in_flight.metric()],
            self.canaries.collect(),
            self.sentinel_intact.collect(),
            self.cert_expiry.collect(),
            self.landing.auth_result.collect(),
            self.landing.spam_score.collect(),
        ];
        if let Some(h) = &self.phase_histogram {
            all.push(h.collect());
        }
        all
    }

    /// Removes every series of the instance from the agent's vectors.
    pub(super) fn forget(&self, f: &Families) {
        let l: Vec<&str> = self.labels.iter().map(String::as_str).collect();
        let _ = f.success.remove_label_values(&l);
        let _ = f.cycles.remove_label_values(&l);
        let _ = f.local_faults.remove_label_values(&l);
        let _ = f.delivery.remove_label_values(&l);
        let _ = f.probe_duration.remove_label_values(&l);
        let _ = f.consecutive_failures.remove_label_values(&l);
        let _ = f.consecutive_successes.remove_label_values(&l);
        let _ = f.in_flight.remove_label_values(&l);
        for s in [&self.failures, &self.canaries] {
            s.forget();
        }
        for s in [&self.phase, &self.last_success, &self.last_failure] {
            s.forget();
        }
        for s in [&self.cert_expiry, &self.landing.spam_score] {
            s.forget();
        }
        self.sentinel_intact.forget();
        self.landing.auth_result.forget();
        if let Some(h) = &self.phase_histogram {
            h.forget();
        }
    }
}

/// An instance's lines as last encoded: the sample lines of each of its metric families (the
/// slots, in [`Families::slots`] order), without their headers.
#[derive(Default)]
pub(super) struct Encoded {
    pub(super) text: String,
    /// Where each slot's lines end in `text` (each starts where the previous one ends).
    pub(super) ends: Vec<usize>,
}

impl Encoded {
    /// The lines of `slot` (none before the instance is first encoded).
    pub(super) fn lines(&self, slot: usize) -> &str {
        let start = match slot {
            0 => 0,
            _ => self.ends.get(slot - 1).copied().unwrap_or(0),
        };
        let end = self.ends.get(slot).copied().unwrap_or(start);
        self.text.get(start..end).unwrap_or("")
    }
}
