//! `oauth_token_command`: an OAuth access token produced by a command the operator configures,
//! cached, and produced again before it expires.
//!
//! The command prints either the bare token, or the JSON an OAuth 2.0 token endpoint answers
//! (RFC 6749 §5.1): `{"access_token": "...", "expires_in": 3599}`. With `expires_in` the token is
//! re-fetched a margin before it expires (a quarter of its lifetime, at most a minute); without
//! it, after [`PLAIN_LIFETIME`]. Every clone of one endpoint's source (one per client profile
//! instance) shares one cache, so the command runs once per token lifetime, not once per cycle;
//! a reload that changes the probe builds a new source, which runs the command at first use.
//!
//! The command runs with no stdin and its stderr discarded, under a timeout, and at most
//! [`MAX_OUTPUT`] bytes of its stdout are read. It sees only a small environment: the variables
//! of [`PASSED_ENV`] and those the config names (`oauth_token_command_env`), not the agent's
//! whole environment (which may hold other secrets, e.g. the HMAC key's variable). It runs in a
//! process group of its own, and when the timeout passes the whole group is killed, so a helper
//! it started cannot outlive it holding its stdout. The `expires_in` it prints is clamped to
//! 0 ..= [`MAX_LIFETIME`]: a negative one means "refresh at the next use", a larger one is
//! read as [`MAX_LIFETIME`]. Nothing it prints reaches a message: errors name the program,
//! never its arguments (which may carry a client secret) and never its output (which carries
//! the token).
//!
//! [`SecretSource::load`](super::SecretSource::load) is synchronous. Inside a multi-threaded
//! tokio runtime the command runs in `block_in_place`, so other tasks move to other workers
//! while it runs; the fast path (a cached, fresh token) only takes a mutex.

use super::{CommandProblem, Secret, SecretError};
use std::fmt;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a token printed without `expires_in` is reused before the command runs again.
pub const PLAIN_LIFETIME: Duration = Duration::from_secs(60);
/// The most of its stdout a command may print.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// The longest margin before expiry at which a token is refreshed.
const MAX_MARGIN: Duration = Duration::from_secs(60);
/// The longest lifetime taken from `expires_in`; a token claiming more is refreshed after this.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The agent's variables a token command always sees (when the agent has them).
/// No proxy variables: they may carry credentials (`https_proxy=http://user:pass@...`); name
/// them in `oauth_token_command_env` when the command needs them.
pub const PASSED_ENV: [&str; 11] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// A configured token command and the token it last produced.
#[derive(Clone)]
pub struct TokenCommand {
    argv: Arc<[String]>,
    /// Variables passed besides [`PASSED_ENV`], as the config names them.
    env: Arc<[String]>,
    timeout: Duration,
    cache: Arc<Cache>,
}

#[derive(Default)]
struct Cache {
    token: Mutex<Option<Cached>>,
    /// Held while the command runs, so concurrent cycles wait for one run instead of starting
    /// their own.
    running: Mutex<()>,
    runs: AtomicU64,
}

struct Cached {
    secret: Secret,
    refresh_at: Instant,
    expires_at: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves nothing half-written worth refusing.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// When to refresh and when the token expires, for a token valid `lifetime` from now.
/// `None` (no `expires_in`): reuse for [`PLAIN_LIFETIME`], no grace after that.
pub(crate) fn schedule(lifetime: Option<Duration>) -> (Duration, Duration) {
    match lifetime {
        None => (PLAIN_LIFETIME, PLAIN_LIFETIME),
        Some(l) => (l - (l / 4).min(MAX_MARGIN), l),
    }
}

impl TokenCommand {
    /// `argv[0]` is the program (a path, or a name looked up in `PATH`).
    pub fn new(argv: Vec<String>, timeout: Duration) -> Result<Self, SecretError> {
        match argv.first() {
            Some(p) if !p.is_empty() => Ok(TokenCommand {
                argv: argv.into(),
                env: Arc::from([]),
                timeout,
                cache: Arc::default(),
            }),
            _ => Err(SecretError::NoProgram),
        }
    }

    /// Passes these variables of the agent's environment too (the config's
    /// `oauth_token_command_env`).
    pub fn with_env(mut self, names: Vec<String>) -> Self {
        self.env = names.into();
        self
    }

    /// The environment the command runs with: the allowed variables the agent has.
    fn environment(&self) -> Vec<(String, std::ffi::OsString)> {
        PASSED_ENV
            .iter()
            .map(|n| n.to_string())
            .chain(self.env.iter().cloned())
            .filter_map(|n| std::env::var_os(&n).map(|v| (n, v)))
            .collect()
    }

    /// The program, for messages.
    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// How many times the command has been started.
    pub fn runs(&self) -> u64 {
        self.cache.runs.load(Ordering::Relaxed)
    }

    /// The cached token if still fresh, else the command's new one.
    pub fn load(&self) -> Result<Secret, SecretError> {
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        blocking(|| self.refresh())
    }

    fn fresh(&self) -> Option<Secret> {
        let now = Instant::now();
        lock(&self.cache.token)
            .as_ref()
            .filter(|c| now < c.refresh_at)
            .map(|c| c.secret.clone())
    }

