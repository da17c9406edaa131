//! Sends a canary over SMTP, one timed step per protocol phase.
//!
//! lettre's `AsyncSmtpConnection` speaks the protocol; this module owns the socket (so it can
//! set TCP_NODELAY, do the TLS handshake itself, read the certificate and classify TLS errors)
//! and drives the connection command by command, so a failure names its exact stage:
//! `connect → tls (implicit) → greeting → ehlo → tls (STARTTLS) → auth → mail_from → rcpt → data`.
//! Every reply is read through [`limits`]: a server that sends more than a reply may hold fails
//! the step with `protocol_error` at once, whatever lettre would have buffered.
//!
//! The send is split in two: [`SmtpSession::open`] runs everything up to RCPT, then the caller
//! records the canary in the ledger, then [`SmtpSession::data`] transmits it. That order means a
//! canary is in the ledger before the server can have accepted it.

use super::net::{self, SharedConn};
use super::recorder::{fmt_duration, later, Recorder};
use super::{Failure, Reason, Stage};
use crate::config::profiles::ProtoProfile;
use crate::config::{AuthMech, Endpoint, TlsMode};
use crate::secret::Secret;
use crate::tls::TlsContext;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Starttls};
use lettre::transport::smtp::extension::{ClientId, ServerInfo};
use lettre::transport::smtp::response::Response;
use lettre::Address;

mod auth;
pub mod limits;
use auth::authenticate;
use std::time::SystemTime;
use tokio::time::Instant;

/// What the server said when it took the canary.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub at: Instant,
    pub at_wall: SystemTime,
    /// The server's queue id, from `250 ... queued as <id>`, when it gives one.
    pub queue_id: Option<String>,
    pub reply: String,
}

/// An SMTP connection that has passed RCPT TO and waits for the message.
pub struct SmtpSession {
    conn: AsyncSmtpConnection,
}

/// Credentials for the profile's mechanism, loaded now (files are re-read each cycle).
pub enum Login {
    None,
    Password(String, Secret),
    Token(String, Secret),
}

impl SmtpSession {
    /// Connects, secures, greets, authenticates and sends MAIL FROM and RCPT TO.
    pub async fn open(
        rec: &mut Recorder,
        tls: &TlsContext,
        ep: &Endpoint,
        proto: &ProtoProfile,
        login: &Login,
        from: &str,
        to: &str,
    ) -> Result<SmtpSession, Failure> {
        if let Login::Password(user, secret) | Login::Token(user, secret) = login {
            rec.add_login(user, secret.expose());
        }
        let stages = net::OpenStages {
            connect: Stage::Connect,
            tls: Stage::Tls,
            greeting: Stage::Greeting,
        };
        let (conn, target) = net::open(rec, tls, ep, proto, stages).await?;
        let shared = SharedConn::new(conn);
        let client_id = ClientId::default();
        let mut conn = greet(rec, shared.clone(), &client_id).await?;
        let mut info = conn.server_info().clone();

        if proto.tls == TlsMode::StartTls {
            info = starttls(rec, &mut conn, &shared, tls, ep, &target, &client_id, &info).await?;
        }
        if proto.auth != AuthMech::None {
            rec.step(
                Stage::Auth,
                authenticate(&mut conn, proto.auth, login, &info),
            )
            .await?;
        }
        let from: Address = from.parse().map_err(|e| {
            Failure::new(
                Stage::MailFrom,
                Reason::Internal,
                format!("from address: {e}"),
            )
        })?;
        let to: Address = to
            .parse()
            .map_err(|e| Failure::new(Stage::Rcpt, Reason::Internal, format!("to address: {e}")))?;
        let r = rec
            .step(
                Stage::MailFrom,
                command(&mut conn, Stage::MailFrom, Mail::new(Some(from), vec![])),
            )
            .await?;
        rec.note(&reply_text(&r));
        let r = rec
            .step(
                Stage::Rcpt,
                command(&mut conn, Stage::Rcpt, Rcpt::new(to, vec![])),
            )
            .await?;
        rec.note(&reply_text(&r));
        Ok(SmtpSession { conn })
    }

