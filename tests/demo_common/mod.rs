//! Helpers shared by the integration tests: server start-up, a small raw SMTP/IMAP client
//! (plain, STARTTLS, implicit TLS; every read under a timeout) and a Python runner.
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailcanary::demo::{DemoServer, ServerOptions, User};
use mailcanary::stream::MaybeTls;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

pub const USER: &str = "canary@example.test";
pub const PASS: &str = "canary-password";
pub const TOKEN: &str = "canary-oauth-token";
pub const T: Duration = Duration::from_secs(5);

pub fn opts() -> ServerOptions {
    ServerOptions {
        users: vec![
            User::new(USER, PASS).with_token(TOKEN),
            User::new("other@example.test", "pw"),
        ],
        allow_plaintext_auth: true,
        io_timeout: Duration::from_secs(20),
        ..ServerOptions::default()
    }
}

pub async fn start() -> DemoServer {
    DemoServer::start(opts()).await.expect("server starts")
}

pub fn message(id: &str) -> String {
    format!(
        "From: probe@example.test\r\nTo: {USER}\r\nSubject: canary {id}\r\nMessage-ID: <{id}@example.test>\r\nX-Mailcanary-Id: {id}\r\n\r\nbody of {id}\r\n.leading dot\r\n"
    )
}

/// The client's connection: the crate's own plain-or-TLS stream.
type S = MaybeTls<TlsStream<TcpStream>>;

/// A raw line-oriented client.
pub struct Raw {
    s: S,
    buf: Vec<u8>,
    pub timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
}

impl Raw {
    pub async fn connect(addr: SocketAddr, server: &DemoServer) -> io::Result<Raw> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        Ok(Raw {
            s: MaybeTls::Plain(tcp),
            buf: Vec::new(),
            timeout: T,
            tls: server.client_tls_config()?,
        })
    }

    pub async fn connect_tls(addr: SocketAddr, server: &DemoServer, name: &str) -> io::Result<Raw> {
        let mut raw = Raw::connect(addr, server).await?;
        raw.starttls(name).await?;
        Ok(raw)
    }

    /// TLS handshake on the current plain stream (after STARTTLS, or for implicit TLS).
    pub async fn starttls(&mut self, name: &str) -> io::Result<()> {
        let MaybeTls::Plain(tcp) = std::mem::replace(&mut self.s, MaybeTls::Gone) else {
            return Err(io::Error::other("not plain"));
        };
        let name = ServerName::try_from(name.to_string()).map_err(io::Error::other)?;
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        let tls = tokio::time::timeout(self.timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))??;
        self.s = MaybeTls::Tls(Box::new(tls));
        Ok(())
    }

    pub async fn send(&mut self, text: &str) -> io::Result<()> {
        self.s.write_all(text.as_bytes()).await?;
        self.s.flush().await
    }

    /// Read more bytes; Ok(0) at EOF.
    pub async fn read_some(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(self.timeout, self.s.read(&mut chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "read timed out"))??;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    pub async fn line(&mut self) -> io::Result<String> {
        loop {
            if let Some(p) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=p).collect();
                return Ok(String::from_utf8_lossy(&line).trim_end().to_string());
            }
            if self.read_some().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Exactly `n` bytes (for IMAP literals).
    pub async fn bytes(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.read_some().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// A full (multi-line) SMTP reply: (code, last line).
    pub async fn reply(&mut self) -> io::Result<(u16, String)> {
        loop {
            let line = self.line().await?;
            let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, line));
            }
        }
    }

    /// All lines of one (multi-line) SMTP reply.
    pub async fn reply_lines(&mut self) -> io::Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await?;
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return Ok(lines);
            }
        }
    }

    pub async fn cmd(&mut self, text: &str) -> io::Result<(u16, String)> {
        self.send(&format!("{text}\r\n")).await?;
        self.reply().await
    }

    /// IMAP: send `tag command`, collect lines up to the tagged reply (literals inlined).
    pub async fn imap(&mut self, tag: &str, command: &str) -> io::Result<Vec<String>> {
        self.send(&format!("{tag} {command}\r\n")).await?;
        self.imap_until(tag).await
    }

    pub async fn imap_until(&mut self, tag: &str) -> io::Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let mut line = self.line().await?;
            while let Some(n) = literal_len(&line) {
                let data = self.bytes(n).await?;
                line.push_str(&String::from_utf8_lossy(&data));
                line.push_str(&self.line().await?);
            }
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return Ok(lines);
            }
        }
    }

    /// SMTP: EHLO, (AUTH PLAIN), MAIL, RCPT, DATA; returns the final reply.
    pub async fn smtp_send(&mut self, auth: bool, body: &str) -> io::Result<(u16, String)> {
        let (c, _) = self.cmd("EHLO client.example.test").await?;
        assert_eq!(c, 250);
        if auth {
            let (c, l) = self
                .cmd(&format!("AUTH PLAIN {}", plain(USER, PASS)))
                .await?;
            assert_eq!(c, 235, "{l}");
        }
        let (c, l) = self.cmd("MAIL FROM:<probe@example.test>").await?;
        assert_eq!(c, 250, "{l}");
        let (c, l) = self.cmd(&format!("RCPT TO:<{USER}>")).await?;
        assert_eq!(c, 250, "{l}");
        let (c, l) = self.cmd("DATA").await?;
        assert_eq!(c, 354, "{l}");
        self.send(&format!("{}.\r\n", stuff(body))).await?;
        self.reply().await
    }
}

