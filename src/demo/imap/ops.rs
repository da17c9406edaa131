//! IMAP message commands in selected state: SEARCH, FETCH, STORE, EXPUNGE, UID EXPUNGE,
//! COPY, MOVE (all with their UID forms), CLOSE, UNSELECT; and APPEND (authenticated state).

use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

use bytes::Bytes;
use imap_next::imap_types::command::CommandBody;
use imap_next::imap_types::core::{Tag, Vec1};
use imap_next::imap_types::datetime::DateTime;
use imap_next::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_next::imap_types::fetch::{
    MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName,
};
use imap_next::imap_types::flag::{Flag, FlagFetch, StoreResponse, StoreType};
use imap_next::imap_types::mailbox::Mailbox;
use imap_next::imap_types::response::{Code, Data};
use imap_next::imap_types::IntoStatic;

use crate::demo::imap::fetch;
use crate::demo::imap::search::{self, Bounds, Candidate};
use crate::demo::imap::session::{Selected, Session, State};
use crate::demo::imap::util::{
    bad, flag_names, from_imap_date, mailbox_name, no, nz, ok, resolve, to_flags, uid_set,
    untagged_ok,
};
use crate::demo::store::{normalize_flag, FlagOp, StoreError};

impl Session {
    fn selected(&self) -> Option<&Selected> {
        match &self.state {
            State::Selected(s) => Some(s),
            _ => None,
        }
    }

    /// Commands valid only in selected state.
    pub(crate) fn selected_command(&mut self, tag: &Tag<'static>, body: CommandBody<'static>) {
        let Some(sel) = self.selected() else { return };
        let (user, mailbox, read_only) = (sel.user.clone(), sel.mailbox.clone(), sel.read_only);
        let store = self.shared.store.clone();
        match body {
            CommandBody::Close => {
                if !read_only {
                    store.expunge(&user, &mailbox, None);
                }
                self.state = State::Authenticated { user };
                self.status(ok(tag, None, "CLOSE completed"));
            }
            CommandBody::Unselect => {
                self.state = State::Authenticated { user };
                self.status(ok(tag, None, "UNSELECT completed"));
            }
            CommandBody::Expunge | CommandBody::ExpungeUid { .. } if read_only => {
                self.status(no(tag, None, "Mailbox is read-only"));
            }
            CommandBody::Expunge => {
                store.expunge(&user, &mailbox, None);
                self.sync(true);
                self.status(ok(tag, None, "EXPUNGE completed"));
            }
            CommandBody::ExpungeUid { sequence_set } => {
                let uids: Vec<u32> = self
                    .targets(&sequence_set, true)
                    .into_iter()
                    .map(|(_, u)| u)
                    .collect();
                store.expunge(&user, &mailbox, Some(&uids));
                self.sync(true);
                self.status(ok(tag, None, "UID EXPUNGE completed"));
            }
            CommandBody::Search { criteria, uid, .. } => {
                self.search(tag, &user, &mailbox, criteria.as_ref(), uid)
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                ..
            } => self.fetch(
                tag,
                &user,
                &mailbox,
                read_only,
                &sequence_set,
                macro_or_item_names,
                uid,
            ),
            CommandBody::Store { .. } if read_only => {
                self.status(no(tag, None, "Mailbox is read-only"))
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                ..
            } => {
                let targets = self.targets(&sequence_set, uid);
                let uids: Vec<u32> = targets.iter().map(|(_, u)| *u).collect();
                let op = match kind {
                    StoreType::Add => FlagOp::Add,
                    StoreType::Remove => FlagOp::Remove,
                    StoreType::Replace => FlagOp::Replace,
                };
                let updated = store.set_flags(&user, &mailbox, &uids, op, &flag_names(&flags));
                if response == StoreResponse::Answer {
                    let seqs: HashMap<u32, u32> = targets.iter().map(|(s, u)| (*u, *s)).collect();
                    for (u, flags) in updated {
                        let mut items = vec![MessageDataItem::Flags(
                            to_flags(&flags).into_iter().map(FlagFetch::Flag).collect(),
                        )];
                        if uid {
                            items.push(MessageDataItem::Uid(nz(u)));
                        }
                        if let (Some(seq), Ok(items)) = (seqs.get(&u), Vec1::try_from(items)) {
                            self.push(Data::Fetch {
                                seq: nz(*seq),
                                items,
                            });
                        }
                    }
                }
                self.sync(uid);
                self.status(ok(tag, None, "STORE completed"));
            }
            CommandBody::Copy {
                sequence_set,
                mailbox: dest,
                uid,
            } => self.copy(tag, &user, &mailbox, &sequence_set, &dest, uid, false),
            CommandBody::Move {
                sequence_set,
                mailbox: dest,
                uid,
            } => self.copy(tag, &user, &mailbox, &sequence_set, &dest, uid, true),
            _ => self.status(bad(tag, "Command not supported")),
        }
    }

    fn targets(
        &self,
        set: &imap_next::imap_types::sequence::SequenceSet,
        uid: bool,
    ) -> Vec<(u32, u32)> {
        self.selected()
            .map(|s| resolve(set, &s.view, uid))
            .unwrap_or_default()
    }

