//! `mailcanary once` and `mailcanary check`: the operator's debugging commands.
//!
//! `once` runs one cycle of each selected instance and prints its transcript, phase by phase,
//! like blackbox_exporter's `debug=true` output: what was done, how long it took, what the server
//! said, and at the end the result in words. Canaries it sends go into the configured ledger, so
//! a running agent settles any that arrive late.

use crate::agent::{self, AgentError};
use crate::config::{Config, ConfigErrors, Instance, Shard};
use crate::ledger::{Ledger, LedgerError};
use crate::metrics::{Metrics, MetricsOptions};
use crate::probe::cycle::{CycleReport, InstanceMemory, Landed};
use crate::probe::recorder::fmt_duration;
use crate::scheduler::{self, Shared};
use crate::status::StatusBoard;
use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

/// `mailcanary check`: prints every error, or a summary. Returns whether the config is valid.
/// With a shard (`shard`, the `--shard` flag, over `[agent] shard`), the summary ends with the
/// instances of that shard, one `probe/client` per line.
pub fn check(path: &Path, shard: Option<Shard>) -> bool {
    match Config::load(path) {
        Ok(mut c) => {
            let instances = c.instances();
            println!(
                "{}: ok: {} probe(s), {} instance(s) (probe × client), region {}",
                path.display(),
                c.probes.len(),
                instances.len(),
                c.agent.region
            );
            for i in &instances {
                let (proto, auth) = match &i.client.pop3 {
                    Some(p) => ("pop3", crate::config::profiles::pop3_auth_name(p.auth)),
                    None => ("imap", i.client.imap.auth.as_str()),
                };
                let Some((ep, side)) = i.probe.reader(&i.client) else {
                    continue;
                };
                println!(
                    "  {:<24} {proto} {}:{} ({}, {auth})  smtp {}:{} ({}, {})",
                    i.key(),
                    ep.host,
                    ep.port(side.tls, side.port),
                    side.tls.as_str(),
                    i.probe.smtp.host,
                    i.probe.smtp.port(i.client.smtp.tls, i.client.smtp.port),
                    i.client.smtp.tls.as_str(),
                    i.client.smtp.auth.as_str(),
                );
                let clear = crate::config::plaintext_auth_sides(&i.client);
                if !clear.is_empty() {
                    println!(
                        "  {:<24} warning: {} login without TLS (allow_plaintext_auth = true)",
                        "",
                        clear.join(" and ")
                    );
                }
            }
            if c.agent.web != crate::config::Web::default() {
                println!("{}", web_migration(&c.agent.web));
            }
            c.override_shard(shard);
            if let Some(shard) = c.agent.shard {
                let mine = c.agent_instances();
                println!(
                    "shard {shard}: {} of {} instance(s) (probe/client):",
                    mine.len(),
                    instances.len()
                );
                for i in &mine {
                    println!("  {}", i.key());
                }
            }
            true
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.0.len());
            false
        }
    }
}

/// How to move a deprecated `[web]` section to a web config file (`--web.config.file`).
fn web_migration(web: &crate::config::Web) -> String {
    let mut s = String::from(
        "warning: the [web] section is deprecated and goes in the next release. Remove it and \
         start the agent with --web.config.file web.yml, web.yml holding:\n",
    );
    if let Some((cert, key)) = &web.tls {
        s.push_str(&format!(
            "  tls_server_config:\n    cert_file: {}\n    key_file: {}\n",
            cert.display(),
            key.display()
        ));
    }
    if let Some((user, _)) = &web.basic_auth {
        s.push_str(&format!(
            "  basic_auth_users:\n    {user}: <bcrypt hash of the password: \
             htpasswd -nBC 10 \"\" | tr -d ':\\n'>\n"
        ));
    }
    s
}

/// Why `mailcanary once` could not run its cycles (a failed cycle is not an error: it is the
/// transcript's answer).
#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("no probe instance matches --probe/--client")]
    NoMatch,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Agent(#[from] AgentError),
}

/// `mailcanary once`: one cycle per selected instance. Returns whether all succeeded.
pub async fn once(
    path: &Path,
    probe: Option<&str>,
    client: Option<&str>,
) -> Result<bool, OnceError> {
    let config = agent::load(path)?;
    let selected: Vec<Instance> = config
        .instances()
        .into_iter()
        .filter(|i| probe.is_none_or(|p| i.probe.name == p))
        .filter(|i| client.is_none_or(|c| i.client.name == c))
        .collect();
    if selected.is_empty() {
        return Err(OnceError::NoMatch);
    }
    let ledger = Ledger::open(&config.agent.ledger_path)?;
    let shared = Shared {
        cycles: Arc::new(agent::cycle_ctx(&config, ledger)?),
        metrics: Arc::new(
            Metrics::new(&config.agent.region, MetricsOptions::for_config(&config))
                .map_err(AgentError::Metrics)?,
        ),
        status: StatusBoard::default(),
    };
    let mut all_ok = true;
    for inst in &selected {
        let mut mem = InstanceMemory::default();
        let report = scheduler::run_cycle(&shared, inst, &mut mem).await;
        print!("{}", transcript(inst, &report));
        all_ok &= report.success();
    }
    Ok(all_ok)
}

