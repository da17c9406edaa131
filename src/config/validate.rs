//! Turns the raw files into a typed [`Config`], checking every field and collecting every error.
//!
//! Defaults live here, in one place: see [`Defaults`].

use super::error::{ConfigError, ConfigErrors, Source};
use super::profiles::{self, AuthMech, ClientProfile, ProtoProfile, TlsMode, Watch};
use super::raw;
use super::{is_valid_name, Agent, Config, Endpoint, Probe};
use crate::secret::SecretSource;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// Every default of the config, in one place.
struct Defaults;

impl Defaults {
    const LISTEN_ADDRESS: &'static str = "0.0.0.0:9797";
    const LEDGER_PATH: &'static str = "/var/lib/mailcanary/ledger.db";
    const INTERVAL: Duration = Duration::from_secs(60);
    const TIMEOUT: Duration = Duration::from_secs(10);
    const DEADLINE: Duration = Duration::from_secs(60);
    /// `lost_after` defaults to this many delivery deadlines.
    const LOST_AFTER_DEADLINES: u32 = 10;
    const MAILBOX: &'static str = "INBOX";
}

/// Error collector bound to one source file.
struct Ctx<'a> {
    src: Source<'a>,
    errors: &'a mut Vec<ConfigError>,
}

impl Ctx<'_> {
    fn err<T>(&mut self, v: &Spanned<T>, msg: impl Into<String>) {
        let e = self.src.error_at(Some(v.span()), msg);
        self.errors.push(e);
    }

    fn duration(&mut self, v: &Option<Spanned<String>>, default: Duration) -> Duration {
        let Some(v) = v else { return default };
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                self.err(v, "must be greater than zero");
                default
            }
            Err(e) => {
                self.err(
                    v,
                    format!(
                        "invalid duration {:?}: {e} (e.g. \"30s\", \"2m\")",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    fn port(&mut self, v: &Option<Spanned<i64>>) -> Option<u16> {
        let v = v.as_ref()?;
        match u16::try_from(*v.get_ref()) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.err(
                    v,
                    format!("must be between 1 and 65535, got {}", v.get_ref()),
                );
                None
            }
        }
    }

    fn path(&self, v: &Spanned<String>) -> PathBuf {
        resolve(self.src.path, v.get_ref())
    }

    /// Exactly one of a file and an environment variable, or neither when `required` is false.
    fn secret(
        &mut self,
        file: &Option<Spanned<String>>,
        env: &Option<Spanned<String>>,
        what: &str,
        required: Option<&Spanned<String>>,
    ) -> Option<SecretSource> {
        let (source, anchor) = match (file, env) {
            (Some(f), None) => (SecretSource::File(self.path(f)), f),
            (None, Some(e)) => {
                if e.get_ref().is_empty() {
                    self.err(e, "must name an environment variable");
                    return None;
                }
                (SecretSource::Env(e.get_ref().clone()), e)
            }
            (Some(f), Some(_)) => {
                self.err(
                    f,
                    format!(
                        "set either the {what} file or the {what} environment variable, not both"
                    ),
                );
                return None;
            }
            (None, None) => {
                if let Some(anchor) = required {
                    self.err(
                        anchor,
                        format!("a {what} is required (a `_file` or `_env` key)"),
                    );
                }
                return None;
            }
        };
        // Read it now, so a missing file or variable is reported here rather than at the
        // first cycle. The value itself is dropped; cycles re-read it.
        if let Err(e) = source.load() {
            self.err(anchor, e);
        }
        Some(source)
    }
}

/// Resolves `p` relative to the directory of `file`.
fn resolve(file: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

fn read(path: &Path, errors: &mut Vec<ConfigError>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(ConfigError {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
                field: String::new(),
                message: format!("cannot read file: {e}"),
            });
            None
        }
    }
}

