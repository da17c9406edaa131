//! Every row of the real-stack table in `docs/failures.md`, against the Postfix and Dovecot of
//! `scripts/mailstack.sh`: the fault is switched on (holding the stack's exclusive lock, and off
//! again when the row ends, even on panic), one agent cycle runs in-process, and its failure
//! must be exactly the row's (`stage`, `reason`), with the row's words and reply in the `once`
//! transcript and the cycle within its hard deadline plus one second.
//!
//! Users: `carol` and `dave` (reserved for these tests), and `canary` for `imap-auth`, the one
//! fault the stack applies to that user only.

mod faults_common;
mod support;

use faults_common::{check, instance, rows, run_cycle, shared, Ran, Row, Source};
use mailcanary::config::Config;
use mailcanary::ledger::Outcome;
use mailcanary::probe::cycle::InstanceMemory;
use mailcanary::scheduler::Shared;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use support::mailbox;
use support::stack::{self, Fault, ProbeSpec, DOMAIN, STATE};

/// Stack faults this suite knows how to run; must equal the ids of the document's table.
const KNOWN: &[&str] = &[
    "imap-down",
    "smtp-down",
    "smtp-hold",
    "delivery-defer",
    "slow-delivery",
    "smtp-tempfail",
    "smtp-permfail",
    "imap-auth",
    "imap-143-down",
    "imap-refused",
    "pop3-down",
    "pop3-auth",
    "junk",
];
/// Stack faults that break POP3 only: while one is on, an IMAP profile still delivers.
const POP3_ONLY: &[&str] = &["pop3-down", "pop3-auth"];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A config with one probe for `user` under the four IMAP presets and `outlook_pop3` (with a
/// `[pop3]` endpoint on Dovecot's POP3): `deadline = 3s`, and the support module's
/// `timeout = 5s` (Dovecot answers a failed login only after its 2 s `auth_failure_delay`, so a
/// 2 s step timeout would turn `auth_rejected` into `timeout`).
fn config(dir: &Path, user: &str) -> Config {
    let spec = ProbeSpec {
        name: "faults",
        user,
        clients: &[
            "ios_mail",
            "outlook",
            "thunderbird",
            "gmail_android",
            "outlook_pop3",
        ],
        interval: "30s",
        deadline: "3s",
        extra: "",
    };
    let main = stack::write_config(dir, &[spec], "");
    let probe = dir.join("probes/faults.toml");
    let text = std::fs::read_to_string(&probe).expect("probe file");
    std::fs::write(
        &probe,
        format!(
            "{text}\n[pop3]\nhost = \"127.0.0.1\"\ntls_server_name = \"mail.{DOMAIN}\"\n\
             password_file = \"{STATE}/secrets/{user}.password\"\n"
        ),
    )
    .expect("probe file");
    Config::load(&main).unwrap_or_else(|e| panic!("config: {e}"))
}

/// One cycle of the instance under `profile`, with `shared`'s ledger (so a later cycle can
/// settle an earlier cycle's canary).
fn cycle(rt: &tokio::runtime::Runtime, shared: &Shared, config: &Config, profile: &str) -> Ran {
    let inst = instance(config, profile);
    rt.block_on(async {
        let mut mem = InstanceMemory::default();
        run_cycle(shared, &inst, &mut mem).await
    })
}

fn user_for(id: &str) -> &'static str {
    match id {
        "imap-auth" => "canary",
        "slow-delivery" => "dave",
        _ => "carol",
    }
}

/// Runs one row: fault on, one cycle, fault off. Extra checks for rows that promise more.
fn run_row(rt: &tokio::runtime::Runtime, row: &Row) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let user = user_for(&row.id);
    let config = config(dir.path(), user);
    let name: &'static str = KNOWN
        .iter()
        .find(|k| **k == row.id)
        .expect("known stack fault");
    let shared = shared(&config);
    let fault = Fault::on(name);
    if row.id == "imap-auth" {
        // Dovecot re-reads a changed passwd-file at most once a second.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let ran = cycle(rt, &shared, &config, &row.profile);
    println!(
        "{:<16} {:>6.2}s / {:>4.1}s  {}",
        row.id,
        ran.wall.as_secs_f64(),
        ran.budget.as_secs_f64(),
        ran.report
            .failure()
            .map(|f| f.to_string())
            .unwrap_or_else(|| "success".into())
    );
    let mut problems = check(row, &ran);
    if row.id == "imap-143-down" {
        // Only the STARTTLS-on-143 profile is broken: IMAPS on 993 still delivers.
        let other = cycle(rt, &shared, &config, "ios_mail");
        if !other.report.success() {
            problems.push(format!(
                "imap-143-down: ios_mail (993) should still deliver:\n{}",
                other.transcript
            ));
        }
    }
    if POP3_ONLY.contains(&name) {
        // POP3 alone is broken: the same server still delivers to an IMAP profile.
        let other = cycle(rt, &shared, &config, "ios_mail");
        if !other.report.success() {
            problems.push(format!(
                "{name}: ios_mail (IMAP) should still deliver:\n{}",
                other.transcript
            ));
        }
    }
    drop(fault);
    if row.id.starts_with("smtp-") && row.id.ends_with("fail") {
        // The rcpt-map faults only postmap the table; an idle smtpd process keeps the old
        // table for one more session. Reload so the next row starts from a clean Postfix.
        let _ = std::process::Command::new("postfix").arg("reload").output();
    }
    if row.id == "slow-delivery" {
        // Released: the next cycle delivers its own canary and records the first one late.
        std::thread::sleep(Duration::from_secs(2));
        let next = cycle(rt, &shared, &config, &row.profile);
        let first = ran.report.canary_id.clone().unwrap_or_default();
        let late = next
            .report
            .settled
            .iter()
            .any(|(id, o, _)| *id == first && *o == Outcome::Late);
        if !next.report.success() || !late {
            problems.push(format!(
                "slow-delivery: the next cycle should succeed and settle {first} late:\n{}",
                next.transcript
            ));
        }
    }
    problems
}

#[test]
fn the_document_lists_exactly_the_stack_faults_tested() {
    let doc: BTreeSet<String> = rows(Source::Stack).into_iter().map(|r| r.id).collect();
    let known: BTreeSet<String> = KNOWN.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        doc, known,
        "docs/failures.md (left) vs faults_stack.rs (right)"
    );
    for r in rows(Source::Stack) {
        assert!(
            r.produced.contains(&format!("`fault {} on`", r.id)),
            "{}: the row should say how the fault is produced: {}",
            r.id,
            r.produced
        );
    }
}

#[test]
fn every_real_stack_row_is_classified_exactly_and_within_the_deadline() {
    let waited = std::time::Instant::now();
    let _lock = stack::exclusive();
    println!("stack lock acquired after {:?}", waited.elapsed());
    stack::require_up();
    let rt = rt();
    let mut problems = Vec::new();
    let rows = rows(Source::Stack);
    for row in &rows {
        problems.extend(run_row(&rt, row));
    }
    // Canaries sent while IMAP or delivery was broken arrive afterwards; leave no trace.
    std::thread::sleep(Duration::from_secs(2));
    for user in ["carol", "dave"] {
        mailbox::empty(user);
    }
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
