//! Certificate expiry seen in real handshakes: `mailcanary_tls_cert_expiry_timestamp_seconds`
//! equals the notAfter of the certificate the test stack generated, read independently with
//! `openssl x509`, for SMTP and IMAP endpoints in both TLS modes (implicit and STARTTLS).

mod support;

use std::process::Command;
use std::time::Duration;
use support::agent::{find, AgentProcess};
use support::stack::{self, ProbeSpec};

fn openssl_not_after(path: &str) -> f64 {
    let out = Command::new("openssl")
        .args([
            "x509", "-enddate", "-noout", "-dateopt", "iso_8601", "-in", path,
        ])
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&out.stdout);
    let date = text
        .trim()
        .strip_prefix("notAfter=")
        .expect("notAfter line")
        .replace(' ', "T");
    let t = humantime::parse_rfc3339_weak(&date).unwrap_or_else(|e| panic!("{date}: {e}"));
    t.duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn expiry_metric_is_the_stack_certificates_not_after() {
    let _g = stack::shared();
    stack::require_up();
    let want = openssl_not_after(&format!("{}/tls/server.crt", stack::STATE));
    let dir = tempfile::tempdir().unwrap();
    // ios_mail: IMAPS 993 (implicit) + SMTP 587 (STARTTLS); thunderbird: IMAP 143 (STARTTLS) +
    // SMTP 465 (implicit).
    let spec = ProbeSpec {
        name: "certs",
        user: "ivan",
        clients: &["ios_mail", "thunderbird"],
        interval: "30s",
        deadline: "10s",
        extra: "",
    };
    let agent = AgentProcess::start(&stack::write_config(dir.path(), &[spec], ""));
    let endpoints = [
        ("ios_mail", "127.0.0.1:993"),
        ("ios_mail", "127.0.0.1:587"),
        ("thunderbird", "127.0.0.1:143"),
        ("thunderbird", "127.0.0.1:465"),
    ];
    agent.wait_for(
        "expiry of all four endpoints",
        Duration::from_secs(30),
        |a| {
            let s = a.scrape();
            endpoints.iter().all(|(c, e)| {
                find(
                    &s,
                    "mailcanary_tls_cert_expiry_timestamp_seconds",
                    &[("client", c), ("endpoint", e)],
                )
                .is_some()
            })
        },
    );
    let s = agent.scrape();
    for (c, e) in endpoints {
        let got = find(
            &s,
            "mailcanary_tls_cert_expiry_timestamp_seconds",
            &[("client", c), ("endpoint", e)],
        )
        .unwrap();
        assert_eq!(got, want, "{c} {e}");
    }
    println!("all four endpoints report notAfter {want} as openssl reads it");
}
