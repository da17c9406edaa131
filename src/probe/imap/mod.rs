//! The IMAP side of a cycle: log in as the client profile would, open the mailbox, wait for the
//! canary (IDLE or polling), fetch it and remove it.
//!
//! Built on async-imap over [`Conn`] (plain or TLS), with every command run as a [`Recorder`]
//! step so it has a deadline and a stage. Waiting uses IDLE when the profile asks for it and the
//! server offers it: IDLE is armed *before* the canary is sent, so the push that announces it is
//! timed from the moment it arrives. Polling runs `UID SEARCH` every interval.
//!
//! Cleanup only ever touches UIDs the caller has verified as this agent's canaries: it sets
//! `\Deleted` on exactly those and removes them with `UID EXPUNGE` (UIDPLUS), or moves them to
//! the agent's own folder (MOVE). It never sends a bare `EXPUNGE`, which would also remove
//! messages a user had marked `\Deleted`.

use super::net::{self, Conn};
use super::recorder::Recorder;
use super::{Failure, Reason, Stage};
use crate::config::profiles::ProtoProfile;
use crate::config::{AuthMech, Endpoint, TlsMode};
use crate::secret::Secret;
use crate::tls::TlsContext;
use async_imap::extensions::idle::{Handle, IdleResponse};
use async_imap::{Client, Session};
use login::{greeting, log_in};

mod login;
use futures::TryStreamExt;
use std::time::Duration;
use tokio::time::Instant;

/// The folder canaries are moved to when the server has MOVE but not UIDPLUS.
pub const TRASH_FOLDER: &str = "mailcanary-trash";

/// Maps an async-imap error at `stage` to a failure.
pub fn classify(stage: Stage, e: &async_imap::error::Error) -> Failure {
    use async_imap::error::Error as E;
    let detail = e.to_string();
    let temporary = ["UNAVAILABLE", "INUSE", "LIMIT", "SERVERBUG"]
        .iter()
        .any(|c| detail.contains(c));
    let reason = match e {
        E::Io(io) => {
            if let Some(r) = crate::tls::find_tls_error(io) {
                r
            } else if io.to_string().contains("during parsing") {
                Reason::ProtocolError
            } else {
                net::classify_io(io)
            }
        }
        E::No(_) if temporary => Reason::TempFail,
        E::No(_) if stage == Stage::ImapLogin => Reason::AuthRejected,
        E::No(_) => Reason::PermFail,
        E::Bad(_) if stage == Stage::ImapLogin => Reason::AuthRejected,
        E::Bad(_) | E::Parse(_) => Reason::ProtocolError,
        E::ConnectionLost => Reason::Reset,
        E::Validate(_) => Reason::Internal,
        _ => Reason::PermFail,
    };
    Failure::new(stage, reason, detail)
}

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

/// A logged-in session with the probe's mailbox selected.
pub struct ImapSession {
    state: State,
    pub idle: bool,
    pub uidplus: bool,
    pub moves: bool,
}

