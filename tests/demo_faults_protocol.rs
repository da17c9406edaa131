//! Protocol-level faults at a real client: SMTP reply codes at each step, IMAP NO/BAD and
//! auth rejection, expired and wrong-name certificates, IDLE faults, delivery faults.

#[path = "demo_common/mod.rs"]
mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::*;
use mailcanary::demo::{
    Action, CertFault, DeliveryFault, Fault, IdleFault, ImapStep, Proto, SmtpStep,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_reply_codes_at_each_step() {
    let server = start().await;
    let f = server.faults();
    // 421 at greeting: reply, then the server closes.
    let text = "4.3.2 Service not available";
    f.set(Fault::Smtp(
        SmtpStep::Greeting,
        Action::Reply(421, text.into()),
    ));
    let mut c = smtp(&server).await;
    assert_eq!(c.reply().await.unwrap(), (421, format!("421 {text}")));
    assert_eq!(c.line().await.unwrap_err().kind(), ErrorKind::UnexpectedEof);
    // 554 greeting: then 503 to everything but QUIT.
    f.set(Fault::Smtp(
        SmtpStep::Greeting,
        Action::Reply(554, "5.3.2 No service".into()),
    ));
    let mut c = smtp(&server).await;
    assert_eq!(c.reply().await.unwrap().0, 554);
    assert_eq!(c.cmd("EHLO x").await.unwrap().0, 503);
    assert_eq!(c.cmd("QUIT").await.unwrap().0, 221);
    for (step, code) in [
        (SmtpStep::Ehlo, 421),
        (SmtpStep::MailFrom, 451),
        (SmtpStep::RcptTo, 550),
        (SmtpStep::Data, 554),
        (SmtpStep::EndOfData, 451),
    ] {
        f.clear_all();
        f.set(Fault::Smtp(
            step,
            Action::Reply(code, format!("{}.0.0 injected", code / 100)),
        ));
        let mut c = smtp(&server).await;
        c.reply().await.unwrap();
        let mut got = c.cmd("EHLO x").await.unwrap().0;
        if step != SmtpStep::Ehlo {
            got = c.cmd("MAIL FROM:<a@example.test>").await.unwrap().0;
        }
        if step > SmtpStep::MailFrom {
            got = c.cmd(&format!("RCPT TO:<{USER}>")).await.unwrap().0;
        }
        if step > SmtpStep::RcptTo {
            got = c.cmd("DATA").await.unwrap().0;
        }
        if step == SmtpStep::EndOfData {
            c.send(&format!("{}.\r\n", stuff(&message("eod"))))
                .await
                .unwrap();
            got = c.reply().await.unwrap().0;
        }
        assert_eq!(got, code, "{step:?}");
    }
    assert_eq!(
        server.store().count(USER, "INBOX"),
        0,
        "rejected end-of-data delivers nothing"
    );
    // 535 at AUTH, over STARTTLS.
    f.clear_all();
    let text = "5.7.8 Authentication credentials invalid";
    f.set(Fault::Smtp(SmtpStep::Auth, Action::Reply(535, text.into())));
    let mut c = smtp(&server).await;
    c.reply().await.unwrap();
    c.cmd("EHLO x").await.unwrap();
    assert_eq!(c.cmd("STARTTLS").await.unwrap().0, 220);
    c.starttls("mail.example.test").await.unwrap();
    c.cmd("EHLO x").await.unwrap();
    assert_eq!(
        c.cmd(&format!("AUTH PLAIN {}", plain(USER, PASS)))
            .await
            .unwrap()
            .0,
        535
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sees_451_at_rcpt_and_535_at_auth() {
    let server = start().await;
    let f = server.faults();
    f.set(Fault::Smtp(
        SmtpStep::RcptTo,
        Action::Reply(451, "4.3.0 Try again later".into()),
    ));
    f.set(Fault::Smtp(
        SmtpStep::Auth,
        Action::Reply(535, "5.7.8 nope".into()),
    ));
    let ca = ca_file(&server);
    let script = r#"
import os, smtplib, ssl
s = smtplib.SMTP("127.0.0.1", int(os.environ["SMTP_PORT"]), timeout=10)
try:
    s.sendmail("a@example.test", [os.environ["USER"]], b"Subject: x\r\n\r\ny\r\n")
except smtplib.SMTPRecipientsRefused as e:
    print("refused", e.recipients)
s.quit()
ctx = ssl.create_default_context(cafile=os.environ["CA"])
s = smtplib.SMTP_SSL("localhost", int(os.environ["SMTPS_PORT"]), context=ctx, timeout=10)
try:
    s.login(os.environ["USER"], os.environ["PASS"])
except smtplib.SMTPAuthenticationError as e:
    print("authfail", e.smtp_code)
"#;
    let (ok, out) = python(script, &py_env(&server, &ca)).await;
    assert!(ok, "{out}");
    let want = "refused {'canary@example.test': (451, b'4.3.0 Try again later')}";
    assert!(out.contains(want), "{out}");
    assert!(out.contains("authfail 535"), "{out}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_no_bad_and_auth_rejection() {
    let server = start().await;
    let f = server.faults();
    f.set(Fault::Imap(
        ImapStep::Select,
        Action::No("[UNAVAILABLE] Mailbox is locked".into()),
    ));
    f.set(Fault::Imap(
        ImapStep::Fetch,
        Action::Bad("Injected BAD".into()),
    ));
    let mut c = imaps_logged_in(&server).await;
    let r = c.imap("s", "SELECT INBOX").await.unwrap();
    assert_eq!(r, vec!["s NO [UNAVAILABLE] Mailbox is locked".to_string()]);
    f.clear(&Fault::Imap(ImapStep::Select, Action::Stall));
    c.imap("s2", "SELECT INBOX").await.unwrap();
    let r = c.imap("f", "FETCH 1 (FLAGS)").await.unwrap();
    assert_eq!(r, vec!["f BAD Injected BAD".to_string()]);

    f.reject_auth();
    let mut c = Raw::connect_tls(server.addrs().imaps, &server, "localhost")
        .await
        .unwrap();
    c.line().await.unwrap();
    let r = c.imap("l", &format!("LOGIN {USER} {PASS}")).await.unwrap();
    assert!(r[0].starts_with("l NO [AUTHENTICATIONFAILED]"), "{r:?}");
    let r = c
        .imap("a", &format!("AUTHENTICATE PLAIN {}", plain(USER, PASS)))
        .await
        .unwrap();
    assert!(r[0].starts_with("a NO [AUTHENTICATIONFAILED]"), "{r:?}");
    // BYE greeting.
    f.set(Fault::Imap(
        ImapStep::Greeting,
        Action::No("Too many connections".into()),
    ));
    let mut c = Raw::connect(server.addrs().imap, &server).await.unwrap();
    assert_eq!(c.line().await.unwrap(), "* BYE Too many connections");
    assert_eq!(c.line().await.unwrap_err().kind(), ErrorKind::UnexpectedEof);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_wrong_name_certificates() {
    let server = start().await;
    let f = server.faults();
    f.set(Fault::Cert(Proto::Imap, CertFault::Expired));
    let err = Raw::connect_tls(server.addrs().imaps, &server, "localhost")
        .await
        .err();
    let err = err.expect("handshake fails").to_string();
    assert!(err.to_lowercase().contains("expired"), "{err}");
    // SMTP unaffected, then wrong name on STARTTLS.
    assert!(Raw::connect_tls(server.addrs().smtps, &server, "localhost")
        .await
        .is_ok());
    f.set(Fault::Cert(Proto::Smtp, CertFault::WrongName));
    let mut c = smtp(&server).await;
    c.reply().await.unwrap();
    c.cmd("EHLO x").await.unwrap();
    assert_eq!(c.cmd("STARTTLS").await.unwrap().0, 220);
    let err = c.starttls("localhost").await.unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");

    let ca = ca_file(&server);
    let script = r#"
import os, ssl, socket
ctx = ssl.create_default_context(cafile=os.environ["CA"])
for port in ("IMAPS_PORT", "SMTPS_PORT"):
    try:
        with socket.create_connection(("127.0.0.1", int(os.environ[port])), timeout=10) as s:
            ctx.wrap_socket(s, server_hostname="localhost")
        print(port, "ok")
    except ssl.SSLCertVerificationError as e:
        print(port, e.verify_message)
"#;
    let (ok, out) = python(script, &py_env(&server, &ca)).await;
    assert!(ok, "{out}");
    assert!(out.contains("IMAPS_PORT certificate has expired"), "{out}");
    assert!(out.contains("SMTPS_PORT Hostname mismatch"), "{out}");
    f.clear_all();
    for name in ["localhost", "mail.example.test", "127.0.0.1"] {
        assert!(
            Raw::connect_tls(server.addrs().imaps, &server, name)
                .await
                .is_ok(),
            "{name}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_faults_drop_or_never_push() {
    let server = start().await;
    server.faults().set(Fault::Idle(IdleFault::NeverPush));
    let mut c = idling(&server).await;
    server
        .store()
        .append(USER, "INBOX", b"Subject: a\r\n\r\nb\r\n", &[])
        .unwrap();
    c.timeout = Duration::from_millis(300);
    assert_eq!(c.line().await.unwrap_err().kind(), ErrorKind::TimedOut);
    c.timeout = T;
    c.send("DONE\r\n").await.unwrap();
    let r = c.imap_until("i").await.unwrap();
    assert_eq!(
        r,
        vec!["* 1 EXISTS".to_string(), "i OK IDLE terminated".to_string()]
    );

    server.faults().set(Fault::Idle(IdleFault::DropConnection));
    let mut c = idling(&server).await;
    server
        .store()
        .append(USER, "INBOX", b"Subject: a\r\n\r\nb\r\n", &[])
        .unwrap();
    assert_eq!(c.line().await.unwrap_err().kind(), ErrorKind::UnexpectedEof);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_late_held_duplicate_corrupt() {
    let server = start().await;
    let f = server.faults();
    f.set(Fault::Delivery(DeliveryFault::Delay(
        Duration::from_millis(300),
    )));
    let mut c = smtp(&server).await;
    c.reply().await.unwrap();
    assert_eq!(c.smtp_send(false, &message("late")).await.unwrap().0, 250);
    assert_eq!(server.store().count(USER, "INBOX"), 0, "not visible yet");
    let d = server
        .wait_for_delivery("X-Mailcanary-Id", "late", T)
        .await
        .unwrap();
    assert!(d.visible_at.duration_since(d.accepted_at) >= Duration::from_millis(300));

    f.clear_all();
    f.set(Fault::Delivery(DeliveryFault::Hold));
    assert_eq!(c.smtp_send(false, &message("held")).await.unwrap().0, 250);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(server
        .store()
        .find_delivery("X-Mailcanary-Id", "held")
        .is_none());
    assert_eq!(server.held_count(), 1);
    let released = Instant::now();
    assert_eq!(server.release_held(), 1);
    let d = server
        .store()
        .find_delivery("X-Mailcanary-Id", "held")
        .unwrap();
    assert!(d.visible_at >= released);

    f.clear_all();
    f.set(Fault::Delivery(DeliveryFault::Duplicate));
    f.set(Fault::Delivery(DeliveryFault::Corrupt));
    assert_eq!(
        c.smtp_send(false, &message("dupcorrupt")).await.unwrap().0,
        250
    );
    let both = server
        .store()
        .find_deliveries("X-Mailcanary-Id", "dupcorrupt");
    assert_eq!(both.len(), 2);
    assert_ne!(both[0].uid, both[1].uid);
    assert!(both[1].duplicate && !both[0].duplicate && both[0].corrupted);
    let stored = server.store().messages(USER, "INBOX").unwrap();
    let m = stored.iter().find(|m| m.uid == both[0].uid).unwrap();
    assert_ne!(&m.bytes[..], message("dupcorrupt").as_bytes());
    assert_eq!(m.bytes.len(), message("dupcorrupt").len());
    server.shutdown().await;
}
