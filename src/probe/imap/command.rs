//! IMAP commands whose tagged completion is checked, and the classification of IMAP failures.
//!
//! async-imap's `uid_search`, `uid_fetch`, `uid_store`, `uid_expunge` and `noop` end their
//! response stream at the tagged completion *without looking at its status*: a `NO` or `BAD` to
//! `UID SEARCH` reads as "nothing found", a `NO` to `UID FETCH` as "nothing fetched". A canary
//! probe must not mistake a refusal for an empty mailbox, so those commands go through
//! [`tagged`], which reads every response up to the tagged one and turns `NO` / `BAD` / `BYE`
//! into a [`Failure`] at the caller's stage.
//!
//! How IMAP responses map to reasons (documented in `docs/failures.md`):
//!
//! | server response | reason |
//! | --- | --- |
//! | `NO` with a "try later" code (`UNAVAILABLE`, `INUSE`, `LIMIT`, `SERVERBUG`, `EXPUNGEISSUED`) | `temp_fail` |
//! | `NO` to LOGIN / AUTHENTICATE (otherwise) | `auth_rejected` |
//! | `NO` to any other command | `perm_fail` |
//! | `BAD` (our command rejected as invalid) | `protocol_error` |
//! | `BYE` as the greeting | `temp_fail` (see `login.rs`) |
//! | bytes that do not parse as IMAP, an unexpected continuation | `protocol_error` |
//! | EOF, `BYE` during a command, TCP reset | `reset` |

use super::Conn;
use crate::probe::{net, Failure, Reason, Stage};
use async_imap::imap_proto::{
    AttributeValue, Capability, MailboxDatum, NameAttribute, Response, Status,
};
use async_imap::Session;

/// Response codes (RFC 5530) that say "this may work later".
const TEMPORARY_CODES: &[&str] = &[
    "UNAVAILABLE",
    "INUSE",
    "LIMIT",
    "SERVERBUG",
    "EXPUNGEISSUED",
];

/// Untagged responses kept; more means a server flooding us.
const MAX_RESPONSES: usize = 100_000;

/// What a command's untagged responses said, as far as the probe cares.
#[derive(Debug, Default)]
pub(super) struct Untagged {
    /// UIDs (or sequence numbers) from `* SEARCH`.
    pub search: Vec<u32>,
    /// (UID, body) from `* n FETCH (UID u BODY[] {...})`.
    pub fetched: Vec<(u32, Vec<u8>)>,
    /// (UID, flags) from `* n FETCH (UID u FLAGS (...))`.
    pub flags: Vec<(u32, Vec<String>)>,
    /// Upper-cased capabilities from `* CAPABILITY`.
    pub capabilities: Vec<String>,
    /// Names of the folders LIST marked `\Junk` (RFC 6154).
    pub junk: Vec<String>,
    /// Whether a `* n EXISTS` came with the command: the server synced new mail into the
    /// session's view while answering it.
    pub exists: bool,
}

/// Runs `command` and reads up to its tagged completion; anything but `OK` is a failure at
/// `stage`. Bounded by the caller's step deadline.
pub(super) async fn tagged(
    session: &mut Session<Conn>,
    stage: Stage,
    command: &str,
) -> Result<Untagged, Failure> {
    let id = send(session, stage, command).await?;
    let mut out = Untagged::default();
    complete(session, stage, command, &id, &mut out).await?;
    Ok(out)
}

/// Runs `first` and `second` pipelined (RFC 3501 5.5): both are sent before either reply is
/// read, one round trip instead of two, and both tagged completions are checked, in order, as
/// [`tagged`] does; the untagged responses of both are returned together. Only for UID commands,
/// whose meaning no untagged EXPUNGE can shift, and never for a command that must see the
/// mailbox synced by the one before (Dovecot syncs only when nothing is pending).
pub(super) async fn tagged_pipelined(
    session: &mut Session<Conn>,
    stage: Stage,
    first: &str,
    second: &str,
) -> Result<Untagged, Failure> {
    let a = send(session, stage, first).await?;
    let b = send(session, stage, second).await?;
    let mut out = Untagged::default();
    complete(session, stage, first, &a, &mut out).await?;
    complete(session, stage, second, &b, &mut out).await?;
    Ok(out)
}

async fn send(
    session: &mut Session<Conn>,
    stage: Stage,
    command: &str,
) -> Result<async_imap::imap_proto::RequestId, Failure> {
    session
        .run_command(command)
        .await
        .map_err(|e| classify(stage, &e))
}