    /// Sends DATA and the message; on `250` the canary is accepted. QUIT is sent in the
    /// background so it never delays the watch.
    pub async fn data(mut self, rec: &mut Recorder, message: &[u8]) -> Result<Accepted, Failure> {
        let conn = &mut self.conn;
        let r = rec
            .step(Stage::Data, async {
                command(conn, Stage::Data, Data).await?;
                conn.message(message)
                    .await
                    .map_err(|e| classify(Stage::Data, &e))
            })
            .await?;
        let (at, at_wall) = (Instant::now(), SystemTime::now());
        let reply = reply_text(&r);
        rec.note(&reply);
        let budget = rec.budget();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(budget, self.conn.quit()).await;
        });
        Ok(Accepted {
            at,
            at_wall,
            queue_id: queue_id(&reply),
            reply,
        })
    }
}

/// Reads the greeting and sends EHLO, recorded as two steps: the first byte the client writes
/// (EHLO) marks the end of the greeting. lettre does both in one call, so the two deadlines are
/// kept by hand: the greeting must arrive within one step timeout of the connect, the EHLO
/// reply within one step timeout of sending EHLO (both capped by the cycle's hard deadline).
async fn greet(
    rec: &mut Recorder,
    shared: SharedConn,
    client_id: &ClientId,
) -> Result<AsyncSmtpConnection, Failure> {
    let began = Instant::now();
    let (step, cap) = (rec.step_timeout(), rec.deadline());
    let phase_end = |start: Instant| later(start, step).min(cap);
    rec.current = Some(Stage::Greeting);
    let conn = limits::BoundedConn::new(shared.clone(), limits::SmtpScan::default());
    let fut = AsyncSmtpConnection::connect_with_transport(Box::new(conn), client_id);
    tokio::pin!(fut);
    let res = loop {
        let start = shared.first_write().unwrap_or(began);
        tokio::select! {
            r = &mut fut => break Some(r),
            _ = tokio::time::sleep_until(phase_end(start)) => {
                // The greeting may have arrived and EHLO gone out meanwhile: EHLO's own clock.
                let now_start = shared.first_write().unwrap_or(began);
                if now_start == start || phase_end(now_start) <= Instant::now() {
                    break None;
                }
            }
        }
    };
    let now = Instant::now();
    let split = shared.first_write();
    let stage = if split.is_some() {
        Stage::Ehlo
    } else {
        Stage::Greeting
    };
    let failure = match res {
        Some(Ok(conn)) => {
            let split = split.unwrap_or(now);
            rec.record(Stage::Greeting, began, split, Ok(String::new()));
            rec.record(Stage::Ehlo, split, now, Ok(String::new()));
            return Ok(conn);
        }
        Some(Err(e)) => classify(stage, &e),
        None => {
            let start = split.unwrap_or(began);
            let allowed = phase_end(start).saturating_duration_since(start);
            Failure::new(
                stage,
                Reason::Timeout,
                format!("no answer within {}", fmt_duration(allowed)),
            )
        }
    };
    let failure = rec.clean(failure);
    if let Some(split) = split {
        rec.record(Stage::Greeting, began, split, Ok(String::new()));
        rec.record(Stage::Ehlo, split, now, Err(failure.clone()));
    } else {
        rec.record(Stage::Greeting, began, now, Err(failure.clone()));
    }
    Err(failure)
}

#[allow(clippy::too_many_arguments)]
async fn starttls(
    rec: &mut Recorder,
    conn: &mut AsyncSmtpConnection,
    shared: &SharedConn,
    tls: &TlsContext,
    ep: &Endpoint,
    target: &net::Target,
    client_id: &ClientId,
    info: &ServerInfo,
) -> Result<ServerInfo, Failure> {
    let offered = info.supports_feature(lettre::transport::smtp::extension::Extension::StartTls);
    let expiry = rec
        .step(Stage::Tls, async {
            if !offered {
                return Err(Failure::new(
                    Stage::Tls,
                    Reason::TlsHandshake,
                    "server does not offer STARTTLS",
                ));
            }
            command(conn, Stage::Tls, Starttls).await?;
            let tcp = shared.take_plain().ok_or_else(|| {
                Failure::new(Stage::Tls, Reason::Internal, "connection not plain")
            })?;
            let (s, expiry) = net::handshake(tls, tcp, &target.server_name, Stage::Tls).await?;
            shared.put_tls(s);
            Ok(expiry)
        })
        .await?;
    net::record_cert(rec, ep, target.port, expiry);
    let resp = rec
        .step(
            Stage::Ehlo,
            command(conn, Stage::Ehlo, Ehlo::new(client_id.clone())),
        )
        .await?;
    ServerInfo::from_response(&resp).map_err(|e| classify(Stage::Ehlo, &e))
}

