//! The POP3 client against scripted servers on loopback: each login path, the reading
//! commands, and each misbehaviour with the (stage, reason) it must give.

use super::*;
use base64::Engine;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the server answers to each command, in order: the greeting first.
type Script = Vec<Vec<u8>>;

/// Serves one connection: writes the greeting, then answers each line read with the next
/// reply of the script (an empty reply: say nothing and hang up). Returns the address and the
/// commands received.
async fn serve(script: Script) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let (r, mut w) = tcp.into_split();
        let mut r = BufReader::new(r);
        let mut replies = script.into_iter();
        if let Some(g) = replies.next() {
            if g.is_empty() {
                // Silent: keep the connection open, say nothing.
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            let _ = w.write_all(&g).await;
        }
        for reply in replies {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            seen.lock().unwrap().push(line.trim_end().to_string());
            if reply.is_empty() {
                return;
            }
            if w.write_all(&reply).await.is_err() {
                return;
            }
        }
        let mut rest = String::new();
        while r.read_line(&mut rest).await.unwrap_or(0) > 0 {}
    });
    (addr, got)
}

use crate::config::testing::loopback;

struct Run {
    result: Result<Pop3Session, Failure>,
    got: Arc<Mutex<Vec<String>>>,
    rec: Recorder,
}

async fn open(script: Script, mech: AuthMech) -> Run {
    let (addr, got) = serve(script).await;
    let lo = loopback(addr, mech, "s3cret-pw");
    let login = Pop3Login {
        mech,
        user: "canary@example.test",
        secret: &lo.secret,
    };
    let tls = TlsContext::new(None).unwrap();
    let mut rec = Recorder::new(Duration::from_millis(500), Duration::from_secs(30));
    let result = Pop3Session::open(&mut rec, &tls, &lo.ep, &lo.proto, &login, 64 * 1024).await;
    Run { result, got, rec }
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

const CAPA_USER: &str = "+OK\r\nTOP\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\n.\r\n";

fn failed(r: &Run) -> (Stage, Reason) {
    match &r.result {
        Err(f) => (f.stage, f.reason),
        Ok(_) => panic!("logged in"),
    }
}

#[tokio::test]
async fn user_pass_logs_in_and_the_password_never_reaches_the_transcript() {
    let script = vec![
        b("+OK ready\r\n"),
        b(CAPA_USER),
        b("+OK\r\n"),
        b("+OK logged in\r\n"),
    ];
    let r = open(script, AuthMech::Login).await;
    let s = r.result.as_ref().map_err(|f| f.to_string()).unwrap();
    assert_eq!(s.caps.top, Some(true));
    let got = r.got.lock().unwrap().clone();
    assert_eq!(got, ["CAPA", "USER canary@example.test", "PASS s3cret-pw"]);
    let transcript = format!("{:?}", r.rec.steps);
    assert!(!transcript.contains("s3cret"), "{transcript}");
}

#[tokio::test]
async fn auth_plain_sends_its_initial_response_on_the_line_when_capa_offers_it() {
    let script = vec![b("+OK ready\r\n"), b(CAPA_USER), b("+OK welcome\r\n")];
    let r = open(script, AuthMech::Plain).await;
    assert!(r.result.is_ok());
    let got = r.got.lock().unwrap().clone();
    let ir = base64::engine::general_purpose::STANDARD.encode("\0canary@example.test\0s3cret-pw");
    assert_eq!(got, ["CAPA".to_string(), format!("AUTH PLAIN {ir}")]);
}

#[tokio::test]
async fn without_a_sasl_line_auth_waits_for_the_servers_challenge() {
    let script = vec![
        b("+OK ready\r\n"),
        b("-ERR no CAPA here\r\n"),
        b("+ \r\n"),
        b("+OK welcome\r\n"),
    ];
    let r = open(script, AuthMech::XOAuth2).await;
    assert!(r.result.is_ok(), "{:?}", r.result.err());
    let got = r.got.lock().unwrap().clone();
    assert_eq!(got[1], "AUTH XOAUTH2");
    assert!(!got[2].is_empty());
}

#[tokio::test]
async fn a_mechanism_capa_does_not_offer_is_a_permanent_failure_at_login() {
    let script = vec![b("+OK ready\r\n"), b(CAPA_USER)];
    let r = open(script, AuthMech::OAuthBearer).await;
    assert_eq!(failed(&r), (Stage::Pop3Login, Reason::PermFail));
}

#[tokio::test]
async fn err_at_each_step_of_login_has_its_stage_and_reason() {
    let cases: Vec<(Script, (Stage, Reason))> = vec![
        (
            vec![b("-ERR [SYS/TEMP] too busy\r\n")],
            (Stage::Pop3Greeting, Reason::TempFail),
        ),
        (
            vec![b("+OK\r\n"), b(CAPA_USER), b("-ERR unknown user\r\n")],
            (Stage::Pop3Login, Reason::AuthRejected),
        ),
        (
            vec![
                b("+OK\r\n"),
                b(CAPA_USER),
                b("+OK\r\n"),
                b("-ERR [AUTH] wrong\r\n"),
            ],
            (Stage::Pop3Login, Reason::AuthRejected),
        ),
        (
            vec![
                b("+OK\r\n"),
                b(CAPA_USER),
                b("+OK\r\n"),
                b("-ERR [IN-USE] locked\r\n"),
            ],
            (Stage::Pop3Login, Reason::TempFail),
        ),
        (
            vec![b("+OK\r\n"), b(CAPA_USER), b("+OK\r\n"), b("")],
            (Stage::Pop3Login, Reason::Reset),
        ),
    ];
    for (script, want) in cases {
        let r = open(script.clone(), AuthMech::Login).await;
        assert_eq!(
            failed(&r),
            want,
            "{:?}",
            String::from_utf8_lossy(&script.concat())
        );
    }
}

#[tokio::test]
async fn a_garbage_or_silent_greeting_fails_the_greeting() {
    let r = open(vec![b("* OK IMAP4rev1 ready\r\n")], AuthMech::Login).await;
    assert_eq!(failed(&r), (Stage::Pop3Greeting, Reason::ProtocolError));
    let r = open(vec![b("")], AuthMech::Login).await;
    assert_eq!(failed(&r), (Stage::Pop3Greeting, Reason::Timeout));
}

/// Opens a session with USER/PASS whose script continues with `after`.
async fn session_then(after: Vec<Vec<u8>>) -> (Pop3Session, Recorder, Arc<Mutex<Vec<String>>>) {
    let mut script = vec![b("+OK ready\r\n"), b(CAPA_USER), b("+OK\r\n"), b("+OK\r\n")];
    script.extend(after);
    let r = open(script, AuthMech::Login).await;
    let s = r.result.map_err(|f| f.to_string()).unwrap();
    (s, r.rec, r.got)
}

#[tokio::test]
async fn uidl_top_retr_dele_and_quit_read_what_the_server_lists() {
    let (mut s, mut rec, got) = session_then(vec![
        b("+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n"),
        b("+OK\r\nX-A: 1\r\n\r\n.\r\n"),
        b("+OK\r\nX-A: 1\r\n\r\n..dot-stuffed\r\nbody\r\n.\r\n"),
        b("+OK marked\r\n"),
        b("+OK bye\r\n"),
    ])
    .await;
    let listed = s.uidl(&mut rec).await.unwrap();
    assert_eq!(
        listed,
        [
            Listed {
                n: 1,
                uid: "aaa".into()
            },
            Listed {
                n: 2,
                uid: "bbb".into()
            }
        ]
    );
    let step = Duration::from_secs(1);
    assert_eq!(
        s.read(2, false, step).await.unwrap().unwrap(),
        b"X-A: 1\r\n\r\n"
    );
    assert_eq!(
        s.read(2, true, step).await.unwrap().unwrap(),
        b"X-A: 1\r\n\r\n.dot-stuffed\r\nbody\r\n"
    );
    s.dele(2, step).await.unwrap();
    s.quit(&mut rec).await.unwrap();
    let got = got.lock().unwrap().clone();
    assert_eq!(got[3..], ["UIDL", "TOP 2 0", "RETR 2", "DELE 2", "QUIT"]);
}

#[tokio::test]
async fn err_to_uidl_retr_dele_and_quit_fail_their_stage() {
    let step = Duration::from_secs(1);
    let (mut s, mut rec, _) = session_then(vec![b("-ERR no UIDL\r\n")]).await;
    let f = s.uidl(&mut rec).await.unwrap_err();
    assert_eq!((f.stage, f.reason), (Stage::Pop3List, Reason::PermFail));
    let (mut s, _, _) = session_then(vec![b("-ERR no such message\r\n")]).await;
    let f = s.read(1, true, step).await.unwrap_err();
    assert_eq!((f.stage, f.reason), (Stage::Pop3Retr, Reason::PermFail));
    let (mut s, _, _) = session_then(vec![b("-ERR cannot\r\n")]).await;
    let f = s.dele(1, step).await.unwrap_err();
    assert_eq!((f.stage, f.reason), (Stage::Cleanup, Reason::PermFail));
    // QUIT after DELE that the server does not confirm: nothing is committed, and it says so.
    let (mut s, mut rec, _) =
        session_then(vec![b("+OK\r\n"), b("-ERR [SYS/TEMP] not now\r\n")]).await;
    s.dele(1, step).await.unwrap();
    let f = s.quit(&mut rec).await.unwrap_err();
    assert_eq!((f.stage, f.reason), (Stage::Cleanup, Reason::TempFail));
    let (mut s, mut rec, _) = session_then(vec![b("+OK\r\n"), b("")]).await;
    s.dele(1, step).await.unwrap();
    let f = s.quit(&mut rec).await.unwrap_err();
    assert_eq!((f.stage, f.reason), (Stage::Cleanup, Reason::Reset));
}

#[tokio::test]
async fn a_message_expunged_by_another_session_is_skipped_and_the_session_goes_on() {
    // Dovecot does not lock a POP3 maildrop: another profile's session on the same mailbox can
    // expunge a message this one listed. Its -ERR says so; the next message still reads.
    let (mut s, mut rec, got) = session_then(vec![
        b("+OK\r\n1 aaa\r\n2 bbb\r\n.\r\n"),
        b("-ERR Message 1 expunged.\r\n"),
        b("+OK\r\nX-A: 2\r\n\r\n.\r\n"),
        b("-ERR Message 2 expunged.\r\n"),
    ])
    .await;
    let step = Duration::from_secs(1);
    assert_eq!(s.uidl(&mut rec).await.unwrap().len(), 2);
    assert_eq!(s.read(1, false, step).await.unwrap(), None);
    assert_eq!(
        s.read(2, false, step).await.unwrap().unwrap(),
        b"X-A: 2\r\n\r\n"
    );
    assert_eq!(s.read(2, true, step).await.unwrap(), None);
    let got = got.lock().unwrap().clone();
    assert_eq!(got[3..], ["UIDL", "TOP 1 0", "TOP 2 0", "RETR 2"]);
    // Any other refusal of a listed message is still the cycle's failure.
    let (mut s, _, _) = session_then(vec![b("-ERR [SYS/TEMP] storage busy\r\n")]).await;
    let f = s.read(1, true, step).await.unwrap_err();
    assert_eq!((f.stage, f.reason), (Stage::Pop3Retr, Reason::TempFail));
}

#[tokio::test]
async fn a_bad_uidl_line_is_a_protocol_error() {
    for bad in ["0 zero\r\n", "x aaa\r\n", "1\r\n", "1 has space inside\r\n"] {
        let (mut s, mut rec, _) = session_then(vec![b(&format!("+OK\r\n{bad}.\r\n"))]).await;
        let f = s.uidl(&mut rec).await.unwrap_err();
        assert_eq!(
            (f.stage, f.reason),
            (Stage::Pop3List, Reason::ProtocolError),
            "{bad:?}"
        );
    }
}

/// Serves a session whose answer to the first command after login is `endless` repeated
/// without end, and returns the failure of `f` on it.
async fn against_flood<F, Fut>(endless: &'static [u8], f: F) -> Failure
where
    F: FnOnce(Pop3Session, Recorder) -> Fut,
    Fut: std::future::Future<Output = Failure>,
{
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let (r, mut w) = tcp.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"+OK ready\r\n").await.unwrap();
        for reply in [CAPA_USER, "+OK\r\n", "+OK\r\n"] {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            w.write_all(reply.as_bytes()).await.unwrap();
        }
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        let _ = w.write_all(b"+OK here it comes\r\n").await;
        while w.write_all(endless).await.is_ok() {}
    });
    let lo = loopback(addr, AuthMech::Login, "pw-123");
    let login = Pop3Login {
        mech: AuthMech::Login,
        user: "u",
        secret: &lo.secret,
    };
    let tls = TlsContext::new(None).unwrap();
    let mut rec = Recorder::new(Duration::from_secs(20), Duration::from_secs(30));
    let s = Pop3Session::open(&mut rec, &tls, &lo.ep, &lo.proto, &login, 64 * 1024)
        .await
        .unwrap();
    f(s, rec).await
}

