//! The scheduler's timing, on tokio's paused clock with scripted cycles.

use super::*;

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn timing_from_any_durations_never_panics() {
    let now = Instant::now();
    for (interval, jitter) in [
        (Duration::MAX, Duration::MAX),
        (Duration::ZERO, Duration::MAX),
        (MINUTE, Duration::ZERO),
    ] {
        for spread in [-1.0, 0.0, 1.0, f64::NAN, f64::INFINITY, -1e300] {
            let d = jittered(interval, jitter, spread);
            assert!(later(now, d) >= now);
        }
        let _ = first_delay(usize::MAX, usize::MAX, interval);
    }
    assert_eq!(jittered(MINUTE, MINUTE / 10, f64::NAN), MINUTE);
    assert_eq!(jittered(MINUTE, MINUTE / 10, 5.0), MINUTE + MINUTE / 10);
    assert_eq!(jittered(MINUTE, MINUTE * 2, -1.0), Duration::ZERO);
}

#[test]
fn a_small_set_starts_within_a_second() {
    let last = first_delay(9, 10, MINUTE);
    assert_eq!(first_delay(0, 10, MINUTE), Duration::ZERO);
    assert_eq!(last, START_SPACING * 9);
    assert!(last < Duration::from_secs(1));
}

#[test]
fn a_large_set_is_spread_evenly_over_its_interval() {
    let n = 10_000;
    let delays: Vec<Duration> = (0..n).map(|k| first_delay(k, n, MINUTE)).collect();
    assert!(delays.windows(2).all(|w| w[0] <= w[1]));
    assert!(delays[n - 1] < MINUTE);
    // As many first cycles in every second of the minute, give or take rounding.
    let mut per_second = [0usize; 60];
    for d in &delays {
        per_second[d.as_secs() as usize] += 1;
    }
    let (lo, hi) = (per_second.iter().min(), per_second.iter().max());
    assert!(lo >= Some(&166) && hi <= Some(&167), "{per_second:?}");
}

#[test]
fn degenerate_inputs_do_not_panic() {
    assert_eq!(first_delay(0, 0, MINUTE), Duration::ZERO);
    assert!(first_delay(5, 1, MINUTE) < MINUTE);
    assert_eq!(first_delay(3, 4, Duration::ZERO), Duration::ZERO);
    assert!(first_delay(usize::MAX - 1, usize::MAX, Duration::MAX) <= Duration::MAX);
}

// ---------------------------------------------------------------------------------------------
// The scheduler on tokio's paused clock, with scripted cycles: time only moves when every task
// waits, so each start and end below is exact and the whole file runs in well under a second.

use crate::config::Config;
use crate::ledger::Outcome;
use futures::future::{BoxFuture, FutureExt};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// A cycle's start or end, by instance key and its number in that instance's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Start,
    End,
}

/// Cycles that take a scripted time and settle one canary each, logging when they run.
#[derive(Default)]
struct Script {
    /// How long the cycles of each probe take (1 s when not given).
    takes: HashMap<String, Duration>,
    /// Which cycles of each probe fail: `F` at a cycle's place (1st, 2nd, ...), anything else or
    /// past the end succeeds.
    fails: HashMap<String, &'static str>,
    log: Mutex<Vec<(String, u64, Event, Instant)>>,
    cut_off: Mutex<Vec<String>>,
}

impl Script {
    fn taking(takes: &[(&str, Duration)]) -> Arc<Script> {
        Arc::new(Script {
            takes: takes.iter().map(|(p, d)| (p.to_string(), *d)).collect(),
            ..Script::default()
        })
    }

