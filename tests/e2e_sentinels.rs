//! Storage integrity on the real stack: sentinels planted with `mailcanary sentinel plant`, then
//! one Maildir file altered in place, another deleted, a third's flags changed behind Dovecot's
//! back. Each is detected at the next check with its reason (`verify`/`corrupt` or
//! `verify`/`not_delivered`) and `mailcanary_sentinel_intact` drops to 0; restoring each file
//! brings it back to 1. `/api/status` reports the sentinels as the page does: intact, then
//! broken with the instance and what its check found, then intact again.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::agent::{bin, find, AgentProcess};
use support::stack::{self, ProbeSpec, STATE};

const USER: &str = "ivan";

/// The Maildir file holding sentinel `name` in `folder`.
fn sentinel_file(folder: &str, name: &str) -> PathBuf {
    let dir = Path::new(STATE).join(format!("mail/{USER}/Maildir/.{folder}"));
    let needle = format!("X-Mailcanary-Sentinel: {name}\r\n");
    for sub in ["cur", "new"] {
        for e in std::fs::read_dir(dir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            if String::from_utf8_lossy(&bytes).contains(&needle)
                || String::from_utf8_lossy(&bytes).contains(&needle.replace("\r\n", "\n"))
            {
                return e.path();
            }
        }
    }
    panic!("no Maildir file for sentinel {name} in {}", dir.display());
}

fn failures(a: &AgentProcess, reason: &str) -> f64 {
    a.value(
        "mailcanary_probe_failures_total",
        &[("stage", "verify"), ("reason", reason)],
    )
    .unwrap_or(0.0)
}

/// `/api/status`'s `sentinels` object.
fn sentinels_json(a: &AgentProcess) -> serde_json::Value {
    let text = support::http::get(&a.url("/api/status"), Duration::from_secs(5))
        .unwrap()
        .text();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["sentinels"].clone()
}

fn intact(a: &AgentProcess) -> Option<f64> {
    a.value("mailcanary_sentinel_intact", &[("probe", "sentinels")])
}

#[test]
fn altered_deleted_and_reflagged_sentinels_are_detected_and_restoring_them_heals() {
    let _g = stack::shared();
    stack::require_up();
    let dir = tempfile::tempdir().unwrap();
    let folder = format!("sentinels-{}", std::process::id());
    let spec = ProbeSpec {
        name: "sentinels",
        user: USER,
        clients: &["ios_mail"],
        interval: "2s",
        deadline: "5s",
        extra: &format!("sentinel_folder = \"{folder}\""),
    };
    let config = stack::write_config(dir.path(), &[spec], "");
    let out = Command::new(bin())
        .args(["sentinel", "plant", "--probe", "sentinels", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "plant: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let again = Command::new(bin())
        .args(["sentinel", "plant", "--probe", "sentinels", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!again.status.success(), "planting twice needs --replace");

    let agent = AgentProcess::start(&config);
    let t = Duration::from_secs(30);
    agent.wait_for("sentinels intact", t, |a| intact(a) == Some(1.0));
    // `/api/status` says what the page says: intact, one instance checking.
    let s = sentinels_json(&agent);
    assert_eq!(s["state"], "intact", "{s}");
    assert_eq!(s["checking"], 1, "{s}");
    assert_eq!(s["broken"].as_array().map(Vec::len), Some(0), "{s}");

    // 1. Altered in place (same size): corrupt.
    let f1 = sentinel_file(&folder, "sentinels/1");
    let original = std::fs::read(&f1).unwrap();
    let mut altered = original.clone();
    let at = altered.len() - 10;
    altered[at] = if altered[at] == b'x' { b'y' } else { b'x' };
    std::fs::write(&f1, &altered).unwrap();
    let before = failures(&agent, "corrupt");
    agent.wait_for("altered sentinel detected", t, |a| {
        intact(a) == Some(0.0) && failures(a, "corrupt") > before
    });
    let status = support::http::get(&agent.url("/api/status"), Duration::from_secs(5))
        .unwrap()
        .text();
    assert!(
        status.contains("sentinel sentinels/1 content changed"),
        "{status}"
    );
    let s = sentinels_json(&agent);
    assert_eq!(s["state"], "broken", "{s}");
    assert_eq!(s["broken"][0]["probe"], "sentinels", "{s}");
    assert_eq!(s["broken"][0]["client"], "ios_mail", "{s}");
    assert!(
        s["broken"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("sentinel sentinels/1 content changed")),
        "{s}"
    );
    std::fs::write(&f1, &original).unwrap();
    agent.wait_for("restored sentinel intact", t, |a| intact(a) == Some(1.0));
    assert_eq!(sentinels_json(&agent)["state"], "intact");

    // 2. Deleted: missing, not_delivered.
    let f2 = sentinel_file(&folder, "sentinels/2");
    let kept = std::fs::read(&f2).unwrap();
    std::fs::remove_file(&f2).unwrap();
    let before = failures(&agent, "not_delivered");
    agent.wait_for("deleted sentinel detected", t, |a| {
        intact(a) == Some(0.0) && failures(a, "not_delivered") > before
    });
    std::fs::write(&f2, &kept).unwrap();
    agent.wait_for("restored sentinel intact", t, |a| intact(a) == Some(1.0));

    // 3. Flags changed behind the server's back (Maildir info suffix: \Flagged dropped).
    let f3 = sentinel_file(&folder, "sentinels/3");
    let name = f3.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.ends_with(":2,FS"), "planted \\Flagged \\Seen: {name}");
    let reflagged = f3.with_file_name(name.replace(":2,FS", ":2,S"));
    std::fs::rename(&f3, &reflagged).unwrap();
    let before = failures(&agent, "corrupt");
    agent.wait_for("flag change detected", t, |a| {
        intact(a) == Some(0.0) && failures(a, "corrupt") > before
    });
    let status = support::http::get(&agent.url("/api/status"), Duration::from_secs(5))
        .unwrap()
        .text();
    assert!(status.contains("flags changed"), "{status}");
    std::fs::rename(&reflagged, &f3).unwrap();
    agent.wait_for("restored flags intact", t, |a| intact(a) == Some(1.0));

    // The checks never set \Seen on the unseen sentinels (BODY.PEEK[], EXAMINE).
    let f1_now = sentinel_file(&folder, "sentinels/1");
    assert!(
        !f1_now.to_string_lossy().contains(":2,S"),
        "sentinel 1 stayed unseen: {}",
        f1_now.display()
    );
    let s = agent.scrape();
    assert_eq!(
        find(&s, "mailcanary_sentinel_intact", &[("client", "ios_mail")]),
        Some(1.0)
    );
}
