//! The Debian package, installed on this machine (as root) the way an operator installs it:
//! `scripts/deb.sh` builds it with cargo-deb, lintian's tags are each explained in
//! docs/packaging.md, `dpkg -i` installs it, and then
//!
//! - the files are where docs/operations.md says, the shipped alert rules and dashboards and
//!   the man pages and completions of this very CLI among them; `/etc/mailcanary/*` are
//!   conffiles; the `mailcanary` system user owns `/var/lib/mailcanary`;
//! - `systemd-analyze verify` accepts the unit (no running systemd needed), enabled, not
//!   started; `man mailcanary` renders;
//! - `mailcanary check`, run as the `mailcanary` user, reports exactly the example probe's
//!   placeholders, and accepts the files once they are filled in (here: with the test stack's
//!   canary mailbox);
//! - `mailcanary run` as that user completes a cycle against the stack, serves /metrics (with
//!   the build's version, git revision and rustc version) and writes its ledger under
//!   `/var/lib/mailcanary`;
//! - `dpkg -r` keeps the configuration, the key and the ledger; `dpkg -P` removes them, the user
//!   and the unit's enablement.
//!
//! The package is purged when the test ends, failed or not. It uses the real mail stack (shared
//! lock) and a lock of its own, so two runs never install at once.

mod layout;
mod package;
#[path = "../support/mod.rs"]
mod support;

use layout::{assert_installed_layout, CONFIG, EXAMPLE};
use package::{entity_exists, passwd, run_ok, status, text, Installed, ETC, STATE, USER};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{agent, http, root, stack};

const ENABLED_LINK: &str = "/etc/systemd/system/multi-user.target.wants/mailcanary.service";
/// Where `dpkg -r` masks the unit (a link to /dev/null), until the purge unmasks it.
const MASK_LINK: &str = "/etc/systemd/system/mailcanary.service";

/// The agent started as the `mailcanary` user; killed when dropped.
struct RunningAgent(Child);

impl Drop for RunningAgent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The example probe with each `"FILL IN: ..."` value replaced by the test stack's: the canary
/// mailbox, the loopback servers, a password file; plus the stack certificate's name.
fn filled_in(example: &str, password_file: &str) -> String {
    let mailbox = format!("canary@{}", stack::DOMAIN);
    let mut out = String::new();
    for line in example.lines() {
        let filled = match line.split_once(" = \"FILL IN:") {
            Some((key, _)) => {
                let value = match key.trim() {
                    "from" | "to" => mailbox.as_str(),
                    "host" => "127.0.0.1",
                    "password_file" => password_file,
                    other => panic!(
                        "the example probe has a placeholder the test cannot fill in: {other}"
                    ),
                };
                format!("{key} = \"{value}\"")
            }
            None => line.to_string(),
        };
        out.push_str(&filled);
        out.push('\n');
        if line == "[smtp]" || line == "[imap]" {
            out.push_str(&format!("tls_server_name = \"mail.{}\"\n", stack::DOMAIN));
        }
    }
    out
}

/// `mailcanary check` as the `mailcanary` user, as an operator runs it.
fn check_as_user() -> std::process::Output {
    Command::new("runuser")
        .args([
            "-u",
            USER,
            "--",
            "/usr/bin/mailcanary",
            "check",
            "-c",
            CONFIG,
        ])
        .output()
        .expect("run runuser")
}

