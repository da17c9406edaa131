//! Every row of the fault-server table in `docs/failures.md`, run as one real agent cycle
//! against the embedded fault server: the cycle's failure is exactly the row's (`stage`,
//! `reason`), `once` prints the row's words and the server's reply, and the cycle ends within its
//! hard deadline plus one second (measured). The expected pairs live only in the document; the
//! scenarios (which faults produce a row) live in `faults_common/demo.rs`, and a test checks the
//! two list exactly the same rows.

mod faults_common;

use faults_common::demo::{run_row, scenarios, setup, Scenario, DEADLINE};
use faults_common::{check, instance, rows, run_cycle, shared, Row, Source};
use mailcanary::demo::setup::USER;
use mailcanary::demo::{DeliveryFault, Fault};
use mailcanary::ledger::Outcome;
use mailcanary::probe::cycle::InstanceMemory;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Rows run at once; each has its own server, so they are independent.
const PARALLEL: usize = 8;

#[test]
fn the_document_and_the_scenarios_list_the_same_rows() {
    let doc = rows(Source::Demo);
    let scenarios = scenarios();
    let doc_ids: BTreeSet<&str> = doc.iter().map(|r| r.id.as_str()).collect();
    let sc_ids: BTreeSet<&str> = scenarios.iter().map(|s| s.id).collect();
    assert_eq!(
        doc_ids.len(),
        doc.len(),
        "duplicate row id in docs/failures.md"
    );
    assert_eq!(sc_ids.len(), scenarios.len(), "duplicate scenario id");
    assert_eq!(
        doc_ids, sc_ids,
        "docs/failures.md (left) and faults_common/demo.rs (right) disagree"
    );
    // The "how it is produced" column names each fault exactly as the test sets it.
    for sc in &scenarios {
        let row = doc.iter().find(|r| r.id == sc.id).expect("row");
        for f in &sc.faults {
            let shown = format!("{f:?}");
            assert!(
                row.produced.contains(&shown),
                "{}: the document should name the fault {shown}, says: {}",
                sc.id,
                row.produced
            );
        }
    }
    assert!(doc.len() >= 24, "at least 24 fault-server rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_server_row_is_classified_exactly_and_within_the_deadline() {
    let doc = rows(Source::Demo);
    let scenarios: Vec<Arc<Scenario>> = scenarios().into_iter().map(Arc::new).collect();
    let gate = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = Vec::new();
    for row in doc {
        let Some(sc) = scenarios.iter().find(|s| s.id == row.id).cloned() else {
            continue; // reported by the_document_and_the_scenarios_list_the_same_rows
        };
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            let ran = run_row(&row, &sc).await;
            (row, ran)
        }));
    }
    let mut problems = Vec::new();
    let mut max_overrun = Duration::ZERO;
    let mut slowest = (String::new(), Duration::ZERO, Duration::ZERO);
    let n = tasks.len();
    for t in tasks {
        let (row, ran): (Row, _) = t.await.expect("row task panicked");
        println!(
            "{:<30} {:>7.2}s / {:>5.1}s  {}",
            row.id,
            ran.wall.as_secs_f64(),
            ran.budget.as_secs_f64(),
            ran.report
                .failure()
                .map(|f| f.to_string())
                .unwrap_or_else(|| "success".into())
        );
        max_overrun = max_overrun.max(ran.overrun());
        if ran.wall > slowest.1 {
            slowest = (row.id.clone(), ran.wall, ran.budget);
        }
        problems.extend(check(&row, &ran));
    }
    println!(
        "{n} rows; slowest {} took {:?} of a {:?} hard deadline; max overrun past the deadline {:?}",
        slowest.0, slowest.1, slowest.2, max_overrun
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The `delivery-late` row, continued: the canary the first cycle declared not delivered is
/// recorded as `late` by the next cycle, which itself succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_canary_is_settled_late_by_the_next_cycle() {
    let st = setup("ios_mail").await;
    let delay = DEADLINE + Duration::from_secs(1);
    st.server
        .faults()
        .set(Fault::Delivery(DeliveryFault::Delay(delay)));
    let inst = instance(&st.config, "ios_mail");
    let shared = shared(&st.config);
    let mut mem = InstanceMemory::default();
    let first = run_cycle(&shared, &inst, &mut mem).await;
    let f = first.report.failure().cloned().expect("first cycle fails");
    assert_eq!(
        (f.stage.as_str(), f.reason.as_str()),
        ("delivery", "not_delivered")
    );
    let late_id = first.report.canary_id.clone().expect("canary id");
    st.server.faults().clear_all();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let second = run_cycle(&shared, &inst, &mut mem).await;
    assert!(second.report.success(), "{}", second.transcript);
    let late: Vec<_> = second
        .report
        .settled
        .iter()
        .filter(|(id, o, _)| *id == late_id && *o == Outcome::Late)
        .collect();
    assert_eq!(late.len(), 1, "{}", second.transcript);
    assert!(late[0].2 >= DEADLINE.as_secs_f64(), "delay {}", late[0].2);
    st.server.shutdown().await;
}

