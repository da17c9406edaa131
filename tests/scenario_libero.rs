//! `mailcanary demo --scenario libero`, end to end: every phase of the replayed outage on the
//! status page, and the incident report matching what the servers did.
//!
//! Runs the binary in real time, and at each phase waits (on `/api/status`) until the page
//! must show that phase's picture, then fetches the status page at once and asserts on it: the
//! banner's phase, which client profiles are up or down and why. Then headless Chromium dumps
//! the page's DOM and screenshots it. A browser start on a loaded machine can take longer than a
//! phase lasts, so what the browser saw is checked for what holds whatever the scenario's clock
//! did meanwhile: its script ran, the banner shows this phase or a later one, every profile has
//! its cell; and, if it still shows this phase, the whole picture as above. The pages and
//! screenshots are kept in `target/test-output/scenario_libero/`. The demo runs its
//! default client profiles, among them one that reads over POP3, which the storage failure
//! breaks at its POP3 login as it breaks the others at their IMAP login.
//!
//! After the replay, the late and lost canaries of `mailcanary report --json` are compared with
//! what the scenario's own record (`scenario.json`: the servers' delivery logs and the windows in
//! which logins failed) says must have happened to each canary the ledger sent.

mod support;

#[path = "scenario_libero/page.rs"]
mod page;
#[path = "scenario_libero/report.rs"]
mod report;

use page::{check_browser, check_page, down_in, login_stage, CLIENTS};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::agent::{bin, output_dir};
use support::http;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Real time: the shortest phase then lasts 30 s, time enough to take its DOM after the agent's
/// cycles have shown it, even on a machine busy with other tests (at speed 2, 15 s were not).
const SPEED: &str = "1";
/// The demo process; killed on drop.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    port: u16,
    /// The demo's stderr (its log).
    log: PathBuf,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Demo {
    /// Waits for a line of the transcript containing `what`; returns it.
    fn wait_line(&mut self, what: &str, timeout: Duration) -> String {
        let until = Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    println!("demo| {l}");
                    self.seen.push(l.clone());
                    if l.contains(what) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line with {what:?} within {timeout:?}:\n{}\n--- demo log ---\n{}",
                    self.seen.join("\n"),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ),
            }
        }
    }

    fn status(&self) -> Option<Value> {
        let r = http::get(&self.url("/api/status"), Duration::from_secs(5)).ok()?;
        serde_json::from_slice(&r.body).ok()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Polls `/api/status` until `cond` holds.
    fn wait_status(&self, what: &str, timeout: Duration, cond: impl Fn(&Value) -> bool) {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < timeout {
            if let Some(s) = self.status() {
                if cond(&s) {
                    return;
                }
                last = Some(s);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("timed out waiting for {what}; last /api/status:\n{last:#?}");
    }
}

fn state<'a>(s: &'a Value, client: &str) -> (&'a str, &'a str) {
    let i = s["instances"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["client"] == client));
    let state = i.and_then(|i| i["state"].as_str()).unwrap_or("?");
    let stage = i
        .and_then(|i| i["failures"][0]["stage"].as_str())
        .unwrap_or("");
    (state, stage)
}

fn chromium(profile: &Path, args: &[String]) -> Vec<u8> {
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start chromium");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut buf);
        buf
    });
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait chromium") {
            assert!(st.success(), "chromium {args:?} failed: {st}");
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("chromium output")
}

