//! The alert rules and dashboards end to end, replaying an outage the way on-call lives it.
//! Everything is real and on loopback: Postfix and Dovecot (scripts/mailstack.sh), the
//! `mailcanary run` agent probing with three client profiles every 10 s, Prometheus loading
//! `alerts/mailcanary.rules.yml` (scrape and evaluation every 5 s), Alertmanager sending to a
//! webhook receiver this test runs. Times are measured at the webhook: when on-call is paged.
//!
//! Phases, in order, each with its assertions:
//! 1. normal: every PromQL expression of every dashboard panel returns no error and at least one
//!    series (panels on a metric the agent does not export yet excepted); every rule evaluates,
//!    every recording rule records; no alert is even pending.
//! 2. IMAP refused for every client (new connections to 143 and 993 refused): MailCanaryProbeDown
//!    pages within 90 s, naming the imap stage; MailCanaryIMAPFailing fires for every profile in
//!    the same evaluation or earlier; nothing says the delivery or SMTP fails.
//! 3. Only thunderbird (IMAP 143) refused: MailCanaryClientProfileDown pages within 120 s for
//!    thunderbird and no other profile; the alerts of the profiles that work again resolve.
//! 4. restored: everything resolves; the canaries accepted while IMAP was refused settle late,
//!    and the on-time SLI records them as errors.
//! 5. Postfix holds its queue (SMTP accepts, nothing delivered): MailCanaryDeliveryStalled fires
//!    for every profile no later than MailCanaryProbeDown; MailCanaryIMAPFailing is never even
//!    pending and the agent counts no IMAP failure.
//! 6. restored: everything resolves; the late canaries fire the SLO fast burn.
//!
//! Every alert that fired resolves within 60 s of the recovery that ended its cause, and no
//! alert fires in a normal or restored phase except the fast burn, which the late canaries are
//! meant to fire. The table of every alert's firing and resolution is printed; docs/alerting.md
//! shows one. The stack lock is exclusive throughout: the agent probes the stack all the time,
//! and another test's fault would be read as ours.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use support::agent::sum;
use support::alerting::{self, Session};
use support::replay::{self, Episode, Timeline};
use support::stack::{self, Fault, ProbeSpec};

const PROBE: &str = "alerting";
/// The stack user reserved for this test.
const USER: &str = "erin";
/// IMAPS 993 with IDLE, IMAPS 993 polling every 5 s, IMAP 143 STARTTLS with IDLE.
const CLIENTS: [&str; 3] = ["ios_mail", "outlook", "thunderbird"];
/// The profile on IMAP 143: the one-profile outage.
const ONE: &str = "thunderbird";
const SCRAPE: Duration = Duration::from_secs(5);
/// A held canary is late after the 8 s deadline and lost only after 10 minutes, longer than
/// the test: every canary of the outages settles late.
const PROBE_TOML: &str = "lost_after = \"10m\"";

const PAGE_IMAP_WITHIN: Duration = Duration::from_secs(90);
const PAGE_PROFILE_WITHIN: Duration = Duration::from_secs(120);
const RESOLVE_WITHIN: Duration = Duration::from_secs(60);
/// How long an expected alert is waited for: longer than the bounds above, so that a late one
/// is measured and reported rather than only "not within".
const WAIT: Duration = Duration::from_secs(180);
/// A normal phase lasts at least this long: longer than any availability alert needs to fire
/// (three cycles of 10 s, plus a scrape and an evaluation).
const QUIET: Duration = Duration::from_secs(75);

const PROBE_DOWN: &str = "MailCanaryProbeDown";
const PROFILE_DOWN: &str = "MailCanaryClientProfileDown";
const IMAP_FAILING: &str = "MailCanaryIMAPFailing";
const SMTP_FAILING: &str = "MailCanarySMTPFailing";
const STALLED: &str = "MailCanaryDeliveryStalled";
const BURN: &str = "MailCanaryDeliveryLatencyBudgetBurn";

struct Replay {
    s: Session,
    timeline: Timeline,
    origin: Instant,
}

impl Replay {
    fn episodes(&self) -> Vec<Episode> {
        replay::episodes(&self.s.webhook)
    }

