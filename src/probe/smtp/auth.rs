//! SMTP AUTH for each mechanism a client profile may use: PLAIN, LOGIN and XOAUTH2 through
//! lettre, OAUTHBEARER (RFC 7628) by hand, including the error-challenge dance both OAuth
//! mechanisms require.

use super::{classify, command, reply_text, Login};
use crate::config::AuthMech;
use crate::probe::{Failure, Reason, Stage};
use base64::Engine;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::Auth;
use lettre::transport::smtp::extension::ServerInfo;

pub(super) async fn authenticate(
    conn: &mut AsyncSmtpConnection,
    mech: AuthMech,
    login: &Login,
    info: &ServerInfo,
) -> Result<(), Failure> {
    let (user, secret) = match login {
        Login::Password(u, s) | Login::Token(u, s) => (u.clone(), s.expose().to_string()),
        Login::None => {
            return Err(Failure::new(
                Stage::Auth,
                Reason::Internal,
                "no credentials loaded",
            ))
        }
    };
    let lettre_mech = match mech {
        AuthMech::Plain => Some(Mechanism::Plain),
        AuthMech::Login => Some(Mechanism::Login),
        AuthMech::XOAuth2 => Some(Mechanism::Xoauth2),
        AuthMech::OAuthBearer | AuthMech::None => None,
    };
    // lettre's parsed EHLO keeps only the mechanisms it knows, so OAUTHBEARER is simply tried:
    // a server without it answers 504, a permanent failure at this stage.
    if let Some(m) = lettre_mech.filter(|m| !info.supports_auth_mechanism(*m)) {
        return Err(Failure::new(
            Stage::Auth,
            Reason::PermFail,
            format!("server does not offer AUTH {m}"),
        ));
    }
    let mut response = match lettre_mech {
        Some(m) => {
            let creds = Credentials::new(user.clone(), secret.clone());
            let cmd = Auth::new(m, creds.clone(), None).map_err(|e| classify(Stage::Auth, &e))?;
            let mut r = command(conn, Stage::Auth, cmd).await?;
            for _ in 0..3 {
                if !r.has_code(334) {
                    break;
                }
                r = if m == Mechanism::Xoauth2 {
                    // XOAUTH2's only challenge is an error report (base64 JSON); the client
                    // answers with an empty line and the server then sends its 5xx.
                    command(conn, Stage::Auth, "\r\n").await?
                } else {
                    let next = Auth::new_from_response(m, creds.clone(), &r)
                        .map_err(|e| classify(Stage::Auth, &e))?;
                    command(conn, Stage::Auth, next).await?
                };
            }
            r
        }
        None => {
            let b64 = base64::engine::general_purpose::STANDARD;
            let payload = b64.encode(format!("n,a={user},\x01auth=Bearer {secret}\x01\x01"));
            let r = command(conn, Stage::Auth, format!("AUTH OAUTHBEARER {payload}\r\n")).await?;
            if r.has_code(334) {
                // RFC 7628 §3.2.3: the server sent an error challenge; answer with %x01.
                command(conn, Stage::Auth, "AQ==\r\n").await?
            } else {
                r
            }
        }
    };
    if response.has_code(334) {
        response = command(conn, Stage::Auth, "*\r\n").await?;
    }
    if response.is_positive() {
        Ok(())
    } else {
        Err(Failure::new(
            Stage::Auth,
            Reason::ProtocolError,
            reply_text(&response),
        ))
    }
}
