//! The IDLE watch against a scripted IMAP server on loopback: a delivery the server announces in
//! a SEARCH's response, rather than while idling, is still seen before the deadline.

use super::watch;
use crate::config::testing::loopback;
use crate::config::{AuthMech, Watch};
use crate::probe::imap::{ImapLogin, ImapSession};
use crate::probe::recorder::Recorder;
use crate::tls::TlsContext;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// A server with one message (another profile's) pushed on the first IDLE, and ours (UID 2)
/// delivered while the first SEARCH runs: announced in that SEARCH's response, found by the
/// next one. A later IDLE never pushes anything. Returns the address and the commands read.
async fn announcing_in_search() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        let (tcp, _) = l.accept().await.unwrap();
        let (r, mut w) = tcp.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"* OK ready\r\n").await.unwrap();
        let (mut idles, mut searches, mut idle_tag) = (0, 0, String::new());
        let mut line = String::new();
        while r.read_line(&mut line).await.unwrap_or(0) > 0 {
            let cmd = line.trim_end().to_string();
            line.clear();
            seen.lock().unwrap().push(cmd.clone());
            let (tag, rest) = cmd.split_once(' ').unwrap_or((cmd.as_str(), ""));
            let verb = rest.split(' ').take(2).collect::<Vec<_>>().join(" ");
            let reply = match (tag, verb.as_str()) {
                ("DONE", _) => format!("{idle_tag} OK Idle completed\r\n"),
                (_, "IDLE") => {
                    idles += 1;
                    idle_tag = tag.to_string();
                    let push = if idles == 1 { "* 1 EXISTS\r\n" } else { "" };
                    format!("+ idling\r\n{push}")
                }
                (_, "CAPABILITY") => format!("* CAPABILITY IMAP4rev1 IDLE UIDPLUS\r\n{tag} OK\r\n"),
                (_, v) if v.starts_with("SELECT") => {
                    format!("* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n{tag} OK [READ-WRITE] ok\r\n")
                }
                (_, "UID SEARCH") => {
                    searches += 1;
                    if searches == 1 {
                        format!("* SEARCH\r\n* 2 EXISTS\r\n{tag} OK\r\n")
                    } else {
                        format!("* SEARCH 2\r\n{tag} OK\r\n")
                    }
                }
                _ => format!("{tag} OK\r\n"),
            };
            if w.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    (addr, got)
}

#[tokio::test]
async fn a_delivery_announced_in_a_search_response_is_found_without_waiting_for_a_push() {
    let (addr, got) = announcing_in_search().await;
    let lo = loopback(addr, AuthMech::Login, "s3cret-pw");
    let login = ImapLogin {
        mech: AuthMech::Login,
        user: "canary@example.test",
        secret: &lo.secret,
        id: &[],
    };
    let tls = TlsContext::new(None).unwrap();
    let mut rec = Recorder::new(Duration::from_secs(5), Duration::from_secs(30));
    let mut s = ImapSession::open(
        &mut rec,
        &tls,
        &lo.ep,
        &lo.proto,
        &login,
        "INBOX",
        None,
        1 << 20,
    )
    .await
    .unwrap();
    s.start_idle(&mut rec).await.unwrap();
    let began = Instant::now();
    let deadline = Duration::from_secs(5);
    let found = watch(&mut s, &mut rec, "the-id", began + deadline, Watch::Idle)
        .await
        .unwrap();
    let commands = got.lock().unwrap().clone();
    let (seen, uids) = found.unwrap_or_else(|| panic!("not seen by the deadline: {commands:?}"));
    assert_eq!(uids, [2]);
    assert!(seen - began < deadline, "{commands:?}");
    let searches = commands.iter().filter(|c| c.contains("UID SEARCH")).count();
    assert_eq!(searches, 2, "{commands:?}");
}
