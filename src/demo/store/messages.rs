//! Per-message store operations used by IMAP: mailbox status, UID lists, copies of messages,
//! flag changes, (UID) EXPUNGE, COPY/MOVE, and header search.

use super::{
    lock, normalize_flag, to_stored, FlagOp, MailboxInfo, Msg, Store, StoreError, StoredMessage,
};
use crate::demo::message;

impl Store {
    /// UIDs of messages whose header `header` contains `value` (case-insensitive).
    pub fn search_header(&self, user: &str, mailbox: &str, header: &str, value: &str) -> Vec<u32> {
        let mut state = lock(&self.inner.state);
        let Ok(folder) = state.folder(user, mailbox) else {
            return Vec::new();
        };
        folder
            .messages
            .iter()
            .filter(|(_, m)| {
                message::header_values(&m.bytes, header)
                    .iter()
                    .any(|v| message::contains_ci(v.as_bytes(), value.as_bytes()))
            })
            .map(|(uid, _)| *uid)
            .collect()
    }

    pub(crate) fn info(&self, user: &str, mailbox: &str) -> Result<MailboxInfo, StoreError> {
        let mut state = lock(&self.inner.state);
        let folder = state.folder(user, mailbox)?;
        let uids: Vec<u32> = folder.messages.keys().copied().collect();
        let first_unseen_seq = folder
            .messages
            .values()
            .position(|m| !m.flags.contains("\\Seen"))
            .map(|p| p as u32 + 1);
        Ok(MailboxInfo {
            uid_validity: folder.uid_validity,
            uid_next: folder.uid_next,
            uids,
            first_unseen_seq,
        })
    }

    /// Current UIDs, or None if the mailbox is gone.
    pub(crate) fn uids(&self, user: &str, mailbox: &str) -> Option<Vec<u32>> {
        let mut state = lock(&self.inner.state);
        state
            .folder(user, mailbox)
            .ok()
            .map(|f| f.messages.keys().copied().collect())
    }

    /// Copies of the messages with the given UIDs that still exist (order of `uids`).
    pub(crate) fn get_many(&self, user: &str, mailbox: &str, uids: &[u32]) -> Vec<StoredMessage> {
        let mut state = lock(&self.inner.state);
        let Ok(folder) = state.folder(user, mailbox) else {
            return Vec::new();
        };
        uids.iter()
            .filter_map(|uid| folder.messages.get(uid).map(|m| to_stored(*uid, m)))
            .collect()
    }

    /// Change flags; returns the new flags of each message that exists.
    pub(crate) fn set_flags(
        &self,
        user: &str,
        mailbox: &str,
        uids: &[u32],
        op: FlagOp,
        flags: &[String],
    ) -> Vec<(u32, Vec<String>)> {
        let mut state = lock(&self.inner.state);
        let Ok(folder) = state.folder(user, mailbox) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for uid in uids {
            let Some(m) = folder.messages.get_mut(uid) else {
                continue;
            };
            match op {
                FlagOp::Add => m.flags.extend(flags.iter().map(|f| normalize_flag(f))),
                FlagOp::Remove => {
                    for f in flags {
                        m.flags.remove(&normalize_flag(f));
                    }
                }
                FlagOp::Replace => m.flags = flags.iter().map(|f| normalize_flag(f)).collect(),
            }
            out.push((*uid, m.flags.iter().cloned().collect()));
        }
        out
    }

    /// Remove messages flagged `\Deleted` (only those in `only`, if given). Returns removed UIDs.
    pub(crate) fn expunge(&self, user: &str, mailbox: &str, only: Option<&[u32]>) -> Vec<u32> {
        let removed = {
            let mut state = lock(&self.inner.state);
            let Ok(folder) = state.folder(user, mailbox) else {
                return Vec::new();
            };
            let doomed: Vec<u32> = folder
                .messages
                .iter()
                .filter(|(uid, m)| {
                    m.flags.contains("\\Deleted") && only.is_none_or(|o| o.contains(uid))
                })
                .map(|(uid, _)| *uid)
                .collect();
            for uid in &doomed {
                folder.messages.remove(uid);
            }
            doomed
        };
        if !removed.is_empty() {
            self.bump();
        }
        removed
    }

    /// Copy (or move, with `remove`) messages to `dest`. Returns (dest UIDVALIDITY,
    /// [(source uid, dest uid)]).
    pub(crate) fn copy(
        &self,
        user: &str,
        src: &str,
        uids: &[u32],
        dest: &str,
        remove: bool,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        let result = {
            let mut state = lock(&self.inner.state);
            state.folder(user, dest)?;
            let src_folder = state.folder(user, src)?;
            let mut taken = Vec::new();
            for uid in uids {
                let msg = if remove {
                    src_folder.messages.remove(uid)
                } else {
                    src_folder.messages.get(uid).map(|m| Msg {
                        flags: m.flags.clone(),
                        bytes: m.bytes.clone(),
                        internal_date: m.internal_date,
                    })
                };
                if let Some(m) = msg {
                    taken.push((*uid, m));
                }
            }
            let dest_folder = state.folder(user, dest)?;
            let pairs = taken
                .into_iter()
                .map(|(uid, m)| (uid, dest_folder.insert(m.bytes, m.flags, m.internal_date)))
                .collect();
            (dest_folder.uid_validity, pairs)
        };
        self.bump();
        Ok(result)
    }
}
