//! Getting into a POP3 maildrop the way the client profile does: CAPA (RFC 2449), then USER/PASS
//! (RFC 1939 §7) or AUTH PLAIN / XOAUTH2 / OAUTHBEARER (RFC 5034), with the initial response on
//! the AUTH line when CAPA's `SASL` line offers the mechanism and the line stays within the 255
//! octets RFC 5034 §4 allows, else after the server's empty `+ ` challenge.

use super::wire::{self, Status, Stream};
use crate::config::AuthMech;
use crate::probe::{Failure, Reason, Stage};
use crate::secret::Secret;
use base64::Engine;

/// The longest AUTH command line that may carry an initial response (RFC 5034 §4), CRLF
/// included.
const MAX_AUTH_LINE: usize = 255;

/// What CAPA said, as far as logging in and reading care. `None` fields: the server has no
/// CAPA (RFC 1939 servers), so nothing is known and everything is tried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caps {
    /// Mechanisms of the `SASL` line; `None` without CAPA or without a `SASL` line.
    pub sasl: Option<Vec<String>>,
    /// Whether `TOP` is offered; `None` without CAPA.
    pub top: Option<bool>,
}

/// Reads a CAPA listing; `-ERR` (no CAPA) is no failure, only no knowledge.
pub(super) async fn capa(s: &mut Stream) -> Result<Caps, Failure> {
    let st = Stage::Pop3Login;
    wire::send(s, st, "CAPA").await?;
    match wire::status(s, st).await? {
        Status::Ok(_) => {}
        Status::Err(_) => return Ok(Caps::default()),
        Status::More(t) => {
            return Err(Failure::new(
                st,
                Reason::ProtocolError,
                format!("unexpected continuation to CAPA: + {t}"),
            ))
        }
    }
    let mut caps = Caps {
        sasl: None,
        top: Some(false),
    };
    wire::multiline(s, st, |l| {
        let text = String::from_utf8_lossy(l);
        let mut words = text.split_ascii_whitespace();
        match words.next().map(str::to_ascii_uppercase).as_deref() {
            Some("TOP") => caps.top = Some(true),
            Some("SASL") => {
                caps.sasl = Some(words.take(64).map(str::to_ascii_uppercase).collect());
            }
            _ => {}
        }
        Ok(())
    })
    .await?;
    Ok(caps)
}

/// The SASL mechanism name and its first (and, but for error reports, only) client response.
fn sasl(mech: AuthMech, user: &str, secret: &str) -> (&'static str, String) {
    match mech {
        AuthMech::XOAuth2 => (
            "XOAUTH2",
            format!("user={user}\x01auth=Bearer {secret}\x01\x01"),
        ),
        AuthMech::OAuthBearer => (
            "OAUTHBEARER",
            format!("n,a={user},\x01auth=Bearer {secret}\x01\x01"),
        ),
        _ => ("PLAIN", format!("\0{user}\0{secret}")),
    }
}

/// Logs in with `mech` (`Login` is USER/PASS).
pub(super) async fn log_in(
    s: &mut Stream,
    caps: &Caps,
    mech: AuthMech,
    user: &str,
    secret: &Secret,
) -> Result<(), Failure> {
    let st = Stage::Pop3Login;
    if mech == AuthMech::Login {
        // USER/PASS send the password as it is: a line break in it would end the command and
        // start another.
        if secret.expose().contains(['\r', '\n']) {
            return Err(Failure::new(
                st,
                Reason::Internal,
                "the password contains a line break; it cannot be sent with PASS",
            ));
        }
        wire::command(s, st, &format!("USER {user}")).await?;
        wire::command(s, st, &format!("PASS {}", secret.expose())).await?;
        return Ok(());
    }
    let (name, first) = sasl(mech, user, secret.expose());
    let first = base64::engine::general_purpose::STANDARD.encode(first);
    let offered = caps.sasl.as_ref().map(|m| m.iter().any(|x| x == name));
    if offered == Some(false) {
        return Err(Failure::new(
            st,
            Reason::PermFail,
            format!("server does not offer AUTH {name} (CAPA SASL)"),
        ));
    }
    let with_ir = format!("AUTH {name} {first}");
    if offered == Some(true) && with_ir.len() + 2 <= MAX_AUTH_LINE {
        wire::send(s, st, &with_ir).await?;
    } else {
        wire::send(s, st, &format!("AUTH {name}")).await?;
        match wire::status(s, st).await? {
            Status::More(_) => wire::send(s, st, &first).await?,
            Status::Ok(t) => {
                return Err(Failure::new(
                    st,
                    Reason::ProtocolError,
                    format!("+OK before any credentials: {t}"),
                ))
            }
            Status::Err(t) => {
                return Err(Failure::new(
                    st,
                    wire::err_reason(st, &t),
                    format!("-ERR {t}"),
                ))
            }
        }
    }
    // A challenge after the credentials is an error report (XOAUTH2, OAUTHBEARER): answer it
    // as the mechanism prescribes and read the verdict.
    for _ in 0..3 {
        match wire::status(s, st).await? {
            Status::Ok(_) => return Ok(()),
            Status::Err(t) => {
                return Err(Failure::new(
                    st,
                    wire::err_reason(st, &t),
                    format!("-ERR {t}"),
                ))
            }
            Status::More(_) => {
                // OAUTHBEARER answers %x01, XOAUTH2 an empty line; PLAIN has nothing more to
                // say and cancels (`*`, RFC 5034 §4).
                let answer = match mech {
                    AuthMech::OAuthBearer => "AQ==",
                    AuthMech::XOAuth2 => "",
                    _ => "*",
                };
                wire::send(s, st, answer).await?;
            }
        }
    }
    Err(Failure::new(
        st,
        Reason::ProtocolError,
        "AUTH exchange did not end",
    ))
}
