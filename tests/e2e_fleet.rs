//! The fleet on loopback (tests/support/topology.rs): two regions, region a's probes split over
//! two shard agents, region b one agent behind a relay the test stops; a Prometheus per region,
//! a global one federating both with alerts/mailcanary-fleet.rules.yml, two Alertmanagers in a
//! cluster, all real (Debian's prometheus and prometheus-alertmanager) against the real mail
//! stack. Checked, in order:
//!
//! 1. IMAP refused for everyone (seen from both regions): MailCanaryFleetProbeDown reaches the
//!    webhook exactly once per probe, though both Alertmanagers hold it;
//! 2. one Alertmanager killed, the same fault again: the page still arrives, once;
//! 3. region b's path cut (its relay stopped): only MailCanaryFleetProbeDownInOneRegion, for b;
//!    no mail-down page, and no regional MailCanaryProbeDown (the regions drop their own);
//! 4. region b's Prometheus killed: MailCanaryFleetRegionUnseen, and no mail-down alert;
//! 5. `mailcanary report --agent ...` over the test's period: fleet totals equal the sum of the
//!    three agents' ledgers; with one agent stopped it is named, exit 3, and the totals are the
//!    sum of the other two.

mod support;

use serde_json::Value;
use std::time::{Duration, Instant};
use support::cluster::PEER_TIMEOUT;
use support::fleet::{fleet_report, local_report, sum_of, totals};
use support::prometheus::Received;
use support::stack::{self, Fault};
use support::topology::{Topology, PROBES};

/// Every alert that says "mail is down", at fleet or region level.
const MAIL_DOWN: [&str; 5] = [
    "MailCanaryFleetProbeDown",
    "MailCanaryFleetProbeDownInOneRegion",
    "MailCanaryFleetProbeDownUnconfirmed",
    "MailCanaryProbeDown",
    "MailCanaryProbeDownGlobally",
];

fn diagnostics(t: &Topology) -> String {
    let got: Vec<String> = (t.webhook.received().iter())
        .flat_map(|r| {
            let ago = r.at.elapsed();
            (r.alerts().into_iter())
                .map(move |a| format!("{ago:?} ago: {} {}", a["status"], a["labels"]))
        })
        .collect();
    let regional: Vec<String> = (t.regional.iter())
        .map(|(r, p)| format!("region {r}: {:?}", p.try_query("ALERTS")))
        .collect();
    format!(
        "global alerts: {:?}\n{}\nwebhook:\n{}",
        t.global.try_query("ALERTS"),
        regional.join("\n"),
        got.join("\n")
    )
}

/// Whether `r` carries alert `name` with `status` for `probe` (and `region`, when given).
fn carries(r: &Received, name: &str, status: &str, probe: &str, region: Option<&str>) -> bool {
    r.alerts().iter().any(|a| {
        let l = &a["labels"];
        l["alertname"] == name
            && a["status"] == status
            && l["probe"] == probe
            && region.is_none_or(|g| l["region"] == g)
    })
}

/// Waits for a notification of `name` with `status` for every probe, received after `since`;
/// returns when the last of them arrived.
fn wait_all(
    t: &Topology,
    name: &str,
    status: &str,
    region: Option<&str>,
    since: Instant,
) -> Instant {
    let mut last = since;
    for (probe, _) in PROBES {
        let got = t.webhook.wait_for(
            |r| r.at >= since && carries(r, name, status, probe, region),
            Duration::from_secs(90),
        );
        let got = got.unwrap_or_else(|| {
            panic!(
                "no {status} {name} for {probe} at the webhook\n{}",
                diagnostics(t)
            )
        });
        last = last.max(got.at);
    }
    last
}

/// Firing notifications of `name` for `probe` received since `since`.
fn firing(t: &Topology, name: &str, probe: &str, since: Instant) -> usize {
    (t.webhook.received_since(since).iter())
        .filter(|r| carries(r, name, "firing", probe, None))
        .count()
}

/// The mail-down alerts notified firing since `since`, as `name{labels}` (a resolution of an
/// earlier phase's alert may still arrive: it says nothing is down).
fn mail_down_since(t: &Topology, since: Instant) -> Vec<String> {
    (t.webhook.received_since(since).iter())
        .flat_map(|r| r.alerts().into_iter().cloned().collect::<Vec<Value>>())
        .filter(|a| a["status"] == "firing")
        .filter(|a| MAIL_DOWN.iter().any(|n| a["labels"]["alertname"] == *n))
        .map(|a| format!("{}{}", a["labels"]["alertname"], a["labels"]))
        .collect()
}

