//! The clients the agent itself uses, against the demo server: async-imap 0.12 (greeting,
//! ID, login, select, IDLE push) and lettre 0.11 `AsyncSmtpConnection` (STARTTLS and
//! implicit TLS, AUTH); plus the IDLE push, which must come after the server's delivery log says
//! the message became visible (its lag is printed, not judged: bench/ measures push latency).

#[path = "demo_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{MailboxDatum, Response};
use common::*;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use rustls::pki_types::ServerName;

async fn imaps(
    server: &mailcanary::demo::DemoServer,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(server.addrs().imaps)
        .await
        .unwrap();
    tcp.set_nodelay(true).unwrap();
    let connector = tokio_rustls::TlsConnector::from(server.client_tls_config().unwrap());
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn async_imap_login_select_idle_sees_exists_push() {
    let server = start().await;
    let mut client = async_imap::Client::new(imaps(&server).await);
    let greeting = tokio::time::timeout(T, client.read_response())
        .await
        .unwrap()
        .unwrap()
        .expect("greeting");
    assert!(
        matches!(greeting.parsed(), Response::Data { .. }),
        "{:?}",
        greeting.parsed()
    );
    let mut session = tokio::time::timeout(T, client.login(USER, PASS))
        .await
        .unwrap()
        .map_err(|(e, _)| e)
        .unwrap();
    let id = tokio::time::timeout(T, session.id([("name", Some("mailcanary-test"))]))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        id.unwrap().get("name").map(String::as_str),
        Some("mailcanary-demo")
    );
    let mailbox = tokio::time::timeout(T, session.select("INBOX"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mailbox.exists, 0);
    assert!(mailbox.uid_validity.is_some());

    let mut idle = session.idle();
    tokio::time::timeout(T, idle.init()).await.unwrap().unwrap();
    let mut deliveries = server.deliveries();
    let smtp_addr = server.addrs().smtp;
    let sender = {
        let mut raw = Raw::connect(smtp_addr, &server).await.unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(raw.reply().await.unwrap().0, 220);
            raw.smtp_send(false, &message("idle-1")).await.unwrap()
        })
    };
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(5));
    let resp = wait.await.unwrap();
    let seen_at = Instant::now();
    match resp {
        IdleResponse::NewData(data) => match data.parsed() {
            Response::MailboxData(MailboxDatum::Exists(n)) => assert_eq!(*n, 1),
            other => panic!("expected EXISTS, got {other:?}"),
        },
        other => panic!("expected data, got {other:?}"),
    }
    let delivered = tokio::time::timeout(T, deliveries.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        seen_at >= delivered.visible_at,
        "EXISTS read before the message was visible"
    );
    println!(
        "EXISTS read {:?} after visibility",
        seen_at - delivered.visible_at
    );
    assert!(sender.await.unwrap().1.contains("queued as"));
    let mut session = tokio::time::timeout(T, idle.done()).await.unwrap().unwrap();
    let uids = session
        .uid_search("HEADER X-Mailcanary-Id idle-1")
        .await
        .unwrap();
    assert_eq!(uids.into_iter().collect::<Vec<_>>(), vec![delivered.uid]);
    session.logout().await.unwrap();
    server.shutdown().await;
}

fn tls_params(server: &mailcanary::demo::DemoServer) -> TlsParameters {
    TlsParameters::builder("localhost".into())
        .certificate_store(CertificateStore::None)
        .add_root_certificate(Certificate::from_pem(server.ca_pem().as_bytes()).unwrap())
        .build_rustls()
        .unwrap()
}

