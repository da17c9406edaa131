//! The web config file of `--web.config.file`, in the Prometheus exporter-toolkit format, so the
//! agent is secured the way every exporter next to it is:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: web.crt           # relative paths are relative to this file's folder
//!   key_file: web.key
//!   client_auth_type: RequireAndVerifyClientCert   # optional; default NoClientCert
//!   client_ca_file: clients-ca.crt                 # required with the verifying types
//!   min_version: TLS12                             # optional: TLS12 (default) or TLS13
//!   max_version: TLS13                             # optional
//! basic_auth_users:
//!   prometheus: $2y$10$...       # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':\n')
//! ```
//!
//! Unknown keys are rejected, as exporter-toolkit does. Of its client auth types,
//! `NoClientCert`, `VerifyClientCertIfGiven` and `RequireAndVerifyClientCert` are supported;
//! the types that accept a certificate without verifying it are refused.

use super::WebError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tls_server_config: Option<RawTls>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
}

/// A web config file, parsed and checked; its files not read yet.
#[derive(Debug, Clone, PartialEq)]
pub struct WebConfigFile {
    pub tls: Option<TlsFiles>,
    /// Username → bcrypt hash.
    pub users: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_auth: ClientAuth,
    pub versions: Vec<&'static rustls::SupportedProtocolVersion>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientAuth {
    None,
    /// Verified against the CA file when given; a client may also present none.
    VerifyIfGiven(PathBuf),
    Require(PathBuf),
}

