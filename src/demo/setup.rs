//! The agent config a demo writes for its embedded server: the demo mailbox's credentials, the
//! probes ([`DemoProbe`]) and the files (CA, secrets, main file, probe files). Shared by the
//! `demo` command, its scenarios and the tests that run an agent against a demo server.

use super::Addrs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The demo mailbox and its credentials.
pub const USER: &str = "canary@example.test";
pub const PASSWORD: &str = "canary-password";
pub const TOKEN: &str = "canary-oauth-token";

/// A probe against a [`DemoServer`], written as a probe file by [`write_config`].
#[derive(Debug, Clone)]
pub struct DemoProbe {
    pub name: String,
    pub clients: Vec<String>,
    pub interval: Duration,
    pub deadline: Duration,
    pub timeout: Duration,
    /// Extra TOML lines for the probe's top level.
    pub extra: String,
}

impl Default for DemoProbe {
    fn default() -> Self {
        DemoProbe {
            name: "demo".into(),
            clients: ["ios_mail", "outlook", "thunderbird", "gmail_android"]
                .map(String::from)
                .to_vec(),
            interval: Duration::from_secs(10),
            deadline: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            extra: String::new(),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Writes an agent config for `probes` against a demo server at `addrs` into `dir`: the CA,
/// the secrets (mode 0600), `mailcanary.toml` and `probes/<name>.toml`. Returns the main file.
pub fn write_config(
    dir: &Path,
    addrs: Addrs,
    ca_pem: &str,
    listen: SocketAddr,
    probes: &[DemoProbe],
) -> std::io::Result<PathBuf> {
    write_files(dir, ca_pem, listen, probes, "", Some(addrs))
}

/// Like [`write_config`], but each client profile talks to its own server: `routes` gives the
/// server of every client, written as `[clients.NAME]` port overrides of the preset of that
/// name (the probe's endpoints then carry no ports). Clients must be presets.
pub fn write_routed_config(
    dir: &Path,
    routes: &[(String, Addrs)],
    ca_pem: &str,
    listen: SocketAddr,
    probe: &DemoProbe,
) -> std::io::Result<PathBuf> {
    use crate::config::profiles::{preset, TlsMode};
    let mut tables = String::new();
    for (client, a) in routes {
        let p = preset(client).ok_or_else(|| {
            std::io::Error::other(format!("{client:?} is not a client profile preset"))
        })?;
        let imap = if p.imap.tls == TlsMode::Implicit {
            a.imaps
        } else {
            a.imap
        };
        let smtp = if p.smtp.tls == TlsMode::Implicit {
            a.smtps
        } else {
            a.smtp
        };
        tables.push_str(&format!(
            "\n[clients.{client}]\npreset = \"{client}\"\nimap_port = {}\nsmtp_port = {}\n",
            imap.port(),
            smtp.port()
        ));
    }
    write_files(
        dir,
        ca_pem,
        listen,
        std::slice::from_ref(probe),
        &tables,
        None,
    )
}

/// Writes the files; `ports` puts every port in the probe's endpoints, `None` leaves ports to
/// the client profiles (`clients`: extra TOML for the main file).
fn write_files(
    dir: &Path,
    ca_pem: &str,
    listen: SocketAddr,
    probes: &[DemoProbe],
    clients: &str,
    ports: Option<Addrs>,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir.join("probes"))?;
    std::fs::create_dir_all(dir.join("secrets"))?;
    std::fs::write(dir.join("ca.pem"), ca_pem)?;
    write_secret(&dir.join("secrets/password"), PASSWORD)?;
    write_secret(&dir.join("secrets/token"), TOKEN)?;
    // The key is kept across rewrites: canaries in flight must still verify after a reload.
    let key_file = dir.join("secrets/hmac.key");
    if !key_file.exists() {
        let key: [u8; 32] = rand::random();
        let key: String = key.iter().map(|b| format!("{b:02x}")).collect();
        write_secret(&key_file, &key)?;
    }
    let main = dir.join("mailcanary.toml");
    std::fs::write(
        &main,
        format!(
            "# Written by `mailcanary demo` for its embedded mail server.\n\
             [agent]\nregion = \"demo\"\nlisten_address = \"{listen}\"\nledger_path = \"ledger.db\"\n\
             hmac_key_file = \"secrets/hmac.key\"\nca_file = \"ca.pem\"\nprobes = [\"probes/*.toml\"]\n{clients}"
        ),
    )?;
    for p in probes {
        let clients: Vec<String> = p.clients.iter().map(|c| format!("{c:?}")).collect();
        let endpoint = |plain_tls: Option<(SocketAddr, SocketAddr)>| {
            let ports = match plain_tls {
                Some((plain, tls)) => format!(
                    "implicit_tls_port = {}\nstarttls_port = {}\nplain_port = {}\n",
                    tls.port(),
                    plain.port(),
                    plain.port()
                ),
                None => String::new(),
            };
            format!(
                "host = \"127.0.0.1\"\ntls_server_name = \"mail.example.test\"\n{ports}\
                 password_file = \"../secrets/password\"\noauth_token_file = \"../secrets/token\"\n"
            )
        };
        std::fs::write(
            dir.join(format!("probes/{}.toml", p.name)),
            format!(
                "clients = [{}]\ninterval = \"{}\"\njitter = \"{}\"\ntimeout = \"{}\"\ndeadline = \"{}\"\n\
                 from = \"{USER}\"\nto = \"{USER}\"\n{}\n\n[smtp]\n{}\n[imap]\n{}",
                clients.join(", "),
                secs(p.interval),
                secs(p.interval / 10),
                secs(p.timeout),
                secs(p.deadline),
                p.extra,
                endpoint(ports.map(|a| (a.smtp, a.smtps))),
                endpoint(ports.map(|a| (a.imap, a.imaps))),
            ),
        )?;
    }
    Ok(main)
}

fn write_secret(path: &Path, value: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut f, value.as_bytes())
}
