//! The status page of a plain `mailcanary run` (not only the demo): against the embedded
//! server, the page and `/api/status` show each instance up, then down at the right stage with
//! the server's own text escaped (the server's reply is attacker-controlled), then up again; and
//! in headless Chromium the inline script refreshes the live part of the page in place.

mod support;

use mailcanary::demo::{Action, Fault, ImapStep};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::agent::AgentProcess;
use support::demo::{probe, DemoBackend};
use support::http;

const CHROMIUM: &str = "/usr/bin/chromium";
const CLIENTS: [&str; 2] = ["outlook", "thunderbird"];
/// What the faulted server answers to LOGIN: markup that must never reach the page as markup.
const EVIL: &str = "[UNAVAILABLE] <script>alert('owned')</script><img src=x onerror=alert(1)> & co";

fn status(agent: &AgentProcess) -> Value {
    http::get(&agent.url("/api/status"), Duration::from_secs(5))
        .ok()
        .and_then(|r| serde_json::from_slice(&r.body).ok())
        .unwrap_or(Value::Null)
}

fn page(agent: &AgentProcess) -> String {
    let r = http::get(&agent.url("/"), Duration::from_secs(5)).expect("GET /");
    assert_eq!(r.status, 200);
    r.text()
}

fn all_in(s: &Value, state: &str) -> bool {
    let list = s["instances"].as_array().cloned().unwrap_or_default();
    list.len() == CLIENTS.len() && list.iter().all(|i| i["state"] == state)
}

#[test]
fn the_status_page_follows_an_outage_and_escapes_what_the_server_said() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(dir.path(), &[probe("web", &CLIENTS, 1000, 3000)]);
    let agent = AgentProcess::start(&config);

    agent.wait_for("every instance up", Duration::from_secs(30), |a| {
        all_in(&status(a), "up")
    });
    let html = page(&agent);
    for c in CLIENTS {
        assert!(html.contains(&format!(
            "data-instance=\"web/{c}\" data-client=\"{c}\" data-state=\"up\""
        )));
    }
    assert!(html.contains("All 2 instances delivering."));
    assert!(html.contains("<svg class=\"spark\""));
    assert!(
        !html.contains("id=\"notice\""),
        "no banner outside a scenario"
    );
    let s = status(&agent);
    assert_eq!(s["sentinels"]["state"], "not_configured");
    assert!(s["notice"].is_null());
    assert!(s["instances"][0]["certs"]
        .as_object()
        .is_some_and(|c| !c.is_empty()));

    be.server()
        .faults()
        .set(Fault::Imap(ImapStep::Login, Action::No(EVIL.into())));
    agent.wait_for(
        "every instance down at imap_login",
        Duration::from_secs(30),
        |a| {
            let s = status(a);
            all_in(&s, "down")
                && s["instances"]
                    .as_array()
                    .is_some_and(|l| l.iter().all(|i| i["failures"][0]["stage"] == "imap_login"))
        },
    );
    let html = page(&agent);
    assert!(
        !html.contains("<script>alert"),
        "server text reached the page as markup"
    );
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;"));
    assert!(html.contains("IMAP login failed: temporary failure reported by the server"));
    assert!(html.contains("<code>imap_login</code> <code>temp_fail</code>"));
    assert!(html.contains("down since "));
    assert!(html.contains("0 of 2 delivering, 2 down."));
    let s = status(&agent);
    let i = &s["instances"][0];
    assert!(i["down_since"].as_f64().is_some(), "{i:#}");
    assert!(
        i["failures"][0]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("<script>")),
        "the JSON carries the server's text as it was: {i:#}"
    );

    be.server()
        .faults()
        .clear(&Fault::Imap(ImapStep::Login, Action::No(String::new())));
    agent.wait_for("every instance up again", Duration::from_secs(30), |a| {
        all_in(&status(a), "up")
    });
    let html = page(&agent);
    assert!(!html.contains("down since "), "the outage is over");
    assert!(
        html.contains("Recent failures"),
        "but its failures stay listed"
    );

    // In a browser, the script swaps in fresh copies of #live (virtual time: no waiting).
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's chromium package \
         (`apt-get install -y chromium`; scripts/test.sh does it)"
    );
    let profile = tempfile::tempdir().unwrap();
    let dom = chromium_dom(profile.path(), &agent.url("/"));
    let live = dom
        .split("<main id=\"live\"")
        .nth(1)
        .and_then(|m| m.split('>').next())
        .unwrap_or_default();
    assert!(
        live.contains("data-refreshes=\""),
        "#live was refreshed in place: {live}"
    );
    assert!(dom.contains("live: updated "), "the page says it is live");
    assert!(
        dom.contains("id=\"matrix\""),
        "the refreshed part is the whole page body"
    );
}

/// The DOM after 12 s of virtual time (two refreshes).
fn chromium_dom(profile: &Path, url: &str) -> String {
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=12000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let start = Instant::now();
    while child.try_wait().expect("wait chromium").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("chromium output")
}