fn literal_len(line: &str) -> Option<usize> {
    let rest = line.strip_suffix('}')?;
    let open = rest.rfind('{')?;
    rest[open + 1..].parse().ok()
}

pub fn plain(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"))
}

/// Dot-stuff a message for DATA.
pub fn stuff(body: &str) -> String {
    body.split_inclusive('\n')
        .map(|l| {
            if l.starts_with('.') {
                format!(".{l}")
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// Run a Python 3 snippet with the given environment; returns (success, stdout+stderr).
pub async fn python(script: &str, env: &[(&str, String)]) -> (bool, String) {
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg("-c").arg(script).kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("python finished in time")
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Environment describing the server for Python snippets.
pub fn py_env(server: &DemoServer, ca_path: &std::path::Path) -> Vec<(&'static str, String)> {
    let a = server.addrs();
    vec![
        ("SMTP_PORT", a.smtp.port().to_string()),
        ("SMTPS_PORT", a.smtps.port().to_string()),
        ("IMAP_PORT", a.imap.port().to_string()),
        ("IMAPS_PORT", a.imaps.port().to_string()),
        ("CA", ca_path.display().to_string()),
        ("USER", USER.to_string()),
        ("PASS", PASS.to_string()),
        ("TOKEN", TOKEN.to_string()),
    ]
}

/// A temp file removed on drop.
pub struct TempPath(pub std::path::PathBuf);

impl std::ops::Deref for TempPath {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A fresh temp path (not created) unique to this process and `tag`.
pub fn temp_path(tag: &str) -> TempPath {
    let name = format!("mailcanary-test-{}-{tag}", std::process::id());
    TempPath(std::env::temp_dir().join(name))
}

/// Write the server's CA to a temp file (removed when the guard drops).
pub fn ca_file(server: &DemoServer) -> TempPath {
    let path = temp_path(&format!("ca-{}.pem", server.addrs().smtp.port()));
    std::fs::write(&path.0, server.ca_pem()).expect("write CA");
    path
}

/// Poll until connecting to `addr` gives (refused == true) ECONNREFUSED, or succeeds.
pub async fn await_connect(addr: SocketAddr, refused: bool) {
    let deadline = std::time::Instant::now() + T;
    loop {
        let r = TcpStream::connect(addr).await;
        match (&r, refused) {
            (Err(e), true) if e.kind() == io::ErrorKind::ConnectionRefused => return,
            (Ok(_), false) => return,
            _ if std::time::Instant::now() > deadline => {
                panic!("connect to {addr}: {r:?}, wanted refused={refused}")
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// A raw client on the plain SMTP listener (greeting not read yet).
pub async fn smtp(server: &DemoServer) -> Raw {
    Raw::connect(server.addrs().smtp, server).await.unwrap()
}

/// A raw client logged in over IMAPS.
pub async fn imaps_logged_in(server: &DemoServer) -> Raw {
    let mut c = Raw::connect_tls(server.addrs().imaps, server, "localhost")
        .await
        .unwrap();
    assert!(c.line().await.unwrap().starts_with("* OK"));
    let r = c.imap("l", &format!("LOGIN {USER} {PASS}")).await.unwrap();
    assert!(r.last().unwrap().starts_with("l OK"), "{r:?}");
    c
}

/// A raw IMAPS client idling on INBOX (continuation already read).
pub async fn idling(server: &DemoServer) -> Raw {
    let mut c = imaps_logged_in(server).await;
    c.imap("s", "SELECT INBOX").await.unwrap();
    c.send("i IDLE\r\n").await.unwrap();
    assert!(c.line().await.unwrap().starts_with("+ "));
    c
}
