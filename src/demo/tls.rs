//! TLS material of the demo server, made fresh at start with rcgen (ring backend): a private
//! CA, and three leaf certificates signed by it: the good one (for `localhost`, `127.0.0.1`
//! and the configured hostname), an expired one, and one for a wrong name. Builds one rustls
//! `ServerConfig` per leaf with an explicit ring provider (no process-wide provider needed),
//! and a client config that trusts the CA, for tests and the demo.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration as TimeDuration, OffsetDateTime};

use crate::demo::faults::CertFault;

/// The name the wrong-name certificate is issued for.
pub const WRONG_NAME: &str = "wrong.example.invalid";

/// CA plus the three server configurations.
pub(crate) struct TlsAssets {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub good: Arc<rustls::ServerConfig>,
    pub expired: Arc<rustls::ServerConfig>,
    pub wrong_name: Arc<rustls::ServerConfig>,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("demo TLS setup: {e}"))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn leaf(
    names: Vec<String>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    issuer: &Issuer<'_, KeyPair>,
) -> std::io::Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    let mut params = CertificateParams::new(names.clone()).map_err(io_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params.distinguished_name = dn;
    params.not_before = not_before;
    params.not_after = not_after;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(io_err)?;
    let cert = params.signed_by(&key, issuer).map_err(io_err)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((cert.der().clone(), key_der))
}

fn server_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> std::io::Result<Arc<rustls::ServerConfig>> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io_err)?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(io_err)?;
    Ok(Arc::new(config))
}

impl TlsAssets {
    /// Generate the CA and leaves. `hostname` is added to the good certificate's names.
    pub(crate) fn generate(hostname: &str) -> std::io::Result<TlsAssets> {
        let now = OffsetDateTime::now_utc();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(io_err)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "mailcanary demo CA");
        dn.push(DnType::OrganizationName, "mailcanary");
        ca_params.distinguished_name = dn;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.not_before = now - TimeDuration::days(400);
        ca_params.not_after = now + TimeDuration::days(3650);
        let ca_key = KeyPair::generate().map_err(io_err)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(io_err)?;
        let ca_pem = ca_cert.pem();
        let ca_der = ca_cert.der().clone();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "mail.example.test".to_string(),
        ];
        if !hostname.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(hostname)) {
            names.push(hostname.to_string());
        }
        let (good_cert, good_key) = leaf(
            names.clone(),
            now - TimeDuration::hours(1),
            now + TimeDuration::days(90),
            &issuer,
        )?;
        let (exp_cert, exp_key) = leaf(
            names,
            now - TimeDuration::days(60),
            now - TimeDuration::days(1),
            &issuer,
        )?;
        let (wrong_cert, wrong_key) = leaf(
            vec![WRONG_NAME.to_string()],
            now - TimeDuration::hours(1),
            now + TimeDuration::days(90),
            &issuer,
        )?;
        Ok(TlsAssets {
            ca_pem,
            ca_der,
            good: server_config(good_cert, good_key)?,
            expired: server_config(exp_cert, exp_key)?,
            wrong_name: server_config(wrong_cert, wrong_key)?,
        })
    }

    /// The server config to use for a handshake under the given certificate fault.
    pub(crate) fn config(&self, fault: Option<CertFault>) -> Arc<rustls::ServerConfig> {
        match fault {
            None => self.good.clone(),
            Some(CertFault::Expired) => self.expired.clone(),
            Some(CertFault::WrongName) => self.wrong_name.clone(),
        }
    }
}

/// A rustls client config (ring provider) that trusts exactly the given CA certificate.
pub fn client_config(
    ca_der: &CertificateDer<'static>,
) -> std::io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der.clone()).map_err(io_err)?;
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io_err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_ca_and_configs() {
        let t = TlsAssets::generate("demo.example.test").unwrap();
        assert!(t.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(client_config(&t.ca_der).is_ok());
        assert!(Arc::ptr_eq(&t.config(Some(CertFault::Expired)), &t.expired));
        assert!(Arc::ptr_eq(&t.config(None), &t.good));
    }
}
