//! TLS and basic auth from `--web.config.file` (the Prometheus exporter-toolkit format), against
//! the agent binary: Debian's curl with `--cacert` and `-u` (no credentials or a wrong password:
//! 401; right: 200; `/healthz` open; no plain HTTP on the port); a changed password and a
//! rotated certificate take effect without a restart; a client certificate required by
//! `RequireAndVerifyClientCert`; and a real Prometheus scraping through HTTPS and basic auth
//! (`scheme: https`, `tls_config.ca_file`, `basic_auth`) sees `up == 1`.
//!
//! The certificates come from a private CA made here with rcgen, as the demo server makes its
//! own (src/demo/tls.rs).

mod support;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::agent::AgentProcess;
use support::prometheus::{Prometheus, PrometheusConfig};

/// bcrypt cost of the test hashes: the lowest, so debug builds check them quickly.
const COST: u32 = 4;

/// A private CA, and leaves it signs.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// (certificate PEM, key PEM) for `names`, for a server or a client.
    fn leaf(&self, names: &[&str], server: bool) -> (String, String) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A temporary directory holding the agent's server certificate and key, issued by a new CA.
fn served() -> (tempfile::TempDir, Ca) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("web test CA");
    server_files(dir.path(), &ca);
    (dir, ca)
}

/// Writes `ca.pem`, `web.crt`, `web.key` (for localhost and 127.0.0.1) into `dir`.
fn server_files(dir: &Path, ca: &Ca) {
    let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"], true);
    std::fs::write(dir.join("ca.pem"), &ca.pem).unwrap();
    std::fs::write(dir.join("web.crt"), cert).unwrap();
    std::fs::write(dir.join("web.key"), key).unwrap();
}

/// An agent config with no probe, and a web config file `web.yml` with `extra` after its TLS.
fn configs(dir: &Path, users: &[(&str, &str)], extra_tls: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("hmac.key"), "k").unwrap();
    std::fs::write(
        dir.join("mailcanary.toml"),
        "[agent]\nregion = \"t\"\nledger_path = \"l.db\"\nhmac_key_file = \"hmac.key\"\n",
    )
    .unwrap();
    write_web(dir, users, extra_tls);
    dir.join("mailcanary.toml")
}

fn write_web(dir: &Path, users: &[(&str, &str)], extra_tls: &str) {
    let mut yml =
        format!("tls_server_config:\n  cert_file: web.crt\n  key_file: web.key\n{extra_tls}");
    if !users.is_empty() {
        yml.push_str("basic_auth_users:\n");
        for (user, password) in users {
            let hash = bcrypt::hash(password, COST).unwrap();
            yml.push_str(&format!("  {user}: '{hash}'\n"));
        }
    }
    // Written aside and renamed in, as a deployment tool would: never read half-written.
    let tmp = dir.join("web.yml.tmp");
    std::fs::write(&tmp, yml).unwrap();
    std::fs::rename(tmp, dir.join("web.yml")).unwrap();
}

