//! `mailcanary demo` with its default arguments: it writes its config, secrets and ledger into a
//! new directory of the temporary folder whose name cannot be guessed (not the process id) and
//! which only its owner can enter (mode 0700), two runs getting two directories; and its status
//! page (`/api/status` and the page itself) shows every default client profile delivering,
//! Outlook reading over POP3 among them.

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::agent::bin;
use support::http;

/// The client profiles `mailcanary demo` runs without `--clients`; `outlook_pop3` reads over
/// POP3, the others over IMAP.
const DEFAULT_CLIENTS: [&str; 5] = [
    "gmail_android",
    "ios_mail",
    "outlook",
    "outlook_pop3",
    "thunderbird",
];

/// Runs `mailcanary demo` with `TMPDIR=tmp` until it prints where its config is, then runs
/// `while_up` with the status page's base URL; returns the config path and the demo's pid,
/// then stops it.
fn demo_config_path(tmp: &Path, while_up: impl FnOnce(&str)) -> (PathBuf, u32) {
    // Port 0: the demo binds first and prints the URL of the port the system picked.
    let mut child = Command::new(bin())
        .args(["demo", "--web.listen-address", "127.0.0.1:0"])
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mailcanary demo");
    let pid = child.id();
    let out = child.stdout.take().expect("stdout");
    let mut base = None;
    let config = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            let l = l.trim();
            if let Some(url) = l.strip_prefix("status page") {
                base = Some(url.trim().trim_end_matches('/').to_string());
            }
            l.strip_prefix("config").map(|p| PathBuf::from(p.trim()))
        });
    let up = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if config.is_some() {
            let base = base
                .as_deref()
                .expect("the demo prints its status page's URL");
            assert!(
                !base.ends_with(":0"),
                "the URL names the port bound: {base}"
            );
            while_up(base);
        }
    }));
    let _ = Command::new("kill")
        .args(["-s", "TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    if let Err(p) = up {
        std::panic::resume_unwind(p);
    }
    (config.expect("the demo prints its config path"), pid)
}

fn status(base: &str) -> Option<Value> {
    let r = http::get(&format!("{base}/api/status"), Duration::from_secs(5)).ok()?;
    serde_json::from_slice(&r.body).ok()
}

/// The clients of the instances in `s` that are in `state`, sorted.
fn clients_in(s: &Value, state: &str) -> Vec<String> {
    let mut c: Vec<String> = s["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["state"] == state)
        .filter_map(|i| i["client"].as_str().map(String::from))
        .collect();
    c.sort();
    c
}

/// Waits until every default client profile is up on `/api/status`, then checks the page.
fn every_default_profile_delivers(base: &str) {
    let start = Instant::now();
    let mut last = None;
    loop {
        if let Some(s) = status(base) {
            if clients_in(&s, "up") == DEFAULT_CLIENTS {
                break;
            }
            last = Some(s);
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "every default profile up within 60 s; last /api/status:\n{last:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let page = http::get(&format!("{base}/"), Duration::from_secs(5)).expect("GET /");
    assert_eq!(page.status, 200);
    let html = page.text();
    for c in DEFAULT_CLIENTS {
        let marker = format!("data-instance=\"demo/{c}\" data-client=\"{c}\" data-state=\"up\"");
        let cell = html
            .split(&marker)
            .nth(1)
            .and_then(|rest| rest.split("</td>").next())
            .unwrap_or_else(|| panic!("the page shows {c} up"));
        assert!(
            cell.contains("✓ UP") && cell.contains("delivered in"),
            "{c}: {cell}"
        );
    }
    assert!(html.contains(&format!(
        "All {} instances delivering.",
        DEFAULT_CLIENTS.len()
    )));
}

#[test]
fn the_demo_directory_has_an_unpredictable_name_and_mode_0700() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, pid) = demo_config_path(tmp.path(), |_| {});
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

    let (second, _) = demo_config_path(tmp.path(), |_| {});
    assert_ne!(
        second.parent(),
        first.parent(),
        "each run its own directory"
    );
}

#[test]
fn the_default_demo_shows_every_profile_delivering_the_pop3_one_included() {
    let tmp = tempfile::tempdir().unwrap();
    let (config, _) = demo_config_path(tmp.path(), every_default_profile_delivers);
    let dir = config.parent().expect("config in a directory");
    let probe = std::fs::read_to_string(dir.join("probes/demo.toml")).expect("the probe file");
    assert!(
        probe.contains("\n[imap]\n") && probe.contains("\n[pop3]\n"),
        "the probe reads over IMAP and POP3:\n{probe}"
    );
}
