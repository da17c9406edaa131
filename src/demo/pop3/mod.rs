//! POP3 server session (RFC 1939, with CAPA from RFC 2449, STLS from RFC 2595 and AUTH from
//! RFC 5034): connection setup (implicit TLS, greeting faults), the command loop over bounded
//! lines, reply writing, and how a fault `Action` replaces the normal reply at a `Pop3Step`.
//! The AUTHORIZATION-state commands are in `auth.rs`, the TRANSACTION-state ones in
//! `transaction.rs`, and the session's fixed view of the mailbox in `maildrop.rs`.

mod auth;
mod maildrop;
mod transaction;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

pub(crate) use crate::demo::conn::Flow;
use crate::demo::conn::{one_line, Conn, Farewell, IoStream, Line, GARBAGE};
use crate::demo::faults::{Action, Flood, Pop3Step, Proto};
use crate::demo::Shared;
use maildrop::Maildrop;

/// Longest command line accepted (RFC 2449 allows 255 octets; AUTH lines with OAuth tokens are
/// longer).
const MAX_LINE: usize = 16 * 1024;
/// Errors tolerated before the server gives up on a client.
const MAX_ERRORS: u32 = 20;

/// RFC 1939's states; UPDATE is the commit at QUIT.
enum State {
    /// Not logged in; the name given by USER, if any.
    Authorization {
        user: Option<String>,
    },
    Transaction(Maildrop),
}

pub(crate) struct Session {
    shared: Arc<Shared>,
    conn: Conn,
    implicit_tls: bool,
    state: State,
    errors: u32,
    /// Set by a `Drip` fault for the step's reply.
    drip: Option<Duration>,
}

/// One command line: the keyword, upper-cased, and its space-separated arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command {
    pub name: String,
    pub args: Vec<String>,
    /// Everything after the keyword and one space, as sent (PASS: a password may hold spaces).
    pub rest: String,
}

impl Command {
    pub fn parse(line: &[u8]) -> Command {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        let (name, rest) = text.split_once(' ').unwrap_or((text, ""));
        let args = rest
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect();
        Command {
            name: name.to_ascii_uppercase(),
            args,
            rest: rest.to_string(),
        }
    }
}

/// Serve one accepted POP3 connection to the end.
pub(crate) async fn serve(shared: Arc<Shared>, tcp: TcpStream, implicit_tls: bool) {
    let conn = Conn::new(
        IoStream::Plain(tcp),
        shared.opts.io_timeout,
        shared.shutdown.clone(),
    );
    let mut s = Session {
        shared,
        conn,
        implicit_tls,
        state: State::Authorization { user: None },
        errors: 0,
        drip: None,
    };
    let ended = s.run().await;
    // Any end but QUIT (a drop, a timeout, a fault) commits no deletion.
    let farewell = Farewell {
        shutdown: b"-ERR Server shutting down.\r\n",
        idle: b"-ERR Disconnected for inactivity.\r\n",
    };
    s.conn.end(ended, "pop3", farewell).await;
}

/// `+OK`, with the text after a space when there is one.
fn status_line(text: &str) -> String {
    if text.is_empty() {
        "+OK\r\n".into()
    } else {
        format!("+OK {text}\r\n")
    }
}

/// Whether a step's normal reply is multi-line (a flood then sends body lines).
fn multi_line(step: Pop3Step) -> bool {
    matches!(
        step,
        Pop3Step::Capa | Pop3Step::List | Pop3Step::Uidl | Pop3Step::Retr
    )
}

/// One body line of an endless multi-line reply at `step`.
fn endless_line(step: Pop3Step) -> &'static [u8] {
    match step {
        Pop3Step::Uidl => b"1 00000001flood000000000000000000\r\n",
        Pop3Step::List => b"1 80\r\n",
        Pop3Step::Capa => b"X-FLOOD\r\n",
        _ => b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
    }
}

impl Session {
    async fn run(&mut self) -> io::Result<Flow> {
        // Connection-level greeting faults act before any TLS handshake.
        match self.shared.faults.pop3(Pop3Step::Greeting) {
            Some(Action::Refuse | Action::Reset) => return Ok(Flow::Abort),
            Some(Action::Close) => return Ok(Flow::Close),
            Some(Action::Stall) => {
                self.conn.stall().await;
                return Ok(Flow::Close);
            }
            _ => {}
        }
        if self.implicit_tls {
            let config = self.shared.tls.config(self.shared.faults.cert(Proto::Pop3));
            self.conn.upgrade(config).await?;
        }
        match self.check(Pop3Step::Greeting).await? {
            // Garbage instead of the greeting: whatever the client does next is served.
            Some(Flow::Continue) => {}
            Some(flow) => return Ok(flow),
            None => self.ok("mailcanary demo POP3 ready.").await?,
        }
        loop {
            let line = match self.conn.read_line(MAX_LINE).await? {
                Line::Full(line) => line,
                Line::TooLong => {
                    self.errors += 1;
                    self.err("Line too long.").await?;
                    continue;
                }
                Line::Eof => return Ok(Flow::Close),
            };
            self.drip = None;
            let flow = self.command(Command::parse(&line)).await?;
            if flow != Flow::Continue {
                return Ok(flow);
            }
            if self.errors >= MAX_ERRORS {
                self.err("Too many invalid commands.").await?;
                return Ok(Flow::Close);
            }
        }
    }

