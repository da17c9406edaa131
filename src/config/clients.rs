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
    ctx.plaintext_auth(s, sec, &imap, &smtp);
    let poll = ctx.duration_at_least(
        &s.poll_interval,
        Duration::from_secs(5),
        Limits::MIN_POLL_INTERVAL,
    );
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
        watch,
        allow_plaintext_auth: match &s.allow_plaintext_auth {
            Some(a) => *a.get_ref(),
            None => base.as_ref().is_some_and(|b| b.allow_plaintext_auth),
        },
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

#[cfg(test)]
mod tests {
    use crate::config::{AuthMech, Config, TlsMode, Watch};
    use std::time::Duration;

    fn load(clients: &str, listed: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "key\n").unwrap();
        let main = dir.path().join("m.toml");
        std::fs::write(
            &main,
            format!(
                "[agent]\nregion = \"t\"\nhmac_key_file = \"k\"\n{clients}\n\
                 [[probe]]\nname = \"p\"\nclients = [{listed}]\nfrom = \"a@x.test\"\n\
                 to = \"a@x.test\"\n[probe.smtp]\nhost = \"h\"\npassword_file = \"k\"\n\
                 oauth_token_file = \"k\"\n[probe.imap]\nhost = \"h\"\npassword_file = \"k\"\n\
                 oauth_token_file = \"k\"\n"
            ),
        )
        .unwrap();
        Config::load(&main).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_table_named_like_a_preset_overrides_that_preset() {
        let c = load(
            "[clients.ios_mail]\nsmtp_port = 2587\nwatch = \"poll\"\npoll_interval = \"30s\"\n",
            "\"ios_mail\"",
        );
        let p = &c.probes[0].clients[0];
        assert_eq!((p.smtp.tls, p.smtp.port), (TlsMode::StartTls, 2587));
        assert_eq!((p.imap.tls, p.imap.port), (TlsMode::Implicit, 993));
        assert_eq!(p.watch, Watch::Poll(Duration::from_secs(30)));
        assert_eq!(p.id[0], ("name".to_string(), "iPhone Mail".to_string()));
    }

    #[test]
    fn a_preset_based_profile_keeps_what_it_does_not_override() {
        let c = load(
            "[clients.tb_oauth]\npreset = \"thunderbird\"\nimap_auth = \"xoauth2\"\n\
             imap_tls = \"implicit\"\nid = { name = \"Thunderbird\", version = \"140.0\" }\n",
            "\"tb_oauth\", \"thunderbird\"",
        );
        let (p, base) = (&c.probes[0].clients[0], &c.probes[0].clients[1]);
        assert_eq!(p.name, "tb_oauth");
        assert_eq!(
            (p.imap.tls, p.imap.port),
            (TlsMode::Implicit, 993),
            "port follows TLS"
        );
        assert_eq!(p.imap.auth, AuthMech::XOAuth2);
        assert_eq!(p.smtp, base.smtp);
        assert_eq!(p.watch, Watch::Idle);
        assert_eq!(p.id[1], ("version".to_string(), "140.0".to_string()));
        assert_eq!((base.imap.tls, base.imap.port), (TlsMode::StartTls, 143));
    }
}
