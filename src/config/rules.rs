//! The rules that keep a config from doing harm on the wire: no control character in a value
//! sent to a server, no password or token over a plaintext connection unless the profile says
//! so, no certificate name taken from an unauthenticated MX answer when the probe logs in. The
//! ranges themselves are [`Limits`] (in `ctx.rs`, beside the defaults).

use super::ctx::{Ctx, Limits};
use super::profiles::{AuthMech, ClientProfile, ProtoProfile, TlsMode};
use super::raw;
use std::time::Duration;
use toml::Spanned;

/// Why `s` cannot be sent to a server inside a command, if it cannot: a control character (CR
/// and LF end a command line, NUL splits a SASL message) or more than `max` bytes.
pub(super) fn wire_problem(s: &str, max: usize) -> Option<String> {
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Some(format!(
            "must not contain control characters (found {c:?}): it is sent to the server as is"
        ));
    }
    (s.len() > max).then(|| format!("must be at most {max} bytes, got {}", s.len()))
}

impl Ctx<'_> {
    /// Reports `v` when it cannot go on the wire (see [`wire_problem`]); true when it can.
    pub(super) fn wire_text(&mut self, v: &Spanned<String>, max: usize) -> bool {
        match wire_problem(v.get_ref(), max) {
            Some(why) => {
                self.err(v, why);
                false
            }
            None => true,
        }
    }

    /// A mailbox name we can quote safely in IMAP commands.
    pub(super) fn mailbox_name(&mut self, name: &Spanned<String>) {
        let n = name.get_ref();
        let ok = !n.is_empty()
            && n.len() <= Limits::MAX_WIRE_LEN
            && !n.chars().any(|c| c.is_control() || c == '"' || c == '\\');
        if !ok {
            let max = Limits::MAX_WIRE_LEN;
            self.err(
                name,
                format!(
                    "must be a mailbox name of at most {max} bytes, without quotes, backslashes \
                     or control characters"
                ),
            );
        }
    }

    /// The IMAP ID table of a profile: RFC 2971's sizes, and nothing that ends the command.
    pub(super) fn id_fields(&mut self, id: &Spanned<std::collections::BTreeMap<String, String>>) {
        let fields = id.get_ref();
        if fields.len() > Limits::MAX_ID_FIELDS {
            self.err(
                id,
                format!(
                    "at most {} fields, got {}",
                    Limits::MAX_ID_FIELDS,
                    fields.len()
                ),
            );
        }
        for (k, v) in fields {
            let problem = wire_problem(k, Limits::MAX_ID_NAME_LEN)
                .map(|p| format!("field name {k:?} {p}"))
                .or_else(|| {
                    wire_problem(v, Limits::MAX_ID_VALUE_LEN).map(|p| format!("field {k:?} {p}"))
                });
            if let Some(p) = problem {
                self.err(id, p);
            }
        }
    }

    /// A profile that sends a password or token over a connection without TLS is refused
    /// unless it sets `allow_plaintext_auth = true`.
    pub(super) fn plaintext_auth(
        &mut self,
        s: &raw::ClientSection,
        anchor: &Spanned<raw::ClientSection>,
        imap: &ProtoProfile,
        pop3: Option<&ProtoProfile>,
        smtp: &ProtoProfile,
    ) {
        if s.allow_plaintext_auth
            .as_ref()
            .is_some_and(|a| *a.get_ref())
        {
            return;
        }
        let reader = match pop3 {
            Some(p) => ("pop3", p, &s.pop3_tls, &s.pop3_auth),
            None => ("imap", imap, &s.imap_tls, &s.imap_auth),
        };
        for (which, p, tls, auth) in [reader, ("smtp", smtp, &s.smtp_tls, &s.smtp_auth)] {
            if !sends_credentials_in_clear(p) {
                continue;
            }
            let what = if p.auth.is_oauth() {
                "token"
            } else {
                "password"
            };
            let msg = format!(
                "{which}_tls = \"none\" with {which}_auth = \"{}\" sends the {what} in clear \
                 text; use \"implicit\" or \"starttls\", or set allow_plaintext_auth = true \
                 in this profile (test servers only)",
                if which == "pop3" {
                    super::profiles::pop3_auth_name(p.auth)
                } else {
                    p.auth.as_str()
                }
            );
            match tls.as_ref().or(auth.as_ref()) {
                Some(at) => self.err(at, msg),
                None => self.err(anchor, msg),
            }
        }
    }
}

