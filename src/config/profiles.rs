//! Client profiles: how one kind of real mail client talks to the server, and the presets that
//! ship with mailcanary.
//!
//! A profile fixes the TLS mode and default port of each protocol, the auth mechanism, the IMAP
//! ID it announces and whether it waits for new mail with IDLE or by polling. A profile reads
//! mail over IMAP or, when it has a `pop3` side, over POP3 (always by polling), never both. A probe runs once
//! per profile it lists, so "only iOS users are broken" shows up as one red profile. The values
//! of each preset, and why, are in `docs/client-profiles.md`.

use std::time::Duration;

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (SMTP 465, IMAP 993).
    Implicit,
    /// Plain connection upgraded with STARTTLS (SMTP 587/25, IMAP 143).
    StartTls,
    /// No TLS at all. Only for test servers: a profile that logs in this way needs
    /// `allow_plaintext_auth = true`, and the agent warns about it at start.
    None,
}

impl TlsMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "implicit" => Some(Self::Implicit),
            "starttls" => Some(Self::StartTls),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Implicit => "implicit",
            Self::StartTls => "starttls",
            Self::None => "none",
        }
    }
}

/// SASL mechanism (or IMAP LOGIN) used to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMech {
    /// IMAP `LOGIN` command / SMTP `AUTH LOGIN`.
    Login,
    Plain,
    XOAuth2,
    OAuthBearer,
    /// No authentication (e.g. SMTP port 25 from a trusted network).
    None,
}

impl AuthMech {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "login" => Some(Self::Login),
            "plain" => Some(Self::Plain),
            "xoauth2" => Some(Self::XOAuth2),
            "oauthbearer" => Some(Self::OAuthBearer),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Plain => "plain",
            Self::XOAuth2 => "xoauth2",
            Self::OAuthBearer => "oauthbearer",
            Self::None => "none",
        }
    }

    /// Whether this mechanism needs an OAuth token rather than a password.
    pub fn is_oauth(self) -> bool {
        matches!(self, Self::XOAuth2 | Self::OAuthBearer)
    }
}

/// How the watcher learns that new mail arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// IMAP IDLE (RFC 2177), falling back to polling if the server lacks it.
    Idle,
    /// SEARCH every `interval`.
    Poll(Duration),
}

/// One protocol's settings in a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoProfile {
    pub tls: TlsMode,
    pub port: u16,
    pub auth: AuthMech,
}

/// A client profile, resolved: preset plus user overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientProfile {
    pub name: String,
    /// How the profile would read over IMAP; not used when `pop3` is set.
    pub imap: ProtoProfile,
    /// The profile reads over POP3 with these settings (auth `login` is USER/PASS) instead of
    /// IMAP; its watch is then always `Poll`.
    pub pop3: Option<ProtoProfile>,
    pub smtp: ProtoProfile,
    /// IMAP ID fields, sent after the greeting when not empty.
    pub id: Vec<(String, String)>,
    pub watch: Watch,
    /// `allow_plaintext_auth`: this profile may log in over a connection without TLS.
    pub allow_plaintext_auth: bool,
}

/// Names of the built-in presets.
pub const PRESET_NAMES: &[&str] = &[
    "ios_mail",
    "outlook",
    "thunderbird",
    "gmail_android",
    "outlook_pop3",
    "thunderbird_pop3",
];

impl ClientProfile {
    /// Whether this profile reads over POP3 (else over IMAP).
    pub fn reads_pop3(&self) -> bool {
        self.pop3.is_some()
    }
}

/// The default POP3 port in a TLS mode: 995 for implicit TLS, else 110 (RFC 1939, RFC 2595).
pub fn pop3_default_port(tls: TlsMode) -> u16 {
    match tls {
        TlsMode::Implicit => 995,
        _ => 110,
    }
}

/// The POP3 name of an auth mechanism: `user` for USER/PASS, else the SASL name.
pub fn pop3_auth_name(m: AuthMech) -> &'static str {
    match m {
        AuthMech::Login => "user",
        other => other.as_str(),
    }
}

fn pop3(tls: TlsMode, auth: AuthMech) -> Option<ProtoProfile> {
    Some(ProtoProfile {
        tls,
        port: pop3_default_port(tls),
        auth,
    })
}

/// The default port for a protocol in a TLS mode.
pub fn default_port(imap: bool, tls: TlsMode) -> u16 {
    match (imap, tls) {
        (true, TlsMode::Implicit) => 993,
        (true, _) => 143,
        (false, TlsMode::Implicit) => 465,
        (false, TlsMode::StartTls) => 587,
        (false, TlsMode::None) => 25,
    }
}

fn proto(imap: bool, tls: TlsMode, auth: AuthMech) -> ProtoProfile {
    ProtoProfile {
        tls,
        port: default_port(imap, tls),
        auth,
    }
}

