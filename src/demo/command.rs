//! `mailcanary demo`: the embedded default. Starts the in-process mail server, writes a real
//! agent config for it (so the user can read what a config looks like), and runs the agent
//! against it with the status page and `/metrics`, until Ctrl-C. With `--scenario libero` it
//! replays the January 2023 outage instead (see [`scenario`]).

use super::{Addrs, DemoServer, ServerOptions, User};

use super::scenario;
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

/// Options of `mailcanary demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub listen: SocketAddr,
    /// Where to write the demo config; a fresh temporary folder when `None`.
    pub dir: Option<PathBuf>,
    pub interval: Duration,
    pub clients: Vec<String>,
    /// A scenario to replay (`libero`); the scenario fixes the probe's times.
    pub scenario: Option<String>,
    /// Divides every time of the scenario (2: twice as fast).
    pub scenario_speed: f64,
    /// Stop once the scenario is over instead of running until Ctrl-C.
    pub exit_after_scenario: bool,
}

/// Runs the demo until Ctrl-C / SIGTERM (or the end of the scenario, if asked).
pub async fn run(opts: DemoOptions) -> Result<(), String> {
    match opts.scenario.as_deref() {
        None => run_plain(opts).await,
        Some(scenario::LIBERO) => run_libero(opts).await,
        Some(other) => Err(format!(
            "unknown scenario {other:?}; scenarios: {}",
            scenario::LIBERO
        )),
    }
}

fn demo_dir(opts: &DemoOptions) -> PathBuf {
    opts.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("mailcanary-demo-{}", std::process::id()))
    })
}

async fn run_plain(opts: DemoOptions) -> Result<(), String> {
    let server = DemoServer::start(ServerOptions {
        users: vec![User::new(USER, PASSWORD).with_token(TOKEN)],
        ..ServerOptions::default()
    })
    .await
    .map_err(|e| format!("cannot start the embedded mail server: {e}"))?;
    let dir = demo_dir(&opts);
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

/// `--scenario libero`: two embedded servers (see [`scenario`]), the agent, and the timeline.
async fn run_libero(opts: DemoOptions) -> Result<(), String> {
    let speed = opts.scenario_speed;
    if !(speed.is_finite() && (0.1..=10.0).contains(&speed)) {
        return Err(format!(
            "--scenario-speed must be between 0.1 and 10, got {speed}"
        ));
    }
    if !opts.clients.iter().any(|c| c == scenario::IOS_CLIENT) {
        return Err(format!(
            "--scenario libero needs the {} client profile in --clients",
            scenario::IOS_CLIENT
        ));
    }
    let servers = scenario::Libero::start(speed)
        .await
        .map_err(|e| format!("cannot start the embedded mail servers: {e}"))?;
    let dir = demo_dir(&opts);
    let probe = scenario::probe(speed, opts.clients.clone());
    let config = write_routed_config(
        &dir,
        &servers.routes(&opts.clients),
        &servers.ca_pem(),
        opts.listen,
        &probe,
    )
    .map_err(|e| format!("cannot write the demo config in {}: {e}", dir.display()))?;
    let url = format!("http://{}", opts.listen);
    println!(
        "mailcanary demo --scenario libero: a compressed replay of the Libero/Virgilio Mail outage\n\
         of January 2023, in {} phases over {} (speed {speed}). Times are UTC.\n\n  \
         status page  {url}/\n  metrics      {url}/metrics\n  config       {}\n\n\
         iOS Mail (ios_mail) talks to a second embedded server, so the partial restore can leave\n\
         it alone broken. Ctrl-C to stop.",
        scenario::PHASES,
        humantime::format_duration(Duration::from_secs((210.0 / speed).round() as u64)),
        config.display()
    );
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let record = dir.join("scenario.json");
    let config_shown = config.clone();
    let hint = move |since: f64| {
        let since = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + Duration::from_secs(since.max(0.0) as u64),
        );
        format!(
            "mailcanary report -c {} --since {since}",
            config_shown.display()
        )
    };
    let clients = opts.clients.clone();
    let exit_after = opts.exit_after_scenario;
    let config_for_report = config.clone();
    let mut timeline = Box::pin(async {
        let r = servers.play(&clients, &record, &hint).await;
        match &r {
            Ok(rec) => {
                let since = format!("{:.3}", rec.started_at);
                if let Err(e) = crate::report::command(&config_for_report, &since, false) {
                    println!("(the report cannot be built yet: {e})");
                }
            }
            Err(e) => eprintln!("mailcanary: the scenario stopped: {e}"),
        }
        let _ = done_tx.send(());
        r
    });
    let shutdown = async move {
        let finished = async {
            if exit_after {
                let _ = done_rx.await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            _ = agent::termination() => {}
            _ = finished => {}
        }
    };
    let mut agent = Box::pin(agent::run(config, Some(opts.listen), shutdown));
    // The agent runs until Ctrl-C (or the scenario's end with --exit-after-scenario); the
    // timeline stops early if the agent does.
    let (result, played) = tokio::select! {
        r = &mut agent => (r, None),
        p = &mut timeline => (agent.await, Some(p)),
    };
    drop(timeline);
    crate::status::set_notice(None);
    servers.shutdown().await;
    match played {
        Some(Err(e)) => Err(e),
        _ => result,
    }
}
