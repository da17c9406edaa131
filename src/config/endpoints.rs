//! A probe's `[smtp]` and `[imap]` endpoints: host or MX domain, port, credentials (password,
//! OAuth token from a file, a variable or a command), each checked with file, line and field.

use super::ctx::{Ctx, Limits};
use super::raw;
use super::Endpoint;
use crate::secret::{SecretSource, TokenCommand};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

pub(super) fn endpoint(
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