/// Reads responses into `out` up to the tagged completion of `id` (the tag of `command`).
async fn complete(
    session: &mut Session<Conn>,
    stage: Stage,
    command: &str,
    id: &async_imap::imap_proto::RequestId,
    out: &mut Untagged,
) -> Result<(), Failure> {
    for _ in 0..MAX_RESPONSES {
        let resp = session
            .read_response()
            .await
            .map_err(|e| classify(stage, &async_imap::error::Error::Io(e)))?
            .ok_or_else(|| Failure::new(stage, Reason::Reset, "connection closed by the server"))?;
        match resp.parsed() {
            Response::Done {
                tag,
                status,
                outcome,
            } if tag == id => {
                let text = outcome.information.as_deref().unwrap_or("");
                return match status {
                    Status::Ok => Ok(()),
                    Status::No => Err(status_failure(stage, "NO", text)),
                    Status::Bad => Err(status_failure(stage, "BAD", text)),
                    other => Err(Failure::new(
                        stage,
                        Reason::ProtocolError,
                        format!("tagged {other:?} to {}", verb(command)),
                    )),
                };
            }
            Response::Data {
                status: Status::Bye,
                outcome,
            } => {
                let text = outcome.information.as_deref().unwrap_or("");
                return Err(Failure::new(stage, Reason::Reset, format!("BYE {text}")));
            }
            Response::Continue(_) => {
                return Err(Failure::new(
                    stage,
                    Reason::ProtocolError,
                    format!("unexpected continuation request during {}", verb(command)),
                ))
            }
            Response::MailboxData(MailboxDatum::Search(ids)) => out.search.extend(ids),
            Response::MailboxData(MailboxDatum::Exists(_)) => out.exists = true,
            Response::MailboxData(MailboxDatum::List(l))
                if l.name_attributes.contains(&NameAttribute::Junk) =>
            {
                out.junk.push(l.name.to_string())
            }
            Response::Capabilities(caps) => out.capabilities.extend(caps.iter().map(|c| match c {
                Capability::Imap4rev1 => "IMAP4REV1".to_string(),
                Capability::Auth(a) => format!("AUTH={}", a.to_ascii_uppercase()),
                Capability::Atom(a) => a.to_ascii_uppercase(),
            })),
            Response::Fetch(_, attrs) => {
                let uid = attrs.iter().find_map(|a| match a {
                    AttributeValue::Uid(u) => Some(*u),
                    _ => None,
                });
                let body = attrs.iter().find_map(|a| match a {
                    AttributeValue::BodySection { data: Some(d), .. } => Some(d.to_vec()),
                    _ => None,
                });
                let flags = attrs.iter().find_map(|a| match a {
                    AttributeValue::Flags(f) => Some(f.iter().map(|x| x.to_string()).collect()),
                    _ => None,
                });
                if let (Some(uid), Some(flags)) = (uid, flags) {
                    out.flags.push((uid, flags));
                }
                if let (Some(uid), Some(body)) = (uid, body) {
                    out.fetched.push((uid, body));
                }
            }
            _ => {}
        }
    }
    Err(Failure::new(
        stage,
        Reason::ProtocolError,
        format!("more than {MAX_RESPONSES} responses to {}", verb(command)),
    ))
}

