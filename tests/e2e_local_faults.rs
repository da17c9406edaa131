//! A full disk under a running agent (the embedded mail server; the agent as a process; its
//! ledger on a small tmpfs that the test fills, so this test runs as root) is the agent's own
//! fault, not the mail service's: the cycles count in `mailcanary_local_faults_total`, no
//! failure of any mail stage is counted, the consecutive-failure count the availability alerts
//! read stays at 0, and the status page does not show the instance down. Freeing the space
//! lets canaries through again.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::agent::{find, sum, AgentProcess};
use support::demo::{probe, DemoBackend};

/// A tmpfs of `size` mounted at `dir`, unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(st.success(), "mounting a tmpfs needs root");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes zeros into `path` until the filesystem is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_under_the_ledger_is_a_local_fault_not_a_mail_failure() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(dir.path(), &[probe("disk", &["ios_mail"], 500, 2000)]);
    let fs = Tmpfs::mount(&dir.path().join("ledgerfs"), "2m");
    let ledger = fs.0.join("ledger.db");
    let main = std::fs::read_to_string(&config).unwrap();
    assert!(main.contains("ledger_path = \"ledger.db\""));
    std::fs::write(
        &config,
        main.replace(
            "ledger_path = \"ledger.db\"",
            &format!("ledger_path = \"{}\"", ledger.display()),
        ),
    )
    .unwrap();
    let labels = [("probe", "disk")];
    let agent = AgentProcess::start(&config);
    agent.wait_for("a successful cycle", Duration::from_secs(30), |a| {
        a.value("mailcanary_probe_success", &labels) == Some(1.0)
    });
    assert_eq!(
        agent.value("mailcanary_local_faults_total", &labels),
        Some(0.0)
    );

    // The disk under the ledger fills up; three cycles run on it.
    let cycles = |a: &AgentProcess| {
        a.value("mailcanary_probe_cycles_total", &labels)
            .unwrap_or(0.0)
    };
    fill(&fs.0.join("filler"));
    let at = cycles(&agent);
    agent.wait_for(
        "three cycles on the full disk",
        Duration::from_secs(30),
        |a| cycles(a) >= at + 4.0,
    );
    let s = agent.scrape();
    assert_eq!(
        sum(&s, "mailcanary_probe_failures_total", &labels),
        0.0,
        "no failure of any stage counted for a full disk: {:?}",
        s.iter()
            .filter(|x| x.name == "mailcanary_probe_failures_total" && x.value > 0.0)
            .map(|x| &x.labels)
            .collect::<Vec<_>>()
    );
    assert!(
        find(&s, "mailcanary_local_faults_total", &labels).unwrap_or(0.0) >= 3.0,
        "counted as the agent's own fault"
    );
    assert_eq!(
        find(&s, "mailcanary_probe_consecutive_failures", &labels),
        Some(0.0),
        "the count the availability alerts read"
    );
    assert_eq!(find(&s, "mailcanary_probe_success", &labels), Some(1.0));
    let log = agent.log_text();
    assert!(
        log.contains("a fault of the agent itself, not of the mail service"),
        "the log says whose fault it is"
    );
    assert!(!log.contains("cycle failed"), "no cycle reported as failed");
    let status = support::http::get(&agent.url("/api/status"), Duration::from_secs(5))
        .unwrap()
        .text();
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    let inst = &v["instances"][0];
    assert_eq!(inst["state"], "up", "{inst}");
    assert_eq!(inst["failures"][0]["reason"], "internal", "{inst}");

    // Space again: canaries go through and settle on time.
    let on_time = |a: &AgentProcess| {
        a.value(
            "mailcanary_canaries_total",
            &[("probe", "disk"), ("outcome", "on_time")],
        )
        .unwrap_or(0.0)
    };
    let before = on_time(&agent);
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    agent.wait_for("a canary delivered again", Duration::from_secs(30), |a| {
        on_time(a) > before
    });
    drop(agent);
}
