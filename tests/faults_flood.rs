//! Hostile servers that send more than any reply may hold: the `Flood` rows of the fault-server
//! table in `docs/failures.md` (a 10 MB SMTP greeting or EHLO line, an endless multi-line EHLO
//! reply, a 10 MB IMAP greeting line, endless untagged IMAP responses, a 500 MB IMAP literal
//! announcement). For each, one real agent cycle runs in this process against the embedded
//! fault server, and the test asserts:
//!
//! - the row's exact (`stage`, `reason`), words and limit text (as `faults_demo` does);
//! - the failing step, which began before the server started sending, lasted under 1 s: the
//!   limit is enforced as the bytes arrive, not at the step's timeout (2 s here);
//! - the process's peak RSS grew by less than 4 MiB over the cycle (the peak is reset just
//!   before it, through `/proc/self/clear_refs`), though the server offers 10 MB to 500 MB, or
//!   without end. The server streams from one small buffer, so the growth is the client's.
//!
//! It prints the figures. The scenarios run one after another, and the cycles of the other test
//! here wait for them, so that nothing else in this process allocates while one is measured. The literal limit is the probe's
//! `imap_max_literal`: a test shows a literal read under the default and refused under a lower
//! setting, and one that values out of range are config errors naming file, line and field.

mod faults_common;

use faults_common::demo::{scenarios, setup, setup_with, TIMEOUT};
use faults_common::{check, instance, rows, run_cycle, shared, Source};
use mailcanary::config::Config;
use mailcanary::demo::{Action, Fault, Flood, ImapStep};
use mailcanary::probe::cycle::InstanceMemory;
use mailcanary::probe::{Reason, Stage};
use std::time::Duration;

/// How much the peak RSS may grow over one flooded cycle: under 10 MB is the requirement; 4 MiB
/// is tighter, so that buffering a 10 MB line (which peaks just under 10 MB) fails the test too.
const MAX_GROWTH_KB: u64 = 4 * 1024;
/// The cycles of this file run one at a time, so that none allocates while another is measured.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long the failing step may take: the limit must act within this of the flood starting.
const PROMPT: Duration = Duration::from_secs(1);

/// A field of /proc/self/status, in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// Resets the peak RSS to the current RSS (Linux: write 5 to clear_refs).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5")
        .expect("reset VmHWM through /proc/self/clear_refs");
}

