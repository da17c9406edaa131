//! Looks into a mailbox over IMAPS, independently of the agent: what is there, what carries
//! canary headers, and planting ordinary messages a user would have. [`Mailbox`] works on any
//! server; the free functions are shorthands for a test user of the real stack.
#![allow(dead_code)]

use super::stack::{CA, DOMAIN, STATE};
use async_imap::types::Fetch;
use async_imap::Session;
use futures::TryStreamExt;
use mailcanary::probe::net::Conn;
use mailcanary::tls::TlsContext;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// One mailbox over IMAPS, as a user's client sees it.
pub struct Mailbox {
    pub addr: SocketAddr,
    pub ca: PathBuf,
    pub user: String,
    pub password: String,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// `UID FETCH set query`, every response collected, under the timeout.
async fn fetch(s: &mut Session<Conn>, set: &str, query: &str) -> Vec<Fetch> {
    tokio::time::timeout(T, async {
        s.uid_fetch(set, query)
            .await
            .expect("fetch")
            .try_collect()
            .await
            .expect("fetch")
    })
    .await
    .expect("fetch timeout")
}

impl Mailbox {
    async fn login(&self) -> Session<Conn> {
        self.login_in("INBOX").await
    }

    /// Logged in, with `folder` selected.
    async fn login_in(&self, folder: &str) -> Session<Conn> {
        let tls = TlsContext::new(Some(&self.ca)).expect("tls");
        let tcp = tokio::time::timeout(T, tokio::net::TcpStream::connect(self.addr))
            .await
            .expect("connect timeout")
            .expect("connect");
        let (s, _) = tokio::time::timeout(T, tls.handshake(tcp, "mail.example.test"))
            .await
            .expect("tls timeout")
            .expect("tls");
        let mut client = async_imap::Client::new(Conn::Tls(Box::new(s)));
        tokio::time::timeout(T, client.read_response())
            .await
            .expect("greeting timeout")
            .expect("greeting io");
        let mut s = tokio::time::timeout(T, client.login(&self.user, &self.password))
            .await
            .expect("login timeout")
            .map_err(|(e, _)| e)
            .expect("login");
        if folder != "INBOX" {
            // A folder the server creates on first use (e.g. Junk) may not exist yet: an
            // existing one makes CREATE fail, which is fine.
            let _ = tokio::time::timeout(T, s.create(folder)).await;
        }
        tokio::time::timeout(T, s.select(folder))
            .await
            .expect("select timeout")
            .expect("select");
        s
    }

    /// UIDs in INBOX matching an IMAP search query.
    pub fn search(&self, query: &str) -> Vec<u32> {
        self.search_in("INBOX", query)
    }

    /// UIDs in `folder` matching an IMAP search query.
    pub fn search_in(&self, folder: &str, query: &str) -> Vec<u32> {
        rt().block_on(async {
            let mut s = self.login_in(folder).await;
            let mut v: Vec<u32> = tokio::time::timeout(T, s.uid_search(query))
                .await
                .expect("search timeout")
                .expect("search")
                .into_iter()
                .collect();
            v.sort_unstable();
            let _ = tokio::time::timeout(T, s.logout()).await;
            v
        })
    }

    /// UIDs of messages carrying a canary id header (ours or forged).
    pub fn canaries(&self) -> Vec<u32> {
        self.search("HEADER X-Mailcanary-Id \"\"")
    }

    /// The `X-Mailcanary-Id` of every message carrying one, one entry per message (a message
    /// delivered twice appears twice).
    pub fn canary_ids(&self) -> Vec<String> {
        let uids = self.canaries();
        if uids.is_empty() {
            return Vec::new();
        }
        let set = uids
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        rt().block_on(async {
            let mut s = self.login().await;
            let fetched = fetch(&mut s, &set, "BODY.PEEK[HEADER]").await;
            let ids = fetched
                .iter()
                .filter_map(|m| m.header())
                .filter_map(|h| {
                    String::from_utf8_lossy(h).lines().find_map(|l| {
                        let (name, v) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("X-Mailcanary-Id")
                            .then(|| v.trim().to_string())
                    })
                })
                .collect();
            let _ = tokio::time::timeout(T, s.logout()).await;
            ids
        })
    }

    /// Appends `message` to INBOX with `flags` (e.g. `(\\Deleted)`), as a user's client would.
    pub fn append(&self, message: &str, flags: Option<&str>) {
        rt().block_on(async {
            let mut s = self.login().await;
            tokio::time::timeout(T, s.append("INBOX", flags, None, message.as_bytes()))
                .await
                .expect("append timeout")
                .expect("append");
            let _ = tokio::time::timeout(T, s.logout()).await;
        })
    }

    /// Deletes every message of INBOX (test setup only: these are test mailboxes).
    pub fn empty(&self) {
        self.empty_folder("INBOX")
    }

