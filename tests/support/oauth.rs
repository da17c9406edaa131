//! OAuth for the real stack without an outside OAuth server: the token-introspection endpoint
//! (RFC 7662) that Dovecot's oauth2 passdb asks (scripts/mailstack.sh points it at
//! `http://127.0.0.1:9799/introspect`), and a token command that mints tokens it will accept.
//!
//! Tokens are valid when granted here ([`Introspection::grant`]) and not revoked or expired, or
//! when minted by [`Introspection::token_command`]'s script, which records each token it prints
//! (user and expiry) as a file the endpoint reads. Dovecot gets `{"active": false}` for anything
//! else, which it answers with `NO [AUTHENTICATIONFAILED]` (IMAP) or `535` (SMTP submission).
//!
//! Only one endpoint can own the fixed port: [`Introspection::start`] takes a machine-wide lock
//! first, so concurrent test binaries take turns.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The port scripts/mailstack.sh configures as Dovecot's introspection URL.
pub const PORT: u16 = 9799;

#[derive(Debug, Clone)]
struct Grant {
    user: String,
    /// Unix seconds.
    expires: f64,
    revoked: bool,
}

#[derive(Default)]
struct State {
    grants: HashMap<String, Grant>,
    /// Tokens asked about, in order, with the answer given.
    asked: Vec<(String, bool)>,
    /// Where the token command records the tokens it minted.
    minted: Option<PathBuf>,
}

/// The introspection endpoint, serving until dropped.
pub struct Introspection {
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _lock: File,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Whether Dovecot has the oauth2 passdb; if not, runs `mailstack.sh up` (idempotent) to add
/// it. Call before taking a stack lock: `up` takes the exclusive one itself.
pub fn require_oauth_stack() {
    let has = || {
        std::process::Command::new("doveconf")
            .arg("-n")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("driver = oauth2"))
            .unwrap_or(false)
    };
    if !has() {
        super::stack::mailstack(&["up"]);
    }
    assert!(
        has(),
        "Dovecot has no oauth2 passdb even after `scripts/mailstack.sh up`"
    );
}

impl Introspection {
    /// Binds 127.0.0.1:9799, waiting for any other test's endpoint to finish first.
    pub fn start() -> Introspection {
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/tmp/mailcanary-oauth.lock")
            .expect("open the oauth lock file");
        lock.lock().expect("oauth lock");
        let started = Instant::now();
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", PORT)) {
                Ok(l) => break l,
                Err(e) if started.elapsed() < Duration::from_secs(10) => {
                    eprintln!("introspection endpoint: bind 127.0.0.1:{PORT}: {e}; retrying");
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot bind 127.0.0.1:{PORT} for token introspection: {e}"),
            }
        };
        listener.set_nonblocking(true).expect("non-blocking");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Err(e) = serve(stream, &st) {
                            eprintln!("introspection endpoint: {e}");
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(5))
                    }
                    Err(e) => eprintln!("introspection endpoint: accept: {e}"),
                }
            }
        });
        Introspection {
            state,
            stop,
            thread: Some(thread),
            _lock: lock,
        }
    }

    /// `token` logs `user` in for `ttl` from now (a zero or past ttl: already expired).
    pub fn grant(&self, token: &str, user: &str, ttl: Duration) {
        self.grant_until(token, user, now() + ttl.as_secs_f64());
    }

    /// `token` expired `ago`.
    pub fn grant_expired(&self, token: &str, user: &str, ago: Duration) {
        self.grant_until(token, user, now() - ago.as_secs_f64());
    }

    fn grant_until(&self, token: &str, user: &str, expires: f64) {
        let g = Grant {
            user: user.into(),
            expires,
            revoked: false,
        };
        self.state.lock().unwrap().grants.insert(token.into(), g);
    }

    pub fn revoke(&self, token: &str) {
        if let Some(g) = self.state.lock().unwrap().grants.get_mut(token) {
            g.revoked = true;
        }
    }

    /// Every token asked about so far, with the answer (`true`: active).
    pub fn asked(&self) -> Vec<(String, bool)> {
        self.state.lock().unwrap().asked.clone()
    }

    /// Writes an executable token command into `dir` that mints a new token for `user` on
    /// each run, valid `ttl_secs`, and prints it as token-endpoint JSON with `expires_in`.
    /// Returns the script's path; `dir/count` holds how many times it ran.
    pub fn token_command(&self, dir: &Path, user: &str, ttl_secs: u64) -> PathBuf {
        let minted = dir.join("minted");
        std::fs::create_dir_all(&minted).expect("minted dir");
        self.state.lock().unwrap().minted = Some(minted.clone());
        let script = dir.join("mint-token.sh");
        let count = dir.join("count");
        let text = format!(
            "#!/bin/sh\nset -e\n\
             n=$(( $(cat '{count}' 2>/dev/null || echo 0) + 1 ))\necho $n > '{count}'\n\
             tok=cmd-$n-$$\n\
             echo \"{user} $(( $(date +%s) + {ttl_secs} ))\" > '{minted}/'$tok\n\
             printf '{{\"access_token\":\"%s\",\"expires_in\":{ttl_secs},\"token_type\":\"Bearer\"}}\\n' $tok\n",
            count = count.display(),
            minted = minted.display(),
        );
        std::fs::write(&script, text).expect("write token command");
        let mut perms = std::fs::metadata(&script).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).expect("chmod");
        script
    }
}

impl Drop for Introspection {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The user a token stands for, if it is active now.
fn active(state: &State, token: &str) -> Option<String> {
    if let Some(g) = state.grants.get(token) {
        return (!g.revoked && now() < g.expires).then(|| g.user.clone());
    }
    // Minted by the token command: "<user> <expiry unix seconds>".
    let minted = state.minted.as_ref()?;
    if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    let text = std::fs::read_to_string(minted.join(token)).ok()?;
    let (user, expires) = text.trim().split_once(' ')?;
    (now() < expires.parse::<f64>().ok()?).then(|| user.to_string())
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let body = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other("closed before the request ended"));
        }
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if raw.len() >= end + 4 + len {
            break String::from_utf8_lossy(&raw[end + 4..end + 4 + len]).to_string();
        }
    };
    let token = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("token="))
        .map(percent_decode)
        .unwrap_or_default();
    let answer = {
        let mut st = state.lock().unwrap();
        let user = active(&st, &token);
        st.asked.push((token, user.is_some()));
        match user {
            Some(u) => format!("{{\"active\": true, \"username\": \"{u}\"}}"),
            None => "{\"active\": false}".to_string(),
        }
    };
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