/// curl's HTTP status for `url` with `args` (0 when no HTTP answer came).
fn curl(url: &str, args: &[&str]) -> u16 {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "--max-time",
            "10",
            "-w",
            "%{http_code}",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn start(dir: &Path, config: &Path) -> AgentProcess {
    let web = format!("--web.config.file={}", dir.join("web.yml").display());
    AgentProcess::start_https(config, &[&web])
}

fn https(agent: &AgentProcess, path: &str) -> String {
    format!("https://localhost:{}{path}", agent.port())
}

/// Polls curl until it answers `want`, for a change the agent picks up from its files.
fn wait_status(url: &str, args: &[&str], want: u16) -> Duration {
    let start = Instant::now();
    loop {
        let got = curl(url, args);
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{url} answered {got}, not {want}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tls_and_bcrypt_basic_auth_with_curl_and_changes_without_restart() {
    let (dir, _ca) = served();
    let d = dir.path();
    let config = configs(d, &[("prom", "s3cret-Pa55")], "");
    let agent = start(d, &config);
    let ca_file = d.join("ca.pem");
    let cacert = ca_file.to_str().unwrap();
    let metrics = https(&agent, "/metrics");

    assert_eq!(curl(&metrics, &["--cacert", cacert]), 401);
    assert_eq!(
        curl(&metrics, &["--cacert", cacert, "-u", "prom:wrong"]),
        401
    );
    assert_eq!(
        curl(&metrics, &["--cacert", cacert, "-u", "nobody:s3cret-Pa55"]),
        401
    );
    assert_eq!(
        curl(&metrics, &["--cacert", cacert, "-u", "prom:s3cret-Pa55"]),
        200
    );
    assert_eq!(curl(&https(&agent, "/healthz"), &["--cacert", cacert]), 200);
    assert_eq!(
        curl(&agent.url("/metrics"), &["-u", "prom:s3cret-Pa55"]),
        0,
        "no plain HTTP on the TLS port"
    );
    assert_eq!(
        curl(&metrics, &["-u", "prom:s3cret-Pa55"]),
        0,
        "the certificate is checked against the system roots without --cacert"
    );

    // A new password: the old one stops working, the new one works, no restart.
    write_web(d, &[("prom", "n3w-Pa55")], "");
    let took = wait_status(&metrics, &["--cacert", cacert, "-u", "prom:n3w-Pa55"], 200);
    println!("new password in force {took:?} after the web config changed");
    assert_eq!(
        curl(&metrics, &["--cacert", cacert, "-u", "prom:s3cret-Pa55"]),
        401
    );

    // A certificate from another CA: the new CA verifies it, the old one no longer does.
    std::fs::copy(d.join("ca.pem"), d.join("old-ca.pem")).unwrap();
    let ca2 = Ca::new("rotated CA");
    server_files(d, &ca2);
    let took = wait_status(&metrics, &["--cacert", cacert, "-u", "prom:n3w-Pa55"], 200);
    println!("rotated certificate served {took:?} after it changed");
    let old = d.join("old-ca.pem");
    let old = old.to_str().unwrap();
    assert_eq!(curl(&metrics, &["--cacert", old, "-u", "prom:n3w-Pa55"]), 0);

    // A broken web config is not applied: the last good one stays in force.
    std::fs::write(d.join("web.yml"), "basic_auth_users: [\n").unwrap();
    assert_eq!(
        curl(&metrics, &["--cacert", cacert, "-u", "prom:n3w-Pa55"]),
        200
    );
    assert!(agent.log_text().contains("web config change not applied"));
    assert!(
        !agent.log_text().contains("n3w-Pa55") && !agent.log_text().contains("s3cret-Pa55"),
        "no password in the log"
    );
}

#[test]
fn client_certificates_when_required() {
    let (dir, ca) = served();
    let d = dir.path();
    let clients = Ca::new("client CA");
    std::fs::write(d.join("clients.pem"), &clients.pem).unwrap();
    let (cert, key) = clients.leaf(&["prometheus"], false);
    std::fs::write(d.join("client.crt"), cert).unwrap();
    std::fs::write(d.join("client.key"), key).unwrap();
    let (cert, key) = ca.leaf(&["stranger"], false);
    std::fs::write(d.join("stranger.crt"), cert).unwrap();
    std::fs::write(d.join("stranger.key"), key).unwrap();
    let config = configs(
        d,
        &[],
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clients.pem\n",
    );
    let agent = start(d, &config);
    let path = |f: &str| d.join(f).display().to_string();
    let metrics = https(&agent, "/metrics");
    let cacert = path("ca.pem");
    assert_eq!(curl(&metrics, &["--cacert", &cacert]), 0, "no certificate");
    assert_eq!(
        curl(
            &metrics,
            &[
                "--cacert",
                &cacert,
                "--cert",
                &path("stranger.crt"),
                "--key",
                &path("stranger.key")
            ]
        ),
        0,
        "a certificate from another CA"
    );
    assert_eq!(
        curl(
            &metrics,
            &[
                "--cacert",
                &cacert,
                "--cert",
                &path("client.crt"),
                "--key",
                &path("client.key")
            ]
        ),
        200
    );
}

#[test]
fn prometheus_scrapes_through_tls_and_basic_auth() {
    let (dir, _ca) = served();
    let d = dir.path();
    let config = configs(d, &[("prometheus", "scr4pe-Pa55")], "");
    let agent = start(d, &config);
    let mut prometheus = Prometheus::start_with(&PrometheusConfig {
        scrape_targets: vec![format!("localhost:{}", agent.port())],
        scrape_interval: Duration::from_secs(1),
        evaluation_interval: Duration::from_secs(1),
        rule_files: Vec::new(),
        alertmanager: None,
        scrape_options: format!(
            "    scheme: https\n    tls_config:\n      ca_file: \"{}\"\n    basic_auth:\n      \
             username: prometheus\n      password: scr4pe-Pa55\n",
            d.join("ca.pem").display()
        ),
    });
    prometheus.wait_healthy();
    let start = Instant::now();
    let up = prometheus.wait_for_series("up{job=\"mailcanary\"} == 1", Duration::from_secs(30));
    println!("up == 1 after {:?}: {up}", start.elapsed());
    let build = prometheus.wait_for_series(
        "mailcanary_build_info{job=\"mailcanary\"}",
        Duration::from_secs(10),
    );
    assert!(build.as_array().is_some_and(|a| a.len() == 1), "{build}");
}

#[test]
fn deprecated_web_section_still_works_with_a_warning_and_check_shows_the_migration() {
    let (dir, _ca) = served();
    let d = dir.path();
    std::fs::write(d.join("hmac.key"), "k").unwrap();
    std::fs::write(d.join("web.pw"), "0ld-Pa55\n").unwrap();
    let config = d.join("mailcanary.toml");
    std::fs::write(
        &config,
        "[agent]\nregion = \"t\"\nledger_path = \"l.db\"\nhmac_key_file = \"hmac.key\"\n\n\
         [web]\ntls_cert_file = \"web.crt\"\ntls_key_file = \"web.key\"\n\
         basic_auth_username = \"prom\"\nbasic_auth_password_file = \"web.pw\"\n",
    )
    .unwrap();

    let check = Command::new(support::agent::bin())
        .args(["check", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    println!("{text}");
    assert!(check.status.success());
    assert!(
        text.contains("[web] section is deprecated")
            && text.contains("--web.config.file")
            && text.contains("tls_server_config:")
            && text.contains("basic_auth_users:")
            && !text.contains("0ld-Pa55"),
        "{text}"
    );

    let agent = AgentProcess::start_https(&config, &[]);
    let cacert = d.join("ca.pem").display().to_string();
    let metrics = https(&agent, "/metrics");
    assert_eq!(
        curl(&metrics, &["--cacert", &cacert, "-u", "prom:wrong"]),
        401
    );
    assert_eq!(
        curl(&metrics, &["--cacert", &cacert, "-u", "prom:0ld-Pa55"]),
        200
    );
    assert!(agent
        .log_text()
        .contains("[web] section of the config is deprecated"));
    drop(agent);

    // Both at once: refused, naming both.
    write_web(d, &[("prom", "x")], "");
    let both = Command::new(support::agent::bin())
        .args(["run", "--web.listen-address=127.0.0.1:0", "-c"])
        .arg(&config)
        .arg(format!("--web.config.file={}", d.join("web.yml").display()))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&both.stderr);
    assert!(!both.status.success());
    assert!(
        err.contains("--web.config.file") && err.contains("[web]"),
        "{err}"
    );
}

#[test]
fn check_validates_a_web_config_file() {
    let (dir, _ca) = served();
    let d = dir.path();
    let config = configs(d, &[("prom", "pw")], "");
    let check = |web: &Path| {
        Command::new(support::agent::bin())
            .args(["check", "-c"])
            .arg(&config)
            .arg(format!("--web.config.file={}", web.display()))
            .output()
            .unwrap()
    };
    let out = check(&d.join("web.yml"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("web.yml: ok: HTTPS, basic auth for 1 user(s)"),
        "{text}"
    );

    // A key that does not exist: exit 1, the message names the file.
    std::fs::write(
        d.join("bad.yml"),
        "tls_server_config:\n  cert_file: web.crt\n  key_file: missing.key\n",
    )
    .unwrap();
    let out = check(&d.join("bad.yml"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("missing.key"), "{err}");
}