/// Panics if the global Prometheus had any alert of `names` pending or firing since `since`.
fn global_never(t: &Topology, names: &[&str], since: Instant) {
    let secs = since.elapsed().as_secs().max(1);
    let q = format!(
        "max_over_time(ALERTS{{alertname=~\"{}\"}}[{secs}s])",
        names.join("|")
    );
    let got = t.global.query(&q);
    assert!(
        got.as_array().is_some_and(Vec::is_empty),
        "{names:?} since {secs}s: {got}"
    );
}

/// Waits until the fleet is quiet again after an outage: on the global Prometheus every region
/// reports every probe with no failed cycle left, no mail-down alert is pending or firing, and
/// no Alertmanager still holds one. One region's recovery is enough to resolve the quorum
/// alert; the next phase must not begin while the other region still counts failures, or that
/// region alone is down for a moment and its one-region alert fires.
fn wait_recovered(t: &Topology) {
    let names = MAIL_DOWN.join("|");
    let failing = "probe_region:mailcanary_probe_consecutive_failures:min > 0";
    let seen = "count by (probe) (probe_region:mailcanary_probe_consecutive_failures:min)";
    let alerts = format!("ALERTS{{alertname=~\"{names}\"}}");
    let start = Instant::now();
    loop {
        let empty = |q: &str| {
            (t.global.try_query(q).ok()).is_some_and(|v| v.as_array().is_some_and(Vec::is_empty))
        };
        let every_region = (t.global.try_query(seen).ok()).is_some_and(|v| {
            v.as_array()
                .is_some_and(|a| a.len() == PROBES.len() && a.iter().all(|s| s["value"][1] == "2"))
        });
        let held = (t.ams.iter()).any(|am| MAIL_DOWN.iter().any(|n| am.holds(n)));
        if every_region && empty(failing) && empty(&alerts) && !held {
            println!("   all regions recovered after {:?}", start.elapsed());
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the fleet did not recover: {:?} / {:?}\n{}",
            t.global.try_query(failing),
            t.global.try_query(seen),
            diagnostics(t)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Each probe's page arrives once: both Alertmanagers hold it, and no second notification
/// comes within three gossip peer timeouts of the first (the second peer waits one).
fn exactly_once(t: &Topology, since: Instant) {
    let name = "MailCanaryFleetProbeDown";
    let live: Vec<_> = t.ams.iter().filter(|a| a.cluster_size() > 0).collect();
    for am in &live {
        let start = Instant::now();
        while !am.holds(name) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{} lacks {name}",
                am.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for (probe, _) in PROBES {
        let is_page = |r: &Received| r.at >= since && carries(r, name, "firing", probe, None);
        let first = t
            .webhook
            .wait_for(is_page, Duration::ZERO)
            .expect("the first page");
        // The predicate sees one notification at a time (the inbox is locked meanwhile).
        let second = t.webhook.wait_for(
            |r| r.at > first.at && carries(r, name, "firing", probe, None),
            PEER_TIMEOUT * 3,
        );
        assert!(
            second.is_none(),
            "{name} for {probe} notified twice\n{}",
            diagnostics(t)
        );
        assert_eq!(firing(t, name, probe, since), 1, "{}", diagnostics(t));
    }
}

#[test]
fn quorum_one_region_lost_region_and_the_fleet_report_on_a_loopback_fleet() {
    let _stack = stack::exclusive();
    stack::require_up();
    let started = Instant::now();
    let since = mailcanary::ledger::now();
    let mut t = Topology::up();
    println!("fleet up in {:?}", started.elapsed());
    let quiet = mail_down_since(&t, started);
    assert!(
        quiet.is_empty(),
        "mail-down alerts while healthy: {quiet:?}"
    );

    // 1. Seen from both regions.
    let p1 = Instant::now();
    let fault = Fault::on("imap-refused");
    let paged = wait_all(&t, "MailCanaryFleetProbeDown", "firing", None, p1);
    println!("1. quorum page after {:?}", p1.elapsed());
    exactly_once(&t, p1);
    drop(fault);
    wait_all(&t, "MailCanaryFleetProbeDown", "resolved", None, paged);
    let regional_page = (t.webhook.received().iter()).any(|r| {
        r.alerts()
            .iter()
            .any(|a| a["labels"]["alertname"] == "MailCanaryProbeDown")
    });
    assert!(
        !regional_page,
        "a region sent its own MailCanaryProbeDown\n{}",
        diagnostics(&t)
    );

    // 2. One Alertmanager killed: the page still arrives, once.
    t.ams[0].kill();
    let p2 = Instant::now();
    let fault = Fault::on("imap-refused");
    let paged = wait_all(&t, "MailCanaryFleetProbeDown", "firing", None, p2);
    println!(
        "2. quorum page with one Alertmanager after {:?}",
        p2.elapsed()
    );
    exactly_once(&t, p2);
    drop(fault);
    wait_all(&t, "MailCanaryFleetProbeDown", "resolved", None, paged);
    wait_recovered(&t);

    // 3. Region b's path cut: a ticket for b, nothing else that says mail is down.
    let p3 = Instant::now();
    t.proxy.stop();
    let ticket = wait_all(
        &t,
        "MailCanaryFleetProbeDownInOneRegion",
        "firing",
        Some("b"),
        p3,
    );
    println!("3. one-region ticket after {:?}", p3.elapsed());
    let seen = mail_down_since(&t, p3);
    let other: Vec<&String> = (seen.iter())
        .filter(|s| {
            !(s.starts_with("\"MailCanaryFleetProbeDownInOneRegion\"{")
                && s.contains("\"region\":\"b\""))
        })
        .collect();
    assert!(other.is_empty(), "{other:?}\n{}", diagnostics(&t));
    global_never(
        &t,
        &[
            "MailCanaryFleetProbeDown",
            "MailCanaryFleetProbeDownUnconfirmed",
        ],
        p3,
    );
    t.proxy.resume();
    wait_all(
        &t,
        "MailCanaryFleetProbeDownInOneRegion",
        "resolved",
        Some("b"),
        ticket,
    );
    wait_recovered(&t);

    // 4. Region b's Prometheus gone: the lost-region alert, no mail-down alert. The report's
    // period ends here: every canary sent before has settled by the time the report runs.
    let until = mailcanary::ledger::now();
    let p4 = Instant::now();
    t.regional("b").kill();
    let unseen = t.webhook.wait_for(
        |r| {
            r.at >= p4
                && (r.alerts().iter()).any(|a| {
                    a["labels"]["alertname"] == "MailCanaryFleetRegionUnseen"
                        && a["labels"]["region"] == "b"
                        && a["status"] == "firing"
                })
        },
        Duration::from_secs(120),
    );
    assert!(
        unseen.is_some(),
        "no MailCanaryFleetRegionUnseen for b\n{}",
        diagnostics(&t)
    );
    println!("4. region b unseen after {:?}", p4.elapsed());
    let seen = mail_down_since(&t, p4);
    assert!(
        seen.is_empty(),
        "mail-down alerts with region b gone: {seen:?}"
    );
    global_never(&t, &MAIL_DOWN, p4);

    // 5. The fleet report over the test's outages.
    let urls: Vec<String> = t.agents.iter().map(|a| a.url()).collect();
    let run = fleet_report(&urls, since, until, &["--json"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let fleet = run.json();
    let ledgers: Vec<Value> = (t.agents.iter())
        .map(|a| local_report(&a.config, since, until))
        .collect();
    let sum = sum_of(&ledgers);
    assert_eq!(
        totals(&fleet),
        sum,
        "fleet totals against the three ledgers"
    );
    for region in ["a", "b"] {
        let during = &fleet["regions"][region]["during_outages"];
        assert!(during["sent"].as_u64() > Some(0), "{region}: {fleet}");
    }
    println!("5. fleet totals = sum of the ledgers: {sum}");
    let a2 = t.agents.iter().position(|a| a.name == "a2").expect("a2");
    t.agents[a2].process.signal("KILL");
    let _ = t.agents[a2].process.wait_exit(Duration::from_secs(10));
    let run = fleet_report(&urls, since, until, &["--json"]);
    assert_eq!(run.code, Some(3), "{}\n{}", run.stdout, run.stderr);
    let fleet = run.json();
    let stopped = (fleet["agents"].as_array().expect("agents").iter())
        .find(|s| s["agent"] == urls[a2].as_str())
        .cloned()
        .expect("a2 listed");
    assert_eq!(stopped["answered"], false, "{fleet}");
    let others: Vec<Value> = (ledgers.iter().enumerate())
        .filter(|(i, _)| *i != a2)
        .map(|(_, l)| l.clone())
        .collect();
    assert_eq!(
        totals(&fleet),
        sum_of(&others),
        "totals without the stopped agent"
    );
    println!("whole test {:?}", started.elapsed());
}
