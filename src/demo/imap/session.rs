//! IMAP session state (not authenticated / authenticated / selected with its sequence-number
//! view), command dispatch, the state-independent commands (CAPABILITY, NOOP, LOGOUT,
//! STARTTLS, ID, ENABLE), and `sync`, which turns store changes into EXISTS/EXPUNGE for this
//! session's view. LOGIN/AUTHENTICATE are in `auth.rs`, mailbox commands in `mailboxes.rs`,
//! message commands in `ops.rs`. Handlers push responses to `out`; the driver sends them.

use std::collections::HashSet;
use std::sync::Arc;

use imap_next::imap_types::auth::AuthMechanism;
use imap_next::imap_types::command::{Command, CommandBody};
use imap_next::imap_types::core::{IString, NString, Tag};
use imap_next::imap_types::response::{Capability, Code, Data, Status};

use crate::demo::imap::util::{bad, bye, mailbox_name, no, nz, ok};
use crate::demo::sasl::Exchange;
use crate::demo::Shared;

/// A response for the driver to enqueue.
pub(crate) enum Out {
    Data(Data<'static>),
    Status(Status<'static>),
}

/// What the driver must do once the responses are out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    Nothing,
    Logout,
    StartTls,
}

pub(crate) struct Selected {
    pub user: String,
    pub mailbox: String,
    pub read_only: bool,
    /// UIDs in sequence-number order, as this client knows them.
    pub view: Vec<u32>,
}

pub(crate) enum State {
    NotAuthenticated,
    Authenticated { user: String },
    Selected(Selected),
}

pub(crate) struct Session {
    pub shared: Arc<Shared>,
    pub state: State,
    pub tls: bool,
    /// This is the plain listener, where STARTTLS is offered until TLS is active.
    pub starttls_listener: bool,
    pub out: Vec<Out>,
    pub(super) auth: Option<(Tag<'static>, Exchange)>,
}

impl Session {
    pub fn new(shared: Arc<Shared>, tls: bool, starttls_listener: bool) -> Session {
        Session {
            shared,
            state: State::NotAuthenticated,
            tls,
            starttls_listener,
            out: Vec::new(),
            auth: None,
        }
    }

    pub fn push(&mut self, data: Data<'static>) {
        self.out.push(Out::Data(data));
    }

    pub fn status(&mut self, status: Status<'static>) {
        self.out.push(Out::Status(status));
    }

    pub fn user(&self) -> Option<&str> {
        match &self.state {
            State::NotAuthenticated => None,
            State::Authenticated { user } => Some(user),
            State::Selected(s) => Some(&s.user),
        }
    }

    pub(super) fn plaintext_ok(&self) -> bool {
        self.tls || self.shared.opts.allow_plaintext_auth
    }

    pub fn capabilities(&self) -> Vec<Capability<'static>> {
        let mut caps = vec![
            Capability::Imap4Rev1,
            Capability::Idle,
            Capability::Id,
            Capability::UidPlus,
            Capability::Move,
            Capability::Unselect,
            Capability::SaslIr,
        ];
        if self.starttls_listener && !self.tls {
            caps.push(Capability::StartTls);
        }
        if matches!(self.state, State::NotAuthenticated) {
            if self.plaintext_ok() {
                caps.push(Capability::Auth(AuthMechanism::Plain));
                caps.push(Capability::Auth(AuthMechanism::Login));
                caps.push(Capability::Auth(AuthMechanism::XOAuth2));
                caps.push(Capability::Auth(AuthMechanism::OAuthBearer));
            } else {
                caps.push(Capability::LoginDisabled);
            }
        }
        caps
    }

    pub fn capability_code(&self) -> Option<Code<'static>> {
        Code::capability(self.capabilities()).ok()
    }

