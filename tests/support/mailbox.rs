//! Looks into a test user's mailbox over IMAPS, independently of the agent: what is there,
//! what carries canary headers, and planting ordinary messages a user would have.
#![allow(dead_code)]

use super::stack::{CA, DOMAIN, STATE};
use async_imap::Session;
use futures::TryStreamExt;
use mailcanary::probe::net::Conn;
use mailcanary::tls::TlsContext;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

async fn login(user: &str) -> Session<Conn> {
    let tls = TlsContext::new(Some(std::path::Path::new(CA))).expect("tls");
    let tcp = tokio::time::timeout(T, tokio::net::TcpStream::connect("127.0.0.1:993"))
        .await
        .expect("connect timeout")
        .expect("connect 993");
    let (s, _) = tls.handshake(tcp, "mail.example.test").await.expect("tls");
    let mut client = async_imap::Client::new(Conn::Tls(Box::new(s)));
    tokio::time::timeout(T, client.read_response())
        .await
        .expect("greeting")
        .expect("greeting io");
    let pw =
        std::fs::read_to_string(format!("{STATE}/secrets/{user}.password")).expect("password file");
    let mut s = tokio::time::timeout(T, client.login(format!("{user}@{DOMAIN}"), pw.trim()))
        .await
        .expect("login timeout")
        .map_err(|(e, _)| e)
        .expect("login");
    tokio::time::timeout(T, s.select("INBOX"))
        .await
        .expect("select timeout")
        .expect("select");
    s
}

/// UIDs in INBOX matching an IMAP search query.
pub fn search(user: &str, query: &str) -> Vec<u32> {
    rt().block_on(async {
        let mut s = login(user).await;
        let mut v: Vec<u32> = tokio::time::timeout(T, s.uid_search(query))
            .await
            .expect("search timeout")
            .expect("search")
            .into_iter()
            .collect();
        v.sort_unstable();
        let _ = s.logout().await;
        v
    })
}

/// UIDs of messages carrying a canary id header (ours or forged).
pub fn canaries(user: &str) -> Vec<u32> {
    search(user, "HEADER X-Mailcanary-Id \"\"")
}

/// Appends `message` to INBOX with `flags` (e.g. `(\\Deleted)`), as a user's client would.
pub fn append(user: &str, message: &str, flags: Option<&str>) {
    rt().block_on(async {
        let mut s = login(user).await;
        tokio::time::timeout(T, s.append("INBOX", flags, None, message.as_bytes()))
            .await
            .expect("append timeout")
            .expect("append");
        let _ = s.logout().await;
    })
}

/// Deletes every message of a test user's INBOX (test setup only: these are test mailboxes).
pub fn empty(user: &str) {
    rt().block_on(async {
        let mut s = login(user).await;
        let all: Vec<u32> = s
            .uid_search("ALL")
            .await
            .expect("search")
            .into_iter()
            .collect();
        if !all.is_empty() {
            let set = all.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            let _: Vec<_> = s
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await
                .expect("store")
                .try_collect()
                .await
                .expect("store");
            let _: Vec<_> = s
                .expunge()
                .await
                .expect("expunge")
                .try_collect()
                .await
                .expect("expunge");
        }
        let _ = s.logout().await;
    })
}

/// The flags of a UID, as IMAP prints them.
pub fn flags(user: &str, uid: u32) -> Vec<String> {
    rt().block_on(async {
        let mut s = login(user).await;
        let f: Vec<_> = s
            .uid_fetch(uid.to_string(), "FLAGS")
            .await
            .expect("fetch")
            .try_collect()
            .await
            .expect("fetch");
        let out = f
            .first()
            .map(|m| m.flags().map(|x| format!("{x:?}")).collect())
            .unwrap_or_default();
        let _ = s.logout().await;
        out
    })
}

/// Appends many messages in one session: `(message, flags)` pairs.
pub fn append_many(user: &str, messages: &[(String, Option<&str>)]) {
    rt().block_on(async {
        let mut s = login(user).await;
        for (m, flags) in messages {
            tokio::time::timeout(T, s.append("INBOX", *flags, None, m.as_bytes()))
                .await
                .expect("append timeout")
                .expect("append");
        }
        let _ = s.logout().await;
    })
}