#[test]
fn the_debian_package_installs_runs_as_its_user_and_removes_cleanly() {
    let _stack = stack::shared();
    stack::require_up();
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/mailcanary-deb-test.lock")
        .expect("open the package test's lock");
    lock.lock().expect("lock the package test's lock");

    let repo = root();
    let started = Instant::now();
    let deb = package::build(&repo);
    eprintln!("scripts/deb.sh took {:?}", started.elapsed());

    // Every lintian tag is explained in the packaging notes.
    let notes = support::read(&repo.join("docs/packaging.md"));
    for (tag, line) in package::lintian_tags(&deb) {
        assert!(
            notes.contains(&format!("`{tag}`")),
            "lintian: {line}\nis not explained in docs/packaging.md"
        );
    }

    let installed = Installed::install(&deb);
    assert_installed_layout(&repo);

    // The unit: valid for systemd, enabled, not started.
    let unit = text(&run_ok("dpkg", &["-L", "mailcanary"]).stdout)
        .lines()
        .find(|l| l.ends_with("/systemd/system/mailcanary.service"))
        .expect("the package installs mailcanary.service")
        .to_string();
    let verify = run_ok("systemd-analyze", &["verify", "--man=no", &unit]);
    assert!(
        verify.stdout.is_empty() && verify.stderr.is_empty(),
        "systemd-analyze verify {unit} complained:\n{}{}",
        text(&verify.stdout),
        text(&verify.stderr)
    );
    assert!(
        Path::new(ENABLED_LINK).is_symlink(),
        "the unit is not enabled"
    );
    let started = Command::new("pgrep").args(["-u", USER]).output().unwrap();
    assert!(
        !started.status.success(),
        "something runs as mailcanary after install"
    );

    // The man page renders.
    let man = Command::new("man")
        .args(["-P", "cat", "mailcanary"])
        .env("MANWIDTH", "80")
        .output()
        .expect("run man");
    let page = text(&man.stdout);
    assert!(
        man.status.success() && page.contains("NAME") && page.contains("mailcanary-run(1)"),
        "man mailcanary: {page}{}",
        text(&man.stderr)
    );

    // --version: the build's version, git revision and compiler.
    let revision =
        text(&run_ok("git", &["-C", repo.to_str().unwrap(), "rev-parse", "HEAD"]).stdout)
            .trim()
            .to_string();
    let rustc = text(&run_ok("rustc", &["-V"]).stdout).trim().to_string();
    let rust_version = rustc.split_whitespace().nth(1).unwrap().to_string();
    let version = text(&run_ok("/usr/bin/mailcanary", &["--version"]).stdout);
    assert_eq!(
        version.trim(),
        format!(
            "mailcanary {} (revision {revision}, {rustc})",
            env!("CARGO_PKG_VERSION")
        )
    );

    // check, as the user: the example probe's placeholders and nothing else.
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let placeholders = example
        .lines()
        .filter(|l| l.contains(" = \"FILL IN:"))
        .count();
    let before = check_as_user();
    let errors = text(&before.stderr);
    let lines: Vec<&str> = errors
        .lines()
        .filter(|l| !l.ends_with("error(s)"))
        .collect();
    assert!(!before.status.success(), "check accepted placeholders");
    assert!(
        placeholders > 0
            && lines.len() == placeholders
            && lines
                .iter()
                .all(|l| l.starts_with(EXAMPLE) && l.contains(": placeholder to fill in: ")),
        "check should report the {placeholders} placeholder(s) of {EXAMPLE} alone:\n{errors}"
    );

    // Filled in with the test stack's canary mailbox, check accepts it.
    let password = format!("{ETC}/canary.password");
    std::fs::copy(
        format!("{}/secrets/canary.password", stack::STATE),
        &password,
    )
    .unwrap();
    run_ok("chgrp", &[USER, &password]);
    run_ok("chmod", &["0640", &password]);
    std::fs::write(EXAMPLE, filled_in(&example, &password)).unwrap();
    let config = std::fs::read_to_string(CONFIG).unwrap();
    let config = config.replacen(
        "[agent]\n",
        &format!("[agent]\nca_file = \"{}\"\n", stack::CA),
        1,
    );
    std::fs::write(CONFIG, config).unwrap();
    let after = check_as_user();
    assert!(
        after.status.success(),
        "check refused the filled-in example:\n{}{}",
        text(&after.stdout),
        text(&after.stderr)
    );

    // run, as the user (setpriv execs the agent itself, so its pid is the agent's).
    let port = free_port();
    let child = Command::new("setpriv")
        .args(["--reuid", USER, "--regid", USER, "--init-groups", "--"])
        .args(["/usr/bin/mailcanary", "run", "-c", CONFIG])
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the agent as mailcanary");
    let mut running = RunningAgent(child);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let start = Instant::now();
    let samples = loop {
        let samples = http::get(&url, Duration::from_secs(2))
            .map(|r| agent::parse(&r.text()))
            .unwrap_or_default();
        if agent::find(
            &samples,
            "mailcanary_last_success_timestamp_seconds",
            &[("probe", "example")],
        )
        .is_some_and(|t| t > 0.0)
        {
            break samples;
        }
        if let Ok(Some(exit)) = running.0.try_wait() {
            panic!("the agent exited: {exit}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no successful cycle of the example probe in 90 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        agent::find(
            &samples,
            "mailcanary_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("revision", revision.as_str()),
                ("rustversion", rust_version.as_str())
            ]
        ),
        Some(1.0),
        "mailcanary_build_info does not carry this build's version, revision and rustc"
    );
    let ledger_file = std::fs::metadata(format!("{STATE}/ledger.db"))
        .expect("the ledger under /var/lib/mailcanary");
    assert_eq!(ledger_file.uid(), passwd(USER)[2].parse::<u32>().unwrap());
    drop(running);

    // dpkg -r: the binary goes; the configuration, the key and the ledger stay.
    run_ok("dpkg", &["-r", "mailcanary"]);
    assert_eq!(status(), "config-files");
    assert!(!Path::new("/usr/bin/mailcanary").exists());
    let (key, ledger) = (format!("{ETC}/hmac.key"), format!("{STATE}/ledger.db"));
    for kept in [CONFIG, EXAMPLE, key.as_str(), ledger.as_str()] {
        assert!(Path::new(kept).exists(), "dpkg -r removed {kept}");
    }
    assert!(
        std::fs::read_to_string(EXAMPLE)
            .unwrap()
            .contains("127.0.0.1"),
        "dpkg -r reverted the edited conffile"
    );
    assert!(entity_exists("passwd", USER));
    assert!(
        Path::new(MASK_LINK).is_symlink(),
        "dpkg -r did not mask the unit"
    );

    // dpkg -P: nothing left.
    run_ok("dpkg", &["-P", "mailcanary"]);
    assert_eq!(status(), "not-installed");
    for gone in [ETC, STATE, ENABLED_LINK, MASK_LINK] {
        assert!(
            !Path::new(gone).exists() && !Path::new(gone).is_symlink(),
            "dpkg -P left {gone}"
        );
    }
    assert!(
        !entity_exists("passwd", USER) && !entity_exists("group", USER),
        "dpkg -P left the mailcanary user or group"
    );
    drop(installed);
}
