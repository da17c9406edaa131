//! The `mailcanary` command line: parses flags and hands over to the library.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "mailcanary",
    version,
    long_version = env!("MAILCANARY_LONG_VERSION"),
    about = "Synthetic mail monitoring: SMTP canaries watched over IMAP, exported to Prometheus"
)]
struct Cli {
    /// Log level: error, warn, info, debug.
    #[arg(long = "log.level", global = true, default_value = "info")]
    log_level: String,
    /// Log format: logfmt (human-readable key=value) or json.
    #[arg(long = "log.format", global = true, default_value = "logfmt")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the agent: schedule probes, serve /metrics and the status page.
    Run {
        /// The main config file, e.g. /etc/mailcanary/mailcanary.toml.
        #[arg(short = 'c', long = "config.file", visible_alias = "config")]
        config: PathBuf,
        /// Overrides agent.listen_address.
        #[arg(long = "web.listen-address")]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        web: WebFlags,
        #[command(flatten)]
        shard: ShardFlag,
    },
    /// Validate the config and probe files (and a web config file); exit 1 on any error.
    Check {
        /// The main config file, e.g. /etc/mailcanary/mailcanary.toml.
        #[arg(short = 'c', long = "config.file", visible_alias = "config")]
        config: PathBuf,
        /// Also check this web config file (TLS files and bcrypt hashes included).
        #[arg(long = "web.config.file")]
        web_config: Option<PathBuf>,
        #[command(flatten)]
        shard: ShardFlag,
    },
    /// Start an embedded mail server and the agent against it: live metrics and status page
    /// with no mail server to install.
    Demo {
        #[arg(long = "web.listen-address", default_value = "127.0.0.1:9797")]
        listen: SocketAddr,
        /// Write the demo's config here instead of a temporary folder.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Probe interval (e.g. 1s for a soak test).
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        /// Client profiles to run, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "ios_mail,outlook,thunderbird,gmail_android,outlook_pop3"
        )]
        clients: Vec<String>,
        /// Replay an incident instead of running normally: `libero` (January 2023: storage
        /// failure, partial restore with iOS still broken, queued mail delivered late).
        /// The scenario sets the probe's interval, deadline and lost_after itself.
        #[arg(long)]
        scenario: Option<String>,
        /// Divide every time of the scenario by this (2: twice as fast).
        #[arg(long, default_value_t = 1.0, requires = "scenario")]
        scenario_speed: f64,
        /// Exit once the scenario is over (print the report command first) instead of
        /// running until Ctrl-C.
        #[arg(long, requires = "scenario")]
        exit_after_scenario: bool,
    },
    /// Incident report from the ledger: outage windows and what happened to the canaries sent
    /// during them (on time, late, lost, recovered). With --agent, from every agent's
    /// /api/report, merged into one fleet report; exit 3 if an agent did not answer.
    Report {
        /// The agent's config, whose ledger is read (or give --agent), e.g.
        /// /etc/mailcanary/mailcanary.toml.
        #[arg(
            short = 'c',
            long = "config.file",
            visible_alias = "config",
            required_unless_present = "agents",
            conflicts_with = "agents"
        )]
        config: Option<PathBuf>,
        /// Start of the period: a duration back from now (6h, 2days), a time
        /// (2023-01-22T00:00:00Z) or unix seconds.
        #[arg(long, default_value = "24h")]
        since: String,
        /// End of the period, in the forms of --since (default: now).
        #[arg(long)]
        until: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        fleet: mailcanary::report::remote::FleetFlags,
    },
    /// Storage-integrity sentinels.
    Sentinel {
        #[command(subcommand)]
        action: SentinelAction,
    },
    /// Run one cycle of each probe instance and print a phase-by-phase transcript.
    Once {
        /// The main config file, e.g. /etc/mailcanary/mailcanary.toml.
        #[arg(short = 'c', long = "config.file", visible_alias = "config")]
        config: PathBuf,
        /// Only this probe.
        #[arg(long)]
        probe: Option<String>,
        /// Only this client profile.
        #[arg(long)]
        client: Option<String>,
    },
}

/// The HTTP server's flags of `mailcanary run`, named as Prometheus and its exporters name them.
#[derive(clap::Args)]
struct WebFlags {
    /// TLS and basic auth: a web config file in the Prometheus exporter-toolkit format
    /// (tls_server_config, basic_auth_users with bcrypt hashes); re-read when it changes.
    #[arg(long = "web.config.file")]
    config_file: Option<PathBuf>,
    /// Serve POST /-/reload (off: it answers 403; SIGHUP reloads either way).
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// Longest time from a request's first byte (or the connection's accept, TLS handshake
    /// included) to the end of its headers.
    #[arg(long = "web.read-header-timeout", default_value = "10s", value_parser = positive_duration)]
    read_header_timeout: std::time::Duration,
    /// Longest wait for the next request on a keep-alive connection, and for a client to read
    /// its response.
    #[arg(long = "web.idle-timeout", default_value = "60s", value_parser = positive_duration)]
    idle_timeout: std::time::Duration,
    /// HTTP connections open at once; past it the longest-idle one is closed to make room.
    #[arg(long = "web.max-connections", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    max_connections: u32,
}

impl WebFlags {
    fn options(self) -> mailcanary::web::WebOptions {
        mailcanary::web::WebOptions {
            config_file: self.config_file,
            enable_lifecycle: self.enable_lifecycle,
            limits: mailcanary::web::Limits {
                read_header_timeout: self.read_header_timeout,
                idle_timeout: self.idle_timeout,
                max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            },
        }
    }
}

