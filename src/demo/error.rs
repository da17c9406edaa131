//! Why `mailcanary demo` stopped or could not start.

use super::scenario::{self, RecordError};
use crate::agent::AgentError;
use crate::config::Limits;
use std::path::PathBuf;

/// A demo that could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("unknown scenario {0:?}; scenarios: {libero}", libero = scenario::LIBERO)]
    UnknownScenario(String),
    #[error("--scenario-speed must be between 0.1 and 10, got {0}")]
    Speed(f64),
    #[error(
        "--interval must be between {} and {}, got {}",
        Limits::show(Limits::MIN_INTERVAL),
        Limits::show(Limits::MAX_DURATION),
        Limits::show(*.0)
    )]
    Interval(std::time::Duration),
    #[error(
        "--scenario libero needs the {} client profile in --clients",
        scenario::IOS_CLIENT
    )]
    NeedsIosClient,
    #[error("cannot start the embedded mail server: {0}")]
    ServerStart(std::io::Error),
    #[error("cannot start the embedded mail servers: {0}")]
    ServersStart(std::io::Error),
    #[error("cannot write the demo config in {}: {source}", .dir.display())]
    WriteConfig {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Record(#[from] RecordError),
}
