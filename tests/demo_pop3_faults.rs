//! Every POP3 fault action of the demo server, seen from a raw client socket: listeners refused
//! (POP3 only), RST, FIN, silence, garbage and `-ERR` greetings, `-ERR` at each step (and at
//! `Quit` nothing committed), a dripped reply, an endless multi-line UIDL, a huge RETR streamed
//! with the server's memory flat, and a certificate fault on POP3 alone.
//!
//! The tests of this file run one at a time (`SERIAL`): one of them measures the process's peak
//! memory, which the others' allocations would blur.

#[path = "demo_common/mod.rs"]
mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::*;
use mailcanary::demo::{Action, CertFault, DemoServer, Fault, Flood, Pop3Step, Proto};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A server with one message in the mailbox.
async fn server() -> DemoServer {
    let s = start().await;
    s.store()
        .append(USER, "INBOX", message("m1").as_bytes(), &[])
        .unwrap();
    s
}

/// Connected over implicit TLS, greeting read.
async fn greeted(server: &DemoServer) -> Raw {
    let mut c = Raw::connect_tls(server.addrs().pop3s, server, "localhost")
        .await
        .unwrap();
    let g = c.line().await.unwrap();
    assert!(g.starts_with("+OK"), "{g}");
    c
}

async fn logged_in(server: &DemoServer) -> Raw {
    let mut c = greeted(server).await;
    let r = cmd(&mut c, &format!("AUTH PLAIN {}", plain(USER, PASS))).await;
    assert!(r.starts_with("+OK"), "{r}");
    c
}

async fn cmd(c: &mut Raw, line: &str) -> String {
    c.send(&format!("{line}\r\n")).await.unwrap();
    c.line().await.unwrap()
}

