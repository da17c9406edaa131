//! Client profiles as the user writes them: a preset, a preset with overrides, or a profile of
//! their own, validated into [`ClientProfile`]s.
//!
//! A `[clients.NAME]` table starts from the preset it names with `preset = "..."`; a table
//! named like a preset (`[clients.ios_mail]`) without `preset` changes that preset for this
//! agent; any other table without `preset` is a profile of its own and must give `imap_tls`,
//! `imap_auth`, `smtp_tls` and `smtp_auth`. Fields not given keep the base's values; a port
//! not given follows the TLS mode (993/143, 465/587/25) when the TLS mode is overridden.

use super::ctx::{Ctx, Limits};
use super::is_valid_name;
use super::profiles::{self, AuthMech, ClientProfile, ProtoProfile, TlsMode, Watch};
use super::raw;
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
        // `[clients.ios_mail]` without `preset`: overrides of the preset of that name.
        None => profiles::preset(name),
    };
    let base_pop3 = base.as_ref().and_then(|b| b.pop3.as_ref());
    let pop3_keys = [&s.pop3_tls, &s.pop3_auth]
        .into_iter()
        .find_map(|k| k.as_ref().map(|k| k.span()))
        .or_else(|| s.pop3_port.as_ref().map(|p| p.span()));
    let pop3 = if pop3_keys.is_some() || base_pop3.is_some() {
        imap_keys_on_pop3(ctx, s, base_pop3.is_some());
        Some(proto(
            ctx,
            Side::Pop3,
            (&s.pop3_tls, &s.pop3_port, &s.pop3_auth),
            base_pop3,
            sec,
        )?)
    } else {
        None
    };
    let imap = match (&pop3, base.as_ref()) {
        // Reading over POP3: the IMAP side is not used; keep the base's, or mirror POP3's.
        (Some(_), Some(b)) => b.imap.clone(),
        (Some(p), None) => ProtoProfile {
            tls: p.tls,
            port: profiles::default_port(true, p.tls),
            auth: p.auth,
        },
        (None, _) => proto(
            ctx,
            Side::Imap,
            (&s.imap_tls, &s.imap_port, &s.imap_auth),
            base.as_ref().map(|b| &b.imap),
            sec,
        )?,
    };
    let smtp = proto(
        ctx,
        Side::Smtp,
        (&s.smtp_tls, &s.smtp_port, &s.smtp_auth),
        base.as_ref().map(|b| &b.smtp),
        sec,
    )?;
    ctx.plaintext_auth(s, sec, &imap, pop3.as_ref(), &smtp);
    let poll = ctx.duration_at_least(
        &s.poll_interval,
        Duration::from_secs(5),
        Limits::MIN_POLL_INTERVAL,
    );
    let watch = match &s.watch {
        Some(w) if pop3.is_some() && w.get_ref() == "idle" => {
            ctx.err(
                w,
                "POP3 has no IDLE: a profile that reads over POP3 polls (set poll_interval)",
            );
            return None;
        }
        _ if pop3.is_some() => match (base.as_ref().map(|b| b.watch), &s.poll_interval) {
            (Some(Watch::Poll(d)), None) => Watch::Poll(d),
            _ => Watch::Poll(poll),
        },
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
        Some(m) if pop3.is_some() => {
            ctx.err(
                m,
                "id is IMAP ID (RFC 2971): a profile that reads over POP3 sends none",
            );
            return None;
        }
        None if pop3.is_some() => Vec::new(),
        Some(m) => {
            ctx.id_fields(m);
            m.get_ref()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        None => base.as_ref().map(|b| b.id.clone()).unwrap_or_default(),
    };
    Some(ClientProfile {
        name: name.to_string(),
        imap,
        smtp,
        id,
        pop3,
        watch,
        allow_plaintext_auth: match &s.allow_plaintext_auth {
            Some(a) => *a.get_ref(),
            None => base.as_ref().is_some_and(|b| b.allow_plaintext_auth),
        },
    })
}

/// The protocol side of a profile a [`proto`] call reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Imap,
    Pop3,
    Smtp,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Imap => "imap",
            Side::Pop3 => "pop3",
            Side::Smtp => "smtp",
        }
    }

    fn default_port(self, tls: TlsMode) -> u16 {
        match self {
            Side::Imap => profiles::default_port(true, tls),
            Side::Pop3 => profiles::pop3_default_port(tls),
            Side::Smtp => profiles::default_port(false, tls),
        }
    }

    fn auth(self, s: &str) -> Option<AuthMech> {
        match self {
            Side::Pop3 => match s {
                "user" => Some(AuthMech::Login),
                "login" | "none" => None,
                other => AuthMech::parse(other),
            },
            _ => AuthMech::parse(s),
        }
    }
}

type Keys<'a> = (
    &'a Option<Spanned<String>>,
    &'a Option<Spanned<i64>>,
    &'a Option<Spanned<String>>,
);

/// A profile reads over IMAP or POP3, never both: on a POP3 profile, an `imap_*` key is an
/// error naming it (a POP3 preset has no IMAP side to override; a profile with `pop3_*` keys
/// chose POP3).
fn imap_keys_on_pop3(ctx: &mut Ctx, s: &raw::ClientSection, pop3_preset: bool) {
    let why = if pop3_preset {
        "its preset reads over POP3"
    } else {
        "it sets pop3_* keys"
    };
    let msg =
        |k: &str| format!("a profile reads over IMAP or POP3, never both: {k} is set, but {why}");
    for (k, v) in [("imap_tls", &s.imap_tls), ("imap_auth", &s.imap_auth)] {
        if let Some(v) = v {
            ctx.err(v, msg(k));
        }
    }
    if let Some(v) = &s.imap_port {
        ctx.err(v, msg("imap_port"));
    }
}

fn proto(
    ctx: &mut Ctx,
    side: Side,
    (tls, port, auth): Keys,
    base: Option<&ProtoProfile>,
    anchor: &Spanned<raw::ClientSection>,
) -> Option<ProtoProfile> {
    let which = side.name();
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
        (None, None) if side == Side::Pop3 => {
            ctx.err(
                anchor,
                "pop3_tls is required when the profile does not start from a POP3 preset",
            );
            return None;
        }
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
        (Some(a), _) => match side.auth(a.get_ref()) {
            Some(m) => m,
            None => {
                let allowed = match side {
                    Side::Pop3 => "user, plain, xoauth2, oauthbearer",
                    _ => "login, plain, xoauth2, oauthbearer, none",
                };
                ctx.err(
                    a,
                    format!("must be one of {allowed}; got {:?}", a.get_ref()),
                );
                return None;
            }
        },
        (None, Some(b)) => b.auth,
        (None, None) if side == Side::Pop3 => {
            ctx.err(
                anchor,
                "pop3_auth is required when the profile does not start from a POP3 preset",
            );
            return None;
        }
        (None, None) => {
            ctx.err(
                anchor,
                format!("{which}_auth is required when no preset is given"),
            );
            return None;
        }
    };
    if side == Side::Imap && auth == AuthMech::None {
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
        _ => side.default_port(tls),
    };
    let port = ctx.port(port).unwrap_or(default_port);
    Some(ProtoProfile { tls, port, auth })
}

#[cfg(test)]
#[path = "clients_tests.rs"]
mod tests;
