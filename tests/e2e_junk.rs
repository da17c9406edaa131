//! Junk placement against the real stack: while Dovecot Sieve files new mail into the Junk folder
//! (the `junk` fault), a polling profile and an IDLE profile each fail their next cycle with
//! `delivery/junk`; every canary filed there settles `junk` in the ledger (none `lost`), is
//! counted in `mailcanary_canaries_total{outcome="junk"}`, and is removed from Junk by cleanup;
//! `mailcanary report` says how many were in Junk. With the fault off, the next cycle succeeds.

mod support;

use mailcanary::ledger::now;
use std::time::Duration;
use support::agent::{find, report, AgentProcess};
use support::ledger::rows;
use support::mailbox::Mailbox;
use support::stack::{self, Fault, ProbeSpec};

/// A polling profile (the Outlook preset polling fast enough for the deadline) and an IDLE one.
const CLIENTS: [&str; 2] = ["poller", "thunderbird"];
const POLLER: &str = "[clients.poller]\npreset = \"outlook\"\npoll_interval = \"500ms\"\n";
const INTERVAL: f64 = 4.0;
const DEADLINE: f64 = 2.0;

fn labels(client: &str) -> [(&str, &str); 3] {
    [("probe", "junk"), ("client", client), ("region", "test")]
}

#[test]
fn canaries_filed_into_junk_settle_junk_fail_the_cycle_and_are_removed_from_junk() {
    let _g = stack::exclusive();
    stack::require_up();
    let mbox = Mailbox::stack("canary");
    mbox.empty();
    mbox.empty_folder("Junk");
    let dir = tempfile::tempdir().unwrap();
    let spec = ProbeSpec {
        name: "junk",
        user: "canary",
        clients: &CLIENTS,
        interval: "4s",
        deadline: "2s",
        extra: "lost_after = \"10m\"",
    };
    let config = stack::write_config(dir.path(), &[spec], POLLER);
    let ledger = dir.path().join("ledger.db");
    let agent = AgentProcess::start(&config);
    let junk_failures = |a: &AgentProcess, c: &str| {
        let mut l = labels(c).to_vec();
        l.extend([("stage", "delivery"), ("reason", "junk")]);
        find(&a.scrape(), "mailcanary_probe_failures_total", &l).unwrap_or(0.0)
    };
    agent.wait_for(
        "a successful cycle of each profile",
        Duration::from_secs(30),
        |a| {
            let s = a.scrape();
            CLIENTS
                .iter()
                .all(|c| find(&s, "mailcanary_probe_success", &labels(c)) == Some(1.0))
        },
    );

    let junk = Fault::on("junk");
    let on_at = now();
    // The next cycle of each profile, begun after the fault went on, fails with delivery/junk
    // at its deadline: within one interval plus the deadline (and a cycle's bookkeeping).
    agent.wait_for(
        "each profile fails with delivery/junk",
        Duration::from_secs_f64(INTERVAL + DEADLINE + 3.0),
        |a| {
            CLIENTS.iter().all(|c| {
                junk_failures(a, c) >= 1.0
                    && find(&a.scrape(), "mailcanary_probe_success", &labels(c)) == Some(0.0)
            })
        },
    );
    // One more cycle each in Junk, so every profile has settled more than one canary there.
    agent.wait_for(
        "a second delivery/junk of each profile",
        Duration::from_secs_f64(INTERVAL + DEADLINE + 3.0),
        |a| CLIENTS.iter().all(|c| junk_failures(a, c) >= 2.0),
    );
    drop(junk);
    let off_at = now();
    agent.wait_for(
        "a successful cycle of each profile after the fault",
        Duration::from_secs_f64(2.0 * INTERVAL + DEADLINE + 3.0),
        |a| {
            let s = a.scrape();
            CLIENTS.iter().all(|c| {
                find(&s, "mailcanary_probe_success", &labels(c)) == Some(1.0)
                    && find(&s, "mailcanary_last_success_timestamp_seconds", &labels(c))
                        .is_some_and(|t| t > off_at)
            })
        },
    );

    let all = rows(&ledger);
    let lost: Vec<_> = all.iter().filter(|r| r.state == "lost").collect();
    assert!(lost.is_empty(), "no canary lost: {lost:?}");
    // Every canary accepted while the fault was on (clear of the moments it changed) was filed
    // into Junk and settled there, with its delay.
    let during: Vec<_> = all
        .iter()
        .filter(|r| {
            r.accepted_at
                .is_some_and(|t| t > on_at + 0.5 && t < off_at - 0.5)
        })
        .collect();
    assert!(!during.is_empty(), "canaries were sent during the fault");
    for r in &during {
        assert_eq!(r.state, "junk", "{r:?}");
        assert!(
            r.delay.is_some_and(|d| d >= 0.0),
            "junk with its delay: {r:?}"
        );
    }
    let in_junk: Vec<_> = all.iter().filter(|r| r.state == "junk").collect();
    println!(
        "{} canaries, {} in Junk, fault on for {:.1} s",
        all.len(),
        in_junk.len(),
        off_at - on_at
    );
    let s = agent.scrape();
    for c in CLIENTS {
        let mut l = labels(c).to_vec();
        l.push(("outcome", "junk"));
        let counted = find(&s, "mailcanary_canaries_total", &l).unwrap_or(0.0);
        assert!(counted >= 2.0, "{c}: {counted} canaries counted junk");
    }
    let total: f64 = CLIENTS
        .iter()
        .map(|c| {
            let mut l = labels(c).to_vec();
            l.push(("outcome", "junk"));
            find(&s, "mailcanary_canaries_total", &l).unwrap_or(0.0)
        })
        .sum();
    assert_eq!(total as usize, in_junk.len(), "metric and ledger agree");

    // Cleanup removed every verified canary from Junk (and the delivered ones from the inbox).
    let left = mbox.search_in("Junk", "HEADER X-Mailcanary-Id \"\"");
    assert!(left.is_empty(), "canaries left in Junk: {left:?}");

    drop(agent);
    let text = report(&config, false);
    println!("{text}");
    // Each instance's line ("probe/client/region: N cycles, N failed; canaries: ...") says
    // "N in Junk"; an outage's own line of canaries is not counted twice.
    let said: usize = text
        .lines()
        .filter(|l| l.starts_with("junk/"))
        .filter_map(|l| {
            l.split(", ")
                .find_map(|p| p.strip_suffix(" in Junk"))
                .and_then(|n| n.parse::<usize>().ok())
        })
        .sum();
    assert_eq!(
        said,
        in_junk.len(),
        "report names the canaries in Junk: {text}"
    );
    assert!(
        text.contains("delivery/junk"),
        "the outage's reason: {text}"
    );
}
