//! SMTP server session: connection setup (implicit TLS, greeting faults), the command loop
//! (lines parsed by `smtp_proto::Request::parse`), reply writing, and how a fault `Action`
//! replaces the normal reply at an `SmtpStep`. Command handlers live in `commands.rs`.

mod commands;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use smtp_proto::{Error as ParseError, Request};
use tokio::net::TcpStream;

pub(crate) use crate::demo::conn::Flow;
use crate::demo::conn::{one_line, Conn, Farewell, IoStream, Line, GARBAGE};
use crate::demo::faults::{Action, Flood, Proto, SmtpStep};
use crate::demo::Shared;

/// Longest command line accepted (AUTH lines with OAuth tokens can be long).
const MAX_LINE: usize = 16 * 1024;
/// Errors tolerated before the server gives up on a client.
const MAX_ERRORS: u32 = 20;

pub(crate) struct Session {
    shared: Arc<Shared>,
    conn: Conn,
    implicit_tls: bool,
    helo: Option<String>,
    user: Option<String>,
    from: Option<String>,
    rcpts: Vec<String>,
    /// A non-2xx greeting was sent: answer 503 to everything but QUIT.
    greeting_rejected: bool,
    errors: u32,
    /// Set by a `Drip` fault for the step's reply.
    drip: Option<Duration>,
    /// Set by a 2xx/3xx `Reply` fault: replaces the step's reply.
    reply_override: Option<(u16, String)>,
}

/// Serve one accepted SMTP connection to the end.
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
        helo: None,
        user: None,
        from: None,
        rcpts: Vec::new(),
        greeting_rejected: false,
        errors: 0,
        drip: None,
        reply_override: None,
    };
    let ended = s.run().await;
    let farewell = Farewell {
        shutdown: b"421 4.3.2 Service shutting down\r\n",
        idle: b"421 4.4.2 Error: timeout exceeded\r\n",
    };
    s.conn.end(ended, "smtp", farewell).await;
}

impl Session {
    async fn run(&mut self) -> io::Result<Flow> {
        // Connection-level greeting faults act before any TLS handshake.
        match self.shared.faults.smtp(SmtpStep::Greeting) {
            Some(Action::Refuse | Action::Reset) => return Ok(Flow::Abort),
            Some(Action::Close) => return Ok(Flow::Close),
            Some(Action::Stall) => {
                self.conn.stall().await;
                return Ok(Flow::Close);
            }
            _ => {}
        }
        if self.implicit_tls {
            let config = self.shared.tls.config(self.shared.faults.cert(Proto::Smtp));
            self.conn.upgrade(config).await?;
        }
        match self.check(SmtpStep::Greeting).await? {
            Some(Flow::Continue) => self.greeting_rejected = true,
            Some(flow) => return Ok(flow),
            None => {
                let text = format!("{} ESMTP mailcanary demo", self.shared.opts.hostname);
                self.reply(220, &text).await?;
            }
        }
        loop {
            let line = match self.conn.read_line(MAX_LINE).await? {
                Line::Full(line) => line,
                Line::TooLong => {
                    self.reply(500, "5.5.2 Error: line too long").await?;
                    continue;
                }
                Line::Eof => return Ok(Flow::Close),
            };
            self.drip = None;
            self.reply_override = None;
            let flow = match Request::parse(&mut line.iter()) {
                Ok(request) => self.command(request.into_owned()).await?,
                Err(e) => self.parse_error(e).await?,
            };
            if flow != Flow::Continue {
                return Ok(flow);
            }
            if self.errors >= MAX_ERRORS {
                self.reply(421, "4.7.0 Error: too many errors").await?;
                return Ok(Flow::Close);
            }
        }
    }

