//! The page kept between scrapes against the crate's own: a `gather()` of every series and its
//! `TextEncoder`, after instances are written, partly changed and removed.

use crate::config::Instance;
use crate::landing;
use crate::metrics::{by_family, endpoints, phases, Metrics, MetricsOptions, NO_LABELS};
use prometheus::TextEncoder;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// [`by_family`] without the process collector's families: their values move between two
/// encodings.
fn families(page: &str) -> Vec<(String, Vec<String>)> {
    let mut out = by_family(page);
    out.retain(|(header, _)| !header.starts_with("# HELP process_"));
    out
}

/// The cached page is the crate's page of the same series.
fn same_as_the_crates(m: &Metrics) -> String {
    let page = m.render();
    let all = m.everything().expect("registry").gather();
    let reference = TextEncoder::new().encode_to_string(&all).expect("encode");
    let (ours, theirs) = (families(&page), families(&reference));
    let names = |f: &[(String, Vec<String>)]| -> Vec<String> {
        f.iter()
            .map(|(h, s)| format!("{h}({} series)", s.len()))
            .collect()
    };
    assert_eq!(names(&ours), names(&theirs), "families differ");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b, "a family differs");
    }
    page
}

/// `n` instances of one probe profile, probes `p00`, `p01`, ...
fn instances(n: usize) -> Vec<Instance> {
    let base = crate::config::testing::one_instance("");
    (0..n)
        .map(|k| {
            let mut probe = (*base.probe).clone();
            probe.name = format!("p{k:02}");
            Instance {
                probe: Arc::new(probe),
                ..base.clone()
            }
        })
        .collect()
}

/// A cycle's worth of writes to instance number `k`, different for each `k` and `round`.
fn write(m: &Metrics, i: &Instance, k: usize, round: usize) {
    let x = (k * 7 + round * 3) as f64;
    m.if_live(i, |s| {
        s.cycles.inc();
        s.probe_duration.set(0.25 + x / 100.0);
        s.delivery.observe(x * 4.0);
        for (n, p) in phases(i).iter().enumerate() {
            s.phase
                .with_label_values(&[p.as_str()])
                .set(x / 1000.0 + n as f64);
            if let Some(h) = &s.phase_histogram {
                h.with_label_values(&[p.as_str()]).observe(x / 50.0);
            }
        }
        let outcome = ["on_time", "late", "lost", "recovered"][(k + round) % 4];
        s.canaries.with_label_values(&[outcome]).inc();
        if (k + round).is_multiple_of(3) {
            let stage = ["connect", "imap_login", "delivery"][round % 3];
            let reason = ["refused", "auth_failed", "timeout"][k % 3];
            s.failures.with_label_values(&[stage, reason]).inc();
            s.last_failure
                .with_label_values(&[stage, reason])
                .set(1.8e9 + x);
            s.success.set(0);
            s.consecutive_failures.inc();
        } else {
            s.success.set(1);
            s.last_success.with_label_values(NO_LABELS).set(1.8e9 + x);
            s.consecutive_successes.inc();
        }
        for e in endpoints(i) {
            s.cert_expiry.with_label_values(&[&e]).set(1.9e9 + x);
        }
        if k == 3 {
            s.sentinel_intact.with_label_values(NO_LABELS).set(1);
        }
        let verdicts = match (k + round) % 3 {
            0 => {
                "Authentication-Results: mx; dkim=pass; spf=fail; dmarc=pass\r\n\
                 X-Spam-Score: 2.5\r\n\r\n"
            }
            1 => "Authentication-Results: mx; dkim=fail\r\n\r\n",
            _ => "Subject: none\r\n\r\n",
        };
        let l = landing::read(verdicts.as_bytes(), 0.0);
        s.landing.record(l.trusted(None), l.spam_score);
        s.in_flight.set((k % 2) as i64);
    })
    .expect("registered");
}

#[test]
fn the_page_is_the_crates_page_of_the_same_series() {
    let options = MetricsOptions {
        phase_histograms: true,
        ..MetricsOptions::default()
    };
    let m = Metrics::new("r", options).expect("metrics");
    let all = instances(40);
    // Registered only: the series created up front.
    for i in &all {
        m.register_instance(i);
    }
    same_as_the_crates(&m);
    // Every instance written: the cold page.
    for (k, i) in all.iter().enumerate() {
        write(&m, i, k, 0);
    }
    same_as_the_crates(&m);
    // Nothing written since: every instance's lines come from the cache.
    same_as_the_crates(&m);
    // A quarter written again: failures move, verdicts and scores come and go.
    for round in 1..4 {
        for (k, i) in all.iter().enumerate().filter(|(k, _)| k % 4 == round % 4) {
            write(&m, i, k, round);
        }
        same_as_the_crates(&m);
    }
    // One instance removed: its series go, and a family only it had goes with them.
    assert!(m.render().contains("# HELP mailcanary_sentinel_intact "));
    m.forget_instance(&all[3]);
    let page = same_as_the_crates(&m);
    assert!(!page.contains("probe=\"p03\""), "{page}");
    assert!(!page.contains("mailcanary_sentinel_intact"), "{page}");
    // Written after its removal (a cycle that was under way): nothing comes back.
    assert!(m.if_live(&all[3], |s| s.cycles.inc()).is_none());
    let page = same_as_the_crates(&m);
    assert!(!page.contains("probe=\"p03\""));
    // Registered again: from zero, as a new instance.
    m.register_instance(&all[3]);
    let page = same_as_the_crates(&m);
    let p03 = "mailcanary_probe_cycles_total{client=\"thunderbird\",probe=\"p03\",region=\"r\"}";
    assert!(page.contains(&format!("{p03} 0\n")), "{page}");
}

#[test]
fn a_refresh_between_scrapes_encodes_what_was_written_and_the_page_stays_the_crates() {
    let m = Metrics::new("r", MetricsOptions::default()).expect("metrics");
    let all = instances(8);
    for (k, i) in all.iter().enumerate() {
        m.register_instance(i);
        write(&m, i, k, 0);
    }
    let dirty = |m: &Metrics| {
        let live = m.live.snapshot();
        live.iter()
            .filter(|x| x.dirty.load(Ordering::Acquire))
            .count()
    };
    assert_eq!(dirty(&m), all.len());
    m.refresh();
    assert_eq!(dirty(&m), 0, "every written instance encoded");
    // Had the refresh cleared the marks without encoding, the page would be stale here.
    same_as_the_crates(&m);
    write(&m, &all[2], 2, 1);
    assert_eq!(dirty(&m), 1);
    m.refresh();
    same_as_the_crates(&m);
}
