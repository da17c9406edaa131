//! `mailcanary demo`: the embedded default. Starts the in-process mail server, writes a real
//! agent config for it (so the user can read what a config looks like), and runs the agent
//! against it with the status page and `/metrics`, until Ctrl-C.

use super::{Addrs, DemoServer, ServerOptions, User};
use crate::agent;
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
             hmac_key_file = \"secrets/hmac.key\"\nca_file = \"ca.pem\"\nprobes = [\"probes/*.toml\"]\n"
        ),
    )?;
    for p in probes {
        let clients: Vec<String> = p.clients.iter().map(|c| format!("{c:?}")).collect();
        let endpoint = |plain: SocketAddr, tls: SocketAddr| {
            format!(
                "host = \"127.0.0.1\"\ntls_server_name = \"mail.example.test\"\n\
                 implicit_tls_port = {}\nstarttls_port = {}\nplain_port = {}\n\
                 password_file = \"../secrets/password\"\noauth_token_file = \"../secrets/token\"\n",
                tls.port(),
                plain.port(),
                plain.port()
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
                endpoint(addrs.smtp, addrs.smtps),
                endpoint(addrs.imap, addrs.imaps),
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

/// Options of `mailcanary demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    /// Where to write the demo config; a fresh temporary folder when `None`.
    pub dir: Option<PathBuf>,
    pub interval: Duration,
    pub clients: Vec<String>,
}

/// Runs the demo until Ctrl-C / SIGTERM.
pub async fn run(opts: DemoOptions) -> Result<(), String> {
    let server = DemoServer::start(ServerOptions {
        users: vec![User::new(USER, PASSWORD).with_token(TOKEN)],
        ..ServerOptions::default()
    })
    .await
    .map_err(|e| format!("cannot start the embedded mail server: {e}"))?;
    let dir = opts.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("mailcanary-demo-{}", std::process::id()))
    });
    let probe = DemoProbe {
        interval: opts.interval,
        clients: opts.clients.clone(),
        ..DemoProbe::default()
    };
    let config = write_config(&dir, server.addrs(), server.ca_pem(), opts.listen, &[probe])
        .map_err(|e| format!("cannot write the demo config in {}: {e}", dir.display()))?;
    let url = format!("http://{}", opts.listen);
    println!(
        "mailcanary demo: an embedded mail server (SMTP {} / {}, IMAP {} / {}) and the agent\n\
         probing it under {} client profile(s).\n\n  status page  {url}/\n  metrics      {url}/metrics\n  \
         config       {}\n\nCtrl-C to stop.",
        server.addrs().smtp,
        server.addrs().smtps,
        server.addrs().imap,
        server.addrs().imaps,
        opts.clients.len(),
        config.display()
    );
    let result = agent::run(config, Some(opts.listen), agent::termination()).await;
    server.shutdown().await;
    result
}