    fn search(
        &mut self,
        tag: &Tag<'static>,
        user: &str,
        mailbox: &str,
        keys: &[imap_next::imap_types::search::SearchKey<'static>],
        uid: bool,
    ) {
        let view = self.selected().map(|s| s.view.clone()).unwrap_or_default();
        let msgs = self.shared.store.get_many(user, mailbox, &view);
        let by_uid: HashMap<u32, usize> =
            msgs.iter().enumerate().map(|(i, m)| (m.uid, i)).collect();
        let candidates: Vec<Candidate<'_>> = view
            .iter()
            .enumerate()
            .filter_map(|(i, u)| {
                by_uid.get(u).map(|&k| Candidate {
                    seq: i as u32 + 1,
                    msg: &msgs[k],
                })
            })
            .collect();
        let bounds = Bounds {
            max_seq: view.len() as u32,
            max_uid: view.iter().copied().max().unwrap_or(0),
        };
        let found = search::search(keys, &candidates, bounds, uid);
        self.push(Data::Search(found.into_iter().map(nz).collect()));
        self.sync(uid);
        self.status(ok(tag, None, "SEARCH completed"));
    }

    #[allow(clippy::too_many_arguments)]
    fn fetch(
        &mut self,
        tag: &Tag<'static>,
        user: &str,
        mailbox: &str,
        read_only: bool,
        set: &imap_next::imap_types::sequence::SequenceSet,
        names: MacroOrMessageDataItemNames<'static>,
        uid: bool,
    ) {
        let mut names: Vec<MessageDataItemName<'static>> = match names {
            MacroOrMessageDataItemNames::Macro(m) => m
                .expand()
                .into_iter()
                .map(IntoStatic::into_static)
                .collect(),
            MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
        };
        if !names.iter().all(fetch::supported) {
            self.status(bad(tag, "Unsupported FETCH item"));
            return;
        }
        let targets = self.targets(set, uid);
        let uids: Vec<u32> = targets.iter().map(|(_, u)| *u).collect();
        if !read_only && names.iter().any(fetch::sets_seen) {
            self.shared
                .store
                .set_flags(user, mailbox, &uids, FlagOp::Add, &["\\Seen".to_string()]);
            if !names.contains(&MessageDataItemName::Flags) {
                names.push(MessageDataItemName::Flags);
            }
        }
        let msgs = self.shared.store.get_many(user, mailbox, &uids);
        let by_uid: HashMap<u32, usize> =
            msgs.iter().enumerate().map(|(i, m)| (m.uid, i)).collect();
        for (seq, u) in targets {
            let Some(&k) = by_uid.get(&u) else { continue };
            if let Ok(items) = Vec1::try_from(fetch::items(&msgs[k], &names, uid)) {
                self.push(Data::Fetch {
                    seq: nz(seq),
                    items,
                });
            }
        }
        self.sync(uid);
        self.status(ok(tag, None, "FETCH completed"));
    }

    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        tag: &Tag<'static>,
        user: &str,
        mailbox: &str,
        set: &imap_next::imap_types::sequence::SequenceSet,
        dest: &Mailbox<'_>,
        uid: bool,
        remove: bool,
    ) {
        let uids: Vec<u32> = self.targets(set, uid).into_iter().map(|(_, u)| u).collect();
        let verb = if remove { "MOVE" } else { "COPY" };
        let dest = mailbox_name(dest);
        match self.shared.store.copy(user, mailbox, &uids, &dest, remove) {
            Err(StoreError::NoSuchMailbox) => {
                self.status(no(tag, Some(Code::TryCreate), "Mailbox doesn't exist"))
            }
            Err(e) => self.status(no(tag, None, &e.to_string())),
            Ok((validity, pairs)) => {
                let src: Vec<u32> = pairs.iter().map(|(s, _)| *s).collect();
                let dst: Vec<u32> = pairs.iter().map(|(_, d)| *d).collect();
                let code = match (uid_set(&src), uid_set(&dst)) {
                    (Some(source), Some(destination)) => Some(Code::CopyUid {
                        uid_validity: nz(validity),
                        source,
                        destination,
                    }),
                    _ => None,
                };
                if remove {
                    if code.is_some() {
                        self.status(untagged_ok(code, "Moved"));
                    }
                    self.sync(true);
                    self.status(ok(tag, None, &format!("{verb} completed")));
                } else {
                    self.sync(uid);
                    self.status(ok(tag, code, &format!("{verb} completed")));
                }
            }
        }
    }

    pub(crate) fn append(
        &mut self,
        tag: &Tag<'static>,
        user: &str,
        mailbox: &Mailbox<'_>,
        flags: &[Flag<'_>],
        date: Option<&DateTime>,
        message: &LiteralOrLiteral8<'_>,
    ) {
        let bytes = match message {
            LiteralOrLiteral8::Literal(l) => l.data(),
            LiteralOrLiteral8::Literal8(l) => l.data.as_ref(),
        };
        let flags: BTreeSet<String> = flag_names(flags)
            .iter()
            .map(|f| normalize_flag(f))
            .collect();
        let date = date.map(from_imap_date).unwrap_or_else(SystemTime::now);
        let name = mailbox_name(mailbox);
        match self
            .shared
            .store
            .append_full(user, &name, Bytes::copy_from_slice(bytes), flags, date)
        {
            Ok((validity, uid)) => {
                self.sync(true);
                self.status(ok(
                    tag,
                    Some(Code::AppendUid {
                        uid_validity: nz(validity),
                        uid: nz(uid),
                    }),
                    "APPEND completed",
                ));
            }
            Err(StoreError::NoSuchMailbox) => {
                self.status(no(tag, Some(Code::TryCreate), "Mailbox doesn't exist"))
            }
            Err(e) => self.status(no(tag, None, &e.to_string())),
        }
    }
}
