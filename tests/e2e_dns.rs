//! A probe that names a mail domain instead of a host: the `dns` phase resolves its MX through
//! a resolver the test runs on loopback, and the canary is delivered to the MX (the embedded
//! mail server). A resolver that answers SERVFAIL fails the cycle at `stage="dns"`.

mod support;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::agent::bin;
use support::demo::DemoBackend;

/// A loopback DNS server: MX example.test → 10 mail.example.test; A mail.example.test →
/// 127.0.0.1; everything else NOERROR with no answer. With `servfail` set, SERVFAIL to all.
struct Dns {
    port: u16,
    servfail: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

fn name(labels: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels.trim_end_matches('.').split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

fn answer(query: &[u8], servfail: bool) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // Question: labels from offset 12, then type and class.
    let mut i = 12;
    let mut qname = Vec::new();
    while i < query.len() && query[i] != 0 {
        let n = query[i] as usize;
        qname.push(String::from_utf8_lossy(query.get(i + 1..i + 1 + n)?).to_ascii_lowercase());
        i += 1 + n;
    }
    let qend = i + 5;
    let qtype = u16::from_be_bytes([*query.get(i + 1)?, *query.get(i + 2)?]);
    let qname = qname.join(".");
    let mut rdatas: Vec<(u16, Vec<u8>)> = Vec::new();
    match (qname.as_str(), qtype) {
        ("example.test", 15) => {
            let mut r = 10u16.to_be_bytes().to_vec();
            r.extend(name("mail.example.test"));
            rdatas.push((15, r));
        }
        ("mail.example.test", 1) => rdatas.push((1, vec![127, 0, 0, 1])),
        _ => {}
    }
    let mut out = query[..2].to_vec();
    let rcode: u8 = if servfail { 2 } else { 0 };
    out.extend([0x81, 0x80 | rcode]);
    out.extend(1u16.to_be_bytes());
    let an = if servfail { 0 } else { rdatas.len() as u16 };
    out.extend(an.to_be_bytes());
    out.extend([0, 0, 0, 0]);
    out.extend_from_slice(query.get(12..qend)?);
    if !servfail {
        for (t, r) in rdatas {
            out.extend([0xc0, 0x0c]);
            out.extend(t.to_be_bytes());
            out.extend(1u16.to_be_bytes());
            out.extend(60u32.to_be_bytes());
            out.extend((r.len() as u16).to_be_bytes());
            out.extend(r);
        }
    }
    Some(out)
}

impl Dns {
    fn start() -> Dns {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let servfail = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (sf, st) = (servfail.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !st.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    if let Some(reply) = answer(&buf[..n], sf.load(Ordering::Relaxed)) {
                        let _ = sock.send_to(&reply, from);
                    }
                }
            }
        });
        Dns {
            port,
            servfail,
            stop,
        }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn once(config: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(bin())
        .args(["once", "-c"])
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn mx_domain_resolves_through_the_configured_resolver_and_servfail_is_a_dns_failure() {
    let dns = Dns::start();
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(
        dir.path(),
        &[support::demo::probe("mx", &["thunderbird"], 60_000, 5_000)],
    );
    // Point the SMTP side at the domain instead of the host, and the agent at our resolver.
    // The probe logs in, so the certificate name stays pinned by tls_server_name: it must not
    // come from the MX answer.
    let probe_file = dir.path().join("probes/mx.toml");
    let text = std::fs::read_to_string(&probe_file).unwrap();
    let (before, smtp_and_imap) = text.split_once("[smtp]\n").unwrap();
    let (smtp, imap) = smtp_and_imap.split_once("[imap]\n").unwrap();
    assert!(smtp.contains("tls_server_name = \"mail.example.test\"\n"));
    let smtp = smtp.replace("host = \"127.0.0.1\"\n", "mx_domain = \"example.test\"\n");
    std::fs::write(&probe_file, format!("{before}[smtp]\n{smtp}[imap]\n{imap}")).unwrap();
    let main = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        main.replace(
            "[agent]\n",
            &format!("[agent]\ndns_servers = [\"127.0.0.1:{}\"]\n", dns.port),
        ),
    )
    .unwrap();

    let (ok, text) = once(&config);
    assert!(ok, "{text}");
    let dns_line = text
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some("dns"))
        .unwrap_or_else(|| panic!("no dns phase:\n{text}"));
    assert!(
        dns_line.contains(" ok ") && dns_line.contains("MX example.test → mail.example.test"),
        "{dns_line}"
    );
    assert!(text.contains("RESULT: success"), "{text}");

    dns.servfail.store(true, Ordering::Relaxed);
    let (ok, text) = once(&config);
    assert!(!ok);
    assert!(text.contains("[stage=dns reason=temp_fail]"), "{text}");
    assert!(
        text.contains("resolving the server name"),
        "the stage in words: {text}"
    );
}