    /// Removes every message from `folder`.
    pub fn empty_folder(&self, folder: &str) {
        rt().block_on(async {
            let mut s = self.login_in(folder).await;
            let all: Vec<u32> = tokio::time::timeout(T, s.uid_search("ALL"))
                .await
                .expect("search timeout")
                .expect("search")
                .into_iter()
                .collect();
            if !all.is_empty() {
                let set = all.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
                tokio::time::timeout(T, async {
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
                })
                .await
                .expect("store and expunge timeout");
            }
            let _ = tokio::time::timeout(T, s.logout()).await;
        })
    }

    /// The header block of a UID in INBOX, as delivered (top to bottom, folded lines kept).
    pub fn header_block(&self, uid: u32) -> String {
        rt().block_on(async {
            let mut s = self.login().await;
            let f = fetch(&mut s, &uid.to_string(), "BODY.PEEK[HEADER]").await;
            let out = f
                .first()
                .and_then(|m| m.header())
                .map(|h| String::from_utf8_lossy(h).into_owned())
                .unwrap_or_default();
            let _ = tokio::time::timeout(T, s.logout()).await;
            out
        })
    }

    /// The flags of a UID, as IMAP prints them.
    pub fn flags(&self, uid: u32) -> Vec<String> {
        rt().block_on(async {
            let mut s = self.login().await;
            let f = fetch(&mut s, &uid.to_string(), "FLAGS").await;
            let out = f
                .first()
                .map(|m| m.flags().map(|x| format!("{x:?}")).collect())
                .unwrap_or_default();
            let _ = tokio::time::timeout(T, s.logout()).await;
            out
        })
    }
}

impl Mailbox {
    /// The INBOX of stack user `user` (e.g. "bob") over IMAPS 993.
    pub fn stack(user: &str) -> Mailbox {
        Mailbox {
            addr: "127.0.0.1:993".parse().expect("address"),
            ca: PathBuf::from(CA),
            user: format!("{user}@{DOMAIN}"),
            password: std::fs::read_to_string(format!("{STATE}/secrets/{user}.password"))
                .expect("password file")
                .trim()
                .to_string(),
        }
    }

    /// Appends many messages in one session: `(message, flags)` pairs.
    pub fn append_many(&self, messages: &[(String, Option<&str>)]) {
        rt().block_on(async {
            let mut s = self.login().await;
            for (m, flags) in messages {
                tokio::time::timeout(T, s.append("INBOX", *flags, None, m.as_bytes()))
                    .await
                    .expect("append timeout")
                    .expect("append");
            }
            let _ = tokio::time::timeout(T, s.logout()).await;
        })
    }
}

/// UIDs in stack user `user`'s INBOX matching an IMAP search query.
pub fn search(user: &str, query: &str) -> Vec<u32> {
    Mailbox::stack(user).search(query)
}

/// UIDs of messages carrying a canary id header (ours or forged).
pub fn canaries(user: &str) -> Vec<u32> {
    Mailbox::stack(user).canaries()
}

/// The canary id of every message of stack user `user` carrying one.
pub fn canary_ids(user: &str) -> Vec<String> {
    Mailbox::stack(user).canary_ids()
}

/// Appends `message` with `flags` (e.g. `(\\Deleted)`).
pub fn append(user: &str, message: &str, flags: Option<&str>) {
    Mailbox::stack(user).append(message, flags)
}

/// Appends many messages in one session.
pub fn append_many(user: &str, messages: &[(String, Option<&str>)]) {
    Mailbox::stack(user).append_many(messages)
}

/// What a real mailbox holds besides canaries, for the tests that the agent deletes nothing
/// else: 1,000 user messages (one in ten flagged `\Deleted` by the user's own client, not yet
/// expunged) and 5 forgeries with the headers of the canaries of `instance`
/// (`probe/client/region`) but a tag that does not verify. With their flags, for [`append_many`].
pub fn user_mail_and_forgeries(user: &str, instance: &str) -> Vec<(String, Option<&'static str>)> {
    let mut seed = Vec::new();
    for i in 0..1000 {
        let m = format!(
            "From: <friend{i}@example.test>\r\nTo: <{user}@example.test>\r\nSubject: user mail {i}\r\n\
             X-Seed: {i}\r\n\r\nmessage {i}\r\n"
        );
        seed.push((m, (i % 10 == 0).then_some("(\\Deleted)")));
    }
    for i in 0..5 {
        // Right headers for this instance, wrong tag: a forgery the agent must leave alone.
        let m = format!(
            "From: <x@example.test>\r\nTo: <{user}@example.test>\r\nSubject: forged {i}\r\n\
             X-Mailcanary-Id: {i:032x}\r\nX-Mailcanary-Probe: {instance}\r\n\
             X-Mailcanary-Sent: 1700000000000\r\nX-Mailcanary-Tag: {:064x}\r\n\r\nforged\r\n",
            i
        );
        seed.push((m, None));
    }
    seed
}

/// Deletes every message of the INBOX (test setup only: these are test mailboxes).
pub fn empty(user: &str) {
    Mailbox::stack(user).empty()
}

/// The flags of a UID, as IMAP prints them.
pub fn flags(user: &str, uid: u32) -> Vec<String> {
    Mailbox::stack(user).flags(uid)
}