impl WebConfigFile {
    /// Reads and checks `path`; every error names the file.
    pub fn load(path: &Path) -> Result<WebConfigFile, WebError> {
        let err = |message: String| WebError::Config {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let raw: RawFile = if text.trim().is_empty() {
            RawFile::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| {
                err(match e.location() {
                    Some(l) if !e.to_string().contains(" line ") => {
                        format!("line {}, column {}: {e}", l.line(), l.column())
                    }
                    _ => e.to_string(),
                })
            })?
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let tls = match raw.tls_server_config {
            None => None,
            Some(t) => tls(t, dir).map_err(err)?,
        };
        for (user, hash) in &raw.basic_auth_users {
            if hash.parse::<bcrypt::HashParts>().is_err() {
                return Err(err(format!(
                    "basic_auth_users: the password of {user:?} is not a bcrypt hash \
                     (make one with: htpasswd -nBC 10 \"\" | tr -d ':\\n')"
                )));
            }
        }
        Ok(WebConfigFile {
            tls,
            users: raw.basic_auth_users,
        })
    }

    /// The files this config reads besides itself (certificate, key, client CA).
    pub fn files(&self) -> Vec<PathBuf> {
        let Some(t) = &self.tls else {
            return Vec::new();
        };
        let mut v = vec![t.cert.clone(), t.key.clone()];
        match &t.client_auth {
            ClientAuth::None => {}
            ClientAuth::VerifyIfGiven(ca) | ClientAuth::Require(ca) => v.push(ca.clone()),
        }
        v
    }
}

fn tls(t: RawTls, dir: &Path) -> Result<Option<TlsFiles>, String> {
    let path = |p: &Option<String>| p.as_ref().map(|p| dir.join(p));
    let (cert, key) = match (path(&t.cert_file), path(&t.key_file)) {
        (None, None) if t.client_ca_file.is_none() && t.client_auth_type.is_none() => {
            return Ok(None)
        }
        (Some(c), Some(k)) => (c, k),
        (None, _) => return Err("tls_server_config: missing cert_file".into()),
        (_, None) => return Err("tls_server_config: missing key_file".into()),
    };
    let ca = path(&t.client_ca_file);
    let client_auth = match (t.client_auth_type.as_deref().unwrap_or("NoClientCert"), ca) {
        ("NoClientCert", None) => ClientAuth::None,
        ("NoClientCert", Some(_)) => {
            return Err(
                "tls_server_config: client_ca_file is set but client_auth_type is \
                        NoClientCert (use RequireAndVerifyClientCert)"
                    .into(),
            )
        }
        ("VerifyClientCertIfGiven", Some(ca)) => ClientAuth::VerifyIfGiven(ca),
        ("RequireAndVerifyClientCert", Some(ca)) => ClientAuth::Require(ca),
        ("VerifyClientCertIfGiven" | "RequireAndVerifyClientCert", None) => {
            return Err("tls_server_config: client_auth_type needs client_ca_file".into())
        }
        ("RequestClientCert" | "RequireAnyClientCert", _) => {
            return Err("tls_server_config: client_auth_type RequestClientCert and \
                        RequireAnyClientCert accept unverified certificates and are not \
                        supported: use RequireAndVerifyClientCert"
                .into())
        }
        (other, _) => {
            return Err(format!(
                "tls_server_config: unknown client_auth_type {other:?} (NoClientCert, \
                 VerifyClientCertIfGiven or RequireAndVerifyClientCert)"
            ))
        }
    };
    let version = |v: &Option<String>, default: u8| match v.as_deref() {
        None => Ok(default),
        Some("TLS12") => Ok(12),
        Some("TLS13") => Ok(13),
        Some(other) => Err(format!(
            "tls_server_config: TLS version {other:?} is not supported (TLS12 or TLS13)"
        )),
    };
    let (min, max) = (version(&t.min_version, 12)?, version(&t.max_version, 13)?);
    let versions: Vec<_> = [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
        .into_iter()
        .filter(|(v, _)| (min..=max).contains(v))
        .map(|(_, p)| p)
        .collect();
    if versions.is_empty() {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    Ok(Some(TlsFiles {
        cert,
        key,
        client_auth,
        versions,
    }))
}

/// A rustls server config from PEM certificate chain and key files (and the client CA).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_auth: &ClientAuth,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Result<Arc<rustls::ServerConfig>, WebError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|source| WebError::Certificate {
            path: cert.to_path_buf(),
            source,
        })?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|source| WebError::Key {
        path: key.to_path_buf(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(WebError::Tls)?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::VerifyIfGiven(ca) | ClientAuth::Require(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca)
                .and_then(|i| i.collect::<Result<Vec<_>, _>>())
                .map_err(|source| WebError::Certificate {
                    path: ca.clone(),
                    source,
                })?
            {
                roots.add(c).map_err(WebError::Tls)?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider);
            let verifier = if matches!(client_auth, ClientAuth::VerifyIfGiven(_)) {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier.build().map_err(|e| WebError::ClientCa {
                path: ca.clone(),
                message: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key_der)
        .map_err(WebError::Tls)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<WebConfigFile, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("web.yml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        WebConfigFile::load(&path).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_file_means_plain_http_without_auth() {
        let c = load("").unwrap();
        assert_eq!(c.tls, None);
        assert!(c.users.is_empty());
    }

    #[test]
    fn tls_and_users_with_paths_beside_the_file() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let c = load(&format!(
            "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n\
             basic_auth_users:\n  prom: '{hash}'\n"
        ))
        .unwrap();
        let t = c.tls.unwrap();
        assert!(t.cert.ends_with("a.crt") && t.cert.is_absolute());
        assert_eq!(t.client_auth, ClientAuth::None);
        assert_eq!(c.users.get("prom"), Some(&hash));
    }

    #[test]
    fn errors_name_the_file_and_the_problem() {
        let e = load("tls_server_config:\n  cert_file: a.crt\n").unwrap_err();
        assert!(
            e.contains("web.yml") && e.contains("missing key_file"),
            "{e}"
        );
        let e = load("basic_auth_users:\n  prom: plain\n").unwrap_err();
        assert!(
            e.contains("not a bcrypt hash") && !e.contains("plain"),
            "{e}"
        );
        let e = load("tls_config:\n  cert_file: a\n").unwrap_err();
        assert!(e.contains("unknown field") && e.contains("line 1"), "{e}");
        let e = load(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
        )
        .unwrap_err();
        assert!(e.contains("needs client_ca_file"), "{e}");
        let e = load(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
        )
        .unwrap_err();
        assert!(e.contains("above max_version"), "{e}");
    }
}
