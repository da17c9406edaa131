//! `mailcanary once` (the binary) against representative faults of the fault server: it exits 1,
//! names the failing stage and reason in words (those of the row in `docs/failures.md`; that
//! the document's words are the code's is checked by `faults_demo`), shows the server's
//! reply, and never prints the probe's password, not even when the server echoes it back (plain
//! or inside a base64 SASL message).

mod faults_common;

use base64::Engine;
use faults_common::demo::{scenarios, setup};
use faults_common::{rows, Source};
use mailcanary::demo::command::{PASSWORD, USER};
use mailcanary::demo::{Action, Fault, ImapStep, SmtpStep};
use std::path::Path;
use std::time::Duration;

/// Runs the binary's `once` on `config`; returns (exit code, stdout, stderr).
async fn once(config: &Path) -> (Option<i32>, String, String) {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailcanary"))
        .args(["once", "-c"])
        .arg(config)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("once finished within 30 s")
        .expect("run mailcanary once");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_no_secret(text: &str) {
    let b64 = base64::engine::general_purpose::STANDARD;
    for leak in [
        PASSWORD.to_string(),
        b64.encode(PASSWORD),
        b64.encode(format!("\0{USER}\0{PASSWORD}")),
    ] {
        assert!(!text.contains(&leak), "secret {leak:?} printed:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_names_stage_reason_and_reply_for_representative_faults() {
    let ids = [
        "smtp-451-rcpt",
        "smtp-auth-535",
        "smtp-cert-expired",
        "imap-stall-greeting",
        "imap-select-no",
        "delivery-held",
    ];
    let doc = rows(Source::Demo);
    let scenarios = scenarios();
    for id in ids {
        let row = doc
            .iter()
            .find(|r| r.id == id)
            .expect("row in docs/failures.md");
        let sc = scenarios.iter().find(|s| s.id == id).expect("scenario");
        let st = setup(&row.profile).await;
        for f in &sc.faults {
            st.server.faults().set(f.clone());
        }
        let (code, out, err) = once(&st.dir.path().join("mailcanary.toml")).await;
        assert_eq!(code, Some(1), "{id}: exit code\n{out}\n{err}");
        let result = format!(
            "RESULT: FAILED at {} ({}): {}",
            row.stage.as_str(),
            row.stage.describe(),
            row.reason.describe()
        );
        assert!(out.contains(&result), "{id}: lacks {result:?}:\n{out}");
        if let Some(reply) = &row.reply {
            let said = out
                .lines()
                .find(|l| l.trim_start().starts_with("server/error said: "))
                .unwrap_or_default();
            assert!(
                said.contains(reply.as_str()),
                "{id}: {reply:?} not said:\n{out}"
            );
        }
        assert_no_secret(&out);
        assert_no_secret(&err);
        st.server.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_echoing_the_password_cannot_make_once_print_it() {
    let b64 = base64::engine::general_purpose::STANDARD;
    let sasl = b64.encode(format!("\0{USER}\0{PASSWORD}"));
    let cases = [
        (
            "ios_mail",
            Fault::Smtp(
                SmtpStep::Auth,
                Action::Reply(535, format!("5.7.8 bad credentials {PASSWORD} ({sasl})")),
            ),
            "RESULT: FAILED at auth (SMTP authentication): credentials rejected",
            "535 5.7.8 bad credentials [redacted] ([redacted])",
        ),
        (
            "outlook",
            Fault::Imap(
                ImapStep::Login,
                Action::No(format!("password {PASSWORD} is wrong")),
            ),
            "RESULT: FAILED at imap_login (IMAP login): credentials rejected",
            "NO [AUTHENTICATIONFAILED] password [redacted] is wrong",
        ),
    ];
    for (profile, fault, result, said) in cases {
        let st = setup(profile).await;
        st.server.faults().set(fault);
        let (code, out, err) = once(&st.dir.path().join("mailcanary.toml")).await;
        assert_eq!(code, Some(1), "{out}\n{err}");
        assert!(out.contains(result), "lacks {result:?}:\n{out}");
        assert!(out.contains(said), "lacks {said:?}:\n{out}");
        assert_no_secret(&out);
        assert_no_secret(&err);
        st.server.shutdown().await;
    }
}
