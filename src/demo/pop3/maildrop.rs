//! A POP3 session's view of the user's INBOX, fixed at login as RFC 1939 has it: message
//! numbers, sizes and unique ids (UIDL), the messages marked deleted, and the commit of those
//! deletions at QUIT. Also the wire forms of a message: dot-stuffed for RETR, cut for TOP.

use crate::demo::store::{FlagOp, Store, StoreError};

const INBOX: &str = "INBOX";

/// The maildrop as it was at login, plus the session's deletion marks.
pub(super) struct Maildrop {
    user: String,
    validity: u32,
    /// (UID, size in octets) in message-number order.
    messages: Vec<(u32, usize)>,
    deleted: Vec<bool>,
}

/// A message number that names no message of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoMessage {
    Invalid,
    Deleted,
}

impl NoMessage {
    pub fn text(self) -> &'static str {
        match self {
            NoMessage::Invalid => "There's no message with that number.",
            NoMessage::Deleted => "Message is deleted.",
        }
    }
}

impl Maildrop {
    pub fn open(store: &Store, user: &str) -> Result<Maildrop, StoreError> {
        let info = store.info(user, INBOX)?;
        let messages: Vec<(u32, usize)> = store
            .messages(user, INBOX)?
            .iter()
            .map(|m| (m.uid, m.bytes.len()))
            .collect();
        Ok(Maildrop {
            user: user.to_string(),
            validity: info.uid_validity,
            deleted: vec![false; messages.len()],
            messages,
        })
    }

    /// (number of messages, octets) not marked deleted.
    pub fn stat(&self) -> (usize, usize) {
        self.listing().fold((0, 0), |(n, o), (_, _, size)| {
            (n + 1, o.saturating_add(size))
        })
    }

    /// (message number, UID, size) of every message not marked deleted.
    pub fn listing(&self) -> impl Iterator<Item = (usize, u32, usize)> + '_ {
        self.messages
            .iter()
            .zip(&self.deleted)
            .enumerate()
            .filter(|(_, (_, deleted))| !**deleted)
            .map(|(i, ((uid, size), _))| (i + 1, *uid, *size))
    }

    /// The message a client's message-number argument names: (number, UID, size).
    pub fn get(&self, arg: &str) -> Result<(usize, u32, usize), NoMessage> {
        let n: usize = arg.parse().map_err(|_| NoMessage::Invalid)?;
        let i = n.checked_sub(1).ok_or(NoMessage::Invalid)?;
        let (uid, size) = *self.messages.get(i).ok_or(NoMessage::Invalid)?;
        if self.deleted.get(i).copied().unwrap_or(false) {
            return Err(NoMessage::Deleted);
        }
        Ok((n, uid, size))
    }

    /// The unique id of a message: its UID and the mailbox's UIDVALIDITY, as Dovecot's
    /// `%08Xu%08Xv`, so it stays the same from one session to the next.
    pub fn uidl(&self, uid: u32) -> String {
        format!("{uid:08X}{:08X}", self.validity)
    }

    pub fn delete(&mut self, number: usize) {
        if let Some(d) = number.checked_sub(1).and_then(|i| self.deleted.get_mut(i)) {
            *d = true;
        }
    }

    pub fn reset(&mut self) {
        self.deleted.iter_mut().for_each(|d| *d = false);
    }

    /// The message's bytes now (None if someone else removed it meanwhile).
    pub fn bytes(&self, store: &Store, uid: u32) -> Option<bytes::Bytes> {
        store
            .get_many(&self.user, INBOX, &[uid])
            .into_iter()
            .next()
            .map(|m| m.bytes)
    }

    /// UPDATE state: removes the messages marked deleted; returns how many were removed.
    pub fn commit(&self, store: &Store) -> usize {
        let uids: Vec<u32> = self
            .messages
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| **d)
            .map(|((uid, _), _)| *uid)
            .collect();
        if uids.is_empty() {
            return 0;
        }
        let flag = ["\\Deleted".to_string()];
        store.set_flags(&self.user, INBOX, &uids, FlagOp::Add, &flag);
        store.expunge(&self.user, INBOX, Some(&uids)).len()
    }
}

