//! Unit tests of the fault switchboard: slots, protocols, change notification.

use super::*;

#[test]
fn set_replaces_same_slot_and_clear_ignores_payload() {
    let f = Faults::new();
    f.set(Fault::Smtp(
        SmtpStep::RcptTo,
        Action::Reply(451, "4.3.0 a".into()),
    ));
    f.set(Fault::Smtp(
        SmtpStep::RcptTo,
        Action::Reply(550, "5.1.1 b".into()),
    ));
    assert_eq!(f.active().len(), 1);
    assert_eq!(
        f.smtp(SmtpStep::RcptTo),
        Some(Action::Reply(550, "5.1.1 b".into()))
    );
    assert_eq!(f.smtp(SmtpStep::MailFrom), None);
    f.clear(&Fault::Smtp(SmtpStep::RcptTo, Action::Stall));
    assert_eq!(f.smtp(SmtpStep::RcptTo), None);
    assert!(f.active().is_empty());
}

#[test]
fn protocols_and_slots_are_independent() {
    let f = Faults::new();
    f.set(Fault::Smtp(SmtpStep::Greeting, Action::Refuse));
    f.set(Fault::Imap(ImapStep::Select, Action::No("nope".into())));
    f.set(Fault::Cert(Proto::Imap, CertFault::Expired));
    f.set(Fault::Delivery(DeliveryFault::Duplicate));
    f.set(Fault::Delivery(DeliveryFault::Delay(Duration::from_secs(
        3,
    ))));
    assert!(f.refused(Proto::Smtp));
    assert!(!f.refused(Proto::Imap));
    assert_eq!(f.cert(Proto::Imap), Some(CertFault::Expired));
    assert_eq!(f.cert(Proto::Smtp), None);
    let plan = f.delivery_plan();
    assert!(plan.duplicate && !plan.hold && !plan.corrupt);
    assert_eq!(plan.extra_delay, Duration::from_secs(3));
    f.clear(&Fault::Delivery(DeliveryFault::Duplicate));
    assert!(!f.delivery_plan().duplicate);
    assert_eq!(f.delivery_plan().extra_delay, Duration::from_secs(3));
    f.clear_all();
    assert!(f.active().is_empty());
}

#[test]
fn changes_are_observable() {
    let f = Faults::new();
    let mut rx = f.subscribe();
    assert!(!rx.has_changed().unwrap());
    f.set(Fault::Idle(IdleFault::NeverPush));
    assert!(rx.has_changed().unwrap());
    rx.mark_unchanged();
    f.clone().clear_all();
    assert!(rx.has_changed().unwrap());
    assert_eq!(f.idle(), None);
}

#[test]
fn reject_auth_sets_every_protocol() {
    let f = Faults::new();
    f.reject_auth();
    assert!(matches!(
        f.smtp(SmtpStep::Auth),
        Some(Action::Reply(535, _))
    ));
    assert!(matches!(f.imap(ImapStep::Login), Some(Action::No(_))));
    assert!(matches!(f.pop3(Pop3Step::Auth), Some(Action::No(_))));
}

#[test]
fn pop3_slots_are_their_own() {
    let f = Faults::new();
    f.set(Fault::Pop3(Pop3Step::Greeting, Action::Refuse));
    f.set(Fault::Pop3(Pop3Step::Uidl, Action::Flood(Flood::Endless)));
    assert!(f.refused(Proto::Pop3));
    assert!(!f.refused(Proto::Imap) && !f.refused(Proto::Smtp));
    assert_eq!(f.imap(ImapStep::Greeting), None);
    assert_eq!(f.pop3(Pop3Step::Uidl), Some(Action::Flood(Flood::Endless)));
    f.clear(&Fault::Pop3(Pop3Step::Uidl, Action::Stall));
    assert_eq!(f.pop3(Pop3Step::Uidl), None);
    assert!(f.refused(Proto::Pop3));
}
