//! The fleet report against agent processes on the embedded mail server: two shard agents on
//! the same probe files, each with its own ledger, the second behind HTTPS and basic auth (an
//! exporter-toolkit web config, a private CA); an IMAP outage (every login refused while SMTP
//! keeps accepting canaries) recorded by both. `mailcanary report --agent A --agent B` gives
//! totals equal to the sum of the two ledgers, each read from its file by the local report, with
//! the outage's canaries in them; a stopped agent, one answering garbage and one refusing the
//! password are each named, the exit status is 3 and the totals are those of the agents that
//! answered; the password appears in no output.

mod support;

use mailcanary::demo::faults::{Action, Fault, ImapStep};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use support::agent::AgentProcess;
use support::demo::{probe, DemoBackend};
use support::fleet::{fleet_report, local_report, sum_of, totals};
use support::http::Server;

const PASSWORD: &str = "fleet-secret-7f3a";

/// A private CA's PEM, and a server certificate and key for 127.0.0.1 it signed, in `dir`.
fn tls_files(dir: &Path) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "fleet CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    std::fs::write(
        dir.join("web-ca.pem"),
        ca.self_signed(&ca_key).unwrap().pem(),
    )
    .unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("web.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("web.key"), key.serialize_pem()).unwrap();
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: web.crt\n  key_file: web.key\n\
             basic_auth_users:\n  fleet: '{hash}'\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("password"), format!("{PASSWORD}\n")).unwrap();
}