impl Demo {
    /// Starts `mailcanary demo --scenario libero` writing its config into `dir`.
    /// Port 0: the demo binds first and prints the URL of the port the system picked, which
    /// [`Demo::start`] reads. Its log goes to `out`, kept after the test.
    fn start(dir: &Path, out: &Path) -> Demo {
        let log = std::fs::File::create(out.join("demo.log")).expect("log file");
        let mut child = Command::new(bin())
            .args(["demo", "--scenario", "libero", "--scenario-speed", SPEED])
            .arg("--exit-after-scenario")
            .arg("--dir")
            .arg(dir.join("demo"))
            .args(["--web.listen-address", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start mailcanary demo");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut demo = Demo {
            child,
            lines,
            seen: Vec::new(),
            port: 0,
            log: out.join("demo.log"),
        };
        let line = demo.wait_line("status page", Duration::from_secs(60));
        demo.port = line
            .trim()
            .trim_end_matches('/')
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .filter(|p| *p != 0)
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        demo
    }

    /// The status page as the agent serves it now, kept as `{name}-served.html`.
    fn page(&self, out: &Path, name: &str) -> String {
        let r = http::get(&self.url("/"), Duration::from_secs(10)).expect("GET /");
        assert_eq!(r.status, 200, "GET / answers 200");
        let html = r.text();
        std::fs::write(out.join(format!("{name}-served.html")), &html).expect("write page");
        html
    }

    /// The status page's DOM as Chromium rendered it, then screenshots of it (desktop; also
    /// phone-sized with `phone`). The screenshots are for people, not for assertions.
    fn capture(&self, out: &Path, name: &str, phone: bool) -> String {
        let profile = tempfile::tempdir().expect("chromium profile");
        let dom = chromium(profile.path(), &["--dump-dom".into(), self.url("/")]);
        let dom = String::from_utf8(dom).expect("utf-8 DOM");
        std::fs::write(out.join(format!("{name}.html")), &dom).expect("write DOM");
        let mut sizes = vec![(name.to_string(), "1200,1500")];
        if phone {
            sizes.push((format!("{name}-phone"), "390,1400"));
        }
        for (file, size) in sizes {
            let png = out.join(format!("{file}.png"));
            let shot = format!("--screenshot={}", png.display());
            chromium(
                profile.path(),
                &[shot, format!("--window-size={size}"), self.url("/")],
            );
            let len = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
            assert!(
                len > 10_000,
                "screenshot {} written ({len} bytes)",
                png.display()
            );
            println!("screenshot: {}", png.display());
        }
        dom
    }

    fn wait_exit(&mut self) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait demo") {
                return st.code();
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "demo did not exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn libero_replay_shows_every_phase_and_the_report_matches_what_the_servers_did() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium package \
         (`apt-get install -y chromium`; scripts/test.sh does it)"
    );
    let out = output_dir("scenario_libero");
    let tmp = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(tmp.path(), &out);
    for phase in 1..=4u32 {
        demo.wait_line(&format!("phase {phase}/4:"), Duration::from_secs(120));
        let down = down_in(phase);
        let what = format!("phase {phase}: {down:?} down at their login, the others up");
        demo.wait_status(&what, Duration::from_secs(30), |s| {
            s["notice"]["phase"] == phase
                && CLIENTS
                    .iter()
                    .all(|c| match (down.contains(c), state(s, c)) {
                        (true, (st, stage)) => st == "down" && stage == login_stage(c),
                        (false, (st, _)) => st == "up",
                    })
        });
        let name = format!("phase-{phase}");
        check_page(phase, &demo.page(&out, &name));
        check_browser(phase, &demo.capture(&out, &name, phase == 3));
    }

    // The end: the transcript names the report; the process exits by itself.
    let hint = demo.wait_line("mailcanary report -c ", Duration::from_secs(120));
    assert_eq!(demo.wait_exit(), Some(0), "--exit-after-scenario exits 0");
    let args: Vec<&str> = hint
        .split_whitespace()
        .skip_while(|w| *w != "report")
        .collect();
    let report = Command::new(bin())
        .args(&args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let report: Value = serde_json::from_slice(&report.stdout).expect("report JSON");
    let dir = tmp.path().join("demo");
    let record: Value =
        serde_json::from_slice(&std::fs::read(dir.join("scenario.json")).unwrap()).unwrap();
    report::check(&report, &record, &dir.join("ledger.db"));
}