fn is_flood(f: &Fault) -> bool {
    matches!(
        f,
        Fault::Smtp(_, Action::Flood(_)) | Fault::Imap(_, Action::Flood(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_servers_fail_promptly_as_protocol_errors_with_flat_memory() {
    let _serial = SERIAL.lock().await;
    let doc = rows(Source::Demo);
    let floods: Vec<_> = scenarios()
        .into_iter()
        .filter(|s| s.faults.iter().any(is_flood))
        .collect();
    assert!(
        floods.len() >= 5,
        "the flood rows of docs/failures.md: {}",
        floods.len()
    );
    assert!(
        TIMEOUT > PROMPT,
        "a step timeout would not tell slow from prompt"
    );
    let mut problems = Vec::new();
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>8}  failure",
        "row", "step", "RSS kB", "peak kB", "+kB"
    );
    for sc in &floods {
        let row = doc.iter().find(|r| r.id == sc.id).expect("row in docs");
        let st = setup(&row.profile).await;
        let inst = instance(&st.config, &row.profile);
        let shared = shared(&st.config);
        let mut mem = InstanceMemory::default();
        // A clean cycle first, so that what any first cycle allocates is not counted.
        let warm = run_cycle(&shared, &inst, &mut mem).await;
        assert!(warm.pair().is_none(), "{}: warm-up cycle failed", row.id);
        for f in &sc.faults {
            st.server.faults().set(f.clone());
        }
        let mut mem = InstanceMemory::default();
        reset_peak();
        let before = status_kb("VmRSS");
        let ran = run_cycle(&shared, &inst, &mut mem).await;
        let peak = status_kb("VmHWM");
        st.server.shutdown().await;
        let growth = peak.saturating_sub(before);
        let step = ran
            .report
            .steps
            .iter()
            .find(|s| s.stage == row.stage && s.result.is_err())
            .map(|s| s.duration);
        println!(
            "{:<26} {:>10} {:>10} {:>10} {:>8}  {}",
            row.id,
            step.map(|d| format!("{:.3}s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
            before,
            peak,
            growth,
            ran.report
                .failure()
                .map(|f| f.to_string())
                .unwrap_or_default()
        );
        problems.extend(check(row, &ran));
        match step {
            Some(d) if d < PROMPT => {}
            other => problems.push(format!(
                "{}: the failing {} step took {other:?}, not under {PROMPT:?}",
                row.id, row.stage
            )),
        }
        if growth >= MAX_GROWTH_KB {
            problems.push(format!(
                "{}: peak RSS grew by {growth} kB (from {before} to {peak} kB), limit {MAX_GROWTH_KB} kB",
                row.id
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// One cycle against a server whose FETCH answer carries a literal of `size` bytes (the whole
/// literal is sent, then the connection closed), with `extra` probe keys.
async fn fetch_literal(size: u64, extra: &str) -> faults_common::Ran {
    let st = setup_with("ios_mail", extra).await;
    st.server.faults().set(Fault::Imap(
        ImapStep::Fetch,
        Action::Flood(Flood::Literal(size)),
    ));
    let inst = instance(&st.config, "ios_mail");
    let ran = run_cycle(&shared(&st.config), &inst, &mut InstanceMemory::default()).await;
    st.server.shutdown().await;
    ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_literal_limit_is_the_probes_imap_max_literal() {
    let _serial = SERIAL.lock().await;
    // 200 000 bytes: within the 1 MiB default, so the literal is read, and the cycle fails only
    // when the server then hangs up; over a limit of 131 072, it fails when announced.
    let within = fetch_literal(200_000, "").await;
    let over = fetch_literal(200_000, "imap_max_literal = 131072").await;
    let failure = |ran: &faults_common::Ran| {
        let f = ran.report.failure().cloned().expect("the cycle fails");
        println!("{f}");
        (f.stage, f.reason, f.detail)
    };
    let (stage, reason, detail) = failure(&within);
    assert_eq!(
        (stage, reason),
        (Stage::ImapFetch, Reason::Reset),
        "{detail}"
    );
    let (stage, reason, detail) = failure(&over);
    assert_eq!(
        (stage, reason),
        (Stage::ImapFetch, Reason::ProtocolError),
        "{detail}"
    );
    assert!(
        detail.contains("literal of 200000 bytes announced: over the limit of 131072 bytes"),
        "{detail}"
    );
}

#[test]
fn imap_max_literal_out_of_range_is_an_error_naming_file_line_and_field() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::write(d.join("hmac.key"), "k".repeat(32)).expect("key");
    std::fs::write(d.join("pw"), "secret").expect("password");
    std::fs::write(
        d.join("mailcanary.toml"),
        "[agent]\nregion = \"t\"\nhmac_key_file = \"hmac.key\"\nprobes = [\"p.toml\"]\n",
    )
    .expect("main");
    for (value, ok) in [
        ("65535", false),
        ("65536", true),
        ("-1", false),
        ("1073741824", true),
        ("1073741825", false),
        ("9223372036854775807", false),
    ] {
        std::fs::write(
            d.join("p.toml"),
            format!(
                "clients = [\"ios_mail\"]\nfrom = \"a@example.test\"\nto = \"a@example.test\"\n\
                 imap_max_literal = {value}\n\n[smtp]\nhost = \"127.0.0.1\"\npassword_file = \"pw\"\n\n\
                 [imap]\nhost = \"127.0.0.1\"\npassword_file = \"pw\"\n"
            ),
        )
        .expect("probe");
        let loaded = Config::load(&d.join("mailcanary.toml"));
        match (ok, loaded) {
            (true, Ok(c)) => assert_eq!(c.probes[0].imap_max_literal.to_string(), value),
            (false, Err(e)) => {
                let e = e.to_string();
                let want = format!(
                    "p.toml:4:20: imap_max_literal: must be a number of bytes from 65536 to \
                     1073741824, got {value}"
                );
                assert!(e.contains(&want), "{value}: {e}");
            }
            (_, other) => panic!("imap_max_literal = {value}: {other:?}"),
        }
    }
}