/// Whether this side of a profile logs in over a connection without TLS.
pub fn sends_credentials_in_clear(p: &ProtoProfile) -> bool {
    p.tls == TlsMode::None && p.auth != AuthMech::None
}

/// The sides (`imap` or `pop3`, `smtp`) on which `profile` logs in without TLS.
pub fn plaintext_auth_sides(profile: &ClientProfile) -> Vec<&'static str> {
    let reader = match &profile.pop3 {
        Some(p) => ("pop3", p),
        None => ("imap", &profile.imap),
    };
    [reader, ("smtp", &profile.smtp)]
        .into_iter()
        .filter(|(_, p)| sends_credentials_in_clear(p))
        .map(|(w, _)| w)
        .collect()
}

/// `mx_domain` with a login: the certificate name must come from the config
/// (`tls_server_name`), never from the MX answer, which anyone on the DNS path can forge.
/// (MTA-STS, the other safe source, is not supported.)
pub(super) fn mx_needs_server_name(
    ctx: &mut Ctx,
    smtp: &raw::EndpointSection,
    profiles: &[ClientProfile],
) {
    let (Some(domain), None) = (&smtp.mx_domain, &smtp.tls_server_name) else {
        return;
    };
    let logging_in: Vec<String> = profiles
        .iter()
        .filter(|p| p.smtp.auth != AuthMech::None)
        .map(|p| format!("{} ({})", p.name, p.smtp.auth.as_str()))
        .collect();
    if logging_in.is_empty() {
        return;
    }
    ctx.err(
        domain,
        format!(
            "set tls_server_name: client profiles {} log in, and the certificate name must \
             not come from the unauthenticated MX answer",
            logging_in.join(", ")
        ),
    );
}

/// `lost_after` when not given: [`super::ctx::Defaults::LOST_AFTER_DEADLINES`] deadlines, at
/// most [`Limits::MAX_DURATION`].
pub(super) fn default_lost_after(deadline: Duration, deadlines: u32) -> Duration {
    deadline.saturating_mul(deadlines).min(Limits::MAX_DURATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_for_the_wire_has_no_control_character_and_a_bounded_length() {
        for bad in ["a\rb", "a\n", "\0", "\u{1b}[2J", "tab\there", "nel\u{85}"] {
            assert!(wire_problem(bad, 64).is_some(), "{bad:?}");
        }
        assert!(wire_problem("canary@example.test", 64).is_none());
        assert!(wire_problem("Ünïcödé ok", 64).is_none());
        assert!(wire_problem(&"x".repeat(65), 64).is_some());
        assert!(wire_problem(&"x".repeat(64), 64).is_none());
    }

    #[test]
    fn only_a_login_without_tls_sends_credentials_in_clear() {
        let p = |tls, auth| ProtoProfile { tls, port: 1, auth };
        assert!(sends_credentials_in_clear(&p(
            TlsMode::None,
            AuthMech::Plain
        )));
        assert!(sends_credentials_in_clear(&p(
            TlsMode::None,
            AuthMech::XOAuth2
        )));
        assert!(!sends_credentials_in_clear(&p(
            TlsMode::None,
            AuthMech::None
        )));
        assert!(!sends_credentials_in_clear(&p(
            TlsMode::StartTls,
            AuthMech::Login
        )));
    }
}
