//! The agent config a demo writes for its embedded server: the demo mailbox's credentials, the
//! probes ([`DemoProbe`]) and the files (CA, secrets, main file, probe files). Shared by the
//! `demo` command, its scenarios and the tests that run an agent against a demo server.
//!
//! A probe file gets an `[imap]` endpoint when one of its client profiles reads over IMAP and a
//! `[pop3]` endpoint (on the server's POP3 listeners) when one reads over POP3: the agent refuses
//! an endpoint that no profile of the probe reads from.

use super::Addrs;
use crate::config::profiles::preset;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The demo mailbox and its credentials.
pub const USER: &str = "canary@example.test";
pub const PASSWORD: &str = "canary-password";
pub const TOKEN: &str = "canary-oauth-token";

/// The client profiles a demo probes by default: the four IMAP presets and Outlook reading
/// over POP3. `mailcanary demo`'s `--clients` default (src/main.rs) is the same list, which
/// tests/demo_workdir.rs checks on the binary.
pub const DEFAULT_CLIENTS: [&str; 5] = [
    "ios_mail",
    "outlook",
    "thunderbird",
    "gmail_android",
    "outlook_pop3",
];

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
            clients: DEFAULT_CLIENTS.map(String::from).to_vec(),
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
    use crate::config::profiles::TlsMode;
    let mut tables = String::new();
    for (client, a) in routes {
        let p = preset(client).ok_or_else(|| {
            std::io::Error::other(format!("{client:?} is not a client profile preset"))
        })?;
        let implicit = |tls: TlsMode| tls == TlsMode::Implicit;
        // The side the profile reads from gets the port: `pop3_port` for a POP3 preset.
        let (key, read) = match &p.pop3 {
            Some(pop3) if implicit(pop3.tls) => ("pop3_port", a.pop3s),
            Some(_) => ("pop3_port", a.pop3),
            None if implicit(p.imap.tls) => ("imap_port", a.imaps),
            None => ("imap_port", a.imap),
        };
        let smtp = if implicit(p.smtp.tls) {
            a.smtps
        } else {
            a.smtp
        };
        tables.push_str(&format!(
            "\n[clients.{client}]\npreset = \"{client}\"\n{key} = {}\nsmtp_port = {}\n",
            read.port(),
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
        // A name that is no preset is taken to read over IMAP, as a profile does by default.
        let reads_pop3 = |c: &String| preset(c).is_some_and(|p| p.reads_pop3());
        let pop3 = p.clients.iter().any(reads_pop3);
        let imap = !pop3 || p.clients.iter().any(|c| !reads_pop3(c));
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
        let mut text = format!(
            "clients = [{}]\ninterval = \"{}\"\njitter = \"{}\"\ntimeout = \"{}\"\ndeadline = \"{}\"\n\
             from = \"{USER}\"\nto = \"{USER}\"\n{}\n\n[smtp]\n{}",
            clients.join(", "),
            secs(p.interval),
            secs(p.interval / 10),
            secs(p.timeout),
            secs(p.deadline),
            p.extra,
            endpoint(ports.map(|a| (a.smtp, a.smtps))),
        );
        if imap {
            text.push_str(&format!(
                "\n[imap]\n{}",
                endpoint(ports.map(|a| (a.imap, a.imaps)))
            ));
        }
        if pop3 {
            text.push_str(&format!(
                "\n[pop3]\n{}",
                endpoint(ports.map(|a| (a.pop3, a.pop3s)))
            ));
        }
        std::fs::write(dir.join(format!("probes/{}.toml", p.name)), text)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Instance};

    fn addrs() -> Addrs {
        let a = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Addrs {
            smtp: a(2525),
            smtps: a(4465),
            imap: a(1143),
            imaps: a(1993),
            pop3: a(1110),
            pop3s: a(1995),
        }
    }

    fn probe(name: &str, clients: &[&str]) -> DemoProbe {
        DemoProbe {
            name: name.into(),
            clients: clients.iter().map(|c| c.to_string()).collect(),
            ..DemoProbe::default()
        }
    }

    /// The port an instance reads from, as the agent resolves it.
    fn read_port(i: &Instance) -> u16 {
        let (endpoint, side) = i.probe.reader(&i.client).expect("an endpoint to read from");
        endpoint.port(side.tls, side.port)
    }

    fn load(main: &Path) -> Config {
        Config::load(main).unwrap_or_else(|e| panic!("the demo config loads: {e}"))
    }

    #[test]
    fn each_profile_reads_from_the_listener_of_its_protocol_and_tls_mode() {
        let dir = tempfile::tempdir().unwrap();
        let a = addrs();
        let probes = [
            DemoProbe::default(),
            probe("imap_only", &["outlook", "thunderbird"]),
            probe("pop3_only", &["outlook_pop3", "thunderbird_pop3"]),
        ];
        let main = write_config(dir.path(), a, "", "127.0.0.1:0".parse().unwrap(), &probes);
        let config = load(&main.unwrap());
        let find = |name: &str| {
            config
                .probes
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("probe {name}"))
                .clone()
        };
        let mixed = find("demo");
        assert!(mixed.imap.is_some() && mixed.pop3.is_some());
        assert!(
            find("imap_only").pop3.is_none(),
            "no [pop3] without a reader"
        );
        assert!(
            find("pop3_only").imap.is_none(),
            "no [imap] without a reader"
        );
        let instances = config.instances();
        assert_eq!(instances.len(), DEFAULT_CLIENTS.len() + 4);
        for i in &instances {
            let want = match i.client.name.as_str() {
                "thunderbird" => a.imap,
                "outlook_pop3" | "thunderbird_pop3" => a.pop3s,
                _ => a.imaps,
            };
            assert_eq!(
                read_port(i),
                want.port(),
                "{}/{}",
                i.probe.name,
                i.client.name
            );
        }
        assert!(DEFAULT_CLIENTS
            .iter()
            .any(|c| preset(c).is_some_and(|p| p.reads_pop3())));
    }

    #[test]
    fn a_routed_pop3_profile_reads_from_its_own_servers_pop3_listener() {
        let dir = tempfile::tempdir().unwrap();
        let (main_server, other) = (addrs(), {
            let mut b = addrs();
            b.imaps.set_port(2993);
            b.pop3s.set_port(2995);
            b.smtp.set_port(3525);
            b
        });
        let routes = [
            ("outlook".to_string(), main_server),
            ("outlook_pop3".to_string(), other),
        ];
        let p = probe("routed", &["outlook", "outlook_pop3"]);
        let main = write_routed_config(dir.path(), &routes, "", "127.0.0.1:0".parse().unwrap(), &p);
        let config = load(&main.unwrap());
        for i in config.instances() {
            let (read, smtp) = match i.client.name.as_str() {
                "outlook" => (main_server.imaps, main_server.smtp),
                _ => (other.pop3s, other.smtp),
            };
            assert_eq!(read_port(&i), read.port(), "{}", i.client.name);
            let smtp_port = i.probe.smtp.port(i.client.smtp.tls, i.client.smtp.port);
            assert_eq!(smtp_port, smtp.port(), "{}", i.client.name);
        }
    }
}
