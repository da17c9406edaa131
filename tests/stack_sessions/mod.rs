//! Real sessions with the stack's listeners, independent of the agent, for tests that check
//! which listener a fault breaks and which it leaves alone: a line-oriented client that logs in
//! over IMAP (143 STARTTLS, 993), POP3 (110 STLS, 995) or SMTP submission (587 STARTTLS, 465),
//! keeps the session open, and later asks it for a `NOOP`. Every connect, read and write is
//! under a timeout; lines are bounded.
#![allow(dead_code)]

use base64::Engine;
use mailcanary::probe::net::Conn;
use mailcanary::tls::TlsContext;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every step of a session.
pub const T: Duration = Duration::from_secs(10);
/// Longest line read: a longer one is an error, not an allocation.
const MAX_LINE: usize = 64 * 1024;

/// One listener of the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Imap143,
    Imaps993,
    Pop3_110,
    Pop3s995,
    Submission587,
    Submissions465,
}

impl Listener {
    pub const ALL: [Listener; 6] = [
        Listener::Imap143,
        Listener::Imaps993,
        Listener::Pop3_110,
        Listener::Pop3s995,
        Listener::Submission587,
        Listener::Submissions465,
    ];

    pub fn port(self) -> u16 {
        match self {
            Listener::Imap143 => 143,
            Listener::Imaps993 => 993,
            Listener::Pop3_110 => 110,
            Listener::Pop3s995 => 995,
            Listener::Submission587 => 587,
            Listener::Submissions465 => 465,
        }
    }

    fn implicit_tls(self) -> bool {
        matches!(
            self,
            Listener::Imaps993 | Listener::Pop3s995 | Listener::Submissions465
        )
    }

    fn proto(self) -> Proto {
        match self {
            Listener::Imap143 | Listener::Imaps993 => Proto::Imap,
            Listener::Pop3_110 | Listener::Pop3s995 => Proto::Pop3,
            Listener::Submission587 | Listener::Submissions465 => Proto::Smtp,
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} (port {})", self.proto(), self.port())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Imap,
    Pop3,
    Smtp,
}

/// Why a login did not happen.
#[derive(Debug)]
pub enum Failed {
    /// The TCP connection was refused.
    Refused,
    /// Anything else, with the exchange's last words.
    Other(String),
}

fn other(e: impl fmt::Display) -> Failed {
    Failed::Other(e.to_string())
}

/// A plain or TLS connection read line by line.
pub struct Lines {
    conn: Conn,
    buf: Vec<u8>,
}

impl Lines {
    /// Connects (plain) to `addr`; a refusal is [`Failed::Refused`].
    pub async fn connect(addr: SocketAddr) -> Result<Lines, Failed> {
        match tokio::time::timeout(T, TcpStream::connect(addr)).await {
            Err(_) => Err(other(format!("connect to {addr}: timed out"))),
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Err(Failed::Refused),
            Ok(Err(e)) => Err(other(format!("connect to {addr}: {e}"))),
            Ok(Ok(tcp)) => Ok(Lines {
                conn: Conn::Plain(tcp),
                buf: Vec::new(),
            }),
        }
    }

    /// Upgrades a plain connection with nothing left unread to TLS.
    pub async fn tls(self, ctx: &TlsContext, name: &str) -> Result<Lines, Failed> {
        let Conn::Plain(tcp) = self.conn else {
            return Err(other("TLS over a connection that is not plain"));
        };
        if !self.buf.is_empty() {
            return Err(other("the server sent more before the TLS handshake"));
        }
        let (s, _) = tokio::time::timeout(T, ctx.handshake(tcp, name))
            .await
            .map_err(|_| other("TLS handshake timed out"))?
            .map_err(|(r, m)| other(format!("TLS handshake: {r:?}: {m}")))?;
        Ok(Lines {
            conn: Conn::Tls(Box::new(s)),
            buf: Vec::new(),
        })
    }

    pub async fn send(&mut self, line: &str) -> Result<(), Failed> {
        let data = format!("{line}\r\n");
        tokio::time::timeout(T, self.conn.write_all(data.as_bytes()))
            .await
            .map_err(|_| other("write timed out"))?
            .map_err(|e| other(format!("write: {e}")))
    }

