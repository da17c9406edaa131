//! POP3 on the wire: commands out, status lines and multi-line responses in (RFC 1939 §3), and
//! how a reply or an I/O error reads as a [`Failure`].
//!
//! Everything read passes through [`Bounded`] with a [`Pop3Scan`], so no reply can make the
//! probe hold more than the limits of [`super::limits`]. Server text only ever reaches a failure
//! detail lossily decoded and cut short; it is never parsed with anything that can panic.

use super::limits::Pop3Scan;
use crate::probe::bounded::Bounded;
use crate::probe::net::{self, classify_io};
use crate::probe::{Failure, Reason, Stage};
use std::io;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The connection: plain or TLS, what it reads bounded.
pub type Stream = BufReader<Bounded<net::Conn, Pop3Scan>>;

/// A status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// `+OK text`.
    Ok(String),
    /// `-ERR text`.
    Err(String),
    /// `+ challenge` (base64), during AUTH (RFC 5034 §4).
    More(String),
}

/// Wraps a connection for POP3.
pub fn stream(conn: net::Conn, max_message: u64) -> Stream {
    BufReader::new(Bounded::new(conn, Pop3Scan::new(max_message)))
}

/// The connection under the stream, for the STLS upgrade. What the server sent after its
/// `+OK` (nothing, if it follows RFC 2595 §4) is dropped with the buffer, never read as if it
/// had come over TLS.
pub fn into_conn(s: Stream) -> net::Conn {
    s.into_inner().into_inner()
}

/// Server text fit for a failure detail: lossy UTF-8, control characters dropped, at most 200
/// characters.
pub fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

/// The failure an I/O error makes at `stage` (a crossed limit reads as `protocol_error`).
pub fn io_failure(stage: Stage, e: &io::Error) -> Failure {
    Failure::new(stage, classify_io(e), e.to_string())
}

/// Sends one command line (CRLF added).
pub async fn send(s: &mut Stream, stage: Stage, line: &str) -> Result<(), Failure> {
    let w = s.get_mut();
    let mut bytes = Vec::with_capacity(line.len().saturating_add(2));
    bytes.extend_from_slice(line.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    w.write_all(&bytes)
        .await
        .map_err(|e| io_failure(stage, &e))?;
    w.flush().await.map_err(|e| io_failure(stage, &e))
}

/// Reads one line, its CRLF (or bare LF) removed. The server closing first is `reset`.
pub async fn line(s: &mut Stream, stage: Stage) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    let n = s
        .read_until(b'\n', &mut buf)
        .await
        .map_err(|e| io_failure(stage, &e))?;
    if n == 0 || buf.last() != Some(&b'\n') {
        return Err(Failure::new(
            stage,
            Reason::Reset,
            "connection closed by the server in the middle of a reply",
        ));
    }
    buf.pop();
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(buf)
}

/// Reads a status line: `+OK`, `-ERR` or, during AUTH, `+ `. Anything else is `protocol_error`.
pub async fn status(s: &mut Stream, stage: Stage) -> Result<Status, Failure> {
    let l = line(s, stage).await?;
    parse_status(&l).ok_or_else(|| {
        Failure::new(
            stage,
            Reason::ProtocolError,
            format!("not a POP3 status line: {}", shown(&l)),
        )
    })
}

fn parse_status(l: &[u8]) -> Option<Status> {
    let text = |rest: &[u8]| shown(rest.strip_prefix(b" ").unwrap_or(rest));
    let upper: Vec<u8> = l.iter().take(4).map(u8::to_ascii_uppercase).collect();
    if upper.starts_with(b"+OK") && matches!(l.get(3), None | Some(b' ')) {
        Some(Status::Ok(text(l.get(3..).unwrap_or_default())))
    } else if upper.starts_with(b"-ERR") && matches!(l.get(4), None | Some(b' ')) {
        Some(Status::Err(text(l.get(4..).unwrap_or_default())))
    } else if l.first() == Some(&b'+') && matches!(l.get(1), None | Some(b' ')) {
        Some(Status::More(text(l.get(1..).unwrap_or_default())))
    } else {
        None
    }
}

/// Sends `line` and reads its status; `+OK` gives its text, `-ERR` a failure classified by
/// [`err_reason`], a `+ ` challenge `protocol_error` (only AUTH may send one).
pub async fn command(s: &mut Stream, stage: Stage, line: &str) -> Result<String, Failure> {
    send(s, stage, line).await?;
    expect_ok(s, stage).await
}

