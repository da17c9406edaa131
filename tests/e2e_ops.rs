//! Production operation of the agent binary against the embedded mail server: hot reload with
//! canaries in flight, rejected reloads, SIGTERM during a cycle, and secrets that never leak.

mod support;

use mailcanary::demo::{DeliveryFault, Fault};
use std::time::Duration;
use support::agent::{bin, find, AgentProcess, Sample};
use support::demo::{probe, DemoBackend};
use support::http;
use support::ledger::rows;

fn open_of(ledger: &std::path::Path, probe: &str) -> usize {
    rows(ledger)
        .iter()
        .filter(|r| r.probe == probe && (r.state == "in_flight" || r.state == "sending"))
        .count()
}

#[test]
fn reload_changes_adds_and_removes_probes_without_losing_canaries() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let alpha = probe("alpha", &["ios_mail"], 1000, 1500);
    let beta = probe("beta", &["thunderbird"], 1000, 1500);
    let config = be.config(dir.path(), &[alpha.clone(), beta.clone()]);
    let ledger = dir.path().join("ledger.db");
    let agent = AgentProcess::start_with(&config, &["--web.enable-lifecycle"]);
    let ok = |p: &str, c: &str| [("probe", p.to_string()), ("client", c.to_string())];
    agent.wait_for("alpha and beta delivering", Duration::from_secs(30), |a| {
        let s = a.scrape();
        ["alpha", "beta"]
            .iter()
            .zip(["ios_mail", "thunderbird"])
            .all(|(p, c)| {
                let l = ok(p, c);
                find(
                    &s,
                    "mailcanary_probe_success",
                    &[(l[0].0, &l[0].1), (l[1].0, &l[1].1)],
                ) == Some(1.0)
            })
    });

    be.server()
        .faults()
        .set(Fault::Delivery(DeliveryFault::Hold));
    agent.wait_for(
        "canaries of both probes in flight",
        Duration::from_secs(30),
        |a| {
            let s = a.scrape();
            find(&s, "mailcanary_canaries_in_flight", &[("probe", "alpha")]).unwrap_or(0.0) >= 2.0
                && find(&s, "mailcanary_canaries_in_flight", &[("probe", "beta")]).unwrap_or(0.0)
                    >= 1.0
        },
    );

    // alpha changes (interval), beta goes, gamma comes.
    std::fs::remove_file(dir.path().join("probes/beta.toml")).unwrap();
    let mut alpha2 = alpha.clone();
    alpha2.interval = Duration::from_millis(1200);
    let gamma = probe("gamma", &["outlook"], 1000, 1500);
    be.config(dir.path(), &[alpha2, gamma]);
    let r = agent.post_reload();
    assert_eq!(r.status, 200, "{}", r.text());
    let s = agent.scrape();
    let left: Vec<&Sample> = s
        .iter()
        .filter(|x| x.labels.get("probe").map(String::as_str) == Some("beta"))
        .collect();
    assert!(left.is_empty(), "beta's series are gone, but: {left:?}");
    assert!(find(&s, "mailcanary_probe_cycles_total", &[("probe", "gamma")]).is_some());
    assert_eq!(
        find(&s, "mailcanary_config_last_reload_successful", &[]),
        Some(1.0)
    );

    // Release: every alpha canary accepted before the release settles, none is lost.
    be.server()
        .faults()
        .clear(&Fault::Delivery(DeliveryFault::Hold));
    be.server().release_held();
    agent.wait_for(
        "alpha's held canaries settled",
        Duration::from_secs(30),
        |_| open_of(&ledger, "alpha") == 0,
    );
    let all = rows(&ledger);
    assert!(
        all.iter().all(|r| r.state != "lost"),
        "nothing lost: {all:?}"
    );
    let late = all
        .iter()
        .filter(|r| r.probe == "alpha" && r.state == "late")
        .count();
    assert!(late >= 2, "alpha's held canaries ended late: {all:?}");
    // beta's are kept as they were: nobody watches for them any more, and the ledger does not
    // invent an outcome for them.
    assert!(open_of(&ledger, "beta") >= 1, "{all:?}");

    // An invalid config is rejected; the old probes keep running.
    let before = agent
        .value("mailcanary_probe_cycles_total", &[("probe", "alpha")])
        .unwrap();
    std::fs::write(
        dir.path().join("probes/gamma.toml"),
        "clients = [\"outlook\"\ninterval = \n",
    )
    .unwrap();
    let r = agent.post_reload();
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("gamma.toml:"),
        "the error names the file: {}",
        r.text()
    );
    assert_eq!(
        agent.value("mailcanary_config_last_reload_successful", &[]),
        Some(0.0)
    );
    agent.wait_for("alpha still cycling", Duration::from_secs(15), |a| {
        a.value("mailcanary_probe_cycles_total", &[("probe", "alpha")])
            .unwrap_or(0.0)
            >= before + 2.0
    });
    assert!(agent
        .log_text()
        .contains("config reload rejected, old config kept"));

    // Fixed again, reloaded by SIGHUP.
    be.config(
        dir.path(),
        &[alpha.clone(), probe("gamma", &["outlook"], 1000, 1500)],
    );
    agent.signal("HUP");
    agent.wait_for("reload by SIGHUP", Duration::from_secs(15), |a| {
        a.value("mailcanary_config_last_reload_successful", &[]) == Some(1.0)
    });
}