    fn failing(fails: &[(&str, &'static str)]) -> Arc<Script> {
        Arc::new(Script {
            fails: fails.iter().map(|(p, f)| (p.to_string(), *f)).collect(),
            ..Script::default()
        })
    }

    fn note(&self, key: &str, nth: u64, e: Event) {
        let mut log = self.log.lock().expect("log");
        log.push((key.to_string(), nth, e, Instant::now()));
    }

    /// (cycle number, instant) of every `e` of instance `key`, in order.
    fn events(&self, key: &str, e: Event) -> Vec<(u64, Instant)> {
        let log = self.log.lock().expect("log");
        log.iter()
            .filter(|(k, _, ev, _)| k == key && *ev == e)
            .map(|(_, n, _, t)| (*n, *t))
            .collect()
    }

    fn starts(&self, key: &str) -> Vec<Instant> {
        self.events(key, Event::Start)
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }
}

impl Cycles for Script {
    fn run<'a>(
        &'a self,
        inst: &'a Instance,
        mem: &'a mut InstanceMemory,
        rec: &'a mut Recorder,
        report: &'a mut CycleReport,
    ) -> BoxFuture<'a, ()> {
        async move {
            mem.cycles += 1;
            let key = inst.key();
            self.note(&key, mem.cycles, Event::Start);
            let id = format!("{key}#{}", mem.cycles);
            report.settled.push((id, Outcome::OnTime, 0.5));
            if inst.probe.name == REFUSED_THEN_STUCK {
                // IMAP refused, then stuck in the SMTP DATA step.
                let refused = Failure::new(Stage::ImapConnect, Reason::Refused, "scripted");
                report.met.push(refused);
                rec.current = Some(Stage::Data);
            }
            let takes = self.takes.get(&inst.probe.name).copied();
            tokio::time::sleep(takes.unwrap_or(Duration::from_secs(1))).await;
            let pattern = self.fails.get(&inst.probe.name).copied().unwrap_or("");
            let nth = usize::try_from(mem.cycles - 1).unwrap_or(usize::MAX);
            if pattern.as_bytes().get(nth) == Some(&b'F') {
                let refused = Failure::new(Stage::ImapConnect, Reason::Refused, "scripted");
                report.met.push(refused);
            }
            report.recorded = true;
            self.note(&key, mem.cycles, Event::End);
        }
        .boxed()
    }

    fn record_cut_off<'a>(
        &'a self,
        inst: &'a Instance,
        _report: &'a CycleReport,
    ) -> BoxFuture<'a, ()> {
        self.cut_off.lock().expect("cut off").push(inst.key());
        async {}.boxed()
    }
}

/// The probe whose cycles meet an IMAP refusal, then hang in SMTP past the hard deadline.
const REFUSED_THEN_STUCK: &str = "refused_then_stuck";

/// Instances of probes given as (name, extra TOML for the probe), one client each.
fn instances(probes: &[(&str, &str)]) -> Vec<Instance> {
    let dir = tempfile::tempdir().expect("tempdir");
    instances_in(dir.path(), probes)
}

/// The same, with the config in `dir`: configs loaded from one folder name the same files, as
/// the agent's own config does across a reload.
fn instances_in(dir: &Path, probes: &[(&str, &str)]) -> Vec<Instance> {
    std::fs::write(dir.join("k"), "key\n").expect("key");
    let mut text = "[agent]\nregion = \"t\"\nhmac_key_file = \"k\"\n".to_string();
    for (name, extra) in probes {
        text.push_str(&format!(
            "[[probe]]\nname = \"{name}\"\nclients = [\"ios_mail\"]\nfrom = \"a@x.test\"\n\
             to = \"a@x.test\"\n{extra}\n[probe.smtp]\nhost = \"h\"\npassword_file = \"k\"\n\
             [probe.imap]\nhost = \"h\"\npassword_file = \"k\"\n"
        ));
    }
    let main = dir.join("m.toml");
    std::fs::write(&main, text).expect("config");
    Config::load(&main)
        .unwrap_or_else(|e| panic!("{e}"))
        .instances()
}

fn scheduler(script: &Arc<Script>) -> (Scheduler, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new("t", Default::default()).expect("metrics"));
    let shared = Shared {
        cycles: script.clone(),
        metrics: metrics.clone(),
        status: StatusBoard::default(),
    };
    (Scheduler::new(shared), metrics)
}

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

