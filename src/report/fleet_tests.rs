//! Merging agents' reports: totals are the sums of what each agent's ledger holds, per region and
//! client profile too; an agent that did not answer is named and makes the report incomplete;
//! an instance reported twice is pointed out.

use super::*;
use crate::ledger::{Ledger, NewCanary, Owner};
use std::time::Duration;

fn owner(probe: &str, client: &str, region: &str) -> Owner {
    Owner {
        probe: probe.into(),
        client: client.into(),
        region: region.into(),
    }
}

/// A ledger with an outage of `o`: one good cycle, `failed` failed cycles each sending a canary
/// that arrives late, a good cycle again; one more canary on time before it.
fn ledger_with_outage(l: &Ledger, o: &Owner, failed: u32) {
    let mut t = 1000.0;
    l.record_cycle(o, t, None).unwrap();
    let send = |id: &str, at: f64| {
        l.record_sending(&NewCanary {
            id: id.into(),
            owner: o.clone(),
            sent_at: at,
            deadline: Duration::from_secs(60),
            lost_after: Duration::from_secs(600),
        })
        .unwrap();
        l.mark_accepted(id, at, None).unwrap();
    };
    let id = format!("{}-{}-ok", o.probe, o.client);
    send(&id, t);
    l.settle_seen(&id, 1, t + 1.0).unwrap();
    for n in 0..failed {
        t += 60.0;
        l.record_cycle(o, t, Some(("imap_connect", "refused")))
            .unwrap();
        let id = format!("{}-{}-{n}", o.probe, o.client);
        send(&id, t);
        l.settle_seen(&id, n + 2, t + 500.0).unwrap();
    }
    l.record_cycle(o, t + 60.0, None).unwrap();
}

fn agent(region: &str, owners: &[(&str, &str)], failed: u32) -> AgentReport {
    let l = Ledger::in_memory().unwrap();
    for (p, c) in owners {
        ledger_with_outage(&l, &owner(p, c, region), failed);
    }
    AgentReport {
        region: region.into(),
        version: "test".into(),
        report: crate::ledger::report::build(&l, 0.0, Some(1e6)).unwrap(),
    }
}

fn answers() -> Vec<Answer> {
    vec![
        Answer {
            agent: "http://a1:9797".into(),
            result: Ok(agent("eu", &[("p1", "ios_mail"), ("p2", "outlook")], 3)),
        },
        Answer {
            agent: "http://a2:9797".into(),
            result: Ok(agent("eu", &[("p1", "outlook")], 2)),
        },
        Answer {
            agent: "http://b1:9797".into(),
            result: Ok(agent("us", &[("p1", "ios_mail")], 1)),
        },
    ]
}

fn sum(answers: &[Answer]) -> Summary {
    let mut s = Summary::default();
    for a in answers {
        for i in &a.result.as_ref().unwrap().report.instances {
            s.add(i);
        }
    }
    s
}

#[test]
fn fleet_totals_are_the_sums_of_the_agents_ledgers() {
    let given = answers();
    let expected = sum(&given);
    let r = merge(0.0, 1e6, 2e6, given);
    assert!(r.complete);
    assert_eq!(r.totals, expected);
    // Every canary of the ledgers: one on time per instance, one late per failed cycle.
    assert_eq!(r.totals.instances, 4);
    assert_eq!(r.totals.canaries.sent, 4 + 3 + 3 + 2 + 1);
    assert_eq!(r.totals.canaries.late, 3 + 3 + 2 + 1);
    assert_eq!(r.totals.during_outages.late, 3 + 3 + 2 + 1);
    assert_eq!(r.totals.during_outages.on_time, 0);
    assert_eq!(r.totals.outages, 4);
    assert_eq!(r.totals.failed_cycles, 9);
    // By region and by client profile.
    assert_eq!(r.regions["eu"].instances, 3);
    assert_eq!(r.regions["eu"].during_outages.late, 8);
    assert_eq!(r.regions["us"].during_outages.late, 1);
    assert_eq!(r.clients["ios_mail"].during_outages.late, 4);
    assert_eq!(r.clients["outlook"].during_outages.late, 5);
    assert_eq!(r.totals.canaries.worst_delay_seconds, Some(500.0));
    assert!(r.overlaps.is_empty());
    // Sorted by region, probe, client; each says which agent it came from.
    let order: Vec<String> = (r.instances.iter())
        .map(|f| {
            format!(
                "{}/{}/{}@{}",
                f.instance.region, f.instance.probe, f.instance.client, f.agent
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "eu/p1/ios_mail@http://a1:9797",
            "eu/p1/outlook@http://a2:9797",
            "eu/p2/outlook@http://a1:9797",
            "us/p1/ios_mail@http://b1:9797"
        ]
    );
    let text = render_text(&r);
    assert!(!text.contains("INCOMPLETE"), "{text}");
    assert!(text.contains("== region eu =="), "{text}");
    assert!(
        text.contains("4 instances, 17 cycles, 9 failed, 4 outages"),
        "{text}"
    );
}

#[test]
fn an_agent_that_did_not_answer_is_named_and_left_out_of_the_totals() {
    let mut given = answers();
    let answered = sum(&given[..2]);
    given[2].result = Err("cannot connect: Connection refused (os error 111)".into());
    let r = merge(0.0, 1e6, 2e6, given);
    assert!(!r.complete);
    assert_eq!(r.totals, answered);
    assert!(!r.regions.contains_key("us"));
    let missing = &r.agents[2];
    assert_eq!(
        (missing.agent.as_str(), missing.answered, missing.instances),
        ("http://b1:9797", false, 0)
    );
    let text = render_text(&r);
    assert!(
        text.contains("agent http://b1:9797: DID NOT ANSWER: cannot connect"),
        "{text}"
    );
    assert!(
        text.contains("INCOMPLETE: 1 of 3 agents did not answer (http://b1:9797)"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["complete"], false);
    assert_eq!(json["agents"][2]["answered"], false);
}

#[test]
fn an_instance_reported_by_two_agents_is_pointed_out_and_counted_twice() {
    let mut given = answers();
    given[1].result = Ok(agent("eu", &[("p1", "ios_mail")], 2));
    let expected = sum(&given);
    let r = merge(0.0, 1e6, 2e6, given);
    assert_eq!(r.overlaps, ["p1/ios_mail/eu"]);
    assert_eq!(r.totals, expected);
    assert!(render_text(&r).contains("p1/ios_mail/eu was reported by more than one agent"));
}

#[test]
fn outcome_counts_from_agents_add_without_overflow() {
    let mut a = Outcomes {
        sent: u64::MAX - 1,
        worst_delay_seconds: Some(3.0),
        ..Outcomes::default()
    };
    let b = Outcomes {
        sent: 5,
        late: 2,
        worst_delay_seconds: Some(f64::NAN),
        ..Outcomes::default()
    };
    a.add(&b);
    assert_eq!((a.sent, a.late), (u64::MAX, 2));
    assert_eq!(a.worst_delay_seconds, Some(3.0));
}

#[test]
fn no_agent_answered() {
    let r = merge(
        0.0,
        1.0,
        2.0,
        vec![Answer {
            agent: "http://x:1".into(),
            result: Err("answered HTTP 401 Unauthorized".into()),
        }],
    );
    assert!(!r.complete);
    assert_eq!(r.totals, Summary::default());
    assert!(render_text(&r).contains("INCOMPLETE: 1 of 1 agents"));
}