/// Where the newest verified canary landed: the trusted verdicts (and whose they are), the
/// spam score and the hops. Hop names are server text, sanitised and bounded by
/// [`crate::landing`].
fn landed(inst: &Instance, l: &Landed) -> String {
    let mut out = String::new();
    let id = inst.probe.authserv_id.as_deref();
    let verdicts = match (l.landing.trusted(id), id) {
        (Some(h), _) => format!(
            "Authentication-Results of {}: {}",
            h.authserv_id,
            h.summary()
        ),
        (None, Some(id)) => format!("no Authentication-Results from {id} (authserv_id)"),
        (None, None) => "no Authentication-Results".into(),
    };
    let _ = writeln!(out, "  canary {} landed: {verdicts}", l.id);
    let score = match l.landing.spam_score {
        Some(s) => format!("{s}"),
        None => "none written".into(),
    };
    let _ = writeln!(out, "  spam score: {score}");
    if l.landing.hops.is_empty() {
        let _ = writeln!(out, "  hops: no Received fields");
    } else {
        let _ = writeln!(
            out,
            "  hops, oldest first (whole seconds, each after the one before; the first after \
             SMTP acceptance):"
        );
    }
    for (n, h) in l.landing.hops.iter().enumerate() {
        let _ = writeln!(
            out,
            "    {}. by {} with {}  {}",
            n + 1,
            h.by.as_deref().unwrap_or("?"),
            h.with.as_deref().unwrap_or("?"),
            h.delay_text()
        );
    }
    out
}

/// The human transcript of one cycle.
pub fn transcript(inst: &Instance, r: &CycleReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "probe {}  client {}  region {}",
        inst.probe.name, inst.client.name, inst.region
    );
    for s in &r.steps {
        let (mark, text) = match &s.result {
            Ok(note) => ("ok", note.clone()),
            Err(f) => ("FAIL", format!("{} – {}", f.reason.describe(), f.detail)),
        };
        let _ = writeln!(
            out,
            "  {:>9} +{:<9} {:<14} {:<4} {}",
            fmt_duration(s.duration),
            fmt_duration(s.at),
            s.stage.as_str(),
            mark,
            text
        );
    }
    if let Some(a) = &r.accepted {
        let _ = writeln!(
            out,
            "  canary {} accepted{}",
            r.canary_id.as_deref().unwrap_or("?"),
            a.queue_id
                .as_deref()
                .map(|q| format!(", queue id {q}"))
                .unwrap_or_default()
        );
    }
    for (id, outcome, delay) in &r.settled {
        let _ = writeln!(
            out,
            "  settled canary {id}: {} (delay {delay:.3}s)",
            outcome.as_str()
        );
    }
    if let Some(l) = &r.landed {
        out.push_str(&landed(inst, l));
    }
    match r.failure() {
        None => {
            let _ = writeln!(
                out,
                "RESULT: success, delivered in {}",
                r.delivery.map(fmt_duration).unwrap_or_else(|| "?".into())
            );
        }
        Some(f) => {
            let _ = writeln!(
                out,
                "RESULT: FAILED at {} ({}): {} [stage={} reason={}]",
                f.stage.as_str(),
                f.stage.describe(),
                f.reason.describe(),
                f.stage,
                f.reason
            );
            if !f.detail.is_empty() {
                let _ = writeln!(out, "  server/error said: {}", f.detail);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::landing;
    use std::time::SystemTime;

    /// A canary delivered to the test stack's mallory: rspamd's field on top, a sender's
    /// forgery below; Postfix, then Dovecot LMTP.
    const HEADERS: &str = "Received: from mail.example.test by mail.example.test with LMTP\r\n\
        \tid xyz; Sat, 28 Nov 2026 01:00:01 +0000\r\n\
        Authentication-Results: mail.example.test; dkim=pass header.d=example.test;\r\n\
        \tspf=pass smtp.mailfrom=canary@example.test; dmarc=pass header.from=example.test\r\n\
        X-Spam-Status: No, score=-0.10 required=15.00\r\n\
        Received: from localhost (localhost [127.0.0.1]) by mail.example.test (Postfix)\r\n\
        \twith ESMTPSA id 4AB; Sat, 28 Nov 2026 01:00:00 +0000\r\n\
        Authentication-Results: mail.example.test; spf=fail; dkim=fail; dmarc=fail\r\n\r\n";

    fn instance(extra: &str) -> Instance {
        crate::config::testing::one_instance(extra)
    }

    fn report() -> CycleReport {
        let mut r = CycleReport::new(SystemTime::now());
        r.landed = Some(Landed {
            id: "3f9c".into(),
            sent_ms: 0,
            // Accepted at 01:00:00.400.
            landing: landing::read(HEADERS.as_bytes(), 1_795_827_600.4),
        });
        r
    }

    #[test]
    fn the_transcript_shows_trusted_verdicts_score_and_hops() {
        let t = transcript(&instance(""), &report());
        println!("{t}");
        let want = "  canary 3f9c landed: Authentication-Results of mail.example.test: \
                    spf=pass dkim=pass dmarc=pass\n  spam score: -0.1\n  \
                    hops, oldest first (whole seconds, each after the one before; the first \
                    after SMTP acceptance):\n    \
                    1. by mail.example.test with ESMTPSA  +0 s\n    \
                    2. by mail.example.test with LMTP  +1 s\n";
        assert!(t.contains(want), "{t}");
        let other = transcript(&instance("authserv_id = \"mx.other.test\""), &report());
        assert!(
            other.contains("landed: no Authentication-Results from mx.other.test (authserv_id)"),
            "{other}"
        );
        let none = transcript(&instance(""), &CycleReport::new(SystemTime::now()));
        assert!(!none.contains("landed"), "{none}");
    }
}
