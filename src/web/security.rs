//! Who may talk to the agent's HTTP endpoints, and over what: TLS and basic auth from the
//! exporter-toolkit web config file (`--web.config.file`), or from the deprecated `[web]`
//! section of `mailcanary.toml`, or neither.
//!
//! The web config file is looked at again on every new connection and every request, as
//! exporter-toolkit does: when its modification time or size (or those of the certificate,
//! key or client CA it names) change, it is read again, so certificates are rotated and users
//! changed without a restart. A changed file that does not load is logged and the last good
//! one stays in force. Whether the port speaks TLS is fixed at start-up: a change that would
//! switch between HTTP and HTTPS is refused the same way.

use super::toolkit::{self, ClientAuth, WebConfigFile};
use super::WebError;
use crate::config::Web;
use crate::secret::Secret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tokio_rustls::TlsAcceptor;

/// The credentials a request must carry.
pub enum Auth {
    Open,
    /// The deprecated `[web]` section: one user, its password in clear.
    Password {
        user: String,
        password: Secret,
    },
    /// Username → bcrypt hash.
    Bcrypt(BTreeMap<String, String>),
}

/// What is in force now.
pub struct Active {
    pub tls: Option<TlsAcceptor>,
    pub auth: Auth,
}

/// Where TLS and basic auth come from.
pub enum Source {
    /// `--web.config.file`.
    File(PathBuf),
    /// The deprecated `[web]` section (fixed for the life of the process).
    Legacy(Web),
}

/// The files a config was loaded from, as they were.
type Stamp = Vec<(PathBuf, Option<(SystemTime, u64)>)>;

/// TLS and basic auth, kept current.
pub struct Security {
    file: Option<PathBuf>,
    current: Mutex<(Stamp, Arc<Active>)>,
    /// Password checks that succeeded (digest of user, password and hash), so a scraper's
    /// every request does not cost a bcrypt verification.
    pub(super) verified: Mutex<std::collections::HashSet<[u8; 32]>>,
}

impl Security {
    /// Loads the source once; an error stops start-up.
    pub fn new(source: Source) -> Result<Security, WebError> {
        let (file, stamp, active) = match source {
            Source::File(path) => {
                let (stamp, active) = load_file(&path)?;
                (Some(path), stamp, active)
            }
            Source::Legacy(web) => (None, Vec::new(), legacy(&web)?),
        };
        Ok(Security {
            file,
            current: Mutex::new((stamp, Arc::new(active))),
            verified: Mutex::new(Default::default()),
        })
    }

    /// Neither TLS nor basic auth.
    pub fn open() -> Security {
        Security {
            file: None,
            current: Mutex::new((
                Vec::new(),
                Arc::new(Active {
                    tls: None,
                    auth: Auth::Open,
                }),
            )),
            verified: Mutex::new(Default::default()),
        }
    }

    /// What is in force now, the web config file read again if it (or a file it names)
    /// changed.
    pub fn active(&self) -> Option<Arc<Active>> {
        let mut current = self.current.lock().ok()?;
        let Some(path) = &self.file else {
            return Some(current.1.clone());
        };
        let now: Stamp = current
            .0
            .iter()
            .map(|(p, _)| (p.clone(), stat(p)))
            .collect();
        if now == current.0 {
            return Some(current.1.clone());
        }
        match load_file(path) {
            Ok((stamp, active)) if active.tls.is_some() != current.1.tls.is_some() => {
                tracing::error!(
                    file = %path.display(),
                    "web config change ignored: switching between HTTP and HTTPS needs a restart"
                );
                current.0 = stamp;
                drop(active);
            }
            Ok((stamp, active)) => {
                tracing::info!(file = %path.display(), "web config reloaded");
                *current = (stamp, Arc::new(active));
                if let Ok(mut v) = self.verified.lock() {
                    v.clear();
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "web config change not applied, the previous one is kept");
                // Looked at again when the files change once more.
                current.0 = now;
            }
        }
        Some(current.1.clone())
    }
}

/// Loads a web config file as the agent would (certificate, key and client CA included) and
/// says what it sets up, for `mailcanary check --web.config.file`.
pub fn describe_file(path: &Path) -> Result<String, WebError> {
    let (_, active) = load_file(path)?;
    let tls = if active.tls.is_some() {
        "HTTPS"
    } else {
        "plain HTTP"
    };
    let auth = match &active.auth {
        Auth::Bcrypt(users) => format!("basic auth for {} user(s)", users.len()),
        _ => "no basic auth".to_string(),
    };
    Ok(format!("{}: ok: {tls}, {auth}", path.display()))
}

fn stat(p: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn load_file(path: &Path) -> Result<(Stamp, Active), WebError> {
    // Stamped before reading, so a change made while reading is seen next time.
    let before = stat(path);
    let config = WebConfigFile::load(path)?;
    let mut stamp = vec![(path.to_path_buf(), before)];
    stamp.extend(config.files().into_iter().map(|f| {
        let s = stat(&f);
        (f, s)
    }));
    let tls = match &config.tls {
        None => None,
        Some(t) => Some(TlsAcceptor::from(toolkit::server_config(
            &t.cert,
            &t.key,
            &t.client_auth,
            &t.versions,
        )?)),
    };
    let auth = if config.users.is_empty() {
        Auth::Open
    } else {
        Auth::Bcrypt(config.users)
    };
    Ok((stamp, Active { tls, auth }))
}

fn legacy(web: &Web) -> Result<Active, WebError> {
    let tls = match &web.tls {
        None => None,
        Some((cert, key)) => Some(TlsAcceptor::from(toolkit::server_config(
            cert,
            key,
            &ClientAuth::None,
            rustls::DEFAULT_VERSIONS,
        )?)),
    };
    let auth = match &web.basic_auth {
        None => Auth::Open,
        Some((user, source)) => Auth::Password {
            user: user.clone(),
            password: source.load().map_err(WebError::BasicAuthPassword)?,
        },
    };
    Ok(Active { tls, auth })
}
