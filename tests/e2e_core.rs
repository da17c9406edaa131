//! End to end, the same test code against two backends: the real Postfix and Dovecot of
//! scripts/mailstack.sh, and the embedded demo server that stands in for them
//! (`support/backend.rs`). `once` delivers a canary and prints every phase; `run` exports the
//! metric contract for every probe × client, turns red with the right stage when IMAP goes away
//! (Dovecot stopped / the demo's IMAP listeners closed) and green again when it returns; and the
//! agent leaves no canary behind while never touching a user's own messages.

mod support;

use std::process::Command;
use std::time::Duration;
use support::agent::{bin, find, AgentProcess};
use support::backend::{Backend, Spec};

const PRESETS: [&str; 4] = ["ios_mail", "outlook", "thunderbird", "gmail_android"];

/// Phases every preset goes through on either backend (all use TLS and AUTH on both sides).
const PHASES: [&str; 16] = [
    "connect",
    "tls",
    "greeting",
    "ehlo",
    "auth",
    "mail_from",
    "rcpt",
    "data",
    "imap_connect",
    "imap_tls",
    "imap_greeting",
    "imap_login",
    "imap_select",
    "imap_search",
    "imap_fetch",
    "cleanup",
];

#[test]
fn once_delivers_a_canary_and_prints_every_phase_on_the_stack() {
    once_delivers_a_canary_and_prints_every_phase(Backend::stack_shared());
}

#[test]
fn once_delivers_a_canary_and_prints_every_phase_on_the_demo_server() {
    once_delivers_a_canary_and_prints_every_phase(Backend::demo());
}

fn once_delivers_a_canary_and_prints_every_phase(backend: Backend) {
    // Only this test reads alice's mailbox, but an earlier run killed mid-cycle may have left
    // canaries there: the check below is about what this run leaves.
    backend.mailbox("alice").empty();
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        name: "once",
        user: "alice",
        clients: &["ios_mail", "thunderbird"],
        interval: "30s",
        deadline: "20s",
    };
    let config = backend.write_config(dir.path(), &spec);
    let out = Command::new(bin())
        .args(["once", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "once failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for client in ["ios_mail", "thunderbird"] {
        let section = text
            .split("probe once  client ")
            .find(|s| s.starts_with(client))
            .unwrap_or_else(|| panic!("no transcript for {client}:\n{text}"));
        for phase in PHASES {
            let line = section
                .lines()
                .find(|l| l.split_whitespace().nth(2) == Some(phase))
                .unwrap_or_else(|| panic!("{client}: no {phase} line:\n{section}"));
            let duration = line.split_whitespace().next().unwrap();
            assert!(
                duration.ends_with("ms") || duration.ends_with('s'),
                "{line}"
            );
            assert!(line.contains(" ok "), "{client}: {phase} not ok: {line}");
        }
        assert!(
            section.contains("RESULT: success, delivered in"),
            "{section}"
        );
        assert!(
            section.contains("queue id"),
            "the server's queue id is reported:\n{section}"
        );
    }
    assert!(
        backend.mailbox("alice").canaries().is_empty(),
        "{}: once cleaned up its canaries",
        backend.name()
    );
}

#[test]
fn run_exports_metrics_and_follows_an_imap_outage_without_touching_user_mail_on_the_stack() {
    run_exports_metrics_and_follows_an_imap_outage(Backend::stack_exclusive());
}

#[test]
fn run_exports_metrics_and_follows_an_imap_outage_without_touching_user_mail_on_the_demo_server() {
    run_exports_metrics_and_follows_an_imap_outage(Backend::demo());
}