#[test]
fn sigterm_during_a_cycle_exits_cleanly_and_the_canary_is_resumed() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(dir.path(), &[probe("term", &["ios_mail"], 1000, 30_000)]);
    let ledger = dir.path().join("ledger.db");
    let mut agent = AgentProcess::start(&config);
    agent.wait_for("delivering", Duration::from_secs(30), |a| {
        a.value("mailcanary_probe_success", &[("probe", "term")]) == Some(1.0)
    });
    be.server()
        .faults()
        .set(Fault::Delivery(DeliveryFault::Hold));
    agent.wait_for(
        "a canary held, its cycle watching",
        Duration::from_secs(30),
        |_| open_of(&ledger, "term") >= 1,
    );
    let held: Vec<String> = rows(&ledger)
        .into_iter()
        .filter(|r| r.state == "in_flight")
        .map(|r| r.id)
        .collect();
    agent.signal("TERM");
    let (code, took) = agent.wait_exit(Duration::from_secs(12));
    println!("exit {code:?} {took:?} after SIGTERM mid-cycle");
    assert_eq!(code, Some(0));
    assert!(took <= Duration::from_secs(10), "took {took:?}");

    let agent = AgentProcess::start(&config);
    be.server()
        .faults()
        .clear(&Fault::Delivery(DeliveryFault::Hold));
    be.server().release_held();
    agent.wait_for(
        "the held canary settled by the new process",
        Duration::from_secs(30),
        |_| {
            let now = rows(&ledger);
            held.iter().all(|id| {
                now.iter()
                    .any(|r| &r.id == id && (r.state == "on_time" || r.state == "late"))
            })
        },
    );
    for r in rows(&ledger).iter().filter(|r| held.contains(&r.id)) {
        assert_eq!(r.copies, 1, "{r:?}");
    }
}

#[test]
fn secrets_never_appear_in_logs_metrics_pages_transcripts_or_errors() {
    let be = DemoBackend::start();
    let dir = tempfile::tempdir().unwrap();
    let config = be.config(
        dir.path(),
        &[probe(
            "leak",
            &["ios_mail", "outlook", "gmail_android"],
            700,
            2000,
        )],
    );
    let hmac = std::fs::read_to_string(dir.path().join("secrets/hmac.key")).unwrap();
    let password = mailcanary::demo::command::PASSWORD;
    let token = mailcanary::demo::command::TOKEN;
    let agent = AgentProcess::start(&config);
    agent.wait_for("delivering", Duration::from_secs(30), |a| {
        a.value("mailcanary_probe_success", &[("client", "outlook")]) == Some(1.0)
    });
    // Failures that carry server text: rejected logins on both sides.
    be.server().faults().reject_auth();
    agent.wait_for("auth failures", Duration::from_secs(30), |a| {
        a.value("mailcanary_probe_success", &[("client", "outlook")]) == Some(0.0)
    });
    let mut collected = vec![agent.log_text()];
    for path in ["/metrics", "/", "/api/status"] {
        collected.push(
            http::get(&agent.url(path), Duration::from_secs(5))
                .unwrap()
                .text(),
        );
    }
    let once = std::process::Command::new(bin())
        .args(["once", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!once.status.success(), "auth is rejected");
    collected.push(String::from_utf8_lossy(&once.stdout).to_string());
    collected.push(String::from_utf8_lossy(&once.stderr).to_string());
    let report = std::process::Command::new(bin())
        .args(["report", "--json", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    collected.push(String::from_utf8_lossy(&report.stdout).to_string());
    let cfg = mailcanary::config::Config::load(&config).unwrap();
    collected.push(format!("{cfg:?}"));
    // A config error about the secret file itself.
    std::fs::write(dir.path().join("secrets/password"), "").unwrap();
    let check = std::process::Command::new(bin())
        .args(["check", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    collected.push(String::from_utf8_lossy(&check.stderr).to_string());
    assert!(!check.status.success());

    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let needles = [
        password.to_string(),
        token.to_string(),
        hmac.trim().to_string(),
        b64(password),
        b64(&format!("\0canary@example.test\0{password}")),
    ];
    let all = collected.join("\n");
    assert!(all.contains("auth_rejected"), "the failures were captured");
    assert!(
        all.contains("RESULT: FAILED"),
        "the once transcript was captured"
    );
    for n in &needles {
        assert!(!all.contains(n.as_str()), "secret {n:?} leaked");
    }
    println!(
        "grepped {} bytes from logs, metrics, pages, once, report, Debug and check: no secret",
        all.len()
    );
}
