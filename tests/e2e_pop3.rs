//! Client profiles that read over POP3, on the real stack (Dovecot's POP3 on 995 and 110 with
//! STLS, beside its IMAP):
//! - a probe with an IMAP profile and three POP3 profiles (995 with USER/PASS, 995 with AUTH
//!   PLAIN, 110 with STLS): all deliver; with `pop3-down` on, the three POP3 profiles and only
//!   they fail, at `pop3_connect`/`refused`, within one interval, while the IMAP profile counts
//!   no failure; with it off they recover;
//! - a maildrop of 1,000 user messages, look-alikes with this instance's headers and a bad tag,
//!   and valid canaries of another instance loses none of them over 100 POP3 cycles with
//!   cleanup, and keeps none of this instance's canaries;
//! - canaries delivered while POP3 is down each settle `late` exactly once when it comes back,
//!   after an agent restart, and are then deleted.

mod support;

use mailcanary::ledger::now;
use mailcanary::probe::canary;
use mailcanary::secret::SecretSource;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use support::agent::{sum, AgentProcess, Sample};
use support::ledger::rows;
use support::mailbox;
use support::profiles::{cycles, failures, labels, success, watch};
use support::stack::{self, Fault, ProbeSpec, DOMAIN, STATE};

/// The three POP3 profiles of the outage test (the STLS one is Outlook's preset on port 110),
/// polling every second instead of their presets' 5 s: a cycle still waiting for its canary when POP3 goes away then meets the refused port
/// within a second, so every profile is red within one interval of the fault (with the presets,
/// a cycle whose first poll came before its canary's delivery would wait out 5 s first).
const QUICK_POP3: &str = "[clients.outlook_pop3]\npreset = \"outlook_pop3\"\npoll_interval = \"1s\"\n\
    [clients.thunderbird_pop3]\npreset = \"thunderbird_pop3\"\npoll_interval = \"1s\"\n\
    [clients.isp_pop3]\npreset = \"outlook_pop3\"\npop3_tls = \"starttls\"\npoll_interval = \"1s\"\n";
/// A POP3 profile polling every 50 ms, for tests that need many quick cycles.
const FAST_POP3: &str =
    "[clients.fast_pop3]\npreset = \"outlook_pop3\"\npoll_interval = \"50ms\"\n";