#[tokio::test]
async fn an_endless_uidl_listing_stops_at_the_limit_with_a_protocol_error() {
    let f = against_flood(
        b"1 aaaaaaaaaaaaaaaaaaaaaaa\r\n",
        |mut s, mut rec| async move { s.uidl(&mut rec).await.unwrap_err() },
    )
    .await;
    assert_eq!(
        (f.stage, f.reason),
        (Stage::Pop3List, Reason::ProtocolError)
    );
    assert!(f.detail.contains("over the limit"), "{}", f.detail);
}

#[tokio::test]
async fn a_huge_message_and_an_endless_line_stop_at_the_limit() {
    let f = against_flood(
        b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
        |mut s, _| async move { s.read(1, true, Duration::from_secs(20)).await.unwrap_err() },
    )
    .await;
    assert_eq!(
        (f.stage, f.reason),
        (Stage::Pop3Retr, Reason::ProtocolError)
    );
    let f = against_flood(
        b"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
        |mut s, _| async move { s.read(1, true, Duration::from_secs(20)).await.unwrap_err() },
    )
    .await;
    assert_eq!(
        (f.stage, f.reason),
        (Stage::Pop3Retr, Reason::ProtocolError)
    );
    assert!(f.detail.contains("line of more than"), "{}", f.detail);
}
