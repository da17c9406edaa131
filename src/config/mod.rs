//! Configuration: the main file (`mailcanary.toml`), the probe files it includes, and the client
//! profiles, turned into validated, typed values.
//!
//! - [`raw`] mirrors the files (serde, unknown keys rejected, spans kept);
//! - [`validate`] checks each field and each cross-field rule, collecting every error with its
//!   file, line, column and field ([`error`]);
//! - [`placeholder`] reports the values a shipped example leaves to fill in;
//! - [`profiles`] holds the client profile types and the built-in presets;
//! - [`Limits`] bounds every duration and count; `rules.rs` keeps values sent to a server free
//!   of control characters, credentials off plaintext connections and certificate names off
//!   MX answers.
//!
//! A probe runs once per client profile it lists: [`Config::instances`] expands that product,
//! and [`Config::agent_instances`] keeps the agent's shard of it ([`shard`]).

mod clients;
mod ctx;
mod endpoints;
pub mod error;
mod glob;
pub mod placeholder;
mod probes;
pub mod profiles;
pub mod raw;
mod rules;
pub mod shard;
#[cfg(test)]
pub(crate) mod testing;
mod validate;
mod verdicts;

use crate::secret::SecretSource;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use ctx::Limits;
pub use error::{ConfigError, ConfigErrors};
pub use rules::plaintext_auth_sides;
pub use shard::{Shard, ShardError};

/// The folder sentinels are planted in when a probe does not name one.
pub const DEFAULT_SENTINEL_FOLDER: &str = "mailcanary-sentinels";
/// The largest IMAP literal (a message body) a probe reads unless it sets `imap_max_literal`.
pub const DEFAULT_IMAP_MAX_LITERAL: u64 = 1024 * 1024;
/// The range `imap_max_literal` may take: 64 KiB (well above a canary) to 1 GiB.
pub const IMAP_MAX_LITERAL_RANGE: std::ops::RangeInclusive<u64> = 64 * 1024..=1024 * 1024 * 1024;
pub use profiles::{AuthMech, ClientProfile, TlsMode, Watch};

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The main file it was loaded from.
    pub file: PathBuf,
    pub agent: Agent,
    pub probes: Vec<Arc<Probe>>,
}

/// Agent-wide settings from the `[agent]` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    /// Value of the `region` label on every metric.
    pub region: String,
    pub listen_address: SocketAddr,
    pub ledger_path: PathBuf,
    pub hmac_key: SecretSource,
    /// Extra trust anchors (PEM) for private mail servers, added to the web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// TLS and basic auth for the agent's HTTP endpoints.
    pub web: Web,
    /// DNS servers for MX lookups; empty means the system resolver.
    pub dns_servers: Vec<SocketAddr>,
    /// Export `mailcanary_phase_seconds` histograms besides the per-phase gauges.
    pub phase_histograms: bool,
    /// The shard of the instances this agent runs (`[agent] shard`, or `--shard` over it);
    /// `None`: all of them.
    pub shard: Option<Shard>,
}

/// TLS and basic auth for the agent's own HTTP endpoints, both off by default.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Web {
    /// PEM certificate chain and private key: serve HTTPS instead of HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Username and where its password comes from: require HTTP basic auth (all endpoints
    /// except `/healthz`).
    pub basic_auth: Option<(String, SecretSource)>,
}

/// One probe definition: a mailbox checked end to end, under several client profiles.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub name: String,
    /// The file that defined it, for messages.
    pub file: PathBuf,
    pub clients: Vec<ClientProfile>,
    pub interval: Duration,
    pub jitter: Duration,
    /// Deadline for each single network step (connect, one command and its reply).
    pub timeout: Duration,
    /// Delivery deadline: accepted by SMTP → visible over IMAP. Later than this is `late`.
    pub deadline: Duration,
    /// A canary not seen this long after SMTP accepted it is declared `lost`.
    pub lost_after: Duration,
    pub mailbox: String,
    /// Junk folder looked in for a canary not in `mailbox`; `None`: the folder the server
    /// announces with SPECIAL-USE `\Junk`, if any (IMAP profiles only).
    pub junk_folder: Option<String>,
    /// Trust only `Authentication-Results` fields with this authserv-id; `None`: the topmost.
    pub authserv_id: Option<String>,
    /// Methods whose trusted verdict must be `pass`, or the cycle fails (`verify`,
    /// `auth_verdict`).
    pub expect_auth: Vec<crate::landing::Method>,
    pub from: String,
    pub to: String,
    /// Delete this probe's verified canaries after they are seen.
    pub cleanup: bool,
    /// Folder of the probe's sentinels (`mailcanary sentinel plant`).
    pub sentinel_folder: String,
    /// Sentinels are checked every this many cycles (when planted).
    pub sentinel_every: u32,
    /// The largest IMAP literal (in bytes) the probe reads; a larger one fails the step.
    pub imap_max_literal: u64,
    pub smtp: Endpoint,
    /// `[imap]`: present when a client profile of the probe reads over IMAP.
    pub imap: Option<Endpoint>,
    /// `[pop3]`: present when a client profile of the probe reads over POP3.
    pub pop3: Option<Endpoint>,
}

