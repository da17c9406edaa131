//! The series of one probe instance, in metrics of its own: the `probe`, `client` and `region`
//! labels are const labels, the other labels (`stage`, `reason`, `phase`, `outcome`,
//! `endpoint`, `method`, `result`) label values. An instance's metrics are created when it is
//! registered and dropped with it, so `/metrics` can collect and encode one instance at a time
//! and keep its lines until it changes (`page`). Names, help texts, types, buckets and label
//! sets are those of the contract (docs/metrics.md), whichever instance writes them.

use super::landing::LandingMetrics;
use super::{MetricsOptions, PHASE_BUCKETS};
use prometheus::core::Collector;
use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts,
};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

/// The label names of an instance's const labels, in the order of [`super::common`].
const COMMON: [&str; 3] = ["probe", "client", "region"];

/// The label values of a series with no variable label:
/// `last_success.with_label_values(NO_LABELS)`.
pub const NO_LABELS: &[&str] = &[];

/// Every series of one instance. Written only through [`super::Metrics::if_live`], which marks
/// the instance changed for the next scrape; read freely. The series without variable labels
/// that exist only once written (`last_success`, `sentinel_intact`, the landing score) are
/// vectors with no label names: `with_label_values(NO_LABELS)`.
pub struct InstanceMetrics {
    pub success: IntGauge,
    pub cycles: IntCounter,
    /// `stage`, `reason`.
    pub failures: IntCounterVec,
    pub delivery: Histogram,
    /// Seconds each phase took in the last cycle (0 for a phase it did not reach); `phase`.
    pub phase: GaugeVec,
    /// Per-phase histograms, only when the options ask for them; `phase`.
    pub phase_histogram: Option<HistogramVec>,
    /// How long the last cycle took.
    pub probe_duration: Gauge,
    pub last_success: GaugeVec,
    /// Failed cycles since the last successful one: what alerts count instead of a time window,
    /// so they follow the probe interval.
    pub consecutive_failures: IntGauge,
    /// Successful cycles since the last failed one: "the other client profiles still work".
    pub consecutive_successes: IntGauge,
    /// Unix time of the last cycle that failed; `stage`, `reason`.
    pub last_failure: GaugeVec,
    pub in_flight: IntGauge,
    /// Cycles that ended on a fault of the agent itself (ledger, credentials): never a failure.
    pub local_faults: IntCounter,
    /// `outcome`.
    pub canaries: IntCounterVec,
    pub sentinel_intact: IntGaugeVec,
    /// `endpoint`.
    pub cert_expiry: GaugeVec,
    /// The last verified canary's verdicts and spam score, once seen.
    pub landing: LandingMetrics,
    /// Written since the instance's lines were last encoded (set after every write).
    pub(super) dirty: AtomicBool,
    /// The instance's lines as last encoded.
    pub(super) encoded: Mutex<Encoded>,
}

