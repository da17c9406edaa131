//! What every section's validation shares: the defaults and the ranges in one place
//! ([`Defaults`], [`Limits`]), the error collector bound to one file with its field checks
//! ([`Ctx`]), and reading a file.
//!
//! Every duration is bounded here once, so the arithmetic done on it later (lost_after = 10 ×
//! deadline, the cycle budget, the scheduler's next start) cannot overflow.

use super::error::{ConfigError, Source};
use crate::secret::SecretSource;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Every default of the config, in one place.
pub(super) struct Defaults;

impl Defaults {
    pub(super) const LISTEN_ADDRESS: &'static str = "0.0.0.0:9797";
    pub(super) const LEDGER_PATH: &'static str = "/var/lib/mailcanary/ledger.db";
    pub(super) const INTERVAL: Duration = Duration::from_secs(60);
    pub(super) const TIMEOUT: Duration = Duration::from_secs(10);
    pub(super) const DEADLINE: Duration = Duration::from_secs(60);
    /// `lost_after` defaults to this many delivery deadlines.
    pub(super) const LOST_AFTER_DEADLINES: u32 = 10;
    pub(super) const MAILBOX: &'static str = "INBOX";
}

/// The bounds of config values, in one place; README.md lists them.
pub struct Limits;

impl Limits {
    /// Every duration: at most a year (365 days).
    pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);
    /// The probe interval: cycles closer than this would hammer the mail server.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
    /// The IMAP polling interval of a client profile.
    pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);
    /// `sentinel_every`, in cycles.
    pub const MAX_SENTINEL_EVERY: u32 = 100_000;
    /// Bytes of a value sent to a server (username, address, mailbox, TLS name).
    pub const MAX_WIRE_LEN: usize = 1024;
    /// Bytes of a host name, `tls_server_name` or `mx_domain` (RFC 1035: 253 in text).
    pub const MAX_HOST_LEN: usize = 253;
    /// IMAP ID (RFC 2971 §3.3): at most 30 fields, names of 30 bytes, values of 1024.
    pub const MAX_ID_FIELDS: usize = 30;
    pub const MAX_ID_NAME_LEN: usize = 30;
    pub const MAX_ID_VALUE_LEN: usize = 1024;

    /// A duration as the limits' messages write it: whole days as days (humantime would write
    /// 365 days as months and hours), the rest as humantime does.
    pub fn show(d: Duration) -> String {
        match d.as_secs() {
            s if s >= 86_400 && s % 86_400 == 0 && d.subsec_nanos() == 0 => {
                format!("{}d", s / 86_400)
            }
            _ => humantime::format_duration(d).to_string(),
        }
    }
}

/// Error collector bound to one source file.
pub(super) struct Ctx<'a> {
    pub(super) src: Source<'a>,
    pub(super) errors: &'a mut Vec<ConfigError>,
}

impl Ctx<'_> {
    pub(super) fn err<T>(&mut self, v: &Spanned<T>, msg: impl Into<String>) {
        let e = self.src.error_at(Some(v.span()), msg);
        self.errors.push(e);
    }

    /// A duration in `(0, MAX_DURATION]`; `default` when not given.
    pub(super) fn duration(&mut self, v: &Option<Spanned<String>>, default: Duration) -> Duration {
        self.duration_at_least(v, default, Duration::from_nanos(1))
    }

    /// A duration in `[min, MAX_DURATION]` (and never zero); `default` when not given or bad.
    pub(super) fn duration_at_least(
        &mut self,
        v: &Option<Spanned<String>>,
        default: Duration,
        min: Duration,
    ) -> Duration {
        let Some(v) = v else { return default };
        let shown = Limits::show;
        match humantime::parse_duration(v.get_ref()) {
            Ok(d) if d.is_zero() => {
                self.err(v, "must be greater than zero");
                default
            }
            Ok(d) if d < min => {
                self.err(
                    v,
                    format!("must be at least {}, got {:?}", shown(min), v.get_ref()),
                );
                default
            }
            Ok(d) if d > Limits::MAX_DURATION => {
                self.err(
                    v,
                    format!(
                        "must be at most {}, got {:?}",
                        shown(Limits::MAX_DURATION),
                        v.get_ref()
                    ),
                );
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.err(
                    v,
                    format!(
                        "invalid duration {:?}: {e} (e.g. \"30s\", \"2m\")",
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    pub(super) fn port(&mut self, v: &Option<Spanned<i64>>) -> Option<u16> {
        let v = v.as_ref()?;
        match u16::try_from(*v.get_ref()) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.err(
                    v,
                    format!("must be between 1 and 65535, got {}", v.get_ref()),
                );
                None
            }
        }
    }

    /// A size in bytes within `range`; `default` when absent.
    pub(super) fn bytes(
        &mut self,
        v: &Option<Spanned<i64>>,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> u64 {
        let Some(v) = v else { return default };
        match u64::try_from(*v.get_ref()) {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.err(
                    v,
                    format!(
                        "must be a number of bytes from {} to {}, got {}",
                        range.start(),
                        range.end(),
                        v.get_ref()
                    ),
                );
                default
            }
        }
    }

    pub(super) fn path(&self, v: &Spanned<String>) -> PathBuf {
        resolve(self.src.path, v.get_ref())
    }

    /// Exactly one of `<key>_file` and `<key>_env`; when neither is set and `required` gives
    /// the enclosing table's span and the reason, that is an error there.
    pub(super) fn secret(
        &mut self,
        file: &Option<Spanned<String>>,
        env: &Option<Spanned<String>>,
        key: &str,
        required: Option<(Range<usize>, String)>,
    ) -> Option<SecretSource> {
        let what = key.replace('_', " ");
        let (source, anchor) = match (file, env) {
            (Some(f), None) => (SecretSource::File(self.path(f)), f),
            (None, Some(e)) => {
                if e.get_ref().is_empty() {
                    self.err(e, "must name an environment variable");
                    return None;
                }
                (SecretSource::Env(e.get_ref().clone()), e)
            }
            (Some(f), Some(_)) => {
                self.err(
                    f,
                    format!(
                        "set either the {what} file or the {what} environment variable, not both"
                    ),
                );
                return None;
            }
            (None, None) => {
                if let Some((span, why)) = required {
                    let e = self.src.error_at(
                        Some(span),
                        format!("{key}_file or {key}_env is required: {why}"),
                    );
                    self.errors.push(e);
                }
                return None;
            }
        };
        // Read it now, so a missing file or variable is reported here rather than at the
        // first cycle. The value itself is dropped; cycles re-read it.
        if let Err(e) = source.load() {
            self.err(anchor, e.to_string());
        }
        Some(source)
    }
}

/// Resolves `p` relative to the directory of `file`.
fn resolve(file: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

pub(super) fn read(path: &Path, errors: &mut Vec<ConfigError>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(ConfigError {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
                field: String::new(),
                message: format!("cannot read file: {e}"),
            });
            None
        }
    }
}
