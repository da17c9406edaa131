//! The IMAP side of a cycle: log in as the client profile would, open the mailbox, wait for the
//! canary (IDLE or polling), fetch it and remove it.
//!
//! Built on async-imap over [`Conn`] (plain or TLS, what it reads bounded by [`limits`]), with
//! every command run as a [`Recorder`] step so it has a deadline and a stage. Waiting uses IDLE when the profile asks for it and the
//! server offers it: IDLE is armed *before* the canary is sent, so the push that announces it is
//! timed from the moment it arrives. Polling runs `UID SEARCH` every interval.
//!
//! SEARCH, FETCH, STORE, EXPUNGE, MOVE, NOOP and CAPABILITY go through [`command::tagged`],
//! which checks each command's tagged completion (async-imap does not for these) and is where
//! IMAP failures are classified ([`classify`]).
//!
//! Cleanup only ever touches UIDs the caller has verified as this agent's canaries: it sets
//! `\Deleted` on exactly those and removes them with `UID EXPUNGE` (UIDPLUS), or moves them to
//! the agent's own folder (MOVE). It never sends a bare `EXPUNGE`, which would also remove
//! messages a user had marked `\Deleted`.

use super::bounded::Bounded;
use super::net;
use super::recorder::{fmt_duration, Recorder};
use super::{Failure, Reason, Stage};
use crate::config::profiles::ProtoProfile;
use crate::config::{AuthMech, Endpoint, TlsMode};
use crate::secret::Secret;
use crate::tls::TlsContext;
use async_imap::extensions::idle::Handle;
use async_imap::{Client, Session};
use command::{tagged, tagged_pipelined, uid_set};
use login::{greeting, log_in};

mod command;
pub mod folders;
mod idle;
pub mod limits;
mod login;
mod push;
pub use command::{classify, status_reason};
use std::time::Duration;
use tokio::io::BufWriter;

/// The connection async-imap reads and writes: plain or TLS, its responses bounded, its writes
/// held until async-imap flushes. async-imap writes a command in four pieces (tag, space,
/// command, CRLF) and flushes after each command; unbuffered, every piece became a TLS record
/// and a system call of its own, and a segment the server woke up for.
pub type Conn = Bounded<BufWriter<net::Conn>, limits::ImapScan>;

/// The folder canaries are moved to when the server has MOVE but not UIDPLUS.
pub const TRASH_FOLDER: &str = "mailcanary-trash";

/// How to log in.
pub struct ImapLogin<'a> {
    pub mech: AuthMech,
    pub user: &'a str,
    pub secret: &'a Secret,
    /// IMAP ID fields to announce before logging in.
    pub id: &'a [(String, String)],
}

enum State {
    Selected(Session<Conn>),
    Idling(Handle<Conn>),
    Closed,
}

/// What the server offers after login, as far as a cycle cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub idle: bool,
    pub uidplus: bool,
    pub moves: bool,
    /// RFC 6154: LIST tells which folder is Junk.
    pub special_use: bool,
}

/// A logged-in session with the probe's mailbox selected.
pub struct ImapSession {
    state: State,
    pub caps: Caps,
    /// Whether the last `search_header`'s SEARCH response announced new mail (`* n EXISTS`):
    /// a delivery the server synced only after searching, so the search did not see it, and
    /// IDLE armed afterwards will not announce it again.
    announced: bool,
}

