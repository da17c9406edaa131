//! Unit-test support for the whole crate: a real [`Config`] with one probe, loaded from files
//! written into a temporary folder, for tests that need a probe or an instance as the agent
//! would build them.

use super::{Config, Instance};
use std::path::Path;

/// A config in `dir` with one probe `p` (client profile `thunderbird`, region `r`, SMTP and
/// IMAP host `h`), `extra` added to its `[[probe]]` table. Panics with the config errors.
pub(crate) fn one_probe(dir: &Path, extra: &str) -> Config {
    std::fs::write(dir.join("k"), "key\n").expect("key");
    let main = dir.join("m.toml");
    std::fs::write(
        &main,
        format!(
            "[agent]\nregion = \"r\"\nhmac_key_file = \"k\"\n\
             [[probe]]\nname = \"p\"\nclients = [\"thunderbird\"]\nfrom = \"a@x.test\"\n\
             to = \"a@x.test\"\n{extra}\n[probe.smtp]\nhost = \"h\"\npassword_file = \"k\"\n\
             [probe.imap]\nhost = \"h\"\npassword_file = \"k\"\n"
        ),
    )
    .expect("config");
    Config::load(&main).unwrap_or_else(|e| panic!("{e}"))
}

/// The one instance of [`one_probe`]'s config, loaded from a folder of its own.
pub(crate) fn one_instance(extra: &str) -> Instance {
    let dir = tempfile::tempdir().expect("tempdir");
    one_probe(dir.path(), extra).instances().remove(0)
}

/// A scripted server's side of a unit test, as a client profile sees it: an endpoint on `addr`
/// without TLS, logging in as `canary@example.test` (AUTH `mech`) with `password`, kept in a
/// file of a temporary folder that lives as long as this.
pub(crate) struct Loopback {
    pub ep: super::Endpoint,
    pub proto: super::profiles::ProtoProfile,
    pub secret: crate::secret::Secret,
    _dir: tempfile::TempDir,
}

pub(crate) fn loopback(
    addr: std::net::SocketAddr,
    mech: super::AuthMech,
    password: &str,
) -> Loopback {
    let dir = tempfile::tempdir().expect("tempdir");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{password}\n")).expect("password file");
    let ep = super::Endpoint {
        host: addr.ip().to_string(),
        mx_domain: None,
        dns_servers: Vec::new(),
        implicit_tls_port: None,
        starttls_port: None,
        plain_port: Some(addr.port()),
        tls_server_name: None,
        username: "canary@example.test".into(),
        password: Some(crate::secret::SecretSource::File(pw)),
        oauth_token: None,
    };
    let secret = ep
        .password
        .as_ref()
        .expect("password")
        .load()
        .expect("password file");
    Loopback {
        proto: super::profiles::ProtoProfile {
            tls: super::TlsMode::None,
            port: addr.port(),
            auth: mech,
        },
        ep,
        secret,
        _dir: dir,
    }
}
