//! Small IMAP helpers over imap-types: infallible status builders (text sanitised), flag and
//! mailbox-name conversions, sequence-set resolution against a session's view, literals and
//! dates. Nothing here can panic on client input.

use std::num::NonZeroU32;
use std::time::SystemTime;

use imap_next::imap_types::core::{IString, Literal, NString, Tag, Text, Vec1};
use imap_next::imap_types::datetime::DateTime;
use imap_next::imap_types::extensions::uidplus::{UidElement, UidSet};
use imap_next::imap_types::flag::Flag;
use imap_next::imap_types::mailbox::Mailbox;
use imap_next::imap_types::response::{Code, CodeOther, Status, StatusBody, StatusKind, Tagged};
use imap_next::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

/// Printable ASCII only, never empty: always a valid IMAP `text`.
pub(crate) fn text(s: &str) -> Text<'static> {
    let clean: String = s
        .chars()
        .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
        .collect();
    let clean = if clean.trim().is_empty() {
        "Completed".to_string()
    } else {
        clean
    };
    Text::try_from(clean).unwrap_or_else(|_| Text::unvalidated("Completed"))
}

pub(crate) fn status(
    tag: Option<Tag<'static>>,
    kind: StatusKind,
    code: Option<Code<'static>>,
    t: &str,
) -> Status<'static> {
    let body = StatusBody {
        kind,
        code,
        text: text(t),
    };
    match tag {
        Some(tag) => Status::Tagged(Tagged { tag, body }),
        None => Status::Untagged(body),
    }
}

pub(crate) fn ok(tag: &Tag<'static>, code: Option<Code<'static>>, t: &str) -> Status<'static> {
    status(Some(tag.clone()), StatusKind::Ok, code, t)
}

pub(crate) fn no(tag: &Tag<'static>, code: Option<Code<'static>>, t: &str) -> Status<'static> {
    status(Some(tag.clone()), StatusKind::No, code, t)
}

pub(crate) fn bad(tag: &Tag<'static>, t: &str) -> Status<'static> {
    status(Some(tag.clone()), StatusKind::Bad, None, t)
}

pub(crate) fn untagged_ok(code: Option<Code<'static>>, t: &str) -> Status<'static> {
    status(None, StatusKind::Ok, code, t)
}

pub(crate) fn bye(t: &str) -> Status<'static> {
    Status::Bye(imap_next::imap_types::response::Bye {
        code: None,
        text: text(t),
    })
}

/// A response code imap-types has no variant for, e.g. `AUTHENTICATIONFAILED`.
pub(crate) fn code(atom: &'static str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(atom.as_bytes()))
}

/// A fault text `"[CODE] text"` split into its response code and text, so a fault can carry
/// e.g. `[UNAVAILABLE]`. Only an atom of A-Z, 0-9 and `-` is taken as a code.
pub(crate) fn split_code(t: &str) -> (Option<Code<'static>>, &str) {
    let Some(rest) = t.strip_prefix('[') else {
        return (None, t);
    };
    let Some((atom, text)) = rest.split_once(']') else {
        return (None, t);
    };
    let valid = !atom.is_empty()
        && atom
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return (None, t);
    }
    let code = Code::Other(CodeOther::unvalidated(atom.as_bytes().to_vec()));
    (Some(code), text.trim_start())
}

/// Tag of a message that failed to parse, if its first token is a valid tag.
pub(crate) fn tag_of(raw: &[u8]) -> Option<Tag<'static>> {
    let end = raw
        .iter()
        .position(|b| *b == b' ' || *b == b'\r' || *b == b'\n')
        .unwrap_or(raw.len());
    let s = std::str::from_utf8(&raw[..end]).ok()?;
    Tag::try_from(s.to_string()).ok()
}

pub(crate) fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

pub(crate) fn flag_names(flags: &[Flag<'_>]) -> Vec<String> {
    flags.iter().map(|f| f.to_string()).collect()
}

pub(crate) fn to_flags(names: &[String]) -> Vec<Flag<'static>> {
    names
        .iter()
        .filter_map(|n| {
            Flag::try_from(n.as_str())
                .ok()
                .map(imap_next::imap_types::IntoStatic::into_static)
        })
        .collect()
}

pub(crate) fn mailbox_name(m: &Mailbox<'_>) -> String {
    match m {
        Mailbox::Inbox => "INBOX".to_string(),
        Mailbox::Other(o) => String::from_utf8_lossy(o.as_ref()).into_owned(),
    }
}

