//! The canary ledger against the real stack: canaries held in Postfix's queue across a `kill -9`
//! end `late` exactly once with their real delay, and `mailcanary report` names the outage and
//! its five canaries delayed, none lost; canaries that never arrive end `lost`, and one released
//! after that ends `recovered`; and a mailbox full of a user's mail (some marked \Deleted) and
//! forged canaries loses nothing over 100 cycles with cleanup.

mod support;

use mailcanary::ledger::now;
use std::process::Command;
use std::time::Duration;
use support::agent::{find, report, AgentProcess};
use support::ledger::{rows, Row};
use support::mailbox;
use support::stack::{self, Fault, ProbeSpec};

fn held(rows: &[Row], before: f64) -> Vec<Row> {
    rows.iter()
        .filter(|r| r.accepted_at.unwrap_or(r.sent_at) < before && r.state != "rejected")
        .cloned()
        .collect()
}

#[test]
fn held_canaries_survive_kill_9_and_end_late_once_with_their_real_delay() {
    let _g = stack::exclusive();
    stack::require_up();
    mailbox::empty("canary");
    let dir = tempfile::tempdir().unwrap();
    let interval = 3.0;
    let spec = ProbeSpec {
        name: "held",
        user: "canary",
        clients: &["ios_mail"],
        interval: "3s",
        deadline: "4s",
        extra: "lost_after = \"10m\"",
    };
    let config = stack::write_config(dir.path(), &[spec], "");
    let ledger = dir.path().join("ledger.db");

    let hold = Fault::on("smtp-hold");
    let mut agent = AgentProcess::start(&config);
    agent.wait_for(
        "5 canaries accepted and held",
        Duration::from_secs(90),
        |_| {
            rows(&ledger)
                .iter()
                .filter(|r| r.state == "in_flight")
                .count()
                >= 5
        },
    );
    agent.signal("KILL");
    let (code, _) = agent.wait_exit(Duration::from_secs(10));
    assert_eq!(code, None, "killed by a signal");
    let five: Vec<Row> = rows(&ledger)
        .into_iter()
        .filter(|r| r.state == "in_flight")
        .collect();
    println!("killed with {} canaries in flight", five.len());
    assert_eq!(five.len(), 5, "{five:?}");

    // The agent stays down, and the queue held, until even the last of them is past its 4 s
    // deadline (the condition is the clock itself: nothing to await but time).
    let last = five
        .iter()
        .filter_map(|r| r.accepted_at)
        .fold(0.0, f64::max);
    let left = last + 5.0 - now();
    if left > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(left));
    }
    let agent = AgentProcess::start(&config);
    let release = now();
    drop(hold);
    agent.wait_for("every held canary settled", Duration::from_secs(60), |_| {
        held(&rows(&ledger), release)
            .iter()
            .all(|r| r.state != "in_flight" && r.state != "sending")
    });
    let after = rows(&ledger);
    for f in &five {
        let r = after.iter().find(|r| r.id == f.id).unwrap();
        assert_eq!(
            (r.state.as_str(), r.copies),
            ("late", 1),
            "killed in flight, must end late once: {r:?}"
        );
    }

    let settled = held(&rows(&ledger), release);
    let mut late = 0;
    for r in &settled {
        if r.state == "unconfirmed" {
            continue; // killed between DATA and the reply, and the server never took it
        }
        let expected = release - r.accepted_at.unwrap_or(r.sent_at);
        // Held longer than the 4 s deadline: late. Accepted just before the release and
        // delivered within its deadline: on time, correctly.
        let want = if expected > 4.0 { "late" } else { "on_time" };
        assert!(
            r.state == want || (r.state == "late" && expected > 2.0),
            "{r:?} held {expected:.2}s"
        );
        assert_eq!(r.copies, 1, "seen exactly once: {r:?}");
        let delay = r.delay.unwrap();
        // Seen at the first sweep after Postfix delivers the released queue: within one
        // interval (+10% jitter), plus a second for the queue run and delivery.
        assert!(
            delay >= expected && delay <= expected + interval * 1.1 + 1.0,
            "delay {delay:.2}s vs held {expected:.2}s: {r:?}"
        );
        late += usize::from(r.state == "late");
    }
    assert!(late >= five.len(), "{settled:?}");
    let labels = [("probe", "held"), ("outcome", "late")];
    agent.wait_for(
        "late counted once per canary, nothing in flight",
        Duration::from_secs(15),
        |a| {
            let s = a.scrape();
            find(&s, "mailcanary_canaries_total", &labels) == Some(late as f64)
                && find(&s, "mailcanary_canaries_in_flight", &[("probe", "held")]) == Some(0.0)
        },
    );
    println!("{late} held canaries ended late exactly once");

    // The report over this run: one outage, ended, and the five canaries sent during it all
    // delayed, none lost.
    let text = report(&config, false);
    println!("{text}");
    let outage_line = text
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("outage "))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        outage_line.contains("failed cycles, mostly delivery/")
            && outage_line.contains("canaries sent during it: 5 sent, 0 on time, 5 late, 0 lost"),
        "{text}"
    );
    assert!(!outage_line.contains("still down"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&report(&config, true)).expect("report --json parses");
    let held = json["instances"]
        .as_array()
        .expect("instances")
        .iter()
        .find(|i| i["probe"] == "held")
        .expect("the held probe");
    let outages = held["outages"].as_array().expect("outages");
    assert_eq!(outages.len(), 1, "{held}");
    let o = &outages[0];
    assert!(o["end"].as_f64().is_some(), "the outage ended: {o}");
    let start = o["start"].as_f64().expect("outage start");
    assert!(
        start <= five[0].sent_at,
        "the outage began with the first held canary: {o}"
    );
    let c = &o["canaries"];
    assert_eq!(
        (c["sent"].as_u64(), c["late"].as_u64(), c["lost"].as_u64()),
        (Some(5), Some(5), Some(0)),
        "{o}"
    );
    let worst = c["worst_delay_seconds"].as_f64().expect("worst delay");
    let longest = five
        .iter()
        .map(|f| after.iter().find(|r| r.id == f.id).and_then(|r| r.delay))
        .fold(0.0, |m, d| d.map_or(m, |d| f64::max(m, d)));
    assert!((worst - longest).abs() < 1e-6, "{worst} vs {longest}");
}