/// Sends one command; a negative reply becomes a failure at `stage`.
pub(super) async fn command<C: std::fmt::Display>(
    conn: &mut AsyncSmtpConnection,
    stage: Stage,
    cmd: C,
) -> Result<Response, Failure> {
    conn.command(cmd).await.map_err(|e| classify(stage, &e))
}

/// The reason for a negative SMTP reply `code` at `stage`: 4xx `temp_fail`, 5xx `perm_fail`,
/// except the RFC 4954 authentication failures 530/534/535 at `auth`, which are
/// `auth_rejected`. Anything else is not a negative reply: `protocol_error`.
pub fn reply_reason(stage: Stage, code: u16) -> Reason {
    match (stage, code) {
        (Stage::Auth, 530 | 534 | 535) => Reason::AuthRejected,
        (_, 400..=499) => Reason::TempFail,
        (_, 500..=599) => Reason::PermFail,
        _ => Reason::ProtocolError,
    }
}

/// Classifies a lettre error at `stage`.
pub fn classify(stage: Stage, e: &lettre::transport::smtp::Error) -> Failure {
    if let Some(code) = e.status() {
        let code = code.to_string();
        let reason = reply_reason(stage, code.parse().unwrap_or(0));
        // The reply as the server sent it: `451 4.3.0 text` (lettre keeps the text as source).
        let text = std::error::Error::source(e)
            .map(|s| s.to_string())
            .unwrap_or_default();
        return Failure::new(
            stage,
            reason,
            format!("{code} {text}").trim_end().to_string(),
        );
    }
    if let Some(over) = super::bounded::OverLimit::find(e) {
        return Failure::new(stage, Reason::ProtocolError, over.to_string());
    }
    let detail = error_text(e);
    if let Some(reason) = crate::tls::find_tls_error(e) {
        return Failure::new(stage, reason, detail);
    }
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let reason = net::classify_io(io);
            if reason == Reason::ProtocolError {
                return Failure::new(stage, reason, format!("not an SMTP reply ({io})"));
            }
            return Failure::new(stage, reason, detail);
        }
        src = s.source();
    }
    if detail.contains("incomplete response") {
        // lettre read EOF before a complete reply: the server closed the connection.
        return Failure::new(
            stage,
            Reason::Reset,
            "connection closed by the server before a complete reply",
        );
    }
    let reason = if e.is_response() || e.is_client() {
        // An unparseable reply, a code outside 2xx-5xx, or a reply lettre could not use.
        Reason::ProtocolError
    } else {
        Reason::Internal
    };
    Failure::new(stage, reason, detail)
}

fn error_text(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        src = s.source();
    }
    text
}

pub(super) fn reply_text(r: &Response) -> String {
    format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" "))
}

/// The queue id from a `250 2.0.0 Ok: queued as 4BCD1234` reply.
pub fn queue_id(reply: &str) -> Option<String> {
    let idx = reply.find("queued as ")? + "queued as ".len();
    let id: String = reply[idx..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::{queue_id, reply_reason};
    use crate::probe::{Reason, Stage};

    #[test]
    fn reply_codes_map_to_reasons() {
        let cases = [
            (Stage::Greeting, 421, Reason::TempFail),
            (Stage::Greeting, 554, Reason::PermFail),
            (Stage::Tls, 454, Reason::TempFail),
            (Stage::Auth, 535, Reason::AuthRejected),
            (Stage::Auth, 534, Reason::AuthRejected),
            (Stage::Auth, 530, Reason::AuthRejected),
            (Stage::Auth, 454, Reason::TempFail),
            (Stage::Auth, 504, Reason::PermFail),
            (Stage::MailFrom, 530, Reason::PermFail),
            (Stage::Rcpt, 452, Reason::TempFail),
            (Stage::Data, 552, Reason::PermFail),
            (Stage::Data, 600, Reason::ProtocolError),
        ];
        for (stage, code, want) in cases {
            assert_eq!(reply_reason(stage, code), want, "{stage} {code}");
        }
    }

    #[test]
    fn queue_id_from_postfix_reply() {
        assert_eq!(
            queue_id("250 2.0.0 Ok: queued as 4F2A1C01B2").as_deref(),
            Some("4F2A1C01B2")
        );
        assert_eq!(queue_id("250 OK"), None);
    }
}