pub(super) fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let Some(text) = read(path, &mut errors) else {
        return Err(ConfigErrors(errors));
    };
    let src = Source { path, text: &text };
    let main: raw::MainFile = match toml::from_str(&text) {
        Ok(m) => m,
        Err(e) => return Err(ConfigErrors(vec![src.parse_error(&e)])),
    };
    let mut ctx = Ctx {
        src,
        errors: &mut errors,
    };
    let agent = agent(&mut ctx, main.agent.get_ref());
    let clients = client_profiles(&mut ctx, &main.clients);

    let mut probes = Vec::new();
    for p in &main.probe {
        probes.extend(probe(&mut ctx, p, None, &clients));
    }
    for pattern in &main.agent.get_ref().probes {
        let files = match glob(&ctx.path(pattern)) {
            Ok(f) if f.is_empty() => {
                ctx.err(
                    pattern,
                    format!("pattern {:?} matches no file", pattern.get_ref()),
                );
                continue;
            }
            Ok(f) => f,
            Err(e) => {
                ctx.err(pattern, e);
                continue;
            }
        };
        for file in files {
            probes.extend(probe_file(&file, ctx.errors, &clients));
        }
    }

    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for p in &probes {
        if let Some(other) = seen.insert(p.name.clone(), p.file.clone()) {
            errors.push(ConfigError {
                file: p.file.clone(),
                line: 1,
                column: 1,
                field: "name".into(),
                message: format!(
                    "probe name {:?} is also used in {}",
                    p.name,
                    other.display()
                ),
            });
        }
    }
    match agent {
        Some(agent) if errors.is_empty() => Ok(Config {
            file: path.to_path_buf(),
            agent,
            probes: probes.into_iter().map(Arc::new).collect(),
        }),
        _ => Err(ConfigErrors(errors)),
    }
}

fn agent(ctx: &mut Ctx, a: &raw::AgentSection) -> Option<Agent> {
    let region = a.region.get_ref().clone();
    if !is_valid_name(&region) {
        ctx.err(&a.region, "must be 1-64 characters of A-Z a-z 0-9 _ - .");
    }
    let listen = match &a.listen_address {
        Some(v) => match v.get_ref().parse() {
            Ok(addr) => addr,
            Err(_) => {
                ctx.err(
                    v,
                    format!(
                        "{:?} is not an address:port such as 127.0.0.1:9797",
                        v.get_ref()
                    ),
                );
                Defaults::LISTEN_ADDRESS.parse().ok()?
            }
        },
        None => Defaults::LISTEN_ADDRESS.parse().ok()?,
    };
    let ledger_path = match &a.ledger_path {
        Some(p) => ctx.path(p),
        None => PathBuf::from(Defaults::LEDGER_PATH),
    };
    let ca_file = a.ca_file.as_ref().map(|p| {
        let path = ctx.path(p);
        if !path.is_file() {
            ctx.err(p, format!("CA file {} does not exist", path.display()));
        }
        path
    });
    let hmac_key = ctx.secret(
        &a.hmac_key_file,
        &a.hmac_key_env,
        "canary HMAC key",
        Some(&a.region),
    );
    Some(Agent {
        region,
        listen_address: listen,
        ledger_path,
        hmac_key: hmac_key?,
        ca_file,
    })
}

fn client_profiles(
    ctx: &mut Ctx,
    sections: &BTreeMap<String, Spanned<raw::ClientSection>>,
) -> BTreeMap<String, ClientProfile> {
    let mut out: BTreeMap<String, ClientProfile> = profiles::PRESET_NAMES
        .iter()
        .filter_map(|n| profiles::preset(n).map(|p| (n.to_string(), p)))
        .collect();
    for (name, sec) in sections {
        if !is_valid_name(name) {
            ctx.err(
                sec,
                format!("client name {name:?} must be 1-64 characters of A-Z a-z 0-9 _ - ."),
            );
            continue;
        }
        if let Some(p) = client(ctx, name, sec) {
            out.insert(name.clone(), p);
        }
    }
    out
}

fn client(ctx: &mut Ctx, name: &str, sec: &Spanned<raw::ClientSection>) -> Option<ClientProfile> {
    let s = sec.get_ref();
    let base = match &s.preset {
        Some(p) => match profiles::preset(p.get_ref()) {
            Some(b) => Some(b),
            None => {
                ctx.err(
                    p,
                    format!(
                        "unknown preset {:?}; presets are {}",
                        p.get_ref(),
                        profiles::PRESET_NAMES.join(", ")
                    ),
                );
                return None;
            }
        },
        None => None,
    };
    let imap = proto(
        ctx,
        true,
        &s.imap_tls,
        &s.imap_port,
        &s.imap_auth,
        base.as_ref().map(|b| &b.imap),
        sec,
    )?;
    let smtp = proto(
        ctx,
        false,
        &s.smtp_tls,
        &s.smtp_port,
        &s.smtp_auth,
        base.as_ref().map(|b| &b.smtp),
        sec,
    )?;
    let poll = ctx.duration(&s.poll_interval, Duration::from_secs(5));
    let watch = match &s.watch {
        Some(w) => match w.get_ref().as_str() {
            "idle" => Watch::Idle,
            "poll" => Watch::Poll(poll),
            other => {
                ctx.err(w, format!("must be \"idle\" or \"poll\", got {other:?}"));
                return None;
            }
        },
        None => match (base.as_ref().map(|b| b.watch), s.poll_interval.is_some()) {
            (Some(Watch::Poll(_)), true) => Watch::Poll(poll),
            (Some(w), _) => w,
            (None, _) => Watch::Idle,
        },
    };
    let id = match &s.id {
        Some(m) => m
            .get_ref()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        None => base.as_ref().map(|b| b.id.clone()).unwrap_or_default(),
    };
    Some(ClientProfile {
        name: name.to_string(),
        imap,
        smtp,
        id,
        watch,
    })
}

