//! Event handling of the IMAP driver: commands (with their `ImapStep` faults), the
//! AUTHENTICATE exchange, IDLE start, and pushes to idling clients (with IDLE faults and
//! `idle_push_delay`).

use imap_next::imap_types::auth::AuthenticateData;
use imap_next::imap_types::command::CommandBody;
use imap_next::imap_types::core::Tag;
use imap_next::imap_types::response::CommandContinuationRequest;
use imap_next::server::Event;
use imap_next::types::CommandAuthenticate;
use std::io;

use super::auth::AuthProgress;
use super::session::{After, State};
use super::util::{bad, code, no, ok, split_code};
use super::{Driver, Faulted, Flow};
use crate::demo::conn::{Conn, GARBAGE};
use crate::demo::faults::{Action, Flood, IdleFault, ImapStep};

/// Sends what a `Flood` fault sends on IMAP (see [`Flood`]); the caller then closes.
pub(super) async fn flood(conn: &mut Conn, flood: Flood) -> io::Result<()> {
    match flood {
        Flood::LongLine(n) => conn.flood(b"* OK ", b"x", Some(n), b"\r\n").await,
        Flood::Endless => conn.flood(b"", b"* OK still here\r\n", None, b"").await,
        Flood::Literal(n) => {
            let head = format!("* 1 FETCH (UID 1 BODY[] {{{n}}}\r\n");
            conn.flood(head.as_bytes(), b"x", Some(n), b")\r\n").await
        }
    }
}

fn step_of(body: &CommandBody<'_>) -> Option<ImapStep> {
    Some(match body {
        CommandBody::Capability => ImapStep::Capability,
        CommandBody::StartTLS => ImapStep::StartTls,
        CommandBody::Id { .. } => ImapStep::Id,
        CommandBody::Login { .. } => ImapStep::Login,
        CommandBody::Select { .. } | CommandBody::Examine { .. } => ImapStep::Select,
        CommandBody::Search { .. } => ImapStep::Search,
        CommandBody::Fetch { .. } => ImapStep::Fetch,
        CommandBody::Store { .. } => ImapStep::Store,
        CommandBody::Expunge | CommandBody::ExpungeUid { .. } => ImapStep::Expunge,
        CommandBody::Move { .. } => ImapStep::Move,
        CommandBody::Append { .. } => ImapStep::Append,
        _ => return None,
    })
}