/// A polling profile whose canary lands between two looks, the next of which would come after
/// the deadline: the last look is made so that it ends by the deadline, finds the canary on
/// time, and the cycle and the ledger agree (a success, settled `on_time`), over IMAP and over
/// POP3 alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_found_by_the_last_look_at_the_deadline_is_on_time() {
    for profile in ["outlook", "outlook_pop3"] {
        let st = setup(profile).await;
        // The first look (at once) misses it; the next is due after the deadline.
        st.server
            .faults()
            .set(Fault::Delivery(DeliveryFault::Delay(DEADLINE / 2)));
        let inst = instance(&st.config, profile);
        let shared = shared(&st.config);
        let mut mem = InstanceMemory::default();
        let ran = run_cycle(&shared, &inst, &mut mem).await;
        let r = &ran.report;
        assert!(
            r.success(),
            "{profile}: {:?}\n{}",
            r.failure(),
            ran.transcript
        );
        let id = r.canary_id.clone().expect("canary id");
        let settled: Vec<(Outcome, f64)> = (r.settled.iter())
            .filter(|(s, _, _)| *s == id)
            .map(|(_, o, d)| (*o, *d))
            .collect();
        assert_eq!(
            settled.len(),
            1,
            "{profile}: settled once\n{}",
            ran.transcript
        );
        let (outcome, delay) = settled[0];
        assert_eq!(outcome, Outcome::OnTime, "{profile}: delay {delay}");
        assert!(
            delay > (DEADLINE / 2).as_secs_f64(),
            "{profile}: delay {delay}"
        );
        let delivery = r.delivery.expect("a delivery time");
        assert!(delivery <= DEADLINE, "{profile}: {delivery:?}");
        println!("{profile}: found by the last look, {delay:.3} s after acceptance");
        st.server.shutdown().await;
    }
}

