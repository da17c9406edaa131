//! The Prometheus metrics of metric contract v2 (docs/metrics.md; README "Metrics"), in one
//! registry owned by the agent (never the process-global default).
//!
//! Label values come only from config names and the fixed sets of
//! [`Stage`](crate::vocab::Stage), [`Reason`](crate::vocab::Reason),
//! [`Outcome`](crate::vocab::Outcome) and phase names, never from server text, so cardinality is bounded by the config.
//! Series every dashboard needs (success, cycles, each outcome, each phase the profile goes
//! through) are created up front when an instance is registered, as blackbox_exporter does, so
//! a probe that has never succeeded still has them.
//!
//! Per-phase durations are gauges of the last cycle (a histogram per phase only when
//! [`MetricsOptions::phase_histograms`] asks for it), which keeps an instance under 50 series;
//! the delivery histogram is observed once per settled canary, late ones included, with buckets
//! reaching the longest `lost_after`.

use crate::config::{Config, Shard};
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use std::time::Duration;

mod buckets;
mod exposition;
mod instances;
mod landing;
mod shape;

pub use buckets::delivery_buckets;
use buckets::PHASE_BUCKETS;
pub use shape::{common, endpoints, phases};

pub use exposition::Exposition;
pub use landing::LandingMetrics;

const COMMON: &[&str] = &["probe", "client", "region"];

/// What the metric set looks like, fixed for the life of the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsOptions {
    /// Export `mailcanary_phase_seconds` histograms besides the per-phase gauges.
    pub phase_histograms: bool,
    /// Bucket bounds of `mailcanary_delivery_seconds`.
    pub delivery_buckets: Vec<f64>,
}

impl Default for MetricsOptions {
    /// The options of a config whose probes all use the default `lost_after` (10 minutes).
    fn default() -> Self {
        MetricsOptions {
            phase_histograms: false,
            delivery_buckets: delivery_buckets(Duration::from_secs(600)),
        }
    }
}

impl MetricsOptions {
    pub fn for_config(config: &Config) -> Self {
        MetricsOptions {
            phase_histograms: config.agent.phase_histograms,
            delivery_buckets: delivery_buckets(config.longest_lost_after()),
        }
    }
}

/// Every metric the agent exports.
pub struct Metrics {
    pub registry: Registry,
    pub success: IntGaugeVec,
    pub cycles: IntCounterVec,
    pub failures: IntCounterVec,
    pub delivery: HistogramVec,
    /// Seconds each phase took in the last cycle (0 for a phase it did not reach).
    pub phase: GaugeVec,
    /// Per-phase histograms, only when the options ask for them.
    pub phase_histogram: Option<HistogramVec>,
    /// How long the last cycle took.
    pub probe_duration: GaugeVec,
    pub last_success: GaugeVec,
    /// Failed cycles since the last successful one: what alerts count instead of a time window,
    /// so they follow the probe interval.
    pub consecutive_failures: IntGaugeVec,
    /// Successful cycles since the last failed one: "the other client profiles still work".
    pub consecutive_successes: IntGaugeVec,
    /// Unix time of the last cycle that failed, per first failing stage and reason.
    pub last_failure: GaugeVec,
    pub in_flight: IntGaugeVec,
    /// Cycles that ended on a fault of the agent itself (ledger, credentials): never a failure.
    pub local_faults: IntCounterVec,
    pub canaries: IntCounterVec,
    pub sentinel_intact: IntGaugeVec,
    pub cert_expiry: GaugeVec,
    pub reload_ok: IntGaugeVec,
    pub build_info: IntGaugeVec,
    /// Always 1; the `shard` label (`i/n`) says which shard of the probe set the agent runs.
    pub shard_info: IntGaugeVec,
    /// The last verified canary's verdicts and spam score, once seen.
    pub landing: LandingMetrics,
    pub options: MetricsOptions,
    /// `/metrics`: encoded off the probes' threads, one encoding at a time.
    pub exposition: Exposition,
    /// The instances whose series may be written (registered and not removed since).
    live: instances::Live,
}