/// Writes the config of `spec` with a `[pop3]` endpoint for its POP3 profiles; `[imap]` stays
/// only when `imap` (some profile of the probe reads over IMAP).
fn write_config(dir: &Path, spec: ProbeSpec, clients: &str, imap: bool) -> PathBuf {
    let name = spec.name.to_string();
    let pw = format!("{STATE}/secrets/{}.password", spec.user);
    let main = stack::write_config(dir, &[spec], clients);
    let file = dir.join(format!("probes/{name}.toml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let pop3 = format!(
        "[pop3]\nhost = \"127.0.0.1\"\ntls_server_name = \"mail.{DOMAIN}\"\npassword_file = \"{pw}\"\n"
    );
    let text = if imap {
        format!("{text}\n{pop3}")
    } else {
        let (before, _) = text
            .split_once("[imap]")
            .expect("an [imap] table to replace");
        format!("{before}{pop3}")
    };
    std::fs::write(&file, text).unwrap();
    main
}

#[test]
fn pop3_down_fails_only_the_pop3_profiles_at_connect_and_they_recover() {
    let _g = stack::exclusive();
    stack::require_up();
    let user = "ivan";
    mailbox::empty(user);
    let dir = tempfile::tempdir().unwrap();
    let pop3 = ["outlook_pop3", "thunderbird_pop3", "isp_pop3"];
    let all = ["outlook", "outlook_pop3", "thunderbird_pop3", "isp_pop3"];
    let interval = Duration::from_secs(3);
    let spec = ProbeSpec {
        name: "mixed",
        user,
        clients: &all,
        interval: "3s",
        deadline: "10s",
        extra: "",
    };
    let config = write_config(dir.path(), spec, QUICK_POP3, true);
    let agent = AgentProcess::start(&config);
    let p = "mixed";
    let green = |s: &[Sample], c: &str| success(s, p, c) == Some(1.0);
    watch(
        &agent,
        "every profile delivering",
        Duration::from_secs(60),
        |_| {},
        |s| all.iter().all(|c| green(s, c)),
    );
    // From here on, every scrape: the IMAP profile is green.
    let imap_green = |s: &[Sample]| {
        assert_eq!(
            success(s, p, "outlook"),
            Some(1.0),
            "outlook went red\n{}",
            agent.log_text()
        );
    };
    let before = agent.scrape();
    let fault = Fault::on("pop3-down");
    let mut at_red = Vec::new();
    let red = watch(
        &agent,
        "every POP3 profile failing at pop3_connect (refused)",
        Duration::from_secs(30),
        imap_green,
        |s| {
            let all_red = pop3.iter().all(|c| {
                success(s, p, c) == Some(0.0) && failures(s, p, c, "pop3_connect", "refused") >= 1.0
            });
            if all_red {
                at_red = s.to_vec();
            }
            all_red
        },
    );
    println!("every POP3 profile red {red:?} after POP3 went away");
    // Each profile's next cycle starts within one interval (+10% jitter) of the fault and fails
    // within that cycle's own duration (an SMTP send, then a poll refused), as the agent
    // measured it; the test sees it at its next scrape, 200 ms later at most.
    let failing_cycle = |c: &str| {
        support::agent::find(&at_red, "mailcanary_probe_duration_seconds", &labels(p, c))
            .unwrap_or_else(|| panic!("no cycle duration for {c}"))
    };
    let longest = pop3.iter().map(|c| failing_cycle(c)).fold(0.0, f64::max);
    let bound =
        interval.mul_f64(1.1) + Duration::from_secs_f64(longest) + Duration::from_millis(300);
    assert!(
        red <= bound,
        "red after {red:?}, bound {bound:?} (longest failing cycle {longest:.3} s)"
    );
    let during = agent.scrape();
    watch(
        &agent,
        "two more IMAP cycles during the outage",
        Duration::from_secs(30),
        imap_green,
        |s| cycles(s, p, "outlook") >= cycles(&during, p, "outlook") + 2.0,
    );
    drop(fault);
    let back = watch(
        &agent,
        "the POP3 profiles green again",
        Duration::from_secs(40),
        imap_green,
        |s| pop3.iter().all(|c| green(s, c)),
    );
    println!("POP3 profiles green {back:?} after POP3 returned");
    let after = agent.scrape();
    let new_failures = sum(
        &after,
        "mailcanary_probe_failures_total",
        &labels(p, "outlook"),
    ) - sum(
        &before,
        "mailcanary_probe_failures_total",
        &labels(p, "outlook"),
    );
    assert_eq!(
        new_failures,
        0.0,
        "the IMAP profile counted failures during the POP3 outage\n{}",
        agent.failure_lines(40)
    );
    for c in pop3 {
        let kinds: Vec<String> = after
            .iter()
            .filter(|s| s.name == "mailcanary_probe_failures_total")
            .filter(|s| s.labels.get("client").map(String::as_str) == Some(c))
            .map(|s| format!("{}/{}", s.labels["stage"], s.labels["reason"]))
            .collect();
        assert_eq!(
            kinds,
            ["pop3_connect/refused"],
            "{c} failed only at connecting\n{}",
            agent.failure_lines(40)
        );
    }
}

/// A valid canary of another instance (same key, another probe), as another agent sends it.
fn foreign_canary(i: usize) -> String {
    let key = SecretSource::File(format!("{STATE}/secrets/hmac.key").into())
        .load()
        .expect("the stack's HMAC key");
    let to = format!("bob@{DOMAIN}");
    let c = canary::build(&key, "other/fast_pop3/test", &to, &to, SystemTime::now());
    let text = String::from_utf8(c.message).unwrap();
    text.replace(
        "Subject: mailcanary",
        &format!("Subject: other {i} mailcanary"),
    )
}

#[test]
fn user_messages_look_alikes_and_other_instances_canaries_survive_100_pop3_cycles() {
    let _g = stack::exclusive();
    stack::require_up();
    let user = "bob";
    mailbox::empty(user);
    let mut seed = mailbox::user_mail_and_forgeries(user, "safety/fast_pop3/test");
    for i in 0..5 {
        seed.push((foreign_canary(i), None));
    }
    mailbox::append_many(user, &seed);
    let seeded = mailbox::search(user, "ALL");
    assert_eq!(seeded.len(), 1010);

    let dir = tempfile::tempdir().unwrap();
    let spec = ProbeSpec {
        name: "safety",
        user,
        clients: &["fast_pop3"],
        interval: "200ms",
        deadline: "5s",
        extra: "",
    };
    let config = write_config(dir.path(), spec, FAST_POP3, false);
    let began = std::time::Instant::now();
    let mut agent = AgentProcess::start(&config);
    agent.wait_for(
        "100 canaries on time over POP3",
        Duration::from_secs(240),
        |a| {
            a.value(
                "mailcanary_canaries_total",
                &[("probe", "safety"), ("outcome", "on_time")],
            )
            .unwrap_or(0.0)
                >= 100.0
        },
    );
    agent.signal("TERM");
    agent.wait_exit(Duration::from_secs(15));
    println!("100 POP3 cycles in {:?}", began.elapsed());
    // Cleanup ran: of this instance's canaries, at most the one of a cycle cut short by the
    // stop is left; everything seeded is.
    let remaining = mailbox::search(user, "ALL");
    let left: Vec<&u32> = remaining.iter().filter(|u| !seeded.contains(u)).collect();
    assert!(left.len() <= 1, "canaries left behind: {left:?}");
    let gone: Vec<&u32> = seeded.iter().filter(|u| !remaining.contains(u)).collect();
    assert!(gone.is_empty(), "seeded messages gone: {gone:?}");
    assert_eq!(mailbox::search(user, "HEADER X-Seed \"\"").len(), 1000);
    assert_eq!(mailbox::search(user, "SUBJECT forged").len(), 5);
    assert_eq!(mailbox::search(user, "SUBJECT other").len(), 5);
    assert_eq!(
        mailbox::search(user, "DELETED").len(),
        100,
        "\\Deleted flags untouched"
    );
}

#[test]
fn canaries_delivered_while_pop3_is_down_settle_late_once_after_a_restart() {
    let _g = stack::exclusive();
    stack::require_up();
    let user = "grace";
    mailbox::empty(user);
    let dir = tempfile::tempdir().unwrap();
    let spec = ProbeSpec {
        name: "outage",
        user,
        clients: &["outlook_pop3"],
        interval: "2s",
        deadline: "4s",
        extra: "lost_after = \"10m\"",
    };
    let config = write_config(dir.path(), spec, "", false);
    let ledger = dir.path().join("ledger.db");
    let mut agent = AgentProcess::start(&config);
    let on_time = [("probe", "outage"), ("outcome", "on_time")];
    agent.wait_for("one canary on time", Duration::from_secs(30), |a| {
        a.value("mailcanary_canaries_total", &on_time)
            .unwrap_or(0.0)
            >= 1.0
    });
    let fault = Fault::on("pop3-down");
    let down = now();
    agent.wait_for(
        "two canaries accepted during the outage",
        Duration::from_secs(30),
        |_| {
            rows(&ledger)
                .iter()
                .filter(|r| r.state == "in_flight" && r.accepted_at.is_some_and(|a| a > down))
                .count()
                >= 2
        },
    );
    agent.signal("TERM");
    agent.wait_exit(Duration::from_secs(15));
    // What the first agent settled late itself: with a 5 s poll and a 4 s deadline, a canary
    // its first look missed is found at the deadline's last look, a little late.
    let late_before = rows(&ledger).iter().filter(|r| r.state == "late").count();
    let unseen: Vec<_> = rows(&ledger)
        .into_iter()
        .filter(|r| r.state == "in_flight")
        .collect();
    assert!(unseen.len() >= 2, "{unseen:?}");
    // Delivered into the maildrop (SMTP and delivery work; only POP3 is down).
    let ids = mailbox::canary_ids(user);
    assert!(
        unseen.iter().all(|r| ids.contains(&r.id)),
        "{unseen:?} vs {ids:?}"
    );
    // Past every deadline before POP3 comes back (the condition is the clock itself).
    let last = unseen
        .iter()
        .filter_map(|r| r.accepted_at)
        .fold(0.0, f64::max);
    let left = last + 5.0 - now();
    if left > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(left));
    }
    drop(fault);
    let agent = AgentProcess::start(&config);
    agent.wait_for(
        "every canary of the outage settled",
        Duration::from_secs(30),
        |_| {
            let now_rows = rows(&ledger);
            unseen.iter().all(|u| {
                now_rows
                    .iter()
                    .any(|r| r.id == u.id && r.state != "in_flight")
            })
        },
    );
    let after = rows(&ledger);
    for u in &unseen {
        let r = after.iter().find(|r| r.id == u.id).unwrap();
        assert_eq!((r.state.as_str(), r.copies), ("late", 1), "{r:?}");
    }
    // Counted once each: the restarted agent counts what the ledger settled late since it
    // started, the outage's canaries among them.
    let late = [("probe", "outage"), ("outcome", "late")];
    agent.wait_for(
        "late counted once each, and deleted",
        Duration::from_secs(20),
        |a| {
            let in_ledger = rows(&ledger).iter().filter(|r| r.state == "late").count();
            let since = in_ledger.saturating_sub(late_before);
            a.value("mailcanary_canaries_total", &late) == Some(since as f64)
                && unseen
                    .iter()
                    .all(|u| !mailbox::canary_ids(user).contains(&u.id))
        },
    );
    println!(
        "{} canaries of the POP3 outage settled late once each ({late_before} settled late \
         before the stop)",
        unseen.len()
    );
}