fn run_exports_metrics_and_follows_an_imap_outage(backend: Backend) {
    let user = "bob";
    let mailbox = backend.mailbox(user);
    mailbox.empty();
    let ordinary = "From: <friend@example.test>\r\nTo: <bob@example.test>\r\nSubject: hand-written\r\n\r\nhello\r\n";
    mailbox.append(ordinary, None);
    mailbox.append(ordinary, Some("(\\Deleted)"));
    let mine = mailbox.search("SUBJECT hand-written");
    assert_eq!(mine.len(), 2);

    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        name: "stack",
        user,
        clients: &PRESETS,
        interval: "10s",
        deadline: "20s",
    };
    let config = backend.write_config(dir.path(), &spec);
    let mut agent = AgentProcess::start(&config);
    let region = backend.region();
    let labels = |c: &'static str| [("probe", "stack"), ("client", c), ("region", region)];

    agent.wait_for("every profile delivering", Duration::from_secs(90), |a| {
        let s = a.scrape();
        PRESETS.iter().all(|c| {
            find(&s, "mailcanary_probe_success", &labels(c)) == Some(1.0)
                && find(&s, "mailcanary_delivery_seconds_count", &labels(c)).unwrap_or(0.0) >= 1.0
        })
    });
    let s = agent.scrape();
    for c in PRESETS {
        for phase in PHASES {
            let mut l = labels(c).to_vec();
            l.push(("phase", phase));
            // A gauge of the last cycle, which succeeded: every phase took some time.
            let secs = find(&s, "mailcanary_phase_duration_seconds", &l).unwrap_or(0.0);
            assert!(secs > 0.0, "{c}: phase {phase} has no duration ({secs})");
        }
        let whole = find(&s, "mailcanary_probe_duration_seconds", &labels(c)).unwrap_or(0.0);
        assert!(whole > 0.0, "{c}: no cycle duration");
        assert_eq!(
            find(
                &s,
                "mailcanary_canaries_total",
                &[labels(c).as_slice(), &[("outcome", "on_time")]].concat()
            )
            .map(|v| v >= 1.0),
            Some(true)
        );
        assert!(
            find(&s, "mailcanary_last_success_timestamp_seconds", &labels(c)).unwrap_or(0.0)
                > 1.7e9
        );
    }
    assert_eq!(
        find(&s, "mailcanary_build_info", &[("region", region)]),
        Some(1.0)
    );

    // IMAP goes away (Dovecot stops / the listeners close): every profile goes red at
    // imap_connect.
    let outage = backend.imap_down();
    agent.wait_for(
        "every profile failing at imap_connect",
        Duration::from_secs(40),
        |a| {
            let s = a.scrape();
            PRESETS.iter().all(|c| {
                let mut l = labels(c).to_vec();
                l.extend([("stage", "imap_connect"), ("reason", "refused")]);
                find(&s, "mailcanary_probe_success", &labels(c)) == Some(0.0)
                    && find(&s, "mailcanary_probe_failures_total", &l).unwrap_or(0.0) >= 1.0
            })
        },
    );
    // On the stack, a cycle caught in IDLE when Dovecot stopped fails at imap_search (reset);
    // nothing fails outside the IMAP stages.
    let s = agent.scrape();
    for c in PRESETS {
        for f in s
            .iter()
            .filter(|f| f.name == "mailcanary_probe_failures_total" && f.labels["client"] == c)
        {
            println!(
                "{c}: {} {} = {}",
                f.labels["stage"], f.labels["reason"], f.value
            );
            assert!(
                f.labels["stage"].starts_with("imap_"),
                "{c}: failure outside IMAP: {:?}",
                f.labels
            );
        }
    }

    // IMAP returns: green again within two intervals.
    drop(outage);
    let back = agent.wait_for("every profile green again", Duration::from_secs(60), |a| {
        let s = a.scrape();
        PRESETS
            .iter()
            .all(|c| find(&s, "mailcanary_probe_success", &labels(c)) == Some(1.0))
    });
    println!(
        "{}: success returned {back:?} after IMAP came back",
        backend.name()
    );
    assert!(
        back <= Duration::from_secs(20),
        "took {back:?}, more than two 10 s intervals"
    );

    agent.signal("TERM");
    let (code, took) = agent.wait_exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "clean exit on SIGTERM");
    println!("agent exited {took:?} after SIGTERM");

    // Canaries sent during the outage were delivered; they were swept when IMAP returned; all
    // are gone now, and the user's own messages, including one marked \Deleted, are untouched.
    let left = mailbox.canaries();
    assert!(
        left.is_empty(),
        "canaries left in the mailbox: {left:?}\n{}",
        agent.log_text()
    );
    assert_eq!(mailbox.search("SUBJECT hand-written"), mine);
    assert!(mailbox.flags(mine[1]).iter().any(|f| f.contains("Deleted")));
}
