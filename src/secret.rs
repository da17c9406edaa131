//! Secrets: passwords, OAuth tokens and the canary HMAC keys ([`KeyRing`]: the current key and
//! the ones a reload replaced, still verifying the canaries they signed).
//!
//! A secret is only ever read from a file or an environment variable, or (OAuth tokens) printed
//! by a configured command ([`command`]); never inline in a config. The value is wrapped in [`Secret`], whose `Debug` and `Display` print `[redacted]`, so a
//! secret cannot reach a log line, an error message or the status page by accident. Error
//! messages name where a secret was to come from (the file path, the variable name), never its
//! content.

mod command;
mod error;
mod keyring;

pub use command::TokenCommand;
pub use error::{CommandProblem, SecretError};
pub use keyring::KeyRing;
use std::fmt;
use std::path::PathBuf;

/// A secret value. Only [`Secret::expose`] gives the text, and only protocol code calls it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value that must never be printed.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret text, for the protocol exchange that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file whose content (trailing newline removed) is the secret.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command that prints an OAuth token; cached and re-run before the token expires.
    Command(TokenCommand),
}

impl SecretSource {
    /// Reads the secret now. Files are re-read on every call, so a rotated password or token
    /// is picked up by the next cycle without a reload; a command's token is reused until a
    /// margin before it expires, then the command runs again (see [`TokenCommand`]).
    pub fn load(&self) -> Result<Secret, SecretError> {
        let value = match self {
            SecretSource::Command(c) => return c.load(),
            SecretSource::File(path) => {
                std::fs::read_to_string(path).map_err(|source| SecretError::FileUnreadable {
                    path: path.clone(),
                    source,
                })?
            }
            SecretSource::Env(name) => {
                std::env::var(name).map_err(|_| SecretError::EnvUnset(name.clone()))?
            }
        };
        let value = value.trim_end_matches(['\r', '\n']).to_string();
        if value.is_empty() {
            return Err(SecretError::Empty(self.to_string()));
        }
        Ok(Secret(value))
    }
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "file {}", p.display()),
            SecretSource::Env(n) => write!(f, "environment variable {n}"),
            SecretSource::Command(c) => write!(f, "command {}", c.program()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn file_source_trims_newline_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        assert_eq!(
            SecretSource::File(p.clone()).load().unwrap().expose(),
            "s3cret"
        );
        let missing = SecretSource::File(dir.path().join("nope"));
        let err = missing.load().unwrap_err().to_string();
        assert!(err.contains("nope"), "{err}");
        std::fs::write(&p, "\n").unwrap();
        assert!(matches!(
            SecretSource::File(p).load(),
            Err(SecretError::Empty(_))
        ));
    }

    #[test]
    fn env_source_reports_the_variable_name() {
        let err = SecretSource::Env("MAILCANARY_TEST_SURELY_UNSET".into())
            .load()
            .unwrap_err()
            .to_string();
        assert!(err.contains("MAILCANARY_TEST_SURELY_UNSET"));
    }
}