impl InstanceMetrics {
    /// The metrics of the instance labelled `l` (`[probe, client, region]`), with no series
    /// written yet.
    pub(super) fn new(
        l: [&str; 3],
        options: &MetricsOptions,
    ) -> Result<InstanceMetrics, prometheus::Error> {
        let opts = |name: &str, help: &str| {
            COMMON
                .iter()
                .zip(l)
                .fold(Opts::new(name, help), |o, (k, v)| o.const_label(*k, v))
        };
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            HistogramOpts::from(opts(name, help)).buckets(buckets.to_vec())
        };
        let phase_histogram = match options.phase_histograms {
            true => Some(HistogramVec::new(
                histogram(
                    "mailcanary_phase_seconds",
                    "Time per protocol phase",
                    PHASE_BUCKETS,
                ),
                &["phase"],
            )?),
            false => None,
        };
        Ok(InstanceMetrics {
            success: IntGauge::with_opts(opts(
                "mailcanary_probe_success",
                "1 if the last cycle delivered the canary within its deadline, else 0",
            ))?,
            cycles: IntCounter::with_opts(opts(
                "mailcanary_probe_cycles_total",
                "Probe cycles started",
            ))?,
            local_faults: IntCounter::with_opts(opts(
                "mailcanary_local_faults_total",
                "Cycles ended on a fault of the agent itself (ledger, credential), not of mail",
            ))?,
            failures: IntCounterVec::new(
                opts(
                    "mailcanary_probe_failures_total",
                    "Failed cycles, by first failing stage and reason",
                ),
                &["stage", "reason"],
            )?,
            delivery: Histogram::with_opts(histogram(
                "mailcanary_delivery_seconds",
                "SMTP accepted (end of DATA) to canary visible over IMAP, observed once per \
                 canary when it settles (on time, late or recovered)",
                &options.delivery_buckets,
            ))?,
            phase: GaugeVec::new(
                opts(
                    "mailcanary_phase_duration_seconds",
                    "Seconds each protocol phase took in the last cycle (0: not reached)",
                ),
                &["phase"],
            )?,
            phase_histogram,
            probe_duration: Gauge::with_opts(opts(
                "mailcanary_probe_duration_seconds",
                "How long the last cycle took, start to end",
            ))?,
            last_success: GaugeVec::new(
                opts(
                    "mailcanary_last_success_timestamp_seconds",
                    "Unix time of the last successful cycle",
                ),
                &[],
            )?,
            consecutive_failures: IntGauge::with_opts(opts(
                "mailcanary_probe_consecutive_failures",
                "Failed cycles since the last successful one (0 after a success)",
            ))?,
            consecutive_successes: IntGauge::with_opts(opts(
                "mailcanary_probe_consecutive_successes",
                "Successful cycles since the last failed one (0 after a failure)",
            ))?,
            last_failure: GaugeVec::new(
                opts(
                    "mailcanary_probe_last_failure_timestamp_seconds",
                    "Unix time of the last failed cycle, by first failing stage and reason",
                ),
                &["stage", "reason"],
            )?,
            in_flight: IntGauge::with_opts(opts(
                "mailcanary_canaries_in_flight",
                "Canaries accepted by SMTP, not yet seen, not yet declared lost",
            ))?,
            canaries: IntCounterVec::new(
                opts("mailcanary_canaries_total", "Canaries settled, by outcome"),
                &["outcome"],
            )?,
            sentinel_intact: IntGaugeVec::new(
                opts(
                    "mailcanary_sentinel_intact",
                    "1 if every sentinel message is present and byte-identical",
                ),
                &[],
            )?,
            cert_expiry: GaugeVec::new(
                opts(
                    "mailcanary_tls_cert_expiry_timestamp_seconds",
                    "notAfter of the leaf certificate seen",
                ),
                &["endpoint"],
            )?,
            landing: LandingMetrics::new(opts)?,
            dirty: AtomicBool::new(true),
            encoded: Mutex::default(),
        })
    }

    /// Every collector of the instance, one metric family each, always in the same order (the
    /// order of the slots of [`Encoded`]).
    pub(super) fn collectors(&self) -> Vec<&dyn Collector> {
        let mut all: Vec<&dyn Collector> = vec![
            &self.success,
            &self.cycles,
            &self.failures,
            &self.local_faults,
            &self.delivery,
            &self.phase,
            &self.probe_duration,
            &self.last_success,
            &self.consecutive_failures,
            &self.consecutive_successes,
            &self.last_failure,
            &self.in_flight,
            &self.canaries,
            &self.sentinel_intact,
            &self.cert_expiry,
            &self.landing.auth_result,
            &self.landing.spam_score,
        ];
        if let Some(h) = &self.phase_histogram {
            all.push(h);
        }
        all
    }
}

/// An instance's lines as last encoded: the sample lines of each of its metric families (the
/// slots, in [`InstanceMetrics::collectors`] order), without their headers.
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