/// `1,5,7` — a UID set for commands.
pub(super) fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The command name, for messages (never its arguments, which may hold a search value).
fn verb(command: &str) -> String {
    command
        .split_whitespace()
        .take_while(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The leading `[ATOM` response code of a status text, if any.
fn response_code(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('[')?;
    let end = rest.find([' ', ']']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The reason for a tagged `NO` / `BAD` at `stage`, from its text (see the module table).
pub fn status_reason(stage: Stage, kind: &str, text: &str) -> Reason {
    let code = response_code(text).map(str::to_ascii_uppercase);
    let temporary = code
        .as_deref()
        .is_some_and(|c| TEMPORARY_CODES.contains(&c));
    match kind {
        "NO" if temporary => Reason::TempFail,
        "NO" if stage == Stage::ImapLogin => Reason::AuthRejected,
        "NO" => Reason::PermFail,
        _ => Reason::ProtocolError,
    }
}

fn status_failure(stage: Stage, kind: &str, text: &str) -> Failure {
    Failure::new(
        stage,
        status_reason(stage, kind, text),
        format!("{kind} {text}").trim_end().to_string(),
    )
}

/// The status text inside async-imap's `No` / `Bad` message, which is Debug-formatted
/// (`code: None, info: Some("...")` or `outcome: Outcome { code: .., information: Some("...") }`).
fn status_text(message: &str) -> String {
    let code = message
        .find("code: Some(")
        .map(|i| &message[i + "code: Some(".len()..])
        .and_then(|rest| rest.split([')', '(', ' ', ',']).next())
        .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric()))
        .map(|c| format!("[{}] ", c.to_ascii_uppercase()));
    let info = ["info: Some(\"", "information: Some(\""]
        .iter()
        .find_map(|k| message.find(k).map(|i| &message[i + k.len()..]))
        .map(unescape_debug)
        .unwrap_or_default();
    format!("{}{info}", code.unwrap_or_default())
}

/// A Debug-escaped string up to its closing quote.
fn unescape_debug(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('u') => {
                    let hex: String = chars
                        .by_ref()
                        .skip_while(|c| *c == '{')
                        .take_while(|c| *c != '}')
                        .collect();
                    let ch = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                    out.push(ch.unwrap_or('?'));
                }
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

/// Maps an async-imap error at `stage` to a failure (see the module table).
pub fn classify(stage: Stage, e: &async_imap::error::Error) -> Failure {
    use async_imap::error::Error as E;
    match e {
        E::No(m) => status_failure(stage, "NO", &status_text(m)),
        E::Bad(m) => status_failure(stage, "BAD", &status_text(m)),
        E::Io(io) => {
            if let Some(r) = crate::tls::find_tls_error(io) {
                return Failure::new(stage, r, io.to_string());
            }
            let text = io.to_string();
            if let Some(i) = text.find(" during parsing of ") {
                let excerpt: String = text[i + " during parsing of ".len()..]
                    .chars()
                    .take(120)
                    .collect();
                return Failure::new(
                    stage,
                    Reason::ProtocolError,
                    format!("not an IMAP response: {excerpt}"),
                );
            }
            if io.kind() == std::io::ErrorKind::Other && text.starts_with("status: ") {
                // async-imap: a completion with a status that makes no sense there.
                return Failure::new(stage, Reason::ProtocolError, text);
            }
            Failure::new(stage, net::classify_io(io), text)
        }
        E::ConnectionLost => Failure::new(stage, Reason::Reset, "connection closed by the server"),
        E::Parse(p) => Failure::new(stage, Reason::ProtocolError, p.to_string()),
        E::Validate(v) => Failure::new(stage, Reason::Internal, v.to_string()),
        other => Failure::new(stage, Reason::ProtocolError, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_from_async_imap_messages() {
        let m = r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#;
        assert_eq!(
            status_text(m),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        let m = r#"outcome: Outcome { code: None, information: Some("No \"INBOX\"") }"#;
        assert_eq!(status_text(m), "No \"INBOX\"");
        let m = r#"code: Some(Alert), info: Some("Quota")"#;
        assert_eq!(status_text(m), "[ALERT] Quota");
    }

    #[test]
    fn reasons_follow_the_table() {
        let r = |stage, kind, text| status_reason(stage, kind, text);
        assert_eq!(
            r(Stage::ImapLogin, "NO", "[AUTHENTICATIONFAILED] x"),
            Reason::AuthRejected
        );
        assert_eq!(
            r(Stage::ImapLogin, "NO", "[UNAVAILABLE] x"),
            Reason::TempFail
        );
        assert_eq!(r(Stage::ImapSelect, "NO", "[INUSE] x"), Reason::TempFail);
        assert_eq!(
            r(Stage::ImapSelect, "NO", "no such mailbox"),
            Reason::PermFail
        );
        assert_eq!(r(Stage::ImapSelect, "NO", "UNAVAILABLE"), Reason::PermFail);
        assert_eq!(r(Stage::ImapLogin, "BAD", "x"), Reason::ProtocolError);
        assert_eq!(r(Stage::ImapSearch, "BAD", "x"), Reason::ProtocolError);
    }

    #[test]
    fn verbs_never_carry_arguments() {
        assert_eq!(verb("UID SEARCH HEADER X-Id \"abc\""), "UID SEARCH HEADER");
        assert_eq!(verb("UID FETCH 1,2 (UID BODY.PEEK[])"), "UID FETCH");
    }
}
