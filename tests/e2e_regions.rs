//! Regions on the real stack: three agents, each in its own network namespace with 0, 50 and
//! 200 ms of added latency (tests/support/netns.rs, scripts/netns.sh), probe the same mail stack
//! through a relay on their link's root-side address. Their `connect` phase medians order like
//! their latency, and cutting one region's link turns only that region red.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::agent::{find, Sample};
use support::netns::Regions;
use support::stack::{self, ProbeSpec};

const REGIONS: [(&str, u32); 3] = [("r0ms", 0), ("r50ms", 50), ("r200ms", 200)];

fn success(s: &[Sample], region: &str) -> Option<f64> {
    let l = [
        ("probe", "regional"),
        ("client", "ios_mail"),
        ("region", region),
    ];
    find(s, "mailcanary_probe_success", &l)
}

fn cycles(s: &[Sample], region: &str) -> f64 {
    let l = [
        ("probe", "regional"),
        ("client", "ios_mail"),
        ("region", region),
    ];
    find(s, "mailcanary_probe_cycles_total", &l).unwrap_or(0.0)
}

/// The median of `mailcanary_phase_seconds{phase}` from its buckets, interpolated inside the
/// bucket the way PromQL's histogram_quantile does; and the mean (`_sum / _count`).
fn phase_stats(s: &[Sample], phase: &str) -> (f64, f64, f64) {
    fn of<'a>(s: &'a [Sample], name: &'a str, phase: &'a str) -> impl Iterator<Item = &'a Sample> {
        s.iter().filter(move |x| {
            x.name == name && x.labels.get("phase").map(String::as_str) == Some(phase)
        })
    }
    let mut buckets: Vec<(f64, f64)> = of(s, "mailcanary_phase_seconds_bucket", phase)
        .map(|x| {
            let le = x.labels["le"].parse::<f64>().unwrap_or(f64::INFINITY);
            (le, x.value)
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let count = of(s, "mailcanary_phase_seconds_count", phase)
        .map(|x| x.value)
        .sum::<f64>();
    let total = of(s, "mailcanary_phase_seconds_sum", phase)
        .map(|x| x.value)
        .sum::<f64>();
    let rank = count / 2.0;
    let mut median = f64::NAN;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, cum) in buckets {
        if cum >= rank {
            median = if le.is_infinite() {
                lower
            } else {
                lower + (le - lower) * (rank - below) / (cum - below).max(f64::MIN_POSITIVE)
            };
            break;
        }
        (lower, below) = (le, cum);
    }
    (median, total / count.max(1.0), count)
}

type Scrapes = BTreeMap<&'static str, Vec<Sample>>;

fn scrape_all(regions: &Regions) -> Scrapes {
    REGIONS
        .iter()
        .map(|(n, _)| (*n, regions.scrape(n)))
        .collect()
}

/// Scrapes every region until `cond` holds; panics with each agent's last log lines.
fn wait(
    regions: &Regions,
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut(&Scrapes) -> bool,
) -> Duration {
    let t = Instant::now();
    loop {
        if cond(&scrape_all(regions)) {
            return t.elapsed();
        }
        if t.elapsed() > timeout {
            let logs: Vec<String> = regions
                .regions
                .iter()
                .map(|r| {
                    let log = r.log_text();
                    let tail: Vec<&str> = log.lines().rev().take(15).collect();
                    format!("--- {} (newest first) ---\n{}", r.name, tail.join("\n"))
                })
                .collect();
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn three_regions_order_by_latency_and_a_cut_link_fails_only_its_region() {
    let _g = stack::shared();
    stack::require_up();
    let mut regions = Regions::up(&REGIONS);
    for r in &regions.regions {
        println!(
            "region {}: {} ms ({}), namespace address {} -> relay {}",
            r.name, r.delay_ms, r.latency, r.ns_addr, r.root_addr
        );
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, _) in REGIONS {
        let d = dir.path().join(name);
        let spec = ProbeSpec {
            name: "regional",
            user: "grace",
            clients: &["ios_mail"],
            interval: "5s",
            deadline: "10s",
            extra: "",
        };
        // Per-phase percentiles need the opt-in phase histograms (the text lands in [agent]).
        let config = stack::write_config(&d, &[spec], "phase_histograms = true\n");
        regions.get(name).localize(&config);
        regions.start_agent(name, &config);
    }
    let started = Instant::now();

    // Each region: at least four successful cycles, so each median has four connects.
    wait(
        &regions,
        "four green cycles in every region",
        Duration::from_secs(90),
        |s| {
            REGIONS.iter().all(|(n, _)| {
                success(&s[n], n) == Some(1.0) && phase_stats(&s[n], "connect").2 >= 4.0
            })
        },
    );
    let s = scrape_all(&regions);
    let mut medians = Vec::new();
    for (name, delay) in REGIONS {
        let (median, mean, n) = phase_stats(&s[name], "connect");
        let (imap_median, imap_mean, _) = phase_stats(&s[name], "imap_connect");
        println!(
            "region {name} (+{delay} ms): connect median {:.1} ms, mean {:.1} ms over {n} \
             connects; imap_connect median {:.1} ms, mean {:.1} ms",
            median * 1e3,
            mean * 1e3,
            imap_median * 1e3,
            imap_mean * 1e3
        );
        medians.push((name, delay, median, mean));
    }
    for w in medians.windows(2) {
        let ((a, _, ma, xa), (b, _, mb, xb)) = (w[0], w[1]);
        assert!(ma < mb, "connect median {a} {ma} !< {b} {mb}");
        assert!(xa < xb, "connect mean {a} {xa} !< {b} {xb}");
    }
    // Each added latency shows up in full: one round trip per TCP connect.
    for (name, delay, _, mean) in &medians {
        let d = f64::from(*delay) / 1e3;
        assert!(
            *mean >= d && *mean < d + 0.1,
            "{name}: mean connect {mean} s for {d} s of added latency"
        );
    }

    // Cut the 50 ms region's link: it alone goes red; the others keep completing green cycles.
    let before = scrape_all(&regions);
    regions.cut("r50ms");
    let red = wait(
        &regions,
        "r50ms red while r0ms and r200ms stay green",
        Duration::from_secs(40),
        |s| {
            for n in ["r0ms", "r200ms"] {
                assert_eq!(
                    success(&s[n], n),
                    Some(1.0),
                    "{n} went red when r50ms was cut"
                );
            }
            success(&s["r50ms"], "r50ms") == Some(0.0)
                && ["r0ms", "r200ms"]
                    .iter()
                    .all(|n| cycles(&s[n], n) >= cycles(&before[n], n) + 2.0)
        },
    );
    let s = scrape_all(&regions);
    let failed: Vec<String> = s["r50ms"]
        .iter()
        .filter(|x| x.name == "mailcanary_probe_failures_total" && x.value > 0.0)
        .map(|x| format!("{}/{}={}", x.labels["stage"], x.labels["reason"], x.value))
        .collect();
    println!("r50ms red {red:?} after its link was cut; failures: {failed:?}");
    regions.heal("r50ms");
    let back = wait(
        &regions,
        "r50ms green again",
        Duration::from_secs(40),
        |s| REGIONS.iter().all(|(n, _)| success(&s[n], n) == Some(1.0)),
    );
    println!(
        "r50ms green {back:?} after its link returned; whole test {:?}",
        started.elapsed()
    );
}
