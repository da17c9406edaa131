//! Where the canary landed, against the real stack's filter (rspamd as a Postfix milter, DKIM
//! signing on submission, a loopback DNS zone for example.test):
//!
//! - `mailcanary once` for nina prints the trusted verdicts spf, dkim and dmarc = pass (from
//!   authserv-id mail.example.test), a spam score, and at least two hops (Postfix over SMTP,
//!   then Dovecot LMTP) with their whole-second delays;
//! - with `expect_auth = ["dkim"]` and the stack's `dkim-broken` fault on, `once` shows
//!   dkim=fail and fails with verify/auth_verdict while the canary itself settles and is
//!   cleaned up as usual; a running agent exports `mailcanary_auth_result{method="dkim",
//!   result="fail"} 1` and counts the failure pair; with the fault off again, the agent's next
//!   cycle and `once` pass, and the fail series is gone (one series per method);
//! - mallory's canaries carry a sender's forged Authentication-Results (all fail) below the
//!   receiving side's: the printed verdicts are pass, with and without `authserv_id`, and a
//!   running agent exports pass for each method, never the forged fail.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::agent::{bin, find, AgentProcess};
use support::ledger::rows;
use support::mailbox::Mailbox;
use support::stack::{self, Fault, ProbeSpec};

const AUTHSERV_ID: &str = "mail.example.test";

/// Runs `mailcanary once` on `config`: whether it succeeded, and its transcript.
fn once(config: &Path) -> (bool, String) {
    let out = Command::new(bin())
        .args(["once", "-c"])
        .arg(config)
        .output()
        .expect("run mailcanary once");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A one-profile probe for `user` (IMAP IDLE, SMTP submission with STARTTLS).
fn config(dir: &Path, name: &str, user: &str, extra: &str) -> std::path::PathBuf {
    let spec = ProbeSpec {
        name,
        user,
        clients: &["ios_mail"],
        interval: "3s",
        deadline: "10s",
        extra,
    };
    stack::write_config(dir, &[spec], "")
}

/// The trusted field `once` printed: its authserv-id and `method -> result`.
fn verdicts(text: &str) -> (String, BTreeMap<String, String>) {
    let line = text
        .lines()
        .find_map(|l| {
            l.split_once(" landed: Authentication-Results of ")
                .map(|x| x.1)
        })
        .unwrap_or_else(|| panic!("no trusted verdicts printed:\n{text}"));
    let (id, summary) = line.split_once(": ").expect("authserv-id: verdicts");
    let results = summary
        .split_whitespace()
        .filter_map(|p| p.split_once('='))
        .map(|(m, r)| (m.to_string(), r.to_string()))
        .collect();
    (id.to_string(), results)
}

fn assert_all_pass(text: &str) {
    let (id, results) = verdicts(text);
    assert_eq!(id, AUTHSERV_ID, "{text}");
    for m in ["spf", "dkim", "dmarc"] {
        assert_eq!(
            results.get(m).map(String::as_str),
            Some("pass"),
            "{m}:\n{text}"
        );
    }
}

#[test]
fn once_shows_the_filters_verdicts_score_and_hops() {
    let _g = stack::shared();
    stack::require_up();
    let mbox = Mailbox::stack("nina");
    mbox.empty();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "auth", "nina", "");
    let (ok, text) = once(&config);
    println!("{text}");
    assert!(ok, "once failed:\n{text}");
    assert_all_pass(&text);
    let score = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("spam score: "))
        .unwrap_or_else(|| panic!("no spam score line:\n{text}"));
    assert!(
        score.parse::<f64>().is_ok_and(f64::is_finite),
        "a number: {score}"
    );
    // "    1. by HOST with PROTO  +N s", oldest first.
    let hops: Vec<(&str, &str, i64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.trim().split_once(". by ")?.1;
            let (by, rest) = rest.split_once(" with ")?;
            let (with, delay) = rest.split_once("  ")?;
            let secs = delay.split_whitespace().next()?.parse::<i64>().ok()?;
            Some((by, with, secs))
        })
        .collect();
    assert!(hops.len() >= 2, "at least Postfix and LMTP:\n{text}");
    let first = hops[0];
    assert!(
        first.1.to_ascii_uppercase().contains("SMTP"),
        "the first hop is Postfix taking the submission: {first:?}\n{text}"
    );
    let last = hops[hops.len() - 1];
    assert!(
        last.1.eq_ignore_ascii_case("LMTP"),
        "the last hop is Dovecot's LMTP: {last:?}\n{text}"
    );
    // One machine, one clock: whole seconds, none before the acceptance's second (bar the
    // second in which Postfix began receiving), none past the deadline.
    for h in &hops {
        assert!((-1..=10).contains(&h.2), "{h:?}\n{text}");
    }
    assert!(mbox.canaries().is_empty(), "once cleaned up its canary");
}

