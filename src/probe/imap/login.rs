//! Getting an IMAP session the way the client profile does: greeting, ID, then LOGIN or
//! AUTHENTICATE (PLAIN, XOAUTH2, OAUTHBEARER).

use super::Conn;
use super::{classify, quote, ImapLogin};
use crate::config::AuthMech;
use crate::probe::{Failure, Reason, Stage};
use async_imap::{Client, Session};
use base64::Engine;

/// SASL responses for AUTHENTICATE. After the first response, any further challenge is an error
/// report (XOAUTH2, OAUTHBEARER) and gets the empty / `%x01` answer the mechanisms prescribe.
struct Sasl {
    first: Vec<u8>,
    mech: AuthMech,
    sent: bool,
}

impl async_imap::Authenticator for Sasl {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        if !self.sent {
            self.sent = true;
            return std::mem::take(&mut self.first);
        }
        match self.mech {
            AuthMech::OAuthBearer => vec![1],
            _ => Vec::new(),
        }
    }
}

fn sasl(login: &ImapLogin) -> (&'static str, Sasl) {
    let (u, s) = (login.user, login.secret.expose());
    let (name, first) = match login.mech {
        AuthMech::XOAuth2 => ("XOAUTH2", format!("user={u}\x01auth=Bearer {s}\x01\x01")),
        AuthMech::OAuthBearer => (
            "OAUTHBEARER",
            format!("n,a={u},\x01auth=Bearer {s}\x01\x01"),
        ),
        _ => ("PLAIN", format!("\0{u}\0{s}")),
    };
    (
        name,
        Sasl {
            first: first.into_bytes(),
            mech: login.mech,
            sent: false,
        },
    )
}

/// Reads the greeting. `Ok(true)` when it announces SASL-IR (RFC 4959) among its capabilities,
/// so that AUTHENTICATE can carry its first response on the command line.
pub(super) async fn greeting(client: &mut Client<Conn>) -> Result<bool, Failure> {
    use async_imap::imap_proto::{Capability, Response, ResponseCode, Status};
    let st = Stage::ImapGreeting;
    let resp = client
        .read_response()
        .await
        .map_err(|e| classify(st, &async_imap::error::Error::Io(e)))?
        .ok_or_else(|| Failure::new(st, Reason::Reset, "connection closed before the greeting"))?;
    match resp.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            outcome,
        } => Ok(match &outcome.code {
            Some(ResponseCode::Capabilities(caps)) => caps
                .iter()
                .any(|c| matches!(c, Capability::Atom(a) if a.eq_ignore_ascii_case("SASL-IR"))),
            _ => false,
        }),
        // The server refuses the session (too many connections, shutting down, maintenance).
        Response::Data {
            status: Status::Bye,
            outcome,
        } => Err(Failure::new(
            st,
            Reason::TempFail,
            format!("BYE {}", outcome.information.as_deref().unwrap_or("")),
        )),
        other => {
            let text = format!("{other:?}");
            let text: String = text.chars().take(120).collect();
            Err(Failure::new(
                st,
                Reason::ProtocolError,
                format!("not an IMAP greeting: {text}"),
            ))
        }
    }
}

/// Identifies (ID) and logs in. With `sasl_ir`, AUTHENTICATE sends its first response on the
/// command line (one round trip, as clients do when the server offers SASL-IR).
pub(super) async fn log_in(
    mut client: Client<Conn>,
    login: &ImapLogin<'_>,
    sasl_ir: bool,
) -> Result<Session<Conn>, Failure> {
    let st = Stage::ImapLogin;
    if !login.id.is_empty() {
        let fields: Vec<String> = login
            .id
            .iter()
            .map(|(k, v)| format!("{} {}", quote(k), quote(v)))
            .collect();
        // ID is advisory: a server that answers NO or BAD to it still lets the client in.
        let cmd = format!("ID ({})", fields.join(" "));
        match client.run_command_and_check_ok(&cmd, None).await {
            Ok(()) | Err(async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_)) => {}
            Err(e) => return Err(classify(st, &e)),
        }
    }
    let result = match login.mech {
        AuthMech::Login => client.login(login.user, login.secret.expose()).await,
        _ if sasl_ir => {
            let (name, mut auth) = sasl(login);
            auth.sent = true;
            let first = base64::engine::general_purpose::STANDARD.encode(&auth.first);
            client.authenticate(format!("{name} {first}"), auth).await
        }
        _ => {
            let (name, auth) = sasl(login);
            client.authenticate(name, auth).await
        }
    };
    result.map_err(|(e, _)| classify(st, &e))
}
