//! The mail servers an end-to-end test can run the agent against, behind one interface, so the
//! same test code checks the real Postfix + Dovecot stack (scripts/mailstack.sh) and the
//! embedded demo server it stands in for:
//!
//! | | stack | demo |
//! | --- | --- | --- |
//! | lock | [`stack::shared`] / [`stack::exclusive`] (file lock across processes) | none: a fresh server per test |
//! | config | [`stack::write_config`] (region `test`) | [`write_config`] (region `demo`) |
//! | IMAP outage | `mailstack.sh fault imap-down` (Dovecot stopped) | IMAP listeners closed (`Fault::Imap(Greeting, Refuse)`) |
//! | mailbox | the named test user over IMAPS 993 | the demo user over the server's IMAPS port |
//!
//! Mailbox inspection and seeding go over IMAPS on both, independently of the agent.
//! Included with `#[path]` by the tests that use it.
#![allow(dead_code)]

use super::demo::{probe, DemoBackend};
use super::stack::{self, ProbeSpec, StackLock, CA, DOMAIN, STATE};
use async_imap::Session;
use futures::TryStreamExt;
use mailcanary::demo::command::{PASSWORD, USER};
use mailcanary::demo::{Action, Fault, ImapStep};
use mailcanary::probe::net::Conn;
use mailcanary::tls::TlsContext;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// A running mail service for one test.
pub enum Backend {
    Stack(StackLock),
    /// The server, and a folder holding its CA for the mailbox helpers.
    Demo(Box<DemoBackend>, tempfile::TempDir),
}

/// A probe, as the tests describe it.
pub struct Spec<'a> {
    pub name: &'a str,
    /// Stack user whose mailbox the probe uses (the demo has one mailbox).
    pub user: &'a str,
    pub clients: &'a [&'a str],
    pub interval: &'a str,
    pub deadline: &'a str,
}

impl Backend {
    /// The real stack, shared with other tests that do not change it.
    pub fn stack_shared() -> Backend {
        let g = stack::shared();
        stack::require_up();
        Backend::Stack(g)
    }

    /// The real stack, alone (the test switches its faults).
    pub fn stack_exclusive() -> Backend {
        let g = stack::exclusive();
        stack::require_up();
        Backend::Stack(g)
    }

    /// A fresh embedded server.
    pub fn demo() -> Backend {
        let be = DemoBackend::start();
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ca.pem"), be.server().ca_pem()).expect("write CA");
        Backend::Demo(Box::new(be), dir)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Stack(_) => "stack",
            Backend::Demo(..) => "demo",
        }
    }

    /// The `region` label of the agents its configs describe.
    pub fn region(&self) -> &'static str {
        match self {
            Backend::Stack(_) => "test",
            Backend::Demo(..) => "demo",
        }
    }

    /// Writes an agent config with one probe; returns the main file.
    pub fn write_config(&self, dir: &Path, s: &Spec) -> PathBuf {
        match self {
            Backend::Stack(_) => {
                let spec = ProbeSpec {
                    name: s.name,
                    user: s.user,
                    clients: s.clients,
                    interval: s.interval,
                    deadline: s.deadline,
                    extra: "",
                };
                stack::write_config(dir, &[spec], "")
            }
            Backend::Demo(be, _) => {
                let ms = |d: &str| {
                    humantime::parse_duration(d)
                        .expect("a duration")
                        .as_millis() as u64
                };
                let mut p = probe(s.name, s.clients, ms(s.interval), ms(s.deadline));
                // Like the stack's probes: the default 5 s per-step timeout.
                p.timeout = Duration::from_secs(5);
                be.config(dir, &[p])
            }
        }
    }

    /// Takes IMAP away (connections refused) until the guard is dropped.
    pub fn imap_down(&self) -> ImapOutage<'_> {
        match self {
            Backend::Stack(_) => ImapOutage::Stack(stack::Fault::on("imap-down")),
            Backend::Demo(be, _) => {
                be.server().faults().set(refused());
                ImapOutage::Demo(be)
            }
        }
    }

    /// The mailbox of `user` (a stack user; the demo has one mailbox).
    pub fn mailbox(&self, user: &str) -> Mailbox {
        match self {
            Backend::Stack(_) => Mailbox {
                addr: "127.0.0.1:993".parse().expect("address"),
                ca: PathBuf::from(CA),
                user: format!("{user}@{DOMAIN}"),
                password: std::fs::read_to_string(format!("{STATE}/secrets/{user}.password"))
                    .expect("password file")
                    .trim()
                    .to_string(),
            },
            Backend::Demo(be, dir) => Mailbox {
                addr: be.server().addrs().imaps,
                ca: dir.path().join("ca.pem"),
                user: USER.into(),
                password: PASSWORD.into(),
            },
        }
    }
}

fn refused() -> Fault {
    Fault::Imap(ImapStep::Greeting, Action::Refuse)
}

/// An IMAP outage; dropping it brings IMAP back (even if the test panics).
pub enum ImapOutage<'a> {
    Stack(stack::Fault),
    Demo(&'a DemoBackend),
}

impl Drop for ImapOutage<'_> {
    fn drop(&mut self) {
        if let ImapOutage::Demo(be) = self {
            be.server().faults().clear(&refused());
        }
    }
}

/// One mailbox over IMAPS, as a user's client sees it.
pub struct Mailbox {
    addr: SocketAddr,
    ca: PathBuf,
    user: String,
    password: String,
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

impl Mailbox {
    async fn login(&self) -> Session<Conn> {
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
        tokio::time::timeout(T, s.select("INBOX"))
            .await
            .expect("select timeout")
            .expect("select");
        s
    }

    /// UIDs in INBOX matching an IMAP search query.
    pub fn search(&self, query: &str) -> Vec<u32> {
        rt().block_on(async {
            let mut s = self.login().await;
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
        rt().block_on(async {
            let mut s = self.login().await;
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

    /// The flags of a UID, as IMAP prints them.
    pub fn flags(&self, uid: u32) -> Vec<String> {
        rt().block_on(async {
            let mut s = self.login().await;
            let f: Vec<_> = tokio::time::timeout(T, async {
                s.uid_fetch(uid.to_string(), "FLAGS")
                    .await
                    .expect("fetch")
                    .try_collect()
                    .await
                    .expect("fetch")
            })
            .await
            .expect("fetch timeout");
            let out = f
                .first()
                .map(|m| m.flags().map(|x| format!("{x:?}")).collect())
                .unwrap_or_default();
            let _ = tokio::time::timeout(T, s.logout()).await;
            out
        })
    }
}
