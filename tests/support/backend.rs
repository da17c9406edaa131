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
//! Declared in tests/support/mod.rs like the other helpers.
#![allow(dead_code)]

use super::demo::{probe, DemoBackend};
pub use super::mailbox::Mailbox;
use super::stack::{self, ProbeSpec, StackLock};
use mailcanary::demo::command::{PASSWORD, USER};
use mailcanary::demo::{Action, Fault, ImapStep};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
            Backend::Stack(_) => Mailbox::stack(user),
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
