//! IMAP SEARCH evaluation over stored messages: sequence/UID sets, flags, keywords, HEADER
//! and the address/subject shorthands (case-insensitive substring), BODY/TEXT, sizes, and
//! internal-date comparisons (SENT* keys use the internal date too). NEW and RECENT never
//! match (this server has no \Recent).

use std::time::SystemTime;

use chrono::NaiveDate;
use imap_next::imap_types::search::SearchKey;

use crate::demo::imap::util::set_contains;
use crate::demo::message;
use crate::demo::store::StoredMessage;

/// One message as SEARCH sees it.
pub(crate) struct Candidate<'a> {
    pub seq: u32,
    pub msg: &'a StoredMessage,
}

/// Bounds for `*` in sequence and UID sets.
#[derive(Clone, Copy)]
pub(crate) struct Bounds {
    pub max_seq: u32,
    pub max_uid: u32,
}

fn has_flag(msg: &StoredMessage, flag: &str) -> bool {
    msg.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

fn header_match(msg: &StoredMessage, name: &[u8], value: &[u8]) -> bool {
    let name = String::from_utf8_lossy(name);
    message::header_values(&msg.bytes, &name)
        .iter()
        .any(|v| message::contains_ci(v.as_bytes(), value))
}

fn date_of(t: SystemTime) -> Option<NaiveDate> {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    Some(chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, 0)?.date_naive())
}

/// Does `c` match `key`?
pub(crate) fn matches(key: &SearchKey<'_>, c: &Candidate<'_>, b: Bounds) -> bool {
    let msg = c.msg;
    let date = date_of(msg.internal_date);
    let cmp_date = |d: &imap_next::imap_types::datetime::NaiveDate| date.map(|x| x.cmp(d.as_ref()));
    use std::cmp::Ordering::{Equal, Greater, Less};
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches(k, c, b)),
        SearchKey::Or(x, y) => matches(x, c, b) || matches(y, c, b),
        SearchKey::Not(k) => !matches(k, c, b),
        SearchKey::All => true,
        SearchKey::SequenceSet(set) => set_contains(set, c.seq, b.max_seq),
        SearchKey::Uid(set) => set_contains(set, msg.uid, b.max_uid),
        SearchKey::Answered => has_flag(msg, "\\Answered"),
        SearchKey::Deleted => has_flag(msg, "\\Deleted"),
        SearchKey::Draft => has_flag(msg, "\\Draft"),
        SearchKey::Flagged => has_flag(msg, "\\Flagged"),
        SearchKey::Seen => has_flag(msg, "\\Seen"),
        SearchKey::Unanswered => !has_flag(msg, "\\Answered"),
        SearchKey::Undeleted => !has_flag(msg, "\\Deleted"),
        SearchKey::Undraft => !has_flag(msg, "\\Draft"),
        SearchKey::Unflagged => !has_flag(msg, "\\Flagged"),
        SearchKey::Unseen => !has_flag(msg, "\\Seen"),
        SearchKey::Keyword(k) => has_flag(msg, k.as_ref()),
        SearchKey::Unkeyword(k) => !has_flag(msg, k.as_ref()),
        SearchKey::New | SearchKey::Recent => false,
        SearchKey::Old => true,
        SearchKey::Header(name, value) => header_match(msg, name.as_ref(), value.as_ref()),
        SearchKey::Bcc(v) => header_match(msg, b"Bcc", v.as_ref()),
        SearchKey::Cc(v) => header_match(msg, b"Cc", v.as_ref()),
        SearchKey::From(v) => header_match(msg, b"From", v.as_ref()),
        SearchKey::To(v) => header_match(msg, b"To", v.as_ref()),
        SearchKey::Subject(v) => header_match(msg, b"Subject", v.as_ref()),
        SearchKey::Body(v) => message::contains_ci(message::body(&msg.bytes), v.as_ref()),
        SearchKey::Text(v) => message::contains_ci(&msg.bytes, v.as_ref()),
        SearchKey::Larger(n) => msg.bytes.len() as u64 > u64::from(*n),
        SearchKey::Smaller(n) => (msg.bytes.len() as u64) < u64::from(*n),
        SearchKey::Before(d) | SearchKey::SentBefore(d) => cmp_date(d) == Some(Less),
        SearchKey::On(d) | SearchKey::SentOn(d) => cmp_date(d) == Some(Equal),
        SearchKey::Since(d) | SearchKey::SentSince(d) => {
            matches!(cmp_date(d), Some(Greater | Equal))
        }
        #[allow(unreachable_patterns)]
        _ => false,
    }
}