pub(crate) fn to_mailbox(name: &str) -> Option<Mailbox<'static>> {
    Mailbox::try_from(name.to_string()).ok()
}

/// The bytes as an IMAP literal (NUL bytes, which literals cannot carry, become spaces).
pub(crate) fn literal(bytes: &[u8]) -> NString<'static> {
    let lit = Literal::try_from(bytes.to_vec()).unwrap_or_else(|_| {
        let cleaned: Vec<u8> = bytes
            .iter()
            .map(|b| if *b == 0 { b' ' } else { *b })
            .collect();
        Literal::try_from(cleaned).unwrap_or_else(|_| Literal::unvalidated(&b""[..]))
    });
    NString(Some(IString::Literal(lit)))
}

pub(crate) fn imap_date(t: SystemTime) -> Option<DateTime> {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    let utc = chrono::DateTime::from_timestamp(i64::try_from(secs).ok()?, 0)?;
    DateTime::try_from(utc.fixed_offset()).ok()
}

pub(crate) fn from_imap_date(d: &DateTime) -> SystemTime {
    let secs = d.as_ref().timestamp();
    match u64::try_from(secs) {
        Ok(s) => SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s),
        Err(_) => SystemTime::UNIX_EPOCH,
    }
}

fn value(s: &SeqOrUid, largest: u32) -> u32 {
    match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => largest,
    }
}

/// Whether `n` is in `set`, `*` meaning `largest` (ranges are unordered, per RFC 3501).
pub(crate) fn set_contains(set: &SequenceSet, n: u32, largest: u32) -> bool {
    set.0.as_ref().iter().any(|seq| match seq {
        Sequence::Single(s) => value(s, largest) == n,
        Sequence::Range(a, b) => {
            let (a, b) = (value(a, largest), value(b, largest));
            a.min(b) <= n && n <= a.max(b)
        }
    })
}

/// The (seq, uid) pairs of `view` addressed by `set`, as sequence numbers or as UIDs.
pub(crate) fn resolve(set: &SequenceSet, view: &[u32], uid_mode: bool) -> Vec<(u32, u32)> {
    let largest = if uid_mode {
        view.iter().copied().max().unwrap_or(0)
    } else {
        view.len() as u32
    };
    view.iter()
        .enumerate()
        .map(|(i, uid)| (i as u32 + 1, *uid))
        .filter(|(seq, uid)| set_contains(set, if uid_mode { *uid } else { *seq }, largest))
        .collect()
}

/// A UID set from individual UIDs (runs of consecutive UIDs become ranges).
pub(crate) fn uid_set(uids: &[u32]) -> Option<UidSet> {
    let mut elems = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end.saturating_add(1) {
            i += 1;
            end = uids[i];
        }
        elems.push(if start == end {
            UidElement::Single(nz(start))
        } else {
            UidElement::Range(nz(start), nz(end))
        });
        i += 1;
    }
    Vec1::try_from(elems).ok().map(UidSet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_sequence_and_uid_sets() {
        let view = [3, 5, 9];
        let set: SequenceSet = "2:*".parse().unwrap();
        assert_eq!(resolve(&set, &view, false), vec![(2, 5), (3, 9)]);
        let set: SequenceSet = "4:6,9".parse().unwrap();
        assert_eq!(resolve(&set, &view, true), vec![(2, 5), (3, 9)]);
        let set: SequenceSet = "100:*".parse().unwrap();
        assert_eq!(resolve(&set, &view, true), vec![(3, 9)]);
        assert!(resolve(&set, &[], true).is_empty());
        let set: SequenceSet = "*".parse().unwrap();
        assert!(resolve(&set, &[], false).is_empty());
    }

    #[test]
    fn texts_tags_and_sets_never_fail() {
        assert_eq!(text("").inner(), "Completed");
        assert_eq!(text("a\r\nb").inner(), "a??b");
        assert!(tag_of(b"A001 FOO\r\n").is_some());
        assert!(tag_of(b"+++ x").is_none());
        assert!(tag_of(b"").is_none());
        assert!(uid_set(&[]).is_none());
        let s = uid_set(&[1, 2, 3, 7]).unwrap();
        assert_eq!(s.0.as_ref().len(), 2);
        assert!(imap_date(SystemTime::now()).is_some());
        assert_eq!(literal(b"a\0b").into_option().unwrap().as_ref(), b"a b");
    }
}
