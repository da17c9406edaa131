//! Ledger state transitions: each outcome is counted once, whatever the order of events.

use super::*;

fn owner() -> Owner {
    Owner {
        probe: "p".into(),
        client: "c".into(),
        region: "r".into(),
    }
}

fn canary(l: &Ledger, id: &str, sent: f64) {
    l.record_sending(&NewCanary {
        id: id.into(),
        owner: owner(),
        sent_at: sent,
        deadline: Duration::from_secs(60),
        lost_after: Duration::from_secs(600),
    })
    .unwrap();
}

#[test]
fn on_time_late_and_each_copy_counted_once() {
    let l = Ledger::in_memory().unwrap();
    canary(&l, "a", 1000.0);
    l.mark_accepted("a", 1001.0, Some("Q1")).unwrap();
    canary(&l, "b", 1000.0);
    l.mark_accepted("b", 1001.0, None).unwrap();
    assert_eq!(l.in_flight(&owner()).unwrap(), 2);

    let s = l.settle_seen("a", 7, 1003.5).unwrap().unwrap();
    assert_eq!((s.outcome, s.delay), (Outcome::OnTime, 2.5));
    assert_eq!(
        l.settle_seen("a", 7, 1010.0).unwrap(),
        None,
        "same copy again"
    );
    let d = l.settle_seen("a", 9, 1010.0).unwrap().unwrap();
    assert_eq!(d.outcome, Outcome::Duplicate);

    let s = l.settle_seen("b", 8, 1201.0).unwrap().unwrap();
    assert_eq!((s.outcome, s.delay), (Outcome::Late, 200.0));
    assert_eq!(l.in_flight(&owner()).unwrap(), 0);
    assert_eq!(l.settle_seen("nope", 1, 1.0).unwrap(), None);
}

#[test]
fn lost_then_recovered() {
    let l = Ledger::in_memory().unwrap();
    canary(&l, "a", 1000.0);
    l.mark_accepted("a", 1000.0, None).unwrap();
    assert!(l.declare_lost(&owner(), 1500.0).unwrap().is_empty());
    assert_eq!(
        l.declare_lost(&owner(), 1601.0).unwrap(),
        vec!["a".to_string()]
    );
    assert!(
        l.declare_lost(&owner(), 1700.0).unwrap().is_empty(),
        "lost once"
    );
    assert_eq!(l.in_flight(&owner()).unwrap(), 0);
    assert_eq!(
        l.open_canaries(&owner()).unwrap().len(),
        1,
        "lost ones are still watched"
    );
    let s = l.settle_seen("a", 3, 2000.0).unwrap().unwrap();
    assert_eq!((s.outcome, s.delay), (Outcome::Recovered, 1000.0));
    assert!(l.open_canaries(&owner()).unwrap().is_empty());
}

#[test]
fn never_confirmed_is_not_lost_and_rejected_is_not_open() {
    let l = Ledger::in_memory().unwrap();
    canary(&l, "s", 1000.0);
    canary(&l, "r", 1000.0);
    l.mark_rejected("r").unwrap();
    assert!(l.declare_lost(&owner(), 5000.0).unwrap().is_empty());
    assert!(l.open_canaries(&owner()).unwrap().is_empty());
}

#[test]
fn corrupt_counts_once() {
    let l = Ledger::in_memory().unwrap();
    canary(&l, "a", 1000.0);
    l.mark_accepted("a", 1000.0, None).unwrap();
    assert!(l.mark_corrupt("a", 4).unwrap());
    assert!(!l.mark_corrupt("a", 4).unwrap());
}

#[test]
fn survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/ledger.db");
    {
        let l = Ledger::open(&path).unwrap();
        canary(&l, "a", 1000.0);
        l.mark_accepted("a", 1000.0, None).unwrap();
    }
    let l = Ledger::open(&path).unwrap();
    assert_eq!(l.in_flight(&owner()).unwrap(), 1);
    assert_eq!(
        l.settle_seen("a", 1, 1030.0).unwrap().unwrap().outcome,
        Outcome::OnTime
    );
}

#[test]
fn the_end_of_a_cycle_declares_lost_records_the_cycle_and_counts_what_is_open() {
    let l = Ledger::in_memory().unwrap();
    canary(&l, "old", 1000.0);
    l.mark_accepted("old", 1000.0, None).unwrap();
    canary(&l, "new", 1590.0);
    l.mark_accepted("new", 1591.0, None).unwrap();
    canary(&l, "seen", 1590.0);
    l.mark_accepted("seen", 1591.0, None).unwrap();
    l.settle_seen("seen", 3, 1592.0).unwrap();

    let end = l
        .end_cycle(
            &owner(),
            1601.0,
            1590.0,
            Some(("delivery", "not_delivered")),
        )
        .unwrap();
    assert_eq!(
        end,
        CycleEnd {
            lost: vec!["old".to_string()],
            in_flight: 1,
            // "new" in flight, and "old", now lost, may still be recovered.
            open: 2,
        }
    );
    let cycles: Vec<(f64, bool, Option<String>)> = l
        .query(|db| {
            let mut st = db.prepare("SELECT started_at, ok, stage FROM cycles")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .unwrap();
    assert_eq!(cycles, vec![(1590.0, false, Some("delivery".to_string()))]);

    l.settle_seen("new", 4, 1602.0).unwrap();
    let end = l.end_cycle(&owner(), 1603.0, 1602.0, None).unwrap();
    assert_eq!((end.lost.len(), end.in_flight, end.open), (0, 0, 1));
}

#[test]
fn junk_settles_once_and_a_copy_moved_back_to_the_mailbox_is_not_counted_again() {
    let l = Ledger::in_memory().unwrap();
    canary(&l, "a", 1000.0);
    l.mark_accepted("a", 1001.0, None).unwrap();
    let s = l.settle_seen_in("a", 4, 1061.0, true).unwrap().unwrap();
    assert_eq!((s.outcome, s.delay), (Outcome::Junk, 60.0));
    assert_eq!(l.in_flight(&owner()).unwrap(), 0);
    assert!(l.open_canaries(&owner()).unwrap().is_empty());
    assert_eq!(
        l.settle_seen_in("a", 4, 1070.0, true).unwrap(),
        None,
        "same copy in Junk again"
    );
    assert_eq!(
        l.settle_seen("a", 9, 1100.0).unwrap(),
        None,
        "moved back into the mailbox: settled already"
    );
    // Declared lost, then found in Junk: junk, not recovered.
    canary(&l, "b", 1000.0);
    l.mark_accepted("b", 1000.0, None).unwrap();
    assert_eq!(
        l.declare_lost(&owner(), 1601.0).unwrap(),
        vec!["b".to_string()]
    );
    let s = l.settle_seen_in("b", 5, 2000.0, true).unwrap().unwrap();
    assert_eq!((s.outcome, s.delay), (Outcome::Junk, 1000.0));
    // Seen in the mailbox first: a later copy in Junk is a duplicate, not junk.
    canary(&l, "c", 1000.0);
    l.mark_accepted("c", 1000.0, None).unwrap();
    assert_eq!(
        l.settle_seen("c", 6, 1001.0).unwrap().unwrap().outcome,
        Outcome::OnTime
    );
    assert_eq!(
        l.settle_seen_in("c", 7, 1002.0, true)
            .unwrap()
            .unwrap()
            .outcome,
        Outcome::Duplicate
    );
}