/// Sequence numbers (or UIDs, with `uid`) of the candidates matching every key.
pub(crate) fn search(
    keys: &[SearchKey<'_>],
    candidates: &[Candidate<'_>],
    b: Bounds,
    uid: bool,
) -> Vec<u32> {
    candidates
        .iter()
        .filter(|c| keys.iter().all(|k| matches(k, c, b)))
        .map(|c| if uid { c.msg.uid } else { c.seq })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use imap_next::imap_types::core::AString;
    use imap_next::imap_types::sequence::SequenceSet;

    fn msg(uid: u32, bytes: &'static [u8], flags: &[&str]) -> StoredMessage {
        StoredMessage {
            uid,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            bytes: Bytes::from_static(bytes),
            internal_date: SystemTime::now(),
        }
    }

    fn astr(s: &'static str) -> AString<'static> {
        AString::try_from(s).unwrap()
    }

    #[test]
    fn header_uid_and_flag_keys() {
        let m1 = msg(
            10,
            b"X-Mailcanary-Id: abc-1\r\nSubject: one\r\n\r\nhello\r\n",
            &[],
        );
        let m2 = msg(
            11,
            b"X-Mailcanary-Id: abc-2\r\nSubject: two\r\n\r\nworld\r\n",
            &["\\Deleted"],
        );
        let m3 = msg(12, b"Subject: three\r\n\r\nhello world\r\n", &["\\Seen"]);
        let cands = [
            Candidate { seq: 1, msg: &m1 },
            Candidate { seq: 2, msg: &m2 },
            Candidate { seq: 3, msg: &m3 },
        ];
        let b = Bounds {
            max_seq: 3,
            max_uid: 12,
        };
        let header = SearchKey::Header(astr("x-mailcanary-id"), astr("ABC-2"));
        assert_eq!(
            search(std::slice::from_ref(&header), &cands, b, true),
            vec![11]
        );
        assert_eq!(search(&[header], &cands, b, false), vec![2]);
        let any_id = SearchKey::Header(astr("X-Mailcanary-Id"), astr(""));
        assert_eq!(search(&[any_id], &cands, b, true), vec![10, 11]);
        assert_eq!(search(&[SearchKey::All], &cands, b, true), vec![10, 11, 12]);
        assert_eq!(search(&[SearchKey::Deleted], &cands, b, true), vec![11]);
        assert_eq!(
            search(&[SearchKey::Undeleted], &cands, b, true),
            vec![10, 12]
        );
        let uids: SequenceSet = "11:*".parse().unwrap();
        assert_eq!(
            search(&[SearchKey::Uid(uids), SearchKey::Unseen], &cands, b, true),
            vec![11]
        );
        let seqs: SequenceSet = "1,3".parse().unwrap();
        assert_eq!(
            search(&[SearchKey::SequenceSet(seqs)], &cands, b, false),
            vec![1, 3]
        );
        let or = SearchKey::Or(Box::new(SearchKey::Seen), Box::new(SearchKey::Deleted));
        assert_eq!(search(&[or], &cands, b, true), vec![11, 12]);
        assert_eq!(
            search(
                &[SearchKey::Not(Box::new(SearchKey::Seen))],
                &cands,
                b,
                true
            ),
            vec![10, 11]
        );
        assert_eq!(
            search(&[SearchKey::Body(astr("WORLD"))], &cands, b, true),
            vec![11, 12]
        );
        assert_eq!(
            search(&[SearchKey::Subject(astr("t"))], &cands, b, true),
            vec![11, 12]
        );
        assert_eq!(
            search(&[SearchKey::New], &cands, b, true),
            Vec::<u32>::new()
        );
        assert_eq!(
            search(&[SearchKey::Larger(40)], &cands, b, true),
            vec![10, 11]
        );
    }

    #[test]
    fn dates() {
        let m = msg(1, b"A: b\r\n\r\n", &[]);
        let c = [Candidate { seq: 1, msg: &m }];
        let b = Bounds {
            max_seq: 1,
            max_uid: 1,
        };
        let today = date_of(SystemTime::now()).unwrap();
        let d = imap_next::imap_types::datetime::NaiveDate::try_from(today).unwrap();
        assert_eq!(search(&[SearchKey::On(d.clone())], &c, b, true), vec![1]);
        assert_eq!(search(&[SearchKey::Since(d.clone())], &c, b, true), vec![1]);
        assert!(search(&[SearchKey::Before(d)], &c, b, true).is_empty());
    }
}