    /// Handle one (non-AUTHENTICATE, non-IDLE) command.
    pub fn command(&mut self, command: Command<'static>) -> After {
        let tag = command.tag;
        let body = match command.body {
            CommandBody::Capability => {
                if let Ok(data) = Data::capability(self.capabilities()) {
                    self.push(data);
                }
                self.status(ok(&tag, None, "CAPABILITY completed"));
                return After::Nothing;
            }
            CommandBody::Noop | CommandBody::Check => {
                self.sync(true);
                self.status(ok(&tag, None, "NOOP completed"));
                return After::Nothing;
            }
            CommandBody::Logout => {
                self.status(bye("Logging out"));
                self.status(ok(&tag, None, "LOGOUT completed"));
                return After::Logout;
            }
            CommandBody::StartTLS => {
                if self.tls
                    || !self.starttls_listener
                    || !matches!(self.state, State::NotAuthenticated)
                {
                    self.status(bad(&tag, "STARTTLS not available"));
                    return After::Nothing;
                }
                self.status(ok(&tag, None, "Begin TLS negotiation now"));
                return After::StartTls;
            }
            CommandBody::Id { parameters } => {
                tracing::debug!(?parameters, "imap client ID");
                let ours = [
                    ("name", "mailcanary-demo"),
                    ("version", env!("CARGO_PKG_VERSION")),
                ]
                .iter()
                .filter_map(|(k, v)| {
                    Some((IString::try_from(*k).ok()?, NString::try_from(*v).ok()?))
                })
                .collect();
                self.push(Data::Id {
                    parameters: Some(ours),
                });
                self.status(ok(&tag, None, "ID completed"));
                return After::Nothing;
            }
            CommandBody::Enable { .. } => {
                self.status(ok(&tag, None, "ENABLE completed"));
                return After::Nothing;
            }
            CommandBody::Login { username, password } => {
                self.login(&tag, &username, &password);
                return After::Nothing;
            }
            other => other,
        };
        let Some(user) = self.user().map(str::to_string) else {
            self.status(bad(&tag, "Not authenticated"));
            return After::Nothing;
        };
        let body = match body {
            CommandBody::Select { mailbox, .. } => {
                return self.select(&tag, &user, &mailbox, false)
            }
            CommandBody::Examine { mailbox, .. } => {
                return self.select(&tag, &user, &mailbox, true)
            }
            CommandBody::Create { mailbox } => {
                let status = match self
                    .shared
                    .store
                    .create_mailbox(&user, &mailbox_name(&mailbox))
                {
                    Ok(()) => ok(&tag, None, "CREATE completed"),
                    Err(e) => no(&tag, None, &e.to_string()),
                };
                self.status(status);
                return After::Nothing;
            }
            CommandBody::Delete { mailbox } => {
                let status = match self
                    .shared
                    .store
                    .delete_mailbox(&user, &mailbox_name(&mailbox))
                {
                    Ok(()) => ok(&tag, None, "DELETE completed"),
                    Err(e) => no(&tag, None, &e.to_string()),
                };
                self.status(status);
                return After::Nothing;
            }
            CommandBody::Subscribe { .. } | CommandBody::Unsubscribe { .. } => {
                self.status(ok(&tag, None, "Completed"));
                return After::Nothing;
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            }
            | CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => {
                self.list(&tag, &user, &reference, &mailbox_wildcard);
                return After::Nothing;
            }
            CommandBody::Status {
                mailbox,
                item_names,
            } => {
                self.mailbox_status(&tag, &user, mailbox, &item_names);
                return After::Nothing;
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                self.append(&tag, &user, &mailbox, &flags, date.as_ref(), &message);
                return After::Nothing;
            }
            other => other,
        };
        if !matches!(self.state, State::Selected(_)) {
            self.status(bad(&tag, "No mailbox selected"));
            return After::Nothing;
        }
        self.selected_command(&tag, body);
        After::Nothing
    }

    /// Bring this session's view up to date: EXPUNGE for vanished messages (only when
    /// `allow_expunge`, i.e. not during FETCH/STORE/SEARCH by sequence number), then EXISTS.
    pub fn sync(&mut self, allow_expunge: bool) {
        let State::Selected(sel) = &mut self.state else {
            return;
        };
        let Some(current) = self.shared.store.uids(&sel.user, &sel.mailbox) else {
            return;
        };
        let present: HashSet<u32> = current.iter().copied().collect();
        let mut out = Vec::new();
        if allow_expunge {
            for i in (0..sel.view.len()).rev() {
                if !present.contains(&sel.view[i]) {
                    sel.view.remove(i);
                    out.push(Data::Expunge(nz(i as u32 + 1)));
                }
            }
        }
        let last = sel.view.last().copied().unwrap_or(0);
        let before = sel.view.len();
        sel.view.extend(current.into_iter().filter(|u| *u > last));
        if sel.view.len() != before {
            out.push(Data::Exists(sel.view.len() as u32));
        }
        for d in out {
            self.push(d);
        }
    }

    /// Would `sync(true)` report anything?
    pub fn has_news(&self) -> bool {
        let State::Selected(sel) = &self.state else {
            return false;
        };
        let Some(current) = self.shared.store.uids(&sel.user, &sel.mailbox) else {
            return false;
        };
        current != sel.view
    }
}