#[tokio::test]
async fn lettre_sends_via_starttls_and_implicit_tls() {
    let server = start().await;
    let hello = ClientId::Domain("probe.example.test".into());
    let envelope = Envelope::new(
        Some("probe@example.test".parse().unwrap()),
        vec![USER.parse().unwrap()],
    )
    .unwrap();
    let creds = Credentials::new(USER.into(), PASS.into());

    // STARTTLS on the plain listener, AUTH PLAIN.
    let a = server.addrs().smtp;
    let mut conn =
        AsyncSmtpConnection::connect_tokio1(("127.0.0.1", a.port()), Some(T), &hello, None, None)
            .await
            .unwrap();
    assert!(conn.can_starttls());
    conn.starttls(tls_params(&server), &hello).await.unwrap();
    assert!(conn.is_encrypted());
    conn.auth(&[Mechanism::Plain], &creds).await.unwrap();
    let resp = conn
        .send(&envelope, message("lettre-1").as_bytes())
        .await
        .unwrap();
    let text = resp.message().collect::<Vec<_>>().join(" ");
    assert!(text.starts_with("2.0.0 Ok: queued as "), "{text}");
    conn.quit().await.unwrap();

    // Implicit TLS, AUTH LOGIN.
    let a = server.addrs().smtps;
    let mut conn = AsyncSmtpConnection::connect_tokio1(
        ("127.0.0.1", a.port()),
        Some(T),
        &hello,
        Some(tls_params(&server)),
        None,
    )
    .await
    .unwrap();
    assert!(conn.is_encrypted());
    conn.auth(&[Mechanism::Login], &creds).await.unwrap();
    // lettre always appends "\r\n.\r\n": send the message without its final CRLF to get
    // exactly `message(..)` stored (lettre-1 above was sent with it and gains an empty line).
    let m2 = message("lettre-2");
    conn.send(&envelope, m2.strip_suffix("\r\n").unwrap().as_bytes())
        .await
        .unwrap();
    // XOAUTH2 on a third connection.
    let mut conn = AsyncSmtpConnection::connect_tokio1(
        ("127.0.0.1", a.port()),
        Some(T),
        &hello,
        Some(tls_params(&server)),
        None,
    )
    .await
    .unwrap();
    conn.auth(
        &[Mechanism::Xoauth2],
        &Credentials::new(USER.into(), TOKEN.into()),
    )
    .await
    .unwrap();

    for (id, expected) in [
        ("lettre-1", format!("{}\r\n", message("lettre-1"))),
        ("lettre-2", message("lettre-2")),
    ] {
        let d = server
            .wait_for_delivery("X-Mailcanary-Id", id, T)
            .await
            .expect("delivered");
        let stored = server.store().messages(USER, "INBOX").unwrap();
        let m = stored.iter().find(|m| m.uid == d.uid).unwrap();
        assert_eq!(String::from_utf8_lossy(&m.bytes), expected);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn raw_idle_push_and_imap_starttls() {
    let server = start().await;
    let mut c = Raw::connect(server.addrs().imap, &server).await.unwrap();
    assert!(c.line().await.unwrap().contains("STARTTLS"));
    let r = c.imap("a1", "STARTTLS").await.unwrap();
    assert!(r.last().unwrap().starts_with("a1 OK"));
    c.starttls("localhost").await.unwrap();
    let r = c.imap("a2", "CAPABILITY").await.unwrap();
    assert!(
        !r[0].contains("STARTTLS") && r[0].contains("AUTH=PLAIN"),
        "{r:?}"
    );
    let r = c
        .imap("a3", &format!("AUTHENTICATE PLAIN {}", plain(USER, PASS)))
        .await
        .unwrap();
    assert!(r.last().unwrap().starts_with("a3 OK"), "{r:?}");
    c.imap("a4", "SELECT INBOX").await.unwrap();
    c.send("a5 IDLE\r\n").await.unwrap();
    assert!(c.line().await.unwrap().starts_with("+ "));
    let mut rx = server.deliveries();
    server
        .store()
        .append(
            USER,
            "INBOX",
            b"Subject: appended while idle\r\n\r\nx\r\n",
            &[],
        )
        .unwrap();
    assert_eq!(c.line().await.unwrap(), "* 1 EXISTS");
    let mut s = Raw::connect(server.addrs().smtp, &server).await.unwrap();
    s.reply().await.unwrap();
    s.smtp_send(false, &message("raw-idle")).await.unwrap();
    let line = c.line().await.unwrap();
    let at = Instant::now();
    assert_eq!(line, "* 2 EXISTS");
    let d = rx.recv().await.unwrap();
    assert!(
        at >= d.visible_at,
        "EXISTS read before the message was visible"
    );
    // EXPUNGE by another session is pushed too.
    let mut o = Raw::connect_tls(server.addrs().imaps, &server, "localhost")
        .await
        .unwrap();
    o.line().await.unwrap();
    o.imap("b1", &format!("LOGIN {USER} {PASS}")).await.unwrap();
    o.imap("b2", "SELECT INBOX").await.unwrap();
    o.imap("b3", "UID STORE 1 +FLAGS.SILENT (\\Deleted)")
        .await
        .unwrap();
    let r = o.imap("b4", "UID EXPUNGE 1").await.unwrap();
    assert_eq!(r[0], "* 1 EXPUNGE");
    assert_eq!(c.line().await.unwrap(), "* 1 EXPUNGE");
    c.send("DONE\r\n").await.unwrap();
    assert!(c
        .imap_until("a5")
        .await
        .unwrap()
        .last()
        .unwrap()
        .starts_with("a5 OK"));
    // A non-peek BODY[] fetch sets \Seen and reports the new FLAGS.
    let r = c.imap("a6", "UID FETCH 2 (BODY[])").await.unwrap();
    assert!(
        r[0].starts_with("* 1 FETCH (UID 2 BODY[] {") && r[0].ends_with("FLAGS (\\Seen))"),
        "{r:?}"
    );
    let flags = &server.store().messages(USER, "INBOX").unwrap()[0].flags;
    assert_eq!(flags, &vec!["\\Seen".to_string()]);
    server.shutdown().await;
}