    async fn parse_error(&mut self, e: ParseError) -> io::Result<Flow> {
        self.errors += 1;
        let (code, text) = match e {
            ParseError::UnknownCommand => (500, "5.5.2 Error: command not recognized".to_string()),
            ParseError::InvalidSenderAddress => {
                (501, "5.1.7 Bad sender address syntax".to_string())
            }
            ParseError::InvalidRecipientAddress => {
                (501, "5.1.3 Bad recipient address syntax".to_string())
            }
            ParseError::SyntaxError { syntax } => (501, format!("5.5.4 Syntax: {syntax}")),
            ParseError::InvalidParameter { param } => {
                (501, format!("5.5.4 Invalid parameter: {param}"))
            }
            ParseError::UnsupportedParameter { param } => {
                (555, format!("5.5.4 Unsupported parameter: {param}"))
            }
            _ => (500, "5.5.2 Error: bad syntax".to_string()),
        };
        self.reply(code, &text).await?;
        Ok(Flow::Continue)
    }

    /// Apply the fault configured for `step`, if any. `None`: proceed normally (possibly with
    /// `drip` / `reply_override` set). `Some(flow)`: the fault replaced the step.
    async fn check(&mut self, step: SmtpStep) -> io::Result<Option<Flow>> {
        let Some(action) = self.shared.faults.smtp(step) else {
            return Ok(None);
        };
        tracing::debug!(?step, ?action, "smtp fault");
        Ok(match action {
            Action::Refuse | Action::Reset => Some(Flow::Abort),
            Action::Close => Some(Flow::Close),
            Action::Stall => {
                self.conn.stall().await;
                Some(Flow::Close)
            }
            Action::Drip(interval) => {
                self.drip = Some(interval);
                None
            }
            Action::Garbage => {
                self.conn.write_all(GARBAGE).await?;
                Some(Flow::Continue)
            }
            Action::Reply(code, text) if (200..400).contains(&code) => {
                self.reply_override = Some((code, one_line(&text)));
                None
            }
            Action::Reply(code, text) => {
                self.line(code, &one_line(&text)).await?;
                Some(if code == 421 {
                    Flow::Close
                } else {
                    Flow::Continue
                })
            }
            Action::No(text) => {
                self.line(550, &one_line(&text)).await?;
                Some(Flow::Continue)
            }
            Action::Bad(text) => {
                self.line(500, &one_line(&text)).await?;
                Some(Flow::Continue)
            }
            Action::Flood(flood) => {
                let code = if step == SmtpStep::Greeting { 220 } else { 250 };
                match flood {
                    Flood::LongLine(n) | Flood::Literal(n) => {
                        let head = format!("{code} ");
                        self.conn
                            .flood(head.as_bytes(), b"x", Some(n), b"\r\n")
                            .await?
                    }
                    Flood::Endless => {
                        let line = format!("{code}-flood\r\n");
                        self.conn.flood(b"", line.as_bytes(), None, b"").await?
                    }
                }
                Some(Flow::Close)
            }
        })
    }

    /// Send one reply line, honouring a pending override and drip.
    async fn reply(&mut self, code: u16, text: &str) -> io::Result<()> {
        match self.reply_override.take() {
            Some((c, t)) => self.line(c, &t).await,
            None => self.line(code, text).await,
        }
    }

    async fn line(&mut self, code: u16, text: &str) -> io::Result<()> {
        let bytes = format!("{code} {text}\r\n");
        self.send_raw(bytes.as_bytes()).await
    }

    /// Send prepared reply bytes (e.g. multi-line EHLO), honouring a pending drip.
    async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let drip = self.drip.take();
        self.conn.send(bytes, drip).await
    }

    fn reset_transaction(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }

    fn tls_active(&self) -> bool {
        self.conn.is_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_parser_survives_noise() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let prefixes: [&[u8]; 6] = [
            b"MAIL FROM:<",
            b"RCPT TO:<",
            b"AUTH ",
            b"EHLO ",
            b"BDAT ",
            b"",
        ];
        for i in 0..20_000usize {
            let mut line = prefixes[i % prefixes.len()].to_vec();
            for _ in 0..(i % 64) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                line.push((x >> 24) as u8);
            }
            line.extend_from_slice(b"\r\n");
            let _ = Request::parse(&mut line.iter());
        }
    }
}