#[tokio::test(start_paused = true)]
async fn starts_stay_within_the_jitter_of_the_interval() {
    let script = Script::taking(&[]);
    let (mut sched, _) = scheduler(&script);
    let t0 = Instant::now();
    sched.apply(
        instances(&[("p", "interval = \"10s\"\njitter = \"2s\"")]),
        None,
    );
    tokio::time::sleep(600 * S).await;
    let starts = script.starts("p/ios_mail");
    assert!(starts.len() >= 50, "{} cycles in 10 minutes", starts.len());
    assert!(
        starts[0] - t0 <= 2 * S,
        "first start after {:?}",
        starts[0] - t0
    );
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g >= 8 * S && *g <= 12 * S),
        "gaps between starts: {gaps:?}"
    );
    // The jitter is applied, not just allowed.
    let (lo, hi) = (gaps.iter().min(), gaps.iter().max());
    assert!(hi.zip(lo).is_some_and(|(h, l)| *h - *l > S), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn an_overrunning_cycle_starts_the_next_at_once_and_never_overlaps() {
    let script = Script::taking(&[("slow", 25 * S)]);
    let (mut sched, _) = scheduler(&script);
    sched.apply(
        instances(&[("slow", "interval = \"10s\"\njitter = \"1ms\"")]),
        None,
    );
    tokio::time::sleep(200 * S).await;
    let starts = script.events("slow/ios_mail", Event::Start);
    let ends = script.events("slow/ios_mail", Event::End);
    assert!(ends.len() >= 6, "{} cycles ended", ends.len());
    for ((n, end), (m, next)) in ends.iter().zip(starts.iter().skip(1)) {
        assert_eq!(n + 1, *m);
        assert!(*next >= *end, "cycle {m} started before cycle {n} ended");
        assert!(
            *next - *end < MS,
            "cycle {m} waited {:?} after an overrun",
            *next - *end
        );
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_a_cycle_finish_within_the_grace_period() {
    let script = Script::taking(&[("short", 5 * S), ("long", 60 * S)]);
    let (mut sched, _) = scheduler(&script);
    sched.apply(
        instances(&[
            ("short", "interval = \"1m\"\njitter = \"1ms\""),
            ("long", "interval = \"2m\"\njitter = \"1ms\""),
        ]),
        None,
    );
    // Both are in their first cycle.
    tokio::time::sleep(2 * S).await;
    let asked = Instant::now();
    sched.shutdown(8 * S).await;
    let took = Instant::now() - asked;
    // The short cycle finished; the long one was given the grace period, then dropped.
    let short = script.events("short/ios_mail", Event::End);
    assert_eq!(short.len(), 1, "the short cycle ended");
    assert!(short[0].1 - asked < 4 * S);
    assert!(script.events("long/ios_mail", Event::End).is_empty());
    assert!(took >= 8 * S && took < 8 * S + MS, "shutdown took {took:?}");
    // Nothing starts afterwards.
    let before = script.log.lock().expect("log").len();
    tokio::time::sleep(300 * S).await;
    assert_eq!(script.log.lock().expect("log").len(), before);
}

#[tokio::test(start_paused = true)]
async fn a_reload_restarts_only_what_changed() {
    let script = Script::taking(&[]);
    let (mut sched, _) = scheduler(&script);
    let dir = tempfile::tempdir().expect("tempdir");
    let every = "interval = \"10s\"\njitter = \"1ms\"";
    let first = instances_in(dir.path(), &[("a", every), ("b", every), ("c", every)]);
    sched.apply(first, None);
    tokio::time::sleep(35 * S).await;
    let reloaded = Instant::now();
    let changed = "interval = \"20s\"\njitter = \"1ms\"";
    let second = instances_in(dir.path(), &[("a", every), ("b", changed), ("d", every)]);
    sched.apply(second, None);
    assert_eq!(sched.running(), 3);
    tokio::time::sleep(65 * S).await;

    let numbers = |key: &str, after: bool| -> Vec<u64> {
        script
            .events(key, Event::Start)
            .into_iter()
            .filter(|(_, t)| (*t > reloaded) == after)
            .map(|(n, _)| n)
            .collect()
    };
    // Unchanged: the same task goes on counting its cycles.
    let (a0, a1) = (numbers("a/ios_mail", false), numbers("a/ios_mail", true));
    assert!(a0.len() >= 3 && a1.len() >= 5, "{a0:?} {a1:?}");
    assert_eq!(
        a1[0],
        a0[a0.len() - 1] + 1,
        "a was restarted: {a0:?} then {a1:?}"
    );
    // Changed: a new task, counting from 1, at its new interval.
    let b1 = numbers("b/ios_mail", true);
    assert_eq!(b1.first(), Some(&1), "b after the reload: {b1:?}");
    assert!(b1.len() <= 4, "b kept its old interval: {b1:?}");
    // Removed: no cycle starts after the reload. Added: starts from 1.
    assert!(numbers("c/ios_mail", true).is_empty());
    assert_eq!(numbers("d/ios_mail", true).first(), Some(&1));
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_cycle_keeps_the_outcomes_it_settled() {
    // deadline 1 s and timeout 1 s: the hard deadline is 1 + 4 × 1 + 1 s of grace.
    let script = Script::taking(&[("stuck", 600 * S)]);
    let (mut sched, metrics) = scheduler(&script);
    let probe = "interval = \"1h\"\njitter = \"1ms\"\ndeadline = \"1s\"\ntimeout = \"1s\"";
    sched.apply(instances(&[("stuck", probe)]), None);
    tokio::time::sleep(10 * S).await;
    assert_eq!(*script.cut_off.lock().expect("cut off"), ["stuck/ios_mail"]);
    let m = metrics.instance("stuck/ios_mail").expect("registered");
    let on_time = m.canaries.with_label_values(&["on_time"]).get();
    assert_eq!(
        on_time, 1,
        "the canary settled before the cut-off is counted"
    );
    assert_eq!(m.delivery.get_sample_count(), 1);
    let timeouts = m.failures.with_label_values(&["delivery", "timeout"]).get();
    assert_eq!(timeouts, 1, "the cycle failed as a timeout");
}

#[tokio::test(start_paused = true)]
async fn a_cycle_cut_off_reports_the_first_failure_it_met() {
    // A cycle that ends by itself reports its first failure; cut off, it must do the same, or
    // an IMAP outage with a slow SMTP server would read as an SMTP failure.
    let script = Script::taking(&[(REFUSED_THEN_STUCK, 600 * S)]);
    let (mut sched, metrics) = scheduler(&script);
    let probe = "interval = \"1h\"\njitter = \"1ms\"\ndeadline = \"1s\"\ntimeout = \"1s\"";
    sched.apply(instances(&[(REFUSED_THEN_STUCK, probe)]), None);
    tokio::time::sleep(10 * S).await;
    let key = format!("{REFUSED_THEN_STUCK}/ios_mail");
    assert_eq!(*script.cut_off.lock().expect("cut off"), [key.as_str()]);
    let m = metrics.instance(&key).expect("registered");
    let count = |stage, reason| m.failures.with_label_values(&[stage, reason]).get();
    assert_eq!(count("imap_connect", "refused"), 1, "the first failure met");
    assert_eq!(
        count("data", "timeout"),
        0,
        "not the step it was cut off in"
    );
}

/// What the availability alerts count: failed and successful cycles in a row, 0 again after
/// the other kind, and when a kind of failure last happened.
#[tokio::test(start_paused = true)]
async fn cycles_in_a_row_are_counted() {
    let script = Script::failing(&[("p", "SFFSSF")]);
    let (mut sched, metrics) = scheduler(&script);
    sched.apply(
        instances(&[("p", "interval = \"10s\"\njitter = \"1s\"")]),
        None,
    );
    let m = metrics.instance("p/ios_mail").expect("registered");
    let failed = ["imap_connect", "refused"];
    let mut seen = Vec::new();
    let mut last_failure = Vec::new();
    // Each cycle starts within 1 s of the 10 s and takes 1 s: look in the middle of every
    // interval.
    tokio::time::sleep(5 * S).await;
    for _ in 0..6 {
        let (cf, cs) = (m.consecutive_failures.get(), m.consecutive_successes.get());
        seen.push((cf, cs));
        last_failure.push(m.last_failure.with_label_values(&failed).get());
        tokio::time::sleep(10 * S).await;
    }
    let want = [(0, 1), (1, 0), (2, 0), (0, 1), (0, 2), (1, 0)];
    assert_eq!(seen, want);
    assert_eq!(last_failure[0], 0.0, "no failure yet");
    assert!(last_failure[1] > 0.0);
    assert!(last_failure.windows(2).skip(1).all(|w| w[0] <= w[1]));
    sched.shutdown(S).await;
}
