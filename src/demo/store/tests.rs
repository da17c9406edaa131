//! Unit tests of the in-memory store (`store/`).

use super::*;
use std::time::Instant;

fn store() -> Store {
    Store::new(
        vec![
            User::new("Alice@Example.test", "pw").with_token("tok-a"),
            User::new("bob@example.test", "pw2"),
        ],
        "X-Mailcanary-Id".into(),
    )
}

const MSG: &[u8] = b"Subject: hi\r\nX-Mailcanary-Id: c-1\r\n\r\nbody\r\n";

#[test]
fn users_and_credentials() {
    let s = store();
    assert_eq!(
        s.resolve_user("alice@example.TEST").as_deref(),
        Some("Alice@Example.test")
    );
    assert_eq!(
        s.check_password("alice@example.test", "pw").as_deref(),
        Some("Alice@Example.test")
    );
    assert_eq!(s.check_password("alice@example.test", "PW"), None);
    assert_eq!(
        s.check_token("alice@example.test", "tok-a").as_deref(),
        Some("Alice@Example.test")
    );
    assert_eq!(s.check_token("bob@example.test", "tok-a"), None);
    assert_eq!(s.resolve_user("nobody@example.test"), None);
    assert_eq!(s.mailboxes("bob@example.test"), vec!["INBOX".to_string()]);
}

#[test]
fn append_assigns_increasing_uids_and_keeps_bytes() {
    let s = store();
    let a = s
        .append("alice@example.test", "inbox", MSG, &["\\seen"])
        .unwrap();
    let b = s.append("alice@example.test", "INBOX", b"x", &[]).unwrap();
    assert!(b > a);
    let msgs = s.messages("alice@example.test", "INBOX").unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(&msgs[0].bytes[..], MSG);
    assert_eq!(msgs[0].flags, vec!["\\Seen".to_string()]);
    assert_eq!(s.count("alice@example.test", "INBOX"), 2);
    assert_eq!(s.count("alice@example.test", "Nope"), 0);
    assert_eq!(
        s.append("alice@example.test", "Nope", b"x", &[]),
        Err(StoreError::NoSuchMailbox)
    );
    assert_eq!(
        s.append("carol@example.test", "INBOX", b"x", &[]),
        Err(StoreError::NoSuchUser)
    );
}

#[test]
fn mailboxes_create_delete() {
    let s = store();
    s.create_mailbox("bob@example.test", "Archive").unwrap();
    assert_eq!(
        s.create_mailbox("bob@example.test", "Archive"),
        Err(StoreError::MailboxExists)
    );
    assert_eq!(
        s.create_mailbox("bob@example.test", "inbox"),
        Err(StoreError::MailboxExists)
    );
    let i1 = s.info("bob@example.test", "INBOX").unwrap();
    let i2 = s.info("bob@example.test", "Archive").unwrap();
    assert_ne!(i1.uid_validity, i2.uid_validity);
    assert_eq!(i2.uid_next, 1);
    s.delete_mailbox("bob@example.test", "Archive").unwrap();
    assert_eq!(
        s.delete_mailbox("bob@example.test", "INBOX"),
        Err(StoreError::InvalidName)
    );
}

#[test]
fn flags_expunge_only_named_uids() {
    let s = store();
    let u = "alice@example.test";
    let a = s.append(u, "INBOX", b"a", &[]).unwrap();
    let b = s.append(u, "INBOX", b"b", &["\\Deleted"]).unwrap();
    let c = s.append(u, "INBOX", b"c", &[]).unwrap();
    let r = s.set_flags(u, "INBOX", &[a, c, 999], FlagOp::Add, &["\\deleted".into()]);
    assert_eq!(r.len(), 2);
    assert_eq!(s.expunge(u, "INBOX", Some(&[a])), vec![a]);
    assert_eq!(s.uids(u, "INBOX").unwrap(), vec![b, c]);
    s.set_flags(u, "INBOX", &[c], FlagOp::Remove, &["\\Deleted".into()]);
    assert_eq!(s.expunge(u, "INBOX", None), vec![b]);
    assert_eq!(s.uids(u, "INBOX").unwrap(), vec![c]);
    let r = s.set_flags(
        u,
        "INBOX",
        &[c],
        FlagOp::Replace,
        &["$X".into(), "\\Flagged".into()],
    );
    assert_eq!(r[0].1, vec!["$X".to_string(), "\\Flagged".to_string()]);
}

#[test]
fn copy_and_move() {
    let s = store();
    let u = "alice@example.test";
    s.create_mailbox(u, "Trash").unwrap();
    let a = s.append(u, "INBOX", b"a", &["\\Seen"]).unwrap();
    let (_, pairs) = s.copy(u, "INBOX", &[a], "Trash", false).unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(s.count(u, "INBOX"), 1);
    let (_, pairs) = s.copy(u, "INBOX", &[a, 42], "Trash", true).unwrap();
    assert_eq!(pairs, vec![(a, 2)]);
    assert_eq!(s.count(u, "INBOX"), 0);
    assert_eq!(
        s.messages(u, "Trash").unwrap()[1].flags,
        vec!["\\Seen".to_string()]
    );
    assert!(s.copy(u, "INBOX", &[a], "Missing", true).is_err());
}

#[test]
fn deliver_logs_broadcasts_and_bumps_version() {
    let s = store();
    let mut rx = s.subscribe_deliveries();
    let mut ver = s.changes();
    let d = s
        .deliver(
            "ALICE@example.test",
            Bytes::from_static(MSG),
            "ABC123",
            Instant::now(),
            false,
            false,
        )
        .unwrap();
    assert_eq!(d.recipient, "Alice@Example.test");
    assert_eq!(d.tracking_id.as_deref(), Some("c-1"));
    assert!(d.visible_at >= d.accepted_at);
    assert_eq!(rx.try_recv().unwrap(), d);
    assert!(ver.has_changed().unwrap());
    ver.mark_unchanged();
    assert_eq!(
        s.find_delivery("x-mailcanary-id", " C-1 ").map(|d| d.uid),
        Some(d.uid)
    );
    assert_eq!(s.find_delivery("Subject", "hi").map(|d| d.uid), Some(d.uid));
    assert!(s.find_delivery("X-Mailcanary-Id", "c-2").is_none());
    assert!(s
        .deliver(
            "nobody@example.test",
            Bytes::from_static(MSG),
            "X",
            Instant::now(),
            false,
            false
        )
        .is_none());
    assert_eq!(s.deliveries().len(), 1);
    assert_eq!(
        s.search_header("alice@example.test", "INBOX", "x-mailcanary-id", "C-1"),
        vec![d.uid]
    );
}
