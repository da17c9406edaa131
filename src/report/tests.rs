//! Outage windows and per-window canary outcomes from a hand-built ledger.

use super::*;
use crate::ledger::{NewCanary, Owner};
use std::time::Duration;

fn owner() -> Owner {
    Owner {
        probe: "p".into(),
        client: "ios".into(),
        region: "eu".into(),
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
    l.mark_accepted(id, sent, None).unwrap();
}

#[test]
fn outage_window_counts_the_canaries_sent_during_it() {
    let l = Ledger::in_memory().unwrap();
    let o = owner();
    l.record_cycle(&o, 100.0, None).unwrap();
    l.record_cycle(&o, 160.0, Some(("imap_login", "temp_fail")))
        .unwrap();
    l.record_cycle(&o, 220.0, Some(("imap_login", "temp_fail")))
        .unwrap();
    l.record_cycle(&o, 280.0, Some(("imap_connect", "refused")))
        .unwrap();
    l.record_cycle(&o, 340.0, None).unwrap();
    canary(&l, "before", 100.0);
    l.settle_seen("before", 1, 101.0).unwrap();
    for (i, t) in [160.0, 220.0, 280.0].iter().enumerate() {
        canary(&l, &format!("during{i}"), *t);
    }
    l.settle_seen("during0", 2, 400.0).unwrap();
    l.settle_seen("during1", 3, 400.0).unwrap();
    l.declare_lost(&o, 2000.0).unwrap();

    let r = build(&l, 0.0).unwrap();
    assert_eq!(r.instances.len(), 1);
    let i = &r.instances[0];
    assert_eq!((i.cycles, i.failed_cycles), (5, 3));
    assert_eq!(i.canaries.sent, 4);
    assert_eq!(i.outages.len(), 1);
    let out = &i.outages[0];
    assert_eq!(
        (out.start, out.end, out.failed_cycles),
        (160.0, Some(340.0), 3)
    );
    assert_eq!(
        (out.stage.as_str(), out.reason.as_str()),
        ("imap_login", "temp_fail")
    );
    assert_eq!(out.canaries.sent, 3);
    assert_eq!((out.canaries.late, out.canaries.lost), (2, 1));
    assert_eq!(out.canaries.worst_delay_seconds, Some(240.0));
    let text = render_text(&r);
    assert!(
        text.contains("3 sent, 0 on time, 2 late, 1 lost, worst delay 4m"),
        "{text}"
    );
}

#[test]
fn ongoing_outage_and_since() {
    let l = Ledger::in_memory().unwrap();
    l.record_cycle(&owner(), 50.0, Some(("connect", "refused")))
        .unwrap();
    l.record_cycle(&owner(), 150.0, Some(("connect", "refused")))
        .unwrap();
    let r = build(&l, 100.0).unwrap();
    assert_eq!(
        r.instances[0].cycles, 1,
        "cycles before --since are left out"
    );
    assert_eq!(r.instances[0].outages[0].end, None);
    assert!(render_text(&r).contains("still down"));
}

#[test]
fn a_fault_of_the_agent_itself_is_no_outage() {
    let l = Ledger::in_memory().unwrap();
    let o = owner();
    l.record_cycle(&o, 100.0, None).unwrap();
    l.record_cycle(&o, 160.0, Some(("auth", "internal")))
        .unwrap();
    l.record_cycle(&o, 220.0, Some(("data", "internal")))
        .unwrap();
    l.record_cycle(&o, 280.0, None).unwrap();
    let r = build(&l, 0.0).unwrap();
    let i = &r.instances[0];
    assert_eq!((i.cycles, i.failed_cycles), (4, 0));
    assert!(i.outages.is_empty(), "{:?}", i.outages);
}

#[test]
fn since_of_any_size_is_a_time_the_report_can_print_or_an_error() {
    let now = 1_700_000_000.0;
    for s in [
        "18446744073709551615s",
        "1e30",
        "1e300",
        "inf",
        "-inf",
        "NaN",
        "-1",
        "253402300800",
        "9999-12-31T23:59:59Z",
        "0",
        "100000years",
    ] {
        match parse_since(s, now) {
            Ok(t) => {
                assert!((0.0..=LAST_TIME).contains(&t), "{s}: {t}");
                assert!(!time(t).is_empty(), "{s}");
            }
            Err(e) => assert!(e.to_string().contains("--since"), "{s}: {e}"),
        }
    }
    for bad in ["1e300", "inf", "NaN", "-1", "253402300800"] {
        assert!(parse_since(bad, now).is_err(), "{bad} is out of range");
    }
    assert_eq!(
        parse_since("100000years", now).unwrap(),
        0.0,
        "before 1970: all"
    );
    for t in [f64::NAN, f64::INFINITY, -1.0, 1e300, LAST_TIME] {
        assert!(time(t).starts_with(['1', '9']), "{t}: {}", time(t));
    }
}

#[test]
fn since_forms() {
    assert_eq!(parse_since("1h", 10_000.0).unwrap(), 6_400.0);
    assert_eq!(
        parse_since("2023-01-22T00:00:00Z", 0.0).unwrap(),
        1_674_345_600.0
    );
    assert_eq!(parse_since("1674345600", 0.0).unwrap(), 1_674_345_600.0);
    assert!(parse_since("yesterday-ish", 0.0)
        .unwrap_err()
        .to_string()
        .contains("--since"));
}
