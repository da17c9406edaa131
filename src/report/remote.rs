//! `mailcanary report --agent URL --agent URL ...`: asks every agent for its report at once,
//! each under its own deadline, merges what comes back (`fleet.rs`) and prints it. The command
//! fails with [`ReportError::Incomplete`] when an agent did not answer, after printing the
//! report without it.

use super::fetch::{fetch, AgentUrl, FetchOptions};
use super::fleet::{merge, render_text, Answer, FleetReport};
use super::{parse_since, parse_until, ReportError};
use crate::secret::SecretSource;
use crate::tls::TlsContext;
use std::path::PathBuf;
use std::time::Duration;

/// The flags of the fleet report.
#[derive(Debug, Clone)]
pub struct FleetArgs {
    /// Agent base URLs, `http(s)://host:port[/prefix]`.
    pub agents: Vec<String>,
    pub since: String,
    /// `None`: up to now.
    pub until: Option<String>,
    pub json: bool,
    /// Basic auth user; the password comes from `password_file` or `password_env`.
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    /// CA certificates for `https://` agents, besides the web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// Per agent, for the whole exchange.
    pub timeout: Duration,
    /// Largest report accepted from one agent, bytes.
    pub max_body: usize,
}

/// The fleet report's flags of `mailcanary report`.
#[derive(clap::Args)]
pub struct FleetFlags {
    /// An agent's base URL (http(s)://host:port[/prefix]); repeat for every agent of the fleet.
    #[arg(long = "agent", value_name = "URL", id = "agents")]
    pub agents: Vec<String>,
    /// Basic auth user for the agents (the password from --agent.password-file or -env).
    #[arg(long = "agent.user", requires = "agents")]
    pub user: Option<String>,
    /// File holding the basic auth password.
    #[arg(long = "agent.password-file", requires = "agents")]
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the basic auth password.
    #[arg(long = "agent.password-env", requires = "agents")]
    pub password_env: Option<String>,
    /// CA certificates (PEM) for https:// agents, besides the web PKI roots.
    #[arg(long = "agent.ca-file", requires = "agents")]
    pub ca_file: Option<PathBuf>,
    /// Longest exchange with one agent: connect, TLS, request and the whole report.
    #[arg(long = "agent.timeout", default_value = "30s", value_parser = timeout)]
    pub timeout: std::time::Duration,
    /// Largest report accepted from one agent, in MiB.
    #[arg(long = "agent.max-report-mib", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_report_mib: u32,
}

impl FleetFlags {
    /// The flags with the report's period and format.
    pub fn args(self, since: String, until: Option<String>, json: bool) -> FleetArgs {
        FleetArgs {
            agents: self.agents,
            since,
            until,
            json,
            user: self.user,
            password_file: self.password_file,
            password_env: self.password_env,
            ca_file: self.ca_file,
            timeout: self.timeout,
            max_body: usize::try_from(self.max_report_mib)
                .unwrap_or(usize::MAX)
                .saturating_mul(1 << 20),
        }
    }
}

/// `--agent.timeout`: above 0, at most an hour.
fn timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err(format!("{s:?} must be above 0 and at most 1h"));
    }
    Ok(d)
}

fn options(args: &FleetArgs) -> Result<FetchOptions, ReportError> {
    let source = match (&args.password_file, &args.password_env) {
        (Some(f), None) => Some(SecretSource::File(f.clone())),
        (None, Some(v)) => Some(SecretSource::Env(v.clone())),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(ReportError::AgentOptions(
                "give --agent.password-file or --agent.password-env, not both".into(),
            ))
        }
    };
    let auth = match (&args.user, source) {
        (Some(user), Some(source)) => {
            let password = source
                .load()
                .map_err(|e| ReportError::AgentOptions(format!("agent password: {e}")))?;
            Some((user.clone(), password))
        }
        (None, None) => None,
        (Some(_), None) => {
            return Err(ReportError::AgentOptions(
                "--agent.user needs --agent.password-file or --agent.password-env".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(ReportError::AgentOptions(
                "an agent password needs --agent.user".into(),
            ))
        }
    };
    let tls = TlsContext::new(args.ca_file.as_deref())
        .map_err(|e| ReportError::AgentOptions(format!("--agent.ca-file: {e}")))?;
    Ok(FetchOptions {
        timeout: args.timeout,
        max_body: args.max_body,
        auth,
        tls,
    })
}

/// Fetches every agent's report and merges them.
pub async fn build(args: &FleetArgs) -> Result<FleetReport, ReportError> {
    let agents = (args.agents.iter())
        .map(|a| a.parse::<AgentUrl>())
        .collect::<Result<Vec<_>, _>>()?;
    let opts = options(args)?;
    let now = crate::ledger::now();
    let since = parse_since(&args.since, now)?;
    let until = match &args.until {
        Some(u) => parse_until(u, now)?,
        None => now,
    };
    let answers = futures::future::join_all(agents.iter().map(|a| {
        let opts = &opts;
        async move {
            Answer {
                agent: a.text.clone(),
                result: fetch(a, since, until, opts).await,
            }
        }
    }))
    .await;
    Ok(merge(since, until, crate::ledger::now(), answers))
}

/// Prints the fleet report; an error when an agent did not answer (the report is printed first).
pub async fn command(args: &FleetArgs) -> Result<(), ReportError> {
    let report = build(args).await?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(ReportError::Json)?;
        println!("{text}");
    } else {
        print!("{}", render_text(&report));
    }
    let missing = report.agents.iter().filter(|a| !a.answered).count();
    if missing > 0 {
        return Err(ReportError::Incomplete {
            missing,
            agents: report.agents.len(),
        });
    }
    Ok(())
}
