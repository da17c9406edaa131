//! The real mail stack (scripts/mailstack.sh) as the end-to-end tests use it: faults, users,
//! and agent config files pointing at it.
//!
//! Tests that change the stack (stop Dovecot, hold the queue) take [`exclusive`]; tests that only
//! use it take [`shared`]. The lock is a file lock (flock), so it also holds across test binaries
//! and across concurrent `cargo test` runs on one machine: a fault never leaks into another test.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Held for as long as a test uses the stack.
pub struct StackLock(File);

fn lock_file() -> File {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/mailcanary-mailstack.lock")
        .expect("open the stack lock file")
}

pub const STATE: &str = "/var/lib/mailstack";
pub const CA: &str = "/var/lib/mailstack/tls/ca.crt";
pub const DOMAIN: &str = "example.test";

/// Use the stack without changing it.
pub fn shared() -> StackLock {
    let f = lock_file();
    f.lock_shared().expect("shared stack lock");
    StackLock(f)
}

/// Change the stack (faults); no other stack test runs meanwhile, in any process.
pub fn exclusive() -> StackLock {
    let f = lock_file();
    f.lock().expect("exclusive stack lock");
    StackLock(f)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailstack.sh")
}

/// Runs `mailstack.sh args...`, panicking with its output on failure.
pub fn mailstack(args: &[&str]) {
    let out = Command::new(script())
        .args(args)
        .output()
        .expect("run scripts/mailstack.sh");
    assert!(
        out.status.success(),
        "mailstack.sh {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Turns a fault on, and off again when dropped (even if the test panics).
pub struct Fault(&'static str);

impl Fault {
    pub fn on(name: &'static str) -> Fault {
        mailstack(&["fault", name, "on"]);
        Fault(name)
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .args(["fault", self.0, "off"])
            .output();
    }
}

/// The stack must be up before any e2e test; fails with the fix if it is not.
pub fn require_up() {
    let out = Command::new(script())
        .arg("status")
        .output()
        .expect("mailstack status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("postfix running") && text.contains("dovecot running"),
        "the mail stack is not running ({text}); run `sudo scripts/mailstack.sh up` first"
    );
}

/// `[clients.fast]`: the Outlook preset polling every 50 ms, for tests that need many quick
/// cycles.
pub const FAST_CLIENT: &str = "[clients.fast]\npreset = \"outlook\"\npoll_interval = \"50ms\"\n";

/// A probe for the test stack, written as one probe file.
pub struct ProbeSpec<'a> {
    pub name: &'a str,
    /// Stack user whose mailbox the probe uses (e.g. "bob").
    pub user: &'a str,
    pub clients: &'a [&'a str],
    pub interval: &'a str,
    pub deadline: &'a str,
    /// Extra TOML lines for the probe's top level.
    pub extra: &'a str,
}

/// Writes `mailcanary.toml` and one probe file per spec into `dir`; returns the main file.
/// `clients` is extra TOML for `[clients.*]` tables.
pub fn write_config(dir: &Path, probes: &[ProbeSpec], clients: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("probes")).unwrap();
    let main = dir.join("mailcanary.toml");
    std::fs::write(
        &main,
        format!(
            "[agent]\nregion = \"test\"\nlisten_address = \"127.0.0.1:0\"\n\
             ledger_path = \"ledger.db\"\nhmac_key_file = \"{STATE}/secrets/hmac.key\"\n\
             ca_file = \"{CA}\"\nprobes = [\"probes/*.toml\"]\n\n{clients}\n"
        ),
    )
    .unwrap();
    for p in probes {
        let clients: Vec<String> = p.clients.iter().map(|c| format!("\"{c}\"")).collect();
        let user = format!("{}@{DOMAIN}", p.user);
        let pw = format!("{STATE}/secrets/{}.password", p.user);
        std::fs::write(
            dir.join(format!("probes/{}.toml", p.name)),
            format!(
                "clients = [{}]\ninterval = \"{}\"\ntimeout = \"5s\"\n\
                 deadline = \"{}\"\nfrom = \"{user}\"\nto = \"{user}\"\n{}\n\n\
                 [smtp]\nhost = \"127.0.0.1\"\ntls_server_name = \"mail.{DOMAIN}\"\npassword_file = \"{pw}\"\n\n\
                 [imap]\nhost = \"127.0.0.1\"\ntls_server_name = \"mail.{DOMAIN}\"\npassword_file = \"{pw}\"\n",
                clients.join(", "),
                p.interval,
                p.deadline,
                p.extra
            ),
        )
        .unwrap();
    }
    main
}
