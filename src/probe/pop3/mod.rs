//! The POP3 side of a cycle for client profiles that read over POP3: one session logs in as the
//! profile would, lists the maildrop, reads what is new, deletes this instance's verified
//! canaries and commits with QUIT.
//!
//! ```text
//! connect → tls (implicit, or STLS after the greeting) → greeting → CAPA → USER/PASS or AUTH
//!   → UIDL → TOP n 0 (headers of what is new) → RETR n (ours) → verify → DELE → QUIT
//! ```
//!
//! A POP3 session sees the maildrop as it was at login (RFC 1939 §8), so waiting for a canary
//! means a fresh session per poll ([`poll`]). Deletion only happens at QUIT: a session that
//! drops before QUIT's `+OK` deleted nothing, and its canaries are deleted by a later session.
//! Every command runs under the step timeout; what the server may send is bounded by
//! [`limits`]; [`wire`] classifies replies and errors into the fixed (stage, reason) sets.
//!
//! - [`wire`]: lines, status, multi-line responses, `-ERR` reasons;
//! - [`limits`]: the scan that bounds lines and replies;
//! - `login`: CAPA, USER/PASS and SASL AUTH;
//! - [`poll`]: the sessions of a cycle, settling what they find through the ledger.

pub mod limits;
mod login;
pub mod poll;
pub mod wire;

use super::net;
use super::recorder::Recorder;
use super::{Failure, Reason, Stage};
use crate::config::profiles::ProtoProfile;
use crate::config::{AuthMech, Endpoint, TlsMode};
use crate::secret::Secret;
use crate::tls::TlsContext;
pub use login::Caps;
use std::time::Duration;
use wire::{Status, Stream};

/// How to log in.
pub struct Pop3Login<'a> {
    pub mech: AuthMech,
    pub user: &'a str,
    pub secret: &'a Secret,
}

/// A logged-in POP3 session (TRANSACTION state).
pub struct Pop3Session {
    s: Stream,
    pub caps: Caps,
    /// DELE sent in this session: committed only by QUIT.
    deleted: usize,
}

/// One entry of a UIDL listing: message number and unique-id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub n: u32,
    pub uid: String,
}

impl Pop3Session {
    /// Connects, secures (implicit TLS, or STLS after the greeting), reads the greeting, asks
    /// CAPA and logs in. Messages (and listings) over `max_message` bytes fail the step that
    /// reads them with `protocol_error`.
    pub async fn open(
        rec: &mut Recorder,
        tls: &TlsContext,
        ep: &Endpoint,
        proto: &ProtoProfile,
        login: &Pop3Login<'_>,
        max_message: u64,
    ) -> Result<Pop3Session, Failure> {
        rec.add_login(login.user, login.secret.expose());
        let stages = net::OpenStages {
            connect: Stage::Pop3Connect,
            tls: Stage::Pop3Tls,
            greeting: Stage::Pop3Greeting,
        };
        let (conn, target) = net::open(rec, tls, ep, proto, stages).await?;
        let mut s = wire::stream(conn, max_message);
        let greeting = rec.step(Stage::Pop3Greeting, greeting(&mut s)).await?;
        rec.note(&greeting);
        if proto.tls == TlsMode::StartTls {
            let name = target.server_name.clone();
            let (upgraded, exp) = rec
                .step(Stage::Pop3Tls, async move {
                    wire::command(&mut s, Stage::Pop3Tls, "STLS").await?;
                    let tcp = match wire::into_conn(s) {
                        net::Conn::Plain(t) => t,
                        _ => {
                            return Err(Failure::new(Stage::Pop3Tls, Reason::Internal, "not plain"))
                        }
                    };
                    let (t, exp) = net::handshake(tls, tcp, &name, Stage::Pop3Tls).await?;
                    Ok((wire::stream(net::Conn::Tls(Box::new(t)), max_message), exp))
                })
                .await?;
            net::record_cert(rec, ep, target.port, exp);
            s = upgraded;
        }
        // After STLS, only what the server says over TLS counts (RFC 2595 §4).
        let caps = rec.step(Stage::Pop3Login, login::capa(&mut s)).await?;
        rec.step(
            Stage::Pop3Login,
            login::log_in(&mut s, &caps, login.mech, login.user, login.secret),
        )
        .await?;
        rec.note(&format!(
            "logged in ({})",
            crate::config::profiles::pop3_auth_name(login.mech)
        ));
        Ok(Pop3Session {
            s,
            caps,
            deleted: 0,
        })
    }