fn id(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A built-in preset by name.
pub fn preset(name: &str) -> Option<ClientProfile> {
    use AuthMech::{Login, Plain};
    use TlsMode::{Implicit, StartTls};
    let p = match name {
        // Apple Mail on iOS: IMAPS 993 with AUTHENTICATE PLAIN, submission 587 with STARTTLS,
        // announces itself with ID. The preset models the app in the foreground, holding IDLE
        // on the open mailbox; in the background iOS fetches on a schedule instead (override
        // `watch = "poll"` to model that). See docs/client-profiles.md.
        "ios_mail" => ClientProfile {
            name: name.into(),
            imap: proto(true, Implicit, Plain),
            smtp: proto(false, StartTls, Plain),
            id: id(&[
                ("name", "iPhone Mail"),
                ("version", "22B83"),
                ("os", "iOS"),
                ("os-version", "18.1 (22B83)"),
            ]),
            pop3: None,
            watch: Watch::Idle,
            allow_plaintext_auth: false,
        },
        // Outlook desktop: IMAPS 993 with the LOGIN command, SMTP 587 STARTTLS with AUTH LOGIN,
        // no ID, and it checks folders on a send/receive timer rather than holding IDLE.
        "outlook" => ClientProfile {
            name: name.into(),
            imap: proto(true, Implicit, Login),
            smtp: proto(false, StartTls, Login),
            id: Vec::new(),
            pop3: None,
            watch: Watch::Poll(Duration::from_secs(5)),
            allow_plaintext_auth: false,
        },
        // Thunderbird: IMAP 143 upgraded with STARTTLS, AUTHENTICATE PLAIN, SMTP 465 implicit
        // TLS, sends ID, uses IDLE. The only preset on the IMAP STARTTLS path.
        "thunderbird" => ClientProfile {
            name: name.into(),
            imap: proto(true, StartTls, Plain),
            smtp: proto(false, Implicit, Plain),
            id: id(&[("name", "Thunderbird"), ("version", "128.5.0")]),
            pop3: None,
            watch: Watch::Idle,
            allow_plaintext_auth: false,
        },
        // The Gmail app on Android with a non-Google IMAP account (its IMAP engine descends from
        // AOSP Email): IMAPS 993 with the LOGIN command (XOAUTH2 only for OAuth providers),
        // sends ID, SMTP 465 with AUTH PLAIN, polls on its sync schedule.
        "gmail_android" => ClientProfile {
            name: name.into(),
            imap: proto(true, Implicit, Login),
            smtp: proto(false, Implicit, Plain),
            id: id(&[("name", "com.google.android.gm"), ("os", "android")]),
            pop3: None,
            watch: Watch::Poll(Duration::from_secs(5)),
            allow_plaintext_auth: false,
        },
        // Outlook desktop with a POP3 account, as ISPs publish it: POP3 on 995 with SSL and
        // USER/PASS ("Logon using clear text authentication" over TLS), SMTP 587 STARTTLS with
        // AUTH LOGIN; it downloads on its send/receive timer, so it polls.
        "outlook_pop3" => ClientProfile {
            name: name.into(),
            imap: proto(true, Implicit, Login),
            smtp: proto(false, StartTls, Login),
            id: Vec::new(),
            pop3: pop3(Implicit, Login),
            watch: Watch::Poll(Duration::from_secs(5)),
            allow_plaintext_auth: false,
        },
        // Thunderbird with a POP3 account: POP3 995 "SSL/TLS" with "Normal password", which it
        // sends as AUTH PLAIN when CAPA offers it; SMTP 465 implicit TLS with AUTH PLAIN. It
        // checks for new messages on a timer, so it polls.
        "thunderbird_pop3" => ClientProfile {
            name: name.into(),
            imap: proto(true, Implicit, Plain),
            smtp: proto(false, Implicit, Plain),
            id: Vec::new(),
            pop3: pop3(Implicit, Plain),
            watch: Watch::Poll(Duration::from_secs(5)),
            allow_plaintext_auth: false,
        },
        _ => return None,
    };
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_name_resolves_and_is_distinct() {
        let all: Vec<_> = PRESET_NAMES.iter().map(|n| preset(n).unwrap()).collect();
        for (i, a) in all.iter().enumerate() {
            assert_eq!(a.name, PRESET_NAMES[i]);
            for b in &all[i + 1..] {
                assert!(
                    a.imap != b.imap || a.smtp != b.smtp || a.watch != b.watch || a.pop3 != b.pop3,
                    "{} and {} talk the same way",
                    a.name,
                    b.name
                );
            }
        }
        assert!(preset("mutt").is_none());
    }

    #[test]
    fn the_pop3_presets_read_over_pop3_on_995_and_poll() {
        for name in ["outlook_pop3", "thunderbird_pop3"] {
            let p = preset(name).unwrap();
            let pop3 = p.pop3.unwrap();
            assert_eq!((pop3.tls, pop3.port), (TlsMode::Implicit, 995), "{name}");
            assert!(matches!(p.watch, Watch::Poll(_)), "{name}");
        }
        assert_eq!(
            preset("outlook_pop3").unwrap().pop3.unwrap().auth,
            AuthMech::Login
        );
        assert_eq!(pop3_auth_name(AuthMech::Login), "user");
        assert!(!preset("outlook").unwrap().reads_pop3());
    }
}