    /// The next line, without its CRLF.
    pub async fn line(&mut self) -> Result<String, Failed> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                let text = String::from_utf8_lossy(&raw);
                return Ok(text.trim_end_matches(['\r', '\n']).to_string());
            }
            if self.buf.len() > MAX_LINE {
                return Err(other("line longer than 64 KiB"));
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(T, self.conn.read(&mut chunk))
                .await
                .map_err(|_| other("read timed out"))?
                .map_err(|e| other(format!("read: {e}")))?;
            if n == 0 {
                return Err(other("connection closed by the server"));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `line`, returns the first line of the answer.
    pub async fn cmd(&mut self, line: &str) -> Result<String, Failed> {
        self.send(line).await?;
        self.line().await
    }

    /// Reads lines until one starts with `prefix` (e.g. an IMAP tag, or SMTP's `250 `); that
    /// line is returned.
    pub async fn until(&mut self, prefix: &str) -> Result<String, Failed> {
        loop {
            let l = self.line().await?;
            if l.starts_with(prefix) {
                return Ok(l);
            }
        }
    }

    /// A POP3 multi-line body after its `+OK` line, dot-unstuffed, up to the terminating ".".
    pub async fn pop3_multiline(&mut self) -> Result<Vec<String>, Failed> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await?;
            if l == "." {
                return Ok(out);
            }
            out.push(l.strip_prefix('.').map(str::to_string).unwrap_or(l));
        }
    }
}

fn expect(line: String, ok: &str, what: &str) -> Result<String, Failed> {
    if line.starts_with(ok) {
        Ok(line)
    } else {
        Err(other(format!("{what}: {line}")))
    }
}

/// A logged-in session on one listener.
pub struct Session {
    pub listener: Listener,
    pub lines: Lines,
}