    /// `UIDL`: every message's number and unique-id (RFC 1939 §7). A line that is not
    /// `n uid` is `protocol_error`.
    pub async fn uidl(&mut self, rec: &mut Recorder) -> Result<Vec<Listed>, Failure> {
        let s = &mut self.s;
        rec.step(Stage::Pop3List, async move {
            let st = Stage::Pop3List;
            wire::command(s, st, "UIDL").await?;
            let mut out = Vec::new();
            wire::multiline(s, st, |l| {
                out.push(parse_uidl(l).ok_or_else(|| {
                    Failure::new(
                        st,
                        Reason::ProtocolError,
                        format!("not a UIDL line: {}", wire::shown(l)),
                    )
                })?);
                Ok(())
            })
            .await?;
            Ok(out)
        })
        .await
    }

    /// `TOP n 0` (the headers) or, with `whole`, `RETR n`, under `budget`. Not a recorded step
    /// of its own: the caller times a batch of them as one.
    ///
    /// `None` when the server says another session expunged the message after this one listed
    /// it: a POP3 server need not lock the maildrop (Dovecot does not), so profiles sharing a
    /// mailbox delete each other's listed messages. That message is gone, not a failure of this
    /// cycle; any other `-ERR` still is one.
    pub async fn read(
        &mut self,
        n: u32,
        whole: bool,
        budget: Duration,
    ) -> Result<Option<Vec<u8>>, Failure> {
        let st = Stage::Pop3Retr;
        let cmd = if whole {
            format!("RETR {n}")
        } else {
            format!("TOP {n} 0")
        };
        let s = &mut self.s;
        within(st, budget, async move {
            match wire::command(s, st, &cmd).await {
                Ok(_) => wire::message(s, st).await.map(Some),
                Err(f) if wire::expunged(&f) => Ok(None),
                Err(f) => Err(f),
            }
        })
        .await
    }

    /// `DELE n` under `budget`: marks the message; QUIT commits.
    pub async fn dele(&mut self, n: u32, budget: Duration) -> Result<(), Failure> {
        let s = &mut self.s;
        within(Stage::Cleanup, budget, async move {
            wire::command(s, Stage::Cleanup, &format!("DELE {n}")).await
        })
        .await?;
        self.deleted = self.deleted.saturating_add(1);
        Ok(())
    }

    /// Messages marked for deletion in this session.
    pub fn deleted(&self) -> usize {
        self.deleted
    }

    /// `QUIT` (UPDATE state): commits the deletions. With deletions pending it is the step
    /// that makes them happen, recorded as `cleanup`; without, it is sent in the background
    /// and its answer does not matter.
    pub async fn quit(mut self, rec: &mut Recorder) -> Result<(), Failure> {
        if self.deleted == 0 {
            let budget = rec.budget();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    budget,
                    wire::command(&mut self.s, Stage::Cleanup, "QUIT"),
                )
                .await;
            });
            return Ok(());
        }
        let s = &mut self.s;
        rec.step(Stage::Cleanup, async move {
            wire::command(s, Stage::Cleanup, "QUIT").await.map(|_| ())
        })
        .await
    }
}

/// Runs `fut` as part of `stage` under `budget`: past it, `timeout` at that stage.
async fn within<T>(
    stage: Stage,
    budget: Duration,
    fut: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(budget, fut).await {
        Ok(r) => r,
        Err(_) => Err(Failure::new(
            stage,
            Reason::Timeout,
            format!(
                "no answer within {}",
                crate::probe::recorder::fmt_duration(budget)
            ),
        )),
    }
}

/// The greeting: `+OK` (its text, for the transcript); `-ERR` is the server refusing the
/// session (`temp_fail`, as a busy server says so); anything else `protocol_error`.
async fn greeting(s: &mut Stream) -> Result<String, Failure> {
    let st = Stage::Pop3Greeting;
    match wire::status(s, st).await? {
        Status::Ok(t) => Ok(format!("+OK {t}")),
        Status::Err(t) => Err(Failure::new(st, Reason::TempFail, format!("-ERR {t}"))),
        Status::More(t) => Err(Failure::new(
            st,
            Reason::ProtocolError,
            format!("not a POP3 greeting: + {t}"),
        )),
    }
}

/// `n uid`: a message number from 1 and a unique-id of 1 to 70 characters 0x21..0x7E
/// (RFC 1939 §7).
fn parse_uidl(l: &[u8]) -> Option<Listed> {
    let text = std::str::from_utf8(l).ok()?;
    let (n, uid) = text.trim_end().split_once(' ')?;
    let n: u32 = n.parse().ok().filter(|n| *n > 0)?;
    let uid = uid.trim_start();
    let ok = (1..=70).contains(&uid.len()) && uid.bytes().all(|b| (0x21..=0x7e).contains(&b));
    ok.then(|| Listed {
        n,
        uid: uid.to_string(),
    })
}

#[cfg(test)]
mod tests;