#[test]
fn an_expected_dkim_verdict_that_fails_fails_the_cycle_until_the_fault_is_off() {
    let _g = stack::exclusive();
    stack::require_up();
    let mbox = Mailbox::stack("nina");
    mbox.empty();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "auth", "nina", "expect_auth = [\"dkim\"]");
    let labels = [
        ("probe", "auth"),
        ("client", "ios_mail"),
        ("region", "test"),
    ];
    // Off again when dropped, also when an assertion below fails (the agent goes first).
    let broken = Fault::on("dkim-broken");
    let (ok, text) = once(&config);
    println!("{text}");
    assert!(!ok, "once must fail:\n{text}");
    let (_, results) = verdicts(&text);
    assert_eq!(
        results.get("dkim").map(String::as_str),
        Some("fail"),
        "{text}"
    );
    assert!(
        text.contains("[stage=verify reason=auth_verdict]"),
        "the pair:\n{text}"
    );
    assert!(text.contains("dkim=fail (expected pass)"), "{text}");
    // The canary itself was delivered: it settled and was cleaned up as usual.
    let ledger = rows(&dir.path().join("ledger.db"));
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert!(
        matches!(ledger[0].state.as_str(), "on_time" | "late"),
        "{ledger:?}"
    );
    assert!(mbox.canaries().is_empty(), "cleaned up");

    let with = |extra: [(&'static str, &'static str); 2]| {
        let mut l = labels.to_vec();
        l.extend(extra);
        l
    };
    let agent = AgentProcess::start(&config);
    agent.wait_for(
        "a cycle failing with verify/auth_verdict and dkim=fail exported",
        Duration::from_secs(40),
        |a| {
            let s = a.scrape();
            let pair = with([("stage", "verify"), ("reason", "auth_verdict")]);
            let fail = with([("method", "dkim"), ("result", "fail")]);
            find(&s, "mailcanary_probe_failures_total", &pair).unwrap_or(0.0) >= 1.0
                && find(&s, "mailcanary_auth_result", &fail) == Some(1.0)
                && find(&s, "mailcanary_probe_success", &labels) == Some(0.0)
        },
    );
    drop(broken);
    // The same agent: its dkim series moves from fail to pass.
    agent.wait_for(
        "a successful cycle with dkim=pass after the fault",
        Duration::from_secs(40),
        |a| {
            let s = a.scrape();
            let pass = with([("method", "dkim"), ("result", "pass")]);
            find(&s, "mailcanary_probe_success", &labels) == Some(1.0)
                && find(&s, "mailcanary_auth_result", &pass) == Some(1.0)
        },
    );
    let s = agent.scrape();
    let dkim_series = s
        .iter()
        .filter(|x| {
            x.name == "mailcanary_auth_result"
                && x.labels.get("method").map(String::as_str) == Some("dkim")
                && x.labels.get("probe").map(String::as_str) == Some("auth")
        })
        .count();
    assert_eq!(dkim_series, 1, "one series per method");
    drop(agent);
    let (ok, text) = once(&config);
    assert!(ok, "once passes with the fault off:\n{text}");
    assert_all_pass(&text);
}

#[test]
fn a_senders_forged_verdicts_below_the_filters_are_ignored() {
    let _g = stack::shared();
    stack::require_up();
    let mbox = Mailbox::stack("mallory");
    mbox.empty();
    for (name, extra) in [
        ("forged", String::new()),
        ("forged_id", format!("authserv_id = \"{AUTHSERV_ID}\"")),
    ] {
        let dir = tempfile::tempdir().unwrap();
        // Keep the canary, to check the forgery really is in it.
        let config = config(
            dir.path(),
            name,
            "mallory",
            &format!("{extra}\ncleanup = false"),
        );
        let (ok, text) = once(&config);
        println!("{text}");
        assert!(ok, "{name}: once failed:\n{text}");
        assert_all_pass(&text);
        let forged = mbox.search("HEADER Authentication-Results \"dmarc=fail\"");
        assert!(
            !forged.is_empty(),
            "{name}: the canary carries the sender's forged field (else this checks nothing)"
        );
        mbox.empty();
    }
    // What the agent exports for mallory's canaries: the filter's verdicts, never the forgery.
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "forged_run", "mallory", "");
    let agent = AgentProcess::start(&config);
    let mine = |x: &&support::agent::Sample| {
        x.name == "mailcanary_auth_result"
            && x.labels.get("probe").map(String::as_str) == Some("forged_run")
    };
    agent.wait_for(
        "spf, dkim and dmarc exported as pass for a canary carrying a forged fail",
        Duration::from_secs(40),
        |a| {
            let s = a.scrape();
            ["spf", "dkim", "dmarc"].iter().all(|m| {
                let l = [
                    ("probe", "forged_run"),
                    ("client", "ios_mail"),
                    ("region", "test"),
                    ("method", m),
                    ("result", "pass"),
                ];
                find(&s, "mailcanary_auth_result", &l) == Some(1.0)
            })
        },
    );
    let s = agent.scrape();
    let exported: Vec<_> = s.iter().filter(mine).collect();
    assert!(
        exported
            .iter()
            .all(|x| x.labels.get("result").map(String::as_str) == Some("pass")),
        "only pass exported: {exported:?}"
    );
}
