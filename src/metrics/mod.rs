//! The Prometheus metrics of metric contract v2 (docs/metrics.md; README "Metrics"): the
//! agent's own metrics in one registry owned by the agent (never the process-global default),
//! and the probe instances' series, one vector per family (`families`), whose children each
//! instance holds ([`InstanceMetrics`]), so a scrape encodes again only the instances that
//! changed since the last one (`page`).
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
use prometheus::{IntGaugeVec, Opts, Registry};
use std::time::Duration;

mod buckets;
mod exposition;
mod families;
mod instance;
mod instances;
mod landing;
mod page;
mod shape;

pub use buckets::delivery_buckets;
use buckets::PHASE_BUCKETS;
pub use shape::{common, endpoints, phases};

pub use exposition::Exposition;
pub use instance::{Children, InstanceMetrics, Series, NO_LABELS};
pub use landing::LandingMetrics;
pub use page::by_family;

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

/// Every metric the agent exports: its own in `registry`, each instance's behind
/// [`Metrics::if_live`].
pub struct Metrics {
    /// The agent's own metrics (build, reload, shard, process), not the instances'.
    pub registry: Registry,
    pub reload_ok: IntGaugeVec,
    pub build_info: IntGaugeVec,
    /// Always 1; the `shard` label (`i/n`) says which shard of the probe set the agent runs.
    pub shard_info: IntGaugeVec,
    pub options: MetricsOptions,
    /// `/metrics`: encoded off the probes' threads, one encoding at a time.
    pub exposition: Exposition,
    /// The instances' metric families, whose children the instances hold.
    families: families::Families,
    /// The instances whose series may be written (registered and not removed since).
    live: instances::Live,
    /// How the instances' families are written, and the page being built.
    page: page::Page,
}

impl Metrics {
    pub fn new(region: &str, options: MetricsOptions) -> Result<Metrics, prometheus::Error> {
        let families = families::Families::new(&options)?;
        let m = Metrics {
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
            registry: Registry::new(),
            page: page::Page::new(&families),
            families,
            options,
            exposition: Exposition::default(),
            live: instances::Live::default(),
        };
        m.register_own(&m.registry)?;
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

    /// Registers the agent's own metrics in `r`, and a process collector.
    fn register_own(&self, r: &Registry) -> Result<(), prometheus::Error> {
        r.register(Box::new(self.reload_ok.clone()))?;
        r.register(Box::new(self.build_info.clone()))?;
        r.register(Box::new(self.shard_info.clone()))?;
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(())
    }
}
