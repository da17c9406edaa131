//! The agent's HTTP endpoints with the deprecated `[web]` section's TLS and basic auth (kept
//! working for one release; the web config file of `--web.config.file` is in web_config.rs):
//! HTTPS only, 401 without or with wrong credentials, 200 with them, `/healthz` open; and plain
//! HTTP by default.

use base64::Engine;
use mailcanary::agent::Listen;
use mailcanary::tls::TlsContext;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: SocketAddr, tls: Option<&TlsContext>, path: &str, auth: Option<&str>) -> u16 {
    let tcp = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let auth = auth
        .map(|a| {
            format!(
                "Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD.encode(a)
            )
        })
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    let mut buf = Vec::new();
    let io = async {
        match tls {
            Some(t) => {
                let (mut s, _) = t
                    .handshake(tcp, "localhost")
                    .await
                    .map_err(|e| e.1)
                    .unwrap();
                s.write_all(req.as_bytes()).await.unwrap();
                s.read_to_end(&mut buf).await.ok();
            }
            None => {
                let mut s = tcp;
                s.write_all(req.as_bytes()).await.unwrap();
                s.read_to_end(&mut buf).await.ok();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A loopback listener for the agent, bound here so its address is known and nobody else can
/// take the port before the agent serves it.
async fn bound() -> (Listen, SocketAddr) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    (Listen::Bound(l), addr)
}

async fn wait_up(addr: SocketAddr) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("agent did not listen on {addr}");
}

#[tokio::test]
async fn https_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    std::fs::write(d.join("web.crt"), cert.cert.pem()).unwrap();
    std::fs::write(d.join("web.key"), cert.signing_key.serialize_pem()).unwrap();
    std::fs::write(d.join("hmac.key"), "k").unwrap();
    std::fs::write(d.join("web.pw"), "w3b-Pa55\n").unwrap();
    std::fs::write(
        d.join("mailcanary.toml"),
        "[agent]\nregion = \"t\"\nledger_path = \"l.db\"\nhmac_key_file = \"hmac.key\"\n\n\
         [web]\ntls_cert_file = \"web.crt\"\ntls_key_file = \"web.key\"\n\
         basic_auth_username = \"prom\"\nbasic_auth_password_file = \"web.pw\"\n",
    )
    .unwrap();
    let (listen, addr) = bound().await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(mailcanary::agent::run(
        d.join("mailcanary.toml"),
        Some(listen),
        async {
            let _ = stop_rx.await;
        },
    ));
    wait_up(addr).await;
    let ca = d.join("web.crt");
    let tls = TlsContext::new(Some(&ca)).unwrap();
    assert_eq!(get(addr, Some(&tls), "/metrics", None).await, 401);
    assert_eq!(
        get(addr, Some(&tls), "/metrics", Some("prom:wrong")).await,
        401
    );
    assert_eq!(
        get(addr, Some(&tls), "/metrics", Some("other:w3b-Pa55")).await,
        401
    );
    assert_eq!(
        get(addr, Some(&tls), "/metrics", Some("prom:w3b-Pa55")).await,
        200
    );
    assert_eq!(get(addr, Some(&tls), "/", Some("prom:w3b-Pa55")).await, 200);
    assert_eq!(get(addr, Some(&tls), "/healthz", None).await, 200);
    assert_eq!(
        get(addr, None, "/healthz", None).await,
        0,
        "no plain HTTP on the TLS port"
    );
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(15), agent)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn plain_http_without_auth_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("hmac.key"), "k").unwrap();
    std::fs::write(
        d.join("mailcanary.toml"),
        "[agent]\nregion = \"t\"\nledger_path = \"l.db\"\nhmac_key_file = \"hmac.key\"\n",
    )
    .unwrap();
    let (listen, addr) = bound().await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let agent = tokio::spawn(mailcanary::agent::run(
        d.join("mailcanary.toml"),
        Some(listen),
        async {
            let _ = stop_rx.await;
        },
    ));
    wait_up(addr).await;
    assert_eq!(get(addr, None, "/metrics", None).await, 200);
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(15), agent)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
