//! The delivery SLI end to end, everything real on loopback: Postfix and Dovecot, the
//! `mailcanary run` agent and a Prometheus (5 s scrape and evaluation) loading
//! `alerts/mailcanary.rules.yml`.
//!
//! Postfix holds its queue long enough for five canaries to pass their 4 s deadline, then
//! releases it. Checked afterwards:
//! - every held canary settles `late` once, with the delay it was really held (the ledger's
//!   `delay_s` against the release instant);
//! - `mailcanary_delivery_seconds` holds exactly the ledger's delays, late ones included: its
//!   count, its sum and every bucket agree with the ledger's settled rows;
//! - the on-time SLI computed from `mailcanary_canaries_total` drops below the 99 % target;
//! - on Prometheus, the SLI's 5-minute error-ratio recording rule is above 0 within 5 minutes of
//!   the release.

mod support;

use mailcanary::ledger::now;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::agent::{find, sum, AgentProcess, Sample};
use support::ledger::{rows, Row};
use support::prometheus::Prometheus;
use support::stack::{self, Fault, ProbeSpec};

const PROBE: &str = "sli";
const USER: &str = "judy";
const INTERVAL: f64 = 3.0;
const DEADLINE: f64 = 4.0;
const HELD: usize = 5;
const TARGET: f64 = 0.99;
/// The on-time SLI's error ratio over 5 minutes, as the shipped rules record it.
const ERROR_RATIO_5M: &str = "probe_client_region:mailcanary_canaries_late_or_lost:ratio_rate5m";
const RULES_WITHIN: Duration = Duration::from_secs(300);

fn labels() -> [(&'static str, &'static str); 3] {
    [("probe", PROBE), ("client", "ios_mail"), ("region", "test")]
}

fn outcome(s: &[Sample], o: &str) -> f64 {
    let l = labels();
    find(
        s,
        "mailcanary_canaries_total",
        &[&l[..], &[("outcome", o)]].concat(),
    )
    .unwrap_or(0.0)
}

/// Delays of the canaries the ledger settled with a delay (on time, late, recovered).
fn settled_delays(rows: &[Row]) -> Vec<f64> {
    rows.iter()
        .filter(|r| matches!(r.state.as_str(), "on_time" | "late" | "recovered"))
        .filter_map(|r| r.delay)
        .collect()
}

