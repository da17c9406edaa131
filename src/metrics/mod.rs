//! The Prometheus metrics of metric contract v1 (see README "Metrics"), in one registry owned by
//! the agent (never the process-global default).
//!
//! Label values come only from config names and the fixed sets of [`Stage`], [`Reason`],
//! [`Outcome`] and phase names, never from server text, so cardinality is bounded by the config.
//! Series every dashboard needs (success, cycles, each outcome, each phase the profile goes
//! through) are created up front when an instance is registered, as blackbox_exporter does, so
//! a probe that has never succeeded still has them.

use crate::config::{Instance, TlsMode};
use crate::ledger::Outcome;
use crate::probe::{Reason, Stage};
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
};
use std::sync::atomic::{AtomicUsize, Ordering};

mod text;

const DELIVERY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
const PHASE_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const COMMON: &[&str] = &["probe", "client", "region"];

/// Every metric the agent exports.
pub struct Metrics {
    pub registry: Registry,
    pub success: IntGaugeVec,
    pub cycles: IntCounterVec,
    pub failures: IntCounterVec,
    pub delivery: HistogramVec,
    pub phase: HistogramVec,
    pub last_success: GaugeVec,
    pub in_flight: IntGaugeVec,
    pub canaries: IntCounterVec,
    pub sentinel_intact: IntGaugeVec,
    pub cert_expiry: GaugeVec,
    pub reload_ok: IntGaugeVec,
    pub build_info: IntGaugeVec,
    /// Length of the last `/metrics` page.
    last_render_len: AtomicUsize,
}

fn labels(extra: &[&'static str]) -> Vec<&'static str> {
    COMMON.iter().chain(extra).copied().collect()
}

impl Metrics {
    pub fn new(region: &str) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
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
                    "SMTP accepted (end of DATA) to canary visible over IMAP",
                )
                .buckets(DELIVERY_BUCKETS.to_vec()),
                COMMON,
            )?,
            phase: HistogramVec::new(
                HistogramOpts::new("mailcanary_phase_seconds", "Time per protocol phase")
                    .buckets(PHASE_BUCKETS.to_vec()),
                &labels(&["phase"]),
            )?,
            last_success: GaugeVec::new(
                Opts::new(
                    "mailcanary_last_success_timestamp_seconds",
                    "Unix time of the last successful cycle",
                ),
                COMMON,
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
                    "Always 1; the version label says which build runs",
                ),
                &["version", "region"],
            )?,
            registry,
            last_render_len: AtomicUsize::new(0),
        };
        for c in m.collectors() {
            m.registry.register(c)?;
        }
        #[cfg(target_os = "linux")]
        m.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), region])
            .set(1);
        m.reload_ok.with_label_values(&[region]).set(1);
        Ok(m)
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.success.clone()),
            Box::new(self.cycles.clone()),
            Box::new(self.failures.clone()),
            Box::new(self.delivery.clone()),
            Box::new(self.phase.clone()),
            Box::new(self.last_success.clone()),
            Box::new(self.in_flight.clone()),
            Box::new(self.canaries.clone()),
            Box::new(self.sentinel_intact.clone()),
            Box::new(self.cert_expiry.clone()),
            Box::new(self.reload_ok.clone()),
            Box::new(self.build_info.clone()),
        ]
    }

    /// Creates the series an instance always has, so dashboards and `rate()` see them from the
    /// first scrape.
    pub fn register_instance(&self, i: &Instance) {
        let l = common(i);
        let l = [l[0], l[1], l[2]];
        self.success.with_label_values(&l);
        self.cycles.with_label_values(&l);
        self.delivery.with_label_values(&l);
        self.in_flight.with_label_values(&l);
        for o in Outcome::ALL {
            self.canaries
                .with_label_values(&[l[0], l[1], l[2], o.as_str()]);
        }
        for p in phases(i) {
            self.phase
                .with_label_values(&[l[0], l[1], l[2], p.as_str()]);
        }
    }

    /// Removes every series of an instance that is no longer configured.
    pub fn forget_instance(&self, i: &Instance) {
        let l = common(i);
        let l = [l[0], l[1], l[2]];
        let _ = self.success.remove_label_values(&l);
        let _ = self.cycles.remove_label_values(&l);
        let _ = self.delivery.remove_label_values(&l);
        let _ = self.in_flight.remove_label_values(&l);
        let _ = self.last_success.remove_label_values(&l);
        let _ = self.sentinel_intact.remove_label_values(&l);
        for s in Stage::ALL {
            let _ = self
                .phase
                .remove_label_values(&[l[0], l[1], l[2], s.as_str()]);
            for r in Reason::ALL {
                let _ =
                    self.failures
                        .remove_label_values(&[l[0], l[1], l[2], s.as_str(), r.as_str()]);
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

    /// The text exposition format, in a string sized from the previous scrape so that a large
    /// page is written without growing (and copying) its buffer.
    pub fn render(&self) -> String {
        let families = self.registry.gather();
        let hint = self.last_render_len.load(Ordering::Relaxed);
        let mut out = String::with_capacity(hint + hint / 8 + 1024);
        text::encode(&families, &mut out);
        drop(families);
        self.last_render_len.store(out.len(), Ordering::Relaxed);
        out
    }
}

/// `[probe, client, region]` of an instance.
pub fn common(i: &Instance) -> [&str; 3] {
    [&i.probe.name, &i.client.name, &i.region]
}

/// The phases a successful cycle of this instance goes through.
pub fn phases(i: &Instance) -> Vec<Stage> {
    let mut v = vec![Stage::Connect];
    if i.client.smtp.tls != TlsMode::None {
        v.push(Stage::Tls);
    }
    v.extend([Stage::Greeting, Stage::Ehlo]);
    if i.client.smtp.auth != crate::config::AuthMech::None {
        v.push(Stage::Auth);
    }
    v.extend([
        Stage::MailFrom,
        Stage::Rcpt,
        Stage::Data,
        Stage::ImapConnect,
    ]);
    if i.client.imap.tls != TlsMode::None {
        v.push(Stage::ImapTls);
    }
    v.extend([
        Stage::ImapGreeting,
        Stage::ImapLogin,
        Stage::ImapSelect,
        Stage::ImapSearch,
        Stage::ImapFetch,
    ]);
    if i.probe.cleanup {
        v.push(Stage::Cleanup);
    }
    v
}

/// The `host:port` endpoints an instance talks to (the `endpoint` label of certificate expiry).
pub fn endpoints(i: &Instance) -> [String; 2] {
    let (p, c) = (&i.probe, &i.client);
    [
        format!("{}:{}", p.smtp.host, p.smtp.port(c.smtp.tls, c.smtp.port)),
        format!("{}:{}", p.imap.host, p.imap.port(c.imap.tls, c.imap.port)),
    ]
}
