//! Probe definitions: one probe per file, checked field by field and against the client
//! profiles it names.

use super::ctx::{read, Ctx, Defaults, Limits};
use super::error::{ConfigError, Source};
use super::profiles::{AuthMech, ClientProfile};
use super::raw;
use super::rules::{default_lost_after, mx_needs_server_name};
use super::{is_valid_name, Endpoint, Probe};
use crate::secret::{SecretSource, TokenCommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

pub(super) fn probe_file(
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

pub(super) fn probe(
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
    let interval = ctx.duration_at_least(&s.interval, Defaults::INTERVAL, Limits::MIN_INTERVAL);
    let jitter = ctx.duration(&s.jitter, interval / 10);
    if let Some(j) = &s.jitter {
        if jitter >= interval {
            ctx.err(j, "must be shorter than the interval");
        }
    }
    let timeout = ctx.duration(&s.timeout, Defaults::TIMEOUT);
    let deadline = ctx.duration(&s.deadline, Defaults::DEADLINE);
    let lost_after = ctx.duration(
        &s.lost_after,
        default_lost_after(deadline, Defaults::LOST_AFTER_DEADLINES),
    );
    if let Some(l) = &s.lost_after {
        if lost_after < deadline {
            ctx.err(l, "must be at least the delivery deadline");
        }
    }
    for addr in [&s.from, &s.to] {
        if !ctx.wire_text(addr, Limits::MAX_WIRE_LEN) {
            continue;
        }
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
    if let Some(m) = &s.mailbox {
        ctx.mailbox_name(m);
    }
    // Which profiles need a password or a token on each side, for the error that names them.
    let needs = |imap: bool, oauth: bool| -> Option<String> {
        let names: Vec<String> = profiles
            .iter()
            .filter_map(|p| {
                let a = if imap { p.imap.auth } else { p.smtp.auth };
                (a != AuthMech::None && a.is_oauth() == oauth)
                    .then(|| format!("{} ({})", p.name, a.as_str()))
            })
            .collect();
        (!names.is_empty()).then(|| format!("client profiles {} log in with it", names.join(", ")))
    };
    let smtp = endpoint(
        ctx,
        &s.smtp,
        s.from.get_ref(),
        needs(false, false),
        needs(false, true),
        timeout,
        true,
    );
    let imap = endpoint(
        ctx,
        &s.imap,
        s.to.get_ref(),
        needs(true, false),
        needs(true, true),
        timeout,
        false,
    );
    mx_needs_server_name(ctx, s.smtp.get_ref(), &profiles);
    let sentinel_folder = match &s.sentinel_folder {
        Some(f) => {
            ctx.mailbox_name(f);
            f.get_ref().clone()
        }
        None => super::DEFAULT_SENTINEL_FOLDER.to_string(),
    };
    let sentinel_every = match &s.sentinel_every {
        Some(n) => match u32::try_from(*n.get_ref()) {
            Ok(v) if (1..=Limits::MAX_SENTINEL_EVERY).contains(&v) => v,
            _ => {
                ctx.err(
                    n,
                    format!(
                        "must be a whole number of cycles from 1 to {}, got {}",
                        Limits::MAX_SENTINEL_EVERY,
                        n.get_ref()
                    ),
                );
                1
            }
        },
        None => 1,
    };
    let imap_max_literal = ctx.bytes(
        &s.imap_max_literal,
        super::DEFAULT_IMAP_MAX_LITERAL,
        super::IMAP_MAX_LITERAL_RANGE,
    );
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
        sentinel_folder,
        sentinel_every,
        imap_max_literal,
        smtp: smtp?,
        imap: imap?,
    })
}

fn endpoint(
    ctx: &mut Ctx,
    sec: &Spanned<raw::EndpointSection>,
    default_user: &str,
    password_for: Option<String>,
    token_for: Option<String>,
    timeout: Duration,
    smtp: bool,
) -> Option<Endpoint> {
    let e = sec.get_ref();
    let span = sec.span();
    let host = match (&e.host, &e.mx_domain) {
        (Some(h), None) => {
            if h.get_ref().trim().is_empty() {
                ctx.err(h, "must not be empty");
            } else {
                ctx.wire_text(h, Limits::MAX_HOST_LEN);
            }
            h.get_ref().clone()
        }
        (None, Some(d)) if !smtp => {
            ctx.err(d, "only an SMTP endpoint can be found by MX; set host");
            String::new()
        }
        (None, Some(d)) => {
            let valid = !d.get_ref().is_empty()
                && d.get_ref().len() <= Limits::MAX_HOST_LEN
                && d.get_ref()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
            if !valid {
                ctx.err(d, format!("{:?} is not a domain name", d.get_ref()));
            }
            d.get_ref().clone()
        }
        (Some(h), Some(_)) => {
            ctx.err(h, "set either host or mx_domain, not both");
            String::new()
        }
        (None, None) => {
            let e = ctx.src.error_at(
                Some(span.clone()),
                if smtp {
                    "host (or mx_domain) is required"
                } else {
                    "host is required"
                },
            );
            ctx.errors.push(e);
            String::new()
        }
    };
    if let Some(u) = &e.username {
        ctx.wire_text(u, Limits::MAX_WIRE_LEN);
    }
    if let Some(n) = &e.tls_server_name {
        ctx.wire_text(n, Limits::MAX_HOST_LEN);
    }
    let password = ctx.secret(
        &e.password_file,
        &e.password_env,
        "password",
        password_for.map(|why| (span.clone(), why)),
    );
    let oauth_token = oauth_token(ctx, e, token_for, span, timeout);
    Some(Endpoint {
        host,
        mx_domain: e.mx_domain.as_ref().map(|d| d.get_ref().clone()),
        dns_servers: Vec::new(),
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

/// Exactly one of `oauth_token_file`, `oauth_token_env` and `oauth_token_command`, required
/// when `token_for` says which client profiles log in with a token.
fn oauth_token(
    ctx: &mut Ctx,
    e: &raw::EndpointSection,
    token_for: Option<String>,
    span: std::ops::Range<usize>,
    timeout: Duration,
) -> Option<SecretSource> {
    let (file, env) = (&e.oauth_token_file, &e.oauth_token_env);
    if let (Some(names), None) = (&e.oauth_token_command_env, &e.oauth_token_command) {
        ctx.err(
            names,
            "oauth_token_command_env only applies with oauth_token_command",
        );
    }
    match &e.oauth_token_command {
        Some(cmd) if file.is_some() || env.is_some() => {
            ctx.err(
                cmd,
                "set only one of oauth_token_file, oauth_token_env and oauth_token_command",
            );
            None
        }
        Some(cmd) => token_command(ctx, cmd, timeout)
            .map(|c| c.with_env(command_env(ctx, e)))
            .map(SecretSource::Command),
        None if file.is_none() && env.is_none() => {
            if let Some(why) = token_for {
                let msg = format!(
                    "oauth_token_file, oauth_token_env or oauth_token_command is required: {why}"
                );
                let err = ctx.src.error_at(Some(span), msg);
                ctx.errors.push(err);
            }
            None
        }
        None => ctx.secret(file, env, "oauth_token", None),
    }
}

/// Checks that the command's program exists and can be run; the command itself first runs
/// when a cycle needs the token (it may call an OAuth server: `check` stays offline). The
/// probe's step `timeout` bounds each run.
fn token_command(
    ctx: &mut Ctx,
    cmd: &Spanned<Vec<Spanned<String>>>,
    timeout: Duration,
) -> Option<TokenCommand> {
    let Some(program) = cmd.get_ref().first() else {
        ctx.err(
            cmd,
            "list the program and its arguments, e.g. [\"/usr/local/bin/mail-token\", \"--user\", \"canary\"]",
        );
        return None;
    };
    let name = program.get_ref();
    let resolved = if name.contains('/') {
        let path = ctx.path(program);
        if !is_executable(&path) {
            ctx.err(
                program,
                format!(
                    "program {} does not exist or is not executable",
                    path.display()
                ),
            );
            return None;
        }
        path.to_string_lossy().into_owned()
    } else {
        if name.is_empty() || !in_path(name) {
            ctx.err(
                program,
                format!("program {name:?} is not found in PATH; give its full path"),
            );
            return None;
        }
        name.clone()
    };
    let argv = std::iter::once(resolved)
        .chain(cmd.get_ref()[1..].iter().map(|a| a.get_ref().clone()))
        .collect();
    match TokenCommand::new(argv, timeout) {
        Ok(c) => Some(c),
        Err(e) => {
            ctx.err(cmd, e.to_string());
            None
        }
    }
}

/// `oauth_token_command_env`: names of variables passed to the token command.
fn command_env(ctx: &mut Ctx, e: &raw::EndpointSection) -> Vec<String> {
    let mut names = Vec::new();
    for n in e.oauth_token_command_env.iter().flat_map(|l| l.get_ref()) {
        let name = n.get_ref();
        if name.is_empty() || name.contains(['=', '\0']) {
            ctx.err(n, format!("{name:?} is not an environment variable name"));
        } else {
            names.push(name.clone());
        }
    }
    names
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn in_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir: PathBuf| is_executable(&dir.join(name)))
    })
}