/// `bytes` as a multi-line response body: lines starting with "." get another, the last line
/// ends with CRLF, and the terminating ".\r\n" follows.
pub(super) fn stuffed(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 64 + 5);
    let mut line_start = true;
    for b in bytes {
        if line_start && *b == b'.' {
            out.push(b'.');
        }
        out.push(*b);
        line_start = *b == b'\n';
    }
    if !line_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// TOP: the header, the blank line after it, and the first `lines` lines of the body.
pub(super) fn top(bytes: &[u8], lines: usize) -> &[u8] {
    let mut end_of_header = None;
    let mut pos = 0;
    while pos < bytes.len() {
        let next = bytes[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |p| pos + p + 1);
        let line = &bytes[pos..next];
        if line == b"\r\n" || line == b"\n" {
            end_of_header = Some(next);
            break;
        }
        pos = next;
    }
    let Some(mut end) = end_of_header else {
        return bytes;
    };
    for _ in 0..lines {
        if end >= bytes.len() {
            break;
        }
        end = bytes[end..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(bytes.len(), |p| end + p + 1);
    }
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::store::User;

    #[test]
    fn stuffing_doubles_leading_dots_and_terminates() {
        assert_eq!(stuffed(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(stuffed(b".\r\nx"), b"..\r\nx\r\n.\r\n");
        assert_eq!(stuffed(b""), b".\r\n");
    }

    #[test]
    fn top_cuts_after_the_header_and_n_body_lines() {
        let m = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
        assert_eq!(top(m, 0), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(top(m, 2), b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(top(m, usize::MAX), m);
        assert_eq!(top(b"A: 1\r\n", 0), b"A: 1\r\n");
        assert_eq!(top(b"", 3), b"");
    }

    fn store() -> Store {
        let s = Store::new(vec![User::new("u@x.test", "pw")], "X-Id".into());
        for i in 1..=3 {
            s.append(
                "u@x.test",
                INBOX,
                format!("S: {i}\r\n\r\nb\r\n").as_bytes(),
                &[],
            )
            .unwrap();
        }
        s
    }

    #[test]
    fn the_view_is_fixed_and_deletions_commit_only_when_asked() {
        let s = store();
        let mut m = Maildrop::open(&s, "u@x.test").unwrap();
        s.append("u@x.test", INBOX, b"late\r\n", &[]).unwrap();
        assert_eq!(m.stat().0, 3, "a message delivered after login is not seen");
        assert_eq!(m.get("0"), Err(NoMessage::Invalid));
        assert_eq!(m.get("4"), Err(NoMessage::Invalid));
        assert_eq!(m.get("99999999999999999999999"), Err(NoMessage::Invalid));
        assert_eq!(m.get("-1"), Err(NoMessage::Invalid));
        let (n, uid, _) = m.get("2").unwrap();
        m.delete(n);
        assert_eq!(m.get("2"), Err(NoMessage::Deleted));
        assert_eq!(m.stat().0, 2);
        assert_eq!(
            s.count("u@x.test", INBOX),
            4,
            "not removed before the commit"
        );
        m.reset();
        assert_eq!(m.stat().0, 3);
        m.delete(n);
        let before = m.uidl(uid);
        assert_eq!(m.commit(&s), 1);
        let uids: Vec<u32> = s
            .messages("u@x.test", INBOX)
            .unwrap()
            .iter()
            .map(|x| x.uid)
            .collect();
        assert!(!uids.contains(&uid));
        let again = Maildrop::open(&s, "u@x.test").unwrap();
        let (_, first, _) = again.get("1").unwrap();
        assert_eq!(again.uidl(first), m.uidl(first), "UIDLs are stable");
        assert_ne!(before, again.uidl(first));
        assert_eq!(before.len(), 16);
    }
}