#[test]
fn never_arriving_canaries_end_lost_and_a_late_one_recovered() {
    let _g = stack::exclusive();
    stack::require_up();
    mailbox::empty("canary");
    let dir = tempfile::tempdir().unwrap();
    let spec = ProbeSpec {
        name: "lost",
        user: "canary",
        clients: &["ios_mail"],
        interval: "2s",
        deadline: "2s",
        extra: "lost_after = \"6s\"",
    };
    let config = stack::write_config(dir.path(), &[spec], "");
    let ledger = dir.path().join("ledger.db");
    let hold = Fault::on("smtp-hold");
    let agent = AgentProcess::start(&config);
    agent.wait_for("two canaries declared lost", Duration::from_secs(90), |a| {
        a.value(
            "mailcanary_canaries_total",
            &[("probe", "lost"), ("outcome", "lost")],
        )
        .unwrap_or(0.0)
            >= 2.0
    });
    let lost: Vec<Row> = rows(&ledger)
        .into_iter()
        .filter(|r| r.state == "lost")
        .collect();
    // One lost canary really never arrives: delete it from Postfix's queue by the queue id
    // the ledger recorded from the 250 reply.
    let gone = lost[0].clone();
    let qid = gone.queue_id.clone().expect("queue id recorded");
    let out = Command::new("postsuper")
        .args(["-d", &qid])
        .output()
        .unwrap();
    assert!(out.status.success(), "postsuper -d {qid}: {out:?}");
    drop(hold);
    agent.wait_for(
        "the other lost canaries recovered",
        Duration::from_secs(60),
        |_| {
            let now_rows = rows(&ledger);
            lost[1..].iter().all(|l| {
                now_rows
                    .iter()
                    .any(|r| r.id == l.id && r.state == "recovered")
            })
        },
    );
    agent.wait_for(
        "recovered counted once each",
        Duration::from_secs(15),
        |a| {
            let recovered = rows(&ledger)
                .iter()
                .filter(|r| r.state == "recovered")
                .count();
            a.value(
                "mailcanary_canaries_total",
                &[("probe", "lost"), ("outcome", "recovered")],
            ) == Some(recovered as f64)
        },
    );
    let still = rows(&ledger).into_iter().find(|r| r.id == gone.id).unwrap();
    assert_eq!(
        still.state, "lost",
        "the deleted one never arrived: {still:?}"
    );
    println!(
        "{} lost, {} recovered, 1 never arrived (queue id {qid})",
        lost.len(),
        lost.len() - 1
    );
}

#[test]
fn a_thousand_user_messages_and_forged_canaries_survive_100_cycles() {
    let _g = stack::shared();
    stack::require_up();
    let user = "henry";
    mailbox::empty(user);
    let seed = mailbox::user_mail_and_forgeries(user, "safety/fast/test");
    mailbox::append_many(user, &seed);
    let seeded = mailbox::search(user, "ALL");
    assert_eq!(seeded.len(), 1005);
    let deleted = mailbox::search(user, "DELETED");
    assert_eq!(deleted.len(), 100);

    let dir = tempfile::tempdir().unwrap();
    let spec = ProbeSpec {
        name: "safety",
        user,
        clients: &["fast"],
        interval: "200ms",
        deadline: "5s",
        extra: "",
    };
    let config = stack::write_config(dir.path(), &[spec], stack::FAST_CLIENT);
    let mut agent = AgentProcess::start(&config);
    agent.wait_for("100 successful cycles", Duration::from_secs(240), |a| {
        a.value(
            "mailcanary_canaries_total",
            &[("probe", "safety"), ("outcome", "on_time")],
        )
        .unwrap_or(0.0)
            >= 100.0
    });
    agent.signal("TERM");
    agent.wait_exit(Duration::from_secs(15));
    assert!(agent
        .log_text()
        .contains("tag does not verify were left in place"));

    assert_eq!(
        mailbox::search(user, "ALL"),
        seeded,
        "exactly the seeded messages remain"
    );
    assert_eq!(
        mailbox::search(user, "DELETED"),
        deleted,
        "\\Deleted flags untouched"
    );
    assert_eq!(mailbox::search(user, "SUBJECT forged").len(), 5);
    assert_eq!(mailbox::search(user, "HEADER X-Seed \"\"").len(), 1000);
}