fn labels(extra: &[&'static str]) -> Vec<&'static str> {
    COMMON.iter().chain(extra).copied().collect()
}

impl Metrics {
    pub fn new(region: &str, options: MetricsOptions) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let phase_histogram = if options.phase_histograms {
            Some(HistogramVec::new(
                HistogramOpts::new("mailcanary_phase_seconds", "Time per protocol phase")
                    .buckets(PHASE_BUCKETS.to_vec()),
                &labels(&["phase"]),
            )?)
        } else {
            None
        };
        let m = Metrics {
            success: IntGaugeVec::new(
                Opts::new(
                    "mailcanary_probe_success",
                    "1 if the last cycle delivered the canary within its deadline, else 0",
                ),
                COMMON,
            )?,
            cycles: IntCounterVec::new(
                Opts::new("mailcanary_probe_cycles_total", "Probe cycles started"),
                COMMON,
            )?,
            local_faults: IntCounterVec::new(
                Opts::new(
                    "mailcanary_local_faults_total",
                    "Cycles ended on a fault of the agent itself (ledger, credential), not of mail",
                ),
                COMMON,
            )?,
            failures: IntCounterVec::new(
                Opts::new(
                    "mailcanary_probe_failures_total",
                    "Failed cycles, by first failing stage and reason",
                ),
                &labels(&["stage", "reason"]),
            )?,
            delivery: HistogramVec::new(
                HistogramOpts::new(
                    "mailcanary_delivery_seconds",
                    "SMTP accepted (end of DATA) to canary visible over IMAP, observed once per \
                     canary when it settles (on time, late or recovered)",
                )
                .buckets(options.delivery_buckets.clone()),
                COMMON,
            )?,
            phase: GaugeVec::new(
                Opts::new(
                    "mailcanary_phase_duration_seconds",
                    "Seconds each protocol phase took in the last cycle (0: not reached)",
                ),
                &labels(&["phase"]),
            )?,
            phase_histogram,
            probe_duration: GaugeVec::new(
                Opts::new(
                    "mailcanary_probe_duration_seconds",
                    "How long the last cycle took, start to end",
                ),
                COMMON,
            )?,
            last_success: GaugeVec::new(
                Opts::new(
                    "mailcanary_last_success_timestamp_seconds",
                    "Unix time of the last successful cycle",
                ),
                COMMON,
            )?,
            consecutive_failures: IntGaugeVec::new(
                Opts::new(
                    "mailcanary_probe_consecutive_failures",
                    "Failed cycles since the last successful one (0 after a success)",
                ),
                COMMON,
            )?,
            consecutive_successes: IntGaugeVec::new(
                Opts::new(
                    "mailcanary_probe_consecutive_successes",
                    "Successful cycles since the last failed one (0 after a failure)",
                ),
                COMMON,
            )?,
            last_failure: GaugeVec::new(
                Opts::new(
                    "mailcanary_probe_last_failure_timestamp_seconds",
                    "Unix time of the last failed cycle, by first failing stage and reason",
                ),
                &labels(&["stage", "reason"]),
            )?,
            in_flight: IntGaugeVec::new(
                Opts::new(
                    "mailcanary_canaries_in_flight",
                    "Canaries accepted by SMTP, not yet seen, not yet declared lost",
                ),
                COMMON,
            )?,
            canaries: IntCounterVec::new(
                Opts::new("mailcanary_canaries_total", "Canaries settled, by outcome"),
                &labels(&["outcome"]),
            )?,
            sentinel_intact: IntGaugeVec::new(
                Opts::new(
                    "mailcanary_sentinel_intact",
                    "1 if every sentinel message is present and byte-identical",
                ),
                COMMON,
            )?,
            cert_expiry: GaugeVec::new(
                Opts::new(
                    "mailcanary_tls_cert_expiry_timestamp_seconds",
                    "notAfter of the leaf certificate seen",
                ),
                &labels(&["endpoint"]),
            )?,
            reload_ok: IntGaugeVec::new(
                Opts::new(
                    "mailcanary_config_last_reload_successful",
                    "0 after a rejected reload (old config kept)",
                ),
                &["region"],
            )?,
            build_info: IntGaugeVec::new(
                Opts::new(
                    "mailcanary_build_info",
                    "Always 1; the labels say which build runs: version, git revision (unknown \
                     when built outside a git checkout) and the rustc version",
                ),
                &["version", "revision", "rustversion", "region"],
            )?,
            shard_info: IntGaugeVec::new(
                Opts::new(
                    "mailcanary_shard_info",
                    "Always 1; the shard label (i/n, from 1) says which shard of the probe set \
                     the agent runs (1/1: all of it)",
                ),
                &["shard", "region"],
            )?,
            landing: LandingMetrics::new(COMMON)?,
            registry,
            options,
            exposition: Exposition::default(),
            live: instances::Live::default(),
        };
        for c in m.collectors() {
            m.registry.register(c)?;
        }
        #[cfg(target_os = "linux")]
        m.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        m.build_info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                env!("MAILCANARY_REVISION"),
                env!("MAILCANARY_RUSTC_VERSION"),
                region,
            ])
            .set(1);
        m.reload_ok.with_label_values(&[region]).set(1);
        m.shard_info
            .with_label_values(&[&Shard::ALL.to_string(), region])
            .set(1);
        Ok(m)
    }

    /// The agent now runs shard `to` instead of `from`: the one `mailcanary_shard_info` series
    /// moves to the new label (added before the old one goes, so a scrape always sees one).
    pub fn switch_shard(&self, region: &str, from: Shard, to: Shard) {
        self.shard_info
            .with_label_values(&[&to.to_string(), region])
            .set(1);
        if from != to {
            let _ = self
                .shard_info
                .remove_label_values(&[&from.to_string(), region]);
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        let mut all: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.success.clone()),
            Box::new(self.cycles.clone()),
            Box::new(self.failures.clone()),
            Box::new(self.local_faults.clone()),
            Box::new(self.delivery.clone()),
            Box::new(self.phase.clone()),
            Box::new(self.probe_duration.clone()),
            Box::new(self.last_success.clone()),
            Box::new(self.consecutive_failures.clone()),
            Box::new(self.consecutive_successes.clone()),
            Box::new(self.last_failure.clone()),
            Box::new(self.in_flight.clone()),
            Box::new(self.canaries.clone()),
            Box::new(self.sentinel_intact.clone()),
            Box::new(self.cert_expiry.clone()),
            Box::new(self.reload_ok.clone()),
            Box::new(self.build_info.clone()),
            Box::new(self.shard_info.clone()),
            Box::new(self.landing.auth_result.clone()),
            Box::new(self.landing.spam_score.clone()),
        ];
        if let Some(h) = &self.phase_histogram {
            all.push(Box::new(h.clone()));
        }
        all
    }

    /// The text exposition format, written by the `prometheus` crate's `TextEncoder` into a
    /// buffer sized from the previous page. Blocking work, proportional to the series count:
    /// the web handler runs it through [`Exposition`], off the threads that time the probes.
    /// (A hand-written encoder paid off with contract v1's ~300 series per instance; with v2's
    /// ~44 it was within 10 % of this one, bench/RESULTS.md.)
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let families = self.registry.gather();
        let mut buf = Vec::with_capacity(self.exposition.size_hint());
        // Encoding into a Vec fails only on metric families the agent never builds.
        if let Err(e) = prometheus::TextEncoder::new().encode(&families, &mut buf) {
            tracing::error!(error = %e, "cannot encode /metrics");
            buf.clear();
        }
        drop(families);
        self.exposition.remember_size(buf.len());
        // The encoder writes only UTF-8 (names, escaped label values and numbers).
        String::from_utf8(buf).unwrap_or_default()
    }
}