/// A scrape and a ledger read that agree in time: the scrape is taken again after the ledger
/// read, and both scrapes must match, so no canary settled in between.
fn consistent_snapshot(agent: &AgentProcess, ledger: &std::path::Path) -> (Vec<Sample>, Vec<Row>) {
    let l = labels();
    let key = |s: &[Sample]| {
        (
            sum(s, "mailcanary_delivery_seconds_count", &l),
            sum(s, "mailcanary_canaries_total", &l),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let before = agent.scrape();
        let r = rows(ledger);
        let after = agent.scrape();
        if key(&before) == key(&after) {
            return (after, r);
        }
        assert!(Instant::now() < deadline, "the agent never held still");
    }
}

#[test]
fn late_canaries_reach_the_delivery_histogram_and_the_slo_rules() {
    let _g = stack::exclusive();
    stack::require_up();
    support::mailbox::empty(USER);
    let dir = tempfile::tempdir().unwrap();
    let spec = ProbeSpec {
        name: PROBE,
        user: USER,
        clients: &["ios_mail"],
        interval: "3s",
        deadline: "4s",
        extra: "lost_after = \"10m\"",
    };
    let config = stack::write_config(dir.path(), &[spec], "");
    let ledger = dir.path().join("ledger.db");
    let agent = AgentProcess::start(&config);
    agent.wait_for("three canaries on time", Duration::from_secs(60), |a| {
        outcome(&a.scrape(), "on_time") >= 3.0
    });
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("alerts/mailcanary.rules.yml");
    let target = format!("127.0.0.1:{}", agent.port());
    let mut prom = Prometheus::start(&[target], Duration::from_secs(5), &[rules], None);
    prom.wait_healthy();

    // Hold the queue until five canaries are in flight and the last of them is past its
    // deadline (that condition is the clock itself: nothing else to await).
    let hold = Fault::on("smtp-hold");
    let held_since = now();
    agent.wait_for("five canaries held", Duration::from_secs(60), |_| {
        rows(&ledger)
            .iter()
            .filter(|r| r.state == "in_flight" && r.accepted_at.unwrap_or(0.0) >= held_since)
            .count()
            >= HELD
    });
    let held: Vec<Row> = rows(&ledger)
        .into_iter()
        .filter(|r| r.state == "in_flight")
        .collect();
    let last = held
        .iter()
        .filter_map(|r| r.accepted_at)
        .fold(0.0, f64::max);
    let left = last + DEADLINE + 1.0 - now();
    if left > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(left));
    }
    let release = now();
    let released = Instant::now();
    drop(hold);

    agent.wait_for("every held canary settled", Duration::from_secs(60), |a| {
        let s = a.scrape();
        let r = rows(&ledger);
        held.iter().all(|h| {
            r.iter()
                .any(|x| x.id == h.id && x.state != "in_flight" && x.state != "sending")
        }) && find(&s, "mailcanary_canaries_in_flight", &labels()) == Some(0.0)
    });
    let (s, after) = consistent_snapshot(&agent, &ledger);

    // Each held canary: late, once, delayed by the time it was held (seen at the first sweep
    // after Postfix delivers the released queue: within one interval + 10 % jitter, plus a
    // second for the queue run).
    println!("canary                            state    held     delay_s");
    for h in &held {
        let r = after.iter().find(|r| r.id == h.id).expect("held canary");
        let accepted = h.accepted_at.expect("accepted");
        let true_delay = release - accepted;
        let delay = r.delay.expect("settled with a delay");
        println!("{}  {:8} {true_delay:6.2}s {delay:6.2}s", r.id, r.state);
        assert_eq!((r.state.as_str(), r.copies), ("late", 1), "{r:?}");
        assert!(
            delay >= true_delay - 0.01 && delay <= true_delay + INTERVAL * 1.1 + 1.0,
            "delay {delay:.2}s vs held {true_delay:.2}s: {r:?}"
        );
    }

    // The histogram is the ledger: the same count, the same sum, the same bucket for each delay.
    let l = labels();
    let delays = settled_delays(&after);
    let count = find(&s, "mailcanary_delivery_seconds_count", &l).unwrap_or(-1.0);
    let total = find(&s, "mailcanary_delivery_seconds_sum", &l).unwrap_or(-1.0);
    let expected: f64 = delays.iter().sum();
    println!(
        "histogram: {count} observations, sum {total:.3}s; ledger: {} settled, sum {expected:.3}s",
        delays.len()
    );
    assert_eq!(
        count,
        delays.len() as f64,
        "one observation per settled canary"
    );
    assert!(
        (total - expected).abs() <= 0.001 * delays.len() as f64,
        "histogram sum {total} vs ledger {expected}"
    );
    let buckets: Vec<&Sample> = s
        .iter()
        .filter(|x| x.name == "mailcanary_delivery_seconds_bucket")
        .filter(|x| {
            l.iter()
                .all(|(k, v)| x.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    // The buckets reach the probe's lost_after (10 m), so the held canaries' true delays
    // land in finite buckets.
    let finite: Vec<f64> = buckets
        .iter()
        .filter_map(|b| b.labels["le"].parse::<f64>().ok())
        .filter(|le| le.is_finite())
        .collect();
    assert!(
        finite.iter().any(|le| *le >= 600.0) && finite.contains(&60.0),
        "buckets: {buckets:?}"
    );
    for b in &buckets {
        let le: f64 = b.labels["le"].parse().unwrap_or(f64::INFINITY);
        let want = delays.iter().filter(|d| **d <= le).count() as f64;
        assert_eq!(b.value, want, "bucket le={le}");
    }
    let late_in_histogram = count
        - find(
            &s,
            "mailcanary_delivery_seconds_bucket",
            &[&l[..], &[("le", "5")]].concat(),
        )
        .unwrap_or(0.0);
    assert!(
        late_in_histogram >= HELD as f64,
        "late canaries above 5 s: {late_in_histogram}"
    );

    // The on-time SLI from the agent's own counters.
    let (on_time, late, lost) = (
        outcome(&s, "on_time"),
        outcome(&s, "late"),
        outcome(&s, "lost"),
    );
    let sli = on_time / (on_time + late + lost);
    println!(
        "on-time SLI: {on_time} on time, {late} late, {lost} lost = {sli:.3} (target {TARGET})"
    );
    assert!(late >= HELD as f64);
    assert!(sli < TARGET, "on-time SLI {sli}");

    // The shipped SLI rules on a real Prometheus see it within 5 minutes of the release.
    let q = format!("{ERROR_RATIO_5M}{{probe=\"{PROBE}\"}} > 0");
    loop {
        let r = prom.query(&q);
        if let Some(v) = r.as_array().and_then(|a| a.first()) {
            println!(
                "{ERROR_RATIO_5M} = {} on Prometheus, {:?} after the release",
                v["value"][1],
                released.elapsed()
            );
            break;
        }
        assert!(
            released.elapsed() < RULES_WITHIN,
            "{ERROR_RATIO_5M} still 0 or absent {RULES_WITHIN:?} after the release: {}\n{}",
            prom.query(&format!("{ERROR_RATIO_5M}{{probe=\"{PROBE}\"}}")),
            prom.log()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}