/// Reads a status line that must be `+OK`.
pub async fn expect_ok(s: &mut Stream, stage: Stage) -> Result<String, Failure> {
    match status(s, stage).await? {
        Status::Ok(t) => Ok(t),
        Status::Err(t) => Err(Failure::new(
            stage,
            err_reason(stage, &t),
            format!("-ERR {t}"),
        )),
        Status::More(t) => Err(Failure::new(
            stage,
            Reason::ProtocolError,
            format!("unexpected continuation: + {t}"),
        )),
    }
}

/// How a `-ERR` reads. The response codes of RFC 2449 §8 and RFC 3206 say whether it is
/// temporary (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`) or permanent (`[SYS/PERM]`); without one,
/// a refused login is `auth_rejected` and any other refusal `perm_fail`.
pub fn err_reason(stage: Stage, text: &str) -> Reason {
    let code = text
        .strip_prefix('[')
        .and_then(|t| t.split_once(']'))
        .map(|(c, _)| c.to_ascii_uppercase());
    match code.as_deref() {
        Some("IN-USE" | "LOGIN-DELAY" | "SYS/TEMP") => Reason::TempFail,
        Some("SYS/PERM") => Reason::PermFail,
        Some("AUTH") => Reason::AuthRejected,
        _ if stage == Stage::Pop3Login => Reason::AuthRejected,
        _ => Reason::PermFail,
    }
}

/// Whether a failed command's `-ERR` says its message was expunged by another session
/// (Dovecot: `-ERR Message 2 expunged.`). No response code of RFC 2449 or RFC 3206 says so, so
/// the words are read: a `-ERR` that names no expunge is never taken for one.
pub fn expunged(f: &Failure) -> bool {
    f.reason == Reason::PermFail
        && f.detail.starts_with("-ERR ")
        && f.detail.to_ascii_lowercase().contains("expunged")
}

/// Reads the body of a multi-line response (after its `+OK`), dot-unstuffed, handing each
/// line to `each`; ends at the line holding a single dot.
pub async fn multiline(
    s: &mut Stream,
    stage: Stage,
    mut each: impl FnMut(&[u8]) -> Result<(), Failure>,
) -> Result<(), Failure> {
    loop {
        let l = line(s, stage).await?;
        match l.strip_prefix(b".") {
            Some([]) => return Ok(()),
            Some(rest) => each(rest)?,
            None => each(&l)?,
        }
    }
}

/// Reads a multi-line response as one message, lines joined with CRLF.
pub async fn message(s: &mut Stream, stage: Stage) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    multiline(s, stage, |l| {
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
        Ok(())
    })
    .await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_parse_and_anything_else_does_not() {
        assert_eq!(parse_status(b"+OK ready"), Some(Status::Ok("ready".into())));
        assert_eq!(parse_status(b"+ok"), Some(Status::Ok(String::new())));
        assert_eq!(
            parse_status(b"-ERR [AUTH] no"),
            Some(Status::Err("[AUTH] no".into()))
        );
        assert_eq!(parse_status(b"+ "), Some(Status::More(String::new())));
        assert_eq!(parse_status(b"+"), Some(Status::More(String::new())));
        for bad in [
            &b"* OK imap"[..],
            b"220 smtp",
            b"+OKAY",
            b"-ERROR",
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_status(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn response_codes_decide_between_temporary_and_permanent() {
        let l = Stage::Pop3Login;
        assert_eq!(err_reason(l, "[IN-USE] mailbox locked"), Reason::TempFail);
        assert_eq!(err_reason(l, "[SYS/TEMP] try later"), Reason::TempFail);
        assert_eq!(err_reason(l, "[sys/perm] gone"), Reason::PermFail);
        assert_eq!(err_reason(l, "bad password"), Reason::AuthRejected);
        assert_eq!(err_reason(Stage::Pop3List, "no UIDL"), Reason::PermFail);
        assert_eq!(err_reason(Stage::Pop3Retr, "[AUTH"), Reason::PermFail);
        let retr = |t: &str| {
            Failure::new(
                Stage::Pop3Retr,
                err_reason(Stage::Pop3Retr, t),
                format!("-ERR {t}"),
            )
        };
        assert!(expunged(&retr("Message 2 expunged.")));
        assert!(!expunged(&retr("no such message")));
        assert!(!expunged(&retr("[SYS/TEMP] expunged, try later")));
        assert!(!expunged(&Failure::new(
            Stage::Pop3Retr,
            Reason::PermFail,
            "expunged"
        )));
    }

    #[test]
    fn server_text_is_shown_without_control_characters_and_cut_short() {
        assert_eq!(shown(b"a\x1b[2Jb\r\n"), "a[2Jb");
        assert_eq!(shown(&[b'x'; 1000]).len(), 200);
    }
}
