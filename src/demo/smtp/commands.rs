//! SMTP command handlers: EHLO/HELO, STARTTLS, AUTH (PLAIN, LOGIN, XOAUTH2, OAUTHBEARER with
//! and without initial response), MAIL, RCPT, DATA (dot-unstuffing by
//! `smtp_proto::request::receiver::DataReceiver`), RSET, NOOP, QUIT and the rest.

use std::io;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use smtp_proto::request::receiver::DataReceiver;
use smtp_proto::{EhloResponse, Request};

use super::{Flow, Session, MAX_LINE};
use crate::demo::conn::Line;
use crate::demo::delivery;
use crate::demo::faults::{Proto, SmtpStep};
use crate::demo::sasl::{Exchange, Mechanism, Step};

const MAX_RECIPIENTS: usize = 100;

macro_rules! fault {
    ($self:ident, $step:expr) => {
        if let Some(flow) = $self.check($step).await? {
            return Ok(flow);
        }
    };
}

impl Session {
    pub(super) async fn command(&mut self, request: Request<String>) -> io::Result<Flow> {
        if self.greeting_rejected && !matches!(request, Request::Quit) {
            self.reply(503, "5.5.1 Error: bad sequence of commands")
                .await?;
            return Ok(Flow::Continue);
        }
        match request {
            Request::Ehlo { host } => self.ehlo(host, true).await,
            Request::Helo { host } => self.ehlo(host, false).await,
            Request::StartTls => self.starttls().await,
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response).await,
            Request::Mail { from } => self.mail(from.address, from.size).await,
            Request::Rcpt { to } => self.rcpt(to.address).await,
            Request::Data => self.data().await,
            Request::Rset => {
                self.reset_transaction();
                self.reply(250, "2.0.0 Ok").await?;
                Ok(Flow::Continue)
            }
            Request::Noop { .. } => {
                self.reply(250, "2.0.0 Ok").await?;
                Ok(Flow::Continue)
            }
            Request::Quit => {
                self.reply(221, "2.0.0 Bye").await?;
                Ok(Flow::Close)
            }
            Request::Vrfy { .. } => {
                self.reply(252, "2.0.0 Cannot VRFY user").await?;
                Ok(Flow::Continue)
            }
            Request::Help { .. } => {
                self.reply(214, "2.0.0 mailcanary demo server").await?;
                Ok(Flow::Continue)
            }
            _ => {
                self.errors += 1;
                self.reply(502, "5.5.1 Error: command not implemented")
                    .await?;
                Ok(Flow::Continue)
            }
        }
    }

    async fn ehlo(&mut self, host: String, extended: bool) -> io::Result<Flow> {
        fault!(self, SmtpStep::Ehlo);
        self.reset_transaction();
        self.helo = Some(host);
        let hostname = self.shared.opts.hostname.clone();
        if !extended {
            self.reply(250, &hostname).await?;
            return Ok(Flow::Continue);
        }
        if let Some((code, text)) = self.reply_override.take() {
            self.line(code, &text).await?;
            return Ok(Flow::Continue);
        }
        let mut ehlo = EhloResponse::new(hostname);
        ehlo.capabilities = smtp_proto::EXT_8BIT_MIME
            | smtp_proto::EXT_ENHANCED_STATUS_CODES
            | smtp_proto::EXT_PIPELINING
            | smtp_proto::EXT_SIZE;
        ehlo.size = self.shared.opts.max_message_size;
        if !self.tls_active() {
            ehlo.capabilities |= smtp_proto::EXT_START_TLS;
        }
        if self.user.is_none() && (self.tls_active() || self.shared.opts.allow_plaintext_auth) {
            ehlo.capabilities |= smtp_proto::EXT_AUTH;
            ehlo.auth_mechanisms = smtp_proto::AUTH_PLAIN
                | smtp_proto::AUTH_LOGIN
                | smtp_proto::AUTH_XOAUTH2
                | smtp_proto::AUTH_OAUTHBEARER;
        }
        let mut bytes = Vec::new();
        ehlo.write(&mut bytes)?;
        // smtp-proto's first line reads "250-<host> you had me at EHLO"; keep just the host.
        let first_end = bytes.iter().position(|b| *b == b'\n').map_or(0, |p| p + 1);
        let mut reply = format!("250-{}\r\n", self.shared.opts.hostname).into_bytes();
        reply.extend_from_slice(&bytes[first_end..]);
        self.send_raw(&reply).await?;
        Ok(Flow::Continue)
    }

    async fn starttls(&mut self) -> io::Result<Flow> {
        if self.tls_active() {
            self.errors += 1;
            self.reply(554, "5.5.1 Error: TLS already active").await?;
            return Ok(Flow::Continue);
        }
        fault!(self, SmtpStep::StartTls);
        self.reply(220, "2.0.0 Ready to start TLS").await?;
        let config = self.shared.tls.config(self.shared.faults.cert(Proto::Smtp));
        self.conn.upgrade(config).await?;
        self.helo = None;
        self.user = None;
        self.reset_transaction();
        Ok(Flow::Continue)
    }

    /// Read one SASL answer line: Ok(None) if the client cancelled with `*`.
    async fn sasl_answer(&mut self) -> io::Result<Option<Result<Vec<u8>, ()>>> {
        let line = match self.conn.read_line(MAX_LINE).await? {
            Line::Full(line) => line,
            Line::TooLong => return Ok(Some(Err(()))),
            Line::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
        };
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text == "*" {
            return Ok(None);
        }
        Ok(Some(B64.decode(text).map_err(|_| ())))
    }

    async fn auth(&mut self, mechanism: u64, initial: String) -> io::Result<Flow> {
        let refusal = if self.helo.is_none() {
            Some((503, "5.5.1 Error: send HELO/EHLO first"))
        } else if self.user.is_some() {
            Some((503, "5.5.1 Error: already authenticated"))
        } else if self.from.is_some() {
            Some((503, "5.5.1 Error: MAIL transaction in progress"))
        } else if !self.tls_active() && !self.shared.opts.allow_plaintext_auth {
            Some((
                538,
                "5.7.11 Encryption required for requested authentication mechanism",
            ))
        } else {
            None
        };
        if let Some((code, text)) = refusal {
            self.errors += 1;
            self.reply(code, text).await?;
            return Ok(Flow::Continue);
        }
        let mech = match mechanism {
            smtp_proto::AUTH_PLAIN => Mechanism::Plain,
            smtp_proto::AUTH_LOGIN => Mechanism::Login,
            smtp_proto::AUTH_XOAUTH2 => Mechanism::XOAuth2,
            smtp_proto::AUTH_OAUTHBEARER => Mechanism::OAuthBearer,
            _ => {
                self.errors += 1;
                self.reply(504, "5.5.4 Unrecognized authentication type")
                    .await?;
                return Ok(Flow::Continue);
            }
        };
        let initial = match initial.trim() {
            "" => None,
            "=" => Some(Vec::new()),
            text => match B64.decode(text) {
                Ok(data) => Some(data),
                Err(_) => {
                    self.errors += 1;
                    self.reply(501, "5.5.2 Cannot decode response").await?;
                    return Ok(Flow::Continue);
                }
            },
        };
        let store = self.shared.store.clone();
        let (mut exchange, mut step) = Exchange::start(mech, initial.as_deref(), &store);
        let user = loop {
            match step {
                Step::Done(user) => break user,
                Step::Challenge(challenge) => {
                    self.line(334, &B64.encode(challenge)).await?;
                    match self.sasl_answer().await? {
                        None => {
                            self.reply(501, "5.7.0 Authentication aborted").await?;
                            return Ok(Flow::Continue);
                        }
                        Some(Err(())) => {
                            self.errors += 1;
                            self.reply(501, "5.5.2 Cannot decode response").await?;
                            return Ok(Flow::Continue);
                        }
                        Some(Ok(answer)) => step = exchange.step(&answer, &store),
                    }
                }
            }
        };
        fault!(self, SmtpStep::Auth);
        match user {
            Some(user) => {
                self.user = Some(user);
                self.reply(235, "2.7.0 Authentication successful").await?;
            }
            None => {
                self.errors += 1;
                self.reply(
                    535,
                    "5.7.8 Error: authentication failed: Invalid credentials",
                )
                .await?;
            }
        }
        Ok(Flow::Continue)
    }

    async fn mail(&mut self, from: String, size: usize) -> io::Result<Flow> {
        let refusal = if self.helo.is_none() {
            Some((503, "5.5.1 Error: send HELO/EHLO first"))
        } else if self.from.is_some() {
            Some((503, "5.5.1 Error: nested MAIL command"))
        } else if self.shared.opts.require_auth && self.user.is_none() {
            Some((530, "5.7.0 Authentication required"))
        } else {
            None
        };
        if let Some((code, text)) = refusal {
            self.errors += 1;
            self.reply(code, text).await?;
            return Ok(Flow::Continue);
        }
        fault!(self, SmtpStep::MailFrom);
        if size > self.shared.opts.max_message_size {
            self.reply(552, "5.3.4 Message size exceeds fixed limit")
                .await?;
            return Ok(Flow::Continue);
        }
        self.from = Some(from);
        self.reply(250, "2.1.0 Ok").await?;
        Ok(Flow::Continue)
    }

    async fn rcpt(&mut self, to: String) -> io::Result<Flow> {
        if self.from.is_none() {
            self.errors += 1;
            self.reply(503, "5.5.1 Error: need MAIL command").await?;
            return Ok(Flow::Continue);
        }
        fault!(self, SmtpStep::RcptTo);
        if self.rcpts.len() >= MAX_RECIPIENTS {
            self.reply(452, "4.5.3 Error: too many recipients").await?;
            return Ok(Flow::Continue);
        }
        match self.shared.store.resolve_user(&to) {
            Some(user) => {
                self.rcpts.push(user);
                self.reply(250, "2.1.5 Ok").await?;
            }
            None => {
                self.errors += 1;
                let text = format!("5.1.1 <{to}>: Recipient address rejected: User unknown in local recipient table");
                self.reply(550, &text).await?;
            }
        }
        Ok(Flow::Continue)
    }

    async fn data(&mut self) -> io::Result<Flow> {
        if self.rcpts.is_empty() {
            self.errors += 1;
            let text = if self.from.is_none() {
                "5.5.1 Error: need RCPT command"
            } else {
                "5.5.1 Error: no valid recipients"
            };
            self.reply(if self.from.is_none() { 503 } else { 554 }, text)
                .await?;
            return Ok(Flow::Continue);
        }
        fault!(self, SmtpStep::Data);
        self.reply(354, "End data with <CR><LF>.<CR><LF>").await?;
        let max = self.shared.opts.max_message_size;
        let mut receiver = DataReceiver::new();
        let mut message = Vec::new();
        let mut too_big = false;
        loop {
            let done = {
                let mut iter = self.conn.buf.iter();
                let done = receiver.ingest(&mut iter, &mut message);
                let rest = iter.as_slice().to_vec();
                self.conn.buf = rest;
                done
            };
            if message.len() > max {
                too_big = true;
                message.clear();
            }
            if done {
                break;
            }
            if self.conn.read_some().await? == 0 {
                return Ok(Flow::Close);
            }
        }
        if too_big {
            self.reset_transaction();
            self.reply(552, "5.3.4 Error: message file too big").await?;
            return Ok(Flow::Continue);
        }
        let rcpts = std::mem::take(&mut self.rcpts);
        self.from = None;
        fault!(self, SmtpStep::EndOfData);
        let queue_id = delivery::accept(&self.shared, &rcpts, message);
        self.reply(250, &format!("2.0.0 Ok: queued as {queue_id}"))
            .await?;
        Ok(Flow::Continue)
    }
}