#[allow(clippy::too_many_arguments)]
fn proto(
    ctx: &mut Ctx,
    imap: bool,
    tls: &Option<Spanned<String>>,
    port: &Option<Spanned<i64>>,
    auth: &Option<Spanned<String>>,
    base: Option<&ProtoProfile>,
    anchor: &Spanned<raw::ClientSection>,
) -> Option<ProtoProfile> {
    let which = if imap { "imap" } else { "smtp" };
    let tls = match (tls, base) {
        (Some(t), _) => match TlsMode::parse(t.get_ref()) {
            Some(m) => m,
            None => {
                ctx.err(
                    t,
                    format!(
                        "must be \"implicit\", \"starttls\" or \"none\", got {:?}",
                        t.get_ref()
                    ),
                );
                return None;
            }
        },
        (None, Some(b)) => b.tls,
        (None, None) => {
            ctx.err(
                anchor,
                format!("{which}_tls is required when no preset is given"),
            );
            return None;
        }
    };
    let auth_field = auth.as_ref();
    let auth = match (auth, base) {
        (Some(a), _) => match AuthMech::parse(a.get_ref()) {
            Some(m) => m,
            None => {
                ctx.err(
                    a,
                    format!(
                        "must be one of login, plain, xoauth2, oauthbearer, none; got {:?}",
                        a.get_ref()
                    ),
                );
                return None;
            }
        },
        (None, Some(b)) => b.auth,
        (None, None) => {
            ctx.err(
                anchor,
                format!("{which}_auth is required when no preset is given"),
            );
            return None;
        }
    };
    if imap && auth == AuthMech::None {
        match auth_field {
            Some(a) => ctx.err(
                a,
                "IMAP needs a login: use login, plain, xoauth2 or oauthbearer",
            ),
            None => ctx.err(anchor, "imap_auth must not be \"none\""),
        }
        return None;
    }
    let default_port = match base {
        Some(b) if b.tls == tls => b.port,
        _ => profiles::default_port(imap, tls),
    };
    let port = ctx.port(port).unwrap_or(default_port);
    Some(ProtoProfile { tls, port, auth })
}

fn probe_file(
    path: &Path,
    errors: &mut Vec<ConfigError>,
    clients: &BTreeMap<String, ClientProfile>,
) -> Option<Probe> {
    let text = read(path, errors)?;
    let src = Source { path, text: &text };
    let sec: Spanned<raw::ProbeSection> = match toml::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            errors.push(src.parse_error(&e));
            return None;
        }
    };
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string);
    let mut ctx = Ctx { src, errors };
    probe(&mut ctx, &sec, stem, clients)
}