impl Probe {
    /// The endpoint `client` reads from (`[pop3]` or `[imap]`) and its side of the profile;
    /// `None` only for a profile the probe does not list.
    pub fn reader<'a>(
        &'a self,
        client: &'a ClientProfile,
    ) -> Option<(&'a Endpoint, &'a profiles::ProtoProfile)> {
        match &client.pop3 {
            Some(p) => self.pop3.as_ref().map(|e| (e, p)),
            None => self.imap.as_ref().map(|e| (e, &client.imap)),
        }
    }
}

/// Where a server is and how to log in to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The server to connect to; with `mx_domain`, the domain (a label, not connected to).
    pub host: String,
    /// SMTP: resolve the server as this domain's MX, through `dns_servers`.
    pub mx_domain: Option<String>,
    /// DNS servers for the MX lookup (the agent's `dns_servers`); empty: the system resolver.
    pub dns_servers: Vec<std::net::SocketAddr>,
    pub implicit_tls_port: Option<u16>,
    pub starttls_port: Option<u16>,
    pub plain_port: Option<u16>,
    pub tls_server_name: Option<String>,
    pub username: String,
    pub password: Option<SecretSource>,
    pub oauth_token: Option<SecretSource>,
}

impl Endpoint {
    /// The port to use in `mode`: the probe's own override, else the profile's port.
    pub fn port(&self, mode: TlsMode, profile_port: u16) -> u16 {
        let own = match mode {
            TlsMode::Implicit => self.implicit_tls_port,
            TlsMode::StartTls => self.starttls_port,
            TlsMode::None => self.plain_port,
        };
        own.unwrap_or(profile_port)
    }

    /// The name the server's certificate must carry.
    pub fn server_name(&self) -> &str {
        self.tls_server_name.as_deref().unwrap_or(&self.host)
    }
}

/// One probe run under one client profile: the unit the scheduler runs and metrics label.
#[derive(Debug, Clone)]
pub struct Instance {
    pub probe: Arc<Probe>,
    pub client: ClientProfile,
    pub region: String,
}

impl Instance {
    /// `probe/client`, unique within an agent.
    pub fn key(&self) -> String {
        format!("{}/{}", self.probe.name, self.client.name)
    }
}

impl Config {
    /// Loads and validates the main file and every probe file it includes.
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        validate::load(path)
    }

    /// Every probe × client profile, in config order.
    pub fn instances(&self) -> Vec<Instance> {
        self.probes
            .iter()
            .flat_map(|p| {
                p.clients.iter().map(|c| Instance {
                    probe: p.clone(),
                    client: c.clone(),
                    region: self.agent.region.clone(),
                })
            })
            .collect()
    }

    /// The instances the agent runs: [`Config::instances`] in its shard (`agent.shard`), in
    /// config order; all of them without a shard. `once`, `report` and `sentinel plant` work
    /// on one probe at a time and take [`Config::instances`] whatever the shard.
    pub fn agent_instances(&self) -> Vec<Instance> {
        let mut all = self.instances();
        if let Some(shard) = self.agent.shard {
            all.retain(|i| shard.contains(&i.probe.name, &i.client.name));
        }
        all
    }

    /// The shard the agent runs (`agent.shard`, after [`Config::override_shard`]); an agent
    /// without one runs [`Shard::ALL`].
    pub fn effective_shard(&self) -> Shard {
        self.agent.shard.unwrap_or(Shard::ALL)
    }

    /// Puts `--shard` over the config's `[agent] shard` when it is given.
    pub fn override_shard(&mut self, flag: Option<Shard>) {
        if flag.is_some() {
            self.agent.shard = flag;
        }
    }

    /// The longest `lost_after` of any probe: how long after acceptance a canary can still
    /// settle with a delay (the delivery histogram's buckets reach that far).
    pub fn longest_lost_after(&self) -> Duration {
        self.probes
            .iter()
            .map(|p| p.lost_after)
            .max()
            .unwrap_or_default()
    }
}

/// Whether a name can be used as a metric label value and in a ledger key.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
