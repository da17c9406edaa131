//! POP3 TRANSACTION state: STAT, LIST, UIDL, RETR, TOP, DELE, RSET and NOOP over the session's
//! fixed maildrop. DELE only marks; the deletions are committed at QUIT (in `mod.rs`).

use std::io;

use super::maildrop::{stuffed, top, Maildrop, NoMessage};
use super::{status_line, Command, Flow, Session, State};
use crate::demo::faults::Pop3Step;

macro_rules! fault {
    ($self:ident, $step:expr) => {
        if let Some(flow) = $self.check($step).await? {
            return Ok(flow);
        }
    };
}

/// A multi-line response: the status line, the lines, the terminating ".".
fn multi(status: &str, lines: impl Iterator<Item = String>) -> Vec<u8> {
    let mut out = status_line(status).into_bytes();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

impl Session {
    fn maildrop(&mut self) -> Option<&mut Maildrop> {
        match &mut self.state {
            State::Transaction(m) => Some(m),
            State::Authorization { .. } => None,
        }
    }

    pub(super) async fn transaction(&mut self, c: Command) -> io::Result<Flow> {
        let args = c.args;
        let arg = |i: usize| args.get(i).map(String::as_str);
        match c.name.as_str() {
            "STAT" => self.stat().await,
            "LIST" => self.list(arg(0)).await,
            "UIDL" => self.uidl(arg(0)).await,
            "RETR" => match arg(0) {
                Some(n) => self.retr(n, None).await,
                None => self.client_error("RETR: message number expected.").await,
            },
            "TOP" => match (arg(0), arg(1).map(str::parse::<usize>)) {
                (Some(n), Some(Ok(lines))) => self.retr(n, Some(lines)).await,
                _ => {
                    self.client_error("TOP: message number and line count expected.")
                        .await
                }
            },
            "DELE" => match arg(0) {
                Some(n) => self.dele(n).await,
                None => self.client_error("DELE: message number expected.").await,
            },
            "RSET" => {
                if let Some(m) = self.maildrop() {
                    m.reset();
                }
                self.ok("").await?;
                Ok(Flow::Continue)
            }
            "NOOP" => {
                self.ok("").await?;
                Ok(Flow::Continue)
            }
            "STLS" | "USER" | "PASS" | "AUTH" => self.client_error("Already logged in.").await,
            _ => self.client_error("Unknown command.").await,
        }
    }

    /// The message a number names, or the `-ERR` the client gets.
    async fn message(&mut self, arg: &str) -> io::Result<Option<(usize, u32, usize)>> {
        let found = self.maildrop().map(|m| m.get(arg));
        match found {
            Some(Ok(msg)) => Ok(Some(msg)),
            Some(Err(e)) => {
                self.client_error(e.text()).await?;
                Ok(None)
            }
            None => {
                self.client_error(NoMessage::Invalid.text()).await?;
                Ok(None)
            }
        }
    }

    async fn stat(&mut self) -> io::Result<Flow> {
        fault!(self, Pop3Step::Stat);
        let (n, octets) = self.maildrop().map(|m| m.stat()).unwrap_or_default();
        self.ok(&format!("{n} {octets}")).await?;
        Ok(Flow::Continue)
    }

    async fn list(&mut self, arg: Option<&str>) -> io::Result<Flow> {
        fault!(self, Pop3Step::List);
        match arg {
            Some(a) => {
                if let Some((n, _, size)) = self.message(a).await? {
                    self.ok(&format!("{n} {size}")).await?;
                }
            }
            None => {
                let Some(m) = self.maildrop() else {
                    return Ok(Flow::Continue);
                };
                let (count, octets) = m.stat();
                let lines: Vec<String> = m.listing().map(|(n, _, s)| format!("{n} {s}")).collect();
                let reply = multi(
                    &format!("{count} messages ({octets} octets)"),
                    lines.into_iter(),
                );
                self.send_raw(&reply).await?;
            }
        }
        Ok(Flow::Continue)
    }

    async fn uidl(&mut self, arg: Option<&str>) -> io::Result<Flow> {
        fault!(self, Pop3Step::Uidl);
        match arg {
            Some(a) => {
                if let Some((n, uid, _)) = self.message(a).await? {
                    let id = self.maildrop().map(|m| m.uidl(uid)).unwrap_or_default();
                    self.ok(&format!("{n} {id}")).await?;
                }
            }
            None => {
                let Some(m) = self.maildrop() else {
                    return Ok(Flow::Continue);
                };
                let lines: Vec<String> = m
                    .listing()
                    .map(|(n, uid, _)| format!("{n} {}", m.uidl(uid)))
                    .collect();
                self.send_raw(&multi("", lines.into_iter())).await?;
            }
        }
        Ok(Flow::Continue)
    }

    /// RETR (`lines` None) or TOP.
    async fn retr(&mut self, arg: &str, lines: Option<usize>) -> io::Result<Flow> {
        fault!(self, Pop3Step::Retr);
        let Some((n, uid, size)) = self.message(arg).await? else {
            return Ok(Flow::Continue);
        };
        let store = self.shared.store.clone();
        let Some(bytes) = self.maildrop().and_then(|m| m.bytes(&store, uid)) else {
            // Another session deleted it after this one logged in; worded as Dovecot does.
            self.err(&format!("Message {n} expunged.")).await?;
            return Ok(Flow::Continue);
        };
        let body = match lines {
            None => &bytes[..],
            Some(n) => top(&bytes, n),
        };
        let mut reply = match lines {
            None => format!("+OK {size} octets\r\n").into_bytes(),
            Some(_) => b"+OK\r\n".to_vec(),
        };
        reply.extend_from_slice(&stuffed(body));
        self.send_raw(&reply).await?;
        Ok(Flow::Continue)
    }

    async fn dele(&mut self, arg: &str) -> io::Result<Flow> {
        fault!(self, Pop3Step::Dele);
        let Some((n, _, _)) = self.message(arg).await? else {
            return Ok(Flow::Continue);
        };
        if let Some(m) = self.maildrop() {
            m.delete(n);
        }
        self.ok("Marked to be deleted.").await?;
        Ok(Flow::Continue)
    }
}