pub(super) fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl ImapSession {
    /// Connects, secures, reads the greeting, identifies, logs in and selects `mailbox`.
    pub async fn open(
        rec: &mut Recorder,
        tls: &TlsContext,
        ep: &Endpoint,
        proto: &ProtoProfile,
        login: &ImapLogin<'_>,
        mailbox: &str,
    ) -> Result<ImapSession, Failure> {
        let port = ep.port(proto.tls, proto.port);
        let addrs = if net::needs_dns(&ep.host) {
            rec.step(Stage::Dns, net::resolve(&ep.host, port)).await?
        } else {
            net::resolve(&ep.host, port).await?
        };
        let tcp = rec
            .step(Stage::ImapConnect, net::connect(&addrs, Stage::ImapConnect))
            .await?;
        let endpoint = format!("{}:{port}", ep.host);
        let conn = if proto.tls == TlsMode::Implicit {
            let (s, exp) = rec
                .step(
                    Stage::ImapTls,
                    net::handshake(tls, tcp, ep.server_name(), Stage::ImapTls),
                )
                .await?;
            rec.certs.extend(exp.map(|e| (endpoint.clone(), e)));
            Conn::Tls(Box::new(s))
        } else {
            Conn::Plain(tcp)
        };
        let mut client = Client::new(conn);
        rec.step(Stage::ImapGreeting, greeting(&mut client)).await?;
        if proto.tls == TlsMode::StartTls {
            let server_name = ep.server_name().to_string();
            let (c, exp) = rec
                .step(Stage::ImapTls, async move {
                    client
                        .run_command_and_check_ok("STARTTLS", None)
                        .await
                        .map_err(|e| classify(Stage::ImapTls, &e))?;
                    let tcp = match client.into_inner() {
                        Conn::Plain(t) => t,
                        _ => {
                            return Err(Failure::new(Stage::ImapTls, Reason::Internal, "not plain"))
                        }
                    };
                    let (s, exp) = net::handshake(tls, tcp, &server_name, Stage::ImapTls).await?;
                    Ok((Client::new(Conn::Tls(Box::new(s))), exp))
                })
                .await?;
            rec.certs.extend(exp.map(|e| (endpoint.clone(), e)));
            client = c;
        }
        let mut session = rec.step(Stage::ImapLogin, log_in(client, login)).await?;
        rec.note(&format!("logged in ({})", login.mech.as_str()));
        let caps = rec
            .step(Stage::ImapLogin, async {
                session
                    .capabilities()
                    .await
                    .map_err(|e| classify(Stage::ImapLogin, &e))
            })
            .await?;
        rec.note("CAPABILITY");
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
            idle: caps.has_str("IDLE"),
            uidplus: caps.has_str("UIDPLUS"),
            moves: caps.has_str("MOVE"),
        })
    }

    fn session(&mut self, stage: Stage) -> Result<&mut Session<Conn>, Failure> {
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
        let query = format!("HEADER {name} {}", quote(value));
        let s = self.session(Stage::ImapSearch)?;
        let mut uids: Vec<u32> = rec
            .step(Stage::ImapSearch, async {
                let c = |e: async_imap::error::Error| classify(Stage::ImapSearch, &e);
                if sync {
                    s.noop().await.map_err(c)?;
                }
                s.uid_search(&query).await.map_err(c)
            })
            .await?
            .into_iter()
            .collect();
        uids.sort_unstable();
        rec.note(&format!(
            "{}SEARCH {name}: {} found",
            if sync { "NOOP, " } else { "" },
            uids.len()
        ));
        Ok(uids)
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
        let set = uid_set(uids);
        let s = self.session(Stage::ImapFetch)?;
        rec.step(Stage::ImapFetch, async {
            let stream = s
                .uid_fetch(&set, "(UID BODY.PEEK[])")
                .await
                .map_err(|e| classify(Stage::ImapFetch, &e))?;
            let fetched: Vec<_> = stream
                .try_collect()
                .await
                .map_err(|e| classify(Stage::ImapFetch, &e))?;
            Ok(fetched
                .iter()
                .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
                .collect())
        })
        .await
    }

    /// Removes exactly `uids` (all verified canaries of this agent).
    pub async fn delete(&mut self, rec: &mut Recorder, uids: &[u32]) -> Result<(), Failure> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        let (uidplus, moves) = (self.uidplus, self.moves);
        let s = self.session(Stage::Cleanup)?;
        rec.step(Stage::Cleanup, async {
            let c = |e: async_imap::error::Error| classify(Stage::Cleanup, &e);
            if uidplus {
                let _: Vec<_> = s
                    .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                    .await
                    .map_err(c)?
                    .try_collect()
                    .await
                    .map_err(c)?;
                let _: Vec<_> = s.uid_expunge(&set).await.map_err(c)?.try_collect().await.map_err(c)?;
                Ok(())
            } else if moves {
                // The folder may already exist; a failure to create it shows in the MOVE.
                let _ = s.create(TRASH_FOLDER).await;
                s.uid_mv(&set, TRASH_FOLDER).await.map_err(c)
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

    /// Arms IDLE so that a delivery from now on is pushed. No-op when the server lacks IDLE.
    pub async fn start_idle(&mut self, rec: &mut Recorder) -> Result<(), Failure> {
        if !self.idle {
            return Ok(());
        }
        let State::Selected(session) = std::mem::replace(&mut self.state, State::Closed) else {
            return Ok(());
        };
        let mut handle = session.idle();
        rec.step(Stage::ImapSearch, async {
            handle
                .init()
                .await
                .map_err(|e| classify(Stage::ImapSearch, &e))
        })
        .await?;
        rec.note("IDLE armed");
        self.state = State::Idling(handle);
        Ok(())
    }

    /// Waits in IDLE until the server pushes something or `until` passes. Returns the instant
    /// of the push, or `None` at `until`. Leaves the session selected (IDLE ended).
    pub async fn wait_push(
        &mut self,
        rec: &mut Recorder,
        until: Instant,
    ) -> Result<Option<Instant>, Failure> {
        let State::Idling(mut handle) = std::mem::replace(&mut self.state, State::Closed) else {
            return Err(Failure::new(
                Stage::ImapSearch,
                Reason::Internal,
                "not idling",
            ));
        };
        let wait = until
            .saturating_duration_since(Instant::now())
            .min(rec.remaining());
        let pushed = {
            let (fut, _stop) = handle.wait_with_timeout(wait.max(Duration::from_millis(1)));
            // Bounded by `wait` inside async-imap; the outer timeout is a second guard.
            match tokio::time::timeout(wait + Duration::from_secs(1), fut).await {
                Ok(Ok(IdleResponse::NewData(_))) => Some(Instant::now()),
                Ok(Ok(IdleResponse::Timeout)) | Err(_) => None,
                Ok(Ok(IdleResponse::ManualInterrupt)) => {
                    return Err(Failure::new(
                        Stage::ImapSearch,
                        Reason::Reset,
                        "server closed the connection during IDLE",
                    ))
                }
                Ok(Err(e)) => return Err(classify(Stage::ImapSearch, &e)),
            }
        };
        let session = rec
            .step(Stage::ImapSearch, async {
                handle
                    .done()
                    .await
                    .map_err(|e| classify(Stage::ImapSearch, &e))
            })
            .await?;
        rec.note(if pushed.is_some() {
            "IDLE push received, DONE"
        } else {
            "IDLE wait over, DONE"
        });
        self.state = State::Selected(session);
        Ok(pushed)
    }

    /// Whether the session is currently in IDLE.
    pub fn idling(&self) -> bool {
        matches!(self.state, State::Idling(_))
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

/// `1,5,7` — a UID set for commands.
fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}
