//! The metric families of the probe instances, one vector per family for the whole agent: the
//! names, help texts, types, buckets and label names of the contract (docs/metrics.md). Each
//! series is a child of its family's vector, labelled `probe`, `client`, `region` and the
//! family's own labels; an instance holds its children ([`super::InstanceMetrics`]), so a
//! scrape can collect one instance without collecting the whole family.

use super::{MetricsOptions, PHASE_BUCKETS};
use prometheus::core::Collector;
use prometheus::proto::MetricType;
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Every family of the instances' series.
pub(super) struct Families {
    pub(super) success: IntGaugeVec,
    pub(super) cycles: IntCounterVec,
    pub(super) failures: IntCounterVec,
    pub(super) local_faults: IntCounterVec,
    pub(super) delivery: HistogramVec,
    pub(super) phase: GaugeVec,
    pub(super) phase_histogram: Option<HistogramVec>,
    pub(super) probe_duration: GaugeVec,
    pub(super) last_success: GaugeVec,
    pub(super) consecutive_failures: IntGaugeVec,
    pub(super) consecutive_successes: IntGaugeVec,
    pub(super) last_failure: GaugeVec,
    pub(super) in_flight: IntGaugeVec,
    pub(super) canaries: IntCounterVec,
    pub(super) sentinel_intact: IntGaugeVec,
    pub(super) cert_expiry: GaugeVec,
    pub(super) auth_result: IntGaugeVec,
    pub(super) spam_score: GaugeVec,
}

/// The label names of every instance series, then the family's own.
fn labels(extra: &[&'static str]) -> Vec<&'static str> {
    ["probe", "client", "region"]
        .iter()
        .chain(extra)
        .copied()
        .collect()
}

impl Families {
    pub(super) fn new(options: &MetricsOptions) -> Result<Families, prometheus::Error> {
        let phase_histogram = match options.phase_histograms {
            true => Some(HistogramVec::new(
                HistogramOpts::new("mailcanary_phase_seconds", "Time per protocol phase")
                    .buckets(PHASE_BUCKETS.to_vec()),
                &labels(&["phase"]),
            )?),
            false => None,
        };
        let gauge = |name: &str, help: &str, extra: &[&'static str]| {
            IntGaugeVec::new(Opts::new(name, help), &labels(extra))
        };
        let float = |name: &str, help: &str, extra: &[&'static str]| {
            GaugeVec::new(Opts::new(name, help), &labels(extra))
        };
        let counter = |name: &str, help: &str, extra: &[&'static str]| {
            IntCounterVec::new(Opts::new(name, help), &labels(extra))
        };
        Ok(Families {
            success: gauge(
                "mailcanary_probe_success",
                "1 if the last cycle delivered the canary within its deadline, else 0",
                &[],
            )?,
            cycles: counter("mailcanary_probe_cycles_total", "Probe cycles started", &[])?,
            local_faults: counter(
                "mailcanary_local_faults_total",
                "Cycles ended on a fault of the agent itself (ledger, credential), not of mail",
                &[],
            )?,
            failures: counter(
                "mailcanary_probe_failures_total",
                "Failed cycles, by first failing stage and reason",
                &["stage", "reason"],
            )?,
            delivery: HistogramVec::new(
                HistogramOpts::new(
                    "mailcanary_delivery_seconds",
                    "SMTP accepted (end of DATA) to canary visible over IMAP, observed once per \
                     canary when it settles (on time, late or recovered)",
                )
                .buckets(options.delivery_buckets.clone()),
                &labels(&[]),
            )?,
            phase: float(
                "mailcanary_phase_duration_seconds",
                "Seconds each protocol phase took in the last cycle (0: not reached)",
                &["phase"],
            )?,
            phase_histogram,
            probe_duration: float(
                "mailcanary_probe_duration_seconds",
                "How long the last cycle took, start to end",
                &[],
            )?,
            last_success: float(
                "mailcanary_last_success_timestamp_seconds",
                "Unix time of the last successful cycle",
                &[],
            )?,
            consecutive_failures: gauge(
                "mailcanary_probe_consecutive_failures",
                "Failed cycles since the last successful one (0 after a success)",
                &[],
            )?,
            consecutive_successes: gauge(
                "mailcanary_probe_consecutive_successes",
                "Successful cycles since the last failed one (0 after a failure)",
                &[],
            )?,
            last_failure: float(
                "mailcanary_probe_last_failure_timestamp_seconds",
                "Unix time of the last failed cycle, by first failing stage and reason",
                &["stage", "reason"],
            )?,
            in_flight: gauge(
                "mailcanary_canaries_in_flight",
                "Canaries accepted by SMTP, not yet seen, not yet declared lost",
                &[],
            )?,
            canaries: counter(
                "mailcanary_canaries_total",
                "Canaries settled, by outcome",
                &["outcome"],
            )?,
            sentinel_intact: gauge(
                "mailcanary_sentinel_intact",
                "1 if every sentinel message is present and byte-identical",
                &[],
            )?,
            cert_expiry: float(
                "mailcanary_tls_cert_expiry_timestamp_seconds",
                "notAfter of the leaf certificate seen",
                &["endpoint"],
            )?,
            auth_result: gauge(
                "mailcanary_auth_result",
                "1 for the result of each method in the trusted Authentication-Results of the \
                 last verified canary (RFC 8601 results; anything else is unknown)",
                &["method", "result"],
            )?,
            spam_score: float(
                "mailcanary_spam_score",
                "The spam score the receiving side wrote on the last verified canary that \
                 carried one",
                &[],
            )?,
        })
    }

    /// Every family with its type, in the order of the slots of an instance's series
    /// ([`super::InstanceMetrics::collect`]).
    pub(super) fn slots(&self) -> Vec<(Box<dyn Collector>, MetricType)> {
        use MetricType::{COUNTER, GAUGE, HISTOGRAM};
        let mut all: Vec<(Box<dyn Collector>, MetricType)> = vec![
            (Box::new(self.success.clone()), GAUGE),
            (Box::new(self.cycles.clone()), COUNTER),
            (Box::new(self.failures.clone()), COUNTER),
            (Box::new(self.local_faults.clone()), COUNTER),
            (Box::new(self.delivery.clone()), HISTOGRAM),
            (Box::new(self.phase.clone()), GAUGE),
            (Box::new(self.probe_duration.clone()), GAUGE),
            (Box::new(self.last_success.clone()), GAUGE),
            (Box::new(self.consecutive_failures.clone()), GAUGE),
            (Box::new(self.consecutive_successes.clone()), GAUGE),
            (Box::new(self.last_failure.clone()), GAUGE),
            (Box::new(self.in_flight.clone()), GAUGE),
            (Box::new(self.canaries.clone()), COUNTER),
            (Box::new(self.sentinel_intact.clone()), GAUGE),
            (Box::new(self.cert_expiry.clone()), GAUGE),
            (Box::new(self.auth_result.clone()), GAUGE),
            (Box::new(self.spam_score.clone()), GAUGE),
        ];
        if let Some(h) = &self.phase_histogram {
            all.push((Box::new(h.clone()), HISTOGRAM));
        }
        all
    }

    /// Registers every family in `r`.
    pub(super) fn register(&self, r: &Registry) -> Result<(), prometheus::Error> {
        for (c, _) in self.slots() {
            r.register(c)?;
        }
        Ok(())
    }
}