pub(super) fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl ImapSession {
    /// Connects, secures, reads the greeting, identifies, logs in and selects `mailbox`. With
    /// `known` capabilities (what this server said after login in an earlier cycle) the
    /// CAPABILITY round trip is skipped; the caller asks again now and then, and after any
    /// failure. Literals over `max_literal` bytes (the probe's `imap_max_literal`) and the
    /// other limits of [`limits`] fail the step they arrive in with `protocol_error`.
    #[allow(clippy::too_many_arguments)]
    pub async fn open(
        rec: &mut Recorder,
        tls: &TlsContext,
        ep: &Endpoint,
        proto: &ProtoProfile,
        login: &ImapLogin<'_>,
        mailbox: &str,
        known: Option<Caps>,
        max_literal: u64,
    ) -> Result<ImapSession, Failure> {
        rec.add_login(login.user, login.secret.expose());
        let stages = net::OpenStages {
            connect: Stage::ImapConnect,
            tls: Stage::ImapTls,
            greeting: Stage::ImapGreeting,
        };
        let (conn, target) = net::open(rec, tls, ep, proto, stages).await?;
        let bounded =
            |c: net::Conn| Conn::new(BufWriter::new(c), limits::ImapScan::new(max_literal));
        let mut client = Client::new(bounded(conn));
        let sasl_ir = rec.step(Stage::ImapGreeting, greeting(&mut client)).await?;
        if proto.tls == TlsMode::StartTls {
            let server_name = target.server_name.clone();
            let (c, exp) = rec
                .step(Stage::ImapTls, async move {
                    client
                        .run_command_and_check_ok("STARTTLS", None)
                        .await
                        .map_err(|e| classify(Stage::ImapTls, &e))?;
                    // Nothing is left in the write buffer: STARTTLS was flushed and answered.
                    let tcp = match client.into_inner().into_inner().into_inner() {
                        net::Conn::Plain(t) => t,
                        _ => {
                            return Err(Failure::new(Stage::ImapTls, Reason::Internal, "not plain"))
                        }
                    };
                    let (s, exp) = net::handshake(tls, tcp, &server_name, Stage::ImapTls).await?;
                    Ok((Client::new(bounded(net::Conn::Tls(Box::new(s)))), exp))
                })
                .await?;
            net::record_cert(rec, ep, target.port, exp);
            client = c;
        }
        // Capabilities announced before STARTTLS do not hold after it (RFC 3501 6.2.1).
        let sasl_ir = sasl_ir && proto.tls != TlsMode::StartTls;
        let mut session = rec
            .step(Stage::ImapLogin, log_in(client, login, sasl_ir))
            .await?;
        rec.note(&format!("logged in ({})", login.mech.as_str()));
        let caps = match known {
            Some(c) => c,
            None => {
                let caps = rec
                    .step(
                        Stage::ImapLogin,
                        tagged(&mut session, Stage::ImapLogin, "CAPABILITY"),
                    )
                    .await?
                    .capabilities;
                let has = |c: &str| caps.iter().any(|x| x == c);
                rec.note("CAPABILITY");
                Caps {
                    idle: has("IDLE"),
                    uidplus: has("UIDPLUS"),
                    moves: has("MOVE"),
                    special_use: has("SPECIAL-USE"),
                }
            }
        };
        let mb = rec
            .step(Stage::ImapSelect, async {
                session
                    .select(mailbox)
                    .await
                    .map_err(|e| classify(Stage::ImapSelect, &e))
            })
            .await?;
        rec.note(&format!(
            "{} messages, uidvalidity {:?}",
            mb.exists, mb.uid_validity
        ));
        Ok(ImapSession {
            state: State::Selected(session),
            caps,
            announced: false,
        })
    }

    /// The capabilities this session works with.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    pub(super) fn session(&mut self, stage: Stage) -> Result<&mut Session<Conn>, Failure> {
        match &mut self.state {
            State::Selected(s) => Ok(s),
            _ => Err(Failure::new(
                stage,
                Reason::Internal,
                "session not in selected state",
            )),
        }
    }

    /// UIDs of messages whose header `name` contains `value`. With `sync`, a NOOP first makes
    /// the server bring newly delivered messages into the session's view, as a polling client
    /// does (Dovecot, for one, searches the view as of the last sync).
    pub async fn search_header(
        &mut self,
        rec: &mut Recorder,
        name: &str,
        value: &str,
        sync: bool,
    ) -> Result<Vec<u32>, Failure> {
        let command = format!("UID SEARCH HEADER {name} {}", quote(value));
        let s = self.session(Stage::ImapSearch)?;
        let found = rec
            .step(Stage::ImapSearch, async {
                // Not pipelined: Dovecot syncs the mailbox view only once no command is
                // pending, so a SEARCH sent with its NOOP would not see new mail.
                if sync {
                    tagged(s, Stage::ImapSearch, "NOOP").await?;
                }
                tagged(s, Stage::ImapSearch, &command).await
            })
            .await?;
        self.announced = found.exists;
        let mut uids = found.search;
        uids.sort_unstable();
        uids.dedup();
        rec.note(&format!(
            "{}SEARCH {name}: {} found",
            if sync { "NOOP, " } else { "" },
            uids.len()
        ));
        Ok(uids)
    }

    /// Whether the last [`ImapSession::search_header`] was told of new mail after it searched
    /// (see the field `announced`); reading it clears it.
    pub fn take_announced(&mut self) -> bool {
        std::mem::take(&mut self.announced)
    }

    /// Full bytes of each UID, fetched with BODY.PEEK[] so `\Seen` is never set.
    pub async fn fetch(
        &mut self,
        rec: &mut Recorder,
        uids: &[u32],
    ) -> Result<Vec<(u32, Vec<u8>)>, Failure> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let command = format!("UID FETCH {} (UID BODY.PEEK[])", uid_set(uids));
        let s = self.session(Stage::ImapFetch)?;
        rec.step(Stage::ImapFetch, async {
            Ok(tagged(s, Stage::ImapFetch, &command).await?.fetched)
        })
        .await
    }

    /// Removes exactly `uids` (all verified canaries of this agent).
    pub async fn delete(&mut self, rec: &mut Recorder, uids: &[u32]) -> Result<(), Failure> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        let (uidplus, moves) = (self.caps.uidplus, self.caps.moves);
        let s = self.session(Stage::Cleanup)?;
        rec.step(Stage::Cleanup, async {
            let st = Stage::Cleanup;
            if uidplus {
                let store = format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)");
                tagged_pipelined(s, st, &store, &format!("UID EXPUNGE {set}")).await?;
                Ok(())
            } else if moves {
                let folder = quote(TRASH_FOLDER);
                // The folder may already exist; a failure to create it shows in the MOVE.
                let _ = tagged(s, st, &format!("CREATE {folder}")).await;
                tagged(s, st, &format!("UID MOVE {set} {folder}")).await?;
                Ok(())
            } else {
                Err(Failure::new(
                    Stage::Cleanup,
                    Reason::PermFail,
                    "server offers neither UIDPLUS nor MOVE: canaries left in place rather than risk a bare EXPUNGE",
                ))
            }
        })
        .await
    }

    /// Logs out in the background, bounded by `budget`; never delays the caller.
    pub fn close(mut self, budget: Duration) {
        let state = std::mem::replace(&mut self.state, State::Closed);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(budget, async {
                let session = match state {
                    State::Selected(s) => Some(s),
                    State::Idling(h) => h.done().await.ok(),
                    State::Closed => None,
                };
                if let Some(mut s) = session {
                    let _ = s.logout().await;
                }
            })
            .await;
        });
    }
}
