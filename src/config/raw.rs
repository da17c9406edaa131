//! The config files as written: serde structs mirroring the TOML, with unknown keys rejected
//! and the position of every value that validation may complain about kept as a span.
//!
//! Nothing here has meaning yet; [`super::validate`] turns these into the typed config.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

/// The main file, `mailcanary.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MainFile {
    pub agent: Spanned<AgentSection>,
    /// Client profiles defined or overridden by the user, by name.
    #[serde(default)]
    pub clients: BTreeMap<String, Spanned<ClientSection>>,
    /// Probes may also be written inline in the main file.
    #[serde(default)]
    pub probe: Vec<Spanned<ProbeSection>>,
    /// TLS and basic auth for the agent's own HTTP endpoints (off by default).
    pub web: Option<Spanned<WebSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSection {
    pub tls_cert_file: Option<Spanned<String>>,
    pub tls_key_file: Option<Spanned<String>>,
    pub basic_auth_username: Option<Spanned<String>>,
    pub basic_auth_password_file: Option<Spanned<String>>,
    pub basic_auth_password_env: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    pub region: Spanned<String>,
    pub listen_address: Option<Spanned<String>>,
    pub ledger_path: Option<Spanned<String>>,
    pub hmac_key_file: Option<Spanned<String>>,
    pub hmac_key_env: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    /// Glob patterns (relative to the main file) of probe files, e.g. `probes/*.toml`.
    #[serde(default)]
    pub probes: Vec<Spanned<String>>,
    /// DNS servers (`ip` or `ip:port`) for MX lookups; the system's resolv.conf when empty.
    #[serde(default)]
    pub dns_servers: Vec<Spanned<String>>,
    /// Keep a histogram per protocol phase (`mailcanary_phase_seconds`) besides the gauges of
    /// the last cycle: more series, for small fleets that want percentiles per phase.
    #[serde(default)]
    pub phase_histograms: bool,
    /// Run only shard `i` of `n` (from 1) of the instances, e.g. `"2/3"`; `--shard` overrides.
    pub shard: Option<Spanned<String>>,
}

/// A probe file holds exactly one probe at its top level.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    pub name: Option<Spanned<String>>,
    pub clients: Spanned<Vec<Spanned<String>>>,
    pub interval: Option<Spanned<String>>,
    pub jitter: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub deadline: Option<Spanned<String>>,
    pub lost_after: Option<Spanned<String>>,
    pub mailbox: Option<Spanned<String>>,
    /// Folder where the receiving side files suspected spam (default: the one the server
    /// announces with SPECIAL-USE `\Junk`).
    pub junk_folder: Option<Spanned<String>>,
    /// Trust only `Authentication-Results` fields with this authserv-id (default: the topmost).
    pub authserv_id: Option<Spanned<String>>,
    /// Methods (spf, dkim, dmarc, arc) whose trusted verdict must be `pass`.
    pub expect_auth: Option<Spanned<Vec<Spanned<String>>>>,
    pub from: Spanned<String>,
    pub to: Spanned<String>,
    pub cleanup: Option<bool>,
    /// Folder holding this probe's sentinel messages.
    pub sentinel_folder: Option<Spanned<String>>,
    /// Check the sentinels every Nth cycle.
    pub sentinel_every: Option<Spanned<i64>>,
    /// The largest IMAP literal (message body) read, in bytes; also the largest POP3 message.
    pub imap_max_literal: Option<Spanned<i64>>,
    pub smtp: Spanned<EndpointSection>,
    /// Required when a listed client profile reads over IMAP.
    pub imap: Option<Spanned<EndpointSection>>,
    /// Required when a listed client profile reads over POP3; the same keys as `[imap]`.
    pub pop3: Option<Spanned<EndpointSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSection {
    /// The server's name or address; or instead, for SMTP, `mx_domain`.
    pub host: Option<Spanned<String>>,
    /// SMTP only: a mail domain whose MX (lowest preference) is the server, resolved every
    /// cycle in the `dns` phase.
    pub mx_domain: Option<Spanned<String>>,
    /// The port for each TLS mode, overriding the client profile's default for that mode.
    pub implicit_tls_port: Option<Spanned<i64>>,
    pub starttls_port: Option<Spanned<i64>>,
    pub plain_port: Option<Spanned<i64>>,
    /// Name to verify the certificate against, when `host` is an address.
    pub tls_server_name: Option<Spanned<String>>,
    pub username: Option<Spanned<String>>,
    pub password_file: Option<Spanned<String>>,
    pub password_env: Option<Spanned<String>>,
    pub oauth_token_file: Option<Spanned<String>>,
    pub oauth_token_env: Option<Spanned<String>>,
    /// Program and arguments that print an OAuth token (bare, or token-endpoint JSON with
    /// `access_token` and `expires_in`); run again before the token expires.
    pub oauth_token_command: Option<Spanned<Vec<Spanned<String>>>>,
    /// Variables of the agent's environment the token command sees besides PATH, HOME, LANG...
    pub oauth_token_command_env: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A client profile: a preset's fields, or a user's own, or a user's override of a preset.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    /// Start from this preset and override the fields given here.
    pub preset: Option<Spanned<String>>,
    pub imap_tls: Option<Spanned<String>>,
    pub imap_port: Option<Spanned<i64>>,
    pub imap_auth: Option<Spanned<String>>,
    pub smtp_tls: Option<Spanned<String>>,
    pub smtp_port: Option<Spanned<i64>>,
    pub smtp_auth: Option<Spanned<String>>,
    /// Read over POP3 instead of IMAP: `implicit`, `starttls` (STLS) or `none`.
    pub pop3_tls: Option<Spanned<String>>,
    pub pop3_port: Option<Spanned<i64>>,
    /// `user` (USER/PASS), `plain`, `xoauth2` or `oauthbearer` (AUTH, RFC 5034).
    pub pop3_auth: Option<Spanned<String>>,
    /// IMAP ID fields (RFC 2971) sent after the greeting, e.g. `{ name = "iPhone Mail" }`.
    pub id: Option<Spanned<BTreeMap<String, String>>>,
    /// `idle` or `poll`.
    pub watch: Option<Spanned<String>>,
    pub poll_interval: Option<Spanned<String>>,
    /// Allow `*_tls = "none"` with a login: the password or token crosses the network in
    /// clear text (test servers only).
    pub allow_plaintext_auth: Option<Spanned<bool>>,
}
