//! Probe definitions: one probe per file, checked field by field and against the client
//! profiles it names.

use super::ctx::{read, Ctx, Defaults, Limits};
use super::endpoints::endpoint;
use super::error::{ConfigError, Source};
use super::placeholder;
use super::profiles::{pop3_auth_name, AuthMech, ClientProfile};
use super::raw;
use super::rules::{default_lost_after, mx_needs_server_name};
use super::{is_valid_name, verdicts, Probe};
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
    let placeholders = placeholder::find(&src);
    if !placeholders.is_empty() {
        errors.extend(placeholders);
        return None;
    }
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
    let junk_folder = s.junk_folder.as_ref().map(|j| {
        ctx.mailbox_name(j);
        if j.get_ref() == &mailbox {
            ctx.err(
                j,
                format!(
                    "junk_folder {:?} is the probe's mailbox: name the folder spam is filed into",
                    j.get_ref()
                ),
            );
        }
        j.get_ref().clone()
    });
    let (authserv_id, expect_auth) = verdicts::keys(ctx, s);
    // Which profiles need a password or a token on each side, for the error that names them.
    let needs = |side: Side, oauth: bool| -> Option<String> {
        let names: Vec<String> = profiles
            .iter()
            .filter_map(|p| {
                let (a, name) = match (side, &p.pop3) {
                    (Side::Smtp, _) => (p.smtp.auth, p.smtp.auth.as_str()),
                    (Side::Imap, None) => (p.imap.auth, p.imap.auth.as_str()),
                    (Side::Pop3, Some(pop3)) => (pop3.auth, pop3_auth_name(pop3.auth)),
                    _ => return None,
                };
                (a != AuthMech::None && a.is_oauth() == oauth)
                    .then(|| format!("{} ({name})", p.name))
            })
            .collect();
        (!names.is_empty()).then(|| format!("client profiles {} log in with it", names.join(", ")))
    };
    let smtp = endpoint(
        ctx,
        &s.smtp,
        s.from.get_ref(),
        needs(Side::Smtp, false),
        needs(Side::Smtp, true),
        timeout,
        true,
    );
    let mut reader = |side: Side, given: &Option<Spanned<raw::EndpointSection>>| {
        let readers: Vec<&str> = profiles
            .iter()
            .filter(|p| p.reads_pop3() == (side == Side::Pop3))
            .map(|p| p.name.as_str())
            .collect();
        let table = if side == Side::Pop3 { "pop3" } else { "imap" };
        let proto = table.to_uppercase();
        match given {
            Some(t) if readers.is_empty() && !profiles.is_empty() => {
                ctx.err(
                    t,
                    format!("no client profile of this probe reads over {proto}: remove [{table}]"),
                );
                None
            }
            Some(t) => endpoint(
                ctx,
                t,
                s.to.get_ref(),
                needs(side, false),
                needs(side, true),
                timeout,
                false,
            ),
            None if !readers.is_empty() => {
                ctx.err(
                    sec,
                    format!(
                        "[{table}] is required: client profiles {} read over {proto}",
                        readers.join(", ")
                    ),
                );
                None
            }
            None => None,
        }
    };
    let imap = reader(Side::Imap, &s.imap);
    let pop3 = reader(Side::Pop3, &s.pop3);
    pop3_rules(ctx, s, &profiles);
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
        junk_folder,
        authserv_id,
        expect_auth,
        from: s.from.get_ref().clone(),
        to: s.to.get_ref().clone(),
        cleanup: s.cleanup.unwrap_or(true),
        sentinel_folder,
        sentinel_every,
        imap_max_literal,
        smtp: smtp?,
        imap,
        pop3,
    })
}

/// Which side of a profile an endpoint serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Smtp,
    Imap,
    Pop3,
}

/// What POP3 cannot do, said where the probe asks for it: POP3 reads only the inbox, and
/// sentinels (stored in a folder of their own) are checked over IMAP only.
fn pop3_rules(ctx: &mut Ctx, s: &raw::ProbeSection, profiles: &[ClientProfile]) {
    let pop3: Vec<&str> = profiles
        .iter()
        .filter(|p| p.reads_pop3())
        .map(|p| p.name.as_str())
        .collect();
    if pop3.is_empty() {
        return;
    }
    if let Some(m) = s.mailbox.as_ref().filter(|m| m.get_ref() != "INBOX") {
        ctx.err(
            m,
            format!(
                "POP3 reads only the inbox, and client profiles {} read over POP3: \
                 leave mailbox unset (INBOX)",
                pop3.join(", ")
            ),
        );
    }
    if let Some(j) = s
        .junk_folder
        .as_ref()
        .filter(|_| pop3.len() == profiles.len())
    {
        ctx.err(
            j,
            "the Junk folder is looked in over IMAP only, and every client profile of this \
             probe reads over POP3",
        );
    }
    if pop3.len() == profiles.len() {
        let folder = s.sentinel_folder.as_ref().map(|f| f.span());
        let every = s.sentinel_every.as_ref().map(|e| e.span());
        if let Some(span) = folder.or(every) {
            let e = ctx.src.error_at(
                Some(span),
                "sentinels are checked over IMAP only, and every client profile of this \
                 probe reads over POP3",
            );
            ctx.errors.push(e);
        }
    }
}