/// How a POP3 session logs in.
#[derive(Debug, Clone, Copy)]
pub enum Pop3Auth<'a> {
    UserPass(&'a str),
    /// `AUTH PLAIN` with the initial response on the command line.
    Plain(&'a str),
    /// `AUTH XOAUTH2` with the initial response on the command line.
    Xoauth2(&'a str),
}

/// Connects to `listener` on 127.0.0.1 and logs in as `user` with `password` (POP3: USER/PASS).
pub async fn login(
    ca: &Path,
    listener: Listener,
    user: &str,
    password: &str,
) -> Result<Session, Failed> {
    greet(ca, listener).await?.log_in(user, password).await
}

/// A connection greeted and, where the listener needs it, upgraded to TLS, but not logged in
/// yet: a login in progress, served by the server's login process.
pub struct Greeted {
    listener: Listener,
    lines: Lines,
}

/// Connects to `listener` and goes as far as the login: greeting, and STARTTLS/STLS on 143,
/// 110 and 587.
pub async fn greet(ca: &Path, listener: Listener) -> Result<Greeted, Failed> {
    let mut l = open(ca, listener).await?;
    match listener.proto() {
        Proto::Pop3 => {
            expect(l.line().await?, "+OK", "greeting")?;
            if !listener.implicit_tls() {
                expect(l.cmd("STLS").await?, "+OK", "STLS")?;
                l = l.tls(&tls(ca)?, "mail.example.test").await?;
            }
        }
        Proto::Imap => {
            expect(l.line().await?, "* OK", "greeting")?;
            if !listener.implicit_tls() {
                l.send("s STARTTLS").await?;
                expect(l.until("s ").await?, "s OK", "STARTTLS")?;
                l = l.tls(&tls(ca)?, "mail.example.test").await?;
            }
        }
        Proto::Smtp => {
            expect(l.until("220 ").await?, "220", "greeting")?;
            l.send("EHLO test.example.test").await?;
            expect(l.until("250 ").await?, "250", "EHLO")?;
            if !listener.implicit_tls() {
                expect(l.cmd("STARTTLS").await?, "220", "STARTTLS")?;
                l = l.tls(&tls(ca)?, "mail.example.test").await?;
                l.send("EHLO test.example.test").await?;
                expect(l.until("250 ").await?, "250", "EHLO")?;
            }
        }
    }
    Ok(Greeted { listener, lines: l })
}

impl Greeted {
    /// Finishes the login with a password (POP3: USER/PASS).
    pub async fn log_in(self, user: &str, password: &str) -> Result<Session, Failed> {
        let mut l = self.lines;
        match self.listener.proto() {
            Proto::Pop3 => {
                return pop3_auth(l, self.listener, user, Pop3Auth::UserPass(password)).await
            }
            Proto::Imap => {
                l.send(&format!("l LOGIN \"{user}\" \"{password}\""))
                    .await?;
                expect(l.until("l ").await?, "l OK", "LOGIN")?;
            }
            Proto::Smtp => {
                let ir = b64(&format!("\0{user}\0{password}"));
                expect(l.cmd(&format!("AUTH PLAIN {ir}")).await?, "235", "AUTH")?;
            }
        }
        Ok(Session {
            listener: self.listener,
            lines: l,
        })
    }
}

async fn open(ca: &Path, listener: Listener) -> Result<Lines, Failed> {
    let addr = SocketAddr::from(([127, 0, 0, 1], listener.port()));
    let lines = Lines::connect(addr).await?;
    if listener.implicit_tls() {
        lines.tls(&tls(ca)?, "mail.example.test").await
    } else {
        Ok(lines)
    }
}

fn tls(ca: &Path) -> Result<TlsContext, Failed> {
    TlsContext::new(Some(ca)).map_err(|e| other(format!("TLS setup: {e}")))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A POP3 login on 110 (after `STLS`) or 995, with the given mechanism.
pub async fn pop3_login(
    ca: &Path,
    listener: Listener,
    user: &str,
    auth: Pop3Auth<'_>,
) -> Result<Session, Failed> {
    let g = greet(ca, listener).await?;
    pop3_auth(g.lines, listener, user, auth).await
}

async fn pop3_auth(
    mut l: Lines,
    listener: Listener,
    user: &str,
    auth: Pop3Auth<'_>,
) -> Result<Session, Failed> {
    match auth {
        Pop3Auth::UserPass(pw) => {
            expect(l.cmd(&format!("USER {user}")).await?, "+OK", "USER")?;
            expect(l.cmd(&format!("PASS {pw}")).await?, "+OK", "PASS")?;
        }
        Pop3Auth::Plain(pw) => {
            let ir = b64(&format!("\0{user}\0{pw}"));
            expect(l.cmd(&format!("AUTH PLAIN {ir}")).await?, "+OK", "AUTH")?;
        }
        Pop3Auth::Xoauth2(token) => {
            let ir = b64(&format!("user={user}\x01auth=Bearer {token}\x01\x01"));
            let first = l.cmd(&format!("AUTH XOAUTH2 {ir}")).await?;
            // A failed XOAUTH2 may first send an error challenge, answered with an empty line.
            let last = if first.starts_with("+ ") {
                l.cmd("").await?
            } else {
                first
            };
            expect(last, "+OK", "AUTH")?;
        }
    }
    Ok(Session { listener, lines: l })
}

impl Session {
    /// A `NOOP` answered positively: the session is still open and served.
    pub async fn noop(&mut self) -> Result<(), Failed> {
        let l = &mut self.lines;
        match self.listener.proto() {
            Proto::Pop3 => expect(l.cmd("NOOP").await?, "+OK", "NOOP")?,
            Proto::Imap => {
                l.send("n NOOP").await?;
                expect(l.until("n ").await?, "n OK", "NOOP")?
            }
            Proto::Smtp => expect(l.cmd("NOOP").await?, "250", "NOOP")?,
        };
        Ok(())
    }

    /// Ends the session politely (POP3 `QUIT` commits its deletions).
    pub async fn quit(mut self) -> Result<String, Failed> {
        match self.listener.proto() {
            Proto::Imap => {
                self.lines.send("q LOGOUT").await?;
                self.lines.until("q ").await
            }
            Proto::Pop3 | Proto::Smtp => self.lines.cmd("QUIT").await,
        }
    }
}
