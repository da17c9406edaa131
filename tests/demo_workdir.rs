//! `mailcanary demo` without `--dir` writes its config, secrets and ledger into a new directory
//! of the temporary folder whose name cannot be guessed (not the process id) and which only
//! its owner can enter (mode 0700); two runs get two directories.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::agent::bin;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Runs `mailcanary demo` with `TMPDIR=tmp` until it prints where its config is; returns that
/// path and the demo's pid, then stops it.
fn demo_config_path(tmp: &Path) -> (PathBuf, u32) {
    let mut child = Command::new(bin())
        .args(["demo", "--web.listen-address"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mailcanary demo");
    let pid = child.id();
    let out = child.stdout.take().expect("stdout");
    let config = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.trim()
                .strip_prefix("config")
                .map(|p| PathBuf::from(p.trim()))
        });
    let _ = Command::new("kill")
        .args(["-s", "TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    (config.expect("the demo prints its config path"), pid)
}

#[test]
fn the_demo_directory_has_an_unpredictable_name_and_mode_0700() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, pid) = demo_config_path(tmp.path());
    let dir = first.parent().expect("config in a directory");
    assert_eq!(dir.parent(), Some(tmp.path()), "{}", first.display());
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("mailcanary-demo-"), "{name}");
    assert_ne!(name, format!("mailcanary-demo-{pid}"), "not the process id");
    let suffix = &name["mailcanary-demo-".len()..];
    assert!(suffix.len() >= 6, "a random suffix: {name}");
    let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{name}: {mode:o}");
    assert!(first.exists(), "the config is written there");

    let (second, _) = demo_config_path(tmp.path());
    assert_ne!(
        second.parent(),
        first.parent(),
        "each run its own directory"
    );
}
