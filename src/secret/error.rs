//! Why a secret could not be had. Every message names where the secret was to come from (a
//! file path, a variable name, a program), never the secret, a command's arguments or its output.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// A secret that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {}: {source}", .path.display())]
    FileUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable {0} is not set or not UTF-8")]
    EnvUnset(String),
    /// The source (as [`SecretSource`](super::SecretSource) displays it) gave an empty value.
    #[error("secret from {0} is empty")]
    Empty(String),
    #[error("the token command needs a program to run")]
    NoProgram,
    #[error("token command {program}: {problem}")]
    Command {
        program: String,
        problem: CommandProblem,
    },
}

/// What went wrong running a token command, or with what it printed.
#[derive(Debug, thiserror::Error)]
pub enum CommandProblem {
    #[error("cannot start: {0}")]
    Start(std::io::Error),
    #[error("no stdout")]
    NoStdout,
    #[error("cannot read its output: {0}")]
    Read(std::io::Error),
    #[error("printed more than {0} bytes")]
    TooMuchOutput(usize),
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    #[error("cannot wait for it: {0}")]
    Wait(std::io::Error),
    #[error("{0}")]
    Exited(ExitStatus),
    #[error("printed something not UTF-8")]
    NotUtf8,
    #[error("printed invalid JSON")]
    InvalidJson,
    #[error("printed JSON without a string \"access_token\"")]
    NoAccessToken,
    #[error("printed an \"expires_in\" that is not a number")]
    BadExpiresIn,
    #[error("printed no token")]
    NoToken,
    #[error("printed a token containing whitespace (print only the token, or JSON)")]
    Whitespace,
}