    /// Polls the episodes until `ready` holds; panics with the table and diagnostics after
    /// `timeout`.
    fn wait(&self, what: &str, timeout: Duration, ready: impl Fn(&[Episode]) -> bool) {
        let started = Instant::now();
        while !ready(&self.episodes()) {
            if started.elapsed() > timeout {
                panic!(
                    "{}: not within {timeout:?}: {what}\n{}\n{}",
                    self.timeline.current().name,
                    replay::table(&self.timeline, &self.episodes(), self.origin),
                    self.s.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Episodes of `alertname` that fired in the current phase.
    fn fired_now(&self, alertname: &str) -> Vec<Episode> {
        let phase = self.timeline.current().started;
        (self.episodes().into_iter())
            .filter(|e| e.alertname == alertname && e.fired >= phase)
            .collect()
    }
}

fn fired_for(eps: &[Episode], alertname: &str, client: &str, since: Instant) -> bool {
    let hit = |e: &&Episode| e.alertname == alertname && e.fired >= since;
    eps.iter()
        .filter(hit)
        .any(|e| client == "-" || e.client() == client)
}

fn all_resolved(eps: &[Episode]) -> bool {
    eps.iter()
        .all(|e| e.alertname == BURN || e.resolved.is_some())
}

#[test]
fn on_call_replay_of_an_outage() {
    let _lock = stack::exclusive();
    stack::require_up();
    support::mailbox::empty(USER);
    // The agent's log is kept there, for a failure to be read after the run.
    let dir = support::agent::output_dir("e2e_alerts");
    let spec = ProbeSpec {
        name: PROBE,
        user: USER,
        clients: &CLIENTS,
        interval: "10s",
        deadline: "8s",
        extra: PROBE_TOML,
    };
    let origin = Instant::now();
    let s = Session::start(&dir, spec, SCRAPE);
    let mut r = Replay {
        s,
        timeline: Timeline::default(),
        origin,
    };
    normal(&mut r);
    let all = imap_refused_for_every_client(&mut r);
    let one = one_profile_refused(&mut r, all);
    restored_after_imap(&mut r, one);
    let late_before = queue_held(&mut r);
    restored_after_hold(&mut r, late_before);
    let table = replay::table(&r.timeline, &r.episodes(), origin);
    println!("on-call replay, probe interval 10 s, scrape and evaluation 5 s:\n{table}");
    every_alert_resolved_within_a_minute_of_recovery(&r);
    println!("e2e_alerts: whole session {:?}", origin.elapsed());
}

/// Healthy: dashboards and rules work against the real agent, and nothing alerts.
fn normal(r: &mut Replay) {
    let t = r.timeline.begin("normal");
    alerting::dashboards_return_series_for_the_real_agent(&r.s);
    alerting::rules_are_quiet_for_a_healthy_agent(&r.s);
    std::thread::sleep(QUIET.saturating_sub(t.elapsed()));
    r.s.never_alerted(r#"alertname=~".+""#, t, "while every profile delivers");
    let got = r.s.webhook.received();
    assert!(got.is_empty(), "notifications while healthy: {got:?}");
}

/// 143 and 993 refused: the page within 90 s, the IMAP alert for every profile no later.
fn imap_refused_for_every_client(r: &mut Replay) -> Fault {
    let fault = Fault::on("imap-refused");
    let t = r.timeline.begin("IMAP refused, every client");
    let ready = |eps: &[Episode]| {
        fired_for(eps, PROBE_DOWN, "-", t)
            && CLIENTS.iter().all(|c| fired_for(eps, IMAP_FAILING, c, t))
    };
    r.wait(
        "MailCanaryProbeDown and MailCanaryIMAPFailing for every profile",
        WAIT,
        ready,
    );
    let page = r.fired_now(PROBE_DOWN).remove(0);
    let took = page.fired_after(r.timeline.current());
    let l = &page.labels;
    assert_eq!((l["probe"].as_str(), l["region"].as_str()), (PROBE, "test"));
    assert_eq!(l["severity"], "critical", "{l:?}");
    let names_imap = page
        .description
        .contains("at stage imap_connect with reason refused");
    assert!(names_imap, "{}", page.description);
    for e in r.fired_now(IMAP_FAILING) {
        let no_later = e.fired_eval <= page.fired_eval;
        assert!(no_later, "{IMAP_FAILING} for {} after the page", e.client());
    }
    let wrong = format!(r#"alertname=~"{STALLED}|{SMTP_FAILING}""#);
    r.s.never_alerted(&wrong, t, "while IMAP is refused");
    assert!(r.fired_now(PROFILE_DOWN).is_empty(), "a whole-probe outage");
    assert!(took <= PAGE_IMAP_WITHIN, "paged after {took:?}");
    println!("IMAP refused: {PROBE_DOWN} paged after {took:?}");
    fault
}

/// Only thunderbird's port refused: its profile pages, the others' alerts resolve. Port 143
/// is refused on its own before `all` is turned off, so thunderbird never works in between.
fn one_profile_refused(r: &mut Replay, all: Fault) -> Fault {
    let one = Fault::on("imap-143-down");
    drop(all);
    let t = r.timeline.begin("only thunderbird (IMAP 143) refused");
    let others: Vec<&str> = CLIENTS.into_iter().filter(|c| *c != ONE).collect();
    let ready = |eps: &[Episode]| {
        let page = fired_for(eps, PROFILE_DOWN, ONE, t);
        let cleared = |e: &Episode| e.alertname == PROBE_DOWN || others.contains(&e.client());
        page && eps
            .iter()
            .filter(|e| cleared(e))
            .all(|e| e.resolved.is_some())
    };
    r.wait("thunderbird paged, the others resolved", WAIT, ready);
    let page = r.fired_now(PROFILE_DOWN);
    assert_eq!(page.len(), 1, "one profile down: {page:?}");
    let took = page[0].fired_after(r.timeline.current());
    assert_eq!(page[0].client(), ONE);
    let d = &page[0].description;
    assert!(
        d.contains("Client profile thunderbird of probe alerting"),
        "{d}"
    );
    assert!(
        d.contains("at stage imap_connect with reason refused"),
        "{d}"
    );
    let still = |e: &Episode| e.alertname == IMAP_FAILING && e.client() == ONE;
    let eps = r.episodes();
    assert!(
        eps.iter().any(|e| still(e) && e.resolved.is_none()),
        "{eps:?}"
    );
    assert!(took <= PAGE_PROFILE_WITHIN, "paged after {took:?}");
    println!("thunderbird refused: {PROFILE_DOWN} paged after {took:?}");
    one
}

/// Everything works: every alert resolves, and the canaries accepted meanwhile settle late.
fn restored_after_imap(r: &mut Replay, one: Fault) {
    drop(one);
    let t = r.timeline.begin("restored");
    r.wait("every alert resolved", WAIT, all_resolved);
    // The late canaries reach the on-time SLI on Prometheus, for every profile.
    let late = format!(
        r#"probe_client_region:mailcanary_canaries_late_or_lost:ratio_rate5m{{probe="{PROBE}"}} > 0"#
    );
    let started = Instant::now();
    while r.s.series(&late).len() < CLIENTS.len() {
        let slow = started.elapsed() > WAIT;
        assert!(!slow, "late canaries not in the SLI\n{}", r.s.diagnostics());
        std::thread::sleep(Duration::from_secs(1));
    }
    let agent = r.s.agent.scrape();
    for c in CLIENTS {
        let l = [("probe", PROBE), ("client", c), ("outcome", "late")];
        let n = sum(&agent, "mailcanary_canaries_total", &l);
        assert!(n > 0.0, "{c}: no late canary counted by the agent");
        println!("restored: {c}: {n} canaries settled late");
    }
    std::thread::sleep(QUIET.saturating_sub(t.elapsed()));
    quiet_since(r, t);
}

/// No availability alert fired since `t`; the fast burn may (the late canaries).
fn quiet_since(r: &Replay, t: Instant) {
    let fired: Vec<Episode> = (r.episodes().into_iter())
        .filter(|e| e.fired >= t && e.alertname != BURN)
        .collect();
    assert!(fired.is_empty(), "fired while mail works: {fired:?}");
}

/// A held queue: delivery stalled for every profile, never IMAP.
fn queue_held(r: &mut Replay) -> BTreeMap<String, f64> {
    let before = r.s.agent.scrape();
    let late_before = late_on_prometheus(r);
    let hold = Fault::on("smtp-hold");
    let t = r.timeline.begin("SMTP accepts, queue held");
    let ready = |eps: &[Episode]| {
        fired_for(eps, PROBE_DOWN, "-", t) && CLIENTS.iter().all(|c| fired_for(eps, STALLED, c, t))
    };
    r.wait("MailCanaryDeliveryStalled for every profile", WAIT, ready);
    let page = r.fired_now(PROBE_DOWN).remove(0);
    let d = &page.description;
    assert!(
        d.contains("at stage delivery with reason not_delivered"),
        "{d}"
    );
    for e in r.fired_now(STALLED) {
        assert_eq!(e.labels["severity"], "critical");
        assert!(e.description.contains("(the delivery stage)"), "{e:?}");
        let no_later = e.fired_eval <= page.fired_eval;
        assert!(no_later, "{STALLED} for {} after {PROBE_DOWN}", e.client());
    }
    r.s.never_alerted(
        &format!(r#"alertname="{IMAP_FAILING}""#),
        t,
        "during the hold",
    );
    let imap = |s: &[support::agent::Sample]| {
        (s.iter())
            .filter(|x| x.name == "mailcanary_probe_failures_total")
            .filter(|x| x.labels["stage"].starts_with("imap_"))
            .map(|x| x.value)
            .sum::<f64>()
    };
    let new_imap = imap(&r.s.agent.scrape()) - imap(&before);
    assert_eq!(new_imap, 0.0, "IMAP failures counted during the hold");
    let took = page.fired_after(r.timeline.current());
    println!("queue held: {STALLED} for every profile, {PROBE_DOWN} after {took:?}");
    drop(hold);
    late_before
}

/// Canaries settled late so far, per client profile, as Prometheus has them.
fn late_on_prometheus(r: &Replay) -> BTreeMap<String, f64> {
    let q =
        format!(r#"sum by (client) (mailcanary_canaries_total{{probe="{PROBE}",outcome="late"}})"#);
    (r.s.series(&q).iter())
        .map(|x| {
            let client = x["metric"]["client"].as_str().unwrap_or_default();
            let value = x["value"][1].as_str().and_then(|v| v.parse().ok());
            (client.to_string(), value.unwrap_or(0.0))
        })
        .collect()
}

/// Released: everything resolves, the held canaries settle late on Prometheus, and the late
/// canaries fire the fast burn.
fn restored_after_hold(r: &mut Replay, late_before: BTreeMap<String, f64>) {
    let t = r.timeline.begin("restored, queue released");
    r.wait("every alert resolved", WAIT, all_resolved);
    let started = Instant::now();
    let count = |m: &BTreeMap<String, f64>, c: &str| m.get(c).copied().unwrap_or(0.0);
    let more = |now: &BTreeMap<String, f64>| {
        CLIENTS
            .iter()
            .all(|c| count(now, c) > count(&late_before, c))
    };
    let late = loop {
        let now = late_on_prometheus(r);
        if more(&now) {
            break now;
        }
        let slow = started.elapsed() > WAIT;
        assert!(
            !slow,
            "held canaries not late: {now:?}\n{}",
            r.s.diagnostics()
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    println!("released: late canaries on Prometheus {late_before:?} -> {late:?}");
    let burning = |eps: &[Episode]| CLIENTS.iter().all(|c| fired_for(eps, BURN, c, r.origin));
    r.wait("the fast burn for every profile", WAIT, burning);
    for e in r.episodes().iter().filter(|e| e.alertname == BURN) {
        println!("fast burn, {}: {}", e.client(), e.description);
    }
    std::thread::sleep(QUIET.saturating_sub(t.elapsed()));
    quiet_since(r, t);
}

/// Every episode but the fast burn resolved, within 60 s of the start of the phase it resolved
/// in: the recovery that ended its cause.
fn every_alert_resolved_within_a_minute_of_recovery(r: &Replay) {
    for e in r.episodes().iter().filter(|e| e.alertname != BURN) {
        let resolved = e.resolved.expect("resolved");
        let phase = r.timeline.phase_at(resolved);
        let fired_in = r.timeline.phase_at(e.fired);
        assert_ne!(
            phase.name, fired_in.name,
            "{e:?} resolved before any recovery"
        );
        let took = resolved.saturating_duration_since(phase.started);
        let (name, client) = (&e.alertname, e.client());
        assert!(
            took <= RESOLVE_WITHIN,
            "{name} {client} resolved {took:?} after {}",
            phase.name
        );
    }
}
