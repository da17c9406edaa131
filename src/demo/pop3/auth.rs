//! POP3 AUTHORIZATION state: CAPA (in every state), STLS, USER/PASS, and AUTH (PLAIN, LOGIN,
//! XOAUTH2, OAUTHBEARER, with or without an initial response) over the shared SASL code;
//! logins are refused on a connection without TLS unless plaintext auth is allowed, as Dovecot
//! does with `disable_plaintext_auth`.

use std::io;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::{Command, Flow, Maildrop, Session, State, MAX_LINE};
use crate::demo::conn::Line;
use crate::demo::faults::{Pop3Step, Proto};
use crate::demo::sasl::{Exchange, Mechanism, Step};

const MECHANISMS: &str = "PLAIN LOGIN XOAUTH2 OAUTHBEARER";
const PLAINTEXT: &str =
    "[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";

macro_rules! fault {
    ($self:ident, $step:expr) => {
        if let Some(flow) = $self.check($step).await? {
            return Ok(flow);
        }
    };
}

/// A SASL answer line: decoded, cancelled (`*`), or not base64.
enum Answer {
    Data(Vec<u8>),
    Cancelled,
    Undecodable,
}

impl Session {
    fn tls_active(&self) -> bool {
        self.conn.is_tls()
    }

    fn login_allowed(&self) -> bool {
        self.tls_active() || self.shared.opts.allow_plaintext_auth
    }

    pub(super) async fn capa(&mut self) -> io::Result<Flow> {
        fault!(self, Pop3Step::Capa);
        let mut caps = vec![
            "TOP".to_string(),
            "UIDL".into(),
            "RESP-CODES".into(),
            "AUTH-RESP-CODE".into(),
            "PIPELINING".into(),
        ];
        if matches!(self.state, State::Authorization { .. }) {
            if !self.tls_active() {
                caps.push("STLS".into());
            }
            if self.login_allowed() {
                caps.push("USER".into());
                caps.push(format!("SASL {MECHANISMS}"));
            }
        }
        caps.push("IMPLEMENTATION mailcanary-demo".into());
        let mut reply = String::from("+OK Capability list follows\r\n");
        for c in caps {
            reply.push_str(&c);
            reply.push_str("\r\n");
        }
        reply.push_str(".\r\n");
        self.send_raw(reply.as_bytes()).await?;
        Ok(Flow::Continue)
    }

    pub(super) async fn authorization(&mut self, c: Command) -> io::Result<Flow> {
        match c.name.as_str() {
            "STLS" => self.stls().await,
            "USER" => self.user(c.args).await,
            "PASS" => self.pass(c.rest).await,
            "AUTH" => self.auth(c.args).await,
            "STAT" | "LIST" | "UIDL" | "RETR" | "TOP" | "DELE" | "RSET" | "NOOP" => {
                self.client_error("Not logged in.").await
            }
            _ => self.client_error("Unknown command.").await,
        }
    }

    async fn stls(&mut self) -> io::Result<Flow> {
        if self.tls_active() {
            return self.client_error("TLS is already active.").await;
        }
        fault!(self, Pop3Step::Stls);
        self.ok("Begin TLS negotiation now.").await?;
        let config = self.shared.tls.config(self.shared.faults.cert(Proto::Pop3));
        self.conn.upgrade(config).await?;
        self.state = State::Authorization { user: None };
        Ok(Flow::Continue)
    }

    async fn user(&mut self, args: Vec<String>) -> io::Result<Flow> {
        if !self.login_allowed() {
            return self.client_error(PLAINTEXT).await;
        }
        let Some(name) = args.into_iter().next() else {
            return self.client_error("USER: no user name given.").await;
        };
        fault!(self, Pop3Step::User);
        self.state = State::Authorization { user: Some(name) };
        self.ok("Send the password.").await?;
        Ok(Flow::Continue)
    }

    async fn pass(&mut self, password: String) -> io::Result<Flow> {
        let State::Authorization { user: Some(name) } = &self.state else {
            return self.client_error("No user name given (USER first).").await;
        };
        let name = name.clone();
        fault!(self, Pop3Step::Auth);
        let user = self.shared.store.check_password(&name, &password);
        self.logged_in(user).await
    }

    /// Read one SASL answer line.
    async fn sasl_answer(&mut self) -> io::Result<Answer> {
        let line = match self.conn.read_line(MAX_LINE).await? {
            Line::Full(line) => line,
            Line::TooLong => return Ok(Answer::Undecodable),
            Line::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
        };
        let text = String::from_utf8_lossy(&line);
        Ok(match text.trim() {
            "*" => Answer::Cancelled,
            t => B64.decode(t).map_or(Answer::Undecodable, Answer::Data),
        })
    }

    async fn auth(&mut self, args: Vec<String>) -> io::Result<Flow> {
        let mut args = args.into_iter();
        let Some(name) = args.next() else {
            // RFC 1734's form: the list of mechanisms.
            let list = MECHANISMS.replace(' ', "\r\n");
            let reply = format!("+OK\r\n{list}\r\n.\r\n");
            self.send_raw(reply.as_bytes()).await?;
            return Ok(Flow::Continue);
        };
        if !self.login_allowed() {
            return self.client_error(PLAINTEXT).await;
        }
        let Some(mech) = Mechanism::parse(&name) else {
            return self
                .client_error("Unsupported authentication mechanism.")
                .await;
        };
        let initial = match args.next().as_deref() {
            None => None,
            Some("=") => Some(Vec::new()),
            Some(text) => match B64.decode(text) {
                Ok(data) => Some(data),
                Err(_) => return self.client_error("Invalid base64 data.").await,
            },
        };
        let store = self.shared.store.clone();
        let (mut exchange, mut step) = Exchange::start(mech, initial.as_deref(), &store);
        let user = loop {
            match step {
                Step::Done(user) => break user,
                Step::Challenge(challenge) => {
                    let line = format!("+ {}\r\n", B64.encode(challenge));
                    self.send_raw(line.as_bytes()).await?;
                    match self.sasl_answer().await? {
                        Answer::Cancelled => {
                            self.err("Authentication cancelled.").await?;
                            return Ok(Flow::Continue);
                        }
                        Answer::Undecodable => {
                            return self.client_error("Invalid base64 data.").await
                        }
                        Answer::Data(answer) => step = exchange.step(&answer, &store),
                    }
                }
            }
        };
        fault!(self, Pop3Step::Auth);
        self.logged_in(user).await
    }

    /// After the credentials were judged: TRANSACTION state with the maildrop, or `-ERR`.
    async fn logged_in(&mut self, user: Option<String>) -> io::Result<Flow> {
        let Some(user) = user else {
            self.state = State::Authorization { user: None };
            self.errors += 1;
            self.err("[AUTH] Authentication failed.").await?;
            return Ok(Flow::Continue);
        };
        match Maildrop::open(&self.shared.store, &user) {
            Ok(maildrop) => {
                self.state = State::Transaction(maildrop);
                self.ok("Logged in.").await?;
            }
            Err(e) => {
                self.state = State::Authorization { user: None };
                self.err(&format!("[SYS/PERM] Cannot open the mailbox: {e}."))
                    .await?;
            }
        }
        Ok(Flow::Continue)
    }
}
