//! Client profiles on the real stack: "only iOS users are broken" must show as exactly that.
//! The four presets run side by side; the IMAP STARTTLS listener (port 143, used only by the
//! thunderbird preset) refuses new connections: thunderbird alone goes red, at
//! `imap_connect`/`refused` and nowhere else, the other three stay green through the whole
//! outage, and thunderbird recovers after it.
//! (OAuth logins: tests/e2e_oauth.rs.)

mod support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::agent::{sum, AgentProcess, Sample};
use support::profiles::{cycles, failures, labels, success, watch};
use support::stack::{self, Fault, ProbeSpec};

const PRESETS: [&str; 4] = ["ios_mail", "outlook", "thunderbird", "gmail_android"];

#[test]
fn a_broken_listener_fails_exactly_the_profile_that_uses_it() {
    let _g = stack::exclusive();
    stack::require_up();
    let user = "frank";
    support::mailbox::empty(user);
    let dir = tempfile::tempdir().unwrap();
    let spec = ProbeSpec {
        name: "profiles",
        user,
        clients: &PRESETS,
        interval: "5s",
        deadline: "10s",
        extra: "",
    };
    let config = stack::write_config(dir.path(), &[spec], "");
    let agent = AgentProcess::start(&config);
    let p = "profiles";
    let green = |s: &[Sample], c: &str| success(s, p, c) == Some(1.0);
    watch(
        &agent,
        "all four presets delivering",
        Duration::from_secs(60),
        |_| {},
        |s| PRESETS.iter().all(|c| green(s, c)),
    );
    let others = ["ios_mail", "outlook", "gmail_android"];
    // From here on, every scrape: the three profiles that do not use port 143 are green.
    let stay_green = |s: &[Sample]| {
        for c in others {
            assert_eq!(
                success(s, p, c),
                Some(1.0),
                "{c} went red\n{}",
                agent.log_text()
            );
        }
    };
    let before = agent.scrape();
    let fault = Fault::on("imap-143-down");
    let red = watch(
        &agent,
        "thunderbird failing at imap_connect (refused)",
        Duration::from_secs(30),
        stay_green,
        |s| {
            success(s, p, "thunderbird") == Some(0.0)
                && failures(s, p, "thunderbird", "imap_connect", "refused") >= 1.0
        },
    );
    println!("thunderbird red {red:?} after port 143 went away");
    // Keep the fault on until each other profile has completed two more cycles under it.
    let during = agent.scrape();
    watch(
        &agent,
        "two more cycles of every other profile during the outage",
        Duration::from_secs(40),
        stay_green,
        |s| {
            others
                .iter()
                .all(|c| cycles(s, p, c) >= cycles(&during, p, c) + 2.0)
                && success(s, p, "thunderbird") == Some(0.0)
        },
    );
    drop(fault);
    let back = watch(
        &agent,
        "thunderbird green again",
        Duration::from_secs(30),
        stay_green,
        |s| green(s, "thunderbird"),
    );
    println!("thunderbird green {back:?} after port 143 returned");
    let after = agent.scrape();
    for c in others {
        let new_failures = sum(&after, "mailcanary_probe_failures_total", &labels(p, c))
            - sum(&before, "mailcanary_probe_failures_total", &labels(p, c));
        assert_eq!(new_failures, 0.0, "{c} counted failures during the outage");
        println!(
            "{c}: {} cycles from the fault until thunderbird recovered, all green",
            cycles(&after, p, c) - cycles(&before, p, c)
        );
    }
    let tb: BTreeMap<String, f64> = after
        .iter()
        .filter(|s| s.name == "mailcanary_probe_failures_total")
        .filter(|s| s.labels.get("client").map(String::as_str) == Some("thunderbird"))
        .map(|s| {
            (
                format!("{}/{}", s.labels["stage"], s.labels["reason"]),
                s.value,
            )
        })
        .collect();
    println!("thunderbird failures: {tb:?}");
    // The fault refuses new connections to port 143 and touches nothing else (no server
    // reload, no session cut): thunderbird fails at connecting, and only there.
    assert!(
        tb.keys().all(|k| k == "imap_connect/refused"),
        "thunderbird failed only at imap_connect/refused: {tb:?}"
    );
}