/// POP3 deletes only at QUIT: a session dropped at QUIT (after its DELE) deletes nothing, and
/// the canary, settled once already, is deleted by the next cycle's session without being
/// counted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pop3_session_dropped_at_quit_deletes_nothing_and_the_next_deletes_once() {
    use mailcanary::demo::{Action, Pop3Step};
    let st = setup("outlook_pop3").await;
    let quit = Fault::Pop3(Pop3Step::Quit, Action::Reset);
    st.server.faults().set(quit.clone());
    let inst = instance(&st.config, "outlook_pop3");
    let shared = shared(&st.config);
    let mut mem = InstanceMemory::default();
    let first = run_cycle(&shared, &inst, &mut mem).await;
    let f = first
        .report
        .failure()
        .cloned()
        .expect("the first cycle fails");
    assert_eq!((f.stage.as_str(), f.reason.as_str()), ("cleanup", "reset"));
    let id = first.report.canary_id.clone().expect("canary id");
    let found = |id: &str| {
        let store = st.server.store();
        store
            .search_header(USER, "INBOX", "X-Mailcanary-Id", id)
            .len()
    };
    assert_eq!(found(&id), 1, "DELE without QUIT deleted the canary");
    let settled = |r: &mailcanary::probe::cycle::CycleReport| {
        r.settled.iter().filter(|(s, _, _)| *s == id).count()
    };
    assert_eq!(settled(&first.report), 1, "{}", first.transcript);
    st.server.faults().clear(&quit);
    let second = run_cycle(&shared, &inst, &mut mem).await;
    assert!(second.report.success(), "{}", second.transcript);
    assert_eq!(found(&id), 0, "deleted by the next session");
    assert_eq!(
        settled(&second.report),
        0,
        "counted once: {}",
        second.transcript
    );
    st.server.shutdown().await;
}

/// A server that answers every step, each just within the step timeout (a drip of ~1.4 s per
/// reply), while holding the canary: no single step times out, but together they outrun the
/// cycle's hard deadline, which cuts the cycle off while it waits for the canary, as a
/// `timeout` at that stage, on time. Also: greeting and EHLO each get their own step timeout
/// although one library call does both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_slow_at_every_step_is_cut_off_by_the_hard_deadline() {
    // IDLE (ios_mail) and polling (outlook) watch differently; both are cut off the same way.
    let (idle, poll) = tokio::join!(
        slow_at_every_step("ios_mail"),
        slow_at_every_step("outlook")
    );
    idle.expect("ios_mail");
    poll.expect("outlook");
}

async fn slow_at_every_step(profile: &str) -> Result<(), String> {
    use mailcanary::demo::{Action, SmtpStep};
    let st = setup(profile).await;
    let per_byte = |reply_len: u64| Action::Drip(Duration::from_millis(1400 / reply_len));
    // Reply lengths of the demo server, in bytes: the drip makes each last about 1.4 s.
    for (step, len) in [
        (SmtpStep::Greeting, 45),
        (SmtpStep::Ehlo, 140),
        (SmtpStep::Auth, 37),
        (SmtpStep::MailFrom, 14),
        (SmtpStep::RcptTo, 14),
        (SmtpStep::Data, 37),
    ] {
        st.server.faults().set(Fault::Smtp(step, per_byte(len)));
    }
    st.server.faults().set(Fault::Delivery(DeliveryFault::Hold));
    let inst = instance(&st.config, profile);
    let shared = shared(&st.config);
    let mut mem = InstanceMemory::default();
    let ran = run_cycle(&shared, &inst, &mut mem).await;
    st.server.shutdown().await;
    println!(
        "{profile}: wall {:?}, hard deadline {:?}\n{}",
        ran.wall, ran.budget, ran.transcript
    );
    let pair = ran
        .report
        .failure()
        .map(|f| (f.stage.as_str(), f.reason.as_str()));
    let slowest_step = ran
        .report
        .steps
        .iter()
        .filter(|s| s.result.is_ok())
        .map(|s| s.duration)
        .max()
        .unwrap_or_default();
    let checks = [
        (
            pair == Some(("imap_search", "timeout")),
            "failure is (imap_search, timeout)",
        ),
        (ran.report.accepted.is_some(), "every SMTP step finished"),
        (
            slowest_step < Duration::from_secs(2),
            "no step reached its own timeout",
        ),
        (
            ran.wall >= ran.budget - Duration::from_millis(500),
            "cut off by the hard deadline, not earlier",
        ),
        (
            ran.wall <= ran.budget + Duration::from_secs(1),
            "within the hard deadline + 1 s",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        None => Ok(()),
        Some((_, what)) => Err(format!(
            "{profile}: not so: {what} (wall {:?}, slowest step {slowest_step:?})\n{}",
            ran.wall, ran.transcript
        )),
    }
}
