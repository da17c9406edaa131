//! `mailcanary demo`: the embedded default. Starts the in-process mail server, writes a real
//! agent config for it (so the user can read what a config looks like), and runs the agent
//! against it with the status page and `/metrics`, until Ctrl-C. With `--scenario libero` it
//! replays the January 2023 outage instead (see [`scenario`]).

use super::{DemoError, DemoServer, ServerOptions, User};

use super::scenario;
use crate::agent;
use crate::config::Limits;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use super::setup::{write_config, write_routed_config, DemoProbe, PASSWORD, TOKEN, USER};

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
pub async fn run(opts: DemoOptions) -> Result<(), DemoError> {
    match opts.scenario.as_deref() {
        None => run_plain(opts).await,
        Some(scenario::LIBERO) => run_libero(opts).await,
        Some(other) => Err(DemoError::UnknownScenario(other.to_string())),
    }
}

/// Binds the status page's listener before anything is printed, so that the URLs printed name
/// the port the agent serves, the one the system picked when `--web.listen-address` says 0.
async fn bind_web(
    addr: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), agent::AgentError> {
    let listener = agent::bind(addr).await?;
    let bound = listener
        .local_addr()
        .map_err(|source| agent::AgentError::Bind { addr, source })?;
    Ok((listener, bound))
}

/// The demo's working directory: `--dir`, or a new directory in the system's temporary folder
/// with a random suffix, mode 0700, created here. A predictable name (it used to end in the
/// process id) let another local user create it first, or a symlink in its place, and so read
/// or steer the demo's secrets. The directory is kept after the demo, so its config and
/// ledger can still be read.
fn demo_dir(opts: &DemoOptions) -> Result<PathBuf, DemoError> {
    if let Some(dir) = &opts.dir {
        return Ok(dir.clone());
    }
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("mailcanary-demo-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .map(tempfile::TempDir::keep)
        .map_err(|source| DemoError::WriteConfig {
            dir: std::env::temp_dir(),
            source,
        })
}

async fn run_plain(opts: DemoOptions) -> Result<(), DemoError> {
    // The probe's interval goes into the config the demo writes: refuse what it would refuse,
    // as a flag error, before starting anything.
    if !(Limits::MIN_INTERVAL..=Limits::MAX_DURATION).contains(&opts.interval) {
        return Err(DemoError::Interval(opts.interval));
    }
    let server = DemoServer::start(ServerOptions {
        users: vec![User::new(USER, PASSWORD).with_token(TOKEN)],
        ..ServerOptions::default()
    })
    .await
    .map_err(DemoError::ServerStart)?;
    let dir = demo_dir(&opts)?;
    let probe = DemoProbe {
        interval: opts.interval,
        clients: opts.clients.clone(),
        ..DemoProbe::default()
    };
    let (web, listen) = bind_web(opts.listen).await?;
    let config = write_config(&dir, server.addrs(), server.ca_pem(), listen, &[probe]).map_err(
        |source| DemoError::WriteConfig {
            dir: dir.clone(),
            source,
        },
    )?;
    let url = format!("http://{listen}");
    println!(
        "mailcanary demo: an embedded mail server (SMTP {} / {}, IMAP {} / {}, POP3 {} / {}) and\n\
         the agent probing it under {} client profile(s).\n\n  status page  {url}/\n  metrics      {url}/metrics\n  \
         config       {}\n\nCtrl-C to stop.",
        server.addrs().smtp,
        server.addrs().smtps,
        server.addrs().imap,
        server.addrs().imaps,
        server.addrs().pop3,
        server.addrs().pop3s,
        opts.clients.len(),
        config.display()
    );
    let result = agent::run(
        config,
        Some(agent::Listen::Bound(web)),
        agent::termination(),
    )
    .await;
    server.shutdown().await;
    Ok(result?)
}

/// `--scenario libero`: two embedded servers (see [`scenario`]), the agent, and the timeline.
async fn run_libero(opts: DemoOptions) -> Result<(), DemoError> {
    let speed = opts.scenario_speed;
    if !(speed.is_finite() && (0.1..=10.0).contains(&speed)) {
        return Err(DemoError::Speed(speed));
    }
    if !opts.clients.iter().any(|c| c == scenario::IOS_CLIENT) {
        return Err(DemoError::NeedsIosClient);
    }
    let servers = scenario::Libero::start(speed)
        .await
        .map_err(DemoError::ServersStart)?;
    let dir = demo_dir(&opts)?;
    let (web, listen) = bind_web(opts.listen).await?;
    let probe = scenario::probe(speed, opts.clients.clone());
    let config = write_routed_config(
        &dir,
        &servers.routes(&opts.clients),
        &servers.ca_pem(),
        listen,
        &probe,
    )
    .map_err(|source| DemoError::WriteConfig {
        dir: dir.clone(),
        source,
    })?;
    let url = format!("http://{listen}");
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
    let mut agent = Box::pin(agent::run(
        config,
        Some(agent::Listen::Bound(web)),
        shutdown,
    ));
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
        Some(Err(e)) => Err(e.into()),
        _ => Ok(result?),
    }
}
