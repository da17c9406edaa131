//! Probe definitions: one probe per file, checked field by field and against the client
//! profiles it names.

use super::error::{ConfigError, Source};
use super::profiles::{AuthMech, ClientProfile};
use super::raw;
use super::validate::{read, Ctx, Defaults};
use super::{is_valid_name, Endpoint, Probe};
use std::collections::BTreeMap;
use std::path::Path;
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
    );
    let imap = endpoint(
        ctx,
        &s.imap,
        s.to.get_ref(),
        needs(true, false),
        needs(true, true),
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
) -> Option<Endpoint> {
    let e = sec.get_ref();
    if e.host.get_ref().trim().is_empty() {
        ctx.err(&e.host, "must not be empty");
    }
    let span = sec.span();
    let password = ctx.secret(
        &e.password_file,
        &e.password_env,
        "password",
        password_for.map(|why| (span.clone(), why)),
    );
    let oauth_token = ctx.secret(
        &e.oauth_token_file,
        &e.oauth_token_env,
        "oauth_token",
        token_for.map(|why| (span.clone(), why)),
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
