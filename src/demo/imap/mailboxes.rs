//! IMAP mailbox commands: SELECT/EXAMINE, LIST/LSUB (with `*`/`%` patterns) and STATUS.
//! CREATE and DELETE are one-liners in the dispatcher.

use std::borrow::Cow;

use imap_next::imap_types::core::{QuotedChar, Tag};
use imap_next::imap_types::flag::{Flag, FlagNameAttribute, FlagPerm};
use imap_next::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_next::imap_types::response::{Code, Data};
use imap_next::imap_types::status::{StatusDataItem, StatusDataItemName};

use crate::demo::imap::session::{After, Selected, Session, State};
use crate::demo::imap::util::{mailbox_name, no, nz, ok, to_mailbox, untagged_ok};

impl Session {
    pub(super) fn select(
        &mut self,
        tag: &Tag<'static>,
        user: &str,
        mailbox: &Mailbox<'_>,
        read_only: bool,
    ) -> After {
        let name = crate::demo::store::normalize_mailbox(&mailbox_name(mailbox));
        self.state = State::Authenticated {
            user: user.to_string(),
        };
        let info = match self.shared.store.info(user, &name) {
            Ok(info) => info,
            Err(_) => {
                self.status(no(tag, None, "Mailbox doesn't exist"));
                return After::Nothing;
            }
        };
        let system = vec![
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Seen,
            Flag::Draft,
        ];
        self.push(Data::Flags(system.clone()));
        self.push(Data::Exists(info.uids.len() as u32));
        self.push(Data::Recent(0));
        if let Some(seq) = info.first_unseen_seq {
            self.status(untagged_ok(Some(Code::Unseen(nz(seq))), "First unseen"));
        }
        let mut perm: Vec<FlagPerm<'static>> = system.into_iter().map(FlagPerm::Flag).collect();
        perm.push(FlagPerm::Asterisk);
        self.status(untagged_ok(
            Some(Code::PermanentFlags(if read_only {
                Vec::new()
            } else {
                perm
            })),
            "Limited",
        ));
        self.status(untagged_ok(
            Some(Code::UidValidity(nz(info.uid_validity))),
            "UIDs valid",
        ));
        self.status(untagged_ok(
            Some(Code::UidNext(nz(info.uid_next))),
            "Predicted next UID",
        ));
        let (code, text) = if read_only {
            (Code::ReadOnly, "EXAMINE completed")
        } else {
            (Code::ReadWrite, "SELECT completed")
        };
        self.status(ok(tag, Some(code), text));
        self.state = State::Selected(Selected {
            user: user.to_string(),
            mailbox: name,
            read_only,
            view: info.uids,
        });
        After::Nothing
    }

    pub(super) fn list(
        &mut self,
        tag: &Tag<'static>,
        user: &str,
        reference: &Mailbox<'_>,
        wildcard: &ListMailbox<'_>,
    ) {
        let pattern = match wildcard {
            ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
            ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
        };
        let delimiter = QuotedChar::try_from('/').ok();
        if pattern.is_empty() {
            if let Some(root) = to_mailbox("") {
                self.push(Data::List {
                    items: vec![FlagNameAttribute::Noselect],
                    delimiter,
                    mailbox: root,
                });
            }
        } else {
            let reference = match reference {
                Mailbox::Inbox => "INBOX".to_string(),
                other => mailbox_name(other),
            };
            let full = format!("{reference}{pattern}");
            for name in self.shared.store.mailboxes(user) {
                if glob(full.as_bytes(), name.as_bytes(), name == "INBOX") {
                    if let Some(mailbox) = to_mailbox(&name) {
                        self.push(Data::List {
                            items: Vec::new(),
                            delimiter,
                            mailbox,
                        });
                    }
                }
            }
        }
        self.status(ok(tag, None, "LIST completed"));
    }

    pub(super) fn mailbox_status(
        &mut self,
        tag: &Tag<'static>,
        user: &str,
        mailbox: Mailbox<'static>,
        names: &[StatusDataItemName],
    ) {
        let name = mailbox_name(&mailbox);
        let (Ok(info), Ok(msgs)) = (
            self.shared.store.info(user, &name),
            self.shared.store.messages(user, &name),
        ) else {
            self.status(no(tag, None, "Mailbox doesn't exist"));
            return;
        };
        let count = |flag: &str| {
            msgs.iter()
                .filter(|m| m.flags.iter().any(|f| f == flag))
                .count() as u32
        };
        let items: Vec<StatusDataItem> = names
            .iter()
            .filter_map(|n| match n {
                StatusDataItemName::Messages => Some(StatusDataItem::Messages(msgs.len() as u32)),
                StatusDataItemName::Recent => Some(StatusDataItem::Recent(0)),
                StatusDataItemName::UidNext => Some(StatusDataItem::UidNext(nz(info.uid_next))),
                StatusDataItemName::UidValidity => {
                    Some(StatusDataItem::UidValidity(nz(info.uid_validity)))
                }
                StatusDataItemName::Unseen => {
                    Some(StatusDataItem::Unseen(msgs.len() as u32 - count("\\Seen")))
                }
                StatusDataItemName::Deleted => Some(StatusDataItem::Deleted(count("\\Deleted"))),
                _ => None,
            })
            .collect();
        self.push(Data::Status {
            mailbox,
            items: Cow::Owned(items),
        });
        self.status(ok(tag, None, "STATUS completed"));
    }
}

/// IMAP LIST pattern match: `*` matches anything, `%` anything but the delimiter `/`.
/// Dynamic programming, so hostile patterns cost O(pattern × name) at most.
fn glob(pattern: &[u8], name: &[u8], ci: bool) -> bool {
    if pattern.len() > 1024 || name.len() > 1024 {
        return false;
    }
    let (p, n) = (pattern.len(), name.len());
    // m[i][j]: pattern[i..] matches name[j..]
    let mut m = vec![vec![false; n + 1]; p + 1];
    m[p][n] = true;
    for i in (0..p).rev() {
        for j in (0..=n).rev() {
            m[i][j] = match pattern[i] {
                b'*' => m[i + 1][j] || (j < n && m[i][j + 1]),
                b'%' => m[i + 1][j] || (j < n && name[j] != b'/' && m[i][j + 1]),
                c => {
                    j < n
                        && (c == name[j] || (ci && c.eq_ignore_ascii_case(&name[j])))
                        && m[i + 1][j + 1]
                }
            };
        }
    }
    m[0][0]
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn list_patterns() {
        assert!(glob(b"*", b"INBOX", true));
        assert!(glob(b"inbox", b"INBOX", true));
        assert!(!glob(b"inbox", b"Inbox2", false));
        assert!(glob(b"%", b"Archive", false));
        assert!(!glob(b"%", b"Archive/2024", false));
        assert!(glob(b"Archive/*", b"Archive/2024", false));
        assert!(glob(b"A*e", b"Archive", false));
    }
}