/// The error a client sees where it expected a line.
async fn line_error(c: &mut Raw) -> ErrorKind {
    match c.line().await {
        Ok(l) => panic!("expected no reply, got {l:?}"),
        Err(e) => e.kind(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_closes_the_pop3_listeners_only() {
    let _s = SERIAL.lock().await;
    let server = server().await;
    let a = server.addrs();
    let refuse = Fault::Pop3(Pop3Step::Greeting, Action::Refuse);
    server.faults().set(refuse.clone());
    await_connect(a.pop3, true).await;
    await_connect(a.pop3s, true).await;
    for other in [a.imap, a.imaps, a.smtp, a.smtps] {
        await_connect(other, false).await;
    }
    server.faults().clear(&refuse);
    await_connect(a.pop3s, false).await;
    greeted(&server).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeting_faults_reset_close_stall_garbage_and_err() {
    let _s = SERIAL.lock().await;
    let server = server().await;
    let at = |a| Fault::Pop3(Pop3Step::Greeting, a);
    let connect = || Raw::connect(server.addrs().pop3, &server);

    server.faults().set(at(Action::Reset));
    // The RST may already be there when the client sets TCP_NODELAY right after connect.
    let err = match connect().await {
        Ok(mut c) => line_error(&mut c).await,
        Err(e) => e.kind(),
    };
    assert_eq!(err, ErrorKind::ConnectionReset);

    server.faults().set(at(Action::Close));
    let mut c = connect().await.unwrap();
    assert_eq!(line_error(&mut c).await, ErrorKind::UnexpectedEof);

    server.faults().set(at(Action::Stall));
    let mut c = connect().await.unwrap();
    c.timeout = Duration::from_millis(300);
    assert_eq!(line_error(&mut c).await, ErrorKind::TimedOut, "silent");

    server.faults().set(at(Action::Garbage));
    let mut c = connect().await.unwrap();
    let g = c.line().await.unwrap();
    assert!(!g.starts_with("+OK") && g.contains("GARBAGE"), "{g:?}");

    server
        .faults()
        .set(at(Action::No("[IN-USE] Busy, come back later".into())));
    let mut c = connect().await.unwrap();
    assert_eq!(
        c.line().await.unwrap(),
        "-ERR [IN-USE] Busy, come back later"
    );
    assert_eq!(line_error(&mut c).await, ErrorKind::UnexpectedEof);

    server
        .faults()
        .set(at(Action::Flood(Flood::LongLine(100_000))));
    let mut c = connect().await.unwrap();
    let l = c.line().await.unwrap();
    assert!(
        l.starts_with("+OK xxx") && l.len() == 100_004,
        "{}",
        l.len()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn err_at_each_step_answers_that_step_with_its_text() {
    let _s = SERIAL.lock().await;
    let server = server().await;
    let steps: [(Pop3Step, &str); 11] = [
        (Pop3Step::Capa, "CAPA"),
        (Pop3Step::Stls, "STLS"),
        (Pop3Step::User, "USER"),
        (Pop3Step::Auth, "PASS"),
        (Pop3Step::Stat, "STAT"),
        (Pop3Step::List, "LIST"),
        (Pop3Step::Uidl, "UIDL"),
        (Pop3Step::Retr, "RETR 1"),
        (Pop3Step::Retr, "TOP 1 0"),
        (Pop3Step::Dele, "DELE 1"),
        (Pop3Step::Quit, "QUIT"),
    ];
    for (step, command) in steps {
        server.faults().clear_all();
        let text = format!("{step:?} refused by the test");
        let mut c = match step {
            Pop3Step::Stls => {
                let mut c = Raw::connect(server.addrs().pop3, &server).await.unwrap();
                assert!(c.line().await.unwrap().starts_with("+OK"));
                c
            }
            Pop3Step::Capa | Pop3Step::User => greeted(&server).await,
            Pop3Step::Auth => {
                let mut c = greeted(&server).await;
                assert!(cmd(&mut c, &format!("USER {USER}"))
                    .await
                    .starts_with("+OK"));
                c
            }
            _ => logged_in(&server).await,
        };
        if step == Pop3Step::Quit {
            assert!(cmd(&mut c, "DELE 1").await.starts_with("+OK"));
        }
        server
            .faults()
            .set(Fault::Pop3(step, Action::No(text.clone())));
        let line = match command {
            "USER" => cmd(&mut c, &format!("USER {USER}")).await,
            "PASS" => cmd(&mut c, &format!("PASS {PASS}")).await,
            _ => cmd(&mut c, command).await,
        };
        let expected = if step == Pop3Step::Auth {
            format!("-ERR [AUTH] {text}")
        } else {
            format!("-ERR {text}")
        };
        assert_eq!(line, expected, "{command}");
        if step == Pop3Step::Quit {
            assert_eq!(line_error(&mut c).await, ErrorKind::UnexpectedEof);
            assert_eq!(
                server.store().count(USER, "INBOX"),
                1,
                "a QUIT answered -ERR committed the deletion"
            );
        } else if step != Pop3Step::Capa && step != Pop3Step::Stls && step != Pop3Step::User {
            // The session goes on.
            server.faults().clear_all();
            let next = cmd(&mut c, "NOOP").await;
            assert!(next.starts_with("+OK") || step == Pop3Step::Auth, "{next}");
        }
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_close_and_drip_mid_session() {
    let _s = SERIAL.lock().await;
    let server = server().await;
    let mut c = logged_in(&server).await;
    server
        .faults()
        .set(Fault::Pop3(Pop3Step::Uidl, Action::Reset));
    c.send("UIDL\r\n").await.unwrap();
    assert_eq!(line_error(&mut c).await, ErrorKind::ConnectionReset);

    server.faults().clear_all();
    let mut c = logged_in(&server).await;
    server
        .faults()
        .set(Fault::Pop3(Pop3Step::Retr, Action::Close));
    c.send("RETR 1\r\n").await.unwrap();
    assert_eq!(line_error(&mut c).await, ErrorKind::UnexpectedEof);

    server.faults().clear_all();
    let mut c = logged_in(&server).await;
    let normal = cmd(&mut c, "STAT").await;
    let interval = Duration::from_millis(20);
    server
        .faults()
        .set(Fault::Pop3(Pop3Step::Stat, Action::Drip(interval)));
    let started = Instant::now();
    let dripped = cmd(&mut c, "STAT").await;
    let took = started.elapsed();
    assert_eq!(dripped, normal, "the same reply, dripped");
    let bytes = u32::try_from(normal.len() + 1).unwrap(); // its CRLF: one more gap
    assert!(took >= interval * bytes, "{took:?} for {bytes} gaps");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_uidl_never_ends() {
    let _s = SERIAL.lock().await;
    let server = server().await;
    let mut c = logged_in(&server).await;
    server
        .faults()
        .set(Fault::Pop3(Pop3Step::Uidl, Action::Flood(Flood::Endless)));
    assert_eq!(cmd(&mut c, "UIDL").await, "+OK");
    let mut read = 0usize;
    while read < 4 << 20 {
        let l = c.line().await.unwrap();
        assert!(l != "." && l.starts_with("1 "), "{l:?}");
        read += l.len() + 2;
    }
    server.shutdown().await;
}

/// A field of /proc/self/status, in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_retr_is_streamed_whole_with_flat_server_memory() {
    let _s = SERIAL.lock().await;
    let server = server().await;
    let mut c = logged_in(&server).await;
    let size: u64 = 32 << 20;
    server.faults().set(Fault::Pop3(
        Pop3Step::Retr,
        Action::Flood(Flood::Literal(size)),
    ));
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
    let before = status_kb("VmRSS");
    assert_eq!(cmd(&mut c, "RETR 1").await, format!("+OK {size} octets"));
    let mut body = 0u64;
    loop {
        let l = c.line().await.unwrap();
        if l == "." {
            break;
        }
        assert!(!l.starts_with('.'), "an unstuffed dot line");
        body += l.len() as u64 + 2;
    }
    let growth = status_kb("VmHWM").saturating_sub(before);
    // The body's lines and the CRLF the server adds to end the last one.
    assert_eq!(body, size + 2);
    assert!(
        growth < 4 * 1024,
        "peak RSS grew {growth} kB while the server sent {size} bytes"
    );
    println!("RETR of {size} bytes: peak RSS +{growth} kB");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_fault_on_pop3_leaves_imap_alone() {
    let _s = SERIAL.lock().await;
    let server = server().await;
    server
        .faults()
        .set(Fault::Cert(Proto::Pop3, CertFault::Expired));
    let err = Raw::connect_tls(server.addrs().pop3s, &server, "localhost")
        .await
        .err()
        .expect("the expired certificate is refused");
    assert!(err.to_string().to_lowercase().contains("expired"), "{err}");
    Raw::connect_tls(server.addrs().imaps, &server, "localhost")
        .await
        .expect("IMAPS keeps its good certificate");
    server.shutdown().await;
}