impl Driver {
    /// Tell an idling client what changed (honouring `idle_push_delay` and IDLE faults).
    pub(super) async fn idle_push(&mut self) -> Flow {
        self.changes.borrow_and_update();
        let delay = self.shared.opts.idle_push_delay;
        if !delay.is_zero() {
            let mut shutdown = self.shared.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = crate::demo::stopped(&mut shutdown) => return Flow::Close,
            }
        }
        if self.idle_tag.is_none() {
            return Flow::Continue;
        }
        match self.shared.faults.idle() {
            Some(IdleFault::NeverPush) => Flow::Continue,
            Some(IdleFault::DropConnection) if self.session.has_news() => Flow::Close,
            _ => {
                self.session.sync(true);
                self.flush_out();
                Flow::Continue
            }
        }
    }

    async fn fault(&mut self, step: ImapStep, tag: &Tag<'static>) -> io::Result<Faulted> {
        let Some(action) = self.shared.faults.imap(step) else {
            return Ok(Faulted::Proceed);
        };
        tracing::debug!(?step, ?action, "imap fault");
        Ok(match action {
            Action::Refuse | Action::Reset => Faulted::End(Flow::Abort),
            Action::Close => Faulted::End(Flow::Close),
            Action::Stall => {
                self.conn.stall().await;
                Faulted::End(Flow::Close)
            }
            Action::Garbage => {
                self.conn.write_all(GARBAGE).await?;
                self.conn.stall().await;
                Faulted::End(Flow::Close)
            }
            Action::Drip(d) => {
                self.drip = Some(d);
                Faulted::Proceed
            }
            Action::No(t) | Action::Reply(_, t) => {
                // A text starting with `[CODE]` carries that response code; at Login the
                // default code is AUTHENTICATIONFAILED.
                let (c, t) = split_code(&t);
                let c =
                    c.or_else(|| (step == ImapStep::Login).then(|| code("AUTHENTICATIONFAILED")));
                Faulted::Respond(no(tag, c, t))
            }
            Action::Bad(t) => Faulted::Respond(bad(tag, &t)),
            Action::Flood(f) => {
                flood(&mut self.conn, f).await?;
                Faulted::End(Flow::Close)
            }
        })
    }

    pub(super) async fn event(&mut self, event: Event) -> io::Result<Flow> {
        match event {
            Event::GreetingSent { .. } | Event::ResponseSent { .. } => Ok(Flow::Continue),
            Event::CommandReceived { command } => {
                if self.closing || self.starttls {
                    return Ok(Flow::Continue);
                }
                self.drip = None;
                if let Some(step) = step_of(&command.body) {
                    match self.fault(step, &command.tag).await? {
                        Faulted::End(flow) => return Ok(flow),
                        Faulted::Respond(s) => {
                            if step == ImapStep::Select {
                                if let Some(user) = self.session.user().map(str::to_string) {
                                    self.session.state = State::Authenticated { user };
                                }
                            }
                            self.server.enqueue_status(s);
                            return Ok(Flow::Continue);
                        }
                        Faulted::Proceed => {}
                    }
                }
                match self.session.command(command) {
                    After::Logout => self.closing = true,
                    After::StartTls => self.starttls = true,
                    After::Nothing => {}
                }
                self.flush_out();
                Ok(Flow::Continue)
            }
            Event::CommandAuthenticateReceived {
                command_authenticate,
            } => {
                self.drip = None;
                let CommandAuthenticate {
                    tag,
                    mechanism,
                    initial_response,
                } = command_authenticate;
                let initial = initial_response.as_ref().map(|s| s.declassify().as_ref());
                let progress = self.session.auth_begin(tag, &mechanism, initial);
                self.auth(progress).await
            }
            Event::AuthenticateDataReceived { authenticate_data } => {
                let progress = match &authenticate_data {
                    AuthenticateData::Continue(data) => {
                        self.session.auth_continue(Some(data.declassify().as_ref()))
                    }
                    AuthenticateData::Cancel => self.session.auth_continue(None),
                };
                self.auth(progress).await
            }
            Event::IdleCommandReceived { tag } => self.idle_start(tag).await,
            Event::IdleDoneReceived => {
                self.session.sync(true);
                self.flush_out();
                if let Some(tag) = self.idle_tag.take() {
                    self.server
                        .enqueue_status(ok(&tag, None, "IDLE terminated"));
                }
                Ok(Flow::Continue)
            }
        }
    }

    async fn auth(&mut self, progress: AuthProgress) -> io::Result<Flow> {
        let status = match progress {
            AuthProgress::Challenge(c) => {
                let _ = self
                    .server
                    .authenticate_continue(CommandContinuationRequest::base64(c));
                return Ok(Flow::Continue);
            }
            AuthProgress::Refused(s) => s,
            AuthProgress::Done { tag, user } => match self.fault(ImapStep::Login, &tag).await? {
                Faulted::End(flow) => return Ok(flow),
                Faulted::Respond(s) => s,
                Faulted::Proceed => self.session.finish_auth(tag, user),
            },
        };
        let _ = self.server.authenticate_finish(status);
        Ok(Flow::Continue)
    }

    async fn idle_start(&mut self, tag: Tag<'static>) -> io::Result<Flow> {
        self.drip = None;
        if !matches!(self.session.state, State::Selected(_)) {
            let _ = self.server.idle_reject(bad(&tag, "No mailbox selected"));
            return Ok(Flow::Continue);
        }
        match self.fault(ImapStep::Idle, &tag).await? {
            Faulted::End(flow) => return Ok(flow),
            Faulted::Respond(s) => {
                let _ = self.server.idle_reject(s);
                return Ok(Flow::Continue);
            }
            Faulted::Proceed => {}
        }
        let Ok(cont) = CommandContinuationRequest::basic(None, "idling") else {
            return Ok(Flow::Close);
        };
        if self.server.idle_accept(cont).is_err() {
            return Ok(Flow::Close);
        }
        self.idle_tag = Some(tag);
        Ok(self.idle_push().await)
    }
}