/// Polls both ledgers (their local reports from `since`) until `cond` holds for every instance.
fn wait_ledgers(configs: &[&Path], since: f64, what: &str, cond: impl Fn(&Value) -> bool) {
    let start = Instant::now();
    loop {
        let now = mailcanary::ledger::now();
        let reports: Vec<Value> = configs
            .iter()
            .map(|c| local_report(c, since, now))
            .collect();
        let instances: Vec<&Value> = reports
            .iter()
            .flat_map(|r| r["instances"].as_array().unwrap())
            .collect();
        if instances.len() >= 4 && instances.iter().all(|i| cond(i)) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}: {reports:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn the_fleet_report_sums_the_agents_ledgers_and_names_those_that_did_not_answer() {
    let be = DemoBackend::start();
    let set: Vec<_> = (0..3)
        .map(|i| probe(&format!("f{i}"), &["outlook", "thunderbird"], 500, 3000))
        .collect();
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a_cfg = be.config(a_dir.path(), &set);
    let b_cfg = be.config(b_dir.path(), &set);
    tls_files(b_dir.path());
    let since = mailcanary::ledger::now();
    let mut a = AgentProcess::start_with(&a_cfg, &["--shard", "1/2"]);
    let web = format!(
        "--web.config.file={}",
        b_dir.path().join("web.yml").display()
    );
    let b = AgentProcess::start_https(&b_cfg, &["--shard", "2/2", &web]);
    let a_url = format!("http://127.0.0.1:{}", a.port());
    let b_url = format!("https://127.0.0.1:{}", b.port());
    let auth_file = b_dir.path().join("password");
    let ca_file = b_dir.path().join("web-ca.pem");
    let auth = [
        "--agent.user",
        "fleet",
        "--agent.password-file",
        auth_file.to_str().unwrap(),
        "--agent.ca-file",
        ca_file.to_str().unwrap(),
        "--json",
    ];
    let configs = [a_cfg.as_path(), b_cfg.as_path()];
    wait_ledgers(&configs, since, "a good cycle of every instance", |i| {
        i["cycles"].as_u64() >= Some(2) && i["failed_cycles"] == 0
    });

    // IMAP logins refused: cycles fail, canaries are still accepted over SMTP and wait.
    let refused = Fault::Imap(
        ImapStep::Login,
        Action::No("[UNAVAILABLE] Try later".into()),
    );
    be.server().faults().set(refused.clone());
    wait_ledgers(&configs, since, "an outage of every instance", |i| {
        (i["outages"].as_array().unwrap().iter()).any(|o| {
            o["failed_cycles"].as_u64() >= Some(8) && o["canaries"]["sent"].as_u64() >= Some(1)
        })
    });
    be.server().faults().clear(&refused);
    wait_ledgers(&configs, since, "every outage over", |i| {
        let outages = i["outages"].as_array().unwrap();
        !outages.is_empty() && outages.iter().all(|o| !o["end"].is_null())
    });
    // The period ends now; once every instance has started a cycle a second later, every cycle
    // started before the end is recorded and every canary sent before it has settled (the
    // cycle that ended the outage swept the late ones in).
    let until = mailcanary::ledger::now();
    wait_ledgers(&configs, until + 1.0, "a cycle after the period", |i| {
        i["cycles"].as_u64() >= Some(1)
    });

    let agents = [a_url.clone(), b_url.clone()];
    let run = fleet_report(&agents, since, until, &auth);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let fleet = run.json();
    let ledgers: Vec<Value> = configs
        .iter()
        .map(|c| local_report(c, since, until))
        .collect();
    let expected = sum_of(&ledgers);
    assert_eq!(
        totals(&fleet),
        expected,
        "fleet totals against the two ledgers"
    );
    assert_eq!(fleet["complete"], true);
    assert_eq!(expected["instances"], 6, "{expected}");
    assert!(
        expected["during_outages"]["late"].as_u64() >= Some(6),
        "{expected}"
    );
    assert!(expected["outages"].as_u64() >= Some(6), "{expected}");
    println!("fleet totals = sum of the two ledgers: {expected}");

    // The text form: the outage windows and the canaries sent during them, fleet totals.
    let text_args: Vec<&str> = auth[..6].to_vec();
    let text = fleet_report(&agents, since, until, &text_args);
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(text.stdout.contains("== region demo =="), "{}", text.stdout);
    assert!(
        text.stdout.contains("canaries sent during it:"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("== fleet =="), "{}", text.stdout);

    // One agent stopped, one answering garbage, one refusing a wrong password.
    a.signal("KILL");
    let _ = a.wait_exit(Duration::from_secs(10));
    let garbage = Server::start(|_| (200, "application/json", b"{\"region\": 1".to_vec()));
    let agents = [a_url.clone(), b_url.clone(), garbage.base_url()];
    let run = fleet_report(&agents, since, until, &auth);
    assert_eq!(run.code, Some(3), "{}\n{}", run.stdout, run.stderr);
    let fleet = run.json();
    assert_eq!(fleet["complete"], false);
    let status = |url: &str| {
        (fleet["agents"].as_array().unwrap().iter())
            .find(|s| s["agent"] == url)
            .cloned()
            .unwrap_or_else(|| panic!("{url} not listed: {fleet}"))
    };
    assert_eq!(status(&a_url)["answered"], false);
    assert!(
        status(&a_url)["error"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{fleet}"
    );
    assert!(status(&garbage.base_url())["error"]
        .as_str()
        .unwrap()
        .contains("not a report"));
    assert_eq!(status(&b_url)["answered"], true);
    assert_eq!(
        totals(&fleet),
        sum_of(&ledgers[1..]),
        "the totals of the agent that answered"
    );
    assert!(
        run.stderr
            .contains("report incomplete: 2 of 3 agents did not answer"),
        "{}",
        run.stderr
    );

    let text = fleet_report(&agents, since, until, &text_args);
    assert_eq!(text.code, Some(3));
    assert!(
        text.stdout
            .contains(&format!("agent {a_url}: DID NOT ANSWER")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("INCOMPLETE: 2 of 3 agents did not answer"),
        "{}",
        text.stdout
    );

    std::fs::write(&auth_file, "wrong\n").unwrap();
    let run = fleet_report(std::slice::from_ref(&b_url), since, until, &auth);
    assert_eq!(run.code, Some(3));
    assert!(run.stdout.contains("HTTP 401"), "{}", run.stdout);
    std::fs::write(&auth_file, PASSWORD).unwrap();
    let run = fleet_report(
        std::slice::from_ref(&b_url),
        since,
        until,
        &[
            "--agent.user",
            "fleet",
            "--agent.password-env",
            "FLEET_PW",
            "--agent.ca-file",
            ca_file.to_str().unwrap(),
        ],
    );
    assert_eq!(
        run.code,
        Some(1),
        "an unset variable is an error: {}",
        run.stderr
    );
    assert!(run.stderr.contains("FLEET_PW"), "{}", run.stderr);
    for out in [&run.stdout, &run.stderr, &text.stdout, &text.stderr] {
        assert!(!out.contains(PASSWORD), "the password was printed: {out}");
    }
    drop(b);
}