    fn refresh(&self) -> Result<Secret, SecretError> {
        let _running = lock(&self.cache.running);
        // Another caller may have refreshed while this one waited for the lock.
        if let Some(s) = self.fresh() {
            return Ok(s);
        }
        let started = Instant::now();
        let result = self.run().and_then(|out| self.parse(&out));
        match result.map_err(|problem| SecretError::Command {
            program: self.program().to_string(),
            problem,
        }) {
            Ok((secret, lifetime)) => {
                let (refresh, expiry) = schedule(lifetime);
                tracing::debug!(
                    program = self.program(),
                    expires_in_s = lifetime.map(|l| l.as_secs_f64()),
                    took_ms = started.elapsed().as_millis() as u64,
                    "oauth token command produced a new token"
                );
                *lock(&self.cache.token) = Some(Cached {
                    secret: secret.clone(),
                    refresh_at: started + refresh,
                    expires_at: started + expiry,
                });
                Ok(secret)
            }
            Err(e) => {
                let still_valid = lock(&self.cache.token)
                    .as_ref()
                    .filter(|c| Instant::now() < c.expires_at)
                    .map(|c| c.secret.clone());
                match still_valid {
                    Some(s) => {
                        tracing::warn!(
                            program = self.program(),
                            error = %e,
                            "oauth token refresh failed; using the current token until it expires"
                        );
                        Ok(s)
                    }
                    None => Err(e),
                }
            }
        }
    }

    /// Runs the command; its stdout, or why there is none.
    fn run(&self) -> Result<Vec<u8>, CommandProblem> {
        let prog = self.program();
        self.cache.runs.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let mut child = Command::new(prog)
            .args(&self.argv[1..])
            .env_clear()
            .envs(self.environment())
            // A group of its own (pgid = its pid), so a timeout kills what it started too.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(CommandProblem::Start)?;
        let Some(mut stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CommandProblem::NoStdout);
        };
        let (tx, rx) = mpsc::channel();
        // The reader ends when the command closes its stdout (exits, or is killed below).
        let reader = std::thread::Builder::new()
            .name("token-command".into())
            .spawn(move || {
                let mut buf = Vec::new();
                let r = (&mut stdout)
                    .take(MAX_OUTPUT as u64 + 1)
                    .read_to_end(&mut buf);
                let _ = tx.send(r.map(|_| buf));
            });
        let kill = |child: &mut std::process::Child, why: CommandProblem| {
            kill_group(child);
            let _ = child.kill();
            let _ = child.wait();
            Err(why)
        };
        if let Err(e) = reader {
            return kill(&mut child, CommandProblem::Read(e));
        }
        let timed_out = || CommandProblem::TimedOut(self.timeout);
        let out = match rx.recv_timeout(self.timeout) {
            Ok(Ok(buf)) if buf.len() > MAX_OUTPUT => {
                return kill(&mut child, CommandProblem::TooMuchOutput(MAX_OUTPUT))
            }
            Ok(Ok(buf)) => buf,
            Ok(Err(e)) => return kill(&mut child, CommandProblem::Read(e)),
            Err(_) => return kill(&mut child, timed_out()),
        };
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if started.elapsed() < self.timeout => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => return kill(&mut child, timed_out()),
                Err(e) => return kill(&mut child, CommandProblem::Wait(e)),
            }
        };
        if !status.success() {
            return Err(CommandProblem::Exited(status));
        }
        Ok(out)
    }

    /// The token and its lifetime from the command's stdout.
    fn parse(&self, out: &[u8]) -> Result<(Secret, Option<Duration>), CommandProblem> {
        let text = std::str::from_utf8(out).map_err(|_| CommandProblem::NotUtf8)?;
        let text = text.trim();
        let (token, lifetime) = if text.starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|_| CommandProblem::InvalidJson)?;
            let token = v["access_token"]
                .as_str()
                .ok_or(CommandProblem::NoAccessToken)?
                .to_string();
            let lifetime = match &v["expires_in"] {
                serde_json::Value::Null => None,
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            let lifetime = match (v.get("expires_in"), lifetime) {
                (None, _) => None,
                (Some(_), Some(s)) if s.is_finite() => Some(clamp_lifetime(s)),
                (Some(_), _) => return Err(CommandProblem::BadExpiresIn),
            };
            (token, lifetime)
        } else {
            (text.to_string(), None)
        };
        if token.is_empty() {
            return Err(CommandProblem::NoToken);
        }
        if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(CommandProblem::Whitespace);
        }
        Ok((Secret::new(token), lifetime))
    }
}

/// A token's lifetime from a finite `expires_in` in seconds: negative is 0 (refresh at the next
/// use), more than [`MAX_LIFETIME`] is [`MAX_LIFETIME`].
pub(crate) fn clamp_lifetime(secs: f64) -> Duration {
    if secs >= MAX_LIFETIME.as_secs_f64() {
        MAX_LIFETIME
    } else if secs > 0.0 {
        Duration::from_secs_f64(secs)
    } else {
        Duration::ZERO
    }
}

/// Kills the command's process group (the command and whatever it started that did not leave
/// the group). The group id is the command's pid, from `process_group(0)`.
fn kill_group(child: &std::process::Child) {
    use rustix::process::{kill_process_group, Pid, Signal};
    let pid = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    if let Some(pid) = pid {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// Runs `f`, letting a multi-threaded tokio runtime move its other tasks off this thread.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Arguments may carry a client secret: only the program and the count are shown.
impl fmt::Debug for TokenCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCommand")
            .field("program", &self.program())
            .field("args", &format_args!("[{} hidden]", self.argv.len() - 1))
            .field("env", &self.env)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Two sources are the same when they run the same command the same way; the cache is not
/// part of the identity.
impl PartialEq for TokenCommand {
    fn eq(&self, other: &Self) -> bool {
        self.argv == other.argv && self.env == other.env && self.timeout == other.timeout
    }
}

impl Eq for TokenCommand {}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