/// `--shard i/n` of `mailcanary run` and `mailcanary check`.
#[derive(clap::Args)]
struct ShardFlag {
    /// Shard i of n of the instances (probe × client profile), counted from 1, e.g. 2/3: `run`
    /// runs only those, `check` also lists them. An instance is in shard 1 + (the first 8 bytes
    /// of SHA-256("probe/client") modulo n). Overrides agent.shard.
    #[arg(long = "shard", value_name = "i/n")]
    shard: Option<mailcanary::config::Shard>,
}

/// A duration flag above zero and at most a day (`10s`, `1m`, `500ms`).
fn positive_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > std::time::Duration::from_secs(86_400) {
        return Err(format!("{s:?} must be above 0 and at most 24h"));
    }
    Ok(d)
}

#[derive(Subcommand)]
enum SentinelAction {
    /// Append the probe's sentinel messages to its sentinel folder and record them in the ledger.
    Plant {
        /// The main config file, e.g. /etc/mailcanary/mailcanary.toml.
        #[arg(short = 'c', long = "config.file", visible_alias = "config")]
        config: PathBuf,
        #[arg(long)]
        probe: String,
        /// Log in as this client profile (default: the probe's first).
        #[arg(long)]
        client: Option<String>,
        /// Plant a new set even if one is recorded (old messages stay in the folder).
        #[arg(long)]
        replace: bool,
    },
}

/// Why a command stopped: the error of whichever command ran.
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error(transparent)]
    Agent(#[from] mailcanary::agent::AgentError),
    #[error(transparent)]
    Once(#[from] mailcanary::once::OnceError),
    #[error(transparent)]
    Demo(#[from] mailcanary::demo::DemoError),
    #[error(transparent)]
    Report(#[from] mailcanary::report::ReportError),
    #[error(transparent)]
    Plant(#[from] mailcanary::plant::PlantError),
}

/// `mailcanary __assets DIR`, for packaging (outside the clap definitions, so that what it
/// writes does not list it): the man pages (`mailcanary.1`, one per subcommand) and the bash,
/// zsh and fish completions, generated from the clap definitions into `DIR`.
const ASSETS_COMMAND: &str = "__assets";

fn write_assets(args: &[std::ffi::OsString]) -> ExitCode {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let [_, _, dir] = args else {
        eprintln!("usage: mailcanary {ASSETS_COMMAND} DIR");
        return ExitCode::from(2);
    };
    let cmd = Cli::command();
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::generate_to(cmd.clone(), dir))
        .and_then(|()| {
            [Shell::Bash, Shell::Zsh, Shell::Fish]
                .into_iter()
                .try_for_each(|shell| {
                    clap_complete::generate_to(shell, &mut cmd.clone(), "mailcanary", dir).map(drop)
                })
        });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let dir = std::path::Path::new(dir).display();
            eprintln!("mailcanary: cannot write the man pages and completions to {dir}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == ASSETS_COMMAND) {
        return write_assets(&args);
    }
    let cli = Cli::parse_from(args);
    if let Err(e) = mailcanary::logging::init(&cli.log_level, &cli.log_format) {
        eprintln!("mailcanary: {e}");
        return ExitCode::from(2);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mailcanary: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<bool, CommandError> = runtime.block_on(async {
        match cli.command {
            Command::Check {
                config,
                web_config,
                shard,
            } => {
                let ok = mailcanary::once::check(&config, shard.shard);
                let web_ok = web_config.is_none_or(|file| {
                    match mailcanary::web::security::describe_file(&file) {
                        Ok(line) => {
                            println!("{line}");
                            true
                        }
                        Err(e) => {
                            eprintln!("{e}");
                            false
                        }
                    }
                });
                Ok(ok && web_ok)
            }
            Command::Once {
                config,
                probe,
                client,
            } => mailcanary::once::once(&config, probe.as_deref(), client.as_deref())
                .await
                .map_err(CommandError::from),
            Command::Demo {
                listen,
                dir,
                interval,
                clients,
                scenario,
                scenario_speed,
                exit_after_scenario,
            } => mailcanary::demo::command::run(mailcanary::demo::command::DemoOptions {
                listen,
                dir,
                interval,
                clients,
                scenario,
                scenario_speed,
                exit_after_scenario,
            })
            .await
            .map(|()| true)
            .map_err(CommandError::from),
            Command::Report {
                config: Some(config),
                since,
                until,
                json,
                fleet: _,
            } => mailcanary::report::local(&config, &since, until.as_deref(), json)
                .map(|()| true)
                .map_err(CommandError::from),
            Command::Report {
                config: None,
                since,
                until,
                json,
                fleet,
            } => mailcanary::report::remote::command(&fleet.args(since, until, json))
                .await
                .map(|()| true)
                .map_err(CommandError::from),
            Command::Sentinel {
                action:
                    SentinelAction::Plant {
                        config,
                        probe,
                        client,
                        replace,
                    },
            } => mailcanary::plant::plant(&config, &probe, client.as_deref(), replace)
                .await
                .map(|()| true)
                .map_err(CommandError::from),
            Command::Run {
                config,
                listen,
                web,
                shard,
            } => mailcanary::agent::run_with(
                config,
                listen.map(mailcanary::agent::Listen::Address),
                web.options(),
                shard.shard,
                mailcanary::agent::termination(),
            )
            .await
            .map(|()| true)
            .map_err(CommandError::from),
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        // The fleet report was printed, but without the agents that did not answer.
        Err(CommandError::Report(e @ mailcanary::report::ReportError::Incomplete { .. })) => {
            eprintln!("mailcanary: {e}");
            ExitCode::from(3)
        }
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("mailcanary: {e}");
            ExitCode::FAILURE
        }
    }
}