    async fn command(&mut self, c: Command) -> io::Result<Flow> {
        if c.name == "CAPA" {
            return self.capa().await;
        }
        if c.name == "QUIT" {
            return self.quit().await;
        }
        if matches!(self.state, State::Transaction(_)) {
            self.transaction(c).await
        } else {
            self.authorization(c).await
        }
    }

    /// Apply the fault configured for `step`, if any. `None`: proceed normally (possibly with
    /// `drip` set). `Some(flow)`: the fault replaced the step.
    async fn check(&mut self, step: Pop3Step) -> io::Result<Option<Flow>> {
        let Some(action) = self.shared.faults.pop3(step) else {
            return Ok(None);
        };
        tracing::debug!(?step, ?action, "pop3 fault");
        Ok(Some(match action {
            Action::Refuse | Action::Reset => Flow::Abort,
            Action::Close => Flow::Close,
            Action::Stall => {
                self.conn.stall().await;
                Flow::Close
            }
            Action::Drip(interval) => {
                self.drip = Some(interval);
                return Ok(None);
            }
            Action::Garbage => {
                self.conn.write_all(GARBAGE).await?;
                Flow::Continue
            }
            Action::Reply(_, text) | Action::No(text) | Action::Bad(text) => {
                let text = one_line(&text);
                let text = if step == Pop3Step::Auth && !text.starts_with('[') {
                    format!("[AUTH] {text}")
                } else {
                    text
                };
                self.err(&text).await?;
                if step == Pop3Step::Greeting {
                    Flow::Close
                } else {
                    Flow::Continue
                }
            }
            Action::Flood(flood) => {
                self.flood(step, flood).await?;
                Flow::Close
            }
        }))
    }

    /// More than any reply may hold, streamed (see [`Flood`]).
    async fn flood(&mut self, step: Pop3Step, flood: Flood) -> io::Result<()> {
        match (flood, multi_line(step)) {
            (Flood::LongLine(n), _) | (Flood::Literal(n), false) => {
                self.conn.flood(b"+OK ", b"x", Some(n), b"\r\n").await
            }
            (Flood::Endless, false) => self.conn.flood(b"+OK ", b"x", None, b"").await,
            (Flood::Endless, true) => {
                let line = endless_line(step);
                self.conn.flood(b"+OK\r\n", line, None, b"").await
            }
            (Flood::Literal(n), true) => {
                let head = format!("+OK {n} octets\r\n");
                let line = endless_line(Pop3Step::Retr);
                self.conn
                    .flood(head.as_bytes(), line, Some(n), b"\r\n.\r\n")
                    .await
            }
        }
    }

    async fn ok(&mut self, text: &str) -> io::Result<()> {
        self.send_raw(status_line(text).as_bytes()).await
    }

    async fn err(&mut self, text: &str) -> io::Result<()> {
        self.send_raw(format!("-ERR {text}\r\n").as_bytes()).await
    }

    /// Send prepared reply bytes (e.g. a multi-line response), honouring a pending drip.
    async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let drip = self.drip.take();
        self.conn.send(bytes, drip).await
    }

    /// An error of the client's (unknown command, bad argument): counted, then answered.
    async fn client_error(&mut self, text: &str) -> io::Result<Flow> {
        self.errors += 1;
        self.err(text).await?;
        Ok(Flow::Continue)
    }

    async fn quit(&mut self) -> io::Result<Flow> {
        if let Some(flow) = self.check(Pop3Step::Quit).await? {
            // The fault answered instead of +OK: the deletions are not committed.
            return Ok(if flow == Flow::Continue {
                Flow::Close
            } else {
                flow
            });
        }
        match &self.state {
            State::Transaction(maildrop) => {
                let removed = maildrop.commit(&self.shared.store);
                self.ok(&format!("Logging out, {removed} message(s) deleted."))
                    .await?
            }
            State::Authorization { .. } => self.ok("Logging out.").await?,
        }
        Ok(Flow::Close)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_case_insensitively_with_arguments() {
        let c = Command::parse(b"top 3 0\r\n");
        assert_eq!(c.name, "TOP");
        assert_eq!(c.args, vec!["3", "0"]);
        let c = Command::parse(b"QUIT\n");
        assert_eq!((c.name.as_str(), c.args.len()), ("QUIT", 0));
        assert_eq!(Command::parse(b"").name, "");
        let c = Command::parse(b"AUTH PLAIN  AGIA\r\n");
        assert_eq!(c.args, vec!["PLAIN", "AGIA"]);
        let c = Command::parse(b"PASS two  spaces \r\n");
        assert_eq!(c.rest, "two  spaces ");
        // Noise never panics.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..5_000usize {
            let mut line = Vec::new();
            for _ in 0..(i % 50) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                line.push((x >> 24) as u8);
            }
            let _ = Command::parse(&line);
        }
    }

    #[test]
    fn reply_text_is_one_line() {
        assert_eq!(one_line("a\r\nb"), "ab");
        assert_eq!(one_line("\r\n"), "Error");
    }

    #[test]
    fn floods_send_body_lines_only_for_multi_line_steps() {
        assert!(multi_line(Pop3Step::Uidl) && multi_line(Pop3Step::Retr));
        assert!(!multi_line(Pop3Step::Greeting) && !multi_line(Pop3Step::Stat));
        for step in [
            Pop3Step::Uidl,
            Pop3Step::List,
            Pop3Step::Capa,
            Pop3Step::Retr,
        ] {
            let line = endless_line(step);
            assert!(line.ends_with(b"\r\n") && !line.starts_with(b"."));
        }
        assert_eq!(endless_line(Pop3Step::Retr).len(), 80);
    }
}
