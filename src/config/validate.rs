//! Turns the raw files into a typed [`Config`], checking every field and collecting every error.
//!
//! The defaults and the field checks every section shares live in `ctx.rs` ([`Defaults`], [`Ctx`]).

use super::clients::client_profiles;
use super::ctx::{read, Ctx, Defaults};
use super::error::{ConfigError, ConfigErrors, Source};
use super::glob::glob;
use super::placeholder;
use super::probes::{probe, probe_file};
use super::raw;
use super::{is_valid_name, Agent, Config, Web};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use toml::Spanned;

pub(super) fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let Some(text) = read(path, &mut errors) else {
        return Err(ConfigErrors(errors));
    };
    let src = Source { path, text: &text };
    // Placeholders left in the main file: those alone (the probe files it names are checked
    // once they are filled in).
    let placeholders = placeholder::find(&src);
    if !placeholders.is_empty() {
        return Err(ConfigErrors(placeholders));
    }
    let main: raw::MainFile = match toml::from_str(&text) {
        Ok(m) => m,
        Err(e) => return Err(ConfigErrors(vec![src.parse_error(&e)])),
    };
    let mut ctx = Ctx {
        src,
        errors: &mut errors,
    };
    let agent = agent(&mut ctx, &main.agent);
    let web = main
        .web
        .as_ref()
        .map(|w| web(&mut ctx, w))
        .unwrap_or_default();
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
                ctx.err(pattern, e.to_string());
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
        Some(mut agent) if errors.is_empty() => Ok(Config {
            file: path.to_path_buf(),
            probes: probes
                .into_iter()
                .map(|mut p| {
                    p.smtp.dns_servers = agent.dns_servers.clone();
                    Arc::new(p)
                })
                .collect(),
            agent: {
                agent.web = web;
                agent
            },
        }),
        _ => {
            errors.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
            Err(ConfigErrors(errors))
        }
    }
}

fn agent(ctx: &mut Ctx, section: &Spanned<raw::AgentSection>) -> Option<Agent> {
    let (a, agent_span) = (section.get_ref(), section.span());
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
    let mut dns_servers = Vec::new();
    for d in &a.dns_servers {
        let v = d.get_ref();
        let parsed = v.parse::<std::net::SocketAddr>().or_else(|_| {
            v.parse::<std::net::IpAddr>()
                .map(|ip| std::net::SocketAddr::new(ip, 53))
        });
        match parsed {
            Ok(s) => dns_servers.push(s),
            Err(_) => ctx.err(
                d,
                format!("{v:?} is not an IP address (optionally with :port)"),
            ),
        }
    }
    let shard = a
        .shard
        .as_ref()
        .and_then(|v| match v.get_ref().parse::<super::Shard>() {
            Ok(s) => Some(s),
            Err(e) => {
                ctx.err(v, e.to_string());
                None
            }
        });
    let hmac_key = ctx.secret(
        &a.hmac_key_file,
        &a.hmac_key_env,
        "hmac_key",
        Some((agent_span, "canaries are signed with it".into())),
    );
    Some(Agent {
        region,
        listen_address: listen,
        ledger_path,
        hmac_key: hmac_key?,
        ca_file,
        web: Web::default(),
        dns_servers,
        phase_histograms: a.phase_histograms,
        shard,
    })
}

fn web(ctx: &mut Ctx, section: &Spanned<raw::WebSection>) -> Web {
    let (w, span) = (section.get_ref(), section.span());
    let file = |ctx: &mut Ctx, v: &Spanned<String>| {
        let p = ctx.path(v);
        if !p.is_file() {
            ctx.err(v, format!("{} does not exist", p.display()));
        }
        p
    };
    let tls = match (&w.tls_cert_file, &w.tls_key_file) {
        (Some(c), Some(k)) => Some((file(ctx, c), file(ctx, k))),
        (None, None) => None,
        (Some(v), None) | (None, Some(v)) => {
            ctx.err(v, "set both tls_cert_file and tls_key_file, or neither");
            None
        }
    };
    let basic_auth = match &w.basic_auth_username {
        Some(user) => ctx
            .secret(
                &w.basic_auth_password_file,
                &w.basic_auth_password_env,
                "basic_auth_password",
                Some((span, "basic_auth_username is set".into())),
            )
            .map(|s| (user.get_ref().clone(), s)),
        None => {
            if let Some(v) = w
                .basic_auth_password_file
                .as_ref()
                .or(w.basic_auth_password_env.as_ref())
            {
                ctx.err(
                    v,
                    "basic_auth_username is required with a basic auth password",
                );
            }
            None
        }
    };
    Web { tls, basic_auth }
}
