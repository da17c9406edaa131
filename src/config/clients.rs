//! Client profiles as the user writes them: a preset, a preset with overrides, or a profile of
//! their own, validated into [`ClientProfile`]s.

use super::is_valid_name;
use super::profiles::{self, AuthMech, ClientProfile, ProtoProfile, TlsMode, Watch};
use super::raw;
use super::validate::Ctx;
use std::collections::BTreeMap;
use std::time::Duration;
use toml::Spanned;

/// The presets, plus the user's `[clients.*]` tables (which may override a preset by name).
pub(super) fn client_profiles(
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