fn probe(
    ctx: &mut Ctx,
    sec: &Spanned<raw::ProbeSection>,
    default_name: Option<String>,
    clients: &BTreeMap<String, ClientProfile>,
) -> Option<Probe> {
    let s = sec.get_ref();
    let errors_before = ctx.errors.len();
    let name = match (&s.name, default_name) {
        (Some(n), _) => {
            if !is_valid_name(n.get_ref()) {
                ctx.err(n, "must be 1-64 characters of A-Z a-z 0-9 _ - .");
            }
            n.get_ref().clone()
        }
        (None, Some(stem)) if is_valid_name(&stem) => stem,
        (None, _) => {
            ctx.err(
                sec,
                "`name` is required (the file name is not a valid probe name)",
            );
            String::new()
        }
    };
    let mut profiles = Vec::new();
    if s.clients.get_ref().is_empty() {
        ctx.err(
            &s.clients,
            "list at least one client profile, e.g. [\"thunderbird\"]",
        );
    }
    for c in s.clients.get_ref() {
        match clients.get(c.get_ref()) {
            Some(_)
                if profiles
                    .iter()
                    .any(|p: &ClientProfile| &p.name == c.get_ref()) =>
            {
                ctx.err(c, format!("client {:?} is listed twice", c.get_ref()))
            }
            Some(p) => profiles.push(p.clone()),
            None => {
                let known: Vec<&str> = clients.keys().map(String::as_str).collect();
                ctx.err(
                    c,
                    format!(
                        "unknown client profile {:?}; known: {}",
                        c.get_ref(),
                        known.join(", ")
                    ),
                );
            }
        }
    }
    let interval = ctx.duration(&s.interval, Defaults::INTERVAL);
    let jitter = ctx.duration(&s.jitter, interval / 10);
    if let Some(j) = &s.jitter {
        if jitter >= interval {
            ctx.err(j, "must be shorter than the interval");
        }
    }
    let timeout = ctx.duration(&s.timeout, Defaults::TIMEOUT);
    let deadline = ctx.duration(&s.deadline, Defaults::DEADLINE);
    let lost_after = ctx.duration(&s.lost_after, deadline * Defaults::LOST_AFTER_DEADLINES);
    if let Some(l) = &s.lost_after {
        if lost_after < deadline {
            ctx.err(l, "must be at least the delivery deadline");
        }
    }
    for addr in [&s.from, &s.to] {
        if !addr.get_ref().contains('@')
            || addr
                .get_ref()
                .chars()
                .any(|c| c.is_whitespace() || c == '<' || c == '>')
        {
            ctx.err(addr, format!("{:?} is not a mail address", addr.get_ref()));
        }
    }
    let mailbox = s
        .mailbox
        .as_ref()
        .map(|m| m.get_ref().clone())
        .unwrap_or_else(|| Defaults::MAILBOX.into());
    if mailbox.is_empty()
        || mailbox
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        if let Some(m) = &s.mailbox {
            ctx.err(
                m,
                "must be a mailbox name without quotes, backslashes or control characters",
            );
        }
    }
    let needs = |imap: bool, oauth: bool| {
        profiles.iter().any(|p| {
            let a = if imap { p.imap.auth } else { p.smtp.auth };
            a != AuthMech::None && a.is_oauth() == oauth
        })
    };
    let (smtp_pw, smtp_tok) = (needs(false, false), needs(false, true));
    let (imap_pw, imap_tok) = (needs(true, false), needs(true, true));
    let smtp = endpoint(ctx, &s.smtp, s.from.get_ref(), smtp_pw, smtp_tok);
    let imap = endpoint(ctx, &s.imap, s.to.get_ref(), imap_pw, imap_tok);
    if ctx.errors.len() > errors_before {
        return None;
    }
    Some(Probe {
        name,
        file: ctx.src.path.to_path_buf(),
        clients: profiles,
        interval,
        jitter,
        timeout,
        deadline,
        lost_after,
        mailbox,
        from: s.from.get_ref().clone(),
        to: s.to.get_ref().clone(),
        cleanup: s.cleanup.unwrap_or(true),
        smtp: smtp?,
        imap: imap?,
    })
}

fn endpoint(
    ctx: &mut Ctx,
    sec: &Spanned<raw::EndpointSection>,
    default_user: &str,
    needs_password: bool,
    needs_token: bool,
) -> Option<Endpoint> {
    let e = sec.get_ref();
    if e.host.get_ref().trim().is_empty() {
        ctx.err(&e.host, "must not be empty");
    }
    let anchor = &e.host;
    let password = ctx.secret(
        &e.password_file,
        &e.password_env,
        "password",
        needs_password.then_some(anchor),
    );
    let oauth_token = ctx.secret(
        &e.oauth_token_file,
        &e.oauth_token_env,
        "OAuth token",
        needs_token.then_some(anchor),
    );
    Some(Endpoint {
        host: e.host.get_ref().clone(),
        implicit_tls_port: ctx.port(&e.implicit_tls_port),
        starttls_port: ctx.port(&e.starttls_port),
        plain_port: ctx.port(&e.plain_port),
        tls_server_name: e.tls_server_name.as_ref().map(|n| n.get_ref().clone()),
        username: e
            .username
            .as_ref()
            .map(|u| u.get_ref().clone())
            .unwrap_or_else(|| default_user.to_string()),
        password,
        oauth_token,
    })
}

/// Expands a path whose last component may hold `*` and `?` wildcards; sorted results.
fn glob(pattern: &Path) -> Result<Vec<PathBuf>, String> {
    let name = pattern.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let dir = pattern.parent().unwrap_or(Path::new("."));
    if dir.to_string_lossy().contains(['*', '?']) {
        return Err("wildcards are only supported in the file name".into());
    }
    if !name.contains(['*', '?']) {
        return Ok(if pattern.exists() {
            vec![pattern.to_path_buf()]
        } else {
            vec![]
        });
    }
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| wildcard(name.as_bytes(), n.as_bytes()))
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

fn wildcard(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&p[1..], s) || (!s.is_empty() && wildcard(p, &s[1..])),
        (Some(b'?'), Some(_)) => wildcard(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => wildcard(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards() {
        assert!(wildcard(b"*.toml", b"a.toml"));
        assert!(!wildcard(b"*.toml", b"a.toml.bak"));
        assert!(wildcard(b"p?.toml", b"p1.toml"));
    }
}
