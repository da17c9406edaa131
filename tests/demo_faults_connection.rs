//! Connection-level faults at a real client: refuse (ECONNREFUSED), reset (RST), stall
//! (client timeout), drip, garbage; plus hostile input and graceful shutdown.

#[path = "demo_common/mod.rs"]
mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::*;
use mailcanary::demo::{Action, Fault, ImapStep, SmtpStep};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_closes_listeners_and_clear_reopens_them() {
    let server = start().await;
    let a = server.addrs();
    server
        .faults()
        .set(Fault::Smtp(SmtpStep::Greeting, Action::Refuse));
    await_connect(a.smtp, true).await;
    await_connect(a.smtps, true).await;
    await_connect(a.imap, false).await;
    server
        .faults()
        .clear(&Fault::Smtp(SmtpStep::Greeting, Action::Refuse));
    await_connect(a.smtp, false).await;
    let mut c = smtp(&server).await;
    assert_eq!(c.reply().await.unwrap().0, 220);

    server
        .faults()
        .set(Fault::Imap(ImapStep::Greeting, Action::Refuse));
    await_connect(a.imaps, true).await;
    server.faults().clear_all();
    await_connect(a.imaps, false).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_after_rcpt_is_a_tcp_rst() {
    let server = start().await;
    server
        .faults()
        .set(Fault::Smtp(SmtpStep::RcptTo, Action::Reset));
    let mut c = smtp(&server).await;
    c.reply().await.unwrap();
    c.cmd("EHLO x").await.unwrap();
    assert_eq!(c.cmd("MAIL FROM:<a@example.test>").await.unwrap().0, 250);
    let err = c.cmd(&format!("RCPT TO:<{USER}>")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    // IMAP: reset right after accept.
    server
        .faults()
        .set(Fault::Imap(ImapStep::Greeting, Action::Reset));
    // The RST may already be there when the client sets TCP_NODELAY right after connect.
    let err = match Raw::connect(server.addrs().imap, &server).await {
        Ok(mut c) => c.line().await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stall_makes_clients_time_out() {
    let server = start().await;
    server
        .faults()
        .set(Fault::Smtp(SmtpStep::Greeting, Action::Stall));
    let mut c = smtp(&server).await;
    c.timeout = Duration::from_millis(300);
    assert_eq!(c.reply().await.unwrap_err().kind(), ErrorKind::TimedOut);
    server.faults().clear_all();

    server
        .faults()
        .set(Fault::Smtp(SmtpStep::MailFrom, Action::Stall));
    let mut c = smtp(&server).await;
    c.reply().await.unwrap();
    c.cmd("EHLO x").await.unwrap();
    c.timeout = Duration::from_millis(300);
    let err = c.cmd("MAIL FROM:<a@example.test>").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);

    server
        .faults()
        .set(Fault::Imap(ImapStep::Fetch, Action::Stall));
    let mut c = imaps_logged_in(&server).await;
    c.imap("s", "SELECT INBOX").await.unwrap();
    c.timeout = Duration::from_millis(300);
    let err = c.imap("f", "FETCH 1:* (FLAGS)").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drip_sends_one_byte_per_interval() {
    let server = start().await;
    let interval = Duration::from_millis(5);
    server
        .faults()
        .set(Fault::Smtp(SmtpStep::Greeting, Action::Drip(interval)));
    let mut c = smtp(&server).await;
    let started = Instant::now();
    let (code, line) = c.reply().await.unwrap();
    assert_eq!(code, 220);
    let min = interval * (line.len() as u32);
    assert!(
        started.elapsed() >= min,
        "{:?} < {min:?}",
        started.elapsed()
    );

    let interval = Duration::from_millis(2);
    server
        .faults()
        .set(Fault::Imap(ImapStep::Select, Action::Drip(interval)));
    let mut c = imaps_logged_in(&server).await;
    let started = Instant::now();
    let r = c.imap("s", "SELECT INBOX").await.unwrap();
    let bytes: usize = r.iter().map(|l| l.len() + 2).sum();
    assert!(started.elapsed() >= interval * (bytes as u32 - 1));
    assert!(r.last().unwrap().starts_with("s OK"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_instead_of_replies() {
    let server = start().await;
    server
        .faults()
        .set(Fault::Smtp(SmtpStep::Greeting, Action::Garbage));
    let mut c = smtp(&server).await;
    let line = c.line().await.unwrap();
    assert!(!line.starts_with("220"), "{line}");
    assert!(line.contains("GARBAGE"));
    server
        .faults()
        .set(Fault::Imap(ImapStep::Search, Action::Garbage));
    let mut c = imaps_logged_in(&server).await;
    c.imap("s", "SELECT INBOX").await.unwrap();
    c.send("x UID SEARCH ALL\r\n").await.unwrap();
    let line = c.line().await.unwrap();
    assert!(line.contains("GARBAGE") && !line.starts_with('*'), "{line}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_does_not_hurt_the_server() {
    let server = start().await;
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for addr in [server.addrs().smtp, server.addrs().imap] {
        let mut c = Raw::connect(addr, &server).await.unwrap();
        c.line().await.unwrap();
        let _ = c.send(&String::from_utf8_lossy(&noise)).await;
        let _ = c.send("\r\n\r\n* BAD {99999999}\r\nA1 LOGIN {5}\r\n").await;
        c.timeout = Duration::from_millis(200);
        while c.line().await.is_ok() {}
    }
    let mut c = Raw::connect_tls(server.addrs().imaps, &server, "localhost")
        .await
        .unwrap();
    c.line().await.unwrap();
    let r = c.imap("x", "FETCH 1:* (BODY[]").await.unwrap();
    assert!(r[0].starts_with("x BAD"), "{r:?}");
    let r = c.imap("y", "SELECT INBOX").await.unwrap();
    assert!(r[0].starts_with("y BAD"), "not authenticated: {r:?}");
    let r = c.imap("z", &format!("LOGIN {USER} {PASS}")).await.unwrap();
    assert!(r[0].starts_with("z OK"), "{r:?}");
    let r = c.imap("l", "LIST \"\" \"\"").await.unwrap();
    assert_eq!(r[0], "* LIST (\\Noselect) \"/\" \"\"");
    let r = c.imap("m", "FETCH 1:* (BODY[]<0.10>)").await.unwrap();
    assert!(r[0].starts_with("m BAD"), "no mailbox selected: {r:?}");
    let r = c.imap("n", "UID FETCH 1:4294967295 (FLAGS)").await.unwrap();
    assert!(r[0].starts_with("n BAD"), "{r:?}");
    c.imap("o", "SELECT INBOX").await.unwrap();
    let r = c
        .imap("p", "UID FETCH 1:4294967295 (FLAGS ENVELOPE BODYSTRUCTURE)")
        .await
        .unwrap();
    assert_eq!(r, vec!["p OK FETCH completed".to_string()]);
    let r = c
        .imap(
            "q",
            "SEARCH OR (HEADER Subject x) NOT DELETED SINCE 1-Jan-2020",
        )
        .await
        .unwrap();
    assert_eq!(
        r,
        vec!["* SEARCH".to_string(), "q OK SEARCH completed".to_string()]
    );
    let mut s = smtp(&server).await;
    s.reply().await.unwrap();
    assert_eq!(s.cmd("HELLO there").await.unwrap().0, 500);
    assert_eq!(s.cmd("MAIL FROM:<a@example.test>").await.unwrap().0, 503);
    assert_eq!(
        s.smtp_send(false, &message("after-noise")).await.unwrap().0,
        250
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_says_bye_and_stops_listening() {
    let server = start().await;
    let addrs = server.addrs();
    let mut c = idling(&server).await;
    let mut s = smtp(&server).await;
    s.reply().await.unwrap();
    let started = Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(c.line().await.unwrap(), "* BYE Server shutting down");
    assert_eq!(s.reply().await.unwrap().0, 421);
    await_connect(addrs.smtp, true).await;
    await_connect(addrs.imaps, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_timeouts_free_silent_clients() {
    let mut o = opts();
    o.io_timeout = Duration::from_millis(300);
    o.idle_timeout = Duration::from_millis(600);
    let server = mailcanary::demo::DemoServer::start(o).await.unwrap();
    let mut s = smtp(&server).await;
    assert_eq!(s.reply().await.unwrap().0, 220);
    assert_eq!(
        s.reply().await.unwrap().0,
        421,
        "after io_timeout of silence"
    );
    assert_eq!(s.line().await.unwrap_err().kind(), ErrorKind::UnexpectedEof);
    let mut c = idling(&server).await;
    let started = Instant::now();
    assert_eq!(
        c.line().await.unwrap(),
        "* BYE Autologout; idle for too long"
    );
    assert!(started.elapsed() >= Duration::from_millis(500));
    server.shutdown().await;
}
